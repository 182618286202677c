//! TLS termination: keyward serving HTTPS itself, with rustls (TLS 1.2 and 1.3, ALPN `h2` and
//! `http/1.1`).
//!
//! Each certificate is a PEM chain and its PEM private key (ECDSA, Ed25519 or RSA, PKCS#8,
//! SEC1 or PKCS#1). With several, a client's SNI picks the one whose subject alternative
//! names (DNS, `*.` wildcards for one label) cover it; a client naming none of them, or no
//! name at all, gets the first. [`Tls::reload`] reads the same files again, for `SIGHUP`: the
//! new certificates serve the next handshakes, open connections keep theirs, and a file that
//! cannot be used leaves every certificate as it was.
//!
//! ```text
//! TCP ─▶ first byte 0x16? ─no─▶ 400 (code 49) in plain HTTP, closed
//!              │yes
//!              ▼
//!        handshake (SNI ─▶ Certificates) ─▶ hyper (h2 or http/1.1 by ALPN)
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// The first byte of a TLS connection: a handshake record.
pub(crate) const HANDSHAKE_RECORD: u8 = 0x16;

/// One certificate keyward serves: its chain and its private key, as files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateFiles {
    /// The PEM certificate chain, leaf first.
    pub chain: PathBuf,
    /// The leaf's PEM private key.
    pub key: PathBuf,
}

/// Why certificates cannot be served: the file and what is wrong with it.
#[derive(Debug)]
pub struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// keyward's TLS: the acceptor handshakes are made with, over certificates that can be
/// reloaded. Cheap to clone.
#[derive(Clone)]
pub struct Tls {
    files: Arc<[CertificateFiles]>,
    certificates: Arc<Certificates>,
    acceptor: TlsAcceptor,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads `files` (at least one), or says which cannot be served and why.
    pub fn load(files: Vec<CertificateFiles>) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded = Loaded::read(&files, &provider)?;
        let certificates = Arc::new(Certificates { loaded: RwLock::new(Arc::new(loaded)) });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|error| TlsError(format!("TLS: {error}")))?
            .with_no_client_auth()
            .with_cert_resolver(certificates.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        Ok(Tls { files: files.into(), certificates, acceptor })
    }

    /// Reads the certificate files again: the next handshakes use them. On an error, the
    /// certificates served so far stay.
    pub fn reload(&self) -> Result<usize, TlsError> {
        let provider = rustls::crypto::ring::default_provider();
        let loaded = Loaded::read(&self.files, &provider)?;
        let count = loaded.all.len();
        *self.certificates.loaded.write().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Arc::new(loaded);
        Ok(count)
    }

    /// How connections are accepted.
    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// The certificates served, replaced whole on a reload.
#[derive(Debug)]
struct Certificates {
    loaded: RwLock<Arc<Loaded>>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let loaded = self.loaded.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        Some(loaded.for_name(hello.server_name()).clone())
    }
}

/// Certificates read from their files, by the names they cover.
#[derive(Debug)]
struct Loaded {
    /// In the order given: the first is the default.
    all: Vec<Arc<CertifiedKey>>,
    /// Lower-case DNS names (`*.example.com` for a wildcard) to an index into `all`; the first
    /// certificate naming a name keeps it.
    names: HashMap<String, usize>,
}

impl Loaded {
    fn read(files: &[CertificateFiles], provider: &CryptoProvider) -> Result<Self, TlsError> {
        if files.is_empty() {
            return Err(TlsError("TLS needs at least one certificate and key".into()));
        }
        let mut loaded = Loaded { all: Vec::new(), names: HashMap::new() };
        for file in files {
            let (key, names) = certified_key(file, provider)?;
            let index = loaded.all.len();
            loaded.all.push(Arc::new(key));
            for name in names {
                loaded.names.entry(name).or_insert(index);
            }
        }
        Ok(loaded)
    }

    /// The certificate for SNI `name`: one naming it exactly, else one whose wildcard covers
    /// it, else the first.
    fn for_name(&self, name: Option<&str>) -> &Arc<CertifiedKey> {
        let found = name.and_then(|name| {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let wildcard = name.split_once('.').map(|(_, parent)| format!("*.{parent}"));
            self.names.get(&name).or_else(|| wildcard.and_then(|w| self.names.get(&w)))
        });
        &self.all[found.copied().unwrap_or(0)]
    }
}

/// The chain and key of `file`, checked to belong together, and the DNS names the leaf covers.
fn certified_key(
    file: &CertificateFiles,
    provider: &CryptoProvider,
) -> Result<(CertifiedKey, Vec<String>), TlsError> {
    let chain = read(&file.chain)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain)
        .collect::<Result<_, _>>()
        .map_err(|error| pem_error(&file.chain, "certificate", error))?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError(format!("{}: no PEM certificate in it", file.chain.display())));
    };
    let names = dns_names(leaf).map_err(|reason| {
        TlsError(format!("{}: the certificate cannot be read: {reason}", file.chain.display()))
    })?;
    let key = read(&file.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|error| pem_error(&file.key, "private key", error))?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|error| {
        TlsError(format!(
            "{} and {}: {error} (is the key the certificate's?)",
            file.chain.display(),
            file.key.display()
        ))
    })?;
    Ok((certified, names))
}

/// The DNS names (lower case) in a certificate's subject alternative names.
fn dns_names(leaf: &CertificateDer<'_>) -> Result<Vec<String>, webpki::Error> {
    let parsed = webpki::EndEntityCert::try_from(leaf)?;
    Ok(parsed.valid_dns_names().map(str::to_ascii_lowercase).collect())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|error| TlsError(format!("cannot read {}: {error}", path.display())))
}

fn pem_error(path: &Path, what: &str, error: rustls::pki_types::pem::Error) -> TlsError {
    let reason = match error {
        rustls::pki_types::pem::Error::NoItemsFound => format!("no PEM {what} in it"),
        other => format!("not a PEM {what}: {other:?}"),
    };
    TlsError(format!("{}: {reason}", path.display()))
}
