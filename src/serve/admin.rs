//! The admin listener: `/healthz` (the process is up), `/readyz` (every profile has credentials
//! safe to hand out) and `/metrics` (Prometheus text).

use std::fmt::Write;

use serde_json::json;

use super::Agent;
use crate::credentials::refresh::Health;
use crate::server::{Incoming, Reply};

/// Handles an admin request; with `loopback_only` (no --allow-remote) only for a loopback Host.
pub fn handle(agent: &Agent, request: &Incoming, loopback_only: bool) -> Reply {
    if let Some(refused) = loopback_only
        .then(|| crate::server::foreign_host(request))
        .flatten()
    {
        return refused;
    }
    match request.path.as_str() {
        "/healthz" => Reply::new(200, "text/plain", "ok\n"),
        "/readyz" => {
            let profiles = agent.profiles();
            let states: serde_json::Map<String, serde_json::Value> = profiles
                .iter()
                .map(|(name, p)| (name.clone(), json!(p.cache.health().as_str())))
                .collect();
            let ready = profiles
                .values()
                .all(|p| matches!(p.cache.health(), Health::Fresh | Health::Degraded));
            Reply::new(
                if ready { 200 } else { 503 },
                "application/json",
                json!(states).to_string(),
            )
        }
        "/metrics" => Reply::new(200, "text/plain; version=0.0.4", metrics(agent)),
        _ => Reply::json_error(
            404,
            "the admin listener serves /healthz, /readyz and /metrics",
        ),
    }
}

fn metrics(agent: &Agent) -> String {
    let now = agent.clock.now();
    let profiles = agent.profiles();
    let mut out = String::new();
    out.push_str("# HELP tessera_credentials_refreshes_total Credential refreshes by outcome.\n# TYPE tessera_credentials_refreshes_total counter\n");
    // Security: names are validated, and escaped all the same.
    let profiles: Vec<(String, _)> = profiles
        .into_iter()
        .map(|(name, profile)| (crate::text::label_value(&name), profile))
        .collect();
    for (name, profile) in &profiles {
        let snapshot = profile.cache.snapshot();
        let _ = writeln!(
            out,
            "tessera_credentials_refreshes_total{{profile=\"{name}\",outcome=\"success\"}} {}",
            snapshot.successes
        );
        let _ = writeln!(
            out,
            "tessera_credentials_refreshes_total{{profile=\"{name}\",outcome=\"failure\"}} {}",
            snapshot.failures
        );
    }
    out.push_str("# HELP tessera_credentials_seconds_to_expiry Seconds until the held credentials expire.\n# TYPE tessera_credentials_seconds_to_expiry gauge\n");
    for (name, profile) in &profiles {
        if let Some(credentials) = profile.cache.snapshot().credentials {
            let _ = writeln!(
                out,
                "tessera_credentials_seconds_to_expiry{{profile=\"{name}\"}} {}",
                (credentials.expiration() - now).whole_seconds()
            );
        }
    }
    out.push_str("# HELP tessera_certificate_not_after_seconds NotAfter of the certificate in use (Unix time).\n# TYPE tessera_certificate_not_after_seconds gauge\n");
    for (name, profile) in &profiles {
        if let Some(not_after) = profile.cache.certificate_not_after() {
            let _ = writeln!(
                out,
                "tessera_certificate_not_after_seconds{{profile=\"{name}\"}} {}",
                not_after.unix_timestamp()
            );
        }
    }
    out.push_str("# HELP tessera_credentials_health 1 for the profile's current health state.\n# TYPE tessera_credentials_health gauge\n");
    for (name, profile) in &profiles {
        let _ = writeln!(
            out,
            "tessera_credentials_health{{profile=\"{name}\",state=\"{}\"}} 1",
            profile.cache.health().as_str()
        );
    }
    out.push_str("# HELP tessera_serve_requests_total Requests by endpoint and status.\n# TYPE tessera_serve_requests_total counter\n");
    let proxies = agent.proxies();
    if !proxies.is_empty() {
        let listeners: Vec<(String, &crate::proxy::ProxyMetrics)> = proxies
            .iter()
            .map(|(l, p)| (l.clone(), &p.metrics))
            .collect();
        out.push_str(&crate::proxy::ProxyMetrics::render(&listeners));
    }
    for ((endpoint, status), count) in agent.requests.snapshot() {
        let _ = writeln!(
            out,
            "tessera_serve_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {count}"
        );
    }
    out
}
