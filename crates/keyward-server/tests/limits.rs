//! Limits before work, attacked from outside over a real server on 127.0.0.1: slow clients,
//! floods of connections, requests and wrong passwords, huge lists, a busy database. Every
//! answer is in the documented shape; none is a 500 or a hang. No assertion is about time:
//! each waits for an answer, bounded by the helpers' 10 s.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Scheme, TestServer, error_body, header, raw, read_response, sign, status};
use keyward_server::throttle::ThrottleSettings;
use keyward_server::{Capacity, Settings};
use keyward_store::StoreOptions;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn with_capacity(capacity: Capacity) -> Settings {
    Settings { capacity, ..common::settings() }
}

/// Connects and sends `bytes`, keeping the connection open.
async fn open(server: &TestServer, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

fn assert_shape(response: &str, expected_status: u16, expected_code: u64) {
    assert_eq!(status(response), expected_status, "{response}");
    let body = error_body(response);
    assert_eq!(body["error"]["code"], json!(expected_code), "{response}");
    assert!(body["error"]["message"].is_string(), "{response}");
}

#[tokio::test]
async fn a_request_whose_headers_stall_gets_408_and_an_idle_connection_is_closed() {
    let capacity = Capacity { header_read_timeout: Duration::from_secs(1), ..Capacity::default() };
    let server = TestServer::builder("header_timeout")
        .settings(with_capacity(capacity))
        .start()
        .await
        .unwrap();
    let mut stalled = open(&server, b"GET /api/me HTTP/1.1\r\nHost: x\r\nAuthori").await;
    assert_shape(&read_response(&mut stalled).await, 408, 36);
    // An idle connection is closed without an answer.
    let mut idle = open(&server, b"").await;
    assert_eq!(read_response(&mut idle).await, "");
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_stalls_gets_408_whoever_reads_it() {
    let capacity = Capacity { body_read_timeout: Duration::from_secs(1), ..Capacity::default() };
    let server = TestServer::builder("body_timeout")
        .settings(with_capacity(capacity))
        .start()
        .await
        .unwrap();
    let (_, token, secret) =
        server.create_key(&server.admin_token, "App", &["activities:write"]).await;
    // Bearer: the handler's JSON extractor reads the body.
    let head = format!(
        "POST /api/activities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"data\"",
        server.admin_token
    );
    let mut stream = open(&server, head.as_bytes()).await;
    assert_shape(&read_response(&mut stream).await, 408, 36);
    // header-hmac: the auth layer reads the body, since the signature covers it.
    let signed = sign(
        Scheme::HeaderHmac,
        &token,
        &secret,
        "POST",
        &server.url("/api/activities"),
        Some("{}".into()),
    );
    let headers: String = signed.headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    let head = format!(
        "POST /api/activities HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: 100\r\n\r\n{{"
    );
    let mut stream = open(&server, head.as_bytes()).await;
    assert_shape(&read_response(&mut stream).await, 408, 36);
    server.stop().await;
}

#[tokio::test]
async fn a_request_past_the_whole_request_timeout_gets_408() {
    // Long enough for the admin's login (a password hash, slow in a debug build on a busy
    // machine) to pass under it when the server starts.
    let capacity = Capacity {
        request_timeout: Duration::from_secs(5),
        body_read_timeout: Duration::from_secs(30),
        ..Capacity::default()
    };
    let server = TestServer::builder("request_timeout")
        .settings(with_capacity(capacity))
        .start()
        .await
        .unwrap();
    let head = format!(
        "POST /api/activities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        server.admin_token
    );
    let mut stream = open(&server, head.as_bytes()).await;
    assert_shape(&read_response(&mut stream).await, 408, 36);
    server.stop().await;
}

#[tokio::test]
async fn connections_past_the_cap_get_503_with_retry_after() {
    let capacity = Capacity { max_connections: 2, ..Capacity::default() };
    let server =
        TestServer::builder("connections").settings(with_capacity(capacity)).start().await.unwrap();
    let _held = [open(&server, b"").await, open(&server, b"").await];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = raw(&server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_shape(&response, 503, 52);
    assert_eq!(header(&response, "retry-after"), Some("1"));
    drop(_held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response =
        raw(&server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status(&response), 200, "served again once connections close: {response}");
    server.stop().await;
}

#[tokio::test]
async fn requests_past_the_cap_get_503_with_retry_after() {
    let capacity = Capacity { max_requests: 1, ..Capacity::default() };
    let server =
        TestServer::builder("requests").settings(with_capacity(capacity)).start().await.unwrap();
    // One request in flight, its body not yet sent.
    let head = format!(
        "POST /api/activities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        server.admin_token
    );
    let _in_flight = open(&server, head.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response =
        raw(&server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_shape(&response, 503, 52);
    assert_eq!(header(&response, "retry-after"), Some("1"));
    server.stop().await;
}

#[tokio::test]
async fn a_body_without_a_declared_length_is_cut_at_the_limit_while_it_streams() {
    let server = TestServer::start(common::Backend::Sqlite, "streaming_limit").await.unwrap();
    let (_, token, secret) =
        server.create_key(&server.admin_token, "App", &["activities:write"]).await;
    let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
    // 64 KiB limit in the test settings: five chunks are past it.
    let body: String = std::iter::repeat_n(chunk, 5).collect::<String>() + "0\r\n\r\n";
    let bearer = format!(
        "POST /api/activities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}",
        server.admin_token
    );
    assert_shape(&raw(&server, bearer.as_bytes()).await, 413, 32);
    let signed = sign(
        Scheme::HeaderHmac,
        &token,
        &secret,
        "POST",
        &server.url("/api/activities"),
        Some("{}".into()),
    );
    let headers: String = signed.headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    let request = format!(
        "POST /api/activities HTTP/1.1\r\nHost: x\r\n{headers}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}"
    );
    assert_shape(&raw(&server, request.as_bytes()).await, 413, 32);
    server.stop().await;
}

#[tokio::test]
async fn a_body_is_not_read_before_the_key_and_the_clock_are_known_good() {
    let server = TestServer::start(common::Backend::Sqlite, "body_last").await.unwrap();
    let (_, token, secret) =
        server.create_key(&server.admin_token, "App", &["activities:write"]).await;
    let unknown = keyward_sig::token::CredentialKind::ApiKeyToken.mint(&[7; 30]);
    let stale = keyward_sig::header_hmac::sign(
        &token,
        b"{}",
        common::now_ms() - 3_600_000,
        &keyward_sig::KeyMaterial::new(keyward_sig::KeyKind::Domain, secret.as_bytes()),
    )
    .unwrap();
    let fresh = keyward_sig::header_hmac::sign(
        &unknown,
        b"{}",
        common::now_ms(),
        &keyward_sig::KeyMaterial::new(keyward_sig::KeyKind::Domain, secret.as_bytes()),
    )
    .unwrap();
    // A declared body that never comes: the answer cannot wait for it.
    for (signed, expected_code) in [(fresh, 13), (stale, 14)] {
        let headers: String = signed.pairs().iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
        let head = format!(
            "POST /api/activities HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: 60000\r\n\r\n"
        );
        let mut stream = open(&server, head.as_bytes()).await;
        assert_shape(&read_response(&mut stream).await, 401, expected_code);
    }
    server.stop().await;
}

#[tokio::test]
async fn signature_input_with_40000_components_is_refused_before_any_lookup() {
    let server = TestServer::start(common::Backend::Sqlite, "components").await.unwrap();
    let components: Vec<String> = (0..40_000).map(|i| format!("\"h{i}\"")).collect();
    let input = format!("sig1=({});created=1;keyid=\"kwkey_x\"", components.join(" "));
    let response = server
        .client
        .get(server.url("/api/activities"))
        .header("signature-input", input)
        .header("signature", "sig1=:AAAA:")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 35, "{body}");
    assert_eq!(body["error"]["detail"]["field"], "signature-input");
    assert_eq!(body["error"]["detail"]["limit"], 64);
    // Every other list a client controls is capped the same way: a signature's parameters, a
    // component's parameters, the query's parameters, the permissions in a body.
    for (input, limit) in [
        (
            format!(
                "sig1=(\"@method\");created=1;keyid=\"k\"{}",
                (0..20).map(|i| format!(";p{i}=1")).collect::<String>()
            ),
            16,
        ),
        (
            format!(
                "sig1=(\"@method\"{});created=1;keyid=\"k\"",
                (0..20).map(|i| format!(";p{i}=1")).collect::<String>()
            ),
            8,
        ),
    ] {
        let response = server
            .client
            .get(server.url("/api/activities"))
            .header("signature-input", input)
            .header("signature", "sig1=:AAAA:")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            (body["error"]["code"].clone(), body["error"]["detail"]["limit"].clone()),
            (json!(35), json!(limit)),
            "{body}"
        );
    }
    let params: String = (0..300).map(|i| format!("p{i}=1&")).collect();
    let response = server
        .client
        .get(server.url(&format!("/api/activities?{params}t=kwkey_x&ms=1&s=00")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["error"]["code"].clone(), body["error"]["detail"]["field"].clone()),
        (json!(35), json!("query"))
    );
    let permissions: Vec<&str> = std::iter::repeat_n("activities:read", 1000).collect();
    let (status, body) = server
        .bearer(
            &server.admin_token,
            "POST",
            "/api/admin/keys",
            Some(json!({"data": {"name": "x", "permissions": permissions}})),
        )
        .await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!(35)), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn wrong_password_logins_are_throttled_per_account_and_per_address() {
    let login = ThrottleSettings { per_account: 3, per_address: 5, ..ThrottleSettings::default() };
    let settings = Settings { login, ..common::settings() };
    let server = TestServer::builder("throttle").settings(settings).start().await.unwrap();
    let attempt = |user: &'static str, password: &'static str| {
        let request = server
            .client
            .post(server.url("/api/login"))
            .json(&json!({"UserName": user, "Password": password}));
        async move {
            let response = request.send().await.unwrap();
            let retry =
                response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), retry, response.json::<Value>().await.unwrap())
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt("admin", "wrong password!").await.0, 401);
    }
    let (status, retry, body) = attempt("admin", common::ADMIN_PASSWORD).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (429, json!(25)),
        "even the right password waits: {body}"
    );
    assert!(retry.unwrap().parse::<u64>().unwrap() > 0);
    // Another account from the same address, until the address's own limit.
    assert_eq!(attempt("someone", "wrong password!").await.0, 401);
    assert_eq!(attempt("someone", "wrong password!").await.0, 401);
    let (status, _, body) = attempt("nobody", "wrong password!").await;
    assert_eq!((status, body["error"]["code"].clone()), (429, json!(25)), "{body}");
    // The console's sign-in is the same door.
    let response = server
        .client
        .post(server.url("/console/session"))
        .json(&json!({"username": "admin", "password": common::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    server.stop().await;
}

/// Wrong passwords from `forwarded_for` (sent as `X-Forwarded-For`) until the address's limit
/// of 2: the statuses of four attempts.
async fn logins_from(server: &TestServer, forwarded_for: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    for user in ["a", "b", "c", "d"] {
        let response = server
            .client
            .post(server.url("/api/login"))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"UserName": user, "Password": "wrong password!"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn logins_are_throttled_per_forwarded_client_only_behind_a_trusted_proxy() {
    let login = ThrottleSettings { per_account: 0, per_address: 2, ..ThrottleSettings::default() };
    let throttled = vec![401, 401, 429, 429];
    // The test's client connects from 127.0.0.1: a trusted proxy here, so each client it
    // forwards for has a count of its own (the address key policies see, too).
    let trusted = Settings {
        login,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..common::settings()
    };
    let server = TestServer::builder("throttle_proxy").settings(trusted).start().await.unwrap();
    assert_eq!(logins_from(&server, "203.0.113.7").await, throttled);
    assert_eq!(logins_from(&server, "203.0.113.8").await, throttled, "another client");
    server.stop().await;
    // Not trusted: the header is the client's own word, and every attempt counts against the
    // connection's address however it is spelled.
    let server = TestServer::builder("throttle_direct")
        .settings(Settings { login, ..common::settings() })
        .start()
        .await
        .unwrap();
    assert_eq!(logins_from(&server, "203.0.113.7").await, throttled);
    assert_eq!(logins_from(&server, "203.0.113.8").await, vec![429; 4], "a forged address");
    server.stop().await;
}

#[tokio::test]
async fn a_flood_of_wrong_passwords_is_bounded_and_signed_requests_are_still_served() {
    let options = StoreOptions {
        password_hashing: 1,
        password_hashing_wait: Duration::from_millis(50),
        ..StoreOptions::default()
    };
    let login = ThrottleSettings { per_account: 0, per_address: 0, ..ThrottleSettings::default() };
    let server = TestServer::builder("store")
        .settings(Settings { login, ..common::settings() })
        .store_options(options)
        .start()
        .await
        .unwrap();
    let (_, token, secret) =
        server.create_key(&server.admin_token, "App", &["activities:read"]).await;
    let flood = (0..40).map(|i| {
        let request = server
            .client
            .post(server.url("/api/login"))
            .json(&json!({"UserName": format!("user{i}"), "Password": "wrong password!"}));
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    });
    let signed =
        server.signed(Scheme::HeaderHmac, (&token, &secret), "GET", "/api/activities", None);
    let (answers, (signed_status, _)) = tokio::join!(futures_util::future::join_all(flood), signed);
    assert_eq!(signed_status, 200, "a signed request is served during the flood");
    let mut busy = 0;
    for (status, body) in answers {
        match status {
            401 => assert_eq!(body["error"]["code"], 21),
            503 => {
                assert_eq!(body["error"]["code"], 52, "{body}");
                busy += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(busy > 0, "with one hashing slot and a 50 ms wait, some of 40 logins are turned away");
    server.stop().await;
}

#[tokio::test]
async fn a_locked_database_and_an_exhausted_pool_answer_503_not_500() {
    let options = StoreOptions {
        max_connections: Some(1),
        acquire_timeout: Duration::from_millis(200),
        busy_timeout: Duration::from_millis(1500),
        ..StoreOptions::default()
    };
    let server = TestServer::builder("store").store_options(options).start().await.unwrap();
    let warm = server.bearer(&server.admin_token, "GET", "/api/activities", None).await;
    assert_eq!(warm.0, 200, "the token is cached before the database is locked");
    // Another process holds SQLite's write lock.
    let path =
        server.database_url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
    let mut locker =
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{path}"))
            .await
            .unwrap();
    sqlx::Executor::execute(&mut locker, "BEGIN EXCLUSIVE").await.unwrap();
    // The write waits for the lock on the only connection; a read meanwhile finds no free
    // connection. Both are answered 503 with Retry-After.
    let write = server.bearer(
        &server.admin_token,
        "POST",
        "/api/activities",
        Some(json!({"data": {"name": "x"}})),
    );
    let read = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let response = server
            .client
            .get(server.url("/api/activities"))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.headers().get("retry-after").is_some(),
            response.json::<Value>().await.unwrap(),
        )
    };
    let ((write_status, write_body), (read_status, read_retry, read_body)) =
        tokio::join!(write, read);
    assert_eq!(
        (write_status, write_body["error"]["code"].clone()),
        (503, json!(51)),
        "busy: {write_body}"
    );
    assert_eq!(
        (read_status, read_body["error"]["code"].clone()),
        (503, json!(51)),
        "pool: {read_body}"
    );
    assert!(read_retry);
    sqlx::Executor::execute(&mut locker, "ROLLBACK").await.unwrap();
    let (status, _) = server
        .bearer(
            &server.admin_token,
            "POST",
            "/api/activities",
            Some(json!({"data": {"name": "x"}})),
        )
        .await;
    assert_eq!(status, 201, "served again once the lock is gone");
    server.stop().await;
}

#[tokio::test]
async fn request_ids_are_capped_in_length() {
    let server = TestServer::start(common::Backend::Sqlite, "request_ids").await.unwrap();
    for (sent, kept) in [("short-id-1", true), (&*"x".repeat(129), false), ("has space", false)] {
        let response = server
            .client
            .get(server.url("/healthz"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let echoed = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(echoed == sent, kept, "{sent:?} -> {echoed:?}");
        assert!(echoed.len() <= 128);
    }
    server.stop().await;
}
