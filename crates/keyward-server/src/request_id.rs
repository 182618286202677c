//! Request ids keyward makes for requests that come without one: 32 hex digits, unique in the
//! process (a random 64-bit prefix chosen at start, then a counter scrambled by a bijection, so
//! ids do not reveal how many requests came before) and made without a system call, unlike a
//! random UUID per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Makes request ids; clones share the counter.
#[derive(Clone, Debug)]
pub struct RequestIds {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    /// A generator with a random prefix (a fixed one if the system has no randomness to give).
    pub fn new() -> Self {
        let mut seed = [0u8; 16];
        let _ = getrandom::fill(&mut seed);
        let [prefix, start] = [&seed[..8], &seed[8..]]
            .map(|half| u64::from_le_bytes(half.try_into().expect("eight bytes")));
        RequestIds { prefix, next: Arc::new(AtomicU64::new(start)) }
    }

    /// The next id.
    pub fn next_id(&self) -> String {
        let count = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(32);
        for word in [self.prefix, scramble(count)] {
            for shift in (0..16).rev() {
                id.push(char::from(b"0123456789abcdef"[(word >> (shift * 4)) as usize & 15]));
            }
        }
        id
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds::new()
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        HeaderValue::try_from(self.next_id()).ok().map(RequestId::new)
    }
}

/// A bijection of `u64` (the finaliser of SplitMix64): distinct counts give distinct ids.
fn scramble(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_thirty_two_hex_digits() {
        let ids = RequestIds::new();
        let clone = ids.clone();
        let made: std::collections::HashSet<String> =
            (0..10_000).map(|i| if i % 2 == 0 { ids.next_id() } else { clone.next_id() }).collect();
        assert_eq!(made.len(), 10_000);
        assert!(made.iter().all(|id| id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit())));
    }
}
