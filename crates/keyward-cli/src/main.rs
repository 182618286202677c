//! `keyward`: the one binary. A thin main over keyward-server and keyward-store.

mod admin;
mod admin_api;
mod client;
mod config;
mod log;
mod profile;
mod text;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use keyward_server::gateway::Gateway;
use keyward_store::{MasterKey, Store, StoreError, StoreOptions};
use tokio::net::TcpListener;

use crate::config::{RouteSources, ServeArgs};
use crate::log::{LogFormat, say};

/// keyward: an API authentication server (bearer tokens, DevResults-style query HMAC,
/// Devo-style header HMAC, RFC 9421 HTTP Message Signatures).
#[derive(Parser, Debug)]
#[command(name = "keyward", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the authentication server. On first start with an empty store it creates reseller
    /// `default`, domain `default` and user `admin` with every permission; the password is
    /// KEYWARD_ADMIN_PASSWORD when set, otherwise generated and printed once on stderr.
    /// Secrets are sealed with a master key: KEYWARD_MASTER_KEY (base64 of 32 bytes), or the
    /// file `master.key` in the data directory, created on first start.
    Serve(Box<ServeArgs>),
    /// Check serve's configuration without starting: reads what `keyward serve` would (flags,
    /// environment, the --config file, routes, certificates and keys), prints what it would
    /// serve, and exits non-zero with the first mistake. Opens no database and no port.
    Check(Box<ServeArgs>),
    /// Operator commands on the store (resellers and their provisioning keys), with the same
    /// --data-dir or --database-url as serve.
    Admin(admin::AdminArgs),
    /// Sign a request and print the signed URL and headers, or a curl command line.
    Sign(client::SignArgs),
    /// Sign and send a request (httpie style: `keyward request POST /api/activities name=x`);
    /// prints the answer, and exits non-zero on an error status with the server's diagnostics.
    Request(client::RequestArgs),
    /// Generate a private key for a public-key credential: writes it to a file (mode 0600) and
    /// prints the public key to give the server.
    Keygen(client::KeygenArgs),
    /// Log in for an access token, kept in a profile (mode 0600).
    Login(client::LoginArgs),
    /// Revoke the profile's access token and forget it.
    Logout(client::LogoutArgs),
    /// The domain's API keys: list, create, show, rename, update, regenerate-token,
    /// rotate-secret, reveal, policy, revoke.
    Keys(admin_api::KeysArgs),
    /// The domain's users: list, create, show, update.
    Users(admin_api::UsersArgs),
    /// Print a shell completion script: `keyward completions bash > /etc/bash_completion.d/keyward`
    /// (zsh: into a directory of $fpath as `_keyward`; fish: ~/.config/fish/completions/keyward.fish).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `keyward man > /usr/local/share/man/man1/keyward.1`.
    Man,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Ok(false): the command ran, but the server answered with an error status.
    let succeeded = |ok: bool| if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    let result = match cli.command {
        Command::Serve(args) => serve(args).map(|()| ExitCode::SUCCESS),
        Command::Check(args) => check(args).map(|()| ExitCode::SUCCESS),
        Command::Admin(args) => block_on(admin::run(args)).map(|()| ExitCode::SUCCESS),
        Command::Sign(args) => client::sign(args).map(|()| ExitCode::SUCCESS),
        Command::Request(args) => block_on(client::request(args)).map(succeeded),
        Command::Keys(args) => block_on(admin_api::keys(args)).map(succeeded),
        Command::Users(args) => block_on(admin_api::users(args)).map(succeeded),
        Command::Keygen(args) => client::keygen(args).map(|()| ExitCode::SUCCESS),
        Command::Login(args) => block_on(client::login(args)).map(|()| ExitCode::SUCCESS),
        Command::Logout(args) => block_on(client::logout(args)).map(|()| ExitCode::SUCCESS),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "keyward", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map(|()| ExitCode::SUCCESS)
                .context("cannot write the completion script")
        }
        Command::Man => clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
            .render(&mut std::io::stdout())
            .map(|()| ExitCode::SUCCESS)
            .context("cannot write the manual page"),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("keyward: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")?.block_on(future)
}

fn serve(args: Box<ServeArgs>) -> anyhow::Result<()> {
    let mut config = args.resolve()?;
    log::init(&config.log);
    let gateway = !config.settings.routes.is_empty();
    fit_to_descriptors(&mut config.settings.capacity, gateway);
    // The workers serve connections; this runtime accepts them and runs the rest. Both are
    // dropped after the store is closed: a connection opened on a worker lives on its runtime.
    let workers = keyward_server::Workers::start(config.workers)
        .context("cannot start the worker threads")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let workers = &workers;
    runtime.block_on(async move {
        let store = open_store(&config.data_dir, &config.database_url, config.store).await?;
        bootstrap(&store, &config).await?;
        let tls = match config.tls.certificates.is_empty() {
            true => None,
            false => Some(keyward_server::tls::Tls::load(config.tls.clone())?),
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let address = listener.local_addr()?;
        let shutdown = shutdown_signal()?;
        let capacity = config.settings.capacity;
        let routes = config.settings.routes.clone();
        let forward_auth = config.settings.forward_auth.clone();
        let clock = keyward_store::system_clock();
        let mut settings = config.settings;
        let response_key = response_key(&config.data_dir, config.response_key_file.as_deref())?;
        say!(
            "responses signed on request with {} ({}), published at {}",
            response_key.keyid(),
            config.response_key_file.as_ref().map_or_else(
                || config.data_dir.join(RESPONSE_KEY_FILE).display().to_string(),
                |path| path.display().to_string()
            ),
            keyward_server::response_signing::PUBLISHED_PATH
        );
        settings.response_key = Some(std::sync::Arc::new(response_key));
        if let Some((url, on_failure)) = &config.redis {
            let redis = keyward_server::auth::Redis::connect(url, *on_failure)
                .await
                .with_context(|| format!("cannot connect to Redis at {}", redact(url)))?;
            settings.redis = Some(redis);
            say!(
                "replay memory and rate limits shared through Redis at {} ({})",
                redact(url),
                on_failure.name()
            );
        }
        let app = keyward_server::application(store.clone(), settings, clock);
        // Before "listening": from then on, a change made on another node (or by `keyward
        // admin`) reaches this node's caches.
        if store.follow_changes().await.context("cannot listen for other nodes' changes")?.is_some()
        {
            say!("other nodes' changes heard over PostgreSQL LISTEN/NOTIFY");
        }
        // Before "listening": a SIGHUP sent as soon as keyward says it serves must not stop it.
        reload_on_hangup(app.gateway, config.routes, tls.clone())?;
        if !routes.is_empty() {
            say!("gateway: {} route(s); SIGHUP reloads them", routes.len());
            routes.iter().for_each(|route| say!("  {}", route.summary()));
        }
        if let Some(proxy) = forward_auth.proxy {
            let unrouted = match forward_auth.unrouted {
                keyward_server::gateway::Unrouted::Refused => "refused",
                keyward_server::gateway::Unrouted::AnyCredential => "any valid credential",
            };
            say!(
                "forward-auth for {} at /auth/check; paths no route names: {unrouted}",
                proxy.as_str()
            );
        }
        if let Some(address) = config.metrics_listen {
            let listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} for metrics"))?;
            let address = listener.local_addr()?;
            let router = keyward_server::metrics::router(app.metrics.clone());
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, router).await {
                    tracing::warn!(%error, "the metrics listener stopped");
                }
            });
            say!("metrics on http://{address}/metrics");
        }
        say!("{} worker thread(s) serve connections", config.workers);
        if tls.is_some() {
            let asked = match config.tls.client_ca {
                Some(_) => ", client certificates asked for (mtls)",
                None => "",
            };
            let count = config.tls.certificates.len();
            say!("TLS: {count} certificate(s){asked}; SIGHUP reads them again");
        }
        say!(
            "listening on {}://{address}, store: {} ({})",
            if tls.is_some() { "https" } else { "http" },
            store.backend().name(),
            redact(&config.database_url)
        );
        keyward_server::serve_on(workers, listener, app.app, capacity, tls, shutdown).await?;
        if let Err(error) = app.usage.flush().await {
            say!("could not record keys' usage: {error}");
        }
        store.close().await;
        say!("stopped");
        Ok(())
    })
}

/// Descriptors kept for what is not a client's connection: listeners, the database's
/// connections, files, idle upstream connections, the one in reserve to refuse past the limit.
const DESCRIPTORS_KEPT: u64 = 128;

/// Raises the soft open-files limit to the hard one (as nginx's `worker_rlimit_nofile` lets
/// operators do), and lowers `max_connections` to what the limit allows, saying so: a
/// connection takes one descriptor, and one more for its upstream through the gateway.
fn fit_to_descriptors(capacity: &mut keyward_server::Capacity, gateway: bool) {
    let Ok(limit) = rlimit::increase_nofile_limit(u64::MAX) else { return };
    let per_connection: u64 = if gateway { 2 } else { 1 };
    let allowed = (limit.saturating_sub(DESCRIPTORS_KEPT) / per_connection).max(1);
    let allowed = usize::try_from(allowed).unwrap_or(usize::MAX);
    if capacity.max_connections > allowed {
        say!(
            "warning: the open-files limit is {limit}: --max-connections lowered from {} to {allowed} ({per_connection} descriptor(s) a connection, {DESCRIPTORS_KEPT} kept); raise the limit (ulimit -n, systemd's LimitNOFILE=) to serve more",
            capacity.max_connections
        );
        capacity.max_connections = allowed;
    }
}

/// `keyward check`: the configuration resolved and its files read as `serve` would, and what
/// it would serve, printed.
fn check(args: Box<ServeArgs>) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let scheme = match config.tls.certificates.is_empty() {
        true => "http",
        false => {
            let tls = keyward_server::tls::Tls::load(config.tls.clone())?;
            drop(tls);
            "https"
        }
    };
    if let Some(path) = &config.response_key_file {
        response_key(&config.data_dir, Some(path))?;
    }
    let backend = keyward_store::Backend::from_url(&config.database_url)?;
    println!("listen: {scheme}://{}", config.listen);
    println!("store: {} ({})", backend.name(), redact(&config.database_url));
    println!("workers: {}", config.workers);
    if let Some((url, on_failure)) = &config.redis {
        println!("redis: {} ({})", redact(url), on_failure.name());
    }
    if let Some(proxy) = config.settings.forward_auth.proxy {
        println!("forward-auth: {} at /auth/check", proxy.as_str());
    }
    if let Some(address) = config.metrics_listen {
        println!("metrics: http://{address}/metrics");
    }
    let routes = &config.settings.routes;
    println!("gateway: {} route(s)", routes.len());
    routes.iter().for_each(|route| println!("  {}", route.summary()));
    println!("configuration OK");
    Ok(())
}

/// Creates the first user, `admin`, on a new store, and says where its password is.
async fn bootstrap(store: &Store, config: &config::ServeConfig) -> anyhow::Result<()> {
    let password = std::env::var("KEYWARD_ADMIN_PASSWORD").ok();
    let boot = store.bootstrap(password.as_deref()).await.map_err(|error| match error {
        StoreError::WeakPassword(why) => anyhow::anyhow!("KEYWARD_ADMIN_PASSWORD: {why}"),
        other => other.into(),
    })?;
    if let Some(boot) = boot {
        match boot.generated_password {
            // A JSON log is shipped and kept: the password goes to a private file instead.
            Some(generated) if config.log.format == LogFormat::Json => {
                let path = config.data_dir.join("admin-password");
                write_private(&path, &generated)?;
                say!(
                    "created user admin with every permission; its generated password is in {} (readable by this user only): delete the file once read",
                    path.display()
                );
            }
            Some(generated) => eprintln!(
                "keyward: created user admin with every permission; its password, shown once: {generated}"
            ),
            None => say!("created user admin with the password from KEYWARD_ADMIN_PASSWORD"),
        }
    } else if password.is_some() {
        say!(
            "warning: KEYWARD_ADMIN_PASSWORD is ignored: the store already has its users (it sets the first user's password only; keyward admin user reset-password admin sets it again)"
        );
    }
    Ok(())
}

/// The response-signing key's file in the data directory.
const RESPONSE_KEY_FILE: &str = "response-key.pem";

/// The key responses are signed with: the file given (any algorithm keyward signs with; RSA
/// with PSS), or `response-key.pem` in the data directory, an Ed25519 key created (mode 0600)
/// on first start. Every node of a cluster needs the same one.
fn response_key(
    data_dir: &std::path::Path,
    given: Option<&std::path::Path>,
) -> anyhow::Result<keyward_server::response_signing::ResponseKey> {
    use keyward_sig::private_key::PrivateKey;
    use keyward_sig::public_key::Algorithm;
    let path = given.map_or_else(|| data_dir.join(RESPONSE_KEY_FILE), std::path::Path::to_path_buf);
    let key = match std::fs::read_to_string(&path) {
        Ok(pem) => PrivateKey::from_pem(&pem, None)
            .or_else(|_| PrivateKey::from_pem(&pem, Some(Algorithm::RsaPssSha512)))
            .with_context(|| format!("{} holds no usable private key", path.display()))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && given.is_none() => {
            let key = PrivateKey::generate(Algorithm::Ed25519)?;
            write_private(&path, &key.to_pem())?;
            key
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    Ok(keyward_server::response_signing::ResponseKey::new(key))
}

/// Opens the store: the data directory (created private), the master key
/// (`KEYWARD_MASTER_KEY`, or `master.key` in the data directory, created on first use), the
/// database and its migrations.
pub(crate) async fn open_store(
    data_dir: &std::path::Path,
    database_url: &str,
    options: StoreOptions,
) -> anyhow::Result<Store> {
    create_private_dir(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let master = match std::env::var("KEYWARD_MASTER_KEY") {
        Ok(value) => MasterKey::from_base64(&value).context("KEYWARD_MASTER_KEY")?,
        Err(_) => MasterKey::load_or_create(data_dir)?,
    };
    Store::open_with(database_url, master, options)
        .await
        .with_context(|| format!("cannot open the database {}", redact(database_url)))
}

/// Writes `text` to a new file at `path` readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file =
        options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{text}").with_context(|| format!("cannot write {}", path.display()))
}

/// Creates the data directory readable by its owner only: it holds the database (password
/// hashes, sealed secrets) and the master key.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled, so a signal sent right after start-up is not missed.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot install the SIGINT handler")?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        say!("shutting down");
    })
}

/// Reads the routes and the TLS certificates again on each `SIGHUP` and serves them from then
/// on; routes or certificates with a mistake are refused with the reason, and those being
/// served stay.
fn reload_on_hangup(
    gateway: Gateway,
    sources: RouteSources,
    tls: Option<keyward_server::tls::Tls>,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot install the SIGHUP handler")?;
        let at_start = sources.file().map(config::file_at_start);
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match sources.load() {
                    Ok(routes) => {
                        say!("gateway: reloaded, {} route(s)", routes.len());
                        routes.iter().for_each(|route| say!("  {}", route.summary()));
                        gateway.reload(routes);
                    }
                    Err(error) => {
                        say!("gateway: routes not reloaded, the earlier ones stay: {error:#}")
                    }
                }
                if let (Some(path), Some(at_start)) = (sources.file(), &at_start) {
                    let changed = config::changed_settings(path, at_start);
                    if !changed.is_empty() {
                        say!(
                            "{}: {} changed, and take effect on a restart only: the running values stay",
                            path.display(),
                            changed.join(", ")
                        );
                    }
                }
                match tls.as_ref().map(keyward_server::tls::Tls::reload) {
                    Some(Ok(count)) => say!("TLS: reloaded, {count} certificate(s)"),
                    Some(Err(error)) => {
                        say!("TLS: certificates not reloaded, the earlier ones stay: {error}")
                    }
                    None => {}
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (gateway, sources, tls);
    Ok(())
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
