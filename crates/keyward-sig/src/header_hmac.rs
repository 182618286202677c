//! header-hmac: Devo-style signatures in `x-logtrust-*` headers.
//!
//! ```text
//! x-logtrust-sign = hex(HMAC-SHA256(secret, apikey + body + timestamp))
//! ```
//! with the key in exactly one of `x-logtrust-domain-apikey` (domain credentials),
//! `x-logtrust-reseller-apikey` (reseller credentials) or `x-logtrust-apikey` (what the Devo
//! Query API and its Python SDK send; domain credentials), `x-logtrust-timestamp` in epoch
//! milliseconds, and the body exactly as received (empty when there is none). The three
//! parts are fed to the HMAC one after another, never concatenated.
//!
//! # Example
//! ```
//! use keyward_sig::{KeyKind, KeyMaterial, header_hmac};
//! let key = KeyMaterial::new(KeyKind::Domain, b"secret");
//! let headers = header_hmac::sign("apikey", b"{}", 1_700_000_000_000, &key).unwrap();
//! assert_eq!(headers.key_header, "x-logtrust-domain-apikey");
//! assert_eq!(headers.sign.len(), 64);
//! ```

use crate::error::{Field, SignError, VerifyError};
use crate::key::KeyMaterial;
use crate::mac::{Tag, tag_from_hex, to_hex};
use crate::options::VerifyOptions;
use crate::request::{CredentialField, CredentialFields};
use crate::scheme::{KeyKind, Scheme};
use crate::time::parse_epoch_millis;
use crate::token::CredentialKind;
use crate::verified::ReplayId;

/// The signature header.
pub const SIGN: &str = "x-logtrust-sign";
/// The timestamp header.
pub const TIMESTAMP: &str = "x-logtrust-timestamp";
/// Domain credentials.
pub const DOMAIN_APIKEY: &str = "x-logtrust-domain-apikey";
/// Reseller credentials.
pub const RESELLER_APIKEY: &str = "x-logtrust-reseller-apikey";
/// Domain credentials as the Devo Query API and its Python SDK send them.
pub const APIKEY: &str = "x-logtrust-apikey";

/// The key headers and the kind each one claims.
const KEY_HEADERS: [(CredentialField, KeyKind); 3] = [
    (CredentialField::LogtrustDomainApikey, KeyKind::Domain),
    (CredentialField::LogtrustResellerApikey, KeyKind::Reseller),
    (CredentialField::LogtrustApikey, KeyKind::Domain),
];

/// Whether the request carries header-hmac credentials: any `x-logtrust-*` header it reads.
pub(crate) fn is_present(fields: &CredentialFields<'_>) -> bool {
    fields.has(CredentialField::LogtrustSign)
        || fields.has(CredentialField::LogtrustTimestamp)
        || KEY_HEADERS.iter().any(|(field, _)| fields.has(*field))
}

fn single<'a>(
    fields: &CredentialFields<'a>,
    field: CredentialField,
) -> Result<Option<&'a [u8]>, VerifyError> {
    fields.single(field).map_err(|()| VerifyError::RepeatedParameter { name: field.name().into() })
}

/// The presented key header: exactly one, with the kind it claims.
fn key_header<'a>(fields: &CredentialFields<'a>) -> Result<(&'a [u8], KeyKind), VerifyError> {
    let mut found = None;
    for (field, kind) in KEY_HEADERS {
        if let Some(value) = single(fields, field)? {
            if found.replace((value, kind)).is_some() {
                return Err(VerifyError::AmbiguousCredentials {
                    schemes: vec![Scheme::HeaderHmac],
                });
            }
        }
    }
    found.ok_or(VerifyError::missing(Field::ApiKeyHeader))
}

/// The presented key token and the kind its header claims, checked against the configured
/// format.
pub(crate) fn presented_token<'a>(
    fields: &CredentialFields<'a>,
    options: &VerifyOptions,
) -> Result<(&'a str, KeyKind), VerifyError> {
    let (apikey, kind) = key_header(fields)?;
    let token = std::str::from_utf8(apikey)
        .map_err(|_| VerifyError::malformed(Field::ApiKeyHeader, "not UTF-8"))?;
    options.check_format(CredentialKind::ApiKeyToken, token, Field::ApiKeyHeader)?;
    Ok((token, kind))
}

/// header-hmac credentials as presented: every field parsed, no key known yet.
#[derive(Debug)]
pub(crate) struct Presented<'r> {
    token: &'r str,
    /// The kind the key header claims.
    kind: KeyKind,
    /// The timestamp text as sent: it is signed as is.
    timestamp: &'r [u8],
    timestamp_ms: i64,
    tag: Tag,
}

/// Parses the `x-logtrust-*` fields.
pub(crate) fn parse<'r>(
    fields: &CredentialFields<'r>,
    options: &VerifyOptions,
) -> Result<Presented<'r>, VerifyError> {
    let (token, kind) = presented_token(fields, options)?;
    let timestamp = single(fields, CredentialField::LogtrustTimestamp)?
        .ok_or(VerifyError::missing(Field::TimestampHeader))?;
    let sign = single(fields, CredentialField::LogtrustSign)?
        .ok_or(VerifyError::missing(Field::SignHeader))?;
    let tag = tag_from_hex(sign.trim_ascii())
        .ok_or(VerifyError::malformed(Field::SignHeader, "expected 64 hex digits"))?;
    let timestamp_ms = parse_epoch_millis(timestamp, Field::TimestampHeader)?;
    Ok(Presented { token, kind, timestamp, timestamp_ms, tag })
}

impl<'r> Presented<'r> {
    /// The key token.
    pub(crate) fn token(&self) -> &'r str {
        self.token
    }

    /// What can be checked before the body is read: the key's kind, then the clock.
    pub(crate) fn check_key(
        &self,
        key: &KeyMaterial,
        now_ms: i64,
        options: &VerifyOptions,
    ) -> Result<(), VerifyError> {
        if key.kind() != self.kind {
            return Err(VerifyError::KeyKindMismatch { presented: self.kind, actual: key.kind() });
        }
        options.window.check(self.timestamp_ms, now_ms)
    }

    /// The HMAC over the key token, the body and the timestamp.
    pub(crate) fn verify(
        &self,
        key: &KeyMaterial,
        body: &[u8],
        options: &VerifyOptions,
    ) -> Result<ReplayId, VerifyError> {
        // x-logtrust-sign = HMAC-SHA256(secret, apikey + body + timestamp)
        let parts = [self.token.as_bytes(), body, self.timestamp];
        if key.any_secret_matches(&parts, &self.tag) {
            Ok(ReplayId::from_signature(self.tag, self.timestamp_ms, options.window))
        } else {
            Err(VerifyError::SignatureMismatch { signed: parts.concat() })
        }
    }
}

/// The headers that sign a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `x-logtrust-domain-apikey` or `x-logtrust-reseller-apikey`, after the key's kind.
    pub key_header: &'static str,
    /// The key token, the value of `key_header`.
    pub apikey: String,
    /// The `x-logtrust-timestamp` value.
    pub timestamp: String,
    /// The `x-logtrust-sign` value, lower-case hex.
    pub sign: String,
}

impl SignedHeaders {
    /// The three headers as name/value pairs.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [(self.key_header, &self.apikey), (TIMESTAMP, &self.timestamp), (SIGN, &self.sign)]
    }
}

/// Signs a request whose body is `body` at `now_ms` with `key`, whose token is `apikey`.
/// Fails only for a public key, which cannot sign.
pub fn sign(
    apikey: &str,
    body: &[u8],
    now_ms: i64,
    key: &KeyMaterial,
) -> Result<SignedHeaders, SignError> {
    let key_header = match key.kind() {
        KeyKind::Domain => DOMAIN_APIKEY,
        KeyKind::Reseller => RESELLER_APIKEY,
    };
    let timestamp = now_ms.to_string();
    sign_with_timestamp(key_header, apikey, body, timestamp, key)
}

/// Signs with a timestamp text given as is (for reproducing a client's exact bytes).
pub fn sign_with_timestamp(
    key_header: &'static str,
    apikey: &str,
    body: &[u8],
    timestamp: String,
    key: &KeyMaterial,
) -> Result<SignedHeaders, SignError> {
    let tag = key.signing_key()?.sign_parts(&[apikey.as_bytes(), body, timestamp.as_bytes()]);
    Ok(SignedHeaders { key_header, apikey: apikey.to_owned(), timestamp, sign: to_hex(&tag) })
}
