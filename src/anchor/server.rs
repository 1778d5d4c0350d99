//! Routes of the anchor's listener: `POST /sessions`, STS on `/`, `GET /metrics`, and the
//! enrolment CA's `POST /1.0/sign` and `/1.0/renew` when configured, and the emulated
//! federation sign-in endpoint (`GET /federation`).

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::Anchor;
use crate::rolesanywhere::verify::ReceivedRequest;
use crate::server::{self, Incoming, Reply};
use crate::service::Service;

/// Serves the anchor on `service` (over TLS when `tls` is given). With `loopback_only` (no
/// --insecure-allow-remote) a request must name loopback in its Host, which CreateSession and
/// STS also sign, so a signature made for another host is refused.
pub fn serve(
    anchor: Arc<Anchor>,
    service: &mut Service,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    loopback_only: bool,
) {
    service.serve_tls(listener, tls, move |incoming| {
        route(anchor.clone(), incoming, loopback_only)
    });
}

async fn route(anchor: Arc<Anchor>, incoming: Incoming, loopback_only: bool) -> Reply {
    if let Some(refused) = loopback_only
        .then(|| server::foreign_host(&incoming))
        .flatten()
    {
        return refused;
    }
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
        ("GET", path) if path == "/federation" || path.starts_with("/federation/") => {
            anchor.federation(&incoming)
        }
        ("POST", "/1.0/sign" | "/1.0/renew") => match anchor.enrolment() {
            Some(enrolment) if request.path == "/1.0/sign" => enrolment.sign(&incoming.body).await,
            Some(enrolment) => {
                enrolment.renew(incoming.header("authorization"), incoming.header("host"))
            }
            None => Reply::json_error(
                404,
                "this anchor has no enrolment CA; add an [enrolment] section to its config",
            ),
        },
        _ => Reply::json_error(
            404,
            "no such route; the anchor serves POST /sessions, STS on /, GET /metrics, POST /1.0/sign and /1.0/renew, GET /federation",
        ),
    }
}
