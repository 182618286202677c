//! The load benchmark's helper (see `bench/load.sh`):
//!
//! - `serve on|off ADDR`: keyward on a fresh SQLite store, with authentication on, or the very
//!   same router with it off (every request sees the admin as principal). Prints one JSON line
//!   with the URL, an API key's token and secret, an access token and a plain API key
//!   (`plain`); then serves.
//! - `serve on ADDR UPSTREAM`: the same, with two gateway routes to UPSTREAM (see
//!   `bench/gateway.sh`): `/public/`, public, and `/orders/`, every scheme, GET needing
//!   `activities:read` (which the key and the admin hold).
//! - `sign SCHEME URL TOKEN SECRET`: prints a GET request signed in SCHEME as wrk arguments:
//!   the URL on the first line, then one header per line (`bearer` and `api-key` sign nothing:
//!   TOKEN is sent as it is).
//! - `floor ADDR UPSTREAM`: the stack's floor, a minimal proxy on keyward's own stack (a hyper 1
//!   server, HTTP/1.1 and HTTP/2 as keyward serves them, and hyper-util's pooled client, as
//!   keyward's gateway uses it), forwarding every request to UPSTREAM as it came. Prints the
//!   same JSON line's `url`.

use std::time::{SystemTime, UNIX_EPOCH};

use keyward_server::auth::{Identity, Principal};
use keyward_server::gateway::{ForwardAuthProxy, ForwardAuthSettings, RouteConfig, Routes};
use keyward_server::{Settings, app, app_unauthenticated};
use keyward_sig::query_hmac::ParameterOrder;
use keyward_sig::rfc9421::{self, SignatureParams};
use keyward_sig::{
    KeyKind, KeyMaterial, RequestView, Scheme, TokenFormat, VerifyOptions, header_hmac, query_hmac,
};
use keyward_store::{Actor, KeyOwner, MasterKey, NewApiKey, Permissions, Store, TokenOwner};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASSWORD: &str = "load-benchmark-password";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["serve", mode @ ("on" | "off"), listen] => serve(*mode == "on", listen, None),
        ["serve", "on", listen, upstream] => serve(true, listen, Some(upstream)),
        ["sign", scheme, url, token, secret] => sign(scheme, url, token, secret),
        ["floor", listen, upstream] => floor(listen, upstream),
        _ => {
            eprintln!(
                "usage: keyward-loadbench serve on|off ADDR | serve on ADDR UPSTREAM \
                 | sign SCHEME URL TOKEN SECRET | floor ADDR UPSTREAM"
            );
            std::process::exit(2);
        }
    }
}

/// The runtimes `keyward serve` runs on: `KEYWARD_WORKERS` workers (as many as CPUs by
/// default) serving connections, and a single-threaded runtime accepting them.
fn runtimes() -> (keyward_server::Workers, tokio::runtime::Runtime) {
    let workers = std::env::var("KEYWARD_WORKERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().expect("a CPU count"));
    let workers = keyward_server::Workers::start(workers).expect("the workers start");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    (workers, runtime.expect("a runtime"))
}

fn serve(authenticated: bool, listen: &str, upstream: Option<&str>) {
    let (workers, runtime) = runtimes();
    runtime.block_on(serve_on(&workers, authenticated, listen, upstream));
}

async fn serve_on(
    workers: &keyward_server::Workers,
    authenticated: bool,
    listen: &str,
    upstream: Option<&str>,
) {
    // The log `keyward serve` writes by default (text, info): what it costs is measured too.
    keyward_server::log::init(&keyward_server::log::LogSettings::default());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("keyward.db").display());
    let store = Store::open(&url, MasterKey::from_bytes(&[5; 32])).await.expect("the store opens");
    let admin =
        store.bootstrap(Some(PASSWORD)).await.expect("bootstrap").expect("a fresh store").admin;
    let actor = Actor {
        request_id: "bench".into(),
        domain_id: Some(admin.domain_id),
        user_id: Some(admin.id),
        name: "admin".into(),
        ..Actor::default()
    };
    let new = NewApiKey::new(
        KeyOwner::Domain(admin.domain_id),
        "Load benchmark".into(),
        Permissions::parse(&["activities:read"]).expect("known"),
    );
    let (key, secret) = store.create_api_key(&actor, &new).await.expect("a key");
    let plain = NewApiKey { plain: true, name: "Load benchmark (api-key)".into(), ..new };
    let (_, plain) = store.create_api_key(&actor, &plain).await.expect("a plain key");
    let (bearer, _) = store
        .issue_access_token(TokenOwner::User(admin.id), admin.domain_id, 86_400_000)
        .await
        .expect("a token");
    let settings = Settings {
        verify: VerifyOptions { token_format: TokenFormat::Keyward, ..VerifyOptions::default() },
        routes: gateway_routes(upstream),
        // nginx's auth_request asks, as in docs/gateway.md (bench/gateway.sh).
        forward_auth: ForwardAuthSettings {
            proxy: Some(ForwardAuthProxy::Nginx),
            ..ForwardAuthSettings::default()
        },
        ..Settings::default()
    };
    let router = if authenticated {
        app(store, settings)
    } else {
        let principal = Principal {
            scheme: Scheme::Bearer,
            identity: Identity::User { id: admin.id, username: admin.username.clone() },
            domain_id: Some(admin.domain_id),
            reseller_id: None,
            permissions: admin.permissions,
            access_token: None,
        };
        app_unauthenticated(store, settings, principal)
    };
    let listener = tokio::net::TcpListener::bind(listen).await.expect("the address is free");
    let address = listener.local_addr().expect("bound");
    println!(
        "{}",
        serde_json::json!({
            "url": format!("http://{address}"),
            "token": key.token,
            "secret": secret.expect("a key created without a public key has a secret").0,
            "bearer": bearer.0,
            "plain": plain.expect("a plain key is shown when made").0,
            "password": PASSWORD,
        })
    );
    keyward_server::serve_on(
        workers,
        listener,
        router,
        keyward_server::Capacity::default(),
        None,
        std::future::pending(),
    )
    .await
    .expect("serves");
}

/// The minimal proxy: each request's target, on `upstream`, through one pooled client, on the
/// same runtimes as keyward.
fn floor(listen: &str, upstream: &str) {
    let (workers, runtime) = runtimes();
    runtime.block_on(floor_on(&workers, listen, upstream));
}

async fn floor_on(workers: &keyward_server::Workers, listen: &str, upstream: &str) {
    use hyper::body::Incoming;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let authority: hyper::http::uri::Authority =
        upstream.trim_start_matches("http://").trim_end_matches('/').parse().expect("host:port");
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new()).build(connector);
    let listener = tokio::net::TcpListener::bind(listen).await.expect("the address is free");
    let address = listener.local_addr().expect("bound");
    println!("{}", serde_json::json!({ "url": format!("http://{address}") }));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let Ok(stream) = stream.into_std() else { continue };
        let (client, authority) = (client.clone(), authority.clone());
        workers.spawn(async move {
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else { return };
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let (mut parts, body) = request.into_parts();
                let mut uri = hyper::http::uri::Parts::default();
                uri.scheme = Some(hyper::http::uri::Scheme::HTTP);
                uri.authority = Some(authority.clone());
                uri.path_and_query = parts.uri.path_and_query().cloned();
                parts.uri = hyper::Uri::from_parts(uri).expect("a URI");
                parts.version = hyper::Version::HTTP_11;
                client.request(hyper::Request::from_parts(parts, body))
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// `/public/` and `/orders/` to `upstream`, when given.
fn gateway_routes(upstream: Option<&str>) -> Routes {
    let Some(upstream) = upstream else { return Routes::default() };
    let public = RouteConfig {
        prefix: "/public/".into(),
        upstream: upstream.into(),
        public: true,
        ..RouteConfig::default()
    };
    let mut orders = RouteConfig {
        prefix: "/orders/".into(),
        upstream: upstream.into(),
        ..RouteConfig::default()
    };
    orders.method_permissions.insert("GET".into(), vec!["activities:read".into()]);
    Routes::check(vec![public, orders]).expect("valid routes")
}

fn sign(scheme: &str, url: &str, token: &str, secret: &str) {
    let now = i64::try_from(
        SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis(),
    )
    .expect("fits");
    let key = KeyMaterial::new(KeyKind::Domain, secret.as_bytes());
    let split = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[split..].find('/').map_or(url.len(), |i| i + split);
    let (origin, target) = url.split_at(path_start);
    match scheme {
        "bearer" => println!("{url}\nAuthorization: Bearer {token}"),
        // TOKEN is the plain key itself.
        "api-key" => println!("{url}\nX-API-Key: {token}"),
        "query-hmac" => {
            let signed = query_hmac::sign(target, token, now, &key, ParameterOrder::Bytewise)
                .expect("signs");
            println!("{origin}{signed}");
        }
        "header-hmac" => {
            let signed = header_hmac::sign(token, b"", now, &key).expect("a secret signs");
            println!("{url}");
            for (name, value) in signed.pairs() {
                println!("{name}: {value}");
            }
        }
        "http-signature" => {
            let host = &origin[split..];
            let headers = [("host", host.as_bytes())];
            let mut components = vec!["@method", "@authority", "@path"];
            if target.contains('?') {
                components.push("@query");
            }
            let params = SignatureParams::new(&components, now / 1000, token).expect("valid");
            let view = RequestView::new("GET", target, &headers, b"");
            let signed = rfc9421::sign(&view, "sig1", &params, &key).expect("signs");
            println!(
                "{url}\nSignature-Input: {}\nSignature: {}",
                signed.signature_input, signed.signature
            );
        }
        other => {
            eprintln!("unknown scheme {other}");
            std::process::exit(2);
        }
    }
}
