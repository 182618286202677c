//! keyward as a gateway, over real servers on 127.0.0.1: keyward in front of an upstream that
//! echoes what it receives. Each scheme is accepted and refused; the upstream never sees a
//! credential nor an identity header a client wrote; bodies arrive byte for byte; a dead or
//! slow upstream is answered in keyward's error shape; WebSockets pass where allowed.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use base64::Engine;
use common::{Prepared, SIGNED_SCHEMES, Scheme, TestServer, send, sign};
use keyward_server::gateway::{RouteConfig, Routes};
use keyward_testkit::upstream::EchoUpstream;
use serde_json::{Value, json};

/// What the upstream saw.
struct Echoed(Value);

impl Echoed {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers().into_iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    fn headers(&self) -> Vec<(&str, &str)> {
        self.0["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| (pair[0].as_str().unwrap(), pair[1].as_str().unwrap()))
            .collect()
    }

    fn target(&self) -> &str {
        self.0["target"].as_str().unwrap()
    }

    fn body(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(self.0["body_base64"].as_str().unwrap())
            .unwrap()
    }
}

fn route(prefix: &str, upstream: &EchoUpstream) -> RouteConfig {
    RouteConfig { prefix: prefix.into(), upstream: upstream.url(), ..Default::default() }
}

/// The routes most tests use: `/orders` (GET needs orders:read, POST orders:write),
/// `/public/` (no credentials) and `/ws/` (WebSockets allowed).
fn routes(upstream: &EchoUpstream) -> Vec<RouteConfig> {
    let mut orders = route("/orders", upstream);
    orders.method_permissions.insert("GET".into(), vec!["orders:read".into()]);
    orders.method_permissions.insert("POST".into(), vec!["orders:write".into()]);
    let mut public = route("/public/", upstream);
    public.public = true;
    let mut ws = route("/live/", upstream);
    ws.websocket = true;
    vec![orders, public, ws]
}

async fn gateway(configs: Vec<RouteConfig>) -> TestServer {
    let settings =
        keyward_server::Settings { routes: Routes::check(configs).unwrap(), ..common::settings() };
    TestServer::builder("gateway").settings(settings).start().await.unwrap()
}

async fn sent(server: &TestServer, request: Prepared) -> (u16, Value) {
    send(&server.client, request).await
}

const ALL_SCHEMES: [Option<Scheme>; 4] =
    [None, Some(Scheme::QueryHmac), Some(Scheme::HeaderHmac), Some(Scheme::HttpSignature)];

/// A request as `scheme` (None: bearer) would send it.
fn request(
    server: &TestServer,
    scheme: Option<Scheme>,
    key: (&str, &str),
    method: &str,
    path: &str,
    body: Option<String>,
) -> Prepared {
    match scheme {
        Some(scheme) => sign(scheme, key.0, key.1, method, &server.url(path), body),
        None => {
            let mut headers = vec![("authorization".to_owned(), format!("Bearer {}", key.0))];
            if body.is_some() {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
            }
            Prepared { method: method.into(), url: server.url(path), headers, body }
        }
    }
}

#[tokio::test]
async fn every_scheme_passes_with_identity_and_without_credentials() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = gateway(routes(&upstream)).await;
    let (key_id, token, secret) =
        server.create_key(&server.admin_token, "Órders app", &["orders:read"]).await;
    let (user_id, user_token) = server.user("clerk", &["orders:read"]).await;
    for scheme in ALL_SCHEMES {
        let key = match scheme {
            Some(_) => (token.as_str(), secret.as_str()),
            None => (user_token.as_str(), ""),
        };
        let mut prepared =
            request(&server, scheme, key, "GET", "/orders/17?page=2&sort=desc", None);
        prepared.headers.push(("cookie".into(), "kw_session=stolen; theme=dark".into()));
        let response = reqwest_send(&server, prepared).await;
        assert_eq!(response.0, 200, "{scheme:?}: {}", response.2);
        let echoed = Echoed(response.2);
        // The path as sent; query-hmac's t, ms and s stripped, the rest kept in order.
        assert_eq!(echoed.target(), "/orders/17?page=2&sort=desc", "{scheme:?}");
        for credential in [
            "authorization",
            "x-logtrust-sign",
            "x-logtrust-timestamp",
            "x-logtrust-apikey",
            "signature",
            "signature-input",
        ] {
            assert_eq!(echoed.header(credential), None, "{scheme:?} leaked {credential}");
        }
        assert_eq!(echoed.header("cookie"), Some("theme=dark"));
        let scheme_name = scheme.map_or("bearer", |s| match s {
            Scheme::QueryHmac => "query-hmac",
            Scheme::HeaderHmac => "header-hmac",
            Scheme::HttpSignature => "http-signature",
        });
        assert_eq!(echoed.header("x-keyward-scheme"), Some(scheme_name));
        assert_eq!(echoed.header("x-keyward-domain"), Some("1"));
        assert_eq!(echoed.header("x-keyward-permissions"), Some("orders:read"));
        match scheme {
            Some(_) => {
                assert_eq!(
                    echoed.header("x-keyward-principal"),
                    Some(format!("key:{key_id}").as_str())
                );
                assert_eq!(echoed.header("x-keyward-key-id"), Some(key_id.to_string().as_str()));
                assert_eq!(echoed.header("x-keyward-application"), Some("%C3%93rders app"));
            }
            None => {
                assert_eq!(
                    echoed.header("x-keyward-principal"),
                    Some(format!("user:{user_id}").as_str())
                );
                assert_eq!(echoed.header("x-keyward-key-id"), None);
            }
        }
        assert_eq!(echoed.header("x-forwarded-for"), Some("127.0.0.1"));
        assert_eq!(echoed.header("x-forwarded-proto"), Some("http"));
        assert_eq!(echoed.header("x-forwarded-host"), Some(server.address()));
        assert_eq!(echoed.header("host"), Some(upstream.address.to_string().as_str()));
        assert!(echoed.header("forwarded").unwrap().starts_with("for=127.0.0.1;proto=http;host="));
        assert_eq!(
            echoed.header("x-request-id"),
            Some(response.1.as_str()),
            "the request id is kept"
        );
    }
    server.stop().await;
}

/// Sends a request; its status, response request id and JSON body.
async fn reqwest_send(server: &TestServer, request: Prepared) -> (u16, String, Value) {
    let (status, headers, body) = common::exchange(&server.client, request).await;
    let id = headers.get("x-request-id").unwrap().to_str().unwrap().to_owned();
    (status, id, body)
}

#[tokio::test]
async fn refusals_come_in_the_error_shape_and_never_reach_the_upstream() {
    let upstream = EchoUpstream::start().await.unwrap();
    let mut header_only = route("/reports", &upstream);
    header_only.schemes = Some(vec!["header-hmac".into()]);
    let mut configs = routes(&upstream);
    configs.push(header_only);
    let server = gateway(configs).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "Reader", &["orders:read"]).await;
    let key = (token.as_str(), secret.as_str());
    let code = |body: &Value| body["error"]["code"].as_i64().unwrap();

    // No credentials; a wrong secret.
    let (status, body) = sent(
        &server,
        Prepared {
            method: "GET".into(),
            url: server.url("/orders/1"),
            headers: vec![],
            body: None,
        },
    )
    .await;
    assert_eq!((status, code(&body)), (401, 10));
    for scheme in SIGNED_SCHEMES {
        let (status, body) = sent(
            &server,
            sign(scheme, &token, "not-the-secret", "GET", &server.url("/orders/1"), None),
        )
        .await;
        assert_eq!((status, code(&body)), (401, 12), "{scheme:?}");
    }
    // A scheme the route does not accept: code 18, with the accepted list.
    let (status, body) = sent(
        &server,
        sign(Scheme::QueryHmac, &token, &secret, "GET", &server.url("/reports/1"), None),
    )
    .await;
    assert_eq!((status, code(&body)), (403, 18));
    assert_eq!(body["error"]["detail"]["accepted"], json!(["header-hmac"]));
    // orders:read reads; it does not write.
    for scheme in ALL_SCHEMES.into_iter().flatten() {
        let (status, _) =
            sent(&server, request(&server, Some(scheme), key, "GET", "/orders/2", None)).await;
        assert_eq!(status, 200, "{scheme:?}");
        let body = Some(json!({"item": 1}).to_string());
        let (status, refused) =
            sent(&server, request(&server, Some(scheme), key, "POST", "/orders", body)).await;
        assert_eq!((status, code(&refused)), (403, 20), "{scheme:?}: {refused}");
        assert_eq!(refused["error"]["detail"]["required"], json!(["orders:write"]));
    }
    // A signature replayed through the gateway.
    let first = sign(Scheme::HeaderHmac, &token, &secret, "GET", &server.url("/orders/3"), None);
    let mut elsewhere = first.again();
    elsewhere.url = server.url("/orders/4");
    assert_eq!(sent(&server, first).await.0, 200);
    let (status, body) = sent(&server, elsewhere).await;
    assert_eq!((status, code(&body)), (401, 24));
    // No route; a route without this method; a path an upstream would resolve elsewhere.
    let (status, body) = server.bearer(&server.admin_token, "GET", "/nowhere", None).await;
    assert_eq!((status, code(&body)), (404, 40));
    let (status, body) =
        raw_status(&server, "GET /orders/%2e%2e/admin HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!((status, code(&body)), (400, 38));
    let (status, body) =
        raw_status(&server, "GET /public/..%2Fadmin HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!((status, code(&body)), (400, 38));
    // Decoded twice by an upstream, this would be /orders/admin (found by fuzzing).
    let (status, body) =
        raw_status(&server, "GET /public/%252e%252e/orders HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!((status, code(&body)), (400, 38));
    server.stop().await;
}

async fn raw_status(server: &TestServer, request: &str) -> (u16, Value) {
    let response = common::raw(server, request.as_bytes()).await;
    (common::status(&response), common::error_body(&response))
}

#[tokio::test]
async fn methods_a_route_does_not_serve_are_answered_405() {
    let upstream = EchoUpstream::start().await.unwrap();
    let mut reads = route("/catalog/", &upstream);
    reads.methods = Some(vec!["GET".into()]);
    let server = gateway(vec![reads]).await;
    let (status, body) = server.bearer(&server.admin_token, "DELETE", "/catalog/1", None).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (405, Some(42)));
    assert_eq!(server.bearer(&server.admin_token, "GET", "/catalog/1", None).await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn identity_headers_cannot_be_forged() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = gateway(routes(&upstream)).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "Reader", &["orders:read"]).await;
    let forged = [
        ("x-keyward-principal", "user:1"),
        ("X-Keyward-Permissions", "*"),
        ("x-keyward-domain", "2"),
        ("x-keyward-reseller", "1"),
        ("x-keyward-anything-else", "1"),
    ];
    for (path, key) in [("/orders/1", Some((token.as_str(), secret.as_str()))), ("/public/1", None)]
    {
        let mut prepared = match key {
            Some(key) => sign(Scheme::HeaderHmac, key.0, key.1, "GET", &server.url(path), None),
            None => Prepared {
                method: "GET".into(),
                url: server.url(path),
                headers: vec![],
                body: None,
            },
        };
        prepared.headers.extend(forged.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
        let (status, _, body) = reqwest_send(&server, prepared).await;
        assert_eq!(status, 200, "{path}");
        let echoed = Echoed(body);
        let identity: HashMap<&str, &str> =
            echoed.headers().into_iter().filter(|(n, _)| n.starts_with("x-keyward-")).collect();
        match key {
            Some(_) => {
                assert_eq!(identity.get("x-keyward-permissions"), Some(&"orders:read"), "{path}");
                assert_eq!(identity.get("x-keyward-domain"), Some(&"1"));
                assert!(!identity.contains_key("x-keyward-reseller"));
                assert!(!identity.contains_key("x-keyward-anything-else"));
            }
            None => assert!(identity.is_empty(), "a public route passes no identity: {identity:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn hop_by_hop_headers_and_those_connection_names_stop_at_keyward() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = gateway(routes(&upstream)).await;
    // Connection names the client's X-Forwarded-For, so a careless gateway would drop the
    // address it adds, or keep the one the client wrote.
    let response = common::raw(
        &server,
        b"GET /public/hop HTTP/1.1\r\nhost: x\r\n\
          connection: close, x-forwarded-for, x-private-hop\r\n\
          x-forwarded-for: 6.6.6.6\r\nx-private-hop: 1\r\nte: trailers\r\n\
          keep-alive: timeout=5\r\nproxy-authorization: Basic c3B5OnNweQ==\r\n\
          trailer: x-late\r\nx-kept: yes\r\n\r\n",
    )
    .await;
    assert_eq!(common::status(&response), 200, "{response}");
    let echoed = Echoed(common::error_body(&response));
    for gone in ["x-private-hop", "te", "keep-alive", "proxy-authorization", "trailer"] {
        assert_eq!(echoed.header(gone), None, "{gone} reached the upstream");
    }
    assert_eq!(echoed.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(echoed.header("x-kept"), Some("yes"));
    server.stop().await;
}

#[tokio::test]
async fn bodies_arrive_byte_for_byte_and_past_the_limit_are_refused() {
    let upstream = EchoUpstream::start().await.unwrap();
    let mut configs = routes(&upstream);
    let mut uploads = route("/uploads/", &upstream);
    uploads.public = true;
    uploads.body_limit = Some(256 * 1024);
    configs.push(uploads);
    let server = gateway(configs).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "Writer", &["orders:write"]).await;
    // Signed bodies (buffered for header-hmac and content-digest, streamed for the others).
    for scheme in ALL_SCHEMES.into_iter().flatten() {
        let body =
            json!({"item": "ünïcode", "quantity": 3, "note": "x".repeat(10_000)}).to_string();
        let (status, _, echoed) = reqwest_send(
            &server,
            request(
                &server,
                Some(scheme),
                (&token, &secret),
                "POST",
                "/orders",
                Some(body.clone()),
            ),
        )
        .await;
        assert_eq!(status, 200, "{scheme:?}: {echoed}");
        assert_eq!(Echoed(echoed).body(), body.as_bytes(), "{scheme:?}");
    }
    // A header-hmac body changed on the way is refused: the signature covers it.
    let mut tampered = sign(
        Scheme::HeaderHmac,
        &token,
        &secret,
        "POST",
        &server.url("/orders"),
        Some("{\"quantity\":1}".into()),
    );
    tampered.body = Some("{\"quantity\":1000}".into());
    assert_eq!(sent(&server, tampered).await.0, 401);
    // Every byte value, streamed through a public route (chunked, no length).
    let binary: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        binary.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let response = server
        .client
        .put(server.url("/uploads/blob"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(Echoed(response.json().await.unwrap()).body(), binary);
    // Past the route's limit: declared, or found while streaming.
    let too_big = vec![b'a'; 300 * 1024];
    let response =
        server.client.put(server.url("/uploads/big")).body(too_big.clone()).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        too_big.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let response = server
        .client
        .put(server.url("/uploads/big"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 32);
    server.stop().await;
}

#[tokio::test]
async fn a_dead_upstream_is_502_and_a_slow_one_504_with_the_request_id() {
    let upstream = EchoUpstream::start().await.unwrap();
    // A port nothing listens on: bound, then released.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let mut down = RouteConfig {
        prefix: "/down/".into(),
        upstream: format!("http://{dead}"),
        ..Default::default()
    };
    down.public = true;
    let mut slow = route("/slow/", &upstream);
    slow.response_timeout_seconds = Some(1);
    let server = gateway(vec![down, slow]).await;
    let (status, id, body) = reqwest_send(
        &server,
        Prepared {
            method: "GET".into(),
            url: server.url("/down/x"),
            headers: vec![("x-request-id".into(), "trace-502".into())],
            body: None,
        },
    )
    .await;
    assert_eq!((status, id.as_str()), (502, "trace-502"));
    assert_eq!(body["error"]["code"], 53);
    assert_eq!(body["error"]["detail"]["request_id"], "trace-502");
    assert!(
        !body.to_string().contains(&dead.port().to_string()),
        "the upstream's address stays private: {body}"
    );

    let started = std::time::Instant::now();
    let (status, id, body) = reqwest_send(
        &server,
        Prepared {
            method: "GET".into(),
            url: server.url("/slow/x?delay_ms=3000"),
            headers: vec![("authorization".into(), format!("Bearer {}", server.admin_token))],
            body: None,
        },
    )
    .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], 54);
    assert_eq!(body["error"]["detail"]["request_id"], id);
    assert!(started.elapsed() < std::time::Duration::from_millis(2900));
    // Within its timeout, the same route answers.
    let (status, _) = server.bearer(&server.admin_token, "GET", "/slow/x?delay_ms=100", None).await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn websockets_pass_where_allowed_and_are_refused_elsewhere() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let upstream = EchoUpstream::start().await.unwrap();
    let server = gateway(routes(&upstream)).await;
    let ws_url = |path: &str| format!("ws://{}{path}", server.address());
    let authorized = |path: &str| {
        let mut request = ws_url(path).into_client_request().unwrap();
        let value = format!("Bearer {}", server.admin_token).parse().unwrap();
        request.headers_mut().insert("authorization", value);
        request
    };
    let (mut socket, response) =
        tokio_tungstenite::connect_async(authorized("/live/ws")).await.unwrap();
    assert_eq!(response.status(), 101);
    for text in ["first", "second, longer message"] {
        socket.send(Message::text(text)).await.unwrap();
        assert_eq!(socket.next().await.unwrap().unwrap(), Message::text(text));
    }
    socket.send(Message::binary(vec![0u8, 255, 7])).await.unwrap();
    assert_eq!(socket.next().await.unwrap().unwrap(), Message::binary(vec![0u8, 255, 7]));
    socket.close(None).await.unwrap();
    // Without credentials the upgrade is refused; on a route without websocket = true, too.
    let error = tokio_tungstenite::connect_async(ws_url("/live/ws")).await.unwrap_err();
    assert!(error.to_string().contains("401"), "{error}");
    let error = tokio_tungstenite::connect_async(authorized("/orders/ws")).await.unwrap_err();
    assert!(error.to_string().contains("400"), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn h2c_upstreams_are_pooled_and_routes_reload_while_serving() {
    let upstream = EchoUpstream::start().await.unwrap();
    let mut h2 = route("/h2/", &upstream);
    h2.http2 = true;
    h2.public = true;
    let settings =
        keyward_server::Settings { routes: Routes::check(vec![h2]).unwrap(), ..common::settings() };
    let store_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", store_dir.path().join("k.db").display());
    let store = keyward_store::Store::open(&url, common::master_key()).await.unwrap();
    let app = keyward_server::application(store.clone(), settings, keyward_store::system_clock());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let capacity = keyward_server::Capacity::default();
    let task =
        tokio::spawn(keyward_server::serve(listener, app.app, capacity, std::future::pending()));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..3 {
        let echoed: Value =
            client.get(format!("{base}/h2/x")).send().await.unwrap().json().await.unwrap();
        assert_eq!(echoed["version"], "HTTP/2.0");
    }
    // A new table while serving: /h2/ goes, /v2/ comes.
    let mut v2 = route("/v2/", &upstream);
    v2.public = true;
    app.gateway.reload(Routes::check(vec![v2]).unwrap());
    assert_eq!(client.get(format!("{base}/h2/x")).send().await.unwrap().status(), 404);
    let echoed: Value =
        client.get(format!("{base}/v2/x")).send().await.unwrap().json().await.unwrap();
    assert_eq!(echoed["version"], "HTTP/1.1");
    task.abort();
    store.close().await;
}

#[tokio::test]
async fn a_route_rate_limit_counts_each_caller_apart_and_refuses_before_the_upstream() {
    let upstream = EchoUpstream::start().await.unwrap();
    let mut limited = route("/search", &upstream);
    limited.rate_limit_requests = Some(2);
    limited.rate_limit_window_seconds = Some(3600);
    let mut public = route("/open/", &upstream);
    public.public = true;
    public.rate_limit_requests = Some(2);
    let refused = Routes::check(vec![public]).unwrap_err().to_string();
    assert!(refused.contains("public route"), "{refused}");
    let server = gateway(vec![limited]).await;
    let (_, one, one_secret) = server.create_key(&server.admin_token, "One", &[]).await;
    let (_, two, two_secret) = server.create_key(&server.admin_token, "Two", &[]).await;

    for (key, left) in
        [((&one, &one_secret), 1), ((&one, &one_secret), 0), ((&two, &two_secret), 1)]
    {
        let prepared =
            request(&server, Some(Scheme::HeaderHmac), (key.0, key.1), "GET", "/search?q=a", None);
        let (status, headers, _) = common::exchange(&server.client, prepared).await;
        assert_eq!(status, 200);
        assert_eq!(headers["ratelimit-policy"], "\"route\";q=2;w=3600");
        let state = headers["ratelimit"].to_str().unwrap();
        assert!(state.starts_with(&format!("\"route\";r={left};")), "{state}");
    }
    let prepared =
        request(&server, Some(Scheme::HeaderHmac), (&one, &one_secret), "GET", "/search?q=b", None);
    let (status, headers, body) = common::exchange(&server.client, prepared).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (429, Some(27)), "{body}");
    assert_eq!(body["error"]["detail"]["policy"], "route");
    assert!(headers.contains_key("retry-after"));
    assert!(body.get("method").is_none(), "keyward's answer, not the upstream's echo: {body}");
    server.stop().await;
}

#[tokio::test]
async fn a_prefix_with_a_slash_serves_the_list_too_and_an_unrouted_path_says_so() {
    let upstream = EchoUpstream::start().await.unwrap();
    let mut stripped = route("/items/", &upstream);
    stripped.public = true;
    stripped.strip_prefix = true;
    let server = gateway([routes(&upstream), vec![stripped]].concat()).await;
    // `/public/` serves `/public` (a REST API's list) as it is, `/items/` serves `/items` as `/`.
    for (path, upstream_target) in
        [("/public", "/public"), ("/public/", "/public/"), ("/items", "/"), ("/items/7", "/7")]
    {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let echoed = Echoed(response.json().await.unwrap());
        assert_eq!(echoed.target(), upstream_target, "{path}");
    }
    for path in ["/publicx", "/nowhere/else"] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], 40, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("No route serves this path"), "{answer}");
        assert_eq!(answer["error"]["detail"]["path"], path, "{answer}");
        assert!(!answer.to_string().contains("/orders"), "no route is listed: {answer}");
    }
    server.stop().await;
}
