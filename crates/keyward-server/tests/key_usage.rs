//! Keys' usage over a real server: every request a key makes is counted once, accepted or
//! refused by code, on the route it came by (the API, a gateway route), in its minute, hour and
//! day; `GET /api/admin/keys/{id}/usage` and `GET /api/admin/usage` answer the counts, exactly,
//! on SQLite and PostgreSQL; bad windows are refused with code 34; another domain's key is not
//! found; minute rows go after their retention and hour rows stay.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Scheme, TestServer};
use keyward_server::auth::{CacheSettings, UsageRetention};
use keyward_server::gateway::{RouteConfig, Routes};
use keyward_testkit::clock::ManualClock;
use keyward_testkit::upstream::EchoUpstream;
use serde_json::{Value, json};

/// Settings whose usage is written every 50 ms, with a gateway route `/orders` that needs
/// `activities:write`.
fn settings(upstream: &EchoUpstream) -> keyward_server::Settings {
    let route = RouteConfig {
        prefix: "/orders".into(),
        upstream: upstream.url(),
        permissions: vec!["activities:write".into()],
        ..RouteConfig::default()
    };
    keyward_server::Settings {
        routes: Routes::check(vec![route]).unwrap(),
        cache: CacheSettings {
            use_flush_interval: Duration::from_millis(50),
            ..Default::default()
        },
        ..common::settings()
    }
}

/// A new plain key of the admin's: `(id, key)`.
async fn plain_key(server: &TestServer, name: &str, permissions: &[&str]) -> (i64, String) {
    let body = json!({"data": {"name": name, "type": "api-key", "permissions": permissions}});
    let (status, created) =
        server.bearer(&server.admin_token, "POST", "/api/admin/keys", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let data = &created["data"];
    (data["id"].as_i64().unwrap(), data["key"].as_str().unwrap().to_owned())
}

/// A plain key of another domain's (`activities:read`): `(id, key)`.
async fn foreign_key(server: &TestServer) -> (i64, String) {
    let operator = keyward_store::Actor::operator("usage", "operator");
    let reseller = server.store.create_reseller(&operator, "elsewhere").await.unwrap();
    let other = server.store.create_domain(&operator, &reseller, "other").await.unwrap();
    let permissions = keyward_store::Permissions::parse(&["activities:read"]).unwrap();
    let new = keyward_store::NewApiKey {
        plain: true,
        ..keyward_store::NewApiKey::new(
            keyward_store::KeyOwner::Domain(other.id),
            "Theirs".into(),
            permissions,
        )
    };
    let (theirs, key) = server.store.create_api_key(&operator, &new).await.unwrap();
    (theirs.id, key.unwrap().0)
}

/// `GET path` with a plain key in `X-API-Key`: the status.
async fn get_as(server: &TestServer, key: &str, path: &str) -> u16 {
    let response = server.client.get(server.url(path)).header("x-api-key", key).send().await;
    response.unwrap().status().as_u16()
}

/// The admin's `GET path`, which must answer 200: its `data`.
async fn admin_get(server: &TestServer, path: &str) -> Value {
    let (status, answer) = server.bearer(&server.admin_token, "GET", path, None).await;
    assert_eq!(status, 200, "{path}: {answer}");
    answer["data"].clone()
}

/// The sum of `field` over `buckets`.
fn total(buckets: &Value, field: &str) -> u64 {
    buckets.as_array().unwrap().iter().map(|bucket| bucket[field].as_u64().unwrap()).sum()
}

/// Key `id`'s buckets once they hold `requests` in all (the nodes write in batches).
async fn usage_reaching(server: &TestServer, id: i64, query: &str, requests: u64) -> Value {
    let started = Instant::now();
    loop {
        let buckets = admin_get(server, &format!("/api/admin/keys/{id}/usage?{query}")).await;
        let counted = total(&buckets, "accepted") + total(&buckets, "refused");
        if counted >= requests {
            assert_eq!(counted, requests, "counted more than was sent: {buckets}");
            return buckets;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still {counted}: {buckets}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The non-empty buckets of `buckets`.
fn busy(buckets: &Value) -> Vec<&Value> {
    let busy = |bucket: &&Value| bucket["accepted"] != 0 || bucket["refused"] != 0;
    buckets.as_array().unwrap().iter().filter(busy).collect()
}

#[tokio::test]
async fn every_request_is_counted_once_by_outcome_route_and_bucket() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let upstream = EchoUpstream::start().await.unwrap();
        let Some(server) = TestServer::builder("key-usage-counts")
            .backend(backend)
            .settings(settings(&upstream))
            .start()
            .await
        else {
            continue;
        };
        counts_by_outcome_route_and_bucket(&server).await;
        server.stop().await;
    }
}

async fn counts_by_outcome_route_and_bucket(server: &TestServer) {
    let (signer, token, secret) =
        server.create_key(&server.admin_token, "Signer", &["activities:read"]).await;
    let (plain, key) = plain_key(server, "Plain", &["activities:read", "activities:write"]).await;
    let idle = plain_key(server, "Idle", &["activities:read"]).await.0;

    // The signer: 3 accepted, 2 bad signatures (12), 1 POST its permissions do not cover (20,
    // answered by the handler), 1 through the gateway route that needs activities:write (20).
    for _ in 0..3 {
        let (status, _) =
            server.signed(Scheme::HeaderHmac, (&token, &secret), "GET", "/api/me", None).await;
        assert_eq!(status, 200);
    }
    for _ in 0..2 {
        let wrong = (token.as_str(), "not-the-secret");
        let (status, answer) =
            server.signed(Scheme::HeaderHmac, wrong, "GET", "/api/me", None).await;
        assert_eq!((status, &answer["error"]["code"]), (401, &json!(12)), "{answer}");
    }
    let body = Some(json!({"data": {"name": "nope"}}));
    let (status, answer) =
        server.signed(Scheme::HeaderHmac, (&token, &secret), "POST", "/api/activities", body).await;
    assert_eq!((status, &answer["error"]["code"]), (403, &json!(20)), "{answer}");
    let (status, answer) =
        server.signed(Scheme::HeaderHmac, (&token, &secret), "GET", "/orders/1", None).await;
    assert_eq!((status, &answer["error"]["code"]), (403, &json!(20)), "{answer}");

    // The plain key: 2 on the API, 3 through the gateway.
    for path in ["/api/me", "/api/me", "/orders/1", "/orders/2", "/orders/3"] {
        assert_eq!(get_as(server, &key, path).await, 200, "{path}");
    }
    // Another domain's requests are its own; unknown keys belong to nobody: counted nowhere.
    let (_, theirs) = foreign_key(server).await;
    assert_eq!(get_as(server, &theirs, "/api/me").await, 200);
    assert_eq!(get_as(server, "kwapi_000000000000000000000000000000000000", "/api/me").await, 401);

    let minutes = usage_reaching(server, signer, "bucket=minute", 7).await;
    let counted = busy(&minutes);
    assert!(counted.len() <= 2, "the requests fall in one minute, or two: {minutes}");
    assert_eq!(minutes.as_array().unwrap().len(), 60, "a bucket for each of the last 60 minutes");
    assert_eq!((total(&minutes, "accepted"), total(&minutes, "refused")), (3, 4));
    let mut codes = std::collections::BTreeMap::<String, u64>::new();
    let mut routes = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for bucket in &counted {
        for (code, n) in bucket["by_code"].as_object().unwrap() {
            *codes.entry(code.clone()).or_default() += n.as_u64().unwrap();
        }
        for (route, n) in bucket["by_route"].as_object().unwrap() {
            let entry = routes.entry(route.clone()).or_default();
            entry.0 += n["accepted"].as_u64().unwrap();
            entry.1 += n["refused"].as_u64().unwrap();
        }
    }
    assert_eq!(codes, [("12".to_owned(), 2), ("20".to_owned(), 2)].into());
    assert_eq!(routes, [("api".to_owned(), (3, 3)), ("/orders".to_owned(), (0, 1))].into());

    // The same counts, rolled up into hours and days.
    for bucket in ["hour", "day"] {
        let rolled =
            admin_get(server, &format!("/api/admin/keys/{signer}/usage?bucket={bucket}")).await;
        assert_eq!((total(&rolled, "accepted"), total(&rolled, "refused")), (3, 4), "{rolled}");
    }
    // One route only.
    let orders =
        admin_get(server, &format!("/api/admin/keys/{signer}/usage?route=%2Forders")).await;
    assert_eq!((total(&orders, "accepted"), total(&orders, "refused")), (0, 1), "{orders}");

    let plain_usage = usage_reaching(server, plain, "bucket=hour", 5).await;
    assert_eq!(total(&plain_usage, "accepted"), 5, "{plain_usage}");
    let idle_usage = admin_get(server, &format!("/api/admin/keys/{idle}/usage")).await;
    assert_eq!(idle_usage.as_array().unwrap().len(), 24, "a bucket for each of the last 24 hours");
    assert!(busy(&idle_usage).is_empty(), "{idle_usage}");

    // The domain: totals, its series, and the busiest keys first (the idle key is not listed).
    let domain = admin_get(server, "/api/admin/usage?bucket=day&keys=5").await;
    assert_eq!((&domain["accepted"], &domain["refused"]), (&json!(8), &json!(4)), "{domain}");
    assert_eq!(domain["by_code"], json!({"12": 2, "20": 2}), "{domain}");
    assert_eq!(domain["by_route"]["/orders"], json!({"accepted": 3, "refused": 1}), "{domain}");
    assert_eq!(
        (total(&domain["series"], "accepted"), domain["series"].as_array().unwrap().len()),
        (8, 30)
    );
    let keys: Vec<(i64, &str, u64)> = domain["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| {
            (
                key["key_id"].as_i64().unwrap(),
                key["name"].as_str().unwrap(),
                key["refused"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys, [(signer, "Signer", 4), (plain, "Plain", 0)], "{domain}");
    let one = admin_get(server, "/api/admin/usage?keys=1").await;
    assert_eq!(one["keys"].as_array().unwrap().len(), 1, "{one}");
}

#[tokio::test]
async fn bad_windows_and_other_domains_keys_are_refused_clearly() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = TestServer::builder("key-usage-refusals")
        .settings(settings(&upstream))
        .start()
        .await
        .unwrap();
    let (id, _) = plain_key(&server, "Mine", &["activities:read"]).await;
    let minute_window = 60_000 * 2_001;
    for query in [
        "bucket=week".to_owned(),
        "since_ms=5000&until_ms=1000".to_owned(),
        "since_ms=abc".to_owned(),
        "sinceMs=5".to_owned(),
        format!("bucket=minute&since_ms=0&until_ms={minute_window}"),
        "since_ms=-9223372036854775808".to_owned(),
    ] {
        for path in
            [format!("/api/admin/keys/{id}/usage?{query}"), format!("/api/admin/usage?{query}")]
        {
            let (status, answer) = server.bearer(&server.admin_token, "GET", &path, None).await;
            assert_eq!((status, &answer["error"]["code"]), (400, &json!(34)), "{path}: {answer}");
        }
    }
    let (status, answer) =
        server.bearer(&server.admin_token, "GET", "/api/admin/usage?keys=101", None).await;
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(34)), "{answer}");

    // Another domain's key is not found from here; a user without keys:manage is refused.
    let (other, theirs) = foreign_key(&server).await;
    assert_eq!(get_as(&server, &theirs, "/api/me").await, 200);
    let (status, answer) = server
        .bearer(&server.admin_token, "GET", &format!("/api/admin/keys/{other}/usage"), None)
        .await;
    assert_eq!((status, &answer["error"]["code"]), (404, &json!(40)), "{answer}");
    let (_, reader) = server.user("reader", &["activities:read"]).await;
    for path in [format!("/api/admin/keys/{id}/usage"), "/api/admin/usage".to_owned()] {
        let (status, answer) = server.bearer(&reader, "GET", &path, None).await;
        assert_eq!((status, &answer["error"]["code"]), (403, &json!(20)), "{path}: {answer}");
    }
    server.stop().await;
}

#[tokio::test]
async fn minute_rows_go_after_their_retention_and_hour_rows_stay() {
    let upstream = EchoUpstream::start().await.unwrap();
    let clock = ManualClock::now();
    let mut settings = settings(&upstream);
    settings.cache.usage_retention = UsageRetention {
        minutes: Duration::from_secs(2 * 86_400),
        hours: Duration::from_secs(10 * 86_400),
    };
    let server = TestServer::builder("key-usage-retention")
        .settings(settings)
        .clock(&clock)
        .start()
        .await
        .unwrap();
    let (id, key) = plain_key(&server, "Kept", &["activities:read"]).await;
    let then = clock.ms();
    assert_eq!(get_as(&server, &key, "/api/me").await, 200);
    let window =
        |bucket: &str| format!("bucket={bucket}&since_ms={}&until_ms={}", then - 1, then + 1);
    usage_reaching(&server, id, &window("minute"), 1).await;

    // Three days on, the next prune takes the minute rows; the hour's and the day's stay.
    clock.advance(3 * 86_400_000);
    let started = Instant::now();
    loop {
        let minutes =
            admin_get(&server, &format!("/api/admin/keys/{id}/usage?{}", window("minute"))).await;
        if total(&minutes, "accepted") == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never pruned: {minutes}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for bucket in ["hour", "day"] {
        let kept =
            admin_get(&server, &format!("/api/admin/keys/{id}/usage?{}", window(bucket))).await;
        assert_eq!(total(&kept, "accepted"), 1, "{bucket}: {kept}");
    }
    server.stop().await;
}
