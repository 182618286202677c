//! `keyward serve`'s configuration: flags, then environment variables, then an optional TOML
//! file, then defaults; checked into typed values before anything starts.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use keyward_server::auth::{RedisFailure, ReplayMode};
use keyward_server::gateway::{
    BodyForwarding, ForwardAuthProxy, ForwardAuthSettings, IdentityHeaders, RouteConfig, Routes,
    Unrouted,
};
use keyward_server::throttle::ThrottleSettings;
use keyward_server::{Limits, RouteSchemes, Settings};
use keyward_sig::{BlankValues, ClockWindow, Scheme, SignatureRule, TokenFormat, VerifyOptions};
use keyward_store::StoreOptions;
use serde::Deserialize;

use crate::log::{LogFormat, LogSettings, host_name};

/// Flags of `keyward serve`. Each has an environment variable; a TOML file (`--config`) can
/// set the same keys (in snake case); flags win over the environment, which wins over the file.
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "KEYWARD_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    store: StoreArgs,
    /// TOML configuration file.
    #[arg(long, env = "KEYWARD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Accepted clock skew, in seconds, either way [default: 300].
    #[arg(long, env = "KEYWARD_CLOCK_SKEW_SECONDS", value_name = "SECONDS")]
    clock_skew_seconds: Option<u32>,
    /// Which repeats of the same signed request are refused: unsafe (POST, PUT, PATCH,
    /// DELETE) or all (every method). A signature reused for another method or target is
    /// refused in both [default: unsafe].
    #[arg(long, env = "KEYWARD_REPLAY", value_name = "MODE")]
    replay: Option<String>,
    /// query-hmac blank-valued parameters: signed, or skipped (accepts a published sample's
    /// variant; lets anyone append blank parameters to a signed URL) [default: signed].
    #[arg(long, env = "KEYWARD_BLANK_VALUES", value_name = "MODE")]
    blank_values: Option<String>,
    /// Which RFC 9421 signatures of a request must verify when it carries several: first (the
    /// others are not read), or all (each with the key its keyid names; the request acts as
    /// the first's key) [default: first].
    #[arg(long, env = "KEYWARD_SIGNATURES", value_name = "RULE")]
    signatures: Option<String>,
    /// Schemes accepted anywhere, comma-separated: bearer, query-hmac, header-hmac,
    /// http-signature [default: all]. Each route group's list below is narrowed to these.
    #[arg(long, env = "KEYWARD_SCHEMES", value_name = "LIST", value_delimiter = ',')]
    schemes: Option<Vec<String>>,
    /// Schemes accepted on /api/activities, /api/me, /api/logout [default: all].
    #[arg(long, env = "KEYWARD_API_SCHEMES", value_name = "LIST", value_delimiter = ',')]
    api_schemes: Option<Vec<String>>,
    /// Schemes accepted on /api/admin [default: bearer,header-hmac,http-signature].
    #[arg(long, env = "KEYWARD_ADMIN_SCHEMES", value_name = "LIST", value_delimiter = ',')]
    admin_schemes: Option<Vec<String>>,
    /// Schemes accepted on /probio [default: header-hmac,http-signature].
    #[arg(long, env = "KEYWARD_PROVISIONING_SCHEMES", value_name = "LIST", value_delimiter = ',')]
    provisioning_schemes: Option<Vec<String>>,
    /// Largest request body, in bytes [default: 1048576].
    #[arg(long, env = "KEYWARD_BODY_LIMIT", value_name = "BYTES")]
    body_limit: Option<usize>,
    /// Access token lifetime, in seconds [default: 31536000, one year].
    #[arg(long, env = "KEYWARD_TOKEN_TTL_SECONDS", value_name = "SECONDS")]
    token_ttl_seconds: Option<i64>,
    /// How long a rotated secret keeps verifying, in seconds [default: 86400].
    #[arg(long, env = "KEYWARD_ROTATION_OVERLAP_SECONDS", value_name = "SECONDS")]
    rotation_overlap_seconds: Option<i64>,
    /// The URI scheme clients use to reach the server (https behind a TLS proxy), for RFC
    /// 9421's @scheme and @target-uri [default: http].
    #[arg(long, env = "KEYWARD_PUBLIC_SCHEME", value_name = "SCHEME")]
    public_scheme: Option<String>,
    /// Seconds a client may take to send a request's headers [default: 10].
    #[arg(long, env = "KEYWARD_HEADER_TIMEOUT_SECONDS", value_name = "SECONDS")]
    header_timeout_seconds: Option<u64>,
    /// Seconds a client may pause while sending a body [default: 10].
    #[arg(long, env = "KEYWARD_BODY_TIMEOUT_SECONDS", value_name = "SECONDS")]
    body_timeout_seconds: Option<u64>,
    /// Seconds a whole request may take, from its headers to its answer [default: 60].
    #[arg(long, env = "KEYWARD_REQUEST_TIMEOUT_SECONDS", value_name = "SECONDS")]
    request_timeout_seconds: Option<u64>,
    /// Open connections at once, at most; more are answered 503 [default: 4096].
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Requests served at once, at most; more are answered 503 [default: 1024].
    #[arg(long, env = "KEYWARD_MAX_REQUESTS", value_name = "N")]
    max_requests: Option<usize>,
    /// Failed logins per account before logins are refused for a while (0: no limit)
    /// [default: 10].
    #[arg(long, env = "KEYWARD_LOGIN_FAILURES_PER_ACCOUNT", value_name = "N")]
    login_failures_per_account: Option<u32>,
    /// Failed logins per client address before logins are refused for a while (0: no limit;
    /// behind a proxy every client has the proxy's address) [default: 100].
    #[arg(long, env = "KEYWARD_LOGIN_FAILURES_PER_ADDRESS", value_name = "N")]
    login_failures_per_address: Option<u32>,
    /// Seconds failed logins count for, from the first [default: 900].
    #[arg(long, env = "KEYWARD_LOGIN_THROTTLE_SECONDS", value_name = "SECONDS")]
    login_throttle_seconds: Option<u64>,
    /// Password hashes computed at once, at most [default: half the CPUs].
    #[arg(long, env = "KEYWARD_PASSWORD_HASHING", value_name = "N")]
    password_hashing: Option<usize>,
    /// Threads serving connections, each a single-threaded runtime of its own (as nginx's
    /// worker processes) [default: the number of CPUs].
    #[arg(long, env = "KEYWARD_WORKERS", value_name = "N")]
    workers: Option<usize>,
    /// A gateway route, PREFIX=URL: forwards PREFIX... to the upstream, every scheme accepted,
    /// no permission needed beyond a valid credential. Repeatable; the file's [[route]] tables
    /// say more (schemes, permissions, public, body limit...).
    #[arg(
        long = "route",
        env = "KEYWARD_ROUTES",
        value_name = "PREFIX=URL",
        value_delimiter = ','
    )]
    routes: Vec<String>,
    /// The prefix of the identity headers the gateway and forward-auth add (and remove from
    /// clients) [default: x-keyward-].
    #[arg(long, env = "KEYWARD_IDENTITY_HEADER_PREFIX", value_name = "PREFIX")]
    identity_header_prefix: Option<String>,
    /// Serve forward-auth (/auth/check, and Envoy's gRPC ext_authz) to this proxy: nginx,
    /// caddy, traefik or envoy. Only its headers say which request to check [default: off].
    #[arg(long, env = "KEYWARD_FORWARD_AUTH", value_name = "PROXY")]
    forward_auth: Option<String>,
    /// Whether the proxy asking forward-auth forwards request bodies (Envoy
    /// with_request_body, Traefik forwardBody): forwarded or not-forwarded. Schemes that
    /// sign the body need them [default: not-forwarded].
    #[arg(long, env = "KEYWARD_FORWARD_AUTH_BODY", value_name = "MODE")]
    forward_auth_body: Option<String>,
    /// What forward-auth answers for a path no route names: refuse (403, code 46), or
    /// any-credential (any valid credential passes, whatever it holds) [default: refuse].
    #[arg(long, env = "KEYWARD_FORWARD_AUTH_UNROUTED", value_name = "MODE")]
    forward_auth_unrouted: Option<String>,
    /// The log on stderr: text, or json (one object per line, with the node's name and the
    /// request id) [default: text].
    #[arg(long, env = "KEYWARD_LOG_FORMAT", value_name = "FORMAT")]
    log_format: Option<String>,
    /// This node's name in the JSON log [default: the host name].
    #[arg(long, env = "KEYWARD_NODE_NAME", value_name = "NAME")]
    node_name: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics, an address of their own: whoever can
    /// reach it reads them [default: no metrics served].
    #[arg(long, env = "KEYWARD_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Also serve GET /metrics on the API's own address, to credentials holding PERMISSION
    /// (an `area:action` name, such as metrics:read) [default: not on the API's address].
    #[arg(long, env = "KEYWARD_METRICS_PERMISSION", value_name = "PERMISSION")]
    metrics_permission: Option<String>,
    /// A proxy in front of keyward (an address or CIDR range, repeatable) whose
    /// X-Forwarded-For or Forwarded header names the client, for key policies' address ranges
    /// [default: none; the connection's peer is the client].
    #[arg(
        long = "trusted-proxy",
        env = "KEYWARD_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    trusted_proxies: Vec<String>,
    /// The private key (PKCS#8 PEM) responses are signed with, when a client asks or a route
    /// says so; its public key is published at /.well-known/keyward/response-keys. Every node
    /// needs the same [default: response-key.pem in the data directory, an Ed25519 key
    /// created on first start].
    #[arg(long, env = "KEYWARD_RESPONSE_KEY_FILE", value_name = "FILE")]
    response_key_file: Option<PathBuf>,
    /// How many days before a key expires its answers carry Keyward-Key-Expires [default: 7].
    #[arg(long, env = "KEYWARD_KEY_EXPIRY_WARNING_DAYS", value_name = "DAYS")]
    key_expiry_warning_days: Option<i64>,
    /// Redis, for what every node must share (`redis://host:6379/0`): the replay memory
    /// [default: none; each node remembers alone].
    #[arg(long, env = "KEYWARD_REDIS_URL", value_name = "URL")]
    redis_url: Option<String>,
    /// When Redis cannot be reached: fail-closed (signed POST, PUT, PATCH and DELETE get 503;
    /// safe methods are decided by the node's own memory) or fail-open (every request is)
    /// [default: fail-closed].
    #[arg(long, env = "KEYWARD_REDIS_FAILURE", value_name = "MODE")]
    redis_failure: Option<String>,
}

/// Where the store is: shared by `serve` and `admin`.
#[derive(Args, Debug, Default)]
pub struct StoreArgs {
    /// Directory for the SQLite database and the master key [default: ./keyward-data].
    #[arg(long, env = "KEYWARD_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL: `postgres://user@host/db` for PostgreSQL [default: SQLite in the data
    /// directory].
    #[arg(long, env = "KEYWARD_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
}

impl StoreArgs {
    /// The data directory and the checked database URL.
    pub fn resolve(self) -> anyhow::Result<(PathBuf, String)> {
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("keyward-data"));
        let database_url = match self.database_url {
            Some(url) => url,
            None => format!("sqlite://{}?mode=rwc", data_dir.join("keyward.db").display()),
        };
        keyward_store::Backend::from_url(&database_url)
            .context("--database-url must start with sqlite:// or postgres://")?;
        Ok((data_dir, database_url))
    }
}

/// The same keys, from the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    clock_skew_seconds: Option<u32>,
    replay: Option<String>,
    blank_values: Option<String>,
    signatures: Option<String>,
    schemes: Option<Vec<String>>,
    api_schemes: Option<Vec<String>>,
    admin_schemes: Option<Vec<String>>,
    provisioning_schemes: Option<Vec<String>>,
    body_limit: Option<usize>,
    token_ttl_seconds: Option<i64>,
    rotation_overlap_seconds: Option<i64>,
    public_scheme: Option<String>,
    header_timeout_seconds: Option<u64>,
    body_timeout_seconds: Option<u64>,
    request_timeout_seconds: Option<u64>,
    max_connections: Option<usize>,
    max_requests: Option<usize>,
    login_failures_per_account: Option<u32>,
    login_failures_per_address: Option<u32>,
    login_throttle_seconds: Option<u64>,
    password_hashing: Option<usize>,
    workers: Option<usize>,
    #[serde(default)]
    route: Vec<RouteConfig>,
    identity_header_prefix: Option<String>,
    forward_auth: Option<ForwardAuthFile>,
    log_format: Option<String>,
    node_name: Option<String>,
    metrics_listen: Option<SocketAddr>,
    metrics_permission: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    key_expiry_warning_days: Option<i64>,
    response_key_file: Option<PathBuf>,
    redis_url: Option<String>,
    redis_failure: Option<String>,
}

/// `[forward_auth]`: the proxy that asks, whether it forwards bodies, what unrouted paths get.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardAuthFile {
    proxy: Option<String>,
    body: Option<String>,
    unrouted: Option<String>,
}

/// The checked configuration.
#[derive(Debug)]
pub struct ServeConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The database URL.
    pub database_url: String,
    /// The API's settings.
    pub settings: Settings,
    /// How the store uses the database and the CPU.
    pub store: StoreOptions,
    /// Where the gateway's routes come from, to read them again on `SIGHUP`.
    pub routes: RouteSources,
    /// The log's format and this node's name.
    pub log: LogSettings,
    /// Where metrics are served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Redis, and what to do when it cannot be reached.
    pub redis: Option<(String, RedisFailure)>,
    /// The response-signing key's file, when given.
    pub response_key_file: Option<PathBuf>,
    /// The threads serving connections.
    pub workers: NonZeroUsize,
}

/// The gateway's routes: the `--route` flags and the file's `[[route]]` tables.
#[derive(Debug, Clone)]
pub struct RouteSources {
    flags: Vec<RouteConfig>,
    file: Option<PathBuf>,
    request_timeout: Duration,
}

impl RouteSources {
    /// The routes, checked: the flags' and the file's as it is now.
    pub fn load(&self) -> anyhow::Result<Routes> {
        let from_file = match &self.file {
            Some(path) => read_file(path)?.route,
            None => Vec::new(),
        };
        self.check(from_file)
    }

    fn check(&self, from_file: Vec<RouteConfig>) -> anyhow::Result<Routes> {
        let routes = Routes::check(self.flags.iter().cloned().chain(from_file).collect())?;
        if let Some(route) = routes.iter().find(|r| r.response_timeout > self.request_timeout) {
            bail!(
                "route {:?}: its response timeout ({} s) is longer than the request timeout ({} \
                 s); raise request_timeout_seconds or lower response_timeout_seconds",
                route.prefix,
                route.response_timeout.as_secs(),
                self.request_timeout.as_secs()
            );
        }
        Ok(routes)
    }
}

impl ServeArgs {
    /// Merges flags, environment (already in the flags, through clap), file and defaults, and
    /// checks every value.
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let (data_dir, database_url) = StoreArgs {
            data_dir: self.store.data_dir.or(file.data_dir),
            database_url: self.store.database_url.or(file.database_url),
        }
        .resolve()?;
        let skew = self.clock_skew_seconds.or(file.clock_skew_seconds).unwrap_or(300);
        if skew == 0 || skew > 3600 {
            bail!("clock skew must be 1 to 3600 seconds, not {skew}");
        }
        let replay = match self.replay.or(file.replay).as_deref() {
            None => ReplayMode::default(),
            Some("off") => bail!(
                "replay protection can no longer be switched off: a signature is always bound to \
                 the request it was first used with; use unsafe (the default, which also refuses \
                 repeats of POST, PUT, PATCH and DELETE) or all (which refuses every repeat)"
            ),
            Some(name) => ReplayMode::from_name(name)
                .with_context(|| format!("replay must be unsafe or all, not {name:?}"))?,
        };
        let blank_values = match self.blank_values.or(file.blank_values).as_deref() {
            None | Some("signed") => BlankValues::Signed,
            Some("skipped") => BlankValues::Skipped,
            Some(other) => bail!("blank values must be signed or skipped, not {other:?}"),
        };
        let signatures = match self.signatures.or(file.signatures).as_deref() {
            None | Some("first") => SignatureRule::First,
            Some("all") => SignatureRule::All,
            Some(other) => bail!("--signatures must be first or all, not {other:?}"),
        };
        let anywhere = scheme_list(self.schemes.or(file.schemes), Scheme::ALL.to_vec())?;
        let defaults = RouteSchemes::default();
        let group = |list: Option<Vec<String>>, default: Vec<Scheme>, name: &str| {
            let accepted: Vec<Scheme> =
                scheme_list(list, default)?.into_iter().filter(|s| anywhere.contains(s)).collect();
            if accepted.is_empty() {
                eprintln!("keyward: warning: no scheme is accepted on the {name} routes");
            }
            anyhow::Ok(accepted)
        };
        let schemes = RouteSchemes {
            api: group(self.api_schemes.or(file.api_schemes), defaults.api, "API")?,
            admin: group(self.admin_schemes.or(file.admin_schemes), defaults.admin, "/api/admin")?,
            provisioning: group(
                self.provisioning_schemes.or(file.provisioning_schemes),
                defaults.provisioning,
                "/probio",
            )?,
        };
        let body_limit = self.body_limit.or(file.body_limit).unwrap_or(1024 * 1024);
        if !(1024..=64 * 1024 * 1024).contains(&body_limit) {
            bail!("body limit must be 1024 bytes to 64 MiB, not {body_limit}");
        }
        let token_ttl = self.token_ttl_seconds.or(file.token_ttl_seconds).unwrap_or(365 * 86_400);
        let overlap =
            self.rotation_overlap_seconds.or(file.rotation_overlap_seconds).unwrap_or(86_400);
        if token_ttl < 60 || overlap < 0 {
            bail!("token lifetime must be at least 60 s and the rotation overlap at least 0 s");
        }
        let uri_scheme = match self.public_scheme.or(file.public_scheme).as_deref() {
            None | Some("http") => "http",
            Some("https") => "https",
            Some(other) => bail!("public scheme must be http or https, not {other:?}"),
        };
        let limits = checked_limits(Limits {
            header_read_timeout: seconds(
                self.header_timeout_seconds.or(file.header_timeout_seconds),
                10,
            ),
            body_read_timeout: seconds(self.body_timeout_seconds.or(file.body_timeout_seconds), 10),
            request_timeout: seconds(
                self.request_timeout_seconds.or(file.request_timeout_seconds),
                60,
            ),
            max_connections: self.max_connections.or(file.max_connections).unwrap_or(4096),
            max_requests: self.max_requests.or(file.max_requests).unwrap_or(1024),
        })?;
        let login = ThrottleSettings {
            per_account: self
                .login_failures_per_account
                .or(file.login_failures_per_account)
                .unwrap_or(10),
            per_address: self
                .login_failures_per_address
                .or(file.login_failures_per_address)
                .unwrap_or(100),
            window: seconds(self.login_throttle_seconds.or(file.login_throttle_seconds), 900),
        };
        if login.window.is_zero() {
            bail!("the login throttle window must be at least 1 second");
        }
        let mut store = StoreOptions::default();
        if let Some(hashing) = self.password_hashing.or(file.password_hashing) {
            if hashing == 0 {
                bail!("password hashing must be allowed at least 1 at a time");
            }
            store.password_hashing = hashing;
        }
        let routes = RouteSources {
            flags: self
                .routes
                .iter()
                .map(|flag| RouteConfig::from_flag(flag.trim()))
                .collect::<Result<_, _>>()?,
            file: self.config.clone(),
            request_timeout: limits.request_timeout,
        };
        let checked_routes = routes.check(file.route)?;
        let identity_headers = IdentityHeaders::new(
            self.identity_header_prefix
                .or(file.identity_header_prefix)
                .as_deref()
                .unwrap_or("x-keyward-"),
        )
        .map_err(|why| anyhow::anyhow!("identity header prefix: {why}"))?;
        let forward_auth = forward_auth(
            file.forward_auth.unwrap_or_default(),
            self.forward_auth,
            self.forward_auth_body,
            self.forward_auth_unrouted,
        )?;
        let metrics_permission = match self.metrics_permission.or(file.metrics_permission) {
            Some(name) => {
                keyward_store::declare_permissions([name.as_str()])
                    .with_context(|| format!("--metrics-permission {name:?}"))?;
                Some(name)
            }
            None => None,
        };
        let proxies = if self.trusted_proxies.is_empty() {
            file.trusted_proxies
        } else {
            self.trusted_proxies
        };
        let trusted_proxies = proxies
            .iter()
            .map(|text| {
                let text = text.trim();
                text.parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .with_context(|| {
                        format!("--trusted-proxy {text:?} is not an address or CIDR range")
                    })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let warning_days =
            self.key_expiry_warning_days.or(file.key_expiry_warning_days).unwrap_or(7);
        if !(0..=365).contains(&warning_days) {
            bail!("--key-expiry-warning-days must be 0 to 365");
        }
        let settings = Settings {
            metrics_permission,
            trusted_proxies,
            key_expiry_warning_ms: warning_days * 86_400 * 1000,
            verify: VerifyOptions {
                window: ClockWindow::from_secs(skew),
                blank_values,
                signatures,
                token_format: TokenFormat::Keyward,
                ..VerifyOptions::default()
            },
            replay,
            schemes,
            body_limit,
            token_ttl_ms: token_ttl * 1000,
            rotation_overlap_ms: overlap * 1000,
            uri_scheme,
            limits,
            login,
            routes: checked_routes,
            identity_headers,
            forward_auth,
            ..Settings::default()
        };
        let format = match self.log_format.or(file.log_format).as_deref() {
            None => LogFormat::Text,
            Some(name) => LogFormat::from_name(name)
                .with_context(|| format!("log format must be text or json, not {name:?}"))?,
        };
        let node = self.node_name.or(file.node_name).unwrap_or_else(host_name);
        let on_failure = match self.redis_failure.or(file.redis_failure).as_deref() {
            None => RedisFailure::default(),
            Some(name) => RedisFailure::from_name(name).with_context(|| {
                format!("redis failure mode must be fail-closed or fail-open, not {name:?}")
            })?,
        };
        let redis = match self.redis_url.or(file.redis_url) {
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Some((url, on_failure))
            }
            Some(_) => bail!("--redis-url must start with redis:// or rediss://"),
            None => None,
        };
        if node.is_empty() || node.len() > 253 || node.chars().any(char::is_control) {
            bail!("node name must be 1 to 253 characters without control characters");
        }
        let workers = match self.workers.or(file.workers) {
            Some(workers) => NonZeroUsize::new(workers)
                .ok_or_else(|| anyhow::anyhow!("workers must be at least 1"))?,
            None => std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
        };
        Ok(ServeConfig {
            listen: self.listen.or(file.listen).unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir,
            database_url,
            settings,
            store,
            routes,
            log: LogSettings { format, node },
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            redis,
            response_key_file: self.response_key_file.or(file.response_key_file),
            workers,
        })
    }
}

/// Forward-auth's settings: the flags first, then the file's `[forward_auth]`.
fn forward_auth(
    file: ForwardAuthFile,
    proxy_flag: Option<String>,
    body_flag: Option<String>,
    unrouted_flag: Option<String>,
) -> anyhow::Result<ForwardAuthSettings> {
    let proxy = match proxy_flag.or(file.proxy).as_deref() {
        None | Some("off") => None,
        Some(name) => Some(ForwardAuthProxy::from_name(name).with_context(|| {
            format!("forward-auth: {name:?} is none of nginx, caddy, traefik, envoy")
        })?),
    };
    let bodies = match body_flag.or(file.body).as_deref() {
        None | Some("not-forwarded") => BodyForwarding::NotForwarded,
        Some("forwarded") => BodyForwarding::Forwarded,
        Some(other) => bail!("forward-auth body must be forwarded or not-forwarded, not {other:?}"),
    };
    if bodies == BodyForwarding::Forwarded
        && matches!(proxy, Some(ForwardAuthProxy::Nginx | ForwardAuthProxy::Caddy))
    {
        bail!(
            "forward-auth body: {} does not forward request bodies",
            proxy.map_or("", |p| p.as_str())
        );
    }
    let unrouted = match unrouted_flag.or(file.unrouted).as_deref() {
        None | Some("refuse") => Unrouted::Refused,
        Some("any-credential") => Unrouted::AnyCredential,
        Some(other) => {
            bail!("forward-auth unrouted must be refuse or any-credential, not {other:?}")
        }
    };
    Ok(ForwardAuthSettings { proxy, bodies, unrouted })
}

/// A comma-separated scheme list, checked; `default` when not given.
fn scheme_list(names: Option<Vec<String>>, default: Vec<Scheme>) -> anyhow::Result<Vec<Scheme>> {
    let Some(names) = names else { return Ok(default) };
    names
        .iter()
        .map(|name| {
            Scheme::from_name(name.trim()).with_context(|| {
                format!("unknown scheme {name:?} (bearer, query-hmac, header-hmac, http-signature)")
            })
        })
        .collect()
}

fn seconds(value: Option<u64>, default: u64) -> Duration {
    Duration::from_secs(value.unwrap_or(default))
}

/// Limits that leave the server usable: every timeout at least a second, every cap at least 1.
fn checked_limits(limits: Limits) -> anyhow::Result<Limits> {
    let timeouts = [
        ("header timeout", limits.header_read_timeout),
        ("body timeout", limits.body_read_timeout),
        ("request timeout", limits.request_timeout),
    ];
    for (name, timeout) in timeouts {
        if !(1..=3600).contains(&timeout.as_secs()) {
            bail!("the {name} must be 1 to 3600 seconds, not {}", timeout.as_secs());
        }
    }
    if limits.max_connections == 0 || limits.max_requests == 0 {
        bail!("max connections and max requests must be at least 1");
    }
    Ok(limits)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::{Args, Command};

    use super::ServeArgs;

    /// The README's table of `keyward serve` settings: every flag with its environment
    /// variable, and nothing that clap does not declare.
    #[test]
    fn the_readme_lists_every_serve_flag_with_its_environment_variable() {
        let readme = include_str!("../../../README.md");
        let listed: BTreeSet<(String, String)> = readme
            .lines()
            .filter_map(|line| {
                let mut cells = line.split('|').map(str::trim).skip(1);
                let flag = cells.next()?.strip_prefix("`--")?.strip_suffix('`')?;
                let env = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
                Some((flag.to_owned(), env.to_owned()))
            })
            .collect();
        let serve = ServeArgs::augment_args(Command::new("serve"));
        let declared: BTreeSet<(String, String)> = serve
            .get_arguments()
            .filter_map(|arg| {
                let env = arg.get_env().and_then(|env| env.to_str()).unwrap_or("(none)");
                Some((arg.get_long()?.to_owned(), env.to_owned()))
            })
            .collect();
        let missing: Vec<_> = declared.difference(&listed).collect();
        let stale: Vec<_> = listed.difference(&declared).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "not in the README: {missing:?}; in the README only: {stale:?}"
        );
    }
}
