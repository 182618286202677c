//! The credentials a request presents, parsed once, before any key is known or any body read.
//!
//! [`Verifier::parse`](crate::Verifier::parse) finds the request's one scheme and parses its
//! fields; the caller looks up what [`Presented::credential`] names (from memory, or after I/O
//! of its own), may check what needs no body ([`Presented::check_key`]) before it reads one
//! ([`Presented::reads_body`]), and [`Presented::verify`] finishes, in the order of
//! `docs/schemes.md` section 7. Nothing is parsed twice and nothing is verified twice.
//!
//! ```text
//! RequestView ──parse──▶ Presented ──credential()──▶ (caller's lookup) ──▶ key or grant
//!                            │                                               │
//!                            └── check_key (kind, clock) ── body ── verify ──┴─▶ Verified
//! ```
//!
//! # Example
//! ```
//! use keyward_sig::{header_hmac, AccessGrant, CredentialLookup, CredentialRef, KeyKind,
//!                   KeyMaterial, RequestView, Verifier, token::TokenDigest};
//!
//! struct Keys(KeyMaterial);
//! impl CredentialLookup for Keys {
//!     type Key = KeyMaterial;
//!     type Grant = AccessGrant;
//!     fn api_key(&self, _: &str) -> Option<KeyMaterial> { Some(self.0.clone()) }
//!     fn access_token(&self, _: &TokenDigest) -> Option<AccessGrant> { None }
//! }
//!
//! let now_ms = 1_732_431_234_567;
//! let key = KeyMaterial::new(KeyKind::Domain, b"kwsec_demo");
//! let body = b"{}";
//! let signed = header_hmac::sign("kwkey_demo", body, now_ms, &key).unwrap();
//! let headers: Vec<(&str, &[u8])> =
//!     signed.pairs().iter().map(|(n, v)| (*n, v.as_bytes())).collect();
//! // The body is not needed to parse, nor to check the key's kind and the clock.
//! let request = RequestView::new("POST", "/api/activities", &headers, b"");
//! let presented = Verifier::default().parse(&request).unwrap();
//! assert_eq!(presented.credential(), CredentialRef::ApiKey("kwkey_demo"));
//! assert!(presented.reads_body());
//! presented.check_key(&key, now_ms).unwrap();
//! let verified = presented.verify(body, now_ms, &Keys(key)).unwrap();
//! assert_eq!(verified.key_kind(), Some(KeyKind::Domain));
//! ```

use crate::certificate::ClientCertificate;
use crate::error::VerifyError;
use crate::key::{CredentialLookup, KeyMaterial};
use crate::mac::HMAC_SHA256;
use crate::options::VerifyOptions;
use crate::request::RequestView;
use crate::scheme::Scheme;
use crate::token::TokenDigest;
use crate::verified::{Principal, Verified};
use crate::{api_key, bearer, header_hmac, query_hmac, rfc9421};

/// What a presented credential names: the key or access token to look up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialRef<'p> {
    /// An API key's token (query-hmac `t`, the header-hmac key header, RFC 9421 `keyid`).
    ApiKey(&'p str),
    /// An access token's digest (the token itself is a secret and is not kept).
    AccessToken(&'p TokenDigest),
    /// The client certificate of the request's TLS connection (the `mtls` scheme).
    Certificate(&'p ClientCertificate),
    /// A plain API key's digest (the key itself is a secret and is not kept).
    PlainApiKey(&'p TokenDigest),
}

/// A request's credentials, parsed. Built by [`Verifier::parse`](crate::Verifier::parse).
#[derive(Debug)]
pub struct Presented<'r> {
    request: RequestView<'r>,
    options: VerifyOptions,
    form: Form<'r>,
}

/// Each scheme's parsed fields. An RFC 9421 signature's (its components and parameters,
/// inline) is boxed: that scheme allocates anyway, and every other request's `Presented` stays
/// small to move; the query's parameters stay inline, which spares the common signed GET an
/// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Form<'r> {
    Bearer(bearer::Presented),
    QueryHmac(query_hmac::Presented<'r>),
    HeaderHmac(header_hmac::Presented<'r>),
    HttpSignature(Box<rfc9421::Presented<'r>>),
    ApiKey(api_key::Presented),
    Mtls(&'r ClientCertificate),
}

impl<'r> Presented<'r> {
    /// Parses `request`'s credentials of `scheme` (already detected).
    pub(crate) fn parse(
        request: &RequestView<'r>,
        fields: &crate::request::CredentialFields<'r>,
        scheme: Scheme,
        options: &VerifyOptions,
    ) -> Result<Self, VerifyError> {
        let form = match scheme {
            Scheme::Bearer => Form::Bearer(bearer::parse(fields, options)?),
            Scheme::QueryHmac => Form::QueryHmac(query_hmac::parse(request, options)?),
            Scheme::HeaderHmac => Form::HeaderHmac(header_hmac::parse(fields, options)?),
            Scheme::HttpSignature => {
                Form::HttpSignature(Box::new(rfc9421::parse(request, fields, options)?))
            }
            Scheme::ApiKey => Form::ApiKey(api_key::parse(fields, options)?),
            // Not in the request: see `Presented::client_certificate`.
            Scheme::Mtls => return Err(VerifyError::NoCredentials),
        };
        Ok(Presented { request: *request, options: *options, form })
    }

    /// A console session (its cookie's `token`), presented as a bearer token stored under the
    /// session's own digest (`TokenDigest::of_console_session`).
    pub(crate) fn console_session(
        request: &RequestView<'r>,
        token: &str,
        options: &VerifyOptions,
    ) -> Self {
        let form = Form::Bearer(bearer::Presented::console_session(token));
        Presented { request: *request, options: *options, form }
    }

    /// The client certificate of `request`'s connection, presented as its credential (when
    /// the request carries no other).
    pub(crate) fn client_certificate(
        request: &RequestView<'r>,
        certificate: &'r ClientCertificate,
        options: &VerifyOptions,
    ) -> Self {
        Presented { request: *request, options: *options, form: Form::Mtls(certificate) }
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        match self.form {
            Form::Bearer(_) => Scheme::Bearer,
            Form::QueryHmac(_) => Scheme::QueryHmac,
            Form::HeaderHmac(_) => Scheme::HeaderHmac,
            Form::HttpSignature(_) => Scheme::HttpSignature,
            Form::ApiKey(_) => Scheme::ApiKey,
            Form::Mtls(_) => Scheme::Mtls,
        }
    }

    /// The key or access token to look up.
    pub fn credential(&self) -> CredentialRef<'_> {
        match &self.form {
            Form::Bearer(p) => CredentialRef::AccessToken(p.digest()),
            Form::QueryHmac(p) => CredentialRef::ApiKey(p.token()),
            Form::HeaderHmac(p) => CredentialRef::ApiKey(p.token()),
            Form::HttpSignature(p) => CredentialRef::ApiKey(p.keyid()),
            Form::ApiKey(p) => CredentialRef::PlainApiKey(p.digest()),
            Form::Mtls(certificate) => CredentialRef::Certificate(certificate),
        }
    }

    /// The keys the other RFC 9421 signatures name, under
    /// [`SignatureRule::All`](crate::SignatureRule::All): a caller whose keys live behind I/O
    /// loads them too before [`Presented::verify`].
    pub fn other_credentials(&self) -> Vec<CredentialRef<'_>> {
        match &self.form {
            Form::HttpSignature(p) => p.other_keyids().map(CredentialRef::ApiKey).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether [`Presented::verify`] reads the body: header-hmac signs it; an RFC 9421
    /// signature may cover its digest. A caller that buffers bodies need not, for the others.
    pub fn reads_body(&self) -> bool {
        match &self.form {
            Form::Bearer(_) | Form::QueryHmac(_) | Form::ApiKey(_) | Form::Mtls(_) => false,
            Form::HeaderHmac(_) => true,
            Form::HttpSignature(p) => p.reads_body(&self.options),
        }
    }

    /// What can be checked once the key is known, before the body is read: that the key
    /// verifies the signature's algorithm (a public key verifies only RFC 9421 signatures of
    /// its own algorithm), the kind of key the header-hmac key header claims, RFC 9421
    /// `expires`, and the clock window. Cheap;
    /// [`Presented::verify`] checks the same again.
    pub fn check_key(&self, key: &KeyMaterial, now_ms: i64) -> Result<(), VerifyError> {
        let options = &self.options;
        match &self.form {
            // Found by its digest, the key is the one presented.
            Form::Bearer(_) | Form::ApiKey(_) => Ok(()),
            Form::Mtls(certificate) => match key.certificate_binding() {
                Some(binding) if binding.admits(certificate) => Ok(()),
                _ => Err(VerifyError::UnknownKey { key_id: certificate.thumbprint() }),
            },
            // A key without a secret (a public key, a client certificate) makes no HMAC.
            Form::QueryHmac(_) | Form::HeaderHmac(_) if key.signing_key().is_err() => {
                Err(VerifyError::AlgorithmMismatch {
                    key: key.algorithm(),
                    presented: HMAC_SHA256.to_owned(),
                })
            }
            Form::QueryHmac(p) => p.check_key(now_ms, options),
            Form::HeaderHmac(p) => p.check_key(key, now_ms, options),
            Form::HttpSignature(p) => p.check_key(key, now_ms, options),
        }
    }

    /// Verifies the presented credentials against what `lookup` answers for
    /// [`Presented::credential`], with `body` as the request's body (ignored when
    /// [`Presented::reads_body`] is false). May be called again (with a key read afresh, say).
    pub fn verify<L: CredentialLookup>(
        &self,
        body: &[u8],
        now_ms: i64,
        lookup: &L,
    ) -> Result<Verified<L::Key, L::Grant>, VerifyError> {
        let options = &self.options;
        let scheme = self.scheme();
        // The key named by `token`, looked up and checked before its signature.
        let known_key = |token: &str| {
            let key = lookup.api_key(token).ok_or_else(|| VerifyError::unknown_key(token))?;
            self.check_key(key.as_ref(), now_ms)?;
            Ok::<_, VerifyError>(key)
        };
        let (key, replay) = match &self.form {
            Form::Bearer(p) => {
                let digest = *p.digest();
                // The token itself is a secret: the error never names it.
                let grant = lookup
                    .access_token(&digest)
                    .ok_or(VerifyError::UnknownKey { key_id: String::new() })?;
                p.verify(grant.as_ref(), now_ms)?;
                return Ok(Verified::new(scheme, Principal::AccessToken { grant, digest }, None));
            }
            Form::ApiKey(p) => {
                // The key itself is a secret: the error never names it.
                let key = lookup
                    .plain_api_key(p.digest())
                    .ok_or(VerifyError::UnknownKey { key_id: String::new() })?;
                let kind = key.as_ref().kind();
                // Nothing signed, nothing to replay: the key is a bearer credential.
                return Ok(Verified::new(scheme, Principal::ApiKey { key, kind }, None));
            }
            Form::Mtls(certificate) => {
                let key = lookup
                    .certificate(certificate)
                    .ok_or_else(|| VerifyError::UnknownKey { key_id: certificate.thumbprint() })?;
                self.check_key(key.as_ref(), now_ms)?;
                let kind = key.as_ref().kind();
                // No signature to replay: the TLS connection proved possession of the key.
                return Ok(Verified::new(scheme, Principal::ApiKey { key, kind }, None));
            }
            Form::QueryHmac(p) => {
                let key = known_key(p.token())?;
                let replay = p.verify(key.as_ref(), options)?;
                (key, replay)
            }
            Form::HeaderHmac(p) => {
                let key = known_key(p.token())?;
                let replay = p.verify(key.as_ref(), body, options)?;
                (key, replay)
            }
            Form::HttpSignature(p) => {
                let key = known_key(p.keyid())?;
                let request = self.request.with_body(body);
                let replay = p.verify(&request, key.as_ref(), options)?;
                // Under SignatureRule::All, every other signature too, with its own key.
                for other in p.others() {
                    let key = lookup
                        .api_key(other.keyid())
                        .ok_or_else(|| VerifyError::unknown_key(other.keyid()))?;
                    other.check_key(key.as_ref(), now_ms, options)?;
                    other.verify(&request, key.as_ref(), options)?;
                }
                (key, replay)
            }
        };
        let material: &KeyMaterial = key.as_ref();
        let kind = material.kind();
        Ok(Verified::new(scheme, Principal::ApiKey { key, kind }, Some(replay)))
    }
}
