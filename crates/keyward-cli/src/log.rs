//! `keyward serve`'s log on stderr: text for people (colour only on a terminal), or JSON for
//! log shippers (`--log-format json`): one object per line, each with the node's name
//! (`--node-name`), and, for what happens while a request is served, the request's span with
//! its `request_id`. The operator's messages (where keyward listens, routes reloaded) are
//! events too, so in JSON every line is an object.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// How the log is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `keyward: ...` lines and tracing's text format.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `text` or `json`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// The log's settings.
#[derive(Clone, Debug, Default)]
pub struct LogSettings {
    /// Text or JSON.
    pub format: LogFormat,
    /// This node's name, in every JSON line.
    pub node: String,
}

static JSON: AtomicBool = AtomicBool::new(false);

/// Starts the log: `KEYWARD_LOG` filters it (`info` by default).
pub fn init(settings: &LogSettings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.format {
        LogFormat::Text => {
            builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
        }
        LogFormat::Json => {
            JSON.store(true, Ordering::Relaxed);
            let node = serde_json::to_string(&settings.node).expect("a string serializes");
            let json =
                format::Format::default().json().with_current_span(true).with_span_list(false);
            builder
                .with_ansi(false)
                .fmt_fields(JsonFields::new())
                .event_format(WithNode { inner: json, node })
                .init();
        }
    }
}

/// Tells the operator `message`: a `keyward: message` line in text, an event in JSON.
pub fn tell(message: fmt::Arguments<'_>) {
    if JSON.load(Ordering::Relaxed) {
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

/// tracing's JSON lines with `"node"` first.
struct WithNode {
    inner: format::Format<format::Json>,
    /// The node's name, as a JSON string.
    node: String,
}

impl<S, N> FormatEvent<S, N> for WithNode
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    FormattedFields<N>: Send + Sync,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::with_capacity(256);
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"node\":{},{rest}", self.node),
            None => writer.write_str(&line),
        }
    }
}

/// This machine's name, for `--node-name`'s default.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "keyward".to_owned())
}
