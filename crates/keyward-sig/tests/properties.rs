//! Properties over random requests: what keyward signs, keyward verifies; and any single-byte
//! change to a signed part makes verification fail.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use base64::Engine as _;
use keyward_sig::private_key::PrivateKey;
use keyward_sig::public_key::{Algorithm, PublicKey};
use keyward_sig::query_hmac::{self, ParameterOrder};
use keyward_sig::rfc9421::{self, DigestAlgorithm, MessageSigner, SignatureParams};
use keyward_sig::token::TokenDigest;
use keyward_sig::{
    AccessGrant, BlankValues, CredentialLookup, KeyKind, KeyMaterial, RequestView, Verifier,
    header_hmac,
};
use proptest::prelude::*;

const NOW_MS: i64 = 1_732_431_234_567;
const TOKEN: &str = "kwkey_property";

struct OneKey(KeyMaterial);

impl CredentialLookup for OneKey {
    type Key = KeyMaterial;
    type Grant = AccessGrant;

    fn api_key(&self, token: &str) -> Option<KeyMaterial> {
        (token == TOKEN).then(|| self.0.clone())
    }

    fn access_token(&self, _: &TokenDigest) -> Option<AccessGrant> {
        None
    }
}

fn key() -> OneKey {
    OneKey(KeyMaterial::new(KeyKind::Domain, b"kwsec_property-secret"))
}

/// A random request: method, path, query pairs (raw, already form-encoded), body.
#[derive(Clone, Debug)]
struct Request {
    method: &'static str,
    path: String,
    pairs: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn target(&self) -> String {
        if self.pairs.is_empty() {
            return self.path.clone();
        }
        let query: Vec<String> = self.pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}?{}", self.path, query.join("&"))
    }
}

fn encoded_text() -> impl Strategy<Value = String> {
    // Unreserved characters, `+` and percent escapes: what form-encoding produces.
    prop::collection::vec(
        prop_oneof![
            4 => "[A-Za-z0-9._~-]".prop_map(|s: String| s),
            1 => Just("+".to_owned()),
            1 => any::<u8>().prop_map(|b| format!("%{b:02X}")),
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

fn request() -> impl Strategy<Value = Request> {
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE"]);
    let path =
        prop::collection::vec("[a-z0-9]{1,8}", 1..4).prop_map(|s| format!("/{}", s.join("/")));
    let pairs = prop::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,6}", encoded_text(), 0..6)
        .prop_map(|map| {
            map.into_iter().filter(|(k, _)| !matches!(k.as_str(), "t" | "ms" | "s")).collect()
        });
    let body = prop::collection::vec(any::<u8>(), 0..64);
    (method, path, pairs, body).prop_map(|(method, path, pairs, body)| Request {
        method,
        path,
        pairs,
        body,
    })
}

/// One private key per asymmetric algorithm, generated once, and the key material that
/// verifies its signatures.
fn private_keys() -> &'static [(PrivateKey, KeyMaterial)] {
    static KEYS: OnceLock<Vec<(PrivateKey, KeyMaterial)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        Algorithm::ALL
            .into_iter()
            .map(|algorithm| {
                let private = PrivateKey::generate(algorithm).unwrap();
                let public = PublicKey::parse(&private.public_key_pem(), Some(algorithm)).unwrap();
                (private, KeyMaterial::public(KeyKind::Domain, public))
            })
            .collect()
    })
}

fn verify(
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Result<(), String> {
    verify_with(&key(), method, target, headers, body)
}

fn verify_with(
    keys: &OneKey,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Result<(), String> {
    let view = RequestView::new(method, target, headers, body);
    Verifier::default().verify(&view, NOW_MS, keys).map(|_| ()).map_err(|e| e.code().to_owned())
}

/// Positions of bytes in `text` that are plain alphanumerics (not in a `%XX` escape), whose
/// change always changes a decoded key or value.
fn plain_positions(text: &str, start: usize) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut positions = Vec::new();
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            i += 3;
            continue;
        }
        if bytes[i].is_ascii_alphanumeric() {
            positions.push(i);
        }
        i += 1;
    }
    positions
}

fn other_alphanumeric(c: u8) -> u8 {
    if c == b'x' { b'y' } else { b'x' }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn query_hmac_sign_then_verify_and_any_change_fails(
        request in request(),
        order in prop::sample::select(vec![ParameterOrder::Bytewise, ParameterOrder::Url, ParameterOrder::CaseInsensitive]),
        pick in any::<prop::sample::Index>(),
    ) {
        let signed = query_hmac::sign(&request.target(), TOKEN, NOW_MS, &key().0, order).unwrap();
        prop_assert_eq!(verify(request.method, &signed, &[], &request.body), Ok(()));

        // Change one byte of a signed key or value (everything in the query but `s`).
        let query_start = signed.find('?').unwrap() + 1;
        let signature_start = signed.rfind("&s=").unwrap();
        let positions: Vec<usize> = plain_positions(&signed[..signature_start], query_start);
        let at = positions[pick.index(positions.len())];
        let mut changed = signed.clone().into_bytes();
        changed[at] = other_alphanumeric(changed[at]);
        let changed = String::from_utf8(changed).unwrap();
        prop_assert!(verify(request.method, &changed, &[], &request.body).is_err(), "{} verified", changed);
    }

    #[test]
    fn query_hmac_canonical_form_ignores_url_order(request in request()) {
        let mut reversed = request.clone();
        reversed.pairs.reverse();
        let query = |r: &Request| r.target().split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
        let a = query_hmac::canonical_query(&query(&request), ParameterOrder::Bytewise, BlankValues::Signed).unwrap();
        let b = query_hmac::canonical_query(&query(&reversed), ParameterOrder::Bytewise, BlankValues::Signed).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn header_hmac_sign_then_verify_and_any_change_fails(
        request in request(),
        part in 0usize..3,
        pick in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let signed = header_hmac::sign(TOKEN, &request.body, NOW_MS, &key().0).unwrap();
        let pairs = signed.pairs();
        let headers: Vec<(&str, &[u8])> = pairs.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        let target = request.target();
        prop_assert_eq!(verify(request.method, &target, &headers, &request.body), Ok(()));

        // Change one byte of the apikey, the body or the timestamp.
        let mut apikey = signed.apikey.clone().into_bytes();
        let mut body = request.body.clone();
        let mut timestamp = signed.timestamp.clone().into_bytes();
        let (bytes, alphanumeric) = match part {
            0 => (&mut apikey, true),
            1 if !body.is_empty() => (&mut body, false),
            _ => (&mut timestamp, true),
        };
        let at = pick.index(bytes.len());
        bytes[at] = if alphanumeric { if bytes[at] == b'1' { b'2' } else { b'1' } } else { bytes[at] ^ flip };
        let changed = [(header_hmac::DOMAIN_APIKEY, &apikey[..]), (header_hmac::TIMESTAMP, &timestamp[..]), (header_hmac::SIGN, signed.sign.as_bytes())];
        prop_assert!(verify(request.method, &target, &changed, &body).is_err());
    }

    #[test]
    fn http_signature_sign_then_verify_and_any_change_fails(
        request in request(),
        algorithm in 0..=Algorithm::ALL.len(),
        part in 0usize..5,
        pick in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        // HMAC, or one of the asymmetric algorithms.
        let (signer, keys): (&dyn MessageSigner, OneKey) = match algorithm.checked_sub(1) {
            None => (&key().0, key()),
            Some(i) => (&private_keys()[i].0, OneKey(private_keys()[i].1.clone())),
        };
        let target = request.target();
        let mut components = vec!["@method", "@path"];
        if !request.pairs.is_empty() {
            components.push("@query");
        }
        let digest = rfc9421::content_digest(&request.body, DigestAlgorithm::Sha512);
        let mut headers: Vec<(&str, &[u8])> = vec![("host", b"api.example.com")];
        if !request.body.is_empty() {
            components.push("content-digest");
            headers.push(("content-digest", digest.as_bytes()));
        }
        let params = SignatureParams::new(&components, NOW_MS / 1000, TOKEN)
            .unwrap()
            .with_algorithm(Some(signer.algorithm()))
            .unwrap();
        let view = RequestView::new(request.method, &target, &headers, &request.body);
        let signed = rfc9421::sign(&view, "sig1", &params, signer).unwrap();
        let mut all = headers.clone();
        all.push(("signature-input", signed.signature_input.as_bytes()));
        all.push(("signature", signed.signature.as_bytes()));
        prop_assert_eq!(verify_with(&keys, request.method, &target, &all, &request.body), Ok(()));

        if part == 4 {
            // Change one byte of the signature itself.
            let value = signed.signature.as_bytes();
            let (start, end) = (value.iter().position(|&c| c == b':').unwrap() + 1, value.len() - 1);
            let mut bytes = base64::engine::general_purpose::STANDARD.decode(&value[start..end]).unwrap();
            let at = pick.index(bytes.len());
            bytes[at] ^= flip;
            let forged = format!("sig1=:{}:", base64::engine::general_purpose::STANDARD.encode(bytes));
            let mut changed = headers.clone();
            changed.push(("signature-input", signed.signature_input.as_bytes()));
            changed.push(("signature", forged.as_bytes()));
            prop_assert!(verify_with(&keys, request.method, &target, &changed, &request.body).is_err());
            return Ok(());
        }

        // Change one byte of the method, the path, the query or the body.
        let mut method = request.method.to_owned().into_bytes();
        let mut target_bytes = target.clone().into_bytes();
        let mut body = request.body.clone();
        let query_start = target.find('?').map(|q| q + 1);
        match (part, query_start) {
            (0, _) => { let at = pick.index(method.len()); method[at] = method[at].to_ascii_lowercase(); }
            (2, Some(start)) if start < target.len() => {
                let positions = plain_positions(&target, start);
                if positions.is_empty() { return Ok(()); }
                let at = positions[pick.index(positions.len())];
                target_bytes[at] = other_alphanumeric(target_bytes[at]);
            }
            (3, _) if !body.is_empty() => { let at = pick.index(body.len()); body[at] ^= flip; }
            _ => {
                let positions = plain_positions(&target[..query_start.unwrap_or(target.len())], 1);
                let at = positions[pick.index(positions.len())];
                target_bytes[at] = other_alphanumeric(target_bytes[at]);
            }
        }
        let method = String::from_utf8(method).unwrap();
        let target = String::from_utf8(target_bytes).unwrap();
        prop_assert!(verify_with(&keys, &method, &target, &all, &body).is_err(), "{} {} verified", method, target);
    }
}

#[test]
fn fuzz_properties_hold_on_a_bounded_random_run() {
    // The fuzz targets' properties, run a bounded number of times in the test suite; the long
    // campaign is `fuzz/README.md`'s.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 2000,
        ..ProptestConfig::default()
    });
    let seeds = prop::collection::vec(any::<u8>(), 0..256);
    runner
        .run(&seeds, |data| {
            keyward_sig::__fuzzing::query_string(&data);
            keyward_sig::__fuzzing::signature_fields(&data);
            keyward_sig::__fuzzing::content_digest(&data);
            keyward_sig::__fuzzing::timestamp(&data);
            keyward_sig::__fuzzing::verify_request(&data);
            keyward_sig::__fuzzing::component_params(&data);
            keyward_sig::__fuzzing::certificate_binding(&data);
            Ok(())
        })
        .unwrap();
}
