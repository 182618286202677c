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

use crate::api_key::ApiKeyHeader;
use crate::certificate::ClientCertificate;
use crate::error::VerifyError;
use crate::key::CredentialLookup;
use crate::options::VerifyOptions;
use crate::presented::Presented;
use crate::request::{CredentialFields, RequestView};
use crate::scheme::Scheme;
use crate::verified::Verified;
use crate::{api_key, bearer, header_hmac, query_hmac, rfc9421};

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

    /// Which scheme's credentials the request carries: exactly one, or an error (a plain API
    /// key in its default header, `x-api-key`).
    pub fn detect(request: &RequestView<'_>) -> Result<Scheme, VerifyError> {
        Self::detect_in(request, &CredentialFields::scan(request, ApiKeyHeader::default()))
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
            (Scheme::ApiKey, api_key::is_present(fields)),
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
        let fields = CredentialFields::scan(request, self.options.api_key_header);
        let scheme = Self::detect_in(request, &fields)?;
        Presented::parse(request, &fields, scheme, &self.options)
    }

    /// A console session's `token` (from its cookie) on `request`: bearer credentials, looked
    /// up under the session's digest, never a bearer token's.
    pub fn console_session<'r>(&self, request: &RequestView<'r>, token: &str) -> Presented<'r> {
        Presented::console_session(request, token, &self.options)
    }

    /// The client certificate of `request`'s connection as its credential (the `mtls`
    /// scheme), for a request that carries no other.
    pub fn client_certificate<'r>(
        &self,
        request: &RequestView<'r>,
        certificate: &'r ClientCertificate,
    ) -> Presented<'r> {
        Presented::client_certificate(request, certificate, &self.options)
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
