//! Prometheus metrics of a daemon at one moment, encoded by the `prometheus-client` crate in
//! the Prometheus text format (version 0.0.4).
//!
//! The daemons keep their counters as plain numbers in their main loops (no atomics on the
//! packet path); on each scrape the main loop reads them into a [`Snapshot`], whose families
//! keep the order in which they were added, and answers with its [`Snapshot::encode`]d text.
//! Counter names are given without the `_total` suffix, which the encoder adds.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Snapshot::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A sample's labels: (name, value) pairs. Values are escaped by the encoder.
pub type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
enum Values {
    Counter(Vec<(Labels, u64)>),
    Gauge(Vec<(Labels, i64)>),
}

#[derive(Debug)]
struct Family {
    name: String,
    help: String,
    values: Values,
}

/// The metric families of one scrape, in the order they were added.
#[derive(Debug, Default)]
pub struct Snapshot {
    families: Vec<Family>,
}

impl Snapshot {
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter without labels; `name` without `_total`.
    pub fn counter(&mut self, name: impl Into<String>, help: impl Into<String>, value: u64) {
        self.counters(name, help, [(Labels::new(), value)]);
    }

    /// A counter family, one sample per label set; `name` without `_total`.
    pub fn counters(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
        samples: impl IntoIterator<Item = (Labels, u64)>,
    ) {
        let name = name.into();
        debug_assert!(!name.ends_with("_total"), "{name}: the encoder adds _total");
        let values = Values::Counter(samples.into_iter().collect());
        self.families.push(Family {
            name,
            help: help.into(),
            values,
        });
    }

    /// A gauge without labels.
    pub fn gauge(&mut self, name: impl Into<String>, help: impl Into<String>, value: i64) {
        self.gauges(name, help, [(Labels::new(), value)]);
    }

    /// A gauge family, one sample per label set.
    pub fn gauges(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
        samples: impl IntoIterator<Item = (Labels, i64)>,
    ) {
        let values = Values::Gauge(samples.into_iter().collect());
        self.families.push(Family {
            name: name.into(),
            help: help.into(),
            values,
        });
    }

    /// The Prometheus text (version 0.0.4) of every family, served as [`CONTENT_TYPE`].
    pub fn encode(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut text = String::new();
        // Writing to a String cannot fail, and every family here encodes.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
        text
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.families {
            match &f.values {
                Values::Counter(samples) => {
                    let mut metric =
                        encoder.encode_descriptor(&f.name, &f.help, None, MetricType::Counter)?;
                    for (labels, v) in samples {
                        ConstCounter::new(*v).encode(metric.encode_family(labels)?)?;
                    }
                }
                Values::Gauge(samples) => {
                    let mut metric =
                        encoder.encode_descriptor(&f.name, &f.help, None, MetricType::Gauge)?;
                    for (labels, v) in samples {
                        ConstGauge::new(*v).encode(metric.encode_family(labels)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Parses Prometheus text into `name{labels}` -> value, the way a scraper reads it: every
/// sample must follow a `# TYPE` line of its family (a counter's samples end in `_total`),
/// and no sample may repeat. For tests of what the daemons serve.
pub fn parse(text: &str) -> Result<std::collections::BTreeMap<String, f64>, String> {
    let mut samples = std::collections::BTreeMap::new();
    let mut family: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| format!("bad TYPE line: {line}"))?;
            family = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("no value: {line}"))?;
        let name = key.split('{').next().unwrap_or(key);
        let Some((family_name, kind)) = &family else {
            return Err(format!("sample before any TYPE line: {line}"));
        };
        if name != family_name {
            return Err(format!("sample {name} under TYPE {family_name}"));
        }
        if kind == "counter" && !name.ends_with("_total") {
            return Err(format!("counter sample without _total: {line}"));
        }
        let value: f64 = value.parse().map_err(|_| format!("bad value: {line}"))?;
        if samples.insert(key.to_owned(), value).is_some() {
            return Err(format!("sample repeated: {key}"));
        }
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_and_gauges_in_order_with_escaped_labels() {
        let mut s = Snapshot::new();
        s.counter("x_rx_frames", "Frames received.", 3);
        s.counters(
            "x_drops",
            "Dropped, by reason.",
            [(vec![("reason", "a\"b".to_owned())], 2)],
        );
        s.gauge("x_ready", "1 when ready.", 1);
        let text = s.encode();
        assert_eq!(
            text,
            "# HELP x_rx_frames_total Frames received.\n# TYPE x_rx_frames_total counter\nx_rx_frames_total 3\n\
             # HELP x_drops_total Dropped, by reason.\n# TYPE x_drops_total counter\nx_drops_total{reason=\"a\\\"b\"} 2\n\
             # HELP x_ready 1 when ready.\n# TYPE x_ready gauge\nx_ready 1\n"
        );
        let m = parse(&text).unwrap();
        assert_eq!(m["x_rx_frames_total"], 3.0);
        assert_eq!(m["x_drops_total{reason=\"a\\\"b\"}"], 2.0);
        assert_eq!(m["x_ready"], 1.0);
    }

    #[test]
    fn parse_refuses_what_a_scraper_would() {
        assert!(parse("x_total 1\n").is_err());
        assert!(parse("# TYPE x_total counter\ny_total 1\n").is_err());
        assert!(parse("# TYPE x counter\nx 1\n").is_err());
        assert!(parse("# TYPE x gauge\nx 1\nx 2\n").is_err());
        assert!(parse("# TYPE x gauge\nx one\n").is_err());
    }
}
