//! Forward-auth: a proxy asks keyward about a request before forwarding it, and keyward
//! answers with the gateway's decision: `200` with the caller's identity as headers, or the
//! refusal (401, 403...) in keyward's error shape. One endpoint family, `/auth/check` and
//! every path below it, any method; off until a setting names the proxy that asks
//! ([`ForwardAuthProxy`]), because only that proxy's headers may say which request to check:
//!
//! | proxy | method | URI | host, scheme | no body |
//! |---|---|---|---|---|
//! | nginx `auth_request` | `X-Original-Method` | `X-Original-URI` | `X-Forwarded-Host`, `-Proto` | `X-Original-Content-Length: 0` |
//! | Caddy, Traefik | `X-Forwarded-Method` | `X-Forwarded-Uri` | `X-Forwarded-Host`, `-Proto` | (never stated) |
//! | Envoy `ext_authz` (HTTP) | the request's | the path below `/auth/check`, and the query | `Host`, `X-Forwarded-Proto` | `x-envoy-auth-partial-body` |
//!
//! A client can add any header to its request, and proxies pass a client's headers on, so a
//! check that carries what the proxy would not send is refused (400, code 48), never decided:
//! an identity header in any spelling (`x_keyward_principal`), a rewritten target that is not
//! the proxy's own (`X-Original-URL`, another proxy's `X-Forwarded-Uri`), a forwarding header
//! spelled with `_`, another proxy's body statement. A method override is refused (47) unless
//! the route names it. A path no route names is refused (403, code 46) unless
//! [`Unrouted::AnyCredential`] says any valid credential passes there.
//!
//! A scheme that signs the body needs the body. When the proxy forwards it (Envoy
//! `with_request_body`, Traefik `forwardBody`; say so with [`BodyForwarding::Forwarded`]), it is
//! verified; when the proxy does not, the request passes only if the proxy states that the
//! original had no body (nginx: `X-Original-Content-Length: 0`); otherwise it is refused with
//! code 26, never accepted unchecked. Envoy's `x-envoy-auth-partial-body: true` (a body cut at
//! `max_request_bytes`) is refused the same way.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body::Body as _;
use keyward_auth::error::{ApiError, ErrorCode};
use keyward_auth::{Admitted, AnswerTags, BodyWithheld, Principal};

use crate::canonical::CanonicalRequest;
use crate::headers::{self, Owned};
use crate::proxy::{ForeignOverride, authorized_method, method_not_allowed};
use crate::route::{Access, QueryCredentials};
use crate::spelling::reads_as;
use crate::{Gateway, door_refusal};

/// The path forward-auth answers on (and below).
pub const CHECK_PATH: &str = "/auth/check";

/// Envoy's marker on a check request that carries the body.
const ENVOY_PARTIAL_BODY: &str = "x-envoy-auth-partial-body";

/// nginx's statement (in the guide's configuration) that the original request had no body.
const ORIGINAL_CONTENT_LENGTH: &str = "x-original-content-length";

// The headers read per check, as constants (made at compile time, not per request).
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const ORIGINAL_CONTENT_LENGTH_HEADER: HeaderName = HeaderName::from_static(ORIGINAL_CONTENT_LENGTH);
const ENVOY_PARTIAL_BODY_HEADER: HeaderName = HeaderName::from_static(ENVOY_PARTIAL_BODY);

/// Envoy's list of headers to remove from the original request, in an allowing answer.
const ENVOY_HEADERS_TO_REMOVE: &str = "x-envoy-auth-headers-to-remove";

/// The proxy that asks forward-auth. Its headers, and only its, say which request to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardAuthProxy {
    /// nginx `auth_request`, configured as `docs/gateway.md` says.
    Nginx,
    /// Caddy `forward_auth`.
    Caddy,
    /// Traefik `ForwardAuth`.
    Traefik,
    /// Envoy `ext_authz`, over HTTP (`/auth/check` and below) or gRPC.
    Envoy,
}

impl std::str::FromStr for ForwardAuthProxy {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        ForwardAuthProxy::from_name(name.trim()).ok_or_else(|| {
            format!("forward-auth: {name:?} is none of nginx, caddy, traefik, envoy")
        })
    }
}

keyward_sig::deserialize_from_str!(ForwardAuthProxy);

impl ForwardAuthProxy {
    /// Every proxy, by name.
    pub const ALL: [ForwardAuthProxy; 4] = [
        ForwardAuthProxy::Nginx,
        ForwardAuthProxy::Caddy,
        ForwardAuthProxy::Traefik,
        ForwardAuthProxy::Envoy,
    ];

    /// The proxy called `name` (`nginx`, `caddy`, `traefik`, `envoy`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|proxy| proxy.as_str() == name)
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardAuthProxy::Nginx => "nginx",
            ForwardAuthProxy::Caddy => "caddy",
            ForwardAuthProxy::Traefik => "traefik",
            ForwardAuthProxy::Envoy => "envoy",
        }
    }

    /// What to do, behind this proxy, about a scheme that signs a body keyward cannot see
    /// (code 26's message).
    pub(crate) fn body_hint(self) -> &'static str {
        match self {
            ForwardAuthProxy::Nginx => {
                "nginx does not forward request bodies to auth_request: behind nginx, use bearer, \
                 query-hmac or api-key (which sign no body), or proxy_pass to keyward's gateway \
                 routes (docs/gateway.md)"
            }
            ForwardAuthProxy::Caddy => {
                "Caddy cannot tell keyward whether a request has a body: behind Caddy, use \
                 bearer, query-hmac or api-key (which sign no body), or reverse_proxy to \
                 keyward's gateway routes (docs/gateway.md)"
            }
            ForwardAuthProxy::Traefik => {
                "Traefik forwards bodies with forwardBody: true (and keyward with \
                 --forward-auth-body forwarded); otherwise use bearer, query-hmac or api-key"
            }
            ForwardAuthProxy::Envoy => {
                "Envoy forwards bodies with with_request_body (and keyward with \
                 --forward-auth-body forwarded), whole, below max_request_bytes; otherwise use \
                 bearer, query-hmac or api-key"
            }
        }
    }

    /// The headers that carry the original method and URI; `None` for Envoy, whose check is
    /// the original's method, and whose path below `/auth/check` is the original's.
    fn target_headers(self) -> Option<(HeaderName, HeaderName)> {
        match self {
            ForwardAuthProxy::Nginx => Some((X_ORIGINAL_METHOD, X_ORIGINAL_URI)),
            ForwardAuthProxy::Caddy | ForwardAuthProxy::Traefik => {
                Some((X_FORWARDED_METHOD, X_FORWARDED_URI))
            }
            ForwardAuthProxy::Envoy => None,
        }
    }

    /// The header that carries the original host; `None`: the check's own `Host`.
    fn host_header(self) -> Option<HeaderName> {
        match self {
            ForwardAuthProxy::Envoy => None,
            _ => Some(X_FORWARDED_HOST),
        }
    }
}

/// Whether the proxy that asks forwards request bodies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyForwarding {
    /// It does not (nginx, Caddy; the default): a body-signing scheme passes only when the
    /// original request had no body, as the proxy states.
    #[default]
    NotForwarded,
    /// It does (Envoy `with_request_body`, Traefik `forwardBody`): the check request's body
    /// is the original's.
    Forwarded,
}

keyward_sig::named_setting!(BodyForwarding, "forward-auth body", {
    "not-forwarded" => BodyForwarding::NotForwarded,
    "forwarded" => BodyForwarding::Forwarded,
});

/// What forward-auth decides for a path no route names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unrouted {
    /// Refused, 403 (code 46): what nobody configured is not let through (the default).
    #[default]
    Refused,
    /// Any valid credential passes, whatever it holds.
    AnyCredential,
}

keyward_sig::named_setting!(Unrouted, "forward-auth unrouted", {
    "refuse" => Unrouted::Refused,
    "any-credential" => Unrouted::AnyCredential,
});

/// Forward-auth's settings.
#[derive(Clone, Debug, Default)]
pub struct ForwardAuthSettings {
    /// The proxy that asks; `None`: forward-auth is off (the default).
    pub proxy: Option<ForwardAuthProxy>,
    /// Whether it forwards bodies.
    pub bodies: BodyForwarding,
    /// What a path no route names gets.
    pub unrouted: Unrouted,
}

impl Gateway {
    /// Answers a forward-auth request (`/auth/check...`): 200 with the identity headers when
    /// the original request may pass, its refusal otherwise.
    pub async fn check(&self, request: Request<Body>) -> Response {
        let settings = &self.0.settings.forward_auth;
        let Some(proxy) = settings.proxy else {
            return refuse(
                ApiError::new(ErrorCode::NotFound).with_message(
                    "Forward-auth is off: start keyward with --forward-auth nginx, caddy, traefik or envoy",
                ),
                None,
            );
        };
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let decision = match original_request(proxy, settings.bodies, request) {
            // The certificate of the proxy's own connection to keyward is the proxy's: the
            // client's is the one a trusted proxy passes on.
            Ok(mut original) => match self.forwarded_certificate(peer, &mut original) {
                Ok(()) => self.decide(original, proxy).await,
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        match decision {
            Ok(decided) => {
                let mut response = self.allow(decided.principal.as_ref());
                decided.tags.on(&mut response);
                response
            }
            Err(error) => refuse(error, Some(proxy)),
        }
    }

    /// The decision on an original request `proxy` asks about, or its refusal. Shared with
    /// the gRPC service.
    pub(crate) async fn decide(
        &self,
        original: Request<Body>,
        proxy: ForwardAuthProxy,
    ) -> Result<Decided, ApiError> {
        let table = self.table();
        refuse_foreign_headers(original.headers(), self.0.settings.identity.prefix(), proxy)?;
        let scheme = match original.uri().scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => "https",
            Some(_) => "http",
            None => self.uri_scheme(),
        };
        let canonical = CanonicalRequest::read(original.uri(), original.headers(), scheme)
            .map_err(door_refusal)?;
        let (host, path) = (canonical.host_name(), canonical.path(original.uri()));
        let found = table.find(host, path, original.method());
        let route = found.map(|(route, _)| route);
        if route.is_none() {
            if let Some(route) = table.routes.for_path(host, path) {
                return Err(method_not_allowed(route));
            }
            if self.0.settings.forward_auth.unrouted == Unrouted::Refused {
                return Err(ApiError::new(ErrorCode::Unrouted).with_detail(serde_json::json!({
                    "method": original.method().as_str(),
                    "host": host,
                    "path": path,
                })));
            }
        }
        let method = authorized_method(
            route,
            original.method(),
            original.headers(),
            original.uri().query(),
            ForeignOverride::Refused,
        )?;
        drop(canonical);
        let query = route.map_or(QueryCredentials::Strip, |route| route.query_credentials);
        if route.is_some_and(|route| route.access == Access::Public) {
            return Ok(Decided { principal: None, query, tags: AnswerTags::default() });
        }
        let auth = match found {
            Some((_, served)) => &served.auth,
            None => &self.0.unrouted,
        };
        let (asked, uri) = (original.method().clone(), original.uri().clone());
        let admitted = self.admit(auth, route, &method, original);
        let (_, Admitted { principal, tags, .. }) =
            keyward_auth::log_context::deciding(&asked, &uri, admitted)
                .await
                .map_err(|refused| refused.error)?;
        Ok(Decided { principal: Some(principal), query, tags })
    }

    /// The allowing answer: every identity header (empty on a public route), and for Envoy
    /// the credentials to remove when keyward consumed them.
    fn allow(&self, principal: Option<&Principal>) -> Response {
        let mut response = StatusCode::OK.into_response();
        *response.headers_mut() = self.0.settings.identity.answer(principal);
        let headers = response.headers_mut();
        if principal.is_some() {
            const NAME: HeaderName = HeaderName::from_static(ENVOY_HEADERS_TO_REMOVE);
            const REMOVE: HeaderValue = HeaderValue::from_static(CREDENTIALS_TO_REMOVE);
            headers.insert(NAME, REMOVE);
        }
        response
    }
}

/// Refuses a check carrying a header the proxy would not send: one keyward owns (identity,
/// rewritten targets; the proxy's own were read and removed already), a forwarding header
/// spelled with `_`, or a body statement the proxy does not make.
fn refuse_foreign_headers(
    headers: &HeaderMap,
    identity_prefix: &str,
    proxy: ForwardAuthProxy,
) -> Result<(), ApiError> {
    for name in headers.keys() {
        let name = name.as_str();
        let foreign = match headers::owned(name, identity_prefix) {
            Some(Owned::Identity | Owned::RewrittenTarget) => true,
            Some(Owned::Forwarding | Owned::Credential | Owned::MethodOverride) => {
                name.contains('_')
            }
            None => {
                (reads_as(name, ORIGINAL_CONTENT_LENGTH) && proxy != ForwardAuthProxy::Nginx)
                    || (reads_as(name, ENVOY_PARTIAL_BODY) && proxy != ForwardAuthProxy::Envoy)
            }
        };
        if foreign {
            return Err(ApiError::new(ErrorCode::ForgedHeader).with_detail(serde_json::json!({
                "header": name,
                "explanation": format!(
                    "{name} is not sent by {}: a client may not set it",
                    proxy.as_str()
                ),
            })));
        }
    }
    Ok(())
}

/// The original request `proxy`'s check describes: its method, target, host and headers, and
/// its body when the proxy forwarded it. The proxy's own headers are read and removed.
pub(crate) fn original_request(
    proxy: ForwardAuthProxy,
    bodies: BodyForwarding,
    request: Request<Body>,
) -> Result<Request<Body>, ApiError> {
    let (parts, body) = request.into_parts();
    let mut headers = parts.headers;
    let (method, target) = match proxy.target_headers() {
        Some((method_header, uri_header)) => {
            let target =
                take(&mut headers, &uri_header)?.ok_or_else(|| missing("URI", &uri_header))?;
            let method = take(&mut headers, &method_header)?
                .ok_or_else(|| missing("method", &method_header))?;
            (method, target)
        }
        None => {
            let below =
                parts.uri.path().strip_prefix(CHECK_PATH).filter(|rest| rest.starts_with('/'));
            let path = below.ok_or_else(|| {
                invalid(&format!("Envoy asks on {CHECK_PATH}/<the original path>: set path_prefix"))
            })?;
            let target = match parts.uri.query() {
                Some(query) => format!("{path}?{query}"),
                None => path.to_owned(),
            };
            (parts.method.as_str().to_owned(), target)
        }
    };
    let host = match proxy.host_header() {
        Some(name) => single(&headers, &name)?,
        None => None,
    }
    .or_else(|| headers.get(header::HOST).cloned());
    let proto = single(&headers, &X_FORWARDED_PROTO)?;
    let stated_empty = match proxy {
        ForwardAuthProxy::Nginx => {
            take(&mut headers, &ORIGINAL_CONTENT_LENGTH_HEADER)?.as_deref() == Some("0")
        }
        _ => false,
    };
    let partial = match proxy {
        ForwardAuthProxy::Envoy => take(&mut headers, &ENVOY_PARTIAL_BODY_HEADER)?
            .map(|value| value.eq_ignore_ascii_case("true")),
        _ => None,
    };
    let body = match (partial, bodies) {
        (Some(true), _) => OriginalBody::Withheld(proxy.body_hint()),
        (_, BodyForwarding::Forwarded) => OriginalBody::Forwarded(body),
        (_, BodyForwarding::NotForwarded) if stated_empty => OriginalBody::Empty,
        (_, BodyForwarding::NotForwarded) => OriginalBody::Withheld(proxy.body_hint()),
    };
    let proto = proto.as_ref().and_then(|p| p.to_str().ok());
    original(&method, &target, host, proto, headers, body)
}

/// The header's one value, removed from `headers`: an error when it is repeated or not
/// visible ASCII.
fn take(headers: &mut HeaderMap, name: &HeaderName) -> Result<Option<String>, ApiError> {
    let Some(value) = single(headers, name)? else { return Ok(None) };
    headers.remove(name);
    let value = value.to_str().map_err(|_| invalid(&format!("{name} is not visible ASCII")))?;
    Ok(Some(value.to_owned()))
}

/// A request forward-auth lets pass.
pub(crate) struct Decided {
    /// Who is calling; `None` on a public route.
    pub(crate) principal: Option<Principal>,
    /// Whether query-hmac's credentials should leave the query (for proxies that can).
    pub(crate) query: QueryCredentials,
    /// The scheme and the rate limits' headers the answer carries.
    pub(crate) tags: AnswerTags,
}

/// What keyward knows of the original request's body.
pub(crate) enum OriginalBody {
    /// The proxy forwarded it: this is it.
    Forwarded(Body),
    /// The proxy stated there was none.
    Empty,
    /// Not seen, and not known to be absent: a scheme that signs the body is refused, told
    /// what to do behind this proxy ([`ForwardAuthProxy::body_hint`]).
    Withheld(&'static str),
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
    // As written, before parsing, which reads an empty path as "/" (found by fuzzing: a URI of
    // "?a" would be checked as "/?a").
    if !target.starts_with('/') {
        return Err(invalid("the original URI must start with /"));
    }
    // A request line carries no fragment; one here would be dropped by URI parsing, and the
    // check would decide on a shorter target than the proxy forwards (found by fuzzing, for
    // Envoy's gRPC check: a path of "#..." was read as an empty one).
    if target.contains('#') {
        return Err(invalid("the original URI has a '#': a request target has no fragment"));
    }
    let target: http::uri::PathAndQuery =
        target.parse().map_err(|_| invalid("the original URI is not a path and query"))?;
    headers::remove_hop_by_hop(&mut headers);
    let has_host = host.is_some();
    if let Some(host) = host {
        headers.insert(header::HOST, host);
    }
    let (body, withheld) = match body {
        OriginalBody::Forwarded(body) => (body, None),
        OriginalBody::Empty => (Body::empty(), None),
        OriginalBody::Withheld(hint) => (Body::empty(), Some(hint)),
    };
    if withheld.is_some() || body.is_end_stream() {
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::TRANSFER_ENCODING);
    } else if let Some(length) = body.size_hint().exact() {
        // A body handed over whole (gRPC) is framed by its length.
        headers.remove(header::TRANSFER_ENCODING);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    let mut uri = http::uri::Builder::new().path_and_query(target);
    if let Some(proto) = proto.filter(|p| matches!(*p, "http" | "https") && has_host) {
        let authority = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        uri = uri.scheme(proto).authority(authority);
    }
    let uri = uri.build().map_err(|_| invalid("the original host or URI is not valid"))?;
    let mut original = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .map_err(|_| invalid("the original request is not valid"))?;
    *original.headers_mut() = headers;
    if let Some(hint) = withheld {
        original.extensions_mut().insert(BodyWithheld(hint));
    }
    Ok(original)
}

/// The refusal, with its JSON body also in `x-keyward-error` (when it fits in 2 KiB): nginx
/// does not pass an `auth_request` answer's body on, but can answer with this header.
///
/// nginx's `auth_request` takes only 2xx, 401 and 403 (any other status becomes 500): for
/// nginx, another refusal (400, 405, 429, 503...) is answered 403 with its own status in
/// `x-keyward-status`, which the guide's configuration answers the client with.
fn refuse(error: ApiError, proxy: Option<ForwardAuthProxy>) -> Response {
    let body = error.body().to_string();
    let mut response = error.into_response();
    if let Ok(value) = HeaderValue::try_from(body)
        .map_err(drop)
        .and_then(|v| if v.len() <= 2048 { Ok(v) } else { Err(()) })
    {
        response.headers_mut().insert(ERROR_HEADER, value);
    }
    let status = response.status();
    if proxy == Some(ForwardAuthProxy::Nginx)
        && !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    {
        response.headers_mut().insert(STATUS_HEADER, HeaderValue::from(status.as_u16()));
        *response.status_mut() = StatusCode::FORBIDDEN;
    }
    response
}

/// The header a refusal repeats its body in.
pub const ERROR_HEADER: &str = "x-keyward-error";

/// The header a refusal to nginx carries its status in (nginx takes only 401 and 403).
pub const STATUS_HEADER: &str = "x-keyward-status";

/// [`crate::headers::CREDENTIAL_HEADERS`], comma-separated, for Envoy.
const CREDENTIALS_TO_REMOVE: &str = "authorization,x-logtrust-sign,x-logtrust-timestamp,x-logtrust-apikey,\
x-logtrust-domain-apikey,x-logtrust-reseller-apikey,signature,signature-input,x-csrf-token";

/// The header's one value; an error when it is repeated.
fn single(headers: &HeaderMap, name: &HeaderName) -> Result<Option<HeaderValue>, ApiError> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(value.clone())),
        (Some(_), Some(_)) => Err(invalid(&format!("{name} is repeated"))),
    }
}

fn missing(what: &str, name: &HeaderName) -> ApiError {
    invalid(&format!("the original {what} is missing: the proxy sends it in {name}"))
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
