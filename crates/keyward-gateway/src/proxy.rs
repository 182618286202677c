//! Forwarding a request along its route: match, authenticate, rewrite, send, stream back.
//!
//! Bodies stream both ways; the pipeline reads one into memory only when its scheme signs it
//! (header-hmac, an RFC 9421 signature over `content-digest`), up to the route's limit, and a
//! streamed body past the limit is cut off (413 when the upstream has not answered yet). An
//! upstream that refuses the connection or breaks it off is answered 502 (code 53); one that
//! is slower than the route's connect or response timeout, 504 (code 54); both with the
//! request id, and logged with the route.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, StatusCode, Uri, Version};
use http_body_util::combinators::MapErr;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use keyward_auth::error::{ApiError, ErrorCode};
use keyward_auth::{Admitted, AnswerTags};
use keyward_sig::Scheme;

use crate::canonical::{CanonicalRequest, OverrideName, method_overrides};
use crate::headers::{self, Credentials, Forwarding, Kept, Upgrade};
use crate::route::{Access, QueryCredentials, Route, Upgrades};
use crate::{Decision, Gateway, Refused, Served, door_refusal};

/// The body sent upstream: the client's, its errors marked as the client's, cut off at the
/// route's limit.
pub(crate) type UpstreamBody = Limited<MapErr<Body, fn(axum::Error) -> ClientBodyError>>;

/// The client's body failed (a malformed chunk, a connection broken off, a read timeout):
/// the request is answered 400 (or 408), never 502.
#[derive(Debug)]
pub(crate) struct ClientBodyError(axum::Error);

impl std::fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body could not be read: {}", self.0)
    }
}

impl std::error::Error for ClientBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// `response`, tagged as an authenticated request's answer.
fn tagged(mut response: Response, tags: &AnswerTags) -> Response {
    tags.on(&mut response);
    response
}

/// A request on its way upstream: its route, what serves the route, the request's canonical
/// form and the connection's peer.
#[derive(Clone, Copy)]
struct Leg<'a> {
    route: &'a Route,
    served: &'a Served,
    canonical: &'a CanonicalRequest,
    peer: Option<SocketAddr>,
}

/// The request id header, kept on the way up and named in errors.
const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Whether a method override the route does not honour is removed (the gateway, which
/// forwards the request) or refused (forward-auth, which cannot change what the proxy sends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ForeignOverride {
    Removed,
    Refused,
}

/// The method a request is authorized as on `route`: its own, or the one the override the
/// route honours names. A `_method` parameter the route does not honour is refused (it cannot
/// be removed from a signed query), as is any override under [`ForeignOverride::Refused`].
pub(crate) fn authorized_method(
    route: Option<&Route>,
    method: &Method,
    headers: &http::HeaderMap,
    query: Option<&str>,
    foreign: ForeignOverride,
) -> Result<Method, ApiError> {
    let overrides = method_overrides(headers, query);
    let honoured = route.and_then(|route| route.method_override);
    let mut authorized: Option<Method> = None;
    for found in overrides {
        if Some(found.name) != honoured {
            if found.name == OverrideName::Query || foreign == ForeignOverride::Refused {
                return Err(override_refused(found.name.as_str(), "this route does not honour it"));
            }
            continue;
        }
        let Some(named) = found.method else {
            return Err(override_refused(found.name.as_str(), "it names no method"));
        };
        if authorized.as_ref().is_some_and(|earlier| *earlier != named) {
            return Err(override_refused(found.name.as_str(), "it names two methods"));
        }
        authorized = Some(named);
    }
    let authorized = authorized.unwrap_or_else(|| method.clone());
    if let Some(route) = route.filter(|route| !route.serves_method(&authorized)) {
        return Err(method_not_allowed(route));
    }
    Ok(authorized)
}

fn override_refused(name: &str, why: &str) -> ApiError {
    ApiError::new(ErrorCode::MethodOverride).with_detail(serde_json::json!({
        "override": name,
        "explanation": format!("{name} is not accepted: {why} (a route's method_override names the one its upstream honours)"),
    }))
}

/// 405 with the methods the route serves.
pub(crate) fn method_not_allowed(route: &Route) -> ApiError {
    let error = ApiError::new(ErrorCode::MethodNotAllowed);
    match route.allowed_methods() {
        Some(methods) => {
            let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
            error.with_detail(serde_json::json!({ "allowed": names }))
        }
        None => error,
    }
}

impl Gateway {
    /// Serves a request no keyward route took: forwards it along its gateway route, or answers
    /// 404 (no route), 405 (no route for this method), 400 (a path or host an upstream could
    /// read differently) or the refusal, in keyward's error shape. `peer` is the connection's
    /// (`None` when unknown: no forwarding header then names the client).
    pub async fn proxy(&self, peer: Option<SocketAddr>, request: Request<Body>) -> Response {
        let table = self.table();
        let canonical =
            match CanonicalRequest::read(request.uri(), request.headers(), self.uri_scheme()) {
                Ok(canonical) => canonical,
                Err(error) => return door_refusal(error).into_response(),
            };
        let (host, path) = (canonical.host_name(), canonical.path(request.uri()));
        let Some((route, served)) = table.find(host, path, request.method()) else {
            let error = match table.routes.for_path(host, path) {
                Some(route) => method_not_allowed(route),
                None => ApiError::new(ErrorCode::NotFound)
                    .with_message(
                        "No route serves this path: it is none of keyward's own, and under no \
                         gateway route's prefix",
                    )
                    .with_detail(serde_json::json!({ "path": path })),
            };
            return error.into_response();
        };
        let leg = Leg { route, served, canonical: &canonical, peer };
        match self.forward(&leg, request).await {
            Ok(response) | Err(response) => response,
        }
    }

    async fn forward(
        &self,
        leg: &Leg<'_>,
        mut request: Request<Body>,
    ) -> Result<Response, Response> {
        let Leg { route, served, peer, .. } = *leg;
        let upgrade = headers::upgrade(request.headers());
        if upgrade == Upgrade::WebSocket && route.upgrades == Upgrades::Refused {
            return Err(ApiError::new(ErrorCode::UpgradeNotAllowed)
                .with_message(
                    "WebSocket upgrades are not allowed on this route (websocket = true allows them)",
                )
                .into_response());
        }
        let method = authorized_method(
            Some(route),
            request.method(),
            request.headers(),
            request.uri().query(),
            ForeignOverride::Removed,
        )
        .map_err(IntoResponse::into_response)?;
        let (decision, tags) = match route.access {
            Access::Public => (Decision::Public, None),
            Access::Protected => {
                // Key policies read the client's address from here.
                if let Some(peer) = peer {
                    request.extensions_mut().insert(ConnectInfo(peer));
                }
                self.forwarded_certificate(peer.map(|peer| peer.ip()), &mut request)
                    .map_err(IntoResponse::into_response)?;
                let (authenticated, Admitted { principal, tags, .. }) = self
                    .admit(&served.auth, Some(route), &method, request)
                    .await
                    .map_err(Refused::into_response)?;
                request = authenticated;
                (Decision::Granted(Box::new(principal)), Some(tags))
            }
        };
        let sent = self.send(leg, request, &decision, upgrade).await;
        match tags {
            Some(tags) => sent
                .map(|response| tagged(response, &tags))
                .map_err(|response| tagged(response, &tags)),
            None => sent,
        }
    }

    /// Sends an authorized request upstream, and its answer back.
    async fn send(
        &self,
        leg: &Leg<'_>,
        mut request: Request<Body>,
        decision: &Decision,
        upgrade: Upgrade,
    ) -> Result<Response, Response> {
        let Leg { route, served, .. } = *leg;
        let limit = served.auth.body_limit;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large(limit));
        }
        let request_id = request.headers().get(&REQUEST_ID).cloned();
        let websocket = upgrade == Upgrade::WebSocket;
        let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut request));
        let upstream = self
            .upstream_request(leg, request, decision, limit, websocket)
            .map_err(IntoResponse::into_response)?;
        let started = std::time::Instant::now();
        let sent =
            tokio::time::timeout(route.response_timeout, served.client.request(upstream)).await;
        let meters = served.auth.cache.meters();
        let mut response = match sent {
            Ok(Ok(response)) => {
                served.upstream.observe(started.elapsed().as_secs_f64());
                response
            }
            Ok(Err(error)) => {
                if let Some(answer) = client_failure(&error, limit) {
                    return Err(answer);
                }
                let kind = if error.is_connect() { "connect" } else { "broken" };
                meters.upstream_failed(&route.prefix, kind);
                return Err(upstream_failure(route, &error, request_id.as_ref()));
            }
            Err(_) => {
                meters.upstream_failed(&route.prefix, "timeout");
                tracing::warn!(target: "keyward::gateway", route = %route.prefix, upstream = %route.upstream.authority, "upstream response timeout");
                return Err(gateway_error(
                    ErrorCode::GatewayTimeout,
                    "upstream-timeout",
                    request_id.as_ref(),
                ));
            }
        };
        if let Some(client_upgrade) =
            client_upgrade.filter(|_| response.status() == StatusCode::SWITCHING_PROTOCOLS)
        {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(bridge(client_upgrade, upstream_upgrade));
            let (parts, _) = response.into_parts();
            return Ok(Response::from_parts(parts, Body::empty()));
        }
        let (mut parts, body) = response.into_parts();
        headers::remove_hop_by_hop(&mut parts.headers);
        // The client's connection has its own version; an HTTP/1.0 upstream's must not leak.
        parts.version = Version::default();
        Ok(Response::from_parts(parts, Body::new(body)))
    }

    /// The request as the upstream gets it: its URI (the canonical path), and headers without
    /// credentials, forged identity or anything else keyward owns, with the caller's identity
    /// and the forwarding headers.
    fn upstream_request(
        &self,
        leg: &Leg<'_>,
        request: Request<Body>,
        decision: &Decision,
        limit: usize,
        websocket: bool,
    ) -> Result<Request<UpstreamBody>, ApiError> {
        let Leg { route, canonical, .. } = *leg;
        let peer = leg.peer.map(|peer| peer.ip());
        let (mut parts, body) = request.into_parts();
        let scheme = match decision {
            Decision::Granted(principal) => Some(principal.scheme),
            Decision::Public => None,
        };
        let strip_query =
            scheme == Some(Scheme::QueryHmac) && route.query_credentials == QueryCredentials::Strip;
        let path = canonical.path(&parts.uri);
        let as_sent = route.passes_path_as_is() && path == parts.uri.path();
        let target = match (as_sent, strip_query, parts.uri.path_and_query()) {
            // Most routes: the target as received, shared, not copied.
            (true, false, Some(target)) => target.clone(),
            _ => {
                let query = match parts.uri.query() {
                    Some(query) if strip_query => headers::query_without_credentials(query),
                    query => query.map(str::to_owned),
                };
                let mut target = route.upstream_path(path);
                if let Some(query) = query {
                    target.push('?');
                    target.push_str(&query);
                }
                PathAndQuery::try_from(target).map_err(|_| ApiError::new(ErrorCode::InvalidPath))?
            }
        };
        let upstream = &route.upstream;
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(upstream.scheme.clone());
        uri.authority = Some(upstream.authority.clone());
        uri.path_and_query = Some(target);
        parts.uri = Uri::from_parts(uri).map_err(|_| ApiError::new(ErrorCode::InvalidPath))?;
        let forwarded_proto = self.0.settings.auth.uri_scheme;
        let forwarding = match peer {
            Some(peer) if self.0.settings.auth.trusted_proxies.trusts(peer) => Forwarding::Trusted,
            _ => Forwarding::Untrusted,
        };
        let headers = &mut parts.headers;
        let identity = &self.0.settings.identity;
        let credentials = match decision {
            Decision::Granted(_) => Credentials::Consumed,
            Decision::Public => Credentials::Untouched,
        };
        let kept = Kept {
            credentials,
            forwarding,
            method_override: route.method_override,
            api_key_header: self.0.settings.auth.verifier.options().api_key_header,
        };
        identity.strip_request(headers, kept);
        if route.http2 || route.upstream.tls.is_some() {
            // HTTP/2 carries the authority in the URI (over TLS, ALPN decides the version
            // per connection: the client writes `Host` for HTTP/1.1, `:authority` for h2).
            headers.remove(header::HOST);
        } else {
            headers.insert(header::HOST, route.upstream.host.clone());
        }
        if let Decision::Granted(principal) = decision {
            identity.add(headers, principal);
        }
        let host = canonical.host().cloned();
        headers::add_forwarding(headers, peer, forwarded_proto, host, forwarding);
        if websocket {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        parts.version = if route.http2 { Version::HTTP_2 } else { Version::HTTP_11 };
        let body: MapErr<Body, fn(axum::Error) -> ClientBodyError> = body.map_err(ClientBodyError);
        Ok(Request::from_parts(parts, Limited::new(body, limit)))
    }
}

/// Copies bytes both ways between an upgraded client connection and the upstream's.
async fn bridge(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(error) => {
            tracing::debug!(target: "keyward::gateway", %error, "upgrade failed");
            return;
        }
    };
    let mut client = hyper_util::rt::TokioIo::new(client);
    let mut upstream = hyper_util::rt::TokioIo::new(upstream);
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(target: "keyward::gateway", %error, "upgraded connection ended");
    }
}

fn too_large(limit: usize) -> Response {
    ApiError::new(ErrorCode::BodyTooLarge)
        .with_detail(serde_json::json!({ "limit_bytes": limit }))
        .into_response()
}

/// An exchange that failed because of the client's body, as the client sees it: too large
/// (413), too slow (408) or unreadable (400).
fn client_failure(error: &hyper_util::client::legacy::Error, limit: usize) -> Option<Response> {
    if caused_by::<LengthLimitError>(error) {
        return Some(too_large(limit));
    }
    if keyward_auth::error::is_timeout(error) {
        return Some(keyward_auth::error::body_timeout().into_response());
    }
    caused_by::<ClientBodyError>(error).then(|| {
        ApiError::new(ErrorCode::InvalidBody)
            .with_message("Request body could not be read")
            .with_detail(serde_json::json!({
                "explanation": "the body is not framed as its headers say (a malformed chunk, or a connection broken off)"
            }))
            .into_response()
    })
}

/// A failed exchange with the upstream, as the client sees it.
fn upstream_failure(
    route: &Route,
    error: &hyper_util::client::legacy::Error,
    request_id: Option<&HeaderValue>,
) -> Response {
    let timed_out = has_cause(error, |e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    });
    tracing::warn!(
        target: "keyward::gateway",
        route = %route.prefix,
        upstream = %route.upstream.authority,
        error = %ErrorChain(error),
        "upstream failed",
    );
    let tls_failed = has_cause(error, is_tls_error);
    match (timed_out, tls_failed, error.is_connect()) {
        (true, _, _) => {
            gateway_error(ErrorCode::GatewayTimeout, "upstream-connect-timeout", request_id)
        }
        (false, true, _) => gateway_error(ErrorCode::BadGateway, "upstream-tls-failed", request_id),
        (false, false, true) => {
            gateway_error(ErrorCode::BadGateway, "upstream-unreachable", request_id)
        }
        (false, false, false) => {
            gateway_error(ErrorCode::BadGateway, "upstream-failed", request_id)
        }
    }
}

fn gateway_error(code: ErrorCode, reason: &str, request_id: Option<&HeaderValue>) -> Response {
    let request_id = request_id.and_then(|id| id.to_str().ok());
    ApiError::new(code)
        .with_detail(serde_json::json!({ "reason": reason, "request_id": request_id }))
        .into_response()
}

fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    has_cause(error, |e| e.is::<E>())
}

/// Whether `error` is rustls', or an io::Error wrapping one (tokio-rustls wraps it twice).
fn is_tls_error(mut error: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if error.is::<rustls::Error>() {
            return true;
        }
        match error.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(inner) => error = inner,
            None => return false,
        }
    }
}

fn has_cause(
    error: &(dyn std::error::Error + 'static),
    test: impl Fn(&(dyn std::error::Error + 'static)) -> bool,
) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if test(error) {
            return true;
        }
        cause = error.source();
    }
    false
}

/// An error and its causes, for the log: `a: b: c`.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}
