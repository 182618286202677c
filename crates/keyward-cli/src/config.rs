//! `keyward serve`'s configuration: flags, then environment variables, then an optional TOML
//! file, then defaults; checked into typed values before anything starts.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Command};
use keyward_server::auth::{CacheSettings, RedisFailure, ReplayMode, UsageRetention};
use keyward_server::gateway::{
    BodyForwarding, ForwardAuthProxy, ForwardAuthSettings, IdentityHeaders, RouteConfig, Routes,
    Unrouted,
};
use keyward_server::throttle::ThrottleSettings;
use keyward_server::tls::{CertificateFiles, TlsFiles};
use keyward_server::{Capacity, RouteSchemes, Settings};
use keyward_sig::api_key::ApiKeyHeader;
use keyward_sig::{BlankValues, ClockWindow, Scheme, SignatureRule, TokenFormat, VerifyOptions};
use keyward_store::StoreOptions;
use merge::Merge;
use serde::Deserialize;

use crate::log::{LogFormat, LogSettings, host_name};

/// `keyward serve`'s settings, each declared once: a field is a flag (with its environment
/// variable) and the key of the same name in the TOML file (`--config`), typed (each type reads
/// its own names, `FromStr` and `Deserialize` beside it). Flags win over the environment, which
/// wins over the file (merged field by field); what none sets takes keyward's defaults
/// (`Settings::default()` and the types' own).
#[derive(Args, Debug, Default, Deserialize, Merge)]
#[merge(strategy = merge::option::overwrite_none)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "KEYWARD_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    #[serde(flatten)]
    #[merge(strategy = merge::Merge::merge)]
    store: StoreArgs,
    /// TOML configuration file.
    #[arg(long, env = "KEYWARD_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Accepted clock skew, in seconds, either way [default: 300].
    #[arg(long, env = "KEYWARD_CLOCK_SKEW_SECONDS", value_name = "SECONDS")]
    clock_skew_seconds: Option<u32>,
    /// Which repeats of the same signed request are refused: unsafe (POST, PUT, PATCH,
    /// DELETE) or all (every method). A signature reused for another method or target is
    /// refused in both [default: unsafe].
    #[arg(long, env = "KEYWARD_REPLAY", value_name = "MODE")]
    replay: Option<ReplayMode>,
    /// query-hmac blank-valued parameters: signed, or skipped (accepts a published sample's
    /// variant; lets anyone append blank parameters to a signed URL) [default: signed].
    #[arg(long, env = "KEYWARD_BLANK_VALUES", value_name = "MODE")]
    blank_values: Option<BlankValues>,
    /// Which RFC 9421 signatures of a request must verify when it carries several: first (the
    /// others are not read), or all (each with the key its keyid names; the request acts as
    /// the first's key) [default: first].
    #[arg(long, env = "KEYWARD_SIGNATURES", value_name = "RULE")]
    signatures: Option<SignatureRule>,
    /// The header a plain API key (the api-key scheme) may come in, besides `Authorization:
    /// Bearer`, and which the gateway removes before the upstream [default: x-api-key].
    #[arg(long, env = "KEYWARD_API_KEY_HEADER", value_name = "NAME")]
    api_key_header: Option<ApiKeyHeader>,
    /// Schemes accepted anywhere, comma-separated: bearer, query-hmac, header-hmac,
    /// http-signature, api-key, mtls [default: all]. Each route group's list below is narrowed
    /// to these.
    #[arg(long, env = "KEYWARD_SCHEMES", value_name = "LIST", value_delimiter = ',')]
    schemes: Option<Vec<Scheme>>,
    /// Schemes accepted on /api/activities, /api/me, /api/logout [default: all].
    #[arg(long, env = "KEYWARD_API_SCHEMES", value_name = "LIST", value_delimiter = ',')]
    api_schemes: Option<Vec<Scheme>>,
    /// Schemes accepted on /api/admin [default: bearer,header-hmac,http-signature,mtls].
    #[arg(long, env = "KEYWARD_ADMIN_SCHEMES", value_name = "LIST", value_delimiter = ',')]
    admin_schemes: Option<Vec<Scheme>>,
    /// Schemes accepted on /probio [default: header-hmac,http-signature,mtls].
    #[arg(long, env = "KEYWARD_PROVISIONING_SCHEMES", value_name = "LIST", value_delimiter = ',')]
    provisioning_schemes: Option<Vec<Scheme>>,
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
    /// 9421's @scheme and @target-uri, and the console's Secure cookies [default: http;
    /// https when keyward serves TLS].
    #[arg(long, env = "KEYWARD_PUBLIC_SCHEME", value_name = "SCHEME")]
    public_scheme: Option<PublicScheme>,
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
    #[serde(skip)]
    #[merge(strategy = merge::vec::overwrite_empty)]
    routes: Vec<String>,
    /// The file's `[[route]]` tables.
    #[arg(skip)]
    #[serde(default)]
    #[merge(strategy = merge::vec::overwrite_empty)]
    route: Vec<RouteConfig>,
    /// The prefix of the identity headers the gateway and forward-auth add (and remove from
    /// clients) [default: x-keyward-].
    #[arg(long, env = "KEYWARD_IDENTITY_HEADER_PREFIX", value_name = "PREFIX")]
    identity_header_prefix: Option<String>,
    #[command(flatten)]
    #[serde(default)]
    #[merge(strategy = merge::Merge::merge)]
    forward_auth: ForwardAuthOptions,
    /// The log on stderr: text, or json (one object per line, with the node's name and the
    /// request id) [default: text].
    #[arg(long, env = "KEYWARD_LOG_FORMAT", value_name = "FORMAT")]
    log_format: Option<LogFormat>,
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
    #[serde(default)]
    #[merge(strategy = merge::vec::overwrite_empty)]
    trusted_proxies: Vec<String>,
    /// The private key (PKCS#8 PEM) responses are signed with, when a client asks or a route
    /// says so; its public key is published at /.well-known/keyward/response-keys. Every node
    /// needs the same [default: response-key.pem in the data directory, an Ed25519 key
    /// created on first start].
    #[arg(long, env = "KEYWARD_RESPONSE_KEY_FILE", value_name = "FILE")]
    response_key_file: Option<PathBuf>,
    /// A PEM certificate chain (leaf first) to serve HTTPS with on --listen; repeatable, each
    /// with its --tls-key, a client's SNI picking among them (the first otherwise). SIGHUP
    /// reads them again [default: none; plain HTTP].
    #[arg(long = "tls-cert", env = "KEYWARD_TLS_CERT", value_delimiter = ',', value_name = "FILE")]
    #[serde(default, deserialize_with = "one_or_many")]
    #[merge(strategy = merge::vec::overwrite_empty)]
    tls_cert: Vec<PathBuf>,
    /// The PEM private key (ECDSA, Ed25519 or RSA) of each --tls-cert, in the same order.
    #[arg(long = "tls-key", env = "KEYWARD_TLS_KEY", value_delimiter = ',', value_name = "FILE")]
    #[serde(default, deserialize_with = "one_or_many")]
    #[merge(strategy = merge::vec::overwrite_empty)]
    tls_key: Vec<PathBuf>,
    /// A PEM bundle of CA certificates: clients are asked for a certificate (optionally), one
    /// presented must chain to it, and it is the credential of the mtls scheme; needs
    /// --tls-cert [default: none; no client certificates asked for].
    #[arg(long, env = "KEYWARD_TLS_CLIENT_CA", value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,
    /// How many days before a key expires its answers carry Keyward-Key-Expires [default: 7].
    #[arg(long, env = "KEYWARD_KEY_EXPIRY_WARNING_DAYS", value_name = "DAYS")]
    key_expiry_warning_days: Option<i64>,
    /// Days keys' usage is kept by the minute [default: 7].
    #[arg(long, env = "KEYWARD_USAGE_MINUTE_DAYS", value_name = "DAYS")]
    usage_minute_days: Option<u64>,
    /// Days keys' usage is kept by the hour, at least as long as by the minute; by the day it
    /// is kept for good [default: 90].
    #[arg(long, env = "KEYWARD_USAGE_HOUR_DAYS", value_name = "DAYS")]
    usage_hour_days: Option<u64>,
    /// Redis, for what every node must share (`redis://host:6379/0`): the replay memory
    /// [default: none; each node remembers alone].
    #[arg(long, env = "KEYWARD_REDIS_URL", value_name = "URL")]
    redis_url: Option<String>,
    /// When Redis cannot be reached: fail-closed (signed POST, PUT, PATCH and DELETE get 503;
    /// safe methods are decided by the node's own memory) or fail-open (every request is)
    /// [default: fail-closed].
    #[arg(long, env = "KEYWARD_REDIS_FAILURE", value_name = "MODE")]
    redis_failure: Option<RedisFailure>,
}

/// Where the store is: shared by `serve` and `admin`.
#[derive(Args, Debug, Default, Deserialize, Merge)]
#[merge(strategy = merge::option::overwrite_none)]
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
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("./keyward-data"));
        // Absolute, so that what is printed names the store wherever keyward was started from.
        let data_dir = std::path::absolute(&data_dir).with_context(|| {
            format!("the data directory {} cannot be found", data_dir.display())
        })?;
        let database_url = match self.database_url {
            Some(url) => url,
            None => format!("sqlite://{}?mode=rwc", data_dir.join("keyward.db").display()),
        };
        keyward_store::Backend::from_url(&database_url)
            .context("--database-url must start with sqlite:// or postgres://")?;
        Ok((data_dir, database_url))
    }
}

/// Forward-auth's settings: the flags `--forward-auth*`, the file's `[forward_auth]` table.
#[derive(Args, Debug, Default, Deserialize, Merge)]
#[serde(deny_unknown_fields)]
#[merge(strategy = merge::option::overwrite_none)]
struct ForwardAuthOptions {
    /// Serve forward-auth (/auth/check, and Envoy's gRPC ext_authz) to this proxy: nginx,
    /// caddy, traefik or envoy. Only its headers say which request to check [default: off].
    #[arg(long = "forward-auth", env = "KEYWARD_FORWARD_AUTH", value_name = "PROXY")]
    proxy: Option<Switch<ForwardAuthProxy>>,
    /// Whether the proxy asking forward-auth forwards request bodies (Envoy
    /// with_request_body, Traefik forwardBody): forwarded or not-forwarded. Schemes that
    /// sign the body need them [default: not-forwarded].
    #[arg(long = "forward-auth-body", env = "KEYWARD_FORWARD_AUTH_BODY", value_name = "MODE")]
    body: Option<BodyForwarding>,
    /// What forward-auth answers for a path no route names: refuse (403, code 46), or
    /// any-credential (any valid credential passes, whatever it holds) [default: refuse].
    #[arg(
        long = "forward-auth-unrouted",
        env = "KEYWARD_FORWARD_AUTH_UNROUTED",
        value_name = "MODE"
    )]
    unrouted: Option<Unrouted>,
}

/// A setting that may be `off`.
#[derive(Clone, Copy, Debug)]
enum Switch<T> {
    Off,
    On(T),
}

impl<T: FromStr<Err = String>> FromStr for Switch<T> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "off" => Ok(Switch::Off),
            text => text.parse().map(Switch::On),
        }
    }
}

impl<'de, T: FromStr<Err = String>> Deserialize<'de> for Switch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The URI scheme clients reach keyward with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PublicScheme {
    Http,
    Https,
}

keyward_sig::named_setting!(PublicScheme, "public scheme", {"http" => PublicScheme::Http, "https" => PublicScheme::Https});

/// A file key that takes one value or a list of them (`tls_cert = "a.pem"` or
/// `tls_cert = ["a.pem", "b.pem"]`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(path) => vec![path],
        OneOrMany::Many(paths) => paths,
    })
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
    /// The certificates HTTPS is served with (none: plain HTTP), and the client CA.
    pub tls: TlsFiles,
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
    /// The configuration file the routes are read from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

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
    /// checks every value, section by section.
    pub fn resolve(mut self) -> anyhow::Result<ServeConfig> {
        if let Some(path) = &self.config {
            self.merge(read_file(path)?);
        }
        let defaults = Settings::default();
        let (data_dir, database_url) = std::mem::take(&mut self.store).resolve()?;
        let capacity = self.capacity(defaults.capacity)?;
        let routes = RouteSources {
            flags: self
                .routes
                .iter()
                .map(|flag| RouteConfig::from_flag(flag.trim()))
                .collect::<Result<_, _>>()?,
            file: self.config.clone(),
            request_timeout: capacity.request_timeout,
        };
        let (token_ttl_ms, rotation_overlap_ms) = self.tokens(&defaults)?;
        let tls = self.tls()?;
        let settings = Settings {
            verify: self.verify(defaults.verify)?,
            replay: self.replay.unwrap_or(defaults.replay),
            schemes: self.schemes(defaults.schemes.clone())?,
            body_limit: self.body_limit(defaults.body_limit)?,
            uri_scheme: match self.public_scheme {
                Some(PublicScheme::Https) => "https",
                Some(PublicScheme::Http) => "http",
                // Serving TLS, keyward is what clients reach over https.
                None if !tls.certificates.is_empty() => "https",
                None => defaults.uri_scheme,
            },
            capacity,
            login: self.login(defaults.login)?,
            routes: routes.check(std::mem::take(&mut self.route))?,
            identity_headers: match &self.identity_header_prefix {
                Some(prefix) => IdentityHeaders::new(prefix)
                    .map_err(|why| anyhow::anyhow!("identity header prefix: {why}"))?,
                None => defaults.identity_headers.clone(),
            },
            forward_auth: self.forward_auth.resolve()?,
            metrics_permission: self.metrics_permission()?,
            trusted_proxies: self.trusted_proxies()?,
            key_expiry_warning_ms: self.key_expiry_warning_ms(defaults.key_expiry_warning_ms)?,
            cache: CacheSettings {
                usage_retention: self.usage_retention(defaults.cache.usage_retention)?,
                ..defaults.cache
            },
            token_ttl_ms,
            rotation_overlap_ms,
            ..defaults
        };
        Ok(ServeConfig {
            listen: self.listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir,
            database_url,
            settings,
            store: self.store_options()?,
            routes,
            log: self.log()?,
            metrics_listen: self.metrics_listen,
            redis: self.redis()?,
            response_key_file: self.response_key_file.take(),
            workers: self.workers()?,
            tls,
        })
    }

    /// The certificates to serve HTTPS with, each chain with its key (none: plain HTTP), and
    /// the CA client certificates are verified against.
    fn tls(&self) -> anyhow::Result<TlsFiles> {
        if self.tls_client_ca.is_some() && self.tls_cert.is_empty() {
            bail!("--tls-client-ca needs keyward to serve TLS: give --tls-cert and --tls-key too");
        }
        if self.tls_cert.len() != self.tls_key.len() {
            bail!(
                "each --tls-cert needs its --tls-key, in the same order: {} certificate(s), {} key(s)",
                self.tls_cert.len(),
                self.tls_key.len()
            );
        }
        let pairs = self.tls_cert.iter().zip(&self.tls_key);
        let certificates = pairs
            .map(|(chain, key)| CertificateFiles { chain: chain.clone(), key: key.clone() })
            .collect();
        Ok(TlsFiles { certificates, client_ca: self.tls_client_ca.clone() })
    }

    /// The clock window and how signatures are read.
    fn verify(&self, defaults: VerifyOptions) -> anyhow::Result<VerifyOptions> {
        let skew = match self.clock_skew_seconds {
            Some(skew) if skew == 0 || skew > 3600 => {
                bail!("clock skew must be 1 to 3600 seconds, not {skew}")
            }
            Some(skew) => ClockWindow::from_secs(skew),
            None => defaults.window,
        };
        Ok(VerifyOptions {
            window: skew,
            blank_values: self.blank_values.unwrap_or(defaults.blank_values),
            signatures: self.signatures.unwrap_or(defaults.signatures),
            api_key_header: self.api_key_header.unwrap_or(defaults.api_key_header),
            token_format: TokenFormat::Keyward,
            ..defaults
        })
    }

    /// The schemes of each route group, each narrowed to those accepted anywhere.
    fn schemes(&self, defaults: RouteSchemes) -> anyhow::Result<RouteSchemes> {
        let anywhere = self.schemes.clone().unwrap_or_else(|| Scheme::ALL.to_vec());
        let group = |list: &Option<Vec<Scheme>>, default: Vec<Scheme>, name: &str| {
            let accepted: Vec<Scheme> = list
                .clone()
                .unwrap_or(default)
                .into_iter()
                .filter(|scheme| anywhere.contains(scheme))
                .collect();
            if accepted.is_empty() {
                eprintln!("keyward: warning: no scheme is accepted on the {name} routes");
            }
            accepted
        };
        Ok(RouteSchemes {
            api: group(&self.api_schemes, defaults.api, "API"),
            admin: group(&self.admin_schemes, defaults.admin, "/api/admin"),
            provisioning: group(&self.provisioning_schemes, defaults.provisioning, "/probio"),
        })
    }

    /// How long keys' usage is kept, by the minute and by the hour.
    fn usage_retention(&self, defaults: UsageRetention) -> anyhow::Result<UsageRetention> {
        const DAY: u64 = 86_400;
        let days = |kept: Duration| kept.as_secs() / DAY;
        let minutes = self.usage_minute_days.unwrap_or(days(defaults.minutes));
        let hours = self.usage_hour_days.unwrap_or(days(defaults.hours).max(minutes));
        if !(1..=3650).contains(&minutes) || !(1..=3650).contains(&hours) {
            bail!(
                "usage is kept 1 to 3650 days, not {minutes} (by the minute) or {hours} (by the hour)"
            );
        }
        if hours < minutes {
            bail!(
                "usage is kept by the hour ({hours} days) at least as long as by the minute ({minutes} days)"
            );
        }
        Ok(UsageRetention {
            minutes: Duration::from_secs(minutes * DAY),
            hours: Duration::from_secs(hours * DAY),
        })
    }

    fn body_limit(&self, default: usize) -> anyhow::Result<usize> {
        let body_limit = self.body_limit.unwrap_or(default);
        if !(1024..=64 * 1024 * 1024).contains(&body_limit) {
            bail!("body limit must be 1024 bytes to 64 MiB, not {body_limit}");
        }
        Ok(body_limit)
    }

    /// Access tokens' lifetime and rotated secrets' overlap, in ms.
    fn tokens(&self, defaults: &Settings) -> anyhow::Result<(i64, i64)> {
        let token_ttl = self.token_ttl_seconds.unwrap_or(defaults.token_ttl_ms / 1000);
        let overlap = self.rotation_overlap_seconds.unwrap_or(defaults.rotation_overlap_ms / 1000);
        if token_ttl < 60 || overlap < 0 {
            bail!("token lifetime must be at least 60 s and the rotation overlap at least 0 s");
        }
        Ok((token_ttl * 1000, overlap * 1000))
    }

    /// Capacity that leave the server usable: every timeout 1 to 3600 s, every cap at least 1.
    fn capacity(&self, defaults: Capacity) -> anyhow::Result<Capacity> {
        let seconds =
            |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_secs);
        let capacity = Capacity {
            header_read_timeout: seconds(self.header_timeout_seconds, defaults.header_read_timeout),
            body_read_timeout: seconds(self.body_timeout_seconds, defaults.body_read_timeout),
            request_timeout: seconds(self.request_timeout_seconds, defaults.request_timeout),
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            max_requests: self.max_requests.unwrap_or(defaults.max_requests),
        };
        let timeouts = [
            ("header timeout", capacity.header_read_timeout),
            ("body timeout", capacity.body_read_timeout),
            ("request timeout", capacity.request_timeout),
        ];
        for (name, timeout) in timeouts {
            if !(1..=3600).contains(&timeout.as_secs()) {
                bail!("the {name} must be 1 to 3600 seconds, not {}", timeout.as_secs());
            }
        }
        if capacity.max_connections == 0 || capacity.max_requests == 0 {
            bail!("max connections and max requests must be at least 1");
        }
        Ok(capacity)
    }

    fn login(&self, defaults: ThrottleSettings) -> anyhow::Result<ThrottleSettings> {
        let login = ThrottleSettings {
            per_account: self.login_failures_per_account.unwrap_or(defaults.per_account),
            per_address: self.login_failures_per_address.unwrap_or(defaults.per_address),
            window: self.login_throttle_seconds.map_or(defaults.window, Duration::from_secs),
        };
        if login.window.is_zero() {
            bail!("the login throttle window must be at least 1 second");
        }
        Ok(login)
    }

    fn store_options(&self) -> anyhow::Result<StoreOptions> {
        let mut store = StoreOptions::default();
        if let Some(hashing) = self.password_hashing {
            if hashing == 0 {
                bail!("password hashing must be allowed at least 1 at a time");
            }
            store.password_hashing = hashing;
        }
        Ok(store)
    }

    fn metrics_permission(&self) -> anyhow::Result<Option<String>> {
        if let Some(name) = &self.metrics_permission {
            keyward_store::declare_permissions([name.as_str()])
                .with_context(|| format!("--metrics-permission {name:?}"))?;
        }
        Ok(self.metrics_permission.clone())
    }

    fn trusted_proxies(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.trusted_proxies
            .iter()
            .map(|text| {
                let text = text.trim();
                text.parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .with_context(|| {
                        format!("--trusted-proxy {text:?} is not an address or CIDR range")
                    })
            })
            .collect()
    }

    fn key_expiry_warning_ms(&self, default_ms: i64) -> anyhow::Result<i64> {
        const DAY_MS: i64 = 86_400 * 1000;
        let days = self.key_expiry_warning_days.unwrap_or(default_ms / DAY_MS);
        if !(0..=365).contains(&days) {
            bail!("--key-expiry-warning-days must be 0 to 365");
        }
        Ok(days * DAY_MS)
    }

    fn log(&self) -> anyhow::Result<LogSettings> {
        let node = self.node_name.clone().unwrap_or_else(host_name);
        if node.is_empty() || node.len() > 253 || node.chars().any(char::is_control) {
            bail!("node name must be 1 to 253 characters without control characters");
        }
        Ok(LogSettings { format: self.log_format.unwrap_or_default(), node })
    }

    fn redis(&self) -> anyhow::Result<Option<(String, RedisFailure)>> {
        match &self.redis_url {
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Ok(Some((url.clone(), self.redis_failure.unwrap_or_default())))
            }
            Some(_) => bail!("--redis-url must start with redis:// or rediss://"),
            None => Ok(None),
        }
    }

    fn workers(&self) -> anyhow::Result<NonZeroUsize> {
        match self.workers {
            Some(workers) => NonZeroUsize::new(workers)
                .ok_or_else(|| anyhow::anyhow!("workers must be at least 1")),
            None => Ok(std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)),
        }
    }
}

impl ForwardAuthOptions {
    /// Forward-auth's settings, checked: a proxy that does not forward bodies cannot be said to.
    fn resolve(&self) -> anyhow::Result<ForwardAuthSettings> {
        let proxy = match self.proxy {
            Some(Switch::On(proxy)) => Some(proxy),
            Some(Switch::Off) | None => None,
        };
        let bodies = self.body.unwrap_or_default();
        if bodies == BodyForwarding::Forwarded
            && matches!(proxy, Some(ForwardAuthProxy::Nginx | ForwardAuthProxy::Caddy))
        {
            bail!(
                "forward-auth body: {} does not forward request bodies",
                proxy.map_or("", |p| p.as_str())
            );
        }
        Ok(ForwardAuthSettings { proxy, bodies, unrouted: self.unrouted.unwrap_or_default() })
    }
}

/// The keys a configuration file may set at its top: every setting but `config` itself and
/// the `--route` flags (the file has `[[route]]` tables), and `[forward_auth]` for its section.
fn file_keys() -> BTreeSet<String> {
    let ids = |command: Command| -> BTreeSet<String> {
        command.get_arguments().map(|arg| arg.get_id().to_string()).collect()
    };
    let section = ids(ForwardAuthOptions::augment_args(Command::new("forward_auth")));
    let mut keys: BTreeSet<String> = ids(ServeArgs::augment_args(Command::new("serve")))
        .difference(&section)
        .filter(|id| !["config", "routes"].contains(&id.as_str()))
        .cloned()
        .collect();
    keys.extend(["route".to_owned(), "forward_auth".to_owned()]);
    keys
}

/// The file's settings. A key no setting has is refused, naming the keys there are.
fn read_file(path: &Path) -> anyhow::Result<ServeArgs> {
    let invalid = || format!("invalid configuration file {}", path.display());
    let table = read_table(path)?;
    let known = file_keys();
    if let Some(unknown) = table.keys().find(|key| !known.contains(*key)) {
        let expected: Vec<String> = known.iter().map(|key| format!("`{key}`")).collect();
        bail!("{}: unknown field `{unknown}`, expected one of {}", invalid(), expected.join(", "));
    }
    if table.get("route").is_some_and(toml::Value::is_table) {
        bail!(
            "{}: `[route]` is one table, and routes are a list: write each route as `[[route]]` \
             (two brackets)",
            invalid()
        );
    }
    table.try_into().with_context(invalid)
}

/// The configuration file as TOML, unchecked.
fn read_table(path: &Path) -> anyhow::Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}

/// What a reload reads again: the routes; the file's other settings take effect on a restart.
/// `changed_settings` names those that changed since `at_start` (the file as it was read then).
pub fn changed_settings(path: &Path, at_start: &toml::Table) -> Vec<String> {
    let Ok(now) = read_table(path) else { return Vec::new() };
    let keys: BTreeSet<&String> = at_start.keys().chain(now.keys()).collect();
    keys.into_iter()
        .filter(|key| *key != "route" && at_start.get(*key) != now.get(*key))
        .cloned()
        .collect()
}

/// The configuration file as it is read at start, to compare reloads with.
pub fn file_at_start(path: &Path) -> toml::Table {
    read_table(path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::{Args, Command, FromArgMatches};
    use keyward_server::auth::ReplayMode;
    use keyward_server::gateway::{ForwardAuthProxy, Unrouted};
    use keyward_sig::Scheme;

    use super::ServeArgs;

    /// `keyward serve ARGS` with `file` as its configuration, resolved.
    fn resolved(args: &[&str], file: &str) -> anyhow::Result<super::ServeConfig> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("keyward.toml");
        std::fs::write(&path, file)?;
        let config = format!("--config={}", path.display());
        let command = ServeArgs::augment_args(Command::new("serve"));
        let matches =
            command.try_get_matches_from(["serve", config.as_str()].iter().chain(args))?;
        ServeArgs::from_arg_matches(&matches)?.resolve()
    }

    #[test]
    fn the_example_file_names_every_key_of_the_file() {
        let example = include_str!("../../../keyward.example.toml");
        for key in super::file_keys() {
            let named = [format!("\n{key} ="), format!("\n# {key} ="), format!("\n[{key}]")]
                .iter()
                .chain(&[format!("\n[[{key}]]")])
                .any(|spelling| example.contains(spelling.as_str()));
            assert!(named, "keyward.example.toml does not name `{key}`");
        }
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_route_written_as_one_table_is_refused_with_the_spelling_it_needs() {
        let file = "[route]\nprefix = \"/orders/\"\nupstream = \"http://127.0.0.1:9000\"\n";
        let refused = resolved(&[], file).unwrap_err().to_string();
        assert!(refused.contains("write each route as `[[route]]`"), "{refused}");
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn the_store_is_named_by_an_absolute_path_wherever_keyward_starts() {
        let config = resolved(&["--data-dir", "relative/data"], "").unwrap();
        let expected = std::env::current_dir().unwrap().join("relative/data");
        assert_eq!(config.data_dir, expected);
        let url = format!("sqlite://{}?mode=rwc", expected.join("keyward.db").display());
        assert_eq!(config.database_url, url);
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn usage_is_kept_by_the_hour_at_least_as_long_as_by_the_minute() {
        let kept = |args: &[&str]| resolved(args, "").map(|config| config.settings.cache);
        let longer = kept(&["--usage-minute-days", "120"]).unwrap().usage_retention;
        assert_eq!(
            (longer.minutes.as_secs(), longer.hours.as_secs()),
            (120 * 86_400, 120 * 86_400)
        );
        for (args, message) in [
            (&["--usage-minute-days", "0"][..], "usage is kept 1 to 3650 days"),
            (&["--usage-minute-days", "10", "--usage-hour-days", "5"][..], "at least as long"),
        ] {
            let refused = kept(args).unwrap_err().to_string();
            assert!(refused.contains(message), "{args:?}: {refused}");
        }
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_flag_wins_over_the_file_which_wins_over_the_default_setting_by_setting() {
        let file = "replay = \"all\"\nbody_limit = 4096\nadmin_schemes = [\"bearer\"]\n\
                    [forward_auth]\nproxy = \"caddy\"\nunrouted = \"any-credential\"\n";
        let config = resolved(&["--body-limit", "2048", "--forward-auth", "envoy"], file).unwrap();
        let settings = &config.settings;
        assert_eq!(settings.body_limit, 2048, "the flag");
        assert_eq!(settings.replay, ReplayMode::All, "the file");
        assert_eq!(settings.schemes.admin, vec![Scheme::Bearer], "the file, typed");
        assert_eq!(settings.forward_auth.proxy, Some(ForwardAuthProxy::Envoy), "the flag");
        assert_eq!(settings.forward_auth.unrouted, Unrouted::AnyCredential, "the file's section");
        assert_eq!(settings.token_ttl_ms, keyward_server::Settings::default().token_ttl_ms);
        let off = resolved(&["--forward-auth", "off"], "[forward_auth]\nproxy = \"nginx\"\n");
        assert_eq!(off.unwrap().settings.forward_auth.proxy, None, "off, from a flag");
    }

    #[test]
    fn a_file_is_refused_for_a_key_no_setting_has_or_a_value_its_type_does_not_name() {
        let unknown = resolved(&[], "colour = 1\n").err().map(|e| format!("{e:#}"));
        let unknown = unknown.unwrap_or_default();
        assert!(unknown.contains("unknown field `colour`, expected one of"), "{unknown}");
        assert!(unknown.contains("`replay`") && !unknown.contains("`config`"), "{unknown}");
        let wrong = resolved(&[], "replay = \"sometimes\"\n").err().map(|e| format!("{e:#}"));
        let wrong = wrong.unwrap_or_default();
        assert!(wrong.contains("replay must be unsafe or all, not \"sometimes\""), "{wrong}");
        let nested = resolved(&[], "[forward_auth]\nproxy = \"haproxy\"\n").err();
        let nested = nested.map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(nested.contains("is none of nginx, caddy, traefik, envoy"), "{nested}");
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn tls_files_pair_up_from_a_path_or_a_list_and_make_the_public_scheme_https() {
        let config = resolved(&[], "tls_cert = \"a.pem\"\ntls_key = [\"a.key\"]\n").unwrap();
        let expected = super::CertificateFiles { chain: "a.pem".into(), key: "a.key".into() };
        assert_eq!(config.tls.certificates, vec![expected]);
        assert_eq!(config.settings.uri_scheme, "https", "serving TLS, clients use https");
        let plain =
            resolved(&["--public-scheme", "http"], "tls_cert = \"a.pem\"\ntls_key = \"a.key\"\n");
        assert_eq!(plain.unwrap().settings.uri_scheme, "http", "unless told otherwise");
        let two = ["--tls-cert", "b.pem", "--tls-cert", "c.pem"];
        let unpaired = resolved(&two, "tls_cert = \"a.pem\"\ntls_key = \"a.key\"\n");
        let unpaired = format!("{:#}", unpaired.err().unwrap());
        assert!(unpaired.contains("each --tls-cert needs its --tls-key"), "{unpaired}");
    }

    /// Each `[default: X]` a flag's help names, where X is a value the flag takes, is the
    /// default in force: `keyward serve --flag X` resolves to what `keyward serve` does.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn every_default_the_help_names_is_the_default_in_force() {
        // What a configuration resolves to, but the name of the test's file.
        let shown = |mut config: super::ServeConfig| {
            config.routes.file = None;
            format!("{config:?}")
        };
        let plain = shown(resolved(&[], "").unwrap());
        let serve = ServeArgs::augment_args(Command::new("serve"));
        let mut checked = Vec::new();
        for arg in serve.get_arguments() {
            let (Some(long), Some(help)) = (arg.get_long(), arg.get_help()) else { continue };
            let help = help.to_string().replace('\n', " ");
            let Some((_, named)) = help.split_once("[default: ") else { continue };
            // The value, before any comment on it ("31536000, one year").
            let named = named.split(']').next().unwrap_or_default();
            let value = named.split(", ").next().and_then(|v| v.split("; ").next());
            let value = value.unwrap_or_default().trim();
            // A default described rather than named ("half the CPUs") is not a value.
            if value.contains(' ') {
                continue;
            }
            let flag = format!("--{long}={value}");
            let Ok(config) = resolved(&[flag.as_str()], "") else { continue };
            assert_eq!(shown(config), plain, "{flag} is not the default");
            checked.push(long.to_owned());
        }
        assert!(checked.len() >= 20, "only {checked:?} name their default as a value");
    }

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
