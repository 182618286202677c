//! What can go wrong when verifying or signing: one typed enum per operation.
//!
//! No variant ever holds secret material. A [`VerifyError::SignatureMismatch`] carries the
//! string-to-sign (or RFC 9421 signature base) that *we* computed: it is built only from the
//! request, holds no secret, and lets a client author see the difference at once.

use std::fmt;

use crate::scheme::KeyKind;
use crate::scheme::Scheme;

/// A part of a request that a scheme reads, named as a client author would see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The query-hmac `t` parameter: the API key token.
    QueryToken,
    /// The query-hmac `ms` parameter: epoch milliseconds.
    QueryTimestamp,
    /// The query-hmac `s` parameter: the hex signature.
    QuerySignature,
    /// The header-hmac key header (`x-logtrust-domain-apikey`, `-reseller-apikey` or `-apikey`).
    ApiKeyHeader,
    /// The `x-logtrust-timestamp` header.
    TimestampHeader,
    /// The `x-logtrust-sign` header.
    SignHeader,
    /// The RFC 9421 `Signature-Input` field.
    SignatureInput,
    /// The RFC 9421 `Signature` field.
    Signature,
    /// The `created` signature parameter.
    Created,
    /// The `expires` signature parameter.
    Expires,
    /// The `nonce` signature parameter.
    Nonce,
    /// The `keyid` signature parameter.
    KeyId,
    /// The `alg` signature parameter.
    Algorithm,
    /// The RFC 9530 `Content-Digest` field.
    ContentDigest,
    /// The `Authorization` header (bearer tokens).
    Authorization,
    /// A plain API key (`kwapi_…`), in the API-key header or as a bearer token.
    PlainApiKey,
    /// The request target (path and query).
    Target,
    /// The query string (its parameters).
    Query,
}

impl Field {
    /// The field's name as it appears on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Field::QueryToken => "t",
            Field::QueryTimestamp => "ms",
            Field::QuerySignature => "s",
            Field::ApiKeyHeader => "x-logtrust-domain-apikey",
            Field::TimestampHeader => "x-logtrust-timestamp",
            Field::SignHeader => "x-logtrust-sign",
            Field::SignatureInput => "signature-input",
            Field::Signature => "signature",
            Field::Created => "created",
            Field::Expires => "expires",
            Field::Nonce => "nonce",
            Field::KeyId => "keyid",
            Field::Algorithm => "alg",
            Field::ContentDigest => "content-digest",
            Field::Authorization => "authorization",
            Field::PlainApiKey => "api key",
            Field::Target => "request-target",
            Field::Query => "query",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a request failed verification. Each variant is a fact about the request.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The request carries the credentials of no scheme at all.
    NoCredentials,
    /// The request carries the credentials of more than one scheme, or more than one key header
    /// of the same scheme; which one was meant is ambiguous, so none is tried.
    AmbiguousCredentials {
        /// The schemes whose credentials were found, in detection order.
        schemes: Vec<Scheme>,
    },
    /// A parameter or header appears more than once, so what was signed is ambiguous.
    RepeatedParameter {
        /// The repeated name (decoded, shortened to 64 bytes).
        name: String,
    },
    /// A field the scheme requires is absent.
    MissingField {
        /// Which one.
        field: Field,
    },
    /// A field is present but cannot be parsed.
    MalformedField {
        /// Which one.
        field: Field,
        /// What is wrong with it, as a short phrase.
        reason: &'static str,
    },
    /// No key (or access token) is known under the presented identifier.
    UnknownKey {
        /// The presented token or key id, shortened to 64 bytes. Tokens are identifiers, not
        /// secrets; access tokens are never echoed (this is empty for bearer).
        key_id: String,
    },
    /// A header-hmac key was presented under a header of the other kind (a reseller key in
    /// `x-logtrust-domain-apikey`, or the reverse).
    KeyKindMismatch {
        /// The kind the header claims.
        presented: KeyKind,
        /// The kind the key has.
        actual: KeyKind,
    },
    /// The request's timestamp lies outside the clock-skew window around the server's time.
    TimestampOutsideWindow {
        /// The request's timestamp, epoch milliseconds.
        timestamp_ms: i64,
        /// The server's time, epoch milliseconds.
        now_ms: i64,
        /// `timestamp_ms - now_ms`: positive when the client's clock is ahead.
        skew_ms: i64,
        /// The accepted skew either way, milliseconds.
        window_ms: i64,
    },
    /// An RFC 9421 signature's `expires` time has passed.
    SignatureExpired {
        /// `created`, epoch seconds.
        created: i64,
        /// `expires`, epoch seconds.
        expires: i64,
        /// The server's time, epoch seconds.
        now: i64,
    },
    /// The signature does not match what the key's secret(s) produce over the request.
    SignatureMismatch {
        /// The exact bytes the server signed (string-to-sign or signature base). No secret.
        signed: Vec<u8>,
    },
    /// An RFC 9421 signature does not cover a component the verification policy requires.
    ComponentMissing {
        /// The required component identifier.
        component: &'static str,
    },
    /// An RFC 9421 signature covers a component this verifier cannot compute.
    UnsupportedComponent {
        /// The component identifier as sent (shortened to 64 bytes).
        component: String,
    },
    /// `Content-Digest` does not match the body.
    DigestMismatch {
        /// The digest algorithm that disagrees (`sha-256` or `sha-512`).
        algorithm: &'static str,
    },
    /// The signature or digest algorithm is not one keyward accepts.
    UnsupportedAlgorithm {
        /// The algorithm as sent (shortened to 64 bytes).
        algorithm: String,
    },
    /// The signature was made with another algorithm than the key verifies: an RFC 9421 `alg`
    /// that is not the key's, or an HMAC scheme (query-hmac, header-hmac) presented with a
    /// public-key credential.
    AlgorithmMismatch {
        /// The algorithm the key verifies (`ed25519`, `hmac-sha256`...).
        key: &'static str,
        /// The algorithm the request signed with (shortened to 64 bytes).
        presented: String,
    },
    /// A list the client controls (query parameters, RFC 9421 covered components or
    /// signature parameters) is longer than keyward accepts. Refused before the list is
    /// sorted, de-duplicated or searched, so a huge list costs no more than reading it.
    TooManyItems {
        /// Where the list is.
        field: Field,
        /// The most items accepted.
        limit: usize,
    },
    /// A bearer access token is known but past its expiry.
    TokenExpired {
        /// When it expired, epoch milliseconds.
        expired_at_ms: i64,
        /// The server's time, epoch milliseconds.
        now_ms: i64,
    },
}

impl VerifyError {
    /// The stable code of this error, as used by `vectors/*/expected-error.txt`.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::NoCredentials => "no-credentials",
            VerifyError::AmbiguousCredentials { .. } => "ambiguous-credentials",
            VerifyError::RepeatedParameter { .. } => "repeated-parameter",
            VerifyError::MissingField { .. } => "missing-field",
            VerifyError::MalformedField { .. } => "malformed-field",
            VerifyError::UnknownKey { .. } => "unknown-key",
            VerifyError::KeyKindMismatch { .. } => "key-kind-mismatch",
            VerifyError::TimestampOutsideWindow { .. } => "timestamp-outside-window",
            VerifyError::SignatureExpired { .. } => "signature-expired",
            VerifyError::SignatureMismatch { .. } => "signature-mismatch",
            VerifyError::ComponentMissing { .. } => "component-missing",
            VerifyError::UnsupportedComponent { .. } => "unsupported-component",
            VerifyError::DigestMismatch { .. } => "digest-mismatch",
            VerifyError::UnsupportedAlgorithm { .. } => "unsupported-algorithm",
            VerifyError::AlgorithmMismatch { .. } => "algorithm-mismatch",
            VerifyError::TooManyItems { .. } => "too-many-items",
            VerifyError::TokenExpired { .. } => "token-expired",
        }
    }

    pub(crate) fn malformed(field: Field, reason: &'static str) -> Self {
        VerifyError::MalformedField { field, reason }
    }

    pub(crate) fn missing(field: Field) -> Self {
        VerifyError::MissingField { field }
    }

    pub(crate) fn unknown_key(key_id: &str) -> Self {
        VerifyError::UnknownKey { key_id: shorten(key_id.as_bytes()) }
    }
}

/// Untrusted text for an error: lossy UTF-8, at most 64 bytes, so errors stay small.
pub(crate) fn shorten(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(64)];
    String::from_utf8_lossy(cut).into_owned()
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::NoCredentials => f.write_str("no credentials"),
            VerifyError::AmbiguousCredentials { schemes } => {
                f.write_str("credentials of more than one kind:")?;
                for scheme in schemes {
                    write!(f, " {scheme}")?;
                }
                Ok(())
            }
            VerifyError::RepeatedParameter { name } => {
                write!(f, "parameter {name:?} appears more than once")
            }
            VerifyError::MissingField { field } => write!(f, "missing {field}"),
            VerifyError::MalformedField { field, reason } => {
                write!(f, "malformed {field}: {reason}")
            }
            VerifyError::UnknownKey { key_id } if key_id.is_empty() => f.write_str("unknown token"),
            VerifyError::UnknownKey { key_id } => write!(f, "unknown key {key_id:?}"),
            VerifyError::KeyKindMismatch { presented, actual } => {
                write!(f, "a {actual} key was presented as a {presented} key")
            }
            VerifyError::TimestampOutsideWindow { timestamp_ms, now_ms, skew_ms, window_ms } => {
                write!(
                    f,
                    "timestamp {timestamp_ms} is {skew_ms} ms from server time {now_ms}, \
                     outside the window of {window_ms} ms"
                )
            }
            VerifyError::SignatureExpired { expires, now, .. } => {
                write!(f, "signature expired at {expires}, server time is {now}")
            }
            VerifyError::SignatureMismatch { .. } => f.write_str("signature does not match"),
            VerifyError::ComponentMissing { component } => {
                write!(f, "signature does not cover required component {component:?}")
            }
            VerifyError::UnsupportedComponent { component } => {
                write!(f, "unsupported covered component {component:?}")
            }
            VerifyError::DigestMismatch { algorithm } => {
                write!(f, "content-digest {algorithm} does not match the body")
            }
            VerifyError::UnsupportedAlgorithm { algorithm } => {
                write!(f, "unsupported algorithm {algorithm:?}")
            }
            VerifyError::AlgorithmMismatch { key, presented } => {
                write!(f, "signed with {presented:?}, but the key verifies {key:?} signatures")
            }
            VerifyError::TooManyItems { field, limit } => {
                write!(f, "{field} holds more than {limit} items")
            }
            VerifyError::TokenExpired { expired_at_ms, now_ms } => {
                write!(f, "access token expired at {expired_at_ms}, server time is {now_ms}")
            }
        }
    }
}

impl fmt::Debug for VerifyError {
    // Debug shows the same facts as Display, plus the signed text for mismatches, which holds
    // no secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::SignatureMismatch { signed } => f
                .debug_struct("SignatureMismatch")
                .field("signed", &String::from_utf8_lossy(signed))
                .finish(),
            other => write!(f, "{}({other})", other.code()),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Why a request could not be signed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The request already carries a parameter or header the scheme adds.
    AlreadySigned {
        /// The parameter or header.
        name: &'static str,
    },
    /// The request cannot be signed as it is (for example an RFC 9421 component that this
    /// signer cannot compute, or a header value that is not valid text).
    Unsignable {
        /// What is wrong, as a short phrase.
        reason: &'static str,
    },
    /// The RFC 9421 signature parameters cannot be serialized (a keyid or nonce that is not a
    /// valid RFC 8941 string, for example).
    InvalidParameter {
        /// Which parameter.
        field: Field,
    },
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::AlreadySigned { name } => write!(f, "request already carries {name}"),
            SignError::Unsignable { reason } => write!(f, "cannot sign request: {reason}"),
            SignError::InvalidParameter { field } => {
                write!(f, "invalid signature parameter {field}")
            }
        }
    }
}

impl std::error::Error for SignError {}
