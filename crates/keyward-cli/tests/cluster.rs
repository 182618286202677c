//! `keyward serve` processes on one PostgreSQL database (and one Redis), as a load balancer
//! would see them:
//!
//! - started together; a credential changed through one node is refused by the others without
//!   waiting for a cache to expire (a key revoked, a key's token regenerated, a key's
//!   permission taken away, the user at a key's root disabled and enabled again, an access
//!   token logged out). The delay until both
//!   other nodes refuse is printed (p50, p99, max over 100 changes); it is measured, not
//!   asserted, beyond a ceiling of 10 s that only a missed change would reach;
//! - a signature accepted on one node is refused on the others, through Redis; Redis stopped,
//!   unsafe methods get 503 under fail-closed and pass under fail-open; Redis back, every node
//!   shares again by itself;
//! - a key's rate limit of `N` requests, driven through three nodes at once, lets exactly `N`
//!   through (the largest excess over the rounds is printed, and must be 0); a user's rate
//!   limit with Redis stopped: unsafe methods get 503 under fail-closed, pass under fail-open,
//!   and the counts are shared again when Redis is back;
//! - PostgreSQL (a private server of the test's own) stopped and started again under load:
//!   known keys keep verifying on every node from memory, writes answer 503 (code 51) in the
//!   documented shape meanwhile, every write that was answered 201 is there afterwards with
//!   its audit record, and nothing more (counted), and a change made after the restart reaches the
//!   other node (its change feed listened again).
//!
//! Skipped without PostgreSQL or `redis-server`, required in CI.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Served, serve, terminate};
use http::Method;
use keyward_client::{ApiKey, Auth, Client};
use keyward_sig::Scheme;
use keyward_testkit::env::{PostgresDatabase, PrivatePostgres};
use serde_json::{Value, json};

const MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
const PASSWORD: &str = "cluster-admin-password";
const CHANGES: usize = 100;

/// Starts one node per directory at once on `database_url`, each with `extra` settings.
fn nodes(database_url: &str, dirs: &[tempfile::TempDir], extra: &[&[(&str, &str)]]) -> Vec<Served> {
    let base = [
        ("KEYWARD_DATABASE_URL", database_url),
        ("KEYWARD_MASTER_KEY", MASTER_KEY),
        ("KEYWARD_ADMIN_PASSWORD", PASSWORD),
    ];
    std::thread::scope(|scope| {
        let starting: Vec<_> = dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| {
                let env: Vec<(&str, &str)> =
                    base.iter().chain(extra.get(i).copied().unwrap_or_default()).copied().collect();
                scope.spawn(move || serve(dir.path(), &env))
            })
            .collect();
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

/// Whether `GET path` by `probe` is accepted by the node it points at.
async fn accepted(probe: &Client, path: &str) -> bool {
    let response = probe.send(Method::GET, path, None).await.unwrap();
    match response.status.as_u16() {
        200 => true,
        401 | 403 => false,
        other => panic!("GET {path}: {other} {:?}", response.json()),
    }
}

/// Waits until every probe's `GET /api/me` gives `expected`; the time it took for the slowest.
async fn until_all(probes: &[Client], expected: bool) -> Duration {
    until_all_at(probes, "/api/me", expected).await
}

/// Waits until every probe's `GET path` gives `expected`; the time it took for the slowest.
async fn until_all_at(probes: &[Client], path: &str, expected: bool) -> Duration {
    let start = Instant::now();
    for probe in probes {
        while accepted(probe, path).await != expected {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{}: still {} after 10 s",
                probe.url(path).unwrap(),
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
    let nodes = nodes(&db.url, &dirs, &[]);
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
        let delay = match change % 5 {
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
            3 => {
                // A permission taken away on one node: the others refuse what needs it.
                let (id, key) = new_key(&admin, &format!("Narrowed {change}")).await;
                let probes: Vec<Client> = others.iter().map(|url| signed(url, &key)).collect();
                until_all_at(&probes, "/api/activities", true).await;
                let none = json!({"data": {"permissions": []}});
                call(&admin, Method::PATCH, &format!("/api/admin/keys/{id}"), Some(none)).await;
                until_all_at(&probes, "/api/activities", false).await
            }
            _ => {
                let (_, key) = new_key(&admin, &format!("Logged out {change}")).await;
                let token = Client::login(a, &key.token, key.secret().unwrap()).await.unwrap();
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
        "a change seen by both other nodes, over {CHANGES} changes: p50 {:?}, p99 {:?}, max {:?}",
        at(0.50),
        at(0.99),
        delays[delays.len() - 1]
    );
    for node in nodes {
        terminate(node);
    }
    db.drop_database().await;
}

/// A `redis-server` of this test's own, on a free port, keeping nothing on disk.
struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    fn start(port: u16) -> Option<Redis> {
        let port_text = port.to_string();
        let spawned = std::process::Command::new("redis-server")
            .args(["--port", &port_text, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn();
        let Ok(child) = spawned else {
            return keyward_testkit::env::missing("redis-server", "apt-get install redis-server");
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Redis { child, port })
    }

    fn stop(mut self) -> u16 {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.port
    }
}

/// Four nodes on `database_url` sharing `redis`: A, B and C fail closed (the default), D
/// fails open.
fn redis_nodes(database_url: &str, redis: &Redis, dirs: &[tempfile::TempDir]) -> Vec<Served> {
    let redis_url = format!("redis://127.0.0.1:{}/0", redis.port);
    let shared: &[(&str, &str)] = &[("KEYWARD_REDIS_URL", &redis_url)];
    let open: &[(&str, &str)] =
        &[("KEYWARD_REDIS_URL", &redis_url), ("KEYWARD_REDIS_FAILURE", "fail-open")];
    nodes(database_url, dirs, &[shared, shared, shared, open])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A raw request with a header-hmac signature made now: `(method, target, headers, body)`.
fn signed_request(key: &ApiKey, method: &str, target: &str, body: &str) -> String {
    let material = keyward_sig::KeyMaterial::new(
        keyward_sig::KeyKind::Domain,
        key.secret().unwrap().as_bytes(),
    );
    let signed = keyward_sig::header_hmac::sign(
        &key.token,
        body.as_bytes(),
        keyward_client::now_ms(),
        &material,
    )
    .unwrap();
    let mut headers = String::new();
    for (name, value) in signed.pairs() {
        headers.push_str(&format!("{name}: {value}\r\n"));
    }
    format!(
        "{method} {target} HTTP/1.1\r\nHOST\r\n{headers}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Sends `request` (made by [`signed_request`]) to `address`: the status and error code.
fn send_to(address: &str, request: &str) -> (u16, Option<i64>) {
    let (status, body) =
        common::http(address, &request.replace("HOST", &format!("Host: {address}")));
    (status, body["error"]["code"].as_i64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_used_on_one_node_is_refused_on_the_others_through_redis() {
    let Some(db) = PostgresDatabase::create("cluster_replay").await else { return };
    let Some(redis) = Redis::start(free_port()) else { return };
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = redis_nodes(&db.url, &redis, &dirs);
    for node in &nodes {
        assert!(
            node.printed.iter().any(|l| l.contains("shared through Redis")),
            "{:?}",
            node.printed
        );
    }
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| nodes[i].address.clone());
    let url = format!("http://{a}");
    let admin =
        Client::new(&url, Auth::Bearer(Client::login(&url, "admin", PASSWORD).await.unwrap()))
            .unwrap();
    let body =
        json!({"data": {"name": "Shared", "permissions": ["activities:read", "activities:write"]}});
    let created = call(&admin, Method::POST, "/api/admin/keys", Some(body)).await;
    let key = ApiKey::new(
        created["data"]["token"].as_str().unwrap(),
        created["data"]["secret"].as_str().unwrap(),
    );

    // A signed POST accepted on A is a replay on B and C.
    let post = signed_request(&key, "POST", "/api/activities", r#"{"data":{"name":"once"}}"#);
    assert_eq!(send_to(&a, &post), (201, None));
    assert_eq!(send_to(&b, &post), (401, Some(15)));
    assert_eq!(send_to(&c, &post), (401, Some(15)));

    // A GET's signature serves the same GET on any node, and no other request on any node.
    let get = signed_request(&key, "GET", "/api/activities", "");
    assert_eq!(send_to(&a, &get).0, 200);
    assert_eq!(send_to(&c, &get).0, 200);
    let elsewhere = get.replacen("GET /api/activities", "GET /api/me", 1);
    assert_eq!(send_to(&b, &elsewhere), (401, Some(24)));

    // Redis stops: unsafe methods get 503 where nodes fail closed, pass where they fail open;
    // safe ones are decided by each node's own memory.
    let port = redis.stop();
    let post = signed_request(&key, "POST", "/api/activities", r#"{"data":{"name":"down"}}"#);
    assert_eq!(send_to(&b, &post), (503, Some(51)));
    assert_eq!(send_to(&d, &post), (201, None));
    assert_eq!(send_to(&b, &signed_request(&key, "GET", "/api/me", "")).0, 200);

    // Redis comes back: the nodes share again by themselves.
    let redis = Redis::start(port).unwrap();
    let started = Instant::now();
    loop {
        let post = signed_request(&key, "POST", "/api/activities", r#"{"data":{"name":"back"}}"#);
        match send_to(&b, &post) {
            (201, None) => {
                // C reconnects on its own first request, as B just did.
                let mut seen_on_c = send_to(&c, &post);
                while seen_on_c == (503, Some(51)) {
                    assert!(started.elapsed() < Duration::from_secs(10), "C never recovered");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    seen_on_c = send_to(&c, &post);
                }
                assert_eq!(seen_on_c, (401, Some(15)), "shared again");
                break;
            }
            (503, Some(51)) => {
                assert!(started.elapsed() < Duration::from_secs(10), "never recovered");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("{other:?}"),
        }
    }
    redis.stop();
    for node in nodes {
        terminate(node);
    }
    db.drop_database().await;
}

/// Requests per round through each of three nodes, against a key's limit of [`LIMIT`].
const PER_NODE: usize = 40;
const LIMIT: usize = 25;
const ROUNDS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_of_n_lets_exactly_n_through_three_nodes() {
    let Some(db) = PostgresDatabase::create("cluster_rate").await else { return };
    let Some(redis) = Redis::start(free_port()) else { return };
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = redis_nodes(&db.url, &redis, &dirs);
    let urls: Vec<String> = nodes.iter().map(|node| format!("http://{}", node.address)).collect();
    let admin = Client::new(
        &urls[0],
        Auth::Bearer(Client::login(&urls[0], "admin", PASSWORD).await.unwrap()),
    )
    .unwrap();

    // Each round, a new key limited to LIMIT requests an hour gets PER_NODE requests through
    // each of A, B and C at once.
    let mut excesses = Vec::new();
    for round in 0..ROUNDS {
        let body = json!({"data": {
            "name": format!("Limited {round}"),
            "permissions": ["activities:read"],
            "rate_limit": {"requests": LIMIT, "window_seconds": 3600},
        }});
        let created = call(&admin, Method::POST, "/api/admin/keys", Some(body)).await;
        let data = &created["data"];
        let key = ApiKey::new(data["token"].as_str().unwrap(), data["secret"].as_str().unwrap());
        let mut requests = tokio::task::JoinSet::new();
        for url in &urls[..3] {
            for _ in 0..PER_NODE {
                let client = signed(url, &key);
                requests.spawn(async move {
                    let response = client.send(Method::GET, "/api/me", None).await.unwrap();
                    (response.status.as_u16(), response.json())
                });
            }
        }
        let (mut accepted, mut limited) = (0, 0);
        while let Some(answer) = requests.join_next().await {
            match answer.unwrap() {
                (200, _) => accepted += 1,
                (429, Some(body)) if body["error"]["code"] == 27 => limited += 1,
                other => panic!("unexpected answer {other:?}"),
            }
        }
        assert_eq!(accepted + limited, 3 * PER_NODE);
        excesses.push(accepted as i64 - LIMIT as i64);
    }
    let worst = excesses.iter().copied().max().unwrap();
    println!(
        "rate limit of {LIMIT} through 3 nodes, {} requests a round, {ROUNDS} rounds: \
         accepted minus limit per round {excesses:?}, largest excess {worst}",
        3 * PER_NODE
    );
    assert!(excesses.iter().all(|&excess| excess == 0), "{excesses:?}");

    // A user limited to 1000 requests an hour; Redis stops.
    let user = json!({"data": {
        "username": "limited", "password": "limited-password-1",
        "permissions": ["activities:read", "activities:write"],
        "rate_limit": {"requests": 1000, "window_seconds": 3600},
    }});
    call(&admin, Method::POST, "/api/admin/users", Some(user)).await;
    let token = Client::login(&urls[0], "limited", "limited-password-1").await.unwrap();
    let as_user = |url: &str| Client::new(url, Auth::Bearer(token.clone())).unwrap();
    let post = |client: Client| async move {
        let body = serde_json::to_vec(&json!({"data": {"name": "limited"}})).unwrap();
        let response = client.send(Method::POST, "/api/activities", Some(body)).await.unwrap();
        let code = response.json().and_then(|body| body["error"]["code"].as_i64());
        (response.status.as_u16(), code)
    };
    assert_eq!(post(as_user(&urls[1])).await, (201, None));
    let port = redis.stop();
    assert_eq!(post(as_user(&urls[1])).await, (503, Some(51)), "fail-closed");
    assert_eq!(post(as_user(&urls[3])).await, (201, None), "fail-open");
    let get = as_user(&urls[1]).send(Method::GET, "/api/activities", None).await.unwrap();
    assert_eq!(get.status.as_u16(), 200, "safe methods counted by the node itself");

    // Redis back: counted in one place again, by itself.
    let redis = Redis::start(port).unwrap();
    let started = Instant::now();
    while post(as_user(&urls[1])).await != (201, None) {
        assert!(started.elapsed() < Duration::from_secs(10), "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    redis.stop();
    for node in nodes {
        terminate(node);
    }
    db.drop_database().await;
}

/// What the load saw while PostgreSQL went away and came back.
#[derive(Debug, Default)]
struct Load {
    reads: usize,
    created: usize,
    unavailable: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_load_loses_nothing() {
    let Some(postgres) = PrivatePostgres::start() else { return };
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = nodes(&postgres.url, &dirs, &[]);
    let urls: Vec<String> = nodes.iter().map(|node| format!("http://{}", node.address)).collect();
    let admin = Client::new(
        &urls[0],
        Auth::Bearer(Client::login(&urls[0], "admin", PASSWORD).await.unwrap()),
    )
    .unwrap();
    let (_, reader) = new_key(&admin, "Reader").await;
    let body = json!({"data": {"name": "Writer", "permissions": ["activities:write"]}});
    let created = call(&admin, Method::POST, "/api/admin/keys", Some(body)).await;
    let writer_id = created["data"]["id"].as_i64().unwrap();
    let writer = ApiKey::new(
        created["data"]["token"].as_str().unwrap(),
        created["data"]["secret"].as_str().unwrap(),
    );
    for url in &urls {
        assert!(accepted(&signed(url, &reader), "/api/me").await, "known on every node");
    }

    // Reads and writes through both nodes, until told to stop.
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let load = {
        let (running, urls) = (running.clone(), urls.clone());
        tokio::spawn(async move {
            let mut load = Load::default();
            let mut i = 0;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                let url = &urls[i % urls.len()];
                let read = signed(url, &reader).send(Method::GET, "/api/me", None).await.unwrap();
                assert_eq!(read.status.as_u16(), 200, "{url}: a known key, from memory");
                load.reads += 1;
                let body = serde_json::to_vec(&json!({"data": {"name": format!("load {i}")}}));
                let write = signed(url, &writer)
                    .send(Method::POST, "/api/activities", Some(body.unwrap()))
                    .await
                    .unwrap();
                match write.status.as_u16() {
                    201 => load.created += 1,
                    503 => {
                        let error = write.json().unwrap()["error"].clone();
                        assert_eq!(error["code"], 51, "{error}");
                        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
                        load.unavailable += 1;
                    }
                    other => panic!("{url}: a write answered {other}: {:?}", write.json()),
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            load
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Longer than a query waits for a connection (5 s): writes meanwhile get 503.
    postgres.stop();
    tokio::time::sleep(Duration::from_secs(7)).await;
    postgres.start_again();
    tokio::time::sleep(Duration::from_secs(3)).await;
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let load = load.await.unwrap();
    println!("PostgreSQL restarted under load: {load:?}");
    assert!(load.unavailable > 0, "the outage was seen: {load:?}");

    // Every write answered 201 is there, with its audit record; nothing else is.
    let total = |body: Value| body["paging"]["total"].as_i64().unwrap();
    let activities = total(call(&admin, Method::GET, "/api/activities", None).await);
    let path = format!("/api/admin/audit?keyId={writer_id}");
    let audited = total(call(&admin, Method::GET, &path, None).await);
    assert_eq!((activities, audited), (load.created as i64, load.created as i64), "{load:?}");

    // A change after the restart reaches the other node: its change feed listens again.
    let (id, key) = new_key(&admin, "After").await;
    let on_b = signed(&urls[1], &key);
    assert!(accepted(&on_b, "/api/me").await);
    call(&admin, Method::DELETE, &format!("/api/admin/keys/{id}"), None).await;
    let delay = until_all(&[on_b], false).await;
    println!("a revocation after the restart reached the other node in {delay:?}");
    for node in nodes {
        terminate(node);
    }
}
