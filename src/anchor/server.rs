//! The anchor's HTTP(S) listener: hyper 1 (HTTP/1.1 and HTTP/2), optional rustls TLS, a body
//! cap and a header-read timeout, routing to [`super::Anchor`].

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{simple_error, Anchor, Reply};
use crate::rolesanywhere::verify::ReceivedRequest;

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Time allowed for a client to send its headers (and for a TLS handshake).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Serves until `shutdown` completes.
pub async fn serve(
    anchor: Arc<Anchor>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
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
        let anchor = anchor.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| route(anchor.clone(), request));
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {error}");
                            return;
                        }
                        Err(_) => return,
                    }
                }
                None => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, "connection ended: {error}");
            }
        });
    }
}

async fn route(
    anchor: Arc<Anchor>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(to_response(simple_error(
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
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or_default();
    let request = ReceivedRequest {
        method,
        path,
        query,
        headers: &headers,
        body: &body,
    };
    let reply = match (method, path) {
        ("POST", "/sessions") => anchor.create_session(&request).await,
        ("GET", "/metrics") => anchor.metrics(),
        ("GET" | "POST", "/") => anchor.sts(&request),
        _ => simple_error(
            404,
            "no such route; the anchor serves POST /sessions, STS on /, GET /metrics",
        ),
    };
    Ok(to_response(reply))
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
