//! `keyward admin`: operator commands that work on the store directly, given the same
//! `--data-dir` or `--database-url` as `serve` (the server may be running or not).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use keyward_store::{
    Actor, ApiKey, Credits, KeyLimits, KeyOwner, KeyState, NewApiKey, Permissions, RateLimit,
    Refill, Reseller, Store, StoreError, UserUpdate,
};
use serde_json::json;

use crate::config::StoreArgs;

/// `keyward admin` and its global flags.
#[derive(Args, Debug)]
pub struct AdminArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Resellers: the owners of domains, and their provisioning credentials.
    #[command(subcommand)]
    Reseller(ResellerCommand),
    /// Set an API key's rate limit and usage quota (credits); audited. What is not given
    /// stays as it is.
    KeyLimits {
        /// The key's token (its public identifier).
        token: String,
        /// The rate limit, as REQUESTS/SECONDS (100/60: a burst of 100, then 100 a minute).
        #[arg(long, value_name = "REQUESTS/SECONDS", conflicts_with = "no_rate_limit")]
        rate_limit: Option<String>,
        /// Remove the rate limit.
        #[arg(long)]
        no_rate_limit: bool,
        /// The credits left; each accepted request spends one.
        #[arg(long, value_name = "N", conflicts_with = "no_credits")]
        credits: Option<i64>,
        /// Set the credits back to AMOUNT every SECONDS.
        #[arg(long, value_name = "AMOUNT/SECONDS", conflicts_with = "no_credits")]
        refill: Option<String>,
        /// Remove the quota.
        #[arg(long)]
        no_credits: bool,
    },
    /// Set an API key's policy (any key: a reseller's too): when it expires, the client
    /// networks and the routes it may use; audited. What is not given stays as it is.
    KeyPolicy {
        /// The key's token (its public identifier).
        token: String,
        #[command(flatten)]
        policy: crate::admin_api::PolicyFlags,
    },
    /// A user's account.
    #[command(subcommand)]
    User(UserCommand),
    /// Set a user's rate limit, on every request they make with their tokens or any key
    /// rooted in them; audited.
    UserRateLimit {
        /// The user's name.
        username: String,
        /// The rate limit, as REQUESTS/SECONDS.
        #[arg(long, value_name = "REQUESTS/SECONDS", required_unless_present = "none")]
        rate_limit: Option<String>,
        /// Remove the rate limit.
        #[arg(long, conflicts_with = "rate_limit")]
        none: bool,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Set a user's password, a lost administrator's too: from KEYWARD_NEW_PASSWORD, else a
    /// prompt on a terminal, else the first line of standard input; or generated with
    /// --generate and printed once. Ends every session and access token of the user; audited.
    ResetPassword {
        /// The user's name.
        username: String,
        /// Generate the password (24 random letters and digits) and print it once.
        #[arg(long)]
        generate: bool,
    },
}

/// `N/SECONDS`, both positive integers.
fn per_seconds(flag: &str, value: &str) -> anyhow::Result<(i64, i64)> {
    let parsed = value.split_once('/').and_then(|(n, seconds)| {
        Some((n.trim().parse::<i64>().ok()?, seconds.trim().parse::<i64>().ok()?))
    });
    parsed.with_context(|| format!("--{flag} takes N/SECONDS, like 100/60, not {value:?}"))
}

fn rate_limit(value: &str) -> anyhow::Result<RateLimit> {
    let (requests, seconds) = per_seconds("rate-limit", value)?;
    u32::try_from(requests)
        .ok()
        .zip(u64::try_from(seconds).ok())
        .and_then(|(requests, seconds)| RateLimit::new(requests, seconds.saturating_mul(1000)))
        .context("--rate-limit allows 1 to 1000000 requests per 1 to 2592000 seconds")
}

/// The active key whose token is `token`, and its owner.
async fn key_by_token(store: &Store, token: &str) -> anyhow::Result<(KeyOwner, ApiKey)> {
    let key = store
        .key_credentials(token)
        .await?
        .with_context(|| format!("no active key has token {token:?}"))?
        .key;
    let owner = match (key.domain_id, key.reseller_id) {
        (Some(domain), _) => KeyOwner::Domain(domain),
        (None, Some(reseller)) => KeyOwner::Reseller(reseller),
        (None, None) => bail!("key {token:?} has no owner"),
    };
    Ok((owner, store.api_key(owner, key.id).await?))
}

async fn set_key_limits(
    store: &Store,
    token: &str,
    rate: (Option<String>, bool),
    credits: (Option<i64>, Option<String>, bool),
) -> anyhow::Result<ApiKey> {
    let (owner, current) = key_by_token(store, token).await?;
    let rate_limit = match rate {
        (_, true) => None,
        (Some(value), false) => Some(rate_limit(&value)?),
        (None, false) => current.rate_limit,
    };
    let credits = match credits {
        (_, _, true) => None,
        (None, None, false) => current.credits,
        (remaining, refill, false) => {
            let refill = refill
                .map(|value| {
                    let (amount, seconds) = per_seconds("refill", &value)?;
                    anyhow::Ok(Refill { amount, interval_ms: seconds.saturating_mul(1000) })
                })
                .transpose()?
                .or(current.credits.and_then(|credits| credits.refill));
            let remaining = remaining
                .or(refill.map(|refill| refill.amount))
                .context("--credits is needed without --refill")?;
            Some(Credits::new(remaining, refill).context(
                "--credits and the refill amount are 0 to 10^12, refilled every 1 to 34560000 seconds",
            )?)
        }
    };
    let limits = KeyLimits { rate_limit, credits };
    Ok(store.set_key_limits(&operator(), owner, current.id, &limits).await?)
}

#[derive(Subcommand, Debug)]
enum ResellerCommand {
    /// Create a reseller and its provisioning key; the key's secret is printed this once.
    Create {
        /// The reseller's name (lower-case letters, digits, '.', '-', '_').
        name: String,
    },
    /// List the resellers, with their domains and active keys.
    List,
    /// A reseller's provisioning key.
    #[command(subcommand)]
    Key(ResellerKeyCommand),
}

#[derive(Subcommand, Debug)]
enum ResellerKeyCommand {
    /// Give the reseller's key a new secret (the old one keeps verifying during the overlap),
    /// or create its first key if it has none; prints the secret this once.
    Rotate {
        /// The reseller's name.
        name: String,
        /// How long the previous secret keeps verifying.
        #[arg(long, default_value_t = 86_400, value_name = "SECONDS")]
        overlap_seconds: i64,
    },
}

/// Runs an admin command.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let (data_dir, database_url) = args.store.resolve()?;
    let store =
        crate::open_store(&data_dir, &database_url, keyward_store::StoreOptions::default()).await?;
    let result = dispatch(&store, args.command, args.json).await;
    store.close().await;
    result
}

fn operator() -> Actor {
    let now = keyward_store::system_clock()();
    Actor::operator(format!("keyward-admin-{now}"), "operator (keyward admin)")
}

fn checked_name(name: &str) -> anyhow::Result<()> {
    let valid = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-_".contains(&c));
    if !valid {
        bail!(
            "a reseller name has 1 to 63 lower-case letters, digits, '.', '-' or '_', not {name:?}"
        );
    }
    Ok(())
}

async fn dispatch(store: &Store, command: AdminCommand, as_json: bool) -> anyhow::Result<()> {
    let command = match command {
        AdminCommand::Reseller(command) => command,
        AdminCommand::KeyLimits {
            token,
            rate_limit,
            no_rate_limit,
            credits,
            refill,
            no_credits,
        } => {
            let rate = (rate_limit, no_rate_limit);
            let key = set_key_limits(store, &token, rate, (credits, refill, no_credits)).await?;
            let limits = json!({
                "id": key.id,
                "rate_limit": keyward_server::views::RateLimitView::of(key.rate_limit),
                "credits": keyward_server::views::CreditsView::of(key.credits),
            });
            match as_json {
                true => println!("{limits}"),
                false => println!("key {} ({}): {limits}", key.id, key.name),
            }
            return Ok(());
        }
        AdminCommand::KeyPolicy { token, policy } => {
            let edit = policy.edit()?;
            let (owner, current) = key_by_token(store, &token).await?;
            let policy = edit.applied(&current.policy, store.now_ms())?;
            let key = store.set_key_policy(&operator(), owner, current.id, &policy).await?;
            let shown = json!({
                "id": key.id,
                "expires_at_ms": key.policy.expires_at_ms,
                "allowed_networks": key.policy.allowed_networks,
                "allowed_routes": key.policy.allowed_routes,
            });
            match as_json {
                true => println!("{shown}"),
                false => println!("key {} ({}): {shown}", key.id, key.name),
            }
            return Ok(());
        }
        AdminCommand::User(UserCommand::ResetPassword { username, generate }) => {
            let user = store
                .user_named(&username)
                .await?
                .with_context(|| format!("no user named {username:?}"))?;
            let password = match generate {
                true => keyward_store::generate_password(),
                false => crate::admin_api::new_password()?,
            };
            let update = UserUpdate { password: Some(password.clone()), ..UserUpdate::default() };
            let user = store
                .update_user(&operator(), user.domain_id, user.id, update)
                .await
                .map_err(|error| match error {
                    StoreError::WeakPassword(why) => anyhow::anyhow!("the new password: {why}"),
                    other => other.into(),
                })?;
            let generated = generate.then_some(password);
            let shown = json!({"id": user.id, "username": user.username, "password": generated});
            match (as_json, generated) {
                (true, _) => println!("{shown}"),
                (false, Some(password)) => println!(
                    "user {} ({}): password reset, its sessions and access tokens ended; the new password, shown once: {password}",
                    user.id, user.username
                ),
                (false, None) => println!(
                    "user {} ({}): password reset, its sessions and access tokens ended",
                    user.id, user.username
                ),
            }
            return Ok(());
        }
        AdminCommand::UserRateLimit { username, rate_limit: value, none: _ } => {
            let user = store
                .user_named(&username)
                .await?
                .with_context(|| format!("no user named {username:?}"))?;
            let limit = value.as_deref().map(rate_limit).transpose()?;
            let user =
                store.set_user_rate_limit(&operator(), user.domain_id, user.id, limit).await?;
            let limits = json!({"id": user.id, "rate_limit": keyward_server::views::RateLimitView::of(user.rate_limit)});
            match as_json {
                true => println!("{limits}"),
                false => println!("user {} ({}): {limits}", user.id, user.username),
            }
            return Ok(());
        }
    };
    match command {
        ResellerCommand::Create { name } => {
            checked_name(&name)?;
            let actor = operator();
            let reseller = store
                .create_reseller(&actor, &name)
                .await
                .with_context(|| format!("cannot create reseller {name:?}"))?;
            let (token, secret) = create_key(store, &actor, &reseller).await?;
            print_credentials(as_json, &reseller, &token, &secret, "created");
        }
        ResellerCommand::List => {
            let mut listed = Vec::new();
            for reseller in store.resellers().await? {
                let domains = store.domains_of(reseller.id).await?.len();
                let keys: Vec<String> = store
                    .api_keys(KeyOwner::Reseller(reseller.id))
                    .await?
                    .into_iter()
                    .filter(|k| k.state == KeyState::Active)
                    .map(|k| k.token)
                    .collect();
                listed.push((reseller, domains, keys));
            }
            if as_json {
                let list: Vec<_> = listed
                    .iter()
                    .map(|(r, domains, keys)| json!({"id": r.id, "name": r.name, "domains": domains, "keys": keys, "created_at_ms": r.created_at_ms}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<6} {:<24} {:>7}  keys", "id", "name", "domains");
                for (r, domains, keys) in &listed {
                    let keys = if keys.is_empty() { "(none)".to_owned() } else { keys.join(", ") };
                    println!("{:<6} {:<24} {:>7}  {keys}", r.id, r.name, domains);
                }
            }
        }
        ResellerCommand::Key(ResellerKeyCommand::Rotate { name, overlap_seconds }) => {
            if !(0..=30 * 86_400).contains(&overlap_seconds) {
                bail!("--overlap-seconds must be 0 to 2592000");
            }
            let reseller = store
                .reseller_by_name(&name)
                .await
                .with_context(|| format!("no reseller named {name:?}"))?;
            let actor = operator();
            let owner = KeyOwner::Reseller(reseller.id);
            let active =
                store.api_keys(owner).await?.into_iter().find(|k| k.state == KeyState::Active);
            match active {
                Some(key) => {
                    let (key, secret) =
                        store.rotate_secret(&actor, owner, key.id, overlap_seconds * 1000).await?;
                    print_credentials(as_json, &reseller, &key.token, &secret.0, "rotated");
                }
                None => {
                    let (token, secret) = create_key(store, &actor, &reseller).await?;
                    print_credentials(as_json, &reseller, &token, &secret, "created (it had none)");
                }
            }
        }
    }
    Ok(())
}

async fn create_key(
    store: &Store,
    actor: &Actor,
    reseller: &Reseller,
) -> anyhow::Result<(String, String)> {
    let new = NewApiKey::new(
        KeyOwner::Reseller(reseller.id),
        format!("{} provisioning", reseller.name),
        Permissions::default(),
    );
    let (key, secret) = store.create_api_key(actor, &new).await?;
    let secret = secret.context("a reseller key is created with a secret")?;
    Ok((key.token, secret.0))
}

fn print_credentials(as_json: bool, reseller: &Reseller, token: &str, secret: &str, what: &str) {
    if as_json {
        println!(
            "{}",
            json!({"reseller": reseller.name, "reseller_id": reseller.id, "token": token, "secret": secret})
        );
    } else {
        println!("reseller {}: key {what}", reseller.name);
        println!("  x-logtrust-reseller-apikey: {token}");
        println!("  secret (shown once):        {secret}");
    }
}
