//! The client certificate a trusted proxy that terminated TLS passes on, for the `mtls` scheme
//! behind it. Read only from a `--trusted-proxy` peer (anyone else's is the client's own word,
//! and removed before the request goes upstream), in the first of these headers present:
//!
//! | header | sent by | value |
//! |---|---|---|
//! | `Client-Cert` | RFC 9440 (Caddy's `{tls_client_certificate_der_base64}`) | `:base64 DER:` |
//! | `X-Forwarded-Client-Cert` | Envoy (XFCC) | `Hash=<hex>;Cert="<URL-encoded PEM>";URI=...;DNS=...` |
//! | `X-SSL-Client-Cert` | nginx's `$ssl_client_escaped_cert` | URL-encoded PEM |
//! | `X-Forwarded-Tls-Client-Cert` | Traefik's `passTLSClientCert` | base64 DER, URL-encoded |
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

/// The headers a proxy passes a client certificate in, in the order they are read.
pub const CERTIFICATE_HEADERS: [&str; 4] =
    ["client-cert", "x-forwarded-client-cert", "x-ssl-client-cert", "x-forwarded-tls-client-cert"];

/// The most bytes of a forwarded certificate header read.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The certificate the first of [`CERTIFICATE_HEADERS`] present names; `Ok(None)` when none is.
pub fn forwarded(headers: &HeaderMap) -> Result<Option<Arc<ClientCertificate>>, String> {
    for name in CERTIFICATE_HEADERS {
        let mut values = headers.get_all(name).iter();
        let Some(value) = values.next() else { continue };
        if values.next().is_some() {
            return Err(format!("{name} is repeated"));
        }
        let value = value.to_str().map_err(|_| format!("{name} is not ASCII"))?;
        if value.len() > MAX_HEADER_BYTES {
            return Err(format!("{name} is longer than {MAX_HEADER_BYTES} bytes"));
        }
        let certificate = match name {
            "client-cert" => rfc9440(value),
            "x-forwarded-client-cert" => xfcc(value),
            "x-ssl-client-cert" => escaped_pem(value),
            _ => escaped_base64(value),
        };
        return certificate.map(|c| Some(Arc::new(c))).map_err(|why| format!("{name}: {why}"));
    }
    Ok(None)
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

    use super::{CERTIFICATE_HEADERS, forwarded};

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
            ("client-cert", format!(":{base64}:")),
            ("x-forwarded-client-cert", format!("By=spiffe://proxy;Hash={hex};Cert=\"{escaped}\"")),
            // Several hops: the last element is the proxy's own.
            ("x-forwarded-client-cert", format!("Hash=00;URI=x,Hash={hex};Cert=\"{escaped}\"")),
            ("x-ssl-client-cert", escaped.clone()),
            (
                "x-forwarded-tls-client-cert",
                utf8_percent_encode(&base64, NON_ALPHANUMERIC).to_string(),
            ),
        ];
        for (name, value) in cases {
            let certificate = forwarded(&headers(name, &value)).unwrap().unwrap();
            assert_eq!(certificate.sha256(), &sha256, "{name}");
            assert_eq!(certificate.names(), ["client.test", "spiffe://example.org/app"], "{name}");
            assert!(certificate.chain_verified(), "a trusted proxy verified it: {name}");
        }
        // Envoy without Cert: the hash and the names it lists.
        let hashed = forwarded(&headers(
            "x-forwarded-client-cert",
            &format!("Hash={hex};URI=spiffe://example.org/app;DNS=Client.Test"),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(hashed.sha256(), &sha256);
        assert_eq!(hashed.names(), ["spiffe://example.org/app", "client.test"]);
    }

    #[test]
    fn unreadable_or_repeated_values_are_refused_and_absent_ones_are_none() {
        assert!(forwarded(&HeaderMap::new()).unwrap().is_none());
        for (name, value) in [
            ("client-cert", "not-a-byte-sequence"),
            ("client-cert", ":!!:"),
            ("client-cert", ":AAAA:"),
            ("x-forwarded-client-cert", "By=x"),
            ("x-forwarded-client-cert", "Hash=abc"),
            ("x-forwarded-client-cert", "Cert=\"unterminated"),
            ("x-ssl-client-cert", "-----BEGIN%20CERTIFICATE-----"),
            ("x-forwarded-tls-client-cert", "%FF%FE"),
        ] {
            assert!(forwarded(&headers(name, value)).is_err(), "{name}: {value}");
        }
        let mut twice = headers(CERTIFICATE_HEADERS[0], ":AAAA:");
        twice.append(CERTIFICATE_HEADERS[0], HeaderValue::from_static(":AAAA:"));
        assert!(forwarded(&twice).unwrap_err().contains("repeated"));
    }
}
