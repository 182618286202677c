//! `keyward serve` as a user runs it: the real binary, a fresh data directory, the README's
//! curl walkthrough, and a graceful stop on SIGTERM.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{client, have, http, json_output, keyward, serve, terminate};

#[test]
fn first_start_prints_a_generated_password_once_and_the_walkthrough_works() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = serve(&data, &[]);
    let password = served
        .printed
        .iter()
        .find_map(|line| line.split("its password, shown once: ").nth(1))
        .expect("the generated password is printed")
        .to_owned();
    assert!(served.printed.iter().any(|l| l.contains("store: SQLite")), "{:?}", served.printed);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(
            std::fs::metadata(data.join("master.key")).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let walkthrough =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/curl/walkthrough.sh");
    if !(have("curl") && have("openssl")) {
        keyward_testkit::env::missing::<()>("curl and openssl", "not installed");
    } else {
        let output = Command::new("bash")
            .arg(&walkthrough)
            .env("KEYWARD_URL", format!("http://{}", served.address))
            .env("ADMIN_PASSWORD", &password)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("\"name\":\"Water points\""), "{stdout}");
        assert!(stdout.contains("\"type\":\"api_key\""), "{stdout}");
    }
    let printed = terminate(served);
    assert!(printed.iter().any(|l| l.contains("keyward: stopped")), "{printed:?}");

    // A second start reuses the store: no new password.
    let again = serve(&data, &[]);
    assert!(!again.printed.iter().any(|l| l.contains("password")), "{:?}", again.printed);
    terminate(again);
}

#[test]
fn bad_configuration_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (vec!["--replay", "sometimes"], "replay must be unsafe or all"),
        (vec!["--replay", "off"], "replay protection can no longer be switched off"),
        (vec!["--admin-schemes", "bearer,smoke-signals"], "unknown scheme"),
        (vec!["--header-timeout-seconds", "0"], "the header timeout must be 1 to 3600 seconds"),
        (vec!["--max-requests", "0"], "max connections and max requests must be at least 1"),
        (
            vec!["--database-url", "mysql://x"],
            "--database-url must start with sqlite:// or postgres://",
        ),
        (vec!["--schemes", "bearer,carrier-pigeon"], "unknown scheme"),
        (vec!["--clock-skew-seconds", "0"], "clock skew must be 1 to 3600 seconds"),
        (
            vec!["--forward-auth", "haproxy"],
            "forward-auth: \"haproxy\" is none of nginx, caddy, traefik, envoy",
        ),
        (
            vec!["--forward-auth", "nginx", "--forward-auth-body", "forwarded"],
            "nginx does not forward request bodies",
        ),
        (vec!["--forward-auth-unrouted", "allow"], "must be refuse or any-credential"),
        (vec!["--workers", "0"], "workers must be at least 1"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(["serve", "--data-dir"])
            .arg(dir.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // A bootstrap password shorter than the password rule is refused before anything starts.
    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("short-password"))
        .env("KEYWARD_ADMIN_PASSWORD", "too-short")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("KEYWARD_ADMIN_PASSWORD: password must have at least 12 characters"),
        "{stderr}"
    );
    let config = dir.path().join("keyward.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nunknown_key = 1\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("unknown field"), "{stderr}");
    // The header names forward-auth once read from the file: only the named proxy's now.
    std::fs::write(&config, "[forward_auth]\nproxy = \"nginx\"\nuri_headers = [\"x-uri\"]\n")
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("unknown field `uri_headers`, expected one of `proxy`"), "{stderr}");
}

#[test]
fn help_explains_the_flags() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_keyward")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--database-url",
        "--config",
        "KEYWARD_DATA_DIR",
        "KEYWARD_ADMIN_PASSWORD",
        "--forward-auth <PROXY>",
        "--forward-auth-unrouted",
    ] {
        assert!(help.contains(flag), "--help mentions {flag}:\n{help}");
    }
}

#[test]
fn an_operator_creates_a_reseller_whose_key_provisions_a_domain_with_curl() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let created = json_output(&keyward(&data, &["reseller", "create", "northwind", "--json"]));
    let (token, secret) = (
        created["token"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    );
    assert!(token.starts_with("kwkey_") && secret.starts_with("kwsec_"));
    let listed = json_output(&keyward(&data, &["reseller", "list", "--json"]));
    assert_eq!(listed[0]["name"], "northwind");
    assert_eq!(listed[0]["keys"], serde_json::json!([token]));
    let duplicate = keyward(&data, &["reseller", "create", "northwind"]);
    assert!(
        !duplicate.status.success()
            && String::from_utf8_lossy(&duplicate.stderr).contains("already exists")
    );
    let bad = keyward(&data, &["reseller", "create", "North Wind"]);
    assert!(
        !bad.status.success()
            && String::from_utf8_lossy(&bad.stderr).contains("a reseller name has")
    );

    // The server still bootstraps its admin, and the reseller key provisions with curl.
    let served = serve(&data, &[("KEYWARD_ADMIN_PASSWORD", "correct horse battery")]);
    assert!(
        served.printed.iter().any(|l| l.contains("created user admin")),
        "{:?}",
        served.printed
    );
    let default_key =
        json_output(&keyward(&data, &["reseller", "key", "rotate", "default", "--json"]));
    assert!(
        default_key["token"].as_str().unwrap().starts_with("kwkey_"),
        "the default reseller gets a key when asked"
    );
    if have("curl") && have("openssl") {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/curl/provisioning.sh");
        let output = Command::new("bash")
            .arg(&script)
            .env("KEYWARD_URL", format!("http://{}", served.address))
            .env("RESELLER_KEY", &token)
            .env("RESELLER_SECRET", &secret)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("\"name\":\"acme@northwind\""), "{stdout}");
        assert!(stdout.contains("\"name\":\"Acme water points\""), "{stdout}");
    } else {
        keyward_testkit::env::missing::<()>("curl and openssl", "not installed");
    }
    terminate(served);

    let rotated =
        json_output(&keyward(&data, &["reseller", "key", "rotate", "northwind", "--json"]));
    assert_eq!(rotated["token"], serde_json::json!(token));
    assert_ne!(rotated["secret"], serde_json::json!(secret));
}

#[test]
fn an_operator_sets_a_keys_limits_and_a_users_rate_limit_with_keyward_admin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let created = json_output(&keyward(&data, &["reseller", "create", "metered", "--json"]));
    let token = created["token"].as_str().unwrap().to_owned();
    let set = |args: &[&str]| {
        let mut all = vec!["key-limits", token.as_str(), "--json"];
        all.extend_from_slice(args);
        keyward(&data, &all)
    };
    let limits =
        json_output(&set(&["--rate-limit", "2/60", "--credits", "5", "--refill", "5/3600"]));
    assert_eq!(limits["rate_limit"], serde_json::json!({"requests": 2, "window_seconds": 60}));
    assert_eq!(
        limits["credits"],
        serde_json::json!({"remaining": 5, "refill": {"amount": 5, "interval_seconds": 3600}})
    );
    // What is not given stays; --no-rate-limit removes.
    let limits = json_output(&set(&["--no-rate-limit"]));
    assert_eq!(limits["rate_limit"], serde_json::Value::Null);
    assert_eq!(limits["credits"]["remaining"], 5);
    for (args, message) in [
        (&["--rate-limit", "0/60"][..], "--rate-limit allows 1 to 1000000"),
        (&["--rate-limit", "fast"][..], "--rate-limit takes N/SECONDS"),
        (&["--credits=-1"][..], "--credits and the refill amount are 0 to 10^12"),
    ] {
        let output = set(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(message), "{args:?}: {stderr}");
    }
    let unknown = keyward(&data, &["key-limits", "kwkey_unknown", "--rate-limit", "1/1"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no active key has token"));

    // Users exist once the server has bootstrapped its admin.
    let served = serve(&data, &[("KEYWARD_ADMIN_PASSWORD", "correct horse battery")]);
    terminate(served);
    let limited = json_output(&keyward(
        &data,
        &["user-rate-limit", "admin", "--rate-limit", "100/3600", "--json"],
    ));
    assert_eq!(limited["rate_limit"], serde_json::json!({"requests": 100, "window_seconds": 3600}));
    let lifted = json_output(&keyward(&data, &["user-rate-limit", "admin", "--none", "--json"]));
    assert_eq!(lifted["rate_limit"], serde_json::Value::Null);
    let nobody = keyward(&data, &["user-rate-limit", "nobody", "--none"]);
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no user named"));
}

/// `POST /api/login` as admin with `password`: the status.
fn admin_login(address: &str, password: &str) -> u16 {
    let body = format!(r#"{{"UserName":"admin","Password":"{password}"}}"#);
    let request = format!(
        "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http(address, &request).0
}

#[test]
fn a_lost_admin_password_is_reset_with_keyward_admin_and_a_stale_one_is_not_taken() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = "correct horse battery";
    terminate(serve(&data, &[("KEYWARD_ADMIN_PASSWORD", first)]));

    // Generated, printed once; the old password is refused, the new one logs in.
    let reset =
        json_output(&keyward(&data, &["user", "reset-password", "admin", "--generate", "--json"]));
    let generated = reset["password"].as_str().unwrap().to_owned();
    assert_eq!((generated.len(), &reset["username"]), (24, &serde_json::json!("admin")), "{reset}");
    // Started again with the first password in the environment: it is ignored, and said so.
    let served = serve(&data, &[("KEYWARD_ADMIN_PASSWORD", first)]);
    let warned =
        served.printed.iter().any(|line| line.contains("KEYWARD_ADMIN_PASSWORD is ignored"));
    assert!(warned, "{:?}", served.printed);
    let store = served.printed.iter().find(|line| line.contains("store: SQLite")).unwrap();
    assert!(store.contains(&format!("sqlite://{}", data.display())), "an absolute path: {store}");
    assert_eq!(admin_login(&served.address, first), 401);
    assert_eq!(admin_login(&served.address, &generated), 200);

    // From the environment (or standard input), with the server running; a weak one refused.
    let chosen = "a brand new admin password";
    let reset = |password: &str| {
        Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(["admin", "--data-dir"])
            .arg(&data)
            .args(["user", "reset-password", "admin"])
            .env("KEYWARD_NEW_PASSWORD", password)
            .env_remove("KEYWARD_MASTER_KEY")
            .env_remove("KEYWARD_DATABASE_URL")
            .output()
            .unwrap()
    };
    let weak = reset("short");
    assert!(String::from_utf8_lossy(&weak.stderr).contains("the new password"), "{weak:?}");
    let done = reset(chosen);
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success() && said.contains("password reset"), "{done:?}");
    assert!(!said.contains(chosen), "a chosen password is not printed: {said}");
    assert_eq!(admin_login(&served.address, &generated), 401);
    assert_eq!(admin_login(&served.address, chosen), 200);
    terminate(served);
    let nobody = keyward(&data, &["user", "reset-password", "nobody", "--generate"]);
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no user named"));
}

#[test]
fn the_cli_logs_in_signs_and_sends_in_every_scheme_and_explains_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let served =
        serve(&dir.path().join("data"), &[("KEYWARD_ADMIN_PASSWORD", "correct horse battery")]);
    let url = format!("http://{}", served.address);

    let login = client(
        &config,
        &["login", "--url", &url, "--user", "admin"],
        &[],
        Some("correct horse battery\n"),
    );
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config.join("credentials.toml")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let me = client(&config, &["request", "GET", "/api/me"], &[], None);
    assert!(me.status.success());
    assert!(me.stdout.ends_with(b"}\n"), "a piped answer ends with a newline");
    let me: serde_json::Value = serde_json::from_slice(&me.stdout).expect("raw JSON when piped");
    assert_eq!(me["data"]["principal"]["name"], "admin");
    let shown = client(&config, &["request", "-v", "GET", "/api/me"], &[], None);
    let said = String::from_utf8_lossy(&shown.stderr);
    assert!(said.contains(&format!("> GET {url}/api/me")), "{said}");
    assert!(said.contains("< HTTP 200 OK") && said.contains("< x-request-id: "), "{said}");

    let created = client(
        &config,
        &[
            "request",
            "POST",
            "/api/admin/keys",
            "name=CLI",
            "permissions:=[\"activities:read\",\"activities:write\"]",
        ],
        &[],
        None,
    );
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let token = created["data"]["token"].as_str().unwrap().to_owned();
    let secret = created["data"]["secret"].as_str().unwrap().to_owned();
    let with_secret = [("KEYWARD_SECRET", secret.as_str())];
    for scheme in ["query-hmac", "header-hmac", "http-signature"] {
        let post = client(
            &config,
            &[
                "request",
                "--key",
                &token,
                "--scheme",
                scheme,
                "POST",
                "/api/activities",
                &format!("name=made by {scheme}"),
            ],
            &with_secret,
            None,
        );
        assert!(post.status.success(), "{scheme}: {}", String::from_utf8_lossy(&post.stderr));
        let get = client(
            &config,
            &["request", "--key", &token, "--scheme", scheme, "GET", "/api/activities?pageSize=10"],
            &with_secret,
            None,
        );
        assert!(get.status.success(), "{scheme}: {}", String::from_utf8_lossy(&get.stderr));
    }

    // A wrong secret: a non-zero exit, and the server's string-to-sign on stderr.
    let wrong = client(
        &config,
        &["request", "--key", &token, "GET", "/api/activities"],
        &[("KEYWARD_SECRET", "kwsec_wrong")],
        None,
    );
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("error 12")
            && stderr.contains("the server signed exactly this")
            && stderr.contains(&token),
        "{stderr}"
    );

    // `keyward sign`: the signed URL, and a curl command line that works.
    let signed = client(
        &config,
        &[
            "sign",
            "--scheme",
            "query-hmac",
            "--key",
            &token,
            &format!("{url}/api/activities?page=1"),
        ],
        &with_secret,
        None,
    );
    let signed_url = String::from_utf8_lossy(&signed.stdout).trim().to_owned();
    assert!(signed_url.contains("&t=") && signed_url.contains("&s="), "{signed_url}");
    if have("curl") {
        let fetched = Command::new("curl").args(["-sf", &signed_url]).output().unwrap();
        assert!(fetched.status.success());
        let line = client(
            &config,
            &[
                "sign",
                "--curl",
                "--key",
                &token,
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                "{\"name\":\"by curl\"}",
                &format!("{url}/api/activities"),
            ],
            &with_secret,
            None,
        );
        let line = String::from_utf8_lossy(&line.stdout).into_owned();
        let ran =
            Command::new("bash").args(["-c", &format!("{} -sf", line.trim())]).output().unwrap();
        assert!(ran.status.success(), "{line}");
        assert!(String::from_utf8_lossy(&ran.stdout).contains("by curl"));
    } else {
        keyward_testkit::env::missing::<()>("curl", "not installed");
    }
    // Secrets are never taken on the command line.
    let refused = client(&config, &["sign", "--secret", &secret, "--key", &token, &url], &[], None);
    assert!(!refused.status.success());
    let no_secret = client(&config, &["sign", "--key", &token, &format!("{url}/x")], &[], None);
    assert!(String::from_utf8_lossy(&no_secret.stderr).contains("never the command line"));

    // The admin API as commands.
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let output = client(&config, &[args, &["--json"]].concat(), env, None);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let key = run(&["keys", "create", "Reporter", "--permission", "activities:read"], &[]);
    let id = key["data"]["id"].as_i64().unwrap().to_string();
    assert_eq!(run(&["keys", "rename", &id, "Reports"], &[])["data"]["name"], "Reports");
    let wider = ["keys", "update", &id, "--permission", "activities:read"];
    let updated = run(&[&wider[..], &["--permission", "activities:write"]].concat(), &[]);
    assert_eq!(
        updated["data"]["permissions"],
        serde_json::json!(["activities:read", "activities:write"])
    );
    let emptied = run(&["keys", "update", &id, "--no-permissions", "--name", "Nothing"], &[]);
    assert_eq!(
        (&emptied["data"]["permissions"], &emptied["data"]["name"]),
        (&serde_json::json!([]), &serde_json::json!("Nothing"))
    );
    let plain = run(&["keys", "create", "Plain", "--type", "api-key"], &[]);
    assert!(plain["data"]["key"].as_str().unwrap().starts_with("kwapi_"), "{plain}");
    assert_eq!(plain["data"]["type"], "api-key");
    let nothing = client(&config, &["keys", "update", &id], &[], None);
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("nothing to change"), "{nothing:?}");
    let regenerated = run(&["keys", "regenerate-token", &id], &[]);
    assert_ne!(regenerated["data"]["token"], key["data"]["token"]);
    let rotated = run(&["keys", "rotate-secret", &id, "--overlap-seconds", "60"], &[]);
    assert_eq!(run(&["keys", "reveal", &id], &[])["data"]["secret"], rotated["data"]["secret"]);
    assert_eq!(run(&["keys", "revoke", &id], &[])["data"]["state"], "revoked");
    assert!(run(&["keys", "list"], &[])["data"].as_array().unwrap().len() >= 2);
    // Without --json, text for people: a table for a list, a line per field for one key.
    let listed = client(&config, &["keys", "list"], &[], None);
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(table.starts_with("ID  NAME") && table.contains("  revoked  "), "{table}");
    let shown = client(&config, &["keys", "show", &id], &[], None);
    let fields = String::from_utf8_lossy(&shown.stdout);
    assert!(fields.lines().any(|line| line.starts_with("state") && line.ends_with("revoked")));
    let minutes = run(&["keys", "usage", &id, "--bucket", "minute", "--since", "2h"], &[]);
    let buckets = minutes["data"].as_array().unwrap().len();
    assert!((120..=121).contains(&buckets), "two hours of minutes: {buckets}");
    let domain = run(&["keys", "usage", "--route", "api"], &[]);
    assert_eq!(domain["data"]["series"].as_array().unwrap().len(), 24, "{domain}");
    let bad = client(&config, &["keys", "usage", &id, "--since", "yesterday"], &[], None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since takes a duration"), "{bad:?}");
    let user = run(
        &["users", "create", "ana", "--permission", "activities:read"],
        &[("KEYWARD_NEW_PASSWORD", "a long enough password")],
    );
    let user_id = user["data"]["id"].as_i64().unwrap().to_string();
    assert_eq!(
        run(&["users", "update", &user_id, "--state", "disabled"], &[])["data"]["state"],
        "disabled"
    );
    let denied = client(
        &config,
        &["users", "create", "bob", "--permission", "no:such"],
        &[("KEYWARD_NEW_PASSWORD", "a long enough password")],
        None,
    );
    assert!(
        !denied.status.success() && String::from_utf8_lossy(&denied.stderr).contains("error 31")
    );

    let logout = client(&config, &["logout"], &[], None);
    assert!(logout.status.success(), "{}", String::from_utf8_lossy(&logout.stderr));
    let after = client(&config, &["request", "GET", "/api/me"], &[], None);
    assert!(!after.status.success(), "logged out");
    terminate(served);
}

#[test]
fn every_refusal_is_logged_once_with_a_stable_reason_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let password = "logging-test-password";
    let served = serve(
        &dir.path().join("data"),
        &[("KEYWARD_ADMIN_PASSWORD", password), ("KEYWARD_LOG", "info")],
    );
    let address = served.address.clone();
    let post = |path: &str, auth: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let login = format!(r#"{{"UserName":"admin","Password":"{password}"}}"#);
    let (_, token) = http(&address, &post("/api/login", "", &login));
    let bearer = token["access_token"].as_str().unwrap().to_owned();
    let auth = format!("Authorization: Bearer {bearer}\r\n");
    let body = r#"{"data":{"name":"Logged","permissions":["activities:read","keys:manage"]}}"#;
    let (status, key) = http(&address, &post("/api/admin/keys", &auth, body));
    assert_eq!(status, 201, "{key}");
    let (id, key_token, secret) = (
        key["data"]["id"].as_i64().unwrap(),
        key["data"]["token"].as_str().unwrap().to_owned(),
        key["data"]["secret"].as_str().unwrap().to_owned(),
    );
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as i64;
    let wrong = keyward_sig::KeyMaterial::new(keyward_sig::KeyKind::Domain, b"kwsec_wrong_secret");
    let forged = keyward_sig::header_hmac::sign(&key_token, b"", now, &wrong).unwrap();
    let forged_headers: String =
        forged.pairs().iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    let right = keyward_sig::KeyMaterial::new(keyward_sig::KeyKind::Domain, secret.as_bytes());
    let url = keyward_sig::query_hmac::sign(
        "/api/admin/keys",
        &key_token,
        now,
        &right,
        keyward_sig::query_hmac::ParameterOrder::Bytewise,
    )
    .unwrap();
    let get = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n")
    };
    let refused = [
        (get("/api/activities", ""), 401, "no-credentials"),
        (get("/api/activities", &forged_headers), 401, "signature-mismatch"),
        (get(&url, ""), 403, "scheme-not-allowed"),
    ];
    for (request, status, _) in &refused {
        assert_eq!(http(&address, request).0, *status, "{request}");
    }
    let printed = terminate(served);
    let auth_lines: Vec<&String> =
        printed.iter().filter(|line| line.contains("keyward::auth")).collect();
    assert_eq!(auth_lines.len(), refused.len(), "one line per refusal: {auth_lines:#?}");
    for (line, (_, _, reason)) in auth_lines.iter().zip(&refused) {
        assert!(
            line.contains("granted=false") && line.contains(&format!("reason=\"{reason}\"")),
            "{line}"
        );
        assert!(
            !line.contains('\u{1b}'),
            "no colour codes when stderr is not a terminal: {line:?}"
        );
    }
    assert!(
        auth_lines[1].contains("scheme=\"header-hmac\"")
            && auth_lines[1].contains(&format!("key_id={id}")),
        "{}",
        auth_lines[1]
    );
    for secret_text in
        [password, bearer.as_str(), secret.as_str(), forged.sign.as_str(), "kwsec_wrong_secret"]
    {
        assert!(!printed.iter().any(|line| line.contains(secret_text)), "{secret_text} in the log");
    }
}

#[test]
fn public_key_and_certificate_credentials_are_made_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let served =
        serve(&dir.path().join("data"), &[("KEYWARD_ADMIN_PASSWORD", "correct horse battery")]);
    let url = format!("http://{}", served.address);
    let login = client(
        &config,
        &["login", "--url", &url, "--user", "admin"],
        &[],
        Some("correct horse battery\n"),
    );
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));

    for alg in ["ed25519", "ecdsa-p384-sha384", "rsa-pss-sha512"] {
        // keygen: the private key in a 0600 file, the public key on stdout.
        let private = dir.path().join(format!("{alg}.pem"));
        let public = dir.path().join(format!("{alg}.pub"));
        let private_arg = private.to_str().unwrap();
        let made = client(&config, &["keygen", "--alg", alg, "--out", private_arg], &[], None);
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let public_pem = String::from_utf8(made.stdout).unwrap();
        assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{public_pem}");
        std::fs::write(&public, &public_pem).unwrap();
        let written = std::fs::read_to_string(&private).unwrap();
        assert!(written.starts_with("-----BEGIN PRIVATE KEY-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&private).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{alg}");
        }
        // An existing key file is never overwritten by accident.
        let again = client(&config, &["keygen", "--alg", alg, "--out", private_arg], &[], None);
        assert!(!again.status.success());
        assert_eq!(std::fs::read_to_string(&private).unwrap(), written);

        // The same public key as a JWK (the server takes either form).
        let jwk_out = dir.path().join(format!("{alg}-jwk.pem"));
        let jwk = client(
            &config,
            &["keygen", "--alg", alg, "--jwk", "--out", jwk_out.to_str().unwrap()],
            &[],
            None,
        );
        let jwk: serde_json::Value = serde_json::from_slice(&jwk.stdout).unwrap();
        assert!(jwk["kty"].is_string() && jwk["alg"].is_string(), "{jwk}");

        // keys create --public-key-file: a token, and no secret.
        let rsa_alg: &[&str] = if alg.starts_with("rsa") { &["--algorithm", alg] } else { &[] };
        let mut create = vec![
            "keys",
            "--json",
            "create",
            "Signer",
            "--permission",
            "activities:read",
            "--permission",
            "activities:write",
            "--public-key-file",
            public.to_str().unwrap(),
        ];
        create.extend_from_slice(rsa_alg);
        let created = client(&config, &create, &[], None);
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
        assert_eq!(created["data"]["algorithm"], alg);
        assert!(created["data"].get("secret").is_none(), "{created}");
        let token = created["data"]["token"].as_str().unwrap().to_owned();

        // request --private-key: signed with http-signature, without any secret around.
        let mut post = vec!["request", "--key", &token, "--private-key", private_arg];
        post.extend_from_slice(rsa_alg);
        post.extend_from_slice(&["POST", "/api/activities", "name=signed by a private key"]);
        let posted = client(&config, &post, &[], None);
        assert!(posted.status.success(), "{alg}: {}", String::from_utf8_lossy(&posted.stderr));

        // sign --private-key --curl: a command line that works with curl.
        let mut sign = vec!["sign", "--key", &token, "--private-key", private_arg, "--curl"];
        sign.extend_from_slice(rsa_alg);
        let target = format!("{url}/api/activities?page=1");
        sign.push(&target);
        let line = client(&config, &sign, &[], None);
        assert!(line.status.success(), "{}", String::from_utf8_lossy(&line.stderr));
        let line = String::from_utf8(line.stdout).unwrap();
        assert!(
            line.contains(&format!("alg=\\\"{alg}\\\""))
                || line.contains(&format!("alg=\"{alg}\"")),
            "{line}"
        );
        if have("curl") {
            let output = Command::new("sh").arg("-c").arg(line.trim()).output().unwrap();
            let body = String::from_utf8_lossy(&output.stdout);
            assert!(body.contains("signed by a private key"), "{alg}: {body}");
        }

        // A private key never signs an HMAC scheme.
        let mut wrong = vec!["request", "--key", &token, "--private-key", private_arg];
        wrong.extend_from_slice(rsa_alg);
        wrong.extend_from_slice(&["--scheme", "query-hmac", "GET", "/api/activities"]);
        let refused = client(&config, &wrong, &[], None);
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("http-signature only"), "{stderr}");
    }

    // keys create --certificate-file / --certificate-subject: a key that is its client
    // certificate (the mtls scheme), with no secret.
    let ca = keyward_testkit::certs::TestCa::new("clients CA");
    let leaf = ca.leaf(&["app.test"], &keyward_testkit::certs::PKCS_ECDSA_P256_SHA256);
    let (chain, _) = leaf.write(dir.path(), "app");
    let create = |flag: &str, value: &str| {
        let created = client(&config, &["keys", "create", "App", flag, value, "--json"], &[], None);
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        serde_json::from_slice::<serde_json::Value>(&created.stdout).unwrap()["data"].clone()
    };
    let pinned = create("--certificate-file", chain.to_str().unwrap());
    assert_eq!(pinned["algorithm"], "mtls");
    assert_eq!(pinned["certificate_sha256"].as_str().map(str::len), Some(64), "{pinned}");
    assert!(pinned.get("secret").is_none(), "{pinned}");
    let by_subject = create("--certificate-subject", "spiffe://example.org/app");
    assert_eq!(by_subject["certificate_subject"], "spiffe://example.org/app");
    terminate(served);
}

#[test]
fn the_cli_verifies_signed_answers_with_the_published_or_a_pinned_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let data = dir.path().join("data");
    let served = serve(&data, &[("KEYWARD_ADMIN_PASSWORD", "correct horse battery")]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("response-key.pem")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the response key is private");
    }
    let url = format!("http://{}", served.address);
    let login = client(
        &config,
        &["login", "--url", &url, "--user", "admin"],
        &[],
        Some("correct horse battery\n"),
    );
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));

    // The published key: the answer verifies, and says what it covers.
    let verified = client(&config, &["request", "--verify-response", "GET", "/api/me"], &[], None);
    let stderr = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "{stderr}");
    assert!(
        stderr.contains("answer signed by keyward-") && stderr.contains("\"@request-target\";req"),
        "{stderr}"
    );

    // With a key signing RFC 9421 requests, the answer is bound to the request's signature.
    let created = client(
        &config,
        &[
            "request",
            "POST",
            "/api/admin/keys",
            "name=Signed",
            "permissions:=[\"activities:read\"]",
        ],
        &[],
        None,
    );
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let token = created["data"]["token"].as_str().unwrap();
    let secret = created["data"]["secret"].as_str().unwrap();
    let signed = client(
        &config,
        &[
            "request",
            "--verify-response",
            "--key",
            token,
            "--scheme",
            "http-signature",
            "GET",
            "/api/activities",
        ],
        &[("KEYWARD_SECRET", secret)],
        None,
    );
    let stderr = String::from_utf8_lossy(&signed.stderr);
    assert!(
        signed.status.success() && stderr.contains("\"signature\";req;key=\"sig1\""),
        "{stderr}"
    );

    // A pinned key that is not the server's: the answer is refused, and the exit says so.
    let other = dir.path().join("other.pub");
    let made = client(
        &config,
        &["keygen", "--out", dir.path().join("other.pem").to_str().unwrap()],
        &[],
        None,
    );
    std::fs::write(&other, &made.stdout).unwrap();
    let pinned = client(
        &config,
        &[
            "request",
            "--verify-response",
            "--response-key",
            other.to_str().unwrap(),
            "--response-keyid",
            "pinned",
            "GET",
            "/api/me",
        ],
        &[],
        None,
    );
    let stderr = String::from_utf8_lossy(&pinned.stderr);
    assert!(!pinned.status.success(), "{stderr}");
    assert!(stderr.contains("response signature"), "{stderr}");
    terminate(served);
}

#[test]
fn an_operator_sets_a_reseller_keys_policy_with_keyward_admin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config");
    let created = json_output(&keyward(&data, &["reseller", "create", "scoped", "--json"]));
    let (token, secret) = (
        created["token"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    );
    let policy = |args: &[&str]| {
        let mut all = vec!["key-policy", token.as_str(), "--json"];
        all.extend_from_slice(args);
        keyward(&data, &all)
    };
    let set = json_output(&policy(&[
        "--expires-in",
        "30d",
        "--allow-network",
        "127.0.0.1",
        "--allow-route",
        "provisioning GET",
    ]));
    assert_eq!(set["allowed_networks"], serde_json::json!(["127.0.0.1/32"]));
    assert_eq!(
        set["allowed_routes"],
        serde_json::json!([{"route": "provisioning", "methods": ["GET"]}])
    );
    assert!(set["expires_at_ms"].as_i64().unwrap() > 0);
    for (args, message) in [
        (&["--allow-network", "10.0.0.0/33"][..], "is not an address range"),
        (&["--allow-route", "nowhere"][..], "unknown route"),
        (&["--allow-route", "api FETCH"][..], "unknown method"),
        (&["--expires-in", "soon"][..], "--expires-in takes a duration"),
        (&[][..], "nothing to change"),
    ] {
        let output = policy(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(message), "{args:?}: {stderr}");
    }

    // The reseller's key, signing as a reseller: reads its domains, and may not create one.
    let served = serve(&data, &[("KEYWARD_ADMIN_PASSWORD", "correct horse battery")]);
    let url = format!("http://{}", served.address);
    let call = |method: &str, items: &[&str]| {
        let path = format!("{url}/probio/domains");
        let mut args =
            vec!["request", "--key", token.as_str(), "--reseller", method, path.as_str()];
        args.extend_from_slice(items);
        client(&config, &args, &[("KEYWARD_SECRET", secret.as_str())], None)
    };
    let read = call("GET", &[]);
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    let create = call("POST", &["name=scoped-one"]);
    let stderr = String::from_utf8_lossy(&create.stderr);
    assert!(!create.status.success() && stderr.contains("error 45"), "{stderr}");
    terminate(served);
    // Lifted (audited; on SQLite a running server sees the operator's change when its cache
    // entry expires, so it is restarted here): the same request passes.
    json_output(&policy(&["--any-route", "--no-expiry"]));
    let served = serve(&data, &[]);
    let url = format!("http://{}", served.address);
    let path = format!("{url}/probio/domains");
    let args = [
        "request",
        "--key",
        token.as_str(),
        "--reseller",
        "POST",
        path.as_str(),
        "name=scoped-one",
    ];
    let create = client(&config, &args, &[("KEYWARD_SECRET", secret.as_str())], None);
    assert!(create.status.success(), "{}", String::from_utf8_lossy(&create.stderr));
    terminate(served);
}
