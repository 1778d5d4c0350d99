//! The one inbound HTTP stack: hyper 1 over TCP (HTTP/1.1), optionally rustls (HTTP/2 or HTTP/1.1
//! by ALPN), with a connection limit, a header-read timeout, a body cap and an accept loop that
//! stops on a shutdown signal. Handlers see a fully read [`Incoming`] request and return a
//! [`Reply`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Time allowed for a client to send its headers (and for a TLS handshake).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// An HTTP/2 connection with no request in flight for this long is closed.
pub const IDLE_TIMEOUT: Duration = HEADER_TIMEOUT;
/// Connections served at once; further ones wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a stopping listener lets in-flight requests finish (`--shutdown-timeout`).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A request as handlers see it: fully read, headers as text.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Method.
    pub method: http::Method,
    /// Path (percent-encoded as received).
    pub path: String,
    /// Raw query, possibly empty.
    pub query: String,
    /// Headers as received (names lowercase), plus `host` from the authority on HTTP/2.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
    /// The client.
    pub peer: SocketAddr,
}

impl Incoming {
    /// The first value of a header (lowercase name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response: status, content type, extra headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Content-Type.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: String,
}

impl Reply {
    /// A reply with a body and no extra headers.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A JSON `{"message": …}` error.
    pub fn json_error(status: u16, message: &str) -> Self {
        Self::new(
            status,
            "application/json",
            serde_json::json!({ "message": message }).to_string(),
        )
    }
}

/// The 403 for a request whose Host is not loopback on a loopback-only listener, else `None`.
/// Security: a DNS-rebinding page reaches loopback under its own name, so its Host gives it
/// away; without this check it could read the admin endpoints or the anchor.
pub fn foreign_host(request: &Incoming) -> Option<Reply> {
    let host = request.header("host").unwrap_or_default();
    (!crate::host::is_loopback_host(host)).then(|| {
        Reply::json_error(
            403,
            "the Host header must name this machine (localhost, 127.0.0.1 or [::1])",
        )
    })
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot use TLS certificate {cert} / key {key}: {reason}")]
pub struct TlsSetupError {
    cert: String,
    key: String,
    reason: String,
}

/// A TLS acceptor for a PEM certificate (plus an optional PEM chain file) and key.
pub fn tls_acceptor(
    cert: &Path,
    chain: Option<&Path>,
    key: &Path,
) -> Result<TlsAcceptor, TlsSetupError> {
    let fail = |reason: String| TlsSetupError {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        reason,
    };
    let mut certs = Vec::new();
    for path in std::iter::once(cert).chain(chain) {
        let found = CertificateDer::pem_file_iter(path)
            .map_err(|e| fail(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(e.to_string()))?;
        certs.extend(found);
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| fail(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| fail(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Why a listener could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The socket could not be created, bound or put to listening.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The hop limit could not be set: answers could leave the host, so this is fatal.
    #[error("cannot set hop limit {hop_limit} on {addr}")]
    HopLimit {
        /// The address.
        addr: SocketAddr,
        /// The hop limit asked for.
        hop_limit: u8,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Opens a listener on `addr` whose replies carry `hop_limit`. It is set on the listening
/// socket before it listens, so every packet of every connection (the SYN-ACK included) carries
/// it: `IP_TTL`, and for IPv6 also `IPV6_UNICAST_HOPS` (a dual-stack socket answers in both).
pub fn bind(addr: SocketAddr, hop_limit: u8) -> Result<TcpListener, BindError> {
    let listen_error = |source| BindError::Listen { addr, source };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(listen_error)?;
    socket.set_reuseaddr(true).map_err(listen_error)?;
    let hop_error = |source: rustix::io::Errno| BindError::HopLimit {
        addr,
        hop_limit,
        source: source.into(),
    };
    if addr.is_ipv6() {
        rustix::net::sockopt::set_ipv6_unicast_hops(&socket, Some(hop_limit)).map_err(hop_error)?;
    }
    // On an IPv6 socket this covers IPv4-mapped peers (Linux).
    rustix::net::sockopt::set_ip_ttl(&socket, u32::from(hop_limit)).map_err(hop_error)?;
    socket.bind(addr).map_err(listen_error)?;
    socket
        .listen(u32::try_from(MAX_CONNECTIONS).unwrap_or(1024))
        .map_err(listen_error)
}

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
pub async fn serve<H, F>(
    listener: TcpListener,
    options: ListenOptions,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Incoming) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let service = move |request, peer| respond(handler.clone(), peer, request);
    serve_streaming(listener, options, service, shutdown).await;
}

/// Serves a handler that sees the request as it arrives (body streaming) and returns a
/// response with any body type, until `shutdown` completes; then drains: the listener closes (new
/// connections are refused), idle connections close, and requests in flight may finish within
/// [`ListenOptions::drain_timeout`] before the rest are cut.
pub async fn serve_streaming<H, F, B>(
    listener: TcpListener,
    options: ListenOptions,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(http::Request<hyper::body::Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
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
        // Responses go out in more than one write (head, body, TLS records); without this, Nagle
        // holds the last one back until the peer's delayed ACK, adding ~40 ms per exchange.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, "cannot set TCP_NODELAY: {error}");
        }
        let handler = handler.clone();
        let tls = options.tls.clone();
        let drain_signal = drain_signal.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = move |request| handler(request, peer);
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
async fn drain(
    listener: TcpListener,
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
    peer: SocketAddr,
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

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(value) = http::HeaderValue::from_str(reply.content_type) {
        headers.insert(http::header::CONTENT_TYPE, value);
    }
    for (name, value) in reply.headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}
