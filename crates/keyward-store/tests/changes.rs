//! Two stores on one PostgreSQL database, as two keyward nodes: every change one makes that
//! affects verification is heard by the other over `LISTEN`/`NOTIFY`, a key's last use is not,
//! and when the listening connection is cut the other node reconnects and flushes. Skipped
//! without PostgreSQL, required in CI.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward_sig::token::TokenDigest;
use keyward_store::{
    Actor, ChangeFeedStats, Invalidation, KeyOwner, MasterKey, NewApiKey, Permissions, State,
    Store, TokenOwner, UserUpdate,
};
use keyward_testkit::env::PostgresDatabase;

/// What a node heard, in order.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<Invalidation>>>);

impl Heard {
    fn on(store: &Store) -> Self {
        let heard = Heard::default();
        let sink = heard.0.clone();
        store.subscribe(move |change| sink.lock().unwrap().push(*change));
        heard
    }

    /// Waits (up to 10 s) until `change` was heard, and returns everything heard until then,
    /// which it then forgets.
    async fn until(&self, change: Invalidation) -> Vec<Invalidation> {
        for _ in 0..1000 {
            {
                let mut heard = self.0.lock().unwrap();
                if let Some(at) = heard.iter().position(|c| *c == change) {
                    return heard.drain(..=at).collect();
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{change:?} was never heard; heard {:?}", self.0.lock().unwrap());
    }
}

struct Nodes {
    here: Store,
    there: Store,
    heard_there: Heard,
    stats: Arc<ChangeFeedStats>,
    db: PostgresDatabase,
}

async fn two_nodes(test: &str) -> Option<Nodes> {
    let db = PostgresDatabase::create(test).await?;
    let master = MasterKey::from_bytes(&[7; 32]);
    let here = Store::open(&db.url, master.clone()).await.unwrap();
    let there = Store::open(&db.url, master).await.unwrap();
    // Changes made here reach there only through PostgreSQL: `there` hears nothing directly.
    let heard_there = Heard::on(&there);
    let stats = there.follow_changes().await.unwrap().expect("PostgreSQL follows changes");
    Some(Nodes { here, there, heard_there, stats, db })
}

impl Nodes {
    async fn stop(self) {
        self.here.close().await;
        self.there.close().await;
        self.db.drop_database().await;
    }
}

fn actor(domain_id: i64, user_id: i64) -> Actor {
    Actor::user("changes", domain_id, user_id, "admin")
}

#[tokio::test]
async fn every_change_that_affects_verification_is_heard_by_another_node() {
    let Some(nodes) = two_nodes("changes_heard").await else { return };
    let Nodes { here, heard_there, .. } = &nodes;
    let admin = here.bootstrap(Some("changes-admin-password")).await.unwrap().unwrap().admin;
    let domain = here.domain(admin.domain_id).await.unwrap();
    let by = actor(domain.id, admin.id);
    let owner = KeyOwner::Domain(domain.id);
    let new = NewApiKey::new(owner, "App".into(), Permissions::all());
    let (key, _) = here.create_api_key(&by, &new).await.unwrap();

    // A key's last use is no change to its credentials: nothing is heard before the rename.
    here.record_usage(&[(key.id, 1)], &[]).await.unwrap();
    here.rename_api_key(&by, owner, key.id, "Renamed").await.unwrap();
    assert_eq!(heard_there.until(Invalidation::Key(key.id)).await, [Invalidation::Key(key.id)]);

    here.regenerate_token(&by, owner, key.id).await.unwrap();
    heard_there.until(Invalidation::Key(key.id)).await;
    here.rotate_secret(&by, owner, key.id, 0).await.unwrap();
    heard_there.until(Invalidation::Key(key.id)).await;

    let (token, _) =
        here.issue_access_token(TokenOwner::User(admin.id), domain.id, 60_000).await.unwrap();
    let digest = TokenDigest::of(&token.0);
    here.revoke_access_token(&digest).await.unwrap();
    heard_there.until(Invalidation::AccessToken(digest)).await;

    let user = here
        .create_user(&by, domain.id, "clerk", "clerk-password-1", &Permissions::all())
        .await
        .unwrap();
    let update = UserUpdate { state: Some(State::Disabled), ..UserUpdate::default() };
    here.update_user(&by, domain.id, user.id, update).await.unwrap();
    heard_there.until(Invalidation::User(user.id)).await;

    here.set_domain_state(&by, domain.reseller_id, domain.id, State::Disabled).await.unwrap();
    heard_there.until(Invalidation::Domain(domain.id)).await;

    here.revoke_api_key(&by, owner, key.id).await.unwrap();
    heard_there.until(Invalidation::Key(key.id)).await;
    assert!(nodes.stats.received() >= 8, "{}", nodes.stats.received());
    nodes.stop().await;
}

#[tokio::test]
async fn a_cut_listening_connection_is_made_again_and_the_caches_flushed() {
    let Some(nodes) = two_nodes("changes_cut").await else { return };
    let Nodes { here, heard_there, .. } = &nodes;
    let admin = here.bootstrap(Some("changes-admin-password")).await.unwrap().unwrap().admin;
    let by = actor(admin.domain_id, admin.id);
    let owner = KeyOwner::Domain(admin.domain_id);
    let new = NewApiKey::new(owner, "App".into(), Permissions::all());
    let (key, _) = here.create_api_key(&by, &new).await.unwrap();

    // An operator (or a failover) ends the other node's listening session.
    let cut = sqlx::query_scalar::<_, bool>(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    );
    let mut admin_connection =
        <sqlx::PgConnection as sqlx::Connection>::connect(&nodes.db.url).await.unwrap();
    assert_eq!(cut.fetch_all(&mut admin_connection).await.unwrap(), [true]);

    // Once listening again, the node forgets every cached credential, then hears as before.
    heard_there.until(Invalidation::Everything).await;
    assert_eq!(nodes.stats.reconnects(), 1);
    here.rename_api_key(&by, owner, key.id, "After the cut").await.unwrap();
    heard_there.until(Invalidation::Key(key.id)).await;
    drop(admin_connection);
    nodes.stop().await;
}
