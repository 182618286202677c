//! Bad input of every kind gets a 4xx in the documented shape, never a 5xx, a panic or a
//! hang; and the transports real clients use, sent as raw bytes, get a 2xx.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Backend, Scheme, TestServer, error_body, raw, sign, status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn bad_input_gets_a_4xx_in_the_documented_shape() {
    let server = TestServer::start(Backend::Sqlite, "input").await.unwrap();
    let token = server.admin_token.clone();
    let post = |body: &[u8], content_type: &str| {
        format!(
            "POST /api/activities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes()
        .into_iter()
        .chain(body.iter().copied())
        .collect::<Vec<u8>>()
    };
    let cases: Vec<(&str, Vec<u8>, u16, u64)> = vec![
        ("malformed JSON", post(b"{\"data\": {\"name\": ", "application/json"), 400, 30),
        ("wrong type", post(br#"{"data": {"name": 42}}"#, "application/json"), 422, 31),
        ("envelope that is not an object", post(br#"{"data": "x"}"#, "application/json"), 422, 31),
        ("missing name", post(br#"{"data": {}}"#, "application/json"), 422, 31),
        ("empty name", post(br#"{"data": {"name": "   "}}"#, "application/json"), 422, 31),
        ("control characters", post(b"{\"data\": {\"name\": \"a\\u0000b\"}}", "application/json"), 422, 31),
        ("bad UTF-8", post(b"{\"data\": {\"name\": \"\xff\xfe\"}}", "application/json"), 400, 30),
        ("not JSON", post(b"name=x", "application/x-www-form-urlencoded"), 415, 33),
        ("huge body", post(&vec![b' '; 200 * 1024], "application/json"), 413, 32),
        (
            "unknown route",
            format!("GET /api/nothing HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").into_bytes(),
            404,
            40,
        ),
        (
            "bad path parameter",
            format!("GET /api/activities/abc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").into_bytes(),
            404,
            40,
        ),
        (
            "bad paging",
            format!("GET /api/activities?pageSize=100000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").into_bytes(),
            400,
            34,
        ),
        (
            "wrong method",
            format!("PATCH /api/activities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").into_bytes(),
            405,
            42,
        ),
        (
            "bearer with garbage",
            b"GET /api/activities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n".to_vec(),
            401,
            11,
        ),
        (
            "two authorization headers",
            format!("GET /api/activities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").into_bytes(),
            401,
            11,
        ),
        (
            "non-hex signature",
            b"GET /api/activities HTTP/1.1\r\nHost: x\r\nx-logtrust-apikey: kwkey_x\r\nx-logtrust-timestamp: 1\r\nx-logtrust-sign: zz\r\nConnection: close\r\n\r\n".to_vec(),
            401,
            11,
        ),
        (
            "garbage Signature-Input",
            b"GET /api/activities HTTP/1.1\r\nHost: x\r\nSignature-Input: ((((\r\nSignature: x\r\nConnection: close\r\n\r\n".to_vec(),
            401,
            11,
        ),
        ("bad login body", b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]".to_vec(), 422, 31),
    ];
    for (what, bytes, expected_status, expected_code) in cases {
        let response = raw(&server, &bytes).await;
        assert_eq!(status(&response), expected_status, "{what}: {response}");
        let body = error_body(&response);
        assert_eq!(body["error"]["code"], expected_code, "{what}: {response}");
        assert!(body["error"]["message"].is_string(), "{what}: {response}");
        assert!(
            response.to_ascii_lowercase().contains("x-request-id:"),
            "{what}: has a request id"
        );
    }
    // A malformed request line is refused by the HTTP layer with a 4xx, not a hang.
    let response = raw(&server, b"GARBAGE\r\n\r\n").await;
    assert!((400..500).contains(&status(&response)), "{response}");
    // The server is still well.
    assert_eq!(server.client.get(server.url("/healthz")).send().await.unwrap().status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn transports_real_clients_use_get_2xx() {
    let server = TestServer::start(Backend::Sqlite, "transports").await.unwrap();
    let (_, token, secret) = server
        .create_key(&server.admin_token, "Transports", &["activities:read", "activities:write"])
        .await;
    let host = server.base.trim_start_matches("http://").to_owned();
    let signed_target = |path: &str| {
        let prepared = sign(Scheme::QueryHmac, &token, &secret, "GET", &server.url(path), None);
        prepared.url.trim_start_matches(&server.base).to_owned()
    };

    // Absolute-form request target (what a client configured with a proxy sends).
    let target = signed_target("/api/activities");
    let request =
        format!("GET http://{host}{target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    assert_eq!(status(&raw(&server, request.as_bytes()).await), 200, "absolute-form");

    // Expect: 100-continue on a signed POST.
    let body = r#"{"data":{"name":"continued"}}"#;
    let signed = sign(
        Scheme::HeaderHmac,
        &token,
        &secret,
        "POST",
        &server.url("/api/activities"),
        Some(body.to_owned()),
    );
    let headers: String = signed.headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    let head = format!(
        "POST /api/activities HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut interim))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&interim[..n]).starts_with("HTTP/1.1 100"),
        "100 Continue first"
    );
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("HTTP/1.1 201"), "{text}");

    // Upgrade: h2c offered on HTTP/1.1: answered in HTTP/1.1.
    let target = signed_target("/api/activities");
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    );
    let response = raw(&server, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // Connection: close without User-Agent; Content-Length: 0 on GET; Content-Type on a GET
    // without a body.
    for extra in ["", "Content-Length: 0\r\n", "Content-Type: application/json\r\n"] {
        let target = signed_target("/api/activities");
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
        let response = raw(&server, request.as_bytes()).await;
        assert_eq!(status(&response), 200, "{extra:?}: {response}");
    }
    // HTTP/1.0 without Host.
    let target = signed_target("/api/activities");
    let response = raw(&server, format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes()).await;
    assert_eq!(status(&response), 200, "{response}");
    server.stop().await;
}

/// Every route the reference documents, with hostile path parameters, bodies and queries, as
/// the credentials that reach its handler (bearer on `/api`, a reseller key on
/// `/probio/domains`, a domain key on `/probio/domain`): never a 5xx, always the error shape.
#[tokio::test]
async fn every_route_answers_hostile_input_in_the_documented_shape() {
    let server = TestServer::start(Backend::Sqlite, "hostile").await.unwrap();
    let document = server.get_json("/api/openapi.json").await;
    let callers = Callers::new(&server).await;

    let long = "a".repeat(2000);
    let path_values =
        ["0", "-1", "99999999999999999999", "abc", "%00", "..%2F..", "%FF%FE", long.as_str()];
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let many = format!(
        "{{\"data\": {{\"name\": \"x\", \"permissions\": [{}]}}}}",
        vec!["\"activities:read\""; 1000].join(",")
    );
    let bodies = [
        "",
        "null",
        "[]",
        "{\"data\": 1}",
        "{\"data\": {\"name\": 1, \"permissions\": \"x\", \"password\": [], \"state\": {}}}",
        "{\"data\": {\"name\": \"\\u0000\", \"username\": \"\", \"overlap_seconds\": -5}}",
        "{\"current_password\": 1, \"new_password\": null}",
        deep.as_str(),
        many.as_str(),
        "\u{feff}{}",
    ];
    let params: String = (0..300).map(|i| format!("p{i}=1&")).collect();
    let queries = [
        "?page=-1&pageSize=abc&sinceMs=x&untilMs=99999999999999999999&userId=%FF",
        params.as_str(),
    ];

    let mut requests = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            // Ending one's own session is tested elsewhere; here it would end the test's.
            if path == "/api/logout" || (path == "/console/session" && method == "delete") {
                continue;
            }
            let concrete = |value: &str| path.replace("{id}", value).replace("{name}", value);
            let mut cases: Vec<(String, Option<&str>)> = Vec::new();
            if path.contains('{') {
                cases.extend(path_values.iter().map(|value| (concrete(value), None)));
            }
            cases.extend(bodies.iter().map(|body| (concrete("0"), Some(*body))));
            cases.extend(queries.iter().map(|query| {
                (
                    format!(
                        "{}{}",
                        concrete("0"),
                        if query.starts_with('?') {
                            query.to_string()
                        } else {
                            format!("?{query}")
                        }
                    ),
                    None,
                )
            }));
            for (target, body) in cases {
                let method_upper = method.to_uppercase();
                let prepared = callers.prepare(&server, &method_upper, &target, body);
                let (status, answer) = common::send(&server.client, prepared).await;
                requests += 1;
                assert!(status < 500, "{method_upper} {target} {body:?}: {status} {answer}");
                if status >= 400 {
                    assert!(
                        answer["error"]["code"].is_u64(),
                        "{method_upper} {target} {body:?}: {answer}"
                    );
                    assert!(
                        answer["error"]["message"].is_string(),
                        "{method_upper} {target}: {answer}"
                    );
                }
            }
        }
    }
    assert!(requests > 500, "{requests} requests");
    let health = server.client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "still serving");
    server.stop().await;
}

#[tokio::test]
async fn every_body_refuses_a_field_it_does_not_know() {
    let server = TestServer::start(Backend::Sqlite, "strict").await.unwrap();
    let document = server.get_json("/api/openapi.json").await;
    let callers = Callers::new(&server).await;
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("requestBody").is_none() || path == "/api/logout" {
                continue;
            }
            let target = path.replace("{id}", "0").replace("{name}", "strict");
            let method = method.to_uppercase();
            // In the DevResults envelope and bare, as the two styles of client send bodies.
            for body in [r#"{"data": {"zzz_unknown": 1}}"#, r#"{"zzz_unknown": 1}"#] {
                let prepared = callers.prepare(&server, &method, &target, Some(body));
                let (status, answer) = common::send(&server.client, prepared).await;
                assert_eq!(status, 422, "{method} {target} {body}: {answer}");
                assert_eq!(answer["error"]["code"], 31, "{method} {target}: {answer}");
                assert_eq!(answer["error"]["detail"]["field"], "zzz_unknown", "{answer}");
                assert_eq!(answer["error"]["message"], "Unknown field: zzz_unknown", "{answer}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "{checked} bodies");
    // The issue's own case: a misplaced field is not silently dropped into an HMAC key.
    let (status, answer) = common::send(
        &server.client,
        callers.prepare(
            &server,
            "POST",
            "/api/admin/keys",
            Some(r#"{"data": {"name": "x", "permissions": [], "kind": "api-key"}}"#),
        ),
    )
    .await;
    assert_eq!((status, &answer["error"]["detail"]["field"]), (422, &serde_json::json!("kind")));
    server.stop().await;
}

/// Credentials for every route group: a reseller's key for `/probio/domains`, a domain key
/// for `/probio/domain/`, the admin's bearer token elsewhere.
struct Callers {
    reseller_token: String,
    reseller_secret: String,
    domain_token: String,
    domain_secret: String,
}

impl Callers {
    async fn new(server: &TestServer) -> Callers {
        use keyward_store::{Actor, KeyOwner, NewApiKey, Permissions};
        let operator = Actor::operator("input", "operator");
        let reseller = server.store.create_reseller(&operator, "input").await.unwrap();
        let new = NewApiKey::new(
            KeyOwner::Reseller(reseller.id),
            "provisioning".into(),
            Permissions::default(),
        );
        let (reseller_key, reseller_secret) =
            server.store.create_api_key(&operator, &new).await.unwrap();
        let (_, domain_token, domain_secret) =
            server.create_key(&server.admin_token, "Input", &keyward_store::ALL_PERMISSIONS).await;
        Callers {
            reseller_token: reseller_key.token,
            reseller_secret: reseller_secret.unwrap().0,
            domain_token,
            domain_secret,
        }
    }

    fn prepare(
        &self,
        server: &TestServer,
        method: &str,
        target: &str,
        body: Option<&str>,
    ) -> common::Prepared {
        let url = server.url(target);
        let body = body.map(str::to_owned);
        if target.starts_with("/probio/domains") {
            common::sign_as(
                keyward_sig::KeyKind::Reseller,
                Scheme::HeaderHmac,
                &self.reseller_token,
                &self.reseller_secret,
                method,
                &url,
                body,
            )
        } else if target.starts_with("/probio/domain/") {
            sign(Scheme::HeaderHmac, &self.domain_token, &self.domain_secret, method, &url, body)
        } else {
            let mut headers =
                vec![("authorization".to_owned(), format!("Bearer {}", server.admin_token))];
            if body.is_some() {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
            }
            common::Prepared { method: method.to_owned(), url, headers, body }
        }
    }
}
