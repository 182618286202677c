//! keyward-gateway puts keyward in front of any HTTP API, in two ways over one pipeline
//! (keyward-auth's, the one keyward's own API runs):
//!
//! - **gateway routes** ([`Gateway::proxy`]): a path prefix forwarded to an upstream, with the
//!   schemes it accepts and the permissions it requires; the credentials are checked and
//!   stripped, the caller's identity is added as headers no client can forge ([`headers`]);
//! - **forward-auth** ([`Gateway::check`]): the proxy already in front of the API (nginx
//!   `auth_request`, Caddy `forward_auth`, Traefik `ForwardAuth`, Envoy `ext_authz`) asks
//!   keyward about each request, and keyward answers with the same decision and identity.
//!
//! ```text
//! request ─▶ canonical form (path, host; refused where an upstream could read it otherwise)
//!   ─▶ route (host, path, method; HEAD as GET) ─▶ method overrides (the route's, or none)
//!   ─▶ pipeline (scheme, key, body if signed, verify, replay) ─▶ permissions of the route
//!   and method
//!   ─▶ proxy: strip credentials, forged identity, hop-by-hop; add identity, X-Forwarded-*
//!      ─▶ pooled HTTP/1.1 or h2 client, connect and response timeouts ─▶ streamed answer
//!   ─▶ forward-auth: 200 with identity headers, or the refusal in keyward's error shape
//! ```
//!
//! Routes are checked before they are served ([`route`]) and can be replaced while serving
//! ([`Gateway::reload`]): requests in flight finish on the routes they started with.

pub mod canonical;
pub mod client_cert;
mod forward_auth;
pub mod grpc;
mod headers;
pub mod path;
mod proxy;
mod route;
mod spelling;
mod upstream_tls;

#[doc(hidden)]
pub mod __fuzzing;

pub use forward_auth::{BodyForwarding, ForwardAuthProxy, ForwardAuthSettings, Unrouted};
pub use headers::IdentityHeaders;
pub use route::{Route, RouteConfig, RouteError, Routes, served_by_keyward};

use std::sync::{Arc, RwLock};

use canonical::{CanonicalRequest, DoorError};
use client_cert::CertificateHeader;
use http::Method;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use keyward_auth::error::{ApiError, ErrorCode};
use keyward_auth::{
    Admitted, AnswerTags, AuthSettings, AuthorizedMethod, Principal, Refusal, RouteLimit,
    authenticate,
};
use keyward_sig::Scheme;
use keyward_sig::certificate::ClientCertificate;
use keyward_store::{Clock, Permissions};
use prometheus_client::metrics::histogram::Histogram;

/// What every route shares.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    /// The pipeline's settings, as keyward's API has them: verifier, credential cache, replay
    /// memory, body limit and URI scheme. Each route sets its own schemes (and body limit).
    pub auth: AuthSettings,
    /// The identity headers' names.
    pub identity: IdentityHeaders,
    /// Where forward-auth reads the original request from.
    pub forward_auth: ForwardAuthSettings,
}

/// The gateway: routes to proxy and the forward-auth decision. Cheap to clone.
#[derive(Clone)]
pub struct Gateway(Arc<Shared>);

struct Shared {
    settings: GatewaySettings,
    clock: Clock,
    table: RwLock<Arc<Table>>,
    /// The policy for a forward-auth request no route covers: any valid credential.
    unrouted: Arc<AuthSettings>,
}

/// The routes being served, each with its pipeline settings and its upstream's connections.
struct Table {
    routes: Routes,
    served: Vec<Served>,
    /// Whether any route signs every answer: when none does, no request is looked up for it.
    signs_responses: bool,
}

impl Table {
    /// The route for a request, with what serves it.
    fn find(&self, host: Option<&str>, path: &str, method: &Method) -> Option<(&Route, &Served)> {
        let index = self.routes.position(host, path, method)?;
        self.routes.get(index).zip(self.served.get(index))
    }
}

/// A route's share of the table.
struct Served {
    auth: Arc<AuthSettings>,
    client: Client<HttpsConnector<HttpConnector>, proxy::UpstreamBody>,
    /// The route's upstream answer times.
    upstream: Histogram,
}

/// What the pipeline and the route decided about a request.
pub(crate) enum Decision {
    /// A public route: no credentials checked.
    Public,
    /// Authenticated and permitted.
    Granted(Box<Principal>),
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = self.table();
        f.debug_struct("Gateway").field("routes", &table.routes).finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway serving `routes`, reading time from `clock`.
    pub fn new(settings: GatewaySettings, routes: Routes, clock: Clock) -> Self {
        let unrouted = Arc::new(AuthSettings {
            schemes: Scheme::ALL.to_vec(),
            console_sessions: false,
            ..settings.auth.clone()
        });
        let table = Table::new(&settings, routes);
        Gateway(Arc::new(Shared { settings, clock, table: RwLock::new(Arc::new(table)), unrouted }))
    }

    /// Serves `routes` from now on. Requests in flight finish on the routes they started
    /// with; open connections to clients stay open.
    pub fn reload(&self, routes: Routes) {
        let table = Arc::new(Table::new(&self.0.settings, routes));
        *self.0.table.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = table;
    }

    /// How many routes are served.
    pub fn route_count(&self) -> usize {
        self.table().routes.len()
    }

    /// Whether the route serving a request signs every response (`sign_responses`), read in
    /// the request's canonical form, as the route is chosen.
    pub fn signs_responses(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> bool {
        let table = self.table();
        if !table.signs_responses {
            return false;
        }
        let Ok(canonical) = CanonicalRequest::read(uri, headers, self.uri_scheme()) else {
            return false;
        };
        let (host, path) = (canonical.host_name(), canonical.path(uri));
        table.routes.find(host, path, method).is_some_and(|route| route.sign_responses)
    }

    /// The routes' names (prefix, after the host for a route that has one), as key policies
    /// name them.
    pub fn route_names(&self) -> Vec<String> {
        self.table().routes.iter().map(|route| route.name()).collect()
    }

    fn table(&self) -> Arc<Table> {
        self.0.table.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn now_ms(&self) -> i64 {
        (self.0.clock)()
    }

    /// A protected request's admission, the same for the gateway and forward-auth: authenticated
    /// under `auth` (as `method`, when an override the route honours names another), then
    /// permitted on `route` (any valid credential where no route applies).
    async fn admit(
        &self,
        auth: &AuthSettings,
        route: Option<&Route>,
        method: &Method,
        mut request: http::Request<axum::body::Body>,
    ) -> Result<(http::Request<axum::body::Body>, Admitted), Refused> {
        if method != request.method() {
            request.extensions_mut().insert(AuthorizedMethod(method.clone()));
        }
        let (request, mut admitted) = authenticate(auth, request, self.now_ms()).await?;
        if let Some(route) = route {
            if let Err(error) = permitted(&admitted.principal, route.required(method), method) {
                if let Some(usage) = &mut admitted.usage {
                    usage.refuse(error.code);
                }
                return Err(Refused { error, tags: admitted.tags });
            }
        }
        Ok((request, admitted))
    }

    /// From a trusted proxy `peer`, the client certificate it passed on in the header it
    /// writes ([`client_cert`]), in place of its own connection's, which is the proxy's; from
    /// anyone else, the connection's (the headers are the client's own word, and ignored).
    pub(crate) fn forwarded_certificate(
        &self,
        peer: Option<std::net::IpAddr>,
        request: &mut http::Request<axum::body::Body>,
    ) -> Result<(), ApiError> {
        let trusted = peer.is_some_and(|peer| self.0.settings.auth.trusted_proxies.trusts(peer));
        if !trusted {
            return Ok(());
        }
        request.extensions_mut().remove::<Arc<ClientCertificate>>();
        let header = CertificateHeader::of(self.0.settings.forward_auth.proxy);
        match client_cert::forwarded(request.headers(), header) {
            Ok(Some(certificate)) => {
                request.extensions_mut().insert(certificate);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(explanation) => Err(ApiError::new(ErrorCode::ForgedHeader)
                .with_message("The client certificate the proxy passed on cannot be read")
                .with_detail(serde_json::json!({ "explanation": explanation }))),
        }
    }

    /// The URI scheme clients reach keyward with, for default ports.
    fn uri_scheme(&self) -> &'static str {
        self.0.settings.auth.uri_scheme
    }
}

/// The refusal of a request whose path or host an upstream could read otherwise.
pub(crate) fn door_refusal(error: DoorError) -> ApiError {
    let (code, explanation, reason) = match error {
        DoorError::Path(error) => (ErrorCode::InvalidPath, error.to_string(), error.reason()),
        DoorError::Host(error) => (ErrorCode::InvalidHost, error.to_string(), "invalid-host"),
    };
    ApiError::new(code)
        .with_detail(serde_json::json!({ "explanation": explanation, "reason": reason }))
}

impl Table {
    fn new(settings: &GatewaySettings, routes: Routes) -> Self {
        let served = routes
            .iter()
            .map(|route| Served {
                auth: Arc::new(AuthSettings {
                    schemes: route.schemes.clone(),
                    body_limit: route.body_limit.unwrap_or(settings.auth.body_limit),
                    console_sessions: false,
                    route_limit: route
                        .rate_limit
                        .map(|limit| RouteLimit { route: route.name().into(), limit }),
                    route: route.name().into(),
                    ..settings.auth.clone()
                }),
                client: upstream_client(route),
                upstream: settings.auth.cache.meters().upstream_histogram(&route.prefix),
            })
            .collect();
        let signs_responses = routes.iter().any(|route| route.sign_responses);
        Table { routes, served, signs_responses }
    }
}

/// A pooled client for a route's upstream: HTTP/1.1, or h2 with prior knowledge; over TLS,
/// h2 where ALPN offers it.
fn upstream_client(route: &Route) -> Client<HttpsConnector<HttpConnector>, proxy::UpstreamBody> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(route.connect_timeout));
    connector.set_nodelay(true);
    // Plain-HTTP routes go through the same connector type, which then never speaks TLS.
    connector.enforce_http(false);
    let tls = match &route.upstream.tls {
        Some(tls) => tls.as_ref().clone(),
        None => upstream_tls::unused(),
    };
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(connector);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .http2_only(route.http2)
        .build(connector)
}

/// A protected request refused: the error, and what its answer carries (the scheme, once
/// known, and the rate limits' headers).
struct Refused {
    error: ApiError,
    tags: AnswerTags,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        let allowance = refusal.allowance.map(|allowance| *allowance);
        Refused { error: refusal.error, tags: AnswerTags { scheme: refusal.scheme, allowance } }
    }
}

impl Refused {
    fn into_response(self) -> axum::response::Response {
        use axum::response::IntoResponse;
        let mut response = self.error.into_response();
        self.tags.on(&mut response);
        response
    }
}

/// The permissions check after authentication: every permission the route and method need.
pub(crate) fn permitted(
    principal: &Principal,
    required: Permissions,
    method: &Method,
) -> Result<(), ApiError> {
    if principal.permissions.covers(&required) {
        return Ok(());
    }
    let missing = principal.permissions.missing_from(&required);
    Err(ApiError::new(ErrorCode::PermissionDenied)
        .with_message(format!("Permission denied: {method} here requires {}", missing.join(", ")))
        .with_detail(serde_json::json!({ "required": missing })))
}
