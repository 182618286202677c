//! Public-key credentials over a real server: a key created with a public key (and no secret)
//! signs RFC 9421 requests with its private key, with each of the five asymmetric algorithms,
//! through keyward's own API and a gateway route; and everything a secret would allow that a
//! public key must not (HMAC schemes, logging in, revealing or rotating a secret, another
//! algorithm, another private key) is refused with its code.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Scheme, TestServer, send, sign, sign_with};
use keyward_server::gateway::{RouteConfig, Routes};
use keyward_sig::private_key::PrivateKey;
use keyward_sig::public_key::Algorithm;
use keyward_testkit::upstream::EchoUpstream;
use serde_json::{Value, json};

const PERMISSIONS: [&str; 3] = ["activities:read", "activities:write", "orders:read"];

/// A server with one gateway route, `/orders` (GET needs orders:read), to an echo upstream.
async fn server_with_route(upstream: &EchoUpstream) -> TestServer {
    let mut orders =
        RouteConfig { prefix: "/orders".into(), upstream: upstream.url(), ..Default::default() };
    orders.method_permissions.insert("GET".into(), vec!["orders:read".into()]);
    let settings = keyward_server::Settings {
        routes: Routes::check(vec![orders]).unwrap(),
        ..common::settings()
    };
    TestServer::builder("public_keys").settings(settings).start().await.unwrap()
}

/// Creates a key with `public_key` (and `algorithm` when given) as the admin.
async fn create(server: &TestServer, public_key: &str, algorithm: Option<&str>) -> (u16, Value) {
    let body = json!({ "data": {
        "name": "Signer", "permissions": PERMISSIONS,
        "public_key": public_key, "algorithm": algorithm,
    }});
    server.bearer(&server.admin_token, "POST", "/api/admin/keys", Some(body)).await
}

fn code(body: &Value) -> i64 {
    body["error"]["code"].as_i64().unwrap_or_default()
}

#[tokio::test]
async fn every_algorithm_signs_through_the_api_and_a_gateway_route() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = server_with_route(&upstream).await;
    for (i, algorithm) in Algorithm::ALL.into_iter().enumerate() {
        let private = PrivateKey::generate(algorithm).unwrap();
        // PEM and JWK in turn; RSA keys in PEM need their padding stated (a JWK says it).
        let rsa = matches!(algorithm, Algorithm::RsaPssSha512 | Algorithm::RsaV15Sha256);
        let text = match i % 2 {
            0 => private.public_key_pem(),
            _ => private.public_key_jwk().to_string(),
        };
        let (status, body) =
            create(&server, &text, (rsa && i % 2 == 0).then(|| algorithm.name())).await;
        assert_eq!(status, 201, "{algorithm}: {body}");
        let data = &body["data"];
        assert_eq!(data.get("secret"), None, "{algorithm}: a public-key credential has no secret");
        assert_eq!(data["algorithm"], algorithm.name());
        assert_eq!(data["public_key"], text.trim());
        let token = data["token"].as_str().unwrap();

        let list = server.url("/api/activities?page=1");
        let (status, body) =
            send(&server.client, sign_with(&private, token, "GET", &list, None)).await;
        assert_eq!(status, 200, "{algorithm}: {body}");
        let activity = json!({ "data": { "name": format!("signed with {algorithm}") } });
        let post = sign_with(
            &private,
            token,
            "POST",
            &server.url("/api/activities"),
            Some(activity.to_string()),
        );
        let (status, body) = send(&server.client, post).await;
        assert_eq!(status, 201, "{algorithm}: {body}");
        let (status, body) =
            send(&server.client, sign_with(&private, token, "GET", &server.url("/orders/7"), None))
                .await;
        assert_eq!(status, 200, "{algorithm} through the gateway: {body}");
        assert_eq!(body["target"], "/orders/7");

        // Another private key of the same algorithm: the signature does not verify.
        let stranger = PrivateKey::generate(algorithm).unwrap();
        let (status, body) =
            send(&server.client, sign_with(&stranger, token, "GET", &list, None)).await;
        assert_eq!((status, code(&body)), (401, 12), "{algorithm}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_public_key_credential_allows_nothing_a_secret_would() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = server_with_route(&upstream).await;
    let private = PrivateKey::generate(Algorithm::Ed25519).unwrap();
    let (_, body) = create(&server, &private.public_key_pem(), Some("ed25519")).await;
    let id = body["data"]["id"].as_i64().unwrap();
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    let list = server.url("/api/activities");

    // The HMAC schemes need a secret; whatever is presented as one is refused as the wrong
    // algorithm (code 11), before any HMAC is computed.
    for scheme in [Scheme::QueryHmac, Scheme::HeaderHmac, Scheme::HttpSignature] {
        let (status, body) =
            send(&server.client, sign(scheme, &token, "", "GET", &list, None)).await;
        assert_eq!((status, code(&body)), (401, 11), "{scheme:?}: {body}");
        assert_eq!(body["error"]["detail"]["reason"], "algorithm-mismatch");
    }
    // A signature claiming another asymmetric algorithm.
    let p256 = PrivateKey::generate(Algorithm::EcdsaP256Sha256).unwrap();
    let (status, body) = send(&server.client, sign_with(&p256, &token, "GET", &list, None)).await;
    assert_eq!((status, code(&body)), (401, 11), "{body}");

    // No secret to log in with, reveal or rotate.
    let login = json!({ "UserName": token, "Password": "" });
    let response = server.client.post(server.url("/api/login")).json(&login).send().await.unwrap();
    assert_eq!(response.status(), 401);
    for action in ["reveal", "rotate-secret"] {
        let path = format!("/api/admin/keys/{id}/{action}");
        let (status, body) = server.bearer(&server.admin_token, "POST", &path, None).await;
        assert_eq!((status, code(&body)), (409, 41), "{action}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("public key"), "{body}");
    }

    // It shows in the list with its algorithm and public key.
    let (_, listed) = server.bearer(&server.admin_token, "GET", "/api/admin/keys", None).await;
    let listed = listed["data"].as_array().unwrap().iter().find(|k| k["id"] == id).unwrap().clone();
    assert_eq!(listed["algorithm"], "ed25519");
    assert!(listed["public_key"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(listed.get("secret"), None);

    // A regenerated token is the new keyid; the old one is refused.
    let path = format!("/api/admin/keys/{id}/regenerate-token");
    let (status, regenerated) = server.bearer(&server.admin_token, "POST", &path, None).await;
    assert_eq!(status, 200, "{regenerated}");
    let new_token = regenerated["data"]["token"].as_str().unwrap();
    let (status, _) = send(&server.client, sign_with(&private, &token, "GET", &list, None)).await;
    assert_eq!(status, 401);
    let (status, body) =
        send(&server.client, sign_with(&private, new_token, "GET", &list, None)).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn bad_public_keys_are_refused_with_the_field_and_the_reason() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = server_with_route(&upstream).await;
    let ed25519 = PrivateKey::generate(Algorithm::Ed25519).unwrap();
    let rsa = PrivateKey::generate(Algorithm::RsaPssSha512).unwrap();
    let cases: [(String, Option<&str>, &str, &str); 7] = [
        // A private key is never accepted, and the answer says why.
        (ed25519.to_pem(), None, "public_key", "private key"),
        (rsa.public_key_pem(), None, "public_key", "rsa-pss-sha512 or rsa-v1_5-sha256"),
        (ed25519.public_key_pem(), Some("ecdsa-p256-sha256"), "public_key", "cannot verify"),
        (ed25519.public_key_pem(), Some("hmac-sha512"), "algorithm", "unknown algorithm"),
        (
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".into(),
            None,
            "public_key",
            "not a public key",
        ),
        (r#"{"kty":"OKP","crv":"Ed25519"}"#.into(), None, "public_key", "not a public key"),
        ("x".repeat(20_000), None, "public_key", "longer than"),
    ];
    for (text, algorithm, field, says) in cases {
        let (status, body) = create(&server, &text, algorithm).await;
        assert_eq!((status, code(&body)), (422, 31), "{field} {says}: {body}");
        assert_eq!(body["error"]["detail"]["field"], field, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{body}");
    }
    // An asymmetric algorithm without a key to verify with.
    let body = json!({ "data": { "name": "x", "algorithm": "ed25519" } });
    let (status, body) =
        server.bearer(&server.admin_token, "POST", "/api/admin/keys", Some(body)).await;
    assert_eq!((status, code(&body)), (422, 31), "{body}");
    // Nothing was created.
    let (_, listed) = server.bearer(&server.admin_token, "GET", "/api/admin/keys", None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 0, "{listed}");
    server.stop().await;
}

#[tokio::test]
async fn the_python_library_signs_with_every_algorithm_and_keyward_verifies() {
    if !keyward_testkit::env::python_http_message_signatures() {
        return;
    }
    let upstream = EchoUpstream::start().await.unwrap();
    let server = server_with_route(&upstream).await;
    for algorithm in Algorithm::ALL {
        let private = PrivateKey::generate(algorithm).unwrap();
        let (status, body) =
            create(&server, &private.public_key_pem(), Some(algorithm.name())).await;
        assert_eq!(status, 201, "{body}");
        let token = body["data"]["token"].as_str().unwrap();
        for (method, path, body) in [
            ("GET", "/api/activities?page=1", None),
            (
                "POST",
                "/api/activities",
                Some(
                    json!({ "data": { "name": format!("from Python, {algorithm}") } }).to_string(),
                ),
            ),
            ("GET", "/orders/9", None),
        ] {
            let mut headers = vec![];
            if body.is_some() {
                headers.push(json!(["Content-Type", "application/json"]));
            }
            let input = json!({
                "method": method, "url": server.url(path), "headers": headers,
                "body": body.clone().unwrap_or_default(), "keyid": token,
                "algorithm": algorithm.name(), "private_key": private.to_pem(),
            });
            let (signed, output) = common::python("sign_rfc9421.py", &[], &input);
            assert!(signed, "{algorithm}: {output}");
            let lines: Vec<(String, String)> = serde_json::from_str(&output).unwrap();
            let request = common::Prepared {
                method: method.into(),
                url: server.url(path),
                headers: lines
                    .into_iter()
                    .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
                    .collect(),
                body,
            };
            let (status, answer) = send(&server.client, request).await;
            assert!(
                status == 200 || status == 201,
                "{algorithm} {method} {path}: {status} {answer}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn with_signatures_all_every_signature_of_a_request_must_verify() {
    use keyward_sig::rfc9421::{self, SignatureParams};
    let upstream = EchoUpstream::start().await.unwrap();
    let mut servers = Vec::new();
    for rule in [keyward_sig::SignatureRule::First, keyward_sig::SignatureRule::All] {
        let mut settings = common::settings();
        settings.verify.signatures = rule;
        let mut orders = RouteConfig {
            prefix: "/orders".into(),
            upstream: upstream.url(),
            ..Default::default()
        };
        orders.method_permissions.insert("GET".into(), vec!["orders:read".into()]);
        settings.routes = Routes::check(vec![orders]).unwrap();
        servers.push((
            rule,
            TestServer::builder("all_signatures").settings(settings).start().await.unwrap(),
        ));
    }
    for (rule, server) in servers {
        // A client's HMAC key signs first; a second party signs with its Ed25519 key.
        let (_, token, secret) =
            server.create_key(&server.admin_token, "Client", &PERMISSIONS).await;
        let private = PrivateKey::generate(Algorithm::Ed25519).unwrap();
        let (_, body) = create(&server, &private.public_key_pem(), None).await;
        let countersigner = body["data"]["token"].as_str().unwrap().to_owned();
        let stranger = PrivateKey::generate(Algorithm::Ed25519).unwrap();
        for (second, expected) in [
            (&private, 200),
            (&stranger, if rule == keyward_sig::SignatureRule::All { 401 } else { 200 }),
        ] {
            let mut request = common::sign(
                Scheme::HttpSignature,
                &token,
                &secret,
                "GET",
                &server.url("/api/activities?page=1"),
                None,
            );
            let pairs: Vec<(&str, &[u8])> =
                request.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
            let view = keyward_sig::RequestView::new("GET", "/api/activities?page=1", &pairs, b"");
            // The countersignature covers the client's signature (its dictionary member).
            let input = format!(
                r#"proxy=("@method" "@path" "@query" "signature";key="sig1");created={};keyid="{countersigner}";alg="ed25519""#,
                common::signing_ms() / 1000
            );
            let (_, params) = SignatureParams::parse_first(input.as_bytes()).unwrap();
            let countersigned = rfc9421::sign(&view, "proxy", &params, second).unwrap();
            for (name, value) in &mut request.headers {
                if name == "signature-input" {
                    *value = format!("{value}, {}", countersigned.signature_input);
                } else if name == "signature" {
                    *value = format!("{value}, {}", countersigned.signature);
                }
            }
            let (status, body) = send(&server.client, request).await;
            assert_eq!(status, expected, "{rule:?}: {body}");
            if expected == 401 {
                assert_eq!(code(&body), 12, "{body}");
            } else {
                // The request acts as the first signature's key.
                assert!(body["data"].is_array(), "{body}");
            }
        }
        server.stop().await;
    }
}
