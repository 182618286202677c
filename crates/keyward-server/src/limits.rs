//! Limits before work: how long a request may take to arrive and to be answered, how many are
//! served at once, and how long a client's request id may be. [`crate::serve`] adds the
//! connection-level ones (header-read timeout, connection cap).
//!
//! Every limit answers in keyward's error shape: 408 (code 36) for a request too slow to
//! arrive or to answer, 503 (code 52) with `Retry-After` when the server is at its limit of
//! requests or connections. The body limit itself is enforced while the body streams (the auth
//! layer and the extractors stop reading at the limit: 413, code 32).
//!
//! ```text
//! request id cap ─▶ set/propagate id ─▶ trace ─▶ RequestLimit (503 past the cap, 408 past the
//!   timeout) ─▶ body-read timeout ─▶ catch panic ─▶ router
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use crate::REQUEST_ID;
use crate::error::{ApiError, ErrorCode};

/// The limits, all configurable; the defaults suit one node on a small machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's line and headers (default 10 s). Past
    /// it the connection is answered 408 and closed; an idle keep-alive connection is closed.
    pub header_read_timeout: Duration,
    /// How long a client may pause while sending a body (default 10 s).
    pub body_read_timeout: Duration,
    /// How long a whole request may take, from its headers to its answer (default 60 s).
    pub request_timeout: Duration,
    /// Open connections at once, at most (default 4096); one more is answered 503 and closed.
    pub max_connections: usize,
    /// Requests served at once, at most (default 1024); one more is answered 503.
    pub max_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_requests: 1024,
        }
    }
}

/// The longest `x-request-id` kept from a client; a longer one (or one with anything but
/// visible ASCII) is replaced by a generated id.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Drops a client's `x-request-id` that is too long or not visible ASCII, so the request-id
/// layer generates one instead: the id is written to every log line and audit record.
pub fn cap_request_id<B>(mut request: Request<B>) -> Request<B> {
    let acceptable = |value: &HeaderValue| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes.iter().all(|b| b.is_ascii_graphic())
    };
    let headers = request.headers_mut();
    let mut values = headers.get_all(REQUEST_ID).iter();
    let keep = match (values.next(), values.next()) {
        (Some(value), None) => acceptable(value),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !keep {
        headers.remove(REQUEST_ID);
    }
    request
}

/// At most [`Limits::max_requests`] requests served at once (one more is answered 503 at
/// once, not queued) and each answered within [`Limits::request_timeout`] (else 408): one
/// semaphore and one timer per request. (tower's load shedding, concurrency limit and timeout,
/// with axum's error handling, cost several thousand instructions more per request.)
///
/// # Example
/// ```
/// use keyward_server::Limits;
/// use keyward_server::limits::RequestLimitLayer;
/// let app = axum::Router::new().layer(RequestLimitLayer::new(&Limits::default()));
/// # let _: axum::Router = app;
/// ```
#[derive(Clone, Debug)]
pub struct RequestLimitLayer {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl RequestLimitLayer {
    /// The limits' request cap and timeout.
    pub fn new(limits: &Limits) -> Self {
        RequestLimitLayer {
            permits: Arc::new(Semaphore::new(limits.max_requests)),
            timeout: limits.request_timeout,
        }
    }
}

impl<S> Layer<S> for RequestLimitLayer {
    type Service = RequestLimit<S>;

    fn layer(&self, inner: S) -> RequestLimit<S> {
        RequestLimit { inner, permits: self.permits.clone(), timeout: self.timeout }
    }
}

/// The service [`RequestLimitLayer`] wraps.
#[derive(Clone, Debug)]
pub struct RequestLimit<S> {
    inner: S,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl<S, B> Service<Request<B>> for RequestLimit<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => ResponseFuture {
                answer: Some(tokio::time::timeout(self.timeout, self.inner.call(request))),
                permit: Some(permit),
            },
            Err(_) => {
                tracing::warn!("request refused: the server is at its limit of requests");
                ResponseFuture { answer: None, permit: None }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`RequestLimit`]: the inner service's, within the timeout, or a refusal.
    pub struct ResponseFuture<F> {
        // `None` when the request was refused past the cap.
        #[pin]
        answer: Option<tokio::time::Timeout<F>>,
        // Given back when the answer is dropped.
        permit: Option<OwnedSemaphorePermit>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for ResponseFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(answer) = self.project().answer.as_pin_mut() else {
            let refused = ApiError::new(ErrorCode::Overloaded).with_retry_after(1);
            return Poll::Ready(Ok(refused.into_response()));
        };
        match answer.poll(cx) {
            Poll::Ready(Ok(answered)) => Poll::Ready(answered),
            Poll::Ready(Err(_elapsed)) => {
                Poll::Ready(Ok(ApiError::new(ErrorCode::RequestTimeout).into_response()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(values: &[&[u8]]) -> bool {
        let mut request = Request::new(());
        for value in values {
            request.headers_mut().append(REQUEST_ID, HeaderValue::from_bytes(value).unwrap());
        }
        cap_request_id(request).headers().contains_key(REQUEST_ID)
    }

    proptest::proptest! {
        /// Whatever a client sends, what reaches the logs is absent or short and printable.
        #[test]
        fn any_request_id_that_stays_is_short_and_printable(
            values in proptest::collection::vec(proptest::collection::vec(0u8..=255, 0..300), 0..3)
        ) {
            let mut request = Request::new(());
            for value in &values {
                if let Ok(value) = HeaderValue::from_bytes(value) {
                    request.headers_mut().append(REQUEST_ID, value);
                }
            }
            let request = cap_request_id(request);
            let kept: Vec<_> = request.headers().get_all(REQUEST_ID).iter().collect();
            proptest::prop_assert!(kept.len() <= 1);
            for value in kept {
                proptest::prop_assert!(value.len() <= MAX_REQUEST_ID_LEN);
                proptest::prop_assert!(value.as_bytes().iter().all(u8::is_ascii_graphic));
            }
        }
    }

    #[test]
    fn request_ids_are_kept_only_when_short_and_printable() {
        assert!(kept(&[b"abc-123"]));
        assert!(kept(&[&[b'a'; MAX_REQUEST_ID_LEN]]));
        assert!(!kept(&[&[b'a'; MAX_REQUEST_ID_LEN + 1]]));
        assert!(!kept(&[b"has space"]));
        assert!(!kept(&[b"tab\there"]));
        assert!(!kept(&[b"one", b"two"]));
    }
}
