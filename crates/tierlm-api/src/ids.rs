//! Request and response ids and timestamps.
//!
//! Ids are 24 hex digits from the clock and a process-wide counter mixed through
//! SplitMix64: unique within a process, unpredictable enough for log correlation,
//! and free of any dependency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A fresh id with the given prefix, e.g. `new_id("chatcmpl")` → `chatcmpl-1a2b…`.
pub fn new_id(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let a = splitmix(nanos ^ n.rotate_left(32));
    let b = splitmix(a ^ n);
    format!("{prefix}-{a:016x}{:08x}", b as u32)
}

/// Seconds since the Unix epoch.
/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_prefixed() {
        let a = super::new_id("chatcmpl");
        let b = super::new_id("chatcmpl");
        assert!(a.starts_with("chatcmpl-"));
        assert_ne!(a, b);
        assert_eq!(a.len(), "chatcmpl-".len() + 24);
    }
}
