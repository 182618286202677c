//! `keyward sign`, `keyward request`, `keyward login` and `keyward logout`: the client side.
//!
//! Secrets never come from the command line (where `ps` and shell history would show them):
//! a key's secret comes from `--secret-file`, `KEYWARD_SECRET` or a profile, a public-key
//! credential's private key from `--private-key` (a PKCS#8 PEM file, as `keyward keygen`
//! writes); a password from `KEYWARD_PASSWORD` or standard input.

use std::io::{BufRead, IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use keyward_client::{Algorithm, ApiKey, Auth, Client, PrivateKey, Scheme, now_ms, sign_http};
use serde_json::{Map, Value};

use crate::profile::{self, Profile};

/// Options shared by the commands that talk to a server.
#[derive(Args, Debug, Clone)]
pub struct ProfileArgs {
    /// The profile to use (see `keyward login`).
    #[arg(long, env = "KEYWARD_PROFILE", default_value = "default")]
    profile: String,
}

/// `keyward sign`.
#[derive(Args, Debug)]
pub struct SignArgs {
    #[command(flatten)]
    credentials: Credentials,
    /// The method.
    #[arg(short = 'X', long, default_value = "GET")]
    method: String,
    /// The body, sent as is.
    #[arg(short = 'd', long)]
    data: Option<String>,
    /// A header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Print a ready curl command line instead of the signed URL and headers.
    #[arg(long)]
    curl: bool,
    /// The absolute URL.
    url: String,
}

/// `keyward request`.
#[derive(Args, Debug)]
pub struct RequestArgs {
    #[command(flatten)]
    credentials: Credentials,
    /// GET, POST, PUT, PATCH or DELETE.
    method: String,
    /// An absolute URL, or a path on the profile's server.
    url: String,
    /// `name=text`, `name=@file` (the value read from a file) and `name:=json` body fields,
    /// sent as a JSON object; `Header:value` headers.
    items: Vec<String>,
    /// Ask for a signed answer and accept it only when the server's response key signed it,
    /// bound to this request (exit non-zero otherwise). The key is the one the server
    /// publishes at /.well-known/keyward/response-keys, unless --response-key pins one.
    #[arg(long)]
    verify_response: bool,
    /// The server's response public key (PEM), pinned: with --verify-response.
    #[arg(long, value_name = "FILE", requires_all = ["verify_response", "response_keyid"])]
    response_key: Option<PathBuf>,
    /// The pinned response key's id.
    #[arg(long, value_name = "KEYID", requires = "response_key")]
    response_keyid: Option<String>,
    #[command(flatten)]
    shown: Shown,
}

/// How the commands that send a request show the exchange.
#[derive(Args, Debug, Clone, Copy)]
pub struct Shown {
    /// Show the request line, and the answer's status and headers, on stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Print the answer as the API sent it (JSON, one line), for scripts; without it, `keys`
    /// and `users` print text for people.
    #[arg(long, global = true)]
    json: bool,
}

/// How `keyward request` checks the answer's signature.
pub enum ResponseCheck {
    /// With the key the server publishes.
    Published,
    /// With a pinned key.
    Pinned(Box<keyward_client::ResponseVerifier>),
}

/// `keyward login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The server [default: the profile's].
    #[arg(long)]
    url: Option<String>,
    /// The user name (or an API key's token). The password (or secret) comes from
    /// KEYWARD_PASSWORD, or the first line of standard input.
    #[arg(long)]
    user: String,
    #[command(flatten)]
    profile: ProfileArgs,
}

/// `keyward logout`.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    #[command(flatten)]
    profile: ProfileArgs,
}

fn scheme_named(name: &str) -> anyhow::Result<Scheme> {
    match Scheme::from_name(name) {
        Some(Scheme::Bearer) | None => {
            bail!("--scheme must be query-hmac, header-hmac or http-signature, not {name:?}")
        }
        Some(scheme) => Ok(scheme),
    }
}

fn read_secret_file(path: &PathBuf) -> anyhow::Result<String> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    Ok(text.trim().to_owned())
}

/// `--algorithm`'s value, checked.
fn algorithm_named(name: Option<&str>) -> anyhow::Result<Option<Algorithm>> {
    name.map(|name| {
        Algorithm::from_name(name).with_context(|| {
            let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            format!("unknown algorithm {name:?}: use one of {}", names.join(", "))
        })
    })
    .transpose()
}

/// Reads a private key file (PKCS#8 PEM).
fn read_private_key(path: &PathBuf, algorithm: Option<&str>) -> anyhow::Result<PrivateKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the private key {}", path.display()))?;
    PrivateKey::from_pem(&text, algorithm_named(algorithm)?)
        .with_context(|| format!("{} holds no usable private key", path.display()))
}

/// The API key from flags, environment and profile; `None` when no key is configured.
fn api_key(credentials: &Credentials, profile: &Profile) -> anyhow::Result<Option<ApiKey>> {
    let Credentials { key, secret_file, private_key, algorithm, reseller, .. } = credentials;
    let Some(token) = key.clone().or_else(|| profile.key.clone()) else { return Ok(None) };
    if let Some(path) = private_key {
        let key = ApiKey::with_private_key(token, read_private_key(path, algorithm.as_deref())?);
        return Ok(Some(if *reseller { key.reseller() } else { key }));
    }
    let secret = match secret_file {
        Some(path) => read_secret_file(path)?,
        None => match std::env::var("KEYWARD_SECRET") {
            Ok(secret) => secret,
            Err(_) => profile.secret.clone().context(
                "no secret for the key: use --secret-file, KEYWARD_SECRET or a profile (never the command line)",
            )?,
        },
    };
    let key = ApiKey::new(token, secret);
    Ok(Some(if *reseller { key.reseller() } else { key }))
}

/// The scheme to sign with: the flag's, the profile's, or header-hmac; http-signature, and
/// only it, for a private key.
fn scheme_of(credentials: &Credentials, profile: &Profile) -> anyhow::Result<Scheme> {
    if credentials.private_key.is_some() {
        return match credentials.scheme.as_deref() {
            None | Some("http-signature") => Ok(Scheme::HttpSignature),
            Some(other) => bail!("a private key signs with http-signature only, not {other}"),
        };
    }
    let flag = credentials.scheme.as_deref();
    scheme_named(flag.or(profile.scheme.as_deref()).unwrap_or("header-hmac"))
}

/// `keyward sign`: prints the signed URL and headers, or a curl command line.
pub fn sign(args: SignArgs) -> anyhow::Result<()> {
    let credentials = &args.credentials;
    let profile = profile::load(profile::checked_name(&credentials.profile.profile)?)?;
    let scheme = scheme_of(credentials, &profile)?;
    let key = api_key(credentials, &profile)?.context("no key: use --key or a profile's key")?;
    let mut builder =
        http::Request::builder().method(args.method.to_ascii_uppercase().as_str()).uri(&args.url);
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("a header is `Name: value`, not {header:?}"))?;
        builder = builder.header(name.trim(), value.trim());
    }
    let body = args.data.clone().unwrap_or_default().into_bytes();
    let mut request = builder.body(body).context("invalid method, URL or header")?;
    if url::Url::parse(&args.url).is_err() {
        bail!("the URL must be absolute, like https://api.example.com/path");
    }
    sign_http(&mut request, scheme, &key, now_ms())?;
    let url = request.uri().to_string();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned())
        })
        .collect();
    if args.curl {
        let mut line = format!("curl -X {} {}", request.method(), quote(&url));
        for (name, value) in &headers {
            line.push_str(&format!(" -H {}", quote(&format!("{name}: {value}"))));
        }
        if let Some(data) = &args.data {
            line.push_str(&format!(" --data-binary {}", quote(data)));
        }
        println!("{line}");
    } else {
        println!("{url}");
        for (name, value) in &headers {
            println!("{name}: {value}");
        }
    }
    Ok(())
}

/// Single-quotes `text` for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `keyward request`: sends, prints the answer, and fails on an error status.
pub async fn request(args: RequestArgs) -> anyhow::Result<bool> {
    let Items { fields, headers } = items(&args.items)?;
    let body = (!fields.is_empty()).then_some(Value::Object(fields));
    let check = match (args.verify_response, &args.response_key, args.response_keyid) {
        (false, _, _) => None,
        (true, None, _) => Some(ResponseCheck::Published),
        (true, Some(path), keyid) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let key = keyward_client::PublicKey::parse(&pem, None)
                .with_context(|| format!("{} holds no usable public key", path.display()))?;
            let keyid = keyid.context("--response-keyid is needed with --response-key")?;
            Some(ResponseCheck::Pinned(Box::new(keyward_client::ResponseVerifier::new(keyid, key))))
        }
    };
    let exchange = Exchange { method: &args.method, url: &args.url, body, headers: &headers };
    send_and_print(&args.credentials, exchange, check, args.shown, None).await
}

/// A request a command sends: `method url`, a JSON body, headers.
pub struct Exchange<'a> {
    /// The method.
    pub method: &'a str,
    /// An absolute URL, or a path on the profile's server.
    pub url: &'a str,
    /// The JSON body.
    pub body: Option<Value>,
    /// Headers, besides the credentials.
    pub headers: &'a [(String, String)],
}

/// How a command authenticates: a key (flags or profile) in a signed scheme, or the profile's
/// access token.
#[derive(Args, Debug, Clone)]
pub struct Credentials {
    /// query-hmac, header-hmac or http-signature [default: the profile's, or header-hmac].
    #[arg(long)]
    scheme: Option<String>,
    /// The API key's token [default: the profile's; without one, the profile's access token
    /// is sent].
    #[arg(long)]
    key: Option<String>,
    /// A file holding the key's secret (`-` for standard input) [default: KEYWARD_SECRET, else
    /// the profile's secret; never the command line].
    #[arg(long, value_name = "FILE", conflicts_with = "private_key")]
    secret_file: Option<PathBuf>,
    /// A public-key credential's private key (PKCS#8 PEM, as `keyward keygen` writes): signs
    /// with http-signature.
    #[arg(long, value_name = "FILE")]
    private_key: Option<PathBuf>,
    /// The private key's algorithm, for an RSA key: rsa-pss-sha512 or rsa-v1_5-sha256.
    #[arg(long, requires = "private_key")]
    algorithm: Option<String>,
    /// Sign as reseller credentials.
    #[arg(long)]
    reseller: bool,
    #[command(flatten)]
    profile: ProfileArgs,
}

/// Sends `method url` with a JSON `body`, prints the answer, and says whether the status was
/// a success. A successful answer's `data` is written by `render` as text, when the command has
/// one; otherwise (and for errors) the JSON is printed, pretty on a terminal, as sent when piped
/// or with `--json`, which also keeps `render` from running.
pub async fn send_and_print(
    credentials: &Credentials,
    exchange: Exchange<'_>,
    check: Option<ResponseCheck>,
    shown: Shown,
    render: Option<crate::text::Render>,
) -> anyhow::Result<bool> {
    let Exchange { method, url, body, headers } = exchange;
    let profile = profile::load(profile::checked_name(&credentials.profile.profile)?)?;
    let (base, path) = split_url(url, profile.url.as_deref())?;
    let auth = match api_key(credentials, &profile)? {
        Some(key) => Auth::Signed { key, scheme: scheme_of(credentials, &profile)? },
        None => match profile.access_token.clone() {
            Some(token) => Auth::Bearer(token),
            None => Auth::None,
        },
    };
    let method = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("invalid method {method:?}"))?;
    let mut client = Client::new(&base, auth)?;
    client = match check {
        None => client,
        Some(ResponseCheck::Pinned(verifier)) => client.verify_responses(*verifier),
        Some(ResponseCheck::Published) => {
            let verifier = client.published_response_key().await?;
            client.verify_responses(verifier)
        }
    };
    let body = body.map(|b| b.to_string().into_bytes());
    if shown.verbose {
        eprintln!("> {method} {base}{path}");
    }
    let response = client.send_with_headers(method, &path, body, headers).await?;
    if shown.verbose {
        eprintln!("< HTTP {}", response.status);
        for (name, value) in &response.headers {
            eprintln!("< {name}: {}", String::from_utf8_lossy(value.as_bytes()));
        }
    }
    if let Some(signature) = &response.signature {
        eprintln!(
            "keyward: answer signed by {} (created {}), covering {}",
            signature.keyid.as_deref().unwrap_or("?"),
            signature.created.unwrap_or_default(),
            signature.components.join(" ")
        );
    }
    let failed = response.status.is_client_error() || response.status.is_server_error();
    let text = render.filter(|_| !shown.json && !failed).zip(response.json());
    if let Some((render, answer)) = text {
        print!("{}", render(&answer["data"]));
    } else if std::io::stdout().is_terminal() && !shown.json {
        println!("HTTP {}", response.status);
        match response.json() {
            Some(json) => println!("{}", serde_json::to_string_pretty(&json)?),
            None => println!("{}", String::from_utf8_lossy(&response.body)),
        }
    } else {
        use std::io::Write;
        let mut stdout = std::io::stdout();
        stdout.write_all(&response.body)?;
        // Every answer ends with a newline, as a shell expects of a command's output.
        if !response.body.is_empty() && !response.body.ends_with(b"\n") {
            stdout.write_all(b"\n")?;
        }
    }
    if failed {
        explain(&response);
        return Ok(false);
    }
    Ok(true)
}

/// Tells, on stderr, what an error answer means, with the server's diagnostics.
fn explain(response: &keyward_client::Response) {
    let json = response.json().unwrap_or_default();
    let error = &json["error"];
    eprintln!(
        "keyward: HTTP {}, error {}: {}",
        response.status,
        error["code"].as_u64().map_or("?".into(), |c| c.to_string()),
        error["message"].as_str().unwrap_or("(no error body)")
    );
    if let Some(signed) = error["detail"]["signed"].as_str() {
        eprintln!(
            "keyward: the server signed exactly this (compare it with what you signed):\n{signed}"
        );
    }
    if let Some(skew) = error["detail"]["skew_ms"].as_i64() {
        eprintln!("keyward: your clock differs from the server's by {skew} ms");
    }
}

/// The origin and the path (with query) of `url`, resolving a bare path on the profile's server.
fn split_url(url: &str, profile_url: Option<&str>) -> anyhow::Result<(String, String)> {
    let absolute = if url.starts_with('/') {
        let base = profile_url
            .context("a path needs a server: give a full URL, or log in with a profile")?;
        format!("{}{url}", base.trim_end_matches('/'))
    } else {
        url.to_owned()
    };
    let parsed = url::Url::parse(&absolute).with_context(|| format!("invalid URL {absolute:?}"))?;
    let origin = parsed.origin().ascii_serialization();
    let path = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    Ok((origin, path))
}

/// What `keyward request`'s items ask for.
#[derive(Default)]
struct Items {
    /// Body fields, sent as a JSON object.
    fields: Map<String, Value>,
    /// Extra headers.
    headers: Vec<(String, String)>,
}

/// httpie-style items: `name=text` and `name:=json` fields, `Header:value` headers.
fn items(items: &[String]) -> anyhow::Result<Items> {
    let Items { mut fields, mut headers } = Items::default();
    for item in items {
        let colon = item.find(':');
        let equals = item.find('=');
        match (colon, equals) {
            (Some(c), Some(e)) if e == c + 1 => {
                let json = serde_json::from_str(&item[e + 1..])
                    .with_context(|| format!("{item:?}: the value after := must be JSON"))?;
                fields.insert(item[..c].to_owned(), json);
            }
            (Some(c), Some(e)) if c < e => {
                headers.push((item[..c].to_owned(), item[c + 1..].trim().to_owned()))
            }
            (_, Some(e)) => {
                let value = &item[e + 1..];
                // `name=@file` reads the value from a file, so a password need not be typed
                // on the command line.
                let value = match value.strip_prefix('@') {
                    Some(path) => std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {path} for {}", &item[..e]))?
                        .trim_end_matches(['\n', '\r'])
                        .to_owned(),
                    None => value.to_owned(),
                };
                fields.insert(item[..e].to_owned(), Value::String(value));
            }
            (Some(c), None) => {
                headers.push((item[..c].to_owned(), item[c + 1..].trim().to_owned()))
            }
            (None, None) => bail!("{item:?} is neither name=value, name:=json nor Header:value"),
        }
    }
    Ok(Items { fields, headers })
}

/// `keyward keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// ed25519, ecdsa-p256-sha256, ecdsa-p384-sha384, rsa-pss-sha512 or rsa-v1_5-sha256.
    #[arg(long = "alg", default_value = "ed25519")]
    algorithm: String,
    /// Where to write the private key (created with mode 0600).
    #[arg(long, value_name = "FILE", default_value = "keyward-private-key.pem")]
    out: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
    /// Print the public key as a JWK rather than PEM (the server takes either).
    #[arg(long)]
    jwk: bool,
}

/// `keyward keygen`: writes a new private key (mode 0600) and prints its public key, which is
/// what the server is given (`keyward keys create --public-key-file`).
pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let algorithm = algorithm_named(Some(&args.algorithm))?.context("an algorithm")?;
    let key = PrivateKey::generate(algorithm)?;
    write_private(&args.out, key.to_pem().as_bytes(), args.force)?;
    match args.jwk {
        true => println!("{}", key.public_key_jwk()),
        false => print!("{}", key.public_key_pem()),
    }
    eprintln!(
        "keyward: {algorithm} private key written to {} (keep it there: it never leaves this \
         machine); the public key above goes to the server",
        args.out.display()
    );
    Ok(())
}

/// Creates `path` readable by its owner only, and writes `bytes` to it.
fn write_private(path: &PathBuf, bytes: &[u8], replace: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| {
        format!("cannot create {} (it exists? --force replaces it)", path.display())
    })?;
    // A replaced file keeps its old mode: make it private too.
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)?;
    Ok(())
}

/// `keyward login`: an access token, kept in the profile.
pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let name = profile::checked_name(&args.profile.profile)?.to_owned();
    let mut profile = profile::load(&name)?;
    let url = args.url.or(profile.url.clone()).context("--url is needed the first time")?;
    let password = match std::env::var("KEYWARD_PASSWORD") {
        Ok(password) => password,
        // On a terminal, a prompt that does not echo; otherwise the first line of stdin.
        Err(_) if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("password for {}: ", args.user))?
        }
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    let token = Client::login(&url, &args.user, &password).await?;
    profile.url = Some(url);
    profile.access_token = Some(token);
    profile::store(&name, Some(profile))?;
    eprintln!(
        "keyward: logged in as {}; profile {name} saved in {}",
        args.user,
        profile::path()?.display()
    );
    Ok(())
}

/// `keyward logout`: revokes the profile's access token and forgets it.
pub async fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let name = profile::checked_name(&args.profile.profile)?.to_owned();
    let mut profile = profile::load(&name)?;
    let (Some(url), Some(token)) = (profile.url.clone(), profile.access_token.take()) else {
        bail!("profile {name} is not logged in");
    };
    let client = Client::new(&url, Auth::Bearer(token))?;
    let response = client.send(http::Method::POST, "/api/logout", None).await?;
    // A token the server no longer knows is as logged out as it gets.
    if !response.status.is_success() && response.error_code() != Some(13) {
        explain(&response);
        bail!("logout failed");
    }
    profile::store(&name, Some(profile))?;
    eprintln!("keyward: logged out of profile {name}");
    Ok(())
}
