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
//! With a client CA ([`TlsFiles::client_ca`]), keyward asks every client for a certificate,
//! optionally (clients of the other schemes need none); one presented must chain to that CA,
//! or the handshake fails. A verified client certificate goes with each of the connection's
//! requests, as the `mtls` scheme's credential ([`ClientCertificate`]). A reload reads the CA
//! again too.
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

use keyward_sig::certificate::ClientCertificate;
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

/// What keyward serves TLS with: its certificates, and the CA client certificates must chain
/// to, if it asks for them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificates served, the first by default.
    pub certificates: Vec<CertificateFiles>,
    /// A PEM bundle of the CA certificates client certificates are verified against.
    pub client_ca: Option<PathBuf>,
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

/// keyward's TLS: the configuration handshakes are made with, replaced whole on a reload.
/// Cheap to clone.
#[derive(Clone)]
pub struct Tls {
    files: Arc<TlsFiles>,
    config: Arc<RwLock<Arc<rustls::ServerConfig>>>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads `files` (at least one certificate), or says which cannot be served and why.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = server_config(&files)?;
        Ok(Tls { files: Arc::new(files), config: Arc::new(RwLock::new(config)) })
    }

    /// Reads the certificate files (and the client CA) again: the next handshakes use them. On
    /// an error, what was served so far stays. Answers how many certificates are served.
    pub fn reload(&self) -> Result<usize, TlsError> {
        let config = server_config(&self.files)?;
        *self.config.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = config;
        Ok(self.files.certificates.len())
    }

    /// How the next connection is accepted.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// The server configuration `files` make: TLS 1.3 and 1.2, ALPN h2 and http/1.1, the
/// certificates by SNI, client certificates asked for when a client CA is given.
fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let loaded = Arc::new(Loaded::read(&files.certificates, &provider)?);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|error| TlsError(format!("TLS: {error}")))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let bundle = read(path)?;
            for certificate in CertificateDer::pem_slice_iter(&bundle) {
                let certificate =
                    certificate.map_err(|error| pem_error(path, "certificate", error))?;
                roots.add(certificate).map_err(|error| {
                    TlsError(format!("{}: not a CA certificate: {error}", path.display()))
                })?;
            }
            if roots.is_empty() {
                return Err(TlsError(format!("{}: no PEM certificate in it", path.display())));
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .allow_unauthenticated()
                    .build()
                    .map_err(|error| TlsError(format!("{}: {error}", path.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(Certificates(loaded)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client certificate a handshake verified, as the `mtls` scheme's credential.
pub(crate) fn client_certificate(
    connection: &rustls::ServerConnection,
) -> Option<Arc<ClientCertificate>> {
    let leaf = connection.peer_certificates()?.first()?;
    // Its chain was verified against the client CA, or the handshake would have failed.
    ClientCertificate::from_der(leaf, true).ok().map(Arc::new)
}

/// The certificates served, chosen by SNI.
#[derive(Debug)]
struct Certificates(Arc<Loaded>);

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.for_name(hello.server_name()).clone())
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
