//! `/api/activities`: the sample protected resource, in the DevResults style.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_store::{Activity, ActivityChange, ActivityFields};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, Paging, Payload, optional_text, required_text};
use crate::openapi::{AuthFailures, ErrorBody};
use crate::views::{Data, Listed};

/// An activity as clients send it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityInput {
    name: Option<String>,
    description: Option<String>,
    status: Option<String>,
}

impl ActivityInput {
    fn checked(self) -> Result<ActivityFields, ApiError> {
        let name = self.name.ok_or_else(|| ApiError::invalid_field("name", "name is required"))?;
        Ok(ActivityFields {
            name: required_text("name", &name, 200)?,
            description: optional_text("description", self.description.as_deref(), 10_000)?,
            status: optional_text("status", self.status.as_deref(), 50)?,
        })
    }
}

/// `GET /api/activities`: a page of activities, as JSON or (with `Accept: text/csv`) CSV.
#[utoipa::path(
    get,
    path = "/api/activities",
    tag = "activities",
    summary = "A page of activities, as JSON or (with Accept: text/csv) CSV. Needs activities:read.",
    params(Paging),
    responses((status = 200, description = "A page of activities", body = Listed<Activity>), AuthFailures),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(paging): ApiQuery<Paging>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require("activities:read")?;
    let (offset, limit) = paging.window()?;
    let page = state.store.activities(principal.domain()?, offset, limit).await?;
    if wants_csv(&headers) {
        return Ok(csv_response(&page.items));
    }
    let paging = paging.describe(page.total);
    Ok(Json(Listed { data: page.items, paging }).into_response())
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| accept.split(',').any(|range| range.trim().starts_with("text/csv")))
}

/// A cell a spreadsheet would not run as a formula (OWASP, CSV injection): text starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, which spreadsheets
/// show as text and which a reader can strip.
fn neutralised(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// The CSV export: client-set text neutralised against formula injection.
fn csv_response(items: &[Activity]) -> Response {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header =
        ["id", "name", "description", "status", "version", "created_at_ms", "updated_at_ms"];
    let written = "writing CSV to memory cannot fail";
    writer.write_record(header).expect(written);
    for a in items {
        writer
            .write_record([
                a.id.to_string(),
                neutralised(&a.name).into_owned(),
                neutralised(a.description.as_deref().unwrap_or_default()).into_owned(),
                neutralised(a.status.as_deref().unwrap_or_default()).into_owned(),
                a.version.to_string(),
                a.created_at_ms.to_string(),
                a.updated_at_ms.to_string(),
            ])
            .expect(written);
    }
    let body = writer.into_inner().expect(written);
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

/// `POST /api/activities` with `{"data": {...}}`.
#[utoipa::path(
    post,
    path = "/api/activities",
    tag = "activities",
    summary = "Create an activity. Needs activities:write.",
    request_body = ActivityInput,
    responses((status = 201, description = "Created", body = Data<Activity>), (status = 422, description = "Invalid field (31)", body = ErrorBody), AuthFailures),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    Payload(input): Payload<ActivityInput>,
) -> Result<(StatusCode, Json<Data<Activity>>), ApiError> {
    principal.require("activities:write")?;
    let fields = input.checked()?;
    let domain = principal.domain()?;
    let activity =
        state.store.create_activity(&principal.actor(&request_id), domain, &fields).await?;
    Ok((StatusCode::CREATED, Data::of(activity)))
}

/// `GET /api/activities/{id}`.
#[utoipa::path(
    get,
    path = "/api/activities/{id}",
    tag = "activities",
    summary = "One activity. Needs activities:read.",
    params(("id" = i64, Path, description = "Activity id")),
    responses((status = 200, description = "The activity", body = Data<Activity>), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<Activity>>, ApiError> {
    principal.require("activities:read")?;
    let activity = state.store.activity(principal.domain()?, id).await?;
    Ok(Data::of(activity))
}

/// `PUT /api/activities/{id}` with `{"data": {...}}`.
#[utoipa::path(
    put,
    path = "/api/activities/{id}",
    tag = "activities",
    summary = "Replace an activity's fields. Needs activities:write.",
    params(("id" = i64, Path, description = "Activity id")), request_body = ActivityInput,
    responses((status = 200, description = "The activity", body = Data<Activity>), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
    Payload(input): Payload<ActivityInput>,
) -> Result<Json<Data<Activity>>, ApiError> {
    principal.require("activities:write")?;
    let fields = input.checked()?;
    let domain = principal.domain()?;
    let activity =
        state.store.update_activity(&principal.actor(&request_id), domain, id, &fields).await?;
    Ok(Data::of(activity))
}

/// `DELETE /api/activities/{id}`.
#[utoipa::path(
    delete,
    path = "/api/activities/{id}",
    tag = "activities",
    summary = "Delete an activity (its history stays). Needs activities:write.",
    params(("id" = i64, Path, description = "Activity id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    principal.require("activities:write")?;
    let domain = principal.domain()?;
    state.store.delete_activity(&principal.actor(&request_id), domain, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/activities/{id}/history`: every change, oldest first, with who made it.
#[utoipa::path(
    get,
    path = "/api/activities/{id}/history",
    tag = "activities",
    summary = "Every change, oldest first, with who made it and from which application.",
    params(("id" = i64, Path, description = "Activity id")),
    responses((status = 200, description = "Its changes", body = Data<Vec<ActivityChange>>), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<Vec<ActivityChange>>>, ApiError> {
    principal.require("activities:read")?;
    let history = state.store.activity_history(principal.domain()?, id).await?;
    Ok(Data::of(history))
}

#[cfg(test)]
mod tests {
    use super::neutralised;

    proptest::proptest! {
        /// No cell starts what a spreadsheet runs, and only a leading `'` is ever added.
        #[test]
        fn no_cell_starts_a_formula(cell in ".{0,40}") {
            let out = neutralised(&cell);
            proptest::prop_assert!(!out.starts_with(['=', '+', '-', '@', '\t', '\r']));
            proptest::prop_assert!(out == cell || out.strip_prefix('\'') == Some(cell.as_str()));
        }
    }

    #[test]
    fn formula_cells_are_neutralised_and_others_kept() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralised(formula), format!("'{formula}"));
        }
        for text in ["Water points", "", "a=b", "1-2"] {
            assert_eq!(neutralised(text), text);
        }
    }
}
