//! `keyward keys ...` and `keyward users ...`: the admin API of the profile's domain, as
//! commands. Each is one request; see `keyward request` for the output and exit status.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Credentials, send_and_print};

/// `keyward keys`.
#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(flatten)]
    credentials: Credentials,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// List the domain's API keys.
    List,
    /// Create a key for an application; prints its token and secret (shown this once), or,
    /// with --public-key-file, a public-key credential (no secret; it signs with its private
    /// key, see `keyward keygen`).
    Create {
        /// The application's name.
        name: String,
        /// A permission to grant (repeatable; never more than yours).
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
        /// A public key (PEM or JWK) the key verifies RFC 9421 signatures with.
        #[arg(long, value_name = "FILE")]
        public_key_file: Option<std::path::PathBuf>,
        /// The public key's algorithm [default: the key's own; RSA keys need it].
        #[arg(long, requires = "public_key_file")]
        algorithm: Option<String>,
    },
    /// Show a key.
    Show { id: i64 },
    /// Rename a key.
    Rename { id: i64, name: String },
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
    /// Revoke a key for good.
    Revoke { id: i64 },
}

/// `keyward users`.
#[derive(Args, Debug)]
pub struct UsersArgs {
    #[command(flatten)]
    credentials: Credentials,
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

fn new_password() -> anyhow::Result<String> {
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
    let (method, path, body): (&str, String, Option<Value>) = match args.command {
        KeysCommand::List => ("GET", "/api/admin/keys".into(), None),
        KeysCommand::Create { name, permissions, public_key_file, algorithm } => {
            let mut data = json!({"name": name, "permissions": permissions});
            if let Some(path) = public_key_file {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                data["public_key"] = json!(text);
                data["algorithm"] = json!(algorithm);
            }
            ("POST", "/api/admin/keys".into(), Some(json!({ "data": data })))
        }
        KeysCommand::Show { id } => ("GET", format!("/api/admin/keys/{id}"), None),
        KeysCommand::Rename { id, name } => {
            ("PATCH", format!("/api/admin/keys/{id}"), Some(json!({"data": {"name": name}})))
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
        KeysCommand::Revoke { id } => ("DELETE", format!("/api/admin/keys/{id}"), None),
    };
    send_and_print(&args.credentials, method, &path, body, &[]).await
}

/// Runs a `users` command.
pub async fn users(args: UsersArgs) -> anyhow::Result<bool> {
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
    send_and_print(&args.credentials, method, &path, body, &[]).await
}
