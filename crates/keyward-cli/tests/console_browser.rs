//! The admin console in a real headless Chromium: `tests/browser/console.test.mjs` (Node with
//! playwright-core, driving Debian's chromium) walks sign-in, key creation, a signed request with
//! the key read from the page, token regeneration, revocation, a user without `keys:reveal`, and
//! a forged change without the CSRF token, and public-key credentials (one pasted, one uploaded
//! from `keyward keygen`'s output); it saves a screenshot of each page. The uploaded one is
//! then used from the CLI, signing with the private key `keyward keygen` wrote.
//!
//! Skipped with a printed reason when Chromium, Node or playwright-core is missing; failed
//! instead under `KEYWARD_TEST_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{client, have, serve, terminate};
use keyward_testkit::env::missing;

#[test]
fn the_console_works_end_to_end_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let browser = root.join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !Path::new(&chromium).exists() {
        missing::<()>("Chromium", format!("{chromium} does not exist (apt-get install chromium)"));
        return;
    }
    if !have("node") {
        missing::<()>("Node.js", "node is not installed");
        return;
    }
    if !browser.join("node_modules/playwright-core").exists() {
        missing::<()>("playwright-core", "run npm install --prefix tests/browser");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let served =
        serve(&dir.path().join("data"), &[("KEYWARD_ADMIN_PASSWORD", "correct horse battery")]);
    let screenshots = root.join("target/console-screenshots");
    let config = dir.path().join("config");
    let private_key = dir.path().join("console.pem");
    let public_key = dir.path().join("console.pub");
    let made = client(
        &config,
        &["keygen", "--alg", "ed25519", "--out", private_key.to_str().unwrap()],
        &[],
        None,
    );
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    std::fs::write(&public_key, &made.stdout).unwrap();
    let output = Command::new("node")
        .arg(browser.join("console.test.mjs"))
        .current_dir(&root)
        .env("KEYWARD_URL", format!("http://{}", served.address))
        .env("ADMIN_PASSWORD", "correct horse battery")
        .env("SCREENSHOT_DIR", &screenshots)
        .env("CHROMIUM", &chromium)
        .env("PUBLIC_KEY_FILE", &public_key)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.lines().last().is_some_and(|l| l.ends_with(" 0 failed")), "{stdout}");

    // The key made in the console, used from the CLI with the private key keygen wrote.
    let token = stdout
        .split("public-key token: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("the console test prints the uploaded key's token");
    let url = format!("http://{}/api/activities", served.address);
    let private_key = private_key.to_str().unwrap();
    let args = ["request", "--key", token, "--private-key", private_key, "GET", &url];
    let request = client(&config, &args, &[], None);
    let answer = String::from_utf8_lossy(&request.stdout);
    assert!(request.status.success(), "{answer}\n{}", String::from_utf8_lossy(&request.stderr));
    assert!(answer.contains("\"data\""), "{answer}");
    println!("screenshots: {}", screenshots.display());
    terminate(served);
}
