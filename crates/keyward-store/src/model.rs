//! The records the store keeps, as callers see them. No record type holds a secret in a field
//! that `Debug` prints.

use std::fmt;

use ipnet::IpNet;
use keyward_sig::KeyKind;
use serde::{Deserialize, Serialize};

pub use crate::permissions::Permissions;

/// Whether a domain or user is usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// In use.
    Active,
    /// Refused everywhere until enabled again; nothing is deleted.
    Disabled,
}

impl State {
    pub(crate) fn as_db(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Disabled => "disabled",
        }
    }

    pub(crate) fn from_db(text: &str) -> Self {
        if text == "active" { State::Active } else { State::Disabled }
    }
}

/// A reseller: owns domains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reseller {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
}

/// A domain: a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Domain {
    /// Id.
    pub id: i64,
    /// The owning reseller.
    pub reseller_id: i64,
    /// Unique name.
    pub name: String,
    /// Active or disabled.
    pub state: State,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
}

/// A person who can log in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// Id.
    pub id: i64,
    /// The user's domain.
    pub domain_id: i64,
    /// Unique user name.
    pub username: String,
    /// What the user may do.
    pub permissions: Permissions,
    /// Active or disabled.
    pub state: State,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
    /// The rate limit on every request the user makes, with their access tokens or with any
    /// key rooted in them.
    pub rate_limit: Option<RateLimit>,
}

/// A rate limit: a burst of `requests`, then one request every `window_ms / requests` (GCRA:
/// never more than `requests` in a burst, and `requests` per window on average).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// Requests per window, 1 or more.
    pub requests: u32,
    /// The window, in ms.
    pub window_ms: u64,
}

/// A key's usage quota: credits spent one per accepted request; none left, refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Credits {
    /// Credits left (when read).
    pub remaining: i64,
    /// How the credits are set back, if they are.
    pub refill: Option<Refill>,
}

/// Credits set back to `amount` every `interval_ms` (not added to what is left).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Refill {
    /// The credits after a refill.
    pub amount: i64,
    /// How often, in ms.
    pub interval_ms: i64,
}

/// Whether an API key is usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Verifies.
    Active,
    /// Refused for good.
    Revoked,
}

/// An API key: an application's credentials. The secret is not here; see
/// [`crate::Store::reveal_secret`]. A public-key credential has no secret: its public key is
/// here, and is not secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// Id.
    pub id: i64,
    /// Domain or reseller credentials.
    #[serde(serialize_with = "serialize_kind")]
    pub kind: KeyKind,
    /// The domain, for domain keys.
    pub domain_id: Option<i64>,
    /// The reseller, for reseller keys.
    pub reseller_id: Option<i64>,
    /// The application's name.
    pub name: String,
    /// The token (public identifier; the RFC 9421 `keyid`).
    pub token: String,
    /// The algorithm its signatures are made with: `hmac-sha256` for a key with a secret, the
    /// public key's otherwise (`ed25519`, `ecdsa-p256-sha256`...).
    pub algorithm: String,
    /// The public key (PEM or JWK, as given), for a public-key credential.
    pub public_key: Option<String>,
    /// The client certificate it is bound to, for an `mtls` credential.
    #[serde(skip)]
    pub certificate: Option<keyward_sig::certificate::CertificateBinding>,
    /// What the key may do.
    pub permissions: Permissions,
    /// The user who created it.
    pub created_by_user_id: Option<i64>,
    /// The key that created it.
    pub created_by_key_id: Option<i64>,
    /// The user at its root: its creator, or its creating key's root. The key acts with at
    /// most what this user holds now, and not while this user is disabled. `None` for keys
    /// issued by a reseller or an operator.
    pub root_user_id: Option<i64>,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
    /// Last successful use, epoch ms.
    pub last_used_at_ms: Option<i64>,
    /// Until when the previous secret still verifies, during a rotation.
    pub previous_secret_until_ms: Option<i64>,
    /// Active or revoked.
    pub state: KeyState,
    /// The rate limit on requests made with the key (and the access tokens minted from it).
    pub rate_limit: Option<RateLimit>,
    /// The key's usage quota.
    pub credits: Option<Credits>,
    /// Its expiry, client networks and routes.
    pub policy: KeyPolicy,
    /// The rate limit of the key's root user, which the key's requests count against too
    /// (only on keys read for verification; see the store's `effective_key`).
    #[serde(skip)]
    pub root_rate_limit: Option<RateLimit>,
}

fn serialize_kind<S: serde::Serializer>(kind: &KeyKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

/// A key's secret, shown once on creation and rotation, and to `keys:reveal`. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What the credential cache needs to verify a key: its secrets unsealed or its public key
/// parsed, its owner and rights.
#[derive(Clone, Debug)]
pub struct KeyCredentials {
    /// The key.
    pub key: ApiKey,
    /// What verifies its signatures.
    pub verification: KeyVerification,
}

impl KeyCredentials {
    /// The current secret, for a key with one.
    pub fn secret(&self) -> Option<&Secret> {
        match &self.verification {
            KeyVerification::Secret { current, .. } => Some(current),
            KeyVerification::PublicKey(_)
            | KeyVerification::Certificate(_)
            | KeyVerification::Plain => None,
        }
    }

    /// The previous secret, while a rotation's overlap lasts.
    pub fn previous_secret(&self) -> Option<&Secret> {
        match &self.verification {
            KeyVerification::Secret { previous, .. } => previous.as_ref(),
            KeyVerification::PublicKey(_)
            | KeyVerification::Certificate(_)
            | KeyVerification::Plain => None,
        }
    }
}

/// What verifies a key's signatures.
#[derive(Clone, Debug)]
pub enum KeyVerification {
    /// A shared secret (HMAC), with the previous one while a rotation's overlap lasts.
    Secret {
        /// The current secret.
        current: Secret,
        /// The previous secret, while the rotation overlap lasts.
        previous: Option<Secret>,
    },
    /// A public key, parsed.
    PublicKey(Box<keyward_sig::public_key::PublicKey>),
    /// The client certificate the key is bound to (the `mtls` scheme).
    Certificate(keyward_sig::certificate::CertificateBinding),
    /// A plain API key (the `api-key` scheme), found by its value's digest, which is the proof.
    Plain,
}

/// Who an access token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSubject {
    /// A user who logged in with a password.
    User(User),
    /// An API key that logged in with its token and secret.
    Key(Box<ApiKey>),
}

/// A live access token, found by its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    /// Who it speaks for.
    pub subject: TokenSubject,
    /// The domain.
    pub domain_id: i64,
    /// Expiry, epoch ms.
    pub expires_at_ms: i64,
    /// The SHA-256 of the client certificate it is bound to (RFC 8705), if it was minted over a
    /// connection that presented one.
    pub bound_to: Option<[u8; 32]>,
}

/// Who made a change, recorded with it. Built by the server from the authenticated principal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    /// The request that made the change.
    pub request_id: String,
    /// The actor's domain.
    pub domain_id: Option<i64>,
    /// The actor's reseller (for reseller keys).
    pub reseller_id: Option<i64>,
    /// The acting user.
    pub user_id: Option<i64>,
    /// The acting API key.
    pub key_id: Option<i64>,
    /// The user's name or the key's application name.
    pub name: String,
    /// For an API key, its application name: which application changed what.
    pub application: Option<String>,
}

impl Actor {
    /// Someone acting outside any domain: the operator at `keyward admin`, or keyward itself.
    pub fn operator(request_id: impl Into<String>, name: impl Into<String>) -> Self {
        Actor { request_id: request_id.into(), name: name.into(), ..Actor::default() }
    }

    /// User `user_id`, named `name`, of domain `domain_id`.
    pub fn user(
        request_id: impl Into<String>,
        domain_id: i64,
        user_id: i64,
        name: impl Into<String>,
    ) -> Self {
        Actor {
            domain_id: Some(domain_id),
            user_id: Some(user_id),
            ..Actor::operator(request_id, name)
        }
    }

    /// An API key, named by its application.
    pub fn key(request_id: impl Into<String>, key: &ApiKey) -> Self {
        Actor {
            domain_id: key.domain_id,
            reseller_id: key.reseller_id,
            key_id: Some(key.id),
            application: Some(key.name.clone()),
            ..Actor::operator(request_id, key.name.clone())
        }
    }
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    /// Id.
    pub id: i64,
    /// When, epoch ms.
    pub at_ms: i64,
    /// The request id.
    pub request_id: String,
    /// The domain concerned.
    pub domain_id: Option<i64>,
    /// The acting user.
    pub actor_user_id: Option<i64>,
    /// The acting key.
    pub actor_key_id: Option<i64>,
    /// The actor's name.
    pub actor_name: String,
    /// The application, for keys.
    pub application: Option<String>,
    /// What was done (`key.create`, `activity.update`...).
    pub action: String,
    /// The kind of record changed.
    pub target_type: String,
    /// Its id.
    pub target_id: String,
    /// What changed (never a secret).
    pub detail: serde_json::Value,
}

/// Filters for the audit log.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this application.
    pub application: Option<String>,
    /// Only this acting user.
    pub user_id: Option<i64>,
    /// Only this acting key.
    pub key_id: Option<i64>,
    /// From this time, epoch ms.
    pub since_ms: Option<i64>,
    /// Before this time, epoch ms.
    pub until_ms: Option<i64>,
}

/// An activity: the sample protected resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Activity {
    /// Id.
    pub id: i64,
    /// Name (required).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Version, from 1, raised by each change.
    pub version: i64,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
    /// Last change, epoch ms.
    pub updated_at_ms: i64,
}

/// The fields a client sets on an activity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivityFields {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Status.
    pub status: Option<String>,
}

/// One entry of an activity's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ActivityChange {
    /// The version this change produced.
    pub version: i64,
    /// When, epoch ms.
    pub at_ms: i64,
    /// `create`, `update` or `delete`.
    pub change: String,
    /// Who: the actor's name.
    pub actor_name: String,
    /// Which application, for keys.
    pub application: Option<String>,
    /// The request id.
    pub request_id: String,
    /// The activity after the change.
    pub snapshot: serde_json::Value,
}

/// A page of results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The total number of items.
    pub total: i64,
}

/// Who owns a key: keys are created, found and changed within their owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOwner {
    /// A domain key.
    Domain(i64),
    /// A reseller key.
    Reseller(i64),
}

impl KeyOwner {
    /// The domain, for a domain key.
    pub fn domain(self) -> Option<i64> {
        match self {
            KeyOwner::Domain(id) => Some(id),
            KeyOwner::Reseller(_) => None,
        }
    }

    /// The reseller, for a reseller key.
    pub fn reseller(self) -> Option<i64> {
        match self {
            KeyOwner::Reseller(id) => Some(id),
            KeyOwner::Domain(_) => None,
        }
    }
}

/// What a key may do beyond its permissions: `None` in a field means no restriction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KeyPolicy {
    /// From when the key is refused, epoch ms.
    pub expires_at_ms: Option<i64>,
    /// The client address ranges (IPv4 and IPv6) the key may be used from.
    pub allowed_networks: Option<Vec<IpNet>>,
    /// The routes (and methods) the key may call.
    pub allowed_routes: Option<Vec<RouteScope>>,
}

/// A route a key may call: one of keyward's groups ([`crate::ROUTE_GROUPS`]) or a gateway route's
/// prefix, with the methods allowed there (`None`: all).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteScope {
    /// `api`, `admin`, `provisioning`, or a gateway route's prefix.
    pub route: String,
    /// Upper-case methods; `HEAD` goes with `GET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
}
