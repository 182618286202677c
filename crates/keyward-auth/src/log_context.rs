//! The request a log line is written for: a task-local [`RequestContext`] set while its answer
//! is made (keyward-server's front sets it for every request; its log formats print it), not a
//! `tracing` span, whose fields would be formatted for every request, logged or not.
//! Forward-auth names the request it decides ([`deciding`]), not its own `/auth/check`.

use std::future::Future;

use axum::http::{HeaderValue, Method, Uri};

/// The request a log line is written for.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// Its `x-request-id` (the client's, or the one keyward made).
    pub request_id: HeaderValue,
    /// Its method.
    pub method: Method,
    /// Its target; only the path is logged (the query may hold query-hmac credentials).
    pub uri: Uri,
    /// How it reached keyward, when not directly: `forward-auth` for a request a proxy asked
    /// about.
    pub via: Option<&'static str>,
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// Runs `future` with `context` as the request its log lines belong to.
pub fn within<F: Future>(context: RequestContext, future: F) -> impl Future<Output = F::Output> {
    REQUEST.scope(context, future)
}

/// What `read` makes of the current request's context, when a request is being answered.
pub fn current<R>(read: impl FnOnce(&RequestContext) -> R) -> Option<R> {
    REQUEST.try_with(read).ok()
}

/// Runs `future`, forward-auth's decision on the request `method uri` a proxy asked about,
/// with log lines naming that request (and the check's request id), via forward-auth.
pub async fn deciding<F: Future>(method: &Method, uri: &Uri, future: F) -> F::Output {
    match current(|context| context.request_id.clone()) {
        Some(request_id) => {
            let decided = RequestContext {
                request_id,
                method: method.clone(),
                uri: uri.clone(),
                via: Some("forward-auth"),
            };
            within(decided, future).await
        }
        None => future.await,
    }
}
