//! keyward-server is keyward's HTTP API as an axum application: the tower auth layer that
//! verifies every scheme ([`auth`]), the handlers for sessions, activities, API keys, users,
//! the audit log and provisioning (`/probio`), the admin console ([`console`]), the API
//! reference ([`openapi`]) and health checks. [`app`] builds the router; the `keyward` binary
//! serves it.
//!
//! ```text
//! request ─▶ request id ─▶ trace (method + path only) ─▶ catch panic ─▶ router
//!            ─▶ AuthLayer (protected routes) ─▶ handler ─▶ Store (change + audit, one transaction)
//! ```
//!
//! It does not terminate TLS (run it behind a proxy for that) and keeps its caches in the
//! process's memory.

pub mod auth;
pub mod console;
pub mod error;
pub mod extract;
pub mod openapi;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::response::IntoResponse;
use keyward_sig::{Scheme, Verifier, VerifyOptions};
use keyward_store::{Clock, Store};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{
    AuthLayer, AuthSettings, CacheSettings, CredentialCache, ReplayGuard, ReplayMode,
};
use crate::error::{ApiError, ErrorCode};

/// The request id header: accepted from clients when present, generated otherwise, and sent
/// back on every response.
pub const REQUEST_ID: &str = "x-request-id";

/// Everything that shapes the API's behaviour, checked once at start-up.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Verification options: clock window, blank values, RFC 9421 policy, credential format.
    pub verify: VerifyOptions,
    /// Which requests the replay guard applies to.
    pub replay: ReplayMode,
    /// The schemes accepted on API routes.
    pub schemes: Vec<Scheme>,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// How long an access token lives, in ms.
    pub token_ttl_ms: i64,
    /// How long a rotated secret keeps verifying, by default, in ms.
    pub rotation_overlap_ms: i64,
    /// The URI scheme clients reach the server with.
    pub uri_scheme: &'static str,
    /// The credential cache's sizes.
    pub cache: CacheSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            verify: VerifyOptions::default(),
            replay: ReplayMode::default(),
            schemes: Scheme::ALL.to_vec(),
            body_limit: 1024 * 1024,
            token_ttl_ms: 365 * 86_400 * 1000,
            rotation_overlap_ms: 86_400 * 1000,
            uri_scheme: "http",
            cache: CacheSettings::default(),
        }
    }
}

/// What handlers share. Cloned for every request, so it is one `Arc`.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The store.
    pub store: Store,
    /// The credential cache, which handlers invalidate when they change a credential.
    pub cache: CredentialCache,
    /// The settings.
    pub settings: Settings,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The application: routes, the auth layer, request ids, tracing and panic safety.
pub fn app(store: Store, settings: Settings) -> Router {
    let clock: Clock = keyward_store::system_clock();
    app_with_clock(store, settings, clock)
}

/// [`app`] with a given clock (tests pin time with it).
pub fn app_with_clock(store: Store, settings: Settings, clock: Clock) -> Router {
    let cache = CredentialCache::new(store.clone(), settings.cache);
    let window = Duration::from_millis(settings.verify.window.as_millis().unsigned_abs());
    let api = AuthSettings {
        verifier: Verifier::new(settings.verify),
        cache: cache.clone(),
        replay: ReplayGuard::new(settings.replay, window),
        body_limit: settings.body_limit,
        uri_scheme: settings.uri_scheme,
        schemes: settings.schemes.clone(),
    };
    // Provisioning accepts only the schemes that sign the body (DESIGN section 3).
    let signed_only = [Scheme::HeaderHmac, Scheme::HttpSignature];
    let provisioning = AuthSettings {
        schemes: settings.schemes.iter().copied().filter(|s| signed_only.contains(s)).collect(),
        ..api.clone()
    };
    let routes = routes::public()
        .merge(routes::protected().route_layer(AuthLayer::new(api, clock.clone())))
        .merge(routes::provisioning().route_layer(AuthLayer::new(provisioning, clock)));
    finish(routes, AppState(Arc::new(Shared { store, cache, settings })))
}

/// The very same application with authentication switched off: every protected route sees
/// `principal`. Only for the load benchmark's baseline, behind the `bench-unauthenticated`
/// feature, which no release build enables.
#[cfg(feature = "bench-unauthenticated")]
pub fn app_unauthenticated(store: Store, settings: Settings, principal: auth::Principal) -> Router {
    let cache = CredentialCache::new(store.clone(), settings.cache);
    let routes =
        routes::public().merge(routes::protected().route_layer(axum::Extension(principal)));
    finish(routes, AppState(Arc::new(Shared { store, cache, settings })))
}

/// The layers every variant shares: state, body limit, panic safety, tracing, request ids.
fn finish(routes: Router<AppState>, state: AppState) -> Router {
    let body_limit = state.settings.body_limit;
    let request_id = HeaderName::from_static(REQUEST_ID);
    routes::answer_unknown(routes)
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(|_| ApiError::new(ErrorCode::Internal).into_response()))
        // Logs method and path only: the query may hold query-hmac credentials.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %request.method(), path = request.uri().path(), request_id = id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
