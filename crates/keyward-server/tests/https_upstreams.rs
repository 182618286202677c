//! Gateway routes to `https://` upstreams, against real nginx serving TLS with a certificate
//! from a private CA (made by the test): verified against `upstream_ca`, h2 by ALPN, a client
//! certificate presented when the route has one; refused (502, code 53) with the wrong CA or
//! the system's roots, which do not hold the test's CA. Skips with a reason without nginx
//! (fails under `KEYWARD_TEST_REQUIRE_ALL=1`).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::TestServer;
use common::process::{Process, free_port, installed, listening};
use keyward_server::gateway::{RouteConfig, Routes};
use keyward_testkit::certs::{PKCS_ECDSA_P256_SHA256, TestCa};
use serde_json::Value;

/// nginx serving `https://localhost:<port>` with `certificate`, asking (optionally) for a
/// client certificate from `client_ca`; it answers what it saw as JSON.
async fn nginx(certificate: &(PathBuf, PathBuf), client_ca: &Path) -> Option<Process> {
    let Some(program) = installed("nginx") else {
        return keyward_testkit::env::missing("nginx", "no nginx on PATH (Debian: nginx-light)");
    };
    let port = free_port();
    let files = tempfile::tempdir().unwrap();
    let dir = files.path();
    let d = dir.display();
    let answer = r#"'{"principal":"$http_x_keyward_principal","client":"$ssl_client_s_dn","verify":"$ssl_client_verify","protocol":"$server_protocol","sni":"$ssl_server_name"}'"#;
    let configuration = format!(
        "daemon off;\nmaster_process off;\nerror_log {d}/error.log info;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n \
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n \
         server {{\n  listen 127.0.0.1:{port} ssl http2;\n  server_name localhost;\n  \
         ssl_certificate {chain};\n  ssl_certificate_key {key};\n  \
         ssl_client_certificate {client_ca};\n  ssl_verify_client optional;\n  \
         location / {{ default_type application/json; return 200 {answer}; }}\n }}\n}}\n",
        chain = certificate.0.display(),
        key = certificate.1.display(),
        client_ca = client_ca.display(),
    );
    std::fs::write(dir.join("nginx.conf"), configuration).unwrap();
    let child = Command::new(program)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let process = Process { child, port, dir: files };
    assert!(listening(port, 10).await, "nginx did not start: {}", process.log("error.log"));
    Some(process)
}

#[tokio::test]
async fn https_upstreams_are_verified_against_their_ca_and_get_keywards_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let ca = TestCa::new("upstream CA");
    let ca_file = ca.write(path);
    let served = ca.leaf(&["localhost"], &PKCS_ECDSA_P256_SHA256).write(path, "upstream");
    let gateway_client = ca.leaf(&["keyward-gateway"], &PKCS_ECDSA_P256_SHA256).write(path, "gw");
    let other_dir = path.join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other_ca = TestCa::new("another CA").write(&other_dir);
    let Some(nginx) = nginx(&served, &ca_file).await else { return };
    let upstream = format!("https://localhost:{}", nginx.port);
    let route = |prefix: &str| RouteConfig {
        prefix: prefix.into(),
        upstream: upstream.clone(),
        upstream_ca: Some(ca_file.clone()),
        ..Default::default()
    };
    let mutual = RouteConfig {
        upstream_client_cert: Some(gateway_client.0.clone()),
        upstream_client_key: Some(gateway_client.1.clone()),
        ..route("/mutual/")
    };
    let wrong_ca = RouteConfig { upstream_ca: Some(other_ca), ..route("/wrong-ca/") };
    let system_roots = RouteConfig { upstream_ca: None, ..route("/system-roots/") };
    let configs = vec![route("/plain/"), mutual, wrong_ca, system_roots];
    let settings =
        keyward_server::Settings { routes: Routes::check(configs).unwrap(), ..common::settings() };
    let server = TestServer::builder("https_upstreams").settings(settings).start().await.unwrap();
    let get = |path: &str| {
        let request = server.client.get(server.url(path)).bearer_auth(&server.admin_token);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
            (status, body)
        }
    };

    let (status, seen) = get("/plain/x").await;
    assert_eq!(status, 200, "{seen}: {}", nginx.log("error.log"));
    assert_eq!(seen["principal"], "user:1", "identity headers reach the upstream: {seen}");
    assert_eq!(seen["protocol"], "HTTP/2.0", "h2 by ALPN: {seen}");
    assert_eq!(seen["sni"], "localhost", "SNI from the URL's host: {seen}");
    assert_eq!(seen["verify"], "NONE", "no client certificate unless the route has one");

    let (status, seen) = get("/mutual/x").await;
    assert_eq!((status, seen["verify"].as_str()), (200, Some("SUCCESS")), "{seen}");
    assert_eq!(seen["client"], "CN=keyward-gateway", "{seen}");

    for refused in ["/wrong-ca/x", "/system-roots/x"] {
        let (status, body) = get(refused).await;
        assert_eq!(status, 502, "{refused}: {body}");
        assert_eq!(body["error"]["code"], 53, "{body}");
        assert_eq!(body["error"]["detail"]["reason"], "upstream-tls-failed", "{refused}: {body}");
    }
    server.stop().await;
    drop(nginx);
}

#[test]
fn tls_settings_that_cannot_be_used_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("upstream CA");
    let ca_file = ca.write(dir.path());
    let (chain, key) = ca.leaf(&["gw"], &PKCS_ECDSA_P256_SHA256).write(dir.path(), "gw");
    let https = |prefix: &str| RouteConfig {
        prefix: prefix.into(),
        upstream: "https://localhost:8443".into(),
        ..Default::default()
    };
    let cases = [
        (
            RouteConfig { upstream_ca: Some(dir.path().join("missing.pem")), ..https("/a/") },
            "cannot read",
        ),
        (RouteConfig { upstream_ca: Some(key.clone()), ..https("/b/") }, "no PEM certificate"),
        (RouteConfig { upstream_client_cert: Some(chain.clone()), ..https("/c/") }, "go together"),
        (RouteConfig { http2: true, ..https("/d/") }, "h2 by ALPN"),
        (
            RouteConfig {
                upstream: "http://127.0.0.1:9".into(),
                upstream_ca: Some(ca_file.clone()),
                ..https("/e/")
            },
            "are for https:// upstreams",
        ),
        (
            RouteConfig {
                upstream_client_cert: Some(chain.clone()),
                upstream_client_key: Some(ca_file.clone()),
                ..https("/f/")
            },
            "no PEM private key",
        ),
    ];
    for (config, expected) in cases {
        let error = Routes::check(vec![config]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains(expected), "{expected}: {error}");
    }
    let fine = RouteConfig {
        upstream_ca: Some(ca_file),
        upstream_client_cert: Some(chain),
        upstream_client_key: Some(key),
        ..https("/g/")
    };
    assert!(Routes::check(vec![fine]).is_ok());
}
