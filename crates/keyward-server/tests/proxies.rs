//! Real nginx (`auth_request`) and real Caddy (`forward_auth`) in front of an echo upstream,
//! keyward deciding, with the configurations `docs/gateway.md` gives. Each skips with a reason
//! when the proxy is not installed, and fails instead under `KEYWARD_TEST_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};

use common::process::{Process, free_port, installed, listening};
use common::{Prepared, Scheme, TestServer, sign};
use keyward_server::gateway::{ForwardAuthProxy, ForwardAuthSettings, RouteConfig, Routes};
use keyward_testkit::upstream::EchoUpstream;
use serde_json::{Value, json};

/// A proxy process.
struct Proxy {
    process: Process,
    /// Whether it serves only its own address's host (Caddy's site).
    serves_one_host: bool,
}

impl Proxy {
    fn url(&self, target: &str) -> String {
        self.process.url(target)
    }
}

/// keyward answering `proxy`'s checks for `/orders` (GET orders:read, POST orders:write), a
/// public `/status/` and `/admin` on host `priv.example` (admin:access), the API at `upstream`.
async fn keyward(upstream: &EchoUpstream, proxy: ForwardAuthProxy) -> TestServer {
    keyward_with(upstream, proxy, Vec::new()).await
}

/// [`keyward`], trusting `trusted_proxies`.
async fn keyward_with(
    upstream: &EchoUpstream,
    proxy: ForwardAuthProxy,
    trusted_proxies: Vec<ipnet::IpNet>,
) -> TestServer {
    let route = |prefix: &str| RouteConfig {
        prefix: prefix.into(),
        upstream: upstream.url(),
        ..Default::default()
    };
    let mut orders = route("/orders");
    orders.method_permissions.insert("GET".into(), vec!["orders:read".into()]);
    orders.method_permissions.insert("POST".into(), vec!["orders:write".into()]);
    let status = RouteConfig { public: true, ..route("/status/") };
    let admin = RouteConfig {
        host: Some("priv.example".into()),
        permissions: vec!["admin:access".into()],
        ..route("/admin")
    };
    let settings = keyward_server::Settings {
        routes: Routes::check(vec![orders, status, admin]).unwrap(),
        forward_auth: ForwardAuthSettings { proxy: Some(proxy), ..ForwardAuthSettings::default() },
        trusted_proxies,
        ..common::settings()
    };
    TestServer::builder("proxies").settings(settings).start().await.unwrap()
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
    let port = free_port();
    nginx_serving(port, configuration("nginx", port, keyward, upstream)).await
}

/// nginx on `port` with `http` (the guide's block, filled in) inside its `http` block.
async fn nginx_serving(port: u16, http: String) -> Option<Proxy> {
    let Some(program) = installed("nginx") else {
        return keyward_testkit::env::missing("nginx", "no nginx on PATH (Debian: nginx-light)");
    };
    let dir = tempfile::tempdir().unwrap();
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
    let process = Process { child, port, dir };
    assert!(listening(port, 10).await, "nginx did not start: {}", process.log("error.log"));
    let proxy = Proxy { process, serves_one_host: false };
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
    let process = Process { child, port, dir };
    assert!(listening(port, 10).await, "caddy did not start: {}", process.log("caddy.log"));
    let proxy = Proxy { process, serves_one_host: true };
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
/// without credentials; refusals keep keyward's status and JSON.
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
        let request = sign(scheme, &token, &secret, "GET", &proxy.url("/orders/7?page=2"), None);
        let (status, echo) = through(server, request).await;
        assert_eq!(status, 200, "{scheme:?}: {echo}");
        assert_eq!(
            echoed_header(&echo, "x-keyward-principal"),
            Some(format!("key:{key_id}").as_str()),
            "{scheme:?}"
        );
        assert_eq!(echoed_header(&echo, "x-keyward-permissions"), Some("orders:read"));
        assert_eq!(echoed_header(&echo, "x-keyward-domain"), Some("1"));
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
    // Told what to do behind the proxy that asked.
    let message = body["error"]["message"].as_str().unwrap_or_default();
    let hint = ["nginx does not forward request bodies", "Caddy cannot tell keyward"];
    assert!(hint.iter().any(|hint| message.contains(hint)), "what to do: {body}");
}

/// The upstream's echo of what reached it, if the request did; the status the client got.
async fn reached(server: &TestServer, request: Prepared) -> (u16, Option<Value>) {
    let (status, body) = through(server, request).await;
    let echoed = body.get("target").is_some().then_some(body);
    (status, echoed)
}

/// Issue 18's attacks from outside, through the guide's configuration of `proxy`: none reaches
/// the upstream as something keyward did not decide, and each is answered with keyward's
/// status (never nginx's 500).
async fn front_door_attacks_fail(proxy: &Proxy, server: &TestServer) {
    let (_, reader, reader_secret) =
        server.create_key(&server.admin_token, "Reader", &["orders:read"]).await;
    let (_, writer, writer_secret) =
        server.create_key(&server.admin_token, "Writer", &["orders:write"]).await;
    let read = |method: &str, target: &str| {
        sign(Scheme::QueryHmac, &reader, &reader_secret, method, &proxy.url(target), None)
    };
    let refused = |(status, echo): (u16, Option<Value>), want: u16, what: &str| {
        assert_eq!(status, want, "{what}: {echo:?}");
        assert!(echo.is_none(), "{what} reached the upstream: {echo:?}");
    };
    // 2. Identity headers in other spellings, on a public route, without credentials.
    let mut forged =
        Prepared { method: "GET".into(), url: proxy.url("/status/x"), headers: vec![], body: None };
    for (name, value) in [
        ("x_keyward_principal", "user:1"),
        ("x_keyward_permissions", "*"),
        ("X-KEYWARD-RESELLER", "3"),
    ] {
        forged.headers = vec![(name.into(), value.into())];
        let (status, echo) = reached(server, forged.again()).await;
        // nginx drops `_` headers itself; keyward refuses what reaches the check.
        if let Some(echo) = &echo {
            assert_eq!(status, 200);
            let headers = echo["headers"].as_array().unwrap();
            assert!(
                headers.iter().all(|pair| {
                    let name = pair[0].as_str().unwrap().replace('_', "-").to_ascii_lowercase();
                    !name.starts_with("x-keyward-") || pair[1].as_str().unwrap().is_empty()
                }),
                "{name} reached the upstream: {echo}"
            );
        } else {
            assert_eq!(status, 400, "{name}");
        }
    }
    // 3. A client's body statements: the signature over an empty body, a body sent along.
    let body = r#"{"amount":1000000,"to":"attacker"}"#;
    for (name, value) in
        [("x-envoy-auth-partial-body", "false"), ("x-original-content-length", "0")]
    {
        let mut request =
            sign(Scheme::HeaderHmac, &writer, &writer_secret, "POST", &proxy.url("/orders"), None);
        request.headers.push((name.into(), value.into()));
        request.body = Some(body.into());
        let (status, echo) = reached(server, request).await;
        assert!(echo.is_none() && status >= 400, "{name}: {status} {echo:?}");
    }
    // 4. Paths and hosts no route names, or an upstream reads otherwise.
    for target in ["//admin/x", "/admin;x/y", "/status/..;/admin/x", "/status/%2e%2e;/admin/x"] {
        refused(reached(server, read("GET", target)).await, 400, target);
    }
    refused(reached(server, read("GET", "/elsewhere")).await, 403, "an unrouted path");
    for host in ["priv.example", "PRIV.EXAMPLE", "priv.example."] {
        let mut request = read("GET", "/admin/users");
        request.headers.push(("host".into(), host.into()));
        let (status, echo) = reached(server, request).await;
        assert!(echo.is_none(), "{host} reached the upstream: {echo:?}");
        // nginx's one server serves every host, and keyward refuses; Caddy's site serves its
        // own address only, and answers another host with nothing.
        assert!(status == 403 || (status == 200 && proxy.serves_one_host), "{host}: {status}");
    }
    // 5. Methods a route with per-method permissions does not name.
    for method in ["PUT", "DELETE"] {
        refused(reached(server, read(method, "/orders/1")).await, 405, method);
    }
    // 6. HEAD needs GET's permission.
    let head =
        sign(Scheme::QueryHmac, &writer, &writer_secret, "HEAD", &proxy.url("/orders/1"), None);
    let (status, _) = through(server, head).await;
    assert_eq!(status, 403, "HEAD with a write-only key");
    // 7. Method overrides.
    for (name, value) in [
        ("X-HTTP-Method-Override", "DELETE"),
        ("X-HTTP-Method", "DELETE"),
        ("X-Method-Override", "DELETE"),
    ] {
        let mut request = read("GET", "/orders/1");
        request.headers.push((name.into(), value.into()));
        refused(reached(server, request).await, 400, name);
    }
    // 10. The console's cookies never reach the API.
    let mut request = read("GET", "/orders/2");
    request
        .headers
        .push(("cookie".into(), "theme=dark; kw_session=kwat_stolen; kw_csrf=abc".into()));
    let (status, echo) = reached(server, request).await;
    assert_eq!(status, 200);
    let echo = echo.unwrap();
    let cookie = echoed_header(&echo, "cookie").unwrap_or_default();
    assert!(
        !cookie.contains("kwat_stolen") && !cookie.contains("abc"),
        "the console's cookies reached the API: {cookie:?}"
    );
    assert!(cookie.contains("theme=dark"), "{cookie:?}");
}

#[tokio::test]
async fn nginx_auth_request_with_keyward_deciding() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = keyward(&upstream, ForwardAuthProxy::Nginx).await;
    let Some(nginx) = nginx(&server, &upstream).await else { return };
    proxied_requests_are_decided_by_keyward(&nginx, &server, true).await;
    front_door_attacks_fail(&nginx, &server).await;
    // A client's own X-Forwarded-Uri does not make keyward check another request.
    let mut smuggled =
        sign(Scheme::QueryHmac, "kwk_nothing", "x", "DELETE", &nginx.url("/orders/1"), None);
    smuggled.headers.push(("x-forwarded-uri".into(), "/elsewhere".into()));
    assert_ne!(through(&server, smuggled).await.0, 200);
    // A client certificate header from a proxy keyward does not trust is no credential, even
    // naming a certificate a key is pinned to.
    let ca = keyward_testkit::certs::TestCa::new("clients CA");
    let leaf = ca.leaf(&["alice.test"], &keyward_testkit::certs::PKCS_ECDSA_P256_SHA256);
    let created = server
        .client
        .post(server.url("/api/admin/keys"))
        .bearer_auth(&server.admin_token)
        .json(&json!({"data": {"name": "A", "permissions": ["orders:read"], "certificate": leaf.pem}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let der = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&leaf.der)
    };
    let forged = Prepared {
        method: "GET".into(),
        url: nginx.url("/orders/1"),
        headers: vec![("client-cert".into(), format!(":{der}:"))],
        body: None,
    };
    let (status, body) = through(&server, forged).await;
    assert_eq!(status, 401, "an untrusted proxy's certificate header: {body}");
    drop(nginx);
    server.stop().await;
}

#[tokio::test]
async fn caddy_forward_auth_with_keyward_deciding() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = keyward(&upstream, ForwardAuthProxy::Caddy).await;
    let Some(caddy) = caddy(&server, &upstream).await else { return };
    proxied_requests_are_decided_by_keyward(&caddy, &server, false).await;
    front_door_attacks_fail(&caddy, &server).await;
    // Caddy cannot say whether a request has a body: header-hmac is refused with code 26.
    let (_, token, secret) = server.create_key(&server.admin_token, "Devo", &["orders:read"]).await;
    let get = sign(Scheme::HeaderHmac, &token, &secret, "GET", &caddy.url("/orders/1"), None);
    let (status, body) = through(&server, get).await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!(26)), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Caddy cannot tell keyward"), "what to do: {body}");
    // A client's own X-Original-URI does not make keyward check another request.
    let mut smuggled =
        common::sign(Scheme::QueryHmac, &token, &secret, "POST", &caddy.url("/orders"), None);
    smuggled.headers.push(("x-original-uri".into(), "/orders/1".into()));
    smuggled.headers.push(("x-original-method".into(), "GET".into()));
    let (status, body) = through(&server, smuggled).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!(48)), "{body}");
    drop(caddy);
    server.stop().await;
}

/// nginx terminating TLS with client certificates, as docs/tls.md says, asking keyward (which
/// trusts it) about each request: the certificate is the key it is pinned to; without one, or
/// with a client's own certificate header, it is not. (curl blocks its thread: keyward serves
/// on another.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_terminating_tls_passes_verified_client_certificates_to_forward_auth() {
    use keyward_testkit::certs::{PKCS_ECDSA_P256_SHA256, TestCa};
    let upstream = EchoUpstream::start().await.unwrap();
    let trusted = vec!["127.0.0.1/32".parse().unwrap()];
    let server = keyward_with(&upstream, ForwardAuthProxy::Nginx, trusted).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("clients CA");
    let ca_file = ca.write(dir.path());
    let (chain, key) = ca.leaf(&["localhost"], &PKCS_ECDSA_P256_SHA256).write(dir.path(), "api");
    let alice = ca.leaf(&["alice.clients.test"], &PKCS_ECDSA_P256_SHA256);
    let (alice_chain, alice_key) = alice.write(dir.path(), "alice");
    let created = server
        .client
        .post(server.url("/api/admin/keys"))
        .bearer_auth(&server.admin_token)
        .json(&json!({"data": {"name": "Alice", "permissions": ["orders:read"], "certificate": alice.pem}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let key_id = created.json::<Value>().await.unwrap()["data"]["id"].as_i64().unwrap();

    let port = free_port();
    let http = common::guide_block_in("tls.md", "nginx-mtls")
        .replace("127.0.0.1:8443", &format!("127.0.0.1:{port}"))
        .replace("/etc/nginx/api.pem", &chain.display().to_string())
        .replace("/etc/nginx/api.key", &key.display().to_string())
        .replace("/etc/nginx/clients-ca.pem", &ca_file.display().to_string())
        .replace("127.0.0.1:8080", server.address())
        .replace("127.0.0.1:9000", &upstream.address.to_string());
    let Some(nginx) = nginx_serving(port, http).await else { return };
    let url = format!("https://localhost:{port}/orders/1");
    let curl = |extra: &[&str]| {
        let output = Command::new("curl")
            .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
            .arg(&ca_file)
            .args(extra)
            .arg(&url)
            .output()
            .expect("curl runs (Debian: curl)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (
            status.parse::<u16>().unwrap_or(0),
            serde_json::from_str::<Value>(body).unwrap_or_default(),
        )
    };
    let identity = ["--cert", alice_chain.to_str().unwrap(), "--key", alice_key.to_str().unwrap()];
    let (status, echo) = curl(&identity);
    assert_eq!(status, 200, "{echo} {}", nginx.process.log("error.log"));
    assert_eq!(echoed_header(&echo, "x-keyward-principal"), Some(&*format!("key:{key_id}")));
    assert_eq!(echoed_header(&echo, "x-keyward-scheme"), Some("mtls"));
    assert_eq!(echoed_header(&echo, "x-ssl-client-cert"), None, "not passed upstream");
    // No certificate: no credentials.
    assert_eq!(curl(&[]).0, 401);
    // A client's own certificate header, without the certificate: nginx sends its own (empty).
    let escaped: String =
        alice
            .pem
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
    let forged = format!("X-SSL-Client-Cert: {escaped}");
    assert_eq!(curl(&["-H", &forged]).0, 401);
    // Nor in another proxy's header, which nginx passes on as the client sent it: keyward reads
    // only the header nginx writes.
    let der = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&alice.der)
    };
    for forged in [format!("Client-Cert: :{der}:"), format!("X-Forwarded-Tls-Client-Cert: {der}")] {
        assert_eq!(curl(&["-H", &forged]).0, 401, "{forged}");
    }
    drop(nginx);
    server.stop().await;
}
