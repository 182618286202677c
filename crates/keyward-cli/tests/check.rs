//! `keyward check`: the configuration read as `keyward serve` reads it, what it would serve
//! printed, the first mistake named with a non-zero exit; and `keyward serve` listing its
//! routes at start and on a reload, saying which changed settings wait for a restart.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{serve, terminate};

fn check(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("check")
        .args(args)
        .env_remove("KEYWARD_DATABASE_URL")
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

#[test]
fn the_example_configuration_passes_and_says_what_it_serves() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keyward.example.toml");
    let (ok, printed, errors) = check(&["--config", example.to_str().unwrap()]);
    assert!(ok, "{errors}");
    assert!(printed.contains("listen: http://127.0.0.1:8080"), "{printed}");
    assert!(printed.contains("store: SQLite (sqlite:///"), "an absolute path: {printed}");
    assert!(printed.contains("gateway: 2 route(s)"), "{printed}");
    let orders = "  /orders/ -> http://127.0.0.1:9000 · schemes bearer, header-hmac, \
                  http-signature, api-key · methods GET, POST · GET needs orders:read · \
                  POST needs orders:write · 100 requests per 60 s per caller";
    assert!(printed.contains(orders), "{printed}");
    let status = "  /status/ -> http://127.0.0.1:9000 · public: no credentials · methods GET";
    assert!(printed.contains(status), "{printed}");
    assert!(printed.trim_end().ends_with("configuration OK"), "{printed}");
}

#[test]
fn the_first_mistake_is_named_and_the_exit_is_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keyward.toml");
    let missing = dir.path().join("missing.pem");
    let cases: [(&str, Vec<String>, &str); 4] = [
        ("[route]\nprefix = \"/a/\"\nupstream = \"http://127.0.0.1:1\"\n", vec![], "`[[route]]`"),
        ("[[route]]\nprefix = \"/api/x\"\nupstream = \"http://127.0.0.1:1\"\n", vec![], "/api"),
        ("clock_skew_seconds = 0\n", vec![], "clock skew must be 1 to 3600"),
        (
            "",
            vec![
                "--tls-cert".into(),
                missing.display().to_string(),
                "--tls-key".into(),
                missing.display().to_string(),
            ],
            "missing.pem",
        ),
    ];
    for (text, flags, named) in cases {
        std::fs::write(&file, text).unwrap();
        let mut args = vec!["--config", file.to_str().unwrap()];
        args.extend(flags.iter().map(String::as_str));
        let (ok, printed, errors) = check(&args);
        assert!(!ok, "{text:?} passed: {printed}");
        assert!(errors.contains(named), "{text:?}: {errors}");
        assert!(!printed.contains("configuration OK"), "{printed}");
    }
}

#[cfg(unix)]
#[test]
fn serve_lists_its_routes_and_a_reload_says_which_settings_wait_for_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keyward.toml");
    let route = "[[route]]\nprefix = \"/orders/\"\nupstream = \"http://127.0.0.1:9000\"\n";
    std::fs::write(&file, format!("body_limit = 4096\n{route}")).unwrap();
    let served = serve(&dir.path().join("data"), &[("KEYWARD_CONFIG", file.to_str().unwrap())]);
    let listed = "  /orders/ -> http://127.0.0.1:9000 · schemes bearer";
    assert!(served.printed.iter().any(|line| line.contains(listed)), "{:?}", served.printed);

    let more =
        "[[route]]\nprefix = \"/items/\"\nupstream = \"http://127.0.0.1:9001\"\npublic = true\n";
    std::fs::write(&file, format!("body_limit = 8192\nlisten = \"127.0.0.1:1\"\n{route}{more}"))
        .unwrap();
    let pid = served.child.id().to_string();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    let started = Instant::now();
    let mut said = Vec::new();
    while !said.iter().any(|line: &String| line.contains("take effect on a restart")) {
        assert!(started.elapsed() < Duration::from_secs(10), "{said:?}");
        if let Ok(line) = served.lines.recv_timeout(Duration::from_millis(200)) {
            said.push(line);
        }
    }
    assert!(said.iter().any(|line| line.contains("gateway: reloaded, 2 route(s)")), "{said:?}");
    assert!(said.iter().any(|line| line.contains("/items/ -> http://127.0.0.1:9001 · public")));
    let restart = said.iter().find(|line| line.contains("take effect on a restart")).unwrap();
    assert!(restart.contains("body_limit, listen changed"), "{restart}");
    terminate(served);
}

#[test]
fn completions_and_the_manual_page_are_printed() {
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_keyward")).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(run(&["completions", "bash"]).contains("_keyward()"));
    assert!(run(&["completions", "zsh"]).starts_with("#compdef keyward"));
    assert!(run(&["completions", "fish"]).contains("complete -c keyward"));
    let manual = run(&["man"]);
    assert!(manual.contains(".TH keyward 1") && manual.contains("check"), "{manual}");
    let refused =
        Command::new(env!("CARGO_BIN_EXE_keyward")).args(["completions", "tcsh"]).output();
    assert!(!refused.unwrap().status.success(), "an unknown shell is refused");
}
