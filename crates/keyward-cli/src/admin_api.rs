//! `keyward keys ...` and `keyward users ...`: the admin API of the profile's domain, as
//! commands. Each is one request; see `keyward request` for the output and exit status.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Credentials, Exchange, Shown, send_and_print};
use crate::text::{self, Render};

/// `keyward keys`.
#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(flatten)]
    credentials: Credentials,
    #[command(flatten)]
    shown: Shown,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// List the domain's API keys.
    List,
    /// Create a key for an application; prints its token and secret (shown this once); with
    /// --type api-key, a plain API key (`key`, shown this once, sent as is); with
    /// --public-key-file, a public-key credential (no secret; it signs with its private key,
    /// see `keyward keygen`); with --certificate-file or --certificate-subject, a key that is
    /// its client certificate (the mtls scheme; no secret either).
    Create {
        /// The application's name.
        name: String,
        /// hmac (a token and a secret) or api-key (one plain value, `Authorization: Bearer` or
        /// `X-API-Key`) [default: hmac].
        #[arg(long = "type", value_name = "TYPE", value_parser = ["hmac", "api-key"],
              conflicts_with_all = ["public_key_file", "certificate_file", "certificate_subject"])]
        key_type: Option<String>,
        /// A permission to grant (repeatable; never more than yours).
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
        /// A public key (PEM or JWK) the key verifies RFC 9421 signatures with.
        #[arg(long, value_name = "FILE")]
        public_key_file: Option<std::path::PathBuf>,
        /// The public key's algorithm [default: the key's own; RSA keys need it].
        #[arg(long, requires = "public_key_file")]
        algorithm: Option<String>,
        /// A client certificate (PEM) the key is pinned to, by its SHA-256.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["public_key_file", "certificate_subject"])]
        certificate_file: Option<std::path::PathBuf>,
        /// A subject alternative name (a DNS name, a URI such as a SPIFFE ID) any client
        /// certificate from the server's trusted CA may carry to be this key.
        #[arg(long, value_name = "NAME", conflicts_with = "public_key_file")]
        certificate_subject: Option<String>,
    },
    /// Show a key.
    Show { id: i64 },
    /// Rename a key.
    Rename { id: i64, name: String },
    /// Change a key's name or permissions (audited); its token and secret stay, and the
    /// access tokens minted from it act with the new permissions at once.
    Update {
        id: i64,
        /// The key's new name.
        #[arg(long)]
        name: Option<String>,
        /// A permission the key is to hold (repeatable; replaces the list; never more than
        /// yours).
        #[arg(long = "permission", value_name = "PERMISSION", conflicts_with = "no_permissions")]
        permissions: Vec<String>,
        /// The key is to hold no permissions.
        #[arg(long)]
        no_permissions: bool,
    },
    /// Give a key a new token; the old one is refused at once.
    RegenerateToken { id: i64 },
    /// Give a key a new secret; the previous one verifies during the overlap.
    RotateSecret {
        id: i64,
        /// How long the previous secret keeps verifying [default: the server's].
        #[arg(long, value_name = "SECONDS")]
        overlap_seconds: Option<i64>,
    },
    /// Show a key's secret (needs keys:reveal; audited).
    Reveal { id: i64 },
    /// Set a key's policy: when it expires, the client networks and the routes it may use
    /// (audited). What is not given stays as it is.
    Policy {
        id: i64,
        #[command(flatten)]
        policy: PolicyFlags,
    },
    /// Revoke a key for good.
    Revoke { id: i64 },
    /// A key's requests, accepted and refused by error code and by route, per minute, hour or
    /// day; without ID, the domain's totals, buckets and busiest keys.
    Usage {
        id: Option<i64>,
        /// minute, hour or day (UTC) [default: hour].
        #[arg(long, value_parser = ["minute", "hour", "day"])]
        bucket: Option<String>,
        /// How far back the window starts: 90m, 24h, 30d... [default: 60 minutes, 24 hours or
        /// 30 days, by bucket].
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// Only this route's requests: api, admin, provisioning, forward-auth or a gateway
        /// route's name.
        #[arg(long)]
        route: Option<String>,
    },
}

/// A key policy's flags, for `keyward keys policy`: each left out stays as it is.
#[derive(Args, Debug)]
pub struct PolicyFlags {
    /// When the key expires: an RFC 3339 time (2026-12-31T00:00:00Z).
    #[arg(long, value_name = "TIME", conflicts_with_all = ["expires_in", "no_expiry"])]
    expires_at: Option<String>,
    /// When the key expires, from now: 30d, 12h, 90m...
    #[arg(long, value_name = "DURATION", conflicts_with = "no_expiry")]
    expires_in: Option<String>,
    /// The key never expires.
    #[arg(long)]
    no_expiry: bool,
    /// A client address range the key may be used from (repeatable; replaces the list).
    #[arg(long = "allow-network", value_name = "CIDR", conflicts_with = "any_network")]
    networks: Vec<String>,
    /// Any client address.
    #[arg(long)]
    any_network: bool,
    /// A route the key may call, with its methods: "api GET,HEAD", "/orders" (repeatable;
    /// replaces the list).
    #[arg(long = "allow-route", value_name = "ROUTE [METHODS]", conflicts_with = "any_route")]
    routes: Vec<String>,
    /// Every route.
    #[arg(long)]
    any_route: bool,
}

/// What a policy's flags change: `None` stays, `Some(None)` removes.
pub struct PolicyEdit {
    expires_at_ms: Option<Option<i64>>,
    networks: Option<Option<Vec<String>>>,
    routes: Option<Option<Vec<keyward_store::RouteScope>>>,
}

impl PolicyFlags {
    /// What the flags change, checked for form (the server, or the store, checks the rest).
    pub fn edit(self) -> anyhow::Result<PolicyEdit> {
        let expires_at_ms = match (self.expires_at, self.expires_in, self.no_expiry) {
            (_, _, true) => Some(None),
            (Some(at), _, _) => {
                let at = humantime::parse_rfc3339_weak(&at).with_context(|| {
                    format!(
                        "--expires-at takes an RFC 3339 time like 2026-12-31T00:00:00Z, not {at:?}"
                    )
                })?;
                let ms = at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
                Some(Some(i64::try_from(ms).unwrap_or(i64::MAX)))
            }
            (None, Some(after), _) => {
                let after = humantime::parse_duration(&after).with_context(|| {
                    format!("--expires-in takes a duration like 30d or 12h, not {after:?}")
                })?;
                let after = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
                Some(Some(keyward_client::now_ms().saturating_add(after)))
            }
            (None, None, false) => None,
        };
        let networks = match (self.any_network, self.networks.is_empty()) {
            (true, _) => Some(None),
            (false, false) => Some(Some(self.networks)),
            (false, true) => None,
        };
        let scopes = || {
            self.routes
                .iter()
                .map(|route| match route.trim().split_once(char::is_whitespace) {
                    Some((route, methods)) => keyward_store::RouteScope {
                        route: route.to_owned(),
                        methods: Some(
                            methods
                                .split(',')
                                .map(str::trim)
                                .filter(|m| !m.is_empty())
                                .map(str::to_owned)
                                .collect(),
                        ),
                    },
                    None => {
                        keyward_store::RouteScope { route: route.trim().to_owned(), methods: None }
                    }
                })
                .collect()
        };
        let routes = match (self.any_route, self.routes.is_empty()) {
            (true, _) => Some(None),
            (false, false) => Some(Some(scopes())),
            (false, true) => None,
        };
        if expires_at_ms.is_none() && networks.is_none() && routes.is_none() {
            anyhow::bail!(
                "nothing to change: give --expires-at, --expires-in, --no-expiry, --allow-network, --any-network, --allow-route or --any-route"
            );
        }
        Ok(PolicyEdit { expires_at_ms, networks, routes })
    }
}

impl PolicyEdit {
    /// The `data` of a PATCH: only the fields that change.
    fn json(&self) -> Value {
        let mut data = serde_json::Map::new();
        if let Some(at) = self.expires_at_ms {
            data.insert("expires_at_ms".into(), json!(at));
        }
        if let Some(networks) = &self.networks {
            data.insert("allowed_networks".into(), json!(networks));
        }
        if let Some(routes) = &self.routes {
            data.insert("allowed_routes".into(), json!(routes));
        }
        Value::Object(data)
    }

    /// `current` with the change applied, checked as the server checks it (any route starting
    /// with `/` is taken for a gateway route: the operator's command does not know them).
    pub fn applied(
        self,
        current: &keyward_store::KeyPolicy,
        now_ms: i64,
    ) -> anyhow::Result<keyward_store::KeyPolicy> {
        use keyward_store::{checked_expiry, checked_routes, parse_networks};
        Ok(keyward_store::KeyPolicy {
            expires_at_ms: match self.expires_at_ms {
                None => current.expires_at_ms,
                Some(at) => at.map(|at| checked_expiry(at, now_ms)).transpose()?,
            },
            allowed_networks: match self.networks {
                None => current.allowed_networks.clone(),
                Some(texts) => texts.map(|texts| parse_networks(&texts)).transpose()?,
            },
            allowed_routes: match self.routes {
                None => current.allowed_routes.clone(),
                Some(scopes) => scopes.map(|scopes| checked_routes(scopes, None)).transpose()?,
            },
        })
    }
}

/// `keyward users`.
#[derive(Args, Debug)]
pub struct UsersArgs {
    #[command(flatten)]
    credentials: Credentials,
    #[command(flatten)]
    shown: Shown,
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Subcommand, Debug)]
enum UsersCommand {
    /// List the domain's users.
    List,
    /// Create a user; the password comes from KEYWARD_NEW_PASSWORD or the first line of
    /// standard input.
    Create {
        username: String,
        /// A permission to grant (repeatable; never more than yours).
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
    },
    /// Show a user.
    Show { id: i64 },
    /// Change a user's permissions (replaced by those given) or state.
    Update {
        id: i64,
        /// The user's permissions, replacing theirs (repeatable).
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
        /// active or disabled.
        #[arg(long)]
        state: Option<String>,
    },
}

/// A new password: `KEYWARD_NEW_PASSWORD`, else a prompt on a terminal, else the first line of
/// standard input.
pub(crate) fn new_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("KEYWARD_NEW_PASSWORD") {
        return Ok(password);
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Ok(rpassword::prompt_password("new user's password: ")?);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Runs a `keys` command.
pub async fn keys(args: KeysArgs) -> anyhow::Result<bool> {
    let render: Render = match &args.command {
        KeysCommand::List => text::keys,
        KeysCommand::Usage { .. } => text::usage,
        KeysCommand::Create { .. } | KeysCommand::RotateSecret { .. } => text::issued,
        _ => text::record,
    };
    let (method, path, body): (&str, String, Option<Value>) = match args.command {
        KeysCommand::List => ("GET", "/api/admin/keys".into(), None),
        KeysCommand::Create {
            name,
            key_type,
            permissions,
            public_key_file,
            algorithm,
            certificate_file,
            certificate_subject,
        } => {
            let mut data = json!({"name": name, "permissions": permissions});
            if let Some(key_type) = key_type {
                data["type"] = json!(key_type);
            }
            let read = |path: &std::path::Path| {
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))
            };
            if let Some(path) = public_key_file {
                data["public_key"] = json!(read(&path)?);
                data["algorithm"] = json!(algorithm);
            }
            if let Some(path) = certificate_file {
                data["certificate"] = json!(read(&path)?);
            }
            if let Some(subject) = certificate_subject {
                data["certificate_subject"] = json!(subject);
            }
            ("POST", "/api/admin/keys".into(), Some(json!({ "data": data })))
        }
        KeysCommand::Show { id } => ("GET", format!("/api/admin/keys/{id}"), None),
        KeysCommand::Rename { id, name } => {
            ("PATCH", format!("/api/admin/keys/{id}"), Some(json!({"data": {"name": name}})))
        }
        KeysCommand::Update { id, name, permissions, no_permissions } => {
            let mut data = serde_json::Map::new();
            if let Some(name) = name {
                data.insert("name".into(), json!(name));
            }
            if no_permissions || !permissions.is_empty() {
                data.insert("permissions".into(), json!(permissions));
            }
            anyhow::ensure!(!data.is_empty(), "nothing to change: give --name or --permission");
            ("PATCH", format!("/api/admin/keys/{id}"), Some(json!({ "data": data })))
        }
        KeysCommand::Usage { id, bucket, since, route } => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            if let Some(bucket) = bucket {
                query.append_pair("bucket", &bucket);
            }
            if let Some(since) = since {
                let ago = humantime::parse_duration(&since).with_context(|| {
                    format!("--since takes a duration like 90m, 24h or 30d, not {since:?}")
                })?;
                let ago = i64::try_from(ago.as_millis()).unwrap_or(i64::MAX);
                let since_ms = keyward_client::now_ms().saturating_sub(ago);
                query.append_pair("since_ms", &since_ms.to_string());
            }
            if let Some(route) = route {
                query.append_pair("route", &route);
            }
            let resource = id
                .map_or("/api/admin/usage".to_owned(), |id| format!("/api/admin/keys/{id}/usage"));
            ("GET", format!("{resource}?{}", query.finish()), None)
        }
        KeysCommand::RegenerateToken { id } => {
            ("POST", format!("/api/admin/keys/{id}/regenerate-token"), None)
        }
        KeysCommand::RotateSecret { id, overlap_seconds } => (
            "POST",
            format!("/api/admin/keys/{id}/rotate-secret"),
            overlap_seconds.map(|s| json!({"data": {"overlap_seconds": s}})),
        ),
        KeysCommand::Reveal { id } => ("POST", format!("/api/admin/keys/{id}/reveal"), None),
        KeysCommand::Policy { id, policy } => {
            let data = policy.edit()?.json();
            ("PATCH", format!("/api/admin/keys/{id}"), Some(json!({ "data": data })))
        }
        KeysCommand::Revoke { id } => ("DELETE", format!("/api/admin/keys/{id}"), None),
    };
    let exchange = Exchange { method, url: &path, body, headers: &[] };
    send_and_print(&args.credentials, exchange, None, args.shown, Some(render)).await
}

/// Runs a `users` command.
pub async fn users(args: UsersArgs) -> anyhow::Result<bool> {
    let render: Render = match &args.command {
        UsersCommand::List => text::users,
        _ => text::record,
    };
    let (method, path, body): (&str, String, Option<Value>) = match args.command {
        UsersCommand::List => ("GET", "/api/admin/users".into(), None),
        UsersCommand::Create { username, permissions } => {
            let password = new_password()?;
            let body = json!({"data": {"username": username, "password": password, "permissions": permissions}});
            ("POST", "/api/admin/users".into(), Some(body))
        }
        UsersCommand::Show { id } => ("GET", format!("/api/admin/users/{id}"), None),
        UsersCommand::Update { id, permissions, state } => {
            let mut data = serde_json::Map::new();
            if !permissions.is_empty() {
                data.insert("permissions".into(), json!(permissions));
            }
            if let Some(state) = state {
                data.insert("state".into(), json!(state));
            }
            ("PATCH", format!("/api/admin/users/{id}"), Some(json!({"data": data})))
        }
    };
    let exchange = Exchange { method, url: &path, body, headers: &[] };
    send_and_print(&args.credentials, exchange, None, args.shown, Some(render)).await
}
