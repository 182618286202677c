//! Three `keyward serve` processes on one PostgreSQL database, started together, as a load
//! balancer would see them. A credential changed through one node is refused by the other two
//! without waiting for a cache to expire: a key revoked, a key's token regenerated, the user at
//! a key's root disabled (and enabled again), an access token logged out. The delay until both
//! other nodes refuse is printed (p50, p99, max over 100 changes); it is measured, not
//! asserted, beyond a ceiling of 10 s that only a missed change would reach. Skipped without
//! PostgreSQL, required in CI.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Served, serve, terminate};
use http::Method;
use keyward_client::{ApiKey, Auth, Client};
use keyward_sig::Scheme;
use keyward_testkit::env::PostgresDatabase;
use serde_json::{Value, json};

const MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
const PASSWORD: &str = "cluster-admin-password";
const CHANGES: usize = 100;

/// Starts three nodes at once on `database_url`.
fn three_nodes(database_url: &str, dirs: &[tempfile::TempDir]) -> Vec<Served> {
    let env = [
        ("KEYWARD_DATABASE_URL", database_url),
        ("KEYWARD_MASTER_KEY", MASTER_KEY),
        ("KEYWARD_ADMIN_PASSWORD", PASSWORD),
    ];
    std::thread::scope(|scope| {
        let starting: Vec<_> =
            dirs.iter().map(|dir| scope.spawn(|| serve(dir.path(), &env))).collect();
        starting.into_iter().map(|node| node.join().unwrap()).collect()
    })
}

async fn call(client: &Client, method: Method, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| serde_json::to_vec(&b).unwrap());
    let response = client.send(method.clone(), path, body).await.unwrap();
    assert!(response.status.is_success(), "{method} {path}: {:?}", response.json());
    response.json().unwrap_or(Value::Null)
}

/// A new key of the admin's, signing with header-hmac.
async fn new_key(admin: &Client, name: &str) -> (i64, ApiKey) {
    let body = json!({"data": {"name": name, "permissions": ["activities:read"]}});
    let created = call(admin, Method::POST, "/api/admin/keys", Some(body)).await;
    let data = &created["data"];
    let key = ApiKey::new(data["token"].as_str().unwrap(), data["secret"].as_str().unwrap());
    (data["id"].as_i64().unwrap(), key)
}

fn signed(url: &str, key: &ApiKey) -> Client {
    Client::new(url, Auth::Signed { key: key.clone(), scheme: Scheme::HeaderHmac }).unwrap()
}

/// Whether `probe` is accepted by the node it points at.
async fn accepted(probe: &Client) -> bool {
    let response = probe.send(Method::GET, "/api/me", None).await.unwrap();
    match response.status.as_u16() {
        200 => true,
        401 | 403 => false,
        other => panic!("GET /api/me: {other} {:?}", response.json()),
    }
}

/// Waits until every probe gives `expected`; the time it took for the slowest.
async fn until_all(probes: &[Client], expected: bool) -> Duration {
    let start = Instant::now();
    for probe in probes {
        while accepted(probe).await != expected {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{}: still {} after 10 s",
                probe.url("/api/me").unwrap(),
                if expected { "refused" } else { "accepted" }
            );
        }
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_on_one_node_is_seen_by_the_others() {
    let Some(db) = PostgresDatabase::create("cluster").await else { return };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = three_nodes(&db.url, &dirs);
    let bootstraps = nodes
        .iter()
        .filter(|node| node.printed.iter().any(|l| l.contains("created user admin")))
        .count();
    assert_eq!(bootstraps, 1, "started together, one node creates the administrator");
    for node in &nodes {
        assert!(node.printed.iter().any(|l| l.contains("LISTEN/NOTIFY")), "{:?}", node.printed);
    }
    let urls: Vec<String> = nodes.iter().map(|node| format!("http://{}", node.address)).collect();
    let (a, others) = (&urls[0], &urls[1..]);
    let admin =
        Client::new(a, Auth::Bearer(Client::login(a, "admin", PASSWORD).await.unwrap())).unwrap();

    // A user whose key stands for everything rooted in a user (one password hash, once).
    let clerk = json!({"data": {"username": "clerk", "password": "clerk-password-1",
        "permissions": ["activities:read", "keys:manage"]}});
    let clerk_id = call(&admin, Method::POST, "/api/admin/users", Some(clerk)).await["data"]["id"]
        .as_i64()
        .unwrap();
    let clerk_token = Client::login(a, "clerk", "clerk-password-1").await.unwrap();
    let (_, rooted) = new_key(&Client::new(a, Auth::Bearer(clerk_token)).unwrap(), "Rooted").await;
    let rooted_probes: Vec<Client> = others.iter().map(|url| signed(url, &rooted)).collect();

    let mut delays = Vec::with_capacity(CHANGES);
    for change in 0..CHANGES {
        println!("change {change}");
        let delay = match change % 4 {
            0 => {
                let (id, key) = new_key(&admin, &format!("Revoked {change}")).await;
                let probes: Vec<Client> = others.iter().map(|url| signed(url, &key)).collect();
                until_all(&probes, true).await;
                call(&admin, Method::DELETE, &format!("/api/admin/keys/{id}"), None).await;
                until_all(&probes, false).await
            }
            1 => {
                let (id, key) = new_key(&admin, &format!("Regenerated {change}")).await;
                let probes: Vec<Client> = others.iter().map(|url| signed(url, &key)).collect();
                until_all(&probes, true).await;
                let path = format!("/api/admin/keys/{id}/regenerate-token");
                call(&admin, Method::POST, &path, None).await;
                until_all(&probes, false).await
            }
            2 => {
                // Enabled again first: the other nodes must see that too.
                let path = format!("/api/admin/users/{clerk_id}");
                let active = json!({"data": {"state": "active"}});
                call(&admin, Method::PATCH, &path, Some(active)).await;
                until_all(&rooted_probes, true).await;
                let disabled = json!({"data": {"state": "disabled"}});
                call(&admin, Method::PATCH, &path, Some(disabled)).await;
                until_all(&rooted_probes, false).await
            }
            _ => {
                let (_, key) = new_key(&admin, &format!("Logged out {change}")).await;
                let token = Client::login(a, &key.token, key.secret()).await.unwrap();
                let probes: Vec<Client> = others
                    .iter()
                    .map(|url| Client::new(url, Auth::Bearer(token.clone())).unwrap())
                    .collect();
                until_all(&probes, true).await;
                let own = Client::new(a, Auth::Bearer(token.clone())).unwrap();
                call(&own, Method::POST, "/api/logout", None).await;
                until_all(&probes, false).await
            }
        };
        delays.push(delay);
    }
    delays.sort();
    let at = |q: f64| delays[((delays.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    println!(
        "revocation seen by both other nodes, over {CHANGES} changes: p50 {:?}, p99 {:?}, max {:?}",
        at(0.50),
        at(0.99),
        delays[delays.len() - 1]
    );
    for node in nodes {
        terminate(node);
    }
    db.drop_database().await;
}
