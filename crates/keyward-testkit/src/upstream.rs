//! An upstream for gateway tests and benchmarks: a real HTTP server on 127.0.0.1 (HTTP/1.1 and
//! h2c) that answers every request with what it received, as JSON:
//!
//! ```json
//! {"method": "POST", "target": "/orders/1?a=1", "version": "HTTP/1.1",
//!  "headers": [["host", "127.0.0.1:9000"], ...], "body_base64": "..."}
//! ```
//!
//! A request with `delay_ms=N` in its query is answered after N ms; a WebSocket upgrade on a
//! path ending in `/ws` is accepted, and every message is sent back as it came.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

/// A running upstream; stops when dropped.
#[derive(Debug)]
pub struct EchoUpstream {
    /// Where it listens.
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl EchoUpstream {
    /// Starts one on a free port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::serve(listener)
    }

    /// Serves on `listener`.
    pub fn serve(listener: tokio::net::TcpListener) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let app = Router::new().fallback(echo);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(EchoUpstream { address, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo(request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let delay = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("delay_ms="))
        .and_then(|ms| ms.parse::<u64>().ok());
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if parts.uri.path().ends_with("/ws") {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => upgrade.on_upgrade(echo_messages).into_response(),
            Err(rejection) => rejection.into_response(),
        };
    }
    let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(error) => {
            return (axum::http::StatusCode::BAD_REQUEST, error.to_string()).into_response();
        }
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect();
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    axum::Json(json!({
        "method": parts.method.as_str(),
        "target": target,
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_base64": base64::engine::general_purpose::STANDARD.encode(&body),
    }))
    .into_response()
}

async fn echo_messages(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if socket.send(message).await.is_err() {
            break;
        }
    }
}
