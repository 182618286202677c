//! Envoy's gRPC `ext_authz` contract, driven by a client built from Envoy's own protos over a
//! real HTTP/2 connection to keyward's port: checks as Envoy sends them (attributes, headers,
//! `with_request_body`), answers as Envoy applies them.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::{Backend, Prepared, Scheme, TestServer, sign};
use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use keyward_server::gateway::{ForwardAuthProxy, ForwardAuthSettings, RouteConfig, Routes};
use serde_json::Value;

const HOST: &str = "api.example.test";

async fn server() -> TestServer {
    server_trusting(Vec::new()).await
}

/// The Envoy-facing server, trusting `trusted_proxies`.
async fn server_trusting(trusted_proxies: Vec<ipnet::IpNet>) -> TestServer {
    let mut orders = RouteConfig {
        prefix: "/orders".into(),
        upstream: "http://127.0.0.1:9".into(),
        ..Default::default()
    };
    // GET needs no permission beyond a credential: the route says it serves GET too.
    orders.methods = Some(vec!["GET".into(), "POST".into()]);
    orders.method_permissions.insert("POST".into(), vec!["orders:write".into()]);
    let settings = keyward_server::Settings {
        routes: Routes::check(vec![orders]).unwrap(),
        forward_auth: ForwardAuthSettings {
            proxy: Some(ForwardAuthProxy::Envoy),
            ..ForwardAuthSettings::default()
        },
        trusted_proxies,
        ..common::settings()
    };
    TestServer::builder("ext_authz").settings(settings).start().await.unwrap()
}

/// The check Envoy sends for `original`: with the body and Envoy's partial-body flag when
/// `with_body`, else the size (-1: unknown, as for a chunked request).
fn check_request(original: &Prepared, with_body: bool, size: i64) -> CheckRequest {
    let target = original.url.strip_prefix(&format!("http://{HOST}")).unwrap().to_owned();
    let mut headers: HashMap<String, String> = original
        .headers
        .iter()
        .filter(|(n, _)| n != "host")
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    headers.insert(":authority".into(), HOST.into());
    headers.insert(":path".into(), target.clone());
    let mut http = HttpRequest {
        method: original.method.clone(),
        path: target,
        host: HOST.into(),
        scheme: "http".into(),
        protocol: "HTTP/1.1".into(),
        size,
        ..Default::default()
    };
    if with_body {
        headers.insert("x-envoy-auth-partial-body".into(), "false".into());
        http.raw_body = original.body.clone().unwrap_or_default().into_bytes();
    }
    http.headers = headers;
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request { http: Some(http), ..Default::default() }),
            ..Default::default()
        }),
    }
}

async fn ask(server: &TestServer, check: CheckRequest) -> CheckResponse {
    let mut client = AuthorizationClient::connect(server.base.clone()).await.unwrap();
    client.check(check).await.unwrap().into_inner()
}

fn grpc_code(response: &CheckResponse) -> i32 {
    response.status.as_ref().unwrap().code
}

/// The headers an OK answer sets, and those it removes.
fn ok_headers(response: &CheckResponse) -> (HashMap<String, String>, Vec<String>, Vec<String>) {
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("not OK: {response:?}")
    };
    let set = ok
        .headers
        .iter()
        .map(|h| h.header.as_ref().unwrap())
        .map(|h| (h.key.clone(), h.value.clone()))
        .collect();
    (set, ok.headers_to_remove.clone(), ok.query_parameters_to_remove.clone())
}

/// The HTTP status and JSON body of a denial.
fn denial(response: &CheckResponse) -> (i32, Value) {
    let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
        panic!("not denied: {response:?}")
    };
    (denied.status.as_ref().unwrap().code, serde_json::from_str(&denied.body).unwrap())
}

#[tokio::test]
async fn envoy_checks_over_grpc_get_the_gateways_decision() {
    let server = server().await;
    let (key_id, token, secret) =
        server.create_key(&server.admin_token, "Shop", &["orders:write"]).await;
    let url = |target: &str| format!("http://{HOST}{target}");

    // A user with a bearer token: identity set, what does not apply removed with the credentials.
    let bearer = Prepared {
        method: "GET".into(),
        url: url("/orders/1"),
        headers: vec![("authorization".into(), format!("Bearer {}", server.admin_token))],
        body: None,
    };
    // A client's own identity header, in any spelling, is refused: Envoy passes it on.
    for forged in ["x-keyward-key-id", "x_keyward_key_id"] {
        let mut request = bearer.again();
        request.headers.push((forged.into(), "7".into()));
        let answer = ask(&server, check_request(&request, false, 0)).await;
        assert_eq!(grpc_code(&answer), tonic::Code::InvalidArgument as i32, "{forged}");
        assert_eq!(denial(&answer).1["error"]["code"], 48);
    }
    let answer = ask(&server, check_request(&bearer, false, 0)).await;
    assert_eq!(grpc_code(&answer), 0, "{answer:?}");
    let (set, removed, query) = ok_headers(&answer);
    assert_eq!(set["x-keyward-principal"], "user:1");
    assert_eq!(set["x-keyward-scheme"], "bearer");
    for name in [
        "x-keyward-key-id",
        "x-keyward-application",
        "x-keyward-reseller",
        "authorization",
        "signature",
    ] {
        assert!(removed.contains(&name.to_owned()), "{name} not removed: {removed:?}");
    }
    assert!(query.is_empty());

    // query-hmac: its parameters leave the query Envoy forwards.
    let signed = sign(Scheme::QueryHmac, &token, &secret, "GET", &url("/orders/2?page=1"), None);
    let answer = ask(&server, check_request(&signed, false, 0)).await;
    let (set, _, query) = ok_headers(&answer);
    assert_eq!(set["x-keyward-principal"], format!("key:{key_id}"));
    assert_eq!(query, ["t", "ms", "s"]);

    // header-hmac with the body (with_request_body): verified; changed: refused with Devo's answer.
    let body = Some("{\"item\":1}".to_owned());
    let signed = sign(Scheme::HeaderHmac, &token, &secret, "POST", &url("/orders"), body.clone());
    assert_eq!(grpc_code(&ask(&server, check_request(&signed, true, 10)).await), 0);
    let mut changed =
        sign(Scheme::HeaderHmac, &token, &secret, "POST", &url("/orders"), body.clone());
    changed.body = Some("{\"item\":2}".into());
    let answer = ask(&server, check_request(&changed, true, 10)).await;
    assert_eq!(grpc_code(&answer), tonic::Code::Unauthenticated as i32);
    let (status, json) = denial(&answer);
    assert_eq!((status, &json["error"]["code"]), (401, &Value::from(12)));
    assert_eq!(json["error"]["message"], "Invalid signature validation");

    // Without with_request_body: a request of unknown size is refused, one of size 0 passes.
    let get = sign(Scheme::HeaderHmac, &token, &secret, "GET", &url("/orders/3"), None);
    let (status, json) = denial(&ask(&server, check_request(&get, false, -1)).await);
    assert_eq!((status, &json["error"]["code"]), (401, &Value::from(26)));
    let get = sign(Scheme::HeaderHmac, &token, &secret, "GET", &url("/orders/4"), None);
    assert_eq!(grpc_code(&ask(&server, check_request(&get, false, 0)).await), 0);

    // A permission the key lacks; a check without the request's attributes.
    let (_, reader, reader_secret) =
        server.create_key(&server.admin_token, "Reader", &["activities:read"]).await;
    let post = sign(Scheme::HttpSignature, &reader, &reader_secret, "POST", &url("/orders"), None);
    let answer = ask(&server, check_request(&post, true, 0)).await;
    assert_eq!(grpc_code(&answer), tonic::Code::PermissionDenied as i32);
    assert_eq!(denial(&answer).0, 403);
    let answer = ask(&server, CheckRequest::default()).await;
    assert_eq!(grpc_code(&answer), tonic::Code::InvalidArgument as i32);
    assert_eq!(denial(&answer).1["error"]["code"], 37);
    server.stop().await;
}

#[tokio::test]
async fn grpc_checks_are_envoys_only() {
    let server = TestServer::start(Backend::Sqlite, "ext_authz_off").await.unwrap();
    let get = Prepared {
        method: "GET".into(),
        url: format!("http://{HOST}/orders/1"),
        headers: vec![("authorization".into(), format!("Bearer {}", server.admin_token))],
        body: None,
    };
    let answer = ask(&server, check_request(&get, false, 0)).await;
    let (status, json) = denial(&answer);
    assert_eq!((status, &json["error"]["code"]), (404, &Value::from(40)), "{json}");
    server.stop().await;
}

/// A trusted Envoy's `source.certificate` (`include_peer_certificate`) is the client's
/// certificate: the key pinned to it; an untrusted one's is not, nor is a certificate in a
/// header Envoy does not write.
#[tokio::test]
async fn a_trusted_envoys_peer_certificate_is_the_mtls_credential() {
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::Peer;
    use keyward_testkit::certs::{PKCS_ECDSA_P256_SHA256, TestCa};
    let ca = TestCa::new("clients CA");
    let leaf = ca.leaf(&["shop.clients.test"], &PKCS_ECDSA_P256_SHA256);
    let escaped: String =
        leaf.pem
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
    let with_certificate = |headers: Vec<(String, String)>| {
        let original = Prepared {
            method: "GET".into(),
            url: format!("http://{HOST}/orders/1"),
            headers,
            body: None,
        };
        let mut check = check_request(&original, false, 0);
        let attributes = check.attributes.as_mut().unwrap();
        attributes.source = Some(Peer { certificate: escaped.clone(), ..Default::default() });
        check
    };
    for trusted in [true, false] {
        let proxies = if trusted { vec!["127.0.0.1/32".parse().unwrap()] } else { Vec::new() };
        let server = server_trusting(proxies).await;
        let created = server
            .client
            .post(server.url("/api/admin/keys"))
            .bearer_auth(&server.admin_token)
            .json(&serde_json::json!({"data": {"name": "Shop", "certificate": leaf.pem}}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let key_id = created.json::<Value>().await.unwrap()["data"]["id"].as_i64().unwrap();
        let response = ask(&server, with_certificate(Vec::new())).await;
        if trusted {
            assert_eq!(grpc_code(&response), 0, "{response:?}");
            let (set, _, _) = ok_headers(&response);
            assert_eq!(set["x-keyward-principal"], format!("key:{key_id}"));
            assert_eq!(set["x-keyward-scheme"], "mtls");
            // RFC 9440's header is not Envoy's: a client's own is no credential.
            let der = {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(&leaf.der)
            };
            let mut check = with_certificate(vec![("client-cert".into(), format!(":{der}:"))]);
            check.attributes.as_mut().unwrap().source = None;
            let (status, body) = denial(&ask(&server, check).await);
            assert_eq!((status, body["error"]["code"].as_i64()), (401, Some(10)), "{body}");
        } else {
            let (status, body) = denial(&response);
            assert_eq!((status, body["error"]["code"].as_i64()), (401, Some(10)), "{body}");
        }
        server.stop().await;
    }
}
