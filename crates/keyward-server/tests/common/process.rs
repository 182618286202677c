//! Other programs the tests run beside keyward (proxies, upstreams in other languages): a
//! process stopped when dropped, free ports, and waiting until one listens.

use std::process::Child;
use std::time::Duration;

/// A program the test started, stopped when dropped.
pub struct Process {
    pub child: Child,
    pub port: u16,
    /// Its working files (configuration, logs), removed with it.
    pub dir: tempfile::TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// `http://127.0.0.1:<port><target>`.
    pub fn url(&self, target: &str) -> String {
        format!("http://127.0.0.1:{}{target}", self.port)
    }

    /// A file of its directory (a log), empty when absent.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

/// A free port, from the ephemeral range.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something listens on `port`, `seconds` at most.
pub async fn listening(port: u16, seconds: u64) -> bool {
    for _ in 0..seconds * 20 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The program's path, on `PATH` or in `/usr/sbin`.
pub fn installed(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
