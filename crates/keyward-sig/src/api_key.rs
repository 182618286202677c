//! api-key: a plain API key (`kwapi_…`), sent as is, checked against stored digests.
//!
//! The most common API credential there is (Stripe's, Kong key-auth's, Unkey's): one static
//! value an application sends with every request, as `Authorization: Bearer kwapi_…` or in the
//! API-key header (`X-API-Key` unless configured otherwise, [`ApiKeyHeader`]). Nothing is
//! signed, so nothing can be replayed that the key itself would not allow: the key is a bearer
//! credential, to be sent over TLS only.
//!
//! A key carries keyward's prefix and a checksum ([`CredentialKind::PlainApiKey`]): one that
//! does not is refused before any lookup, and secret scanners can tell a leaked one. Stores keep
//! only its SHA-256 ([`TokenDigest`]), looked up like an access token's.
//!
//! # Example
//! ```
//! use keyward_sig::api_key::ApiKeyHeader;
//! use keyward_sig::token::{CredentialKind, TokenDigest};
//! use keyward_sig::{AccessGrant, CredentialLookup, CredentialRef, KeyKind, KeyMaterial,
//!                   RequestView, Scheme, Verifier};
//!
//! let key = CredentialKind::PlainApiKey.mint(&[9; 30]);
//! struct Keys(TokenDigest);
//! impl CredentialLookup for Keys {
//!     type Key = KeyMaterial;
//!     type Grant = AccessGrant;
//!     fn api_key(&self, _: &str) -> Option<KeyMaterial> { None }
//!     fn access_token(&self, _: &TokenDigest) -> Option<AccessGrant> { None }
//!     fn plain_api_key(&self, digest: &TokenDigest) -> Option<KeyMaterial> {
//!         (*digest == self.0).then(|| KeyMaterial::plain(KeyKind::Domain))
//!     }
//! }
//! let headers = [("X-API-Key", key.as_bytes())];
//! let request = RequestView::new("GET", "/api/activities", &headers, b"");
//! let presented = Verifier::default().parse(&request).unwrap();
//! assert_eq!(presented.scheme(), Scheme::ApiKey);
//! assert_eq!(presented.credential(), CredentialRef::PlainApiKey(&TokenDigest::of(&key)));
//! let verified = presented.verify(b"", 0, &Keys(TokenDigest::of(&key))).unwrap();
//! assert_eq!(verified.scheme(), Scheme::ApiKey);
//! assert_eq!(ApiKeyHeader::default().name(), "x-api-key");
//! ```

use std::fmt;

use crate::error::{Field, VerifyError};
use crate::options::VerifyOptions;
use crate::request::{CredentialField, CredentialFields};
use crate::token::{CredentialKind, TokenDigest};

/// The header a plain API key may travel in besides `Authorization: Bearer`: `x-api-key` by
/// default. Its name is lower-case, a valid field name, and not one another scheme reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyHeader(&'static str);

impl ApiKeyHeader {
    /// The header's name, lower-case.
    pub fn name(self) -> &'static str {
        self.0
    }

    /// The header named `name` (any case), checked. The name is kept for the life of the
    /// process (settings are read once at start-up).
    pub fn new(name: &str) -> Result<ApiKeyHeader, String> {
        let name = name.trim().to_ascii_lowercase();
        let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
        if name.is_empty() || name.len() > 64 || !name.bytes().all(token) {
            return Err(format!("{name:?} is not a header name"));
        }
        if CredentialField::fixed(&name).is_some() || matches!(name.as_str(), "host" | "cookie") {
            return Err(format!("{name:?} is a header keyward reads for something else"));
        }
        if name == Self::default().0 {
            return Ok(Self::default());
        }
        Ok(ApiKeyHeader(Box::leak(name.into_boxed_str())))
    }
}

impl Default for ApiKeyHeader {
    fn default() -> Self {
        ApiKeyHeader("x-api-key")
    }
}

impl fmt::Debug for ApiKeyHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for ApiKeyHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::str::FromStr for ApiKeyHeader {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        ApiKeyHeader::new(name)
    }
}

crate::deserialize_from_str!(ApiKeyHeader);

/// Whether an `Authorization: Bearer` token is a plain API key rather than an access token.
pub(crate) fn is_plain_key(token: &[u8]) -> bool {
    token.starts_with(CredentialKind::PlainApiKey.prefix().as_bytes())
}

/// Whether the request carries a plain API key: in the API-key header, or as a bearer token.
pub(crate) fn is_present(fields: &CredentialFields<'_>) -> bool {
    fields.has(CredentialField::ApiKey)
        || fields
            .first(CredentialField::Authorization)
            .and_then(crate::bearer::bearer_token)
            .is_some_and(is_plain_key)
}

/// A plain API key as presented: only its digest is kept (the key is a secret).
#[derive(Debug)]
pub(crate) struct Presented {
    digest: TokenDigest,
}

/// Parses the key from the API-key header or `Authorization: Bearer`, and checks its prefix
/// and checksum (whatever the configured token format: keyward mints every plain key).
pub(crate) fn parse(
    fields: &CredentialFields<'_>,
    options: &VerifyOptions,
) -> Result<Presented, VerifyError> {
    let repeated = |name: &str| VerifyError::RepeatedParameter { name: name.into() };
    let value = match fields.single(CredentialField::ApiKey) {
        Err(()) => return Err(repeated(options.api_key_header.name())),
        Ok(Some(value)) => value.trim_ascii(),
        Ok(None) => fields
            .single(CredentialField::Authorization)
            .map_err(|()| repeated(CredentialField::Authorization.name()))?
            .and_then(crate::bearer::bearer_token)
            .ok_or(VerifyError::missing(Field::PlainApiKey))?,
    };
    let key = std::str::from_utf8(value)
        .map_err(|_| VerifyError::malformed(Field::PlainApiKey, "not text"))?;
    CredentialKind::PlainApiKey
        .check(key)
        .map_err(|error| VerifyError::malformed(Field::PlainApiKey, error.reason()))?;
    Ok(Presented { digest: TokenDigest::of(key) })
}

impl Presented {
    /// The digest the key is stored and looked up by.
    pub(crate) fn digest(&self) -> &TokenDigest {
        &self.digest
    }
}

/// What a plain key's `algorithm` reads as (it signs nothing).
pub const API_KEY: &str = "api-key";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RequestView, Scheme, Verifier};

    fn key() -> String {
        CredentialKind::PlainApiKey.mint(&[3; 30])
    }

    fn detect(headers: &[(&str, &[u8])], options: VerifyOptions) -> Result<Scheme, VerifyError> {
        let request = RequestView::new("GET", "/", headers, b"");
        Verifier::new(options).parse(&request).map(|presented| presented.scheme())
    }

    #[test]
    fn a_plain_key_is_found_in_its_header_or_as_a_bearer_token() {
        let key = key();
        let options = VerifyOptions::default();
        let bearer = format!("Bearer {key}");
        for headers in [[("X-API-Key", key.as_bytes())], [("authorization", bearer.as_bytes())]] {
            assert_eq!(detect(&headers, options), Ok(Scheme::ApiKey), "{headers:?}");
        }
        // An access token stays a bearer token.
        let token = CredentialKind::AccessToken.mint(&[4; 30]);
        let token = format!("Bearer {token}");
        assert_eq!(detect(&[("Authorization", token.as_bytes())], options), Ok(Scheme::Bearer));
        // Both at once are refused as ambiguous, never one picked.
        let both = [("x-api-key", key.as_bytes()), ("Authorization", token.as_bytes())];
        assert!(matches!(detect(&both, options), Err(VerifyError::AmbiguousCredentials { .. })));
    }

    #[test]
    fn a_repeated_mistyped_or_foreign_key_is_refused_before_any_lookup() {
        let key = key();
        let options = VerifyOptions::default();
        let twice = [("x-api-key", key.as_bytes()), ("X-Api-Key", key.as_bytes())];
        assert_eq!(
            detect(&twice, options),
            Err(VerifyError::RepeatedParameter { name: "x-api-key".into() })
        );
        let mut typo = key.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        for bad in [&typo[..], b"sk_live_123", b"\xff\xfe", b""] {
            let error = detect(&[("x-api-key", bad)], options).unwrap_err();
            assert_eq!(error.code(), "malformed-field", "{bad:?}");
            assert!(!error.to_string().contains(&key), "the key is never echoed");
        }
    }

    #[test]
    fn the_fuzzing_seed_is_a_well_formed_key() {
        // fuzz/seed-corpus.sh writes it into verify_request's corpus.
        let seed = "kwapi_cdefghijklmnopqrstuvwxyz0123453gHg2X";
        assert_eq!(CredentialKind::PlainApiKey.check(seed), Ok(()));
    }

    #[test]
    fn the_header_name_is_configurable_and_checked() {
        let key = key();
        let header = ApiKeyHeader::new("ApiKey").unwrap();
        assert_eq!(header.name(), "apikey");
        let options = VerifyOptions { api_key_header: header, ..VerifyOptions::default() };
        assert_eq!(detect(&[("apikey", key.as_bytes())], options), Ok(Scheme::ApiKey));
        // The default header is then no credential at all.
        assert_eq!(
            detect(&[("x-api-key", key.as_bytes())], options),
            Err(VerifyError::NoCredentials)
        );
        for taken in ["authorization", "X-Logtrust-Sign", "signature", "host", "cookie"] {
            assert!(ApiKeyHeader::new(taken).is_err(), "{taken}");
        }
        for bad in ["", "x api key", "x-api-key:", "é"] {
            assert!(ApiKeyHeader::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ApiKeyHeader::new(" X-API-KEY ").unwrap(), ApiKeyHeader::default());
    }
}
