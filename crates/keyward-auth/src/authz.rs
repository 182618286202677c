//! The one authorization rule for administration: who may act on which key or user.
//!
//! An actor may list, create, change, rotate, reveal, revoke or disable a key or user only
//!
//! 1. within its own domain (a domain principal), or within its reseller's domains (a reseller
//!    key, which provisions them);
//! 2. holding the permission the action needs (`keys:manage`, `keys:reveal`, `users:manage`);
//! 3. when every permission the target holds, or is to hold, is one the actor holds too.
//!
//! A reseller key holds every permission over its reseller's domains: it is their provisioner.
//! An administrator holding every permission may therefore act on everything in its domain;
//! a key manager holding less cannot rotate, reveal or revoke a stronger key (and use its new
//! secret), nor can a user manager set the password of, disable or demote a stronger user.
//! Every admin and provisioning handler asks [`authorize`]; nothing else decides.
//!
//! # Example
//! ```
//! use keyward_auth::{Identity, Principal};
//! use keyward_auth::authz::{Action, Target, authorize};
//! use keyward_store::Permissions;
//! let manager = Principal {
//!     scheme: keyward_sig::Scheme::Bearer,
//!     identity: Identity::User { id: 2, username: "kim".into() },
//!     domain_id: Some(1),
//!     reseller_id: None,
//!     permissions: Permissions::parse(&["keys:manage", "activities:read"]).unwrap(),
//!     access_token: None,
//! };
//! let weaker = Target::in_domain(1, Permissions::parse(&["activities:read"]).unwrap());
//! let stronger = Target::in_domain(1, Permissions::all());
//! assert!(authorize(&manager, Action::ManageKeys, &weaker).is_ok());
//! assert!(authorize(&manager, Action::ManageKeys, &stronger).is_err());
//! ```

use keyward_store::Permissions;
use serde_json::json;

use crate::error::{ApiError, ErrorCode};
use crate::principal::Principal;

/// What an actor wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// List, show, create, rename, regenerate, rotate or revoke API keys: `keys:manage`.
    ManageKeys,
    /// Read a key's secret: `keys:reveal`.
    RevealKey,
    /// List, show, create or change users: `users:manage`.
    ManageUsers,
    /// Create, list, disable or enable a reseller's domains: reseller credentials.
    ProvisionDomains,
    /// Ask whether a key or access token of the domain is valid (`POST /api/keys/verify`):
    /// `keys:verify`.
    VerifyKeys,
}

impl Action {
    /// The permission a domain principal needs, if any.
    fn permission(self) -> Option<&'static str> {
        match self {
            Action::ManageKeys => Some("keys:manage"),
            Action::RevealKey => Some("keys:reveal"),
            Action::ManageUsers => Some("users:manage"),
            Action::ProvisionDomains => None,
            Action::VerifyKeys => Some("keys:verify"),
        }
    }
}

/// What the action touches: a domain (or a reseller's domains), and the permissions of the
/// key or user concerned (or the union of what it holds and will hold).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    domain_id: Option<i64>,
    reseller_id: Option<i64>,
    permissions: Permissions,
}

impl Target {
    /// A key or user of domain `domain_id` holding `permissions` (none, for a listing).
    pub fn in_domain(domain_id: i64, permissions: Permissions) -> Self {
        Target { domain_id: Some(domain_id), reseller_id: None, permissions }
    }

    /// A key or user of domain `domain_id` of reseller `reseller_id`, holding `permissions`:
    /// what provisioning acts on.
    pub fn in_reseller_domain(reseller_id: i64, domain_id: i64, permissions: Permissions) -> Self {
        Target { domain_id: Some(domain_id), reseller_id: Some(reseller_id), permissions }
    }

    /// The domains of reseller `reseller_id` themselves.
    pub fn reseller(reseller_id: i64) -> Self {
        Target {
            domain_id: None,
            reseller_id: Some(reseller_id),
            permissions: Permissions::default(),
        }
    }
}

/// Decides whether `actor` may perform `action` on `target` (see the module docs). Refuses
/// with code 17 (wrong kind of key), 20 (permission) or 40 (a target outside the actor's
/// domain is answered as not found, so its existence is not revealed).
pub fn authorize(actor: &Principal, action: Action, target: &Target) -> Result<(), ApiError> {
    let (authority, within) = match (actor.reseller_id, actor.domain_id) {
        // A reseller key: every permission over its reseller's domains.
        (Some(reseller), _) => (Permissions::all(), target.reseller_id == Some(reseller)),
        (None, Some(domain)) => {
            if action == Action::ProvisionDomains {
                return Err(ApiError::new(ErrorCode::WrongKeyKind).with_message(
                    "This route needs reseller credentials (x-logtrust-reseller-apikey), not domain credentials",
                ));
            }
            (actor.permissions, target.domain_id == Some(domain) && target.reseller_id.is_none())
        }
        (None, None) => return Err(ApiError::new(ErrorCode::WrongKeyKind)),
    };
    if !within {
        return Err(ApiError::new(ErrorCode::NotFound));
    }
    if let Some(permission) = action.permission() {
        if !authority.has(permission) {
            return Err(ApiError::permission_denied(permission));
        }
    }
    let beyond = authority.missing_from(&target.permissions);
    if !beyond.is_empty() {
        return Err(ApiError::new(ErrorCode::PermissionDenied)
            .with_message("The target holds, or would hold, permissions the caller does not hold")
            .with_detail(json!({ "not_held": beyond })));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Identity;

    fn principal(domain: Option<i64>, reseller: Option<i64>, permissions: &[&str]) -> Principal {
        Principal {
            scheme: keyward_sig::Scheme::Bearer,
            identity: Identity::User { id: 1, username: "a".into() },
            domain_id: domain,
            reseller_id: reseller,
            permissions: Permissions::parse(permissions).unwrap(),
            access_token: None,
        }
    }

    fn code(result: Result<(), ApiError>) -> Option<u16> {
        result.err().map(|error| error.code.number())
    }

    #[test]
    fn domain_principals_act_on_weaker_or_equal_targets_of_their_domain_only() {
        let kim = principal(Some(1), None, &["keys:manage", "activities:read"]);
        let read = Permissions::parse(&["activities:read"]).unwrap();
        let equal = Permissions::parse(&["keys:manage", "activities:read"]).unwrap();
        assert_eq!(code(authorize(&kim, Action::ManageKeys, &Target::in_domain(1, read))), None);
        assert_eq!(code(authorize(&kim, Action::ManageKeys, &Target::in_domain(1, equal))), None);
        let all = Target::in_domain(1, Permissions::all());
        assert_eq!(code(authorize(&kim, Action::ManageKeys, &all)), Some(20));
        assert_eq!(code(authorize(&kim, Action::RevealKey, &Target::in_domain(1, read))), Some(20));
        assert_eq!(
            code(authorize(&kim, Action::ManageUsers, &Target::in_domain(1, read))),
            Some(20)
        );
        assert_eq!(
            code(authorize(&kim, Action::ManageKeys, &Target::in_domain(2, read))),
            Some(40)
        );
        assert_eq!(code(authorize(&kim, Action::ProvisionDomains, &Target::reseller(1))), Some(17));
        let admin = principal(Some(1), None, &["*"]);
        assert_eq!(code(authorize(&admin, Action::ManageUsers, &all)), None);
    }

    #[test]
    fn reseller_keys_provision_their_own_domains_only() {
        let reseller = principal(None, Some(7), &[]);
        let all = Permissions::all();
        let own = Target::in_reseller_domain(7, 3, all);
        assert_eq!(code(authorize(&reseller, Action::ManageUsers, &own)), None);
        assert_eq!(
            code(authorize(&reseller, Action::ProvisionDomains, &Target::reseller(7))),
            None
        );
        let other = Target::in_reseller_domain(8, 4, all);
        assert_eq!(code(authorize(&reseller, Action::ManageKeys, &other)), Some(40));
        assert_eq!(
            code(authorize(&reseller, Action::ProvisionDomains, &Target::reseller(8))),
            Some(40)
        );
        // Domain routes need domain credentials.
        let domain_route = Target::in_domain(3, Permissions::default());
        assert_eq!(code(authorize(&reseller, Action::ManageKeys, &domain_route)), Some(40));
    }
}
