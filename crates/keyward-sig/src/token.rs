//! keyward's credential formats: a recognisable prefix, random characters and a checksum.
//!
//! ```text
//! kwkey_ 4bX...(30 random base62 chars)... 0a1B2c (6 base62 chars: CRC-32 of all before)
//! ```
//!
//! As with GitHub's tokens, the prefix lets secret scanners find leaked credentials and the
//! checksum lets a server refuse a mistyped one without a database read. Each random character
//! carries log2(62) ≈ 5.95 bits (mapping a byte modulo 62 costs a negligible 0.02 bit of bias),
//! so 30 of them carry about 178 bits, above the 128 DESIGN requires.
//!
//! # Example
//! ```
//! use keyward_sig::token::CredentialKind;
//! let token = CredentialKind::ApiKeyToken.mint(&[7u8; 30]);
//! assert!(token.starts_with("kwkey_"));
//! assert_eq!(CredentialKind::ApiKeyToken.check(&token), Ok(()));
//! ```

use std::fmt;

use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters in every credential.
pub const RANDOM_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;

/// The kinds of credential keyward mints, each with its own prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A bearer access token from `/api/login`: `kwat_`.
    AccessToken,
    /// An API key's token (its public identifier): `kwkey_`.
    ApiKeyToken,
    /// An API key's secret: `kwsec_`.
    ApiKeySecret,
    /// A plain API key (the `api-key` scheme), sent as is and a secret in itself: `kwapi_`.
    PlainApiKey,
}

/// Why a string is not a well-formed credential of the expected kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormatError {
    /// It does not start with the kind's prefix.
    WrongPrefix,
    /// It has the wrong length or characters outside the base62 alphabet.
    BadShape,
    /// The checksum does not match: a typo or a truncated copy.
    BadChecksum,
}

impl TokenFormatError {
    /// A short phrase for error messages.
    pub fn reason(self) -> &'static str {
        match self {
            TokenFormatError::WrongPrefix => "not a keyward credential of this kind",
            TokenFormatError::BadShape => "credential has the wrong length or characters",
            TokenFormatError::BadChecksum => "credential checksum does not match",
        }
    }
}

impl CredentialKind {
    /// The kind's prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            CredentialKind::AccessToken => "kwat_",
            CredentialKind::ApiKeyToken => "kwkey_",
            CredentialKind::ApiKeySecret => "kwsec_",
            CredentialKind::PlainApiKey => "kwapi_",
        }
    }

    /// The credential's full length.
    pub fn token_len(self) -> usize {
        self.prefix().len() + RANDOM_LEN + CHECKSUM_LEN
    }

    /// Mints a credential from 30 random bytes (the caller draws them from a CSPRNG; this crate
    /// does no I/O). Deterministic, so vectors can pin it.
    pub fn mint(self, random: &[u8; RANDOM_LEN]) -> String {
        let mut out = String::with_capacity(self.token_len());
        out.push_str(self.prefix());
        out.extend(random.iter().map(|&b| char::from(ALPHABET[usize::from(b) % 62])));
        let checksum = checksum(out.as_bytes());
        out.push_str(std::str::from_utf8(&checksum).expect("base62 digits are ASCII"));
        out
    }

    /// Ok when `text` is a well-formed credential of this kind with a matching checksum.
    pub fn check(self, text: &str) -> Result<(), TokenFormatError> {
        let Some(rest) = text.strip_prefix(self.prefix()) else {
            return Err(TokenFormatError::WrongPrefix);
        };
        if rest.len() != RANDOM_LEN + CHECKSUM_LEN
            || !rest.bytes().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(TokenFormatError::BadShape);
        }
        let (body, presented) = text.as_bytes().split_at(text.len() - CHECKSUM_LEN);
        if checksum(body) == presented { Ok(()) } else { Err(TokenFormatError::BadChecksum) }
    }
}

/// CRC-32 (IEEE) of `body`, in base62, most significant digit first, zero-padded to 6.
fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut value = crc32fast::hash(body);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// SHA-256 of an access token or a plain API key: the only form in which a store keeps it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// The digest of `token`.
    pub fn of(token: &str) -> Self {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }

    /// The digest a console session's token is stored under: another than its
    /// [`TokenDigest::of`], so the session cookie's value is no bearer token (sent as one, it
    /// is unknown), and a bearer token is no session.
    pub fn of_console_session(token: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"keyward console session\0");
        hasher.update(token.as_bytes());
        TokenDigest(hasher.finalize().into())
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, as stores index it.
    pub fn to_hex(&self) -> String {
        const_hex::encode(self.0)
    }

    /// The digest [`TokenDigest::to_hex`] printed; `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        const_hex::decode_to_slice(hex, &mut bytes).ok()?;
        Some(TokenDigest(bytes))
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_reads_back_from_its_hex() {
        let digest = TokenDigest::of("kwtok_example");
        assert_eq!(TokenDigest::from_hex(&digest.to_hex()), Some(digest));
        assert_eq!(TokenDigest::from_hex("00"), None);
        assert_eq!(TokenDigest::from_hex(&"zz".repeat(32)), None);
    }

    #[test]
    fn minted_tokens_check_and_any_typo_is_caught() {
        for kind in [
            CredentialKind::AccessToken,
            CredentialKind::ApiKeyToken,
            CredentialKind::ApiKeySecret,
            CredentialKind::PlainApiKey,
        ] {
            let token = kind.mint(&std::array::from_fn(|i| (i * 11) as u8));
            assert_eq!(token.len(), kind.token_len());
            assert_eq!(kind.check(&token), Ok(()));
            let mut typo = token.clone().into_bytes();
            let at = kind.prefix().len() + 3;
            typo[at] = if typo[at] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(typo).unwrap();
            assert_eq!(kind.check(&typo), Err(TokenFormatError::BadChecksum));
            assert_eq!(kind.check(&token[..token.len() - 1]), Err(TokenFormatError::BadShape));
        }
        assert_eq!(
            CredentialKind::AccessToken.check(&CredentialKind::ApiKeyToken.mint(&[0; 30])),
            Err(TokenFormatError::WrongPrefix)
        );
    }
}
