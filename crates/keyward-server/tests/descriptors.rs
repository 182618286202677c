//! Out of file descriptors, a connection is answered, not dropped: the server keeps one in
//! reserve, which takes the waiting connection to answer it 503 (code 52) with Retry-After.
//! The limit is this test process's own (lowered once the server runs), so this file holds one
//! test; the clients are another process (Python), whose descriptors do not count.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::TestServer;
use rlimit::Resource;

/// Once told to on stdin, connects `count` sockets to `address` at once (from Python), sends
/// a GET of /healthz on each, and prints each answer's status line and body (or `closed` for a
/// connection closed without one).
const CLIENTS: &str = r#"
import socket, sys
address, count = sys.argv[1].rsplit(":", 1), int(sys.argv[2])
sys.stdin.readline()
sockets = [socket.create_connection((address[0], int(address[1])), timeout=10) for _ in range(count)]
for s in sockets:
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
for s in sockets:
    answer = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass
    text = answer.decode("latin-1")
    print(text.split("\r\n", 1)[0] if text else "closed", "|", text.rsplit("\r\n\r\n", 1)[-1] if text else "")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_a_connection_is_answered_503_not_dropped() {
    let server = TestServer::builder("descriptors").start().await.unwrap();
    // The clients start first, with this process's limit as it is: theirs stays.
    let mut clients = Command::new("python3")
        .args(["-c", CLIENTS, server.address(), "30"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (soft, hard) = rlimit::getrlimit(Resource::NOFILE).unwrap();
    // Room for a few more descriptors than are open now, and no more.
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    rlimit::setrlimit(Resource::NOFILE, open + 4, hard).unwrap();
    clients.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let clients =
        tokio::task::spawn_blocking(move || clients.wait_with_output().unwrap()).await.unwrap();
    rlimit::setrlimit(Resource::NOFILE, soft, hard).unwrap();
    let printed = String::from_utf8_lossy(&clients.stdout).into_owned();
    assert!(clients.status.success(), "{printed}\n{}", String::from_utf8_lossy(&clients.stderr));
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 30, "{printed}");
    assert!(!lines.iter().any(|line| line.starts_with("closed")), "a silent close: {printed}");
    let refused = lines.iter().filter(|line| line.starts_with("HTTP/1.1 503")).count();
    assert!(refused > 0, "the limit was never reached: {printed}");
    assert!(
        lines
            .iter()
            .filter(|line| line.starts_with("HTTP/1.1 503"))
            .all(|line| line.contains("\"code\":52")),
        "{printed}"
    );
    server.stop().await;
}
