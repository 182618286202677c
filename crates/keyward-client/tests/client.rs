//! keyward-client against a real keyward server on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use http::Method;
use keyward_client::{ApiKey, Auth, Client, Scheme, now_ms, sign_reqwest};
use keyward_sig::TokenFormat;
use keyward_store::{Actor, KeyOwner, MasterKey, NewApiKey, Permissions, Store};

/// A server whose clock is `offset_ms` ahead of ours, and a read-write key.
async fn server(offset_ms: i64) -> (String, ApiKey, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
    let store = Store::open(&url, MasterKey::from_bytes(&[3; 32])).await.unwrap();
    let admin = store.bootstrap(Some("correct horse battery")).await.unwrap().unwrap().admin;
    let actor = Actor::user("t", admin.domain_id, admin.id, "admin");
    let new = NewApiKey::new(
        KeyOwner::Domain(admin.domain_id),
        "client test".into(),
        Permissions::parse(&["activities:read", "activities:write"]).unwrap(),
    );
    let (key, secret) = store.create_api_key(&actor, &new).await.unwrap();
    let mut settings = keyward_server::Settings::default();
    settings.verify.token_format = TokenFormat::Keyward;
    let clock: keyward_store::Clock = Arc::new(move || now_ms() + offset_ms);
    let app = keyward_server::app_with_clock(store, settings, clock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let capacity = keyward_server::Capacity::default();
    tokio::spawn(async move {
        keyward_server::serve(listener, app, capacity, std::future::pending()).await.unwrap()
    });
    (base, ApiKey::new(key.token, secret.unwrap().0), dir)
}

#[tokio::test]
async fn every_signed_scheme_reaches_the_api() {
    let (base, key, _dir) = server(0).await;
    for scheme in [Scheme::QueryHmac, Scheme::HeaderHmac, Scheme::HttpSignature] {
        let client = Client::new(&base, Auth::Signed { key: key.clone(), scheme }).unwrap();
        let response = client.send(Method::GET, "/api/activities?page=1", None).await.unwrap();
        assert_eq!(response.status, 200, "{scheme}: {:?}", response.json());
        let body = br#"{"data":{"name":"from the client"}}"#.to_vec();
        let response = client.send(Method::POST, "/api/activities", Some(body)).await.unwrap();
        assert_eq!(response.status, 201, "{scheme}: {:?}", response.json());
        assert_eq!(client.clock_offset_ms(), 0, "no correction needed");
    }
}

#[tokio::test]
async fn a_server_clock_ten_minutes_ahead_is_learned_and_the_request_retried_once() {
    let (base, key, _dir) = server(600_000).await;
    for scheme in [Scheme::QueryHmac, Scheme::HeaderHmac, Scheme::HttpSignature] {
        let client = Client::new(&base, Auth::Signed { key: key.clone(), scheme }).unwrap();
        let response = client.send(Method::GET, "/api/activities", None).await.unwrap();
        assert_eq!(response.status, 200, "{scheme}: {:?}", response.json());
        let offset = client.clock_offset_ms();
        assert!((590_000..=610_000).contains(&offset), "{scheme}: learned {offset} ms");
        // Later requests are signed with the learned offset from the start.
        let response = client
            .send(Method::POST, "/api/activities", Some(br#"{"data":{"name":"x"}}"#.to_vec()))
            .await
            .unwrap();
        assert_eq!(response.status, 201);
    }
    // A wrong secret is not retried into success: the answer is the signature error.
    let client = Client::new(
        &base,
        Auth::Signed {
            key: ApiKey::new(key.token.clone(), "kwsec_wrong"),
            scheme: Scheme::HeaderHmac,
        },
    )
    .unwrap();
    let response = client.send(Method::GET, "/api/activities", None).await.unwrap();
    assert_eq!(response.error_code(), Some(12));
}

#[tokio::test]
async fn login_gives_a_bearer_token_and_reqwest_requests_can_be_signed_directly() {
    let (base, key, _dir) = server(0).await;
    let token = Client::login(&base, "admin", "correct horse battery").await.unwrap();
    let client = Client::new(&base, Auth::Bearer(token)).unwrap();
    let me = client.send(Method::GET, "/api/me", None).await.unwrap();
    assert_eq!(me.json().unwrap()["data"]["principal"]["name"], "admin");
    assert!(Client::login(&base, "admin", "wrong").await.is_err());
    // A key's token and secret log in too.
    assert!(Client::login(&base, &key.token, key.secret().unwrap()).await.is_ok());

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut request = http
        .post(format!("{base}/api/activities"))
        .header("content-type", "application/json")
        .body(r#"{"data":{"name":"raw"}}"#)
        .build()
        .unwrap();
    sign_reqwest(&mut request, Scheme::HttpSignature, &key, now_ms()).unwrap();
    assert!(request.headers().contains_key("signature-input"));
    let response = http.execute(request).await.unwrap();
    assert_eq!(response.status(), 201);
    assert!(!format!("{key:?}").contains(key.secret().unwrap()), "Debug hides the secret");
}

#[tokio::test]
async fn the_client_bounds_the_clock_offset_it_learns_from_an_unauthenticated_answer() {
    // A server two hours ahead: its answer could as well be forged to make us sign requests
    // dated two hours from now. The client does not follow it past its bound.
    let (base, key, _dir) = server(7_200_000).await;
    let client =
        Client::new(&base, Auth::Signed { key: key.clone(), scheme: Scheme::HeaderHmac }).unwrap();
    let response = client.send(Method::GET, "/api/activities", None).await.unwrap();
    assert_eq!(response.error_code(), Some(14), "the refusal is returned, not retried");
    assert_eq!(client.clock_offset_ms(), 0, "nothing learned past the bound");

    // A client told to trust larger offsets learns it.
    let client = Client::new(&base, Auth::Signed { key, scheme: Scheme::HeaderHmac })
        .unwrap()
        .with_max_clock_offset(3 * 3_600_000);
    let response = client.send(Method::GET, "/api/activities", None).await.unwrap();
    assert_eq!(response.status, 200, "{:?}", response.json());
    assert!((7_190_000..=7_210_000).contains(&client.clock_offset_ms()));
}

#[tokio::test]
async fn concurrent_requests_of_one_client_never_share_a_signature() {
    // header-hmac signs the key, the body and the timestamp only: two GETs to different paths
    // signed in one millisecond would carry one signature, and the second would be refused as
    // a reuse. The client signs each with its own timestamp.
    let (base, key, _dir) = server(0).await;
    for scheme in [Scheme::HeaderHmac, Scheme::QueryHmac] {
        let client =
            Arc::new(Client::new(&base, Auth::Signed { key: key.clone(), scheme }).unwrap());
        let sends = (0..40).map(|i| {
            let client = client.clone();
            let path = if i % 2 == 0 { "/api/activities" } else { "/api/activities?page=2" };
            tokio::spawn(async move { client.send(Method::GET, path, None).await.unwrap() })
        });
        for response in futures_util::future::join_all(sends).await {
            let response = response.unwrap();
            assert_eq!(response.status, 200, "{scheme}: {:?}", response.json());
        }
    }
    let client = Client::new(&base, Auth::Signed { key, scheme: Scheme::HeaderHmac }).unwrap();
    let stamps: Vec<i64> = (0..100).map(|_| client.timestamp()).collect();
    assert!(stamps.windows(2).all(|pair| pair[1] > pair[0]), "strictly increasing");
}
