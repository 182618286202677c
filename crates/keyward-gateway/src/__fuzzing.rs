//! Properties the gateway's fuzz targets (and the test suite's bounded runs of them) check on
//! untrusted input: request paths, queries, forward-auth requests and Envoy check requests.
//! Not API. Each function panics when its property fails.

use axum::body::Body;
use envoy_types::ext_authz::v3::pb::CheckRequest;
use http::header::{HeaderName, HeaderValue};
use prost::Message;

use crate::forward_auth::{ForwardAuthSettings, original_request};
use crate::headers::query_without_credentials;
use crate::path::matching_path;
use crate::{BodyForwarding, grpc};

/// Route matching's path: never panics; an accepted path has no dot segment, is accepted
/// again unchanged (normalising twice is normalising once), and is the input itself when the
/// input had no escape.
pub fn path(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else { return };
    let Ok(normal) = matching_path(path) else { return };
    assert!(!normal.split('/').any(|s| s == "." || s == ".."), "{path:?} -> {normal:?}");
    assert_eq!(matching_path(&normal).as_deref(), Ok(&*normal), "not idempotent on {path:?}");
    if !path.contains('%') {
        assert_eq!(normal, path);
    }
}

/// Stripping query-hmac's credentials: never panics; what is kept has no parameter whose
/// decoded name is `t`, `ms` or `s`, and is the input's other pairs, in order.
pub fn query(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let kept = query_without_credentials(query).unwrap_or_default();
    for param in keyward_sig::query_hmac::raw_params(&kept) {
        let key: Vec<u8> = param.decoded_key().collect();
        assert!(!matches!(&key[..], b"t" | b"ms" | b"s"), "{query:?} kept {key:?}");
    }
    let mut pairs = query.split('&').filter(|p| !p.is_empty());
    for pair in kept.split('&').filter(|p| !p.is_empty()) {
        assert!(pairs.any(|p| p == pair), "{pair:?} is not from {query:?} in order");
    }
}

/// Reading a forward-auth request (`METHOD PATH`, then `name: value` lines): never panics; an
/// accepted one names a target starting with `/`, and when exactly one header names the
/// original URI, the target is that header's.
pub fn forward_auth(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.split('\n');
    let Some((method, path)) = lines.next().and_then(|line| line.split_once(' ')) else { return };
    let Ok(mut request) = http::Request::builder().method(method).uri(path).body(Body::empty())
    else {
        return;
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        if let (Ok(name), Ok(value)) =
            (HeaderName::try_from(name), HeaderValue::try_from(value.trim()))
        {
            request.headers_mut().append(name, value);
        }
    }
    let settings = ForwardAuthSettings::default();
    let named: Vec<String> = settings
        .uri_headers
        .iter()
        .flat_map(|name| request.headers().get_all(name).iter())
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let below_check = request.uri().path().starts_with("/auth/check/");
    let Ok(original) = original_request(&settings, request) else { return };
    let target =
        original.uri().path_and_query().map(|pq| pq.as_str().to_owned()).unwrap_or_default();
    assert!(target.starts_with('/'), "{target:?}");
    if let [only] = &named[..] {
        if !below_check {
            assert_eq!(&target, only);
        }
    }
}

/// Reading an Envoy check request (protobuf bytes): never panics, whatever Envoy (or anyone
/// reaching the port) sends.
pub fn ext_authz(data: &[u8]) {
    let Ok(check) = CheckRequest::decode(data) else { return };
    for bodies in [BodyForwarding::NotForwarded, BodyForwarding::Forwarded] {
        if let Ok(original) = grpc::original_of(bodies, check.clone()) {
            assert!(original.uri().path().starts_with('/'));
        }
    }
}

/// The client address of key policies behind trusted proxies: never panics; an untrusted peer
/// is always the client, whatever it sends; behind a trusted peer the client is that peer or an
/// address the forwarding headers name. Input: a peer byte (even: a trusted proxy, odd: not),
/// then `name: value` lines.
pub fn forwarded_for(data: &[u8]) {
    use std::net::IpAddr;
    let Some((&peer, lines)) = data.split_first() else { return };
    let trusted = keyward_auth::TrustedProxies::new(vec![
        "10.0.0.0/8".parse().expect("a range"),
        "2001:db8::/32".parse().expect("a range"),
    ]);
    let peer: IpAddr = if peer % 2 == 0 { [10, 0, 0, 1].into() } else { [198, 51, 100, 7].into() };
    let mut headers = http::HeaderMap::new();
    for line in lines.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let client = trusted.behind(peer, &headers);
    if peer.is_ipv4() && peer.to_string().starts_with("198.") {
        assert_eq!(client, Some(peer), "an untrusted peer's headers are never read");
    }
    if let Some(client) = client.filter(|client| *client != peer) {
        // Every address the values spell, found independently of the parser under test.
        let spelled: Vec<IpAddr> = headers
            .values()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|value| value.split([',', ';', '=', '"', '[', ']', ' ']))
            .filter_map(|token| {
                token.parse::<IpAddr>().ok().or_else(|| {
                    token.parse::<std::net::SocketAddr>().ok().map(|socket| socket.ip())
                })
            })
            .collect();
        assert!(
            spelled.contains(&client),
            "{client} is named by no forwarding header: {headers:?}"
        );
    }
}
