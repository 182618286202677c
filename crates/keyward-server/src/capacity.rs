//! What one node takes on before any work: how long a request may take to arrive and to be
//! answered, how many are served at once ([`crate::request_id`] caps a client's request id). [`crate::serve`] adds the
//! connection-level ones (header-read timeout, connection cap).
//!
//! Every limit answers in keyward's error shape: 408 (code 36) for a request too slow to
//! arrive or to answer, 503 (code 52) with `Retry-After` when the server is at its limit of
//! requests or connections. The body limit itself is enforced while the body streams (the auth
//! layer and the extractors stop reading at the limit: 413, code 32).
//!
//! [`crate::App`] applies the request-level ones to every request, in one place; the order
//! is in [`crate::front`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The node's capacity: its timeouts and caps, all configurable; the defaults suit one node on a small machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
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

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_requests: 1024,
        }
    }
}

/// The requests being served, held to [`Capacity::max_requests`]: one atomic add on the way in
/// and one on the way out (a semaphore's release takes a lock).
#[derive(Debug)]
pub(crate) struct RequestCap {
    in_flight: AtomicUsize,
    max: usize,
}

impl RequestCap {
    pub(crate) fn new(max: usize) -> Self {
        RequestCap { in_flight: AtomicUsize::new(0), max }
    }

    /// Admits one more request, or `None` at the cap; the request counts until the guard drops.
    pub(crate) fn admit(&self) -> Option<Admitted<'_>> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Admitted(&self.in_flight))
    }
}

/// One admitted request, counted until dropped.
pub(crate) struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_admits_up_to_its_limit_and_frees_on_drop() {
        let cap = RequestCap::new(2);
        let first = cap.admit().expect("one");
        let second = cap.admit().expect("two");
        assert!(cap.admit().is_none(), "a third is over the cap");
        drop(first);
        let third = cap.admit().expect("a freed place");
        assert!(cap.admit().is_none());
        drop((second, third));
        assert_eq!(cap.in_flight.load(Ordering::Acquire), 0);
    }
}
