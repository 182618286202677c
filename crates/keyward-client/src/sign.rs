//! Signing a request in place, for `http::Request` and `reqwest::Request`.

use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use keyward_sig::query_hmac::{self, ParameterOrder};
use keyward_sig::rfc9421::{self, DigestAlgorithm, MessageSigner, SignatureParams};
use keyward_sig::{KeyMaterial, RequestView, Scheme, SignError, header_hmac};

use crate::{ApiKey, Signing};

/// Signs a `reqwest::Request` (its body, if any, must be in memory).
pub fn sign_reqwest(
    request: &mut reqwest::Request,
    scheme: Scheme,
    key: &ApiKey,
    now_ms: i64,
) -> Result<(), SignError> {
    let body = request.body().and_then(|b| b.as_bytes()).map(<[u8]>::to_vec).unwrap_or_default();
    let method = request.method().clone();
    let mut url = request.url().clone();
    sign_parts(&method, &mut url, request.headers_mut(), &body, scheme, key, now_ms)?;
    *request.url_mut() = url;
    Ok(())
}

/// Signs an `http::Request` whose URI is absolute (`https://host/path?query`).
pub fn sign_http(
    request: &mut http::Request<Vec<u8>>,
    scheme: Scheme,
    key: &ApiKey,
    now_ms: i64,
) -> Result<(), SignError> {
    let mut url = url::Url::parse(&request.uri().to_string())
        .map_err(|_| SignError::Unsignable { reason: "the request URI is not absolute" })?;
    let method = request.method().clone();
    let body = std::mem::take(request.body_mut());
    let signed = sign_parts(&method, &mut url, request.headers_mut(), &body, scheme, key, now_ms);
    *request.body_mut() = body;
    signed?;
    *request.uri_mut() = url
        .as_str()
        .parse()
        .map_err(|_| SignError::Unsignable { reason: "the signed URI is not valid" })?;
    Ok(())
}

fn insert(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), SignError> {
    let name = HeaderName::try_from(name)
        .map_err(|_| SignError::Unsignable { reason: "invalid header name" })?;
    let mut value = HeaderValue::try_from(value)
        .map_err(|_| SignError::Unsignable { reason: "invalid header value" })?;
    // Credentials: keep them out of logs that honour the flag.
    value.set_sensitive(true);
    headers.insert(name, value);
    Ok(())
}

/// A nonce unique to this process and call: replay protection remembers it.
fn nonce(now_ms: i64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("{now_ms}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn sign_parts(
    method: &Method,
    url: &mut url::Url,
    headers: &mut HeaderMap,
    body: &[u8],
    scheme: Scheme,
    key: &ApiKey,
    now_ms: i64,
) -> Result<(), SignError> {
    let secret = match key.signing() {
        Signing::Secret(secret) => Some(KeyMaterial::new(key.kind, secret.as_bytes())),
        Signing::PrivateKey(_) => None,
    };
    // The HMAC schemes need the secret; RFC 9421 signs with either.
    let hmac = || {
        secret.as_ref().ok_or(SignError::Unsignable {
            reason: "a private key signs only http-signature (RFC 9421)",
        })
    };
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    match scheme {
        Scheme::QueryHmac => {
            let signed =
                query_hmac::sign(&target, &key.token, now_ms, hmac()?, ParameterOrder::Bytewise)?;
            let query = signed.split_once('?').map(|(_, q)| q.to_owned());
            url.set_query(query.as_deref());
        }
        // A plain API key is sent as is (`Auth::ApiKey`): nothing to sign.
        Scheme::ApiKey => {
            return Err(SignError::Unsignable {
                reason: "api-key signs nothing: the key itself is sent, as a bearer token",
            });
        }
        // The TLS connection's client certificate is the credential: nothing to sign.
        Scheme::Mtls => {
            return Err(SignError::Unsignable {
                reason: "mtls signs nothing: the connection's client certificate is the credential",
            });
        }
        Scheme::HeaderHmac => {
            let signed = header_hmac::sign(&key.token, body, now_ms, hmac()?)?;
            for (name, value) in signed.pairs() {
                insert(headers, name, value)?;
            }
        }
        Scheme::HttpSignature => {
            if !headers.contains_key(HOST) {
                let host = url
                    .host_str()
                    .ok_or(SignError::Unsignable { reason: "the URL has no host" })?;
                let authority = match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                };
                insert(headers, HOST.as_str(), &authority)?;
            }
            let mut components = vec!["@method", "@authority", "@path"];
            if url.query().is_some() {
                components.push("@query");
            }
            if !body.is_empty() {
                insert(
                    headers,
                    rfc9421::CONTENT_DIGEST,
                    &rfc9421::content_digest(body, DigestAlgorithm::Sha256),
                )?;
                components.push(rfc9421::CONTENT_DIGEST);
                if headers.contains_key(CONTENT_TYPE) {
                    components.push("content-type");
                }
            }
            let signer: &dyn MessageSigner = match key.signing() {
                Signing::PrivateKey(private_key) => &**private_key,
                Signing::Secret(_) => hmac()?,
            };
            let params = SignatureParams::new(&components, now_ms.div_euclid(1000), &key.token)?
                .with_algorithm(Some(signer.algorithm()))?
                .with_nonce(&nonce(now_ms))?;
            let view = RequestView::with_header_map(method.as_str(), &target, headers, body)
                .with_uri_scheme(url.scheme());
            let signed = rfc9421::sign(&view, "sig1", &params, signer)?;
            insert(headers, rfc9421::SIGNATURE_INPUT, &signed.signature_input)?;
            insert(headers, rfc9421::SIGNATURE, &signed.signature)?;
        }
        Scheme::Bearer => {
            return Err(SignError::Unsignable { reason: "bearer is not a signing scheme" });
        }
    }
    Ok(())
}
