//! What verification needs to know about a key, and the trait through which it asks.
//!
//! keyward-sig never stores keys: the caller (the server's credential cache, a test, a
//! sample client) answers [`CredentialLookup`]. A key verifies either with its secret (HMAC,
//! every scheme) or with a public key (RFC 9421's asymmetric algorithms only). A secret key
//! may hold two secrets while its secret is being rotated; a signature made with either
//! verifies.

use crate::certificate::{CertificateBinding, ClientCertificate, MTLS};
use crate::error::SignError;
use crate::mac::{HMAC_SHA256, HmacKey};
use crate::public_key::PublicKey;
use crate::scheme::KeyKind;
use crate::token::TokenDigest;

/// What one API key verifies with, ready to use: its secret(s), with the HMAC key schedule
/// computed once here and not per request, or its public key, parsed once. `Debug` never
/// shows a secret.
#[derive(Clone, Debug)]
pub struct KeyMaterial {
    kind: KeyKind,
    check: Check,
}

#[derive(Clone, Debug)]
enum Check {
    Secret {
        current: HmacKey,
        previous: Option<HmacKey>,
    },
    PublicKey(PublicKey),
    Certificate(CertificateBinding),
    /// A plain API key: the value itself, found by its digest, is the proof.
    Plain,
}

impl KeyMaterial {
    /// A key of `kind` whose secret is `secret` (the HMAC key bytes: keyward uses the UTF-8
    /// bytes of the secret string).
    pub fn new(kind: KeyKind, secret: &[u8]) -> Self {
        KeyMaterial { kind, check: Check::Secret { current: HmacKey::new(secret), previous: None } }
    }

    /// A key of `kind` that verifies RFC 9421 signatures with `public_key` (and nothing else:
    /// the HMAC schemes need a secret).
    pub fn public(kind: KeyKind, public_key: PublicKey) -> Self {
        KeyMaterial { kind, check: Check::PublicKey(public_key) }
    }

    /// A key of `kind` that is its client certificate's (the `mtls` scheme), and verifies no
    /// signature.
    pub fn certificate(kind: KeyKind, binding: CertificateBinding) -> Self {
        KeyMaterial { kind, check: Check::Certificate(binding) }
    }

    /// A key of `kind` that is a plain API key (the `api-key` scheme), found by its digest,
    /// and verifies no signature.
    pub fn plain(kind: KeyKind) -> Self {
        KeyMaterial { kind, check: Check::Plain }
    }

    /// The same key during a rotation overlap: `previous` verifies too, until the caller stops
    /// passing it. Signing always uses the current secret. No effect on a public key.
    pub fn with_previous_secret(mut self, previous: &[u8]) -> Self {
        if let Check::Secret { previous: slot, .. } = &mut self.check {
            *slot = Some(HmacKey::new(previous));
        }
        self
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The RFC 9421 algorithm the key verifies: `hmac-sha256` for a secret, the public key's
    /// otherwise.
    pub fn algorithm(&self) -> &'static str {
        match &self.check {
            Check::Secret { .. } => HMAC_SHA256,
            Check::PublicKey(key) => key.algorithm().name(),
            Check::Certificate(_) => MTLS,
            Check::Plain => crate::api_key::API_KEY,
        }
    }

    /// The public key, for a public-key credential.
    pub fn public_key(&self) -> Option<&PublicKey> {
        match &self.check {
            Check::PublicKey(key) => Some(key),
            Check::Secret { .. } | Check::Certificate(_) | Check::Plain => None,
        }
    }

    /// The client certificate the key is bound to, for an `mtls` credential.
    pub fn certificate_binding(&self) -> Option<&CertificateBinding> {
        match &self.check {
            Check::Certificate(binding) => Some(binding),
            Check::Secret { .. } | Check::PublicKey(_) | Check::Plain => None,
        }
    }

    /// The secret new signatures are made with; a public key signs nothing (its private key,
    /// which keyward never holds, does).
    pub fn signing_key(&self) -> Result<&HmacKey, SignError> {
        match &self.check {
            Check::Secret { current, .. } => Ok(current),
            Check::PublicKey(_) => Err(SignError::Unsignable {
                reason: "a public key cannot sign; its private key can",
            }),
            Check::Certificate(_) => Err(SignError::Unsignable {
                reason: "a certificate-bound key has no secret; its client certificate is the credential",
            }),
            Check::Plain => Err(SignError::Unsignable {
                reason: "a plain API key signs nothing; it is sent as is",
            }),
        }
    }

    /// Whether any secret that verifies (the current one, or the previous one while a
    /// rotation overlaps; none for a public key) gives `presented` over `parts`.
    pub(crate) fn any_secret_matches(&self, parts: &[&[u8]], presented: &[u8]) -> bool {
        let (current, previous) = match &self.check {
            Check::Secret { current, previous } => (Some(current), previous.as_ref()),
            Check::PublicKey(_) | Check::Certificate(_) | Check::Plain => (None, None),
        };
        // Every secret is tried even after a match would be found, so the time taken does not
        // reveal which secret (current or previous) signed.
        current
            .into_iter()
            .chain(previous)
            .fold(false, |ok, secret| secret.verify_parts(parts, presented) | ok)
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

    /// The key bound to `certificate` (the `mtls` scheme): pinned to it, or to one of its
    /// names. None by default: a lookup without certificate-bound keys knows none.
    fn certificate(&self, certificate: &ClientCertificate) -> Option<Self::Key> {
        let _ = certificate;
        None
    }

    /// The plain API key whose digest is `digest` (the `api-key` scheme; keys are stored only
    /// as digests). None by default: a lookup without plain keys knows none.
    fn plain_api_key(&self, digest: &TokenDigest) -> Option<Self::Key> {
        let _ = digest;
        None
    }
}
