//! Permissions: keyward's own ([`ALL_PERMISSIONS`]), those a deployment declares (the
//! permissions its gateway routes require, [`declare`]), and `*`, every permission including
//! those declared later, which the first administrator holds.
//!
//! A [`Permissions`] is a bit set over one registry of names per process, so copying one
//! (every request does) allocates nothing. The store keeps the names; a name no longer declared
//! is dropped when read, and comes back when it is declared again.
//!
//! # Example
//! ```
//! use keyward_store::{Permissions, declare_permissions};
//! declare_permissions(["orders:read"]).unwrap();
//! let reader = Permissions::parse(&["orders:read", "activities:read"]).unwrap();
//! assert!(reader.has("orders:read"));
//! assert!(Permissions::all().covers(&reader));
//! assert!(!reader.covers(&Permissions::all()));
//! assert_eq!(Permissions::parse(&["orders:delete"]), Err("orders:delete".to_owned()));
//! ```

use std::sync::{LazyLock, RwLock};

use serde::Serialize;

/// The permissions keyward itself defines.
pub const ALL_PERMISSIONS: [&str; 7] = [
    "activities:read",
    "activities:write",
    "keys:manage",
    "keys:reveal",
    "users:manage",
    "audit:read",
    "keys:verify",
];

/// The name that stands for every permission, including those declared later.
pub const EVERY_PERMISSION: &str = "*";

/// The most permissions a process knows (keyward's seven included).
pub const MAX_PERMISSIONS: usize = 127;

/// The bit of `*`.
const EVERY: u128 = 1 << 127;

/// The names, in declaration order; a name's index is its bit. Names are leaked: there are at
/// most [`MAX_PERMISSIONS`], declared at start-up or on a configuration reload.
static REGISTRY: LazyLock<RwLock<Vec<&'static str>>> =
    LazyLock::new(|| RwLock::new(ALL_PERMISSIONS.to_vec()));

fn names() -> std::sync::RwLockReadGuard<'static, Vec<&'static str>> {
    REGISTRY.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why a permission could not be declared.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeclareError {
    /// Not of the form `area:action` with lower-case letters, digits, `.`, `_` or `-`, at most
    /// 64 characters.
    #[error(
        "permission {0:?} is not of the form area:action (lower-case letters, digits, '.', '_', '-'; at most 64 characters)"
    )]
    Malformed(String),
    /// More than [`MAX_PERMISSIONS`] in all.
    #[error("more than {MAX_PERMISSIONS} permissions")]
    TooMany,
}

/// Whether `name` is a well-formed permission name: `area:action`.
fn well_formed(name: &str) -> bool {
    let part = |text: &str| {
        !text.is_empty()
            && text
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c))
    };
    name.len() <= 64
        && name.split_once(':').is_some_and(|(area, action)| part(area) && part(action))
}

/// Declares permissions (a gateway route's, say), so that keys and users can be given them and
/// routes can require them. Declaring a known name again does nothing.
pub fn declare_permissions<'n>(new: impl IntoIterator<Item = &'n str>) -> Result<(), DeclareError> {
    let new: Vec<&str> = new.into_iter().collect();
    if let Some(bad) = new.iter().find(|name| !well_formed(name)) {
        return Err(DeclareError::Malformed((*bad).to_owned()));
    }
    let mut registry = REGISTRY.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    for name in new {
        if registry.contains(&name) {
            continue;
        }
        if registry.len() == MAX_PERMISSIONS {
            return Err(DeclareError::TooMany);
        }
        registry.push(Box::leak(name.to_owned().into_boxed_str()));
    }
    Ok(())
}

/// Every permission this process knows, keyward's first, then in declaration order.
pub fn known_permissions() -> Vec<&'static str> {
    names().clone()
}

/// A set of permissions. Serializes as the sorted list of names (`*` for every permission).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u128);

impl Permissions {
    /// Every permission, including those declared later (`*`).
    pub fn all() -> Self {
        Permissions(EVERY)
    }

    fn bit(name: &str) -> Option<u128> {
        if name == EVERY_PERMISSION {
            return Some(EVERY);
        }
        names().iter().position(|p| *p == name).map(|i| 1 << i)
    }

    /// The given permissions; `Err` names the first one this process does not know.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        names.iter().try_fold(Permissions(0), |set, name| {
            let name = name.as_ref();
            Self::bit(name).map(|bit| Permissions(set.0 | bit)).ok_or_else(|| name.to_owned())
        })
    }

    fn every(&self) -> bool {
        self.0 & EVERY != 0
    }

    /// Whether `permission` is held.
    pub fn has(&self, permission: &str) -> bool {
        self.every() || Self::bit(permission).is_some_and(|bit| self.0 & bit != 0)
    }

    /// Whether every permission of `other` is held here.
    pub fn covers(&self, other: &Permissions) -> bool {
        self.every() || other.0 & !self.0 == 0
    }

    /// The permissions held here or in `other`.
    pub fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }

    /// The permissions held both here and in `other`.
    pub fn intersection(self, other: Permissions) -> Permissions {
        match (self.every(), other.every()) {
            (true, _) => other,
            (_, true) => self,
            _ => Permissions(self.0 & other.0),
        }
    }

    /// The permissions of `other` not held here.
    pub fn missing_from(&self, other: &Permissions) -> Vec<String> {
        if self.every() {
            return Vec::new();
        }
        Permissions(other.0 & !self.0).iter().map(str::to_owned).collect()
    }

    /// The permissions' names, sorted (`*` first when held).
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        let registry = names();
        let mut held: Vec<&'static str> = registry
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| *name)
            .collect();
        held.sort_unstable();
        if self.every() {
            held.insert(0, EVERY_PERMISSION);
        }
        held.into_iter()
    }

    pub(crate) fn to_db(self) -> String {
        serde_json::to_string(&self.iter().collect::<Vec<_>>()).expect("names serialize")
    }

    /// Names this process does not know (no longer declared) are dropped.
    pub(crate) fn from_db(text: &str) -> Self {
        let names: Vec<String> = serde_json::from_str(text).unwrap_or_default();
        Permissions(names.iter().filter_map(|name| Self::bit(name)).fold(0, |set, bit| set | bit))
    }
}

impl std::fmt::Debug for Permissions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for Permissions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_covers_those_declared_later() {
        let admin = Permissions::all();
        declare_permissions(["later:read"]).unwrap();
        let later = Permissions::parse(&["later:read"]).unwrap();
        assert!(admin.covers(&later) && admin.has("later:read"));
        assert!(!later.covers(&admin));
        assert_eq!(later.missing_from(&admin), ["*"]);
        assert_eq!(admin.intersection(later), later);
        assert_eq!(Permissions::from_db(&admin.to_db()), admin);
    }

    #[test]
    fn only_well_formed_names_are_declared() {
        for bad in ["", "read", "Orders:read", "a:b:c", ":x", "x:", "a b:c", &"a".repeat(70)] {
            assert!(declare_permissions([bad]).is_err(), "{bad:?}");
        }
        assert!(declare_permissions(["billing.v2:read-all", "billing.v2:read-all"]).is_ok());
    }

    #[test]
    fn undeclared_names_are_refused_and_dropped_when_read() {
        assert_eq!(Permissions::parse(&["nope:never"]), Err("nope:never".to_owned()));
        let read = Permissions::from_db(r#"["activities:read","nope:never"]"#);
        assert_eq!(read.iter().collect::<Vec<_>>(), ["activities:read"]);
    }
}
