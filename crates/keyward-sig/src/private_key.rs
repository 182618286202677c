//! Private keys, for clients that sign RFC 9421 requests with a public-key credential (and for
//! keyward's own response-signing key). Feature `private-keys`; a server verifying requests
//! needs only [`crate::public_key`].
//!
//! A key is read from a PKCS#8 PEM file (`-----BEGIN PRIVATE KEY-----`, what `openssl genpkey`
//! and [`PrivateKey::generate`] write) or generated here, for `ed25519`, `ecdsa-p256-sha256`,
//! `ecdsa-p384-sha384`, `rsa-pss-sha512` and `rsa-v1_5-sha256`. Ed25519 and ECDSA (RFC 6979)
//! signatures are deterministic; RSA-PSS draws a 64-byte salt from the operating system.
//! `Debug` never shows the key.
//!
//! # Example
//! ```
//! use keyward_sig::private_key::PrivateKey;
//! use keyward_sig::public_key::{Algorithm, PublicKey};
//! use keyward_sig::rfc9421::MessageSigner;
//!
//! let key = PrivateKey::generate(Algorithm::Ed25519).unwrap();
//! let public = PublicKey::parse(&key.public_key_pem(), None).unwrap();
//! let signature = key.sign(b"a signature base").unwrap();
//! assert!(public.verify(b"a signature base", &signature));
//! ```

use std::fmt;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Signer as _};
use sha2::{Sha256, Sha512};

use crate::error::SignError;
use crate::public_key::Algorithm;
use crate::rfc9421::MessageSigner;

/// Why a private key cannot be read or made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrivateKeyError {
    /// Not a PKCS#8 PEM private key of a kind keyward signs with.
    Unreadable(&'static str),
    /// The key is not of the stated algorithm.
    Mismatch {
        /// What was stated.
        stated: Algorithm,
    },
    /// An RSA key without a stated algorithm.
    RsaNeedsAlgorithm,
    /// The operating system's random source failed.
    Random,
}

impl fmt::Display for PrivateKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivateKeyError::Unreadable(why) => write!(f, "not a private key keyward reads: {why}"),
            PrivateKeyError::Mismatch { stated } => {
                write!(f, "the private key cannot make {stated} signatures")
            }
            PrivateKeyError::RsaNeedsAlgorithm => f.write_str(
                "an RSA key needs its algorithm stated: rsa-pss-sha512 or rsa-v1_5-sha256",
            ),
            PrivateKeyError::Random => f.write_str("the system's random source failed"),
        }
    }
}

impl std::error::Error for PrivateKeyError {}

/// RSA keys this module generates have this many bits.
pub const GENERATED_RSA_BITS: usize = 3072;

enum Inner {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(rsa::PrivateKey),
}

/// A private key with the algorithm it signs with.
pub struct PrivateKey {
    algorithm: Algorithm,
    inner: Inner,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, <redacted>)", self.algorithm)
    }
}

/// Fills `bytes` from the operating system's generator.
fn random(bytes: &mut [u8]) -> Result<(), PrivateKeyError> {
    getrandom::fill(bytes).map_err(|_| PrivateKeyError::Random)
}

impl PrivateKey {
    /// A new random key for `algorithm` (RSA keys of [`GENERATED_RSA_BITS`] bits).
    pub fn generate(algorithm: Algorithm) -> Result<Self, PrivateKeyError> {
        let inner = match algorithm {
            Algorithm::Ed25519 => {
                let mut seed = [0u8; 32];
                random(&mut seed)?;
                Inner::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            // A random scalar is out of range with probability below 2^-128: draw again.
            Algorithm::EcdsaP256Sha256 => Inner::P256(loop {
                let mut scalar = [0u8; 32];
                random(&mut scalar)?;
                if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&scalar) {
                    break key;
                }
            }),
            Algorithm::EcdsaP384Sha384 => Inner::P384(loop {
                let mut scalar = [0u8; 48];
                random(&mut scalar)?;
                if let Ok(key) = p384::ecdsa::SigningKey::from_slice(&scalar) {
                    break key;
                }
            }),
            Algorithm::RsaPssSha512 | Algorithm::RsaV15Sha256 => Inner::Rsa(
                rsa::PrivateKey::new(&mut getrandom::SysRng, GENERATED_RSA_BITS)
                    .map_err(|_| PrivateKeyError::Random)?,
            ),
        };
        Ok(PrivateKey { algorithm, inner })
    }

    /// Reads a PKCS#8 PEM private key. `algorithm` is needed for RSA (either padding), and
    /// checked for the others.
    pub fn from_pem(text: &str, algorithm: Option<Algorithm>) -> Result<Self, PrivateKeyError> {
        let text = text.trim();
        if text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(PrivateKeyError::Unreadable(
                "the private key is encrypted; decrypt it first (openssl pkcs8)",
            ));
        }
        if text.starts_with("-----BEGIN RSA PRIVATE KEY-----")
            || text.starts_with("-----BEGIN EC PRIVATE KEY-----")
        {
            return Err(PrivateKeyError::Unreadable(
                "not PKCS#8: convert it with `openssl pkcs8 -topk8 -nocrypt`",
            ));
        }
        if !text.starts_with("-----BEGIN PRIVATE KEY-----") {
            return Err(PrivateKeyError::Unreadable("no -----BEGIN PRIVATE KEY----- line"));
        }
        let (inner, implied) = if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            (Inner::Ed25519(key), Some(Algorithm::Ed25519))
        } else if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(text) {
            (Inner::P256(key), Some(Algorithm::EcdsaP256Sha256))
        } else if let Ok(key) = p384::ecdsa::SigningKey::from_pkcs8_pem(text) {
            (Inner::P384(key), Some(Algorithm::EcdsaP384Sha384))
        } else if let Ok(key) = rsa::PrivateKey::from_pkcs8_pem(text) {
            (Inner::Rsa(key), None)
        } else {
            return Err(PrivateKeyError::Unreadable(
                "not an Ed25519, P-256, P-384 or RSA private key in PKCS#8",
            ));
        };
        let algorithm = match (algorithm, implied) {
            (Some(stated), Some(implied)) if stated != implied => {
                return Err(PrivateKeyError::Mismatch { stated });
            }
            (_, Some(implied)) => implied,
            (Some(stated @ (Algorithm::RsaPssSha512 | Algorithm::RsaV15Sha256)), None) => stated,
            (Some(stated), None) => return Err(PrivateKeyError::Mismatch { stated }),
            (None, None) => return Err(PrivateKeyError::RsaNeedsAlgorithm),
        };
        Ok(PrivateKey { algorithm, inner })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key as a PKCS#8 PEM document, to save (mode 0600). An Ed25519 key is written as
    /// PKCS#8 v1, as `openssl genpkey` writes it (no public key inside), which every reader
    /// takes (Python's `cryptography` refuses the v2 form).
    pub fn to_pem(&self) -> String {
        let pem = match &self.inner {
            Inner::Ed25519(key) => {
                ed25519_dalek::pkcs8::KeypairBytes { secret_key: key.to_bytes(), public_key: None }
                    .to_pkcs8_pem(LineEnding::LF)
            }
            Inner::P256(key) => key.to_pkcs8_pem(LineEnding::LF),
            Inner::P384(key) => key.to_pkcs8_pem(LineEnding::LF),
            Inner::Rsa(key) => key.to_pkcs8_pem(LineEnding::LF),
        };
        pem.expect("a valid key encodes").to_string()
    }

    /// The public key as a JWK (RFC 7517, with the JOSE `alg`): what a server may be given
    /// instead of PEM.
    pub fn public_key_jwk(&self) -> serde_json::Value {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        match &self.inner {
            Inner::Ed25519(key) => serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
                "x": b64(key.verifying_key().as_bytes()),
            }),
            Inner::P256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                serde_json::json!({
                    "kty": "EC", "crv": "P-256", "alg": "ES256",
                    "x": b64(&bytes[1..33]), "y": b64(&bytes[33..65]),
                })
            }
            Inner::P384(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                serde_json::json!({
                    "kty": "EC", "crv": "P-384", "alg": "ES384",
                    "x": b64(&bytes[1..49]), "y": b64(&bytes[49..97]),
                })
            }
            Inner::Rsa(key) => {
                use rsa::traits::PublicKeyParts as _;
                let public = key.to_public_key();
                let alg = if self.algorithm == Algorithm::RsaPssSha512 { "PS512" } else { "RS256" };
                serde_json::json!({
                    "kty": "RSA", "alg": alg,
                    "n": b64(&public.n_bytes()), "e": b64(&public.e_bytes()),
                })
            }
        }
    }

    /// The public key as PEM (SubjectPublicKeyInfo): what a server is given.
    pub fn public_key_pem(&self) -> String {
        let pem = match &self.inner {
            Inner::Ed25519(key) => key.verifying_key().to_public_key_pem(LineEnding::LF),
            Inner::P256(key) => key.verifying_key().to_public_key_pem(LineEnding::LF),
            Inner::P384(key) => key.verifying_key().to_public_key_pem(LineEnding::LF),
            Inner::Rsa(key) => key.to_public_key().to_public_key_pem(LineEnding::LF),
        };
        pem.expect("a valid key encodes")
    }
}

impl MessageSigner for PrivateKey {
    fn algorithm(&self) -> &'static str {
        self.algorithm.name()
    }

    fn sign(&self, base: &[u8]) -> Result<Vec<u8>, SignError> {
        let failed = |_| SignError::Unsignable { reason: "the private key failed to sign" };
        Ok(match &self.inner {
            Inner::Ed25519(key) => key.sign(base).to_bytes().to_vec(),
            Inner::P256(key) => {
                let signature: p256::ecdsa::Signature = key.try_sign(base).map_err(failed)?;
                signature.to_bytes().to_vec()
            }
            Inner::P384(key) => {
                let signature: p384::ecdsa::Signature = key.try_sign(base).map_err(failed)?;
                signature.to_bytes().to_vec()
            }
            Inner::Rsa(key) => match self.algorithm {
                Algorithm::RsaPssSha512 => rsa::pss::SigningKey::<Sha512>::new(key.clone())
                    .try_sign_with_rng(&mut getrandom::SysRng, base)
                    .map_err(failed)?
                    .to_vec(),
                _ => rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone())
                    .try_sign(base)
                    .map_err(failed)?
                    .to_vec(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public_key::PublicKey;

    #[test]
    fn every_algorithm_generates_signs_and_round_trips_through_pem() {
        for algorithm in Algorithm::ALL {
            let key = PrivateKey::generate(algorithm).unwrap();
            let again = PrivateKey::from_pem(&key.to_pem(), Some(algorithm)).unwrap();
            let public = PublicKey::parse(&again.public_key_pem(), Some(algorithm)).unwrap();
            let signature = key.sign(b"base").unwrap();
            assert!(public.verify(b"base", &signature), "{algorithm}");
            assert!(!public.verify(b"base!", &signature), "{algorithm}");
            // The JWK form is the same key, and names its algorithm (RSA included).
            let jwk = PublicKey::parse(&key.public_key_jwk().to_string(), None).unwrap();
            assert_eq!(jwk.algorithm(), algorithm);
            assert!(jwk.verify(b"base", &signature), "{algorithm} from its JWK");
            assert_eq!(format!("{key:?}"), format!("PrivateKey({algorithm}, <redacted>)"));
        }
    }

    #[test]
    fn the_rfcs_ed25519_key_signs_deterministically() {
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n\
                   -----END PRIVATE KEY-----";
        let key = PrivateKey::from_pem(pem, None).unwrap();
        assert_eq!(key.algorithm(), Algorithm::Ed25519);
        // Written back exactly as OpenSSL writes it.
        assert_eq!(key.to_pem().trim(), pem);
        assert!(
            key.public_key_pem()
                .contains("MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=")
        );
        assert_eq!(key.sign(b"x").unwrap(), key.sign(b"x").unwrap());
    }

    #[test]
    fn unusable_files_are_refused_with_a_reason() {
        let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----";
        assert!(PrivateKey::from_pem(public, None).is_err());
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----";
        assert!(
            PrivateKey::from_pem(encrypted, None).unwrap_err().to_string().contains("encrypted")
        );
        let rsa = PrivateKey::generate(Algorithm::RsaV15Sha256).unwrap().to_pem();
        assert_eq!(
            PrivateKey::from_pem(&rsa, None).unwrap_err(),
            PrivateKeyError::RsaNeedsAlgorithm
        );
        let ed = PrivateKey::generate(Algorithm::Ed25519).unwrap().to_pem();
        assert!(PrivateKey::from_pem(&ed, Some(Algorithm::EcdsaP256Sha256)).is_err());
    }
}
