//! Replay a workload through the gateway core, in-process: the mock cloud starts as the
//! teacher (it answers each prompt with the workload's reference answer), every
//! configured provider is pointed at it, and the gateway loads the configured models.
//! Each item is then asked, as `--passes` says, of `auto` (routed), of each local tier
//! (the route hint `local:MODEL`; `local` when there is one tier) and of the cloud model
//! by name (the all-cloud baseline), and each answer and the facts the core gives for it
//! (route, reason, profile, class, confidence, cost, tiers) recorded. An item with a
//! `tenant` is sent as a caller of that tenant (its data policy applies), except to the
//! cloud baseline, which measures what the cloud would have answered. No HTTP sits
//! between the replay and the core: only the cloud is a server. A pass that is not run
//! leaves a [`skipped`] answer.

use std::time::{Duration, Instant};

use futures::StreamExt;
use std::sync::Arc;
use tierlm_api::chat::ChatCompletionRequest;
use tierlm_eval::{Answer, Item, Observation};

use tierlm_gateway::key_state::Caller;
use tierlm_gateway::{Body, ChatCall, Config, Gateway, RequestMeta};
use tierlm_ledger::{BudgetPeriod, KeyRecord};
use tierlm_providers::ProviderKind;
use tierlm_router::Hint;
use tokio::sync::oneshot;

/// The gateway under test; stops the mock cloud when dropped.
pub struct Servers {
    pub gateway: Gateway,
    /// The router's local tiers when it has more than one (each gets a pass).
    pub tiers: Vec<String>,
    /// The router's cloud model (the all-cloud pass asks it by name).
    pub cloud_model: String,
    mock_stop: Option<oneshot::Sender<()>>,
}

impl Servers {
    /// Wait for the gateway's background writes (ledger rows, captured records).
    pub async fn drain(&self) {
        self.gateway.tasks().drain(Duration::from_secs(30)).await;
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        if let Some(s) = self.mock_stop.take() {
            let _ = s.send(());
        }
    }
}

/// Start the mock teacher and the gateway; returns once the gateway is ready.
pub async fn start(mut cfg: Config, items: &[Item]) -> Result<Servers, String> {
    let fixtures = items
        .iter()
        .filter_map(|i| {
            i.last_user_text().map(|t| tierlm_mockcloud::Fixture {
                prompt: t.to_string(),
                answer: i.reference.clone(),
                model: None,
            })
        })
        .collect();
    let mock_cfg = tierlm_mockcloud::Config {
        fixtures,
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("mock cloud: {e}"))?;
    let mock = listener
        .local_addr()
        .map_err(|e| format!("mock cloud: {e}"))?;
    let (mock_stop, mock_rx) = oneshot::channel::<()>();
    // A measurement tool: the mock and the gateway under test end with the run.
    #[allow(clippy::disallowed_methods)]
    tokio::spawn(tierlm_mockcloud::serve(mock_cfg, listener, async move {
        let _ = mock_rx.await;
    }));
    for p in &mut cfg.cloud.providers {
        p.base_url = match p.kind {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => format!("http://{mock}/v1"),
            ProviderKind::Anthropic | ProviderKind::Gemini => format!("http://{mock}"),
        };
    }
    let (tiers, cloud_model) = cfg
        .router
        .as_ref()
        .map(|r| (r.tiers.clone(), r.cloud_model.clone()))
        .unwrap_or_default();
    let tiers: Vec<String> = tiers
        .iter()
        .filter(|t| t.as_str() != tierlm_router::STUDENT_TIER)
        .cloned()
        .collect();
    let tiers = if tiers.len() > 1 { tiers } else { Vec::new() };
    let gateway = Gateway::new(cfg);
    gateway.start_telemetry()?;
    let loader = gateway.clone();
    let registry = gateway
        .tasks()
        .spawn_blocking(move || tierlm_gateway::load::load_models(&loader))
        .await
        .map_err(|e| format!("loading the models failed: {e}"))??;
    gateway.install(registry);
    Ok(Servers {
        gateway,
        tiers,
        cloud_model,
        mock_stop: Some(mock_stop),
    })
}

/// How one pass asks an item.
#[derive(Clone)]
enum Ask {
    /// `auto`, with an optional route hint.
    Auto(Option<Hint>),
    /// A model by name, as no caller (the all-cloud baseline).
    Model(String),
}

/// The caller an item's application sends as: a key of its tenant, no budget.
fn caller(item: &Item) -> Option<Caller> {
    let tenant = item.tenant.clone()?;
    let key = KeyRecord {
        key_id: format!("eval-{tenant}"),
        tenant,
        name: Some("tierlm eval".into()),
        created_ms: 0,
        revoked_ms: None,
        budget: None,
        period: BudgetPeriod::Month,
        rpm: None,
        tpm: None,
        models: None,
    };
    Some(Caller {
        key: Arc::new(key),
        over_budget: false,
    })
}

/// Ask one item once of the core.
async fn ask(gateway: &Gateway, item: &Item, how: Ask, n: usize) -> Answer {
    let (model, hint, caller) = match how {
        Ask::Auto(hint) => ("auto".to_string(), hint, caller(item)),
        Ask::Model(m) => (m, None, None),
    };
    let mut body = serde_json::json!({
        "model": model,
        "messages": item.messages,
        "temperature": 0,
    });
    if let Some(m) = item.max_tokens {
        body["max_tokens"] = m.into();
    }
    if let Some(f) = &item.response_format {
        body["response_format"] = f.clone();
    }
    let mut answer = Answer::default();
    let request: ChatCompletionRequest = match serde_json::from_value(body) {
        Ok(r) => r,
        Err(e) => {
            answer.error = Some(format!("the item is not a chat request: {e}"));
            return answer;
        }
    };
    let started = Instant::now();
    let call = ChatCall {
        request,
        caller,
        meta: RequestMeta::now(format!("eval-{n}"), None),
        hint,
        endpoint: tierlm_gateway::Endpoint::ChatCompletions,
    };
    let result = gateway.chat(call).await;
    answer.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let served = match result {
        Ok(a) => a,
        Err(e) => {
            answer.error = Some(format!("{}: {}", e.status(), e.message));
            return answer;
        }
    };
    let f = &served.facts;
    answer.route = f.route.as_str().to_string();
    answer.reason = f.reason.map(|r| r.as_str().to_string()).unwrap_or_default();
    answer.profile = f.profile.clone();
    answer.class = f.class.map(str::to_string);
    answer.confidence = f.confidence;
    answer.cost_usd = f.cost.map_or(0.0, |c| c.0 as f64 / 1e12);
    answer.model = f.model.clone();
    answer.tiers = tierlm_gateway::outcome::tiers_text(&f.tiers);
    match served.body {
        Body::Whole(c) => {
            answer.text = c
                .choices
                .first()
                .and_then(|c| c.message.content.clone())
                .unwrap_or_default();
        }
        Body::Stream(_) => answer.error = Some("a streamed answer to a JSON request".into()),
    }
    answer
}

/// The `route` of an answer whose pass was not run (`--passes`).
pub const SKIPPED: &str = "skipped";

/// The answer recorded for a pass that was not run.
pub fn skipped() -> Answer {
    Answer {
        route: SKIPPED.to_string(),
        ..Answer::default()
    }
}

/// Which of the three passes to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passes {
    pub routed: bool,
    pub local: bool,
    pub cloud: bool,
}

impl Passes {
    /// All three passes (what the simulation and calibration need).
    pub fn all(&self) -> bool {
        self.routed && self.local && self.cloud
    }
}

/// Replay every item (each local tier, the cloud, then routed; the passes asked for),
/// `concurrency` at once.
pub async fn replay(
    servers: &Servers,
    items: &[Item],
    concurrency: usize,
    passes: Passes,
) -> Vec<Observation> {
    let gateway = &servers.gateway;
    let cloud_ask = match servers.cloud_model.as_str() {
        "" => Ask::Auto(Some(Hint::Cloud)),
        m => Ask::Model(m.to_string()),
    };
    let per_item = servers.tiers.len().max(1) + 2;
    let total = items.len();
    let mut done = 0usize;
    let mut out: Vec<(usize, Observation)> = Vec::with_capacity(total);
    let mut pending = futures::stream::iter(items.iter().enumerate())
        .map(|(i, item)| {
            let cloud_ask = cloud_ask.clone();
            async move {
                let n = per_item * i;
                let mut tiers = Vec::with_capacity(servers.tiers.len());
                for (t, model) in servers.tiers.iter().enumerate() {
                    tiers.push(match passes.local {
                        true => {
                            ask(
                                gateway,
                                item,
                                Ask::Auto(Some(Hint::Tier(model.clone()))),
                                n + t,
                            )
                            .await
                        }
                        false => skipped(),
                    });
                }
                let local = match (passes.local, tiers.first()) {
                    (_, Some(first)) => first.clone(),
                    (true, None) => ask(gateway, item, Ask::Auto(Some(Hint::Local)), n).await,
                    (false, None) => skipped(),
                };
                let cloud = match passes.cloud {
                    true => ask(gateway, item, cloud_ask, n + per_item - 2).await,
                    false => skipped(),
                };
                let routed = match passes.routed {
                    true => ask(gateway, item, Ask::Auto(None), n + per_item - 1).await,
                    false => skipped(),
                };
                (
                    i,
                    Observation {
                        item: item.clone(),
                        routed,
                        local,
                        cloud,
                        tiers,
                    },
                )
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some(o) = pending.next().await {
        out.push(o);
        done += 1;
        if done.is_multiple_of(10) || done == total {
            eprintln!("eval: {done}/{total} items replayed");
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, o)| o).collect()
}
