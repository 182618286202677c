//! The HTTP surface, each endpoint declared once: a handler's `#[utoipa::path]` names its
//! method and path, and `routes!` mounts it from that declaration, so a route and its entry in
//! the reference cannot disagree. Routes come in groups, one per auth layer ([`surface`]): the
//! group's schemes guard its routes and are what the reference says they accept.
//!
//! A domain's keys and users ([`domain_accounts`]) are one set of handlers mounted twice: under
//! `/api/admin` (administration, and the console below `/console`) and under `/probio/domain`
//! (provisioning).

pub(crate) mod activities;
pub(crate) mod audit;
pub(crate) mod console;
pub(crate) mod keys;
pub(crate) mod policy;
pub(crate) mod probio;
pub(crate) mod quotas;
pub(crate) mod session;
pub(crate) mod usage;
pub(crate) mod users;
pub(crate) mod verify;

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use axum::routing::{any, get};
use keyward_sig::Scheme;
use utoipa::openapi::security::SecurityRequirement;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthLayer;
use crate::error::{ApiError, ErrorCode};
use crate::openapi::ErrorBody;
use crate::views::ReadyView;
use crate::{AppState, RouteSchemes};
use keyward_gateway::Gateway;

/// Routes with their reference.
pub(crate) type Group = OpenApiRouter<AppState>;

/// Where administration is mounted (and, below `/console`, the console's copy of it).
const ADMIN: &str = "/api/admin";

/// The layers that guard each group, built by the application from the settings.
pub(crate) struct Guards {
    /// Sessions and activities.
    pub api: AuthLayer,
    /// Administration.
    pub admin: AuthLayer,
    /// The console's own routes: administration's schemes and its session cookie.
    pub console: AuthLayer,
    /// Provisioning.
    pub provisioning: AuthLayer,
}

/// keyward's own routes behind their guards, and their reference (paths, and each operation's
/// accepted schemes as `schemes` configures them).
pub(crate) fn surface(guards: Guards, schemes: &RouteSchemes) -> Group {
    // The console's copy of administration is the same routes as `/api/admin`: documented once.
    let console = console_session().merge(undocumented(admin_at(&format!("/console{ADMIN}"))));
    public()
        .merge(guarded(api(), guards.api, &schemes.api, None))
        .merge(guarded(admin_at(ADMIN), guards.admin, &schemes.admin, None))
        .merge(guarded(console, guards.console, &schemes.admin, None))
        .merge(guarded(
            provisioning(),
            guards.provisioning,
            &schemes.provisioning,
            Some("provisioning"),
        ))
}

/// `routes` with no entry in the reference.
fn undocumented(mut routes: Group) -> Group {
    *routes.get_openapi_mut() = Default::default();
    routes
}

/// `routes` behind `layer`, documented as accepting `schemes` (and under `tag`, when given).
fn guarded(routes: Group, layer: AuthLayer, schemes: &[Scheme], tag: Option<&str>) -> Group {
    let mut routes = routes.route_layer(layer);
    let accepted: Vec<_> = schemes
        .iter()
        .map(|scheme| SecurityRequirement::new(scheme.as_str(), Vec::<String>::new()))
        .collect();
    for item in routes.get_openapi_mut().paths.paths.values_mut() {
        let operations =
            [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            operation.security = Some(accepted.clone());
            if let Some(tag) = tag {
                operation.tags = Some(vec![tag.to_owned()]);
            }
        }
    }
    routes
}

/// The API routes that need credentials, but administration: sessions and activities.
fn api() -> Group {
    Group::new()
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(session::change_password))
        .routes(routes!(activities::list, activities::create))
        .routes(routes!(activities::show, activities::update, activities::delete))
        .routes(routes!(activities::history))
        .routes(routes!(verify::verify))
}

/// A domain's API keys and users, as administration and domain provisioning both manage them.
fn domain_accounts() -> Group {
    Group::new()
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::show, keys::update, keys::revoke))
        .routes(routes!(keys::rotate_secret))
        .routes(routes!(usage::key_usage))
        .routes(routes!(usage::domain_usage))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show, users::update))
}

/// Administration, mounted at `prefix`: a domain's accounts, and what only its administrators
/// do (new tokens, revealed secrets, the audit log). Its group accepts fewer schemes by
/// default: these routes create, rotate, reveal and revoke credentials.
fn admin_at(prefix: &str) -> Group {
    let admin = domain_accounts()
        .routes(routes!(keys::regenerate_token))
        .routes(routes!(keys::reveal))
        .routes(routes!(audit::list));
    Group::new().nest(prefix, admin)
}

/// The console's session, which its cookie (scoped to `/console/`) reaches, as it reaches
/// administration below `/console`.
fn console_session() -> Group {
    Group::new().routes(routes!(console::current, console::sign_out))
}

/// Provisioning (`/probio`), signed schemes only: a reseller's domains, and the calling
/// domain's accounts (`/probio/domain`).
fn provisioning() -> Group {
    Group::new()
        .routes(routes!(probio::list_domains, probio::create_domain))
        .routes(routes!(probio::show_domain))
        .routes(routes!(probio::disable_domain))
        .routes(routes!(probio::enable_domain))
        .routes(routes!(probio::create_administrator))
        .routes(routes!(probio::list_domain_keys, probio::issue_domain_key))
        .routes(routes!(probio::revoke_domain_key, probio::update_domain_key))
        .nest("/probio/domain", domain_accounts())
}

/// The routes anyone may call: health checks, login, the console's page and sign-in, and the
/// reference's page.
pub(crate) fn public() -> Group {
    Group::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(session::login))
        .routes(routes!(console::sign_in))
        .route("/api/docs", get(crate::openapi::browser))
        .route("/console", get(|| async { axum::response::Redirect::permanent("/console/") }))
        .route("/console/", get(console::index))
        .merge(console_script())
        .route("/console/app.css", get(console::style))
}

/// The console's script, one route per module (`/console/app.js`, the entry point, and those it
/// imports): a name not in [`console::MODULES`] is answered as any path no route takes.
fn console_script() -> Group {
    console::MODULES.iter().fold(Group::new(), |group, &(name, source)| {
        group.route(&format!("/console/{name}"), get(move || console::script(source)))
    })
}

/// The same routes with no guard, for the load benchmark's baseline (authentication off).
#[cfg(feature = "bench-unauthenticated")]
pub(crate) fn unguarded() -> Group {
    api().merge(admin_at(ADMIN))
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
    responses((status = 200, description = "Ready", body = ReadyView), (status = 503, description = "Database unavailable (51)", body = ErrorBody)),
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<ReadyView>, ApiError> {
    state.store.ping().await.map_err(|error| {
        tracing::warn!(error = ?error, "readiness check failed");
        ApiError::new(ErrorCode::Unavailable).with_message("Database unavailable")
    })?;
    Ok(Json(ReadyView { status: "ready", database: state.store.backend().name() }))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed)
}
