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

use ipnet::IpNet;
use keyward_store::{KeyPolicy, MAX_NETWORKS, MAX_ROUTES, ROUTE_GROUPS, RouteScope};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode};

/// The route groups a scope may name besides gateway routes: keyward's own, and forward-auth
/// checks that match no gateway route.
const GROUPS: [&str; 4] = [ROUTE_GROUPS[0], ROUTE_GROUPS[1], ROUTE_GROUPS[2], "forward-auth"];

/// The methods a scope may name.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

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
pub struct PolicyInput {
    /// When the key stops working, epoch ms (in the future).
    pub(crate) expires_at_ms: Option<i64>,
    /// Client address ranges (CIDR, IPv4 or IPv6; a bare address is one host).
    pub(crate) allowed_networks: Option<Vec<String>>,
    /// The routes (and methods) the key may call.
    pub(crate) allowed_routes: Option<Vec<RouteScopeInput>>,
}

fn too_many(field: &str, limit: usize) -> ApiError {
    ApiError::new(ErrorCode::TooManyItems)
        .with_message(format!("Too many items in {field}"))
        .with_detail(json!({ "field": field, "limit": limit }))
}

/// An expiry, which must lie ahead.
pub(crate) fn expiry(at_ms: i64, now_ms: i64) -> Result<i64, ApiError> {
    if at_ms <= now_ms {
        return Err(ApiError::invalid_field(
            "expires_at_ms",
            format!("expires_at_ms must lie in the future (the server's time is {now_ms})"),
        ));
    }
    Ok(at_ms)
}

/// Address ranges, read and normalised (`10.1.2.3/8` is `10.0.0.0/8`).
pub(crate) fn networks(texts: Vec<String>) -> Result<Vec<IpNet>, ApiError> {
    let field = "allowed_networks";
    if texts.len() > MAX_NETWORKS {
        return Err(too_many(field, MAX_NETWORKS));
    }
    if texts.is_empty() {
        return Err(ApiError::invalid_field(
            field,
            "allowed_networks lists at least one range (null allows every address)",
        ));
    }
    texts
        .iter()
        .map(|text| {
            let text = text.trim();
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map(|network| network.trunc())
                .map_err(|_| {
                    ApiError::invalid_field(
                        field,
                        format!(
                            "{text:?} is not an address range like 203.0.113.0/24 or 2001:db8::/32"
                        ),
                    )
                })
        })
        .collect()
}

/// Route scopes, each naming a group or one of `gateway_routes`.
pub(crate) fn routes(
    inputs: Vec<RouteScopeInput>,
    gateway_routes: &[String],
) -> Result<Vec<RouteScope>, ApiError> {
    let field = "allowed_routes";
    if inputs.len() > MAX_ROUTES {
        return Err(too_many(field, MAX_ROUTES));
    }
    if inputs.is_empty() {
        return Err(ApiError::invalid_field(
            field,
            "allowed_routes lists at least one route (null allows every route)",
        ));
    }
    inputs
        .into_iter()
        .map(|input| {
            let route = input.route.trim().to_owned();
            if !GROUPS.contains(&route.as_str()) && !gateway_routes.contains(&route) {
                let mut known: Vec<&str> = GROUPS.to_vec();
                known.extend(gateway_routes.iter().map(String::as_str));
                return Err(ApiError::invalid_field(
                    field,
                    format!("unknown route {route:?}: use one of {}", known.join(", ")),
                ));
            }
            let methods = input
                .methods
                .map(|methods| {
                    if methods.is_empty() || methods.len() > METHODS.len() {
                        return Err(ApiError::invalid_field(
                            field,
                            "methods lists 1 to 7 methods (leave it out for every method)",
                        ));
                    }
                    methods
                        .iter()
                        .map(|method| {
                            let upper = method.trim().to_ascii_uppercase();
                            match METHODS.contains(&upper.as_str()) {
                                true => Ok(upper),
                                false => Err(ApiError::invalid_field(
                                    field,
                                    format!(
                                        "unknown method {method:?}: use {}",
                                        METHODS.join(", ")
                                    ),
                                )),
                            }
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            Ok(RouteScope { route, methods })
        })
        .collect()
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

/// The policy's fields as a key's JSON shows them (null: no restriction).
pub fn policy_fields(policy: &KeyPolicy, into: &mut Value) {
    into["expires_at_ms"] = json!(policy.expires_at_ms);
    into["allowed_networks"] = json!(policy.allowed_networks);
    into["allowed_routes"] = json!(policy.allowed_routes);
}
