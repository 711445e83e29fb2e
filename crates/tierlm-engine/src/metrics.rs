//! The engine's own metrics: queue depth, active sequences, batch sizes, prefix reuse.
//!
//! One [`EngineMetrics`] registry is shared by all models; each model records into
//! its own series (label `model="name"`), and the server renders the registry.

use std::sync::Arc;
use tierlm_api::metrics::{label_value, Counter, Exposition, Family, Gauge, Histogram};
use tierlm_api::metrics::{LATENCY_BUCKETS, SIZE_BUCKETS};

pub struct EngineMetrics {
    queue_depth: Family<Gauge>,
    active_sequences: Family<Gauge>,
    batch_tokens: Family<Histogram>,
    batch_sequences: Family<Histogram>,
    cached_prompt_tokens: Family<Counter>,
    queue_wait: Family<Histogram>,
    prompt_cache_bytes: Family<Gauge>,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        Self {
            queue_depth: Family::new(Gauge::default),
            active_sequences: Family::new(Gauge::default),
            batch_tokens: Family::new(|| Histogram::new(SIZE_BUCKETS)),
            batch_sequences: Family::new(|| Histogram::new(SIZE_BUCKETS)),
            cached_prompt_tokens: Family::new(Counter::default),
            queue_wait: Family::new(|| Histogram::new(LATENCY_BUCKETS)),
            prompt_cache_bytes: Family::new(Gauge::default),
        }
    }
}

/// The series of one model.
pub struct ModelMetrics {
    pub queue_depth: Arc<Gauge>,
    pub active_sequences: Arc<Gauge>,
    pub batch_tokens: Arc<Histogram>,
    pub batch_sequences: Arc<Histogram>,
    pub cached_prompt_tokens: Arc<Counter>,
    pub queue_wait: Arc<Histogram>,
    pub prompt_cache_bytes: Arc<Gauge>,
}

impl EngineMetrics {
    pub fn for_model(&self, model: &str) -> ModelMetrics {
        let l = format!("model=\"{}\"", label_value(model));
        ModelMetrics {
            queue_depth: self.queue_depth.get(&l),
            active_sequences: self.active_sequences.get(&l),
            batch_tokens: self.batch_tokens.get(&l),
            batch_sequences: self.batch_sequences.get(&l),
            cached_prompt_tokens: self.cached_prompt_tokens.get(&l),
            queue_wait: self.queue_wait.get(&l),
            prompt_cache_bytes: self.prompt_cache_bytes.get(&l),
        }
    }

    pub fn render(&self, e: &mut Exposition) {
        e.gauge(
            "tierlm_queue_depth",
            "Requests waiting for a sequence slot.",
            &self.queue_depth,
        );
        e.gauge(
            "tierlm_active_sequences",
            "Sequences being prefilled or decoded.",
            &self.active_sequences,
        );
        e.histogram(
            "tierlm_batch_size",
            "Sequences per llama.cpp decode step.",
            &self.batch_sequences,
        );
        e.histogram(
            "tierlm_batch_tokens",
            "Tokens per llama.cpp decode step.",
            &self.batch_tokens,
        );
        e.counter(
            "tierlm_prefix_cache_hit_tokens_total",
            "Prompt tokens served from the KV cache instead of recomputed.",
            &self.cached_prompt_tokens,
        );
        e.histogram(
            "tierlm_queue_wait_seconds",
            "Time from queueing to admission.",
            &self.queue_wait,
        );
        e.gauge(
            "tierlm_prompt_cache_bytes",
            "Host RAM held by saved sequence states (the RAM prompt cache).",
            &self.prompt_cache_bytes,
        );
    }
}
