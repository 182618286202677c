//! Plain API keys (the `api-key` scheme), over a real server: created with `"type":
//! "api-key"`, accepted as `Authorization: Bearer` and in `X-API-Key` on the API and the
//! gateway (which removes them before the upstream), refused on the admin and provisioning
//! groups unless configured, after revocation and after a roll's overlap; never revealed, and
//! never stored or logged as they are.

#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use keyward_server::gateway::{RouteConfig, Routes};
use keyward_testkit::clock::ManualClock;
use keyward_testkit::upstream::EchoUpstream;
use serde_json::{Value, json};

/// `GET path` with the plain `key` in `header` (`authorization` takes `Bearer`).
async fn get_with(server: &TestServer, header: &str, key: &str, path: &str) -> (u16, Value) {
    let value = if header == "authorization" { format!("Bearer {key}") } else { key.to_owned() };
    let response = server.client.get(server.url(path)).header(header, value).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A new plain key of the admin's: `(id, key)`.
async fn plain_key(server: &TestServer, permissions: &[&str]) -> (i64, String) {
    let body = json!({"data": {"name": "Plain", "type": "api-key", "permissions": permissions}});
    let (status, created) =
        server.bearer(&server.admin_token, "POST", "/api/admin/keys", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let data = &created["data"];
    assert_eq!((&data["type"], &data["algorithm"]), (&json!("api-key"), &json!("api-key")));
    assert!(data.get("secret").is_none(), "a plain key has no secret: {data}");
    let key = data["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("kwapi_") && key.len() == 42, "{key}");
    (data["id"].as_i64().unwrap(), key)
}

#[tokio::test]
async fn a_plain_key_is_accepted_both_ways_and_acts_with_its_permissions() {
    TestServer::on_each_backend("plain-keys", |server| async move {
        let (id, key) = plain_key(&server, &["activities:read"]).await;
        for header in ["authorization", "x-api-key", "X-Api-Key"] {
            let (status, body) = get_with(&server, header, &key, "/api/activities").await;
            assert_eq!(status, 200, "{header}: {body}");
        }
        let (_, me) = get_with(&server, "x-api-key", &key, "/api/me").await;
        assert_eq!(me["data"]["scheme"], "api-key", "{me}");
        assert_eq!(
            me["data"]["principal"],
            json!({"type": "api_key", "id": id, "name": "Plain", "kind": "domain"})
        );

        // What it does not hold is refused as for every key.
        let response = server
            .client
            .post(server.url("/api/activities"))
            .header("x-api-key", &key)
            .json(&json!({"data": {"name": "x"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);

        // A mistyped key is refused before any lookup; a made-up one with a good checksum is
        // unknown; neither answer repeats the key.
        let mut typo = key.clone().into_bytes();
        typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        let made_up = keyward_sig::token::CredentialKind::PlainApiKey.mint(&[1; 30]);
        for (presented, code) in [(&typo, 11), (&made_up, 13)] {
            let (status, body) = get_with(&server, "x-api-key", presented, "/api/activities").await;
            assert_eq!((status, &body["error"]["code"]), (401, &json!(code)), "{body}");
            assert!(!body.to_string().contains(presented.as_str()), "{body}");
        }
        // With an access token at once: which one was meant is not guessed.
        let both = server
            .client
            .get(server.url("/api/activities"))
            .header("x-api-key", &key)
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(both.status(), 401);

        // Off the admin and provisioning groups by default: a leaked plain key cannot manage.
        for (header, path) in
            [("x-api-key", "/api/admin/keys"), ("authorization", "/probio/domain/keys")]
        {
            let (status, body) = get_with(&server, header, &key, path).await;
            assert_eq!((status, &body["error"]["code"]), (403, &json!(18)), "{path}: {body}");
            assert_eq!(body["error"]["detail"]["scheme"], "api-key", "{body}");
        }

        // Never revealed, and no login: there is no secret.
        let reveal = format!("/api/admin/keys/{id}/reveal");
        let (status, body) = server.bearer(&server.admin_token, "POST", &reveal, None).await;
        assert_eq!((status, &body["error"]["code"]), (409, &json!(41)), "{body}");
        let listed = server
            .bearer(&server.admin_token, "GET", &format!("/api/admin/keys/{id}"), None)
            .await
            .1;
        assert!(
            listed["data"].get("key").is_none() && listed["data"].get("secret").is_none(),
            "{listed}"
        );

        // Revoked: refused on the next request.
        let path = format!("/api/admin/keys/{id}");
        assert_eq!(server.bearer(&server.admin_token, "DELETE", &path, None).await.0, 200);
        let (status, body) = get_with(&server, "authorization", &key, "/api/activities").await;
        assert_eq!(status, 401, "{body}");
        server
    })
    .await;
}

#[tokio::test]
async fn a_rolled_plain_key_keeps_working_for_the_overlap_and_not_after() {
    let clock = ManualClock::now();
    let server = TestServer::builder("plain-roll").clock(&clock).start().await.unwrap();
    let (id, old) = plain_key(&server, &["activities:read"]).await;
    assert_eq!(get_with(&server, "x-api-key", &old, "/api/activities").await.0, 200);
    let roll = format!("/api/admin/keys/{id}/rotate-secret");
    let body = json!({"data": {"overlap_seconds": 60}});
    let (status, rolled) = server.bearer(&server.admin_token, "POST", &roll, Some(body)).await;
    assert_eq!(status, 200, "{rolled}");
    let new = rolled["data"]["key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rolled["data"].get("secret").is_none(), "{rolled}");
    for key in [&old, &new] {
        assert_eq!(get_with(&server, "x-api-key", key, "/api/activities").await.0, 200);
    }
    clock.advance(61_000);
    let (status, body) = get_with(&server, "x-api-key", &old, "/api/activities").await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!(13)), "{body}");
    assert_eq!(get_with(&server, "authorization", &new, "/api/activities").await.0, 200);

    // With no overlap, the value before is refused at once.
    let none = json!({"data": {"overlap_seconds": 0}});
    let newest = server.bearer(&server.admin_token, "POST", &roll, Some(none)).await.1;
    let newest = newest["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(get_with(&server, "x-api-key", &new, "/api/activities").await.0, 401);
    assert_eq!(get_with(&server, "x-api-key", &newest, "/api/activities").await.0, 200);

    // Neither value is in the database: only digests are.
    let path = server.database_url.trim_start_matches("sqlite://");
    let path = path.split('?').next().unwrap();
    server.store.close().await;
    let mut stored = std::fs::read(path).unwrap();
    for wal in ["-wal", "-shm"] {
        stored.extend(std::fs::read(format!("{path}{wal}")).unwrap_or_default());
    }
    for key in [&old, &new, &newest] {
        let found = stored.windows(key.len()).any(|window| window == key.as_bytes());
        assert!(!found, "a plain key is in the database file");
    }
}

#[tokio::test]
async fn the_gateway_takes_plain_keys_in_the_configured_header_and_removes_them() {
    let upstream = EchoUpstream::start().await.unwrap();
    let route = RouteConfig {
        prefix: "/orders".into(),
        upstream: upstream.url(),
        permissions: vec!["activities:read".into()],
        ..RouteConfig::default()
    };
    let verify = keyward_sig::VerifyOptions {
        api_key_header: keyward_sig::api_key::ApiKeyHeader::new("ApiKey").unwrap(),
        ..common::settings().verify
    };
    let settings = keyward_server::Settings {
        routes: Routes::check(vec![route]).unwrap(),
        verify,
        ..common::settings()
    };
    let server = TestServer::builder("plain-gateway").settings(settings).start().await.unwrap();
    let (id, key) = plain_key(&server, &["activities:read"]).await;
    for header in ["apikey", "authorization"] {
        let (status, echoed) = get_with(&server, header, &key, "/orders/7").await;
        assert_eq!(status, 200, "{header}: {echoed}");
        let headers = echoed["headers"].as_array().unwrap();
        let seen = |name: &str| headers.iter().find(|pair| pair[0] == name).map(|p| p[1].clone());
        assert_eq!(seen("x-keyward-scheme"), Some(json!("api-key")), "{echoed}");
        assert_eq!(seen("x-keyward-key-id"), Some(json!(id.to_string())), "{echoed}");
        assert!(!echoed.to_string().contains(&key), "the upstream never sees the key: {echoed}");
    }
    // The default header is no credential here: an application may use it for its own ends.
    let (status, body) = get_with(&server, "x-api-key", &key, "/orders/7").await;
    assert_eq!(status, 401, "{body}");
}

/// `POST /api/keys/verify` as `caller`, asking about `key` with `permissions`.
async fn verify(server: &TestServer, caller: &str, body: Value) -> (u16, Value) {
    server.bearer(caller, "POST", "/api/keys/verify", Some(json!({ "data": body }))).await
}

/// A new key of the admin's from `body` (its type, limits and policy): `(id, key)`.
async fn created(server: &TestServer, body: Value) -> (i64, String) {
    let (status, answer) = server
        .bearer(&server.admin_token, "POST", "/api/admin/keys", Some(json!({ "data": body })))
        .await;
    assert_eq!(status, 201, "{answer}");
    (
        answer["data"]["id"].as_i64().unwrap(),
        answer["data"]["key"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn the_verify_api_answers_each_outcome_and_counts_as_a_request_would() {
    let clock = ManualClock::now();
    let server = TestServer::builder("verify-api").clock(&clock).start().await.unwrap();
    let (_, verifier) = server.user("verifier", &["keys:verify"]).await;
    let (_, bystander) = server.user("bystander", &["activities:read"]).await;
    let (id, key) = plain_key(&server, &["activities:read"]).await;

    // Valid, with what the key may do; and through keyward-client.
    let (status, answer) =
        verify(&server, &verifier, json!({"key": key, "permissions": ["activities:read"]})).await;
    assert_eq!(status, 200, "{answer}");
    let data = &answer["data"];
    assert_eq!(data["valid"], true, "{answer}");
    assert_eq!((&data["key_id"], &data["application"]), (&json!(id), &json!("Plain")));
    assert_eq!(
        (&data["scheme"], &data["permissions"]),
        (&json!("api-key"), &json!(["activities:read"]))
    );
    let client =
        keyward_client::Client::new(&server.base, keyward_client::Auth::Bearer(verifier.clone()))
            .unwrap();
    let verified = client.verify_key(&key, &["activities:read"]).await.unwrap();
    assert!(verified.valid && verified.key_id == Some(id), "{verified:?}");

    // A permission missing, named.
    let (_, answer) =
        verify(&server, &verifier, json!({"key": key, "permissions": ["activities:write"]})).await;
    assert_eq!(
        (&answer["data"]["valid"], &answer["data"]["code"]),
        (&json!(false), &json!(20)),
        "{answer}"
    );
    assert_eq!(answer["data"]["missing"], json!(["activities:write"]));

    // Unknown, malformed, not a header value, revoked: the codes a request would get.
    let made_up = keyward_sig::token::CredentialKind::PlainApiKey.mint(&[2; 30]);
    for (value, code) in [(made_up.as_str(), 13), ("kwapi_short", 11), ("line\nbreak", 11)] {
        let (status, answer) = verify(&server, &verifier, json!({"key": value})).await;
        assert_eq!((status, &answer["data"]["code"]), (200, &json!(code)), "{value:?}: {answer}");
        assert_eq!(answer["data"]["valid"], false);
    }
    let (revoked, revoked_key) = plain_key(&server, &["activities:read"]).await;
    server.bearer(&server.admin_token, "DELETE", &format!("/api/admin/keys/{revoked}"), None).await;
    assert_eq!(verify(&server, &verifier, json!({"key": revoked_key})).await.1["data"]["code"], 13);

    // An access token too: a user's.
    let (_, answer) = verify(&server, &verifier, json!({"key": bystander})).await;
    assert_eq!(
        (&answer["data"]["valid"], &answer["data"]["scheme"]),
        (&json!(true), &json!("bearer")),
        "{answer}"
    );
    assert!(answer["data"]["user_id"].is_i64(), "{answer}");

    // Rate limits and credits count a verification as a request: two per minute, then code 27;
    // one credit, then code 28.
    let (_, limited) = created(&server, json!({"name": "Limited", "type": "api-key", "rate_limit": {"requests": 2, "window_seconds": 60}})).await;
    let answers: Vec<Value> = futures_util::future::join_all(
        (0..3).map(|_| verify(&server, &verifier, json!({"key": limited}))),
    )
    .await
    .into_iter()
    .map(|(_, a)| a)
    .collect();
    let codes: Vec<&Value> = answers.iter().map(|a| &a["data"]["code"]).collect();
    assert_eq!(codes.iter().filter(|c| c.is_null()).count(), 2, "{answers:?}");
    assert!(codes.contains(&&json!(27)), "{answers:?}");
    assert!(answers.iter().all(|a| a["data"]["rate_limit"]["limit"] == 2), "{answers:?}");
    let (_, metered) = created(
        &server,
        json!({"name": "Metered", "type": "api-key", "credits": {"remaining": 1}}),
    )
    .await;
    let first = verify(&server, &verifier, json!({"key": metered})).await.1;
    assert_eq!(
        (&first["data"]["valid"], &first["data"]["credits_remaining"]),
        (&json!(true), &json!(0)),
        "{first}"
    );
    assert_eq!(verify(&server, &verifier, json!({"key": metered})).await.1["data"]["code"], 28);

    // A key's policy: networks need the client's address; expiry.
    let soon = clock.ms() + 60_000;
    let (_, bound) = created(&server, json!({"name": "Bound", "type": "api-key", "allowed_networks": ["10.0.0.0/8"], "expires_at_ms": soon})).await;
    assert_eq!(verify(&server, &verifier, json!({"key": bound})).await.1["data"]["code"], 44);
    let inside =
        verify(&server, &verifier, json!({"key": bound, "client_address": "10.1.2.3"})).await.1;
    assert_eq!(
        (&inside["data"]["valid"], &inside["data"]["expires_at_ms"]),
        (&json!(true), &json!(soon)),
        "{inside}"
    );
    clock.advance(61_000);
    let late =
        verify(&server, &verifier, json!({"key": bound, "client_address": "10.1.2.3"})).await.1;
    assert_eq!(late["data"]["code"], 29, "{late}");

    // Another domain's key is unknown here, and nothing is counted against it.
    let operator = keyward_store::Actor::operator("verify", "operator");
    let reseller = server.store.create_reseller(&operator, "elsewhere").await.unwrap();
    let other = server.store.create_domain(&operator, &reseller, "other").await.unwrap();
    let credits = keyward_store::Credits { remaining: 1, refill: None };
    let new = keyward_store::NewApiKey {
        plain: true,
        limits: keyward_store::KeyLimits { rate_limit: None, credits: Some(credits) },
        ..keyward_store::NewApiKey::new(
            keyward_store::KeyOwner::Domain(other.id),
            "Theirs".into(),
            keyward_store::Permissions::default(),
        )
    };
    let (theirs, their_key) = server.store.create_api_key(&operator, &new).await.unwrap();
    let their_key = their_key.unwrap().0;
    for _ in 0..3 {
        assert_eq!(
            verify(&server, &verifier, json!({"key": their_key})).await.1["data"]["code"],
            13
        );
    }
    let owner = keyward_store::KeyOwner::Domain(other.id);
    let untouched = server.store.api_key(owner, theirs.id).await.unwrap();
    assert_eq!(
        untouched.credits.map(|c| c.remaining),
        Some(1),
        "another domain's credits were spent"
    );

    // Without keys:verify, the caller is refused; an unknown field too.
    let (status, answer) = verify(&server, &bystander, json!({"key": key})).await;
    assert_eq!((status, &answer["error"]["code"]), (403, &json!(20)), "{answer}");
    let (status, _) = verify(&server, &verifier, json!({"key": key, "permission": ["x"]})).await;
    assert_eq!(status, 422);
}
