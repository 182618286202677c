//! A real keyward server on 127.0.0.1 for tests, on SQLite or PostgreSQL, and signing helpers.

#![allow(dead_code, clippy::unwrap_used)]

pub mod process;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keyward_server::Settings;
use keyward_sig::query_hmac::ParameterOrder;
use keyward_sig::rfc9421::{self, DigestAlgorithm, MessageSigner, SignatureParams};
use keyward_sig::{
    KeyKind, KeyMaterial, RequestView, TokenFormat, VerifyOptions, header_hmac, query_hmac,
};
use keyward_store::{MasterKey, Store, StoreOptions};
use keyward_testkit::clock::ManualClock;
use keyward_testkit::env::PostgresDatabase;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple";

pub fn master_key() -> MasterKey {
    MasterKey::from_bytes(&[9; 32])
}

/// A server running in this process, listening on 127.0.0.1.
pub struct TestServer {
    pub base: String,
    pub store: Store,
    /// The database URL, to open a second store on it (as another node would).
    pub database_url: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    task: tokio::task::JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<PostgresDatabase>,
}

/// Which database a test server uses.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn settings() -> Settings {
    let response_key =
        keyward_sig::private_key::PrivateKey::generate(keyward_sig::public_key::Algorithm::Ed25519)
            .unwrap();
    Settings {
        verify: VerifyOptions { token_format: TokenFormat::Keyward, ..VerifyOptions::default() },
        body_limit: 64 * 1024,
        response_key: Some(std::sync::Arc::new(
            keyward_server::response_signing::ResponseKey::new(response_key),
        )),
        ..Settings::default()
    }
}

/// How a test server starts: [`TestServer::builder`], what differs from the defaults
/// (SQLite, [`settings()`], the system clock, default store options), then [`Builder::start`].
pub struct Builder {
    test: String,
    backend: Backend,
    settings: Settings,
    clock: keyward_store::Clock,
    store_options: StoreOptions,
}

impl Builder {
    /// On `backend` (PostgreSQL: a database of its own, named after the test).
    pub fn backend(self, backend: Backend) -> Self {
        Builder { backend, ..self }
    }

    /// With `settings` rather than [`settings()`].
    pub fn settings(self, settings: Settings) -> Self {
        Builder { settings, ..self }
    }

    /// Reading time, in the store and the auth layer, from `clock`.
    pub fn clock(self, clock: &ManualClock) -> Self {
        Builder { clock: clock.as_fn(), ..self }
    }

    /// With a store opened with `options`.
    pub fn store_options(self, store_options: StoreOptions) -> Self {
        Builder { store_options, ..self }
    }

    /// Starts the server with fresh storage and logs the bootstrap admin in; `None` when the
    /// backend is unavailable (and allowed to be).
    pub async fn start(self) -> Option<TestServer> {
        let (url, dir, postgres) = match self.backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("keyward.db").display());
                (url, Some(dir), None)
            }
            Backend::Postgres => {
                let db = PostgresDatabase::create(&self.test).await?;
                (db.url.clone(), None, Some(db))
            }
        };
        let store = Store::open_with(&url, master_key(), self.store_options)
            .await
            .unwrap()
            .with_clock(self.clock.clone());
        store.bootstrap(Some(ADMIN_PASSWORD)).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let capacity = self.settings.capacity;
        let app = keyward_server::app_with_clock(store.clone(), self.settings, self.clock);
        let task = tokio::spawn(async move {
            keyward_server::serve(listener, app, capacity, std::future::pending()).await.unwrap();
        });
        // Built with keyward-client in the workspace, reqwest's TLS needs a crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut server = TestServer {
            base,
            store,
            database_url: url,
            client,
            admin_token: String::new(),
            task,
            _dir: dir,
            postgres,
        };
        server.admin_token = server.login("admin", ADMIN_PASSWORD).await.unwrap();
        Some(server)
    }
}

impl TestServer {
    /// A server for `test`, as [`Builder`] sets it up.
    pub fn builder(test: &str) -> Builder {
        Builder {
            test: test.to_owned(),
            backend: Backend::Sqlite,
            settings: settings(),
            clock: keyward_store::system_clock(),
            store_options: StoreOptions::default(),
        }
    }

    /// A server with the defaults on `backend`.
    pub async fn start(backend: Backend, test: &str) -> Option<Self> {
        Self::builder(test).backend(backend).start().await
    }

    /// Another store on the same database: changes made through it are not told to this
    /// server's cache, as with another node or the `keyward admin` command.
    pub async fn elsewhere(&self) -> Store {
        Store::open(&self.database_url, master_key()).await.unwrap()
    }

    pub async fn stop(self) {
        self.task.abort();
        self.store.close().await;
        if let Some(db) = self.postgres {
            db.drop_database().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`'s JSON answer, whatever its status.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// Logs in; the access token, or the error body.
    pub async fn login(&self, user: &str, password: &str) -> Result<String, Value> {
        let response = self
            .client
            .post(self.url("/api/login"))
            .json(&json!({ "UserName": user, "Password": password }))
            .send()
            .await
            .unwrap();
        let ok = response.status().is_success();
        let body: Value = response.json().await.unwrap();
        if ok { Ok(body["access_token"].as_str().unwrap().to_owned()) } else { Err(body) }
    }

    /// Creates an API key as `bearer` with `permissions`; returns `(id, token, secret)`.
    pub async fn create_key(
        &self,
        bearer: &str,
        name: &str,
        permissions: &[&str],
    ) -> (i64, String, String) {
        let response = self
            .client
            .post(self.url("/api/admin/keys"))
            .bearer_auth(bearer)
            .json(&json!({ "data": { "name": name, "permissions": permissions } }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        let data = &body["data"];
        (
            data["id"].as_i64().unwrap(),
            data["token"].as_str().unwrap().into(),
            data["secret"].as_str().unwrap().into(),
        )
    }

    /// The server's address, for raw connections.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Sends `method path` with a bearer token and an optional JSON body.
    pub async fn bearer(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request =
            self.client.request(method.parse().unwrap(), self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates a user with `permissions` (as the admin) and logs it in; `(id, access token)`.
    pub async fn user(&self, name: &str, permissions: &[&str]) -> (i64, String) {
        let password = format!("{name}-password-1");
        let body = json!({ "data": { "username": name, "password": password, "permissions": permissions } });
        let (status, created) =
            self.bearer(&self.admin_token, "POST", "/api/admin/users", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        let token = self.login(name, &password).await.unwrap();
        (created["data"]["id"].as_i64().unwrap(), token)
    }

    /// Sends a request signed with `scheme` by `(token, secret)`; returns status and JSON body.
    pub async fn signed(
        &self,
        scheme: Scheme,
        (token, secret): (&str, &str),
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let request =
            sign(scheme, token, secret, method, &self.url(path), body.map(|b| b.to_string()));
        send(&self.client, request).await
    }

    /// Runs `body` on a fresh server for each backend (PostgreSQL when available).
    pub async fn on_each_backend<F, Fut>(test: &str, body: F)
    where
        F: Fn(TestServer) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            if let Some(server) = TestServer::start(backend, test).await {
                body(server).await.stop().await;
            }
        }
    }
}

/// The signed schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    QueryHmac,
    HeaderHmac,
    HttpSignature,
}

pub const SIGNED_SCHEMES: [Scheme; 3] =
    [Scheme::QueryHmac, Scheme::HeaderHmac, Scheme::HttpSignature];

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The time to sign with, never the same twice in this process: like a careful client, the
/// tests never sign two requests with one timestamp (in the vendor schemes, two requests with
/// the same body signed in one millisecond carry one signature, and the second is refused).
pub fn signing_ms() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_ms();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// A request, as the tests build it.
pub struct Prepared {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// Signs a request with keyward-sig's signers, as a client would, with a domain key.
pub fn sign(
    scheme: Scheme,
    token: &str,
    secret: &str,
    method: &str,
    url: &str,
    body: Option<String>,
) -> Prepared {
    sign_as(KeyKind::Domain, scheme, token, secret, method, url, body)
}

/// [`sign`] with a key of `kind` (header-hmac picks its key header after it).
pub fn sign_as(
    kind: KeyKind,
    scheme: Scheme,
    token: &str,
    secret: &str,
    method: &str,
    url: &str,
    body: Option<String>,
) -> Prepared {
    let key = KeyMaterial::new(kind, secret.as_bytes());
    let now = signing_ms();
    let mut headers = vec![];
    if body.is_some() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    let body_bytes = body.clone().unwrap_or_default().into_bytes();
    let url = match scheme {
        Scheme::QueryHmac => {
            let (origin, target) = split_url(url);
            format!(
                "{origin}{}",
                query_hmac::sign(target, token, now, &key, ParameterOrder::Bytewise).unwrap()
            )
        }
        Scheme::HeaderHmac => {
            let signed = header_hmac::sign(token, &body_bytes, now, &key).unwrap();
            headers.extend(signed.pairs().iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
            url.to_owned()
        }
        Scheme::HttpSignature => {
            return sign_http_signature(&key, token, method, url, headers, body);
        }
    };
    Prepared { method: method.to_owned(), url, headers, body }
}

/// Signs a request with RFC 9421 as a client with a private key (or any signer) would.
pub fn sign_with(
    signer: &dyn MessageSigner,
    token: &str,
    method: &str,
    url: &str,
    body: Option<String>,
) -> Prepared {
    let mut headers = vec![];
    if body.is_some() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    sign_http_signature(signer, token, method, url, headers, body)
}

/// Adds `Host`, `Content-Digest` (with a body) and the signature of `signer` (its `alg`
/// stated) over method, authority, path, query and digest, with a nonce.
fn sign_http_signature(
    signer: &dyn MessageSigner,
    token: &str,
    method: &str,
    url: &str,
    mut headers: Vec<(String, String)>,
    body: Option<String>,
) -> Prepared {
    let now = signing_ms();
    let body_bytes = body.clone().unwrap_or_default().into_bytes();
    let (origin, target) = split_url(url);
    let host = origin.trim_start_matches("http://").to_owned();
    headers.push(("host".to_owned(), host));
    let mut components = vec!["@method", "@authority", "@path"];
    if target.contains('?') {
        components.push("@query");
    }
    if !body_bytes.is_empty() {
        components.push("content-digest");
        headers.push((
            "content-digest".to_owned(),
            rfc9421::content_digest(&body_bytes, DigestAlgorithm::Sha256),
        ));
    }
    let params = SignatureParams::new(&components, now / 1000, token)
        .unwrap()
        .with_algorithm(Some(signer.algorithm()))
        .unwrap()
        .with_nonce(&format!("{now}-{}", NONCES.fetch_add(1, Ordering::Relaxed)))
        .unwrap();
    let pairs: Vec<(&str, &[u8])> =
        headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
    let view = RequestView::new(method, target, &pairs, &body_bytes);
    let signature = rfc9421::sign(&view, "sig1", &params, signer).unwrap();
    headers.push(("signature-input".to_owned(), signature.signature_input));
    headers.push(("signature".to_owned(), signature.signature));
    Prepared { method: method.to_owned(), url: url.to_owned(), headers, body }
}

/// Makes each nonce of this process unique.
static NONCES: AtomicU64 = AtomicU64::new(0);

fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").unwrap() + 3;
    let path_start = url[after_scheme..].find('/').map_or(url.len(), |i| i + after_scheme);
    (&url[..path_start], &url[path_start..])
}

pub async fn send(client: &reqwest::Client, request: Prepared) -> (u16, Value) {
    let (status, _, body) = exchange(client, request).await;
    (status, body)
}

/// Sends `request`: its status, the response headers and the JSON body (null if none).
pub async fn exchange(
    client: &reqwest::Client,
    request: Prepared,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut builder = client.request(request.method.parse().unwrap(), &request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = request.body {
        builder = builder.body(body);
    }
    let response = builder.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl Prepared {
    /// The same request, as a copy (a replay).
    pub fn again(&self) -> Prepared {
        Prepared {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
        }
    }
}

/// Sends raw bytes on a fresh connection and reads the whole response (until the server closes
/// or a complete response with a length has arrived), within 10 s.
pub async fn raw(server: &TestServer, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_response(&mut stream).await
}

/// Reads one whole response from `stream`, within 10 s.
pub async fn read_response(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buffer[..n]);
            if complete(&response) {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server answered within 10 s");
    String::from_utf8_lossy(&response).into_owned()
}

/// Whether `response` holds a whole response with a Content-Length body.
fn complete(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
    let length = head.lines().find_map(|line| {
        line.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
    });
    length.is_some_and(|length| body.len() >= length)
}

/// The status of a raw response.
pub fn status(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

/// The JSON body of a raw response.
pub fn error_body(response: &str) -> Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// A header's value in a raw response.
pub fn header<'r>(response: &'r str, name: &str) -> Option<&'r str> {
    let head = response.split_once("\r\n\r\n").map_or(response, |(head, _)| head);
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The configuration block that follows `<!-- tested: NAME -->` in docs/gateway.md, so that the
/// tests run the configurations the guide gives.
pub fn guide_block(name: &str) -> String {
    guide_block_in("gateway.md", name)
}

/// The code block after `<!-- tested: NAME -->` in `docs/<doc>`.
pub fn guide_block_in(doc: &str, name: &str) -> String {
    let path = format!("{}/../../docs/{doc}", env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(&path).unwrap();
    let marker = format!("<!-- tested: {name} -->");
    let start = guide.find(&marker).unwrap_or_else(|| panic!("docs/{doc} has no {marker}"));
    let block = &guide[start..];
    let block = &block[block.find("```").unwrap()..];
    let block = &block[block.find('\n').unwrap() + 1..];
    block[..block.find("```").unwrap()].to_owned()
}

/// Runs `examples/python/<script>` with `input` (JSON) on stdin: its exit status, and its
/// stdout followed by its stderr.
pub fn python(script: &str, args: &[&str], input: &Value) -> (bool, String) {
    use std::io::Write;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/python");
    let mut child = std::process::Command::new("python3")
        .arg(dir.join(script))
        .args(args)
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.success(), format!("{stdout}{stderr}"))
}
