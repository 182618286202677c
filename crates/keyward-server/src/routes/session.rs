//! `/api/login`, `/api/logout`, `/api/me`: bearer tokens and who-am-I.

use axum::Json;
use axum::extract::State;
use keyward_sig::token::CredentialKind;
use keyward_store::{StoreError, TokenOwner};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Identity, Principal};
use crate::error::{ApiError, ErrorCode};
use crate::extract::ApiJson;
use crate::openapi::{AuthFailures, ErrorBody};

/// The DevResults login body; `username`/`password` are accepted too.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    #[serde(rename = "UserName", alias = "username", alias = "userName")]
    user_name: String,
    #[serde(rename = "Password", alias = "password")]
    password: String,
}

/// `POST /api/login`: a user's name and password, or an API key's token and secret, for an
/// access token valid one year (by default).
#[utoipa::path(
    post,
    path = "/api/login",
    security(()),
    tag = "session",
    summary = "Log in: a user name and password, or an API key token and secret, for an access token.",
    request_body = LoginBody,
    responses((status = 200, description = "An access token valid one year: {access_token, token_type: Bearer, expires_in, expires_at_ms}"), (status = 401, description = "Wrong name or password (21)", body = ErrorBody), (status = 422, description = "Invalid body (31)", body = ErrorBody)),
)]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<Value>, ApiError> {
    let invalid = || ApiError::new(ErrorCode::InvalidLogin);
    let (owner, domain_id) = if CredentialKind::ApiKeyToken.check(&body.user_name).is_ok() {
        let credentials =
            state.store.key_credentials(&body.user_name).await?.ok_or_else(invalid)?;
        let matches = |secret: &str| {
            keyward_sig::mac::constant_time_eq(secret.as_bytes(), body.password.as_bytes())
        };
        let previous = credentials.previous_secret.as_ref().is_some_and(|s| matches(&s.0));
        if !(matches(&credentials.secret.0) | previous) {
            return Err(invalid());
        }
        // Reseller keys have no domain to log in to.
        let domain = credentials.key.domain_id.ok_or_else(invalid)?;
        (TokenOwner::Key(credentials.key.id), domain)
    } else {
        let user = state.store.authenticate_user(&body.user_name, &body.password).await?;
        let user = user.ok_or_else(invalid)?;
        (TokenOwner::User(user.id), user.domain_id)
    };
    let ttl_ms = state.settings.token_ttl_ms;
    let (token, expires_at_ms) = state.store.issue_access_token(owner, domain_id, ttl_ms).await?;
    Ok(Json(json!({
        "access_token": token.0,
        "token_type": "Bearer",
        "expires_in": ttl_ms / 1000,
        "expires_at_ms": expires_at_ms,
    })))
}

/// `POST /api/logout`: revokes the bearer token it is called with.
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "session",
    summary = "Revoke the bearer token this is called with.",
    responses((status = 200, description = "Revoked"), AuthFailures),
)]
pub async fn logout(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let digest = principal.access_token.ok_or_else(|| {
        ApiError::new(ErrorCode::SchemeNotAllowed)
            .with_message("Logout revokes the bearer token it is called with; call it with one")
    })?;
    match state.store.revoke_access_token(&digest).await {
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(other) => return Err(other.into()),
    }
    state.cache.invalidate_token(&digest);
    Ok(Json(json!({ "data": { "revoked": true } })))
}

/// `GET /api/me`: the caller.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "session",
    summary = "Who is calling: principal, domain, permissions and scheme.",
    responses((status = 200, description = "The principal"), AuthFailures),
)]
pub async fn me(principal: Principal) -> Json<Value> {
    let permissions: Vec<&str> = principal.permissions.iter().collect();
    let identity = match &principal.identity {
        Identity::User { id, username } => json!({ "type": "user", "id": id, "name": username }),
        Identity::Key { id, name, kind } => {
            json!({ "type": "api_key", "id": id, "name": name, "kind": kind.as_str() })
        }
    };
    Json(json!({ "data": {
        "principal": identity,
        "domain_id": principal.domain_id,
        "reseller_id": principal.reseller_id,
        "permissions": permissions,
        "scheme": principal.scheme.as_str(),
    }}))
}
