//! Public keys for RFC 9421's asymmetric algorithms (section 3.3): `ed25519`,
//! `ecdsa-p256-sha256`, `ecdsa-p384-sha384`, `rsa-pss-sha512` and `rsa-v1_5-sha256`. A key is
//! parsed once, from PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo) or a JWK, and
//! then verifies signatures over signature bases. Verification only: a private key (PEM
//! `PRIVATE KEY`, or a JWK with `d`) is refused, so a server never holds one.
//!
//! The algorithm is stated or inferred, and always checked against the key: an Ed25519 or EC
//! key has one algorithm; an RSA key needs it stated (by the caller, or a JWK's `alg`), since
//! the same key could sign with either padding. RSA keys have at least 2048 bits. ECDSA
//! signatures are `r || s`, as RFC 9421 section 3.3.4 says, not DER.
//!
//! Verification uses RustCrypto: `ed25519-dalek` (strict verification, which refuses
//! malleable signatures and small-order keys), `p256` and `p384` (`ecdsa`), and `rsa`.
//!
//! # Example
//! ```
//! use keyward_sig::public_key::{Algorithm, PublicKey};
//! let pem = "-----BEGIN PUBLIC KEY-----\n\
//!            MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n\
//!            -----END PUBLIC KEY-----";
//! let key = PublicKey::parse(pem, None).unwrap();
//! assert_eq!(key.algorithm(), Algorithm::Ed25519);
//! assert!(!key.verify(b"a signature base", &[0; 64]));
//! ```

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::DecodePublicKey as _;
use p256::ecdsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts as _;
use sha2::{Sha256, Sha512};

/// An asymmetric algorithm of RFC 9421's registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// EdDSA over Curve25519 (section 3.3.6).
    Ed25519,
    /// ECDSA over P-256 with SHA-256 (section 3.3.4).
    EcdsaP256Sha256,
    /// ECDSA over P-384 with SHA-384 (section 3.3.5).
    EcdsaP384Sha384,
    /// RSASSA-PSS with SHA-512, a 64-byte salt (section 3.3.1).
    RsaPssSha512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (section 3.3.2).
    RsaV15Sha256,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Ed25519,
        Algorithm::EcdsaP256Sha256,
        Algorithm::EcdsaP384Sha384,
        Algorithm::RsaPssSha512,
        Algorithm::RsaV15Sha256,
    ];

    /// The name in RFC 9421's registry, as in `alg`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Algorithm::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            Algorithm::RsaPssSha512 => "rsa-pss-sha512",
            Algorithm::RsaV15Sha256 => "rsa-v1_5-sha256",
        }
    }

    /// The algorithm named `name` in RFC 9421's registry.
    pub fn from_name(name: &str) -> Option<Self> {
        Algorithm::ALL.into_iter().find(|algorithm| algorithm.name() == name)
    }

    /// The algorithm a JWK's `alg` names (RFC 7518), if it is one of these.
    fn from_jose(alg: &str) -> Option<Self> {
        match alg {
            "EdDSA" | "Ed25519" => Some(Algorithm::Ed25519),
            "ES256" => Some(Algorithm::EcdsaP256Sha256),
            "ES384" => Some(Algorithm::EcdsaP384Sha384),
            "PS512" => Some(Algorithm::RsaPssSha512),
            "RS256" => Some(Algorithm::RsaV15Sha256),
            _ => None,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a public key was refused; the message says what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not a PEM public key or a JWK keyward reads.
    Unreadable(&'static str),
    /// A private key was given: only the public key belongs on a server.
    PrivateKey,
    /// The key is not of the stated algorithm.
    Mismatch {
        /// What was stated.
        stated: Algorithm,
        /// What the key is for.
        key: &'static str,
    },
    /// An RSA key without a stated algorithm.
    RsaNeedsAlgorithm,
    /// An RSA key with fewer than 2048 bits.
    RsaTooSmall(usize),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Unreadable(why) => write!(
                f,
                "not a public key keyward reads ({why}): give a PEM public key \
                 (-----BEGIN PUBLIC KEY-----) or a JWK"
            ),
            KeyError::PrivateKey => f.write_str(
                "this is a private key: give the public key only (keyward never holds a private key)",
            ),
            KeyError::Mismatch { stated, key } => {
                write!(f, "the key is {key} key, which cannot verify {stated} signatures")
            }
            KeyError::RsaNeedsAlgorithm => {
                f.write_str("an RSA key needs its algorithm stated: rsa-pss-sha512 or rsa-v1_5-sha256")
            }
            KeyError::RsaTooSmall(bits) => {
                write!(f, "the RSA key has {bits} bits; keyward needs at least 2048")
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// The fewest bits an RSA key may have.
const MIN_RSA_BITS: usize = 2048;

#[derive(Clone, Debug)]
enum Inner {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Rsa(rsa::PublicKey),
}

impl Inner {
    /// The key's family, for messages: "an Ed25519", "a P-256"...
    fn family(&self) -> &'static str {
        match self {
            Inner::Ed25519(_) => "an Ed25519",
            Inner::P256(_) => "a P-256",
            Inner::P384(_) => "a P-384",
            Inner::Rsa(_) => "an RSA",
        }
    }

    /// The algorithm the key implies, `None` for RSA (either padding).
    fn implied(&self) -> Option<Algorithm> {
        match self {
            Inner::Ed25519(_) => Some(Algorithm::Ed25519),
            Inner::P256(_) => Some(Algorithm::EcdsaP256Sha256),
            Inner::P384(_) => Some(Algorithm::EcdsaP384Sha384),
            Inner::Rsa(_) => None,
        }
    }
}

/// A public key with its algorithm, parsed once.
#[derive(Clone, Debug)]
pub struct PublicKey {
    algorithm: Algorithm,
    inner: Inner,
}

impl PublicKey {
    /// Parses `text`, a PEM public key or a JWK, for `algorithm` (or the one the key implies).
    pub fn parse(text: &str, algorithm: Option<Algorithm>) -> Result<Self, KeyError> {
        let text = text.trim();
        let (inner, jose) =
            if text.starts_with('{') { from_jwk(text)? } else { (from_pem(text)?, None) };
        let stated = match (algorithm, jose) {
            (Some(given), Some(jose)) if given != jose => {
                return Err(KeyError::Unreadable(
                    "the JWK's alg names another algorithm than stated",
                ));
            }
            (given, jose) => given.or(jose),
        };
        let algorithm = match (stated, inner.implied()) {
            (Some(stated), Some(implied)) if stated != implied => {
                return Err(KeyError::Mismatch { stated, key: inner.family() });
            }
            (_, Some(implied)) => implied,
            (Some(stated @ (Algorithm::RsaPssSha512 | Algorithm::RsaV15Sha256)), None) => stated,
            (Some(stated), None) => return Err(KeyError::Mismatch { stated, key: inner.family() }),
            (None, None) => return Err(KeyError::RsaNeedsAlgorithm),
        };
        if let Inner::Rsa(key) = &inner {
            let bits = key.n().bit_width() as usize;
            if bits < MIN_RSA_BITS {
                return Err(KeyError::RsaTooSmall(bits));
            }
        }
        Ok(PublicKey { algorithm, inner })
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether `signature` is this key's signature of `message` (a signature base).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.inner {
            Inner::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify_strict(message, &signature).is_ok()),
            Inner::P256(key) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            Inner::P384(key) => p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            Inner::Rsa(key) => match self.algorithm {
                Algorithm::RsaPssSha512 => key.pss_verify::<Sha512>(message, signature).is_ok(),
                _ => key.pkcs1v15_verify::<Sha256>(message, signature).is_ok(),
            },
        }
    }
}

/// A PEM SubjectPublicKeyInfo of any of the four families.
fn from_pem(text: &str) -> Result<Inner, KeyError> {
    if text.contains("PRIVATE KEY-----") {
        return Err(KeyError::PrivateKey);
    }
    if !text.starts_with("-----BEGIN PUBLIC KEY-----") {
        return Err(KeyError::Unreadable("no -----BEGIN PUBLIC KEY----- line"));
    }
    if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(text) {
        return Ok(Inner::Ed25519(key));
    }
    if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(text) {
        return Ok(Inner::P256(key));
    }
    if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_pem(text) {
        return Ok(Inner::P384(key));
    }
    rsa::PublicKey::from_public_key_pem(text)
        .map(Inner::Rsa)
        .map_err(|_| KeyError::Unreadable("a PEM public key of no supported kind"))
}

/// A JWK (RFC 7517): `OKP`/`Ed25519`, `EC`/`P-256` or `P-384`, `RSA`; with its `alg`, if any.
fn from_jwk(text: &str) -> Result<(Inner, Option<Algorithm>), KeyError> {
    let jwk: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|_| KeyError::Unreadable("not a JSON object"))?;
    if ["d", "p", "q", "dp", "dq", "qi"].iter().any(|member| jwk.contains_key(*member)) {
        return Err(KeyError::PrivateKey);
    }
    let text_member = |name: &str| jwk.get(name).and_then(serde_json::Value::as_str);
    let bytes = |name: &'static str| {
        let value = text_member(name).ok_or(KeyError::Unreadable("a JWK member is missing"))?;
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| KeyError::Unreadable("a JWK member is not base64url"))
    };
    let alg = match text_member("alg") {
        Some(alg) => Some(
            Algorithm::from_jose(alg)
                .or_else(|| Algorithm::from_name(alg))
                .ok_or(KeyError::Unreadable("the JWK's alg is not one keyward verifies"))?,
        ),
        None => None,
    };
    const BAD: KeyError = KeyError::Unreadable("the JWK does not hold a valid public key");
    let inner = match (text_member("kty"), text_member("crv")) {
        (Some("OKP"), Some("Ed25519")) => {
            let x: [u8; 32] =
                bytes("x")?.try_into().map_err(|_| KeyError::Unreadable("x is not 32 bytes"))?;
            Inner::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|_| BAD)?)
        }
        (Some("EC"), Some(curve @ ("P-256" | "P-384"))) => {
            let mut point = vec![4u8];
            point.extend(bytes("x")?);
            point.extend(bytes("y")?);
            if curve == "P-256" {
                Inner::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| BAD)?)
            } else {
                Inner::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| BAD)?)
            }
        }
        (Some("RSA"), _) => {
            let n = rsa::BoxedUint::from_be_slice_vartime(&bytes("n")?);
            let e = rsa::BoxedUint::from_be_slice_vartime(&bytes("e")?);
            Inner::Rsa(rsa::PublicKey::new(n, e).map_err(|_| BAD)?)
        }
        _ => {
            return Err(KeyError::Unreadable(
                "kty and crv must be OKP/Ed25519, EC/P-256, EC/P-384 or RSA",
            ));
        }
    };
    Ok((inner, alg))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9421 B.1.4, test-key-ed25519.
    const ED25519: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----";

    /// RFC 9421 B.1.2, test-key-rsa-pss.
    const RSA_PSS: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr4tmm3r20Wd/PbqvP1s2
+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry53mm+
oAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7OyrFAHq
gDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUAAN5W
Utzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw9lq4
aOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oyc6XI
2wIDAQAB
-----END PUBLIC KEY-----";

    /// RFC 9421 B.2.6: the signature base and signature.
    const B26_BASE: &str = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\
        \"@path\": /foo\n\"@authority\": example.com\n\"content-type\": application/json\n\
        \"content-length\": 18\n\"@signature-params\": (\"date\" \"@method\" \"@path\" \
        \"@authority\" \"content-type\" \"content-length\");created=1618884473;\
        keyid=\"test-key-ed25519\"";
    const B26_SIGNATURE: &str =
        "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==";

    /// RFC 9421 B.2.1: the signature base (no component) and signature.
    const B21_BASE: &str = "\"@signature-params\": ();created=1618884473;\
        keyid=\"test-key-rsa-pss\";nonce=\"b3k2pp5k7z-50gnwp.yemd\"";
    const B21_SIGNATURE: &str = "d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==";

    fn decoded(signature: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(signature).unwrap()
    }

    /// Every single-byte change of `message` and `signature` is refused.
    fn every_mutation_fails(key: &PublicKey, message: &[u8], signature: &[u8]) {
        for i in 0..message.len() {
            let mut changed = message.to_vec();
            changed[i] ^= 1;
            assert!(!key.verify(&changed, signature), "message byte {i}");
        }
        for i in 0..signature.len() {
            let mut changed = signature.to_vec();
            changed[i] ^= 0x80;
            assert!(!key.verify(message, &changed), "signature byte {i}");
        }
    }

    #[test]
    fn the_rfcs_ed25519_example_verifies_from_pem_and_jwk() {
        let signature = decoded(B26_SIGNATURE);
        let jwk = r#"{"kty":"OKP","crv":"Ed25519","kid":"test-key-ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}"#;
        for text in [ED25519, jwk] {
            let key = PublicKey::parse(text, None).unwrap();
            assert_eq!(key.algorithm(), Algorithm::Ed25519);
            assert!(key.verify(B26_BASE.as_bytes(), &signature));
        }
        let key = PublicKey::parse(ED25519, Some(Algorithm::Ed25519)).unwrap();
        every_mutation_fails(&key, B26_BASE.as_bytes(), &signature);
        assert!(!key.verify(B26_BASE.as_bytes(), &signature[..63]));
    }

    #[test]
    fn the_rfcs_rsa_pss_example_verifies_with_its_algorithm_stated() {
        let signature = decoded(B21_SIGNATURE);
        let key = PublicKey::parse(RSA_PSS, Some(Algorithm::RsaPssSha512)).unwrap();
        assert!(key.verify(B21_BASE.as_bytes(), &signature));
        every_mutation_fails(&key, B21_BASE.as_bytes(), &signature[..8]);
        assert!(!key.verify(b"another base", &signature));
        // The same key under the other padding does not verify it.
        let v15 = PublicKey::parse(RSA_PSS, Some(Algorithm::RsaV15Sha256)).unwrap();
        assert!(!v15.verify(B21_BASE.as_bytes(), &signature));
        // As a JWK, with its alg.
        let rsa = rsa::PublicKey::from_public_key_pem(RSA_PSS).unwrap();
        let encode = |bytes: Box<[u8]>| URL_SAFE_NO_PAD.encode(bytes);
        let jwk = format!(
            r#"{{"kty":"RSA","alg":"PS512","n":"{}","e":"{}"}}"#,
            encode(rsa.n().to_be_bytes_trimmed_vartime()),
            encode(rsa.e().to_be_bytes_trimmed_vartime())
        );
        let key = PublicKey::parse(&jwk, None).unwrap();
        assert_eq!(key.algorithm(), Algorithm::RsaPssSha512);
        assert!(key.verify(B21_BASE.as_bytes(), &signature));
    }

    #[test]
    fn ecdsa_keys_verify_r_and_s_and_imply_their_algorithm() {
        use p256::ecdsa::signature::Signer as _;
        use p256::pkcs8::EncodePublicKey as _;
        let signing = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let signature: p256::ecdsa::Signature = signing.sign(B26_BASE.as_bytes());
        let pem = signing.verifying_key().to_public_key_pem(p256::pkcs8::LineEnding::LF).unwrap();
        let key = PublicKey::parse(&pem, None).unwrap();
        assert_eq!(key.algorithm(), Algorithm::EcdsaP256Sha256);
        let bytes = signature.to_bytes();
        assert_eq!(bytes.len(), 64, "r || s");
        assert!(key.verify(B26_BASE.as_bytes(), &bytes));
        every_mutation_fails(&key, &B26_BASE.as_bytes()[..16], &bytes);
        let point = signing.verifying_key().to_sec1_point(false);
        let coordinates = &point.as_bytes()[1..];
        let jwk = format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(&coordinates[..32]),
            URL_SAFE_NO_PAD.encode(&coordinates[32..])
        );
        assert!(PublicKey::parse(&jwk, None).unwrap().verify(B26_BASE.as_bytes(), &bytes));

        let signing = p384::ecdsa::SigningKey::from_slice(&[9; 48]).unwrap();
        let signature: p384::ecdsa::Signature = signing.sign(B26_BASE.as_bytes());
        let pem = signing.verifying_key().to_public_key_pem(p384::pkcs8::LineEnding::LF).unwrap();
        let key = PublicKey::parse(&pem, Some(Algorithm::EcdsaP384Sha384)).unwrap();
        assert!(key.verify(B26_BASE.as_bytes(), &signature.to_bytes()));
        assert!(!key.verify(B26_BASE.as_bytes(), &bytes));
    }

    #[test]
    fn wrong_algorithms_private_keys_and_garbage_are_refused_with_a_reason() {
        assert_eq!(
            PublicKey::parse(ED25519, Some(Algorithm::EcdsaP256Sha256)).unwrap_err(),
            KeyError::Mismatch { stated: Algorithm::EcdsaP256Sha256, key: "an Ed25519" }
        );
        assert_eq!(PublicKey::parse(RSA_PSS, None).unwrap_err(), KeyError::RsaNeedsAlgorithm);
        assert!(matches!(
            PublicKey::parse(RSA_PSS, Some(Algorithm::Ed25519)),
            Err(KeyError::Mismatch { key: "an RSA", .. })
        ));
        let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----";
        assert_eq!(PublicKey::parse(private, None).unwrap_err(), KeyError::PrivateKey);
        let jwk_private = r#"{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","d":"n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"}"#;
        assert_eq!(PublicKey::parse(jwk_private, None).unwrap_err(), KeyError::PrivateKey);
        for garbage in [
            "",
            "hello",
            "{",
            "{}",
            r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        ] {
            assert!(
                matches!(PublicKey::parse(garbage, None), Err(KeyError::Unreadable(_))),
                "{garbage}"
            );
        }
        assert_eq!(Algorithm::from_name("rsa-v1_5-sha256"), Some(Algorithm::RsaV15Sha256));
        assert_eq!(Algorithm::from_name("hmac-sha256"), None);
    }
}
