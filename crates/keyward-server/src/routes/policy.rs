//! Key policies as the API reads and writes them, on keys (`/api/admin/keys`,
//! `/probio/domains/{name}/keys`):
//!
//! ```json
//! "expires_at_ms": 1767225600000,
//! "allowed_networks": ["203.0.113.0/24", "2001:db8::/32"],
//! "allowed_routes": [{"route": "api", "methods": ["GET"]}, {"route": "/orders"}]
//! ```
//!
//! A route is one of keyward's groups (`api`, `admin`, `provisioning`, `forward-auth`) or a
//! configured gateway route (its prefix, after its host when it has one). In a change, a field
//! left out stays as it is and `null` removes it. No key may change its own policy.

use keyward_store::{
    KeyPolicy, PolicyError, RouteScope, checked_expiry, checked_routes, parse_networks,
};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ErrorCode};

/// A route a key may call, and the methods there [default: all].
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteScopeInput {
    /// `api`, `admin`, `provisioning`, `forward-auth`, or a gateway route (`/orders`).
    route: String,
    /// Methods allowed there; `GET` allows `HEAD` too [default: every method].
    methods: Option<Vec<String>>,
}

/// A key policy as a body gives it: each field left out (or null) restricts nothing.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// When the key stops working, epoch ms (in the future).
    pub(crate) expires_at_ms: Option<i64>,
    /// Client address ranges (CIDR, IPv4 or IPv6; a bare address is one host).
    pub(crate) allowed_networks: Option<Vec<String>>,
    /// The routes (and methods) the key may call.
    pub(crate) allowed_routes: Option<Vec<RouteScopeInput>>,
}

/// A refused policy field, as the API answers it (422 code 31, or 400 code 35 for a list
/// past its cap).
fn refused(error: PolicyError) -> ApiError {
    match error {
        PolicyError::TooMany { field, limit } => ApiError::new(ErrorCode::TooManyItems)
            .with_message(format!("Too many items in {field}"))
            .with_detail(json!({ "field": field, "limit": limit })),
        PolicyError::Invalid { field, message } => ApiError::invalid_field(field, message),
    }
}

fn expiry(at_ms: i64, now_ms: i64) -> Result<i64, ApiError> {
    checked_expiry(at_ms, now_ms).map_err(refused)
}

fn networks(texts: Vec<String>) -> Result<Vec<ipnet::IpNet>, ApiError> {
    parse_networks(&texts).map_err(refused)
}

/// Route scopes, each naming a group or one of the configured `gateway_routes`.
fn routes(
    inputs: Vec<RouteScopeInput>,
    gateway_routes: &[String],
) -> Result<Vec<RouteScope>, ApiError> {
    let scopes = inputs
        .into_iter()
        .map(|input| RouteScope { route: input.route, methods: input.methods })
        .collect();
    checked_routes(scopes, Some(gateway_routes)).map_err(refused)
}

impl PolicyInput {
    /// The policy asked for a new key.
    pub(crate) fn checked(
        self,
        now_ms: i64,
        gateway_routes: &[String],
    ) -> Result<KeyPolicy, ApiError> {
        Ok(KeyPolicy {
            expires_at_ms: self.expires_at_ms.map(|at| expiry(at, now_ms)).transpose()?,
            allowed_networks: self.allowed_networks.map(networks).transpose()?,
            allowed_routes: self
                .allowed_routes
                .map(|inputs| routes(inputs, gateway_routes))
                .transpose()?,
        })
    }
}

/// A change of policy: a field left out (`None`) stays, `null` (`Some(None)`) removes.
#[derive(Clone, Debug, Default)]
pub(crate) struct PolicyChange {
    pub(crate) expires_at_ms: Option<Option<i64>>,
    pub(crate) allowed_networks: Option<Option<Vec<String>>>,
    pub(crate) allowed_routes: Option<Option<Vec<RouteScopeInput>>>,
}

impl PolicyChange {
    /// Whether anything is to change.
    pub(crate) fn is_some(&self) -> bool {
        self.expires_at_ms.is_some()
            || self.allowed_networks.is_some()
            || self.allowed_routes.is_some()
    }

    /// `current` with the change applied.
    pub(crate) fn apply(
        self,
        current: &KeyPolicy,
        now_ms: i64,
        gateway_routes: &[String],
    ) -> Result<KeyPolicy, ApiError> {
        Ok(KeyPolicy {
            expires_at_ms: match self.expires_at_ms {
                None => current.expires_at_ms,
                Some(at) => at.map(|at| expiry(at, now_ms)).transpose()?,
            },
            allowed_networks: match self.allowed_networks {
                None => current.allowed_networks.clone(),
                Some(texts) => texts.map(networks).transpose()?,
            },
            allowed_routes: match self.allowed_routes {
                None => current.allowed_routes.clone(),
                Some(inputs) => inputs.map(|inputs| routes(inputs, gateway_routes)).transpose()?,
            },
        })
    }
}

/// Refuses a key changing its own policy.
pub(crate) fn not_own_policy(own: bool) -> Result<(), ApiError> {
    if own {
        return Err(ApiError::new(ErrorCode::PermissionDenied)
            .with_message("A key cannot change its own policy"));
    }
    Ok(())
}
