//! The admin console in a real headless Chromium: `tests/browser/console.test.mjs` (Node with
//! playwright-core, driving Debian's chromium) walks sign-in, key creation, a signed request with
//! the key read from the page, token regeneration, revocation, a user without `keys:reveal`, and
//! a forged change without the CSRF token; it saves a screenshot of each page.
//!
//! Skipped with a printed reason when Chromium, Node or playwright-core is missing; failed
//! instead under `KEYWARD_TEST_REQUIRE_ALL=1`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{have, serve, terminate};
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
    let output = Command::new("node")
        .arg(browser.join("console.test.mjs"))
        .current_dir(&root)
        .env("KEYWARD_URL", format!("http://{}", served.address))
        .env("ADMIN_PASSWORD", "correct horse battery")
        .env("SCREENSHOT_DIR", &screenshots)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.lines().last().is_some_and(|l| l.ends_with(" 0 failed")), "{stdout}");
    println!("screenshots: {}", screenshots.display());
    terminate(served);
}
