//! Rate limits and credits over a real server, on each backend: what a limited key, user and
//! gateway route get, the headers that say so, who may set limits (nobody their own), bad
//! input, and the audit trail.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{SIGNED_SCHEMES, Scheme, TestServer, exchange, sign};
use serde_json::{Value, json};

/// Creates a key as `bearer` with `permissions` and `limits` (`rate_limit`, `credits`);
/// `(id, token, secret)`.
async fn limited_key(
    server: &TestServer,
    bearer: &str,
    permissions: &[&str],
    limits: Value,
) -> (i64, String, String) {
    let mut data = json!({ "name": "Limited", "permissions": permissions });
    data.as_object_mut().unwrap().extend(limits.as_object().unwrap().clone());
    let (status, body) =
        server.bearer(bearer, "POST", "/api/admin/keys", Some(json!({ "data": data }))).await;
    assert_eq!(status, 201, "{body}");
    let data = &body["data"];
    (
        data["id"].as_i64().unwrap(),
        data["token"].as_str().unwrap().into(),
        data["secret"].as_str().unwrap().into(),
    )
}

/// A signed GET of `path`: status, `RateLimit` header, credits header and error code.
async fn get(
    server: &TestServer,
    scheme: Scheme,
    (token, secret): (&str, &str),
    path: &str,
) -> (u16, Option<String>, Option<String>, Option<i64>) {
    let request = sign(scheme, token, secret, "GET", &server.url(path), None);
    let (status, headers, body) = exchange(&server.client, request).await;
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        header("ratelimit"),
        header("keyward-credits-remaining"),
        body["error"]["code"].as_i64(),
    )
}

#[tokio::test]
async fn a_key_over_its_rate_limit_gets_429_with_retry_after_and_the_ratelimit_headers() {
    TestServer::on_each_backend("quota_rate", |server| async move {
        let limits = json!({ "rate_limit": { "requests": 3, "window_seconds": 60 } });
        let (id, token, secret) =
            limited_key(&server, &server.admin_token, &["activities:read"], limits).await;
        // Every scheme counts against the same key: three in all.
        for (scheme, left) in SIGNED_SCHEMES.into_iter().zip([2, 1, 0]) {
            let (status, state, _, _) =
                get(&server, scheme, (&token, &secret), "/api/activities").await;
            assert_eq!(status, 200);
            let state = state.unwrap();
            assert!(state.starts_with(&format!("\"key\";r={left};t=")), "{state}");
        }
        let request =
            sign(Scheme::HeaderHmac, &token, &secret, "GET", &server.url("/api/activities"), None);
        let (status, headers, body) = exchange(&server.client, request).await;
        assert_eq!(status, 429);
        assert_eq!(body["error"]["code"], 27, "{body}");
        assert_eq!(body["error"]["detail"]["policy"], "key");
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=20).contains(&retry), "one request every 20 s: {retry}");
        assert_eq!(headers["ratelimit-policy"], "\"key\";q=3;w=60");
        assert!(headers["ratelimit"].to_str().unwrap().starts_with("\"key\";r=0;t="));

        // The key's JSON says so; the admin lifts the limit, audited, and the key passes.
        let path = format!("/api/admin/keys/{id}");
        let (_, shown) = server.bearer(&server.admin_token, "GET", &path, None).await;
        assert_eq!(shown["data"]["rate_limit"], json!({ "requests": 3, "window_seconds": 60 }));
        let lift = json!({ "data": { "rate_limit": null } });
        let (status, lifted) = server.bearer(&server.admin_token, "PATCH", &path, Some(lift)).await;
        assert_eq!(status, 200, "{lifted}");
        assert_eq!(lifted["data"]["rate_limit"], Value::Null);
        let (status, state, _, _) =
            get(&server, Scheme::HeaderHmac, (&token, &secret), "/api/activities").await;
        assert_eq!((status, state), (200, None));
        let (_, audit) =
            server.bearer(&server.admin_token, "GET", "/api/admin/audit?limit=100", None).await;
        let actions: Vec<&str> =
            audit["data"].as_array().unwrap().iter().filter_map(|r| r["action"].as_str()).collect();
        assert!(actions.contains(&"key.limits"), "{actions:?}");
        server
    })
    .await;
}

#[tokio::test]
async fn credits_are_spent_one_per_request_refilled_and_never_overspent() {
    TestServer::on_each_backend("quota_credits", |server| async move {
        let limits = json!({ "credits": { "remaining": 2 } });
        let (id, token, secret) =
            limited_key(&server, &server.admin_token, &["activities:read"], limits).await;
        let key = (token.as_str(), secret.as_str());
        for left in ["1", "0"] {
            let (status, _, credits, _) = get(&server, Scheme::HeaderHmac, key, "/api/me").await;
            assert_eq!((status, credits.as_deref()), (200, Some(left)));
        }
        let request = sign(Scheme::HeaderHmac, key.0, key.1, "GET", &server.url("/api/me"), None);
        let (status, headers, body) = exchange(&server.client, request).await;
        assert_eq!((status, body["error"]["code"].as_i64()), (429, Some(28)), "{body}");
        assert!(headers.get("retry-after").is_none(), "no refill: no time to wait for");

        // Concurrent requests never spend more than there is: 10 credits, 30 requests.
        let path = format!("/api/admin/keys/{id}");
        let ten = json!({ "data": { "credits": { "remaining": 10 } } });
        let (status, _) = server.bearer(&server.admin_token, "PATCH", &path, Some(ten)).await;
        assert_eq!(status, 200);
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..30 {
            let request =
                sign(Scheme::HeaderHmac, key.0, key.1, "GET", &server.url("/api/me"), None);
            let client = server.client.clone();
            requests.spawn(async move { exchange(&client, request).await.0 });
        }
        let mut accepted = 0;
        while let Some(status) = requests.join_next().await {
            match status.unwrap() {
                200 => accepted += 1,
                429 => {}
                other => panic!("{other}"),
            }
        }
        assert_eq!(accepted, 10);

        // A refill every second sets the credits back to 2.
        let refill =
            json!({ "data": { "credits": { "remaining": 0, "refill": { "amount": 2, "interval_seconds": 1 } } } });
        let (status, body) = server.bearer(&server.admin_token, "PATCH", &path, Some(refill)).await;
        assert_eq!(status, 200, "{body}");
        let (status, _, _, code) = get(&server, Scheme::HeaderHmac, key, "/api/me").await;
        assert_eq!((status, code), (429, Some(28)));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (status, _, credits, _) = get(&server, Scheme::HeaderHmac, key, "/api/me").await;
        assert_eq!((status, credits.as_deref()), (200, Some("1")));
        server
    })
    .await;
}

#[tokio::test]
async fn a_user_rate_limit_covers_the_user_and_every_key_rooted_in_them() {
    TestServer::on_each_backend("quota_user", |server| async move {
        let (user_id, user) = server.user("kim", &["keys:manage", "activities:read"]).await;
        let path = format!("/api/admin/users/{user_id}");
        let limit = json!({ "data": { "rate_limit": { "requests": 3, "window_seconds": 3600 } } });
        let (status, body) = server.bearer(&server.admin_token, "PATCH", &path, Some(limit)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["rate_limit"]["requests"], 3);
        // Three requests in all: the key's creation, a GET as the user, a GET with the key.
        let (_, token, secret) = limited_key(&server, &user, &["activities:read"], json!({})).await;
        let (status, _) = server.bearer(&user, "GET", "/api/activities", None).await;
        assert_eq!(status, 200);
        let (status, state, _, _) =
            get(&server, Scheme::HeaderHmac, (&token, &secret), "/api/activities").await;
        assert_eq!(status, 200);
        assert!(state.unwrap().starts_with("\"user\";r=0;"));
        let (status, body) = server.bearer(&user, "GET", "/api/activities", None).await;
        assert_eq!((status, &body["error"]["detail"]["policy"]), (429, &json!("user")));
        server
    })
    .await;
}

#[tokio::test]
async fn nobody_lifts_the_limits_they_are_held_to() {
    TestServer::on_each_backend("quota_own", |server| async move {
        // A limited key that manages keys cannot lift its own limit or credits.
        let limits = json!({ "rate_limit": { "requests": 100, "window_seconds": 60 }, "credits": { "remaining": 50 } });
        let (id, token, secret) =
            limited_key(&server, &server.admin_token, &["keys:manage", "activities:read"], limits)
                .await;
        for change in [json!({ "rate_limit": null }), json!({ "credits": { "remaining": 1000000 } })] {
            let (status, body) = server
                .signed(
                    Scheme::HeaderHmac,
                    (&token, &secret),
                    "PATCH",
                    &format!("/api/admin/keys/{id}"),
                    Some(json!({ "data": change })),
                )
                .await;
            assert_eq!((status, body["error"]["code"].as_i64()), (403, Some(20)), "{body}");
        }
        // A user manager cannot lift their own limit, nor can a key rooted in them.
        let (me, manager) = server.user("lee", &["*"]).await;
        let path = format!("/api/admin/users/{me}");
        let lift = json!({ "data": { "rate_limit": null } });
        let (status, body) = server.bearer(&manager, "PATCH", &path, Some(lift.clone())).await;
        assert_eq!((status, body["error"]["code"].as_i64()), (403, Some(20)), "{body}");
        let (_, token, secret) = limited_key(&server, &manager, &["*"], json!({})).await;
        let (status, body) = server
            .signed(Scheme::HeaderHmac, (&token, &secret), "PATCH", &path, Some(lift.clone()))
            .await;
        assert_eq!((status, body["error"]["code"].as_i64()), (403, Some(20)), "{body}");
        // The administrator can.
        let (status, _) = server.bearer(&server.admin_token, "PATCH", &path, Some(lift)).await;
        assert_eq!(status, 200);
        server
    })
    .await;
}

#[tokio::test]
async fn bad_limits_are_refused_with_the_field_named() {
    let server = TestServer::start(common::Backend::Sqlite, "quota_input").await.unwrap();
    let (id, _, _) = server.create_key(&server.admin_token, "App", &["activities:read"]).await;
    let path = format!("/api/admin/keys/{id}");
    for (change, field) in [
        (json!({ "rate_limit": { "requests": 0 } }), "rate_limit"),
        (json!({ "rate_limit": { "requests": 5, "window_seconds": 0 } }), "rate_limit"),
        (json!({ "rate_limit": { "window_seconds": 60 } }), "rate_limit"),
        (json!({ "credits": { "remaining": -1 } }), "credits"),
        (json!({ "credits": {} }), "credits"),
        (json!({ "credits": { "refill": { "amount": 5, "interval_seconds": 0 } } }), "credits"),
        (json!({}), "name"),
    ] {
        let (status, body) = server
            .bearer(&server.admin_token, "PATCH", &path, Some(json!({ "data": change })))
            .await;
        assert_eq!(status, 422, "{change}: {body}");
        assert_eq!(body["error"]["code"], 31);
        assert_eq!(body["error"]["detail"]["field"], field, "{change}: {body}");
    }
    let (status, body) = server
        .bearer(
            &server.admin_token,
            "PATCH",
            &path,
            Some(json!({ "data": { "rate_limit": "fast" } })),
        )
        .await;
    assert!((400..500).contains(&status), "{body}");
    assert!(body["error"]["code"].is_number(), "{body}");
    server.stop().await;
}
