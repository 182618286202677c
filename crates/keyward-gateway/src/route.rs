//! Gateway routes: as configured ([`RouteConfig`], a `[[route]]` table of the TOML file or a
//! `--route PREFIX=URL` flag), and as checked ([`Route`], [`Routes`]): every value typed, every
//! mistake refused at start-up with a message that names the route.
//!
//! # Example
//! ```
//! use keyward_gateway::{RouteConfig, Routes};
//! let orders: RouteConfig = toml::from_str(r#"
//!     prefix = "/orders/"
//!     upstream = "http://127.0.0.1:9000"
//!     schemes = ["header-hmac", "http-signature"]
//!     [method_permissions]
//!     GET = ["orders:read"]
//!     POST = ["orders:write"]
//! "#).unwrap();
//! let routes = Routes::check(vec![orders]).unwrap();
//! let route = routes.find(None, "/orders/17", &http::Method::GET).unwrap();
//! assert!(route.required(&http::Method::GET).has("orders:read"));
//! assert!(routes.find(None, "/orders", &http::Method::GET).is_some());
//! assert!(routes.find(None, "/ordersx", &http::Method::GET).is_none());
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme as UriScheme};
use http::{HeaderValue, Method};
use keyward_sig::Scheme;
use keyward_store::{Permissions, RateLimit};
use serde::Deserialize;

use crate::canonical::OverrideName;
use crate::upstream_tls::UpstreamTls;

/// A route as written in the configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The path prefix: `/orders/` and `/orders` both serve `/orders` (a REST API's list) and
    /// `/orders/...`, never `/ordersx`.
    pub prefix: String,
    /// Where to forward: `http://host:port` with an optional base path the request's path is
    /// appended to.
    pub upstream: String,
    /// Only for requests to this host (the `Host` header, without port), when given.
    #[serde(default)]
    pub host: Option<String>,
    /// Only these methods, when given (others get 405) [default: the methods
    /// `method_permissions` names, when it names any; else every method]. `GET` serves `HEAD`.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// The schemes accepted [default: all].
    #[serde(default)]
    pub schemes: Option<Vec<String>>,
    /// Permissions every request needs.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Permissions a method needs, besides `permissions`. Without `methods`, the route serves
    /// only the methods named here; `HEAD` needs what `GET` needs.
    #[serde(default)]
    pub method_permissions: BTreeMap<String, Vec<String>>,
    /// The method override the upstream honours, if any: `X-HTTP-Method-Override`,
    /// `X-HTTP-Method`, `X-Method-Override` or `_method` (the query parameter). keyward then
    /// authorizes the method it names; without it, the headers are removed and `_method` is
    /// refused [default: none].
    #[serde(default)]
    pub method_override: Option<String>,
    /// No credentials needed (none are checked, identity headers are still stripped).
    #[serde(default)]
    pub public: bool,
    /// Keep query-hmac's `t`, `ms` and `s` in the query sent upstream.
    #[serde(default)]
    pub keep_query_credentials: bool,
    /// Remove the prefix from the path sent upstream.
    #[serde(default)]
    pub strip_prefix: bool,
    /// Pass WebSocket upgrades through.
    #[serde(default)]
    pub websocket: bool,
    /// The upstream speaks HTTP/2 without TLS (h2c, prior knowledge) rather than HTTP/1.1.
    #[serde(default)]
    pub http2: bool,
    /// Sign every response of the route (the upstream's, and keyward's refusals) with the
    /// server's response key, bound to the request, whether or not the client asks
    /// (`Accept-Signature`) [default: only when asked].
    #[serde(default)]
    pub sign_responses: bool,
    /// The largest body accepted, in bytes [default: the server's body limit].
    #[serde(default)]
    pub body_limit: Option<usize>,
    /// For an `https://` upstream, the PEM CA bundle its certificate must chain to
    /// [default: the system's root certificates].
    pub upstream_ca: Option<PathBuf>,
    /// For an `https://` upstream that asks for one, the PEM certificate chain keyward
    /// presents, with `upstream_client_key` [default: none].
    pub upstream_client_cert: Option<PathBuf>,
    /// The PEM private key of `upstream_client_cert`.
    pub upstream_client_key: Option<PathBuf>,
    /// Seconds to connect to the upstream [default: 5].
    #[serde(default)]
    pub connect_timeout_seconds: Option<u64>,
    /// Seconds for the upstream to start answering [default: 30].
    #[serde(default)]
    pub response_timeout_seconds: Option<u64>,
    /// Requests each caller (key or user) may make on this route per window, with
    /// `rate_limit_window_seconds` [default: no limit].
    #[serde(default)]
    pub rate_limit_requests: Option<u32>,
    /// The rate limit's window, in seconds [default: 60].
    #[serde(default)]
    pub rate_limit_window_seconds: Option<u64>,
}

impl RouteConfig {
    /// A route from a `--route PREFIX=URL` flag: every scheme, no permission.
    pub fn from_flag(flag: &str) -> Result<Self, RouteError> {
        let (prefix, upstream) = flag.split_once('=').ok_or_else(|| {
            RouteError::new(flag, "expected PREFIX=URL, like /orders/=http://127.0.0.1:9000")
        })?;
        Ok(RouteConfig {
            prefix: prefix.to_owned(),
            upstream: upstream.to_owned(),
            ..Default::default()
        })
    }
}

/// A route that cannot be served, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("route {route}: {reason}")]
pub struct RouteError {
    /// The route's prefix (or the flag), as configured.
    pub route: String,
    /// What is wrong, as a sentence.
    pub reason: String,
}

impl RouteError {
    fn new(route: &str, reason: impl Into<String>) -> Self {
        RouteError { route: format!("{route:?}"), reason: reason.into() }
    }
}

/// Whether a route needs credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Every request is authenticated by the route's schemes and checked for its permissions.
    Protected,
    /// No credentials are needed.
    Public,
}

/// What happens to query-hmac's `t`, `ms` and `s` on the way up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryCredentials {
    /// Removed (the default): the upstream never sees a credential.
    Strip,
    /// Kept, for an upstream that checks them itself.
    Keep,
}

/// What happens to the route's prefix on the way up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixHandling {
    /// The path is sent as received (the default).
    Keep,
    /// The prefix is removed (`/orders/17` reaches the upstream as `/17`).
    Strip,
}

/// Whether WebSocket upgrades pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upgrades {
    /// Refused with 400 (the default).
    Refused,
    /// Passed through to the upstream.
    Allowed,
}

/// Where a route forwards to.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// `http` (or `https`).
    pub scheme: UriScheme,
    /// Host and port.
    pub authority: Authority,
    /// A base path the request's path is appended to (empty for none).
    pub base_path: String,
    /// The `Host` the upstream gets: its host, and its port unless it is the scheme's default
    /// (as an HTTP client would send it; made once, not per request).
    pub host: HeaderValue,
    /// How to speak TLS to an `https://` upstream.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// A checked route.
#[derive(Clone, Debug)]
pub struct Route {
    /// The path prefix.
    pub prefix: String,
    /// The host it serves only, lower-case.
    pub host: Option<String>,
    /// The methods it serves only.
    pub methods: Option<Vec<Method>>,
    /// The upstream.
    pub upstream: Upstream,
    /// The schemes accepted.
    pub schemes: Vec<Scheme>,
    /// Public or protected.
    pub access: Access,
    /// Permissions every request needs.
    pub permissions: Permissions,
    /// Permissions by method, besides.
    pub method_permissions: Vec<(Method, Permissions)>,
    /// The method override the upstream honours.
    pub method_override: Option<OverrideName>,
    /// Query credentials on the way up.
    pub query_credentials: QueryCredentials,
    /// The prefix on the way up.
    pub prefix_handling: PrefixHandling,
    /// WebSocket upgrades.
    pub upgrades: Upgrades,
    /// HTTP/2 (h2c) to the upstream rather than HTTP/1.1.
    pub http2: bool,
    /// Whether every response is signed.
    pub sign_responses: bool,
    /// The largest body, when the route sets one.
    pub body_limit: Option<usize>,
    /// Time to connect upstream.
    pub connect_timeout: Duration,
    /// Time for the upstream to start answering.
    pub response_timeout: Duration,
    /// The limit on each caller's requests, if any.
    pub rate_limit: Option<RateLimit>,
}

/// The `Host` header for an upstream at `authority`: without user information, and without
/// the scheme's default port.
fn upstream_host(scheme: &UriScheme, authority: &Authority) -> HeaderValue {
    let default_port = if *scheme == UriScheme::HTTPS { 443 } else { 80 };
    let text = match authority.port_u16().filter(|port| *port != default_port) {
        Some(port) => format!("{}:{port}", authority.host()),
        None => authority.host().to_owned(),
    };
    HeaderValue::try_from(text).expect("a parsed authority is a header value")
}

/// Paths keyward serves itself; no route may take them.
const RESERVED: [&str; 9] = [
    "/api",
    "/probio",
    "/console",
    "/auth",
    "/healthz",
    "/readyz",
    "/metrics",
    "/.well-known/keyward",
    "/envoy.service.auth.v3.Authorization",
];

/// Whether keyward serves `path` (as received) itself: its API, console, forward-auth, health
/// checks, metrics and published keys. No route takes such a path, so a request for any other
/// goes to the gateway without a look at keyward's own routes.
pub fn served_by_keyward(path: &str) -> bool {
    RESERVED.iter().any(|reserved| path_under(path, reserved))
}

/// A route's prefix: a path, and none of keyward's own.
fn checked_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') || prefix.contains(['?', '#', '*', ' ']) {
        return Err("the prefix must be a path starting with /".into());
    }
    match RESERVED.iter().find(|reserved| prefixes_overlap(prefix, reserved)) {
        Some(reserved) => Err(format!("keyward serves {reserved} itself")),
        None => Ok(()),
    }
}

/// The upstream `config` names: `http://` or `https://host:port`, perhaps with a base path,
/// no query; for https, what it trusts and presents.
fn checked_upstream(config: &RouteConfig) -> Result<Upstream, String> {
    let url = &config.upstream;
    let uri: http::Uri = url.parse().map_err(|_| format!("upstream {url:?} is not a URL"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned()) else {
        return Err(format!("upstream {url:?} must be http://host:port or https://host:port"));
    };
    if uri.query().is_some() {
        return Err("the upstream URL must not carry a query".into());
    }
    let client = match (&config.upstream_client_cert, &config.upstream_client_key) {
        (Some(chain), Some(key)) => Some((chain.as_path(), key.as_path())),
        (None, None) => None,
        _ => return Err("upstream_client_cert and upstream_client_key go together".into()),
    };
    let tls = if scheme == UriScheme::HTTPS {
        if config.http2 {
            return Err("http2 = true is HTTP/2 without TLS (h2c); an https upstream offers h2 \
                        by ALPN: leave http2 out"
                .into());
        }
        Some(UpstreamTls { ca: config.upstream_ca.as_deref(), client }.config()?)
    } else if scheme == UriScheme::HTTP {
        if config.upstream_ca.is_some() || client.is_some() {
            return Err("upstream_ca and upstream_client_cert are for https:// upstreams".into());
        }
        None
    } else {
        return Err(format!("upstream {url:?} must be http:// or https://"));
    };
    let base_path = uri.path().trim_end_matches('/').to_owned();
    Ok(Upstream { host: upstream_host(&scheme, &authority), scheme, authority, base_path, tls })
}

/// The schemes a route accepts (`None`: all).
fn checked_schemes(names: Option<&[String]>) -> Result<Vec<Scheme>, String> {
    let Some(names) = names else { return Ok(Scheme::ALL.to_vec()) };
    names
        .iter()
        .map(|name| {
            Scheme::from_name(name).ok_or_else(|| {
                format!("unknown scheme {name:?} (bearer, query-hmac, header-hmac, http-signature)")
            })
        })
        .collect()
}

/// Permissions a route requires, declared (so keys can be granted them) and parsed.
fn declared(names: &[String]) -> Result<Permissions, String> {
    keyward_store::declare_permissions(names.iter().map(String::as_str))
        .map_err(|error| error.to_string())?;
    Permissions::parse(names).map_err(|name| format!("unknown permission {name:?}"))
}

/// The methods a route serves (`None`: all) and the permissions some of them need.
type MethodRules = (Option<Vec<Method>>, Vec<(Method, Permissions)>);

/// The methods a route serves and the permissions each needs. Per-method permissions name the
/// methods served: one they do not name is refused, unless `methods` says which others are.
fn checked_methods(
    methods: Option<&[String]>,
    method_permissions: &BTreeMap<String, Vec<String>>,
) -> Result<MethodRules, String> {
    let methods: Option<Vec<Method>> =
        methods.map(|methods| methods.iter().map(|m| method(m)).collect()).transpose()?;
    let method_permissions: Vec<(Method, Permissions)> = method_permissions
        .iter()
        .map(|(name, names)| Ok((method(name)?, declared(names)?)))
        .collect::<Result<_, String>>()?;
    let methods = match methods {
        Some(methods) => {
            if let Some((unserved, _)) =
                method_permissions.iter().find(|(m, _)| !listed(&methods, m))
            {
                return Err(format!(
                    "method_permissions names {unserved}, which methods does not list"
                ));
            }
            Some(methods)
        }
        None if method_permissions.is_empty() => None,
        None => Some(method_permissions.iter().map(|(m, _)| m.clone()).collect()),
    };
    Ok((methods, method_permissions))
}

/// A route's rate limit: `requests` per `window_seconds` (default 60).
fn checked_rate_limit(
    requests: Option<u32>,
    window_seconds: Option<u64>,
) -> Result<Option<RateLimit>, String> {
    match (requests, window_seconds) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err("rate_limit_window_seconds needs rate_limit_requests".into()),
        (Some(requests), window) => {
            let window_ms = window.unwrap_or(60).saturating_mul(1000);
            let limit = RateLimit::new(requests, window_ms).ok_or_else(|| {
                "the rate limit must be 1 to 1000000 requests per 1 to 2592000 seconds".to_owned()
            })?;
            Ok(Some(limit))
        }
    }
}

/// A timeout of `value` seconds (`default` when unset), 1 to 3600.
fn seconds(value: Option<u64>, default: u64, what: &str) -> Result<Duration, String> {
    match value.unwrap_or(default) {
        0 | 3601.. => Err(format!("{what} must be 1 to 3600 seconds")),
        n => Ok(Duration::from_secs(n)),
    }
}

impl Route {
    /// The route `config` describes, or why not.
    fn check(config: RouteConfig) -> Result<Self, RouteError> {
        let name = config.prefix.clone();
        let fail = |reason: String| RouteError::new(&name, reason);
        checked_prefix(&config.prefix).map_err(&fail)?;
        let upstream = checked_upstream(&config).map_err(&fail)?;
        let schemes = checked_schemes(config.schemes.as_deref()).map_err(&fail)?;
        let permissions = declared(&config.permissions).map_err(&fail)?;
        let (methods, method_permissions) =
            checked_methods(config.methods.as_deref(), &config.method_permissions)
                .map_err(&fail)?;
        let method_override = config
            .method_override
            .as_deref()
            .map(|name| {
                OverrideName::parse(name).ok_or_else(|| {
                    format!(
                        "method_override {name:?} is none of X-HTTP-Method-Override, \
                         X-HTTP-Method, X-Method-Override, _method"
                    )
                })
            })
            .transpose()
            .map_err(&fail)?;
        let host = config.host.as_deref().map(canonical_host_name).transpose().map_err(&fail)?;
        let access = if config.public { Access::Public } else { Access::Protected };
        if access == Access::Public
            && (!config.permissions.is_empty() || !config.method_permissions.is_empty())
        {
            return Err(fail("a public route cannot require permissions".into()));
        }
        if config.websocket && config.http2 {
            return Err(fail(
                "WebSocket upgrades need an HTTP/1.1 upstream (http2 = false)".into(),
            ));
        }
        if config.body_limit.is_some_and(|limit| !(1024..=1024 * 1024 * 1024).contains(&limit)) {
            return Err(fail("the body limit must be 1024 bytes to 1 GiB".into()));
        }
        let rate_limit =
            checked_rate_limit(config.rate_limit_requests, config.rate_limit_window_seconds)
                .map_err(&fail)?;
        if access == Access::Public && rate_limit.is_some() {
            return Err(fail(
                "a public route has no caller to limit: rate limits need a protected route".into(),
            ));
        }
        let connect_timeout =
            seconds(config.connect_timeout_seconds, 5, "the connect timeout").map_err(&fail)?;
        let response_timeout =
            seconds(config.response_timeout_seconds, 30, "the response timeout").map_err(&fail)?;
        Ok(Route {
            rate_limit,
            prefix: config.prefix,
            host,
            methods,
            upstream,
            schemes,
            access,
            permissions,
            method_permissions,
            method_override,
            query_credentials: if config.keep_query_credentials {
                QueryCredentials::Keep
            } else {
                QueryCredentials::Strip
            },
            prefix_handling: if config.strip_prefix {
                PrefixHandling::Strip
            } else {
                PrefixHandling::Keep
            },
            upgrades: if config.websocket { Upgrades::Allowed } else { Upgrades::Refused },
            http2: config.http2,
            sign_responses: config.sign_responses,
            body_limit: config.body_limit,
            connect_timeout,
            response_timeout,
        })
    }

    /// The route's name in rate-limit counters: its host (if it has one) and prefix.
    pub fn name(&self) -> String {
        match &self.host {
            Some(host) => format!("{host}{}", self.prefix),
            None => self.prefix.clone(),
        }
    }

    /// What the route serves, on one line, for `keyward check` and the start-up log:
    /// `/orders/ -> http://127.0.0.1:9000 · schemes bearer, api-key · GET needs orders:read`.
    pub fn summary(&self) -> String {
        let names = |permissions: &Permissions| permissions.iter().collect::<Vec<_>>().join(", ");
        let mut parts = vec![format!(
            "{}{} -> {}://{}{}",
            self.host.as_deref().unwrap_or(""),
            self.prefix,
            self.upstream.scheme,
            self.upstream.authority,
            self.upstream.base_path
        )];
        match self.access {
            Access::Public => parts.push("public: no credentials".to_owned()),
            Access::Protected => {
                let schemes: Vec<&str> =
                    self.schemes.iter().map(|scheme| scheme.as_str()).collect();
                parts.push(format!("schemes {}", schemes.join(", ")));
            }
        }
        if let Some(methods) = &self.methods {
            let methods: Vec<&str> = methods.iter().map(Method::as_str).collect();
            parts.push(format!("methods {}", methods.join(", ")));
        }
        if self.access == Access::Protected {
            let every = self.permissions.iter().next().is_some();
            if every {
                parts.push(format!("needs {}", names(&self.permissions)));
            } else if self.method_permissions.is_empty() {
                parts.push("any valid credential".to_owned());
            }
            for (method, permissions) in &self.method_permissions {
                parts.push(format!("{method} needs {}", names(permissions)));
            }
        }
        if let Some(limit) = self.rate_limit {
            parts.push(format!(
                "{} requests per {} s per caller",
                limit.requests,
                limit.window_ms / 1000
            ));
        }
        let flags = [
            (self.prefix_handling == PrefixHandling::Strip, "prefix stripped"),
            (self.upgrades == Upgrades::Allowed, "websocket"),
            (self.http2, "h2c"),
            (self.sign_responses, "responses signed"),
        ];
        parts.extend(flags.into_iter().filter(|(on, _)| *on).map(|(_, flag)| flag.to_owned()));
        parts.join(" · ")
    }

    /// Whether the route serves `path` (a segment boundary after the prefix).
    pub fn serves_path(&self, path: &str) -> bool {
        path_under(path, &self.prefix)
    }

    /// Whether the route serves requests to `host`.
    fn serves_host(&self, host: Option<&str>) -> bool {
        match (&self.host, host) {
            (None, _) => true,
            (Some(wanted), Some(host)) => wanted.eq_ignore_ascii_case(host),
            (Some(_), None) => false,
        }
    }

    /// Whether the route serves `method` (`HEAD` where it serves `GET`).
    pub fn serves_method(&self, method: &Method) -> bool {
        self.methods.as_ref().is_none_or(|methods| listed(methods, method))
    }

    /// The methods the route serves, for `Allow`: `None` for every method.
    pub fn allowed_methods(&self) -> Option<&[Method]> {
        self.methods.as_deref()
    }

    /// The permissions a request with `method` needs (`HEAD` needs what `GET` needs).
    pub fn required(&self, method: &Method) -> Permissions {
        let head = method == Method::HEAD;
        self.method_permissions
            .iter()
            .filter(|(m, _)| m == method || (head && m == Method::GET))
            .fold(self.permissions, |all, (_, more)| all.union(*more))
    }

    /// Whether the path goes upstream exactly as received (no prefix stripped, no base path).
    pub fn passes_path_as_is(&self) -> bool {
        self.prefix_handling == PrefixHandling::Keep && self.upstream.base_path.is_empty()
    }

    /// The path to send upstream for `path`.
    pub fn upstream_path(&self, path: &str) -> String {
        let path = match self.prefix_handling {
            PrefixHandling::Keep => path,
            PrefixHandling::Strip => {
                path.get(self.prefix.trim_end_matches('/').len()..).unwrap_or("")
            }
        };
        let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        format!("{}{path}", self.upstream.base_path)
    }
}

/// Whether `path` lies under `prefix`, at a segment boundary: `/orders/` and `/orders` both
/// serve `/orders` and `/orders/...`, never `/ordersx`.
fn path_under(path: &str, prefix: &str) -> bool {
    let base = prefix.trim_end_matches('/');
    path.strip_prefix(base).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether one prefix lies under the other.
fn prefixes_overlap(a: &str, b: &str) -> bool {
    let trimmed = |p: &'_ str| p.trim_end_matches('/').to_owned();
    let (a, b) = (trimmed(a), trimmed(b));
    a.is_empty() || b.is_empty() || path_under(&a, &b) || path_under(&b, &a)
}

/// Whether `methods` serve `method`: `HEAD` where `GET` is.
fn listed(methods: &[Method], method: &Method) -> bool {
    methods.contains(method) || (method == Method::HEAD && methods.contains(&Method::GET))
}

/// A route's `host`, as requests' hosts are compared with it: lower case, without a trailing
/// dot, a name with non-ASCII letters in its ASCII form (IDNA: `bücher.example` is
/// `xn--bcher-kva.example`).
fn canonical_host_name(host: &str) -> Result<String, String> {
    let bad = || format!("host {host:?} is not a host name (without a port)");
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    let ascii = idna::domain_to_ascii(trimmed).map_err(|_| bad())?;
    let value = http::HeaderValue::from_str(&ascii).map_err(|_| bad())?;
    match crate::canonical::CanonicalHost::parse(&value, 0) {
        Ok(parsed) if parsed.name() == ascii => Ok(ascii),
        _ => Err(bad()),
    }
}

fn method(name: &str) -> Result<Method, String> {
    let method = Method::from_bytes(name.as_bytes())
        .map_err(|_| format!("{name:?} is not an HTTP method"))?;
    if name.bytes().any(|c| c.is_ascii_lowercase()) {
        return Err(format!("methods are upper-case, not {name:?}"));
    }
    Ok(method)
}

/// Checked routes. No two overlap, so a request matches one route at most.
#[derive(Clone, Debug, Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    /// Checks every route, and that no two overlap (same host or either without one, a method
    /// in common, one prefix under the other).
    pub fn check(configs: Vec<RouteConfig>) -> Result<Self, RouteError> {
        let routes: Vec<Route> = configs.into_iter().map(Route::check).collect::<Result<_, _>>()?;
        for (i, a) in routes.iter().enumerate() {
            for b in &routes[i + 1..] {
                let hosts = a.host.is_none() || b.host.is_none() || a.host == b.host;
                let methods = match (&a.methods, &b.methods) {
                    (Some(x), Some(y)) => {
                        x.iter().any(|m| b.serves_method(m)) || y.iter().any(|m| a.serves_method(m))
                    }
                    _ => true,
                };
                if hosts && methods && prefixes_overlap(&a.prefix, &b.prefix) {
                    return Err(RouteError::new(
                        &a.prefix,
                        format!(
                            "overlaps route {:?}: give them distinct prefixes, hosts or methods",
                            b.prefix
                        ),
                    ));
                }
            }
        }
        Ok(Routes(routes))
    }

    /// The route for a request, if any.
    pub fn find(&self, host: Option<&str>, path: &str, method: &Method) -> Option<&Route> {
        self.position(host, path, method).map(|i| &self.0[i])
    }

    /// The index of the route for a request, if any.
    pub fn position(&self, host: Option<&str>, path: &str, method: &Method) -> Option<usize> {
        self.0
            .iter()
            .position(|r| r.serves_host(host) && r.serves_path(path) && r.serves_method(method))
    }

    /// The route at `index`.
    pub fn get(&self, index: usize) -> Option<&Route> {
        self.0.get(index)
    }

    /// How many routes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// A route that serves `path` (for another method, perhaps).
    pub fn for_path(&self, host: Option<&str>, path: &str) -> Option<&Route> {
        self.0.iter().find(|r| r.serves_host(host) && r.serves_path(path))
    }

    /// The routes.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.0.iter()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(prefix: &str) -> RouteConfig {
        RouteConfig {
            prefix: prefix.into(),
            upstream: "http://127.0.0.1:9".into(),
            ..Default::default()
        }
    }

    fn refused(configs: Vec<RouteConfig>) -> String {
        Routes::check(configs).unwrap_err().to_string()
    }

    #[test]
    fn mistakes_are_refused_with_the_route_and_the_reason() {
        let mut bad_scheme = config("/a/");
        bad_scheme.schemes = Some(vec!["smoke".into()]);
        assert!(refused(vec![bad_scheme]).contains("unknown scheme \"smoke\""));
        let mut bad_url = config("/a/");
        bad_url.upstream = "not a url".into();
        assert!(refused(vec![bad_url]).contains("is not a URL"));
        let mut no_host = config("/a/");
        no_host.upstream = "/relative".into();
        assert!(refused(vec![no_host]).contains("must be http://host:port"));
        assert!(refused(vec![config("orders")]).contains("starting with /"));
        assert!(refused(vec![config("/api/x")]).contains("keyward serves /api itself"));
        assert!(refused(vec![config("/")]).contains("keyward serves"));
        assert!(
            refused(vec![config("/.well-known/")]).contains("keyward serves /.well-known/keyward")
        );
        assert!(
            refused(vec![config("/envoy.service.auth.v3.Authorization/")])
                .contains("keyward serves /envoy.service.auth.v3.Authorization itself")
        );
        // Every route that passes the check is for paths keyward leaves to the gateway.
        for path in ["/api", "/api/me", "/console/", "/auth/check", "/healthz", "/metrics"] {
            assert!(served_by_keyward(path), "{path}");
        }
        for path in ["/apix", "/API/me", "/%61pi/me", "/orders/1", "/.well-known/acme/x", "/"] {
            assert!(!served_by_keyward(path), "{path}");
        }
        assert!(served_by_keyward("/.well-known/keyward/response-keys"));
        assert!(refused(vec![config("/o/"), config("/o/x/")]).contains("overlaps route \"/o/x/\""));
        let mut public = config("/p/");
        public.public = true;
        public.permissions = vec!["p:read".into()];
        assert!(refused(vec![public]).contains("public route cannot require"));
        let mut lower = config("/m/");
        lower.methods = Some(vec!["get".into()]);
        assert!(refused(vec![lower]).contains("upper-case"));
        let mut permission = config("/q/");
        permission.permissions = vec!["Bad".into()];
        assert!(refused(vec![permission]).contains("area:action"));
    }

    #[test]
    fn routes_with_distinct_hosts_or_methods_may_share_a_prefix() {
        let (mut a, mut b) = (config("/o/"), config("/o/"));
        a.host = Some("a.example".into());
        b.host = Some("b.example".into());
        assert!(Routes::check(vec![a, b]).is_ok());
        let (mut get, mut post) = (config("/o/"), config("/o/"));
        get.methods = Some(vec!["GET".into()]);
        post.methods = Some(vec!["POST".into()]);
        let routes = Routes::check(vec![get, post]).unwrap();
        assert!(routes.find(None, "/o/1", &Method::POST).is_some());
        assert!(routes.find(None, "/o/1", &Method::DELETE).is_none());
        assert!(routes.for_path(None, "/o/1").is_some());
    }

    #[test]
    fn paths_match_at_segment_boundaries_and_prefixes_can_be_stripped() {
        let mut route = config("/orders");
        route.upstream = "http://127.0.0.1:9/v2/".into();
        route.strip_prefix = true;
        let routes = Routes::check(vec![route]).unwrap();
        let route = routes.find(None, "/orders/17", &Method::GET).unwrap();
        assert_eq!(route.upstream_path("/orders/17"), "/v2/17");
        assert_eq!(route.upstream_path("/orders"), "/v2/");
        assert!(routes.find(None, "/orders", &Method::GET).is_some());
        assert!(routes.find(None, "/ordersx", &Method::GET).is_none());
    }
}
