//! Lock-free metric primitives and their Prometheus text rendering.
//!
//! Counters, gauges and fixed-bucket histograms on atomics, so the engine thread and
//! request handlers record without locks. Label sets are pre-rendered strings chosen
//! from a bounded set (model names, routes, status classes) by the caller; families
//! hold one series per label set.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram with explicit upper bounds (`le`), plus the implicit `+Inf`.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in micro-units, so it can live in an integer atomic.
    sum_micros: AtomicU64,
}

/// Latency buckets in seconds, from 1 ms to 60 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Batch-size buckets in tokens or sequences.
pub const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = if v.is_finite() && v > 0.0 {
            (v * 1e6) as u64
        } else {
            0
        };
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (b, n) in self.bounds.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{}le=\"{b}\"}} {cumulative}",
                label_prefix(labels)
            );
        }
        let count = self.count();
        let _ = writeln!(
            out,
            "{name}_bucket{{{}le=\"+Inf\"}} {count}",
            label_prefix(labels)
        );
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

fn label_prefix(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{labels},")
    }
}

fn braces(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

/// Escape a label value for the Prometheus text format.
pub fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Bounds a label's values: the first `max` distinct values (plus any pre-admitted
/// ones) keep their own series, every later one is reported as [`OTHER`]. Lookups of
/// admitted values take a read lock only.
#[derive(Debug)]
pub struct LabelCap {
    max: usize,
    seen: RwLock<std::collections::HashSet<String>>,
}

/// The label value that values past a [`LabelCap`] are reported as.
pub const OTHER: &str = "other";

impl LabelCap {
    /// At most `max` distinct values besides those in `fixed`, which are always admitted.
    pub fn new(max: usize, fixed: impl IntoIterator<Item = String>) -> Self {
        let seen: std::collections::HashSet<String> = fixed.into_iter().collect();
        Self {
            max: max.saturating_add(seen.len()),
            seen: RwLock::new(seen),
        }
    }

    /// A set that admits only `fixed`: any other value is [`OTHER`].
    pub fn only(fixed: impl IntoIterator<Item = String>) -> Self {
        Self::new(0, fixed)
    }

    /// The value to use as the label: `v` itself when admitted, else [`OTHER`].
    pub fn label<'a>(&self, v: &'a str) -> &'a str {
        if let Ok(seen) = self.seen.read() {
            if seen.contains(v) {
                return v;
            }
            if seen.len() >= self.max {
                return OTHER;
            }
        }
        match self.seen.write() {
            Ok(mut seen) => {
                if seen.contains(v) {
                    v
                } else if seen.len() < self.max {
                    seen.insert(v.to_string());
                    v
                } else {
                    OTHER
                }
            }
            Err(_) => OTHER,
        }
    }
}

/// One metric name with a series per label set.
#[derive(Debug)]
pub struct Family<T> {
    series: RwLock<BTreeMap<String, Arc<T>>>,
    make: fn() -> T,
}

impl<T> Family<T> {
    pub fn new(make: fn() -> T) -> Self {
        Self {
            series: RwLock::new(BTreeMap::new()),
            make,
        }
    }

    /// The series for `labels` (a rendered label list such as `model="x",status="200"`).
    pub fn get(&self, labels: &str) -> Arc<T> {
        if let Ok(map) = self.series.read() {
            if let Some(s) = map.get(labels) {
                return Arc::clone(s);
            }
        }
        match self.series.write() {
            Ok(mut map) => Arc::clone(
                map.entry(labels.to_string())
                    .or_insert_with(|| Arc::new((self.make)())),
            ),
            // A poisoned lock only means another thread panicked mid-insert; metrics
            // must never take the server down, so record into a detached series.
            Err(_) => Arc::new((self.make)()),
        }
    }

    /// Every series with its rendered label list, in label order.
    pub fn snapshot(&self) -> Vec<(String, Arc<T>)> {
        self.series
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect())
            .unwrap_or_default()
    }
}

/// Writes metrics in the Prometheus text exposition format.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// The `# HELP` and `# TYPE` lines of a metric whose samples follow via [`Self::sample`].
    pub fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn counter(&mut self, name: &str, help: &str, family: &Family<Counter>) {
        self.header(name, "counter", help);
        for (labels, c) in family.snapshot() {
            let _ = writeln!(self.out, "{name}{} {}", braces(&labels), c.get());
        }
    }

    pub fn gauge(&mut self, name: &str, help: &str, family: &Family<Gauge>) {
        self.header(name, "gauge", help);
        for (labels, g) in family.snapshot() {
            let _ = writeln!(self.out, "{name}{} {}", braces(&labels), g.get());
        }
    }

    pub fn histogram(&mut self, name: &str, help: &str, family: &Family<Histogram>) {
        self.header(name, "histogram", help);
        for (labels, h) in family.snapshot() {
            h.render(&mut self.out, name, &labels);
        }
    }

    /// One sample line: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{name}{} {value}", braces(labels));
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let fam: Family<Histogram> = Family::new(|| Histogram::new(LATENCY_BUCKETS));
        let h = fam.get("model=\"m\"");
        h.observe(0.002);
        h.observe(0.2);
        h.observe(100.0);
        let mut e = Exposition::default();
        e.histogram("lat_seconds", "x", &fam);
        let text = e.finish();
        assert!(text.contains("lat_seconds_bucket{model=\"m\",le=\"0.0025\"} 1"));
        assert!(text.contains("lat_seconds_bucket{model=\"m\",le=\"0.25\"} 2"));
        assert!(text.contains("lat_seconds_bucket{model=\"m\",le=\"+Inf\"} 3"));
        assert!(text.contains("lat_seconds_count{model=\"m\"} 3"));
    }

    #[test]
    fn label_cap_admits_the_first_values_then_other() {
        let cap = LabelCap::new(2, ["fixed".to_string()]);
        assert_eq!(cap.label("a"), "a");
        assert_eq!(cap.label("b"), "b");
        assert_eq!(cap.label("c"), OTHER);
        assert_eq!(cap.label("a"), "a", "admitted values keep their series");
        assert_eq!(
            cap.label("fixed"),
            "fixed",
            "pre-admitted values do not count"
        );
        let only = LabelCap::only(["m".to_string()]);
        assert_eq!(only.label("m"), "m");
        assert_eq!(only.label("x"), OTHER);
    }

    #[test]
    fn samples_render_with_their_header() {
        let mut e = Exposition::default();
        e.header("cost_usd_total", "counter", "USD.");
        e.sample("cost_usd_total", "tenant=\"t\"", 0.25);
        e.sample("cost_usd_total", "", 1);
        let text = e.finish();
        assert!(text.contains("# TYPE cost_usd_total counter\n"), "{text}");
        assert!(
            text.contains("cost_usd_total{tenant=\"t\"} 0.25\n"),
            "{text}"
        );
        assert!(text.contains("cost_usd_total 1\n"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
