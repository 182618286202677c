//! Key policies over a real server: an expiry (refused after it with code 29, a warning header
//! before it), client address ranges (code 44; the client taken from the socket, or from
//! `X-Forwarded-For` only behind a trusted proxy, so a client cannot forge its address) and
//! route scopes (code 45), each enforced on signed requests, on access tokens minted from the
//! key and through a gateway route, each change audited, and no key able to lift its own.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Scheme, TestServer, exchange, send, sign};
use keyward_server::gateway::{RouteConfig, Routes};
use keyward_testkit::upstream::EchoUpstream;
use serde_json::{Value, json};

const PERMISSIONS: [&str; 4] =
    ["activities:read", "activities:write", "keys:manage", "orders:read"];

async fn server(upstream: &EchoUpstream, trusted_proxies: &[&str]) -> TestServer {
    let mut orders =
        RouteConfig { prefix: "/orders".into(), upstream: upstream.url(), ..Default::default() };
    orders.method_permissions.insert("GET".into(), vec!["orders:read".into()]);
    let settings = keyward_server::Settings {
        routes: Routes::check(vec![orders]).unwrap(),
        trusted_proxies: trusted_proxies.iter().map(|p| p.parse().unwrap()).collect(),
        ..common::settings()
    };
    TestServer::builder("policies").settings(settings).start().await.unwrap()
}

/// Creates a key with `policy` (fields merged into the new key's data): `(id, token, secret)`.
async fn key_with(server: &TestServer, policy: Value) -> (i64, String, String) {
    let mut data = json!({ "name": "Scoped", "permissions": PERMISSIONS });
    for (field, value) in policy.as_object().unwrap() {
        data[field] = value.clone();
    }
    let (status, body) = server
        .bearer(&server.admin_token, "POST", "/api/admin/keys", Some(json!({ "data": data })))
        .await;
    assert_eq!(status, 201, "{body}");
    let data = &body["data"];
    (
        data["id"].as_i64().unwrap(),
        data["token"].as_str().unwrap().to_owned(),
        data["secret"].as_str().unwrap().to_owned(),
    )
}

async fn patch(server: &TestServer, id: i64, data: Value) -> (u16, Value) {
    let path = format!("/api/admin/keys/{id}");
    server.bearer(&server.admin_token, "PATCH", &path, Some(json!({ "data": data }))).await
}

fn code(body: &Value) -> i64 {
    body["error"]["code"].as_i64().unwrap_or_default()
}

#[tokio::test]
async fn an_expiring_key_warns_then_is_refused_with_its_own_code() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = server(&upstream, &[]).await;
    let expires = common::now_ms() + 2_500;
    let (id, token, secret) = key_with(&server, json!({ "expires_at_ms": expires })).await;
    let key = (token.as_str(), secret.as_str());

    // Before: accepted, with the expiry announced.
    let request =
        sign(Scheme::HeaderHmac, key.0, key.1, "GET", &server.url("/api/activities"), None);
    let (status, headers, body) = exchange(&server.client, request).await;
    assert_eq!(status, 200, "{body}");
    let announced = headers["keyward-key-expires"].to_str().unwrap();
    assert!(announced.ends_with(" GMT"), "{announced}");
    let token_login = json!({ "UserName": token, "Password": secret });
    let login =
        server.client.post(server.url("/api/login")).json(&token_login).send().await.unwrap();
    let minted: Value = login.json().await.unwrap();
    let bearer = minted["access_token"].as_str().unwrap().to_owned();

    let wait = u64::try_from(expires - common::now_ms() + 200).unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    // After: the key, its access token and a new login are refused with code 29.
    for scheme in [Scheme::QueryHmac, Scheme::HeaderHmac, Scheme::HttpSignature] {
        let (status, body) = server.signed(scheme, key, "GET", "/api/activities", None).await;
        assert_eq!((status, code(&body)), (401, 29), "{scheme:?}: {body}");
        assert_eq!(body["error"]["detail"]["expired_at_ms"], expires);
    }
    let (status, body) = server.bearer(&bearer, "GET", "/api/activities", None).await;
    assert_eq!((status, code(&body)), (401, 29), "minted token: {body}");
    let login =
        server.client.post(server.url("/api/login")).json(&token_login).send().await.unwrap();
    assert_eq!(login.status(), 401);
    let body: Value = login.json().await.unwrap();
    assert_eq!(code(&body), 29, "{body}");
    // A wrong secret learns nothing of the expiry.
    let (status, body) = server
        .signed(Scheme::HeaderHmac, (key.0, "kwsec_wrong"), "GET", "/api/activities", None)
        .await;
    assert_eq!((status, code(&body)), (401, 12), "{body}");

    // Lists show it; lifting it (audited) brings the key back; an expiry in the past is refused.
    let (_, shown) =
        server.bearer(&server.admin_token, "GET", &format!("/api/admin/keys/{id}"), None).await;
    assert_eq!(shown["data"]["expires_at_ms"], expires);
    let (status, body) = patch(&server, id, json!({ "expires_at_ms": common::now_ms() - 1 })).await;
    assert_eq!((status, code(&body)), (422, 31), "{body}");
    let (status, body) = patch(&server, id, json!({ "expires_at_ms": null })).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server.signed(Scheme::HeaderHmac, key, "GET", "/api/activities", None).await;
    assert_eq!(status, 200);
    let (_, audit) =
        server.bearer(&server.admin_token, "GET", "/api/admin/audit?limit=100", None).await;
    let changes: Vec<&Value> =
        audit["data"].as_array().unwrap().iter().filter(|r| r["action"] == "key.policy").collect();
    assert_eq!(changes.len(), 1, "{audit}");
    assert_eq!(changes[0]["target_id"], id.to_string());
    server.stop().await;
}

#[tokio::test]
async fn address_ranges_use_the_socket_unless_a_trusted_proxy_forwards() {
    let upstream = EchoUpstream::start().await.unwrap();
    let direct = server(&upstream, &[]).await;
    let (id, token, secret) =
        key_with(&direct, json!({ "allowed_networks": ["10.9.9.0/24", "2001:db8::/32"] })).await;
    let get = |forwarded: Option<&'static str>| {
        let mut request =
            sign(Scheme::HeaderHmac, &token, &secret, "GET", &direct.url("/api/activities"), None);
        if let Some(address) = forwarded {
            request.headers.push(("x-forwarded-for".into(), address.into()));
        }
        send(&direct.client, request)
    };
    let (status, body) = get(None).await;
    assert_eq!((status, code(&body)), (403, 44), "{body}");
    assert_eq!(body["error"]["detail"]["address"], "127.0.0.1");
    // A client naming an allowed address itself is not believed: the peer is not trusted.
    let (status, body) = get(Some("10.9.9.7")).await;
    assert_eq!((status, code(&body)), (403, 44), "forged X-Forwarded-For: {body}");
    // Its range added (a bare address is one host), it passes.
    let (status, body) =
        patch(&direct, id, json!({ "allowed_networks": ["127.0.0.1", "::1"] })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["allowed_networks"], json!(["127.0.0.1/32", "::1/128"]));
    assert_eq!(get(None).await.0, 200);
    // The key, holding keys:manage, cannot lift its own policy (code 20).
    let lift = json!({ "data": { "allowed_networks": null } }).to_string();
    let path = direct.url(&format!("/api/admin/keys/{id}"));
    let own = sign(Scheme::HeaderHmac, &token, &secret, "PATCH", &path, Some(lift));
    let (status, body) = send(&direct.client, own).await;
    assert_eq!((status, code(&body)), (403, 20), "{body}");
    let (status, body) = patch(&direct, id, json!({ "allowed_networks": ["300.1.2.3/8"] })).await;
    assert_eq!((status, code(&body)), (422, 31), "{body}");
    direct.stop().await;

    // Behind a trusted proxy (the test client, on 127.0.0.1): the forwarded address decides.
    let proxied = server(&upstream, &["127.0.0.1/32"]).await;
    let (_, token, secret) =
        key_with(&proxied, json!({ "allowed_networks": ["203.0.113.0/24"] })).await;
    let get = |forwarded: Option<&'static str>| {
        let mut request =
            sign(Scheme::HeaderHmac, &token, &secret, "GET", &proxied.url("/api/activities"), None);
        if let Some(address) = forwarded {
            request.headers.push(("x-forwarded-for".into(), address.into()));
        }
        send(&proxied.client, request)
    };
    assert_eq!(get(Some("203.0.113.5")).await.0, 200);
    // The client's own entry on the left does not count: the proxy appended the real one.
    let (status, body) = get(Some("203.0.113.5, 198.51.100.9")).await;
    assert_eq!((status, code(&body)), (403, 44), "{body}");
    assert_eq!(body["error"]["detail"]["address"], "198.51.100.9");
    // No header: the proxy itself is the client, outside the range.
    assert_eq!(get(None).await.0, 403);
    proxied.stop().await;
}

#[tokio::test]
async fn route_scopes_bind_signed_requests_tokens_and_gateway_routes() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = server(&upstream, &[]).await;
    let scope = json!({ "allowed_routes": [{ "route": "api", "methods": ["get"] }] });
    let (id, token, secret) = key_with(&server, scope).await;
    let key = (token.as_str(), secret.as_str());
    let (status, _) = server.signed(Scheme::HeaderHmac, key, "GET", "/api/activities", None).await;
    assert_eq!(status, 200);
    let activity = Some(json!({ "data": { "name": "not allowed" } }));
    let (status, body) =
        server.signed(Scheme::HeaderHmac, key, "POST", "/api/activities", activity.clone()).await;
    assert_eq!((status, code(&body)), (403, 45), "{body}");
    assert_eq!(body["error"]["detail"], json!({ "route": "api", "method": "POST" }));
    let (status, body) =
        server.signed(Scheme::HeaderHmac, key, "GET", "/api/admin/keys", None).await;
    assert_eq!((status, code(&body)), (403, 45), "admin group: {body}");
    let (status, body) = server.signed(Scheme::HttpSignature, key, "GET", "/orders/1", None).await;
    assert_eq!((status, code(&body)), (403, 45), "gateway route: {body}");

    // The key cannot widen its own scope, even holding keys:manage.
    let own = sign(
        Scheme::HeaderHmac,
        key.0,
        key.1,
        "PATCH",
        &server.url(&format!("/api/admin/keys/{id}")),
        Some(json!({ "data": { "allowed_routes": null } }).to_string()),
    );
    let (status, body) = send(&server.client, own).await;
    assert_eq!(status, 403, "{body}");

    // Widened by the admin: the gateway route (all methods) and admin's GET.
    let widened = json!({ "allowed_routes": [
        { "route": "api" }, { "route": "/orders" }, { "route": "admin", "methods": ["GET"] }
    ] });
    let (status, body) = patch(&server, id, widened).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.signed(Scheme::HttpSignature, key, "GET", "/orders/1", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) =
        server.signed(Scheme::HeaderHmac, key, "POST", "/api/activities", activity).await;
    assert_eq!(status, 201);
    let (status, body) =
        server.signed(Scheme::HeaderHmac, key, "GET", "/api/admin/keys", None).await;
    assert_eq!(status, 200, "{body}");
    let path = format!("/api/admin/keys/{id}");
    let rename = sign(
        Scheme::HeaderHmac,
        key.0,
        key.1,
        "PATCH",
        &server.url(&path),
        Some(json!({ "data": { "name": "x" } }).to_string()),
    );
    let (status, body) = send(&server.client, rename).await;
    assert_eq!((status, code(&body)), (403, 45), "admin PATCH: {body}");

    // An access token minted from the key carries its scope.
    let (status, body) =
        patch(&server, id, json!({ "allowed_routes": [{ "route": "api", "methods": ["GET"] }] }))
            .await;
    assert_eq!(status, 200, "{body}");
    let login = json!({ "UserName": token, "Password": secret });
    let minted: Value = server
        .client
        .post(server.url("/api/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = minted["access_token"].as_str().unwrap();
    assert_eq!(server.bearer(bearer, "GET", "/api/activities", None).await.0, 200);
    let (status, body) = server
        .bearer(bearer, "POST", "/api/activities", Some(json!({ "data": { "name": "x" } })))
        .await;
    assert_eq!((status, code(&body)), (403, 45), "{body}");

    // Unknown routes and methods are refused when set.
    for bad in [
        json!([{ "route": "/nowhere" }]),
        json!([{ "route": "api", "methods": ["FETCH"] }]),
        json!([]),
    ] {
        let (status, body) = patch(&server, id, json!({ "allowed_routes": bad })).await;
        assert_eq!((status, code(&body)), (422, 31), "{body}");
    }
    server.stop().await;
}
