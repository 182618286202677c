//! Key policies, enforced: after a key's signature (or an access token minted from it)
//! verified, its expiry, client address ranges and routes decide, each refusal with its own
//! code (29, 44, 45), distinct from a bad signature.
//!
//! The client address is the connection's peer, unless that peer is a configured trusted
//! proxy: then it is the address the proxies say they forward for, read from the right of
//! `X-Forwarded-For` (or `Forwarded`, RFC 7239), skipping every trusted proxy. A client cannot
//! choose its address by sending these headers itself: only a trusted peer's are read, and
//! only the entries the trusted proxies appended count.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;
use keyward_store::KeyPolicy;
use serde_json::json;

use crate::error::{ApiError, ErrorCode};

/// The proxies whose forwarding headers name the client (none by default).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    /// Trusts the proxies in `networks`.
    pub fn new(networks: Vec<IpNet>) -> Self {
        TrustedProxies(networks.into())
    }

    /// Whether `address` is a trusted proxy.
    pub fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client's address: `None` when the connection's peer is unknown, or a trusted
    /// proxy's forwarding headers cannot be read.
    pub fn client_address(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        self.behind(peer, &parts.headers)
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn behind(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        if !self.trusts(peer) {
            return Some(peer);
        }
        let chain = match forwarded_for(headers, "x-forwarded-for", parse_xff_entry) {
            Some(chain) if !chain.is_empty() => chain,
            Some(_) => forwarded_for(headers, "forwarded", parse_forwarded_entry)?,
            None => return None,
        };
        // From the right: the first address no trusted proxy has, is the client.
        let mut nearest = peer;
        for address in chain.iter().rev() {
            if !self.trusts(*address) {
                return Some(*address);
            }
            nearest = *address;
        }
        Some(nearest)
    }
}

/// Every address in every line of `name`, in order; `None` when an entry cannot be read (an
/// address that cannot be trusted is no address).
fn forwarded_for(
    headers: &HeaderMap,
    name: &str,
    parse: fn(&str) -> Option<Option<IpAddr>>,
) -> Option<Vec<IpAddr>> {
    let mut chain = Vec::new();
    for line in headers.get_all(name) {
        let line = line.to_str().ok()?;
        for entry in line.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            chain.extend(parse(entry)?);
        }
    }
    Some(chain)
}

/// An `X-Forwarded-For` entry: an address, perhaps with a port (`[2001:db8::1]:443`).
fn parse_xff_entry(entry: &str) -> Option<Option<IpAddr>> {
    Some(Some(parse_address(entry)?))
}

/// A `Forwarded` element's `for=` (other pairs skipped; an element without `for` names no
/// address).
fn parse_forwarded_entry(element: &str) -> Option<Option<IpAddr>> {
    for pair in element.split(';') {
        let (name, value) = pair.trim().split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            return Some(Some(parse_address(value.trim().trim_matches('"'))?));
        }
    }
    Some(None)
}

/// An address, perhaps with a port; never with an IPv6 zone (`%eth0`), which no proxy in
/// front of keyward writes (found by the `forwarded_for` fuzz target: `[2001:db8::%0]:4201`
/// read as `2001:db8::`).
fn parse_address(text: &str) -> Option<IpAddr> {
    if text.contains('%') {
        return None;
    }
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    // `[2001:db8::1]` without a port.
    text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// Why a key's policy refused a request.
pub(crate) fn refusal(
    policy: &KeyPolicy,
    route: &str,
    method: &str,
    address: Option<IpAddr>,
    now_ms: i64,
) -> Option<(ApiError, &'static str)> {
    if policy.expired(now_ms) {
        let error = ApiError::new(ErrorCode::KeyExpired).with_detail(json!({
            "expired_at_ms": policy.expires_at_ms,
            "server_time_ms": now_ms,
        }));
        return Some((error, "key-expired"));
    }
    if !policy.allows_address(address) {
        let error = ApiError::new(ErrorCode::AddressNotAllowed)
            .with_detail(json!({ "address": address.map(|a| a.to_string()) }));
        return Some((error, "address-not-allowed"));
    }
    if !policy.allows_route(route, method) {
        let error = ApiError::new(ErrorCode::RouteNotAllowed)
            .with_detail(json!({ "route": route, "method": method }));
        return Some((error, "route-not-allowed"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_client_is_the_first_untrusted_address_from_the_right() {
        let trusted = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let spoofed = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.2")]);
        // An untrusted peer: its headers are ignored.
        assert_eq!(trusted.behind(ip("198.51.100.1"), &spoofed), Some(ip("198.51.100.1")));
        // A trusted peer: the client wrote 1.1.1.1, the first proxy saw 203.0.113.7.
        assert_eq!(trusted.behind(ip("10.0.0.1"), &spoofed), Some(ip("203.0.113.7")));
        let lines = headers(&[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-for", "10.0.0.3")]);
        assert_eq!(trusted.behind(ip("10.0.0.1"), &lines), Some(ip("203.0.113.9")));
        let forwarded =
            headers(&[("forwarded", r#"for="[2001:db8::5]:4711";proto=https, for=10.0.0.4"#)]);
        assert_eq!(trusted.behind(ip("10.0.0.1"), &forwarded), Some(ip("2001:db8::5")));
        // No header: the proxy itself; an unreadable entry: unknown.
        assert_eq!(trusted.behind(ip("10.0.0.1"), &HeaderMap::new()), Some(ip("10.0.0.1")));
        let garbage = headers(&[("x-forwarded-for", "203.0.113.9, not-an-address")]);
        assert_eq!(trusted.behind(ip("10.0.0.1"), &garbage), None);
        let zoned = headers(&[("forwarded", r#"for="[2001:db8::%0]:4201""#)]);
        assert_eq!(trusted.behind(ip("10.0.0.1"), &zoned), None);
    }
}
