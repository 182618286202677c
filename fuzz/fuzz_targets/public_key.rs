//! Public keys (PEM and JWK) and the algorithm they are stated for: any input is parsed or
//! refused with a reason, never a panic, and a parsed key verifies any bytes without one.
#![no_main]

use keyward_sig::public_key::{Algorithm, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let stated = Algorithm::ALL.get(usize::from(selector % 6)).copied();
    if let Ok(key) = PublicKey::parse(&text, stated) {
        if let Some(algorithm) = stated {
            assert_eq!(key.algorithm(), algorithm);
        }
        let _ = key.verify(rest, rest);
    }
});
