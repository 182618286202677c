//! `/api/admin/audit`: who changed what, filtered by application, user, key and time.

use axum::Json;
use axum::extract::State;
use keyward_store::{AuditFilter, AuditRecord};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Paging};
use crate::openapi::AuthFailures;
use crate::views::Listed;

/// The audit query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    application: Option<String>,
    user_id: Option<i64>,
    key_id: Option<i64>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// `GET /api/admin/audit`.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "admin",
    summary = "The audit log, newest first, filtered. Needs audit:read.",
    params(AuditQuery),
    responses((status = 200, description = "A page of records", body = Listed<AuditRecord>), AuthFailures),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Listed<AuditRecord>>, ApiError> {
    principal.require("audit:read")?;
    let paging = Paging::new(query.page, query.page_size);
    let (offset, limit) = paging.window()?;
    let filter = AuditFilter {
        application: query.application,
        user_id: query.user_id,
        key_id: query.key_id,
        since_ms: query.since_ms,
        until_ms: query.until_ms,
    };
    let page = state.store.audit_records(principal.domain()?, &filter, offset, limit).await?;
    Ok(Json(Listed { data: page.items, paging: paging.describe(page.total) }))
}
