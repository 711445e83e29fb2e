//! What leaves the process: for every upstream attempt (retries and fallbacks
//! included) the provider, the upstream model and the sha256 of the exact request
//! bytes, collected per call so the gateway can write its egress audit.
//!
//! The body is serialised once, hashed, and those very bytes are sent, so the hash in
//! the audit is the hash of what went over the wire.

use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// One upstream attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    pub provider: String,
    pub model: String,
    /// Lower-case hex.
    pub body_sha256: String,
    pub body_bytes: u64,
}

/// The attempts of one call, in order.
#[derive(Debug, Default)]
pub struct EgressNotes(Mutex<Vec<Egress>>);

impl EgressNotes {
    pub fn push(&self, e: Egress) {
        if let Ok(mut v) = self.0.lock() {
            v.push(e);
        }
    }

    /// Everything noted so far (and clear).
    pub fn take(&self) -> Vec<Egress> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_lower_hex_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn notes_collect_in_order_and_take_clears() {
        let n = EgressNotes::default();
        for i in 0..3u64 {
            n.push(Egress {
                provider: "p".into(),
                model: "m".into(),
                body_sha256: String::new(),
                body_bytes: i,
            });
        }
        let v = n.take();
        assert_eq!(
            v.iter().map(|e| e.body_bytes).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(n.take().is_empty());
    }
}
