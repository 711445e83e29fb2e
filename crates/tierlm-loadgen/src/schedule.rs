//! The open-loop send schedule: request `i` is due at `i / rate` seconds after the start,
//! whatever happened to the requests before it. The first `warmup × rate` requests are
//! marked as warm-up and left out of the statistics; the next `duration × rate` are
//! measured. Times are offsets from the start so they can be tested without a clock.

use std::time::Duration;

/// One scheduled request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Sequence number, from 0.
    pub index: u64,
    /// When it is due, from the start of the run.
    pub due: Duration,
    /// Whether it belongs to the warm-up.
    pub warmup: bool,
}

/// A fixed-rate schedule of warm-up then measured requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    warmup_count: u64,
    measured_count: u64,
}

impl Schedule {
    /// `rate` requests per second for `warmup` then `duration` seconds.
    pub fn new(rate: f64, warmup: f64, duration: f64) -> Result<Self, String> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!("rate must be a positive number, got {rate}"));
        }
        if !(warmup.is_finite() && warmup >= 0.0) {
            return Err(format!("warm-up must be >= 0 seconds, got {warmup}"));
        }
        if !(duration.is_finite() && duration > 0.0) {
            return Err(format!("duration must be > 0 seconds, got {duration}"));
        }
        let warmup_count = (warmup * rate).round() as u64;
        let measured_count = ((duration * rate).round() as u64).max(1);
        Ok(Self {
            rate,
            warmup_count,
            measured_count,
        })
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Measured requests.
    pub fn measured_count(&self) -> u64 {
        self.measured_count
    }

    /// All requests, warm-up included.
    pub fn total(&self) -> u64 {
        self.warmup_count + self.measured_count
    }

    /// When request `index` is due. Computed from the index (never by adding intervals)
    /// so rounding errors do not accumulate over long runs.
    pub fn due(&self, index: u64) -> Duration {
        Duration::from_secs_f64(index as f64 / self.rate)
    }

    /// Request `index`.
    pub fn slot(&self, index: u64) -> Slot {
        Slot {
            index,
            due: self.due(index),
            warmup: index < self.warmup_count,
        }
    }

    /// Where the measured window starts, from the start of the run.
    pub fn measured_start(&self) -> Duration {
        self.due(self.warmup_count)
    }

    /// Every slot in order.
    pub fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        (0..self.total()).map(|i| self.slot(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_spacing() {
        let s = Schedule::new(1000.0, 2.0, 5.0).unwrap();
        assert_eq!(s.slots().filter(|x| x.warmup).count(), 2000);
        assert_eq!(s.measured_count(), 5000);
        assert_eq!(s.total(), 7000);
        assert_eq!(s.due(0), Duration::ZERO);
        assert_eq!(s.due(1), Duration::from_millis(1));
        assert_eq!(s.due(6999), Duration::from_millis(6999));
        assert_eq!(s.measured_start(), Duration::from_secs(2));
    }

    #[test]
    fn warmup_flag_switches_at_the_boundary() {
        let s = Schedule::new(10.0, 1.0, 1.0).unwrap();
        let slots: Vec<Slot> = s.slots().collect();
        assert_eq!(slots.len(), 20);
        assert!(slots[9].warmup);
        assert!(!slots[10].warmup);
        assert_eq!(slots[10].due, Duration::from_secs(1));
    }

    #[test]
    fn no_drift_over_long_runs() {
        let s = Schedule::new(3.0, 0.0, 3600.0).unwrap();
        // 3 per second for an hour: the last one is due at exactly (10800-1)/3 s.
        let last = s.due(s.total() - 1);
        let want = Duration::from_secs_f64(10799.0 / 3.0);
        assert!(last.abs_diff(want) < Duration::from_micros(1));
        // Monotonic.
        let mut prev = Duration::ZERO;
        for slot in s.slots().step_by(997) {
            assert!(slot.due >= prev);
            prev = slot.due;
        }
    }

    #[test]
    fn zero_warmup_and_fractional_rates() {
        let s = Schedule::new(0.5, 0.0, 4.0).unwrap();
        assert_eq!(s.slots().filter(|x| x.warmup).count(), 0);
        assert_eq!(s.measured_count(), 2);
        assert_eq!(s.due(1), Duration::from_secs(2));
        assert!(!s.slot(0).warmup);
    }

    #[test]
    fn rejects_nonsense() {
        assert!(Schedule::new(0.0, 1.0, 1.0).is_err());
        assert!(Schedule::new(-5.0, 1.0, 1.0).is_err());
        assert!(Schedule::new(f64::NAN, 1.0, 1.0).is_err());
        assert!(Schedule::new(10.0, -1.0, 1.0).is_err());
        assert!(Schedule::new(10.0, 1.0, 0.0).is_err());
    }
}
