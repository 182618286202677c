//! The store against real databases: SQLite always, PostgreSQL when it is there (required in
//! CI). Every test runs the same body on each backend.

#![allow(clippy::unwrap_used)]

use std::future::Future;

use keyward_sig::token::TokenDigest;
use keyward_store::{
    ActivityFields, Actor, AuditFilter, KeyOwner, KeyState, MasterKey, NewApiKey, Permissions,
    Store, StoreError, TokenOwner, TokenSubject, UserUpdate,
};
use keyward_testkit::env::PostgresDatabase;
use sqlx::Row;

/// Runs `body` on a fresh SQLite store and on a fresh PostgreSQL store.
async fn on_each_backend<F, Fut>(test: &str, body: F)
where
    F: Fn(Store, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.path().join("keyward.db").display());
    let master = MasterKey::from_bytes(&[42; 32]);
    body(Store::open(&sqlite_url, master.clone()).await.unwrap(), sqlite_url).await;
    if let Some(db) = PostgresDatabase::create(test).await {
        let store = Store::open(&db.url, master).await.unwrap();
        body(store.clone(), db.url.clone()).await;
        store.close().await;
        db.drop_database().await;
    }
}

const ADMIN_PASSWORD: &str = "admin-password-1";

fn actor(request_id: &str, domain_id: i64, user_id: i64) -> Actor {
    Actor::user(request_id, domain_id, user_id, "admin")
}

#[tokio::test]
async fn bootstrap_creates_the_admin_once_and_its_password_works() {
    on_each_backend("bootstrap", |store, _| async move {
        let boot = store.bootstrap(None).await.unwrap().expect("first start bootstraps");
        let password = boot.generated_password.expect("a password is generated");
        assert_eq!(boot.admin.username, "admin");
        assert_eq!(boot.admin.permissions, Permissions::all());
        assert!(store.bootstrap(Some("other password")).await.unwrap().is_none(), "only once");
        let user = store.authenticate_user("admin", &password).await.unwrap();
        assert_eq!(user.map(|u| u.id), Some(boot.admin.id));
        assert!(store.authenticate_user("admin", "wrong").await.unwrap().is_none());
        assert!(store.authenticate_user("nobody", &password).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn api_key_lifecycle_takes_effect_and_is_audited_once_per_change() {
    on_each_backend("keylifecycle", |store, _| async move {
        let admin = store.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap().unwrap().admin;
        let domain = admin.domain_id;
        let new = NewApiKey::new(
            KeyOwner::Domain(domain),
            "Reporting app".into(),
            Permissions::parse(&["activities:read"]).unwrap(),
        );
        let (key, secret) =
            store.create_api_key(&actor("r-create", domain, admin.id), &new).await.unwrap();
        let secret = secret.unwrap();
        assert!(key.token.starts_with("kwkey_") && secret.0.starts_with("kwsec_"));
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");

        let creds = store.key_credentials(&key.token).await.unwrap().unwrap();
        assert_eq!(creds.secret(), Some(&secret));
        assert!(creds.previous_secret().is_none());
        assert_eq!(
            store
                .reveal_secret(
                    &actor("r-reveal", domain, admin.id),
                    KeyOwner::Domain(domain),
                    key.id
                )
                .await
                .unwrap(),
            secret
        );

        let renamed = store
            .rename_api_key(
                &actor("r-rename", domain, admin.id),
                KeyOwner::Domain(domain),
                key.id,
                "Reports",
            )
            .await
            .unwrap();
        assert_eq!(renamed.name, "Reports");

        let old = key.token.clone();
        let regenerated = store
            .regenerate_token(&actor("r-regen", domain, admin.id), KeyOwner::Domain(domain), key.id)
            .await
            .unwrap();
        assert!(store.key_credentials(&old).await.unwrap().is_none(), "old token refused at once");
        assert!(store.key_credentials(&regenerated.token).await.unwrap().is_some());

        let (_, rotated) = store
            .rotate_secret(
                &actor("r-rotate", domain, admin.id),
                KeyOwner::Domain(domain),
                key.id,
                60_000,
            )
            .await
            .unwrap();
        let creds = store.key_credentials(&regenerated.token).await.unwrap().unwrap();
        assert_eq!(creds.secret(), Some(&rotated));
        assert_eq!(creds.previous_secret(), Some(&secret), "both verify during the overlap");

        let revoked = store
            .revoke_api_key(&actor("r-revoke", domain, admin.id), KeyOwner::Domain(domain), key.id)
            .await
            .unwrap();
        assert_eq!(revoked.state, KeyState::Revoked);
        assert!(store.key_credentials(&regenerated.token).await.unwrap().is_none());
        let again = store
            .rename_api_key(
                &actor("r-late", domain, admin.id),
                KeyOwner::Domain(domain),
                key.id,
                "x",
            )
            .await;
        assert!(matches!(again, Err(StoreError::InvalidState(_))));

        for (request, action) in [
            ("r-create", "key.create"),
            ("r-reveal", "key.reveal"),
            ("r-rename", "key.rename"),
            ("r-regen", "key.regenerate_token"),
            ("r-rotate", "key.rotate_secret"),
            ("r-revoke", "key.revoke"),
        ] {
            let records = store.audit_records_of_request(request).await.unwrap();
            assert_eq!(records.len(), 1, "{request}: exactly one audit record");
            assert_eq!(records[0].action, action);
            assert_eq!(records[0].actor_user_id, Some(admin.id));
            assert_eq!(records[0].target_id, key.id.to_string());
            assert!(
                !records[0].detail.to_string().contains("kwsec_"),
                "no secret in the audit trail"
            );
        }
        assert!(
            store.audit_records_of_request("r-late").await.unwrap().is_empty(),
            "no record without a change"
        );
    })
    .await;
}

#[tokio::test]
async fn secrets_are_sealed_in_the_database() {
    on_each_backend("sealed", |store, url| async move {
        let admin = store.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap().unwrap().admin;
        let new =
            NewApiKey::new(KeyOwner::Domain(admin.domain_id), "App".into(), Permissions::default());
        let (key, secret) =
            store.create_api_key(&actor("r1", admin.domain_id, admin.id), &new).await.unwrap();
        let secret = secret.unwrap();
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let row = sqlx::query("SELECT secret_sealed FROM api_keys WHERE id = $1")
            .bind(key.id)
            .fetch_one(&pool)
            .await
            .unwrap();
        let sealed: Vec<u8> = row.try_get("secret_sealed").unwrap();
        assert!(!sealed.windows(secret.0.len()).any(|w| w == secret.0.as_bytes()));
        let hash: String = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(admin.id)
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get("password_hash")
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        pool.close().await;
        // Another master key cannot open it.
        let other = Store::open(&url, MasterKey::from_bytes(&[1; 32])).await.unwrap();
        assert!(matches!(other.key_credentials(&key.token).await, Err(StoreError::Unseal)));
        other.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_failed_change_leaves_no_audit_record() {
    on_each_backend("atomic", |store, _| async move {
        let admin = store.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap().unwrap().admin;
        let perms = Permissions::parse(&["activities:read"]).unwrap();
        store
            .create_user(
                &actor("u1", admin.domain_id, admin.id),
                admin.domain_id,
                "ana",
                "ana-password-1",
                &perms,
            )
            .await
            .unwrap();
        let duplicate = store
            .create_user(
                &actor("u2", admin.domain_id, admin.id),
                admin.domain_id,
                "ana",
                "ana-password-2",
                &perms,
            )
            .await;
        assert!(matches!(duplicate, Err(StoreError::Conflict("user"))), "{duplicate:?}");
        assert_eq!(store.audit_records_of_request("u1").await.unwrap().len(), 1);
        assert!(store.audit_records_of_request("u2").await.unwrap().is_empty());
        let missing = store
            .update_user(
                &actor("u3", admin.domain_id, admin.id),
                admin.domain_id,
                9999,
                UserUpdate::default(),
            )
            .await;
        assert!(matches!(missing, Err(StoreError::NotFound("user"))));
        assert!(store.audit_records_of_request("u3").await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn access_tokens_are_found_by_digest_and_revocable() {
    on_each_backend("tokens", |store, _| async move {
        let admin = store.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap().unwrap().admin;
        let (token, expires) = store
            .issue_access_token(TokenOwner::User(admin.id), admin.domain_id, 1000)
            .await
            .unwrap();
        assert!(token.0.starts_with("kwat_"));
        let digest = TokenDigest::of(&token.0);
        let found = store.access_token(&digest).await.unwrap().unwrap();
        assert_eq!(found.expires_at_ms, expires);
        assert!(matches!(found.subject, TokenSubject::User(ref u) if u.id == admin.id));
        assert!(store.revoke_access_token(&digest).await.unwrap());
        assert!(store.access_token(&digest).await.unwrap().is_none());
        assert!(!store.revoke_access_token(&digest).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn activities_keep_their_history_and_audit_names_the_application() {
    on_each_backend("activities", |store, _| async move {
        let admin = store.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap().unwrap().admin;
        let domain = admin.domain_id;
        let app = Actor {
            request_id: "a1".into(),
            domain_id: Some(domain),
            key_id: None,
            name: "Sync job".into(),
            application: Some("Sync job".into()),
            ..Actor::default()
        };
        let fields = ActivityFields {
            name: "Wells".into(),
            description: None,
            status: Some("draft".into()),
        };
        let created = store.create_activity(&app, domain, &fields).await.unwrap();
        let update = ActivityFields { name: "Wells, phase 2".into(), ..fields.clone() };
        let updated = store
            .update_activity(
                &Actor { request_id: "a2".into(), ..app.clone() },
                domain,
                created.id,
                &update,
            )
            .await
            .unwrap();
        assert_eq!(updated.version, 2);
        store
            .delete_activity(&Actor { request_id: "a3".into(), ..app.clone() }, domain, created.id)
            .await
            .unwrap();
        assert!(matches!(store.activity(domain, created.id).await, Err(StoreError::NotFound(_))));
        let history = store.activity_history(domain, created.id).await.unwrap();
        let changes: Vec<_> =
            history.iter().map(|h| (h.version, h.change.as_str(), h.request_id.as_str())).collect();
        assert_eq!(changes, [(1, "create", "a1"), (2, "update", "a2"), (3, "delete", "a3")]);
        assert!(history.iter().all(|h| h.application.as_deref() == Some("Sync job")));
        let audit = store
            .audit_records(
                domain,
                &AuditFilter { application: Some("Sync job".into()), ..Default::default() },
                0,
                10,
            )
            .await
            .unwrap();
        assert_eq!(audit.total, 3);
        assert_eq!(audit.items[0].action, "activity.delete", "newest first");
        let none = store
            .audit_records(
                domain,
                &AuditFilter { application: Some("Other".into()), ..Default::default() },
                0,
                10,
            )
            .await
            .unwrap();
        assert_eq!(none.total, 0);
        assert!(
            matches!(
                store.activity_history(domain + 1, created.id).await,
                Err(StoreError::NotFound(_))
            ),
            "domain-scoped"
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_wait_their_turn_instead_of_failing() {
    // Regression: on SQLite a transaction that read before writing failed at once (database
    // is locked) when another writer committed in between.
    on_each_backend("concurrent", |store, _| async move {
        let admin = store.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap().unwrap().admin;
        let new =
            NewApiKey::new(KeyOwner::Domain(admin.domain_id), "App".into(), Permissions::default());
        let (key, _) =
            store.create_api_key(&actor("c0", admin.domain_id, admin.id), &new).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..24 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    store.record_usage(&[(key.id, i)], &[]).await.map(|_| ())
                } else {
                    let actor = actor(&format!("c{i}"), admin.domain_id, admin.id);
                    store
                        .rename_api_key(
                            &actor,
                            KeyOwner::Domain(admin.domain_id),
                            key.id,
                            &format!("App {i}"),
                        )
                        .await
                        .map(|_| ())
                }
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    })
    .await;
}

/// A key acting for `key_id` in `domain_id`.
fn key_actor(request_id: &str, domain_id: i64, key_id: i64) -> Actor {
    Actor {
        request_id: request_id.into(),
        domain_id: Some(domain_id),
        key_id: Some(key_id),
        name: "app".into(),
        application: Some("app".into()),
        ..Actor::default()
    }
}

fn permissions(names: &[&str]) -> Permissions {
    Permissions::parse(names).unwrap()
}

#[tokio::test]
async fn passwords_shorter_than_the_rule_are_refused_everywhere() {
    on_each_backend("password_rule", |store, _| async move {
        let short = store.bootstrap(Some("elevenchars")).await;
        assert!(matches!(short, Err(StoreError::WeakPassword(_))), "{short:?}");
        let admin = store.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap().unwrap().admin;
        let by_admin = actor("p1", admin.domain_id, admin.id);
        let created = store
            .create_user(&by_admin, admin.domain_id, "bo", "short", &Permissions::default())
            .await;
        assert!(matches!(created, Err(StoreError::WeakPassword(_))), "{created:?}");
        let update = UserUpdate { password: Some("short".into()), ..UserUpdate::default() };
        let updated = store.update_user(&by_admin, admin.domain_id, admin.id, update).await;
        assert!(matches!(updated, Err(StoreError::WeakPassword(_))), "{updated:?}");
        assert!(store.authenticate_user("admin", ADMIN_PASSWORD).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn keys_act_with_at_most_what_their_root_user_holds_now() {
    on_each_backend("lineage", |store, _| async move {
        let admin = store.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap().unwrap().admin;
        let domain = admin.domain_id;
        let rw = permissions(&["activities:read", "activities:write", "keys:manage"]);
        let ana = store
            .create_user(&actor("l1", domain, admin.id), domain, "ana", "ana-password-1", &rw)
            .await
            .unwrap();
        let new = |name: &str, permissions| {
            NewApiKey::new(KeyOwner::Domain(domain), name.into(), permissions)
        };
        let (first, _) =
            store.create_api_key(&actor("l2", domain, ana.id), &new("first", rw)).await.unwrap();
        assert_eq!(first.root_user_id, Some(ana.id));
        // A key created by a key has the same root, transitively.
        let (second, _) = store
            .create_api_key(&key_actor("l3", domain, first.id), &new("second", rw))
            .await
            .unwrap();
        let (third, _) = store
            .create_api_key(&key_actor("l4", domain, second.id), &new("third", rw))
            .await
            .unwrap();
        assert_eq!((second.root_user_id, third.root_user_id), (Some(ana.id), Some(ana.id)));

        // Ana loses activities:write: every key below her is narrowed at once.
        let update = UserUpdate {
            permissions: Some(permissions(&["activities:read"])),
            ..Default::default()
        };
        store.update_user(&actor("l5", domain, admin.id), domain, ana.id, update).await.unwrap();
        let narrowed = store.key_credentials(&third.token).await.unwrap().unwrap();
        assert_eq!(narrowed.key.permissions, permissions(&["activities:read"]));

        // Ana is disabled: no key below her verifies, nor logs in; enabled again, they do.
        let disable =
            UserUpdate { state: Some(keyward_store::State::Disabled), ..Default::default() };
        store.update_user(&actor("l6", domain, admin.id), domain, ana.id, disable).await.unwrap();
        for key in [&first, &second, &third] {
            assert!(store.key_credentials(&key.token).await.unwrap().is_none(), "{}", key.name);
        }
        let (token, _) =
            store.issue_access_token(TokenOwner::Key(third.id), domain, 60_000).await.unwrap();
        assert!(store.access_token(&TokenDigest::of(&token.0)).await.unwrap().is_none());
        let enable = UserUpdate { state: Some(keyward_store::State::Active), ..Default::default() };
        store.update_user(&actor("l7", domain, admin.id), domain, ana.id, enable).await.unwrap();
        assert!(store.key_credentials(&third.token).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn access_tokens_die_with_the_key_secret_or_password_that_minted_them() {
    on_each_backend("token_death", |store, _| async move {
        let admin = store.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap().unwrap().admin;
        let (domain, by_admin) = (admin.domain_id, actor("t0", admin.domain_id, admin.id));
        let owner = KeyOwner::Domain(domain);
        let new = NewApiKey::new(owner, "app".into(), Permissions::all());
        let live = |store: Store, token: String| async move {
            store.access_token(&TokenDigest::of(&token)).await.unwrap()
        };
        let mint = |store: Store, owner: TokenOwner| async move {
            store.issue_access_token(owner, domain, 3_600_000).await.unwrap().0.0
        };

        // Regenerating the key's token revokes its access tokens at once; so does revoking it.
        for change in ["regenerate", "revoke"] {
            let (key, _) = store.create_api_key(&by_admin, &new).await.unwrap();
            let token = mint(store.clone(), TokenOwner::Key(key.id)).await;
            assert!(live(store.clone(), token.clone()).await.is_some());
            match change {
                "regenerate" => {
                    drop(store.regenerate_token(&by_admin, owner, key.id).await.unwrap())
                }
                _ => drop(store.revoke_api_key(&by_admin, owner, key.id).await.unwrap()),
            }
            assert!(live(store.clone(), token).await.is_none(), "{change}");
        }

        // Rotating with no overlap revokes them at once; with an overlap, they expire with it.
        let (key, _) = store.create_api_key(&by_admin, &new).await.unwrap();
        let token = mint(store.clone(), TokenOwner::Key(key.id)).await;
        store.rotate_secret(&by_admin, owner, key.id, 0).await.unwrap();
        assert!(live(store.clone(), token).await.is_none(), "no overlap");
        let token = mint(store.clone(), TokenOwner::Key(key.id)).await;
        let (rotated, _) = store.rotate_secret(&by_admin, owner, key.id, 60_000).await.unwrap();
        let during = live(store.clone(), token).await.expect("valid during the overlap");
        assert_eq!(Some(during.expires_at_ms), rotated.previous_secret_until_ms);

        // A new password revokes the user's other tokens, and keeps the one it was set with.
        let (kept, other) = (
            mint(store.clone(), TokenOwner::User(admin.id)).await,
            mint(store.clone(), TokenOwner::User(admin.id)).await,
        );
        let update = UserUpdate {
            password: Some("a new password".into()),
            keep_token: Some(TokenDigest::of(&kept)),
            ..Default::default()
        };
        store.update_user(&by_admin, domain, admin.id, update).await.unwrap();
        assert!(live(store.clone(), kept).await.is_some());
        assert!(live(store.clone(), other).await.is_none());
        assert!(store.authenticate_user("admin", "a new password").await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn every_change_that_affects_verification_is_told_to_subscribers() {
    use keyward_store::Invalidation;
    use std::sync::{Arc, Mutex};
    on_each_backend("invalidation", |store, _| async move {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = heard.clone();
        store.subscribe(move |change| sink.lock().unwrap().push(*change));
        let take = || std::mem::take(&mut *heard.lock().unwrap());
        let admin = store.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap().unwrap().admin;
        let (domain, by_admin) = (admin.domain_id, actor("i0", admin.domain_id, admin.id));
        let owner = KeyOwner::Domain(domain);
        let new = NewApiKey::new(owner, "app".into(), Permissions::all());
        let (key, _) = store.create_api_key(&by_admin, &new).await.unwrap();
        assert_eq!(take(), [], "creating a key changes nothing cached");
        store.rename_api_key(&by_admin, owner, key.id, "renamed").await.unwrap();
        store.regenerate_token(&by_admin, owner, key.id).await.unwrap();
        store.rotate_secret(&by_admin, owner, key.id, 0).await.unwrap();
        store.revoke_api_key(&by_admin, owner, key.id).await.unwrap();
        assert_eq!(take(), [Invalidation::Key(key.id); 4]);
        store.update_user(&by_admin, domain, admin.id, UserUpdate::default()).await.unwrap();
        assert_eq!(take(), [Invalidation::User(admin.id)]);
        let (token, _) =
            store.issue_access_token(TokenOwner::User(admin.id), domain, 1000).await.unwrap();
        let digest = TokenDigest::of(&token.0);
        store.revoke_access_token(&digest).await.unwrap();
        assert_eq!(take(), [Invalidation::AccessToken(digest)]);
        let reseller = store.reseller_by_name("default").await.unwrap();
        store
            .set_domain_state(&by_admin, reseller.id, domain, keyward_store::State::Disabled)
            .await
            .unwrap();
        assert_eq!(take(), [Invalidation::Domain(domain)]);
    })
    .await;
}
