//! The one inbound HTTP stack: hyper 1 over TCP or a Unix socket (HTTP/1.1), optionally rustls
//! (HTTP/2 or HTTP/1.1 by ALPN), with a connection limit, a header-read timeout, a body cap and an accept loop that
//! stops on a shutdown signal. Handlers see a fully read [`Incoming`] request and return a
//! [`Reply`].

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Time allowed for a client to send its headers (and for a TLS handshake).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest HTTP/2 header block accepted (h2's default is 16 KiB). An ML-DSA-87 request sends a
/// certificate of about 8 KiB in base64 and a 9 KiB hex signature, more with a chain; HTTP/1
/// allows about 400 KiB.
const MAX_HTTP2_HEADER_LIST: u32 = 128 * 1024;
/// An HTTP/2 connection with no request in flight for this long is closed.
pub const IDLE_TIMEOUT: Duration = HEADER_TIMEOUT;
/// Connections served at once; further ones wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a stopping listener lets in-flight requests finish (`--shutdown-timeout`).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

mod listen;
mod message;
mod peer;

pub use self::listen::{bind, tls_acceptor, BindError, TlsSetupError};
use self::message::to_response;
pub use self::message::{foreign_host, wiped_bytes, Incoming, Reply};
pub use self::peer::{Listener, Peer, UnixPeer};

/// Listener options.
#[derive(Clone)]
pub struct ListenOptions {
    /// Serve TLS.
    pub tls: Option<TlsAcceptor>,
    /// After shutdown, how long in-flight requests may take before their connections are cut.
    pub drain_timeout: Duration,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            tls: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for ListenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenOptions")
            .field("tls", &self.tls.is_some())
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

/// Serves `handler` (which sees fully read requests) until `shutdown` completes.
pub async fn serve<L, H, F>(
    listener: L,
    options: ListenOptions,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    L: Listener,
    H: Fn(Incoming) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let connection = move |peer| {
        let handler = handler.clone();
        move |request| respond(handler.clone(), peer, request)
    };
    serve_streaming(listener, options, connection, shutdown).await;
}

/// Serves handlers that see the request as it arrives (body streaming) and return a response
/// with any body type, until `shutdown` completes; then drains: the listener closes (new
/// connections are refused), idle connections close, and requests in flight may finish within
/// [`ListenOptions::drain_timeout`] before the rest are cut. `connection` makes the handler of
/// each accepted connection, so a handler can keep state for its connection's requests.
pub async fn serve_streaming<L, C, H, F, B>(
    listener: L,
    options: ListenOptions,
    connection: C,
    shutdown: impl Future<Output = ()>,
) where
    L: Listener,
    C: Fn(Peer) -> H,
    H: Fn(http::Request<hyper::body::Incoming>) -> F + Send + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(shutdown);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (draining, drain_signal) = watch::channel(false);
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!("accept failed: {error}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = connection(peer);
        let tls = options.tls.clone();
        let drain_signal = drain_signal.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // The protocol is fixed before the first byte (ALPN on TLS, else HTTP/1.1): sniffing
            // for an HTTP/2 preface would wait, with no timeout, on a client that sends nothing.
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                            serve_connection(TokioIo::new(stream), service, http2, drain_signal)
                                .await
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {error}");
                            return;
                        }
                        Err(_) => return,
                    }
                }
                None => serve_connection(TokioIo::new(stream), service, false, drain_signal).await,
            };
            if let Err(error) = result {
                tracing::debug!(%peer, "connection ended: {error}");
            }
        });
    }
    drain(listener, &draining, &permits, options.drain_timeout).await;
}

/// Stops accepting, asks every connection to finish, and waits until they have (each returns
/// its permit) or `deadline` passes.
async fn drain<L>(
    listener: L,
    draining: &watch::Sender<bool>,
    permits: &Semaphore,
    deadline: Duration,
) {
    drop(listener);
    let _ = draining.send(true);
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    let open = MAX_CONNECTIONS - permits.available_permits();
    if open > 0 {
        tracing::info!(
            "draining {open} connection(s), for at most {} s",
            deadline.as_secs()
        );
    }
    if tokio::time::timeout(deadline, permits.acquire_many(all))
        .await
        .is_err()
    {
        let left = MAX_CONNECTIONS - permits.available_permits();
        tracing::warn!(
            "{left} connection(s) still busy after the {} s shutdown timeout; closing them",
            deadline.as_secs()
        );
    }
}

/// Completes once the listener starts draining (or is gone).
async fn drained(mut signal: watch::Receiver<bool>) {
    let _ = signal.wait_for(|draining| *draining).await;
}

/// Serves one connection. HTTP/1.1: the header-read timeout also closes a connection that
/// sends nothing, and an idle keep-alive one. HTTP/2 has no such timeout, so the connection is
/// shut down gracefully once no request has been in flight for [`IDLE_TIMEOUT`], and closed if
/// that takes longer than [`HEADER_TIMEOUT`]. Either way, a drain shuts it down gracefully:
/// a request in flight finishes, an idle connection closes.
async fn serve_connection<I, H, F, B>(
    io: I,
    handler: H,
    http2: bool,
    drain_signal: watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    H: Fn(http::Request<hyper::body::Incoming>) -> F + Send + 'static,
    F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if !http2 {
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(io, service_fn(handler));
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => return result,
            () = drained(drain_signal) => connection.as_mut().graceful_shutdown(),
        }
        return connection.await;
    }
    let (in_flight, mut activity) = watch::channel(0usize);
    let counted = move |request| {
        let guard = InFlight::start(in_flight.clone());
        let response = handler(request);
        async move {
            let response = response.await;
            drop(guard);
            response
        }
    };
    let connection = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HTTP2_HEADER_LIST)
        .serve_connection(io, service_fn(counted));
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => return result,
        () = drained(drain_signal) => {
            // In-flight streams finish; the listener's drain deadline bounds them.
            connection.as_mut().graceful_shutdown();
            return connection.await;
        }
        () = idle(&mut activity) => {
            tracing::debug!("closing an idle HTTP/2 connection");
            connection.as_mut().graceful_shutdown();
        }
    }
    // A client that never finished the HTTP/2 handshake does not take part in a graceful
    // shutdown either; it is dropped after the grace period.
    match tokio::time::timeout(HEADER_TIMEOUT, connection).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

/// Counts one request in flight until dropped (also when the client resets the stream).
struct InFlight(watch::Sender<usize>);

impl InFlight {
    fn start(counter: watch::Sender<usize>) -> Self {
        counter.send_modify(|n| *n += 1);
        Self(counter)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Completes once the in-flight count has stayed at zero for [`IDLE_TIMEOUT`].
async fn idle(activity: &mut watch::Receiver<usize>) {
    loop {
        let busy = *activity.borrow_and_update() > 0;
        let changed = activity.changed();
        if busy {
            if changed.await.is_err() {
                return std::future::pending().await;
            }
        } else if tokio::time::timeout(IDLE_TIMEOUT, changed).await.is_err() {
            return;
        }
    }
}

async fn respond<H, F>(
    handler: H,
    peer: Peer,
    request: http::Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible>
where
    H: Fn(Incoming) -> F,
    F: Future<Output = Reply>,
{
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(to_response(Reply::json_error(
                413,
                "request body too large or unreadable",
            )))
        }
    };
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    if !parts.headers.contains_key(http::header::HOST) {
        if let Some(authority) = parts.uri.authority() {
            headers.push(("host".to_owned(), authority.to_string()));
        }
    }
    let incoming = Incoming {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body,
        peer,
    };
    Ok(to_response(handler(incoming).await))
}
