//! Signed responses (RFC 9421 section 2.4): when a client asks with `Accept-Signature`, or a
//! gateway route says `sign_responses`, keyward signs the response (its own, or the upstream's)
//! with the server's response key, whose public key it publishes at
//! `/.well-known/keyward/response-keys`.
//!
//! A signature covers `@status`, `content-digest` (computed here over the body as sent),
//! `content-type` when there is one, whatever else the client asked for that the response has,
//! and the request it answers: `"@method";req`, `"@authority";req` and
//! `"@request-target";req`, and the request's credential: its RFC 9421 signature (`"signature";req;key="sig1"`), or its `Authorization`
//! or `x-logtrust-sign` header, so a signed answer cannot be passed off as the answer to
//! another request, nor to the same request made with other credentials. A `nonce` or `tag` the client sent in
//! `Accept-Signature` is echoed as a signature parameter.
//!
//! The body is read whole to be digested, up to [`MAX_SIGNED_BODY`]: a response declaring more
//! is sent unsigned (and logged); one without a length that grows past it is answered 502.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use keyward_gateway::Gateway;
use keyward_sig::private_key::PrivateKey;
use keyward_sig::rfc9421::{self, AcceptSignature, DigestAlgorithm, SignatureParams};
use keyward_sig::{RequestView, ResponseView};
use keyward_store::Clock;
use serde_json::json;
use sfv::FieldType;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};

/// The largest response body signed (its digest needs all of it).
pub const MAX_SIGNED_BODY: usize = 8 * 1024 * 1024;

/// Request headers carrying a credential that a signed answer covers when present.
pub const BOUND_CREDENTIALS: [&str; 2] = ["authorization", "x-logtrust-sign"];

/// The label of a signature no client asked for (a route's `sign_responses`).
const DEFAULT_LABEL: &str = "kw";

/// The server's response-signing key.
#[derive(Debug)]
pub struct ResponseKey {
    key: PrivateKey,
    keyid: String,
    public_key_pem: String,
}

impl ResponseKey {
    /// The key; its id is `keyward-` and the first 16 hex digits of the SHA-256 of its public
    /// key, so a new key has a new id.
    pub fn new(key: PrivateKey) -> Self {
        let public_key_pem = key.public_key_pem();
        let digest = Sha256::digest(public_key_pem.trim().as_bytes());
        let keyid = format!("keyward-{}", &keyward_sig::mac::to_hex(&digest)[..16]);
        ResponseKey { key, keyid, public_key_pem }
    }

    /// The `keyid` of its signatures.
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The public key, PEM.
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// What `/.well-known/keyward/response-keys` answers: each key's id, algorithm, PEM and
    /// JWK (with `kid`).
    pub fn published(&self) -> serde_json::Value {
        let mut jwk = self.key.public_key_jwk();
        jwk["kid"] = json!(self.keyid);
        json!({ "keys": [{
            "keyid": self.keyid,
            "algorithm": self.key.algorithm().name(),
            "public_key": self.public_key_pem,
            "jwk": jwk,
        }] })
    }
}

/// What the middleware needs.
#[derive(Clone)]
pub struct Signing {
    /// The key.
    pub key: Arc<ResponseKey>,
    /// The gateway, whose routes may sign every response.
    pub gateway: Gateway,
    /// The clock `created` is read from.
    pub clock: Clock,
}

impl std::fmt::Debug for Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signing").field("keyid", &self.key.keyid).finish_non_exhaustive()
    }
}

/// The first member of `Accept-Signature`, when it is one keyward can honour (no `keyid` or
/// `alg` of another key).
fn asked(headers: &HeaderMap, key: &ResponseKey) -> Option<AcceptSignature> {
    let lines: Vec<&[u8]> =
        headers.get_all("accept-signature").iter().map(|v| v.as_bytes()).collect();
    if lines.is_empty() {
        return None;
    }
    let asked = AcceptSignature::parse(&lines.join(&b", "[..]))?;
    let foreign_key = asked.keyid.as_ref().is_some_and(|keyid| *keyid != key.keyid);
    let foreign_alg = asked.alg.as_ref().is_some_and(|alg| alg != key.key.algorithm().name());
    (!foreign_key && !foreign_alg).then_some(asked)
}

/// The request's first RFC 9421 signature label, when it carries one.
fn request_signature_label(headers: &HeaderMap) -> Option<String> {
    let input = headers.get("signature-input")?.as_bytes();
    let (label, _) = SignatureParams::parse_first(input).ok()?;
    headers.get("signature").map(|_| label.to_owned())
}

/// The answer `next` makes to `request`, signed when the client asked, or the gateway route
/// says so.
pub async fn sign<F>(
    signing: &Signing,
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response
where
    F: std::future::Future<Output = Response>,
{
    let asked = asked(request.headers(), &signing.key);
    let by_route = asked.is_none()
        && signing.gateway.signs_responses(request.method(), request.uri(), request.headers());
    if asked.is_none() && !by_route {
        return next(request).await;
    }
    let asked = asked
        .unwrap_or_else(|| AcceptSignature { label: DEFAULT_LABEL.into(), ..Default::default() });
    let method = request.method().clone();
    let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
    let mut request_headers = request.headers().clone();
    // HTTP/2 carries the authority in the URI; the signature base reads it from `Host`.
    if let Some(authority) = request.uri().authority() {
        if !request_headers.contains_key(axum::http::header::HOST) {
            if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
                request_headers.insert(axum::http::header::HOST, value);
            }
        }
    }
    let response = next(request).await;
    signed(response, signing, &asked, &method, &target, &request_headers).await
}

async fn signed(
    response: Response,
    signing: &Signing,
    asked: &AcceptSignature,
    method: &Method,
    target: &str,
    request_headers: &HeaderMap,
) -> Response {
    let declared = response
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_SIGNED_BODY) {
        tracing::info!(target: "keyward::signing", length = declared, "response too large to sign; sent unsigned");
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_SIGNED_BODY).await else {
        tracing::warn!(target: "keyward::signing", "response grew past the signing limit");
        return ApiError::new(ErrorCode::BadGateway)
            .with_message("The response is too large to sign")
            .into_response();
    };
    let digest = rfc9421::content_digest(&body, DigestAlgorithm::Sha256);
    match HeaderValue::try_from(digest) {
        Ok(value) => {
            parts.headers.insert("content-digest", value);
        }
        Err(_) => return Response::from_parts(parts, Body::from(body)),
    }
    let created = (signing.clock)().div_euclid(1000);
    let mut required = vec!["\"@status\"".to_owned(), "\"content-digest\"".to_owned()];
    if parts.headers.contains_key(axum::http::header::CONTENT_TYPE) {
        required.push("\"content-type\"".into());
    }
    required.push("\"@method\";req".into());
    // The host it was sent to: an answer from one virtual host never passes for another's.
    if request_headers.contains_key(axum::http::header::HOST) {
        required.push("\"@authority\";req".into());
    }
    required.push("\"@request-target\";req".into());
    // The request's credential: its RFC 9421 signature, or the header that carries a bearer
    // token or a header-hmac signature (a query-hmac signature is in the target), so an answer
    // to someone else's credentials never passes for the answer to this request.
    if let Some(label) = request_signature_label(request_headers) {
        required.push(format!("\"signature\";req;key=\"{label}\""));
    }
    for credential in BOUND_CREDENTIALS {
        if request_headers.contains_key(credential) {
            required.push(format!("\"{credential}\";req"));
        }
    }
    let request_pairs: Vec<(&str, &[u8])> =
        request_headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
    let request = RequestView::new(method.as_str(), target, &request_pairs, b"");
    let status = parts.status.as_u16();
    let sign_with = |components: &[String]| {
        let response_pairs: Vec<(&str, &[u8])> =
            parts.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
        let response = ResponseView::new(status, &response_pairs, &body);
        let mut input = format!(
            "{}=({});created={created};keyid=\"{}\";alg=\"{}\"",
            asked.label,
            components.join(" "),
            signing.key.keyid,
            signing.key.key.algorithm().name()
        );
        for (name, value) in [("nonce", &asked.nonce), ("tag", &asked.tag)] {
            if let Some(value) = value {
                input.push_str(&format!(";{name}={}", sfv_string(value)?));
            }
        }
        let (label, params) = SignatureParams::parse_first(input.as_bytes()).ok()?;
        rfc9421::sign_response(&response, Some(&request), label, &params, &signing.key.key).ok()
    };
    // What the client asked for too, when the response has it; else what keyward requires.
    let mut wanted = required.clone();
    wanted.extend(asked.components.iter().filter(|c| !required.contains(c)).cloned());
    let Some(headers) = sign_with(&wanted).or_else(|| sign_with(&required)) else {
        tracing::warn!(target: "keyward::signing", "the response could not be signed");
        return Response::from_parts(parts, Body::from(body));
    };
    for (name, value) in
        [("signature-input", headers.signature_input), ("signature", headers.signature)]
    {
        if let Ok(value) = HeaderValue::try_from(value) {
            parts.headers.append(name, value);
        }
    }
    Response::from_parts(parts, Body::from(body))
}

/// `value` as an RFC 8941 string, when it is one.
fn sfv_string(value: &str) -> Option<String> {
    let string = sfv::String::from_string(value.to_owned()).ok()?;
    Some(sfv::Item::new(string).serialize())
}

/// The path the response keys are published at.
pub const PUBLISHED_PATH: &str = "/.well-known/keyward/response-keys";

/// The route of [`published`], for `key`.
pub fn published_route<S: Clone + Send + Sync + 'static>(
    key: Arc<ResponseKey>,
) -> utoipa_axum::router::OpenApiRouter<S> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(published))
        .with_state(key)
}

/// `GET /.well-known/keyward/response-keys`: the public keys answers are signed with.
#[utoipa::path(
    get,
    path = "/.well-known/keyward/response-keys",
    security(()),
    tag = "health",
    summary = "The public keys answers are signed with, when a client asks (Accept-Signature) or a gateway route signs every answer.",
    responses((status = 200, description = "{keys: [{keyid, algorithm, public_key (PEM), jwk}]}")),
)]
pub async fn published(State(key): State<Arc<ResponseKey>>) -> axum::Json<serde_json::Value> {
    axum::Json(key.published())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_sig::public_key::Algorithm;

    #[test]
    fn accept_signature_is_honoured_only_for_this_key() {
        let key = ResponseKey::new(PrivateKey::generate(Algorithm::Ed25519).unwrap());
        let mut headers = HeaderMap::new();
        let value = format!(
            r#"resp=("@status" "cache-control" "example-dict";key="a");keyid="{}";nonce="n-1";tag="app""#,
            key.keyid()
        );
        headers.insert("accept-signature", HeaderValue::try_from(value).unwrap());
        let honoured = asked(&headers, &key).unwrap();
        assert_eq!(honoured.label, "resp");
        assert_eq!(
            honoured.components,
            ["\"@status\"", "\"cache-control\"", "\"example-dict\";key=\"a\""]
        );
        assert_eq!(
            (honoured.nonce.as_deref(), honoured.tag.as_deref()),
            (Some("n-1"), Some("app"))
        );
        headers.insert(
            "accept-signature",
            HeaderValue::from_static(r#"resp=("@status");keyid="another""#),
        );
        assert!(asked(&headers, &key).is_none());
        headers.insert(
            "accept-signature",
            HeaderValue::from_static(r#"resp=("@status");alg="hmac-sha256""#),
        );
        assert!(asked(&headers, &key).is_none());
        headers.insert("accept-signature", HeaderValue::from_static("not a dictionary ((("));
        assert!(asked(&headers, &key).is_none());
    }
}
