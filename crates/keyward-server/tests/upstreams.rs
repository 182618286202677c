//! Upstreams that read requests their own way, behind keyward's gateway: Python's wsgiref,
//! PHP's built-in server, Node's `http` and Apache Tomcat (`tests/upstreams/`), each answering
//! with what it thinks it served (method, path, identity as the application reads them). For
//! issue 18's attacks, what each upstream served is what keyward authorized, or keyward refused
//! the request. And Java's own HTTP client, which offers an h2c upgrade on every request, gets
//! through a route. Each skips with a reason when its runtime is missing, and fails instead
//! under `KEYWARD_TEST_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::process::{Process, free_port, installed, listening};
use common::{Prepared, Scheme, TestServer, sign};
use keyward_server::gateway::{RouteConfig, Routes};
use keyward_testkit::env::missing;
use serde_json::Value;

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstreams")
}

/// Starts `program args...` (with `{port}` replaced) in a fresh directory; `None` (skipped)
/// when the program is not installed.
async fn start(what: &str, program: &str, args: &[&str]) -> Option<Process> {
    let Some(path) = installed(program) else {
        return missing(what, format!("no {program} on PATH"));
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let args: Vec<String> = args.iter().map(|a| a.replace("{port}", &port.to_string())).collect();
    let child = Command::new(path)
        .args(&args)
        .current_dir(sources())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let process = Process { child, port, dir };
    assert!(listening(port, 20).await, "{what} did not start: {}", process.log("stderr"));
    Some(process)
}

/// Apache Tomcat (Debian's tomcat10) serving `Echo.java`, compiled here, at `/*`.
async fn tomcat() -> Option<Process> {
    let home = Path::new("/usr/share/tomcat10");
    let Some(javac) = installed("javac") else {
        return missing("Tomcat", "no javac on PATH (Debian: default-jdk-headless)");
    };
    if !home.join("bin/catalina.sh").is_file() {
        return missing("Tomcat", "no /usr/share/tomcat10 (Debian: tomcat10)");
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let classes = base.join("webapps/ROOT/WEB-INF/classes");
    for sub in ["conf", "logs", "temp", "work"] {
        std::fs::create_dir_all(base.join(sub)).unwrap();
    }
    std::fs::create_dir_all(&classes).unwrap();
    let compiled = Command::new(javac)
        .arg("-cp")
        .arg(home.join("lib/servlet-api.jar"))
        .arg("-d")
        .arg(&classes)
        .arg(sources().join("Echo.java"))
        .output()
        .unwrap();
    assert!(compiled.status.success(), "{}", String::from_utf8_lossy(&compiled.stderr));
    std::fs::write(
        base.join("webapps/ROOT/WEB-INF/web.xml"),
        r#"<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="5.0">
  <servlet><servlet-name>echo</servlet-name><servlet-class>Echo</servlet-class></servlet>
  <servlet-mapping><servlet-name>echo</servlet-name><url-pattern>/*</url-pattern></servlet-mapping>
</web-app>"#,
    )
    .unwrap();
    std::fs::copy(home.join("etc/web.xml"), base.join("conf/web.xml")).unwrap();
    let port = free_port();
    std::fs::write(
        base.join("conf/server.xml"),
        format!(
            r#"<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{port}" address="127.0.0.1" protocol="HTTP/1.1"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>"#
        ),
    )
    .unwrap();
    let child = Command::new(home.join("bin/catalina.sh"))
        .arg("run")
        .env("CATALINA_HOME", home)
        .env("CATALINA_BASE", base)
        .env("CATALINA_OUT", base.join("logs/catalina.out"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(base.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let process = Process { child, port, dir };
    assert!(listening(port, 60).await, "Tomcat did not start: {}", process.log("stderr"));
    Some(process)
}

/// keyward in front of `upstream`: `/orders` (GET orders:read, POST orders:write), `/admin`
/// (admin:access) and a public `/public/`.
async fn keyward(upstream: &Process) -> TestServer {
    let route = |prefix: &str| RouteConfig {
        prefix: prefix.into(),
        upstream: upstream.url(""),
        ..Default::default()
    };
    let mut orders = route("/orders");
    orders.method_permissions.insert("GET".into(), vec!["orders:read".into()]);
    orders.method_permissions.insert("POST".into(), vec!["orders:write".into()]);
    let admin = RouteConfig { permissions: vec!["admin:access".into()], ..route("/admin") };
    let public = RouteConfig { public: true, ..route("/public/") };
    let settings = keyward_server::Settings {
        routes: Routes::check(vec![orders, admin, public]).unwrap(),
        ..common::settings()
    };
    TestServer::builder("upstreams").settings(settings).start().await.unwrap()
}

/// What an attack must come to.
enum Outcome {
    /// keyward refuses it with this status.
    Refused(u16),
    /// The upstream serves this method and path, for this principal (none: public).
    Served { method: &'static str, path: &'static str, principal: Option<String> },
}

/// Issue 18's attacks through keyward to `upstream`: each is refused, or served as authorized.
async fn upstream_serves_what_keyward_authorized(upstream: Process) {
    let server = keyward(&upstream).await;
    let (reader_id, reader, reader_secret) =
        server.create_key(&server.admin_token, "Reader", &["orders:read"]).await;
    let (writer_id, writer, writer_secret) =
        server.create_key(&server.admin_token, "Writer", &["orders:write"]).await;
    let as_reader = |method: &str, target: &str| {
        sign(Scheme::QueryHmac, &reader, &reader_secret, method, &server.url(target), None)
    };
    let as_writer = |method: &str, target: &str| {
        sign(Scheme::QueryHmac, &writer, &writer_secret, method, &server.url(target), None)
    };
    let anonymous = |target: &str| Prepared {
        method: "GET".into(),
        url: server.url(target),
        headers: vec![],
        body: None,
    };
    let with = |mut request: Prepared, headers: &[(&str, &str)]| {
        request.headers.extend(headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
        request
    };
    let reader_is = Some(format!("key:{reader_id}"));
    let writer_is = Some(format!("key:{writer_id}"));
    let cases = [
        (
            "a plain read",
            as_reader("GET", "/orders/1"),
            Outcome::Served { method: "GET", path: "/orders/1", principal: reader_is.clone() },
        ),
        (
            "an encoded path",
            as_reader("GET", "/%6Frders/1"),
            Outcome::Served { method: "GET", path: "/orders/1", principal: reader_is.clone() },
        ),
        (
            "identity headers spelled with _",
            with(
                as_reader("GET", "/orders/2"),
                &[("x_keyward_permissions", "*"), ("x_keyward_reseller", "9")],
            ),
            Outcome::Served { method: "GET", path: "/orders/2", principal: reader_is.clone() },
        ),
        (
            "an identity on a public route",
            with(anonymous("/public/x"), &[("x_keyward_principal", "user:1")]),
            Outcome::Served { method: "GET", path: "/public/x", principal: None },
        ),
        ("..; to another route", anonymous("/public/..;/admin/x"), Outcome::Refused(400)),
        ("%2e%2e; to another route", anonymous("/public/%2e%2e;/admin/x"), Outcome::Refused(400)),
        ("a path parameter", anonymous("/public/x;jsessionid=1"), Outcome::Refused(400)),
        (
            "a method override header",
            with(as_writer("POST", "/orders/3"), &[("X-HTTP-Method-Override", "DELETE")]),
            Outcome::Served { method: "POST", path: "/orders/3", principal: writer_is.clone() },
        ),
        (
            "a _method parameter",
            as_writer("POST", "/orders/3?_method=DELETE"),
            Outcome::Refused(400),
        ),
        ("a method no route names", as_reader("DELETE", "/orders/4"), Outcome::Refused(405)),
        (
            "the console's cookie",
            with(as_reader("GET", "/orders/5"), &[("cookie", "kw_session=kwat_stolen; a=1")]),
            Outcome::Served { method: "GET", path: "/orders/5", principal: reader_is.clone() },
        ),
    ];
    for (what, request, outcome) in cases {
        let (status, body) = common::send(&server.client, request).await;
        let name = body["server"].as_str().unwrap_or("keyward");
        match outcome {
            Outcome::Refused(wanted) => {
                assert_eq!(status, wanted, "{what}: {body}");
                assert!(body.get("server").is_none(), "{what} reached the upstream: {body}");
            }
            Outcome::Served { method, path, principal } => {
                assert_eq!(status, 200, "{what}: {body}");
                assert_eq!(body["method"], method, "{name}, {what}: {body}");
                assert_eq!(body["path"], path, "{name}, {what}: {body}");
                assert_eq!(body["principal"].as_str(), principal.as_deref(), "{name}, {what}");
                let permissions = body["permissions"].as_str();
                match &principal {
                    Some(_) => assert!(
                        matches!(permissions, Some("orders:read" | "orders:write")),
                        "{name}, {what}: {body}"
                    ),
                    None => assert_eq!(permissions, None, "{name}, {what}: {body}"),
                }
                assert!(body["reseller"].as_str().unwrap_or_default().is_empty(), "{name}, {what}");
                assert_eq!(body["forwarded_for"], "127.0.0.1", "{name}, {what}");
                let cookie = body["cookie"].as_str().unwrap_or_default();
                assert!(!cookie.contains("kw_session"), "{name}, {what}: {cookie}");
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn python_wsgiref_serves_what_keyward_authorized() {
    let Some(upstream) = start("Python", "python3", &["echo_wsgi.py", "{port}"]).await else {
        return;
    };
    upstream_serves_what_keyward_authorized(upstream).await;
}

#[tokio::test]
async fn php_serves_what_keyward_authorized() {
    let Some(upstream) = start("PHP", "php", &["-S", "127.0.0.1:{port}", "echo.php"]).await else {
        return;
    };
    upstream_serves_what_keyward_authorized(upstream).await;
}

#[tokio::test]
async fn node_serves_what_keyward_authorized() {
    let Some(upstream) = start("Node.js", "node", &["echo.js", "{port}"]).await else { return };
    upstream_serves_what_keyward_authorized(upstream).await;
}

#[tokio::test]
async fn tomcat_serves_what_keyward_authorized() {
    let Some(upstream) = tomcat().await else { return };
    upstream_serves_what_keyward_authorized(upstream).await;
}

#[tokio::test]
async fn javas_http_client_reaches_an_upstream_through_a_route() {
    let Some(java) = installed("java") else {
        return missing("Java", "no java on PATH (Debian: default-jdk-headless)").unwrap_or(());
    };
    let Some(upstream) = start("Python", "python3", &["echo_wsgi.py", "{port}"]).await else {
        return;
    };
    let server = keyward(&upstream).await;
    let url = server.url("/orders/7");
    let token = server.admin_token.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(java)
            .arg(sources().join("JavaClient.java"))
            .args([&url, &token])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let (status, body) = stdout.split_once('\n').unwrap();
    assert_eq!(status, "200", "{stdout}");
    let served: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(served["method"], "GET");
    assert_eq!(served["path"], "/orders/7");
    assert_eq!(served["principal"], "user:1");
    server.stop().await;
}
