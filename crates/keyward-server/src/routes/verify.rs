//! `POST /api/keys/verify`: whether a plain API key or an access token an application was sent
//! is valid, and what it may do, for an application that is not behind keyward (a worker, a
//! webhook receiver, a serverless function).
//!
//! The value is checked as a request presenting it as `Authorization: Bearer` would be, by the
//! same pipeline ([`keyward_auth::authenticate`]): revocation, expiry, the key's policy (with the
//! client address the caller names, if any), then its rate limits and credits, which the
//! verification counts against as a request would. Only a value of the caller's own domain is
//! looked at: another domain's is unknown to it, and nothing is counted against it.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Request, header};
use keyward_auth::{Admitted, Allowance, Found, Refusal};
use keyward_sig::{RequestView, VerifyError};
use keyward_store::{Permissions, TokenSubject};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::keys::known;
use crate::AppState;
use crate::auth::{Identity, Principal};
use crate::authz::{Action, Target, authorize};
use crate::error::{ApiError, ErrorCode};
use crate::extract::Payload;
use crate::openapi::{AuthFailures, ErrorBody};
use crate::views::Data;

/// The longest value looked at: keyward's credentials are 41 or 42 characters.
const MAX_VALUE_CHARS: usize = 512;

/// What to verify.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyInput {
    /// The plain API key (`kwapi_...`) or access token (`kwat_...`) the application was sent.
    key: String,
    /// Permissions it must hold [default: none].
    #[serde(default)]
    permissions: Vec<String>,
    /// The address of the client that sent it, for a key whose policy names networks
    /// [default: unknown; such a key is then refused, code 44].
    #[schema(value_type = Option<String>)]
    client_address: Option<IpAddr>,
}

/// A rate limit's state after this verification.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimitState {
    /// Requests per window.
    pub limit: u32,
    /// Requests left in the window now.
    pub remaining: u64,
    /// In how long the window is whole again, ms.
    pub reset_ms: u64,
}

/// The answer: valid, and what the key or token may do; or not, and why.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct VerificationView {
    /// Whether the value is valid and holds every permission asked for.
    pub valid: bool,
    /// Why not: the error code a request with it would get (13 unknown or revoked, 29 expired,
    /// 20 a permission missing, 44 or 45 outside its policy, 11 malformed, 27 rate limited,
    /// 28 credits spent...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Why not, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The permissions asked for that it does not hold (code 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
    /// The scheme it was recognised as: `api-key` or `bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<&'static str>,
    /// The key's id (a plain key, or the key an access token was minted from).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<i64>,
    /// The key's application name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// The user an access token speaks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The permissions it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub permissions: Option<Permissions>,
    /// When it stops being valid, epoch ms (the key's expiry, or the token's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    /// The key's credits left, when it has a quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credits_remaining: Option<i64>,
    /// The tightest rate limit it counted against, when one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitState>,
}

/// `POST /api/keys/verify`.
#[utoipa::path(
    post,
    path = "/api/keys/verify",
    tag = "keys",
    summary = "Whether a plain API key or access token of the caller's domain is valid and holds the permissions asked for; counts against its rate limits and credits as a request would. Needs keys:verify.",
    request_body = VerifyInput,
    responses((status = 200, description = "{data: verification}, valid or not", body = Data<VerificationView>), (status = 422, description = "Invalid field (31)", body = ErrorBody), AuthFailures),
)]
pub async fn verify(
    State(state): State<AppState>,
    principal: Principal,
    Payload(input): Payload<VerifyInput>,
) -> Result<Json<Data<VerificationView>>, ApiError> {
    let domain = principal.domain()?;
    authorize(&principal, Action::VerifyKeys, &Target::in_domain(domain, Permissions::default()))?;
    let required = known(&input.permissions)?;
    if input.key.chars().count() > MAX_VALUE_CHARS {
        return Err(ApiError::invalid_field(
            "key",
            format!("key is longer than {MAX_VALUE_CHARS} characters"),
        ));
    }
    let Ok(request) = presented(&input) else {
        return Ok(Data::of(refused(malformed())));
    };
    let now = state.store.now_ms();
    let found = match owner(&state, request.headers(), now).await {
        Ok(found) => found,
        Err(error) => return Ok(Data::of(refused(error))),
    };
    let settings = &state.verification;
    if let Some(found) = &found {
        if found_domain(found) != Some(domain) {
            // Another domain's credential is unknown to this caller: nothing counted against it.
            let unknown = VerifyError::UnknownKey { key_id: String::new() };
            return Ok(Data::of(refused(unknown.into())));
        }
    }
    let view = match keyward_auth::authenticate(settings, request, now).await {
        Ok((_, admitted)) => admitted_view(admitted, found.as_ref(), required),
        Err(refusal) => refusal_view(refusal),
    };
    Ok(Data::of(view))
}

/// The value as a request would present it: `Authorization: Bearer`, from the client address
/// named, if any.
fn presented(input: &VerifyInput) -> Result<Request<Body>, ()> {
    let value = HeaderValue::try_from(format!("Bearer {}", input.key.trim())).map_err(|_| ())?;
    let mut request = Request::builder()
        .uri("/api/keys/verify")
        .header(header::AUTHORIZATION, value)
        .body(Body::empty())
        .map_err(|_| ())?;
    if let Some(address) = input.client_address {
        request.extensions_mut().insert(ConnectInfo(SocketAddr::new(address, 0)));
    }
    Ok(request)
}

/// The key or token the value names, when it is one keyward knows (from memory, or loaded into
/// it for the pipeline that follows); `None` when it cannot even be parsed (the pipeline then
/// says why).
async fn owner(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    now: i64,
) -> Result<Option<Found>, ApiError> {
    let view = RequestView::with_header_map("GET", "/api/keys/verify", headers, b"");
    let Ok(presented) = state.verification.verifier.parse(&view) else { return Ok(None) };
    let found = state.cache.find(presented.credential(), now).await?;
    Ok(Some(found))
}

/// The domain of what was found (none: unknown).
fn found_domain(found: &Found) -> Option<i64> {
    match (&found.key, &found.token) {
        (Some(key), _) => key.0.key.domain_id,
        (None, Some(token)) => Some(token.0.token.domain_id),
        (None, None) => None,
    }
}

fn malformed() -> ApiError {
    ApiError::new(ErrorCode::MalformedCredentials)
        .with_message("The key cannot be sent in a header: it is no keyward credential")
}

/// A verification that failed with `error`.
fn refused(error: ApiError) -> VerificationView {
    VerificationView {
        valid: false,
        code: Some(error.code.number()),
        message: Some(error.message.unwrap_or_else(|| error.code.message().to_owned())),
        ..VerificationView::default()
    }
}

fn refusal_view(refusal: Refusal) -> VerificationView {
    let mut view = refused(refusal.error);
    view.scheme = refusal.scheme.map(|scheme| scheme.as_str());
    view.key_id = refusal.key_id;
    if let Some(allowance) = refusal.allowance.as_deref() {
        allowed(&mut view, allowance);
    }
    view
}

fn admitted_view(
    mut admitted: Admitted,
    found: Option<&Found>,
    required: Permissions,
) -> VerificationView {
    let principal = admitted.principal;
    let mut view = VerificationView {
        valid: true,
        scheme: Some(principal.scheme.as_str()),
        permissions: Some(principal.permissions),
        ..VerificationView::default()
    };
    match &principal.identity {
        Identity::Key { id, name, .. } => {
            view.key_id = Some(*id);
            view.application = Some(name.clone());
        }
        Identity::User { id, .. } => view.user_id = Some(*id),
    }
    view.expires_at_ms = found.and_then(|found| match (&found.key, &found.token) {
        (Some(key), _) => key.0.key.policy.expires_at_ms,
        (None, Some(token)) => {
            let key_expiry = match &token.0.token.subject {
                TokenSubject::Key(key) => key.policy.expires_at_ms,
                TokenSubject::User(_) => None,
            };
            let token_expiry = token.0.token.expires_at_ms;
            Some(key_expiry.map_or(token_expiry, |key| key.min(token_expiry)))
        }
        (None, None) => None,
    });
    if let Some(allowance) = &admitted.tags.allowance {
        allowed(&mut view, allowance);
    }
    let missing = principal.permissions.missing_from(&required);
    if !missing.is_empty() {
        if let Some(usage) = &mut admitted.usage {
            usage.refuse(ErrorCode::PermissionDenied);
        }
        view.valid = false;
        view.missing = Some(missing);
        view.code = Some(ErrorCode::PermissionDenied.number());
        view.message = Some("The key does not hold every permission asked for".to_owned());
    }
    view
}

/// What the limits said: the credits left, and the tightest rate limit.
fn allowed(view: &mut VerificationView, allowance: &Allowance) {
    view.credits_remaining = allowance.credits_remaining;
    view.rate_limit = allowance.policies.iter().min_by_key(|(_, _, remaining, _)| *remaining).map(
        |(_, limit, remaining, reset)| RateLimitState {
            limit: limit.requests,
            remaining: *remaining,
            reset_ms: reset.saturating_mul(1000),
        },
    );
}
