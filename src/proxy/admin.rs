//! The proxy's admin listener: `/healthz`, `/readyz` (credentials to sign with) and `/metrics`.

use crate::credentials::refresh::CredentialCache;
use crate::metrics_text::{self, MetricsText};
use crate::server::{Incoming, Reply};

use super::{Proxy, ProxyMetrics};

/// Answers one admin request. `listen` labels the metrics; `loopback_only` refuses a Host that
/// does not name this machine (without `--allow-remote`).
pub fn handle(
    proxy: &Proxy,
    cache: Option<&CredentialCache>,
    listen: &str,
    loopback_only: bool,
    incoming: &Incoming,
) -> Reply {
    if let Some(refused) = loopback_only
        .then(|| crate::server::foreign_host(incoming))
        .flatten()
    {
        return refused;
    }
    match incoming.path.as_str() {
        "/healthz" => Reply::new(200, "text/plain", "ok\n"),
        "/readyz" => match cache.map(CredentialCache::current) {
            Some(Err(e)) => Reply::json_error(503, &e.0),
            _ => Reply::new(200, "text/plain", "ready\n"),
        },
        "/metrics" => {
            let mut page = MetricsText::new();
            ProxyMetrics::render(&[(listen.to_owned(), &proxy.metrics)], &mut page);
            Reply::new(200, metrics_text::CONTENT_TYPE, page.finish())
        }
        _ => Reply::json_error(
            404,
            "the admin listener serves /healthz, /readyz and /metrics",
        ),
    }
}
