//! keyward's log: which request each line belongs to, at no cost while nothing is logged, and
//! the two formats `keyward serve` writes: text for people (colour only on a terminal), or JSON
//! for log shippers, one object per line with the node's name.
//!
//! A request's id, method and path live in a task-local [`RequestContext`] while its answer is
//! made ([`crate::App`] sets it), not in a `tracing` span: a span's fields are formatted for
//! every request, logged or not, while the context is read only by a line that is written.
//! Both formats print it where a span would be: text `request{method=GET path=/api/me
//! request_id=...}:`, JSON `"span":{"method":..,"path":..,"request_id":..}`; forward-auth's
//! lines name the request it decides, with `via=forward-auth`. The path is never followed by
//! its query, which may hold query-hmac credentials.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

pub use keyward_auth::log_context::{RequestContext, current, within};

/// How the log is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `keyward: ...` lines and tracing's text format.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

keyward_sig::named_setting!(LogFormat, "log format", {"text" => LogFormat::Text, "json" => LogFormat::Json});

/// The log's settings.
#[derive(Clone, Debug, Default)]
pub struct LogSettings {
    /// Text or JSON.
    pub format: LogFormat,
    /// This node's name, in every JSON line.
    pub node: String,
}

static JSON: AtomicBool = AtomicBool::new(false);

/// Whether the log is JSON (so every line, the operator's messages too, must be an event).
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Starts the log on stderr: `KEYWARD_LOG` filters it (`info` by default).
pub fn init(settings: &LogSettings) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.format {
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            builder.with_ansi(ansi).event_format(Text).init();
        }
        LogFormat::Json => {
            JSON.store(true, Ordering::Relaxed);
            let node = serde_json::to_string(&settings.node).expect("a string serializes");
            let json =
                format::Format::default().json().with_current_span(false).with_span_list(false);
            builder
                .with_ansi(false)
                .fmt_fields(JsonFields::new())
                .event_format(Json { inner: json, node })
                .init();
        }
    }
}

/// Text lines: time, level, the request, target, fields.
struct Text;

impl<S, N> FormatEvent<S, N> for Text
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let ansi = writer.has_ansi_escapes();
        if ansi {
            writer.write_str("\x1b[2m")?;
        }
        SystemTime.format_time(&mut writer)?;
        let colour = match *metadata.level() {
            Level::ERROR => "\x1b[31m",
            Level::WARN => "\x1b[33m",
            Level::INFO => "\x1b[32m",
            Level::DEBUG => "\x1b[34m",
            Level::TRACE => "\x1b[35m",
        };
        match ansi {
            true => write!(writer, "\x1b[0m {colour}{:>5}\x1b[0m ", metadata.level())?,
            false => write!(writer, " {:>5} ", metadata.level())?,
        }
        current(|request| {
            let id = String::from_utf8_lossy(request.request_id.as_bytes());
            let (method, path) = (&request.method, request.uri.path());
            write!(writer, "request{{method={method} path={path} request_id={id}")?;
            if let Some(via) = request.via {
                write!(writer, " via={via}")?;
            }
            write!(writer, "}}: ")
        })
        .transpose()?;
        write!(writer, "{}: ", metadata.target())?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// tracing's JSON lines with `"node"` first and the request as `"span"`.
struct Json {
    inner: format::Format<format::Json>,
    /// The node's name, as a JSON string.
    node: String,
}

impl<S, N> FormatEvent<S, N> for Json
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
        let request = current(|request| {
            let mut span = serde_json::json!({
                "method": request.method.as_str(),
                "path": request.uri.path(),
                "request_id": String::from_utf8_lossy(request.request_id.as_bytes()),
            });
            if let Some(via) = request.via {
                span["via"] = via.into();
            }
            span
        });
        let trimmed = line.trim_end();
        let (body, end) = match (request, trimmed.strip_suffix('}')) {
            (Some(request), Some(body)) => (body, format!(",\"span\":{request}}}\n")),
            _ => (&line[..], String::new()),
        };
        match body.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"node\":{},{rest}{end}", self.node),
            None => write!(writer, "{body}{end}"),
        }
    }
}
