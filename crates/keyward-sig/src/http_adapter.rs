//! The adapter between `http::Request` and keyward-sig: a [`RequestView`] of a request, and
//! signing that writes the scheme's parameters or headers back into it.
//!
//! # Example
//! ```
//! use keyward_sig::{KeyKind, KeyMaterial, Verifier, http_adapter};
//! let key = KeyMaterial::new(KeyKind::Domain, b"secret");
//! let mut request = http::Request::post("https://api.example.com/api/activities")
//!     .body(br#"{"data":{"name":"x"}}"#.to_vec())
//!     .unwrap();
//! http_adapter::sign_header_hmac(&mut request, "token", 1_700_000_000_000, &key).unwrap();
//! assert!(request.headers().contains_key("x-logtrust-sign"));
//! let view = http_adapter::view(&request);
//! assert_eq!(Verifier::detect(&view), Ok(keyward_sig::Scheme::HeaderHmac));
//! ```

use http::header::{HeaderName, HeaderValue};
use http::{Request, Uri};

use crate::error::SignError;
use crate::key::KeyMaterial;
use crate::request::RequestView;
use crate::rfc9421::{self, DigestAlgorithm, SignatureParams};
use crate::{header_hmac, query_hmac};

/// A view of `request`. The target is the URI's origin form (path and query); the URI's
/// scheme, when it has one, is the view's URI scheme. The authority comes from `Host`.
pub fn view<B: AsRef<[u8]>>(request: &Request<B>) -> RequestView<'_> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    RequestView::with_header_map(
        request.method().as_str(),
        target,
        request.headers(),
        request.body().as_ref(),
    )
    .with_uri_scheme(uri.scheme_str().unwrap_or("https"))
}

/// Signs with query-hmac: appends `t`, `ms` and `s` to the URI.
pub fn sign_query_hmac<B>(
    request: &mut Request<B>,
    token: &str,
    now_ms: i64,
    key: &KeyMaterial,
    order: query_hmac::ParameterOrder,
) -> Result<(), SignError> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let signed = query_hmac::sign(target, token, now_ms, key, order)?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        signed
            .parse()
            .map_err(|_| SignError::Unsignable { reason: "signed target is not a valid URI" })?,
    );
    *request.uri_mut() = Uri::from_parts(parts)
        .map_err(|_| SignError::Unsignable { reason: "signed target is not a valid URI" })?;
    Ok(())
}

/// Signs with header-hmac: sets the key, timestamp and sign headers.
pub fn sign_header_hmac<B: AsRef<[u8]>>(
    request: &mut Request<B>,
    token: &str,
    now_ms: i64,
    key: &KeyMaterial,
) -> Result<(), SignError> {
    let signed = header_hmac::sign(token, request.body().as_ref(), now_ms, key)?;
    for (name, value) in signed.pairs() {
        insert(request, name, value)?;
    }
    Ok(())
}

/// Signs with RFC 9421 under `label`: sets `Content-Digest` (sha-256) when the body is not
/// empty and `params` covers it, then `Signature-Input` and `Signature`.
pub fn sign_http_signature<B: AsRef<[u8]>>(
    request: &mut Request<B>,
    label: &str,
    params: &SignatureParams,
    key: &(impl rfc9421::MessageSigner + ?Sized),
) -> Result<(), SignError> {
    if params.covers(rfc9421::CONTENT_DIGEST) {
        let digest = rfc9421::content_digest(request.body().as_ref(), DigestAlgorithm::Sha256);
        insert(request, rfc9421::CONTENT_DIGEST, &digest)?;
    }
    let headers = rfc9421::sign(&view(request), label, params, key)?;
    insert(request, rfc9421::SIGNATURE_INPUT, &headers.signature_input)?;
    insert(request, rfc9421::SIGNATURE, &headers.signature)?;
    Ok(())
}

fn insert<B>(request: &mut Request<B>, name: &'static str, value: &str) -> Result<(), SignError> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| SignError::Unsignable { reason: "header value is not valid" })?;
    // Signatures are credentials: keep them out of logs that honour the flag.
    value.set_sensitive(true);
    request.headers_mut().insert(HeaderName::from_static(name), value);
    Ok(())
}
