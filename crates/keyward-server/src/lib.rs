//! keyward-server is keyward's HTTP API as an axum application, over keyward-auth's pipeline
//! (re-exported as [`auth`], with its [`authz`] rule and [`error`] shape): the handlers for
//! sessions, activities, API keys, users, the audit log and provisioning (`/probio`), the admin
//! console (its page, assets and sessions at `/console/`), the API reference ([`openapi`], made from the routes served; answers
//! are the typed [`views`] it shows as schemas) and health checks; and the limits
//! that come before any work ([`capacity`], [`serve`], [`throttle`]). [`app`] builds the
//! [`App`]; [`serve()`] serves it; [`log`] writes what happens, with the request it happens in.
//!
//! ```text
//! connection cap, header timeout (serve) ─▶ App (front: request id, log context, metrics,
//!   response signing, request limit, timeouts, panic safety)
//!   ─▶ keyward's own paths: router ─▶ AuthLayer (per route group: api, admin, provisioning)
//!      ─▶ handler ─▶ authorize ─▶ Store (change + audit, one transaction; tells the
//!      credential cache what changed)
//!   ─▶ every other path: the gateway (keyward-gateway)
//! ```
//!
//! It does not terminate TLS (run it behind a proxy for that) and keeps its caches, replay
//! memory and login counts in the process's memory.

mod capacity;

pub mod extract;
mod front;
pub mod log;
pub mod metrics;
pub mod openapi;
mod request_id;
pub mod response_signing;
mod routes;
mod serve;
pub mod throttle;
pub mod tls;
pub mod views;
mod workers;

pub use capacity::Capacity;
pub use front::App;
pub use keyward_auth as auth;
pub use keyward_auth::{authz, error};
pub use keyward_gateway as gateway;
pub use request_id::RequestIds;
pub use serve::{serve, serve_on};
pub use workers::Workers;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use keyward_gateway::{ForwardAuthSettings, Gateway, GatewaySettings, IdentityHeaders, Routes};
use keyward_sig::{Scheme, Verifier, VerifyOptions};
use keyward_store::{Clock, Store};

use crate::auth::{
    AuthLayer, AuthSettings, CacheSettings, CredentialCache, RateLimiter, ReplayGuard, ReplayMode,
    TrustedProxies,
};
use crate::throttle::{LoginThrottle, ThrottleSettings};

/// The request id header: accepted from clients when present, generated otherwise, and sent
/// back on every response.
pub const REQUEST_ID: &str = "x-request-id";

/// Everything that shapes the API's behaviour, checked once at start-up.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Verification options: clock window, blank values, RFC 9421 policy, credential format.
    pub verify: VerifyOptions,
    /// Which repeats of the same signed request are refused (another request is always).
    pub replay: ReplayMode,
    /// The schemes accepted on each route group.
    pub schemes: RouteSchemes,
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
    /// Timeouts and caps on connections and requests.
    pub capacity: Capacity,
    /// Failed logins allowed per account and per address.
    pub login: ThrottleSettings,
    /// The gateway's routes (none by default).
    pub routes: Routes,
    /// The names of the identity headers the gateway and forward-auth add.
    pub identity_headers: IdentityHeaders,
    /// Where forward-auth reads the original request from.
    pub forward_auth: ForwardAuthSettings,
    /// The Redis every node shares, for the replay memory and the rate-limit counts; without
    /// it, each node keeps its own.
    pub redis: Option<keyward_auth::Redis>,
    /// The permission that lets a credential read `GET /metrics` on the API's own address;
    /// without it, metrics are served only where `keyward serve --metrics-listen` says.
    pub metrics_permission: Option<String>,
    /// The proxies in front of keyward whose `X-Forwarded-For` / `Forwarded` name the client,
    /// for key policies' address ranges (none: the connection's peer is the client).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long before a key expires its answers carry `Keyward-Key-Expires`, in ms.
    pub key_expiry_warning_ms: i64,
    /// The key responses are signed with (when a client asks, or a route says so), published
    /// at `/.well-known/keyward/response-keys`; none: responses are never signed.
    pub response_key: Option<Arc<response_signing::ResponseKey>>,
}

/// Whether a route group takes the console's session cookie (only the console's own routes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConsoleSessions {
    Accepted,
    Refused,
}

/// The schemes each route group accepts. A refused scheme is answered with code 18 and the
/// accepted list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSchemes {
    /// `/api/activities`, `/api/me`, `/api/logout`, the console's session: every scheme.
    pub api: Vec<Scheme>,
    /// `/api/admin/...`: everything but query-hmac, whose signature covers neither the
    /// method, the path nor the body (and DevResults administers keys in its web page, not
    /// with signed URLs).
    pub admin: Vec<Scheme>,
    /// `/probio/...`: the schemes that sign the body, header-hmac and http-signature, and
    /// mtls, whose TLS connection covers it.
    pub provisioning: Vec<Scheme>,
}

impl Default for RouteSchemes {
    fn default() -> Self {
        RouteSchemes {
            api: Scheme::ALL.to_vec(),
            admin: vec![Scheme::Bearer, Scheme::HeaderHmac, Scheme::HttpSignature, Scheme::Mtls],
            provisioning: vec![Scheme::HeaderHmac, Scheme::HttpSignature, Scheme::Mtls],
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            verify: VerifyOptions::default(),
            replay: ReplayMode::default(),
            schemes: RouteSchemes::default(),
            body_limit: 1024 * 1024,
            token_ttl_ms: 365 * 86_400 * 1000,
            rotation_overlap_ms: 86_400 * 1000,
            uri_scheme: "http",
            cache: CacheSettings::default(),
            capacity: Capacity::default(),
            login: ThrottleSettings::default(),
            routes: Routes::default(),
            identity_headers: IdentityHeaders::default(),
            forward_auth: ForwardAuthSettings::default(),
            redis: None,
            metrics_permission: None,
            trusted_proxies: Vec::new(),
            key_expiry_warning_ms: 7 * 86_400 * 1000,
            response_key: None,
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
    /// The credential cache (the store tells it what each change invalidates).
    pub cache: CredentialCache,
    /// Failed-login counts.
    pub throttle: LoginThrottle,
    /// The gateway's routes and forward-auth.
    pub gateway: Gateway,
    /// The proxies whose forwarding headers name the client.
    pub trusted_proxies: TrustedProxies,
    /// The pipeline `POST /api/keys/verify` checks a value with: the api group's, for a value
    /// presented as a bearer token (an access token or a plain API key).
    pub verification: AuthSettings,
    /// The settings.
    pub settings: Settings,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The application: routes, the auth layer, request ids, metrics, limits and panic safety.
pub fn app(store: Store, settings: Settings) -> App {
    let clock: Clock = keyward_store::system_clock();
    app_with_clock(store, settings, clock)
}

/// [`app`] with a given clock (tests pin time with it).
pub fn app_with_clock(store: Store, settings: Settings, clock: Clock) -> App {
    application(store, settings, clock).app
}

/// The application and a handle on its gateway, to reload the routes while serving.
#[derive(Debug)]
pub struct Application {
    /// The service to serve.
    pub app: App,
    /// The gateway it forwards to.
    pub gateway: Gateway,
    /// Keys' last uses and usage counts not yet written: flush after serving, so none is lost.
    pub usage: keyward_auth::UsageRecorder,
    /// What the application counts, to serve on `--metrics-listen`.
    pub metrics: Arc<metrics::Metrics>,
}

/// [`app_with_clock`], with the gateway's handle.
pub fn application(store: Store, settings: Settings, clock: Clock) -> Application {
    let cache = CredentialCache::new(store.clone(), settings.cache);
    let window = Duration::from_millis(settings.verify.window.as_millis().unsigned_abs());
    // One verifier, cache and replay memory for every group: a signature used on one group's
    // route is bound to it on every other.
    let (replay, limiter) = (ReplayGuard::new(settings.replay, window), RateLimiter::new());
    let (replay, limiter) = match &settings.redis {
        Some(redis) => (replay.shared(redis.clone()), limiter.shared(redis.clone())),
        None => (replay, limiter),
    };
    let trusted_proxies = TrustedProxies::new(settings.trusted_proxies.clone());
    let group = |route: &str, schemes: &[Scheme], sessions: ConsoleSessions| AuthSettings {
        verifier: Verifier::new(settings.verify),
        cache: cache.clone(),
        replay: replay.clone(),
        limiter: limiter.clone(),
        route_limit: None,
        body_limit: settings.body_limit,
        uri_scheme: settings.uri_scheme,
        schemes: schemes.to_vec(),
        console_sessions: sessions == ConsoleSessions::Accepted,
        route: route.into(),
        trusted_proxies: trusted_proxies.clone(),
        expiry_warning_ms: settings.key_expiry_warning_ms,
    };
    let guarded = |route: &str, schemes: &[Scheme]| {
        AuthLayer::new(group(route, schemes, ConsoleSessions::Refused), clock.clone())
    };
    let console = AuthLayer::new(
        group("admin", &settings.schemes.admin, ConsoleSessions::Accepted),
        clock.clone(),
    );
    let gateway =
        gateway(&settings, group("forward-auth", &[], ConsoleSessions::Refused), clock.clone());
    let redis_meters = settings.redis.as_ref().map(|redis| redis.meters());
    let metrics = Arc::new(metrics::Metrics::new(cache.meters(), redis_meters));
    let guards = routes::Guards {
        api: guarded("api", &settings.schemes.api),
        admin: guarded("admin", &settings.schemes.admin),
        console,
        provisioning: guarded("provisioning", &settings.schemes.provisioning),
    };
    let mut surface = routes::surface(guards, &settings.schemes);
    if let Some(permission) = &settings.metrics_permission {
        let served = metrics::guarded_route(metrics.clone(), permission);
        surface = surface.merge(
            routes::Group::from(served).route_layer(guarded("admin", &settings.schemes.admin)),
        );
    }
    let signing = settings.response_key.clone().map(|key| {
        surface =
            std::mem::take(&mut surface).merge(response_signing::published_route(key.clone()));
        response_signing::Signing { key, gateway: gateway.clone(), clock: clock.clone() }
    });
    let (routes, served) = surface.split_for_parts();
    let reference = openapi::reference(served);
    let routes = routes
        .route("/api/openapi.json", openapi::document(&reference))
        .merge(routes::forward_auth(&gateway));
    let throttle = LoginThrottle::new(settings.login);
    let usage = cache.usage().clone();
    let verification = group("api", &[Scheme::Bearer, Scheme::ApiKey], ConsoleSessions::Refused);
    let gateway_handle = gateway.clone();
    let shared = Shared {
        store,
        cache,
        throttle,
        gateway: gateway_handle,
        trusted_proxies,
        verification,
        settings,
    };
    let app = finish(routes, AppState(Arc::new(shared)), metrics.clone(), signing);
    Application { app, gateway, usage, metrics }
}

/// The very same application with authentication switched off: every protected route sees
/// `principal`. Only for the load benchmark's baseline, behind the `bench-unauthenticated`
/// feature, which no release build enables.
#[cfg(feature = "bench-unauthenticated")]
pub fn app_unauthenticated(store: Store, settings: Settings, principal: auth::Principal) -> App {
    let cache = CredentialCache::new(store.clone(), settings.cache);
    let throttle = LoginThrottle::new(settings.login);
    let routes = routes::public()
        .merge(routes::unguarded().route_layer(axum::Extension(principal)))
        .split_for_parts()
        .0;
    let auth = AuthSettings {
        verifier: Verifier::new(settings.verify),
        cache: cache.clone(),
        replay: ReplayGuard::new(settings.replay, Duration::from_secs(300)),
        limiter: RateLimiter::new(),
        route_limit: None,
        body_limit: settings.body_limit,
        uri_scheme: settings.uri_scheme,
        schemes: Vec::new(),
        console_sessions: false,
        route: "forward-auth".into(),
        trusted_proxies: TrustedProxies::default(),
        expiry_warning_ms: settings.key_expiry_warning_ms,
    };
    let verification = auth.clone();
    let gateway = gateway(&settings, auth, keyward_store::system_clock());
    let metrics = Arc::new(metrics::Metrics::new(cache.meters(), None));
    let trusted_proxies = TrustedProxies::default();
    let shared =
        Shared { store, cache, throttle, gateway, trusted_proxies, verification, settings };
    finish(routes, AppState(Arc::new(shared)), metrics, None)
}

/// The gateway over the application's pipeline (`auth`; each route sets its schemes).
fn gateway(settings: &Settings, auth: AuthSettings, clock: Clock) -> Gateway {
    let shared = GatewaySettings {
        auth,
        identity: settings.identity_headers.clone(),
        forward_auth: settings.forward_auth.clone(),
    };
    Gateway::new(shared, settings.routes.clone(), clock)
}

/// The service every variant shares: keyward's routes with their state (a keyward path no
/// route takes goes to the gateway's 404, another method to 405), behind the front's steps
/// (see [`front`]).
fn finish(
    routes: Router<AppState>,
    state: AppState,
    metrics: Arc<metrics::Metrics>,
    signing: Option<response_signing::Signing>,
) -> App {
    let (body_limit, capacity) = (state.settings.body_limit, state.settings.capacity);
    let gateway = state.gateway.clone();
    let router = routes::answer_unknown(routes).with_state(state);
    App::new(front::Parts { router, gateway, body_limit, capacity, metrics, signing })
}
