//! Properties the gateway's fuzz targets (and the test suite's bounded runs of them) check on
//! untrusted input: request paths, queries, forward-auth requests and Envoy check requests.
//! Not API. Each function panics when its property fails.

use axum::body::Body;
use envoy_types::ext_authz::v3::pb::CheckRequest;
use http::header::{HeaderName, HeaderValue};
use prost::Message;

use crate::forward_auth::{ForwardAuthProxy, original_request};
use crate::headers::query_without_credentials;
use crate::path::canonical_path;
use crate::{BodyForwarding, grpc};

/// The canonical path: never panics; an accepted path has no dot segment, no empty segment
/// but the last, no `;`, no encoded separator, `%` or control character; it is accepted again
/// unchanged (normalising twice is normalising once), and is the input itself when the input
/// had no escape.
pub fn path(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else { return };
    let Ok(normal) = canonical_path(path) else { return };
    assert!(normal.starts_with('/'), "{path:?} -> {normal:?}");
    assert!(!normal.split('/').any(|s| s == "." || s == ".."), "{path:?} -> {normal:?}");
    assert!(!normal.contains("//") && !normal.contains(';'), "{path:?} -> {normal:?}");
    let upper = normal.to_ascii_uppercase();
    for refused in ["%2F", "%5C", "%25", "%3B", "%00", "%0A", "%7F"] {
        assert!(!upper.contains(refused), "{path:?} -> {normal:?}");
    }
    assert_eq!(canonical_path(&normal).as_deref(), Ok(&*normal), "not idempotent on {path:?}");
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

/// Reading a forward-auth request (`METHOD PATH`, then `name: value` lines) as each proxy
/// sends it: never panics; an accepted one names a target starting with `/`: for a proxy that
/// names it in a header, that header's one value, and for Envoy the path below
/// `/auth/check`.
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
    for proxy in ForwardAuthProxy::ALL {
        let named = match proxy {
            ForwardAuthProxy::Nginx => "x-original-uri",
            ForwardAuthProxy::Caddy | ForwardAuthProxy::Traefik => "x-forwarded-uri",
            ForwardAuthProxy::Envoy => "",
        };
        let named: Vec<String> = request
            .headers()
            .get_all(named)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let mut copy = http::Request::new(Body::empty());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        let Ok(original) = original_request(proxy, BodyForwarding::NotForwarded, copy) else {
            continue;
        };
        let target =
            original.uri().path_and_query().map(|pq| pq.as_str().to_owned()).unwrap_or_default();
        assert!(target.starts_with('/'), "{proxy:?}: {target:?}");
        match proxy {
            ForwardAuthProxy::Envoy => {
                let below = request.uri().path().strip_prefix("/auth/check").unwrap_or_default();
                assert!(target.starts_with(below), "{target:?} is not below /auth/check");
            }
            _ => assert_eq!(named, std::slice::from_ref(&target), "{proxy:?} decided elsewhere"),
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

/// The front door's canonical form against independent readings of the same request
/// (input: `METHOD`, `HOST` and `PATH` lines): the `http` crate's (what it refuses never reaches
/// keyward) and the WHATWG URL parser's, as the `url` crate implements it (browsers, Node and
/// many upstreams read URLs so). Whatever keyward accepts, `url` reads as the same host, port
/// and path segments (fully decoded), with no dot segment, `;` or empty segment left for
/// an upstream to resolve; and the canonical form, read again, is itself. A route that names
/// per-method permissions serves only those methods, `HEAD` as `GET`.
#[cfg(feature = "fuzzing")]
pub fn front_door(data: &[u8]) {
    use crate::canonical::CanonicalRequest;
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.splitn(3, '\n');
    let (Some(method), Some(host), Some(path)) = (lines.next(), lines.next(), lines.next()) else {
        return;
    };
    let Ok(request) =
        http::Request::builder().method(method).uri(path).header("host", host).body(())
    else {
        return;
    };
    check_methods(request.method());
    let (uri, headers) = (request.uri(), request.headers());
    if uri.authority().is_some() || uri.path_and_query().is_none() {
        return;
    }
    let Ok(canonical) = CanonicalRequest::read(uri, headers, "http") else { return };
    let canonical_host = canonical.host().and_then(|h| h.to_str().ok()).unwrap_or_default();
    let canonical_path = canonical.path(uri).to_owned();
    let url = url::Url::parse(&format!("http://{host}{}", uri.path()))
        .unwrap_or_else(|error| panic!("keyward accepted {host:?} {path:?}; url refuses: {error}"));
    // The host: the same name, or the same address.
    let url_host = url.host_str().unwrap_or_default();
    let name = canonical.host_name().unwrap_or_default();
    let same_address = |a: &str, b: &str| {
        let address = |s: &str| s.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok();
        address(a).is_some() && address(a) == address(b)
    };
    assert!(
        url_host.trim_end_matches('.') == name || same_address(url_host, name),
        "host {host:?}: keyward {name:?}, url {url_host:?}"
    );
    assert_eq!(
        canonical_host
            .rsplit_once(':')
            .filter(|_| !canonical_host.ends_with(']'))
            .map(|(_, p)| p.to_owned()),
        url.port().map(|port| port.to_string()),
        "port of {host:?}"
    );
    // The path: the same segments, fully decoded; nothing left to resolve.
    let decode = |p: &str| percent_encoding::percent_decode_str(p).collect::<Vec<u8>>();
    assert_eq!(decode(&canonical_path), decode(url.path()), "path {path:?}: url {:?}", url.path());
    let decoded = decode(&canonical_path);
    for segment in decoded.split(|&b| b == b'/').skip(1) {
        assert!(segment != b"." && segment != b"..", "{path:?}");
        assert!(!segment.contains(&b';') && !segment.iter().any(u8::is_ascii_control), "{path:?}");
    }
    assert!(!canonical_path.contains("//"), "{path:?}");
    // Canonical once is canonical.
    let again = http::Request::builder()
        .uri(canonical_path.as_str())
        .header("host", canonical_host)
        .body(())
        .expect("a canonical request is a request");
    let twice = CanonicalRequest::read(again.uri(), again.headers(), "http")
        .expect("a canonical request is accepted again");
    assert_eq!(twice.path(again.uri()), canonical_path);
    assert_eq!(twice.host().and_then(|h| h.to_str().ok()), Some(canonical_host));
}

/// Per-method permissions name the methods served: `HEAD` as `GET`, nothing else.
#[cfg(feature = "fuzzing")]
fn check_methods(method: &http::Method) {
    use http::Method;
    static ROUTES: std::sync::OnceLock<crate::Routes> = std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        let mut config = crate::RouteConfig {
            prefix: "/o".into(),
            upstream: "http://127.0.0.1:9".into(),
            ..Default::default()
        };
        config.method_permissions.insert("GET".into(), vec!["fuzz:read".into()]);
        config.method_permissions.insert("POST".into(), vec!["fuzz:write".into()]);
        crate::Routes::check(vec![config]).expect("a valid route")
    });
    let route = routes.get(0).expect("one route");
    let served = [Method::GET, Method::HEAD, Method::POST].contains(method);
    assert_eq!(route.serves_method(method), served, "{method}");
    if *method == Method::HEAD {
        assert_eq!(route.required(method), route.required(&Method::GET));
    }
}

/// A client certificate a proxy passes on: the first byte picks the header
/// ([`crate::client_cert::CertificateHeader::ALL`]), the rest is its value. Never panics; an
/// accepted certificate has at most [`keyward_sig::certificate::MAX_NAMES`] names, none empty,
/// and is read the same again.
pub fn forwarded_certificate(data: &[u8]) {
    use crate::client_cert::{CertificateHeader, forwarded};
    let Some((&which, value)) = data.split_first() else { return };
    let header = CertificateHeader::ALL[usize::from(which) % CertificateHeader::ALL.len()];
    let Ok(value) = HeaderValue::from_bytes(value) else { return };
    let mut headers = http::HeaderMap::new();
    headers.insert(HeaderName::from_static(header.name()), value);
    let Ok(Some(certificate)) = forwarded(&headers, header) else { return };
    assert!(certificate.names().len() <= keyward_sig::certificate::MAX_NAMES);
    assert!(certificate.names().iter().all(|name| !name.is_empty()), "{certificate:?}");
    assert_eq!(forwarded(&headers, header).ok().flatten(), Some(certificate));
}
