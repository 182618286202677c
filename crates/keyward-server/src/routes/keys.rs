//! `/api/admin/keys`: the caller's domain's API keys, DevResults style.
//!
//! A key never holds more than its creator: the permissions asked for must be within the
//! caller's. The secret is shown in full on creation and rotation, and to `keys:reveal`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_store::{ApiKey, KeyOwner, NewApiKey, Permissions, Secret};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Principal, RequestId};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiPath, Payload, optional_payload, required_text};
use crate::openapi::{AuthFailures, ErrorBody};

pub(crate) fn key_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "token": key.token,
        "kind": key.kind.as_str(),
        "permissions": key.permissions,
        "created_by_user_id": key.created_by_user_id,
        "created_by_key_id": key.created_by_key_id,
        "created_at_ms": key.created_at_ms,
        "last_used_at_ms": key.last_used_at_ms,
        "previous_secret_until_ms": key.previous_secret_until_ms,
        "state": key.state,
    })
}

fn with_secret(key: &ApiKey, secret: &Secret) -> Value {
    let mut value = key_json(key);
    value["secret"] = json!(secret.0);
    value
}

/// The caller's domain's keys, when the caller holds `permission` there.
fn own_keys(principal: &Principal, permission: &str) -> Result<KeyOwner, ApiError> {
    principal.require(permission)?;
    Ok(KeyOwner::Domain(principal.domain()?))
}

/// Checks that requested permissions are ones keyward knows.
pub(crate) fn known(requested: &[String]) -> Result<Permissions, ApiError> {
    Permissions::parse(requested).map_err(|unknown| {
        ApiError::invalid_field("permissions", format!("unknown permission {unknown:?}"))
    })
}

/// Checks requested permissions: known, and within the caller's.
pub(crate) fn grantable(
    principal: &Principal,
    requested: &[String],
) -> Result<Permissions, ApiError> {
    let permissions = known(requested)?;
    let excess = principal.permissions.missing_from(&permissions);
    if !excess.is_empty() {
        return Err(ApiError::new(ErrorCode::PermissionDenied)
            .with_message("Cannot grant permissions the caller does not hold")
            .with_detail(json!({ "not_held": excess })));
    }
    Ok(permissions)
}

/// A new key's name and permissions.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewKeyInput {
    name: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

impl NewKeyInput {
    /// The key asked for, for `owner`, its permissions checked by `grant`.
    pub(crate) fn checked(
        self,
        owner: KeyOwner,
        grant: impl FnOnce(&[String]) -> Result<Permissions, ApiError>,
    ) -> Result<NewApiKey, ApiError> {
        let name = self.name.ok_or_else(|| ApiError::invalid_field("name", "name is required"))?;
        Ok(NewApiKey {
            owner,
            name: required_text("name", &name, 100)?,
            permissions: grant(&self.permissions)?,
        })
    }
}

/// `POST /api/admin/keys`: answers 201 with the key, its token and its secret.
#[utoipa::path(
    post,
    path = "/api/admin/keys",
    tag = "keys",
    summary = "Create an API key; the answer holds its token and secret (shown only here). Needs keys:manage; never more permissions than the caller.",
    request_body = NewKeyInput,
    responses((status = 201, description = "{data: key with token and secret}"), (status = 422, description = "Invalid field (31)", body = ErrorBody), AuthFailures),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    Payload(input): Payload<NewKeyInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let owner = own_keys(&principal, "keys:manage")?;
    let new = input.checked(owner, |asked| grantable(&principal, asked))?;
    let (key, secret) = state.store.create_api_key(&principal.actor(&request_id), &new).await?;
    Ok(created(&key, &secret))
}

/// A new key's answer: 201 with the key, its token and its secret (shown this once).
pub(crate) fn created(key: &ApiKey, secret: &Secret) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(json!({ "data": with_secret(key, secret) })))
}

/// `GET /api/admin/keys`.
#[utoipa::path(
    get,
    path = "/api/admin/keys",
    tag = "keys",
    summary = "The domain's API keys. Needs keys:manage.",
    responses((status = 200, description = "{data: [key]}"), AuthFailures),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let owner = own_keys(&principal, "keys:manage")?;
    let keys = state.store.api_keys(owner).await?;
    Ok(Json(json!({ "data": keys.iter().map(key_json).collect::<Vec<_>>() })))
}

/// `GET /api/admin/keys/{id}`.
#[utoipa::path(
    get,
    path = "/api/admin/keys/{id}",
    tag = "keys",
    summary = "One API key. Needs keys:manage.",
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "{data: key}"), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let owner = own_keys(&principal, "keys:manage")?;
    let key = state.store.api_key(owner, id).await?;
    Ok(Json(json!({ "data": key_json(&key) })))
}

/// A rename.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RenameInput {
    name: Option<String>,
}

/// `PATCH /api/admin/keys/{id}` with `{"data": {"name": ...}}`.
#[utoipa::path(
    patch,
    path = "/api/admin/keys/{id}",
    tag = "keys",
    summary = "Rename an API key. Needs keys:manage.",
    params(("id" = i64, Path, description = "Key id")), request_body = RenameInput,
    responses((status = 200, description = "{data: key}"), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn rename(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
    Payload(input): Payload<RenameInput>,
) -> Result<Json<Value>, ApiError> {
    let owner = own_keys(&principal, "keys:manage")?;
    let name = input.name.ok_or_else(|| ApiError::invalid_field("name", "name is required"))?;
    let name = required_text("name", &name, 100)?;
    let key = state.store.rename_api_key(&principal.actor(&request_id), owner, id, &name).await?;
    // The name is the application name audit records carry: refresh the cached one.
    state.cache.invalidate_key(&key.token);
    Ok(Json(json!({ "data": key_json(&key) })))
}

/// `POST /api/admin/keys/{id}/regenerate-token`: the old token is refused from now on.
#[utoipa::path(
    post,
    path = "/api/admin/keys/{id}/regenerate-token",
    tag = "keys",
    summary = "A new token; the old one is refused at once. Needs keys:manage.",
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "{data: key}"), (status = 409, description = "Revoked (41)", body = ErrorBody), AuthFailures),
)]
pub async fn regenerate_token(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let owner = own_keys(&principal, "keys:manage")?;
    let (key, old) = state.store.regenerate_token(&principal.actor(&request_id), owner, id).await?;
    state.cache.invalidate_key(&old);
    Ok(Json(json!({ "data": key_json(&key) })))
}

/// Optional rotation settings.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RotateInput {
    overlap_seconds: Option<i64>,
}

/// `POST /api/admin/keys/{id}/rotate-secret`: a new secret; the previous one keeps verifying
/// for the overlap (`overlap_seconds`, default from the configuration).
#[utoipa::path(
    post,
    path = "/api/admin/keys/{id}/rotate-secret",
    tag = "keys",
    summary = "A new secret (shown only here); the previous one verifies during the overlap. Needs keys:manage.",
    params(("id" = i64, Path, description = "Key id")), request_body(content = Option<RotateInput>, description = "Optional overlap"),
    responses((status = 200, description = "{data: key with secret}"), (status = 409, description = "Revoked (41)", body = ErrorBody), AuthFailures),
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
    body: bytes::Bytes,
) -> Result<Json<Value>, ApiError> {
    let owner = own_keys(&principal, "keys:manage")?;
    let overlap = optional_payload::<RotateInput>(&body)?.and_then(|b| b.overlap_seconds);
    let overlap_ms = match overlap {
        Some(seconds) if !(0..=30 * 86_400).contains(&seconds) => {
            return Err(ApiError::invalid_field(
                "overlap_seconds",
                "overlap_seconds must be 0 to 2592000",
            ));
        }
        Some(seconds) => seconds * 1000,
        None => state.settings.rotation_overlap_ms,
    };
    let actor = principal.actor(&request_id);
    let (key, secret) = state.store.rotate_secret(&actor, owner, id, overlap_ms).await?;
    state.cache.invalidate_key(&key.token);
    Ok(Json(json!({ "data": with_secret(&key, &secret) })))
}

/// `POST /api/admin/keys/{id}/reveal`: the secret, for `keys:reveal` (audited).
#[utoipa::path(
    post,
    path = "/api/admin/keys/{id}/reveal",
    tag = "keys",
    summary = "The key's secret. Needs keys:reveal; audited.",
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "{data: {id, secret}}"), AuthFailures),
)]
pub async fn reveal(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let owner = own_keys(&principal, "keys:reveal")?;
    let secret = state.store.reveal_secret(&principal.actor(&request_id), owner, id).await?;
    Ok(Json(json!({ "data": { "id": id, "secret": secret.0 } })))
}

/// `DELETE /api/admin/keys/{id}`: revokes the key; it is refused from the next request on.
#[utoipa::path(
    delete,
    path = "/api/admin/keys/{id}",
    tag = "keys",
    summary = "Revoke a key for good. Needs keys:manage.",
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "{data: key}"), AuthFailures),
)]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let owner = own_keys(&principal, "keys:manage")?;
    let key = state.store.revoke_api_key(&principal.actor(&request_id), owner, id).await?;
    state.cache.invalidate_key(&key.token);
    Ok(Json(json!({ "data": key_json(&key) })))
}
