//! The signing proxy's counters and their Prometheus text: requests by upstream service and
//! status (with a bounded number of service labels, since services come from clients' Host
//! headers), upstream latency, bytes and signing failures.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration as StdDuration;

/// Distinct `service` labels kept in the request counter; further services count as
/// [`OTHER_SERVICE`].
pub(super) const MAX_SERVICE_LABELS: usize = 64;
/// The `service` label of requests past [`MAX_SERVICE_LABELS`].
pub(super) const OTHER_SERVICE: &str = "other";

/// Extra labels and value of each series of a metric, for one listener's counters.
type MetricSeries<'a> = &'a dyn Fn(&MetricsInner) -> Vec<(String, String)>;

/// Counters for the admin listener.
#[derive(Debug, Default)]
pub struct ProxyMetrics {
    // Sync mutex: held only to update counters.
    inner: Mutex<MetricsInner>,
}

#[derive(Debug, Default, Clone)]
struct MetricsInner {
    requests: BTreeMap<(String, u16), u64>,
    latency_seconds_sum: f64,
    latency_count: u64,
    bytes_in: u64,
    bytes_out: u64,
    signing_failures: u64,
}

impl ProxyMetrics {
    pub(super) fn record(&self, service: &str, status: u16, latency: StdDuration, bytes_in: u64) {
        if let Ok(mut m) = self.inner.lock() {
            // Services come from clients' Host headers: past a bound, new ones share one series.
            let known = m.requests.keys().any(|(s, _)| s == service);
            let service = if known || distinct_services(&m.requests) < MAX_SERVICE_LABELS {
                service
            } else {
                OTHER_SERVICE
            };
            *m.requests.entry((service.to_owned(), status)).or_default() += 1;
            m.latency_seconds_sum += latency.as_secs_f64();
            m.latency_count += 1;
            m.bytes_in += bytes_in;
        }
    }

    pub(super) fn response_bytes(&self, bytes: u64) {
        if let Ok(mut m) = self.inner.lock() {
            m.bytes_out += bytes;
        }
    }

    pub(super) fn signing_failure(&self) {
        if let Ok(mut m) = self.inner.lock() {
            m.signing_failures += 1;
        }
    }

    /// Prometheus text for several proxy listeners (`listener` label), HELP/TYPE once each.
    pub fn render(listeners: &[(String, &ProxyMetrics)]) -> String {
        use std::fmt::Write;
        let snapshots: Vec<(&str, MetricsInner)> = listeners
            .iter()
            .map(|(name, metrics)| {
                (
                    name.as_str(),
                    metrics.inner.lock().map(|m| m.clone()).unwrap_or_default(),
                )
            })
            .collect();
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, series: MetricSeries<'_>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (listener, m) in &snapshots {
                let listener = crate::text::label_value(listener);
                for (labels, value) in series(m) {
                    let _ = writeln!(out, "{name}{{listener=\"{listener}\"{labels}}} {value}");
                }
            }
        };
        family(
            "tessera_proxy_requests_total",
            "counter",
            "Proxied requests by upstream service and status.",
            &|m| {
                m.requests
                    .iter()
                    .map(|((service, status), count)| {
                        (
                            format!(
                                ",service=\"{}\",status=\"{status}\"",
                                crate::text::label_value(service)
                            ),
                            count.to_string(),
                        )
                    })
                    .collect()
            },
        );
        family(
            "tessera_proxy_upstream_latency_seconds_sum",
            "counter",
            "Total time to the upstream's response headers.",
            &|m| vec![(String::new(), m.latency_seconds_sum.to_string())],
        );
        family(
            "tessera_proxy_upstream_latency_seconds_count",
            "counter",
            "Upstream responses timed.",
            &|m| vec![(String::new(), m.latency_count.to_string())],
        );
        family(
            "tessera_proxy_request_bytes_total",
            "counter",
            "Request body bytes declared by clients.",
            &|m| vec![(String::new(), m.bytes_in.to_string())],
        );
        family(
            "tessera_proxy_response_bytes_total",
            "counter",
            "Response body bytes declared by upstreams.",
            &|m| vec![(String::new(), m.bytes_out.to_string())],
        );
        family(
            "tessera_proxy_signing_failures_total",
            "counter",
            "Requests that could not be signed.",
            &|m| vec![(String::new(), m.signing_failures.to_string())],
        );
        out
    }
}

/// How many services have a series; keys sort by service, so a service's series are adjacent.
fn distinct_services(requests: &BTreeMap<(String, u16), u64>) -> usize {
    let mut previous: Option<&String> = None;
    requests
        .keys()
        .filter(|(service, _)| previous.replace(service) != Some(service))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_labels_are_bounded_and_escaped() {
        let metrics = ProxyMetrics::default();
        for i in 0..(MAX_SERVICE_LABELS + 10) {
            metrics.record(&format!("svc{i}"), 200, StdDuration::ZERO, 0);
        }
        metrics.record("svc0", 200, StdDuration::ZERO, 0);
        metrics.record("x\"} 1\ninjected", 200, StdDuration::ZERO, 0);
        let text = ProxyMetrics::render(&[("127.0.0.1:8080".into(), &metrics)]);
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
