//! [`AuthLayer`] and [`AuthService`]: run the [pipeline](crate::pipeline) before the inner
//! service sees a request; answer its refusal otherwise.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use futures_util::future::BoxFuture;
use keyward_store::Clock;
use tower::{Layer, Service, ServiceExt};

use crate::Principal;
use crate::pipeline::{AuthSettings, authenticate};
use crate::rate_limit::Allowance;

/// Verifies every request; see the crate docs.
#[derive(Clone)]
pub struct AuthLayer {
    settings: Arc<AuthSettings>,
    clock: Clock,
}

impl AuthLayer {
    /// A layer with these settings, reading time from `clock`.
    pub fn new(settings: AuthSettings, clock: Clock) -> Self {
        AuthLayer { settings: Arc::new(settings), clock }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, settings: self.settings.clone(), clock: self.clock.clone() }
    }
}

/// The service [`AuthLayer`] wraps around an inner service.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    settings: Arc<AuthSettings>,
    clock: Clock,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this request; a fresh clone stays behind.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let settings = self.settings.clone();
        let now_ms = (self.clock)();
        Box::pin(async move {
            // The answer carries the scheme, for metrics, and the rate limits' headers.
            let started = std::time::Instant::now();
            let decided = authenticate(&settings, request, now_ms).await;
            let scheme = match &decided {
                Ok(request) => request.extensions().get::<Principal>().map(|p| p.scheme),
                Err(refusal) => refusal.scheme,
            };
            let meters = settings.cache.meters();
            meters.verified(scheme, started.elapsed().as_secs_f64());
            match decided {
                Ok(mut request) => {
                    let allowance = request.extensions_mut().remove::<Allowance>();
                    let mut response = inner.oneshot(request).await?;
                    if let Some(scheme) = scheme {
                        response.extensions_mut().insert(scheme);
                    }
                    if let Some(allowance) = allowance {
                        allowance.write_headers(response.headers_mut());
                    }
                    Ok(response)
                }
                Err(refusal) => {
                    refusal.log();
                    Ok(refusal.into_response())
                }
            }
        })
    }
}
