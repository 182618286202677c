//! `/api/admin/keys`: the caller's domain's API keys, DevResults style.
//!
//! Every handler asks [`authorize`]: a caller acts only on keys whose permissions it holds
//! itself (a key never holds more than its creator, and a key manager cannot rotate, reveal or
//! revoke a stronger key). The secret is shown in full on creation and rotation, and to
//! `keys:reveal`. The store tells the credential cache what each change invalidates.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_sig::certificate::CertificateBinding;
use keyward_sig::mac::HMAC_SHA256;
use keyward_sig::public_key::{Algorithm, PublicKey};
use keyward_store::{
    ApiKey, KeyLimits, KeyOwner, MAX_PERMISSIONS, NewApiKey, NewPublicKey, Permissions, Secret,
};
use serde::Deserialize;
use serde_json::json;

use super::policy::{PolicyChange, PolicyInput, RouteScopeInput, not_own_policy};
use super::quotas::{
    CreditsInput, RateLimitInput, changed_key_limits, new_key_limits, not_own_limits, present,
};
use crate::AppState;
use crate::auth::{Identity, Principal, RequestId};
use crate::authz::{Action, Target, authorize};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiPath, Payload, RawBody, optional_payload, required_text};
use crate::openapi::{AuthFailures, ErrorBody};
use crate::views::{Data, KeyView, RevealedView};

/// The caller's domain's keys, when the caller may perform `action` on a key holding
/// `permissions` there.
pub(super) fn own_keys(
    principal: &Principal,
    action: Action,
    permissions: Permissions,
) -> Result<KeyOwner, ApiError> {
    let domain = principal.domain()?;
    authorize(principal, action, &Target::in_domain(domain, permissions))?;
    Ok(KeyOwner::Domain(domain))
}

/// The caller's domain's key `id`, when the caller may perform `action` on it.
async fn own_key(
    state: &AppState,
    principal: &Principal,
    action: Action,
    id: i64,
) -> Result<KeyOwner, ApiError> {
    let owner = KeyOwner::Domain(principal.domain()?);
    let key = state.store.api_key(owner, id).await?;
    own_keys(principal, action, key.permissions)
}

/// The most permissions a body may list (as many as a process can know): a longer list is
/// refused before it is read through.
const MAX_LISTED_PERMISSIONS: usize = MAX_PERMISSIONS;

/// Checks that requested permissions are ones keyward knows.
pub(crate) fn known(requested: &[String]) -> Result<Permissions, ApiError> {
    if requested.len() > MAX_LISTED_PERMISSIONS {
        return Err(ApiError::new(ErrorCode::TooManyItems)
            .with_message("Too many permissions listed")
            .with_detail(json!({ "field": "permissions", "limit": MAX_LISTED_PERMISSIONS })));
    }
    Permissions::parse(requested).map_err(|unknown| {
        ApiError::invalid_field("permissions", format!("unknown permission {unknown:?}"))
    })
}

/// A new key's name, permissions and limits, and for a public-key credential its public key.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyInput {
    name: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
    /// `api-key` for a plain API key: one value (`kwapi_…`, in the answer's `key`, shown only
    /// there), sent as `Authorization: Bearer` or `X-API-Key`, and nothing to sign with;
    /// `hmac` for a token and a secret [default: `hmac`, or what `public_key` or
    /// `certificate` make it].
    #[serde(rename = "type")]
    #[schema(value_type = Option<String>)]
    key_type: Option<NewKeyType>,
    /// A public key (PEM `-----BEGIN PUBLIC KEY-----` or a JWK, as text): the key then signs
    /// RFC 9421 requests with its private key, which keyward never sees, and has no secret
    /// [default: none, the key gets a secret].
    public_key: Option<String>,
    /// A client certificate (PEM) the key is pinned to, by the SHA-256 of its DER: a request
    /// over a TLS connection that presented it is this key (the `mtls` scheme), and the key has
    /// no secret [default: none].
    certificate: Option<String>,
    /// A subject alternative name (a DNS name, a URI such as a SPIFFE ID): any client
    /// certificate from the trusted CA (`--tls-client-ca`) that carries it is this key (the
    /// `mtls` scheme); no secret either [default: none].
    certificate_subject: Option<String>,
    /// The public key's algorithm: `ed25519`, `ecdsa-p256-sha256`, `ecdsa-p384-sha384`,
    /// `rsa-pss-sha512` or `rsa-v1_5-sha256` [default: the key's own; RSA keys need it stated].
    algorithm: Option<String>,
    /// When the key stops working, epoch ms [default: never].
    expires_at_ms: Option<i64>,
    /// The client address ranges it may be used from, CIDR [default: any].
    allowed_networks: Option<Vec<String>>,
    /// The routes (and methods) it may call [default: all].
    allowed_routes: Option<Vec<RouteScopeInput>>,
    /// The key's rate limit [default: none].
    rate_limit: Option<RateLimitInput>,
    /// The key's usage quota [default: none].
    credits: Option<CreditsInput>,
}

impl NewKeyInput {
    /// The key asked for, for `owner`, its name and permissions checked (whether the caller
    /// may grant them is [`authorize`]'s to say).
    pub(crate) fn checked(self, owner: KeyOwner, state: &AppState) -> Result<NewApiKey, ApiError> {
        let name = self.name.ok_or_else(|| ApiError::invalid_field("name", "name is required"))?;
        let policy = PolicyInput {
            expires_at_ms: self.expires_at_ms,
            allowed_networks: self.allowed_networks,
            allowed_routes: self.allowed_routes,
        }
        .checked(state.store.now_ms(), &state.gateway.route_names())?;
        let name = required_text("name", &name, 100)?;
        let plain = self.key_type == Some(NewKeyType::ApiKey);
        let certificate = certificate_binding(self.certificate, self.certificate_subject)?;
        if plain && (certificate.is_some() || self.public_key.is_some() || self.algorithm.is_some())
        {
            return Err(ApiError::invalid_field(
                "type",
                "a plain API key (type api-key) has no public key, algorithm or certificate",
            ));
        }
        if certificate.is_some() && (self.public_key.is_some() || self.algorithm.is_some()) {
            return Err(ApiError::invalid_field(
                "certificate",
                "a key verifies with a public key or a client certificate, not both",
            ));
        }
        Ok(NewApiKey {
            policy,
            limits: new_key_limits(self.rate_limit, self.credits)?,
            public_key: new_public_key(self.public_key, self.algorithm.as_deref())?,
            certificate,
            plain,
            ..NewApiKey::new(owner, name, known(&self.permissions)?)
        })
    }
}

/// The types of key a body may ask for by name (a public key or a certificate makes its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum NewKeyType {
    /// A token and a secret.
    Hmac,
    /// A plain API key.
    ApiKey,
}

/// The longest certificate text accepted (a chain of a few certificates).
const MAX_CERTIFICATE_CHARS: usize = 32 * 1024;

/// A new key's client certificate binding: pinned to `certificate` (PEM), or to a subject.
fn certificate_binding(
    certificate: Option<String>,
    subject: Option<String>,
) -> Result<Option<CertificateBinding>, ApiError> {
    match (certificate, subject) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::invalid_field(
            "certificate_subject",
            "a key is pinned to a certificate or bound to a subject, not both",
        )),
        (Some(pem), None) => {
            if pem.len() > MAX_CERTIFICATE_CHARS {
                return Err(ApiError::invalid_field(
                    "certificate",
                    format!("certificate is longer than {MAX_CERTIFICATE_CHARS} characters"),
                ));
            }
            CertificateBinding::pinned_to(&pem)
                .map(Some)
                .map_err(|error| ApiError::invalid_field("certificate", error.to_string()))
        }
        (None, Some(name)) => CertificateBinding::subject(&name)
            .map(Some)
            .map_err(|error| ApiError::invalid_field("certificate_subject", error.to_string())),
    }
}

/// The longest public key text accepted (a 4096-bit RSA key takes about 800 characters).
const MAX_PUBLIC_KEY_CHARS: usize = 16 * 1024;

/// A new key's public key, read and checked against its stated algorithm.
fn new_public_key(
    text: Option<String>,
    algorithm: Option<&str>,
) -> Result<Option<NewPublicKey>, ApiError> {
    let algorithm = match algorithm {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Some(algorithm) => Some(algorithm),
            None if name == HMAC_SHA256 && text.is_none() => None,
            None => {
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                return Err(ApiError::invalid_field(
                    "algorithm",
                    format!(
                        "unknown algorithm {name:?}; public keys use one of {}",
                        names.join(", ")
                    ),
                ));
            }
        },
    };
    let Some(text) = text else {
        return match algorithm {
            Some(_) => Err(ApiError::invalid_field(
                "public_key",
                "an asymmetric algorithm needs the public_key it verifies with",
            )),
            None => Ok(None),
        };
    };
    if text.chars().count() > MAX_PUBLIC_KEY_CHARS {
        return Err(ApiError::invalid_field(
            "public_key",
            format!("public_key is longer than {MAX_PUBLIC_KEY_CHARS} characters"),
        ));
    }
    let key = PublicKey::parse(&text, algorithm)
        .map_err(|error| ApiError::invalid_field("public_key", error.to_string()))?;
    Ok(Some(NewPublicKey { text: text.trim().to_owned(), key }))
}

/// `POST /api/admin/keys`: answers 201 with the key, its token and its secret.
#[utoipa::path(
    post,
    path = "/keys",
    tag = "keys",
    summary = "Create an API key; the answer holds its token and secret, or for type api-key its key (shown only here). Needs keys:manage; never more permissions than the caller holds.",
    request_body = NewKeyInput,
    responses((status = 201, description = "{data: key with token and secret}", body = Data<KeyView>), (status = 422, description = "Invalid field (31)", body = ErrorBody), AuthFailures),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    Payload(input): Payload<NewKeyInput>,
) -> Result<(StatusCode, Json<Data<KeyView>>), ApiError> {
    let owner = own_keys(&principal, Action::ManageKeys, Permissions::default())?;
    let new = input.checked(owner, &state)?;
    own_keys(&principal, Action::ManageKeys, new.permissions)?;
    let (key, secret) = state.store.create_api_key(&principal.actor(&request_id), &new).await?;
    Ok(created(&key, secret.as_ref()))
}

/// A new key's answer: 201 with the key, its token and its secret (shown this once; none for a
/// public-key credential).
pub(crate) fn created(key: &ApiKey, secret: Option<&Secret>) -> (StatusCode, Json<Data<KeyView>>) {
    (StatusCode::CREATED, Data::of(KeyView::with_secret(key, secret)))
}

/// `GET /api/admin/keys`.
#[utoipa::path(
    get,
    path = "/keys",
    tag = "keys",
    summary = "The domain's API keys. Needs keys:manage.",
    responses((status = 200, description = "{data: [key]}", body = Data<Vec<KeyView>>), AuthFailures),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<KeyView>>>, ApiError> {
    let owner = own_keys(&principal, Action::ManageKeys, Permissions::default())?;
    let keys = state.store.api_keys(owner).await?;
    Ok(Data::of(keys.iter().map(KeyView::of).collect()))
}

/// `GET /api/admin/keys/{id}`.
#[utoipa::path(
    get,
    path = "/keys/{id}",
    tag = "keys",
    summary = "One API key. Needs keys:manage.",
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "{data: key}", body = Data<KeyView>), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<KeyView>>, ApiError> {
    let owner = own_keys(&principal, Action::ManageKeys, Permissions::default())?;
    let key = state.store.api_key(owner, id).await?;
    Ok(Data::of(KeyView::of(&key)))
}

/// A change of name or limits: a field left out stays, `null` removes a limit.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyChangeInput {
    name: Option<String>,
    /// The key's new permissions, all of them (each one the caller holds); access tokens
    /// minted from the key act with them at once.
    permissions: Option<Vec<String>>,
    /// The new rate limit, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimitInput>)]
    rate_limit: Option<Option<RateLimitInput>>,
    /// The new quota, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<CreditsInput>)]
    credits: Option<Option<CreditsInput>>,
    /// The new expiry, epoch ms, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    expires_at_ms: Option<Option<i64>>,
    /// The new client address ranges, or `null` for any.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    allowed_networks: Option<Option<Vec<String>>>,
    /// The new route scopes, or `null` for all.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<RouteScopeInput>>)]
    allowed_routes: Option<Option<Vec<RouteScopeInput>>>,
}

impl KeyChangeInput {
    /// Applies the change to key `id` of `owner` (checked and authorized by the caller, for
    /// the key as it is); `target` names the key holding other permissions, to authorize a
    /// change of them.
    pub(crate) async fn apply(
        self,
        state: &AppState,
        principal: &Principal,
        request_id: &str,
        (owner, id): (KeyOwner, i64),
        target: impl Fn(Permissions) -> Target,
    ) -> Result<ApiKey, ApiError> {
        let name = self.name.map(|name| required_text("name", &name, 100)).transpose()?;
        let permissions = self.permissions.as_deref().map(known).transpose()?;
        let limits_change = self.rate_limit.is_some() || self.credits.is_some();
        let policy_change = PolicyChange {
            expires_at_ms: self.expires_at_ms,
            allowed_networks: self.allowed_networks,
            allowed_routes: self.allowed_routes,
        };
        if name.is_none() && permissions.is_none() && !limits_change && !policy_change.is_some() {
            return Err(ApiError::invalid_field(
                "name",
                "nothing to change: give name, permissions, rate_limit, credits, expires_at_ms, \
                 allowed_networks or allowed_routes",
            ));
        }
        let actor = principal.actor(request_id);
        let mut key = state.store.api_key(owner, id).await?;
        let own = matches!(principal.identity, Identity::Key { id: me, .. } if me == id);
        if let Some(permissions) = permissions {
            if own {
                return Err(ApiError::new(ErrorCode::PermissionDenied)
                    .with_message("A key cannot change its own permissions"));
            }
            authorize(principal, Action::ManageKeys, &target(permissions))?;
            if permissions != key.permissions {
                key = state.store.set_key_permissions(&actor, owner, id, permissions).await?;
            }
        }
        if policy_change.is_some() {
            not_own_policy(own)?;
            let routes = state.gateway.route_names();
            let policy = policy_change.apply(&key.policy, state.store.now_ms(), &routes)?;
            key = state.store.set_key_policy(&actor, owner, id, &policy).await?;
        }
        if limits_change {
            not_own_limits(own)?;
            let current = KeyLimits { rate_limit: key.rate_limit, credits: key.credits };
            let limits = changed_key_limits(current, self.rate_limit, self.credits)?;
            key = state.store.set_key_limits(&actor, owner, id, &limits).await?;
        }
        if let Some(name) = name {
            key = state.store.rename_api_key(&actor, owner, id, &name).await?;
        }
        Ok(key)
    }
}

/// `PATCH /api/admin/keys/{id}` with `{"data": {"name": ..., "rate_limit": ..., "credits": ...}}`.
#[utoipa::path(
    patch,
    path = "/keys/{id}",
    tag = "keys",
    summary = "Rename an API key or change its permissions, rate limit, credits or policy (each audited). Needs keys:manage, every permission the key holds and every one it is to hold; a key cannot change its own permissions, limits or policy.",
    params(("id" = i64, Path, description = "Key id")), request_body = KeyChangeInput,
    responses((status = 200, description = "{data: key}", body = Data<KeyView>), (status = 404, description = "Not found (40)", body = ErrorBody), (status = 422, description = "Invalid field (31)", body = ErrorBody), AuthFailures),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
    Payload(input): Payload<KeyChangeInput>,
) -> Result<Json<Data<KeyView>>, ApiError> {
    let owner = own_key(&state, &principal, Action::ManageKeys, id).await?;
    let domain = principal.domain()?;
    let target = |permissions| Target::in_domain(domain, permissions);
    let key = input.apply(&state, &principal, &request_id, (owner, id), target).await?;
    Ok(Data::of(KeyView::of(&key)))
}

/// `POST /api/admin/keys/{id}/regenerate-token`: the old token is refused from now on.
#[utoipa::path(
    post,
    path = "/keys/{id}/regenerate-token",
    tag = "keys",
    summary = "A new token; the old one, and the access tokens minted from the key, are refused at once. Needs keys:manage and every permission the key holds.",
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "{data: key}", body = Data<KeyView>), (status = 409, description = "Revoked (41)", body = ErrorBody), AuthFailures),
)]
pub async fn regenerate_token(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<KeyView>>, ApiError> {
    let owner = own_key(&state, &principal, Action::ManageKeys, id).await?;
    let key = state.store.regenerate_token(&principal.actor(&request_id), owner, id).await?;
    Ok(Data::of(KeyView::of(&key)))
}

/// Optional rotation settings.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateInput {
    overlap_seconds: Option<i64>,
}

/// `POST /api/admin/keys/{id}/rotate-secret`: a new secret (a plain key: a new key); the
/// previous one keeps verifying for the overlap (`overlap_seconds`, default from the
/// configuration).
#[utoipa::path(
    post,
    path = "/keys/{id}/rotate-secret",
    tag = "keys",
    summary = "A new secret (shown only here), or for a plain API key a new key; the previous one, and the access tokens minted from the key, verify until the overlap ends. Needs keys:manage and every permission the key holds.",
    params(("id" = i64, Path, description = "Key id")), request_body(content = Option<RotateInput>, description = "Optional overlap"),
    responses((status = 200, description = "{data: key with secret}", body = Data<KeyView>), (status = 409, description = "Revoked (41)", body = ErrorBody), AuthFailures),
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
    RawBody(body): RawBody,
) -> Result<Json<Data<KeyView>>, ApiError> {
    let overlap = optional_payload::<RotateInput>(&body)?.and_then(|b| b.overlap_seconds);
    let overlap_ms = match overlap {
        Some(seconds) if !(0..=30 * 86_400).contains(&seconds) => {
            return Err(ApiError::invalid_field(
                "overlap_seconds",
                "overlap_seconds must be 0 to 2592000",
            ));
        }
        Some(seconds) => seconds * 1000,
        None => state.settings.rotation_overlap_ms,
    };
    let owner = own_key(&state, &principal, Action::ManageKeys, id).await?;
    let actor = principal.actor(&request_id);
    let (key, secret) = state.store.rotate_secret(&actor, owner, id, overlap_ms).await?;
    Ok(Data::of(KeyView::with_secret(&key, Some(&secret))))
}

/// `POST /api/admin/keys/{id}/reveal`: the secret, for `keys:reveal` (audited).
#[utoipa::path(
    post,
    path = "/keys/{id}/reveal",
    tag = "keys",
    summary = "The key's secret. Needs keys:reveal and every permission the key holds; audited. A key without a secret (public key, certificate, plain API key) answers 409.",
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "{data: {id, secret}}", body = Data<RevealedView>), (status = 409, description = "No secret to reveal, or revoked (41)", body = ErrorBody), AuthFailures),
)]
pub async fn reveal(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<RevealedView>>, ApiError> {
    let owner = own_key(&state, &principal, Action::RevealKey, id).await?;
    let secret = state.store.reveal_secret(&principal.actor(&request_id), owner, id).await?;
    Ok(Data::of(RevealedView { id, secret: secret.0 }))
}

/// `DELETE /api/admin/keys/{id}`: revokes the key; it is refused from the next request on.
#[utoipa::path(
    delete,
    path = "/keys/{id}",
    tag = "keys",
    summary = "Revoke a key for good, and the access tokens minted from it. Needs keys:manage and every permission the key holds.",
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "{data: key}", body = Data<KeyView>), AuthFailures),
)]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<KeyView>>, ApiError> {
    let owner = own_key(&state, &principal, Action::ManageKeys, id).await?;
    let key = state.store.revoke_api_key(&principal.actor(&request_id), owner, id).await?;
    Ok(Data::of(KeyView::of(&key)))
}
