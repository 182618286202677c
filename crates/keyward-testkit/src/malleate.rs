//! Signatures changed the way an attacker can change them without the key, for tests that
//! check a changed copy is still the same request to the replay memory.

use keyward_sig::public_key::Algorithm;

/// The ECDSA signature `(r, n - s)` for a fixed-size `r || s` signature `(r, s)`: it verifies
/// for the same message and key. `None` for an algorithm that is not ECDSA, or bytes that are
/// no signature.
pub fn ecdsa_twin(algorithm: Algorithm, signature: &[u8]) -> Option<Vec<u8>> {
    match algorithm {
        Algorithm::EcdsaP256Sha256 => {
            let (r, s) = p256::ecdsa::Signature::from_slice(signature).ok()?.split_scalars();
            Some(p256::ecdsa::Signature::from_scalars(r, -s).ok()?.to_vec())
        }
        Algorithm::EcdsaP384Sha384 => {
            let (r, s) = p384::ecdsa::Signature::from_slice(signature).ok()?.split_scalars();
            Some(p384::ecdsa::Signature::from_scalars(r, -s).ok()?.to_vec())
        }
        _ => None,
    }
}
