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
use http::{Request, StatusCode, Uri, Version};
use http_body_util::{LengthLimitError, Limited};
use keyward_auth::error::{ApiError, ErrorCode};
use keyward_auth::{Allowance, Principal, authenticate};
use keyward_sig::Scheme;

use crate::headers::{self, Credentials, is_upgrade};
use crate::path::matching_path;
use crate::route::{Access, QueryCredentials, Route, Upgrades};
use crate::{Decision, Gateway, Served, permitted};

/// The body sent upstream: the client's, cut off at the route's limit.
pub(crate) type UpstreamBody = Limited<Body>;

/// What an authenticated request's answer carries, whatever it is: the scheme (for metrics)
/// and the rate limits' headers.
struct Tags {
    scheme: Scheme,
    allowance: Option<Allowance>,
}

impl Tags {
    fn on(&self, mut response: Response) -> Response {
        response.extensions_mut().insert(self.scheme);
        if let Some(allowance) = &self.allowance {
            allowance.write_headers(response.headers_mut());
        }
        response
    }
}

/// The request id header, kept on the way up and named in errors.
const REQUEST_ID: &str = "x-request-id";

impl Gateway {
    /// Serves a request no keyward route took: forwards it along its gateway route, or answers
    /// 404 (no route), 405 (no route for this method) or the refusal, in keyward's error shape.
    pub async fn proxy(&self, request: Request<Body>) -> Response {
        let table = self.table();
        let host = request_host(&request).map(str::to_ascii_lowercase);
        let path = match matching_path(request.uri().path()) {
            Ok(path) => path.into_owned(),
            Err(error) => {
                return ApiError::new(ErrorCode::InvalidPath)
                    .with_detail(serde_json::json!({ "explanation": error.to_string() }))
                    .into_response();
            }
        };
        let Some(index) = table.routes.position(host.as_deref(), &path, request.method()) else {
            let code = if table.routes.any_for_path(host.as_deref(), &path) {
                ErrorCode::MethodNotAllowed
            } else {
                ErrorCode::NotFound
            };
            return ApiError::new(code).into_response();
        };
        let (route, served) =
            (&table.routes.get(index).expect("position is in range"), &table.served[index]);
        match self.forward(route, served, request).await {
            Ok(response) | Err(response) => response,
        }
    }

    async fn forward(
        &self,
        route: &Route,
        served: &Served,
        mut request: Request<Body>,
    ) -> Result<Response, Response> {
        if is_upgrade(request.headers()) && route.upgrades == Upgrades::Refused {
            return Err(ApiError::new(ErrorCode::UpgradeNotAllowed)
                .with_message("Connection upgrades are not allowed on this route (websocket = true allows them)")
                .into_response());
        }
        let (decision, tags) = match route.access {
            Access::Public => (Decision::Public, None),
            Access::Protected => {
                request = authenticate(&served.auth, request, self.now_ms()).await.map_err(
                    |refusal| {
                        refusal.log();
                        refusal.into_response()
                    },
                )?;
                let principal = request
                    .extensions_mut()
                    .remove::<Principal>()
                    .expect("the pipeline sets the principal");
                let allowance = request.extensions_mut().remove::<Allowance>();
                let tags = Tags { scheme: principal.scheme, allowance };
                if let Err(error) =
                    permitted(&principal, route.required(request.method()), request.method())
                {
                    return Err(tags.on(error.into_response()));
                }
                (Decision::Granted(Box::new(principal)), Some(tags))
            }
        };
        let sent = self.send(route, served, request, &decision).await;
        match tags {
            Some(tags) => {
                sent.map(|response| tags.on(response)).map_err(|response| tags.on(response))
            }
            None => sent,
        }
    }

    /// Sends an authorized request upstream, and its answer back.
    async fn send(
        &self,
        route: &Route,
        served: &Served,
        mut request: Request<Body>,
        decision: &Decision,
    ) -> Result<Response, Response> {
        let upgrade = is_upgrade(request.headers());
        let limit = served.auth.body_limit;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large(limit));
        }
        let request_id = request.headers().get(REQUEST_ID).cloned();
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let upstream = self
            .upstream_request(route, request, decision, limit)
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
                let kind = if error.is_connect() { "connect" } else { "broken" };
                meters.upstream_failed(&route.prefix, kind);
                return Err(upstream_failure(route, &error, request_id.as_ref(), limit));
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

    /// The request as the upstream gets it: its URI, and headers without credentials or forged
    /// identity, with the caller's identity and the forwarding headers.
    fn upstream_request(
        &self,
        route: &Route,
        request: Request<Body>,
        decision: &Decision,
        limit: usize,
    ) -> Result<Request<UpstreamBody>, ApiError> {
        let (mut parts, body) = request.into_parts();
        let host = match parts.headers.get(header::HOST) {
            Some(host) => Some(host.clone()),
            None => parts.uri.authority().and_then(|a| HeaderValue::try_from(a.as_str()).ok()),
        };
        let scheme = match decision {
            Decision::Granted(principal) => Some(principal.scheme),
            Decision::Public => None,
        };
        let strip_query =
            scheme == Some(Scheme::QueryHmac) && route.query_credentials == QueryCredentials::Strip;
        let target = match (route.passes_path_as_is(), strip_query, parts.uri.path_and_query()) {
            // Most routes: the target as received, shared, not copied.
            (true, false, Some(target)) => target.clone(),
            _ => {
                let query = match parts.uri.query() {
                    Some(query) if strip_query => headers::query_without_credentials(query),
                    query => query.map(str::to_owned),
                };
                let mut target = route.upstream_path(parts.uri.path());
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
        let upgrade = is_upgrade(&parts.headers)
            .then(|| parts.headers.get(header::UPGRADE).cloned())
            .flatten();
        let forwarded_proto = self.0.settings.auth.uri_scheme;
        let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        let headers = &mut parts.headers;
        let identity = &self.0.settings.identity;
        let credentials = match decision {
            Decision::Granted(_) => Credentials::Consumed,
            Decision::Public => Credentials::Untouched,
        };
        identity.strip_request(headers, credentials);
        headers.remove(header::HOST);
        headers.remove(header::EXPECT);
        if let Decision::Granted(principal) = decision {
            identity.add(headers, principal);
        }
        headers::add_forwarding(headers, client, forwarded_proto, host);
        if let Some(protocol) = upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, protocol);
        }
        parts.version = if route.http2 { Version::HTTP_2 } else { Version::HTTP_11 };
        Ok(Request::from_parts(parts, Limited::new(body, limit)))
    }
}

/// The host a request was sent to, without its port: `Host`, or the URI's authority (HTTP/2).
pub(crate) fn request_host<B>(request: &Request<B>) -> Option<&str> {
    request_host_of(request.uri(), request.headers())
}

fn request_host_of<'a>(uri: &'a Uri, headers: &'a http::HeaderMap) -> Option<&'a str> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))?;
    // `[::1]:8080`, `example.com:8080`, `example.com`.
    Some(match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => &host[..colon],
        _ => host,
    })
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

/// A failed exchange with the upstream, as the client sees it.
fn upstream_failure(
    route: &Route,
    error: &hyper_util::client::legacy::Error,
    request_id: Option<&HeaderValue>,
    limit: usize,
) -> Response {
    if caused_by::<LengthLimitError>(error) {
        return too_large(limit);
    }
    if keyward_auth::error::is_timeout(error) {
        return keyward_auth::error::body_timeout().into_response();
    }
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
    match (timed_out, error.is_connect()) {
        (true, _) => {
            gateway_error(ErrorCode::GatewayTimeout, "upstream-connect-timeout", request_id)
        }
        (false, true) => gateway_error(ErrorCode::BadGateway, "upstream-unreachable", request_id),
        (false, false) => gateway_error(ErrorCode::BadGateway, "upstream-failed", request_id),
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
