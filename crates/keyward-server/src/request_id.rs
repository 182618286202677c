//! Request ids keyward makes for requests that come without one: 32 hex digits, unique in the
//! process (a random 64-bit prefix chosen at start, then a counter scrambled by a bijection, so
//! ids do not reveal how many requests came before) and made without a system call, unlike a
//! random UUID per request. A client's own id is kept when it is one line of at most
//! [`MAX_REQUEST_ID_LEN`] visible ASCII characters, since it is written to every log line and
//! audit record.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// The request id header ([`crate::REQUEST_ID`]).
pub(crate) const HEADER: HeaderName = HeaderName::from_static(crate::REQUEST_ID);

/// The longest `x-request-id` kept from a client; a longer one (or one with anything but
/// visible ASCII, or two of them) is replaced by a generated id.
pub const MAX_REQUEST_ID_LEN: usize = 128;

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
        String::from_utf8(self.next_digits().to_vec()).expect("hex digits")
    }

    fn next_digits(&self) -> [u8; 32] {
        let count = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; 32];
        for (half, word) in id.chunks_exact_mut(16).zip([self.prefix, scramble(count)]) {
            for (i, digit) in half.iter_mut().enumerate() {
                *digit = b"0123456789abcdef"[(word >> ((15 - i) * 4)) as usize & 15];
            }
        }
        id
    }

    /// The request's id: the client's `x-request-id` when it is acceptable, else a new one,
    /// which replaces whatever the client sent.
    pub fn for_request(&self, headers: &mut HeaderMap) -> HeaderValue {
        let acceptable = |value: &HeaderValue| {
            let bytes = value.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= MAX_REQUEST_ID_LEN
                && bytes.iter().all(u8::is_ascii_graphic)
        };
        let mut values = headers.get_all(&HEADER).iter();
        if let (Some(value), None) = (values.next(), values.next()) {
            if acceptable(value) {
                return value.clone();
            }
        }
        let id = HeaderValue::from_bytes(&self.next_digits()).expect("hex digits are a value");
        headers.insert(HEADER, id.clone());
        id
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds::new()
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

    /// The id a request gets, and whether it is the client's.
    fn assigned(values: &[&[u8]]) -> (HeaderValue, bool) {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(HEADER, HeaderValue::from_bytes(value).unwrap());
        }
        let id = RequestIds::new().for_request(&mut headers);
        let on_request: Vec<_> = headers.get_all(HEADER).iter().cloned().collect();
        assert_eq!(on_request, std::slice::from_ref(&id), "the request carries exactly its id");
        let kept = values.len() == 1 && id.as_bytes() == values[0];
        (id, kept)
    }

    proptest::proptest! {
        /// Whatever a client sends, the id that reaches the logs is short and printable.
        #[test]
        fn any_request_id_is_short_and_printable(
            values in proptest::collection::vec(proptest::collection::vec(0u8..=255, 0..300), 0..3)
        ) {
            let values: Vec<&[u8]> = values
                .iter()
                .map(Vec::as_slice)
                .filter(|value| HeaderValue::from_bytes(value).is_ok())
                .collect();
            let (id, _) = assigned(&values);
            proptest::prop_assert!(!id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN);
            proptest::prop_assert!(id.as_bytes().iter().all(u8::is_ascii_graphic));
        }
    }

    #[test]
    fn request_ids_are_kept_only_when_short_and_printable() {
        assert!(assigned(&[b"abc-123"]).1);
        assert!(assigned(&[&[b'a'; MAX_REQUEST_ID_LEN]]).1);
        assert!(!assigned(&[&[b'a'; MAX_REQUEST_ID_LEN + 1]]).1);
        assert!(!assigned(&[b"has space"]).1);
        assert!(!assigned(&[b"tab\there"]).1);
        assert!(!assigned(&[b"one", b"two"]).1);
        assert!(!assigned(&[]).1);
    }
}
