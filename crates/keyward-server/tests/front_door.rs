//! Issue 18's attacks on keyward's own gateway, from outside, over real servers on 127.0.0.1:
//! keyward in front of an upstream that echoes what it receives. Each finding is a test named
//! after it; each asserts that the request keyward authorized is the request the upstream
//! served, or that keyward refused it (forward-auth's are in `forward_auth.rs` and, through real
//! nginx and Caddy, `proxies.rs`; upstreams in other languages in `upstreams.rs`).

#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine;
use common::{Prepared, Scheme, TestServer, sign};
use keyward_server::gateway::{RouteConfig, Routes};
use keyward_sig::RequestView;
use keyward_sig::private_key::PrivateKey;
use keyward_sig::public_key::Algorithm;
use keyward_sig::rfc9421::{self, DigestAlgorithm, SignatureParams};
use keyward_testkit::upstream::EchoUpstream;
use serde_json::{Value, json};

fn route(prefix: &str, upstream: &EchoUpstream) -> RouteConfig {
    RouteConfig { prefix: prefix.into(), upstream: upstream.url(), ..Default::default() }
}

/// `/orders` (GET orders:read, POST orders:write), `/public/`, `/live/` (WebSockets), `/admin`
/// on host `priv.example` (admin:access), `/strip/` (prefix stripped, to `/base`), and
/// `/legacy` whose upstream honours `X-HTTP-Method-Override` (GET orders:read, DELETE
/// orders:delete).
async fn gateway(upstream: &EchoUpstream) -> TestServer {
    let mut orders = route("/orders", upstream);
    orders.method_permissions.insert("GET".into(), vec!["orders:read".into()]);
    orders.method_permissions.insert("POST".into(), vec!["orders:write".into()]);
    let public = RouteConfig { public: true, ..route("/public/", upstream) };
    let live = RouteConfig { websocket: true, ..route("/live/", upstream) };
    let admin = RouteConfig {
        host: Some("priv.example".into()),
        permissions: vec!["admin:access".into()],
        ..route("/admin", upstream)
    };
    let strip = RouteConfig {
        strip_prefix: true,
        upstream: format!("{}/base", upstream.url()),
        ..route("/strip/", upstream)
    };
    let mut legacy = RouteConfig {
        method_override: Some("X-HTTP-Method-Override".into()),
        ..route("/legacy", upstream)
    };
    legacy.method_permissions.insert("GET".into(), vec!["orders:read".into()]);
    legacy.method_permissions.insert("POST".into(), vec!["orders:read".into()]);
    legacy.method_permissions.insert("DELETE".into(), vec!["orders:delete".into()]);
    let routes = Routes::check(vec![orders, public, live, admin, strip, legacy]).unwrap();
    let settings = keyward_server::Settings { routes, ..common::settings() };
    TestServer::builder("front_door").settings(settings).start().await.unwrap()
}

fn code(body: &Value) -> i64 {
    body["error"]["code"].as_i64().unwrap_or_default()
}

/// The echo's header `name`, if the request reached the upstream.
fn echoed<'v>(echo: &'v Value, name: &str) -> Option<&'v str> {
    echo["headers"].as_array()?.iter().find(|p| p[0] == name).and_then(|p| p[1].as_str())
}

/// Sends raw bytes; the status and the JSON body (the echo, or keyward's error).
async fn raw(server: &TestServer, request: &str) -> (u16, Value) {
    let response = common::raw(server, request.as_bytes()).await;
    (common::status(&response), common::error_body(&response))
}

/// A GET of `path` signed by query-hmac with `key`.
fn get(server: &TestServer, key: &(String, String), method: &str, path: &str) -> Prepared {
    sign(Scheme::QueryHmac, &key.0, &key.1, method, &server.url(path), None)
}

async fn key(server: &TestServer, name: &str, permissions: &[&str]) -> (String, String) {
    let (_, token, secret) = server.create_key(&server.admin_token, name, permissions).await;
    (token, secret)
}

#[tokio::test]
async fn finding_1_an_ecdsa_signature_with_n_minus_s_is_the_same_replay() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = gateway(&upstream).await;
    let (target, _, _) =
        server.create_key(&server.admin_token, "Target", &["activities:read"]).await;
    for algorithm in [Algorithm::EcdsaP256Sha256, Algorithm::EcdsaP384Sha384] {
        let private = PrivateKey::generate(algorithm).unwrap();
        let body = json!({ "data": { "name": "Signer", "permissions": ["keys:manage", "activities:read"],
            "public_key": private.public_key_pem() } });
        let (status, created) =
            server.bearer(&server.admin_token, "POST", "/api/admin/keys", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        let keyid = created["data"]["token"].as_str().unwrap().to_owned();
        // A signed write without a nonce, as a client might send it, seen in a log.
        let path = format!("/api/admin/keys/{target}/rotate-secret");
        let body = json!({ "data": { "overlap_seconds": 0 } }).to_string();
        let digest = rfc9421::content_digest(body.as_bytes(), DigestAlgorithm::Sha256);
        let host = server.address().to_owned();
        let headers = [("host", host.as_bytes()), ("content-digest", digest.as_bytes())];
        let view = RequestView::new("POST", &path, &headers, body.as_bytes());
        let now = common::signing_ms() / 1000;
        let params = SignatureParams::new(
            &["@method", "@authority", "@path", "content-digest"],
            now,
            &keyid,
        )
        .unwrap()
        .with_algorithm(Some(algorithm.name()))
        .unwrap();
        let signed = rfc9421::sign(&view, "sig1", &params, &private).unwrap();
        let send = |signature: String| Prepared {
            method: "POST".into(),
            url: server.url(&path),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("content-digest".into(), digest.clone()),
                ("signature-input".into(), signed.signature_input.clone()),
                ("signature".into(), signature),
            ],
            body: Some(body.clone()),
        };
        let (status, answer) = common::send(&server.client, send(signed.signature.clone())).await;
        assert_eq!(status, 200, "{algorithm:?}: {answer}");
        let (status, answer) = common::send(&server.client, send(signed.signature.clone())).await;
        assert_eq!((status, code(&answer)), (401, 15), "{algorithm:?}: {answer}");
        // (r, n - s): another signature of the same bytes, which verifies too.
        let raw = base64::engine::general_purpose::STANDARD
            .decode(signed.signature.trim_start_matches("sig1=:").trim_end_matches(':'))
            .unwrap();
        let twin = keyward_testkit::malleate::ecdsa_twin(algorithm, &raw).unwrap();
        assert_ne!(twin, raw);
        let twin = format!("sig1=:{}:", base64::engine::general_purpose::STANDARD.encode(twin));
        let (status, answer) = common::send(&server.client, send(twin)).await;
        assert_eq!(
            (status, code(&answer)),
            (401, 15),
            "{algorithm:?}: a second new secret: {answer}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn finding_2_identity_headers_in_any_spelling_never_reach_the_upstream() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = gateway(&upstream).await;
    let reader = key(&server, "Reader", &["orders:read"]).await;
    let forged = "x_keyward_principal: user:1\r\nx_keyward_permissions: *\r\nX-KEYWARD-RESELLER: 9\r\n\
                  x-keyward_domain: 2\r\nx_forwarded_for: 6.6.6.6\r\nx_real_ip: 6.6.6.6\r\n";
    // A public route, no credentials.
    let (status, echo) =
        raw(&server, &format!("GET /public/x HTTP/1.1\r\nhost: a.example\r\n{forged}\r\n")).await;
    assert_eq!(status, 200, "{echo}");
    let names: Vec<String> = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap().replace('_', "-"))
        .collect();
    for owned in ["x-keyward-", "x-real-ip"] {
        assert!(!names.iter().any(|n| n.starts_with(owned)), "{owned}: {names:?}");
    }
    assert_eq!(echoed(&echo, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(names.iter().filter(|n| *n == "x-forwarded-for").count(), 1, "{names:?}");
    // A domain key: the forged reseller and `*` are not merged into the real values.
    let mut request = get(&server, &reader, "GET", "/orders/1");
    for line in forged.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(": ").unwrap();
        request.headers.push((name.into(), value.into()));
    }
    let (status, echo) = common::send(&server.client, request).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echoed(&echo, "x-keyward-permissions"), Some("orders:read"));
    assert_eq!(echoed(&echo, "x-keyward-domain"), Some("1"));
    assert_eq!(echoed(&echo, "x-keyward-reseller"), None, "{echo}");
    server.stop().await;
}

#[tokio::test]
async fn finding_4_and_8_paths_and_hosts_an_upstream_reads_otherwise_are_refused() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = gateway(&upstream).await;
    for target in [
        "//admin/x",
        "/admin;x/y",
        "/public/..;/admin/x",
        "/public/%2e%2e;/admin/x",
        "/public/x;jsessionid=1",
        "/public/a%3Bb",
        "/public/%00/x",
    ] {
        let (status, body) =
            raw(&server, &format!("GET {target} HTTP/1.1\r\nhost: priv.example\r\n\r\n")).await;
        assert_eq!((status, code(&body)), (400, 38), "{target}: {body}");
    }
    // priv.example's /admin needs admin:access, however the host is written.
    let reader = key(&server, "Reader", &["orders:read"]).await;
    for host in ["priv.example", "PRIV.example", "priv.example.", "priv.example.:80"] {
        let mut request = get(&server, &reader, "GET", "/admin/users");
        request.headers.push(("host".into(), host.into()));
        let (status, body) = common::send(&server.client, request).await;
        assert_eq!((status, code(&body)), (403, 20), "{host}: {body}");
    }
    for host in ["priv..example", "priv.example:0", "0x7f.1", "u@priv.example"] {
        let (status, body) =
            raw(&server, &format!("GET /public/x HTTP/1.1\r\nhost: {host}\r\n\r\n")).await;
        assert_eq!((status, code(&body)), (400, 39), "{host}: {body}");
    }
    // Two hosts, or a target whose authority is another host than Host's.
    let (status, body) =
        raw(&server, "GET /public/x HTTP/1.1\r\nhost: a.example\r\nhost: priv.example\r\n\r\n")
            .await;
    assert!(status == 400 && [0, 39].contains(&code(&body)), "{status} {body}");
    let (status, body) =
        raw(&server, "GET http://priv.example/admin/x HTTP/1.1\r\nhost: a.example\r\n\r\n").await;
    assert_eq!((status, code(&body)), (400, 39), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn finding_5_6_and_7_methods_are_what_the_route_names() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = gateway(&upstream).await;
    let reader = key(&server, "Reader", &["orders:read"]).await;
    let writer = key(&server, "Writer", &["orders:write"]).await;
    // 5. Methods the per-method permissions do not name.
    for method in ["PUT", "DELETE", "PATCH"] {
        let (status, body) =
            common::send(&server.client, get(&server, &reader, method, "/orders/1")).await;
        assert_eq!((status, code(&body)), (405, 42), "{method}: {body}");
        assert_eq!(body["error"]["detail"]["allowed"], json!(["GET", "POST"]));
    }
    // 6. HEAD needs GET's permission.
    let (status, _) =
        common::send(&server.client, get(&server, &writer, "HEAD", "/orders/1")).await;
    assert_eq!(status, 403);
    let (status, _) =
        common::send(&server.client, get(&server, &reader, "HEAD", "/orders/1")).await;
    assert_eq!(status, 200);
    // 7. Override headers are removed on a route that does not name one; `_method` refused.
    let mut request = get(&server, &reader, "GET", "/orders/1");
    for name in ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "x_http_method"] {
        request.headers.push((name.into(), "DELETE".into()));
    }
    let (status, echo) = common::send(&server.client, request).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["method"], "GET");
    for name in ["x-http-method-override", "x-http-method", "x-method-override", "x_http_method"] {
        assert_eq!(echoed(&echo, name), None, "{name} reached the upstream");
    }
    let (status, body) =
        common::send(&server.client, get(&server, &writer, "POST", "/orders?_method=DELETE")).await;
    assert_eq!((status, code(&body)), (400, 47), "{body}");
    // A route whose upstream honours the override authorizes the method it names.
    let mut request = get(&server, &reader, "POST", "/legacy/1");
    request.headers.push(("X-HTTP-Method-Override".into(), "DELETE".into()));
    let (status, body) = common::send(&server.client, request).await;
    assert_eq!((status, code(&body)), (403, 20), "DELETE needs orders:delete: {body}");
    assert_eq!(body["error"]["detail"]["required"], json!(["orders:delete"]));
    let mut request = get(&server, &reader, "POST", "/legacy/1");
    request.headers.push(("X-HTTP-Method-Override".into(), "GET".into()));
    let (status, echo) = common::send(&server.client, request).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echoed(&echo, "x-http-method-override"), Some("GET"));
    server.stop().await;
}

#[tokio::test]
async fn finding_9_and_11_only_websocket_upgrades_pass_and_h2c_offers_are_dropped() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = gateway(&upstream).await;
    // Java's HttpClient offers h2c on every plain-HTTP request: served over HTTP/1.1, the
    // offer never reaching the upstream, on every route, the WebSocket one included.
    for path in ["/public/x", "/live/x"] {
        let (status, echo) = raw(
            &server,
            &format!(
                "GET {path} HTTP/1.1\r\nhost: a.example\r\nconnection: Upgrade, HTTP2-Settings\r\n\
                 upgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
            ),
        )
        .await;
        let wanted = if path == "/live/x" { 401 } else { 200 };
        assert_eq!(status, wanted, "{path}: {echo}");
        if status == 200 {
            for name in ["upgrade", "http2-settings", "connection"] {
                assert_eq!(echoed(&echo, name), None, "{name} reached the upstream");
            }
        }
    }
    let (status, echo) = raw(
        &server,
        &format!(
            "GET /live/x HTTP/1.1\r\nhost: a.example\r\nauthorization: Bearer {}\r\n\
             connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABk\r\n\r\n",
            server.admin_token
        ),
    )
    .await;
    assert_eq!(status, 200, "the h2c offer is served as HTTP/1.1: {echo}");
    assert_eq!(echoed(&echo, "upgrade"), None);
    // An offer whose Connection does not name HTTP2-Settings: that header goes all the same.
    let (status, echo) = raw(
        &server,
        "GET /public/x HTTP/1.1\r\nhost: a.example\r\nconnection: upgrade\r\nupgrade: h2c\r\n\
         http2-settings: AAMAAABk\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{echo}");
    for name in ["upgrade", "http2-settings", "connection"] {
        assert_eq!(echoed(&echo, name), None, "{name} reached the upstream");
    }
    // A WebSocket handshake on a route without websocket = true is refused.
    let (status, body) = raw(
        &server,
        "GET /public/ws HTTP/1.1\r\nhost: a.example\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
         sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await;
    assert_eq!((status, code(&body)), (400, 43), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn finding_12_strip_prefix_forwarding_headers_and_broken_bodies() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = gateway(&upstream).await;
    let reader = key(&server, "Reader", &["orders:read"]).await;
    // An encoded prefix is stripped as the route matched it.
    let (status, echo) =
        common::send(&server.client, get(&server, &reader, "GET", "/%73trip/a/b")).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["target"], "/base/a/b", "{echo}");
    // The canonical path is what the upstream gets.
    let (status, echo) =
        common::send(&server.client, get(&server, &reader, "GET", "/%6Frders/%41")).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["target"], "/orders/A", "{echo}");
    // HTTP/1.0 without Host: no X-Forwarded-Host from the client; its Forwarded is dropped.
    let (status, echo) = raw(
        &server,
        "GET /public/x HTTP/1.0\r\nx-forwarded-host: evil.example\r\n\
         forwarded: for=6.6.6.6;host=evil.example\r\nx-forwarded-proto: https\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echoed(&echo, "x-forwarded-host"), None, "{echo}");
    assert_eq!(echoed(&echo, "x-forwarded-proto"), Some("http"));
    assert_eq!(echoed(&echo, "forwarded"), Some("for=127.0.0.1;proto=http"));
    // With a Host: keyward's own, canonical.
    let (_, echo) = raw(
        &server,
        "GET /public/x HTTP/1.1\r\nhost: A.Example.:80\r\nx-forwarded-host: evil.example\r\n\r\n",
    )
    .await;
    assert_eq!(echoed(&echo, "x-forwarded-host"), Some("a.example"));
    assert_eq!(echoed(&echo, "forwarded"), Some("for=127.0.0.1;proto=http;host=\"a.example\""));
    // A request without a body reaches the upstream without one, whatever its method: not as
    // an empty chunked body (which some upstreams refuse on a DELETE).
    let (status, echo) =
        raw(&server, "DELETE /public/x HTTP/1.1\r\nhost: a.example\r\nconnection: close\r\n\r\n")
            .await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["method"], "DELETE", "{echo}");
    assert_eq!(echoed(&echo, "transfer-encoding"), None, "{echo}");
    // A malformed chunked body is the client's fault: 400, never 502.
    for chunk in ["ZZ\r\nabc\r\n0\r\n\r\n", "FFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n"] {
        let (status, body) = raw(
            &server,
            &format!(
                "POST /public/x HTTP/1.1\r\nhost: a.example\r\ntransfer-encoding: chunked\r\n\
                 connection: close\r\n\r\n{chunk}"
            ),
        )
        .await;
        assert_eq!((status, code(&body)), (400, 30), "{chunk:?}: {body}");
    }
    server.stop().await;
}
