//! Limits before work: how long a request may take to arrive and to be answered, how many are
//! served at once ([`crate::request_id`] caps a client's request id). [`crate::serve`] adds the
//! connection-level ones (header-read timeout, connection cap).
//!
//! Every limit answers in keyward's error shape: 408 (code 36) for a request too slow to
//! arrive or to answer, 503 (code 52) with `Retry-After` when the server is at its limit of
//! requests or connections. The body limit itself is enforced while the body streams (the auth
//! layer and the extractors stop reading at the limit: 413, code 32).
//!
//! [`crate::App`] applies the request-level ones to every request, in one place; the order
//! is in [`crate::front`].

use std::time::Duration;

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
