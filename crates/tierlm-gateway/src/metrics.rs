//! The gateway's metrics and their Prometheus text exposition (the server's `/metrics`
//! route sends [`render`]'s text).
//!
//! Labels are bounded: `endpoint` is one of the routes, `model` one of the configured
//! model names (or empty when the request never reached a model), `status` the HTTP
//! status code. The ledger's cost metrics (`tierlm_ledger_*`, `tierlm_*_usd_total`) are
//! recorded once per committed ledger row, so they agree with `/v1/usage`; their
//! `model` label is a configured name or `other`, their `tenant` label one of the
//! first `[metrics] max_tenants` tenants seen or `other`.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tierlm_api::metrics::{
    label_value, Counter, Exposition, Family, Histogram, LabelCap, LATENCY_BUCKETS,
};

pub struct GatewayMetrics {
    pub requests: Family<Counter>,
    pub prompt_tokens: Family<Counter>,
    pub completion_tokens: Family<Counter>,
    pub ttft: Family<Histogram>,
    pub itl: Family<Histogram>,
    pub duration: Family<Histogram>,
    pub routes: Family<Counter>,
    pub route_decision: Family<Histogram>,
    pub guard_entities: Family<Counter>,
    pub guard_actions: Family<Counter>,
    pub ledger: LedgerMetrics,
    /// OTLP span export counters (zero when export is off).
    pub otlp: Arc<crate::otlp::ExportStats>,
}

/// One `route, model, tenant` series of the ledger's counters. Money is counted in
/// pico-dollars, as the ledger stores it, and shown in USD.
#[derive(Debug, Default)]
pub struct LedgerSeries {
    pub requests: Counter,
    pub prompt_tokens: Counter,
    pub completion_tokens: Counter,
    pub cost_pico: Counter,
    pub counterfactual_pico: Counter,
    pub savings_pico: Counter,
}

/// The cost metrics, recorded once per ledger row.
pub struct LedgerMetrics {
    pub series: Family<LedgerSeries>,
    pub duration: Family<Histogram>,
    /// How long writing a request's row took on its path (the insert, and the hop to
    /// a blocking thread where the store needs one).
    pub write: Family<Histogram>,
    tenants: LabelCap,
    models: LabelCap,
}

impl LedgerMetrics {
    /// `models`: the configured model names (any other is `other`); at most
    /// `max_tenants` tenants keep their own label.
    pub fn new(models: impl IntoIterator<Item = String>, max_tenants: usize) -> Self {
        Self {
            series: Family::new(LedgerSeries::default),
            duration: Family::new(|| Histogram::new(LATENCY_BUCKETS)),
            write: Family::new(|| Histogram::new(WRITE_BUCKETS)),
            tenants: LabelCap::new(max_tenants, []),
            models: LabelCap::only(models),
        }
    }

    /// One committed row. `tenant` is `None` for requests without a key.
    pub fn record(&self, row: &LedgerSample<'_>) {
        let tenant = row.tenant.map_or("", |t| self.tenants.label(t));
        let labels = format!(
            "route=\"{}\",model=\"{}\",tenant=\"{}\"",
            label_value(row.route),
            label_value(self.models.label(row.model)),
            label_value(tenant)
        );
        let s = self.series.get(&labels);
        s.requests.inc();
        s.prompt_tokens.add(u64::from(row.prompt_tokens));
        s.completion_tokens.add(u64::from(row.completion_tokens));
        s.cost_pico.add(row.cost_pico);
        s.counterfactual_pico.add(row.counterfactual_pico);
        s.savings_pico
            .add(row.counterfactual_pico.saturating_sub(row.cost_pico));
        self.duration
            .get(&format!("route=\"{}\"", label_value(row.route)))
            .observe(row.latency.as_secs_f64());
    }

    fn render(&self, e: &mut Exposition) {
        let series = self.series.snapshot();
        let name = "tierlm_ledger_requests_total";
        e.header(
            name,
            "counter",
            "Ledger rows (inference requests) by route, model and tenant.",
        );
        for (labels, s) in &series {
            e.sample(name, labels, s.requests.get());
        }
        let name = "tierlm_ledger_tokens_total";
        e.header(
            name,
            "counter",
            "Prompt and completion tokens of the ledger's rows.",
        );
        for (labels, s) in &series {
            let prompt = format!("{labels},kind=\"prompt\"");
            e.sample(name, &prompt, s.prompt_tokens.get());
            let completion = format!("{labels},kind=\"completion\"");
            e.sample(name, &completion, s.completion_tokens.get());
        }
        let money: [(&str, &str, Pico); 3] = [
            (
                "tierlm_cost_usd_total",
                "Cost of the ledger's rows in USD, as priced in the ledger.",
                |s| s.cost_pico.get(),
            ),
            (
                "tierlm_counterfactual_cost_usd_total",
                "What the same tokens would have cost on the frontier baseline model, in USD.",
                |s| s.counterfactual_pico.get(),
            ),
            (
                "tierlm_savings_usd_total",
                "Counterfactual minus actual cost in USD, summed over rows where it is positive.",
                |s| s.savings_pico.get(),
            ),
        ];
        for (name, help, pico) in money {
            e.header(name, "counter", help);
            for (labels, s) in &series {
                e.sample(name, labels, pico(s) as f64 / 1e12);
            }
        }
        e.histogram(
            "tierlm_ledger_request_duration_seconds",
            "Duration of inference requests by final route, as the ledger records it.",
            &self.duration,
        );
        e.histogram(
            "tierlm_ledger_write_seconds",
            "Time each request spent writing its ledger row (the row queue append, and any \
             disk sync or hop to a blocking thread).",
            &self.write,
        );
    }

    /// One row written (or failed) in `took`.
    pub fn record_write(&self, took: Duration) {
        self.write.get("").observe(took.as_secs_f64());
    }
}

/// Reads one money counter of a series, in pico-dollars.
type Pico = fn(&LedgerSeries) -> u64;

/// What the cost metrics take from one ledger row.
#[derive(Debug, Clone)]
pub struct LedgerSample<'a> {
    pub route: &'a str,
    pub model: &'a str,
    pub tenant: Option<&'a str>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub cost_pico: u64,
    pub counterfactual_pico: u64,
    pub latency: Duration,
}

/// Inter-token latency buckets: finer than request latency.
const ITL_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
];

/// Ledger write time buckets: from a page-cache append (microseconds) to a disk sync
/// or a database round trip (milliseconds).
const WRITE_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 1.0,
];

/// Router decision time buckets: the target is a few milliseconds.
const DECISION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1,
];

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new(
            LedgerMetrics::new([], crate::config::DEFAULT_MAX_TENANTS),
            Arc::default(),
        )
    }
}

impl GatewayMetrics {
    /// The metrics of a server with this configuration (its model names and label caps).
    pub fn for_config(cfg: &crate::config::Config) -> Self {
        let mut names: Vec<String> = cfg
            .models
            .iter()
            .flat_map(tierlm_engine::ModelConfig::served_names)
            .map(String::from)
            .collect();
        names.extend(cfg.embeddings.iter().map(|e| e.name.clone()));
        names.extend(cfg.cloud.models.iter().map(|m| m.name.clone()));
        if let Some(r) = &cfg.router {
            names.extend(r.models.iter().cloned());
        }
        Self::new(
            LedgerMetrics::new(names, cfg.metrics.max_tenants),
            Arc::default(),
        )
    }

    fn new(ledger: LedgerMetrics, otlp: Arc<crate::otlp::ExportStats>) -> Self {
        Self {
            ledger,
            otlp,
            requests: Family::new(Counter::default),
            prompt_tokens: Family::new(Counter::default),
            completion_tokens: Family::new(Counter::default),
            ttft: Family::new(|| Histogram::new(LATENCY_BUCKETS)),
            itl: Family::new(|| Histogram::new(ITL_BUCKETS)),
            duration: Family::new(|| Histogram::new(LATENCY_BUCKETS)),
            routes: Family::new(Counter::default),
            route_decision: Family::new(|| Histogram::new(DECISION_BUCKETS)),
            guard_entities: Family::new(Counter::default),
            guard_actions: Family::new(Counter::default),
        }
    }
}

fn model_label(model: &str) -> String {
    format!("model=\"{}\"", label_value(model))
}

impl GatewayMetrics {
    pub fn record_request(&self, endpoint: &str, model: &str, status: u16, took: Duration) {
        self.requests
            .get(&format!(
                "endpoint=\"{endpoint}\",model=\"{}\",status=\"{status}\"",
                label_value(model)
            ))
            .inc();
        self.duration
            .get(&format!("endpoint=\"{endpoint}\""))
            .observe(took.as_secs_f64());
    }

    /// One routed request's final route (`local|cloud|escalated|refused`), reason and
    /// profile (all bounded by the configuration), and the router's own time.
    pub fn record_route(&self, route: &str, reason: &str, profile: &str, took: Duration) {
        self.routes
            .get(&format!(
                "route=\"{route}\",reason=\"{reason}\",profile=\"{}\"",
                label_value(profile)
            ))
            .inc();
        self.route_decision.get("").observe(took.as_secs_f64());
    }

    /// Sensitive values found, by entity type (a bounded set), and the action taken.
    pub fn record_guard(&self, found: &std::collections::BTreeMap<String, u32>, action: &str) {
        for (kind, n) in found {
            self.guard_entities
                .get(&format!("type=\"{}\"", label_value(kind)))
                .add(u64::from(*n));
        }
        self.guard_actions
            .get(&format!("action=\"{action}\""))
            .inc();
    }

    /// Token counts of a served answer; the request's ledger row counts the same.
    pub fn record_tokens(&self, model: &str, prompt: u32, completion: u32) {
        let l = model_label(model);
        self.prompt_tokens.get(&l).add(u64::from(prompt));
        self.completion_tokens.get(&l).add(u64::from(completion));
    }
}

/// Timing of one generation's token stream: first token and the gaps between tokens.
pub struct TokenTimer {
    start: Instant,
    last: Option<Instant>,
    model: String,
}

impl TokenTimer {
    pub fn new(model: &str) -> Self {
        Self {
            start: Instant::now(),
            last: None,
            model: model_label(model),
        }
    }

    /// A token (or text delta) arrived.
    pub fn tick(&mut self, m: &GatewayMetrics) {
        let now = Instant::now();
        match self.last {
            None => {
                m.ttft
                    .get(&self.model)
                    .observe((now - self.start).as_secs_f64());
            }
            Some(prev) => m.itl.get(&self.model).observe((now - prev).as_secs_f64()),
        }
        self.last = Some(now);
    }
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric of the gateway in the Prometheus text format: its own, the
/// flywheel's (with `[distill]`) and the engine's.
pub fn render(
    m: &GatewayMetrics,
    distill: Option<&crate::distill::Distill>,
    engine: &tierlm_engine::EngineMetrics,
) -> String {
    let mut e = Exposition::default();
    e.counter(
        "tierlm_requests_total",
        "HTTP requests by endpoint, model and status.",
        &m.requests,
    );
    e.counter(
        "tierlm_prompt_tokens_total",
        "Prompt tokens processed.",
        &m.prompt_tokens,
    );
    e.counter(
        "tierlm_completion_tokens_total",
        "Completion tokens generated.",
        &m.completion_tokens,
    );
    e.histogram(
        "tierlm_time_to_first_token_seconds",
        "Time from request arrival to the first generated token.",
        &m.ttft,
    );
    e.histogram(
        "tierlm_inter_token_latency_seconds",
        "Time between consecutive generated tokens of a request.",
        &m.itl,
    );
    e.histogram(
        "tierlm_request_duration_seconds",
        "Request duration by endpoint.",
        &m.duration,
    );
    e.counter(
        "tierlm_routed_requests_total",
        "Requests to routed models by final route, reason and task profile.",
        &m.routes,
    );
    e.histogram(
        "tierlm_router_decision_seconds",
        "The router's own time per request, before any model runs.",
        &m.route_decision,
    );
    e.counter(
        "tierlm_guard_entities_total",
        "Sensitive values found in requests, by entity type.",
        &m.guard_entities,
    );
    e.counter(
        "tierlm_guard_requests_total",
        "Requests scanned by the data guard, by the action taken.",
        &m.guard_actions,
    );
    m.ledger.render(&mut e);
    plain_counters(
        &mut e,
        &[
            (
                "tierlm_otlp_spans_exported_total",
                "Request spans accepted by the OTLP collector.",
                m.otlp.exported.get(),
            ),
            (
                "tierlm_otlp_spans_dropped_total",
                "Request spans dropped: export queue full, collector unreachable or refusing.",
                m.otlp.dropped.get(),
            ),
        ],
    );
    if let Some(d) = distill {
        render_distill(d, &mut e);
    }
    engine.render(&mut e);
    e.finish()
}

/// The distillation flywheel's counters (only with `[distill]`).
fn render_distill(d: &crate::distill::Distill, e: &mut Exposition) {
    use std::sync::atomic::Ordering::Relaxed;
    let capture = d.capture_stats();
    let c = &d.counters;
    plain_counters(
        e,
        &[
            (
                "tierlm_distill_captured_total",
                "Teacher answers written to the distillation store.",
                capture.captured,
            ),
            (
                "tierlm_distill_capture_dropped_total",
                "Teacher answers not captured because the capture queue was full.",
                capture.dropped,
            ),
            (
                "tierlm_distill_capture_failed_total",
                "Teacher answers lost because the distillation store could not write them.",
                capture.failed,
            ),
            (
                "tierlm_distill_student_answers_total",
                "Requests answered by a promoted student.",
                c.student_answers.load(Relaxed),
            ),
            (
                "tierlm_distill_shadow_agree_total",
                "Shadow samples where the student agreed with the teacher.",
                c.shadow_agree.load(Relaxed),
            ),
            (
                "tierlm_distill_shadow_disagree_total",
                "Shadow samples where the student disagreed with the teacher.",
                c.shadow_disagree.load(Relaxed),
            ),
            (
                "tierlm_distill_drift_alarms_total",
                "Drift alarms raised by the students' drift monitors.",
                c.drift_alarms.load(Relaxed),
            ),
        ],
    );
}

/// Counters without labels: `(name, help, value)`.
fn plain_counters(e: &mut Exposition, counters: &[(&str, &str, u64)]) {
    for &(name, help, value) in counters {
        e.header(name, "counter", help);
        e.sample(name, "", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(model: &'a str, tenant: Option<&'a str>) -> LedgerSample<'a> {
        LedgerSample {
            route: "cloud",
            model,
            tenant,
            prompt_tokens: 10,
            completion_tokens: 4,
            cost_pico: 1_500_000,
            counterfactual_pico: 2_000_000,
            latency: Duration::from_millis(30),
        }
    }

    #[test]
    fn ledger_labels_are_capped() {
        let m = LedgerMetrics::new(["auto".to_string()], 2);
        for t in ["a", "b", "c", "d"] {
            m.record(&sample("auto", Some(t)));
        }
        m.record(&sample("made-up-model", None));
        let labels: Vec<String> = m.series.snapshot().into_iter().map(|(l, _)| l).collect();
        assert_eq!(
            labels,
            [
                "route=\"cloud\",model=\"auto\",tenant=\"a\"",
                "route=\"cloud\",model=\"auto\",tenant=\"b\"",
                "route=\"cloud\",model=\"auto\",tenant=\"other\"",
                "route=\"cloud\",model=\"other\",tenant=\"\"",
            ]
        );
        let other = m
            .series
            .get("route=\"cloud\",model=\"auto\",tenant=\"other\"");
        assert_eq!(other.requests.get(), 2, "c and d share the overflow series");
    }

    #[test]
    fn ledger_exposition_shows_usd_tokens_and_savings() {
        let m = LedgerMetrics::new(["auto".to_string()], 8);
        m.record(&sample("auto", Some("t")));
        m.record(&LedgerSample {
            cost_pico: 3_000_000,
            ..sample("auto", Some("t"))
        });
        let mut e = Exposition::default();
        m.render(&mut e);
        let text = e.finish();
        let l = "route=\"cloud\",model=\"auto\",tenant=\"t\"";
        for line in [
            format!("tierlm_ledger_requests_total{{{l}}} 2\n"),
            format!("tierlm_ledger_tokens_total{{{l},kind=\"prompt\"}} 20\n"),
            format!("tierlm_ledger_tokens_total{{{l},kind=\"completion\"}} 8\n"),
            format!("tierlm_cost_usd_total{{{l}}} 0.0000045\n"),
            format!("tierlm_counterfactual_cost_usd_total{{{l}}} 0.000004\n"),
            // The second row cost more than the baseline: it adds no savings.
            format!("tierlm_savings_usd_total{{{l}}} 0.0000005\n"),
            "# TYPE tierlm_cost_usd_total counter\n".to_string(),
            "tierlm_ledger_request_duration_seconds_count{route=\"cloud\"} 2\n".to_string(),
        ] {
            assert!(text.contains(&line), "missing {line:?} in\n{text}");
        }
    }
}
