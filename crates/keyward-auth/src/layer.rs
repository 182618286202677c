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

use crate::error::ErrorCode;
use crate::pipeline::{Admitted, AuthSettings, authenticate};

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
            match authenticate(&settings, request, now_ms).await {
                Ok((mut request, admitted)) => {
                    let Admitted { principal, tags, mut usage } = admitted;
                    request.extensions_mut().insert(principal);
                    let mut response = inner.oneshot(request).await?;
                    tags.on(&mut response);
                    // A handler's refusal for a missing permission is the key's refusal too.
                    let code = response.extensions().get::<ErrorCode>().copied();
                    if let (Some(usage), Some(ErrorCode::PermissionDenied)) = (&mut usage, code) {
                        usage.refuse(ErrorCode::PermissionDenied);
                    }
                    Ok(response)
                }
                Err(refusal) => Ok(refusal.into_response()),
            }
        })
    }
}
