//! Several RFC 9421 signatures in one request: under `SignatureRule::First` only the first
//! decides; under `SignatureRule::All` every one must verify, each with the key its `keyid`
//! names, and the request acts as the first's key.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use keyward_sig::private_key::PrivateKey;
use keyward_sig::public_key::{Algorithm, PublicKey};
use keyward_sig::rfc9421::{self, MessageSigner, SignatureParams};
use keyward_sig::token::TokenDigest;
use keyward_sig::{
    AccessGrant, ComponentPolicy, CredentialLookup, KeyKind, KeyMaterial, Principal, RequestView,
    SignatureRule, Verifier, VerifyOptions,
};

const NOW: i64 = 1_732_431_234_000;

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

/// `Signature-Input` and `Signature` values with one member per (label, keyid, signer).
fn signed(members: &[(&str, &str, &dyn MessageSigner)]) -> (String, String) {
    let request = RequestView::new("GET", "/api/activities?page=1", &[], b"");
    let (mut inputs, mut signatures) = (Vec::new(), Vec::new());
    for (label, keyid, signer) in members {
        let params = SignatureParams::new(&["@method", "@path", "@query"], NOW / 1000, keyid)
            .unwrap()
            .with_algorithm(Some(signer.algorithm()))
            .unwrap();
        let headers = rfc9421::sign(&request, label, &params, *signer).unwrap();
        inputs.push(headers.signature_input);
        signatures.push(headers.signature);
    }
    (inputs.join(", "), signatures.join(", "))
}

fn verify(
    rule: SignatureRule,
    keys: &Keys,
    input: &str,
    signature: &str,
) -> Result<String, String> {
    let headers = [("signature-input", input.as_bytes()), ("signature", signature.as_bytes())];
    let request = RequestView::new("GET", "/api/activities?page=1", &headers, b"");
    let options = VerifyOptions {
        signatures: rule,
        component_policy: ComponentPolicy::Keyward,
        ..VerifyOptions::default()
    };
    match Verifier::new(options).verify(&request, NOW, keys) {
        Ok(verified) => match verified.into_principal() {
            Principal::ApiKey { key, .. } => Ok(key.algorithm().to_owned()),
            Principal::AccessToken { .. } => Err("a token".into()),
        },
        Err(error) => Err(error.code().to_owned()),
    }
}

#[test]
fn every_signature_must_verify_under_all_and_the_first_decides_otherwise() {
    let secret = KeyMaterial::new(KeyKind::Domain, b"kwsec_first");
    let private = PrivateKey::generate(Algorithm::Ed25519).unwrap();
    let public = PublicKey::parse(&private.public_key_pem(), None).unwrap();
    let keys = Keys(HashMap::from([
        ("kwkey_a".to_owned(), secret.clone()),
        ("kwkey_b".to_owned(), KeyMaterial::public(KeyKind::Domain, public)),
    ]));
    let stranger = PrivateKey::generate(Algorithm::Ed25519).unwrap();

    let (input, signature) =
        signed(&[("sig1", "kwkey_a", &secret), ("proxy", "kwkey_b", &private)]);
    for rule in [SignatureRule::First, SignatureRule::All] {
        assert_eq!(verify(rule, &keys, &input, &signature), Ok("hmac-sha256".into()), "{rule:?}");
    }
    // The second signature forged: only All sees it.
    let (input, signature) =
        signed(&[("sig1", "kwkey_a", &secret), ("proxy", "kwkey_b", &stranger)]);
    assert!(verify(SignatureRule::First, &keys, &input, &signature).is_ok());
    assert_eq!(
        verify(SignatureRule::All, &keys, &input, &signature),
        Err("signature-mismatch".into())
    );
    // A second signature by a key nobody knows, or of a label without a signature.
    let (input, signature) =
        signed(&[("sig1", "kwkey_a", &secret), ("proxy", "kwkey_z", &private)]);
    assert_eq!(verify(SignatureRule::All, &keys, &input, &signature), Err("unknown-key".into()));
    let (input, signature) = signed(&[("sig1", "kwkey_a", &secret)]);
    let input = format!("{input}, orphan=(\"@method\");created={};keyid=\"kwkey_b\"", NOW / 1000);
    assert_eq!(
        verify(SignatureRule::All, &keys, &input, &signature),
        Err("malformed-field".into())
    );
    // Each signature is held to keyward's required components.
    let request = RequestView::new("GET", "/api/activities?page=1", &[], b"");
    let partial = SignatureParams::new(&["@method"], NOW / 1000, "kwkey_b")
        .unwrap()
        .with_algorithm(Some("ed25519"))
        .unwrap();
    let second = rfc9421::sign(&request, "proxy", &partial, &private).unwrap();
    let (input, signature) = signed(&[("sig1", "kwkey_a", &secret)]);
    let input = format!("{input}, {}", second.signature_input);
    let signature = format!("{signature}, {}", second.signature);
    assert_eq!(
        verify(SignatureRule::All, &keys, &input, &signature),
        Err("component-missing".into())
    );
    // At most eight.
    let many: Vec<(String, String)> =
        (0..9).map(|i| (format!("s{i}"), "kwkey_a".to_owned())).collect();
    let members: Vec<(&str, &str, &dyn MessageSigner)> =
        many.iter().map(|(l, k)| (l.as_str(), k.as_str(), &secret as &dyn MessageSigner)).collect();
    let (input, signature) = signed(&members);
    assert_eq!(verify(SignatureRule::All, &keys, &input, &signature), Err("too-many-items".into()));
}
