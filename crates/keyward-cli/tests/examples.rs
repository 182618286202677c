//! The sample clients under `examples/`, each proving itself on every vector and against a live
//! `keyward serve`; the Postman collection under newman; and RFC 9421 interoperability: a
//! signature made by keyward-client verifies with an independent library in another language.
//!
//! A missing interpreter (or newman, or the Python RFC 9421 library) skips its test with a
//! printed reason, and fails it under `KEYWARD_TEST_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{client, have, serve, terminate, wait_for_line};
use keyward_testkit::env::missing;
use keyward_testkit::upstream::EchoUpstream;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A running server with a domain key that may read and write activities, and two gateway
/// routes: `/gw/`, protected, to an echo upstream; `/kw/`, public, to keyward itself (its
/// prefix stripped), for clients whose checks expect keyward's own answers.
struct Live {
    served: common::Served,
    url: String,
    token: String,
    secret: String,
    /// A public-key credential (Ed25519) of the same permissions, and its private key file.
    ed25519_token: String,
    ed25519_key: PathBuf,
    /// A plain API key (type api-key) that may read activities.
    plain_key: String,
    _upstream: (tokio::runtime::Runtime, EchoUpstream),
    _dir: tempfile::TempDir,
}

fn live() -> Live {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = runtime.block_on(EchoUpstream::start()).unwrap();
    let config = dir.path().join("keyward.toml");
    std::fs::write(&config, "").unwrap();
    let routes = format!("/gw/={}", upstream.url());
    let config_path = config.display().to_string();
    let mut served = serve(
        &dir.path().join("data"),
        &[
            ("KEYWARD_ADMIN_PASSWORD", "correct horse battery"),
            ("KEYWARD_ROUTES", &routes),
            ("KEYWARD_CONFIG", &config_path),
        ],
    );
    let url = format!("http://{}", served.address);
    // The route to keyward itself names keyward's own address, known only now: reloaded.
    let itself = format!(
        "[[route]]\nprefix = \"/kw/\"\nupstream = \"{url}\"\npublic = true\nstrip_prefix = true\n"
    );
    std::fs::write(&config, itself).unwrap();
    let pid = served.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    wait_for_line(&mut served, "gateway: reloaded, 2 route(s)");
    let config = dir.path().join("config");
    let login = client(
        &config,
        &["login", "--url", &url, "--user", "admin"],
        &[("KEYWARD_PASSWORD", "correct horse battery")],
        None,
    );
    assert!(login.status.success());
    let key = client(
        &config,
        &[
            "keys",
            "--json",
            "create",
            "Examples",
            "--permission",
            "activities:read",
            "--permission",
            "activities:write",
        ],
        &[],
        None,
    );
    let key: serde_json::Value = serde_json::from_slice(&key.stdout).unwrap();
    let token = key["data"]["token"].as_str().unwrap().to_owned();
    let secret = key["data"]["secret"].as_str().unwrap().to_owned();
    let ed25519_key = dir.path().join("ed25519.pem");
    let public = dir.path().join("ed25519.pub");
    let made = client(&config, &["keygen", "--out", ed25519_key.to_str().unwrap()], &[], None);
    assert!(made.status.success());
    std::fs::write(&public, &made.stdout).unwrap();
    let key = client(
        &config,
        &[
            "keys",
            "--json",
            "create",
            "Examples (Ed25519)",
            "--permission",
            "activities:read",
            "--permission",
            "activities:write",
            "--public-key-file",
            public.to_str().unwrap(),
        ],
        &[],
        None,
    );
    let key: serde_json::Value = serde_json::from_slice(&key.stdout).unwrap();
    let ed25519_token = key["data"]["token"].as_str().unwrap().to_owned();
    let plain = ["keys", "--json", "create", "Examples (api-key)", "--type", "api-key"];
    let key =
        client(&config, &[&plain[..], &["--permission", "activities:read"]].concat(), &[], None);
    let key: serde_json::Value = serde_json::from_slice(&key.stdout).unwrap();
    let plain_key = key["data"]["key"].as_str().unwrap().to_owned();
    Live {
        served,
        url,
        token,
        secret,
        ed25519_token,
        ed25519_key,
        plain_key,
        _upstream: (runtime, upstream),
        _dir: dir,
    }
}

/// Runs one sample client's vector check and live calls.
fn sample_client(language: &str, interpreter: &str, file: &str) {
    if !have(interpreter) {
        missing::<()>(language, format!("{interpreter} is not installed"));
        return;
    }
    let root = repository();
    let check = Command::new(interpreter)
        .arg(root.join(file))
        .arg("check-vectors")
        .current_dir(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{language} vectors:\n{stdout}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let summary = stdout.lines().last().unwrap_or_default();
    let passed: u32 = summary.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(summary.ends_with(" 0 failed") && passed >= 30, "{language}: {summary}");

    // keyward's own API, then the same calls through a gateway route to the echo upstream.
    let server = live();
    // The sample's `command` against `url`, with `env`: its exit status and what it printed.
    let run = |command: &str, url: &str, env: &[(&str, &std::ffi::OsStr)]| {
        let output = Command::new(interpreter)
            .arg(root.join(file))
            .arg(command)
            .current_dir(&root)
            .env("KEYWARD_URL", url)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let printed = format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), printed)
    };
    for url in [server.url.clone(), format!("{}/gw", server.url)] {
        let (ok, printed) = run(
            "live",
            &url,
            &[("KEYWARD_KEY", server.token.as_ref()), ("KEYWARD_SECRET", server.secret.as_ref())],
        );
        assert!(ok, "{language} live against {url}:\n{printed}");
        // The Ed25519 example: RFC 9421's B.2.6 reproduced, then a public-key credential's GET
        // and POST.
        let (ok, printed) = run(
            "ed25519",
            &url,
            &[
                ("KEYWARD_KEY", server.ed25519_token.as_ref()),
                ("KEYWARD_PRIVATE_KEY_FILE", server.ed25519_key.as_os_str()),
            ],
        );
        assert!(
            ok && printed.contains("B.2.6 reproduced"),
            "{language} ed25519 against {url}:\n{printed}"
        );
        // A plain API key, both ways (the samples that show it).
        if matches!(language, "Python" | "Node.js") {
            let (ok, printed) =
                run("api-key", &url, &[("KEYWARD_API_KEY", server.plain_key.as_ref())]);
            assert!(
                ok && printed.matches("-> 200").count() == 2,
                "{language} api-key against {url}:\n{printed}"
            );
        }
    }
    // Any path (KEYWARD_PATH): through the gateway route to the echo upstream, which answers
    // every path.
    let gateway = format!("{}/gw", server.url);
    let (ok, printed) = run(
        "live",
        &gateway,
        &[
            ("KEYWARD_KEY", server.token.as_ref()),
            ("KEYWARD_SECRET", server.secret.as_ref()),
            ("KEYWARD_PATH", "/orders/7".as_ref()),
        ],
    );
    assert!(
        ok && printed.contains("GET  /orders/7?page=1 -> 200")
            && printed.contains("POST /orders/7"),
        "{language} live on KEYWARD_PATH:\n{printed}"
    );
    terminate(server.served);
}

#[test]
fn python_client_passes_every_vector_and_a_live_server() {
    sample_client("Python", "python3", "examples/python/keyward_client.py");
}

#[test]
fn node_client_passes_every_vector_and_a_live_server() {
    sample_client("Node.js", "node", "examples/node/keyward-client.mjs");
}

#[test]
fn php_client_passes_every_vector_and_a_live_server() {
    sample_client("PHP", "php", "examples/php/keyward_client.php");
}

#[test]
fn ruby_client_passes_every_vector_and_a_live_server() {
    sample_client("Ruby", "ruby", "examples/ruby/keyward_client.rb");
}

#[test]
fn java_client_passes_every_vector_and_a_live_server() {
    sample_client("Java", "java", "examples/java/KeywardClient.java");
}

#[test]
fn postman_collection_passes_under_newman() {
    if !have("newman") {
        missing::<()>("newman", "not installed (npm install -g newman)");
        return;
    }
    let root = repository();
    let server = live();
    // keyward's own API, then through a gateway route (the collection checks keyward's own
    // answers, so that route's upstream is keyward itself).
    for url in [server.url.clone(), format!("{}/kw", server.url)] {
        let output = Command::new("newman")
            .arg("run")
            .arg(root.join("examples/postman/keyward.postman_collection.json"))
            .arg("-e")
            .arg(root.join("examples/postman/keyward.postman_environment.json"))
            .args(["--env-var", &format!("baseUrl={url}")])
            .args(["--env-var", "username=admin", "--env-var", "password=correct horse battery"])
            .args(["--reporters", "cli", "--color", "off"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "newman against {url}:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    terminate(server.served);
}

/// Verifies a request with the Python library `http-message-signatures`.
fn python_verifies(request: &serde_json::Value) -> bool {
    let root = repository();
    let mut child = Command::new("python3")
        .arg(root.join("examples/python/verify_rfc9421.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    output.status.success()
}

#[test]
fn an_rfc9421_signature_by_keyward_client_verifies_with_an_independent_library() {
    let importable = have("python3")
        && Command::new("python3")
            .args(["-c", "import http_message_signatures"])
            .status()
            .is_ok_and(|s| s.success());
    if !importable {
        missing::<()>(
            "the Python package http-message-signatures",
            "not importable (pip install http-message-signatures)",
        );
        return;
    }
    let key = keyward_client::ApiKey::new("kwkey_interop", "kwsec_interop-secret");
    for (method, url, body) in [
        (
            "POST",
            "https://api.example.com/api/activities?notify=true",
            r#"{"data":{"name":"interop"}}"#,
        ),
        ("GET", "https://api.example.com/api/activities", ""),
    ] {
        let mut request = http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap();
        keyward_client::sign_http(
            &mut request,
            keyward_client::Scheme::HttpSignature,
            &key,
            keyward_client::now_ms(),
        )
        .unwrap();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let mut json = serde_json::json!({
            "method": method, "url": request.uri().to_string(), "headers": headers, "body": body,
            "secret": key.secret(), "keyid": key.token,
        });
        assert!(
            python_verifies(&json),
            "{method} {url}: the independent library refused keyward's signature"
        );
        // And it is a real check: a changed secret fails.
        json["secret"] = serde_json::json!("kwsec_another-secret");
        assert!(!python_verifies(&json), "{method} {url}: a wrong secret verified");
    }
}

#[test]
fn keyward_clients_private_key_signatures_verify_with_the_independent_library() {
    if !keyward_testkit::env::python_http_message_signatures() {
        return;
    }
    use keyward_client::{Algorithm, PrivateKey};
    for algorithm in Algorithm::ALL {
        let private = PrivateKey::generate(algorithm).unwrap();
        let public = private.public_key_pem();
        let key = keyward_client::ApiKey::with_private_key("kwkey_interop", private);
        let body = r#"{"data":{"name":"interop"}}"#;
        let mut request = http::Request::builder()
            .method("POST")
            .uri("https://api.example.com/api/activities?notify=true")
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap();
        let now = keyward_client::now_ms();
        keyward_client::sign_http(&mut request, keyward_client::Scheme::HttpSignature, &key, now)
            .unwrap();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let mut json = serde_json::json!({
            "method": "POST", "url": request.uri().to_string(), "headers": headers, "body": body,
            "keyid": key.token, "public_key": public, "algorithm": algorithm.name(),
        });
        assert!(
            python_verifies(&json),
            "{algorithm}: the library refused keyward-client's signature"
        );
        // A real check: another key's public key fails.
        let stranger = PrivateKey::generate(algorithm).unwrap().public_key_pem();
        json["public_key"] = serde_json::json!(stranger);
        assert!(!python_verifies(&json), "{algorithm}: another public key verified");
        // And a private key cannot sign an HMAC scheme.
        let mut hmac =
            http::Request::builder().uri("https://api.example.com/x").body(vec![]).unwrap();
        assert!(
            keyward_client::sign_http(&mut hmac, keyward_client::Scheme::HeaderHmac, &key, now)
                .is_err()
        );
    }
}
