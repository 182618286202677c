//! `keyward serve --log-format json`: every line on stderr is one JSON object with the node's
//! name; what happens while a request is served carries its request id, in text as in JSON,
//! and never its query; the generated administrator password goes to a private file, never
//! into the log.

#![allow(clippy::unwrap_used)]

mod common;

use common::{http, serve, terminate};
use serde_json::Value;

#[test]
fn json_logs_carry_the_node_and_the_request_id_and_never_the_generated_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(
        &data,
        &[("KEYWARD_LOG_FORMAT", "json"), ("KEYWARD_NODE_NAME", "node-a"), ("KEYWARD_LOG", "info")],
    );
    let address = served.address.clone();

    // The password is in a file only its owner reads.
    let password_file = data.join("admin-password");
    let password = std::fs::read_to_string(&password_file).unwrap().trim().to_owned();
    assert!(password.len() >= 12, "{password:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&password_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A refused request is logged once, inside its request's span.
    let forged = "Bearer kwtok_0000000000000000000000000000000000000000";
    let (status, _) = http(
        &address,
        &format!(
            "GET /api/me HTTP/1.1\r\nHost: {address}\r\nAuthorization: {forged}\r\n\
             x-request-id: log-test-17\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 401);
    // Plain API keys, well-formed and mistyped, in both places they travel: refused and logged,
    // never written out.
    let plain = keyward_sig::token::CredentialKind::PlainApiKey.mint(&[5; 30]);
    let mistyped = format!("{}x", &plain[..plain.len() - 1]);
    for header in [format!("X-API-Key: {plain}"), format!("Authorization: Bearer {mistyped}")] {
        let (status, _) = http(
            &address,
            &format!(
                "GET /api/me HTTP/1.1\r\nHost: {address}\r\n{header}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(status, 401, "{header}");
    }
    let lines = terminate(served);

    let objects: Vec<Value> = lines
        .iter()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect();
    assert!(objects.len() >= 3, "{lines:?}");
    for (object, line) in objects.iter().zip(&lines) {
        assert_eq!(object["node"], "node-a", "{line}");
        assert!(!line.contains(&password), "the password reached the log: {line}");
        assert!(!line.contains("kwtok_0000"), "a credential reached the log: {line}");
        assert!(!line.contains("kwapi_"), "a plain API key reached the log: {line}");
        assert!(!line.contains('\u{1b}'), "colour codes in a JSON log: {line}");
    }
    let message = |o: &Value| o["fields"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(objects.iter().any(|o| message(o).contains("generated password is in")));
    assert!(objects.iter().any(|o| message(o).starts_with("keyward: listening on http://")));
    let refusal = objects
        .iter()
        .find(|o| o["target"] == "keyward::auth" && o["fields"]["granted"] == false)
        .unwrap_or_else(|| panic!("no refusal logged: {lines:?}"));
    assert_eq!(refusal["span"]["request_id"], "log-test-17", "{refusal}");
    assert_eq!(refusal["span"]["method"], "GET", "{refusal}");
    assert_eq!(refusal["span"]["path"], "/api/me", "{refusal}");
    // A made-up token fails its checksum before any lookup.
    assert_eq!(refusal["fields"]["reason"], "malformed-field", "{refusal}");
}

#[test]
fn text_logs_name_the_request_and_never_its_query() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir.path().join("data"), &[("KEYWARD_LOG", "info")]);
    let address = served.address.clone();
    let forged = "Bearer kwtok_0000000000000000000000000000000000000000";
    let (status, _) = http(
        &address,
        &format!(
            "GET /api/me?signature=query-secret HTTP/1.1\r\nHost: {address}\r\n\
             Authorization: {forged}\r\nx-request-id: text-log-9\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 401);
    // A request with no id of its own gets one, which its log lines carry.
    let (status, _) = http(
        &address,
        &format!(
            "GET /api/me HTTP/1.1\r\nHost: {address}\r\nAuthorization: {forged}\r\n\
             Connection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 401);
    let lines = terminate(served);
    let refusals: Vec<&String> =
        lines.iter().filter(|line| line.contains("keyward::auth")).collect();
    assert_eq!(refusals.len(), 2, "{lines:?}");
    assert!(
        refusals[0]
            .contains("request{method=GET path=/api/me request_id=text-log-9}: keyward::auth:"),
        "{}",
        refusals[0]
    );
    let generated = refusals[1]
        .split("request_id=")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| panic!("no request id: {}", refusals[1]));
    assert!(
        generated.len() == 32 && generated.bytes().all(|b| b.is_ascii_hexdigit()),
        "{generated}"
    );
    for line in &lines {
        assert!(!line.contains("query-secret"), "the query reached the log: {line}");
        assert!(!line.contains("kwtok_0000"), "a credential reached the log: {line}");
    }
}

#[test]
fn forward_auth_lines_name_the_decided_request_and_an_upstream_outage_is_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let password = "correct horse battery";
    let served = serve(
        &dir.path().join("data"),
        &[
            ("KEYWARD_LOG", "info"),
            ("KEYWARD_ADMIN_PASSWORD", password),
            ("KEYWARD_FORWARD_AUTH", "nginx"),
            // Nothing listens on port 9: the upstream is down.
            ("KEYWARD_ROUTES", "/orders/=http://127.0.0.1:9"),
        ],
    );
    let address = served.address.clone();
    let forged = "Bearer kwtok_0000000000000000000000000000000000000000";
    let (status, _) = http(
        &address,
        &format!(
            "GET /auth/check HTTP/1.1\r\nHost: {address}\r\nX-Original-Method: DELETE\r\n\
             X-Original-URI: /orders/7?s=query-secret\r\nAuthorization: {forged}\r\n\
             x-request-id: fa-log-1\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 401);
    let login = format!(r#"{{"UserName":"admin","Password":"{password}"}}"#);
    let (_, token) = http(
        &address,
        &format!(
            "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{login}",
            login.len()
        ),
    );
    let bearer = token["access_token"].as_str().unwrap();
    for _ in 0..3 {
        let (status, answer) = http(
            &address,
            &format!(
                "GET /orders/1 HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {bearer}\r\n\
                 Connection: close\r\n\r\n"
            ),
        );
        assert_eq!((status, &answer["error"]["code"]), (502, &serde_json::json!(53)));
    }
    let lines = terminate(served);
    let decided = lines
        .iter()
        .find(|line| line.contains("keyward::auth"))
        .unwrap_or_else(|| panic!("no refusal logged: {lines:?}"));
    assert!(
        decided.contains(
            "request{method=DELETE path=/orders/7 request_id=fa-log-1 via=forward-auth}: keyward::auth:"
        ),
        "{decided}"
    );
    let outage: Vec<&String> = lines.iter().filter(|line| line.contains("/orders/1")).collect();
    assert_eq!(outage.len(), 3, "one line per failed request: {lines:?}");
    assert!(outage.iter().all(|line| line.contains(" WARN ")), "{outage:?}");
    assert!(!lines.iter().any(|line| line.contains("ERROR")), "{lines:?}");
    assert!(!lines.iter().any(|line| line.contains("query-secret")), "{lines:?}");
}
