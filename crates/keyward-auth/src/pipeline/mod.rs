//! The authentication pipeline: one path from a request to a [`Principal`] or a [`Refusal`],
//! one phase per module.
//!
//! ```text
//! credentials ── parse once, headers and target only (keyward-sig), or the console cookie;
//!                the scheme, against the route group's list
//! lookup      ── memory, else one single-flight load from the store
//! body        ── only for schemes that sign it, after the key and clock checks
//! verify      ── once (again only after a reload, for a key changed elsewhere)
//! policy      ── the key's policy: expiry, client address, route
//! replay      ── first use, or the same request when the mode allows it
//! limits      ── every rate limit that applies (key, user, route), then a credit if the
//!                key has a quota
//! admitted    ── the [`Principal`], and the [`AnswerTags`] its answer carries
//! ```
//!
//! Each phase either hands the next what it learned or refuses with a stable reason, built by
//! what is known so far ([`Known`]); the chain fails closed (a request that claims no
//! credentials is refused). Every caller (the API's [`AuthLayer`](crate::AuthLayer), the
//! gateway, forward-auth) ends in the same exit, [`authenticate`]: the verification timed by
//! scheme, a refusal logged once on the `keyward::auth` target.

mod body;
mod credentials;
mod limits;
mod lookup;
mod policy;
mod replay;
mod verify;

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use keyward_sig::{Principal as Verified, RequestView, Scheme, Verifier, VerifyError};
use keyward_store::{StoreError, TokenSubject};

use crate::cache::{CredentialCache, KeyHandle, TokenHandle};
use crate::error::ApiError;
use crate::policy::TrustedProxies;
use crate::principal::{Identity, Principal};
use crate::rate_limit::{Allowance, RateLimiter, RouteLimit};
use crate::replay::ReplayGuard;
use crate::usage::Counted;

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
/// then refused with code 26, never verified against a body it has not seen, and told what to
/// do instead behind that proxy (the hint, in the message).
#[derive(Clone, Copy, Debug)]
pub struct BodyWithheld(pub &'static str);

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
    /// The request's count in its key's usage, made when dropped: accepted, unless the
    /// caller refuses it after all ([`Counted::refuse`]). None for a user's request.
    pub usage: Option<Counted>,
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
/// who is calling, or the refusal; either way timed by scheme, a refusal logged, and counted
/// in the key's usage, once.
pub async fn authenticate(
    settings: &AuthSettings,
    request: Request<Body>,
    now_ms: i64,
) -> Result<(Request<Body>, Admitted), Refusal> {
    let started = std::time::Instant::now();
    let mut decided = phases(settings, request, now_ms).await;
    let scheme = match &decided {
        Ok((_, admitted)) => Some(admitted.principal.scheme),
        Err(refusal) => refusal.scheme,
    };
    settings.cache.meters().verified(scheme, started.elapsed().as_secs_f64());
    let usage = settings.cache.usage();
    match &mut decided {
        Ok((_, admitted)) => {
            let principal = &admitted.principal;
            tracing::debug!(target: "keyward::auth", granted = true, scheme = %principal.scheme, identity = ?principal.identity);
            if let Identity::Key { id, .. } = principal.identity {
                admitted.usage = Some(usage.admitted(id, &settings.route, now_ms));
            }
        }
        Err(refusal) => {
            refusal.log();
            if let Some(id) = refusal.key_id {
                usage.count(id, &settings.route, Some(refusal.error.code), now_ms);
            }
        }
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
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let view = RequestView::with_header_map(parts.method.as_str(), target, &parts.headers, b"")
        .with_uri_scheme(parts.uri.scheme_str().unwrap_or(settings.uri_scheme));
    let presented = credentials::read(settings, &view, &parts)?;
    let scheme = presented.scheme();
    let mut found = lookup::find(settings, &presented, now_ms).await?;
    let known = Known { scheme: Some(scheme), key_id: found.key.as_ref().map(|key| key.0.key.id) };
    let (body, bytes) =
        body::read(settings, &presented, &found, known, &parts, body, now_ms).await?;
    let verified = verify::verify(settings, &presented, &mut found, known, &bytes, now_ms).await?;
    drop(presented);
    let expires_at_ms = policy::check(settings, &verified, &found, known, &parts, now_ms)?;
    replay::check(settings, &verified, known, &parts, now_ms).await?;
    let verified = verified.into_principal();
    let allowance =
        limits::apply(settings, &verified, known, &parts.method, expires_at_ms, now_ms).await?;
    if let Verified::ApiKey { key, .. } = &verified {
        settings.cache.record_use(&key.0, now_ms);
    }
    let principal = principal(scheme, verified);
    let allowance = Some(allowance).filter(|allowance| !allowance.is_empty());
    let tags = AnswerTags { scheme: Some(scheme), allowance };
    let admitted = Admitted { principal, tags, usage: None };
    Ok((Request::from_parts(parts, body.unwrap_or_else(|| Body::from(bytes))), admitted))
}

/// What a refusal knows of the request so far: its scheme and key, once recognised. Every
/// refusal after the credentials are read is built here.
#[derive(Clone, Copy)]
struct Known {
    scheme: Option<Scheme>,
    key_id: Option<i64>,
}

impl Known {
    fn scheme(scheme: Scheme) -> Self {
        Known { scheme: Some(scheme), key_id: None }
    }

    fn refuse(self, error: ApiError, reason: &'static str) -> Refusal {
        self.refuse_with(error, reason, None)
    }

    /// A refusal with the rate limits' headers.
    fn refuse_with(
        self,
        error: ApiError,
        reason: &'static str,
        allowance: Option<Allowance>,
    ) -> Refusal {
        self.tag(Refusal { allowance: allowance.map(Box::new), ..Refusal::new(error, reason) })
    }

    /// A verification failure.
    fn failed(self, error: VerifyError) -> Refusal {
        Refusal::verify(error, self.scheme, self.key_id)
    }

    /// A refusal made elsewhere, with what is known.
    fn tag(self, refusal: Refusal) -> Refusal {
        Refusal { scheme: self.scheme, key_id: self.key_id, ..refusal }
    }
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
