//! TLS to upstreams: an `https://` upstream is verified against the system's root
//! certificates, or only against the route's `upstream_ca`; the route may present a client
//! certificate of its own (`upstream_client_cert`, `upstream_client_key`). SNI is the URL's
//! host; h2 is used where the upstream offers it by ALPN. The files are read when the routes
//! are (at start and on every reload).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// What a route trusts and presents when it speaks TLS to its upstream.
pub(crate) struct UpstreamTls<'a> {
    /// The CA bundle the upstream's certificate must chain to (`None`: the system's roots).
    pub ca: Option<&'a Path>,
    /// The certificate chain and key the route presents, if the upstream asks for one.
    pub client: Option<(&'a Path, &'a Path)>,
}

impl UpstreamTls<'_> {
    /// The client configuration, or why the files cannot be used.
    pub(crate) fn config(&self) -> Result<Arc<ClientConfig>, String> {
        let roots = match self.ca {
            Some(ca) => Arc::new(roots_from(ca)?),
            None => system_roots()?,
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS: {error}"))?
            .with_root_certificates(roots);
        let config = match self.client {
            None => builder.with_no_client_auth(),
            Some((chain_path, key_path)) => {
                let chain = certificates(chain_path)?;
                let key = PrivateKeyDer::from_pem_slice(&read(key_path)?).map_err(|error| {
                    format!("{}: no PEM private key ({error:?})", key_path.display())
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|error| {
                    format!("upstream_client_cert and upstream_client_key: {error}")
                })?
            }
        };
        Ok(Arc::new(config))
    }
}

/// The configuration plain-HTTP routes' connectors carry, never used to connect.
pub(crate) fn unused() -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the provider supports the default versions")
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's root certificates, read once.
fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        // Certificates the system holds that cannot be parsed are skipped, as browsers do.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        Arc::new(roots)
    });
    if roots.is_empty() {
        return Err("no root certificates on this system to verify https upstreams with: set \
                    upstream_ca"
            .into());
    }
    Ok(roots.clone())
}

fn roots_from(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(path)? {
        roots.add(certificate).map_err(|error| format!("{}: {error}", path.display()))?;
    }
    Ok(roots)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path)?;
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("{}: not a PEM certificate ({error:?})", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certificates)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}
