//! `keyward admin`: operator commands that work on the store directly, given the same
//! `--data-dir` or `--database-url` as `serve` (the server may be running or not).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use keyward_store::{Actor, KeyOwner, KeyState, NewApiKey, Permissions, Reseller, Store};
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
    Actor {
        request_id: format!("keyward-admin-{now}"),
        name: "operator (keyward admin)".into(),
        ..Actor::default()
    }
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
    let AdminCommand::Reseller(command) = command;
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
    let new = NewApiKey {
        owner: KeyOwner::Reseller(reseller.id),
        name: format!("{} provisioning", reseller.name),
        permissions: Permissions::default(),
    };
    let (key, secret) = store.create_api_key(actor, &new).await?;
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
