//! RFC 9530 `Content-Digest`: the body digest that RFC 9421 signatures cover.
//!
//! # Example
//! ```
//! use keyward_sig::rfc9421::{DigestAlgorithm, content_digest};
//! assert_eq!(
//!     content_digest(b"{\"hello\": \"world\"}", DigestAlgorithm::Sha256),
//!     "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
//! );
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::convert::Infallible;

use sfv::visitor::{DictionaryVisitor, EntryVisitor};
use sfv::{KeyRef, Parser};
use smallvec::SmallVec;

use super::params::ByteSequenceSlot;
use sha2::{Digest, Sha256, Sha512};

use crate::error::{Field, VerifyError, shorten};

/// The digest algorithms keyward computes and checks (RFC 9530 section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `sha-256`.
    Sha256,
    /// `sha-512`.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's key in `Content-Digest`.
    pub fn key(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha-256",
            DigestAlgorithm::Sha512 => "sha-512",
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        match key {
            "sha-256" => Some(DigestAlgorithm::Sha256),
            "sha-512" => Some(DigestAlgorithm::Sha512),
            _ => None,
        }
    }

    /// Checks `presented` against the digest of `body`, without allocating.
    fn matches(self, body: &[u8], presented: &[u8]) -> bool {
        match self {
            DigestAlgorithm::Sha256 => Sha256::digest(body).as_slice() == presented,
            DigestAlgorithm::Sha512 => Sha512::digest(body).as_slice() == presented,
        }
    }

    fn encode(self, body: &[u8]) -> String {
        match self {
            DigestAlgorithm::Sha256 => STANDARD.encode(Sha256::digest(body)),
            DigestAlgorithm::Sha512 => STANDARD.encode(Sha512::digest(body)),
        }
    }
}

/// The `Content-Digest` value for `body`.
pub fn content_digest(body: &[u8], algorithm: DigestAlgorithm) -> String {
    format!("{}=:{}:", algorithm.key(), algorithm.encode(body))
}

/// Checks a `Content-Digest` value against `body`: every sha-256 or sha-512 member must match,
/// and there must be at least one; members of other algorithms are ignored (RFC 9530
/// section 2 lets a sender offer several).
pub fn check_content_digest(value: &[u8], body: &[u8]) -> Result<(), VerifyError> {
    let members = Parser::new(value)
        .with_version(sfv::Version::Rfc8941)
        .parse_dictionary_with_visitor(DigestMembers::default())
        .map_err(|_| VerifyError::malformed(Field::ContentDigest, "not an RFC 8941 dictionary"))?;
    if members.supported.is_empty() {
        let offered = members.first_other.unwrap_or_default();
        return Err(VerifyError::UnsupportedAlgorithm { algorithm: shorten(offered.as_bytes()) });
    }
    for (algorithm, presented) in &members.supported {
        let presented = presented
            .as_deref()
            .ok_or(VerifyError::malformed(Field::ContentDigest, "expected a byte sequence"))?;
        if !algorithm.matches(body, presented) {
            return Err(VerifyError::DigestMismatch { algorithm: algorithm.key() });
        }
    }
    Ok(())
}

/// The sha-256 and sha-512 members of a `Content-Digest` value, and the first other key.
#[derive(Default)]
struct DigestMembers<'de> {
    supported: SmallVec<[(DigestAlgorithm, Option<Vec<u8>>); 2]>,
    first_other: Option<&'de str>,
}

impl<'de> DictionaryVisitor<'de> for DigestMembers<'de> {
    type Out = Self;
    type Error = Infallible;

    fn entry(&mut self, key: &'de KeyRef) -> Result<impl EntryVisitor<'de>, Infallible> {
        let Some(algorithm) = DigestAlgorithm::from_key(key.as_str()) else {
            self.first_other.get_or_insert(key.as_str());
            return Ok(None);
        };
        // A repeated key takes its last value (RFC 8941 section 4.2.2).
        self.supported.retain(|(seen, _)| *seen != algorithm);
        self.supported.push((algorithm, None));
        let slot = &mut self.supported.last_mut().expect("just pushed").1;
        Ok(Some(ByteSequenceSlot(slot)))
    }

    fn finish(self) -> Result<Self, Infallible> {
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_every_supported_member() {
        let body = b"{\"hello\": \"world\"}";
        let both = format!(
            "{}, {}, unixsum=:AAAA:",
            content_digest(body, DigestAlgorithm::Sha256),
            content_digest(body, DigestAlgorithm::Sha512)
        );
        assert_eq!(check_content_digest(both.as_bytes(), body), Ok(()));
        let err = check_content_digest(both.as_bytes(), b"{}").unwrap_err();
        assert_eq!(err, VerifyError::DigestMismatch { algorithm: "sha-256" });
        assert_eq!(
            check_content_digest(b"md5=:AAAA:", body).unwrap_err().code(),
            "unsupported-algorithm"
        );
        assert_eq!(
            check_content_digest(b"sha-256=AAAA", body).unwrap_err().code(),
            "malformed-field"
        );
        assert_eq!(check_content_digest(b"sha-256=:", body).unwrap_err().code(), "malformed-field");
    }
}
