//! Open files: one descriptor per connection, so that 600 idle connections fit under the
//! common limit of 1024 and keyward still answers; under a low limit it lowers
//! --max-connections to what the limit allows, says so, and answers the connections past it
//! 503 with Retry-After, never a silent close.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{serve_with_open_files, terminate};

/// A GET on a fresh connection: the answer's head and body.
fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn six_hundred_idle_connections_fit_under_1024_open_files_and_keyward_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with_open_files(&dir.path().join("data"), &[], 1024);
    let idle: Vec<TcpStream> =
        (0..600).map(|_| TcpStream::connect(&served.address).unwrap()).collect();
    // Each idle connection has been accepted (and holds its descriptor) by now.
    std::thread::sleep(Duration::from_millis(500));
    let answer = get(&served.address, "/healthz");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(idle);
    let lines = terminate(served);
    assert!(!lines.iter().any(|line| line.contains("Too many open files")), "{lines:?}");
}

#[test]
fn under_a_low_limit_max_connections_is_lowered_and_the_rest_get_503() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_with_open_files(&dir.path().join("data"), &[], 228);
    let warned = served
        .printed
        .iter()
        .find(|line| line.contains("--max-connections lowered"))
        .unwrap_or_else(|| panic!("{:?}", served.printed));
    assert!(warned.contains("open-files limit is 228") && warned.contains("to 100"), "{warned}");
    let idle: Vec<TcpStream> =
        (0..100).map(|_| TcpStream::connect(&served.address).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        let answer = get(&served.address, "/healthz");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("retry-after: "), "{answer}");
        assert!(answer.contains("\"code\":52"), "{answer}");
    }
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    let answer = get(&served.address, "/healthz");
    assert!(answer.starts_with("HTTP/1.1 200"), "served again once they close: {answer}");
    terminate(served);
}
