//! The API over a real server on 127.0.0.1, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

mod common;

use common::{SIGNED_SCHEMES, Scheme, TestServer, send, sign};
use serde_json::{Value, json};

const READ_WRITE: &[&str] = &["activities:read", "activities:write"];

fn assert_error_shape(body: &Value, code: u64) {
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[tokio::test]
async fn every_scheme_is_accepted_with_the_right_secret_and_refused_with_wrong_input() {
    TestServer::on_each_backend("schemes", |server| async move {
        let (_, token, secret) =
            server.create_key(&server.admin_token, "Reporting", READ_WRITE).await;
        for scheme in SIGNED_SCHEMES {
            let key = (token.as_str(), secret.as_str());
            let (status, body) =
                server.signed(scheme, key, "GET", "/api/activities?page=1", None).await;
            assert_eq!(status, 200, "{scheme:?}: {body}");
            let create = json!({ "data": { "name": format!("made by {scheme:?}") } });
            let (status, body) =
                server.signed(scheme, key, "POST", "/api/activities", Some(create)).await;
            assert_eq!(status, 201, "{scheme:?}: {body}");

            // A wrong secret: code 12 with what the server signed.
            let (status, body) = server
                .signed(scheme, (&token, "kwsec_wrong"), "GET", "/api/activities", None)
                .await;
            assert_eq!(status, 401, "{scheme:?}");
            assert_error_shape(&body, 12);
            assert_eq!(body["error"]["message"], "Invalid signature validation");
            assert!(
                body["detail"].is_null() && body["error"]["detail"]["signed"].is_string(),
                "{body}"
            );

            // An unknown key with a valid format: code 13.
            let unknown = keyward_sig::token::CredentialKind::ApiKeyToken.mint(&[1; 30]);
            let (status, body) =
                server.signed(scheme, (&unknown, &secret), "GET", "/api/activities", None).await;
            assert_eq!(status, 401, "{scheme:?}");
            assert_error_shape(&body, 13);

            // A mistyped token (bad checksum): refused as malformed, code 11.
            let mut typo = token.clone();
            typo.replace_range(8..9, if &token[8..9] == "a" { "b" } else { "a" });
            let (status, body) =
                server.signed(scheme, (&typo, &secret), "GET", "/api/activities", None).await;
            assert_eq!(status, 401, "{scheme:?}");
            assert_error_shape(&body, 11);
        }

        // A stale timestamp: code 14 with the server's time and the skew.
        let stale = keyward_sig::query_hmac::sign(
            "/api/activities",
            &token,
            common::now_ms() - 3_600_000,
            &keyward_sig::KeyMaterial::new(keyward_sig::KeyKind::Domain, secret.as_bytes()),
            keyward_sig::query_hmac::ParameterOrder::Bytewise,
        )
        .unwrap();
        let response = server.client.get(server.url(&stale)).send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_error_shape(&body, 14);
        assert!(
            body["error"]["detail"]["server_time_ms"].is_i64()
                && body["error"]["detail"]["skew_ms"].is_i64()
        );

        // Two schemes at once: code 16. No credentials: code 10.
        let mut both =
            sign(Scheme::HeaderHmac, &token, &secret, "GET", &server.url("/api/activities"), None);
        both.headers.push(("authorization".into(), format!("Bearer {}", server.admin_token)));
        let (status, body) = send(&server.client, both).await;
        assert_eq!(status, 401);
        assert_error_shape(&body, 16);
        let response = server.client.get(server.url("/api/activities")).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_error_shape(&response.json().await.unwrap(), 10);
        server
    })
    .await;
}

#[tokio::test]
async fn a_replayed_signed_post_is_refused_and_a_get_may_repeat() {
    TestServer::on_each_backend("replay", |server| async move {
        let (_, token, secret) = server.create_key(&server.admin_token, "App", READ_WRITE).await;
        for scheme in SIGNED_SCHEMES {
            let body = Some(json!({ "data": { "name": "once" } }).to_string());
            let request =
                sign(scheme, &token, &secret, "POST", &server.url("/api/activities"), body.clone());
            let again = common::Prepared {
                method: request.method.clone(),
                url: request.url.clone(),
                headers: request.headers.clone(),
                body,
            };
            assert_eq!(send(&server.client, request).await.0, 201, "{scheme:?}");
            let (status, body) = send(&server.client, again).await;
            assert_eq!(status, 401, "{scheme:?}");
            assert_error_shape(&body, 15);
        }
        let get =
            sign(Scheme::QueryHmac, &token, &secret, "GET", &server.url("/api/activities"), None);
        let url = get.url.clone();
        assert_eq!(send(&server.client, get).await.0, 200);
        assert_eq!(
            server.client.get(&url).send().await.unwrap().status(),
            200,
            "GET is not refused by default"
        );
        server
    })
    .await;
}

#[tokio::test]
async fn regenerated_token_rotated_secret_and_revoked_key_take_effect_on_the_next_request() {
    TestServer::on_each_backend("lifecycle", |server| async move {
        let admin = server.admin_token.clone();
        let (id, token, secret) = server.create_key(&admin, "App", READ_WRITE).await;
        let get = |token: String, secret: String, scheme| {
            let server = &server;
            async move {
                server.signed(scheme, (&token, &secret), "GET", "/api/activities", None).await.0
            }
        };
        assert_eq!(
            get(token.clone(), secret.clone(), Scheme::HeaderHmac).await,
            200,
            "warms the cache"
        );

        let response = server
            .client
            .post(server.url(&format!("/api/admin/keys/{id}/regenerate-token")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let new_token =
            response.json::<Value>().await.unwrap()["data"]["token"].as_str().unwrap().to_owned();
        assert_ne!(new_token, token);
        for scheme in SIGNED_SCHEMES {
            assert_eq!(
                get(token.clone(), secret.clone(), scheme).await,
                401,
                "old token refused at once ({scheme:?})"
            );
            assert_eq!(get(new_token.clone(), secret.clone(), scheme).await, 200, "{scheme:?}");
        }

        let response = server
            .client
            .post(server.url(&format!("/api/admin/keys/{id}/rotate-secret")))
            .bearer_auth(&admin)
            .json(&json!({ "data": { "overlap_seconds": 3600 } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let new_secret =
            response.json::<Value>().await.unwrap()["data"]["secret"].as_str().unwrap().to_owned();
        assert_eq!(
            get(new_token.clone(), new_secret.clone(), Scheme::QueryHmac).await,
            200,
            "new secret verifies"
        );
        assert_eq!(
            get(new_token.clone(), secret.clone(), Scheme::QueryHmac).await,
            200,
            "old secret too, during the overlap"
        );

        let response = server
            .client
            .delete(server.url(&format!("/api/admin/keys/{id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        for scheme in SIGNED_SCHEMES {
            assert_eq!(
                get(new_token.clone(), new_secret.clone(), scheme).await,
                401,
                "revoked ({scheme:?})"
            );
        }
        // An access token issued to the key by login dies with it too.
        server
    })
    .await;
}

#[tokio::test]
async fn an_api_key_cannot_create_a_key_with_more_permissions_than_it_has() {
    TestServer::on_each_backend("escalation", |server| async move {
        let (_, token, secret) = server.create_key(&server.admin_token, "Key manager", &["keys:manage", "activities:read"]).await;
        let key = (token.as_str(), secret.as_str());
        let wider = json!({ "data": { "name": "Wider", "permissions": ["activities:read", "activities:write"] } });
        let (status, body) = server.signed(Scheme::HeaderHmac, key, "POST", "/api/admin/keys", Some(wider)).await;
        assert_eq!(status, 403, "{body}");
        assert_error_shape(&body, 20);
        assert_eq!(body["error"]["detail"]["not_held"], json!(["activities:write"]));
        let narrower = json!({ "data": { "name": "Reader", "permissions": ["activities:read"] } });
        let (status, body) = server.signed(Scheme::HeaderHmac, key, "POST", "/api/admin/keys", Some(narrower)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["data"]["created_by_key_id"], json!(server.store.api_keys(keyward_store::KeyOwner::Domain(1)).await.unwrap()[0].id));
        // A permission the key lacks entirely is refused per route too.
        let (status, body) = server.signed(Scheme::QueryHmac, key, "POST", "/api/activities", Some(json!({"data": {"name": "x"}}))).await;
        assert_eq!(status, 403);
        assert_error_shape(&body, 20);
        server
    })
    .await;
}

#[tokio::test]
async fn every_change_has_exactly_one_audit_record_naming_principal_and_application() {
    TestServer::on_each_backend("audit", |server| async move {
        let (key_id, token, secret) =
            server.create_key(&server.admin_token, "Field sync", READ_WRITE).await;
        let key = (token.as_str(), secret.as_str());
        let mut changes = Vec::new();
        let request_id = |response: &reqwest::Response| {
            response.headers()["x-request-id"].to_str().unwrap().to_owned()
        };

        let create = sign(
            Scheme::HttpSignature,
            &token,
            &secret,
            "POST",
            &server.url("/api/activities"),
            Some(json!({"data": {"name": "Wells"}}).to_string()),
        );
        let mut builder = server.client.post(&create.url).body(create.body.clone().unwrap());
        for (n, v) in &create.headers {
            builder = builder.header(n, v);
        }
        let response = builder.send().await.unwrap();
        assert_eq!(response.status(), 201);
        changes.push((request_id(&response), "activity.create", Some("Field sync"), Some(key_id)));
        let id = response.json::<Value>().await.unwrap()["data"]["id"].as_i64().unwrap();

        let response = server
            .client
            .put(server.url(&format!("/api/activities/{id}")))
            .bearer_auth(&server.admin_token)
            .header("x-request-id", "client-chosen-id-1")
            .json(&json!({"data": {"name": "Wells, phase 2", "status": "active"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            request_id(&response),
            "client-chosen-id-1",
            "a client's request id is kept and echoed"
        );
        changes.push((request_id(&response), "activity.update", None, None));

        let (status, _) = server
            .signed(Scheme::QueryHmac, key, "DELETE", &format!("/api/activities/{id}"), None)
            .await;
        assert_eq!(status, 204);

        for (request, action, application, actor_key) in &changes {
            let records = server.store.audit_records_of_request(request).await.unwrap();
            assert_eq!(records.len(), 1, "{action}: exactly one record");
            assert_eq!(records[0].action, *action);
            assert_eq!(records[0].application.as_deref(), *application);
            assert_eq!(records[0].actor_key_id, *actor_key);
            if actor_key.is_none() {
                assert_eq!(records[0].actor_name, "admin");
            }
        }
        // The audit log, filtered by application, through the API.
        let response = server
            .client
            .get(server.url("/api/admin/audit?application=Field%20sync"))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        let actions: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["activity.delete", "activity.create"]);
        // And the activity's history names who changed it.
        let response = server
            .client
            .get(server.url(&format!("/api/activities/{id}/history")))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        let history: Value = response.json().await.unwrap();
        let who: Vec<&str> = history["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["actor_name"].as_str().unwrap())
            .collect();
        assert_eq!(who, ["Field sync", "admin", "Field sync"]);
        server
    })
    .await;
}

#[tokio::test]
async fn login_works_with_a_password_or_a_key_and_logout_revokes_the_token() {
    TestServer::on_each_backend("login", |server| async move {
        let (_, token, secret) = server.create_key(&server.admin_token, "CLI", READ_WRITE).await;
        let key_token = server.login(&token, &secret).await.unwrap();
        let me: Value = server
            .client
            .get(server.url("/api/me"))
            .bearer_auth(&key_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["data"]["principal"]["type"], "api_key");
        assert_eq!(me["data"]["principal"]["name"], "CLI");
        let lower = server
            .client
            .post(server.url("/api/login"))
            .json(&json!({"username": "admin", "password": common::ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        let body: Value = lower.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 31_536_000);
        assert_error_shape(&server.login("admin", "wrong password").await.unwrap_err(), 21);
        assert_error_shape(&server.login(&token, "kwsec_wrong").await.unwrap_err(), 21);

        let response = server
            .client
            .post(server.url("/api/logout"))
            .bearer_auth(&key_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let after =
            server.client.get(server.url("/api/me")).bearer_auth(&key_token).send().await.unwrap();
        assert_eq!(after.status(), 401, "a revoked token is refused on the next request");
        assert_error_shape(&after.json().await.unwrap(), 13);
        server
    })
    .await;
}

#[tokio::test]
async fn activities_list_pages_and_speaks_csv() {
    TestServer::on_each_backend("csv", |server| async move {
        for name in ["One", "Two, with a comma", "Three"] {
            let response = server
                .client
                .post(server.url("/api/activities"))
                .bearer_auth(&server.admin_token)
                .json(&json!({"data": {"name": name}}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }
        let page: Value = server
            .client
            .get(server.url("/api/activities?page=2&pageSize=2"))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["paging"], json!({"page": 2, "pageSize": 2, "total": 3}));
        assert_eq!(page["data"][0]["name"], "Three");
        let csv = server
            .client
            .get(server.url("/api/activities"))
            .bearer_auth(&server.admin_token)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = csv.text().await.unwrap();
        assert!(text.starts_with("id,name,description,status,version"), "{text}");
        assert!(text.contains("\"Two, with a comma\""), "{text}");
        server
    })
    .await;
}

#[tokio::test]
async fn a_key_loses_a_permission_its_creator_loses_on_the_next_request() {
    TestServer::on_each_backend("creator", |server| async move {
        let admin = server.admin_token.clone();
        let response = server
            .client
            .post(server.url("/api/admin/users"))
            .bearer_auth(&admin)
            .json(&json!({"data": {"username": "ana", "password": "a long enough password", "permissions": ["keys:manage", "activities:read", "activities:write"]}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let ana_id = response.json::<Value>().await.unwrap()["data"]["id"].as_i64().unwrap();
        let ana = server.login("ana", "a long enough password").await.unwrap();
        let (_, token, secret) = server.create_key(&ana, "Ana's sync", READ_WRITE).await;
        let write = || server.signed(Scheme::HeaderHmac, (&token, &secret), "POST", "/api/activities", Some(json!({"data": {"name": "x"}})));
        assert_eq!(write().await.0, 201);

        let response = server
            .client
            .patch(server.url(&format!("/api/admin/users/{ana_id}")))
            .bearer_auth(&admin)
            .json(&json!({"data": {"permissions": ["keys:manage", "activities:read"]}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let (status, body) = write().await;
        assert_eq!(status, 403, "{body}");
        assert_error_shape(&body, 20);
        let (status, _) = server.signed(Scheme::HeaderHmac, (&token, &secret), "GET", "/api/activities", None).await;
        assert_eq!(status, 200, "what the creator still holds keeps working");
        server
    })
    .await;
}

#[tokio::test]
async fn a_secret_rotated_elsewhere_verifies_once_the_cached_key_may_be_reloaded() {
    let clock = keyward_testkit::clock::ManualClock::now();
    let server = TestServer::builder("elsewhere").clock(&clock).start().await.unwrap();
    let (id, token, secret) = server.create_key(&server.admin_token, "App", READ_WRITE).await;
    let get = |secret: String| {
        let (server, token) = (&server, token.clone());
        async move {
            server
                .signed(Scheme::HeaderHmac, (&token, &secret), "GET", "/api/activities", None)
                .await
                .0
        }
    };
    assert_eq!(get(secret.clone()).await, 200, "the key is now cached");

    // Another node (or `keyward admin`) rotates the secret, with no overlap.
    let operator = keyward_store::Actor::operator("elsewhere", "operator");
    let (_, rotated) = server
        .elsewhere()
        .await
        .rotate_secret(&operator, keyward_store::KeyOwner::Domain(1), id, 0)
        .await
        .unwrap();
    assert_eq!(
        get(rotated.0.clone()).await,
        401,
        "a young cache entry is trusted: bad signatures cannot force reads"
    );
    clock.advance(11_000);
    assert_eq!(get(rotated.0.clone()).await, 200, "an older entry is read again on a mismatch");
    assert_eq!(get(secret).await, 401, "and the old secret, without overlap, is refused");
    server.stop().await;
}

#[tokio::test]
async fn a_keys_permissions_change_within_the_callers_own_and_act_on_the_next_request() {
    TestServer::on_each_backend("key-permissions", |server| async move {
        let (_, clerk) = server.user("clerk", &["keys:manage", "activities:read"]).await;
        let (id, token, secret) = server.create_key(&clerk, "Reader", &["activities:read"]).await;
        let key = (token.as_str(), secret.as_str());
        let path = format!("/api/admin/keys/{id}");
        let set = |caller: String, permissions: Value| {
            let path = path.clone();
            let server = &server;
            async move {
                let body = json!({"data": {"permissions": permissions}});
                server.bearer(&caller, "PATCH", &path, Some(body)).await
            }
        };
        let read = || server.signed(Scheme::HeaderHmac, key, "GET", "/api/activities", None);
        // An access token minted from the key acts with the key's permissions too.
        let minted = server.login(&token, &secret).await.unwrap();
        assert_eq!(read().await.0, 200);

        // Beyond the caller's own: refused, naming what it lacks; nothing changes.
        let (status, body) =
            set(clerk.clone(), json!(["activities:read", "activities:write"])).await;
        assert_eq!(status, 403, "{body}");
        assert_error_shape(&body, 20);
        assert_eq!(body["error"]["detail"]["not_held"], json!(["activities:write"]));
        let (status, body) = set(clerk.clone(), json!(["no:such"])).await;
        assert_eq!((status, body["error"]["code"].clone()), (422, json!(31)), "{body}");

        // Taken away: the key and its token are refused on their next request.
        let (status, body) = set(clerk.clone(), json!([])).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["permissions"], json!([]));
        assert_eq!(body["data"]["token"], json!(token), "the token stays");
        let (status, body) = read().await;
        assert_eq!(status, 403, "{body}");
        assert_error_shape(&body, 20);
        assert_eq!(server.bearer(&minted, "GET", "/api/activities", None).await.0, 403);

        // Given back by the admin with more than the clerk holds: the key reads again, with the
        // same secret, but acts with no more than the clerk behind it; and the clerk may no
        // longer manage it.
        let admin = server.admin_token.clone();
        let (status, body) =
            set(admin.clone(), json!(["activities:read", "activities:write"])).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(read().await.0, 200);
        assert_eq!(server.bearer(&minted, "GET", "/api/activities", None).await.0, 200);
        let activity = json!({"data": {"name": "written after the change"}});
        let (status, body) = server
            .signed(Scheme::HeaderHmac, key, "POST", "/api/activities", Some(activity.clone()))
            .await;
        assert_eq!(status, 403, "the clerk behind the key cannot write: {body}");
        let (status, body) = set(clerk.clone(), json!(["activities:read"])).await;
        assert_eq!(status, 403, "{body}");
        // A key of the admin's own acts with what it is given at once.
        let (admins, admin_token, admin_secret) =
            server.create_key(&admin, "Admin's", &["activities:read"]).await;
        let (status, body) = server
            .bearer(
                &admin,
                "PATCH",
                &format!("/api/admin/keys/{admins}"),
                Some(json!({"data": {"permissions": ["activities:write"]}})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = server
            .signed(
                Scheme::HeaderHmac,
                (&admin_token, &admin_secret),
                "POST",
                "/api/activities",
                Some(activity),
            )
            .await;
        assert_eq!(status, 201, "{body}");

        // A key never changes its own permissions, not even to fewer.
        let (_, manager_token, manager_secret) =
            server.create_key(&admin, "Manager", &["keys:manage", "activities:read"]).await;
        let manager = (manager_token.as_str(), manager_secret.as_str());
        let me = server.signed(Scheme::HeaderHmac, manager, "GET", "/api/me", None).await.1;
        let own = format!("/api/admin/keys/{}", me["data"]["principal"]["id"]);
        let fewer = json!({"data": {"permissions": ["keys:manage"]}});
        let (status, body) =
            server.signed(Scheme::HeaderHmac, manager, "PATCH", &own, Some(fewer)).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["message"], "A key cannot change its own permissions");

        // Each change is audited with the permissions before and after.
        let filter = keyward_store::AuditFilter::default();
        let records = server.store.audit_records(1, &filter, 0, 500).await.unwrap().items;
        let changes: Vec<&keyward_store::AuditRecord> =
            records.iter().filter(|r| r.action == "key.permissions").collect();
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert_eq!(changes[0].detail["permissions"], json!(["activities:write"]));
        assert_eq!(changes[0].detail["previous"], json!(["activities:read"]));
        assert_eq!(
            changes[1].detail["permissions"],
            json!(["activities:read", "activities:write"])
        );
        assert_eq!(changes[1].detail["previous"], json!([]));
        assert_eq!(changes[2].detail["previous"], json!(["activities:read"]));
        server
    })
    .await;
}
