//! `keyward serve --metrics-listen`: the metrics on an address of their own, read by the
//! Python `prometheus_client` OpenMetrics parser (an independent implementation), and every
//! counter checked against the requests this test sent. Skipped when the parser is missing,
//! required in CI.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;

use common::{get, http, serve, terminate};
use keyward_testkit::env::python;
use keyward_testkit::upstream::EchoUpstream;
use serde_json::{Value, json};

const PASSWORD: &str = "metrics-admin-password";

/// The samples of an OpenMetrics text, as the Python parser reads them: `[name, labels, value]`.
fn parsed(text: &str) -> Option<Vec<Value>> {
    let script = "import sys, json\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
        print(json.dumps([[s.name, s.labels, s.value] for f in parse(sys.stdin.read()) for s in f.samples]))";
    let output = python("prometheus_client", script, text.as_bytes())?;
    assert!(output.status.success(), "{}\n{text}", String::from_utf8_lossy(&output.stderr));
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

fn sample(samples: &[Value], name: &str, labels: Value) -> f64 {
    samples
        .iter()
        .find(|s| s[0] == name && s[1] == labels)
        .and_then(|s| s[2].as_f64())
        .unwrap_or(0.0)
}

#[test]
fn metrics_count_every_request_on_an_address_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(
        dir.path(),
        &[("KEYWARD_ADMIN_PASSWORD", PASSWORD), ("KEYWARD_METRICS_LISTEN", "127.0.0.1:0")],
    );
    let line = served.printed.iter().find(|l| l.contains("metrics on http://")).unwrap().clone();
    let metrics = line.split("http://").nth(1).unwrap().trim_end_matches("/metrics").to_owned();
    let api = served.address.clone();

    for _ in 0..5 {
        assert_eq!(get(&api, "/healthz").0, 200);
    }
    let token = login(&api, "admin", PASSWORD);
    for _ in 0..4 {
        let request = format!(
            "GET /api/me HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\n\
             Connection: close\r\n\r\n"
        );
        assert_eq!(http(&api, &request).0, 200);
    }
    for _ in 0..3 {
        assert_eq!(get(&api, "/api/me").0, 401);
    }
    // A user limited to two requests an hour makes three.
    let user = json!({"data": {"username": "metered", "password": "metered-password-1",
        "rate_limit": {"requests": 2, "window_seconds": 3600}}})
    .to_string();
    create_user(&api, &token, &user);
    let metered = login(&api, "metered", "metered-password-1");
    for expected in [200, 200, 429] {
        let request = format!(
            "GET /api/me HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {metered}\r\n\
             Connection: close\r\n\r\n"
        );
        assert_eq!(http(&api, &request).0, expected);
    }
    // The API's own address does not serve them.
    assert_eq!(get(&api, "/metrics").0, 404);

    let request = format!("GET /metrics HTTP/1.1\r\nHost: {metrics}\r\nConnection: close\r\n\r\n");
    let mut stream = std::net::TcpStream::connect(&metrics).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    let (head, text) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("application/openmetrics-text"), "{head}");
    assert!(!text.contains(&token), "a token in the metrics");
    let Some(samples) = parsed(text) else { return };

    let requests = |group: &str, scheme: &str, outcome: &str, code: &str| {
        let labels = json!({"group": group, "scheme": scheme, "outcome": outcome, "code": code});
        sample(&samples, "keyward_requests_total", labels)
    };
    assert_eq!(requests("health", "none", "ok", "0"), 5.0, "{text}");
    assert_eq!(requests("api", "none", "ok", "0"), 2.0, "the logins: {text}");
    assert_eq!(requests("api", "bearer", "ok", "0"), 6.0, "{text}");
    assert_eq!(requests("api", "none", "refused", "10"), 3.0, "{text}");
    assert_eq!(requests("api", "bearer", "refused", "27"), 1.0, "{text}");
    assert_eq!(requests("admin", "bearer", "ok", "0"), 1.0, "{text}");
    let timed = sample(&samples, "keyward_request_duration_seconds_count", json!({"group": "api"}));
    assert_eq!(timed, 12.0, "{text}");

    // The pipeline's own: every authenticated request verified, each token read once (admin's,
    // then metered's) and found in memory after; the rate-limit refusal; the user's change.
    let verified = |scheme: &str| {
        let labels = json!({"scheme": scheme});
        sample(&samples, "keyward_verification_duration_seconds_count", labels)
    };
    assert_eq!((verified("bearer"), verified("none")), (8.0, 3.0), "{text}");
    let lookups = |result: &str| {
        sample(&samples, "keyward_credential_cache_lookups_total", json!({"result": result}))
    };
    assert_eq!((lookups("miss"), lookups("hit")), (2.0, 6.0), "{text}");
    let limited = json!({"policy": "user"});
    assert_eq!(sample(&samples, "keyward_rate_limited_total", limited), 1.0, "{text}");
    let changed = json!({"kind": "user"});
    assert_eq!(sample(&samples, "keyward_credential_cache_invalidations_total", changed), 1.0);
    terminate(served);
}

#[test]
fn the_gateway_and_forward_auth_on_three_workers_are_metered_as_the_api_is() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = runtime.block_on(EchoUpstream::start()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let route = format!("/orders/={}", upstream.url());
    let served = serve(
        dir.path(),
        &[
            ("KEYWARD_ADMIN_PASSWORD", PASSWORD),
            ("KEYWARD_METRICS_LISTEN", "127.0.0.1:0"),
            ("KEYWARD_ROUTES", &route),
            ("KEYWARD_FORWARD_AUTH", "nginx"),
            // Each connection below is dealt to one of three workers in turn.
            ("KEYWARD_WORKERS", "3"),
        ],
    );
    assert!(served.printed.iter().any(|l| l.contains("3 worker thread(s) serve connections")));
    let line = served.printed.iter().find(|l| l.contains("metrics on http://")).unwrap().clone();
    let metrics = line.split("http://").nth(1).unwrap().trim_end_matches("/metrics").to_owned();
    let api = served.address.clone();
    let token = login(&api, "admin", PASSWORD);
    let bearer = |target: &str, more: &str| {
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\n{more}\
             Connection: close\r\n\r\n"
        );
        http(&api, &request).0
    };
    // Through the gateway, through forward-auth (as nginx asks), and refused by each.
    for _ in 0..5 {
        assert_eq!(bearer("/orders/1", ""), 200);
    }
    let asked = "X-Original-Method: GET\r\nX-Original-URI: /orders/1\r\n";
    for _ in 0..3 {
        assert_eq!(bearer("/auth/check", asked), 200);
    }
    assert_eq!(get(&api, "/orders/1").0, 401);
    let unsigned =
        format!("GET /auth/check HTTP/1.1\r\nHost: {api}\r\n{asked}Connection: close\r\n\r\n");
    assert_eq!(http(&api, &unsigned).0, 401);

    let request = format!("GET /metrics HTTP/1.1\r\nHost: {metrics}\r\nConnection: close\r\n\r\n");
    let mut stream = std::net::TcpStream::connect(&metrics).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    let (_, text) = response.split_once("\r\n\r\n").unwrap();
    let Some(samples) = parsed(text) else { return };
    let verified = |scheme: &str| {
        let labels = json!({"scheme": scheme});
        sample(&samples, "keyward_verification_duration_seconds_count", labels)
    };
    // Every request the pipeline decided is timed, wherever it came in.
    assert_eq!((verified("bearer"), verified("none")), (8.0, 2.0), "{text}");
    let requests = |group: &str, scheme: &str, outcome: &str, code: &str| {
        let labels = json!({"group": group, "scheme": scheme, "outcome": outcome, "code": code});
        sample(&samples, "keyward_requests_total", labels)
    };
    assert_eq!(requests("gateway", "bearer", "ok", "0"), 5.0, "{text}");
    assert_eq!(requests("forward_auth", "bearer", "ok", "0"), 3.0, "{text}");
    assert_eq!(requests("gateway", "none", "refused", "10"), 1.0, "{text}");
    terminate(served);
    drop(upstream);
}

/// Logs in as `user`; the access token.
fn login(api: &str, user: &str, password: &str) -> String {
    let login = json!({"UserName": user, "Password": password}).to_string();
    let (status, answer) = http(
        api,
        &format!(
            "POST /api/login HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{login}",
            login.len()
        ),
    );
    assert_eq!(status, 200, "{answer}");
    answer["access_token"].as_str().unwrap().to_owned()
}

/// Creates a user (`user`: the JSON body) as the holder of `token`.
fn create_user(api: &str, token: &str, user: &str) {
    let (status, answer) = http(
        api,
        &format!(
            "POST /api/admin/users HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{user}",
            user.len()
        ),
    );
    assert_eq!(status, 201, "{answer}");
}

/// `GET /metrics` on the API's address with `token`: the status and the raw answer.
fn metrics_with(api: &str, token: Option<&str>) -> (u16, String) {
    let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request =
        format!("GET /metrics HTTP/1.1\r\nHost: {api}\r\n{authorization}Connection: close\r\n\r\n");
    let mut stream = std::net::TcpStream::connect(api).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    (status, response)
}

#[test]
fn metrics_on_the_api_address_need_the_configured_permission() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(
        dir.path(),
        &[("KEYWARD_ADMIN_PASSWORD", PASSWORD), ("KEYWARD_METRICS_PERMISSION", "metrics:read")],
    );
    let api = served.address.clone();
    let admin = login(&api, "admin", PASSWORD);
    let user = json!({"data": {"username": "reader", "password": "reader-password-1",
        "permissions": ["activities:read"]}})
    .to_string();
    create_user(&api, &admin, &user);
    let reader = login(&api, "reader", "reader-password-1");

    let (status, answer) = metrics_with(&api, None);
    assert_eq!(status, 401, "{answer}");
    let (status, answer) = metrics_with(&api, Some(&reader));
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("\"code\":20") && answer.contains("metrics:read"), "{answer}");
    let (status, answer) = metrics_with(&api, Some(&admin));
    assert_eq!(status, 200, "admin holds every permission: {answer}");
    let text = answer.split_once("\r\n\r\n").unwrap().1;
    if let Some(samples) = parsed(text) {
        let labels =
            json!({"group": "metrics", "scheme": "bearer", "outcome": "refused", "code": "20"});
        assert_eq!(sample(&samples, "keyward_requests_total", labels), 1.0, "{text}");
    }
    terminate(served);
}
