//! `keyward serve`'s configuration: flags, then environment variables, then an optional TOML
//! file, then defaults; checked into typed values before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use keyward_server::Settings;
use keyward_server::auth::ReplayMode;
use keyward_sig::{BlankValues, ClockWindow, Scheme, TokenFormat, VerifyOptions};
use serde::Deserialize;

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
    /// Replay protection: off, unsafe (POST, PUT, PATCH, DELETE) or all [default: unsafe].
    #[arg(long, env = "KEYWARD_REPLAY", value_name = "MODE")]
    replay: Option<String>,
    /// query-hmac blank-valued parameters: signed, or skipped (accepts a published sample's
    /// variant; lets anyone append blank parameters to a signed URL) [default: signed].
    #[arg(long, env = "KEYWARD_BLANK_VALUES", value_name = "MODE")]
    blank_values: Option<String>,
    /// Accepted schemes, comma-separated: bearer, query-hmac, header-hmac, http-signature
    /// [default: all].
    #[arg(long, env = "KEYWARD_SCHEMES", value_name = "LIST", value_delimiter = ',')]
    schemes: Option<Vec<String>>,
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
    schemes: Option<Vec<String>>,
    body_limit: Option<usize>,
    token_ttl_seconds: Option<i64>,
    rotation_overlap_seconds: Option<i64>,
    public_scheme: Option<String>,
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
            Some(name) => ReplayMode::from_name(name)
                .with_context(|| format!("replay must be off, unsafe or all, not {name:?}"))?,
        };
        let blank_values = match self.blank_values.or(file.blank_values).as_deref() {
            None | Some("signed") => BlankValues::Signed,
            Some("skipped") => BlankValues::Skipped,
            Some(other) => bail!("blank values must be signed or skipped, not {other:?}"),
        };
        let schemes = match self.schemes.or(file.schemes) {
            None => Scheme::ALL.to_vec(),
            Some(names) => names
                .iter()
                .map(|name| {
                    Scheme::from_name(name.trim()).with_context(|| {
                        format!("unknown scheme {name:?} (bearer, query-hmac, header-hmac, http-signature)")
                    })
                })
                .collect::<anyhow::Result<_>>()?,
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
        let settings = Settings {
            verify: VerifyOptions {
                window: ClockWindow::from_secs(skew),
                blank_values,
                token_format: TokenFormat::Keyward,
                ..VerifyOptions::default()
            },
            replay,
            schemes,
            body_limit,
            token_ttl_ms: token_ttl * 1000,
            rotation_overlap_ms: overlap * 1000,
            uri_scheme,
            ..Settings::default()
        };
        Ok(ServeConfig {
            listen: self.listen.or(file.listen).unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir,
            database_url,
            settings,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}
