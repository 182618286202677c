//! The API reference: `/api/openapi.json` covers every route and the four schemes, and is valid
//! OpenAPI by an independent validator; `/api/docs` loads nothing from elsewhere.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestServer};
use keyward_testkit::env::python;
use serde_json::Value;

/// Every route the server answers, with its methods.
const ROUTES: &[(&str, &[&str])] = &[
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/.well-known/keyward/response-keys", &["get"]),
    ("/api/login", &["post"]),
    ("/api/logout", &["post"]),
    ("/api/me", &["get"]),
    ("/api/me/password", &["post"]),
    ("/api/activities", &["get", "post"]),
    ("/api/activities/{id}", &["get", "put", "delete"]),
    ("/api/activities/{id}/history", &["get"]),
    ("/api/admin/keys", &["get", "post"]),
    ("/api/admin/keys/{id}", &["get", "patch", "delete"]),
    ("/api/admin/keys/{id}/regenerate-token", &["post"]),
    ("/api/admin/keys/{id}/rotate-secret", &["post"]),
    ("/api/admin/keys/{id}/reveal", &["post"]),
    ("/api/admin/users", &["get", "post"]),
    ("/api/admin/users/{id}", &["get", "patch"]),
    ("/api/admin/audit", &["get"]),
    ("/probio/domains", &["get", "post"]),
    ("/probio/domains/{name}", &["get"]),
    ("/probio/domains/{name}/disable", &["post"]),
    ("/probio/domains/{name}/enable", &["post"]),
    ("/probio/domains/{name}/administrator", &["post"]),
    ("/probio/domains/{name}/keys", &["get", "post"]),
    ("/probio/domains/{name}/keys/{id}", &["patch", "delete"]),
    ("/probio/domain/users", &["get", "post"]),
    ("/probio/domain/users/{id}", &["get", "patch"]),
    ("/probio/domain/keys", &["get", "post"]),
    ("/probio/domain/keys/{id}", &["get", "patch", "delete"]),
    ("/probio/domain/keys/{id}/rotate-secret", &["post"]),
    ("/console/session", &["get", "post", "delete"]),
];

#[tokio::test]
async fn the_openapi_document_covers_every_route_and_scheme_and_is_valid() {
    let server = TestServer::start(Backend::Sqlite, "reference").await.unwrap();
    let response = server.client.get(server.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();

    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(move |m| (path.clone(), m.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .flat_map(|(path, methods)| {
            methods.iter().map(move |m| ((*path).to_owned(), (*m).to_owned()))
        })
        .collect();
    assert_eq!(documented, served, "every route, and nothing else, is documented");
    // Each documented route exists: without credentials it is refused or answered, never 404/405.
    for (path, method) in &served {
        let concrete = path.replace("{id}", "1").replace("{name}", "acme");
        let response = server
            .client
            .request(method.to_uppercase().parse().unwrap(), server.url(&concrete))
            .send()
            .await
            .unwrap();
        assert!(
            ![404, 405].contains(&response.status().as_u16()) || path.contains('{'),
            "{method} {path}: {}",
            response.status()
        );
    }
    let schemes: BTreeSet<&str> = document["components"]["securitySchemes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(schemes, BTreeSet::from(["bearer", "header-hmac", "http-signature", "query-hmac"]));
    // Administration is documented without query-hmac, as it is served.
    let admin_security = &document["paths"]["/api/admin/keys"]["post"]["security"];
    assert_eq!(
        admin_security,
        &serde_json::json!([{"bearer": []}, {"header-hmac": []}, {"http-signature": []}])
    );
    assert!(
        document["info"]["description"].as_str().unwrap().contains("Invalid signature validation"),
        "the error codes are in the reference"
    );

    let script = "import json, sys; from openapi_spec_validator import validate; \
        validate(json.load(sys.stdin)); print('valid')";
    if let Some(output) = python("openapi_spec_validator", script, text.as_bytes()) {
        assert!(
            output.status.success(),
            "openapi-spec-validator: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn the_reference_page_loads_nothing_from_elsewhere() {
    let server = TestServer::start(Backend::Sqlite, "docspage").await.unwrap();
    let response = server.client.get(server.url("/api/docs")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(page.contains("/api/openapi.json"));
    for attribute in ["src=\"http", "href=\"http", "src='http", "@import", "url(http"] {
        assert!(!page.contains(attribute), "the page fetches {attribute}...");
    }
    server.stop().await;
}
