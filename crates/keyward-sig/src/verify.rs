//! The verifier: detect the scheme, parse it, look the key up, check the clock, check the
//! signature, and hand back a proof of what was verified.
//!
//! ```text
//! RequestView ──detect──▶ one scheme ──parse──▶ key id ──CredentialLookup──▶ KeyMaterial
//!      │                                                                       │
//!      └──────── canonicalise (string-to-sign / signature base) ──HMAC──▶ compare (constant time)
//!                                                                              │
//!                                       Verified { scheme, principal, replay id } ◀─┘
//! ```
//!
//! # Example
//! ```
//! use keyward_sig::{CredentialLookup, KeyKind, KeyMaterial, RequestView, Verifier,
//!                   VerifyOptions, AccessGrant, query_hmac, token::TokenDigest};
//!
//! struct OneKey(KeyMaterial);
//! impl CredentialLookup for OneKey {
//!     type Key = KeyMaterial;
//!     type Grant = AccessGrant;
//!     fn api_key(&self, token: &str) -> Option<KeyMaterial> {
//!         (token == "my-token").then(|| self.0.clone())
//!     }
//!     fn access_token(&self, _: &TokenDigest) -> Option<AccessGrant> { None }
//! }
//!
//! let key = KeyMaterial::new(KeyKind::Domain, b"my-secret");
//! let now_ms = 1_732_431_234_567;
//! let target = query_hmac::sign("/api/activities?page=2", "my-token", now_ms, &key,
//!                               query_hmac::ParameterOrder::Bytewise).unwrap();
//! let request = RequestView::new("GET", &target, &[], b"");
//! let verified = Verifier::new(VerifyOptions::default())
//!     .verify(&request, now_ms, &OneKey(key))
//!     .unwrap();
//! assert_eq!(verified.scheme(), keyward_sig::Scheme::QueryHmac);
//! ```

use sha2::{Digest, Sha256};

use crate::error::{Field, VerifyError};
use crate::key::{CredentialLookup, KeyKind, KeyMaterial};
use crate::presented::Presented;
use crate::request::{CredentialFields, RequestView};
use crate::scheme::Scheme;
use crate::time::ClockWindow;
use crate::token::{CredentialKind, TokenDigest};
use crate::{bearer, header_hmac, query_hmac, rfc9421};

/// Whether query-hmac accepts signatures that left blank-valued parameters (`x=`) out.
///
/// One published DevResults sample drops them. Accepting that lets anyone append blank
/// parameters to a signed URL, so it is off unless configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BlankValues {
    /// Blank-valued parameters are signed like any other (`x||`). The default.
    #[default]
    Signed,
    /// A signature over the string without blank-valued parameters is accepted too.
    Skipped,
}

crate::named_setting!(BlankValues, "blank values", {"signed" => BlankValues::Signed, "skipped" => BlankValues::Skipped});

/// Which RFC 9421 components a signature must cover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComponentPolicy {
    /// keyward's rule: `@method`, `@path`, `@query` when there is a query, `content-digest`
    /// when there is a body. The default.
    #[default]
    Keyward,
    /// Whatever the signer chose (RFC 9421 itself requires nothing): only for interoperability
    /// tests such as the RFC's own examples.
    SignerChosen,
}

/// Which of a request's RFC 9421 signatures must verify, when it carries several.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignatureRule {
    /// The first member of `Signature-Input`; the others are not read. The default.
    #[default]
    First,
    /// Every member (at most [`crate::rfc9421::MAX_SIGNATURES`]), each with the key its
    /// `keyid` names and under the same rules as the first; the request acts as the first's key.
    All,
}

crate::named_setting!(SignatureRule, "signatures", {"first" => SignatureRule::First, "all" => SignatureRule::All});

/// Whether key ids and access tokens must be keyward-format credentials (prefix + checksum).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenFormat {
    /// Any string is looked up as is. The default, so foreign and test keys work.
    #[default]
    Opaque,
    /// Credentials must carry keyward's prefix and checksum; a mistyped one is refused before
    /// any lookup.
    Keyward,
}

/// Everything that changes what verification accepts. Parsed once, at start-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The accepted clock skew either way (default ±300 s).
    pub window: ClockWindow,
    /// query-hmac's blank-value variant (default off).
    pub blank_values: BlankValues,
    /// RFC 9421 required components (default keyward's).
    pub component_policy: ComponentPolicy,
    /// Credential format checks (default opaque).
    pub token_format: TokenFormat,
    /// Which RFC 9421 signatures must verify when a request carries several (default the
    /// first).
    pub signatures: SignatureRule,
}

impl VerifyOptions {
    /// Checks `id` against the configured credential format.
    pub(crate) fn check_format(
        &self,
        kind: CredentialKind,
        id: &str,
        field: Field,
    ) -> Result<(), VerifyError> {
        match self.token_format {
            TokenFormat::Opaque => Ok(()),
            TokenFormat::Keyward => {
                kind.check(id).map_err(|e| VerifyError::malformed(field, e.reason()))
            }
        }
    }
}

/// Verifies requests in every scheme.
#[derive(Clone, Debug, Default)]
pub struct Verifier {
    options: VerifyOptions,
}

impl Verifier {
    /// A verifier with these options.
    pub fn new(options: VerifyOptions) -> Self {
        Verifier { options }
    }

    /// The options in force.
    pub fn options(&self) -> &VerifyOptions {
        &self.options
    }

    /// Which scheme's credentials the request carries: exactly one, or an error.
    pub fn detect(request: &RequestView<'_>) -> Result<Scheme, VerifyError> {
        Self::detect_in(request, &CredentialFields::scan(request))
    }

    fn detect_in(
        request: &RequestView<'_>,
        fields: &CredentialFields<'_>,
    ) -> Result<Scheme, VerifyError> {
        let present = [
            (Scheme::Bearer, bearer::is_present(request, fields)),
            (Scheme::QueryHmac, query_hmac::is_present(request)),
            (Scheme::HeaderHmac, header_hmac::is_present(fields)),
            (Scheme::HttpSignature, rfc9421::is_present(fields)),
        ];
        let mut found = present.iter().filter(|(_, here)| *here).map(|(scheme, _)| *scheme);
        match (found.next(), found.next()) {
            (None, _) => Err(VerifyError::NoCredentials),
            (Some(scheme), None) => Ok(scheme),
            (Some(first), Some(second)) => {
                let mut schemes = vec![first, second];
                schemes.extend(found);
                Err(VerifyError::AmbiguousCredentials { schemes })
            }
        }
    }

    /// Finds the request's one scheme and parses its credentials, without any key, clock or
    /// body: what a caller whose keys live behind I/O does first (see [`Presented`]).
    pub fn parse<'r>(&self, request: &RequestView<'r>) -> Result<Presented<'r>, VerifyError> {
        let fields = CredentialFields::scan(request);
        let scheme = Self::detect_in(request, &fields)?;
        Presented::parse(request, &fields, scheme, &self.options)
    }

    /// A console session's `token` (from its cookie) on `request`: bearer credentials, looked
    /// up under the session's digest, never a bearer token's.
    pub fn console_session<'r>(&self, request: &RequestView<'r>, token: &str) -> Presented<'r> {
        Presented::console_session(request, token, &self.options)
    }

    /// Verifies `request` (with its body) at time `now_ms` (epoch milliseconds), asking `lookup`
    /// for keys: [`Verifier::parse`], then [`Presented::verify`].
    pub fn verify<L: CredentialLookup>(
        &self,
        request: &RequestView<'_>,
        now_ms: i64,
        lookup: &L,
    ) -> Result<Verified<L::Key, L::Grant>, VerifyError> {
        self.parse(request)?.verify(request.body(), now_ms, lookup)
    }
}

/// Who a verified request speaks for.
#[derive(Debug)]
pub enum Principal<K, G> {
    /// An API key, by a signed scheme.
    ApiKey {
        /// The caller's handle for the key, as its lookup returned it.
        key: K,
        /// The key's kind (the caller decides which kinds a route accepts).
        kind: KeyKind,
    },
    /// An access token, by the bearer scheme.
    AccessToken {
        /// The caller's handle for the token, as its lookup returned it.
        grant: G,
        /// The token's digest, by which it is stored and revoked.
        digest: TokenDigest,
    },
}

/// What to remember to refuse a replay: an identifier of this signature (or RFC 9421 nonce),
/// and until when it matters (after that, the clock window refuses the request anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplayId {
    id: [u8; 32],
    remember_until_ms: i64,
}

impl ReplayId {
    /// A replay identity (for callers that keep replay memory of their own, and their tests).
    pub fn new(id: [u8; 32], remember_until_ms: i64) -> Self {
        ReplayId { id, remember_until_ms }
    }

    /// The identifier: the signature itself, or a digest of key id and nonce.
    pub fn id(&self) -> &[u8; 32] {
        &self.id
    }

    /// Until when to remember it, epoch milliseconds.
    pub fn remember_until_ms(&self) -> i64 {
        self.remember_until_ms
    }

    pub(crate) fn from_signature(tag: [u8; 32], timestamp_ms: i64, window: ClockWindow) -> Self {
        ReplayId { id: tag, remember_until_ms: timestamp_ms.saturating_add(window.as_millis()) }
    }

    pub(crate) fn from_nonce(key_id: &str, nonce: &str, timestamp_ms: i64, w: ClockWindow) -> Self {
        let mut hasher = Sha256::new();
        for part in [b"nonce\0".as_slice(), key_id.as_bytes(), b"\0", nonce.as_bytes()] {
            hasher.update(part);
        }
        let id = hasher.finalize().into();
        ReplayId { id, remember_until_ms: timestamp_ms.saturating_add(w.as_millis()) }
    }
}

/// Proof that a request verified. Only this crate can build one, so code that holds a
/// `Verified` cannot have skipped verification.
#[derive(Debug)]
pub struct Verified<K, G> {
    scheme: Scheme,
    principal: Principal<K, G>,
    replay: Option<ReplayId>,
}

impl<K, G> Verified<K, G> {
    pub(crate) fn new(
        scheme: Scheme,
        principal: Principal<K, G>,
        replay: Option<ReplayId>,
    ) -> Self {
        Verified { scheme, principal, replay }
    }

    /// The scheme the request used.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Who the request speaks for.
    pub fn principal(&self) -> &Principal<K, G> {
        &self.principal
    }

    /// Takes the principal out of the proof.
    pub fn into_principal(self) -> Principal<K, G> {
        self.principal
    }

    /// The replay identity to remember, for signed schemes (bearer has none).
    pub fn replay_id(&self) -> Option<&ReplayId> {
        self.replay.as_ref()
    }

    /// The key's kind, for signed schemes.
    pub fn key_kind(&self) -> Option<KeyKind> {
        match &self.principal {
            Principal::ApiKey { kind, .. } => Some(*kind),
            Principal::AccessToken { .. } => None,
        }
    }
}

/// Whether any verifying secret of `key` gives `presented` over `parts`.
pub(crate) fn any_secret_matches(key: &KeyMaterial, parts: &[&[u8]], presented: &[u8]) -> bool {
    // Every secret is tried even after a match would be found, so the time taken does not
    // reveal which secret (current or previous) signed.
    key.verifying_keys().fold(false, |ok, secret| secret.verify_parts(parts, presented) | ok)
}
