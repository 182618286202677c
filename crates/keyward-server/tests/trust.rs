//! The trust findings, each attacked from outside over a real server on 127.0.0.1 (SQLite, and
//! PostgreSQL where the finding touches the store): what an attacker can do with what they see.
//! Each test is named after the finding it covers.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Scheme, TestServer, send, sign};
use keyward_server::auth::ReplayMode;
use serde_json::{Value, json};

const READ_WRITE: &[&str] = &["activities:read", "activities:write"];

fn code(body: &Value) -> &Value {
    &body["error"]["code"]
}

/// A key that holds every permission: what an attacker would like to take over.
async fn admin_key(server: &TestServer) -> (i64, String, String) {
    let all = keyward_store::ALL_PERMISSIONS;
    server.create_key(&server.admin_token, "Admin tool", &all).await
}

#[tokio::test]
async fn a_signed_get_seen_in_a_log_cannot_rotate_the_key() {
    TestServer::on_each_backend("get_to_rotate", |server| async move {
        let (id, token, secret) = admin_key(&server).await;
        for scheme in [Scheme::HeaderHmac, Scheme::HttpSignature] {
            let get = sign(scheme, &token, &secret, "GET", &server.url("/api/activities"), None);
            let seen = get.again();
            assert_eq!(send(&server.client, get).await.0, 200, "{scheme:?}");
            // The same credentials, on the request that would hand over a new secret.
            let mut rotate = seen;
            rotate.method = "POST".into();
            rotate.url = server.url(&format!("/api/admin/keys/{id}/rotate-secret"));
            let (status, body) = send(&server.client, rotate).await;
            // RFC 9421 signs the method and path: its signature simply does not match. The
            // vendor schemes sign neither: the replay guard refuses the reuse.
            match scheme {
                Scheme::HttpSignature => assert_eq!((status, code(&body)), (401, &json!(12))),
                _ => {
                    assert_eq!((status, code(&body)), (401, &json!(24)), "{body}");
                    let message = body["error"]["message"].as_str().unwrap();
                    assert!(message.contains("sign each request anew"), "{message}");
                }
            }
        }
        // The secret did not change: a fresh signature with it still works.
        let (status, _) =
            server.signed(Scheme::HeaderHmac, (&token, &secret), "GET", "/api/me", None).await;
        assert_eq!(status, 200);
        server
    })
    .await;
}

#[tokio::test]
async fn a_signed_query_url_cannot_revoke_a_key_nor_serve_another_request() {
    TestServer::on_each_backend("url_to_delete", |server| async move {
        let (id, token, secret) = admin_key(&server).await;
        let (status, created) = server
            .bearer(
                &server.admin_token,
                "POST",
                "/api/activities",
                Some(json!({"data": {"name": "x"}})),
            )
            .await;
        assert_eq!(status, 201);
        let activity = created["data"]["id"].as_i64().unwrap();
        let get =
            sign(Scheme::QueryHmac, &token, &secret, "GET", &server.url("/api/activities"), None);
        let query = get.url.split_once('?').unwrap().1.to_owned();
        assert_eq!(send(&server.client, get).await.0, 200);

        // On /api/admin, query-hmac is not accepted at all.
        let url = server.url(&format!("/api/admin/keys/{id}?{query}"));
        let response = server.client.delete(url).send().await.unwrap();
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), &json!(18), "{body}");
        assert_eq!(
            body["error"]["detail"]["accepted"],
            json!(["bearer", "header-hmac", "http-signature", "mtls"])
        );

        // Elsewhere the signature serves the request it was first used with, and no other.
        for (method, path) in
            [("DELETE", format!("/api/activities/{activity}")), ("GET", "/api/me".into())]
        {
            let url = server.url(&format!("{path}?{query}"));
            let response =
                server.client.request(method.parse().unwrap(), url).send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(code(&body), &json!(24), "{method} {path}: {body}");
        }
        let (status, _) = server
            .bearer(&server.admin_token, "GET", &format!("/api/activities/{activity}"), None)
            .await;
        assert_eq!(status, 200, "the activity was not deleted");
        let (status, key) =
            server.bearer(&server.admin_token, "GET", &format!("/api/admin/keys/{id}"), None).await;
        assert_eq!(
            (status, &key["data"]["state"]),
            (200, &json!("active")),
            "the key was not revoked"
        );
        server
    })
    .await;
}

#[tokio::test]
async fn a_signed_get_is_refused_on_another_path() {
    let server = TestServer::start(common::Backend::Sqlite, "other_path").await.unwrap();
    let (_, token, secret) = server.create_key(&server.admin_token, "App", READ_WRITE).await;
    let get =
        sign(Scheme::HeaderHmac, &token, &secret, "GET", &server.url("/api/activities"), None);
    let mut elsewhere = get.again();
    assert_eq!(send(&server.client, get).await.0, 200);
    elsewhere.url = server.url("/api/me");
    let (status, body) = send(&server.client, elsewhere).await;
    assert_eq!((status, code(&body)), (401, &json!(24)), "{body}");
    // Another query on the same path is another request too.
    let get =
        sign(Scheme::HeaderHmac, &token, &secret, "GET", &server.url("/api/activities"), None);
    let mut paged = get.again();
    assert_eq!(send(&server.client, get).await.0, 200);
    paged.url = server.url("/api/activities?page=2");
    assert_eq!(send(&server.client, paged).await.0, 401);
    server.stop().await;
}

#[tokio::test]
async fn the_identical_safe_request_may_repeat_unless_every_reuse_is_refused() {
    for (mode, second) in [(ReplayMode::UnsafeMethods, 200), (ReplayMode::All, 401)] {
        let settings = keyward_server::Settings { replay: mode, ..common::settings() };
        let server = TestServer::builder("repeat").settings(settings).start().await.unwrap();
        let (_, token, secret) = server.create_key(&server.admin_token, "App", READ_WRITE).await;
        for scheme in common::SIGNED_SCHEMES {
            let get = sign(scheme, &token, &secret, "GET", &server.url("/api/activities"), None);
            let again = get.again();
            assert_eq!(send(&server.client, get).await.0, 200, "{mode:?} {scheme:?}");
            let (status, body) = send(&server.client, again).await;
            assert_eq!(status, second, "{mode:?} {scheme:?}: {body}");
            if status == 401 {
                assert_eq!(code(&body), &json!(15));
            }
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn each_route_group_accepts_the_schemes_that_fit_its_risk() {
    let server = TestServer::start(common::Backend::Sqlite, "groups").await.unwrap();
    let (_, token, secret) = admin_key(&server).await;
    let key = (token.as_str(), secret.as_str());
    let expectations = [
        ("/api/activities", [200, 200, 200]),
        ("/api/admin/keys", [403, 200, 200]),
        ("/probio/domain/keys", [403, 200, 200]),
    ];
    for (path, statuses) in expectations {
        for (scheme, expected) in common::SIGNED_SCHEMES.into_iter().zip(statuses) {
            let (status, body) = server.signed(scheme, key, "GET", path, None).await;
            assert_eq!(status, expected, "{scheme:?} on {path}: {body}");
            if status == 403 {
                assert_eq!(code(&body), &json!(18), "{body}");
                assert!(body["error"]["detail"]["accepted"].is_array());
            }
        }
    }
    let (status, body) =
        server.bearer(&server.admin_token, "GET", "/probio/domain/keys", None).await;
    assert_eq!((status, code(&body)), (403, &json!(18)), "bearer on /probio");
    let (status, _) = server.bearer(&server.admin_token, "GET", "/api/admin/keys", None).await;
    assert_eq!(status, 200, "bearer on /api/admin (the console uses it)");
    server.stop().await;
}

#[tokio::test]
async fn a_key_manager_cannot_rotate_reveal_or_revoke_a_stronger_key() {
    TestServer::on_each_backend("key_escalation", |server| async move {
        let (_, kim) = server.user("kim", &["keys:manage", "keys:reveal", "activities:read"]).await;
        let (strong, _, _) = admin_key(&server).await;
        let (weak, _, _) =
            server.create_key(&server.admin_token, "Reader", &["activities:read"]).await;
        for (method, action) in [
            ("POST", "rotate-secret"),
            ("POST", "reveal"),
            ("POST", "regenerate-token"),
            ("DELETE", ""),
            ("PATCH", ""),
        ] {
            let path =
                format!("/api/admin/keys/{strong}/{action}").trim_end_matches('/').to_owned();
            let body = (method == "PATCH").then(|| json!({"data": {"name": "mine now"}}));
            let (status, answer) = server.bearer(&kim, method, &path, body).await;
            assert_eq!((status, code(&answer)), (403, &json!(20)), "{method} {path}: {answer}");
            assert!(answer["error"]["detail"]["not_held"].is_array(), "{answer}");
        }
        let (status, _) = server
            .bearer(&kim, "POST", &format!("/api/admin/keys/{weak}/rotate-secret"), None)
            .await;
        assert_eq!(status, 200, "a key within the manager's own permissions");
        let (status, answer) = server
            .bearer(
                &kim,
                "POST",
                "/api/admin/keys",
                Some(json!({"data": {"name": "x", "permissions": ["activities:write"]}})),
            )
            .await;
        assert_eq!((status, code(&answer)), (403, &json!(20)), "{answer}");

        // A key holding keys:manage is held to the same rule.
        let (_, token, secret) =
            server.create_key(&server.admin_token, "Keys bot", &["keys:manage"]).await;
        let path = format!("/api/admin/keys/{strong}/rotate-secret");
        let (status, answer) =
            server.signed(Scheme::HeaderHmac, (&token, &secret), "POST", &path, None).await;
        assert_eq!((status, code(&answer)), (403, &json!(20)), "{answer}");
        let (status, key) = server
            .bearer(&server.admin_token, "GET", &format!("/api/admin/keys/{strong}"), None)
            .await;
        assert_eq!(
            (status, &key["data"]["state"], &key["data"]["previous_secret_until_ms"]),
            (200, &json!("active"), &Value::Null)
        );
        server
    })
    .await;
}

#[tokio::test]
async fn a_user_manager_cannot_set_the_password_of_disable_or_demote_a_stronger_user() {
    TestServer::on_each_backend("user_escalation", |server| async move {
        let (_, lee) = server.user("lee", &["users:manage", "activities:read"]).await;
        let (weaker, _) = server.user("weaker", &["activities:read"]).await;
        let admin_id = 1;
        for change in [
            json!({"password": "lee-owns-the-admin-now"}),
            json!({"state": "disabled"}),
            json!({"permissions": ["activities:read"]}),
        ] {
            let (status, answer) = server
                .bearer(
                    &lee,
                    "PATCH",
                    &format!("/api/admin/users/{admin_id}"),
                    Some(json!({"data": change})),
                )
                .await;
            assert_eq!((status, code(&answer)), (403, &json!(20)), "{change}: {answer}");
        }
        assert!(
            server.login("admin", common::ADMIN_PASSWORD).await.is_ok(),
            "the admin's password stands"
        );
        let (status, _) = server
            .bearer(
                &lee,
                "PATCH",
                &format!("/api/admin/users/{weaker}"),
                Some(json!({"data": {"state": "disabled"}})),
            )
            .await;
        assert_eq!(status, 200, "a user within the manager's permissions");
        // Nor can the manager raise someone above itself.
        let (status, answer) = server
            .bearer(
                &lee,
                "PATCH",
                &format!("/api/admin/users/{weaker}"),
                Some(json!({"data": {"permissions": ["keys:reveal"]}})),
            )
            .await;
        assert_eq!((status, code(&answer)), (403, &json!(20)), "{answer}");
        server
    })
    .await;
}

/// Logs in with a key's token and secret.
async fn key_login(server: &TestServer, token: &str, secret: &str) -> String {
    server.login(token, secret).await.unwrap()
}

#[tokio::test]
async fn bearer_tokens_minted_from_a_key_die_with_its_secret_and_its_token() {
    TestServer::on_each_backend("key_tokens", |server| async move {
        let (id, token, secret) = server.create_key(&server.admin_token, "App", READ_WRITE).await;
        let admin = server.admin_token.clone();
        let minted = key_login(&server, &token, &secret).await;
        assert_eq!(server.bearer(&minted, "GET", "/api/me", None).await.0, 200);
        let body = Some(json!({"data": {"overlap_seconds": 0}}));
        let (status, rotated) = server
            .bearer(&admin, "POST", &format!("/api/admin/keys/{id}/rotate-secret"), body)
            .await;
        assert_eq!(status, 200);
        let (status, answer) = server.bearer(&minted, "GET", "/api/me", None).await;
        assert_eq!((status, code(&answer)), (401, &json!(13)), "rotated without overlap: {answer}");

        let secret = rotated["data"]["secret"].as_str().unwrap().to_owned();
        let minted = key_login(&server, &token, &secret).await;
        assert_eq!(server.bearer(&minted, "GET", "/api/me", None).await.0, 200);
        let (status, _) = server
            .bearer(&admin, "POST", &format!("/api/admin/keys/{id}/regenerate-token"), None)
            .await;
        assert_eq!(status, 200);
        let (status, answer) = server.bearer(&minted, "GET", "/api/me", None).await;
        assert_eq!((status, code(&answer)), (401, &json!(13)), "token regenerated: {answer}");
        server
    })
    .await;
}

#[tokio::test]
async fn bearer_tokens_minted_from_a_key_expire_when_the_rotation_overlap_ends() {
    let clock = keyward_testkit::clock::ManualClock::now();
    let server = TestServer::builder("overlap").clock(&clock).start().await.unwrap();
    let (id, token, old_secret) = server.create_key(&server.admin_token, "App", READ_WRITE).await;
    let before = key_login(&server, &token, &old_secret).await;
    let body = Some(json!({"data": {"overlap_seconds": 60}}));
    let path = format!("/api/admin/keys/{id}/rotate-secret");
    let (status, rotated) = server.bearer(&server.admin_token, "POST", &path, body).await;
    assert_eq!(status, 200);
    let overlap_ends = rotated["data"]["previous_secret_until_ms"].as_i64().unwrap();
    // During the overlap: the old token works, and the old secret still logs in, for a token
    // that ends with the overlap.
    assert_eq!(server.bearer(&before, "GET", "/api/me", None).await.0, 200);
    let response = server
        .client
        .post(server.url("/api/login"))
        .json(&json!({"UserName": token, "Password": old_secret}))
        .send()
        .await
        .unwrap();
    let during: Value = response.json().await.unwrap();
    assert!(during["expires_at_ms"].as_i64().unwrap() <= overlap_ends, "{during}");
    let during = during["access_token"].as_str().unwrap().to_owned();
    let new_secret = rotated["data"]["secret"].as_str().unwrap().to_owned();
    let after = key_login(&server, &token, &new_secret).await;

    clock.advance(61_000);
    for (token, what) in
        [(&before, "minted before the rotation"), (&during, "minted with the old secret")]
    {
        let (status, answer) = server.bearer(token, "GET", "/api/me", None).await;
        assert_eq!((status, code(&answer)), (401, &json!(22)), "{what}: {answer}");
    }
    assert_eq!(
        server.bearer(&after, "GET", "/api/me", None).await.0,
        200,
        "minted with the new secret"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_new_password_revokes_the_users_other_tokens_and_console_sessions() {
    TestServer::on_each_backend("password_revokes", |server| async move {
        let (ana, first) = server.user("ana", &["activities:read"]).await;
        let second = server.login("ana", "ana-password-1").await.unwrap();
        let console = server
            .client
            .post(server.url("/console/session"))
            .json(&json!({"username": "ana", "password": "ana-password-1"}))
            .send()
            .await
            .unwrap();
        let cookie = console
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        let session = |server: &TestServer| {
            let request =
                server.client.get(server.url("/console/session")).header("cookie", cookie.clone());
            async move { request.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(session(&server).await, 200);

        // An administrator sets a new password: every token and session of ana's dies.
        let body = Some(json!({"data": {"password": "set-by-the-admin"}}));
        let (status, _) = server
            .bearer(&server.admin_token, "PATCH", &format!("/api/admin/users/{ana}"), body)
            .await;
        assert_eq!(status, 200);
        for token in [&first, &second] {
            let (status, answer) = server.bearer(token, "GET", "/api/me", None).await;
            assert_eq!((status, code(&answer)), (401, &json!(13)), "{answer}");
        }
        assert_eq!(session(&server).await, 401, "the console session ended too");

        // Ana changes it herself: the token she did it with stays, her others die.
        let mine = server.login("ana", "set-by-the-admin").await.unwrap();
        let other = server.login("ana", "set-by-the-admin").await.unwrap();
        let body =
            Some(json!({"current_password": "set-by-the-admin", "new_password": "chosen-by-ana"}));
        let (status, answer) = server.bearer(&mine, "POST", "/api/me/password", body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(server.bearer(&mine, "GET", "/api/me", None).await.0, 200);
        assert_eq!(server.bearer(&other, "GET", "/api/me", None).await.0, 401);
        let body = Some(
            json!({"current_password": "wrong-password!", "new_password": "another-one-here"}),
        );
        let (status, answer) = server.bearer(&mine, "POST", "/api/me/password", body).await;
        assert_eq!((status, code(&answer)), (422, &json!(31)), "{answer}");
        let body = Some(json!({"current_password": "chosen-by-ana", "new_password": "short"}));
        let (status, answer) = server.bearer(&mine, "POST", "/api/me/password", body).await;
        assert_eq!(
            (status, &answer["error"]["detail"]["field"]),
            (422, &json!("password")),
            "{answer}"
        );
        assert!(server.login("ana", "chosen-by-ana").await.is_ok());
        server
    })
    .await;
}

#[tokio::test]
async fn keys_created_by_keys_narrow_when_their_root_user_loses_a_permission_or_is_disabled_and_return_when_enabled()
 {
    TestServer::on_each_backend("root_user", |server| async move {
        let (kim, kim_token) = server.user("kim", &["keys:manage", "activities:read", "activities:write"]).await;
        let body = json!({"data": {"name": "first", "permissions": ["keys:manage", "activities:read", "activities:write"]}});
        let (status, first) = server.bearer(&kim_token, "POST", "/api/admin/keys", Some(body)).await;
        assert_eq!(status, 201);
        let first = (first["data"]["token"].as_str().unwrap().to_owned(), first["data"]["secret"].as_str().unwrap().to_owned());
        let body = json!({"data": {"name": "second", "permissions": ["activities:read", "activities:write"]}});
        let (status, second) =
            server.signed(Scheme::HeaderHmac, (&first.0, &first.1), "POST", "/api/admin/keys", Some(body)).await;
        assert_eq!(status, 201, "{second}");
        assert_eq!(second["data"]["root_user_id"], json!(kim));
        let second = (second["data"]["token"].as_str().unwrap().to_owned(), second["data"]["secret"].as_str().unwrap().to_owned());
        let (server_ref, key) = (&server, (second.0.as_str(), second.1.as_str()));
        let write = || {
            let body = Some(json!({"data": {"name": "w"}}));
            server_ref.signed(Scheme::HeaderHmac, key, "POST", "/api/activities", body)
        };
        assert_eq!(write().await.0, 201);

        // Kim loses activities:write: the key her key created loses it at once.
        let body = Some(json!({"data": {"permissions": ["keys:manage", "activities:read"]}}));
        let (status, _) = server.bearer(&server.admin_token, "PATCH", &format!("/api/admin/users/{kim}"), body).await;
        assert_eq!(status, 200);
        let (status, answer) = write().await;
        assert_eq!((status, code(&answer)), (403, &json!(20)), "{answer}");

        // Kim is disabled: every key below her is refused at once.
        let body = Some(json!({"data": {"state": "disabled"}}));
        let (status, _) = server.bearer(&server.admin_token, "PATCH", &format!("/api/admin/users/{kim}"), body).await;
        assert_eq!(status, 200);
        for (token, secret) in [&first, &second] {
            let (status, answer) = server.signed(Scheme::HeaderHmac, (token, secret), "GET", "/api/me", None).await;
            assert_eq!((status, code(&answer)), (401, &json!(13)), "{answer}");
        }

        // Kim is enabled again: her keys work again at once, though they were just refused.
        let body = Some(json!({"data": {"state": "active"}}));
        let (status, _) = server.bearer(&server.admin_token, "PATCH", &format!("/api/admin/users/{kim}"), body).await;
        assert_eq!(status, 200);
        for (token, secret) in [&first, &second] {
            let (status, answer) = server.signed(Scheme::HeaderHmac, (token, secret), "GET", "/api/me", None).await;
            assert_eq!(status, 200, "{answer}");
        }
        server
    })
    .await;
}

#[tokio::test]
async fn two_concurrent_token_regenerations_leave_no_old_token_usable() {
    let server = TestServer::start(common::Backend::Sqlite, "regenerations").await.unwrap();
    for _ in 0..10 {
        let (id, first, secret) = server.create_key(&server.admin_token, "App", READ_WRITE).await;
        let (status, _) =
            server.signed(Scheme::HeaderHmac, (&first, &secret), "GET", "/api/me", None).await;
        assert_eq!(status, 200, "the first token is cached");
        let path = format!("/api/admin/keys/{id}/regenerate-token");
        let (a, b) = tokio::join!(
            server.bearer(&server.admin_token, "POST", &path, None),
            server.bearer(&server.admin_token, "POST", &path, None),
        );
        let (_, current) =
            server.bearer(&server.admin_token, "GET", &format!("/api/admin/keys/{id}"), None).await;
        let current = current["data"]["token"].as_str().unwrap().to_owned();
        for candidate in [
            first.clone(),
            a.1["data"]["token"].as_str().unwrap().into(),
            b.1["data"]["token"].as_str().unwrap().into(),
        ] {
            let (status, _) = server
                .signed(Scheme::HeaderHmac, (&candidate, &secret), "GET", "/api/me", None)
                .await;
            let expected = if candidate == current { 200 } else { 401 };
            assert_eq!(status, expected, "only the current token verifies");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn csv_exports_neutralise_formula_cells() {
    let server = TestServer::start(common::Backend::Sqlite, "csv").await.unwrap();
    let formula = "=HYPERLINK(\"http://attacker.example\",\"click\")";
    let body = Some(json!({"data": {"name": formula, "description": "@SUM(1)", "status": "+1"}}));
    assert_eq!(server.bearer(&server.admin_token, "POST", "/api/activities", body).await.0, 201);
    let csv = server
        .client
        .get(server.url("/api/activities"))
        .bearer_auth(&server.admin_token)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains("\"'=HYPERLINK("), "{csv}");
    assert!(csv.contains(",'@SUM(1),'+1,"), "{csv}");
    server.stop().await;
}

#[tokio::test]
async fn logins_logouts_and_console_sign_ins_are_audited() {
    TestServer::on_each_backend("session_audit", |server| async move {
        assert!(server.login("admin", "not the password").await.is_err());
        let token = server.login("admin", common::ADMIN_PASSWORD).await.unwrap();
        assert_eq!(server.bearer(&token, "POST", "/api/logout", None).await.0, 200);
        for password in ["wrong console password", common::ADMIN_PASSWORD] {
            server
                .client
                .post(server.url("/console/session"))
                .json(&json!({"username": "admin", "password": password}))
                .send()
                .await
                .unwrap();
        }
        let (status, audit) =
            server.bearer(&server.admin_token, "GET", "/api/admin/audit?pageSize=50", None).await;
        assert_eq!(status, 200);
        let actions: Vec<&str> = audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        for action in [
            "session.login",
            "session.login_failed",
            "session.logout",
            "console.sign_in",
            "console.sign_in_failed",
        ] {
            assert!(actions.contains(&action), "{action} missing from {actions:?}");
        }
        let failed = audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == "session.login_failed")
            .unwrap();
        assert_eq!(failed["actor_name"], "admin");
        assert!(
            failed["detail"]["address"].as_str().is_some_and(|a| a.starts_with("127.")),
            "{failed}"
        );
        assert!(!failed.to_string().contains("not the password"), "no password in the trail");
        server
    })
    .await;
}
