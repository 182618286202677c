//! bearer: `Authorization: Bearer <access token>`, checked against stored digests.
//!
//! Access tokens are keyward credentials (`kwat_…`, see [`crate::token`]); stores keep only
//! their SHA-256 digest. Verification checks the format (when configured), computes the
//! digest, asks the lookup, and checks the expiry.
//!
//! # Example
//! ```
//! use keyward_sig::bearer;
//! assert_eq!(bearer::authorization_value("kwat_abc"), "Bearer kwat_abc");
//! ```

use crate::api_key::is_plain_key;
use crate::error::{Field, VerifyError};
use crate::key::AccessGrant;
use crate::options::VerifyOptions;
use crate::request::{CredentialField, CredentialFields, RequestView};
use crate::token::{CredentialKind, TokenDigest};

/// The token in an `Authorization: Bearer` value (scheme name case-insensitive, RFC 9110
/// section 11.1), if it is one.
pub(crate) fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(6)?;
    (scheme.eq_ignore_ascii_case(b"bearer") && rest.first() == Some(&b' '))
        .then(|| rest.trim_ascii())
}

/// Whether the request carries a bearer token (an access token: a plain API key sent as one
/// is [`crate::api_key`]'s).
pub(crate) fn is_present(request: &RequestView<'_>, fields: &CredentialFields<'_>) -> bool {
    let field = CredentialField::Authorization;
    let access_token = |value: &[u8]| bearer_token(value).is_some_and(|t| !is_plain_key(t));
    if fields.repeated(field) {
        request.header_values(field.name()).any(access_token)
    } else {
        fields.first(field).is_some_and(access_token)
    }
}

/// The presented access token, checked against the configured format.
pub(crate) fn presented_token<'a>(
    fields: &CredentialFields<'a>,
    options: &VerifyOptions,
) -> Result<&'a str, VerifyError> {
    let field = CredentialField::Authorization;
    let value = fields
        .single(field)
        .map_err(|()| VerifyError::RepeatedParameter { name: field.name().into() })?
        .ok_or(VerifyError::missing(Field::Authorization))?;
    let token = bearer_token(value)
        .and_then(|token| std::str::from_utf8(token).ok())
        .filter(|token| !token.is_empty())
        .ok_or(VerifyError::malformed(Field::Authorization, "expected `Bearer <token>`"))?;
    options.check_format(CredentialKind::AccessToken, token, Field::Authorization)?;
    Ok(token)
}

/// A bearer token as presented: only its digest is kept (the token is a secret).
#[derive(Debug)]
pub(crate) struct Presented {
    digest: TokenDigest,
}

/// Parses `Authorization: Bearer`.
pub(crate) fn parse(
    fields: &CredentialFields<'_>,
    options: &VerifyOptions,
) -> Result<Presented, VerifyError> {
    Ok(Presented { digest: TokenDigest::of(presented_token(fields, options)?) })
}

impl Presented {
    /// A console session's token, from its cookie.
    pub(crate) fn console_session(token: &str) -> Self {
        Presented { digest: TokenDigest::of_console_session(token) }
    }

    /// The digest the token is stored and looked up by.
    pub(crate) fn digest(&self) -> &TokenDigest {
        &self.digest
    }

    /// Checks a known token's expiry.
    pub(crate) fn verify(&self, grant: &AccessGrant, now_ms: i64) -> Result<(), VerifyError> {
        let AccessGrant { expires_at_ms } = *grant;
        if now_ms >= expires_at_ms {
            return Err(VerifyError::TokenExpired { expired_at_ms: expires_at_ms, now_ms });
        }
        Ok(())
    }
}

/// The `Authorization` value for `token`.
pub fn authorization_value(token: &str) -> String {
    format!("Bearer {token}")
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn parses_the_bearer_scheme_case_insensitively() {
        assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"  bEaReR   abc "), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearerabc"), None);
        assert_eq!(bearer_token(b"Bear"), None);
    }
}
