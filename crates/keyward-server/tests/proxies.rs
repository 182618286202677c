//! Real nginx (`auth_request`) and real Caddy (`forward_auth`) in front of an echo upstream,
//! keyward deciding, with the configurations `docs/gateway.md` gives. Each skips with a reason
//! when the proxy is not installed, and fails instead under `KEYWARD_TEST_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Backend, Prepared, Scheme, TestServer, sign};
use keyward_server::gateway::{RouteConfig, Routes};
use keyward_testkit::upstream::EchoUpstream;
use serde_json::{Value, json};

/// A proxy process, stopped when dropped.
struct Proxy {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn url(&self, target: &str) -> String {
        format!("http://127.0.0.1:{}{target}", self.port)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

/// A free port, from the ephemeral range.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something listens on `port` (10 s at most).
async fn listening(port: u16) -> bool {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn installed(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// keyward with `/orders` (GET orders:read, POST orders:write) in front of `upstream`.
async fn keyward(upstream: &EchoUpstream) -> TestServer {
    let mut orders =
        RouteConfig { prefix: "/orders".into(), upstream: upstream.url(), ..Default::default() };
    orders.method_permissions.insert("GET".into(), vec!["orders:read".into()]);
    orders.method_permissions.insert("POST".into(), vec!["orders:write".into()]);
    let settings = keyward_server::Settings {
        routes: Routes::check(vec![orders]).unwrap(),
        ..common::settings()
    };
    TestServer::start_with(Backend::Sqlite, "proxies", settings).await.unwrap()
}

/// Fills docs/gateway.md's configuration for `proxy` with this test's ports.
fn configuration(proxy: &str, port: u16, keyward: &TestServer, upstream: &EchoUpstream) -> String {
    // Ports from the ephemeral range (above 32767) cannot contain the placeholders.
    common::guide_block(proxy)
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:8080", keyward.address())
        .replace("127.0.0.1:9000", &upstream.address.to_string())
}

async fn nginx(keyward: &TestServer, upstream: &EchoUpstream) -> Option<Proxy> {
    let Some(program) = installed("nginx") else {
        return keyward_testkit::env::missing("nginx", "no nginx on PATH (Debian: nginx-light)");
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let http = configuration("nginx", port, keyward, upstream);
    let main = format!(
        "daemon off;\nmaster_process off;\nerror_log {d}/error.log info;\npid {d}/nginx.pid;\nevents {{ worker_connections 256; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    \
         uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n{http}\n}}\n",
        d = dir.path().display()
    );
    std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
    let child = Command::new(program)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proxy = Proxy { child, port, dir };
    assert!(listening(port).await, "nginx did not start: {}", proxy.log("error.log"));
    Some(proxy)
}

async fn caddy(keyward: &TestServer, upstream: &EchoUpstream) -> Option<Proxy> {
    let Some(program) = installed("caddy") else {
        return keyward_testkit::env::missing("Caddy", "no caddy on PATH (Debian: caddy)");
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let site = configuration("caddy", port, keyward, upstream);
    let file = format!("{{\n\tadmin off\n\tauto_https off\n}}\n{site}");
    std::fs::write(dir.path().join("Caddyfile"), file).unwrap();
    let log = std::fs::File::create(dir.path().join("caddy.log")).unwrap();
    let child = Command::new(program)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(dir.path().join("Caddyfile"))
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let proxy = Proxy { child, port, dir };
    assert!(listening(port).await, "caddy did not start: {}", proxy.log("caddy.log"));
    Some(proxy)
}

/// Sends `request`; the status and the JSON body (the echo, or keyward's error).
async fn through(server: &TestServer, request: Prepared) -> (u16, Value) {
    common::send(&server.client, request).await
}

fn echoed_header<'v>(echo: &'v Value, name: &str) -> Option<&'v str> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap())
}

/// What both proxies must do: each scheme they can carry passes with keyward's identity and
/// without credentials; refusals keep keyward's JSON; forged identity never arrives.
async fn proxied_requests_are_decided_by_keyward(
    proxy: &Proxy,
    server: &TestServer,
    header_hmac_get: bool,
) {
    let (key_id, token, secret) =
        server.create_key(&server.admin_token, "Shop", &["orders:read"]).await;
    let bearer = |method: &str, target: &str| Prepared {
        method: method.into(),
        url: proxy.url(target),
        headers: vec![("authorization".into(), format!("Bearer {}", server.admin_token))],
        body: None,
    };
    let mut schemes = vec![Scheme::QueryHmac];
    if header_hmac_get {
        schemes.extend([Scheme::HeaderHmac, Scheme::HttpSignature]);
    }
    for scheme in schemes {
        let mut request =
            sign(scheme, &token, &secret, "GET", &proxy.url("/orders/7?page=2"), None);
        request.headers.push(("x-keyward-domain".into(), "99".into()));
        request.headers.push(("x-keyward-reseller".into(), "5".into()));
        let (status, echo) = through(server, request).await;
        assert_eq!(status, 200, "{scheme:?}: {echo}");
        assert_eq!(
            echoed_header(&echo, "x-keyward-principal"),
            Some(format!("key:{key_id}").as_str()),
            "{scheme:?}"
        );
        assert_eq!(echoed_header(&echo, "x-keyward-permissions"), Some("orders:read"));
        assert_eq!(
            echoed_header(&echo, "x-keyward-domain"),
            Some("1"),
            "a forged domain is overwritten"
        );
        assert!(
            echoed_header(&echo, "x-keyward-reseller").unwrap_or_default().is_empty(),
            "{echo}"
        );
        for credential in ["authorization", "x-logtrust-sign", "signature", "signature-input"] {
            assert_eq!(echoed_header(&echo, credential), None, "{scheme:?} passed {credential} on");
        }
    }
    let (status, echo) = through(server, bearer("GET", "/orders/8")).await;
    assert_eq!(status, 200);
    assert_eq!(echoed_header(&echo, "x-keyward-scheme"), Some("bearer"));
    assert!(
        echoed_header(&echo, "x-keyward-key-id").unwrap_or_default().is_empty(),
        "a user has no key id"
    );
    // Refusals, in keyward's shape: a wrong signature (Devo's message), a missing permission.
    let (status, body) = through(
        server,
        sign(Scheme::QueryHmac, &token, "wrong", "GET", &proxy.url("/orders/9"), None),
    )
    .await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!(12)), "{body}");
    assert_eq!(body["error"]["message"], "Invalid signature validation");
    let post = sign(Scheme::QueryHmac, &token, &secret, "POST", &proxy.url("/orders"), None);
    let (status, body) = through(server, post).await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!(20)), "{body}");
    // A body-signing scheme on a request with a body: never passed unchecked.
    let signed = sign(
        Scheme::HeaderHmac,
        &token,
        &secret,
        "POST",
        &proxy.url("/orders"),
        Some("{\"a\":1}".into()),
    );
    let (status, body) = through(server, signed).await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!(26)), "{body}");
}

#[tokio::test]
async fn nginx_auth_request_with_keyward_deciding() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = keyward(&upstream).await;
    let Some(nginx) = nginx(&server, &upstream).await else { return };
    proxied_requests_are_decided_by_keyward(&nginx, &server, true).await;
    // A client's own X-Forwarded-Uri does not make keyward check another request.
    let mut smuggled =
        sign(Scheme::QueryHmac, "kwk_nothing", "x", "DELETE", &nginx.url("/orders/1"), None);
    smuggled.headers.push(("x-forwarded-uri".into(), "/elsewhere".into()));
    assert_ne!(through(&server, smuggled).await.0, 200);
    drop(nginx);
    server.stop().await;
}

#[tokio::test]
async fn caddy_forward_auth_with_keyward_deciding() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = keyward(&upstream).await;
    let Some(caddy) = caddy(&server, &upstream).await else { return };
    proxied_requests_are_decided_by_keyward(&caddy, &server, false).await;
    // Caddy cannot say whether a request has a body: header-hmac is refused with code 26.
    let (_, token, secret) = server.create_key(&server.admin_token, "Devo", &["orders:read"]).await;
    let get = sign(Scheme::HeaderHmac, &token, &secret, "GET", &caddy.url("/orders/1"), None);
    let (status, body) = through(&server, get).await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!(26)), "{body}");
    // A client's own X-Original-URI does not make keyward check another request.
    let mut smuggled =
        common::sign(Scheme::QueryHmac, &token, &secret, "POST", &caddy.url("/orders"), None);
    smuggled.headers.push(("x-original-uri".into(), "/orders/1".into()));
    smuggled.headers.push(("x-original-method".into(), "GET".into()));
    let (status, body) = through(&server, smuggled).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!(37)), "{body}");
    drop(caddy);
    server.stop().await;
}
