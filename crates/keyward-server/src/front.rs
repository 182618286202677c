//! [`App`]: the one service keyward serves, composed once. Every request takes the same steps
//! in one function, with no per-request clone of a boxed stack of layers and nothing formatted
//! unless it is logged:
//!
//! ```text
//! request id (the client's when short and printable, else a new one) ─▶ log context
//!   ─▶ metrics ─▶ response signing (when asked, or a route says so)
//!   ─▶ request limit (503 past the cap) and timeout (408) ─▶ body-read timeout ─▶ panic safety
//!   ─▶ a path keyward serves itself: its router (handlers, auth layers, body limit)
//!   ─▶ any other path: the gateway (its route, or 404)
//!   ─▶ the request id on the answer
//! ```
//!
//! keyward's own paths are a fixed list ([`keyward_gateway::served_by_keyward`]) that
//! no gateway route may overlap, so a gateway request never walks keyward's routing table, and
//! a path under keyward's own that no handler takes still reaches the gateway's 404 through
//! the router's fallback.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use keyward_gateway::Gateway;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

use crate::capacity::{Capacity, RequestCap};
use crate::error::{ApiError, ErrorCode};
use crate::log::RequestContext;
use crate::metrics::Metrics;
use crate::request_id::{self, RequestIds};
use crate::response_signing::Signing;
use crate::{log, metrics, response_signing};

/// keyward's HTTP service: its API and console, forward-auth and the gateway, behind the
/// limits every request meets. Cheap to clone; [`crate::serve()`] serves it.
#[derive(Clone, Debug)]
pub struct App(Arc<Front>);

#[derive(Debug)]
struct Front {
    router: Router,
    gateway: Gateway,
    body_limit: DefaultBodyLimit,
    capacity: Capacity,
    requests: RequestCap,
    ids: RequestIds,
    metrics: Arc<Metrics>,
    signing: Option<Signing>,
}

/// What an [`App`] is made of.
pub(crate) struct Parts {
    /// keyward's own routes, with their state.
    pub router: Router,
    /// The gateway every other path goes to.
    pub gateway: Gateway,
    /// The largest request body keyward's own handlers read.
    pub body_limit: usize,
    /// The request cap and timeouts.
    pub capacity: Capacity,
    /// What every answer is counted in.
    pub metrics: Arc<Metrics>,
    /// How answers are signed, when a response key is set.
    pub signing: Option<Signing>,
}

impl App {
    pub(crate) fn new(parts: Parts) -> Self {
        App(Arc::new(Front {
            router: parts.router,
            gateway: parts.gateway,
            body_limit: DefaultBodyLimit::max(parts.body_limit),
            requests: RequestCap::new(parts.capacity.max_requests),
            capacity: parts.capacity,
            ids: RequestIds::new(),
            metrics: parts.metrics,
            signing: parts.signing,
        }))
    }

    /// The answer to `request`, which came from `peer`.
    pub fn answer<B>(
        &self,
        peer: SocketAddr,
        request: Request<B>,
    ) -> impl Future<Output = Result<Response, Infallible>> + Send + use<B>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let front = self.0.clone();
        async move { Ok(front.answer(peer, request).await) }
    }
}

impl Front {
    async fn answer<B>(self: Arc<Self>, peer: SocketAddr, request: Request<B>) -> Response
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let started = Instant::now();
        let timeout = self.capacity.body_read_timeout;
        // A request without a body keeps saying so (an upstream gets no body, not an empty
        // chunked one), and no read timer is set for it.
        let mut request = request.map(|body| match body.is_end_stream() {
            true => Body::empty(),
            false => Body::new(TimeoutBody::new(timeout, body)),
        });
        let request_id = self.ids.for_request(request.headers_mut());
        let group = metrics::group(request.uri().path());
        let context = RequestContext {
            request_id: request_id.clone(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            via: None,
        };
        let mut response = log::within(context, self.signed(peer, request)).await;
        self.metrics.observe(group, &response, started);
        response.headers_mut().entry(request_id::HEADER).or_insert(request_id);
        response
    }

    /// The answer, signed when the client asks or the route says so (refusals and overload
    /// included).
    async fn signed(&self, peer: SocketAddr, request: Request<Body>) -> Response {
        match &self.signing {
            Some(signing) => {
                response_signing::sign(signing, request, |r| self.limited(peer, r)).await
            }
            None => self.limited(peer, request).await,
        }
    }

    /// The answer within the request cap and timeout, a panic answered 500.
    async fn limited(&self, peer: SocketAddr, request: Request<Body>) -> Response {
        let Some(_admitted) = self.requests.admit() else {
            tracing::warn!("request refused: the server is at its limit of requests");
            return ApiError::new(ErrorCode::Overloaded).with_retry_after(1).into_response();
        };
        let answer = AssertUnwindSafe(self.dispatch(peer, request)).catch_unwind();
        match tokio::time::timeout(self.capacity.request_timeout, answer).await {
            Ok(Ok(response)) => response,
            Ok(Err(_panic)) => {
                tracing::error!("the request's handler panicked; answered 500");
                ApiError::new(ErrorCode::Internal).into_response()
            }
            Err(_elapsed) => ApiError::new(ErrorCode::RequestTimeout).into_response(),
        }
    }

    /// keyward's router for its own paths, the gateway for every other.
    async fn dispatch(&self, peer: SocketAddr, mut request: Request<Body>) -> Response {
        if !keyward_gateway::served_by_keyward(request.uri().path()) {
            return self.gateway.proxy(Some(peer), request).await;
        }
        request.extensions_mut().insert(ConnectInfo(peer));
        self.body_limit.apply(&mut request);
        match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(infallible) => match infallible {},
        }
    }
}
