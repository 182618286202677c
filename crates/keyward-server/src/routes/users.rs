//! `/api/admin/users`: the caller's domain's users.
//!
//! Every handler asks [`authorize`]: a user manager acts only on users whose permissions it
//! holds itself, and grants only those (so it cannot set the password of, disable or demote a
//! stronger user). A new password revokes the user's other access tokens and console sessions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_store::{Permissions, State as AccountState, UserUpdate};
use serde::Deserialize;

use super::keys::known;
use super::quotas::{RateLimitInput, not_own_limits, present, user_rate_limit};
use crate::AppState;
use crate::auth::{Identity, Principal, RequestId};
use crate::authz::{Action, Target, authorize};
use crate::error::ApiError;
use crate::extract::{ApiPath, Payload, required_text};
use crate::openapi::{AuthFailures, ErrorBody};
use crate::views::{Data, UserView};

/// A new password, checked against keyward's one password rule.
pub(crate) fn checked_password(password: &str) -> Result<String, ApiError> {
    keyward_store::check_password(password)
        .map_err(|why| ApiError::invalid_field("password", why))?;
    Ok(password.to_owned())
}

/// The caller's domain, when the caller may manage users holding `permissions` there.
fn own_users(principal: &Principal, permissions: Permissions) -> Result<i64, ApiError> {
    let domain = principal.domain()?;
    authorize(principal, Action::ManageUsers, &Target::in_domain(domain, permissions))?;
    Ok(domain)
}

/// Whether `principal` is held to user `id`'s rate limit: it is the user, or a key rooted in
/// them.
async fn held_to_limit_of(
    state: &AppState,
    principal: &Principal,
    domain: i64,
    id: i64,
) -> Result<bool, ApiError> {
    Ok(match principal.identity {
        Identity::User { id: me, .. } => me == id,
        // A key of another owner (a reseller's) is rooted in no user of this domain.
        Identity::Key { id: key, .. } => {
            match state.store.api_key(keyward_store::KeyOwner::Domain(domain), key).await {
                Ok(key) => key.root_user_id == Some(id),
                Err(keyward_store::StoreError::NotFound(_)) => false,
                Err(error) => return Err(error.into()),
            }
        }
    })
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
#[serde(deny_unknown_fields)]
pub struct NewUserInput {
    username: Option<String>,
    password: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
    /// The rate limit on every request the user makes (with their tokens or any key rooted in
    /// them) [default: none].
    rate_limit: Option<RateLimitInput>,
}

/// `POST /api/admin/users`.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    summary = "Create a user. Needs users:manage; never more permissions than the caller holds.",
    request_body = NewUserInput,
    responses((status = 201, description = "{data: user}", body = Data<UserView>), (status = 409, description = "Name taken (41)", body = ErrorBody), AuthFailures),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    Payload(input): Payload<NewUserInput>,
) -> Result<(StatusCode, Json<Data<UserView>>), ApiError> {
    own_users(&principal, Permissions::default())?;
    let (username, password) = checked_credentials(input.username, input.password)?;
    let permissions = known(&input.permissions)?;
    let rate_limit = user_rate_limit(input.rate_limit)?;
    let domain = own_users(&principal, permissions)?;
    let actor = principal.actor(&request_id);
    let mut user =
        state.store.create_user(&actor, domain, &username, &password, &permissions).await?;
    if rate_limit.is_some() {
        user = state.store.set_user_rate_limit(&actor, domain, user.id, rate_limit).await?;
    }
    Ok((StatusCode::CREATED, Data::of(UserView::of(&user))))
}

/// `GET /api/admin/users`.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    summary = "The domain's users. Needs users:manage.",
    responses((status = 200, description = "{data: [user]}", body = Data<Vec<UserView>>), AuthFailures),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<UserView>>>, ApiError> {
    let users = state.store.users(own_users(&principal, Permissions::default())?).await?;
    Ok(Data::of(users.iter().map(UserView::of).collect()))
}

/// `GET /api/admin/users/{id}`.
#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    summary = "One user. Needs users:manage.",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, description = "{data: user}", body = Data<UserView>), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<UserView>>, ApiError> {
    let user = state.store.user(own_users(&principal, Permissions::default())?, id).await?;
    Ok(Data::of(UserView::of(&user)))
}

/// A user change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChangeInput {
    permissions: Option<Vec<String>>,
    state: Option<String>,
    password: Option<String>,
    /// The new rate limit, or `null` for none; nobody changes their own.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimitInput>)]
    rate_limit: Option<Option<RateLimitInput>>,
}

/// `PATCH /api/admin/users/{id}`: permissions, state (`active`/`disabled`), password. The
/// caller must hold every permission the user holds and every one it is given.
#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    summary = "Change a user's permissions, state, password (which revokes the user's other tokens and sessions) or rate limit (nobody changes their own). Needs users:manage and every permission the user holds or is given.",
    params(("id" = i64, Path, description = "User id")), request_body = UserChangeInput,
    responses((status = 200, description = "{data: user}", body = Data<UserView>), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
    Payload(input): Payload<UserChangeInput>,
) -> Result<Json<Data<UserView>>, ApiError> {
    let domain = own_users(&principal, Permissions::default())?;
    let permissions = input.permissions.as_deref().map(known).transpose()?;
    let user = state.store.user(domain, id).await?;
    let touched = user.permissions.union(permissions.unwrap_or_default());
    let domain = own_users(&principal, touched)?;
    let update = UserUpdate {
        permissions,
        state: match input.state.as_deref() {
            None => None,
            Some("active") => Some(AccountState::Active),
            Some("disabled") => Some(AccountState::Disabled),
            Some(_) => {
                return Err(ApiError::invalid_field("state", "state must be active or disabled"));
            }
        },
        password: input.password.as_deref().map(checked_password).transpose()?,
        // Users who change their own password keep the session they changed it with.
        keep_token: principal
            .access_token
            .filter(|_| matches!(principal.identity, Identity::User { id: me, .. } if me == id)),
    };
    let rate_limit = match input.rate_limit {
        Some(limit) => {
            not_own_limits(held_to_limit_of(&state, &principal, domain, id).await?)?;
            Some(user_rate_limit(limit)?)
        }
        None => None,
    };
    let actor = principal.actor(&request_id);
    let changes =
        update.permissions.is_some() || update.state.is_some() || update.password.is_some();
    let mut user = match changes || rate_limit.is_none() {
        true => state.store.update_user(&actor, domain, id, update).await?,
        false => state.store.user(domain, id).await?,
    };
    if let Some(limit) = rate_limit {
        user = state.store.set_user_rate_limit(&actor, domain, id, limit).await?;
    }
    Ok(Data::of(UserView::of(&user)))
}
