//! Fault injection. The CLI flags set defaults; these request headers override them for
//! one request:
//!
//! | header | effect |
//! | --- | --- |
//! | `x-mock-latency-ms` | delay before answering (before the response headers) |
//! | `x-mock-first-token-ms` | delay before the first chunk of a stream |
//! | `x-mock-token-interval-ms` | delay between stream chunks |
//! | `x-mock-error-rate` | 0..=1: answer with an injected error; decided by a hash of (seed, request counter) |
//! | `x-mock-error-status` | status(es) of injected errors; several (comma-separated) are used in turn |
//! | `x-mock-retry-after` | seconds sent as `Retry-After` on 429 answers |
//! | `x-mock-reset-after-chunks` | cut a stream after N chunks, without a proper end |
//! | `x-mock-status` | always answer this status with a provider-shaped error body |
//!
//! A header that does not parse is ignored (the default applies).

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::http::HeaderMap;

use crate::config::Config;
use crate::text::mix;

/// The fault settings in force for one request.
#[derive(Debug, Clone)]
pub(crate) struct Faults {
    pub latency: Duration,
    pub first_token: Duration,
    pub token_interval: Duration,
    pub error_rate: f64,
    /// Statuses from `x-mock-error-status`; `None` uses the configured ones.
    pub error_statuses: Option<Vec<u16>>,
    pub retry_after: u64,
    pub reset_after_chunks: Option<u64>,
    pub forced_status: Option<u16>,
}

fn header<T: FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Parses `500,429, 503` (skipping anything that is not a status code).
pub(crate) fn parse_statuses(s: &str) -> Vec<u16> {
    s.split(',')
        .filter_map(|p| p.trim().parse::<u16>().ok())
        .filter(|s| (100..=999).contains(s))
        .collect()
}

impl Faults {
    pub(crate) fn resolve(cfg: &Config, headers: &HeaderMap) -> Self {
        let ms = |name: &str, default: u64| {
            Duration::from_millis(header::<u64>(headers, name).unwrap_or(default))
        };
        Self {
            latency: ms("x-mock-latency-ms", cfg.latency_ms),
            first_token: ms("x-mock-first-token-ms", cfg.first_token_ms),
            token_interval: ms("x-mock-token-interval-ms", cfg.token_interval_ms),
            error_rate: header::<f64>(headers, "x-mock-error-rate")
                .filter(|r| r.is_finite())
                .unwrap_or(cfg.error_rate)
                .clamp(0.0, 1.0),
            error_statuses: headers
                .get("x-mock-error-status")
                .and_then(|v| v.to_str().ok())
                .map(parse_statuses)
                .filter(|s| !s.is_empty()),
            retry_after: header(headers, "x-mock-retry-after").unwrap_or(cfg.retry_after),
            reset_after_chunks: header(headers, "x-mock-reset-after-chunks")
                .or(cfg.reset_after_chunks),
            forced_status: header::<u16>(headers, "x-mock-status")
                .filter(|s| (100..=999).contains(s)),
        }
    }

    /// The error to answer with, if any: the forced status, else an injected one when the
    /// hash of (seed, request number) falls under the error rate.
    pub(crate) fn error(
        &self,
        cfg: &Config,
        request_no: u64,
        turn: &AtomicU64,
    ) -> Option<(u16, String)> {
        if let Some(status) = self.forced_status {
            return Some((status, format!("mock: forced {status}")));
        }
        if self.error_rate <= 0.0 || unit(cfg.seed, request_no) >= self.error_rate {
            return None;
        }
        let statuses = self
            .error_statuses
            .as_deref()
            .unwrap_or(&cfg.error_statuses);
        let status = match statuses.len() {
            0 => 500,
            n => statuses[(turn.fetch_add(1, Relaxed) % n as u64) as usize],
        };
        Some((status, format!("mock: injected {status} error")))
    }
}

/// A uniform number in `[0, 1)` from (seed, n).
fn unit(seed: u64, n: u64) -> f64 {
    (mix(seed, n) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_is_deterministic_and_roughly_right() {
        let cfg = Config {
            error_rate: 0.25,
            ..Config::default()
        };
        let faults = Faults::resolve(&cfg, &HeaderMap::new());
        let turn = AtomicU64::new(0);
        let hits: Vec<bool> = (0..10_000)
            .map(|n| faults.error(&cfg, n, &turn).is_some())
            .collect();
        let rate = hits.iter().filter(|h| **h).count() as f64 / 10_000.0;
        assert!((0.22..0.28).contains(&rate), "{rate}");
        let again: Vec<bool> = (0..10_000)
            .map(|n| faults.error(&cfg, n, &turn).is_some())
            .collect();
        assert_eq!(hits, again);
    }

    #[test]
    fn statuses_in_turn() {
        let cfg = Config {
            error_rate: 1.0,
            ..Config::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-mock-error-status", "503, 429".parse().unwrap());
        let faults = Faults::resolve(&cfg, &headers);
        let turn = AtomicU64::new(0);
        let got: Vec<u16> = (0..4)
            .filter_map(|n| faults.error(&cfg, n, &turn))
            .map(|e| e.0)
            .collect();
        assert_eq!(got, vec![503, 429, 503, 429]);
    }
}
