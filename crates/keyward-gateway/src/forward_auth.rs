//! Forward-auth: a proxy asks keyward about a request before forwarding it, and keyward
//! answers with the gateway's decision: `200` with the caller's identity as headers, or the
//! refusal (401, 403...) in keyward's error shape. One endpoint family, `/auth/check` and
//! every path below it, any method.
//!
//! Where the original request is read from:
//!
//! | proxy | method | URI | host, scheme |
//! |---|---|---|---|
//! | nginx `auth_request` | `X-Original-Method` | `X-Original-URI` | `X-Forwarded-Host`, `-Proto` |
//! | Caddy, Traefik | `X-Forwarded-Method` | `X-Forwarded-Uri` | `X-Forwarded-Host`, `-Proto` |
//! | Envoy `ext_authz` (HTTP) | the request's | the path below `/auth/check`, and the query | `Host` |
//!
//! The names are configurable. A client can add any of these headers to its request, and some
//! proxies pass a client's headers on, so every source present must agree: a request whose
//! `X-Original-URI` and `X-Forwarded-Uri` differ is refused (code 37), never decided on the one
//! the client chose.
//!
//! A scheme that signs the body needs the body. When the proxy forwards it (Envoy
//! `with_request_body`, Traefik `forwardBody`; say so with [`BodyForwarding::Forwarded`]), it is
//! verified; when the proxy does not, the request passes only if the proxy states that the
//! original had no body (`X-Original-Content-Length: 0`); otherwise it is refused with code 26,
//! never accepted unchecked. Envoy's `x-envoy-auth-partial-body: true` (a body cut at
//! `max_request_bytes`) is refused the same way.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body::Body as _;
use keyward_auth::error::{ApiError, ErrorCode};
use keyward_auth::{Allowance, BodyWithheld, Principal, authenticate};

use crate::headers;
use crate::path::matching_path;
use crate::route::{Access, QueryCredentials};
use crate::{Gateway, permitted};

/// The path forward-auth answers on (and below).
pub const CHECK_PATH: &str = "/auth/check";

/// Envoy's marker on a check request that carries the body.
const ENVOY_PARTIAL_BODY: &str = "x-envoy-auth-partial-body";

/// Envoy's list of headers to remove from the original request, in an allowing answer.
const ENVOY_HEADERS_TO_REMOVE: &str = "x-envoy-auth-headers-to-remove";

/// Whether the proxies that ask forward request bodies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyForwarding {
    /// They do not (nginx, Caddy; the default): a body-signing scheme passes only when the
    /// original request had no body, as the proxy states.
    #[default]
    NotForwarded,
    /// They do (Envoy `with_request_body`, Traefik `forwardBody`): the check request's body
    /// is the original's.
    Forwarded,
}

/// Where forward-auth reads the original request from.
#[derive(Clone, Debug)]
pub struct ForwardAuthSettings {
    /// Headers that carry the original method; all present must agree.
    pub method_headers: Vec<HeaderName>,
    /// Headers that carry the original URI (path and query); all present must agree.
    pub uri_headers: Vec<HeaderName>,
    /// The header that carries the original host [default: `x-forwarded-host`, else `Host`].
    pub host_header: HeaderName,
    /// The header that carries the original URI scheme.
    pub proto_header: HeaderName,
    /// The header in which a proxy that does not forward bodies states the original's length.
    pub length_header: HeaderName,
    /// Whether the proxies forward bodies.
    pub bodies: BodyForwarding,
}

impl Default for ForwardAuthSettings {
    fn default() -> Self {
        ForwardAuthSettings {
            method_headers: vec![
                HeaderName::from_static("x-original-method"),
                HeaderName::from_static("x-forwarded-method"),
            ],
            uri_headers: vec![
                HeaderName::from_static("x-original-uri"),
                HeaderName::from_static("x-forwarded-uri"),
            ],
            host_header: HeaderName::from_static("x-forwarded-host"),
            proto_header: HeaderName::from_static("x-forwarded-proto"),
            length_header: HeaderName::from_static("x-original-content-length"),
            bodies: BodyForwarding::NotForwarded,
        }
    }
}

impl Gateway {
    /// Answers a forward-auth request (`/auth/check...`): 200 with the identity headers when
    /// the original request may pass, its refusal otherwise.
    pub async fn check(&self, request: Request<Body>) -> Response {
        let decision = match original_request(&self.0.settings.forward_auth, request) {
            Ok(original) => self.decide(original).await,
            Err(error) => Err(error),
        };
        match decision {
            Ok(decided) => {
                let mut response = self.allow(decided.principal.as_ref());
                if let Some(allowance) = &decided.allowance {
                    allowance.write_headers(response.headers_mut());
                }
                response
            }
            Err(error) => refuse(error),
        }
    }

    /// The decision on an original request, or its refusal. Shared with the gRPC service.
    pub(crate) async fn decide(&self, original: Request<Body>) -> Result<Decided, ApiError> {
        let table = self.table();
        let host = crate::proxy::request_host(&original).map(str::to_ascii_lowercase);
        let path = matching_path(original.uri().path()).map_err(|error| {
            ApiError::new(ErrorCode::InvalidPath)
                .with_detail(serde_json::json!({ "explanation": error.to_string() }))
        })?;
        let position = table.routes.position(host.as_deref(), &path, original.method());
        let route = position.and_then(|i| table.routes.get(i));
        let query = route.map_or(QueryCredentials::Strip, |route| route.query_credentials);
        if route.is_some_and(|route| route.access == Access::Public) {
            return Ok(Decided { principal: None, query, allowance: None });
        }
        let auth = match position {
            Some(i) => &table.served[i].auth,
            None => &self.0.unrouted,
        };
        let mut original =
            authenticate(auth, original, self.now_ms()).await.map_err(|refusal| {
                refusal.log();
                refusal.error
            })?;
        let principal = original
            .extensions_mut()
            .remove::<Principal>()
            .expect("the pipeline sets the principal");
        if let Some(route) = route {
            permitted(&principal, route.required(original.method()), original.method())?;
        }
        let allowance = original.extensions_mut().remove::<Allowance>();
        Ok(Decided { principal: Some(principal), query, allowance })
    }

    /// The allowing answer: every identity header (empty on a public route), and for Envoy
    /// the credentials to remove when keyward consumed them.
    fn allow(&self, principal: Option<&Principal>) -> Response {
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        self.0.settings.identity.answer(headers, principal);
        if principal.is_some() {
            let remove = HeaderValue::from_static(CREDENTIALS_TO_REMOVE);
            headers.insert(ENVOY_HEADERS_TO_REMOVE, remove);
        }
        response
    }
}

/// The original request a forward-auth request describes: its method, target, host and
/// headers, and its body when the proxy forwarded it.
pub(crate) fn original_request(
    settings: &ForwardAuthSettings,
    request: Request<Body>,
) -> Result<Request<Body>, ApiError> {
    let (parts, body) = request.into_parts();
    let below = parts.uri.path().strip_prefix(CHECK_PATH).filter(|rest| rest.starts_with('/'));
    let from_path = below.map(|path| match parts.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    });
    let target = agreed(&parts.headers, &settings.uri_headers, from_path.as_deref(), "URI")?
        .ok_or_else(|| missing("URI", &settings.uri_headers))?;
    // A request line carries no fragment; one here would be dropped by URI parsing, and the
    // check would decide on a shorter target than the proxy forwards.
    if target.contains('#') {
        return Err(invalid("the original URI has a '#': a request target has no fragment"));
    }
    let own_method = from_path.as_ref().map(|_| parts.method.as_str());
    let method = agreed(&parts.headers, &settings.method_headers, own_method, "method")?
        .ok_or_else(|| missing("method", &settings.method_headers))?;
    let host = single(&parts.headers, &settings.host_header)?
        .or_else(|| parts.headers.get(header::HOST).cloned());
    let proto = single(&parts.headers, &settings.proto_header)?;
    let partial =
        parts.headers.get(ENVOY_PARTIAL_BODY).map(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let stated_empty =
        parts.headers.get(&settings.length_header).is_some_and(|v| v.as_bytes() == b"0");
    let body = match (partial, settings.bodies) {
        (Some(true), _) => OriginalBody::Withheld,
        (Some(false), _) | (None, BodyForwarding::Forwarded) => OriginalBody::Forwarded(body),
        (None, BodyForwarding::NotForwarded) if stated_empty => OriginalBody::Empty,
        (None, BodyForwarding::NotForwarded) => OriginalBody::Withheld,
    };
    let mut headers = parts.headers;
    for name in settings.method_headers.iter().chain(&settings.uri_headers) {
        headers.remove(name);
    }
    let proto = proto.as_ref().and_then(|p| p.to_str().ok());
    original(&method, &target, host, proto, headers, body)
}

/// A request forward-auth lets pass.
pub(crate) struct Decided {
    /// Who is calling; `None` on a public route.
    pub(crate) principal: Option<Principal>,
    /// Whether query-hmac's credentials should leave the query (for proxies that can).
    pub(crate) query: QueryCredentials,
    /// The rate limits and credits the request counted against, for the answer's headers.
    pub(crate) allowance: Option<Allowance>,
}

/// What keyward knows of the original request's body.
pub(crate) enum OriginalBody {
    /// The proxy forwarded it: this is it.
    Forwarded(Body),
    /// The proxy stated there was none.
    Empty,
    /// Not seen, and not known to be absent: a scheme that signs the body is refused.
    Withheld,
}

/// The original request a proxy asks about, as the pipeline reads it: `method` and `target`
/// (path and query), `host` and `proto` (for RFC 9421's `@authority` and `@scheme`), the
/// headers the proxy passed, and the body as far as it is known.
pub(crate) fn original(
    method: &str,
    target: &str,
    host: Option<HeaderValue>,
    proto: Option<&str>,
    mut headers: HeaderMap,
    body: OriginalBody,
) -> Result<Request<Body>, ApiError> {
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| invalid("the original method is not an HTTP method"))?;
    let target: http::uri::PathAndQuery =
        target.parse().map_err(|_| invalid("the original URI is not a path and query"))?;
    // As written, not `path()`, which reads an empty path as "/" (found by fuzzing: a URI
    // of "?a" would be checked as "/?a").
    if !target.as_str().starts_with('/') {
        return Err(invalid("the original URI must start with /"));
    }
    headers::remove_hop_by_hop(&mut headers);
    if let Some(host) = host {
        headers.insert(header::HOST, host);
    }
    let (body, withheld) = match body {
        OriginalBody::Forwarded(body) => (body, false),
        OriginalBody::Empty => (Body::empty(), false),
        OriginalBody::Withheld => (Body::empty(), true),
    };
    if withheld || body.is_end_stream() {
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::TRANSFER_ENCODING);
    } else if let Some(length) = body.size_hint().exact() {
        // A body handed over whole (gRPC) is framed by its length.
        headers.remove(header::TRANSFER_ENCODING);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    let mut uri = http::uri::Builder::new().path_and_query(target);
    if let Some(proto) = proto.filter(|p| matches!(*p, "http" | "https")) {
        let authority =
            headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        uri = uri.scheme(proto).authority(authority);
    }
    let uri = uri.build().map_err(|_| invalid("the original host or URI is not valid"))?;
    let mut original = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .map_err(|_| invalid("the original request is not valid"))?;
    *original.headers_mut() = headers;
    if withheld {
        original.extensions_mut().insert(BodyWithheld);
    }
    Ok(original)
}

/// The refusal, with its JSON body also in `x-keyward-error` (when it fits in 2 KiB): nginx
/// does not pass an `auth_request` answer's body on, but can answer with this header.
fn refuse(error: ApiError) -> Response {
    let body = error.body().to_string();
    let mut response = error.into_response();
    if let Ok(value) = HeaderValue::try_from(body)
        .map_err(drop)
        .and_then(|v| if v.len() <= 2048 { Ok(v) } else { Err(()) })
    {
        response.headers_mut().insert(ERROR_HEADER, value);
    }
    response
}

/// The header a refusal repeats its body in.
pub const ERROR_HEADER: &str = "x-keyward-error";

/// [`crate::headers::CREDENTIAL_HEADERS`], comma-separated, for Envoy.
const CREDENTIALS_TO_REMOVE: &str = "authorization,x-logtrust-sign,x-logtrust-timestamp,x-logtrust-apikey,\
x-logtrust-domain-apikey,x-logtrust-reseller-apikey,signature,signature-input,x-csrf-token";

/// The one value all sources give (`headers` named in `names`, and `extra`), `None` when none
/// does, or an error when two disagree or a header is repeated.
fn agreed(
    headers: &HeaderMap,
    names: &[HeaderName],
    extra: Option<&str>,
    what: &str,
) -> Result<Option<String>, ApiError> {
    let mut found: Option<String> = extra.map(str::to_owned);
    for name in names {
        let Some(value) = single(headers, name)? else { continue };
        let value = value.to_str().map_err(|_| invalid(&format!("{name} is not visible ASCII")))?;
        match &found {
            Some(earlier) if earlier != value => {
                return Err(invalid(&format!(
                    "the original {what} is given twice, differently ({name} disagrees)"
                )));
            }
            _ => found = Some(value.to_owned()),
        }
    }
    Ok(found)
}

/// The header's one value; an error when it is repeated.
fn single(headers: &HeaderMap, name: &HeaderName) -> Result<Option<HeaderValue>, ApiError> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(value.clone())),
        (Some(_), Some(_)) => Err(invalid(&format!("{name} is repeated"))),
    }
}

fn missing(what: &str, names: &[HeaderName]) -> ApiError {
    let names: Vec<&str> = names.iter().map(HeaderName::as_str).collect();
    invalid(&format!(
        "the original {what} is missing: send it in {} (or ask on {CHECK_PATH}/<path>, as Envoy does)",
        names.join(" or ")
    ))
}

fn invalid(explanation: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidForwardAuth)
        .with_detail(serde_json::json!({ "explanation": explanation }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envoy_removal_list_is_every_credential_header() {
        let listed: Vec<&str> = CREDENTIALS_TO_REMOVE.split(',').collect();
        assert_eq!(listed, crate::headers::CREDENTIAL_HEADERS);
    }
}
