//! `/api/login`, `/api/logout`, `/api/me`, `/api/me/password`: bearer tokens and who-am-I.
//!
//! Logins are throttled per account and per client address ([`crate::throttle`]) before any
//! password is hashed, and audited, success and failure alike (a failure under the account it
//! named, when that account exists: a name that matches nobody is only logged, since it may be
//! a password typed in the wrong field). Logouts are audited too.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use keyward_sig::certificate::ClientCertificate;
use keyward_sig::token::CredentialKind;
use keyward_store::{Actor, AuditEvent, StoreError, TokenOwner, User, UserUpdate};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Identity, Principal, RequestId};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ClientAddress, Payload};
use crate::openapi::{AuthFailures, ErrorBody};
use crate::routes::users::checked_password;
use crate::views::{
    AccessTokenView, Confirmation, Data, LoggedOutView, MeView, PasswordChangedView, PrincipalView,
};

/// The DevResults login body; `username`/`password` are accepted too.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[serde(rename = "UserName", alias = "username", alias = "userName")]
    user_name: String,
    #[serde(rename = "Password", alias = "password")]
    password: String,
}

/// Where a login comes from, which decides who may log in and how it is audited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Door {
    /// `POST /api/login`: users, and API keys with their token and secret.
    Api,
    /// `POST /console/session`: people only.
    Console,
}

impl Door {
    fn actions(self) -> (&'static str, &'static str) {
        match self {
            Door::Api => ("session.login", "session.login_failed"),
            Door::Console => ("console.sign_in", "console.sign_in_failed"),
        }
    }
}

/// A login that succeeded: whom to issue a token to, and until when at most.
pub(crate) struct Login {
    pub owner: TokenOwner,
    pub domain_id: i64,
    /// The latest expiry: a key that logged in with its previous secret gets a token that
    /// dies with that secret's overlap.
    pub not_after_ms: Option<i64>,
    pub actor: Actor,
    /// The user, for a person.
    pub user: Option<User>,
}

/// Checks a login at `door`: throttled, then the password (or key secret), then audited.
pub(crate) async fn log_in(
    state: &AppState,
    door: Door,
    request_id: &str,
    address: Option<std::net::IpAddr>,
    name: &str,
    password: &str,
) -> Result<Login, ApiError> {
    let now = state.store.now_ms();
    if let Err(refused) = state.throttle.check(name, address, now) {
        tracing::info!(target: "keyward::auth", granted = false, reason = "login-throttled");
        return Err(refused);
    }
    let (success, failure) = door.actions();
    let detail = json!({ "address": address.map(|a| a.to_string()) });
    let attempt = if door == Door::Api && CredentialKind::ApiKeyToken.check(name).is_ok() {
        key_login(state, request_id, name, password).await?
    } else {
        user_login(state, request_id, name, password).await?
    };
    match attempt {
        Ok(login) => {
            state.throttle.succeeded(name);
            let event = audit_event(success, &login.actor, detail);
            state.store.record_event(&login.actor, event).await?;
            Ok(login)
        }
        Err(known) => {
            state.throttle.failed(name, address, now);
            tracing::info!(target: "keyward::auth", granted = false, reason = "invalid-login");
            if let Some(actor) = known {
                state.store.record_event(&actor, audit_event(failure, &actor, detail)).await?;
            }
            Err(ApiError::new(ErrorCode::InvalidLogin))
        }
    }
}

/// A login attempt's outcome: the login, or the account it named when that exists.
type Attempt = Result<Login, Option<Actor>>;

async fn key_login(
    state: &AppState,
    request_id: &str,
    token: &str,
    secret: &str,
) -> Result<Attempt, ApiError> {
    let Some(credentials) = state.store.key_credentials(token).await? else { return Ok(Err(None)) };
    let key = &credentials.key;
    let actor = Actor::key(request_id, key);
    let matches = |candidate: &str| {
        keyward_sig::mac::constant_time_eq(candidate.as_bytes(), secret.as_bytes())
    };
    // A public-key credential has no secret to log in with.
    let current = credentials.secret().is_some_and(|s| matches(&s.0));
    let previous = credentials.previous_secret().is_some_and(|s| matches(&s.0));
    // Reseller keys have no domain to log in to.
    let Some(domain_id) = key.domain_id.filter(|_| current | previous) else {
        return Ok(Err(Some(actor)));
    };
    // An expired key mints nothing (a live key's tokens carry its policy, expiry included).
    if key.policy.expired(state.store.now_ms()) {
        return Err(ApiError::new(ErrorCode::KeyExpired));
    }
    let not_after_ms = key.previous_secret_until_ms.filter(|_| previous && !current);
    Ok(Ok(Login { owner: TokenOwner::Key(key.id), domain_id, not_after_ms, actor, user: None }))
}

async fn user_login(
    state: &AppState,
    request_id: &str,
    username: &str,
    password: &str,
) -> Result<Attempt, ApiError> {
    let actor = |user: &User| Actor::user(request_id, user.domain_id, user.id, &user.username);
    match state.store.authenticate_user(username, password).await? {
        Some(user) => Ok(Ok(Login {
            owner: TokenOwner::User(user.id),
            domain_id: user.domain_id,
            not_after_ms: None,
            actor: actor(&user),
            user: Some(user),
        })),
        None => Ok(Err(state.store.user_named(username).await?.as_ref().map(actor))),
    }
}

fn audit_event(action: &'static str, actor: &Actor, detail: Value) -> AuditEvent {
    let (target_type, target_id) = match (actor.user_id, actor.key_id) {
        (Some(user), _) => ("user", user.to_string()),
        (None, Some(key)) => ("api_key", key.to_string()),
        (None, None) => ("user", String::new()),
    };
    AuditEvent { action, target_type, target_id, detail }
}

/// `POST /api/login`: a user's name and password, or an API key's token and secret, for an
/// access token valid one year (by default).
#[utoipa::path(
    post,
    path = "/api/login",
    security(()),
    tag = "session",
    summary = "Log in: a user name and password, or an API key token and secret, for an access token. Throttled per account and per address; audited.",
    request_body = LoginBody,
    responses((status = 200, description = "An access token valid one year", body = AccessTokenView), (status = 401, description = "Wrong name or password (21)", body = ErrorBody), (status = 422, description = "Invalid body (31)", body = ErrorBody), (status = 429, description = "Too many failed logins (25), with Retry-After", body = ErrorBody)),
)]
pub async fn login(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    ClientAddress(address): ClientAddress,
    certificate: Option<Extension<Arc<ClientCertificate>>>,
    Payload(body): Payload<LoginBody>,
) -> Result<Json<AccessTokenView>, ApiError> {
    let login =
        log_in(&state, Door::Api, &request_id, address, &body.user_name, &body.password).await?;
    let now = state.store.now_ms();
    let ttl_ms = match login.not_after_ms {
        Some(until) => state.settings.token_ttl_ms.min(until.saturating_sub(now)),
        None => state.settings.token_ttl_ms,
    };
    // Over a connection that presented a client certificate, the token is bound to it.
    let (token, expires_at_ms) = match &certificate {
        Some(Extension(certificate)) => {
            let store = &state.store;
            let sha256 = certificate.sha256();
            store.issue_bound_access_token(login.owner, login.domain_id, ttl_ms, sha256).await?
        }
        None => state.store.issue_access_token(login.owner, login.domain_id, ttl_ms).await?,
    };
    Ok(Json(AccessTokenView {
        access_token: token.0,
        token_type: "Bearer",
        expires_in: ttl_ms / 1000,
        expires_at_ms,
        cnf: certificate
            .map(|Extension(certificate)| Confirmation { x5t_s256: certificate.thumbprint() }),
    }))
}

/// `POST /api/logout`: revokes the bearer token it is called with.
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "session",
    summary = "Revoke the bearer token this is called with. Audited.",
    responses((status = 200, description = "Revoked", body = Data<LoggedOutView>), AuthFailures),
)]
pub async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ClientAddress(address): ClientAddress,
) -> Result<Json<Data<LoggedOutView>>, ApiError> {
    if principal.access_token.is_none() {
        return Err(ApiError::new(ErrorCode::SchemeNotAllowed)
            .with_message("Logout revokes the bearer token it is called with; call it with one"));
    }
    end_session(&state, &principal, &request_id, address, "session.logout").await?;
    Ok(Data::of(LoggedOutView { revoked: true }))
}

/// Revokes the caller's access token and audits it as `action`.
pub(crate) async fn end_session(
    state: &AppState,
    principal: &Principal,
    request_id: &str,
    address: Option<std::net::IpAddr>,
    action: &'static str,
) -> Result<(), ApiError> {
    let Some(digest) = principal.access_token else { return Ok(()) };
    match state.store.revoke_access_token(&digest).await {
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(other) => return Err(other.into()),
    }
    let actor = principal.actor(request_id);
    let detail = json!({ "address": address.map(|a| a.to_string()) });
    state.store.record_event(&actor, audit_event(action, &actor, detail)).await?;
    Ok(())
}

/// `GET /api/me`: the caller.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "session",
    summary = "Who is calling: principal, domain, permissions and scheme.",
    responses((status = 200, description = "The principal", body = Data<MeView>), AuthFailures),
)]
pub async fn me(principal: Principal) -> Response {
    let identity = match &principal.identity {
        Identity::User { id, username } => PrincipalView::User { id: *id, name: username },
        Identity::Key { id, name, kind } => {
            PrincipalView::Key { id: *id, name, kind: kind.as_str() }
        }
    };
    Data::of(MeView {
        principal: identity,
        domain_id: principal.domain_id,
        reseller_id: principal.reseller_id,
        permissions: &principal.permissions,
        scheme: principal.scheme.as_str(),
    })
    .into_response()
}

/// A person's change of their own password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/me/password`: a person changes their own password, giving the current one. Every
/// other access token and console session of theirs is revoked; the one this is called with
/// stays.
#[utoipa::path(
    post,
    path = "/api/me/password",
    tag = "session",
    summary = "Change your own password (the current one is required). Revokes your other tokens and console sessions; throttled like a login; audited.",
    request_body = PasswordChange,
    responses((status = 200, description = "Changed", body = Data<PasswordChangedView>), (status = 422, description = "Wrong current password, or a new one that breaks the rule (31)", body = ErrorBody), (status = 429, description = "Too many failed attempts (25)", body = ErrorBody), AuthFailures),
)]
pub async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ClientAddress(address): ClientAddress,
    Payload(change): Payload<PasswordChange>,
) -> Result<Json<Data<PasswordChangedView>>, ApiError> {
    let Identity::User { id, username } = &principal.identity else {
        return Err(ApiError::new(ErrorCode::WrongKeyKind)
            .with_message("API keys have no password: rotate the key's secret instead"));
    };
    let new_password = checked_password(&change.new_password)?;
    let now = state.store.now_ms();
    state.throttle.check(username, address, now)?;
    if state.store.authenticate_user(username, &change.current_password).await?.is_none() {
        state.throttle.failed(username, address, now);
        return Err(ApiError::invalid_field("current_password", "the current password is wrong"));
    }
    let update = UserUpdate {
        password: Some(new_password),
        keep_token: principal.access_token,
        ..UserUpdate::default()
    };
    let actor = principal.actor(&request_id);
    state.store.update_user(&actor, principal.domain()?, *id, update).await?;
    Ok(Data::of(PasswordChangedView { changed: true }))
}
