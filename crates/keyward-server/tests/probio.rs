//! Provisioning over a real server: resellers provision domains with signed requests; wrong
//! kinds of keys and other tenants are refused with their own codes; disabling a domain takes
//! effect on the next request.

#![allow(clippy::unwrap_used)]

mod common;

use common::{SIGNED_SCHEMES, Scheme, TestServer, send, sign_as};
use keyward_sig::KeyKind;
use keyward_store::{Actor, KeyOwner, NewApiKey, Permissions};
use serde_json::{Value, json};

/// What `keyward admin reseller create` does: a reseller and its key.
async fn reseller(server: &TestServer, name: &str) -> (String, String) {
    let operator = Actor::operator(format!("operator-{name}"), "operator");
    let reseller = server.store.create_reseller(&operator, name).await.unwrap();
    let new = NewApiKey::new(
        KeyOwner::Reseller(reseller.id),
        format!("{name} provisioning"),
        Permissions::default(),
    );
    let (key, secret) = server.store.create_api_key(&operator, &new).await.unwrap();
    (key.token, secret.unwrap().0)
}

async fn as_reseller(
    server: &TestServer,
    (token, secret): (&str, &str),
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let request = sign_as(
        KeyKind::Reseller,
        Scheme::HeaderHmac,
        token,
        secret,
        method,
        &server.url(path),
        body.map(|b| b.to_string()),
    );
    send(&server.client, request).await
}

fn code(body: &Value) -> u64 {
    body["error"]["code"].as_u64().unwrap_or(0)
}

/// Provisions `short@reseller` with an administrator and a read-write key; returns the key.
async fn provision(server: &TestServer, reseller: (&str, &str), short: &str) -> (String, String) {
    let (status, body) =
        as_reseller(server, reseller, "POST", "/probio/domains", Some(json!({"name": short})))
            .await;
    assert_eq!(status, 201, "{body}");
    let admin = json!({"username": format!("{short}-admin"), "password": "a long enough password"});
    let (status, body) = as_reseller(
        server,
        reseller,
        "POST",
        &format!("/probio/domains/{short}/administrator"),
        Some(admin),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let key = json!({"name": format!("{short} sync"), "permissions": ["activities:read", "activities:write"]});
    let (status, body) =
        as_reseller(server, reseller, "POST", &format!("/probio/domains/{short}/keys"), Some(key))
            .await;
    assert_eq!(status, 201, "{body}");
    (
        body["data"]["token"].as_str().unwrap().into(),
        body["data"]["secret"].as_str().unwrap().into(),
    )
}

#[tokio::test]
async fn a_reseller_provisions_a_domain_whose_key_works_in_every_signed_scheme() {
    TestServer::on_each_backend("probio", |server| async move {
        let (rt, rs) = reseller(&server, "northwind").await;
        let (token, secret) = provision(&server, (&rt, &rs), "acme").await;
        let (status, body) =
            as_reseller(&server, (&rt, &rs), "GET", "/probio/domains/acme", None).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["name"], "acme@northwind");
        for scheme in SIGNED_SCHEMES {
            let (status, body) =
                server.signed(scheme, (&token, &secret), "GET", "/api/activities", None).await;
            assert_eq!(status, 200, "{scheme:?}: {body}");
            let (status, body) = server
                .signed(
                    scheme,
                    (&token, &secret),
                    "POST",
                    "/api/activities",
                    Some(json!({"data": {"name": "Acme wells"}})),
                )
                .await;
            assert_eq!(status, 201, "{scheme:?}: {body}");
        }
        assert!(server.login("acme-admin", "a long enough password").await.is_ok());
        // The domain key's activities are the domain's own: the default domain sees none.
        let default: Value = server
            .client
            .get(server.url("/api/activities"))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(default["paging"]["total"], 0);
        // Provisioning is audited with the acting reseller key and its application name.
        let records = server
            .store
            .audit_records(
                2,
                &keyward_store::AuditFilter {
                    application: Some("northwind provisioning".into()),
                    ..Default::default()
                },
                0,
                50,
            )
            .await
            .unwrap();
        let actions: Vec<&str> = records.items.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, ["key.create", "user.create", "domain.create"], "{records:?}");
        server
    })
    .await;
}

#[tokio::test]
async fn wrong_kinds_of_key_and_other_tenants_are_refused_with_their_codes() {
    TestServer::on_each_backend("probiokinds", |server| async move {
        let (at, asec) = reseller(&server, "alpha").await;
        let (bt, bsec) = reseller(&server, "beta").await;
        let (dt, ds) = provision(&server, (&at, &asec), "shop").await;

        // A domain key on a reseller route: 17, not a signature error.
        let (status, body) =
            server.signed(Scheme::HeaderHmac, (&dt, &ds), "GET", "/probio/domains", None).await;
        assert_eq!((status, code(&body)), (403, 17), "{body}");
        // A reseller key sent as domain credentials: 17.
        let (status, body) = server
            .signed(Scheme::HeaderHmac, (&at, &asec), "GET", "/probio/domain/users", None)
            .await;
        assert_eq!((status, code(&body)), (403, 17), "{body}");
        // A reseller key (RFC 9421, whose kind comes from the key) on a domain route: 17.
        let request = sign_as(
            KeyKind::Reseller,
            Scheme::HttpSignature,
            &at,
            &asec,
            "GET",
            &server.url("/api/activities"),
            None,
        );
        let (status, body) = send(&server.client, request).await;
        assert_eq!((status, code(&body)), (403, 17), "{body}");
        // Bearer and query-hmac are refused on provisioning routes, saying which are accepted.
        let response = server
            .client
            .get(server.url("/probio/domain/users"))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), 18);
        assert_eq!(
            body["error"]["detail"]["accepted"],
            json!(["header-hmac", "http-signature", "mtls"])
        );
        let (status, body) =
            server.signed(Scheme::QueryHmac, (&dt, &ds), "GET", "/probio/domain/users", None).await;
        assert_eq!((status, code(&body)), (403, 18), "{body}");

        // Another reseller sees neither the domain nor its keys.
        let (status, body) =
            as_reseller(&server, (&bt, &bsec), "GET", "/probio/domains/shop@alpha", None).await;
        assert_eq!((status, code(&body)), (404, 40), "{body}");
        let (status, body) =
            as_reseller(&server, (&bt, &bsec), "POST", "/probio/domains/shop@alpha/disable", None)
                .await;
        assert_eq!((status, code(&body)), (404, 40), "{body}");
        let (_, list) = as_reseller(&server, (&bt, &bsec), "GET", "/probio/domains", None).await;
        assert_eq!(list["data"], json!([]));

        // A domain key manages its own domain through the signed routes, not another's.
        let (status, body) =
            server.signed(Scheme::HeaderHmac, (&dt, &ds), "GET", "/probio/domain/keys", None).await;
        assert_eq!((status, code(&body)), (403, 20), "the key lacks keys:manage: {body}");
        server
    })
    .await;
}

#[tokio::test]
async fn disabling_a_domain_refuses_its_users_and_keys_at_once_and_enabling_restores_them() {
    TestServer::on_each_backend("probiodisable", |server| async move {
        let (rt, rs) = reseller(&server, "gamma").await;
        let (token, secret) = provision(&server, (&rt, &rs), "farm").await;
        let user_token = server.login("farm-admin", "a long enough password").await.unwrap();
        let bearer = |token: String| {
            let server = &server;
            async move {
                server
                    .client
                    .get(server.url("/api/activities"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        for scheme in SIGNED_SCHEMES {
            assert_eq!(
                server.signed(scheme, (&token, &secret), "GET", "/api/activities", None).await.0,
                200
            );
        }
        assert_eq!(bearer(user_token.clone()).await, 200);

        let (status, body) =
            as_reseller(&server, (&rt, &rs), "POST", "/probio/domains/farm/disable", None).await;
        assert_eq!((status, body["data"]["state"].as_str()), (200, Some("disabled")));
        for scheme in SIGNED_SCHEMES {
            let (status, body) =
                server.signed(scheme, (&token, &secret), "GET", "/api/activities", None).await;
            assert_eq!((status, code(&body)), (401, 13), "{scheme:?}: {body}");
        }
        assert_eq!(bearer(user_token.clone()).await, 401);
        assert!(
            server.login("farm-admin", "a long enough password").await.is_err(),
            "no new logins either"
        );

        let (status, _) =
            as_reseller(&server, (&rt, &rs), "POST", "/probio/domains/farm/enable", None).await;
        assert_eq!(status, 200);
        for scheme in SIGNED_SCHEMES {
            assert_eq!(
                server.signed(scheme, (&token, &secret), "GET", "/api/activities", None).await.0,
                200,
                "{scheme:?}"
            );
        }
        assert_eq!(bearer(user_token).await, 200, "nothing was deleted");
        server
    })
    .await;
}
