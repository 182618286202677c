//! The audit trail: one record per change, written in the change's transaction.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::Store;
use crate::error::StoreError;
use crate::model::{Actor, AuditFilter, AuditRecord, Page};

/// What a change writes to the audit trail.
pub(crate) struct Change<'a> {
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: String,
    pub detail: serde_json::Value,
    /// The domain concerned (defaults to the actor's).
    pub domain_id: Option<i64>,
    pub actor: &'a Actor,
}

/// Something worth recording that is not a change to a record: a login, a failed login, a
/// logout. Written on its own with [`Store::record_event`].
#[derive(Clone, Debug)]
pub struct AuditEvent {
    /// What happened (`session.login`, `session.login_failed`, `console.sign_in`...).
    pub action: &'static str,
    /// The kind of record concerned (`user`, `api_key`, `access_token`).
    pub target_type: &'static str,
    /// Its id, when known.
    pub target_id: String,
    /// What else to keep (never a secret).
    pub detail: serde_json::Value,
}

/// Writes the audit record of a change, inside the change's transaction. Returns its id.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    now_ms: i64,
    change: Change<'_>,
) -> Result<i64, StoreError> {
    let actor = change.actor;
    let row = sqlx::query(
        "INSERT INTO audit_records (at_ms, request_id, domain_id, reseller_id, actor_user_id, \
         actor_key_id, actor_name, application, action, target_type, target_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(now_ms)
    .bind(&actor.request_id)
    .bind(change.domain_id.or(actor.domain_id))
    .bind(actor.reseller_id)
    .bind(actor.user_id)
    .bind(actor.key_id)
    .bind(&actor.name)
    .bind(&actor.application)
    .bind(change.action)
    .bind(change.target_type)
    .bind(change.target_id)
    .bind(change.detail.to_string())
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("id")?)
}

fn from_row(row: &AnyRow) -> Result<AuditRecord, sqlx::Error> {
    let detail: String = row.try_get("detail")?;
    Ok(AuditRecord {
        id: row.try_get("id")?,
        at_ms: row.try_get("at_ms")?,
        request_id: row.try_get("request_id")?,
        domain_id: row.try_get("domain_id")?,
        actor_user_id: row.try_get("actor_user_id")?,
        actor_key_id: row.try_get("actor_key_id")?,
        actor_name: row.try_get("actor_name")?,
        application: row.try_get("application")?,
        action: row.try_get("action")?,
        target_type: row.try_get("target_type")?,
        target_id: row.try_get("target_id")?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
    })
}

/// The audit filter: fixed SQL with optional parameters, so nothing is spliced into a query.
macro_rules! audit_filter {
    () => {
        "domain_id = $1 AND ($2 IS NULL OR application = $2) \
         AND ($3 IS NULL OR actor_user_id = $3) AND ($4 IS NULL OR actor_key_id = $4) \
         AND ($5 IS NULL OR at_ms >= $5) AND ($6 IS NULL OR at_ms < $6)"
    };
}

/// `sql` with the filter's parameters bound, `$1` to `$6`.
fn filtered<'q>(
    sql: &'static str,
    domain_id: i64,
    filter: &'q AuditFilter,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sql)
        .bind(domain_id)
        .bind(&filter.application)
        .bind(filter.user_id)
        .bind(filter.key_id)
        .bind(filter.since_ms)
        .bind(filter.until_ms)
}

impl Store {
    /// Records `event` by `actor` (whose domain it is filed under).
    pub async fn record_event(&self, actor: &Actor, event: AuditEvent) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let change = Change {
            action: event.action,
            target_type: event.target_type,
            target_id: event.target_id,
            detail: event.detail,
            domain_id: actor.domain_id,
            actor,
        };
        record(&mut conn, self.now_ms(), change).await?;
        Ok(())
    }

    /// The audit records of a domain, newest first, filtered, `limit` from `offset`.
    pub async fn audit_records(
        &self,
        domain_id: i64,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Page<AuditRecord>, StoreError> {
        const LIST: &str = concat!(
            "SELECT * FROM audit_records WHERE ",
            audit_filter!(),
            " ORDER BY id DESC LIMIT $7 OFFSET $8"
        );
        const COUNT: &str =
            concat!("SELECT COUNT(*) AS n FROM audit_records WHERE ", audit_filter!());
        let rows = filtered(LIST, domain_id, filter)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let total: i64 =
            filtered(COUNT, domain_id, filter).fetch_one(&self.pool).await?.try_get("n")?;
        let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
        Ok(Page { items, total })
    }

    /// Every audit record of one request (for tests and support).
    pub async fn audit_records_of_request(
        &self,
        request_id: &str,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_records WHERE request_id = $1 ORDER BY id")
            .bind(request_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }
}
