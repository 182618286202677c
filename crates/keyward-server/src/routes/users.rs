//! `/api/admin/users`: the caller's domain's users.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_store::{State as AccountState, User, UserUpdate};
use serde::Deserialize;
use serde_json::{Value, json};

use super::keys::grantable;
use crate::AppState;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiPath, Payload, required_text};
use crate::openapi::{AuthFailures, ErrorBody};

pub(crate) fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "permissions": user.permissions,
        "state": user.state,
        "created_at_ms": user.created_at_ms,
    })
}

fn checked_password(password: &str) -> Result<String, ApiError> {
    if password.chars().count() < 12 {
        return Err(ApiError::invalid_field(
            "password",
            "password must have at least 12 characters",
        ));
    }
    if password.len() > 1024 {
        return Err(ApiError::invalid_field("password", "password is longer than 1024 bytes"));
    }
    Ok(password.to_owned())
}

/// A new user's name and password, both required and checked.
pub(crate) fn checked_credentials(
    username: Option<String>,
    password: Option<String>,
) -> Result<(String, String), ApiError> {
    let username =
        username.ok_or_else(|| ApiError::invalid_field("username", "username is required"))?;
    let password =
        password.ok_or_else(|| ApiError::invalid_field("password", "password is required"))?;
    Ok((required_text("username", &username, 100)?, checked_password(&password)?))
}

/// A new user.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewUserInput {
    username: Option<String>,
    password: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

/// `POST /api/admin/users`.
#[utoipa::path(
    post,
    path = "/api/admin/users",
    tag = "users",
    summary = "Create a user. Needs users:manage; never more permissions than the caller.",
    request_body = NewUserInput,
    responses((status = 201, description = "{data: user}"), (status = 409, description = "Name taken (41)", body = ErrorBody), AuthFailures),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    Payload(input): Payload<NewUserInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    principal.require("users:manage")?;
    let (username, password) = checked_credentials(input.username, input.password)?;
    let permissions = grantable(&principal, &input.permissions)?;
    let actor = principal.actor(&request_id);
    let user = state
        .store
        .create_user(&actor, principal.domain()?, &username, &password, &permissions)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "data": user_json(&user) }))))
}

/// `GET /api/admin/users`.
#[utoipa::path(
    get,
    path = "/api/admin/users",
    tag = "users",
    summary = "The domain's users. Needs users:manage.",
    responses((status = 200, description = "{data: [user]}"), AuthFailures),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    principal.require("users:manage")?;
    let users = state.store.users(principal.domain()?).await?;
    Ok(Json(json!({ "data": users.iter().map(user_json).collect::<Vec<_>>() })))
}

/// `GET /api/admin/users/{id}`.
#[utoipa::path(
    get,
    path = "/api/admin/users/{id}",
    tag = "users",
    summary = "One user. Needs users:manage.",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, description = "{data: user}"), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    principal.require("users:manage")?;
    let user = state.store.user(principal.domain()?, id).await?;
    Ok(Json(json!({ "data": user_json(&user) })))
}

/// A user change.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UserChangeInput {
    permissions: Option<Vec<String>>,
    state: Option<String>,
    password: Option<String>,
}

/// `PATCH /api/admin/users/{id}`: permissions, state (`active`/`disabled`), password.
#[utoipa::path(
    patch,
    path = "/api/admin/users/{id}",
    tag = "users",
    summary = "Change a user's permissions, state or password. Needs users:manage.",
    params(("id" = i64, Path, description = "User id")), request_body = UserChangeInput,
    responses((status = 200, description = "{data: user}"), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
    Payload(input): Payload<UserChangeInput>,
) -> Result<Json<Value>, ApiError> {
    principal.require("users:manage")?;
    let update = UserUpdate {
        permissions: input.permissions.map(|p| grantable(&principal, &p)).transpose()?,
        state: match input.state.as_deref() {
            None => None,
            Some("active") => Some(AccountState::Active),
            Some("disabled") => Some(AccountState::Disabled),
            Some(_) => {
                return Err(ApiError::invalid_field("state", "state must be active or disabled"));
            }
        },
        password: input.password.as_deref().map(checked_password).transpose()?,
    };
    let user = state
        .store
        .update_user(&principal.actor(&request_id), principal.domain()?, id, update)
        .await?;
    // A user's tokens carry its rights: forget them so the change applies at once.
    state.cache.invalidate_all();
    Ok(Json(json!({ "data": user_json(&user) })))
}
