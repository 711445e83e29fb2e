//! Latency statistics: nearest-rank percentiles over microsecond samples, and the
//! per-class error counts with the first few error bodies. Percentiles are computed
//! from every sample (no histogram bucketing), so p99 of 3,000 requests is the 2,970th
//! smallest value, exactly.

use std::collections::BTreeMap;

use serde::Serialize;

/// Nearest-rank percentile `p` (0 < p <= 100) of an ascending slice; `None` when empty.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    // Rank = ceil(p/100 × n), at least 1.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted.get(idx).copied()
}

/// Summary of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub min_ms: f64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Summarise microsecond samples (sorted in place); `None` when there are none.
pub fn summarize(samples: &mut [u64]) -> Option<LatencySummary> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let sum: u128 = samples.iter().map(|&v| u128::from(v)).sum();
    let pick = |p: f64| percentile(samples, p).map(ms).unwrap_or(0.0);
    Some(LatencySummary {
        count: samples.len(),
        mean_ms: sum as f64 / samples.len() as f64 / 1000.0,
        p50_ms: pick(50.0),
        p90_ms: pick(90.0),
        p99_ms: pick(99.0),
        p999_ms: pick(99.9),
        max_ms: samples.last().copied().map(ms).unwrap_or(0.0),
        min_ms: samples.first().copied().map(ms).unwrap_or(0.0),
    })
}

/// An error body kept for the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorSample {
    pub class: String,
    pub status: Option<u16>,
    pub body: String,
}

/// Counts of outcomes by class (`ok`, `http_500`, `timeout`, ...) and the first error
/// bodies (at most `keep`, at most one per class first, then any).
#[derive(Debug, Clone, Default)]
pub struct Outcomes {
    pub counts: BTreeMap<String, u64>,
    pub samples: Vec<ErrorSample>,
    keep: usize,
}

impl Outcomes {
    pub fn new(keep: usize) -> Self {
        Self {
            counts: BTreeMap::new(),
            samples: Vec::new(),
            keep,
        }
    }

    /// Count one outcome; `sample` is kept for errors while there is room.
    pub fn add(&mut self, class: &str, sample: Option<ErrorSample>) {
        *self.counts.entry(class.to_string()).or_insert(0) += 1;
        if let Some(s) = sample {
            let new_class = !self.samples.iter().any(|x| x.class == s.class);
            if self.samples.len() < self.keep || (new_class && self.samples.len() < 2 * self.keep) {
                self.samples.push(s);
            }
        }
    }

    /// Requests counted as `ok`.
    pub fn ok(&self) -> u64 {
        self.counts.get("ok").copied().unwrap_or(0)
    }

    /// All requests counted.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// Cut `body` to at most `max` bytes on a character boundary.
pub fn truncate(body: &str, max: usize) -> String {
    if body.len() <= max {
        return body.to_string();
    }
    let mut end = max;
    while end > 0 && !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 90.0), Some(90));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&v, 99.9), Some(100));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
        // 3,000 samples: p99 is the 2,970th.
        let w: Vec<u64> = (1..=3000).collect();
        assert_eq!(percentile(&w, 99.0), Some(2970));
        // Two samples: p50 is the first, p51 the second.
        assert_eq!(percentile(&[10, 20], 50.0), Some(10));
        assert_eq!(percentile(&[10, 20], 51.0), Some(20));
    }

    #[test]
    fn summary_sorts_and_converts_to_ms() {
        let mut v = vec![3000, 1000, 2000, 4000];
        let s = summarize(&mut v).unwrap();
        assert_eq!(s.count, 4);
        assert_eq!(s.min_ms, 1.0);
        assert_eq!(s.max_ms, 4.0);
        assert_eq!(s.p50_ms, 2.0);
        assert_eq!(s.p99_ms, 4.0);
        assert!((s.mean_ms - 2.5).abs() < 1e-9);
        assert!(summarize(&mut []).is_none());
    }

    #[test]
    fn outcomes_count_and_keep_samples() {
        let mut o = Outcomes::new(2);
        let err = |c: &str| {
            Some(ErrorSample {
                class: c.into(),
                status: None,
                body: String::new(),
            })
        };
        o.add("ok", None);
        o.add("ok", None);
        o.add("http_500", err("http_500"));
        o.add("http_500", err("http_500"));
        o.add("http_500", err("http_500"));
        o.add("timeout", err("timeout"));
        assert_eq!(o.ok(), 2);
        assert_eq!(o.total(), 6);
        assert_eq!(o.counts["http_500"], 3);
        // Two kept, plus the first of a new class.
        assert_eq!(o.samples.len(), 3);
        assert_eq!(o.samples[2].class, "timeout");
    }

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
