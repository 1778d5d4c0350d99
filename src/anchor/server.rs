//! Routes of the anchor's listener: `POST /sessions`, STS on `/`, `GET /metrics`.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::Anchor;
use crate::rolesanywhere::verify::ReceivedRequest;
use crate::server::{self, Incoming, ListenOptions, Reply};

/// Serves the anchor until `shutdown` completes.
pub async fn serve(
    anchor: Arc<Anchor>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let options = ListenOptions {
        tls,
        hop_limit: None,
    };
    server::serve(
        listener,
        options,
        move |incoming| route(anchor.clone(), incoming),
        shutdown,
    )
    .await;
}

async fn route(anchor: Arc<Anchor>, incoming: Incoming) -> Reply {
    let request = ReceivedRequest {
        method: incoming.method.as_str(),
        path: &incoming.path,
        query: &incoming.query,
        headers: &incoming.headers,
        body: &incoming.body,
    };
    match (request.method, request.path) {
        ("POST", "/sessions") => anchor.create_session(&request).await,
        ("GET", "/metrics") => anchor.metrics(),
        ("GET" | "POST", "/") => anchor.sts(&request),
        _ => Reply::json_error(
            404,
            "no such route; the anchor serves POST /sessions, STS on /, GET /metrics",
        ),
    }
}
