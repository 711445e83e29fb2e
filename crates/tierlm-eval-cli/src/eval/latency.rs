//! `tierlm eval --decision-latency`: the router's own cost per request, before any
//! model runs — embedding the head of the request, comparing it with every profile,
//! the complexity cues and the policy — timed over every workload request with the
//! real embedding model and printed as percentiles.

use std::time::Duration;

use tierlm_api::chat::ChatCompletionRequest;
use tierlm_engine::EmbeddingModel;
use tierlm_eval::Item;
use tierlm_gateway::Config;
use tierlm_router::config::ClassifierKind;
use tierlm_router::{RouteContext, Router};

fn request(item: &Item) -> Result<ChatCompletionRequest, String> {
    serde_json::from_value(serde_json::json!({
        "model": "auto",
        "messages": item.messages,
    }))
    .map_err(|e| format!("item {}: {e}", item.id))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Time `rounds` decisions per item; prints a table (or JSON) and returns the p99.
pub fn run(cfg: &Config, items: &[Item], rounds: usize, json: bool) -> Result<Duration, String> {
    let router_cfg = cfg
        .router
        .clone()
        .ok_or("the configuration has no [router] section")?;
    let embedder = match &cfg.embeddings {
        Some(e) => {
            let encoder = match router_cfg.classifier {
                ClassifierKind::Contextual => Some(EmbeddingModel::load(e)?),
                ClassifierKind::Static => None,
            };
            Some(tierlm_router::classify::embedder(
                router_cfg.classifier,
                &e.path,
                encoder.as_ref(),
            )?)
        }
        None => None,
    };
    let router = Router::new(router_cfg, embedder)?;
    let requests: Vec<ChatCompletionRequest> =
        items.iter().map(request).collect::<Result<_, _>>()?;
    let ctx = RouteContext::default();
    // One warm-up pass: first calls allocate and fault in the weights.
    for r in &requests {
        router.decide(r, &ctx);
    }
    let mut times = Vec::with_capacity(requests.len() * rounds);
    for _ in 0..rounds {
        for r in &requests {
            times.push(router.decide(r, &ctx).elapsed);
        }
    }
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (p50, p90, p99) = (
        percentile(&times, 50.0),
        percentile(&times, 90.0),
        percentile(&times, 99.0),
    );
    let max = times.last().copied().unwrap_or_default();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "decisions": times.len(),
                "p50_us": us(p50), "p90_us": us(p90), "p99_us": us(p99), "max_us": us(max),
                "route_words": cfg.router.as_ref().map(|r| r.route_words),
                "classifier": cfg.router.as_ref().map(|r| format!("{:?}", r.classifier).to_lowercase()),
            })
        );
    } else {
        println!(
            "router decision time over {} decisions: p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
            times.len(),
            us(p50),
            us(p90),
            us(p99),
            us(max)
        );
    }
    Ok(p99)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_micros(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_micros(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_micros(100));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }
}
