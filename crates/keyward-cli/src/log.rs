//! `keyward serve`'s messages to its operator, in the log's format (see
//! [`keyward_server::log`], which writes the log): a `keyward: ...` line in text, an event in
//! JSON, so that in JSON every line is an object.

use std::fmt;

pub use keyward_server::log::{LogFormat, LogSettings, init};

/// Tells the operator `message`: a `keyward: message` line in text, an event in JSON.
pub fn tell(message: fmt::Arguments<'_>) {
    if keyward_server::log::is_json() {
        tracing::info!(target: "keyward", "keyward: {message}");
    } else {
        eprintln!("keyward: {message}");
    }
}

/// `say!("listening on {address}")`.
macro_rules! say {
    ($($arg:tt)*) => { $crate::log::tell(format_args!($($arg)*)) };
}
pub(crate) use say;

/// This machine's name, for `--node-name`'s default.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "keyward".to_owned())
}
