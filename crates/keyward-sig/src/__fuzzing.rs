//! Properties the fuzz targets (and the test suite's bounded runs of them) check. Not API.
//!
//! Each function panics when its property fails, so a fuzzer reports it as a crash.

use crate::key::{AccessGrant, CredentialLookup, KeyMaterial};
use crate::options::{BlankValues, SignatureRule, VerifyOptions};
use crate::query_hmac::{self, ParameterOrder, SignedQuery};
use crate::request::RequestView;
use crate::rfc9421::{self, SignatureParams};
use crate::scheme::KeyKind;
use crate::time::parse_epoch_millis;
use crate::token::TokenDigest;
use crate::verify::Verifier;
use crate::{Field, VerifyError};

/// query-hmac parsing: never panics; more than [`query_hmac::MAX_PARAMETERS`] signed
/// parameters are refused as too many, and no fewer; the canonical string is independent of URL
/// order (bytewise), and re-parsing a query rebuilt from the parsed pairs gives the same string.
pub fn query_string(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let signed_params =
        query_hmac::raw_params(query).filter(|p| !p.decoded_key().eq(*b"s")).count();
    let parsed = SignedQuery::parse(query);
    let too_many = matches!(parsed, Err(VerifyError::TooManyItems { .. }));
    if signed_params > query_hmac::MAX_PARAMETERS {
        // The cap comes first unless `s` repeats among the first parameters.
        assert!(
            too_many || matches!(parsed, Err(VerifyError::RepeatedParameter { .. })),
            "{signed_params} parameters accepted: {parsed:?}"
        );
    } else {
        assert!(!too_many, "{signed_params} parameters refused as too many");
    }
    let Ok(parsed) = parsed else { return };
    let canonical = parsed.canonical(ParameterOrder::Bytewise, BlankValues::Signed);
    for order in [ParameterOrder::Url, ParameterOrder::CaseInsensitive] {
        let other = parsed.canonical(order, BlankValues::Signed);
        assert_eq!(
            other.as_bytes().len(),
            canonical.as_bytes().len(),
            "orders bind the same bytes"
        );
    }
    let mut pairs: Vec<_> =
        query_hmac::raw_params(query).filter(|p| !matches!(p.raw_key(), b"s")).collect();
    pairs.reverse();
    let reversed: Vec<String> = pairs
        .iter()
        .map(|p| {
            format!(
                "{}={}",
                String::from_utf8_lossy(p.raw_key()),
                String::from_utf8_lossy(p.raw_value())
            )
        })
        .collect();
    let reversed = reversed.join("&");
    let again =
        query_hmac::canonical_query(&reversed, ParameterOrder::Bytewise, BlankValues::Signed)
            .expect("the same pairs in another order parse");
    assert_eq!(again, canonical, "bytewise canonical form ignores URL order");
}

/// `Signature-Input` + `Signature` parsing: never panics; what parses stays within the caps on
/// components and parameters; a parsed member serializes to text that parses back to the same
/// parameters (round trip), serializing is idempotent, and parameters made to own their text
/// serialize the same.
pub fn signature_fields(data: &[u8]) {
    let (input, signature) = split_in_two(data);
    let Ok((label, params, bytes)) = rfc9421::parse_signature(input, signature) else { return };
    assert!(params.components().len() <= rfc9421::MAX_COMPONENTS);
    assert!(
        params.components().iter().all(|c| c.param_count() <= rfc9421::MAX_COMPONENT_PARAMETERS)
    );
    assert!(params.param_count() <= rfc9421::MAX_SIGNATURE_PARAMETERS);
    assert_eq!(params.clone().into_owned().serialize(), params.serialize());
    let serialized = params.serialize();
    let member = format!("{label}={serialized}");
    let (label2, params2, bytes2) = rfc9421::parse_signature(member.as_bytes(), signature)
        .expect("serialized params parse again");
    // Compared through `Debug`, which shows borrowed and owned values alike.
    assert_eq!(format!("{label} {params:?} {bytes:?}"), format!("{label2} {params2:?} {bytes2:?}"));
    assert_eq!(params2.serialize(), serialized);
}

/// `Content-Digest`: never panics; a digest we compute always checks against its body.
pub fn content_digest(data: &[u8]) {
    let (value, body) = split_in_two(data);
    let _ = rfc9421::check_content_digest(value, body);
    for algorithm in [rfc9421::DigestAlgorithm::Sha256, rfc9421::DigestAlgorithm::Sha512] {
        let ours = rfc9421::content_digest(body, algorithm);
        assert_eq!(rfc9421::check_content_digest(ours.as_bytes(), body), Ok(()));
    }
}

/// Public keys (PEM or JWK) for a stated algorithm, or none (the first byte chooses): never
/// panics; a parsed key is of the stated algorithm, and verifies any bytes without panicking.
pub fn public_key(data: &[u8]) {
    use crate::public_key::{Algorithm, PublicKey};
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let stated = Algorithm::ALL.get(usize::from(selector % 6)).copied();
    if let Ok(key) = PublicKey::parse(&text, stated) {
        if let Some(algorithm) = stated {
            assert_eq!(key.algorithm(), algorithm);
        }
        let _ = key.verify(rest, rest);
    }
}

/// A client certificate a key is bound to (the PEM of `"certificate"` in a key body, or, with
/// a first byte of 0, a `"certificate_subject"`): never panics; a pinned certificate's binding
/// reads back from its stored form, admits the certificate it was made from and no other; a
/// subject admits only a CA-verified certificate carrying it.
pub fn certificate_binding(data: &[u8]) {
    use crate::certificate::{CertificateBinding, ClientCertificate};
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let binding = match selector {
        0 => CertificateBinding::subject(&text),
        _ => CertificateBinding::pinned_to(&text),
    };
    let Ok(binding) = binding else { return };
    assert_eq!(CertificateBinding::from_db(&binding.to_db()).as_ref(), Some(&binding));
    match &binding {
        CertificateBinding::Pinned(sha256) => {
            let same = ClientCertificate::from_parts(*sha256, Vec::new(), false);
            let other = ClientCertificate::from_parts([sha256[0] ^ 1; 32], Vec::new(), true);
            assert!(binding.admits(&same) && !binding.admits(&other), "{binding:?}");
        }
        CertificateBinding::Subject(name) => {
            let names = vec![name.clone()];
            let verified = ClientCertificate::from_parts([0; 32], names.clone(), true);
            let unverified = ClientCertificate::from_parts([0; 32], names, false);
            assert!(binding.admits(&verified) && !binding.admits(&unverified), "{binding:?}");
        }
    }
}

/// Timestamps: never panics; any accepted value re-prints as its integer part.
pub fn timestamp(data: &[u8]) {
    if let Ok(ms) = parse_epoch_millis(data, Field::QueryTimestamp) {
        let whole = data.split(|&c| c == b'.').next().unwrap_or_default();
        let trimmed = match whole.iter().position(|&c| c != b'0') {
            Some(first) => &whole[first..],
            None => b"0",
        };
        assert_eq!(ms.to_string().as_bytes(), trimmed);
    }
}

/// The whole verify path on an arbitrary request, under either rule for several RFC 9421
/// signatures: never panics; parsing without the body and verifying with it answers exactly as
/// verifying the whole request, and a body is needed only
/// where `reads_body` says so; a request re-signed by our signer for the key it names verifies.
pub fn verify_request(data: &[u8]) {
    let Some(request) = ArbitraryRequest::parse(data) else { return };
    let headers: Vec<(&str, &[u8])> =
        request.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    let view = RequestView::new(&request.method, &request.target, &headers, &request.body);
    let lookup = FuzzKeys;
    // Under either rule for several RFC 9421 signatures.
    for signatures in [SignatureRule::First, SignatureRule::All] {
        let options =
            VerifyOptions { blank_values: BlankValues::Skipped, signatures, ..Default::default() };
        let verifier = Verifier::new(options);
        // Any answer will do, as long as there is one, and the two paths agree on it.
        let whole =
            verifier.verify(&view, NOW_MS, &lookup).map(|v| (v.scheme(), v.replay_id().copied()));
        let split = verifier.parse(&view.with_body(b"")).and_then(|presented| {
            let body: &[u8] = if presented.reads_body() { &request.body } else { b"" };
            presented.verify(body, NOW_MS, &lookup).map(|v| (v.scheme(), v.replay_id().copied()))
        });
        assert_eq!(
            whole.as_ref().map_err(VerifyError::code),
            split.as_ref().map_err(VerifyError::code),
            "parse-then-verify disagrees with verify"
        );
    }
    // Signing what we parsed and verifying it must succeed for a query without credentials.
    if let Some(query) = view.query() {
        if SignedQuery::parse(query).is_ok()
            && !query_hmac::raw_params(query).any(|p| matches!(p.raw_key(), b"t" | b"ms" | b"s"))
        {
            let target = view.target();
            if let Ok(signed) =
                query_hmac::sign(target, "fuzz-key", NOW_MS, &fuzz_key(), ParameterOrder::Bytewise)
            {
                let signed_view = RequestView::new(&request.method, &signed, &[], &request.body);
                let result = Verifier::default().verify(&signed_view, NOW_MS, &lookup);
                assert!(result.is_ok(), "own signature refused: {result:?} for {signed:?}");
            }
        }
    }
    if let Ok(params) =
        SignatureParams::new(&["@method", "@path", "@query"], NOW_MS / 1000, "fuzz-key")
    {
        let plain = RequestView::new(&request.method, &request.target, &[], b"");
        if let Ok(signed) = rfc9421::sign(&plain, "sig1", &params, &fuzz_key()) {
            let headers = [
                ("signature-input", signed.signature_input.as_bytes()),
                ("signature", signed.signature.as_bytes()),
            ];
            let signed_view = RequestView::new(&request.method, &request.target, &headers, b"");
            let result = Verifier::default().verify(&signed_view, NOW_MS, &lookup);
            assert!(
                result.is_ok() || matches!(result, Err(VerifyError::AmbiguousCredentials { .. })),
                "own RFC 9421 signature refused: {result:?}"
            );
        }
    }
}

const NOW_MS: i64 = 1_732_431_234_567;

fn fuzz_key() -> KeyMaterial {
    KeyMaterial::new(KeyKind::Domain, b"fuzz-secret")
}

struct FuzzKeys;

impl CredentialLookup for FuzzKeys {
    type Key = KeyMaterial;
    type Grant = AccessGrant;

    fn api_key(&self, token: &str) -> Option<KeyMaterial> {
        (token == "fuzz-key").then(fuzz_key)
    }

    fn access_token(&self, _: &TokenDigest) -> Option<AccessGrant> {
        Some(AccessGrant { expires_at_ms: NOW_MS + 1 })
    }

    fn plain_api_key(&self, _: &TokenDigest) -> Option<KeyMaterial> {
        Some(KeyMaterial::plain(crate::KeyKind::Domain))
    }
}

/// Splits fuzz input at the first NUL byte into two fields.
fn split_in_two(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, b""),
    }
}

/// Signature bases with component parameters (`;sf`, `;key`, `;bs`, `;req`,
/// `@query-param`, `@status`) over a request and a response, and `Accept-Signature`. Input:
/// `Signature-Input` member NUL request (as [`verify_request`]'s) NUL status byte then response
/// header lines. Never panics; a base builds the same twice; what an HMAC key signs over either
/// message checks against it; every `@query-param` line's value is unreserved characters and
/// `%XX` only; the components of an `Accept-Signature` that parses parse as a
/// `Signature-Input`.
pub fn component_params(data: &[u8]) {
    use crate::request::ResponseView;
    use crate::rfc9421::{AcceptSignature, Message, check_signature, message_signature_base};
    let (input, rest) = split_in_two(data);
    let (request, response) = split_in_two(rest);
    if let Some(asked) = AcceptSignature::parse(input) {
        let member = format!("a=({});created=1", asked.components.join(" "));
        SignatureParams::parse_first(member.as_bytes())
            .expect("the components of an Accept-Signature parse as a Signature-Input");
    }
    let Ok((_, params)) = SignatureParams::parse_first(input) else { return };
    let Some(request) = ArbitraryRequest::parse(request) else { return };
    let pairs: Vec<(&str, &[u8])> =
        request.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    let view = RequestView::new(&request.method, &request.target, &pairs, &request.body);
    let (status, response_head) = match response.split_first() {
        Some((&status, head)) => (100 + u16::from(status), head),
        None => (200, &b""[..]),
    };
    let response_headers: Vec<(String, Vec<u8>)> = response_head
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = std::str::from_utf8(&line[..colon]).ok()?.to_owned();
            Some((name, line[colon + 1..].trim_ascii().to_vec()))
        })
        .collect();
    let response_pairs: Vec<(&str, &[u8])> =
        response_headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    let answer = ResponseView::new(status, &response_pairs, b"");
    let key = KeyMaterial::new(KeyKind::Domain, b"fuzz-secret");
    for message in
        [Message::Request(&view), Message::Response { response: &answer, request: Some(&view) }]
    {
        let Ok(base) = message_signature_base(message, &params) else { continue };
        let again = message_signature_base(message, &params).expect("a base builds twice");
        assert_eq!(base.as_bytes(), again.as_bytes());
        for line in base.as_bytes().split(|&b| b == b'\n') {
            if let Some(value) = line.strip_prefix(b"\"@query-param\"") {
                let value =
                    &value[value.windows(2).position(|w| w == b": ").expect("a value") + 2..];
                let mut i = 0;
                while i < value.len() {
                    if value[i] == b'%' {
                        assert!(
                            value.len() > i + 2
                                && value[i + 1..i + 3].iter().all(u8::is_ascii_hexdigit)
                        );
                        i += 3;
                    } else {
                        assert!(
                            value[i].is_ascii_alphanumeric() || b"*-._".contains(&value[i]),
                            "{line:?}"
                        );
                        i += 1;
                    }
                }
            }
        }
        let signature = key.signing_key().expect("a secret").sign(base.as_bytes());
        check_signature(message, &params, &key, &signature).expect("what the key signed checks");
    }
}

/// A request decoded from fuzz input: `METHOD TARGET\nName: value\n...\n\nbody`.
struct ArbitraryRequest {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl ArbitraryRequest {
    fn parse(data: &[u8]) -> Option<Self> {
        let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
            Some(at) => (&data[..at], &data[at + 2..]),
            None => (data, &b""[..]),
        };
        let mut lines = head.split(|&b| b == b'\n');
        let request_line = std::str::from_utf8(lines.next()?).ok()?;
        let (method, target) = request_line.split_once(' ')?;
        let headers = lines
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                let name = std::str::from_utf8(&line[..colon]).ok()?.to_owned();
                Some((name, line[colon + 1..].trim_ascii().to_vec()))
            })
            .collect();
        Some(ArbitraryRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: body.to_vec(),
        })
    }
}
