//! Named profiles, like the AWS CLI's: a server URL and credentials per name, in a TOML file
//! readable by its owner only (`$KEYWARD_CONFIG_DIR/credentials.toml`, by default
//! `~/.config/keyward/credentials.toml`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// One profile.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The server, e.g. `http://127.0.0.1:8080`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// An API key's token, for the signed schemes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// That key's secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The signed scheme to use: query-hmac, header-hmac (default) or http-signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// An access token from `keyward login`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

/// Where profiles live.
pub fn path() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("KEYWARD_CONFIG_DIR") {
        return Ok(PathBuf::from(dir).join("credentials.toml"));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os("HOME").context("neither KEYWARD_CONFIG_DIR nor HOME is set")?,
        )
        .join(".config"),
    };
    Ok(base.join("keyward").join("credentials.toml"))
}

/// Every profile in the file (none when it does not exist yet).
pub fn load_all() -> anyhow::Result<BTreeMap<String, Profile>> {
    let path = path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)
            .with_context(|| format!("invalid profiles file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The profile `name`, empty when absent.
pub fn load(name: &str) -> anyhow::Result<Profile> {
    Ok(load_all()?.remove(name).unwrap_or_default())
}

/// Replaces profile `name` (or removes it when `profile` is `None`), writing the file with mode
/// 0600 through a temporary file, so a crash never leaves it half written.
pub fn store(name: &str, profile: Option<Profile>) -> anyhow::Result<()> {
    let path = path()?;
    let mut all = load_all()?;
    match profile {
        Some(profile) => all.insert(name.to_owned(), profile),
        None => all.remove(name),
    };
    let dir = path.parent().context("the profiles path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = toml::to_string(&all).context("cannot write profiles")?;
    let temporary = path.with_extension("toml.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Checks a profile name: letters, digits, `-`, `_`.
pub fn checked_name(name: &str) -> anyhow::Result<&str> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("a profile name has letters, digits, '-' and '_' only, not {name:?}");
    }
    Ok(name)
}
