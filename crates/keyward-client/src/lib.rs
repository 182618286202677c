//! keyward-client signs outgoing requests for a keyward server (or any API that verifies the
//! same schemes), logs in for bearer tokens, and corrects for clock skew the way the AWS SDKs
//! do: when the server answers that a request's timestamp is outside its window (code 14), the
//! client learns the offset from the server's time in that answer and retries once. That answer
//! is not authenticated, so the offset it may teach is bounded ([`MAX_CLOCK_OFFSET_MS`] by
//! default, [`Client::with_max_clock_offset`]): a forged answer cannot make the client sign
//! requests dated far in the future, which whoever holds them could replay then.
//!
//! ```text
//! Client::send ─▶ sign (keyward-sig) with now + learned offset ─▶ reqwest ─▶ server
//!      ▲                                                                  │
//!      └──────────── 401, code 14, detail.server_time_ms: learn offset, retry once
//! ```
//!
//! It never logs, and `Debug` never shows a secret or token.
//!
//! # Example
//! ```no_run
//! # async fn run() -> Result<(), keyward_client::ClientError> {
//! use keyward_client::{ApiKey, Auth, Client, Scheme};
//! let key = ApiKey::new("kwkey_...", "kwsec_...");
//! let client = Client::new("https://api.example.com", Auth::Signed { key, scheme: Scheme::HeaderHmac })?;
//! let response = client.send(http::Method::GET, "/api/activities", None).await?;
//! println!("{}", response.status);
//! # Ok(()) }
//! ```

mod responses;
mod sign;

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Once};
use std::time::{SystemTime, UNIX_EPOCH};

pub use keyward_sig::private_key::PrivateKey;
pub use keyward_sig::public_key::{Algorithm, PublicKey};
pub use keyward_sig::rfc9421::VerifiedResponse;
pub use keyward_sig::{KeyKind, Scheme};
use keyward_sig::{RequestView, ResponseView};
pub use responses::{RESPONSE_LABEL, ResponseVerifier};
pub use sign::{sign_http, sign_reqwest};

/// An API key: its token (public) and its secret, or for a public-key credential its private
/// key (which signs RFC 9421 requests only). `Debug` hides both.
#[derive(Clone)]
pub struct ApiKey {
    /// The token (the RFC 9421 `keyid`).
    pub token: String,
    signing: Signing,
    /// Domain or reseller credentials (header-hmac picks its header after it).
    pub kind: KeyKind,
}

/// What signs an [`ApiKey`]'s requests.
#[derive(Clone)]
pub(crate) enum Signing {
    /// The key's secret (HMAC-SHA256, every scheme).
    Secret(String),
    /// The private key of a public-key credential (RFC 9421 only).
    PrivateKey(Arc<PrivateKey>),
}

impl ApiKey {
    /// A domain key.
    pub fn new(token: impl Into<String>, secret: impl Into<String>) -> Self {
        let signing = Signing::Secret(secret.into());
        ApiKey { token: token.into(), signing, kind: KeyKind::Domain }
    }

    /// A public-key credential whose requests `private_key` signs (RFC 9421,
    /// [`Scheme::HttpSignature`], only).
    pub fn with_private_key(token: impl Into<String>, private_key: PrivateKey) -> Self {
        let signing = Signing::PrivateKey(Arc::new(private_key));
        ApiKey { token: token.into(), signing, kind: KeyKind::Domain }
    }

    /// What signs the key's requests.
    pub(crate) fn signing(&self) -> &Signing {
        &self.signing
    }

    /// The same key as reseller credentials.
    pub fn reseller(mut self) -> Self {
        self.kind = KeyKind::Reseller;
        self
    }

    /// The secret; `None` for a public-key credential.
    pub fn secret(&self) -> Option<&str> {
        match &self.signing {
            Signing::Secret(secret) => Some(secret),
            Signing::PrivateKey(_) => None,
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("token", &self.token)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// How a client authenticates.
#[derive(Clone)]
pub enum Auth {
    /// Signs each request with an API key in a signed scheme.
    Signed {
        /// The key.
        key: ApiKey,
        /// query-hmac, header-hmac or http-signature.
        scheme: Scheme,
    },
    /// Sends an access token.
    Bearer(String),
    /// Sends a plain API key (`kwapi_…`, the `api-key` scheme), as `Authorization: Bearer`,
    /// which every keyward accepts whatever its API-key header is named.
    ApiKey(String),
    /// Sends no credentials.
    None,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Signed { key, scheme } => write!(f, "Signed({key:?}, {scheme})"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Auth::None => f.write_str("None"),
        }
    }
}

/// What can go wrong on the client's side. Error statuses are not errors here: they come back
/// as a [`Response`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not a valid absolute http(s) URL.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The request could not be signed.
    #[error("cannot sign the request: {0}")]
    Sign(#[from] keyward_sig::SignError),
    /// The request could not be built (an invalid header, say).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The server could not be reached, or the exchange broke off.
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// Login was refused.
    #[error("login refused: {0}")]
    LoginRefused(String),
    /// The answer's signature is missing, invalid, or not of this request (with
    /// [`Client::verify_responses`]).
    #[error("response signature: {0}")]
    ResponseSignature(String),
    /// The server refused the request itself (not the key it was asked about): the answer's
    /// status and error message.
    #[error("refused ({0}): {1}")]
    Refused(u16, String),
}

/// What `POST /api/keys/verify` says of a key ([`Client::verify_key`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Verification {
    /// Whether the key is valid and holds every permission asked for.
    pub valid: bool,
    /// Why not: the error code a request with the key would get.
    pub code: Option<u16>,
    /// Why not, in words.
    pub message: Option<String>,
    /// The permissions asked for that it lacks.
    pub missing: Option<Vec<String>>,
    /// The key's id.
    pub key_id: Option<i64>,
    /// The key's application name.
    pub application: Option<String>,
    /// The user an access token speaks for.
    pub user_id: Option<i64>,
    /// The permissions it holds.
    pub permissions: Option<Vec<String>>,
    /// When it stops being valid, epoch ms.
    pub expires_at_ms: Option<i64>,
    /// Its credits left, when it has a quota.
    pub credits_remaining: Option<i64>,
}

/// A response: status, headers, body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status.
    pub status: http::StatusCode,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The answer's verified signature, with [`Client::verify_responses`].
    pub signature: Option<VerifiedResponse>,
}

impl Response {
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// keyward's error code, for an error response.
    pub fn error_code(&self) -> Option<u64> {
        self.json()?.get("error")?.get("code")?.as_u64()
    }
}

/// The largest clock offset a client learns from a server's answer by default: one hour. A
/// local clock further off than that must be fixed, not worked around.
pub const MAX_CLOCK_OFFSET_MS: i64 = 3_600_000;

/// A client for one server, with one way of authenticating.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    auth: Auth,
    /// Server time minus local time, learned from the server (ms).
    clock_offset_ms: AtomicI64,
    /// The largest offset learned, either way (ms).
    max_clock_offset_ms: i64,
    /// The last timestamp signed with (ms).
    last_signed_ms: AtomicI64,
    /// How answers' signatures are checked, when they are.
    responses: Option<ResponseVerifier>,
}

/// How far ahead of the clock a client's timestamps may run to stay unique (ms).
const MAX_TIMESTAMP_LEAD_MS: i64 = 1_000;

/// The local clock, epoch milliseconds.
pub fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // rustls with ring: no C toolchain beyond what ring needs, no system TLS library.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Client {
    /// A client for the server at `base` (e.g. `https://api.example.com`).
    pub fn new(base: &str, auth: Auth) -> Result<Self, ClientError> {
        install_crypto();
        let base =
            url::Url::parse(base).map_err(|e| ClientError::InvalidUrl(format!("{base}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::InvalidUrl(format!("{base}: expected http or https")));
        }
        let http = reqwest::Client::builder().no_proxy().build()?;
        Ok(Client {
            http,
            base,
            auth,
            clock_offset_ms: AtomicI64::new(0),
            max_clock_offset_ms: MAX_CLOCK_OFFSET_MS,
            last_signed_ms: AtomicI64::new(i64::MIN),
            responses: None,
        })
    }

    /// The same client, asking for signed answers (`Accept-Signature`) and accepting only those
    /// `verifier` verifies: an unsigned, tampered or replayed answer is then
    /// [`ClientError::ResponseSignature`].
    pub fn verify_responses(mut self, verifier: ResponseVerifier) -> Self {
        self.responses = Some(verifier);
        self
    }

    /// The response key the server publishes at `/.well-known/keyward/response-keys`. Fetched
    /// over the same connection as the API: pin it (keep it, and build the verifier with
    /// [`ResponseVerifier::new`]) where the first fetch cannot be trusted.
    pub async fn published_response_key(&self) -> Result<ResponseVerifier, ClientError> {
        let url = self.url("/.well-known/keyward/response-keys")?;
        let response = self.http.get(url).send().await?;
        if !response.status().is_success() {
            return Err(ClientError::ResponseSignature(format!(
                "the server publishes no response key (HTTP {})",
                response.status()
            )));
        }
        let published: serde_json::Value = response.json().await?;
        ResponseVerifier::from_published(&published)
    }

    /// The same client, learning clock offsets of at most `max_ms` either way (0: never).
    pub fn with_max_clock_offset(mut self, max_ms: i64) -> Self {
        self.max_clock_offset_ms = max_ms.max(0);
        self
    }

    /// The time to sign a request with: the clock plus the learned offset, and never the same
    /// as the previous request's. The vendor schemes sign neither method nor path, so two
    /// requests with the same body (header-hmac) or query (query-hmac) signed in one millisecond
    /// would carry one signature, and the server would refuse the second as a reuse. Past a
    /// thousand requests a second the timestamps would run ahead of the clock; they are kept
    /// within a second of it (a rare collision then is retried, see [`Client::send`]).
    pub fn timestamp(&self) -> i64 {
        let now = now_ms().saturating_add(self.clock_offset_ms());
        let mut last = self.last_signed_ms.load(Ordering::Relaxed);
        loop {
            let next = now.max(last.saturating_add(1));
            let next = if next - now > MAX_TIMESTAMP_LEAD_MS { now } else { next };
            match self.last_signed_ms.compare_exchange_weak(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// Server time minus local time, as learned from the server (0 until it corrects us).
    pub fn clock_offset_ms(&self) -> i64 {
        self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// The absolute URL of `path` (which may carry a query).
    pub fn url(&self, path: &str) -> Result<url::Url, ClientError> {
        self.base.join(path).map_err(|e| ClientError::InvalidUrl(format!("{path}: {e}")))
    }

    /// Sends a request with `body` (JSON when given), signed for this client's credentials. A
    /// timestamp refusal (code 14) teaches the client the server's clock (within the bound),
    /// and the request is signed anew and sent once more; so is a request refused because its
    /// signature was already used for another request (code 24: another request of this client
    /// signed the same bytes), which the server did not act on.
    pub async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ClientError> {
        self.send_with_headers(method, path, body, &[]).await
    }

    /// [`Client::send`] with extra headers.
    pub async fn send_with_headers(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(String, String)],
    ) -> Result<Response, ClientError> {
        let first = self.send_once(method.clone(), path, body.clone(), headers).await?;
        if first.status == http::StatusCode::UNAUTHORIZED && first.error_code() == Some(24) {
            return self.send_once(method, path, body, headers).await;
        }
        if first.status == http::StatusCode::UNAUTHORIZED && first.error_code() == Some(14) {
            let offset = first
                .json()
                .and_then(|v| v["error"]["detail"]["server_time_ms"].as_i64())
                .map(|server_ms| server_ms.saturating_sub(now_ms()))
                .filter(|offset| offset.unsigned_abs() <= self.max_clock_offset_ms.unsigned_abs());
            if let Some(offset) = offset {
                self.clock_offset_ms.store(offset, Ordering::Relaxed);
                return self.send_once(method, path, body, headers).await;
            }
        }
        Ok(first)
    }

    async fn send_once(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(String, String)],
    ) -> Result<Response, ClientError> {
        let url = self.url(path)?;
        let mut request = reqwest::Request::new(method, url);
        for (name, value) in headers {
            let name = http::HeaderName::try_from(name.as_str()).map_err(|_| {
                ClientError::InvalidRequest(format!("invalid header name {name:?}"))
            })?;
            let value = http::HeaderValue::try_from(value.as_str()).map_err(|_| {
                ClientError::InvalidRequest(format!("invalid value for header {name}"))
            })?;
            request.headers_mut().append(name, value);
        }
        if let Some(body) = body {
            if !request.headers().contains_key(http::header::CONTENT_TYPE) {
                request.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
            }
            *request.body_mut() = Some(body.into());
        }
        let nonce = self.responses.as_ref().map(|verifier| {
            let nonce = responses::nonce(now_ms());
            (verifier.accept_signature(&nonce), nonce)
        });
        if let Some((accept, _)) = &nonce {
            let value = http::HeaderValue::try_from(accept.as_str())
                .map_err(|_| ClientError::InvalidRequest("invalid Accept-Signature".into()))?;
            request.headers_mut().insert("accept-signature", value);
        }
        match &self.auth {
            Auth::Signed { key, scheme } => {
                sign_reqwest(&mut request, *scheme, key, self.timestamp())?
            }
            Auth::Bearer(token) | Auth::ApiKey(token) => {
                let mut value =
                    http::HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
                        ClientError::InvalidRequest(
                            "the access token or API key is not a valid header value".into(),
                        )
                    })?;
                value.set_sensitive(true);
                request.headers_mut().insert(http::header::AUTHORIZATION, value);
            }
            Auth::None => {}
        }
        let (method, target, mut sent) = (
            request.method().clone(),
            match request.url().query() {
                Some(query) => format!("{}?{query}", request.url().path()),
                None => request.url().path().to_owned(),
            },
            request.headers().clone(),
        );
        // The `Host` the HTTP client will send, for the answer's `"@authority";req`.
        if let (false, Some(host)) =
            (sent.contains_key(http::header::HOST), request.url().host_str())
        {
            let host = match request.url().port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            };
            if let Ok(value) = http::HeaderValue::try_from(host) {
                sent.insert(http::header::HOST, value);
            }
        }
        let response = self.http.execute(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        let signature = match (&self.responses, &nonce) {
            (Some(verifier), Some((_, nonce))) => {
                let request = RequestView::with_header_map(method.as_str(), &target, &sent, b"");
                let answer = ResponseView::with_header_map(status.as_u16(), &headers, &body);
                let now = now_ms().saturating_add(self.clock_offset_ms());
                Some(verifier.verify(&request, &answer, nonce, now)?)
            }
            _ => None,
        };
        Ok(Response { status, headers, body, signature })
    }

    /// Asks the server whether `key` (a plain API key, `kwapi_...`, or an access token an
    /// application was sent) is valid and holds `permissions`; this client's credentials need
    /// `keys:verify`. The verification counts against the key's rate limits and credits.
    pub async fn verify_key(
        &self,
        key: &str,
        permissions: &[&str],
    ) -> Result<Verification, ClientError> {
        let body = serde_json::json!({ "data": { "key": key, "permissions": permissions } });
        let body = body.to_string().into_bytes();
        let response = self.send(http::Method::POST, "/api/keys/verify", Some(body)).await?;
        let json = response.json().unwrap_or_default();
        if !response.status.is_success() {
            let message = json["error"]["message"].as_str().unwrap_or("no error message");
            return Err(ClientError::Refused(response.status.as_u16(), message.to_owned()));
        }
        serde_json::from_value(json["data"].clone())
            .map_err(|error| ClientError::Refused(response.status.as_u16(), error.to_string()))
    }

    /// Logs in with a user's name and password, or a key's token and secret, at `base`; returns
    /// the access token.
    pub async fn login(base: &str, username: &str, password: &str) -> Result<String, ClientError> {
        let client = Client::new(base, Auth::None)?;
        let body = serde_json::json!({ "UserName": username, "Password": password }).to_string();
        let response =
            client.send(http::Method::POST, "/api/login", Some(body.into_bytes())).await?;
        let json = response.json().unwrap_or_default();
        match json["access_token"].as_str() {
            Some(token) if response.status.is_success() => Ok(token.to_owned()),
            _ => Err(ClientError::LoginRefused(
                json["error"]["message"]
                    .as_str()
                    .unwrap_or("no access token in the answer")
                    .to_owned(),
            )),
        }
    }
}
