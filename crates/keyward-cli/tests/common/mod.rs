//! Helpers for tests that run the real `keyward` binary.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `keyward serve` process and what it printed on stderr; killed if a test ends without
/// [`terminate`] (a failed assertion), so no server outlives its test.
pub struct Served {
    pub child: Child,
    pub address: String,
    pub lines: mpsc::Receiver<String>,
    pub printed: Vec<String>,
}

pub fn serve(data_dir: &Path, env: &[(&str, &str)]) -> Served {
    start(Command::new(env!("CARGO_BIN_EXE_keyward")), data_dir, env)
}

/// [`serve`] with the open-files limit (soft and hard) set to `limit` first, by the shell's
/// `ulimit -n`, as a service manager would.
pub fn serve_with_open_files(data_dir: &Path, env: &[(&str, &str)], limit: u32) -> Served {
    let mut command = Command::new("bash");
    let script = format!("ulimit -n {limit} && exec \"$0\" \"$@\"");
    command.args(["-c", &script, env!("CARGO_BIN_EXE_keyward")]);
    start(command, data_dir, env)
}

/// `command serve ...` (the binary, or a shell that runs it) started on `data_dir`.
fn start(mut command: Command, data_dir: &Path, env: &[(&str, &str)]) -> Served {
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("KEYWARD_ADMIN_PASSWORD")
        .env_remove("KEYWARD_MASTER_KEY")
        .env_remove("KEYWARD_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut printed = Vec::new();
    let address = loop {
        let line =
            lines.recv_timeout(Duration::from_secs(30)).expect("keyward prints where it listens");
        printed.push(line.clone());
        // A text line, or the message of a JSON one.
        if let Some((_, rest)) = line.split_once("keyward: listening on ") {
            let rest = rest.trim_start_matches("https://").trim_start_matches("http://");
            break rest.split(',').next().unwrap().to_owned();
        }
    };
    Served { child, address, lines, printed }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn terminate(mut served: Served) -> Vec<String> {
    #[cfg(unix)]
    {
        let pid = served.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    }
    let status = served.child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    let rest: Vec<String> = served.lines.try_iter().collect();
    served.printed.extend(rest);
    std::mem::take(&mut served.printed)
}

pub fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
        || Command::new(tool)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
}

/// Runs the `keyward` client commands with a private profiles directory.
pub fn client(
    config: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
    command
        .args(args)
        .env("KEYWARD_CONFIG_DIR", config)
        .env_remove("KEYWARD_SECRET")
        .env_remove("KEYWARD_PASSWORD")
        .env_remove("KEYWARD_PROFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub fn keyward(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("admin")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("KEYWARD_MASTER_KEY")
        .env_remove("KEYWARD_DATABASE_URL")
        .output()
        .unwrap()
}

pub fn json_output(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// One HTTP/1.1 exchange on a fresh connection (the request should say `Connection: close`):
/// `(status, body)`.
pub fn http(address: &str, request: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// A GET on a fresh connection, closed after: `(status, body)`.
pub fn get(address: &str, target: &str) -> (u16, serde_json::Value) {
    http(address, &format!("GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"))
}

/// Waits for a line containing `text` on the server's stderr (10 s at most).
pub fn wait_for_line(served: &mut Served, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = served
            .lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no line with {text:?}: {:?}", served.printed));
        served.printed.push(line.clone());
        if line.contains(text) {
            return line;
        }
    }
}
