//! A key's last use and usage counts, as `keyward serve` records them: noted in memory, written
//! in batches within seconds, and written on a graceful stop, so none is lost; two nodes on one
//! PostgreSQL database count one key's requests and the counts add up exactly (skipped without
//! PostgreSQL, required in CI).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Served, serve, terminate};
use http::Method;
use keyward_client::{ApiKey, Auth, Client};
use keyward_sig::Scheme;
use keyward_testkit::env::PostgresDatabase;
use serde_json::{Value, json};

const PASSWORD: &str = "usage-admin-password";

async fn sign_in_admin(url: &str) -> Client {
    Client::new(url, Auth::Bearer(Client::login(url, "admin", PASSWORD).await.unwrap())).unwrap()
}

async fn last_used(admin: &Client, id: i64) -> Option<i64> {
    let answer = admin.send(Method::GET, &format!("/api/admin/keys/{id}"), None).await.unwrap();
    answer.json().unwrap()["data"]["last_used_at_ms"].as_i64()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_last_use_is_written_within_seconds_and_on_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("KEYWARD_ADMIN_PASSWORD", PASSWORD)];
    let served = serve(dir.path(), &env);
    let url = format!("http://{}", served.address);
    let admin = sign_in_admin(&url).await;
    let body = json!({"data": {"name": "Used", "permissions": ["activities:read"]}});
    let created = admin
        .send(Method::POST, "/api/admin/keys", Some(serde_json::to_vec(&body).unwrap()))
        .await
        .unwrap();
    let data: Value = created.json().unwrap()["data"].clone();
    let id = data["id"].as_i64().unwrap();
    let key = ApiKey::new(data["token"].as_str().unwrap(), data["secret"].as_str().unwrap());
    let signed = Client::new(&url, Auth::Signed { key, scheme: Scheme::HeaderHmac }).unwrap();
    assert_eq!(last_used(&admin, id).await, None);

    // Written by the node's next batch, within seconds, without a write per request.
    let before = now_ms();
    assert_eq!(signed.send(Method::GET, "/api/me", None).await.unwrap().status, 200);
    let start = Instant::now();
    let first = loop {
        if let Some(at) = last_used(&admin, id).await {
            break at;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "the use was never written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(first >= before - 1000, "{first} < {before}");

    // A use right before a graceful stop is written by the stop.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = now_ms();
    assert_eq!(signed.send(Method::GET, "/api/me", None).await.unwrap().status, 200);
    terminate(served);
    let served = serve(dir.path(), &env);
    let url = format!("http://{}", served.address);
    let recorded = last_used(&sign_in_admin(&url).await, id).await.unwrap();
    assert!(recorded >= before, "the last use before the stop was lost: {recorded} < {before}");
    terminate(served);
}

const MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// `requests` requests with the plain `key` to `url`, eight at a time: `GET /api/me`
/// (accepted) or a `POST /api/activities` the key may not make (refused, code 20).
async fn send_many(url: &str, key: &str, requests: usize, accepted: bool) {
    let mut sending = tokio::task::JoinSet::new();
    for lane in 0..8 {
        let client = Client::new(url, Auth::ApiKey(key.to_owned())).unwrap();
        let share = requests / 8 + usize::from(lane < requests % 8);
        sending.spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..share {
                let sent = if accepted {
                    client.send(Method::GET, "/api/me", None).await
                } else {
                    let body = serde_json::to_vec(&json!({"data": {"name": "x"}})).unwrap();
                    client.send(Method::POST, "/api/activities", Some(body)).await
                };
                statuses.push(sent.unwrap().status.as_u16());
            }
            statuses
        });
    }
    let expected = if accepted { 200 } else { 403 };
    while let Some(statuses) = sending.join_next().await {
        let statuses = statuses.unwrap();
        assert!(statuses.iter().all(|status| *status == expected), "{statuses:?}");
    }
}

/// Key `id`'s totals over the last hour, by the minute: `(accepted, refused, by_code)`.
async fn totals(admin: &Client, id: i64) -> (u64, u64, Value) {
    let path = format!("/api/admin/keys/{id}/usage?bucket=minute");
    let answer = admin.send(Method::GET, &path, None).await.unwrap();
    let buckets = answer.json().unwrap()["data"].as_array().unwrap().clone();
    let mut codes = serde_json::Map::new();
    let (mut accepted, mut refused) = (0, 0);
    for bucket in &buckets {
        accepted += bucket["accepted"].as_u64().unwrap();
        refused += bucket["refused"].as_u64().unwrap();
        for (code, n) in bucket["by_code"].as_object().unwrap() {
            let sum = codes.get(code).and_then(Value::as_u64).unwrap_or(0) + n.as_u64().unwrap();
            codes.insert(code.clone(), json!(sum));
        }
    }
    (accepted, refused, Value::Object(codes))
}

fn node(database_url: &str, dir: &tempfile::TempDir) -> Served {
    let env = [
        ("KEYWARD_DATABASE_URL", database_url),
        ("KEYWARD_MASTER_KEY", MASTER_KEY),
        ("KEYWARD_ADMIN_PASSWORD", PASSWORD),
    ];
    serve(dir.path(), &env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_counts_add_up_exactly_and_a_graceful_stop_loses_none() {
    let Some(db) = PostgresDatabase::create("usage-two-nodes").await else { return };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (a, b) = (node(&db.url, &dirs[0]), node(&db.url, &dirs[1]));
    let (url_a, url_b) = (format!("http://{}", a.address), format!("http://{}", b.address));
    let admin = sign_in_admin(&url_a).await;
    let body =
        json!({"data": {"name": "Shared", "type": "api-key", "permissions": ["activities:read"]}});
    let created = admin
        .send(Method::POST, "/api/admin/keys", Some(serde_json::to_vec(&body).unwrap()))
        .await
        .unwrap();
    let data: Value = created.json().unwrap()["data"].clone();
    let (id, key) = (data["id"].as_i64().unwrap(), data["key"].as_str().unwrap().to_owned());

    // Both nodes at once: 150 accepted and 20 refused in all.
    tokio::join!(
        send_many(&url_a, &key, 100, true),
        send_many(&url_b, &key, 50, true),
        send_many(&url_a, &key, 5, false),
        send_many(&url_b, &key, 15, false),
    );
    let start = Instant::now();
    let counted = loop {
        let counted = totals(&admin, id).await;
        if counted.0 + counted.1 >= 170 {
            break counted;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "still {counted:?} of 170");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(counted, (150, 20, json!({"20": 20})), "the two nodes' counts add up exactly");

    // Requests to a node stopped at once are written by its graceful stop.
    send_many(&url_b, &key, 7, true).await;
    terminate(b);
    assert_eq!(totals(&admin, id).await, (157, 20, json!({"20": 20})), "none lost on the stop");
    terminate(a);
    db.drop_database().await;
}
