//! Signed responses (RFC 9421 section 2.4 and Appendix B.2.4): a server signs `@status`,
//! `content-digest` and chosen headers of its response, and binds the response to the request
//! it answers by covering the request's signature with `;req`; a client verifies that with the
//! server's public key.
//!
//! # Example
//! ```
//! use keyward_sig::{KeyKind, KeyMaterial, RequestView, ResponseView};
//! use keyward_sig::rfc9421::{self, SignatureParams};
//! let key = KeyMaterial::new(KeyKind::Domain, b"server secret");
//! let body = br#"{"ok":true}"#;
//! let digest = rfc9421::content_digest(body, rfc9421::DigestAlgorithm::Sha256);
//! let mut headers = vec![("content-digest", digest.as_bytes())];
//! let response = ResponseView::new(200, &headers, body);
//! let params = SignatureParams::new(&["@status", "content-digest"], 1_700_000_000, "server").unwrap();
//! let signed = rfc9421::sign_response(&response, None, "resp", &params, &key).unwrap();
//! headers.push(("signature-input", signed.signature_input.as_bytes()));
//! headers.push(("signature", signed.signature.as_bytes()));
//! let response = ResponseView::new(200, &headers, body);
//! let verified = rfc9421::verify_response(&response, None, Some("resp"), &key).unwrap();
//! assert_eq!(verified.components, ["\"@status\"", "\"content-digest\""]);
//! ```

use super::base::Message;
use super::params::{SignatureParams, signature_for_label};
use super::{
    CONTENT_DIGEST, SIGNATURE, SIGNATURE_INPUT, SignatureHeaders, check_content_digest,
    check_signature, sign_message,
};
use crate::error::{Field, SignError, VerifyError, shorten};
use crate::key::KeyMaterial;
use crate::request::{RequestView, ResponseView};
use crate::rfc9421::MessageSigner;

/// A response signature that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedResponse {
    /// Its label.
    pub label: String,
    /// Its `keyid`, when it has one.
    pub keyid: Option<String>,
    /// Its `created`, epoch seconds, when it has one.
    pub created: Option<i64>,
    /// Its `nonce`, when it has one (echoed from the client's `Accept-Signature`).
    pub nonce: Option<String>,
    /// The covered component identifiers, serialized (`"@status"`, `"signature";req;key="sig1"`).
    pub components: Vec<String>,
}

impl VerifiedResponse {
    /// Whether the signature covers the component serialized as `identifier`.
    pub fn covers(&self, identifier: &str) -> bool {
        self.components.iter().any(|c| c == identifier)
    }
}

/// Signs `response` (which answers `request`, for `;req` components) under `label`. A covered
/// `content-digest` must already be a header of the response.
pub fn sign_response(
    response: &ResponseView<'_>,
    request: Option<&RequestView<'_>>,
    label: &str,
    params: &SignatureParams<'_>,
    key: &(impl MessageSigner + ?Sized),
) -> Result<SignatureHeaders, SignError> {
    sign_message(Message::Response { response, request }, label, params, key)
}

/// Verifies the signature of `response` labelled `label` (the first when `None`) with `key`;
/// `request` is what the response answers, for `;req` components. A covered
/// `content-digest` is checked against the body. The caller decides what the signature must
/// cover ([`VerifiedResponse::covers`]) and how old it may be.
pub fn verify_response(
    response: &ResponseView<'_>,
    request: Option<&RequestView<'_>>,
    label: Option<&str>,
    key: &KeyMaterial,
) -> Result<VerifiedResponse, VerifyError> {
    let joined = |name: &str, field: Field| {
        let lines: Vec<&[u8]> = response.header_values(name).collect();
        match lines.is_empty() {
            true => Err(VerifyError::missing(field)),
            false => Ok(lines.join(&b", "[..])),
        }
    };
    let input = joined(SIGNATURE_INPUT, Field::SignatureInput)?;
    let signatures = joined(SIGNATURE, Field::Signature)?;
    let (label, params) = SignatureParams::parse_member(&input, label)?;
    let signature = signature_for_label(&signatures, label)?;
    if let Some(alg) = params.alg().filter(|alg| *alg != key.algorithm()) {
        return Err(VerifyError::AlgorithmMismatch {
            key: key.algorithm(),
            presented: shorten(alg.as_bytes()),
        });
    }
    if params.covers(CONTENT_DIGEST) {
        let digest = joined(CONTENT_DIGEST, Field::ContentDigest)?;
        check_content_digest(&digest, response.body())?;
    }
    check_signature(Message::Response { response, request }, &params, key, &signature)?;
    Ok(VerifiedResponse {
        label: label.to_owned(),
        keyid: params.keyid().map(str::to_owned),
        created: params.created(),
        nonce: params.nonce().map(str::to_owned),
        components: params
            .components()
            .iter()
            .map(|component| {
                let mut identifier = String::new();
                component.serialize_into(&mut identifier);
                identifier
            })
            .collect(),
    })
}
