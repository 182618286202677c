//! Signed responses over a real server: a client asking with `Accept-Signature` gets its answer
//! signed with the server's response key (published at the well-known URL), bound to its
//! request, with its nonce echoed; a gateway route with `sign_responses` signs the upstream's
//! answers unasked; a tampered answer, another request's answer or another key fails
//! verification; and the independent Python library verifies what keyward signed.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{Prepared, Scheme, TestServer, exchange, sign};
use keyward_server::gateway::{RouteConfig, Routes};
use keyward_server::response_signing::ResponseKey;
use keyward_sig::private_key::PrivateKey;
use keyward_sig::public_key::{Algorithm, PublicKey};
use keyward_sig::rfc9421::{VerifiedResponse, verify_response};
use keyward_sig::{KeyKind, KeyMaterial, RequestView, ResponseView};
use keyward_testkit::upstream::EchoUpstream;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

async fn server(upstream: &EchoUpstream) -> TestServer {
    let signed = RouteConfig {
        prefix: "/orders".into(),
        upstream: upstream.url(),
        sign_responses: true,
        ..Default::default()
    };
    let plain =
        RouteConfig { prefix: "/plain".into(), upstream: upstream.url(), ..Default::default() };
    let key = ResponseKey::new(PrivateKey::generate(Algorithm::Ed25519).unwrap());
    let settings = keyward_server::Settings {
        routes: Routes::check(vec![signed, plain]).unwrap(),
        response_key: Some(Arc::new(key)),
        ..common::settings()
    };
    TestServer::builder("signed_responses").settings(settings).start().await.unwrap()
}

/// The published key: `(keyid, key material)`.
async fn published(server: &TestServer) -> (String, KeyMaterial, Value) {
    let response =
        server.client.get(server.url("/.well-known/keyward/response-keys")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let entry = &body["keys"][0];
    assert_eq!(entry["algorithm"], "ed25519");
    let key = PublicKey::parse(entry["public_key"].as_str().unwrap(), None).unwrap();
    // The JWK form is the same key, named by its kid.
    assert_eq!(entry["jwk"]["kid"], entry["keyid"]);
    let from_jwk = PublicKey::parse(&entry["jwk"].to_string(), None).unwrap();
    assert_eq!(from_jwk.algorithm(), key.algorithm());
    (entry["keyid"].as_str().unwrap().to_owned(), KeyMaterial::public(KeyKind::Domain, key), body)
}

/// Verifies the answer to `request` (as sent) under `label`.
fn verify(
    request: &Prepared,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    label: &str,
    key: &KeyMaterial,
) -> Result<VerifiedResponse, keyward_sig::VerifyError> {
    let target = request.url.splitn(4, '/').nth(3).map(|rest| format!("/{rest}")).unwrap();
    // The Host the HTTP client sent, unless the request names its own.
    let host = request.url.split('/').nth(2).unwrap();
    let mut request_pairs: Vec<(&str, &[u8])> =
        request.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
    if !request.headers.iter().any(|(n, _)| n == "host") {
        request_pairs.push(("host", host.as_bytes()));
    }
    let sent = RequestView::new(&request.method, &target, &request_pairs, b"");
    let answer = ResponseView::with_header_map(status, headers, body);
    verify_response(&answer, Some(&sent), Some(label), key)
}

/// `request`, and its answer: status, headers, raw body.
async fn send_raw(server: &TestServer, request: &Prepared) -> (u16, HeaderMap, Vec<u8>) {
    let mut builder = server.client.request(request.method.parse().unwrap(), &request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let response = builder.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn an_answer_asked_for_is_signed_and_bound_to_its_request() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = server(&upstream).await;
    let (keyid, key, _) = published(&server).await;
    let (_, token, secret) = server
        .create_key(&server.admin_token, "App", &["activities:read", "activities:write"])
        .await;
    let asked =
        format!(r#"resp=("@status" "content-digest" "content-type");keyid="{keyid}";nonce="n-42""#);

    // A signed request (RFC 9421, label sig1), asking for a signed answer; each call signs anew.
    let signed_post = || {
        let url = server.url("/api/activities?x=1");
        let body = Some(json!({"data": {"name": "signed"}}).to_string());
        let mut request = sign(Scheme::HttpSignature, &token, &secret, "POST", &url, body);
        request.headers.push(("accept-signature".into(), asked.clone()));
        request
    };
    // The answer covers the request's signature.
    let request = signed_post();
    let (status, headers, body) = send_raw(&server, &request).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let verified = verify(&request, status, &headers, &body, "resp", &key).unwrap();
    assert_eq!(verified.keyid.as_deref(), Some(keyid.as_str()));
    assert_eq!(verified.nonce.as_deref(), Some("n-42"));
    for covered in [
        "\"@status\"",
        "\"content-digest\"",
        "\"content-type\"",
        "\"@method\";req",
        "\"@authority\";req",
        "\"@request-target\";req",
        "\"signature\";req;key=\"sig1\"",
    ] {
        assert!(verified.covers(covered), "{covered} not in {:?}", verified.components);
    }
    // Tampered: another body, another status, or presented as the answer to another request.
    let mut tampered = body.clone();
    tampered[2] ^= 1;
    assert_eq!(
        verify(&request, status, &headers, &tampered, "resp", &key).unwrap_err().code(),
        "digest-mismatch"
    );
    assert_eq!(
        verify(&request, 200, &headers, &body, "resp", &key).unwrap_err().code(),
        "signature-mismatch"
    );
    let other = signed_post();
    assert_eq!(
        verify(&other, status, &headers, &body, "resp", &key).unwrap_err().code(),
        "signature-mismatch"
    );
    let stranger = KeyMaterial::public(
        KeyKind::Domain,
        PublicKey::parse(&PrivateKey::generate(Algorithm::Ed25519).unwrap().public_key_pem(), None)
            .unwrap(),
    );
    assert!(verify(&request, status, &headers, &body, "resp", &stranger).is_err());

    // A bearer request, a refusal, and an unasked answer.
    let bearer = Prepared {
        method: "GET".into(),
        url: server.url("/api/activities"),
        headers: vec![
            ("authorization".into(), format!("Bearer {}", server.admin_token)),
            ("accept-signature".into(), asked.clone()),
        ],
        body: None,
    };
    let (status, headers, body) = send_raw(&server, &bearer).await;
    assert_eq!(status, 200);
    assert!(verify(&bearer, status, &headers, &body, "resp", &key).is_ok());
    // A man in the middle who sees that request (and its nonce) asks the same with his own
    // token: keyward signs his answer, which does not pass for the answer to the admin's.
    let (_, mallory) = server.user("mallory", &["activities:read"]).await;
    let forged = Prepared {
        headers: vec![
            ("authorization".into(), format!("Bearer {mallory}")),
            ("accept-signature".into(), asked.clone()),
        ],
        ..bearer.again()
    };
    let (status, headers, body) = send_raw(&server, &forged).await;
    assert_eq!(status, 200);
    assert!(
        verify(&forged, status, &headers, &body, "resp", &key)
            .unwrap()
            .covers("\"authorization\";req")
    );
    assert_eq!(
        verify(&bearer, status, &headers, &body, "resp", &key).unwrap_err().code(),
        "signature-mismatch",
        "an answer to another credential passed for the admin's"
    );
    let refused = Prepared {
        headers: vec![
            ("authorization".into(), "Bearer kwat_nope".into()),
            ("accept-signature".into(), asked.clone()),
        ],
        ..bearer.again()
    };
    let (status, headers, body) = send_raw(&server, &refused).await;
    assert_eq!(status, 401);
    assert!(
        verify(&refused, status, &headers, &body, "resp", &key).is_ok(),
        "a refusal is signed too"
    );
    let unasked = Prepared {
        headers: vec![("authorization".into(), format!("Bearer {}", server.admin_token))],
        ..bearer.again()
    };
    let (_, headers, _) = send_raw(&server, &unasked).await;
    assert!(headers.get("signature").is_none());
    // Asked of another key: not signed (keyward cannot honour it).
    let elsewhere = Prepared {
        headers: vec![("accept-signature".into(), r#"resp=("@status");keyid="another""#.into())],
        ..unasked.again()
    };
    let (_, headers, _) = send_raw(&server, &elsewhere).await;
    assert!(headers.get("signature").is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_route_that_signs_responses_signs_the_upstreams_answers_unasked() {
    let upstream = EchoUpstream::start().await.unwrap();
    let server = server(&upstream).await;
    let (_, key, _) = published(&server).await;
    let bearer = |path: &str| Prepared {
        method: "GET".into(),
        url: server.url(path),
        headers: vec![("authorization".into(), format!("Bearer {}", server.admin_token))],
        body: None,
    };
    let orders = bearer("/orders/5?full=1");
    let (status, headers, body) = send_raw(&server, &orders).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let verified = verify(&orders, status, &headers, &body, "kw", &key).unwrap();
    assert!(verified.covers("\"@request-target\";req"), "{:?}", verified.components);
    assert!(verified.covers("\"@authority\";req"), "{:?}", verified.components);
    let echoed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echoed["target"], "/orders/5?full=1");
    // The answer to the same request sent to another host does not pass for this one's
    // (issue 18, finding 12: an answer for pub.example verified as priv.example's).
    let elsewhere = Prepared {
        headers: vec![
            ("authorization".into(), format!("Bearer {}", server.admin_token)),
            ("host".into(), "priv.example".into()),
        ],
        ..bearer("/orders/5?full=1")
    };
    let (status, headers, body) = send_raw(&server, &elsewhere).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(verify(&elsewhere, status, &headers, &body, "kw", &key).is_ok());
    let public = Prepared {
        headers: vec![
            ("authorization".into(), format!("Bearer {}", server.admin_token)),
            ("host".into(), "pub.example".into()),
        ],
        ..bearer("/orders/5?full=1")
    };
    assert_eq!(
        verify(&public, status, &headers, &body, "kw", &key).unwrap_err().code(),
        "signature-mismatch"
    );
    // The route is found in the request's canonical form: an encoded prefix and a Host with
    // a port are signed too (finding 12).
    for (path, host) in [("/%6Frders/6", None), ("/orders/7", Some("api.example:8443"))] {
        let mut request = bearer(path);
        if let Some(host) = host {
            request.headers.push(("host".into(), host.into()));
        }
        let (status, headers, body) = send_raw(&server, &request).await;
        assert_eq!(status, 200, "{path}");
        assert!(verify(&request, status, &headers, &body, "kw", &key).is_ok(), "{path} {host:?}");
    }
    let (_, headers, _) = send_raw(&server, &bearer("/plain/5")).await;
    assert!(headers.get("signature").is_none(), "a route without sign_responses");
    let (status, headers, _) = exchange(&server.client, bearer("/orders/5")).await;
    assert_eq!(status, 200);
    assert!(headers.get("content-digest").is_some());
    server.stop().await;
}

#[tokio::test]
async fn the_python_library_verifies_a_signed_answer() {
    if !keyward_testkit::env::python_http_message_signatures() {
        return;
    }
    let upstream = EchoUpstream::start().await.unwrap();
    let server = server(&upstream).await;
    let (keyid, _, published) = published(&server).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "App", &["activities:read"]).await;
    let mut request = sign(
        Scheme::HttpSignature,
        &token,
        &secret,
        "GET",
        &server.url("/api/activities?page=1"),
        None,
    );
    request.headers.push((
        "accept-signature".into(),
        format!(r#"sig1=("@status" "content-digest");keyid="{keyid}""#),
    ));
    let (status, headers, body) = send_raw(&server, &request).await;
    assert_eq!(status, 200);
    let headers_json: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let mut input = json!({
        "status": status, "headers": headers_json, "body": String::from_utf8(body).unwrap(),
        "public_key": published["keys"][0]["public_key"], "algorithm": "ed25519", "keyid": keyid,
        "request": { "method": "GET", "url": request.url, "headers": request.headers },
    });
    let run = |input: &Value| {
        common::python("verify_rfc9421.py", &["--response", "--label", "sig1"], input)
    };
    let (verified, output) = run(&input);
    assert!(verified, "{output}");
    assert!(output.contains("\"signature\";req;key=\"sig1\""), "{output}");
    // The same answer, presented with a changed body, fails there too.
    input["body"] = json!("{\"data\":[]}");
    assert!(!run(&input).0);
    server.stop().await;
}
