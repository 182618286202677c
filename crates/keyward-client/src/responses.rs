//! Verifying signed answers (RFC 9421 section 2.4): the client asks for a signature with
//! `Accept-Signature` and a fresh nonce, and accepts an answer only when the server's response
//! key signed it over `@status`, `content-digest`, the request it answers (`"@method";req`,
//! `"@authority";req`, `"@request-target";req`, and the credential it carried: its RFC 9421 signature, or its
//! `Authorization` or `x-logtrust-sign` header) and the nonce.
//! A tampered, unsigned or replayed answer is then an error, not a response.

use std::sync::atomic::{AtomicU64, Ordering};

use keyward_sig::public_key::{Algorithm, PublicKey};
use keyward_sig::rfc9421::{self, VerifiedResponse};
use keyward_sig::{KeyKind, KeyMaterial, RequestView, ResponseView};

use crate::ClientError;

/// The label the client asks its answers to be signed under.
pub const RESPONSE_LABEL: &str = "resp";

/// How far an answer's `created` may be from the client's clock, in seconds.
const MAX_RESPONSE_AGE_S: i64 = 300;

/// The server's response key, and how answers signed with it are checked.
#[derive(Clone, Debug)]
pub struct ResponseVerifier {
    keyid: String,
    key: KeyMaterial,
}

impl ResponseVerifier {
    /// Answers signed by `key`, whose `keyid` is `keyid`.
    pub fn new(keyid: impl Into<String>, key: PublicKey) -> Self {
        ResponseVerifier { keyid: keyid.into(), key: KeyMaterial::public(KeyKind::Domain, key) }
    }

    /// The key a server publishes at `/.well-known/keyward/response-keys` (its first).
    pub fn from_published(published: &serde_json::Value) -> Result<Self, ClientError> {
        let bad =
            |why: &str| ClientError::ResponseSignature(format!("published response key: {why}"));
        let entry = published["keys"].get(0).ok_or_else(|| bad("none listed"))?;
        let keyid = entry["keyid"].as_str().ok_or_else(|| bad("no keyid"))?;
        let algorithm = entry["algorithm"].as_str().and_then(Algorithm::from_name);
        let pem = entry["public_key"].as_str().ok_or_else(|| bad("no public_key"))?;
        let key = PublicKey::parse(pem, algorithm).map_err(|e| bad(&e.to_string()))?;
        Ok(ResponseVerifier::new(keyid, key))
    }

    /// The `Accept-Signature` value asking for an answer signed under [`RESPONSE_LABEL`], with
    /// `nonce`.
    pub(crate) fn accept_signature(&self, nonce: &str) -> String {
        format!(
            "{RESPONSE_LABEL}=(\"@status\" \"content-digest\");keyid=\"{}\";nonce=\"{nonce}\"",
            self.keyid
        )
    }

    /// Checks `response`, the answer to `request` (as sent, signature included), which asked
    /// for a signature with `nonce`.
    pub(crate) fn verify(
        &self,
        request: &RequestView<'_>,
        response: &ResponseView<'_>,
        nonce: &str,
        now_ms: i64,
    ) -> Result<VerifiedResponse, ClientError> {
        let failed = |why: String| ClientError::ResponseSignature(why);
        let verified =
            rfc9421::verify_response(response, Some(request), Some(RESPONSE_LABEL), &self.key)
                .map_err(|error| {
                    failed(format!("the answer's signature does not verify: {error}"))
                })?;
        if verified.keyid.as_deref() != Some(self.keyid.as_str()) {
            return Err(failed(format!("signed by another key: {:?}", verified.keyid)));
        }
        if verified.nonce.as_deref() != Some(nonce) {
            return Err(failed(
                "the signature is not of this request's nonce: a replayed answer?".into(),
            ));
        }
        let created =
            verified.created.ok_or_else(|| failed("the signature has no created time".into()))?;
        if (created - now_ms.div_euclid(1000)).abs() > MAX_RESPONSE_AGE_S {
            return Err(failed(format!("the signature was made at {created}, too far from now")));
        }
        let mut required = vec![
            "\"@status\"".to_owned(),
            "\"content-digest\"".to_owned(),
            "\"@method\";req".to_owned(),
            "\"@authority\";req".to_owned(),
            "\"@request-target\";req".to_owned(),
        ];
        // The credential it was sent with (an answer to other credentials is someone else's).
        for credential in ["authorization", "x-logtrust-sign"] {
            if request.header(credential).is_some() {
                required.push(format!("\"{credential}\";req"));
            }
        }
        if request.header("signature").is_some() {
            if let Some(input) = request.header("signature-input") {
                if let Ok((label, _)) = rfc9421::SignatureParams::parse_first(input) {
                    required.push(format!("\"signature\";req;key=\"{label}\""));
                }
            }
        }
        if let Some(missing) = required.iter().find(|c| !verified.covers(c)) {
            return Err(failed(format!("the signature does not cover {missing}")));
        }
        Ok(verified)
    }
}

/// A nonce unique to this process and call.
pub(crate) fn nonce(now_ms: i64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut random = [0u8; 12];
    // A nonce need not be secret, only fresh: the counter keeps it so if the OS fails us.
    let _ = getrandom::fill(&mut random);
    let random = keyward_sig::mac::to_hex(&random);
    format!("{now_ms}-{}-{random}", COUNTER.fetch_add(1, Ordering::Relaxed))
}
