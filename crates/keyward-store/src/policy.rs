//! Key policies: when a key expires, the client networks it may be used from, and the routes
//! and methods it may call. Stored on the key (migration 0006), changed like its limits
//! (audited `key.policy`, told to every node) and checked by keyward-auth on every request the
//! key (or an access token minted from it) makes.

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::error::StoreError;
use crate::model::{Actor, ApiKey, KeyOwner, KeyPolicy, RouteScope};

/// The most network ranges one key may list.
pub const MAX_NETWORKS: usize = 32;
/// The most route scopes one key may list.
pub const MAX_ROUTES: usize = 32;

/// keyward's own route groups, as a route scope names them (`forward-auth`: checks that match
/// no gateway route); a gateway route is named by its prefix (`/orders`), after its host when
/// it has one.
pub const ROUTE_GROUPS: [&str; 4] = ["api", "admin", "provisioning", "forward-auth"];

/// The methods a route scope may name.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Why a policy field is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// A list is longer than its cap.
    TooMany {
        /// The field.
        field: &'static str,
        /// Its cap.
        limit: usize,
    },
    /// A value is not valid; the message says how.
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong, for the user.
        message: String,
    },
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyError::TooMany { field, limit } => write!(f, "{field} lists more than {limit}"),
            PolicyError::Invalid { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for PolicyError {}

fn invalid(field: &'static str, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid { field, message: message.into() }
}

/// An expiry, which must lie after `now_ms`.
pub fn checked_expiry(at_ms: i64, now_ms: i64) -> Result<i64, PolicyError> {
    if at_ms <= now_ms {
        return Err(invalid(
            "expires_at_ms",
            format!("expires_at_ms must lie in the future (the server's time is {now_ms})"),
        ));
    }
    Ok(at_ms)
}

/// Address ranges, read and normalised (`10.1.2.3/8` is `10.0.0.0/8`; a bare address is one
/// host): 1 to [`MAX_NETWORKS`].
pub fn parse_networks(texts: &[String]) -> Result<Vec<IpNet>, PolicyError> {
    let field = "allowed_networks";
    if texts.len() > MAX_NETWORKS {
        return Err(PolicyError::TooMany { field, limit: MAX_NETWORKS });
    }
    if texts.is_empty() {
        return Err(invalid(
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
                    invalid(
                        field,
                        format!(
                            "{text:?} is not an address range like 203.0.113.0/24 or 2001:db8::/32"
                        ),
                    )
                })
        })
        .collect()
}

/// Route scopes, checked: 1 to [`MAX_ROUTES`], each naming a group ([`ROUTE_GROUPS`]) or one of
/// `gateway_routes` (any route starting with `/` when `None`: the routes are not known here),
/// with 1 to 7 known methods (upper-cased) or none (every method).
pub fn checked_routes(
    scopes: Vec<RouteScope>,
    gateway_routes: Option<&[String]>,
) -> Result<Vec<RouteScope>, PolicyError> {
    let field = "allowed_routes";
    if scopes.len() > MAX_ROUTES {
        return Err(PolicyError::TooMany { field, limit: MAX_ROUTES });
    }
    if scopes.is_empty() {
        return Err(invalid(
            field,
            "allowed_routes lists at least one route (null allows every route)",
        ));
    }
    scopes
        .into_iter()
        .map(|scope| {
            let route = scope.route.trim().to_owned();
            let known = ROUTE_GROUPS.contains(&route.as_str())
                || gateway_routes.map_or(route.starts_with('/'), |routes| routes.contains(&route));
            if !known {
                let mut names: Vec<&str> = ROUTE_GROUPS.to_vec();
                names.extend(gateway_routes.unwrap_or_default().iter().map(String::as_str));
                return Err(invalid(
                    field,
                    format!("unknown route {route:?}: use one of {}", names.join(", ")),
                ));
            }
            let methods = scope
                .methods
                .map(|methods| {
                    if methods.is_empty() || methods.len() > METHODS.len() {
                        return Err(invalid(
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
                                false => Err(invalid(
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

impl RouteScope {
    fn allows(&self, route: &str, method: &str) -> bool {
        let method = if method == "HEAD" { "GET" } else { method };
        self.route == route
            && self.methods.as_ref().is_none_or(|methods| methods.iter().any(|m| m == method))
    }
}

impl KeyPolicy {
    /// Whether the policy restricts nothing.
    pub fn is_empty(&self) -> bool {
        self == &KeyPolicy::default()
    }

    /// Whether the key is expired at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_some_and(|at| now_ms >= at)
    }

    /// Whether a request from `address` may use the key (`None`: the address is unknown,
    /// which a restricted key refuses).
    pub fn allows_address(&self, address: Option<std::net::IpAddr>) -> bool {
        match (&self.allowed_networks, address) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(networks), Some(address)) => {
                let address = canonical(address);
                networks.iter().any(|network| network.contains(&address))
            }
        }
    }

    /// Whether the key may call `method` on `route` (a group or a gateway route's prefix).
    pub fn allows_route(&self, route: &str, method: &str) -> bool {
        self.allowed_routes
            .as_ref()
            .is_none_or(|scopes| scopes.iter().any(|scope| scope.allows(route, method)))
    }

    /// The policy in the row's columns.
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        fn json<T: for<'de> Deserialize<'de>>(
            row: &AnyRow,
            column: &str,
        ) -> Result<Option<T>, sqlx::Error> {
            let text: Option<String> = row.try_get(column)?;
            text.map(|text| serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(e.into())))
                .transpose()
        }
        Ok(KeyPolicy {
            expires_at_ms: row.try_get("expires_at_ms")?,
            allowed_networks: json(row, "allowed_networks")?,
            allowed_routes: json(row, "allowed_routes")?,
        })
    }

    /// The audit record's detail.
    pub(crate) fn audit_detail(&self) -> serde_json::Value {
        json!({
            "expires_at_ms": self.expires_at_ms,
            "allowed_networks": self.allowed_networks,
            "allowed_routes": self.allowed_routes,
        })
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as a dual-stack socket reports IPv4
/// clients) as the IPv4 address it is, so IPv4 ranges match it.
fn canonical(address: std::net::IpAddr) -> std::net::IpAddr {
    match address {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, std::net::IpAddr::V4),
        v4 => v4,
    }
}

impl Store {
    /// Sets key `id`'s policy (every field, as given). Audited (`key.policy`); the caches of
    /// every node hear of it.
    pub async fn set_key_policy(
        &self,
        actor: &Actor,
        owner: KeyOwner,
        id: i64,
        policy: &KeyPolicy,
    ) -> Result<ApiKey, StoreError> {
        let detail = policy.audit_detail();
        self.change_key(actor, owner, id, "key.policy", detail, async |conn, _| {
            write_key_policy(conn, id, policy).await
        })
        .await
    }
}

/// Writes a key's policy.
pub(crate) async fn write_key_policy(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    policy: &KeyPolicy,
) -> Result<(), StoreError> {
    let text = |value: Option<serde_json::Value>| value.map(|value| value.to_string());
    sqlx::query(
        "UPDATE api_keys SET expires_at_ms = $1, allowed_networks = $2, allowed_routes = $3 \
         WHERE id = $4",
    )
    .bind(policy.expires_at_ms)
    .bind(text(policy.allowed_networks.as_ref().map(|n| json!(n))))
    .bind(text(policy.allowed_routes.as_ref().map(|r| json!(r))))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_routes_and_expiry_decide_as_documented() {
        let policy = KeyPolicy {
            expires_at_ms: Some(1000),
            allowed_networks: Some(vec![
                "10.0.0.0/8".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ]),
            allowed_routes: Some(vec![
                RouteScope { route: "api".into(), methods: Some(vec!["GET".into()]) },
                RouteScope { route: "/orders".into(), methods: None },
            ]),
        };
        assert!(!policy.expired(999) && policy.expired(1000));
        for (address, allowed) in [
            ("10.1.2.3", true),
            ("::ffff:10.1.2.3", true),
            ("11.0.0.1", false),
            ("2001:db8::7", true),
            ("2001:db9::7", false),
        ] {
            assert_eq!(policy.allows_address(Some(address.parse().unwrap())), allowed, "{address}");
        }
        assert!(!policy.allows_address(None));
        assert!(policy.allows_route("api", "GET") && policy.allows_route("api", "HEAD"));
        assert!(!policy.allows_route("api", "POST") && !policy.allows_route("admin", "GET"));
        assert!(policy.allows_route("/orders", "DELETE"));
        assert!(KeyPolicy::default().allows_route("admin", "POST"));
        assert!(KeyPolicy::default().allows_address(None));
    }
}
