//! The authentication pipeline: one path from a request to a [`Principal`] or a [`Refusal`].
//!
//! ```text
//! 1 credentials ── parse once, headers and target only (keyward-sig) ── or the console cookie
//! 2 scheme      ── accepted on this route group?
//! 3 lookup      ── memory, else one single-flight load from the store
//! 4 body        ── only for schemes that sign it, after the key and clock checks
//! 5 verify      ── once (again only after a reload, for a key changed elsewhere), then the
//!                  key's policy: expiry, client address, route
//! 6 replay      ── first use, or the same request when the mode allows it
//! 7 limits      ── every rate limit that applies (key, user, route), then a credit if the
//!                  key has a quota
//! 8 admitted    ── the [`Principal`], and the [`AnswerTags`] its answer carries
//! ```
//!
//! Each step either hands the next what it learned or refuses with a stable reason; the chain
//! fails closed (a request that claims no credentials is refused). Every caller (the API's
//! [`AuthLayer`](crate::AuthLayer), the gateway, forward-auth) ends in the same exit: the
//! verification timed by scheme, a refusal logged once on the `keyward::auth` target.

use axum::body::Body;
use axum::http::{Request, header};
use http_body::Body as _;
use std::sync::Arc;

use keyward_sig::{
    CredentialRef, Principal as Verified, RequestView, Scheme, Verifier, VerifyError,
};
use keyward_store::{KeyPolicy, Spend, StoreError, TokenSubject};

use crate::cache::{CredentialCache, KeyHandle, TokenHandle};
use crate::error::{self, ApiError, ErrorCode};
use crate::policy::{self, TrustedProxies};
use crate::principal::{Identity, Principal};
use crate::rate_limit::{Allowance, Limit, Limited, PolicyName, RateLimiter, RouteLimit};
use crate::replay::{ReplayGuard, Reuse};

/// What the auth layer needs, built once at start-up.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// The verifier, with the configured options.
    pub verifier: Verifier,
    /// The credential cache.
    pub cache: CredentialCache,
    /// The replay guard.
    pub replay: ReplayGuard,
    /// The rate-limit counts.
    pub limiter: RateLimiter,
    /// The limit of the gateway route these settings guard, per caller, if it sets one.
    pub route_limit: Option<RouteLimit>,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The URI scheme clients reach the server with (`http`, or `https` behind a TLS proxy),
    /// for RFC 9421's `@scheme` and `@target-uri`.
    pub uri_scheme: &'static str,
    /// The schemes accepted on the routes this layer guards.
    pub schemes: Vec<Scheme>,
    /// Whether the console's session cookie stands for credentials (keyward's own API); the
    /// gateway and forward-auth take only a scheme's credentials.
    pub console_sessions: bool,
    /// The route these settings guard, as key policies name it: `api`, `admin`,
    /// `provisioning`, `forward-auth`, or a gateway route's name.
    pub route: Arc<str>,
    /// The proxies whose forwarding headers name the client, for key policies' address ranges.
    pub trusted_proxies: TrustedProxies,
    /// How long before a key's expiry its answers carry `Keyward-Key-Expires`, in ms.
    pub expiry_warning_ms: i64,
}

/// A request extension saying the request's body is not available to the pipeline (a
/// forward-auth request whose proxy does not forward bodies): a scheme that signs the body is
/// then refused with code 26, never verified against a body it has not seen.
#[derive(Clone, Copy, Debug)]
pub struct BodyWithheld;

/// A request extension naming the method a request is authorized as, when it is not the
/// request's own: the method a method override the route honours names. Key policies decide
/// on it; the replay guard still binds the signature to the request's own method.
#[derive(Clone, Debug)]
pub struct AuthorizedMethod(pub axum::http::Method);

/// A request the pipeline let through: who is calling, and what its answer must carry.
#[derive(Debug)]
pub struct Admitted {
    /// Who is calling.
    pub principal: Principal,
    /// What the answer carries, whatever it is.
    pub tags: AnswerTags,
}

/// What the answer to an authenticated request carries, whatever the answer: the scheme (for
/// the request metrics) and the rate limits' headers.
#[derive(Clone, Debug, Default)]
pub struct AnswerTags {
    /// The scheme, when one was recognised.
    pub scheme: Option<Scheme>,
    /// The rate limits and credits the request counted against.
    pub allowance: Option<Allowance>,
}

impl AnswerTags {
    /// Tags `response`.
    pub fn on(&self, response: &mut axum::response::Response) {
        tag(response, self.scheme, self.allowance.as_ref());
    }
}

fn tag(
    response: &mut axum::response::Response,
    scheme: Option<Scheme>,
    allowance: Option<&Allowance>,
) {
    if let Some(allowance) = allowance {
        allowance.write_headers(response.headers_mut());
    }
    if let Some(scheme) = scheme {
        response.extensions_mut().insert(scheme);
    }
}

/// Why a request was not authenticated: the answer, and what the log says about it.
#[derive(Debug)]
pub struct Refusal {
    /// The answer.
    pub error: ApiError,
    /// A stable reason (`signature-mismatch`, `scheme-not-allowed`, `replayed`...).
    pub reason: &'static str,
    /// The scheme, when one was recognised.
    pub scheme: Option<Scheme>,
    /// The key's id, when the key is known.
    pub key_id: Option<i64>,
    /// The rate limits, when one refused (boxed: refusals stay small).
    pub allowance: Option<Box<Allowance>>,
}

impl Refusal {
    fn new(error: ApiError, reason: &'static str) -> Self {
        Refusal { error, reason, scheme: None, key_id: None, allowance: None }
    }

    /// A verification failure, with what is known of the request.
    fn verify(error: VerifyError, scheme: Option<Scheme>, key_id: Option<i64>) -> Self {
        Refusal { reason: error.code(), error: error.into(), scheme, key_id, allowance: None }
    }

    /// The answer: the error, with the rate-limit headers when a limit refused.
    pub fn into_response(self) -> axum::response::Response {
        use axum::response::IntoResponse;
        let mut response = self.error.into_response();
        tag(&mut response, self.scheme, self.allowance.as_deref());
        response
    }

    pub(crate) fn store(error: StoreError) -> Self {
        let reason = if error.is_unavailable() { "store-unavailable" } else { "store-error" };
        Refusal::new(error.into(), reason)
    }

    /// Logs the refusal: once per refused request, never a secret.
    fn log(&self) {
        tracing::info!(
            target: "keyward::auth",
            granted = false,
            reason = self.reason,
            scheme = self.scheme.map(Scheme::as_str),
            key_id = self.key_id,
        );
    }
}

/// Authenticates `request` at `now_ms`: the request (its body read if the scheme signs it) and
/// who is calling, or the refusal; either way timed by scheme and a refusal logged, once.
pub async fn authenticate(
    settings: &AuthSettings,
    request: Request<Body>,
    now_ms: i64,
) -> Result<(Request<Body>, Admitted), Refusal> {
    let started = std::time::Instant::now();
    let decided = phases(settings, request, now_ms).await;
    let scheme = match &decided {
        Ok((_, admitted)) => Some(admitted.principal.scheme),
        Err(refusal) => refusal.scheme,
    };
    settings.cache.meters().verified(scheme, started.elapsed().as_secs_f64());
    match &decided {
        Ok((_, admitted)) => {
            let principal = &admitted.principal;
            tracing::debug!(target: "keyward::auth", granted = true, scheme = %principal.scheme, identity = ?principal.identity);
        }
        Err(refusal) => refusal.log(),
    }
    decided
}

/// The phases, in order.
async fn phases(
    settings: &AuthSettings,
    request: Request<Body>,
    now_ms: i64,
) -> Result<(Request<Body>, Admitted), Refusal> {
    let (parts, body) = request.into_parts();
    let (method, target) =
        (&parts.method, parts.uri.path_and_query().map_or("/", |pq| pq.as_str()));
    let view = RequestView::with_header_map(method.as_str(), target, &parts.headers, b"")
        .with_uri_scheme(parts.uri.scheme_str().unwrap_or(settings.uri_scheme));

    // 1. The credentials, parsed once; a console session only when there are none.
    let presented = match settings.verifier.parse(&view) {
        Ok(presented) => presented,
        Err(VerifyError::NoCredentials) if settings.console_sessions => {
            let csrf_failed = |_| Refusal::new(ApiError::new(ErrorCode::CsrfFailed), "csrf-failed");
            match console_session(&parts).map_err(csrf_failed)? {
                Some(token) => settings.verifier.console_session(&view, token),
                None => return Err(Refusal::verify(VerifyError::NoCredentials, None, None)),
            }
        }
        Err(error) => return Err(Refusal::verify(error, None, None)),
    };
    let scheme = presented.scheme();

    // 2. The scheme, against this route group's list.
    if !settings.schemes.contains(&scheme) {
        let accepted: Vec<&str> = settings.schemes.iter().map(|s| s.as_str()).collect();
        let error = ApiError::new(ErrorCode::SchemeNotAllowed)
            .with_message(format!(
                "The {scheme} scheme is not accepted here; use {}",
                accepted.join(" or ")
            ))
            .with_detail(serde_json::json!({ "scheme": scheme.as_str(), "accepted": accepted }));
        return Err(Refusal { scheme: Some(scheme), ..Refusal::new(error, "scheme-not-allowed") });
    }

    // A body the pipeline cannot see cannot be verified: refused, whatever the key.
    if presented.reads_body() && parts.extensions.get::<BodyWithheld>().is_some() {
        let error = ApiError::new(ErrorCode::BodyNotForwarded)
            .with_detail(serde_json::json!({ "scheme": scheme.as_str() }));
        return Err(Refusal { scheme: Some(scheme), ..Refusal::new(error, "body-not-forwarded") });
    }

    // 3. The key or token, from memory or one load.
    let cache = &settings.cache;
    let mut found = cache.find(presented.credential(), now_ms).await.map_err(Refusal::store)?;
    // The keys of the other RFC 9421 signatures, when every signature is verified.
    for other in presented.other_credentials() {
        let more = cache.find(other, now_ms).await.map_err(Refusal::store)?;
        found.others.extend(more.key);
    }
    let key_id = found.key.as_ref().map(|key| key.0.key.id);
    let refused = |error| Refusal::verify(error, Some(scheme), key_id);

    // 4. The body, only where the scheme signs it, and only for a known key and a fresh clock.
    let (body, bytes) = match &found.key {
        Some(key) if presented.reads_body() && !has_no_body(&parts, &body) => {
            presented.check_key(key.0.material(), now_ms).map_err(refused)?;
            let bytes = Box::pin(read_body(&parts.headers, body, settings.body_limit))
                .await
                .map_err(|error| Refusal { scheme: Some(scheme), key_id, ..error })?;
            (None, bytes)
        }
        _ => (Some(body), bytes::Bytes::new()),
    };

    // 5. Verification, once; again only against a fresh read of a key that may have changed
    // elsewhere (a secret rotated by `keyward admin` or another node).
    let reloadable = match (presented.credential(), &found.key) {
        (CredentialRef::ApiKey(token), Some(key)) if key.0.may_reload(now_ms) => Some(token),
        _ => None,
    };
    let verified = match (presented.verify(&bytes, now_ms, &found), reloadable) {
        (Err(VerifyError::SignatureMismatch { .. }), Some(token)) => {
            let others = std::mem::take(&mut found.others);
            found = cache.reload_key(token, now_ms).await.map_err(Refusal::store)?;
            found.others = others;
            presented.verify(&bytes, now_ms, &found)
        }
        (result, _) => result,
    }
    .map_err(refused)?;
    drop(presented);
    // The policy of the key the request speaks for, and of every other key that signed it.
    let policy = key_policy(verified.principal()).filter(|policy| !policy.is_empty());
    let others = found.others.iter().map(|key| &key.0.key.policy);
    let authorized = parts.extensions.get::<AuthorizedMethod>().map_or(method, |m| &m.0);
    for policy in policy.into_iter().chain(others).filter(|policy| !policy.is_empty()) {
        let address = settings.trusted_proxies.client_address(&parts);
        let refused =
            policy::refusal(policy, &settings.route, authorized.as_str(), address, now_ms);
        if let Some((error, reason)) = refused {
            return Err(Refusal { scheme: Some(scheme), key_id, ..Refusal::new(error, reason) });
        }
    }
    let expires_at_ms = policy
        .and_then(|policy| policy.expires_at_ms)
        .filter(|at| at.saturating_sub(now_ms) <= settings.expiry_warning_ms);

    // 6. The replay guard: this signature serves this request only. A query-hmac signature
    // covers the query itself (every parameter but `s`), so its request is its method and path;
    // the other schemes are bound to the whole target.
    let bound = if scheme == Scheme::QueryHmac { parts.uri.path() } else { target };
    if let Some(replay) = verified.replay_id() {
        if let Err(reuse) = settings.replay.check_everywhere(replay, method, bound, now_ms).await {
            let (error, reason): (ApiError, &'static str) = match reuse {
                Reuse::SameRequest => (ApiError::new(ErrorCode::Replayed), "replayed"),
                Reuse::OtherRequest => {
                    (ApiError::new(ErrorCode::SignatureReused), "signature-reused")
                }
                Reuse::SharedUnavailable => (
                    ApiError::new(ErrorCode::Unavailable)
                        .with_message(
                            "The shared replay memory (Redis) cannot be reached: signed POST, \
                             PUT, PATCH and DELETE requests are refused until it is back",
                        )
                        .with_retry_after(1),
                    "replay-store-unavailable",
                ),
                Reuse::MemoryFull => {
                    tracing::warn!("replay memory full: new signatures are refused until it frees");
                    (ApiError::new(ErrorCode::Overloaded).with_retry_after(1), "replay-memory-full")
                }
            };
            cache.meters().replay_refused(reason);
            return Err(Refusal { scheme: Some(scheme), key_id, ..Refusal::new(error, reason) });
        }
    }

    // 7. Rate limits, then a credit: only for a request every limit lets through.
    let verified = verified.into_principal();
    let (limits, credited) = limits_of(&verified, settings.route_limit.as_ref());
    let limited = |error: ApiError, reason: &'static str, allowance: Option<Allowance>| Refusal {
        scheme: Some(scheme),
        key_id,
        allowance: allowance.map(Box::new),
        ..Refusal::new(error, reason)
    };
    let mut allowance = Allowance { key_expires_at_ms: expires_at_ms, ..Allowance::default() };
    if !limits.is_empty() {
        allowance = match settings.limiter.check(&limits, method, now_ms).await {
            Ok(allowance) => allowance,
            Err(Limited::Exceeded { policy, retry_after, allowance }) => {
                cache.meters().rate_limited(policy.as_str());
                let error = ApiError::new(ErrorCode::RateLimited)
                    .with_retry_after(retry_after)
                    .with_detail(serde_json::json!({
                        "policy": policy.as_str(),
                        "retry_after_seconds": retry_after,
                    }));
                let allowance = Allowance { key_expires_at_ms: expires_at_ms, ..allowance };
                return Err(limited(error, "rate-limited", Some(allowance)));
            }
            Err(Limited::SharedUnavailable) => {
                cache.meters().rate_limited("shared_unavailable");
                let error = ApiError::new(ErrorCode::Unavailable)
                    .with_message(
                        "The shared rate-limit counts (Redis) cannot be reached: POST, PUT, \
                         PATCH and DELETE requests are refused until they are back",
                    )
                    .with_retry_after(1);
                return Err(limited(error, "rate-limit-store-unavailable", None));
            }
        };
    }
    if let Some(id) = credited {
        match cache.store().spend_credit(id, now_ms).await {
            Ok(Spend::Spent { remaining }) => allowance.credits_remaining = Some(remaining),
            Ok(Spend::Unlimited) => {}
            Ok(Spend::Exhausted { refill_at_ms }) => {
                cache.meters().rate_limited("credits");
                let wait = refill_at_ms
                    .map(|at| u64::try_from((at - now_ms + 999) / 1000).unwrap_or(0).max(1));
                let error = ApiError::new(ErrorCode::CreditsExhausted).with_detail(
                    serde_json::json!({ "refill_at_ms": refill_at_ms, "retry_after_seconds": wait }),
                );
                let error = match wait {
                    Some(seconds) => error.with_retry_after(seconds),
                    None => error,
                };
                allowance.credits_remaining = Some(0);
                return Err(limited(error, "credits-exhausted", Some(allowance)));
            }
            Err(error) => {
                cache.meters().store_failed();
                return Err(Refusal { scheme: Some(scheme), key_id, ..Refusal::store(error) });
            }
        }
    }

    // 8. The principal.
    if let Verified::ApiKey { key, .. } = &verified {
        cache.record_use(&key.0, now_ms);
    }
    let principal = principal(scheme, verified);
    let allowance = Some(allowance).filter(|allowance| !allowance.is_empty());
    let admitted = Admitted { principal, tags: AnswerTags { scheme: Some(scheme), allowance } };
    Ok((Request::from_parts(parts, body.unwrap_or_else(|| Body::from(bytes))), admitted))
}

/// The policy of the key a request speaks for: the key's, or that of the key an access token
/// was minted from.
fn key_policy(verified: &Verified<KeyHandle, TokenHandle>) -> Option<&KeyPolicy> {
    match verified {
        Verified::ApiKey { key, .. } => Some(&key.0.key.policy),
        Verified::AccessToken { grant, .. } => match &grant.0.token.subject {
            TokenSubject::Key(key) => Some(&key.policy),
            TokenSubject::User(_) => None,
        },
    }
}

/// The rate limits a request counts against, and the key whose credits it spends (if the key
/// has a quota): the key's limit, its user's (the token's user, or the key's root user), and
/// the route's, per caller.
fn limits_of(
    verified: &Verified<KeyHandle, TokenHandle>,
    route: Option<&RouteLimit>,
) -> (Vec<Limit>, Option<i64>) {
    let (key, user) = match verified {
        Verified::ApiKey { key, .. } => (Some(&key.0.key), None),
        Verified::AccessToken { grant, .. } => match &grant.0.token.subject {
            TokenSubject::Key(key) => (Some(&**key), None),
            TokenSubject::User(user) => (None, Some(user)),
        },
    };
    let mut limits = Vec::new();
    if let Some(key) = key {
        if let Some(limit) = key.rate_limit {
            limits.push(Limit::new(PolicyName::Key, format!("k:{}", key.id), limit));
        }
        if let (Some(limit), Some(root)) = (key.root_rate_limit, key.root_user_id) {
            limits.push(Limit::new(PolicyName::User, format!("u:{root}"), limit));
        }
    }
    if let Some(limit) = user.and_then(|user| user.rate_limit.map(|limit| (user.id, limit))) {
        limits.push(Limit::new(PolicyName::User, format!("u:{}", limit.0), limit.1));
    }
    if let Some(route) = route {
        let caller = match (key, user) {
            (Some(key), _) => format!("k:{}", key.id),
            (None, Some(user)) => format!("u:{}", user.id),
            (None, None) => String::new(),
        };
        let counter = format!("r:{}:{caller}", route.route);
        limits.push(Limit::new(PolicyName::Route, counter, route.limit));
    }
    let credited = key.filter(|key| key.credits.is_some()).map(|key| key.id);
    (limits, credited)
}

/// Whether the request certainly has no body: its body says so, or its head does. In HTTP/1.x
/// a request has a body only with `Content-Length` above 0 or `Transfer-Encoding` (RFC 9112
/// section 6.3). Asked of the head too because a body wrapped for its read timeout no longer
/// says it is empty.
fn has_no_body(parts: &axum::http::request::Parts, body: &Body) -> bool {
    let length = parts.headers.get(header::CONTENT_LENGTH).map(|v| v.as_bytes());
    body.is_end_stream()
        || length == Some(b"0")
        || (parts.version <= axum::http::Version::HTTP_11
            && length.is_none()
            && !parts.headers.contains_key(header::TRANSFER_ENCODING))
}

/// The console session's access token, when the request carries the session cookie. For
/// methods that change something, the `X-CSRF-Token` header must repeat the CSRF cookie
/// (compared in constant time), or the CSRF check fails (`Err`); see [`crate::session`].
fn console_session(parts: &axum::http::request::Parts) -> Result<Option<&str>, ()> {
    use crate::session::{CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, cookie};
    let Some(session) = cookie(&parts.headers, SESSION_COOKIE) else { return Ok(None) };
    if !parts.method.is_safe() {
        let expected = cookie(&parts.headers, CSRF_COOKIE).unwrap_or_default();
        let presented = parts.headers.get(CSRF_HEADER).map_or(&b""[..], |v| v.as_bytes());
        if expected.is_empty()
            || !keyward_sig::mac::constant_time_eq(expected.as_bytes(), presented)
        {
            return Err(());
        }
    }
    Ok(Some(session))
}

/// Reads the whole body, refusing one larger than `limit` before reading it when its length is
/// declared, and as soon as it passes the limit otherwise.
async fn read_body(
    headers: &axum::http::HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        let error = ApiError::new(ErrorCode::BodyTooLarge)
            .with_detail(serde_json::json!({ "limit_bytes": limit }));
        Refusal::new(error, "body-too-large")
    };
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if error::is_timeout(&error) {
            return Refusal::new(error::body_timeout(), "body-timeout");
        }
        match declared {
            // A declared length within the limit that still failed: the client broke off.
            Some(_) => Refusal::new(
                ApiError::new(ErrorCode::InvalidBody)
                    .with_message("Request body could not be read"),
                "body-unreadable",
            ),
            None => too_large(),
        }
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
