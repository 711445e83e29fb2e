//! What the gateway knows about its local tiers' speed: the time each model took to
//! answer a routed request (an exponentially weighted mean), and from it and the
//! model's queue, how long a new request would take. A tier that cannot answer before
//! the profile's deadline is skipped, so a request that may leave climbs on instead of
//! waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tierlm_engine::LocalModel;

/// Weight of the newest observation in the mean.
const ALPHA: f64 = 0.2;

/// Measured speed per local model.
#[derive(Debug, Default)]
pub struct TierSpeeds {
    mean_ms: Mutex<HashMap<String, f64>>,
}

impl TierSpeeds {
    /// A routed request on `model` took `took` from submission to its last token.
    pub fn observe(&self, model: &str, took: Duration) {
        let ms = took.as_secs_f64() * 1e3;
        if let Ok(mut m) = self.mean_ms.lock() {
            m.entry(model.to_string())
                .and_modify(|mean| *mean += ALPHA * (ms - *mean))
                .or_insert(ms);
        }
    }

    /// The mean time of one request on `model`, once one was measured.
    pub fn mean(&self, model: &str) -> Option<Duration> {
        let m = self.mean_ms.lock().ok()?;
        m.get(model).map(|ms| Duration::from_secs_f64(ms / 1e3))
    }

    /// How long a request submitted now would take on `model`: its mean time, once
    /// more for every full round of the queue ahead of it (`parallel` decode together).
    pub fn expected(&self, model: &LocalModel) -> Option<Duration> {
        let info = model.info();
        let mean = self.mean(&info.name)?;
        let rounds = 1 + model.queued() / u64::from(info.parallel.max(1));
        Some(mean.saturating_mul(u32::try_from(rounds).unwrap_or(u32::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_follows_the_newest_times() {
        let s = TierSpeeds::default();
        assert_eq!(s.mean("m"), None);
        s.observe("m", Duration::from_millis(100));
        assert_eq!(s.mean("m"), Some(Duration::from_millis(100)));
        for _ in 0..30 {
            s.observe("m", Duration::from_millis(200));
        }
        let ms = s.mean("m").unwrap().as_millis();
        assert!((195..=200).contains(&ms), "{ms}");
    }
}
