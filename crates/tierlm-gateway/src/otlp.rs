//! Optional OpenTelemetry trace export: one span per inference request, sent as
//! OTLP/HTTP JSON to `[telemetry] otlp_endpoint` (`POST {endpoint}/v1/traces`).
//!
//! The ledger middleware builds a [`SpanData`] when a request's row is written, from
//! the same numbers, and hands it to the [`Exporter`] with a non-blocking `try_send`
//! into a bounded queue: when the queue is full the span is dropped and counted in
//! `tierlm_otlp_spans_dropped_total`, so a slow or absent collector never stalls a
//! request. A background task batches spans (up to [`MAX_BATCH`], or whatever arrived
//! within [`FLUSH_EVERY`]) and posts them; on graceful shutdown it drains the queue
//! once more. Spans follow the OpenTelemetry GenAI semantic conventions
//! (`gen_ai.*` attributes, name `{operation} {model}`) and never carry message
//! content. An incoming W3C `traceparent` header is continued: the span joins that
//! trace as a child of the caller's span.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tierlm_api::metrics::Counter;
use tierlm_providers::Secret;
use tokio::sync::{mpsc, Notify};

/// Spans waiting for export; more are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 4096;
/// Spans per export request.
pub const MAX_BATCH: usize = 512;
/// A partial batch is sent after this long.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// One export request's time limit.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_SERVICE_NAME: &str = "tierlm";

/// `[telemetry]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedTelemetry {
    /// The collector's OTLP/HTTP base URL, e.g. `http://127.0.0.1:4318`.
    pub otlp_endpoint: Option<String>,
    pub service_name: Option<String>,
    /// Extra request headers; a value `env::NAME` is read from the environment.
    pub headers: Option<BTreeMap<String, String>>,
}

/// Validated `[telemetry]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySettings {
    /// `{otlp_endpoint}/v1/traces`.
    pub traces_url: String,
    pub service_name: String,
    pub headers: Vec<(String, Secret)>,
}

/// Validate `[telemetry]`; `None` when no endpoint is set (export off).
pub fn settings(
    t: UninitializedTelemetry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<TelemetrySettings>, String> {
    let Some(endpoint) = t.otlp_endpoint else {
        if t.service_name.is_some() || t.headers.is_some() {
            return Err("telemetry: `service_name` and `headers` need `otlp_endpoint`".into());
        }
        return Ok(None);
    };
    let endpoint = endpoint.trim().trim_end_matches('/');
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(format!(
            "telemetry.otlp_endpoint must be an http:// or https:// URL, got `{endpoint}`"
        ));
    }
    let mut headers = Vec::new();
    for (name, value) in t.headers.unwrap_or_default() {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!(
                "telemetry.headers: `{name}` is not a valid header name"
            ));
        }
        let value = match value.strip_prefix("env::") {
            Some(var) => env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                format!("telemetry.headers.{name}: environment variable `{var}` is not set")
            })?,
            None => value,
        };
        if reqwest::header::HeaderValue::from_str(&value).is_err() {
            return Err(format!(
                "telemetry.headers.{name}: not a valid header value"
            ));
        }
        headers.push((name, Secret::new(value)));
    }
    let service_name = t
        .service_name
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string());
    if service_name.trim().is_empty() {
        return Err("telemetry.service_name must not be empty".into());
    }
    Ok(Some(TelemetrySettings {
        traces_url: format!("{endpoint}/v1/traces"),
        service_name,
        headers,
    }))
}

/// A request's place in a trace: its own span id, and the trace and parent span it
/// continues (from `traceparent`) or a fresh trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIds {
    pub trace_id: u128,
    pub span_id: u64,
    pub parent_span_id: Option<u64>,
}

impl TraceIds {
    /// Continue the caller's trace when `traceparent` is valid, else start one.
    pub fn from_traceparent(header: Option<&str>) -> Self {
        match header.and_then(parse_traceparent) {
            Some((trace_id, parent)) => Self {
                trace_id,
                span_id: random_nonzero(),
                parent_span_id: Some(parent),
            },
            None => Self {
                trace_id: (u128::from(random_nonzero()) << 64) | u128::from(random_u64()),
                span_id: random_nonzero(),
                parent_span_id: None,
            },
        }
    }
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; all-zero ids are invalid.
pub fn parse_traceparent(h: &str) -> Option<(u128, u64)> {
    let parts: Vec<&str> = h.trim().split('-').collect();
    let [version, trace, parent, flags, ..] = parts.as_slice() else {
        return None;
    };
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2) || *version == "ff" || !hex(trace, 32) || !hex(parent, 16) {
        return None;
    }
    if !hex(flags, 2) || (*version == "00" && parts.len() != 4) {
        return None;
    }
    let trace_id = u128::from_str_radix(trace, 16).ok()?;
    let parent_id = u64::from_str_radix(parent, 16).ok()?;
    (trace_id != 0 && parent_id != 0).then_some((trace_id, parent_id))
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// 64 unpredictable bits: std's randomly keyed SipHash over a counter and the clock.
fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    h.write_u128(unix_nanos());
    h.finish()
}

fn random_nonzero() -> u64 {
    loop {
        let v = random_u64();
        if v != 0 {
            return v;
        }
    }
}

/// Nanoseconds since the Unix epoch.
pub fn unix_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// What one request's span says. Numbers and names only, never message content.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanData {
    pub ids: TraceIds,
    /// `chat`, `text_completion` or `embeddings`.
    pub operation: &'static str,
    pub request_model: String,
    pub response_model: Option<String>,
    /// The cloud provider's configured name, or `tierlm.local`.
    pub provider: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub route: String,
    pub reason: Option<String>,
    pub tenant: Option<String>,
    pub request_id: String,
    pub cost_usd: f64,
    pub counterfactual_cost_usd: f64,
    pub ttft_ms: Option<u32>,
    pub status: u16,
    pub path: String,
    pub start_unix_nano: u128,
    pub end_unix_nano: u128,
}

/// The GenAI operation name of an inference path's endpoint (`chat_completions`…).
pub fn operation(endpoint: &str) -> &'static str {
    match endpoint {
        "completions" => "text_completion",
        "embeddings" => "embeddings",
        _ => "chat",
    }
}

fn s(key: &str, v: &str) -> Value {
    json!({"key": key, "value": {"stringValue": v}})
}

fn i(key: &str, v: i64) -> Value {
    // OTLP/JSON writes 64-bit integers as strings.
    json!({"key": key, "value": {"intValue": v.to_string()}})
}

fn d(key: &str, v: f64) -> Value {
    json!({"key": key, "value": {"doubleValue": v}})
}

impl SpanData {
    /// The OTLP/JSON `Span` object.
    pub fn to_json(&self) -> Value {
        let mut a = vec![
            s("gen_ai.operation.name", self.operation),
            s("gen_ai.provider.name", &self.provider),
        ];
        if !self.request_model.is_empty() {
            a.push(s("gen_ai.request.model", &self.request_model));
        }
        if let Some(m) = &self.response_model {
            a.push(s("gen_ai.response.model", m));
        }
        a.push(i("gen_ai.usage.input_tokens", i64::from(self.input_tokens)));
        if self.operation != "embeddings" {
            a.push(i(
                "gen_ai.usage.output_tokens",
                i64::from(self.output_tokens),
            ));
        }
        if let Some(n) = self.max_tokens {
            a.push(i("gen_ai.request.max_tokens", i64::from(n)));
        }
        if let Some(t) = self.temperature {
            a.push(d("gen_ai.request.temperature", f64::from(t)));
        }
        a.push(s("tierlm.route", &self.route));
        if let Some(r) = &self.reason {
            a.push(s("tierlm.reason", r));
        }
        if let Some(t) = &self.tenant {
            a.push(s("tierlm.tenant", t));
        }
        a.push(d("tierlm.cost_usd", self.cost_usd));
        a.push(d(
            "tierlm.counterfactual_cost_usd",
            self.counterfactual_cost_usd,
        ));
        if let Some(t) = self.ttft_ms {
            a.push(i("tierlm.ttft_ms", i64::from(t)));
        }
        if !self.request_id.is_empty() {
            a.push(s("tierlm.request_id", &self.request_id));
        }
        a.push(s("http.request.method", "POST"));
        a.push(s("url.path", &self.path));
        a.push(i("http.response.status_code", i64::from(self.status)));
        if self.status >= 400 {
            a.push(s("error.type", &self.status.to_string()));
        }
        let name = if self.request_model.is_empty() {
            self.operation.to_string()
        } else {
            format!("{} {}", self.operation, self.request_model)
        };
        // Server spans: 5xx is an error, 4xx is the client's (status left unset).
        let status = if self.status >= 500 {
            json!({"code": 2, "message": format!("HTTP {}", self.status)})
        } else {
            json!({"code": 0})
        };
        let mut span = json!({
            "traceId": format!("{:032x}", self.ids.trace_id),
            "spanId": format!("{:016x}", self.ids.span_id),
            "name": name,
            "kind": 2,
            "startTimeUnixNano": self.start_unix_nano.to_string(),
            "endTimeUnixNano": self.end_unix_nano.to_string(),
            "attributes": a,
            "status": status,
        });
        if let Some(p) = self.ids.parent_span_id {
            span["parentSpanId"] = json!(format!("{p:016x}"));
        }
        span
    }
}

/// The body of one `POST /v1/traces`.
pub fn export_body(service_name: &str, spans: &[SpanData]) -> Value {
    json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                s("service.name", service_name),
                s("service.version", env!("CARGO_PKG_VERSION")),
            ]},
            "scopeSpans": [{
                "scope": {"name": "tierlm", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans.iter().map(SpanData::to_json).collect::<Vec<_>>(),
            }],
        }],
    })
}

/// Export counters, shown on `/metrics`.
#[derive(Debug, Default)]
pub struct ExportStats {
    pub exported: Counter,
    pub dropped: Counter,
}

/// The background exporter (see the module docs).
pub struct Exporter {
    tx: mpsc::Sender<SpanData>,
    stats: Arc<ExportStats>,
    stop: Arc<Notify>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Exporter {
    /// Start the export task (call inside the Tokio runtime).
    pub fn start(
        settings: TelemetrySettings,
        stats: Arc<ExportStats>,
        tasks: &crate::tasks::Tasks,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("telemetry: cannot build the HTTP client: {e}"))?;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let stop = Arc::new(Notify::new());
        let sender = Sender {
            settings,
            client,
            stats: Arc::clone(&stats),
        };
        let task = tasks.spawn(run(sender, rx, Arc::clone(&stop)));
        Ok(Self {
            tx,
            stats,
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// Queue a span without waiting; a full queue drops it (and counts the drop).
    pub fn submit(&self, span: SpanData) {
        if self.tx.try_send(span).is_err() {
            self.stats.dropped.inc();
        }
    }

    /// Send what is queued and stop, waiting at most `limit`.
    pub async fn shutdown(&self, limit: Duration) {
        self.stop.notify_one();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            if tokio::time::timeout(limit, task).await.is_err() {
                tracing::warn!("telemetry: spans still unsent at shutdown were dropped");
            }
        }
    }
}

struct Sender {
    settings: TelemetrySettings,
    client: reqwest::Client,
    stats: Arc<ExportStats>,
}

impl Sender {
    async fn send(&self, spans: &[SpanData]) {
        for batch in spans.chunks(MAX_BATCH) {
            let body = export_body(&self.settings.service_name, batch);
            let mut req = self
                .client
                .post(&self.settings.traces_url)
                .header("content-type", "application/json")
                .body(body.to_string());
            for (name, value) in &self.settings.headers {
                req = req.header(name.as_str(), value.expose());
            }
            let n = batch.len() as u64;
            match req.send().await {
                Ok(r) if r.status().is_success() => self.stats.exported.add(n),
                Ok(r) => {
                    self.stats.dropped.add(n);
                    tracing::warn!(
                        status = r.status().as_u16(),
                        spans = n,
                        "telemetry: the collector refused spans"
                    );
                }
                Err(e) => {
                    self.stats.dropped.add(n);
                    tracing::warn!(error = %e, spans = n, "telemetry: cannot export spans");
                }
            }
        }
    }
}

async fn run(sender: Sender, mut rx: mpsc::Receiver<SpanData>, stop: Arc<Notify>) {
    let mut batch: Vec<SpanData> = Vec::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.notified() => {
                while let Ok(span) = rx.try_recv() {
                    batch.push(span);
                }
                sender.send(&batch).await;
                return;
            }
            item = rx.recv() => match item {
                Some(span) => {
                    batch.push(span);
                    if batch.len() >= MAX_BATCH {
                        sender.send(&std::mem::take(&mut batch)).await;
                    }
                }
                None => {
                    sender.send(&batch).await;
                    return;
                }
            },
            _ = tick.tick() => {
                if !batch.is_empty() {
                    sender.send(&std::mem::take(&mut batch)).await;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
