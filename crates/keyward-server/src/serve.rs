//! Serves an [`App`] on a TCP listener, in plain HTTP or, with a [`Tls`], HTTPS (a client
//! speaking plain HTTP to it is answered 400, code 49, in plain HTTP), with the
//! connection-level [`Capacity`]: at most
//! `max_connections` open at once (one more is answered 503 with `Retry-After` and closed, as
//! is one that comes when the process is out of file descriptors: a descriptor is kept in
//! reserve to answer it), one descriptor per connection,
//! and a header-read timeout (a client that sent part of a request and stalled is answered 408;
//! an idle keep-alive connection is closed). Every request carries the client's address (as
//! `ConnectInfo`); HTTP/1.1 and HTTP/2 are served; shutdown is graceful (the listener closes,
//! requests in flight finish).
//!
//! # Example
//! ```no_run
//! # async fn demo(store: keyward_store::Store) -> std::io::Result<()> {
//! use keyward_server::{Settings, app, serve};
//! let settings = Settings::default();
//! let capacity = settings.capacity;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, app(store, settings), capacity, std::future::pending()).await
//! # }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::App;
use crate::capacity::Capacity;
use crate::error::{ApiError, ErrorCode};
use crate::tls::{HANDSHAKE_RECORD, Tls};
use crate::workers::Workers;
use keyward_sig::certificate::ClientCertificate;

/// A complete HTTP/1.1 answer in keyward's error shape that closes the connection, for the
/// moments no service runs: a connection past the cap, a head that stalled, plain HTTP on the
/// TLS port.
fn canned(error: ApiError) -> Vec<u8> {
    let status = error.code.status();
    let body = error.body().to_string();
    let retry = match error.retry_after {
        Some(seconds) => format!("retry-after: {seconds}\r\n"),
        None => String::new(),
    };
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\n{retry}connection: close\r\n\
         content-length: {}\r\n\r\n{body}",
        status.as_str(),
        status.canonical_reason().unwrap_or_default(),
        body.len()
    )
    .into_bytes()
}

/// The answer to a connection past the cap, written before anything is read.
fn overloaded() -> Vec<u8> {
    canned(ApiError::new(ErrorCode::Overloaded).with_retry_after(1))
}

/// The answer to a request whose head stalled past the header-read timeout.
fn header_timeout() -> Vec<u8> {
    canned(
        ApiError::new(ErrorCode::RequestTimeout)
            .with_message("Request headers took too long to arrive"),
    )
}

/// The answer to plain HTTP on the TLS port.
fn https_required() -> Vec<u8> {
    canned(ApiError::new(ErrorCode::HttpsRequired))
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open connections to
/// finish their requests. Connections are served on the calling runtime; [`serve_on`] deals
/// them to [`Workers`].
pub async fn serve(
    listener: TcpListener,
    app: App,
    capacity: Capacity,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    accept(listener, app, capacity, None, None, shutdown).await
}

/// [`serve`], each connection served on one of `workers`, in turn; over TLS with `tls`.
pub async fn serve_on(
    workers: &Workers,
    listener: TcpListener,
    app: App,
    capacity: Capacity,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    accept(listener, app, capacity, Some(workers), tls, shutdown).await
}

async fn accept(
    listener: TcpListener,
    app: App,
    capacity: Capacity,
    workers: Option<&Workers>,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(capacity.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    // A descriptor kept in reserve: out of them, it takes the waiting connection to answer it.
    let mut reserve = spare_descriptor();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if out_of_descriptors(&error) && reserve.is_some() => {
                    drop(reserve.take());
                    if let Ok((stream, _)) = listener.accept().await {
                        tracing::warn!("connection refused: the process is out of file descriptors");
                        tokio::spawn(answer_and_close(stream, overloaded()));
                    }
                    reserve = spare_descriptor();
                    continue;
                }
                // Out of descriptors with none in reserve, say: wait a little rather than spin.
                Err(error) => {
                    tracing::warn!(error = %error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    reserve = reserve.or_else(spare_descriptor);
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!("connection refused: the server is at its limit of connections");
            tokio::spawn(answer_and_close(stream, overloaded()));
            continue;
        };
        // Out of this runtime's hands: the worker's runtime takes the socket on.
        let Ok(stream) = stream.into_std() else { continue };
        let tls = tls.clone();
        let connection =
            serve_connection(stream, peer, app.clone(), capacity, tls, graceful.watcher());
        let served = async move {
            connection.await;
            drop(permit);
        };
        match workers {
            Some(workers) => workers.spawn(served),
            None => drop(tokio::spawn(served)),
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A descriptor to keep in reserve (none where there is no `/dev/null`).
fn spare_descriptor() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

/// Whether `error` says the process (EMFILE) or the system (ENFILE) has no descriptor left.
fn out_of_descriptors(error: &std::io::Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    cfg!(unix) && matches!(error.raw_os_error(), Some(EMFILE | ENFILE))
}

/// Serves one connection, on the runtime that polls it: in plain HTTP, or after a TLS
/// handshake that must end within the header timeout.
async fn serve_connection(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    app: App,
    capacity: Capacity,
    tls: Option<Tls>,
    watcher: Watcher,
) {
    let Ok(stream) = TcpStream::from_std(stream) else { return };
    let Some(tls) = tls else {
        // Held on to, to answer a stalled head after hyper gives up on it.
        let held = Held::new(stream);
        return serve_http(held.clone(), Some(held), None, peer, app, capacity, watcher).await;
    };
    let handshake = async {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(1) if first[0] == HANDSHAKE_RECORD => {}
            Ok(1) => return Err(Some(stream)),
            _ => return Err(None),
        }
        tls.acceptor().accept(stream).await.map_err(|error| {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            None
        })
    };
    match tokio::time::timeout(capacity.header_read_timeout, handshake).await {
        Ok(Ok(stream)) => {
            let certificate = crate::tls::client_certificate(stream.get_ref().1);
            serve_http(stream, None, certificate, peer, app, capacity, watcher).await
        }
        Ok(Err(Some(plain))) => answer_and_close(plain, https_required()).await,
        Ok(Err(None)) | Err(_) => {}
    }
}

/// Serves HTTP/1.1 or HTTP/2 on `io`. With `held`, the plain socket `io` is, a head that
/// stalls is answered 408 (over TLS the connection is closed instead). The connection's
/// verified client `certificate` goes with each of its requests.
async fn serve_http<I>(
    stream: I,
    held: Option<Held>,
    certificate: Option<Arc<ClientCertificate>>,
    peer: SocketAddr,
    app: App,
    capacity: Capacity,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::new(Heard::default());
    let io = TokioIo::new(Watched { io: stream, heard: state.clone() });
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        if let Some(certificate) = &certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        app.answer(peer, request)
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(capacity.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let connection = builder.serve_connection_with_upgrades(io, service);
    // hyper's header timeout starts once the protocol is known, which takes a first byte: a
    // connection that sends none is closed after the same time.
    let silent = async {
        tokio::time::sleep(capacity.header_read_timeout).await;
        if state.anything.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    let timed_out = tokio::select! {
        served = watcher.watch(connection) => served.err().is_some_and(|error| {
            error.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout)
        }),
        () = silent => false,
    };
    // hyper has let go of the socket (its connection is dropped): the answer goes out on it.
    if timed_out && state.request_started.load(Ordering::Relaxed) {
        if let Some(stream) = held.and_then(Held::into_inner) {
            answer_and_close(stream, header_timeout()).await;
        }
    }
}

/// A plain connection hyper reads and writes through while the server keeps a hold on it:
/// when hyper gives up on a stalled head, the 408 goes out on the same socket. One descriptor
/// per connection (a second handle, `dup`, would take two, and halve the connections a
/// process's open-files limit allows).
#[derive(Clone)]
struct Held(Arc<std::sync::Mutex<TcpStream>>);

impl Held {
    fn new(stream: TcpStream) -> Self {
        Held(Arc::new(std::sync::Mutex::new(stream)))
    }

    /// The socket, once no one else holds it.
    fn into_inner(self) -> Option<TcpStream> {
        let mutex = Arc::into_inner(self.0)?;
        Some(mutex.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn stream(&self) -> std::sync::MutexGuard<'_, TcpStream> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl AsyncRead for Held {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.stream()).poll_read(cx, buf)
    }
}

impl AsyncWrite for Held {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.stream()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.stream()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.stream()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.stream()).poll_shutdown(cx)
    }
}

/// Writes `answer`, then reads what the client sent (briefly, so closing does not reset the
/// connection before the answer is read) and closes.
async fn answer_and_close(mut stream: TcpStream, answer: Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.write_all(&answer).await;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// What a connection has heard: anything at all, and whether a request has begun (bytes read
/// since the last answer was written). An idle keep-alive connection that times out is closed
/// without an answer; one whose request stalled mid-head gets 408.
#[derive(Default)]
struct Heard {
    anything: AtomicBool,
    request_started: AtomicBool,
}

/// A connection that notes what it [`Heard`].
struct Watched<I> {
    io: I,
    heard: Arc<Heard>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.heard.anything.store(true, Ordering::Relaxed);
            self.heard.request_started.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.heard.request_started.store(false, Ordering::Relaxed);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.heard.request_started.store(false, Ordering::Relaxed);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // Mid-request, the socket is left open for the server to answer on it ([`Held`]).
        if self.heard.request_started.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::{header_timeout, https_required, overloaded};

    #[test]
    fn canned_answers_declare_their_exact_length() {
        for answer in [overloaded(), header_timeout(), https_required()] {
            let text = std::str::from_utf8(&answer).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let declared: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(body.len(), declared, "{head}");
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(json["error"]["code"].is_u64());
        }
    }
}
