//! [`AuthLayer`] and [`AuthService`]: verify a request in any scheme before the inner service
//! sees it.

use std::cell::RefCell;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{Request, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use keyward_sig::token::TokenDigest;
use keyward_sig::{
    CredentialLookup, Principal as Verified, RequestView, Scheme, Verifier, VerifyError,
};
use keyward_store::{Clock, TokenSubject};
use tower::{Layer, Service, ServiceExt};

use super::cache::{CredentialCache, KeyHandle, Remembered, TokenHandle};
use super::replay::ReplayGuard;
use super::{Identity, Principal};
use crate::error::{ApiError, ErrorCode};

/// What the auth layer needs, built once at start-up.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// The verifier, with the configured options.
    pub verifier: Verifier,
    /// The credential cache.
    pub cache: CredentialCache,
    /// The replay guard.
    pub replay: ReplayGuard,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The URI scheme clients reach the server with (`http`, or `https` behind a TLS proxy),
    /// for RFC 9421's `@scheme` and `@target-uri`.
    pub uri_scheme: &'static str,
    /// The schemes accepted (all by default).
    pub schemes: Vec<Scheme>,
}

/// Verifies every request; see the module docs of [`crate::auth`].
#[derive(Clone)]
pub struct AuthLayer {
    settings: Arc<AuthSettings>,
    clock: Clock,
}

impl AuthLayer {
    /// A layer with these settings, reading time from `clock`.
    pub fn new(settings: AuthSettings, clock: Clock) -> Self {
        AuthLayer { settings: Arc::new(settings), clock }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, settings: self.settings.clone(), clock: self.clock.clone() }
    }
}

/// The service [`AuthLayer`] wraps around an inner service.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    settings: Arc<AuthSettings>,
    clock: Clock,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this request; a fresh clone stays behind.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let settings = self.settings.clone();
        let now_ms = (self.clock)();
        Box::pin(async move {
            match authenticate(&settings, request, now_ms).await {
                Ok(request) => inner.oneshot(request).await,
                Err(error) => Ok(error.into_response()),
            }
        })
    }
}

/// A credential memory did not hold.
enum CredentialId {
    ApiKey(String),
    AccessToken(TokenDigest),
}

/// Answers the verifier's lookups from memory, noting a credential memory does not hold, so
/// it can be loaded and the request verified again. A known key costs one verification and
/// no I/O.
struct FromMemory<'c> {
    cache: &'c CredentialCache,
    now_ms: i64,
    not_cached: RefCell<Option<CredentialId>>,
    /// The key memory answered with, if any.
    answered: RefCell<Option<KeyHandle>>,
}

impl CredentialLookup for FromMemory<'_> {
    type Key = KeyHandle;
    type Grant = TokenHandle;

    fn api_key(&self, token: &str) -> Option<KeyHandle> {
        match self.cache.cached_key(token, self.now_ms) {
            Remembered::Known(key) => {
                self.answered.replace(Some(key.clone()));
                Some(key)
            }
            Remembered::Unknown => None,
            Remembered::Absent => {
                self.not_cached.replace(Some(CredentialId::ApiKey(token.to_owned())));
                None
            }
        }
    }

    fn access_token(&self, digest: &TokenDigest) -> Option<TokenHandle> {
        match self.cache.cached_token(digest) {
            Remembered::Known(token) => Some(token),
            Remembered::Unknown => None,
            Remembered::Absent => {
                self.not_cached.replace(Some(CredentialId::AccessToken(*digest)));
                None
            }
        }
    }
}

/// Answers the verifier's lookups with the one credential just loaded from the store.
struct Loaded {
    key: Option<KeyHandle>,
    token: Option<TokenHandle>,
}

impl CredentialLookup for Loaded {
    type Key = KeyHandle;
    type Grant = TokenHandle;

    fn api_key(&self, _: &str) -> Option<KeyHandle> {
        self.key.clone()
    }

    fn access_token(&self, _: &TokenDigest) -> Option<TokenHandle> {
        self.token.clone()
    }
}

async fn authenticate(
    settings: &AuthSettings,
    request: Request<Body>,
    now_ms: i64,
) -> Result<Request<Body>, ApiError> {
    let (mut parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, settings.body_limit).await?;
    console_session(&mut parts)?;
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let view = RequestView::with_header_map(parts.method.as_str(), target, &parts.headers, &body)
        .with_uri_scheme(parts.uri.scheme_str().unwrap_or(settings.uri_scheme));

    let scheme = Verifier::detect(&view)?;
    if !settings.schemes.contains(&scheme) {
        let accepted: Vec<&str> = settings.schemes.iter().map(|s| s.as_str()).collect();
        return Err(ApiError::new(ErrorCode::SchemeNotAllowed)
            .with_message(format!(
                "The {scheme} scheme is not accepted here; use {}",
                accepted.join(" or ")
            ))
            .with_detail(serde_json::json!({ "scheme": scheme.as_str(), "accepted": accepted })));
    }
    let refused = |error: VerifyError| {
        tracing::info!(target: "keyward::auth", granted = false, reason = error.code(), scheme = %scheme);
        ApiError::from(error)
    };
    let memory = FromMemory {
        cache: &settings.cache,
        now_ms,
        not_cached: RefCell::new(None),
        answered: RefCell::new(None),
    };
    let verified = match settings.verifier.verify(&view, now_ms, &memory) {
        Ok(verified) => verified,
        Err(error) => {
            let cache = &settings.cache;
            let loaded = match (memory.not_cached.into_inner(), memory.answered.into_inner()) {
                // A credential memory does not hold yet: load it, and verify again.
                (Some(CredentialId::ApiKey(token)), _) => {
                    Loaded { key: cache.load_key(&token, now_ms).await?, token: None }
                }
                (Some(CredentialId::AccessToken(digest)), _) => {
                    Loaded { key: None, token: cache.load_token(&digest).await? }
                }
                // The key may have changed elsewhere (a secret rotated by `keyward admin` or
                // another node): check once against what the store holds now.
                (None, Some(key))
                    if matches!(error, VerifyError::SignatureMismatch { .. })
                        && key.0.may_reload(now_ms) =>
                {
                    Loaded { key: cache.load_key(&key.0.key.token, now_ms).await?, token: None }
                }
                _ => return Err(refused(error)),
            };
            settings.verifier.verify(&view, now_ms, &loaded).map_err(refused)?
        }
    };
    if let Some(replay) = verified.replay_id() {
        if !settings.replay.first_use(&parts.method, replay) {
            tracing::info!(target: "keyward::auth", granted = false, reason = "replayed", scheme = %scheme);
            return Err(ApiError::new(ErrorCode::Replayed));
        }
    }
    let verified = verified.into_principal();
    if let Verified::ApiKey { key, .. } = &verified {
        settings.cache.record_use(&key.0, now_ms);
    }
    let principal = principal(scheme, verified);
    tracing::debug!(target: "keyward::auth", granted = true, scheme = %scheme, identity = ?principal.identity);
    parts.extensions.insert(principal);
    Ok(Request::from_parts(parts, Body::from(body)))
}

/// A console session: when a request carries no credentials but the session cookie, the cookie
/// stands for a bearer token. For methods that change something, the `X-CSRF-Token` header must
/// repeat the CSRF cookie (compared in constant time); see [`crate::console`].
fn console_session(parts: &mut axum::http::request::Parts) -> Result<(), ApiError> {
    use crate::console::{CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, cookie};
    let Some(session) = cookie(&parts.headers, SESSION_COOKIE) else { return Ok(()) };
    let other_credentials = {
        let view = RequestView::with_header_map(
            parts.method.as_str(),
            parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
            &parts.headers,
            b"",
        );
        !matches!(Verifier::detect(&view), Err(VerifyError::NoCredentials))
    };
    if other_credentials {
        return Ok(());
    }
    if !parts.method.is_safe() {
        let expected = cookie(&parts.headers, CSRF_COOKIE).unwrap_or_default();
        let presented = parts.headers.get(CSRF_HEADER).map_or(&b""[..], |v| v.as_bytes());
        if expected.is_empty()
            || !keyward_sig::mac::constant_time_eq(expected.as_bytes(), presented)
        {
            return Err(ApiError::new(ErrorCode::CsrfFailed));
        }
    }
    let bearer = axum::http::HeaderValue::from_str(&format!("Bearer {session}")).map_err(|_| {
        ApiError::new(ErrorCode::MalformedCredentials).with_message("Malformed session cookie")
    })?;
    parts.headers.insert(header::AUTHORIZATION, bearer);
    Ok(())
}

/// Reads the whole body, refusing one larger than `limit` before reading it when its length is
/// declared, and as soon as it passes the limit otherwise.
async fn read_body(
    headers: &axum::http::HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(ErrorCode::BodyTooLarge)
            .with_detail(serde_json::json!({ "limit_bytes": limit }))
    };
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|_| match declared {
        // A declared length within the limit that still failed: the client broke off.
        Some(_) => {
            ApiError::new(ErrorCode::InvalidBody).with_message("Request body could not be read")
        }
        None => too_large(),
    })
}

fn principal(scheme: Scheme, verified: Verified<KeyHandle, TokenHandle>) -> Principal {
    match verified {
        Verified::ApiKey { key, .. } => {
            let key = &key.0.key;
            Principal {
                scheme,
                identity: Identity::Key { id: key.id, name: key.name.clone(), kind: key.kind },
                domain_id: key.domain_id,
                reseller_id: key.reseller_id,
                permissions: key.permissions,
                access_token: None,
            }
        }
        Verified::AccessToken { grant, digest } => {
            let token = &grant.0.token;
            let (identity, permissions) = match &token.subject {
                TokenSubject::User(user) => (
                    Identity::User { id: user.id, username: user.username.clone() },
                    user.permissions,
                ),
                TokenSubject::Key(key) => (
                    Identity::Key { id: key.id, name: key.name.clone(), kind: key.kind },
                    key.permissions,
                ),
            };
            Principal {
                scheme,
                identity,
                domain_id: Some(token.domain_id),
                reseller_id: None,
                permissions,
                access_token: Some(digest),
            }
        }
    }
}
