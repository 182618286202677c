//! Certificates for TLS tests: a private CA, and leaves it signs for the names a test serves,
//! written as PEM files the way an operator would hand them to keyward (or nginx).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType, SignatureAlgorithm,
};

pub use rcgen::{PKCS_ECDSA_P256_SHA256, PKCS_ED25519};

/// A private certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Its certificate, as PEM.
    pub pem: String,
}

/// A leaf certificate and its key, as PEM, with the files they were written to.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// The certificate (the chain: the leaf alone, its CA being the client's root).
    pub pem: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The private key (PKCS#8).
    pub key_pem: String,
}

impl TestCa {
    /// A new CA, ECDSA P-256, named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("a CA certificate");
        let pem = issuer.pem();
        TestCa { issuer, pem }
    }

    /// A leaf for `names` (DNS names; `spiffe://` and other URIs go in as URIs), with a key of
    /// `algorithm` (`PKCS_ECDSA_P256_SHA256`, `PKCS_ED25519`).
    pub fn leaf(&self, names: &[&str], algorithm: &'static SignatureAlgorithm) -> Leaf {
        let (uris, dns): (Vec<&str>, Vec<&str>) = names.iter().partition(|n| n.contains("://"));
        let dns: Vec<String> = dns.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(dns).expect("leaf parameters");
        for uri in uris {
            let uri = uri.to_string().try_into().expect("a URI in ASCII");
            params.subject_alt_names.push(SanType::URI(uri));
        }
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().cloned().unwrap_or_default());
        let key = KeyPair::generate_for(algorithm).expect("a leaf key");
        let certificate = params.signed_by(&key, &self.issuer).expect("a leaf certificate");
        Leaf {
            pem: certificate.pem(),
            der: certificate.der().to_vec(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes the CA's certificate to `dir/ca.pem`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).expect("the CA file");
        path
    }
}

impl Leaf {
    /// Writes the certificate and key to `dir/NAME.pem` and `dir/NAME.key`.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (chain, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
        std::fs::write(&chain, &self.pem).expect("the certificate file");
        std::fs::write(&key, &self.key_pem).expect("the key file");
        (chain, key)
    }
}
