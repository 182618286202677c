//! What verification needs to know about a key, and the trait through which it asks.
//!
//! keyward-sig never stores keys: the caller (the server's credential cache, a test, a
//! sample client) answers [`CredentialLookup`]. A key may hold two secrets while its secret is
//! being rotated; a signature made with either verifies.

use std::fmt;

use crate::mac::HmacKey;
use crate::token::TokenDigest;

/// Whether an API key acts for a domain (a tenant) or for a reseller (who manages domains).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Domain credentials: the tenant's own API.
    Domain,
    /// Reseller credentials: provisioning of the reseller's domains.
    Reseller,
}

impl KeyKind {
    /// `domain` or `reseller`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Domain => "domain",
            KeyKind::Reseller => "reseller",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The secret(s) of one API key, ready to verify with: the HMAC key schedule is computed once
/// here, not per request. `Debug` never shows a secret.
#[derive(Clone, Debug)]
pub struct KeyMaterial {
    kind: KeyKind,
    current: HmacKey,
    previous: Option<HmacKey>,
}

impl KeyMaterial {
    /// A key of `kind` whose secret is `secret` (the HMAC key bytes: keyward uses the UTF-8
    /// bytes of the secret string).
    pub fn new(kind: KeyKind, secret: &[u8]) -> Self {
        KeyMaterial { kind, current: HmacKey::new(secret), previous: None }
    }

    /// The same key during a rotation overlap: `previous` verifies too, until the caller stops
    /// passing it. Signing always uses the current secret.
    pub fn with_previous_secret(mut self, previous: &[u8]) -> Self {
        self.previous = Some(HmacKey::new(previous));
        self
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The secret new signatures are made with.
    pub fn signing_key(&self) -> &HmacKey {
        &self.current
    }

    /// Every secret that verifies: the current one first.
    pub(crate) fn verifying_keys(&self) -> impl Iterator<Item = &HmacKey> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }
}

impl AsRef<KeyMaterial> for KeyMaterial {
    fn as_ref(&self) -> &KeyMaterial {
        self
    }
}

/// What the store knows of a live access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessGrant {
    /// When the token stops being valid, epoch milliseconds.
    pub expires_at_ms: i64,
}

impl AsRef<AccessGrant> for AccessGrant {
    fn as_ref(&self) -> &AccessGrant {
        self
    }
}

/// How verification finds keys and access tokens. Implemented by the caller.
///
/// Implementations answer from memory on the hot path; `None` means "unknown" (or revoked,
/// or disabled: the verifier does not need to know which).
pub trait CredentialLookup {
    /// The caller's handle for a key: whatever it wants back in [`crate::Verified`].
    type Key: AsRef<KeyMaterial>;
    /// The caller's handle for an access token.
    type Grant: AsRef<AccessGrant>;

    /// The API key whose token is `token`.
    fn api_key(&self, token: &str) -> Option<Self::Key>;

    /// The access token whose digest is `digest` (tokens are stored only as digests).
    fn access_token(&self, digest: &TokenDigest) -> Option<Self::Grant>;
}
