//! `/probio/...`: provisioning, Devo style. Signed requests only (header-hmac or
//! http-signature; the auth layer for these routes refuses the other schemes).
//!
//! Reseller credentials manage the reseller's domains: create, list, show, disable and
//! re-enable them (named `name@reseller`), create a domain's first administrator, issue and
//! revoke its API keys. Domain credentials manage the calling domain's users and keys through
//! the same handlers as `/api/admin/...`. A reseller never reaches another reseller's domains:
//! every lookup is scoped by the caller's reseller, and every handler asks [`authorize`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_store::{Domain, KeyOwner, Permissions, State as AccountState};
use serde::Deserialize;

use super::keys::{KeyChangeInput, NewKeyInput, created};
use super::users::checked_credentials;
use crate::AppState;
use crate::auth::{Principal, RequestId};
use crate::authz::{Action, Target, authorize};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiPath, Payload};
use crate::openapi::{AuthFailures, ErrorBody};
use crate::views::{Data, DomainView, KeyView, UserView};

/// The caller's reseller, when the caller may provision its domains (code 17 for domain
/// credentials).
fn reseller_of(principal: &Principal) -> Result<i64, ApiError> {
    let reseller = principal.reseller_id.ok_or_else(|| {
        ApiError::new(ErrorCode::WrongKeyKind).with_message(
            "This route needs reseller credentials (x-logtrust-reseller-apikey), not domain credentials",
        )
    })?;
    authorize(principal, Action::ProvisionDomains, &Target::reseller(reseller))?;
    Ok(reseller)
}

/// The caller's domain named `name` (`acme` or `acme@reseller`).
async fn own_domain(
    state: &AppState,
    principal: &Principal,
    name: &str,
) -> Result<Domain, ApiError> {
    let reseller = state.store.reseller(reseller_of(principal)?).await?;
    let full =
        if name.contains('@') { name.to_owned() } else { format!("{name}@{}", reseller.name) };
    Ok(state.store.domain_of(reseller.id, &full).await?)
}

/// Checks that the caller may perform `action` on a key or user of `domain` holding
/// `permissions`.
fn in_domain(
    principal: &Principal,
    action: Action,
    domain: &Domain,
    permissions: Permissions,
) -> Result<(), ApiError> {
    let target = Target::in_reseller_domain(domain.reseller_id, domain.id, permissions);
    authorize(principal, action, &target)
}

/// A domain's short name: lower-case letters, digits, `.`, `-`, `_`; 1 to 63 characters.
fn checked_domain_name(name: &str) -> Result<String, ApiError> {
    let valid = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-_".contains(&c))
        && name.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if valid {
        Ok(name.to_owned())
    } else {
        Err(ApiError::invalid_field(
            "name",
            "a domain name has 1 to 63 lower-case letters, digits, '.', '-' or '_', starting with a letter or digit",
        ))
    }
}

/// `GET /probio/domains`: the caller's domains.
#[utoipa::path(
    get,
    path = "/probio/domains",
    tag = "provisioning",
    summary = "The reseller's domains. Reseller credentials.",
    responses((status = 200, description = "{data: [domain]}", body = Data<Vec<DomainView>>), AuthFailures),
)]
pub async fn list_domains(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<DomainView>>>, ApiError> {
    let domains = state.store.domains_of(reseller_of(&principal)?).await?;
    Ok(Data::of(domains.iter().map(DomainView::of).collect()))
}

/// A new domain.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDomainInput {
    name: Option<String>,
}

/// `POST /probio/domains` with `{"name": "acme"}`: creates `acme@<reseller>`.
#[utoipa::path(
    post,
    path = "/probio/domains",
    tag = "provisioning",
    summary = "Create domain name@reseller. Reseller credentials.",
    request_body = NewDomainInput,
    responses((status = 201, description = "{data: domain}", body = Data<DomainView>), (status = 409, description = "Name taken (41)", body = ErrorBody), AuthFailures),
)]
pub async fn create_domain(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    Payload(input): Payload<NewDomainInput>,
) -> Result<(StatusCode, Json<Data<DomainView>>), ApiError> {
    let reseller = state.store.reseller(reseller_of(&principal)?).await?;
    let name = input.name.ok_or_else(|| ApiError::invalid_field("name", "name is required"))?;
    let name = checked_domain_name(&name)?;
    let domain = state.store.create_domain(&principal.actor(&request_id), &reseller, &name).await?;
    Ok((StatusCode::CREATED, Data::of(DomainView::of(&domain))))
}

/// `GET /probio/domains/{name}`.
#[utoipa::path(
    get,
    path = "/probio/domains/{name}",
    tag = "provisioning",
    summary = "One of the reseller's domains.",
    params(("name" = String, Path, description = "Short or full domain name")),
    responses((status = 200, description = "{data: domain}", body = Data<DomainView>), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn show_domain(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Data<DomainView>>, ApiError> {
    let domain = own_domain(&state, &principal, &name).await?;
    Ok(Data::of(DomainView::of(&domain)))
}

async fn set_state(
    state: &AppState,
    principal: &Principal,
    request_id: &str,
    name: &str,
    to: AccountState,
) -> Result<Json<Data<DomainView>>, ApiError> {
    let domain = own_domain(state, principal, name).await?;
    let actor = principal.actor(request_id);
    let domain = state.store.set_domain_state(&actor, domain.reseller_id, domain.id, to).await?;
    Ok(Data::of(DomainView::of(&domain)))
}

/// `POST /probio/domains/{name}/disable`: refuses the domain's keys and tokens from the next
/// request on, in every scheme. Nothing is deleted.
#[utoipa::path(
    post,
    path = "/probio/domains/{name}/disable",
    tag = "provisioning",
    summary = "Disable a domain: its keys, tokens and logins are refused from the next request.",
    params(("name" = String, Path, description = "Short or full domain name")),
    responses((status = 200, description = "{data: domain}", body = Data<DomainView>), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn disable_domain(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Data<DomainView>>, ApiError> {
    set_state(&state, &principal, &request_id, &name, AccountState::Disabled).await
}

/// `POST /probio/domains/{name}/enable`: restores a disabled domain.
#[utoipa::path(
    post,
    path = "/probio/domains/{name}/enable",
    tag = "provisioning",
    summary = "Re-enable a domain.",
    params(("name" = String, Path, description = "Short or full domain name")),
    responses((status = 200, description = "{data: domain}", body = Data<DomainView>), (status = 404, description = "Not found (40)", body = ErrorBody), AuthFailures),
)]
pub async fn enable_domain(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Data<DomainView>>, ApiError> {
    set_state(&state, &principal, &request_id, &name, AccountState::Active).await
}

/// A domain's first administrator.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdministratorInput {
    username: Option<String>,
    password: Option<String>,
}

/// `POST /probio/domains/{name}/administrator`: a user with every permission.
#[utoipa::path(
    post,
    path = "/probio/domains/{name}/administrator",
    tag = "provisioning",
    summary = "The domain's first administrator, with every permission.",
    params(("name" = String, Path, description = "Short or full domain name")), request_body = AdministratorInput,
    responses((status = 201, description = "{data: user}", body = Data<UserView>), (status = 409, description = "Name taken (41)", body = ErrorBody), AuthFailures),
)]
pub async fn create_administrator(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(name): ApiPath<String>,
    Payload(input): Payload<AdministratorInput>,
) -> Result<(StatusCode, Json<Data<UserView>>), ApiError> {
    let domain = own_domain(&state, &principal, &name).await?;
    in_domain(&principal, Action::ManageUsers, &domain, Permissions::all())?;
    let (username, password) = checked_credentials(input.username, input.password)?;
    let actor = principal.actor(&request_id);
    let user = state
        .store
        .create_user(&actor, domain.id, &username, &password, &Permissions::all())
        .await?;
    Ok((StatusCode::CREATED, Data::of(UserView::of(&user))))
}

/// `GET /probio/domains/{name}/keys`.
#[utoipa::path(
    get,
    path = "/probio/domains/{name}/keys",
    tag = "provisioning",
    summary = "The domain's API keys.",
    params(("name" = String, Path, description = "Short or full domain name")),
    responses((status = 200, description = "{data: [key]}", body = Data<Vec<KeyView>>), AuthFailures),
)]
pub async fn list_domain_keys(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Data<Vec<KeyView>>>, ApiError> {
    let domain = own_domain(&state, &principal, &name).await?;
    in_domain(&principal, Action::ManageKeys, &domain, Permissions::default())?;
    let keys = state.store.api_keys(KeyOwner::Domain(domain.id)).await?;
    Ok(Data::of(keys.iter().map(KeyView::of).collect()))
}

/// `POST /probio/domains/{name}/keys` with a name and permissions: a domain API key, its
/// secret shown this once.
#[utoipa::path(
    post,
    path = "/probio/domains/{name}/keys",
    tag = "provisioning",
    summary = "Issue a domain API key (its secret shown only here).",
    params(("name" = String, Path, description = "Short or full domain name")), request_body = NewKeyInput,
    responses((status = 201, description = "{data: key with token and secret}", body = Data<KeyView>), AuthFailures),
)]
pub async fn issue_domain_key(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath(name): ApiPath<String>,
    Payload(input): Payload<NewKeyInput>,
) -> Result<(StatusCode, Json<Data<KeyView>>), ApiError> {
    let domain = own_domain(&state, &principal, &name).await?;
    // A reseller provisions its domains: any permission keyward knows may be granted.
    let new = input.checked(KeyOwner::Domain(domain.id), &state)?;
    in_domain(&principal, Action::ManageKeys, &domain, new.permissions)?;
    let (key, secret) = state.store.create_api_key(&principal.actor(&request_id), &new).await?;
    Ok(created(&key, secret.as_ref()))
}

/// `PATCH /probio/domains/{name}/keys/{id}`: renames one of the domain's keys or changes its
/// rate limit and credits.
#[utoipa::path(
    patch,
    path = "/probio/domains/{name}/keys/{id}",
    tag = "provisioning",
    summary = "Rename one of the domain's keys or change its permissions, rate limit, credits or policy (each audited).",
    params(("name" = String, Path, description = "Short or full domain name"), ("id" = i64, Path, description = "Key id")),
    request_body = KeyChangeInput,
    responses((status = 200, description = "{data: key}", body = Data<KeyView>), (status = 422, description = "Invalid field (31)", body = ErrorBody), AuthFailures),
)]
pub async fn update_domain_key(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath((name, id)): ApiPath<(String, i64)>,
    Payload(input): Payload<KeyChangeInput>,
) -> Result<Json<Data<KeyView>>, ApiError> {
    let domain = own_domain(&state, &principal, &name).await?;
    let owner = KeyOwner::Domain(domain.id);
    let key = state.store.api_key(owner, id).await?;
    in_domain(&principal, Action::ManageKeys, &domain, key.permissions)?;
    let target =
        |permissions| Target::in_reseller_domain(domain.reseller_id, domain.id, permissions);
    let key = input.apply(&state, &principal, &request_id, (owner, id), target).await?;
    Ok(Data::of(KeyView::of(&key)))
}

/// `DELETE /probio/domains/{name}/keys/{id}`: revokes one of the domain's keys.
#[utoipa::path(
    delete,
    path = "/probio/domains/{name}/keys/{id}",
    tag = "provisioning",
    summary = "Revoke one of the domain's keys.",
    params(("name" = String, Path, description = "Short or full domain name"), ("id" = i64, Path, description = "Key id")),
    responses((status = 200, description = "{data: key}", body = Data<KeyView>), AuthFailures),
)]
pub async fn revoke_domain_key(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ApiPath((name, id)): ApiPath<(String, i64)>,
) -> Result<Json<Data<KeyView>>, ApiError> {
    let domain = own_domain(&state, &principal, &name).await?;
    let owner = KeyOwner::Domain(domain.id);
    let key = state.store.api_key(owner, id).await?;
    in_domain(&principal, Action::ManageKeys, &domain, key.permissions)?;
    let key = state.store.revoke_api_key(&principal.actor(&request_id), owner, id).await?;
    Ok(Data::of(KeyView::of(&key)))
}
