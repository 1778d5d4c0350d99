//! The admin listener: `/healthz` (the process is up), `/readyz` (every profile has credentials
//! safe to hand out), `/metrics` (Prometheus text), and the status page (`/status`, HTML, and
//! `/status.json`). A loopback Host is required (DNS rebinding), and a browser request from
//! another origin is refused.

use serde_json::json;

use super::Agent;
use crate::credentials::refresh::Health;
use crate::metrics_text::{self, Kind, MetricsText};
use crate::server::{Incoming, Reply};

/// Handles an admin request; with `loopback_only` (no --allow-remote) only for a loopback Host.
pub fn handle(agent: &Agent, request: &Incoming, loopback_only: bool) -> Reply {
    if let Some(refused) = loopback_only
        .then(|| crate::server::foreign_host(request))
        .flatten()
    {
        return refused;
    }
    if let Some(reason) = cross_origin(request) {
        return super::refusal::refuse(super::refusal::Family::Admin, 403, "Forbidden", reason);
    }
    match request.path.as_str() {
        "/status" => status_page(agent),
        "/status.json" => Reply::new(
            200,
            "application/json",
            serde_json::to_string(&super::status::report(agent, agent.clock.now()))
                .unwrap_or_default(),
        ),
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
        "/metrics" => Reply::new(200, metrics_text::CONTENT_TYPE, metrics(agent)),
        _ => super::refusal::refuse(
            super::refusal::Family::Admin,
            404,
            "NotFound",
            "the admin listener serves /healthz, /readyz, /metrics, /status and /status.json",
        ),
    }
}

/// Why a browser request comes from another site, if it does: a `Sec-Fetch-Site` other than
/// `none` or `same-origin`, or an `Origin` that is not this listener's.
fn cross_origin(request: &Incoming) -> Option<&'static str> {
    if let Some(site) = request.header("sec-fetch-site") {
        if site != "none" && site != "same-origin" {
            return Some("cross-site requests are refused");
        }
    }
    let origin = request.header("origin")?;
    let host = request.header("host").unwrap_or_default();
    let same = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host));
    (!same).then_some("requests from another origin are refused")
}

/// `/status`: the page, with headers that keep it to itself.
fn status_page(agent: &Agent) -> Reply {
    let report = super::status::report(agent, agent.clock.now());
    let mut reply = Reply::new(
        200,
        "text/html; charset=utf-8",
        super::status_page::render(&report),
    );
    reply.headers.extend([
        (
            "content-security-policy",
            super::status_page::content_security_policy(),
        ),
        ("x-content-type-options", "nosniff".to_owned()),
        ("x-frame-options", "DENY".to_owned()),
        ("referrer-policy", "no-referrer".to_owned()),
        ("cache-control", "no-store".to_owned()),
    ]);
    reply
}

/// Each profile's refreshes, expiry, certificate and health.
fn profile_families(
    page: &mut MetricsText,
    profiles: &std::collections::BTreeMap<String, std::sync::Arc<super::ServedProfile>>,
    now: time::OffsetDateTime,
) {
    page.family(
        "tessera_credentials_refreshes_total",
        Kind::Counter,
        "Credential refreshes by outcome.",
    );
    for (name, profile) in profiles {
        let snapshot = profile.cache.snapshot();
        page.sample(
            &[("profile", name), ("outcome", "success")],
            snapshot.successes,
        )
        .sample(
            &[("profile", name), ("outcome", "failure")],
            snapshot.failures,
        );
    }
    page.family(
        "tessera_credentials_seconds_to_expiry",
        Kind::Gauge,
        "Seconds until the held credentials expire.",
    );
    for (name, profile) in profiles {
        if let Some(credentials) = profile.cache.snapshot().credentials {
            page.sample(
                &[("profile", name)],
                (credentials.expiration() - now).whole_seconds(),
            );
        }
    }
    page.family(
        "tessera_certificate_not_after_seconds",
        Kind::Gauge,
        "NotAfter of the certificate in use (Unix time).",
    );
    for (name, profile) in profiles {
        if let Some(not_after) = profile.cache.certificate_not_after() {
            page.sample(&[("profile", name)], not_after.unix_timestamp());
        }
    }
    page.family(
        "tessera_credentials_health",
        Kind::Gauge,
        "1 for the profile's current health state.",
    );
    for (name, profile) in profiles {
        page.sample(
            &[
                ("profile", name),
                ("state", profile.cache.health().as_str()),
            ],
            1,
        );
    }
}

/// The Prometheus page: each profile's refreshes, expiry, certificate and health, the
/// listener's requests, and the proxies serve runs.
fn metrics(agent: &Agent) -> String {
    let now = agent.clock.now();
    let profiles = agent.profiles();
    let mut page = MetricsText::new();
    profile_families(&mut page, &profiles, now);
    page.family(
        "tessera_serve_requests_total",
        Kind::Counter,
        "Requests by endpoint and status.",
    );
    for ((endpoint, status), count) in agent.requests.snapshot() {
        page.sample(
            &[("endpoint", endpoint), ("status", &status.to_string())],
            count,
        );
    }
    page.family(
        "tessera_consumer_fetches_total",
        Kind::Counter,
        "Credential fetches by consumer ('-' without consumers), profile and outcome.",
    );
    for ((consumer, profile, outcome), count) in agent.fetches.snapshot() {
        page.sample(
            &[
                ("consumer", &consumer),
                ("profile", &profile),
                ("outcome", outcome),
            ],
            count,
        );
    }
    let proxies = agent.proxies();
    if !proxies.is_empty() {
        let listeners: Vec<(String, &crate::proxy::ProxyMetrics)> = proxies
            .iter()
            .map(|(l, p)| (l.clone(), &p.metrics))
            .collect();
        crate::proxy::ProxyMetrics::render(&listeners, &mut page);
    }
    page.finish()
}
