//! A key's last use, as `keyward serve` records it: noted in memory, written in batches within
//! seconds, and written on a graceful stop, so none is lost.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{serve, terminate};
use http::Method;
use keyward_client::{ApiKey, Auth, Client};
use keyward_sig::Scheme;
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
