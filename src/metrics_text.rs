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
        };
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        name.clone_into(&mut self.family);
        self
    }

    /// One sample of the current family, its label values escaped.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: impl Display) -> &mut Self {
        self.out.push_str(&self.family);
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
}
