//! The signing proxy's counters and their Prometheus text: requests by upstream service and
//! status (with a bounded number of service labels, since services come from clients' Host
//! headers), upstream latency, bytes and signing failures.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use crate::metrics_text::{Kind, MetricsText};

/// Upper bounds of the upstream latency buckets, seconds.
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The counters with one series per listener, in the order of [`MetricsInner::scalars`].
const SCALARS: [(&str, &str); 3] = [
    (
        "tessera_proxy_request_bytes_total",
        "Request body bytes declared by clients.",
    ),
    (
        "tessera_proxy_response_bytes_total",
        "Response body bytes declared by upstreams.",
    ),
    (
        "tessera_proxy_signing_failures_total",
        "Requests that could not be signed.",
    ),
];

/// Distinct `service` labels kept in the request counter; further services count as
/// [`OTHER_SERVICE`].
pub(super) const MAX_SERVICE_LABELS: usize = 64;
/// The `service` label of requests past [`MAX_SERVICE_LABELS`].
pub(super) const OTHER_SERVICE: &str = "other";

/// Counters for the admin listener.
#[derive(Debug, Default)]
pub struct ProxyMetrics {
    // Sync mutex: held only to update counters.
    inner: Mutex<MetricsInner>,
}

#[derive(Debug, Default, Clone)]
struct MetricsInner {
    /// Requests by service, then status.
    requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Observations per bucket of [`LATENCY_BUCKETS`] (not cumulative); slower ones only
    /// count in `latency_count`.
    latency_buckets: [u64; LATENCY_BUCKETS.len()],
    latency_seconds_sum: f64,
    latency_count: u64,
    bytes_in: u64,
    bytes_out: u64,
    signing_failures: u64,
}

impl MetricsInner {
    /// The values of [`SCALARS`].
    fn scalars(&self) -> [String; 3] {
        [
            self.bytes_in.to_string(),
            self.bytes_out.to_string(),
            self.signing_failures.to_string(),
        ]
    }
}

impl ProxyMetrics {
    /// Counts one forwarded request: its service, status and upstream latency, and the body
    /// bytes the client and the upstream declared (one lock for all of it).
    pub(super) fn record(
        &self,
        service: &str,
        status: u16,
        latency: StdDuration,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        if let Ok(mut m) = self.inner.lock() {
            // Services come from clients' Host headers: past a bound, new ones share one series.
            let service =
                if m.requests.contains_key(service) || m.requests.len() < MAX_SERVICE_LABELS {
                    service
                } else {
                    OTHER_SERVICE
                };
            match m.requests.get_mut(service) {
                Some(statuses) => *statuses.entry(status).or_default() += 1,
                None => {
                    m.requests
                        .insert(service.to_owned(), BTreeMap::from([(status, 1)]));
                }
            }
            let seconds = latency.as_secs_f64();
            if let Some(bucket) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
                m.latency_buckets[bucket] += 1;
            }
            m.latency_seconds_sum += seconds;
            m.latency_count += 1;
            m.bytes_in += bytes_in;
            m.bytes_out += bytes_out;
        }
    }

    pub(super) fn signing_failure(&self) {
        if let Ok(mut m) = self.inner.lock() {
            m.signing_failures += 1;
        }
    }

    /// Writes the families of several proxy listeners (`listener` label) onto `page`.
    pub fn render(listeners: &[(String, &ProxyMetrics)], page: &mut MetricsText) {
        let snapshots: Vec<(&str, MetricsInner)> = listeners
            .iter()
            .map(|(name, metrics)| {
                (
                    name.as_str(),
                    metrics.inner.lock().map(|m| m.clone()).unwrap_or_default(),
                )
            })
            .collect();
        page.family(
            "tessera_proxy_requests_total",
            Kind::Counter,
            "Proxied requests by upstream service and status.",
        );
        for (listener, m) in &snapshots {
            for (service, status, count) in m
                .requests
                .iter()
                .flat_map(|(service, statuses)| statuses.iter().map(move |(s, c)| (service, s, c)))
            {
                let status = status.to_string();
                let labels = [
                    ("listener", *listener),
                    ("service", service),
                    ("status", &status),
                ];
                page.sample(&labels, count);
            }
        }
        page.family(
            "tessera_proxy_upstream_latency_seconds",
            Kind::Histogram,
            "Time to the upstream's response headers.",
        );
        for (listener, m) in &snapshots {
            let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
                .iter()
                .copied()
                .zip(m.latency_buckets)
                .collect();
            page.histogram(
                &[("listener", listener)],
                &buckets,
                m.latency_seconds_sum,
                m.latency_count,
            );
        }
        for (i, (name, help)) in SCALARS.iter().enumerate() {
            page.family(name, Kind::Counter, help);
            for (listener, m) in &snapshots {
                page.sample(&[("listener", listener)], &m.scalars()[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_labels_are_bounded_and_escaped() {
        let metrics = ProxyMetrics::default();
        for i in 0..(MAX_SERVICE_LABELS + 10) {
            metrics.record(&format!("svc{i}"), 200, StdDuration::ZERO, 0, 0);
        }
        metrics.record("svc0", 200, StdDuration::ZERO, 0, 0);
        metrics.record("x\"} 1\ninjected", 200, StdDuration::ZERO, 0, 0);
        let mut page = MetricsText::new();
        ProxyMetrics::render(&[("127.0.0.1:8080".into(), &metrics)], &mut page);
        let text = page.finish();
        let series = text
            .lines()
            .filter(|l| l.starts_with("tessera_proxy_requests_total{"))
            .count();
        assert_eq!(series, MAX_SERVICE_LABELS + 1);
        assert!(text.contains(&format!("service=\"{OTHER_SERVICE}\",status=\"200\"}} 11")));
        assert!(text.contains("service=\"svc0\",status=\"200\"} 2"));
        assert!(!text.lines().any(|l| l.starts_with("injected")));
    }
}
