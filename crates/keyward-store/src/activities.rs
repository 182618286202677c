//! Activities, the sample protected resource, with their change history. Each change writes
//! its audit record and its history entry in the same transaction.

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Acquire, Row};

use crate::Store;
use crate::audit::{self, Change};
use crate::error::StoreError;
use crate::model::{Activity, ActivityChange, ActivityFields, Actor, Page};

fn from_row(row: &AnyRow) -> Result<Activity, sqlx::Error> {
    Ok(Activity {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        status: row.try_get("status")?,
        version: row.try_get("version")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

impl Store {
    /// The live activities of a domain, by id, `limit` from `offset`.
    pub async fn activities(
        &self,
        domain_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<Page<Activity>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM activities WHERE domain_id = $1 AND deleted_at_ms IS NULL \
             ORDER BY id LIMIT $2 OFFSET $3",
        )
        .bind(domain_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM activities WHERE domain_id = $1 AND deleted_at_ms IS NULL",
        )
        .bind(domain_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(Page { items: rows.iter().map(from_row).collect::<Result<_, _>>()?, total })
    }

    /// One live activity of a domain.
    pub async fn activity(&self, domain_id: i64, id: i64) -> Result<Activity, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM activities WHERE id = $1 AND domain_id = $2 AND deleted_at_ms IS NULL",
        )
        .bind(id)
        .bind(domain_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("activity"))?;
        Ok(from_row(&row)?)
    }

    /// Creates an activity. Audited, with its first history entry.
    pub async fn create_activity(
        &self,
        actor: &Actor,
        domain_id: i64,
        fields: &ActivityFields,
    ) -> Result<Activity, StoreError> {
        let now = self.now_ms();
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(
            "INSERT INTO activities (domain_id, name, description, status, version, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING *",
        )
        .bind(domain_id)
        .bind(&fields.name)
        .bind(&fields.description)
        .bind(&fields.status)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let activity = from_row(&row)?;
        let conn = tx.acquire().await?;
        record_change(conn, now, actor, domain_id, &activity, CREATE).await?;
        tx.commit().await?;
        Ok(activity)
    }

    /// Replaces an activity's fields. Audited, with a history entry.
    pub async fn update_activity(
        &self,
        actor: &Actor,
        domain_id: i64,
        id: i64,
        fields: &ActivityFields,
    ) -> Result<Activity, StoreError> {
        let now = self.now_ms();
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(
            "UPDATE activities SET name = $1, description = $2, status = $3, version = version + 1, \
             updated_at_ms = $4 WHERE id = $5 AND domain_id = $6 AND deleted_at_ms IS NULL RETURNING *",
        )
        .bind(&fields.name)
        .bind(&fields.description)
        .bind(&fields.status)
        .bind(now)
        .bind(id)
        .bind(domain_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("activity"))?;
        let activity = from_row(&row)?;
        record_change(tx.acquire().await?, now, actor, domain_id, &activity, UPDATE).await?;
        tx.commit().await?;
        Ok(activity)
    }

    /// Deletes an activity (kept, with its history, but no longer listed). Audited.
    pub async fn delete_activity(
        &self,
        actor: &Actor,
        domain_id: i64,
        id: i64,
    ) -> Result<Activity, StoreError> {
        let now = self.now_ms();
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(
            "UPDATE activities SET deleted_at_ms = $1, version = version + 1, updated_at_ms = $1 \
             WHERE id = $2 AND domain_id = $3 AND deleted_at_ms IS NULL RETURNING *",
        )
        .bind(now)
        .bind(id)
        .bind(domain_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("activity"))?;
        let activity = from_row(&row)?;
        record_change(tx.acquire().await?, now, actor, domain_id, &activity, DELETE).await?;
        tx.commit().await?;
        Ok(activity)
    }

    /// An activity's history, oldest first (deleted activities keep theirs).
    pub async fn activity_history(
        &self,
        domain_id: i64,
        id: i64,
    ) -> Result<Vec<ActivityChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT h.version, h.at_ms, h.change, h.snapshot, a.actor_name, a.application, a.request_id \
             FROM activity_history h JOIN activities v ON v.id = h.activity_id \
             JOIN audit_records a ON a.id = h.audit_id \
             WHERE h.activity_id = $1 AND v.domain_id = $2 ORDER BY h.version",
        )
        .bind(id)
        .bind(domain_id)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound("activity"));
        }
        rows.iter()
            .map(|row| {
                let snapshot: String = row.try_get("snapshot")?;
                Ok(ActivityChange {
                    version: row.try_get("version")?,
                    at_ms: row.try_get("at_ms")?,
                    change: row.try_get("change")?,
                    actor_name: row.try_get("actor_name")?,
                    application: row.try_get("application")?,
                    request_id: row.try_get("request_id")?,
                    snapshot: serde_json::from_str(&snapshot).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
}

/// Each change's audit action and history name.
const CREATE: (&str, &str) = ("activity.create", "create");
const UPDATE: (&str, &str) = ("activity.update", "update");
const DELETE: (&str, &str) = ("activity.delete", "delete");

/// Writes the audit record and the history entry of one change to `activity`.
async fn record_change(
    conn: &mut sqlx::AnyConnection,
    now: i64,
    actor: &Actor,
    domain_id: i64,
    activity: &Activity,
    (action, change): (&'static str, &'static str),
) -> Result<(), StoreError> {
    let snapshot = serde_json::to_value(activity).expect("an activity serializes");
    let audit_id = audit::record(
        &mut *conn,
        now,
        Change {
            action,
            target_type: "activity",
            target_id: activity.id.to_string(),
            detail: json!({"version": activity.version, "name": activity.name}),
            domain_id: Some(domain_id),
            actor,
        },
    )
    .await?;
    sqlx::query(
        "INSERT INTO activity_history (activity_id, version, at_ms, audit_id, change, snapshot) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(activity.id)
    .bind(activity.version)
    .bind(now)
    .bind(audit_id)
    .bind(change)
    .bind(snapshot.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
