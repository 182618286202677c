//! `keyward serve` speaking HTTPS itself, as a user runs it: the real binary with certificates
//! from a private CA (made by the test), reached by a rustls client (TLS 1.2 and 1.3, SNI,
//! ALPN), by curl and by Python's `requests`; certificates reloaded on `SIGHUP` while a
//! connection stays open; plain HTTP on the TLS port; files that cannot be served.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{Served, serve, wait_for_line};
use keyward_testkit::certs::{Leaf, PKCS_ECDSA_P256_SHA256, PKCS_ED25519, TestCa};
use keyward_testkit::env::missing;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ProtocolVersion, RootCertStore, StreamOwned};
use sha2::{Digest, Sha256};

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// A client trusting `ca`, speaking `versions`, offering `alpn`.
fn client(
    ca: &TestCa,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&str],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let ca_der = CertificateDer::from_slice(&pem_der(&ca.pem)).into_owned();
    roots.add(ca_der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(config)
}

/// A client that takes any certificate, to see which one a server presents where no name (or
/// one it does not cover) was asked for.
fn any_certificate() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The DER inside one PEM block.
fn pem_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
}

/// A full handshake with `address` naming `sni` (an IP address: no SNI), the stream ready
/// for requests. Each `config` is used for one connection: a resumed session would show the
/// certificate of the session it resumes.
fn connect(address: &str, sni: &str, config: Arc<ClientConfig>) -> TlsStream {
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    let mut connection = ClientConnection::new(config, name).unwrap();
    let mut socket = TcpStream::connect(address).unwrap();
    while connection.is_handshaking() {
        connection.complete_io(&mut socket).unwrap();
    }
    StreamOwned::new(connection, socket)
}

/// The leaf certificate the server presented.
fn presented(stream: &TlsStream) -> Vec<u8> {
    stream.conn.peer_certificates().unwrap()[0].to_vec()
}

/// `GET /healthz` over HTTP/1.1 on `stream`, kept alive: the status line.
fn healthz(stream: &mut TlsStream, host: &str) -> String {
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // /healthz answers a short, fixed body with a content-length: read until it is all there.
    loop {
        let n = stream.read(&mut buffer).unwrap();
        answer.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned)
                })
                .and_then(|l| l.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return head.lines().next().unwrap().to_owned();
            }
        }
        assert!(n > 0, "the connection closed mid-answer: {text}");
    }
}

/// keyward serving `certificates` (chain, key), in order, with `env` set too.
fn serve_tls_with(
    data: &Path,
    certificates: &[(PathBuf, PathBuf)],
    env: &[(&str, &str)],
) -> Served {
    let join = |paths: Vec<String>| paths.join(",");
    let chains = join(certificates.iter().map(|c| c.0.display().to_string()).collect());
    let keys = join(certificates.iter().map(|c| c.1.display().to_string()).collect());
    let mut env = env.to_vec();
    env.extend([("KEYWARD_TLS_CERT", chains.as_str()), ("KEYWARD_TLS_KEY", keys.as_str())]);
    serve(data, &env)
}

fn serve_tls(data: &Path, certificates: &[(PathBuf, PathBuf)]) -> Served {
    serve_tls_with(data, certificates, &[])
}

/// An RSA certificate for `name` signed by nothing but itself, made by openssl; `None` when
/// openssl is missing (skipped, or failed under KEYWARD_TEST_REQUIRE_ALL=1).
fn rsa_certificate(dir: &Path, name: &str) -> Option<(PathBuf, PathBuf, Vec<u8>)> {
    let (chain, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj"])
        .arg(format!("/CN={name}"))
        .args(["-addext", &format!("subjectAltName=DNS:{name}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&chain)
        .output();
    match made {
        Ok(output) if output.status.success() => {
            let der = pem_der(&std::fs::read_to_string(&chain).unwrap());
            Some((chain, key, der))
        }
        Ok(output) => panic!("openssl failed: {}", String::from_utf8_lossy(&output.stderr)),
        Err(error) => missing("openssl", error),
    }
}

#[test]
fn https_over_tls_1_2_and_1_3_with_the_certificate_sni_names_and_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("keyward test CA");
    let a = ca.leaf(&["a.test", "localhost"], &PKCS_ECDSA_P256_SHA256);
    let b = ca.leaf(&["b.test", "*.b.test"], &PKCS_ED25519);
    let mut files = vec![a.write(dir.path(), "a"), b.write(dir.path(), "b")];
    let rsa = rsa_certificate(dir.path(), "c.test");
    if let Some((chain, key, _)) = &rsa {
        files.push((chain.clone(), key.clone()));
    }
    let served = serve_tls(&dir.path().join("data"), &files);
    assert!(
        served.printed.iter().any(|l| l.contains("listening on https://")),
        "{:?}",
        served.printed
    );
    let address = served.address.clone();

    for (version, expected) in [
        (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
    ] {
        let config = || client(&ca, &[version], &["http/1.1"]);
        let mut stream = connect(&address, "a.test", config());
        assert_eq!(stream.conn.protocol_version(), Some(expected));
        assert_eq!(presented(&stream), a.der, "SNI a.test");
        assert_eq!(healthz(&mut stream, "a.test"), "HTTP/1.1 200 OK");
        assert_eq!(healthz(&mut stream, "a.test"), "HTTP/1.1 200 OK", "kept alive");
        for (sni, leaf) in [("b.test", &b), ("api.b.test", &b)] {
            let stream = connect(&address, sni, config());
            assert_eq!(&presented(&stream), &leaf.der, "SNI {sni} over {expected:?}");
        }
    }
    // A name no certificate covers, and no name at all: the first certificate.
    for sni in ["unknown.test", "127.0.0.1"] {
        assert_eq!(presented(&connect(&address, sni, any_certificate())), a.der, "SNI {sni}");
    }
    if let Some((_, _, der)) = &rsa {
        // Self-signed, so checked by what it is rather than by a CA.
        let mut stream = connect(&address, "c.test", any_certificate());
        assert_eq!(&presented(&stream), der, "the RSA certificate for c.test");
        assert_eq!(healthz(&mut stream, "c.test"), "HTTP/1.1 200 OK");
    }

    // ALPN: h2 when offered, http/1.1 otherwise.
    let h2 =
        connect(&address, "a.test", client(&ca, &[&rustls::version::TLS13], &["h2", "http/1.1"]));
    assert_eq!(h2.conn.alpn_protocol(), Some(b"h2".as_slice()));
    let h1 = connect(&address, "a.test", client(&ca, &[&rustls::version::TLS13], &["http/1.1"]));
    assert_eq!(h1.conn.alpn_protocol(), Some(b"http/1.1".as_slice()));

    // Plain HTTP on the TLS port: a clear answer in plain HTTP, not a hang.
    let (status, body) = common::get(&address, "/healthz");
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(49)), "{body}");

    // Independent clients: curl over TLS 1.2, 1.3 and HTTP/2; Python's requests.
    let ca_file = ca.write(dir.path());
    let port = address.rsplit_once(':').unwrap().1;
    let url = format!("https://a.test:{port}/api/openapi.json");
    let resolve = format!("a.test:{port}:127.0.0.1");
    for (flags, version) in [
        (&["--tlsv1.2", "--tls-max", "1.2", "--http1.1"][..], "1.1"),
        (&["--tlsv1.3", "--http1.1"][..], "1.1"),
        (&["--http2"][..], "2"),
    ] {
        let output = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}"])
            .args(flags)
            .arg("--cacert")
            .arg(&ca_file)
            .args(["--resolve", &resolve, &url])
            .output();
        match output {
            Ok(output) => assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                format!("200 {version}"),
                "curl {flags:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => {
                missing::<()>("curl", error);
                break;
            }
        }
    }
    let script = "import sys, requests\nr = requests.get(sys.argv[1], verify=sys.argv[2])\nprint(r.status_code, r.json()['openapi'][:2])";
    let output = Command::new("python3")
        .args(["-c", script, &format!("https://localhost:{port}/api/openapi.json")])
        .arg(&ca_file)
        .output();
    match output {
        Ok(output) if output.status.success() => {
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "200 3.")
        }
        Ok(output)
            if String::from_utf8_lossy(&output.stderr).contains("No module named 'requests'") =>
        {
            missing::<()>("the Python package requests", "not importable (pip install it)");
        }
        Ok(output) => panic!("python requests: {}", String::from_utf8_lossy(&output.stderr)),
        Err(error) => drop(missing::<()>("python3", error)),
    }
    common::terminate(served);
}

#[test]
fn certificates_are_read_again_on_sighup_and_a_bad_file_keeps_the_served_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("keyward test CA");
    let first = ca.leaf(&["a.test"], &PKCS_ECDSA_P256_SHA256);
    let files = first.write(dir.path(), "a");
    let mut served = serve_tls(&dir.path().join("data"), std::slice::from_ref(&files));
    let config = || client(&ca, &[&rustls::version::TLS13], &["http/1.1"]);
    let mut open = connect(&served.address, "a.test", config());
    assert_eq!(presented(&open), first.der);
    assert_eq!(healthz(&mut open, "a.test"), "HTTP/1.1 200 OK");

    // Renewed, as certbot would: the same files, a new certificate and key.
    let renewed: Leaf = ca.leaf(&["a.test"], &PKCS_ECDSA_P256_SHA256);
    renewed.write(dir.path(), "a");
    hang_up(&served);
    wait_for_line(&mut served, "TLS: reloaded, 1 certificate(s)");
    let fresh = connect(&served.address, "a.test", config());
    assert_eq!(presented(&fresh), renewed.der, "new handshakes get the renewed certificate");
    assert_eq!(
        healthz(&mut open, "a.test"),
        "HTTP/1.1 200 OK",
        "the open connection is not dropped"
    );

    // A broken renewal: the reason is said, and the renewed certificate stays.
    std::fs::write(&files.1, "not a key").unwrap();
    hang_up(&served);
    let line = wait_for_line(&mut served, "TLS: certificates not reloaded");
    assert!(line.contains("a.key") && line.contains("no PEM private key"), "{line}");
    let after = connect(&served.address, "a.test", config());
    assert_eq!(presented(&after), renewed.der);
    common::terminate(served);
}

#[test]
fn a_handshake_that_stalls_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("keyward test CA");
    let files = ca.leaf(&["a.test"], &PKCS_ECDSA_P256_SHA256).write(dir.path(), "a");
    let timeout = [("KEYWARD_HEADER_TIMEOUT_SECONDS", "1")];
    let served = serve_tls_with(&dir.path().join("data"), &[files], &timeout);
    // Silent, and the first byte of a handshake then nothing: both closed, neither served.
    for sent in [&b""[..], &[0x16, 0x03, 0x01][..]] {
        let mut socket = TcpStream::connect(&served.address).unwrap();
        socket.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        socket.write_all(sent).unwrap();
        let mut buffer = [0u8; 64];
        let read = socket.read(&mut buffer);
        assert!(
            matches!(read, Ok(0))
                || read.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "{sent:?}: {read:?}"
        );
    }
    common::terminate(served);
}

fn hang_up(served: &Served) {
    let status = Command::new("kill").args(["-HUP", &served.child.id().to_string()]).status();
    assert!(status.unwrap().success());
}

#[test]
fn certificates_that_cannot_be_served_stop_keyward_at_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("keyward test CA");
    let (chain, key) = ca.leaf(&["a.test"], &PKCS_ECDSA_P256_SHA256).write(dir.path(), "a");
    let (_, other_key) = ca.leaf(&["b.test"], &PKCS_ECDSA_P256_SHA256).write(dir.path(), "b");
    let missing_file = dir.path().join("missing.pem");
    let cases: [(&[&Path], &[&Path], &str); 4] = [
        (&[&missing_file], &[&key], "cannot read"),
        (&[&key], &[&key], "no PEM certificate"),
        (&[&chain], &[&other_key], "is the key the certificate's?"),
        (&[&chain, &chain], &[&key], "each --tls-cert needs its --tls-key"),
    ];
    for (chains, keys, expected) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"));
        for chain in chains {
            command.arg("--tls-cert").arg(chain);
        }
        for key in keys {
            command.arg("--tls-key").arg(key);
        }
        let output =
            command.env_remove("KEYWARD_TLS_CERT").env_remove("KEYWARD_TLS_KEY").output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(expected), "{expected}: {stderr}");
    }
}

/// A client trusting `ca`, presenting `identity` (a leaf and its key) when asked.
fn client_with_certificate(ca: &TestCa, identity: Option<&Leaf>) -> Arc<ClientConfig> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(pem_der(&ca.pem))).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(leaf) => {
            let chain = vec![CertificateDer::from(leaf.der.clone())];
            let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// One request over a fresh TLS connection made with `config`: the status and the JSON body.
fn exchange(
    address: &str,
    config: Arc<ClientConfig>,
    request: (&str, &str),
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let (method, path) = request;
    let mut stream = connect(address, "a.test", config);
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: a.test\r\n{authorization}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    // A peer that closes without close_notify ends the stream with an error: what was read counts.
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or_default())
}

const ADMIN_PASSWORD: &str = "correct-horse-battery-staple";

/// Whether a token minted without a client certificate works without one, as ever.
fn admin_token_is_unbound(address: &str, config: Arc<ClientConfig>, token: &str) -> bool {
    exchange(address, config, ("GET", "/api/me"), Some(token), None).0 == 200
}

#[test]
fn client_certificates_are_keys_pinned_or_by_subject_bind_tokens_and_are_refused_once_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("keyward clients CA");
    let server =
        ca.leaf(&["a.test", "localhost"], &PKCS_ECDSA_P256_SHA256).write(dir.path(), "server");
    let ca_file = ca.write(dir.path());
    let served = serve(
        &dir.path().join("data"),
        &[
            ("KEYWARD_TLS_CERT", server.0.to_str().unwrap()),
            ("KEYWARD_TLS_KEY", server.1.to_str().unwrap()),
            ("KEYWARD_TLS_CLIENT_CA", ca_file.to_str().unwrap()),
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    assert!(served.printed.iter().any(|l| l.contains("client certificates asked for")));
    let address = served.address.clone();
    let anonymous = || client_with_certificate(&ca, None);
    let login = serde_json::json!({"UserName": "admin", "Password": ADMIN_PASSWORD});
    let (status, body) =
        exchange(&address, anonymous(), ("POST", "/api/login"), None, Some(&login));
    assert_eq!(status, 200, "{body}");
    let admin = body["access_token"].as_str().unwrap().to_owned();

    // A key pinned to Alice's certificate, and one for any certificate naming the billing
    // service's SPIFFE ID.
    let alice = ca.leaf(&["alice.clients.test"], &PKCS_ECDSA_P256_SHA256);
    let billing_id = "spiffe://example.org/billing";
    let billing = ca.leaf(&[billing_id], &PKCS_ED25519);
    let create = |data: serde_json::Value| {
        let body = serde_json::json!({ "data": data });
        exchange(&address, anonymous(), ("POST", "/api/admin/keys"), Some(&admin), Some(&body))
    };
    let permissions = ["activities:read"];
    let (status, pinned) = create(
        serde_json::json!({"name": "Alice", "permissions": permissions, "certificate": alice.pem}),
    );
    assert_eq!(status, 201, "{pinned}");
    let pinned = &pinned["data"];
    assert_eq!(pinned["algorithm"], "mtls");
    let sha256 = Sha256::digest(&alice.der).iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(pinned["certificate_sha256"], sha256.as_str());
    assert!(pinned.get("secret").is_none(), "a certificate-bound key has no secret: {pinned}");
    let (status, by_subject) = create(
        serde_json::json!({"name": "Billing", "permissions": permissions, "certificate_subject": billing_id}),
    );
    assert_eq!(status, 201, "{by_subject}");
    let (status, again) = create(
        serde_json::json!({"name": "Alice 2", "permissions": permissions, "certificate": alice.pem}),
    );
    assert_eq!(
        (status, again["error"]["code"].as_i64()),
        (409, Some(41)),
        "one key per certificate: {again}"
    );

    // Each certificate is its key, with no header at all.
    let me = |identity: &Leaf| {
        exchange(
            &address,
            client_with_certificate(&ca, Some(identity)),
            ("GET", "/api/me"),
            None,
            None,
        )
    };
    let (status, body) = me(&alice);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["principal"]["id"], pinned["id"], "{body}");
    assert_eq!(body["data"]["scheme"], "mtls");
    let reissued = ca.leaf(&[billing_id], &PKCS_ECDSA_P256_SHA256);
    for certificate in [&billing, &reissued] {
        let (status, body) = me(certificate);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["principal"]["name"], "Billing", "by its SPIFFE ID: {body}");
    }
    // A certificate from the same CA that no key names: unknown credentials.
    let stranger = ca.leaf(&["stranger.clients.test"], &PKCS_ECDSA_P256_SHA256);
    let (status, body) = me(&stranger);
    assert_eq!((status, body["error"]["code"].as_i64()), (401, Some(13)), "{body}");
    // No certificate and no credentials: as ever.
    let (status, body) = exchange(&address, anonymous(), ("GET", "/api/me"), None, None);
    assert_eq!((status, body["error"]["code"].as_i64()), (401, Some(10)), "{body}");
    // A certificate from another CA, even naming Alice: the handshake fails.
    let other_ca = TestCa::new("another CA");
    let forged = other_ca.leaf(&["alice.clients.test"], &PKCS_ECDSA_P256_SHA256);
    let name = ServerName::try_from("a.test").unwrap();
    let mut connection =
        ClientConnection::new(client_with_certificate(&ca, Some(&forged)), name).unwrap();
    let mut socket = TcpStream::connect(&address).unwrap();
    socket.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut refused = false;
    for _ in 0..20 {
        match connection.complete_io(&mut socket) {
            Err(_) => {
                refused = true;
                break;
            }
            Ok(_) if !connection.is_handshaking() => {
                // TLS 1.3 clients finish before the server judges their certificate: a
                // request then finds the connection refused.
                let mut stream = StreamOwned::new(connection, socket);
                let _ = stream.write_all(b"GET /api/me HTTP/1.1\r\nHost: a.test\r\n\r\n");
                let mut buffer = [0u8; 64];
                refused = !matches!(stream.read(&mut buffer), Ok(n) if n > 0);
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(refused, "a certificate from another CA is refused at the handshake");

    // A token minted over a connection that presented a certificate is bound to it (RFC 8705):
    // refused without that certificate, whoever holds the token.
    let over = |identity: Option<&Leaf>| client_with_certificate(&ca, identity);
    let (status, minted) =
        exchange(&address, over(Some(&stranger)), ("POST", "/api/login"), None, Some(&login));
    assert_eq!(status, 200, "{minted}");
    let thumbprint = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&stranger.der))
    };
    assert_eq!(minted["cnf"]["x5t#S256"], thumbprint.as_str(), "{minted}");
    let bound = minted["access_token"].as_str().unwrap();
    let me_with = |identity: Option<&Leaf>| {
        exchange(&address, over(identity), ("GET", "/api/me"), Some(bound), None)
    };
    let (status, body) = me_with(Some(&stranger));
    assert_eq!((status, body["data"]["scheme"].as_str()), (200, Some("bearer")), "{body}");
    for (presented, why) in [(None, "no certificate"), (Some(&alice), "another certificate")] {
        let (status, body) = me_with(presented);
        assert_eq!((status, body["error"]["code"].as_i64()), (401, Some(55)), "{why}: {body}");
    }
    assert!(admin_token_is_unbound(&address, anonymous(), &admin));

    // Revoked: refused from the next request on.
    let id = pinned["id"].as_i64().unwrap();
    let (status, _) = exchange(
        &address,
        anonymous(),
        ("DELETE", &format!("/api/admin/keys/{id}")),
        Some(&admin),
        None,
    );
    assert_eq!(status, 200);
    let (status, body) = me(&alice);
    assert_eq!((status, body["error"]["code"].as_i64()), (401, Some(13)), "revoked: {body}");

    // Independent clients: curl and Python's requests, with a billing certificate.
    // (OpenSSL reads rcgen's ECDSA keys; its Ed25519 ones it does not.)
    let (chain, key) = reissued.write(dir.path(), "billing");
    let port = address.rsplit_once(':').unwrap().1;
    let url = format!("https://a.test:{port}/api/me");
    let resolve = format!("a.test:{port}:127.0.0.1");
    match Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca_file)
        .arg("--cert")
        .arg(&chain)
        .arg("--key")
        .arg(&key)
        .args(["--resolve", &resolve, &url])
        .output()
    {
        Ok(output) => {
            let body: serde_json::Value =
                serde_json::from_slice(&output.stdout).unwrap_or_default();
            assert_eq!(
                body["data"]["principal"]["name"],
                "Billing",
                "curl: {:?} {}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Err(error) => drop(missing::<()>("curl", error)),
    }
    let script = "import sys, requests\nr = requests.get(sys.argv[1], verify=sys.argv[2], cert=(sys.argv[3], sys.argv[4]))\nprint(r.status_code, r.json()['data']['principal']['name'])";
    let python = Command::new("python3")
        .args(["-c", script])
        .arg(format!("https://localhost:{port}/api/me"))
        .arg(&ca_file)
        .arg(&chain)
        .arg(&key)
        .output();
    match python {
        Ok(output) if output.status.success() => {
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "200 Billing")
        }
        Ok(output)
            if String::from_utf8_lossy(&output.stderr).contains("No module named 'requests'") =>
        {
            missing::<()>("the Python package requests", "not importable (pip install it)");
        }
        Ok(output) => panic!("python requests: {}", String::from_utf8_lossy(&output.stderr)),
        Err(error) => drop(missing::<()>("python3", error)),
    }
    common::terminate(served);
}
