//! Loads keyward's test vectors (`vectors/`, see its README) and runs them stage by stage.
//!
//! The signer, the client and the server's verifier all run the same directories, so they
//! cannot drift apart. Not published; used only by tests and benchmarks.

pub mod certs;
pub mod clock;
pub mod env;
pub mod malleate;
pub mod upstream;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyward_sig::private_key::PrivateKey;
use keyward_sig::public_key::{Algorithm, PublicKey};
use keyward_sig::query_hmac::{self, ParameterOrder};
use keyward_sig::rfc9421::{self, MessageSigner};
use keyward_sig::token::{CredentialKind, TokenDigest};
use keyward_sig::{
    AccessGrant, BlankValues, ClockWindow, ComponentPolicy, CredentialLookup, KeyKind, KeyMaterial,
    RequestView, ResponseView, Scheme, TokenFormat, Verifier, VerifyError, VerifyOptions,
    header_hmac,
};
use serde::Deserialize;

/// The `vectors/` directory of the workspace.
pub fn vectors_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors")
}

/// A key as `context.json` gives it.
#[derive(Clone, Debug, Deserialize)]
pub struct KeySpec {
    /// The key's token (its public identifier).
    pub token: String,
    /// The secret string; the HMAC key is its UTF-8 bytes.
    #[serde(default)]
    pub secret: Option<String>,
    /// The HMAC key as base64 (only for foreign vectors such as RFC 9421's).
    #[serde(default)]
    pub secret_base64: Option<String>,
    /// A second secret that also verifies (rotation overlap).
    #[serde(default)]
    pub previous_secret: Option<String>,
    /// `domain` (default) or `reseller`.
    #[serde(default)]
    pub kind: Option<String>,
    /// A public key (PEM or JWK), for a public-key credential (no secret then).
    #[serde(default)]
    pub public_key: Option<String>,
    /// The public key's algorithm, when the key does not imply it.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// The matching private key (PKCS#8 PEM), for the sign direction of deterministic
    /// algorithms.
    #[serde(default)]
    pub private_key: Option<String>,
}

impl KeySpec {
    /// The current secret's bytes.
    pub fn secret_bytes(&self) -> Vec<u8> {
        match (&self.secret, &self.secret_base64) {
            (Some(secret), _) => secret.as_bytes().to_vec(),
            (None, Some(b64)) => STANDARD.decode(b64).expect("secret_base64 is base64"),
            (None, None) => panic!("key {} has neither secret nor secret_base64", self.token),
        }
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        match self.kind.as_deref() {
            None | Some("domain") => KeyKind::Domain,
            Some("reseller") => KeyKind::Reseller,
            Some(other) => panic!("unknown key kind {other:?}"),
        }
    }

    /// The key as a verifier sees it: its public key, or its current and previous secrets.
    pub fn material(&self) -> KeyMaterial {
        if let Some(public_key) = &self.public_key {
            let algorithm = self.algorithm.as_deref().map(|name| {
                Algorithm::from_name(name).unwrap_or_else(|| panic!("unknown algorithm {name}"))
            });
            let key = PublicKey::parse(public_key, algorithm)
                .unwrap_or_else(|e| panic!("key {}: {e}", self.token));
            return KeyMaterial::public(self.kind(), key);
        }
        let material = KeyMaterial::new(self.kind(), &self.secret_bytes());
        match &self.previous_secret {
            Some(previous) => material.with_previous_secret(previous.as_bytes()),
            None => material,
        }
    }

    /// Every secret a signer of this vector may have used, each as its own key.
    pub fn signing_candidates(&self) -> Vec<KeyMaterial> {
        let mut candidates = vec![KeyMaterial::new(self.kind(), &self.secret_bytes())];
        if let Some(previous) = &self.previous_secret {
            candidates.push(KeyMaterial::new(self.kind(), previous.as_bytes()));
        }
        candidates
    }

    /// What the sign direction signs with: the private key when given, else each secret.
    pub fn signers(&self) -> Vec<Box<dyn MessageSigner>> {
        match &self.private_key {
            Some(pem) => {
                let algorithm = self.algorithm.as_deref().and_then(Algorithm::from_name);
                let key = PrivateKey::from_pem(pem, algorithm)
                    .unwrap_or_else(|e| panic!("key {}: {e}", self.token));
                vec![Box::new(key)]
            }
            None => self
                .signing_candidates()
                .into_iter()
                .map(|key| Box::new(key) as Box<dyn MessageSigner>)
                .collect(),
        }
    }
}

/// A known access token.
#[derive(Clone, Debug, Deserialize)]
pub struct AccessTokenSpec {
    /// The token.
    pub token: String,
    /// Its expiry, epoch milliseconds.
    pub expires_at_ms: i64,
}

/// `context.json` options.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OptionsSpec {
    /// The order the query-hmac signer used.
    #[serde(default)]
    pub order: Option<String>,
    /// `signed` or `skipped`.
    #[serde(default)]
    pub blank_values: Option<String>,
    /// `keyward` or `none`.
    #[serde(default)]
    pub required_components: Option<String>,
    /// The clock window.
    #[serde(default)]
    pub skew_seconds: Option<u32>,
    /// `keyward` or `opaque`.
    #[serde(default)]
    pub token_format: Option<String>,
}

impl OptionsSpec {
    /// The verifier options these stand for.
    pub fn verify_options(&self) -> VerifyOptions {
        VerifyOptions {
            window: self.skew_seconds.map_or(ClockWindow::DEFAULT, ClockWindow::from_secs),
            blank_values: self.blank_values(),
            component_policy: match self.required_components.as_deref() {
                None | Some("keyward") => ComponentPolicy::Keyward,
                Some("none") => ComponentPolicy::SignerChosen,
                Some(other) => panic!("unknown required_components {other:?}"),
            },
            token_format: match self.token_format.as_deref() {
                None | Some("opaque") => TokenFormat::Opaque,
                Some("keyward") => TokenFormat::Keyward,
                Some(other) => panic!("unknown token_format {other:?}"),
            },
            ..VerifyOptions::default()
        }
    }

    /// The blank-value handling.
    pub fn blank_values(&self) -> BlankValues {
        match self.blank_values.as_deref() {
            None | Some("signed") => BlankValues::Signed,
            Some("skipped") => BlankValues::Skipped,
            Some(other) => panic!("unknown blank_values {other:?}"),
        }
    }

    /// The query-hmac signer's order.
    pub fn order(&self) -> ParameterOrder {
        match self.order.as_deref() {
            None | Some("bytewise") => ParameterOrder::Bytewise,
            Some("url") => ParameterOrder::Url,
            Some("case-insensitive") => ParameterOrder::CaseInsensitive,
            Some(other) => panic!("unknown order {other:?}"),
        }
    }
}

/// `context.json`.
#[derive(Clone, Debug, Deserialize)]
pub struct Context {
    /// Where the vector came from.
    pub source: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// The verifier's clock.
    #[serde(default)]
    pub now_ms: i64,
    /// The key the request names.
    #[serde(default)]
    pub key: Option<KeySpec>,
    /// Other known keys.
    #[serde(default)]
    pub other_keys: Vec<KeySpec>,
    /// Known access tokens.
    #[serde(default)]
    pub access_tokens: Vec<AccessTokenSpec>,
    /// Options.
    #[serde(default)]
    pub options: OptionsSpec,
    /// Whether the sign direction applies.
    #[serde(default)]
    pub sign: bool,
    /// For hmac-sha256: compare only this many leading bytes.
    #[serde(default)]
    pub truncate_bytes: Option<usize>,
    /// For bearer minting: `kwat_`, `kwkey_` or `kwsec_`.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// A request head (`request.txt`) and body (`body.txt`).
#[derive(Clone, Debug)]
pub struct VectorRequest {
    /// The method.
    pub method: String,
    /// The target as on the request line.
    pub target: String,
    /// Header fields, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl VectorRequest {
    /// Parses a request head: `METHOD TARGET HTTP/1.1`, then `Name: value` lines.
    pub fn parse(head: &[u8], body: Vec<u8>) -> Self {
        let text = std::str::from_utf8(head).expect("request.txt is UTF-8");
        let mut lines = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));
        let request_line = lines.next().expect("request.txt has a request line");
        let mut parts = request_line.split(' ');
        let method = parts.next().expect("a method").to_owned();
        let target = parts.next().expect("a target").to_owned();
        let headers = lines
            .filter(|line| !line.is_empty())
            .map(|line| {
                let (name, value) = line.split_once(':').expect("a header line has a colon");
                (name.to_owned(), value.trim_matches([' ', '\t']).as_bytes().to_vec())
            })
            .collect();
        VectorRequest { method, target, headers, body }
    }

    /// The header pairs as a [`RequestView`] borrows them.
    pub fn header_pairs(&self) -> Vec<(&str, &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect()
    }

    /// A field's value: every line of header `name`, joined by `, `.
    pub fn field(&self, name: &str) -> Vec<u8> {
        let values: Vec<&[u8]> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect();
        values.join(&b", "[..])
    }

    /// The same request without the named headers.
    pub fn without_headers(&self, names: &[&str]) -> Self {
        let mut copy = self.clone();
        copy.headers.retain(|(name, _)| !names.iter().any(|n| n.eq_ignore_ascii_case(name)));
        copy
    }
}

/// One vector directory, loaded.
#[derive(Debug)]
pub struct Vector {
    /// `vectors/<scheme>`.
    pub scheme: String,
    /// The case directory's name.
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// `context.json`.
    pub context: Context,
    /// `request.txt` + `body.txt`, when present.
    pub request: Option<VectorRequest>,
    /// `response.txt` + `body.txt`, when present (RFC 9421 response signatures): the status
    /// line's code is the "method", the headers as a request's.
    pub response: Option<(u16, VectorRequest)>,
}

impl Vector {
    /// Loads `vectors/<scheme>/<name>`.
    pub fn load(scheme: &str, name: &str) -> Self {
        let dir = vectors_root().join(scheme).join(name);
        let context = std::fs::read(dir.join("context.json"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join("context.json").display()));
        let context: Context = serde_json::from_slice(&context)
            .unwrap_or_else(|e| panic!("{}/context.json: {e}", dir.display()));
        let body = || std::fs::read(dir.join("body.txt")).unwrap_or_default();
        let request = std::fs::read(dir.join("request.txt"))
            .ok()
            .map(|head| VectorRequest::parse(&head, body()));
        let response = std::fs::read(dir.join("response.txt")).ok().map(|head| {
            // `HTTP/1.1 200 OK`: parsed as a request line whose "target" is the status code.
            let parsed = VectorRequest::parse(&head, body());
            (parsed.target.parse().expect("a status code"), parsed)
        });
        Vector { scheme: scheme.to_owned(), name: name.to_owned(), dir, context, request, response }
    }

    /// A stage file's exact bytes, if present.
    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join(name)).ok()
    }

    /// A one-line stage file (hex, error code, token), trimmed.
    pub fn line(&self, name: &str) -> Option<String> {
        self.file(name).map(|bytes| String::from_utf8(bytes).expect("text file").trim().to_owned())
    }

    /// The expected error code of a negative case.
    pub fn expected_error(&self) -> Option<String> {
        self.line("expected-error.txt")
    }

    /// The keys and tokens the vector makes known.
    pub fn lookup(&self) -> VectorKeys {
        let mut keys = HashMap::new();
        for spec in self.context.key.iter().chain(&self.context.other_keys) {
            keys.insert(spec.token.clone(), spec.material());
        }
        let tokens = self
            .context
            .access_tokens
            .iter()
            .map(|t| (TokenDigest::of(&t.token), AccessGrant { expires_at_ms: t.expires_at_ms }))
            .collect();
        VectorKeys { keys, tokens }
    }

    fn key(&self) -> &KeySpec {
        self.context
            .key
            .as_ref()
            .unwrap_or_else(|| panic!("{}: context.json has no key", self.name))
    }

    fn request(&self) -> &VectorRequest {
        self.request.as_ref().unwrap_or_else(|| panic!("{}: no request.txt", self.name))
    }

    /// Runs the verify direction: the verifier's result against `expected-error.txt` (or
    /// success), and a mismatch's signed text against the stage file.
    pub fn check_verify(&self, stage_file: &str) -> Option<VerifyError> {
        let request = self.request();
        let headers = request.header_pairs();
        let view = RequestView::new(&request.method, &request.target, &headers, &request.body);
        let verifier = Verifier::new(self.context.options.verify_options());
        let result = verifier.verify(&view, self.context.now_ms, &self.lookup());
        match (self.expected_error(), result) {
            (None, Ok(verified)) => {
                let expected =
                    Scheme::from_name(&self.scheme).expect("vector directory names a scheme");
                assert_eq!(
                    verified.scheme(),
                    expected,
                    "{}: verified as another scheme",
                    self.name
                );
                None
            }
            (None, Err(error)) => panic!("{}: expected success, got {error:?}", self.name),
            (Some(code), Ok(_)) => panic!("{}: expected {code}, but it verified", self.name),
            (Some(code), Err(error)) => {
                assert_eq!(error.code(), code, "{}: wrong error: {error:?}", self.name);
                if let VerifyError::SignatureMismatch { signed } = &error {
                    if let Some(expected) = self.file(stage_file) {
                        assert_text_eq(
                            signed,
                            &expected,
                            &format!("{}: server's {stage_file}", self.name),
                        );
                    }
                }
                Some(error)
            }
        }
    }
}

/// The keys of a vector, answered from memory.
#[derive(Debug, Default)]
pub struct VectorKeys {
    keys: HashMap<String, KeyMaterial>,
    tokens: HashMap<TokenDigest, AccessGrant>,
}

impl CredentialLookup for VectorKeys {
    type Key = KeyMaterial;
    type Grant = AccessGrant;

    fn api_key(&self, token: &str) -> Option<KeyMaterial> {
        self.keys.get(token).cloned()
    }

    fn access_token(&self, digest: &TokenDigest) -> Option<AccessGrant> {
        self.tokens.get(digest).copied()
    }
}

fn assert_text_eq(actual: &[u8], expected: &[u8], what: &str) {
    assert!(
        actual == expected,
        "{what} differs\n--- expected\n{}\n--- actual\n{}\n---",
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(actual)
    );
}

/// Runs `vectors/<scheme>/<name>` in every direction it supports. Panics on any difference.
pub fn run_vector(scheme: &str, name: &str) {
    let vector = Vector::load(scheme, name);
    assert!(!vector.context.source.is_empty(), "{name}: context.json must say where it came from");
    match scheme {
        "hmac-sha256" => run_hmac(&vector),
        "query-hmac" => run_query_hmac(&vector),
        "header-hmac" => run_header_hmac(&vector),
        "http-signature" => run_http_signature(&vector),
        "bearer" => run_bearer(&vector),
        other => panic!("unknown vector scheme {other:?}"),
    }
}

fn hex_file(vector: &Vector, name: &str) -> Vec<u8> {
    hex::decode(vector.line(name).unwrap_or_else(|| panic!("{}: no {name}", vector.name)))
        .unwrap_or_else(|e| panic!("{}: {name}: {e}", vector.name))
}

fn run_hmac(vector: &Vector) {
    let key = hex_file(vector, "key.hex");
    let data = hex_file(vector, "data.hex");
    let expected = hex_file(vector, "mac.hex");
    let tag = keyward_sig::mac::HmacKey::new(&key).sign(&data);
    let tag = &tag[..vector.context.truncate_bytes.unwrap_or(tag.len())];
    assert_eq!(hex::encode(tag), hex::encode(&expected), "{}: mac", vector.name);
}

/// Whether any candidate secret gives `expected_hex` over `data`.
fn any_candidate_signs(vector: &Vector, parts: &[&[u8]], expected_hex: &str) -> bool {
    vector.key().signing_candidates().iter().any(|key| {
        hex::encode(key.signing_key().expect("a secret signs").sign_parts(parts))
            == expected_hex.to_ascii_lowercase()
    })
}

fn run_query_hmac(vector: &Vector) {
    vector.check_verify("string-to-sign.txt");
    if vector.expected_error().is_some() || !vector.context.sign {
        return;
    }
    // Sign direction: strip `s`, rebuild the string-to-sign in the signer's order, and
    // reproduce the signature.
    let request = vector.request();
    let (path, query) = request.target.split_once('?').expect("a query-hmac target has a query");
    let unsigned: Vec<&str> = query.split('&').filter(|pair| !pair.starts_with("s=")).collect();
    let unsigned_target = format!("{path}?{}", unsigned.join("&"));
    let options = &vector.context.options;
    let canonical =
        query_hmac::canonical_query(&unsigned.join("&"), options.order(), options.blank_values())
            .expect("the vector's query parses");
    let expected_base =
        vector.file("string-to-sign.txt").expect("a positive case has string-to-sign.txt");
    assert_text_eq(
        canonical.as_bytes(),
        &expected_base,
        &format!("{}: string-to-sign", vector.name),
    );
    let expected = vector.line("signature.txt").expect("a positive case has signature.txt");
    assert!(
        any_candidate_signs(vector, &[canonical.as_bytes()], &expected),
        "{}: signature",
        vector.name
    );
    if options.blank_values() == BlankValues::Signed && vector.key().previous_secret.is_none() {
        let ours =
            query_hmac::signature_for(&unsigned_target, &vector.key().material(), options.order())
                .expect("keyward's signer signs the vector");
        assert_eq!(ours, expected, "{}: keyward's signer", vector.name);
    }
}

fn run_header_hmac(vector: &Vector) {
    vector.check_verify("string-to-sign.txt");
    if vector.expected_error().is_some() || !vector.context.sign {
        return;
    }
    let request = vector.request();
    let header = |name: &str| {
        request.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(n, v)| {
            (n.to_ascii_lowercase(), String::from_utf8(v.clone()).expect("UTF-8 header"))
        })
    };
    let (key_header, apikey) =
        [header_hmac::DOMAIN_APIKEY, header_hmac::RESELLER_APIKEY, header_hmac::APIKEY]
            .iter()
            .find_map(|name| header(name))
            .expect("a key header");
    let (_, timestamp) = header(header_hmac::TIMESTAMP).expect("a timestamp header");
    let parts = [apikey.as_bytes(), &request.body, timestamp.as_bytes()];
    let expected_base = vector.file("string-to-sign.txt").expect("string-to-sign.txt");
    assert_text_eq(&parts.concat(), &expected_base, &format!("{}: string-to-sign", vector.name));
    let expected = vector.line("signature.txt").expect("signature.txt");
    assert!(any_candidate_signs(vector, &parts, &expected), "{}: signature", vector.name);
    if vector.key().previous_secret.is_none() {
        let key_header =
            [header_hmac::DOMAIN_APIKEY, header_hmac::RESELLER_APIKEY, header_hmac::APIKEY]
                .into_iter()
                .find(|name| *name == key_header)
                .expect("a known key header");
        let ours = header_hmac::sign_with_timestamp(
            key_header,
            &apikey,
            &request.body,
            timestamp,
            &vector.key().material(),
        )
        .expect("a secret signs");
        assert_eq!(ours.sign, expected, "{}: keyward's signer", vector.name);
    }
}

/// A response vector: the signature verifies with the key, over exactly `signature-base.txt`.
fn run_http_signature_response(vector: &Vector, status: u16, response: &VectorRequest) {
    let headers = response.header_pairs();
    let view = ResponseView::new(status, &headers, &response.body);
    let key = vector.key().material();
    let verified = rfc9421::verify_response(&view, None, None, &key);
    match vector.expected_error() {
        None => {
            verified.unwrap_or_else(|e| panic!("{}: expected success, got {e:?}", vector.name));
        }
        Some(code) => {
            let error = verified.expect_err("a negative response case fails");
            assert_eq!(error.code(), code, "{}: wrong error: {error:?}", vector.name);
            return;
        }
    }
    let input = response.field(rfc9421::SIGNATURE_INPUT);
    let (_, params) = rfc9421::SignatureParams::parse_first(&input).expect("it parses");
    let unsigned = response.without_headers(&[rfc9421::SIGNATURE, rfc9421::SIGNATURE_INPUT]);
    let unsigned_headers = unsigned.header_pairs();
    let unsigned_view = ResponseView::new(status, &unsigned_headers, &unsigned.body);
    let message = rfc9421::Message::Response { response: &unsigned_view, request: None };
    let base = rfc9421::message_signature_base(message, &params).expect("the base builds");
    let expected_base = vector.file("signature-base.txt").expect("signature-base.txt");
    assert_text_eq(base.as_bytes(), &expected_base, &format!("{}: signature base", vector.name));
}

fn run_http_signature(vector: &Vector) {
    if let Some((status, response)) = &vector.response {
        return run_http_signature_response(vector, *status, response);
    }
    vector.check_verify("signature-base.txt");
    if vector.expected_error().is_some() || !vector.context.sign {
        return;
    }
    let request = vector.request();
    let (input, signature) =
        (request.field(rfc9421::SIGNATURE_INPUT), request.field(rfc9421::SIGNATURE));
    let (label, params, _) =
        rfc9421::parse_signature(&input, &signature).expect("the vector's signature parses");
    let unsigned = request.without_headers(&[rfc9421::SIGNATURE, rfc9421::SIGNATURE_INPUT]);
    let unsigned_headers = unsigned.header_pairs();
    let unsigned_view =
        RequestView::new(&unsigned.method, &unsigned.target, &unsigned_headers, &unsigned.body);
    let base = rfc9421::signature_base(&unsigned_view, &params).expect("the base builds");
    let expected_base = vector.file("signature-base.txt").expect("signature-base.txt");
    assert_text_eq(base.as_bytes(), &expected_base, &format!("{}: signature base", vector.name));
    let expected_input = vector.line("signature-input.txt").expect("signature-input.txt");
    let expected_signature = vector.line("signature.txt").expect("signature.txt");
    let produced: Vec<_> = vector
        .key()
        .signers()
        .iter()
        .map(|key| {
            rfc9421::sign(&unsigned_view, label, &params, key.as_ref())
                .expect("keyward's signer signs")
        })
        .collect();
    assert!(
        produced
            .iter()
            .any(|h| h.signature == expected_signature && h.signature_input == expected_input),
        "{}: keyward's signer produced {produced:?}, expected {expected_input} / {expected_signature}",
        vector.name
    );
}

fn run_bearer(vector: &Vector) {
    if let Some(prefix) = &vector.context.prefix {
        let kind = [
            CredentialKind::AccessToken,
            CredentialKind::ApiKeyToken,
            CredentialKind::ApiKeySecret,
        ]
        .into_iter()
        .find(|kind| kind.prefix() == prefix)
        .unwrap_or_else(|| panic!("unknown prefix {prefix}"));
        let random: [u8; 30] = hex_file(vector, "random.hex").try_into().expect("30 random bytes");
        let expected = vector.line("token.txt").expect("token.txt");
        assert_eq!(kind.mint(&random), expected, "{}: minted token", vector.name);
        assert_eq!(kind.check(&expected), Ok(()), "{}: checksum", vector.name);
        return;
    }
    vector.check_verify("");
}
