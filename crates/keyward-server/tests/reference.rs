//! The API reference: `/api/openapi.json` covers every route and every scheme, and is valid
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
    ("/api/keys/verify", &["post"]),
    ("/api/activities", &["get", "post"]),
    ("/api/activities/{id}", &["get", "put", "delete"]),
    ("/api/activities/{id}/history", &["get"]),
    ("/api/admin/keys", &["get", "post"]),
    ("/api/admin/keys/{id}", &["get", "patch", "delete"]),
    ("/api/admin/keys/{id}/regenerate-token", &["post"]),
    ("/api/admin/keys/{id}/rotate-secret", &["post"]),
    ("/api/admin/keys/{id}/reveal", &["post"]),
    ("/api/admin/keys/{id}/usage", &["get"]),
    ("/api/admin/usage", &["get"]),
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
    ("/probio/domain/keys/{id}/usage", &["get"]),
    ("/probio/domain/usage", &["get"]),
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
    let every = ["api-key", "bearer", "header-hmac", "http-signature", "mtls", "query-hmac"];
    assert_eq!(schemes, BTreeSet::from(every));
    assert_eq!(document["components"]["securitySchemes"]["mtls"]["type"], "mutualTLS");
    // Administration is documented without query-hmac, as it is served.
    let admin_security = &document["paths"]["/api/admin/keys"]["post"]["security"];
    assert_eq!(
        admin_security,
        &serde_json::json!([{"bearer": []}, {"header-hmac": []}, {"http-signature": []}, {"mtls": []}])
    );
    // Each group is documented with the schemes its layer accepts: provisioning, signed only,
    // the domain's accounts as much as the reseller's domains.
    let signed_only =
        serde_json::json!([{"header-hmac": []}, {"http-signature": []}, {"mtls": []}]);
    for (path, method) in [("/probio/domain/keys", "post"), ("/probio/domains", "get")] {
        let operation = &document["paths"][path][method];
        assert_eq!(operation["security"], signed_only, "{method} {path}");
        assert_eq!(operation["tags"], serde_json::json!(["provisioning"]), "{method} {path}");
    }
    assert_eq!(document["paths"]["/api/me"]["get"]["security"].as_array().unwrap().len(), 6);
    assert_eq!(document["paths"]["/healthz"]["get"]["security"], serde_json::json!([{}]));
    let ids: Vec<&str> = served
        .iter()
        .map(|(path, method)| document["paths"][path][method]["operationId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "operation ids are unique");
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

/// The schema `reference` points at (`$ref` followed), or the schema itself.
fn resolved<'d>(document: &'d Value, schema: &'d Value) -> &'d Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolved(document, &document["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// `schema` with the parts of an `allOf` (a view that flattens another) merged into one
/// object's properties and required fields.
fn merged(document: &Value, schema: &Value) -> Value {
    let Some(parts) = schema["allOf"].as_array() else { return schema.clone() };
    let (mut properties, mut required) = (serde_json::Map::new(), Vec::new());
    for part in parts {
        let part = merged(document, resolved(document, part));
        properties.extend(part["properties"].as_object().cloned().unwrap_or_default());
        required.extend(part["required"].as_array().cloned().unwrap_or_default());
    }
    serde_json::json!({"type": "object", "properties": properties, "required": required})
}

/// Checks `answer` against `schema`: an object has every required property and none the schema
/// does not name, an array's items match, recursively; `at` names the place for the message.
fn conforms(document: &Value, schema: &Value, answer: &Value, at: &str) {
    let schema = &merged(document, resolved(document, schema));
    if let Some(options) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let nullable = options.iter().any(|option| option["type"] == "null");
        if answer.is_null() && nullable {
            return;
        }
        let concrete: Vec<_> = options.iter().filter(|option| option["type"] != "null").collect();
        if let [only] = concrete.as_slice() {
            return conforms(document, only, answer, at);
        }
        return; // a choice between several shapes: their properties are checked where they are one
    }
    match answer {
        Value::Object(fields) => {
            let properties = schema["properties"].as_object();
            let Some(properties) = properties else { return };
            for (name, value) in fields {
                let property = properties
                    .get(name)
                    .unwrap_or_else(|| panic!("{at}.{name} is answered but not in the reference"));
                conforms(document, property, value, &format!("{at}.{name}"));
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                assert!(fields.contains_key(name), "{at}.{name} is required but not answered");
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                conforms(document, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_answers_are_the_schemas_the_reference_shows() {
    let server = TestServer::start(Backend::Sqlite, "schemas").await.unwrap();
    let document = server.get_json("/api/openapi.json").await;
    for name in [
        "KeyView",
        "UserView",
        "DomainView",
        "MeView",
        "Activity",
        "AuditRecord",
        "UsageBucketView",
        "DomainUsageView",
    ] {
        assert!(document["components"]["schemas"].get(name).is_some(), "no schema {name}");
    }
    let admin = server.admin_token.clone();
    let key = serde_json::json!({"data": {"name": "schema", "permissions": ["activities:read"]}});
    let activity = serde_json::json!({"data": {"name": "A"}});
    let calls = [
        ("POST", "/api/admin/keys", Some(key), "/api/admin/keys", "201"),
        ("GET", "/api/admin/keys", None, "/api/admin/keys", "200"),
        ("GET", "/api/admin/users", None, "/api/admin/users", "200"),
        ("GET", "/api/me", None, "/api/me", "200"),
        ("POST", "/api/activities", Some(activity), "/api/activities", "201"),
        ("GET", "/api/activities", None, "/api/activities", "200"),
        ("GET", "/api/admin/audit", None, "/api/admin/audit", "200"),
        ("GET", "/api/admin/keys/1/usage", None, "/api/admin/keys/{id}/usage", "200"),
        ("GET", "/api/admin/usage", None, "/api/admin/usage", "200"),
    ];
    for (method, path, body, documented, status) in calls {
        let (answered, answer) = server.bearer(&admin, method, path, body).await;
        assert_eq!(answered.to_string(), status, "{method} {path}: {answer}");
        let operation = &document["paths"][documented][method.to_lowercase()];
        let schema = &operation["responses"][status]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{method} {path}: the reference shows no schema");
        conforms(&document, schema, &answer, &format!("{method} {path}"));
    }
    server.stop().await;
}
