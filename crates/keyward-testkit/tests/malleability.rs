//! Malleable signatures: whatever an attacker can change in a signature without the key must
//! leave its replay identity as it was, so that a replay memory keyed on it refuses the
//! changed copy as the same request (issue 18, finding 1: an ECDSA `(r, s)` verifies as
//! `(r, n - s)` too).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use keyward_sig::private_key::PrivateKey;
use keyward_sig::public_key::{Algorithm, PublicKey};
use keyward_sig::rfc9421::{self, MessageSigner, SignatureParams};
use keyward_sig::token::TokenDigest;
use keyward_sig::{
    AccessGrant, CredentialLookup, KeyKind, KeyMaterial, ReplayId, RequestView, Verifier,
    VerifyError, VerifyOptions, header_hmac,
};

const NOW: i64 = 1_732_431_234_000;
const BODY: &[u8] = br#"{"overlap_seconds":0}"#;
const TARGET: &str = "/api/admin/keys/7/rotate-secret";

struct Keys(HashMap<String, KeyMaterial>);

impl CredentialLookup for Keys {
    type Key = KeyMaterial;
    type Grant = AccessGrant;
    fn api_key(&self, token: &str) -> Option<KeyMaterial> {
        self.0.get(token).cloned()
    }
    fn access_token(&self, _: &TokenDigest) -> Option<AccessGrant> {
        None
    }
}

fn keys(key: KeyMaterial) -> Keys {
    Keys(HashMap::from([("kwkey_signer".to_owned(), key)]))
}

/// The `Content-Digest`, `Signature-Input` and raw signature of a signed `POST`, without a
/// nonce (so the replay memory must key on the signature or what it signed).
fn signed_post(signer: &dyn MessageSigner) -> (String, String, String, Vec<u8>) {
    let digest = rfc9421::content_digest(BODY, rfc9421::DigestAlgorithm::Sha256);
    let headers = [("content-digest", digest.as_bytes())];
    let request = RequestView::new("POST", TARGET, &headers, BODY);
    let params =
        SignatureParams::new(&["@method", "@path", "content-digest"], NOW / 1000, "kwkey_signer")
            .unwrap()
            .with_algorithm(Some(signer.algorithm()))
            .unwrap();
    let signed = rfc9421::sign(&request, "sig1", &params, signer).unwrap();
    let encoded = signed.signature.trim_start_matches("sig1=:").trim_end_matches(':');
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    let input = signed.signature_input.trim_start_matches("sig1=").to_owned();
    (digest, input, signed.signature, raw)
}

/// Verifies the `POST` with `label`'s `Signature-Input` and the raw `signature`.
fn replay_id(
    keys: &Keys,
    digest: &str,
    label: &str,
    input: &str,
    signature: &[u8],
) -> Result<ReplayId, VerifyError> {
    use base64::Engine;
    let input = format!("{label}={input}");
    let signature =
        format!("{label}=:{}:", base64::engine::general_purpose::STANDARD.encode(signature));
    let headers = [
        ("content-digest", digest.as_bytes()),
        ("signature-input", input.as_bytes()),
        ("signature", signature.as_bytes()),
    ];
    let request = RequestView::new("POST", TARGET, &headers, BODY);
    let verified = Verifier::new(VerifyOptions::default()).verify(&request, NOW, keys)?;
    Ok(*verified.replay_id().unwrap())
}

fn public(private: &PrivateKey) -> KeyMaterial {
    let key = PublicKey::parse(&private.public_key_pem(), Some(private.algorithm())).unwrap();
    KeyMaterial::public(KeyKind::Domain, key)
}

#[test]
fn an_ecdsa_signature_and_its_n_minus_s_twin_are_one_replay() {
    for algorithm in [Algorithm::EcdsaP256Sha256, Algorithm::EcdsaP384Sha384] {
        let private = PrivateKey::generate(algorithm).unwrap();
        let keys = keys(public(&private));
        let (digest, input, _, raw) = signed_post(&private);
        let twin = keyward_testkit::malleate::ecdsa_twin(algorithm, &raw).unwrap();
        assert_ne!(raw, twin, "{algorithm:?}");
        // Both verify: clients in other languages (OpenSSL, Java, Go) sign with high S half the
        // time, so high S is accepted; the replay identity is what was signed.
        let first = replay_id(&keys, &digest, "sig1", &input, &raw).unwrap();
        let second = replay_id(&keys, &digest, "sig1", &input, &twin).unwrap();
        assert_eq!(first, second, "{algorithm:?}");
    }
}

#[test]
fn a_renamed_label_and_a_fresh_rsa_pss_signature_are_one_replay() {
    // RSA-PSS signs anew with every salt: the key's holder could, an attacker cannot; either
    // way one signed request is one request.
    let private = PrivateKey::generate(Algorithm::RsaPssSha512).unwrap();
    let keys = keys(public(&private));
    let (digest, input, _, first_raw) = signed_post(&private);
    let (_, input_again, _, second_raw) = signed_post(&private);
    assert_eq!(input, input_again);
    assert_ne!(first_raw, second_raw);
    let first = replay_id(&keys, &digest, "sig1", &input, &first_raw).unwrap();
    assert_eq!(replay_id(&keys, &digest, "sig1", &input, &second_raw).unwrap(), first);
    assert_eq!(replay_id(&keys, &digest, "other", &input, &first_raw).unwrap(), first);
}

#[test]
fn an_ed25519_signature_with_s_plus_l_does_not_verify() {
    let private = PrivateKey::generate(Algorithm::Ed25519).unwrap();
    let keys = keys(public(&private));
    let (digest, input, _, raw) = signed_post(&private);
    assert!(replay_id(&keys, &digest, "sig1", &input, &raw).is_ok());
    // S + L, the group order, little-endian: the same point arithmetic, a non-canonical S.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut twin = raw.clone();
    let mut carry = 0u16;
    for (byte, add) in twin[32..].iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(add) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    assert!(matches!(
        replay_id(&keys, &digest, "sig1", &input, &twin),
        Err(VerifyError::SignatureMismatch { .. })
    ));
}

#[test]
fn header_hmac_in_upper_case_hex_is_the_same_replay() {
    let secret = KeyMaterial::new(KeyKind::Domain, b"kwsec_header");
    let keys = Keys(HashMap::from([("kwkey_devo".to_owned(), secret.clone())]));
    let signed = header_hmac::sign("kwkey_devo", BODY, NOW, &secret).unwrap();
    let pairs: Vec<(String, String)> =
        signed.pairs().iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    let replay = |upper: bool| {
        let headers: Vec<(&str, String)> = pairs
            .iter()
            .map(|(name, value)| match name.as_str() {
                "x-logtrust-sign" if upper => (name.as_str(), value.to_ascii_uppercase()),
                _ => (name.as_str(), value.clone()),
            })
            .collect();
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        let request = RequestView::new("POST", TARGET, &headers, BODY);
        *Verifier::new(VerifyOptions::default())
            .verify(&request, NOW, &keys)
            .unwrap()
            .replay_id()
            .unwrap()
    };
    assert_eq!(replay(false), replay(true));
}
