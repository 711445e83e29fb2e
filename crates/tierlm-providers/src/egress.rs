//! What leaves the process: for every upstream attempt (retries and fallbacks
//! included) the provider, the upstream model and the sha256 of the exact request
//! bytes, collected per call so the gateway can write its egress audit.
//!
//! The body is serialised once, hashed, and those very bytes are sent, so the hash in
//! the audit is the hash of what went over the wire.
//!
//! With a *gate* ([`EgressNotes::gated`]) every attempt is first handed to the gate —
//! the gateway's audit writer — and sent only once the gate has accepted it (written
//! the entry durably): an audit that cannot be written stops the request before a byte
//! leaves, and a crash after sending still finds the attempt on the audit.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

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

/// Accepts (records) one attempt before it is sent; an error stops the attempt.
pub type EgressGate =
    Arc<dyn Fn(Egress) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The attempts of one call, in order, and the gate each must pass before it is sent.
#[derive(Default)]
pub struct EgressNotes {
    attempts: Mutex<Vec<Egress>>,
    gate: Option<EgressGate>,
}

impl std::fmt::Debug for EgressNotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressNotes")
            .field("gated", &self.gate.is_some())
            .finish_non_exhaustive()
    }
}

impl EgressNotes {
    /// Notes whose every attempt must first pass `gate`.
    pub fn gated(gate: EgressGate) -> Self {
        Self {
            attempts: Mutex::default(),
            gate: Some(gate),
        }
    }

    pub fn push(&self, e: Egress) {
        if let Ok(mut v) = self.attempts.lock() {
            v.push(e);
        }
    }

    /// Notes the attempt and waits for the gate (if any) to accept it; an error means
    /// the attempt must not be sent.
    pub async fn admit(&self, e: Egress) -> Result<(), String> {
        self.push(e.clone());
        match &self.gate {
            Some(gate) => gate(e).await,
            None => Ok(()),
        }
    }

    /// Everything noted so far (and clear).
    pub fn take(&self) -> Vec<Egress> {
        self.attempts
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

    #[tokio::test]
    async fn a_gate_sees_each_attempt_first_and_can_stop_it() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let n = EgressNotes::gated(Arc::new(move |e: Egress| {
            let s = Arc::clone(&s);
            Box::pin(async move {
                s.lock().unwrap().push(e.body_bytes);
                if e.body_bytes == 2 {
                    Err("disk full".to_string())
                } else {
                    Ok(())
                }
            })
        }));
        let attempt = |i: u64| Egress {
            provider: "p".into(),
            model: "m".into(),
            body_sha256: String::new(),
            body_bytes: i,
        };
        assert_eq!(n.admit(attempt(1)).await, Ok(()));
        assert_eq!(n.admit(attempt(2)).await, Err("disk full".to_string()));
        assert_eq!(*seen.lock().unwrap(), [1, 2]);
        assert_eq!(n.take().len(), 2);
    }
}
