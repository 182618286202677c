//! The client certificate a trusted proxy that terminated TLS passes on, for the `mtls` scheme
//! behind it. Read only from a `--trusted-proxy` peer, and only from the one header that proxy
//! writes (a proxy passes its client's other headers on, so a header it does not overwrite is
//! the client's own word, and a certificate is public):
//!
//! | proxy (`--forward-auth`) | header | value |
//! |---|---|---|
//! | nginx | `X-SSL-Client-Cert` | `$ssl_client_escaped_cert`: URL-encoded PEM |
//! | Caddy, and keyward as the gateway without `--forward-auth` | `Client-Cert` (RFC 9440) | `:base64 DER:` |
//! | Traefik | `X-Forwarded-Tls-Client-Cert` | `passTLSClientCert`: base64 DER, URL-encoded |
//! | Envoy | `X-Forwarded-Client-Cert` (XFCC) | `Hash=<hex>;Cert="<URL-encoded PEM>";URI=...;DNS=...` |
//!
//! The proxy verified the certificate's chain against its own client CA, so what a trusted
//! proxy passes on counts as verified. An unreadable value refuses the request (400, code 48):
//! a proxy that sends one is misconfigured, and guessing would let the wrong key through.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use keyward_sig::certificate::ClientCertificate;
use percent_encoding::percent_decode_str;

use crate::ForwardAuthProxy;

/// The header a proxy passes a client certificate in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateHeader {
    /// RFC 9440's `Client-Cert`.
    ClientCert,
    /// Envoy's `X-Forwarded-Client-Cert`.
    Xfcc,
    /// nginx's escaped PEM, in `X-SSL-Client-Cert`.
    SslClientCert,
    /// Traefik's `X-Forwarded-Tls-Client-Cert`.
    TlsClientCert,
}

impl CertificateHeader {
    /// Every one, for the headers keyward removes from what goes upstream.
    pub const ALL: [CertificateHeader; 4] = [
        CertificateHeader::ClientCert,
        CertificateHeader::Xfcc,
        CertificateHeader::SslClientCert,
        CertificateHeader::TlsClientCert,
    ];

    /// The one `proxy` writes (RFC 9440's without a proxy named).
    pub fn of(proxy: Option<ForwardAuthProxy>) -> Self {
        match proxy {
            Some(ForwardAuthProxy::Nginx) => CertificateHeader::SslClientCert,
            Some(ForwardAuthProxy::Traefik) => CertificateHeader::TlsClientCert,
            Some(ForwardAuthProxy::Envoy) => CertificateHeader::Xfcc,
            Some(ForwardAuthProxy::Caddy) | None => CertificateHeader::ClientCert,
        }
    }

    /// Its name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            CertificateHeader::ClientCert => "client-cert",
            CertificateHeader::Xfcc => "x-forwarded-client-cert",
            CertificateHeader::SslClientCert => "x-ssl-client-cert",
            CertificateHeader::TlsClientCert => "x-forwarded-tls-client-cert",
        }
    }
}

/// The most bytes of a forwarded certificate header read.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The certificate `header` names in `headers`; `Ok(None)` when it is absent.
pub fn forwarded(
    headers: &HeaderMap,
    header: CertificateHeader,
) -> Result<Option<Arc<ClientCertificate>>, String> {
    let name = header.name();
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(format!("{name} is repeated"));
    }
    let value = value.to_str().map_err(|_| format!("{name} is not ASCII"))?;
    if value.len() > MAX_HEADER_BYTES {
        return Err(format!("{name} is longer than {MAX_HEADER_BYTES} bytes"));
    }
    let certificate = match header {
        CertificateHeader::ClientCert => rfc9440(value),
        CertificateHeader::Xfcc => xfcc(value),
        CertificateHeader::SslClientCert => escaped_pem(value),
        CertificateHeader::TlsClientCert => escaped_base64(value),
    };
    certificate.map(|c| Some(Arc::new(c))).map_err(|why| format!("{name}: {why}"))
}

/// RFC 9440: a Structured Field byte sequence of the DER.
pub fn rfc9440(value: &str) -> Result<ClientCertificate, String> {
    let value = value.trim();
    let inner = value
        .strip_prefix(':')
        .and_then(|rest| rest.strip_suffix(':'))
        .ok_or("not a byte sequence (:base64:)")?;
    let der = STANDARD.decode(inner).map_err(|_| "not base64")?;
    from_der(&der)
}

/// Envoy's `X-Forwarded-Client-Cert`: the last element (the proxy's own), its `Cert` when it
/// has one, else its `Hash` with its `URI` and `DNS` names.
pub fn xfcc(value: &str) -> Result<ClientCertificate, String> {
    let element = split_unquoted(value, ',').last().ok_or("empty")?;
    let (mut cert, mut hash, mut names) = (None, None, Vec::new());
    for pair in split_unquoted(element, ';') {
        let (key, value) = pair.split_once('=').ok_or("a pair without =")?;
        let value = unquote(value.trim())?;
        match key.trim().to_ascii_lowercase().as_str() {
            "cert" => cert = Some(value),
            "hash" => hash = Some(value),
            "uri" if !value.is_empty() => names.push(value),
            "dns" if !value.is_empty() => names.push(value.to_ascii_lowercase()),
            _ => {}
        }
    }
    if let Some(cert) = cert {
        return escaped_pem(&cert);
    }
    let hash = hash.ok_or("neither Cert nor Hash")?;
    let mut sha256 = [0u8; 32];
    hex_decode(&hash, &mut sha256).ok_or("Hash is not a hex SHA-256")?;
    Ok(ClientCertificate::from_parts(sha256, names, true))
}

/// A URL-encoded PEM certificate (nginx's `$ssl_client_escaped_cert`, XFCC's `Cert`).
pub fn escaped_pem(value: &str) -> Result<ClientCertificate, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = percent_decode_str(value.trim()).decode_utf8().map_err(|_| "not UTF-8")?;
    let der =
        CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| "not a PEM certificate")?;
    from_der(&der)
}

/// Traefik's: the certificate's base64 DER (PEM without its lines), URL-encoded.
pub fn escaped_base64(value: &str) -> Result<ClientCertificate, String> {
    let text = percent_decode_str(value.trim()).decode_utf8().map_err(|_| "not UTF-8")?;
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .flat_map(|line| line.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD.decode(body).map_err(|_| "not base64")?;
    from_der(&der)
}

fn from_der(der: &[u8]) -> Result<ClientCertificate, String> {
    ClientCertificate::from_der(der, true).map_err(|error| error.to_string())
}

/// `text` split at `separator` outside double quotes (a quoted value may hold either).
fn split_unquoted(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    text.split(move |c: char| {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => quoted = !quoted,
            _ => {}
        }
        c == separator && !quoted
    })
    .filter(|part| !part.trim().is_empty())
}

/// A value without its quotes, its `\"` and `\\` escapes undone.
fn unquote(value: &str) -> Result<String, &'static str> {
    let Some(inner) = value.strip_prefix('"') else { return Ok(value.to_owned()) };
    let inner = inner.strip_suffix('"').ok_or("an unterminated quote")?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().ok_or("a dangling escape")? } else { c });
    }
    Ok(out)
}

fn hex_decode(text: &str, out: &mut [u8; 32]) -> Option<()> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use http::{HeaderMap, HeaderValue};
    use keyward_testkit::certs::{PKCS_ECDSA_P256_SHA256, TestCa};
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    use sha2::{Digest, Sha256};

    use super::{CertificateHeader, forwarded};

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn each_proxys_header_names_the_same_certificate() {
        let ca = TestCa::new("proxy CA");
        let leaf = ca.leaf(&["client.test", "spiffe://example.org/app"], &PKCS_ECDSA_P256_SHA256);
        let sha256: [u8; 32] = Sha256::digest(&leaf.der).into();
        let escaped = utf8_percent_encode(&leaf.pem, NON_ALPHANUMERIC).to_string();
        let base64 = STANDARD.encode(&leaf.der);
        let hex: String = sha256.iter().map(|b| format!("{b:02x}")).collect();
        let cases = [
            (CertificateHeader::ClientCert, format!(":{base64}:")),
            (CertificateHeader::Xfcc, format!("By=spiffe://proxy;Hash={hex};Cert=\"{escaped}\"")),
            // Several hops: the last element is the proxy's own.
            (CertificateHeader::Xfcc, format!("Hash=00;URI=x,Hash={hex};Cert=\"{escaped}\"")),
            (CertificateHeader::SslClientCert, escaped.clone()),
            (
                CertificateHeader::TlsClientCert,
                utf8_percent_encode(&base64, NON_ALPHANUMERIC).to_string(),
            ),
        ];
        for (header, value) in cases {
            let name = header.name();
            let certificate = forwarded(&headers(name, &value), header).unwrap().unwrap();
            assert_eq!(certificate.sha256(), &sha256, "{name}");
            assert_eq!(certificate.names(), ["client.test", "spiffe://example.org/app"], "{name}");
            assert!(certificate.chain_verified(), "a trusted proxy verified it: {name}");
        }
        // Only the header asked for is read.
        let other = headers(CertificateHeader::ClientCert.name(), &format!(":{base64}:"));
        assert!(forwarded(&other, CertificateHeader::SslClientCert).unwrap().is_none());
        // Envoy without Cert: the hash and the names it lists.
        let xfcc = format!("Hash={hex};URI=spiffe://example.org/app;DNS=Client.Test");
        let hashed =
            forwarded(&headers(CertificateHeader::Xfcc.name(), &xfcc), CertificateHeader::Xfcc)
                .unwrap()
                .unwrap();
        assert_eq!(hashed.sha256(), &sha256);
        assert_eq!(hashed.names(), ["spiffe://example.org/app", "client.test"]);
    }

    #[test]
    fn unreadable_or_repeated_values_are_refused_and_absent_ones_are_none() {
        assert!(forwarded(&HeaderMap::new(), CertificateHeader::ClientCert).unwrap().is_none());
        for (header, value) in [
            (CertificateHeader::ClientCert, "not-a-byte-sequence"),
            (CertificateHeader::ClientCert, ":!!:"),
            (CertificateHeader::ClientCert, ":AAAA:"),
            (CertificateHeader::Xfcc, "By=x"),
            (CertificateHeader::Xfcc, "Hash=abc"),
            (CertificateHeader::Xfcc, "Cert=\"unterminated"),
            (CertificateHeader::SslClientCert, "-----BEGIN%20CERTIFICATE-----"),
            (CertificateHeader::TlsClientCert, "%FF%FE"),
        ] {
            let result = forwarded(&headers(header.name(), value), header);
            assert!(result.is_err(), "{header:?}: {value}");
        }
        let mut twice = headers("client-cert", ":AAAA:");
        twice.append("client-cert", HeaderValue::from_static(":AAAA:"));
        let twice = forwarded(&twice, CertificateHeader::ClientCert);
        assert!(twice.unwrap_err().contains("repeated"));
    }
}
