//! The `mtls` scheme's credential: the client certificate a TLS connection presented (to
//! keyward itself, or to a trusted proxy that passed it on), and the binding a key holds to
//! one.
//!
//! A key is bound either to one certificate, pinned by the SHA-256 of its DER (RFC 8705's
//! `x5t#S256`), or to a subject alternative name (a DNS name, a URI such as a SPIFFE ID) that
//! any certificate from the trusted CA may carry. A subject binding admits only a certificate
//! whose chain was verified against that CA; a pin admits the very certificate, however it
//! arrived.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

/// The algorithm a certificate-bound key is listed with: it verifies no signature, the TLS
/// connection's client certificate is the credential.
pub const MTLS: &str = "mtls";

/// The most subject alternative names read from one certificate.
pub const MAX_NAMES: usize = 16;

/// A client certificate as verification needs it: its fingerprint and its names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientCertificate {
    sha256: [u8; 32],
    names: Vec<String>,
    chain_verified: bool,
}

/// Why a certificate cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateError(pub String);

impl std::fmt::Display for CertificateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CertificateError {}

impl ClientCertificate {
    /// The leaf certificate `der`; `chain_verified` when its chain was verified against the
    /// trusted CA (by keyward's TLS, or by the CA check of a forwarded one).
    pub fn from_der(der: &[u8], chain_verified: bool) -> Result<Self, CertificateError> {
        let certificate = CertificateDer::from(der);
        let parsed = webpki::EndEntityCert::try_from(&certificate)
            .map_err(|error| CertificateError(format!("not an X.509 certificate: {error:?}")))?;
        let names = parsed
            .valid_dns_names()
            .map(str::to_ascii_lowercase)
            .chain(parsed.valid_uri_names().filter(|uri| !uri.is_empty()).map(str::to_owned))
            .take(MAX_NAMES)
            .collect();
        Ok(ClientCertificate { sha256: Sha256::digest(der).into(), names, chain_verified })
    }

    /// A certificate known by its fingerprint and names only (a proxy that passes on the
    /// hash of the certificate it verified, not the certificate).
    pub fn from_parts(sha256: [u8; 32], names: Vec<String>, chain_verified: bool) -> Self {
        let names = names.into_iter().filter(|name| !name.is_empty()).take(MAX_NAMES).collect();
        ClientCertificate { sha256, names, chain_verified }
    }

    /// The SHA-256 of the certificate's DER.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// Its DNS and URI subject alternative names (DNS names in lower case), at most
    /// [`MAX_NAMES`].
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether its chain was verified against the trusted CA.
    pub fn chain_verified(&self) -> bool {
        self.chain_verified
    }

    /// RFC 8705's `x5t#S256`: the fingerprint, base64url without padding.
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha256)
    }
}

/// What a key is bound to, for the `mtls` scheme.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CertificateBinding {
    /// One certificate, by the SHA-256 of its DER.
    Pinned([u8; 32]),
    /// Any certificate from the trusted CA that carries this subject alternative name.
    Subject(String),
}

impl CertificateBinding {
    /// Pinned to the first certificate of `pem`.
    pub fn pinned_to(pem: &str) -> Result<Self, CertificateError> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| CertificateError("not a PEM certificate".into()))?;
        let certificate = ClientCertificate::from_der(&der, false)?;
        Ok(CertificateBinding::Pinned(certificate.sha256))
    }

    /// Bound to subject alternative name `name` (a DNS name or a URI), checked to be one a
    /// certificate can carry.
    pub fn subject(name: &str) -> Result<Self, CertificateError> {
        let name = name.trim();
        let printable = name.bytes().all(|b| b.is_ascii_graphic());
        if name.is_empty() || name.len() > 255 || !printable {
            return Err(CertificateError(
                "a certificate subject is a DNS name or a URI: 1 to 255 visible ASCII characters"
                    .into(),
            ));
        }
        let name = if name.contains(':') { name.to_owned() } else { name.to_ascii_lowercase() };
        Ok(CertificateBinding::Subject(name))
    }

    /// Whether `certificate` is one this binding admits. The fingerprint is compared in
    /// constant time.
    pub fn admits(&self, certificate: &ClientCertificate) -> bool {
        match self {
            CertificateBinding::Pinned(sha256) => {
                crate::mac::constant_time_eq(sha256, &certificate.sha256)
            }
            CertificateBinding::Subject(name) => {
                certificate.chain_verified && certificate.names.iter().any(|n| n == name)
            }
        }
    }

    /// The binding as stored and looked up: `sha256:<hex>` or `san:<name>`.
    pub fn to_db(&self) -> String {
        match self {
            CertificateBinding::Pinned(sha256) => format!("sha256:{}", const_hex::encode(sha256)),
            CertificateBinding::Subject(name) => format!("san:{name}"),
        }
    }

    /// The binding [`CertificateBinding::to_db`] wrote.
    pub fn from_db(text: &str) -> Option<Self> {
        if let Some(hex) = text.strip_prefix("sha256:") {
            return const_hex::decode_to_array(hex).ok().map(CertificateBinding::Pinned);
        }
        text.strip_prefix("san:").map(|name| CertificateBinding::Subject(name.to_owned()))
    }

    /// What a certificate's lookups are: its pin, then (chain verified) each of its names.
    pub fn candidates(certificate: &ClientCertificate) -> Vec<CertificateBinding> {
        let pinned = CertificateBinding::Pinned(certificate.sha256);
        let names = certificate.names.iter().filter(|_| certificate.chain_verified);
        std::iter::once(pinned)
            .chain(names.map(|name| CertificateBinding::Subject(name.clone())))
            .collect()
    }
}
