//! The HTTP surface: which handler answers which route, and which routes need credentials.

pub(crate) mod activities;
pub(crate) mod audit;
pub(crate) mod keys;
pub(crate) mod policy;
pub(crate) mod probio;
pub(crate) mod quotas;
pub(crate) mod session;
pub(crate) mod users;

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use axum::routing::{any, delete, get, post};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::openapi::ErrorBody;
use keyward_gateway::Gateway;

/// The API routes that need credentials, but administration: sessions and activities. The
/// caller adds the layer that authenticates them (with the `api` group's schemes).
pub fn api() -> Router<AppState> {
    Router::new()
        .route("/api/logout", post(session::logout))
        .route("/api/me", get(session::me))
        .route("/api/me/password", post(session::change_password))
        .route("/api/activities", get(activities::list).post(activities::create))
        .route(
            "/api/activities/{id}",
            get(activities::show).put(activities::update).delete(activities::delete),
        )
        .route("/api/activities/{id}/history", get(activities::history))
}

/// The console's own routes, which its session cookie (scoped to `/console/`) reaches: its
/// session, and the administration routes below it (`/console/api/admin/...`, the same
/// handlers as `/api/admin/...`). The caller adds the layer that authenticates them, which
/// takes the session cookie.
pub fn console() -> Router<AppState> {
    Router::new()
        .route("/console/session", get(crate::console::current).delete(crate::console::sign_out))
        .nest("/console", admin())
}

/// The administration routes (`/api/admin`): they create, rotate, reveal and revoke
/// credentials and manage users, so their group accepts fewer schemes by default. The caller
/// adds the layer that authenticates them.
pub fn admin() -> Router<AppState> {
    Router::new()
        .route("/api/admin/keys", get(keys::list).post(keys::create))
        .route("/api/admin/keys/{id}", get(keys::show).patch(keys::update).delete(keys::revoke))
        .route("/api/admin/keys/{id}/regenerate-token", post(keys::regenerate_token))
        .route("/api/admin/keys/{id}/rotate-secret", post(keys::rotate_secret))
        .route("/api/admin/keys/{id}/reveal", post(keys::reveal))
        .route("/api/admin/users", get(users::list).post(users::create))
        .route("/api/admin/users/{id}", get(users::show).patch(users::update))
        .route("/api/admin/audit", get(audit::list))
}

/// The provisioning routes (`/probio`): signed schemes only, as their auth layer enforces.
/// Reseller routes manage domains; domain routes reuse the admin handlers for the calling
/// domain's users and keys.
pub fn provisioning() -> Router<AppState> {
    Router::new()
        .route("/probio/domains", get(probio::list_domains).post(probio::create_domain))
        .route("/probio/domains/{name}", get(probio::show_domain))
        .route("/probio/domains/{name}/disable", post(probio::disable_domain))
        .route("/probio/domains/{name}/enable", post(probio::enable_domain))
        .route("/probio/domains/{name}/administrator", post(probio::create_administrator))
        .route(
            "/probio/domains/{name}/keys",
            get(probio::list_domain_keys).post(probio::issue_domain_key),
        )
        .route(
            "/probio/domains/{name}/keys/{id}",
            delete(probio::revoke_domain_key).patch(probio::update_domain_key),
        )
        .route("/probio/domain/users", get(users::list).post(users::create))
        .route("/probio/domain/users/{id}", get(users::show).patch(users::update))
        .route("/probio/domain/keys", get(keys::list).post(keys::create))
        .route("/probio/domain/keys/{id}", get(keys::show).patch(keys::update).delete(keys::revoke))
        .route("/probio/domain/keys/{id}/rotate-secret", post(keys::rotate_secret))
}

/// The routes anyone may call: health checks and login.
pub fn public() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/login", post(session::login))
        .route("/api/openapi.json", get(crate::openapi::document))
        .route("/api/docs", get(crate::openapi::browser))
        .route("/console/session", post(crate::console::sign_in))
        .route("/console", get(|| async { axum::response::Redirect::permanent("/console/") }))
        .route("/console/", get(crate::console::index))
        .route("/console/app.js", get(crate::console::script))
        .route("/console/app.css", get(crate::console::style))
}

/// Forward-auth (`/auth/check` and below, any method; Envoy's gRPC `ext_authz`): the proxy
/// in front of an API asks, and the gateway decides as it would for its own routes.
pub fn forward_auth(gateway: &Gateway) -> Router<AppState> {
    Router::new()
        .route("/auth/check", any(check))
        .route("/auth/check/", any(check))
        .route("/auth/check/{*original}", any(check))
        .route_service(keyward_gateway::grpc::CHECK_METHOD, gateway.ext_authz())
}

async fn check(State(state): State<AppState>, request: Request) -> Response {
    state.gateway.check(request).await
}

/// What no keyward route takes goes to the gateway's routes, which answer 404 in keyward's
/// error shape when none matches; a keyward route with another method is answered 405 (set on
/// the whole, merged router).
pub fn answer_unknown(routes: Router<AppState>) -> Router<AppState> {
    routes.fallback(proxy).method_not_allowed_fallback(method_not_allowed)
}

async fn proxy(State(state): State<AppState>, request: Request) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    state.gateway.proxy(peer, request).await
}

/// `GET /healthz`: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    security(()),
    tag = "health",
    summary = "The process answers.",
    responses((status = 200, description = "{status: ok}")),
)]
pub(crate) async fn healthz() -> ([(HeaderName, HeaderValue); 1], &'static str) {
    // Written once, not serialized per request: load balancers ask often.
    const JSON: HeaderValue = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, JSON)], r#"{"status":"ok"}"#)
}

/// `GET /readyz`: the database answers too.
#[utoipa::path(
    get,
    path = "/readyz",
    security(()),
    tag = "health",
    summary = "The database answers too.",
    responses((status = 200, description = "{status: ready, database}"), (status = 503, description = "Database unavailable (51)", body = ErrorBody)),
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await.map_err(|error| {
        tracing::warn!(error = ?error, "readiness check failed");
        ApiError::new(ErrorCode::Unavailable).with_message("Database unavailable")
    })?;
    Ok(Json(json!({ "status": "ready", "database": state.store.backend().name() })))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed)
}
