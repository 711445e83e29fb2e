//! Retry timing and per-target circuit breakers.
//!
//! Backoff is exponential with full jitter, and a provider's `Retry-After` wins when
//! it asks for longer (up to a cap, past which waiting is pointless and the next
//! target is tried). A breaker opens after `failures` consecutive failures, rejects
//! calls for `cooldown`, then lets one probe through (half-open): success closes it,
//! failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, per target.
    pub max_retries: u32,
    pub base: Duration,
    pub max: Duration,
    /// A `Retry-After` longer than this moves on to the next target instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base: Duration::from_millis(100),
            max: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based); `None`: do not wait, move on.
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max);
        let jittered = exp.mul_f64(jitter.clamp(0.0, 1.0));
        match retry_after {
            Some(ra) if ra > self.max_retry_after => None,
            Some(ra) => Some(ra.max(jittered)),
            None => Some(jittered),
        }
    }
}

/// A cheap per-process jitter source in [0, 1).
pub fn jitter() -> f64 {
    let id = tierlm_api::ids::new_id("j");
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    failures: u32,
    opened_at: Option<Instant>,
    probing: bool,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                failures: 0,
                opened_at: None,
                probing: false,
            }),
        }
    }

    pub fn state(&self) -> BreakerState {
        self.inner
            .lock()
            .map(|i| i.state)
            .unwrap_or(BreakerState::Closed)
    }

    /// May a call go through now? In half-open state only one probe at a time.
    pub fn allow(&self, now: Instant) -> bool {
        let Ok(mut i) = self.inner.lock() else {
            return true;
        };
        match i.state {
            BreakerState::Closed => true,
            BreakerState::Open => {
                if i.opened_at
                    .is_some_and(|t| now.duration_since(t) >= self.cooldown)
                {
                    i.state = BreakerState::HalfOpen;
                    i.probing = true;
                    true
                } else {
                    false
                }
            }
            BreakerState::HalfOpen => {
                if i.probing {
                    false
                } else {
                    i.probing = true;
                    true
                }
            }
        }
    }

    pub fn success(&self) {
        if let Ok(mut i) = self.inner.lock() {
            if i.state != BreakerState::Closed {
                tracing::info!("circuit closed after a successful probe");
            }
            i.state = BreakerState::Closed;
            i.failures = 0;
            i.probing = false;
            i.opened_at = None;
        }
    }

    pub fn failure(&self, now: Instant) {
        if let Ok(mut i) = self.inner.lock() {
            i.failures += 1;
            let reopen = i.state == BreakerState::HalfOpen;
            if reopen || i.failures >= self.threshold {
                if i.state != BreakerState::Open {
                    tracing::warn!(failures = i.failures, "circuit opened");
                }
                i.state = BreakerState::Open;
                i.opened_at = Some(now);
                i.probing = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, None, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(p.delay(3, None, 1.0), Some(Duration::from_millis(800)));
        assert_eq!(p.delay(10, None, 1.0), Some(Duration::from_secs(5)));
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(2)), 0.5),
            Some(Duration::from_secs(2))
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(60)), 0.5), None);
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let b = CircuitBreaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(b.allow(t0));
            b.failure(t0);
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow(t0 + Duration::from_secs(1)));
        let later = t0 + Duration::from_secs(11);
        assert!(b.allow(later), "half-open lets one probe through");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(later), "only one probe at a time");
        b.failure(later);
        assert_eq!(b.state(), BreakerState::Open);
        let much_later = later + Duration::from_secs(11);
        assert!(b.allow(much_later));
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow(much_later));
    }
}
