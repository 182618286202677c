//! The console's sessions over a real server: cookie flags and scope, CSRF on every change,
//! security headers, no sign-in for API keys, and a session that is good for the console only.

#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN_PASSWORD, Backend, TestServer};
use serde_json::{Value, json};

/// The value of cookie `name` among a response's Set-Cookie headers, with the whole header.
fn set_cookie(response: &reqwest::Response, name: &str) -> (String, String) {
    let header = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"));
    let value = header.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    (value, header)
}

#[tokio::test]
async fn console_sessions_are_cookies_and_every_change_needs_the_csrf_token() {
    let server = TestServer::start(Backend::Sqlite, "console").await.unwrap();
    let page = server.client.get(server.url("/console/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline")
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");

    let response = server
        .client
        .post(server.url("/console/session"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (session, session_header) = set_cookie(&response, "kw_session");
    let (csrf, csrf_header) = set_cookie(&response, "kw_csrf");
    assert!(
        session_header.contains("HttpOnly") && session_header.contains("SameSite=Strict"),
        "{session_header}"
    );
    assert!(
        !csrf_header.contains("HttpOnly") && csrf_header.contains("SameSite=Strict"),
        "{csrf_header}"
    );
    assert!(!session_header.contains("Secure"), "plain http here; Secure behind TLS");
    // Scoped to the console: a browser sends neither cookie to any other path of the host, on
    // any port, so an API behind keyward (or behind a proxy asking keyward) never sees them.
    for header in [&session_header, &csrf_header] {
        assert!(header.contains("Path=/console/"), "{header}");
    }
    let cookies = format!("kw_session={session}; kw_csrf={csrf}");

    let me: Value = server
        .client
        .get(server.url("/console/session"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["username"], "admin");
    let key = json!({"data": {"name": "From the console", "permissions": ["activities:read"]}});
    let forged = server
        .client
        .post(server.url("/console/api/admin/keys"))
        .header("cookie", &cookies)
        .json(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "a change without the CSRF token is refused");
    assert_eq!(forged.json::<Value>().await.unwrap()["error"]["code"], 23);
    let wrong = server
        .client
        .post(server.url("/console/api/admin/keys"))
        .header("cookie", &cookies)
        .header("x-csrf-token", "0".repeat(64))
        .json(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let created = server
        .client
        .post(server.url("/console/api/admin/keys"))
        .header("cookie", &cookies)
        .header("x-csrf-token", &csrf)
        .json(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();

    // The session is good for the console only: the cookie on the API's own paths is no
    // credential, and its value is no bearer token (issue 18: used as one, it listed keys).
    let elsewhere = server
        .client
        .get(server.url("/api/admin/keys"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 401);
    assert_eq!(elsewhere.json::<Value>().await.unwrap()["error"]["code"], 10);
    let (status, body) = server.bearer(&session, "GET", "/api/admin/keys", None).await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!(13)), "{body}");
    let (status, body) = server.bearer(&session, "GET", "/console/api/admin/keys", None).await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!(13)), "{body}");
    let listed: Value = server
        .client
        .get(server.url("/console/api/admin/keys"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed["data"].as_array().unwrap().iter().any(|k| k["id"] == created["data"]["id"]));

    // API keys cannot sign in to the console.
    let as_key =
        json!({"username": created["data"]["token"], "password": created["data"]["secret"]});
    let refused =
        server.client.post(server.url("/console/session")).json(&as_key).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    // Signing out revokes the session.
    let out = server
        .client
        .delete(server.url("/console/session"))
        .header("cookie", &cookies)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = server
        .client
        .get(server.url("/console/session"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
    server.stop().await;
}
