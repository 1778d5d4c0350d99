//! Prometheus text exposition (format 0.0.4), written in one place for serve, the proxy and the
//! anchor: each family's HELP and TYPE once, its samples right after them, every label value
//! escaped.

use std::fmt::{Display, Write};

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in cumulative buckets, with their sum and count.
    Histogram,
}

/// A metrics page being written.
#[derive(Debug, Default)]
pub struct MetricsText {
    out: String,
    family: String,
}

impl MetricsText {
    /// An empty page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: its HELP and TYPE lines. Its samples follow with [`MetricsText::sample`].
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        name.clone_into(&mut self.family);
        self
    }

    /// One sample of the current family, its label values escaped.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: impl Display) -> &mut Self {
        self.series("", labels, None, value)
    }

    /// One histogram of the current (histogram) family: `buckets` are (upper bound, count of
    /// observations in that bucket alone); they are written cumulatively, then `+Inf`, `_sum`
    /// and `_count`.
    pub fn histogram(
        &mut self,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) -> &mut Self {
        let mut cumulative = 0;
        for (bound, observed) in buckets {
            cumulative += observed;
            self.series("_bucket", labels, Some(&bound.to_string()), cumulative);
        }
        self.series("_bucket", labels, Some("+Inf"), count);
        self.series("_sum", labels, None, sum);
        self.series("_count", labels, None, count)
    }

    fn series(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        le: Option<&str>,
        value: impl Display,
    ) -> &mut Self {
        self.out.push_str(&self.family);
        self.out.push_str(suffix);
        let le = le.map(|bound| ("le", bound));
        let labels: Vec<(&str, &str)> = labels.iter().copied().chain(le).collect();
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{name}=\"{}\"", crate::text::label_value(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// The page.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_contiguous_and_labels_escaped() {
        let mut page = MetricsText::new();
        page.family("a_total", Kind::Counter, "As.")
            .sample(&[("x", "q\"uo\nte")], 1)
            .sample(&[], 2);
        page.family("b", Kind::Gauge, "Bs.")
            .sample(&[("k", "v"), ("l", "w")], 3.5);
        assert_eq!(
            page.finish(),
            "# HELP a_total As.\n# TYPE a_total counter\na_total{x=\"q\\\"uo\\nte\"} 1\na_total 2\n# HELP b Bs.\n# TYPE b gauge\nb{k=\"v\",l=\"w\"} 3.5\n"
        );
    }

    #[test]
    fn a_histogram_is_cumulative_with_inf_sum_and_count() {
        let mut page = MetricsText::new();
        page.family("lat_seconds", Kind::Histogram, "L.").histogram(
            &[("l", "a")],
            &[(0.1, 2), (1.0, 1)],
            1.5,
            4,
        );
        assert_eq!(
            page.finish(),
            "# HELP lat_seconds L.\n# TYPE lat_seconds histogram\nlat_seconds_bucket{l=\"a\",le=\"0.1\"} 2\nlat_seconds_bucket{l=\"a\",le=\"1\"} 3\nlat_seconds_bucket{l=\"a\",le=\"+Inf\"} 4\nlat_seconds_sum{l=\"a\"} 1.5\nlat_seconds_count{l=\"a\"} 4\n"
        );
    }
}
