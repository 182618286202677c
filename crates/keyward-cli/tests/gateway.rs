//! `keyward serve` as a gateway, as an operator runs it: routes from flags, the environment and
//! the configuration file; mistakes refused at start-up with their reason; `SIGHUP` reloading
//! the routes while serving, and keeping them when the new file is wrong.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{get, serve, terminate, wait_for_line};
use keyward_testkit::upstream::EchoUpstream;

/// An echo upstream on its own runtime, for the test's lifetime.
fn upstream() -> (tokio::runtime::Runtime, EchoUpstream) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = runtime.block_on(EchoUpstream::start()).unwrap();
    (runtime, upstream)
}

#[test]
fn route_mistakes_stop_the_server_with_the_route_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |args: &[&str], file: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(args);
        command.env_remove("KEYWARD_ROUTES");
        if let Some(text) = file {
            let path = dir.path().join("keyward.toml");
            std::fs::write(&path, text).unwrap();
            command.arg("--config").arg(path);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success(), "{args:?} {file:?} started");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let cases: [(&[&str], Option<&str>, &str); 9] = [
        (&["--route", "/orders/"], None, "expected PREFIX=URL"),
        (&["--route", "/api/x=http://127.0.0.1:9"], None, "keyward serves /api itself"),
        (&["--route", "/o/=ftp://127.0.0.1:9"], None, "must be http:// or https://"),
        (&["--route", "/o/=not a url"], None, "is not a URL"),
        (
            &["--route", "/o/=http://127.0.0.1:9", "--route", "/o/p/=http://127.0.0.1:9"],
            None,
            "overlaps route",
        ),
        (
            &[],
            Some(
                "[[route]]\nprefix = \"/o/\"\nupstream = \"http://127.0.0.1:9\"\nschemes = [\"smoke\"]\n",
            ),
            "unknown scheme \"smoke\"",
        ),
        (
            &[],
            Some(
                "[[route]]\nprefix = \"/o/\"\nupstream = \"http://127.0.0.1:9\"\npermissions = [\"Orders\"]\n",
            ),
            "area:action",
        ),
        (
            &[],
            Some(
                "[[route]]\nprefix = \"/o/\"\nupstream = \"http://127.0.0.1:9\"\nresponse_timeout_seconds = 120\n",
            ),
            "longer than the request timeout",
        ),
        (
            &[],
            Some(
                "[[route]]\nprefix = \"/o/\"\nupstream = \"http://127.0.0.1:9\"\ncolour = \"blue\"\n",
            ),
            "unknown field `colour`",
        ),
    ];
    for (args, file, expected) in cases {
        let stderr = refused(args, file);
        assert!(stderr.contains(expected), "{args:?} {file:?}: {stderr}");
    }
}

#[test]
fn routes_come_from_flags_and_environment_and_sighup_reloads_the_file() {
    let (_runtime, upstream) = upstream();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keyward.toml");
    let route = |prefix: &str| {
        format!(
            "[[route]]\nprefix = \"{prefix}\"\nupstream = \"{}\"\npublic = true\n",
            upstream.url()
        )
    };
    std::fs::write(&config, route("/first/")).unwrap();
    let routes = format!("/a/={url},/b/={url}", url = upstream.url());
    let config_path = config.display().to_string();
    let mut served = serve(
        &dir.path().join("data"),
        &[("KEYWARD_ROUTES", &routes), ("KEYWARD_CONFIG", &config_path)],
    );
    assert!(
        served.printed.iter().any(|l| l.contains("gateway: 3 route(s)")),
        "{:?}",
        served.printed
    );
    let address = served.address.clone();
    // Flag routes need a credential; the file's public route does not.
    assert_eq!(get(&address, "/a/x").0, 401);
    assert_eq!(get(&address, "/b/x").0, 401);
    let (status, echoed) = get(&address, "/first/x?y=1");
    assert_eq!((status, echoed["target"].as_str()), (200, Some("/first/x?y=1")));

    // A new file, then SIGHUP: /first/ goes, /second/ comes; the flags' routes stay.
    std::fs::write(&config, route("/second/")).unwrap();
    hang_up(&served);
    wait_for_line(&mut served, "gateway: reloaded, 3 route(s)");
    assert_eq!(get(&address, "/first/x").0, 404);
    assert_eq!(get(&address, "/second/x").0, 200);
    assert_eq!(get(&address, "/a/x").0, 401);

    // A file with a mistake is refused with the reason; the routes being served stay.
    std::fs::write(&config, route("/api/")).unwrap();
    hang_up(&served);
    let line = wait_for_line(&mut served, "routes not reloaded");
    assert!(line.contains("keyward serves /api itself"), "{line}");
    assert_eq!(get(&address, "/second/x").0, 200);
    terminate(served);
}

fn hang_up(served: &common::Served) {
    let pid = served.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
}
