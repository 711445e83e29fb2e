//! Who is calling and what their key has used: the authenticated [`Caller`] of a
//! request, and the per-key state the gateway keeps in memory (looked-up keys, the
//! minute's request and token counts, budget reservations in flight). The rules that
//! use them are in [`crate::keys`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tierlm_api::ids::unix_ms as now_ms;
use tierlm_ledger::{KeyRecord, PicoUsd};

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: Arc<KeyRecord>,
    /// The key's budget for the period is already spent (or reserved).
    pub over_budget: bool,
}

/// How long a looked-up key is trusted before the database is asked again (so a
/// revoked key stops working within this time).
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// A looked-up key (or its absence) and when it was looked up.
type CachedKey = (Instant, Option<Arc<KeyRecord>>);

/// Per-key counters and reservations, in memory.
#[derive(Default)]
pub struct KeyState {
    cache: Mutex<HashMap<String, CachedKey>>,
    windows: Mutex<HashMap<String, (i64, u32, u64)>>,
    reserved: Mutex<HashMap<String, PicoUsd>>,
}

impl KeyState {
    /// Count one request against the key's per-minute limits; `Err(seconds)` to wait.
    pub(crate) fn admit(&self, key: &KeyRecord) -> Result<(), u64> {
        let minute = now_ms() / 60_000;
        let retry = 60 - (now_ms() / 1000).rem_euclid(60) as u64;
        let Ok(mut w) = self.windows.lock() else {
            return Ok(());
        };
        let entry = w.entry(key.key_id.clone()).or_insert((minute, 0, 0));
        if entry.0 != minute {
            *entry = (minute, 0, 0);
        }
        if key.rpm.is_some_and(|rpm| entry.1 >= rpm) {
            return Err(retry);
        }
        if key.tpm.is_some_and(|tpm| entry.2 >= u64::from(tpm)) {
            return Err(retry);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Count a finished request's tokens against the key's per-minute token limit.
    pub fn add_tokens(&self, key_id: &str, tokens: u64) {
        let minute = now_ms() / 60_000;
        if let Ok(mut w) = self.windows.lock() {
            let entry = w.entry(key_id.to_string()).or_insert((minute, 0, 0));
            if entry.0 == minute {
                entry.2 += tokens;
            }
        }
    }

    /// What is reserved for the key's requests in flight.
    pub fn reserved(&self, key_id: &str) -> PicoUsd {
        self.reserved
            .lock()
            .map(|r| r.get(key_id).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Give back a reservation once the actual cost is in the ledger.
    pub fn release(&self, key_id: &str, amount: PicoUsd) {
        if let Ok(mut r) = self.reserved.lock() {
            if let Some(v) = r.get_mut(key_id) {
                *v = v.saturating_sub(amount);
            }
        }
    }

    /// A key looked up within the last [`KEY_CACHE_TTL`] (`Some(None)`: known unknown).
    pub(crate) fn cached(&self, secret: &str) -> Option<Option<Arc<KeyRecord>>> {
        let cache = self.cache.lock().ok()?;
        let (at, rec) = cache.get(secret)?;
        (at.elapsed() < KEY_CACHE_TTL).then(|| rec.clone())
    }

    /// Remember a lookup's result.
    pub(crate) fn remember(&self, secret: &str, found: Option<Arc<KeyRecord>>) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(secret.to_string(), (Instant::now(), found));
        }
    }

    /// Reserve `amount` for the key unless spent + reserved + amount would pass
    /// `budget`; whether it was reserved.
    pub(crate) fn try_reserve(
        &self,
        key_id: &str,
        spent: PicoUsd,
        amount: PicoUsd,
        budget: PicoUsd,
    ) -> bool {
        let Ok(mut reserved) = self.reserved.lock() else {
            return false;
        };
        let r = reserved.entry(key_id.to_string()).or_insert(0);
        if spent.saturating_add(*r).saturating_add(amount) > budget {
            return false;
        }
        *r += amount;
        true
    }
}
