//! The gateway core driven in-process, with no HTTP in front of it: a request and its
//! caller go in, the answer and one outcome come out. The local engine is the real
//! SmolLM2 (the smallest real model, from `scripts/fetch-models`); the provider is the
//! mock cloud, in-process, whose model names pick its behaviour. Every row the core
//! writes is kept by a recording ledger, so the tests read the outcome exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use serde_json::json;
use tierlm_api::chat::ChatCompletionRequest;
use tierlm_api::ErrorCode;
use tierlm_gateway::config::{parse_str, Overrides};
use tierlm_gateway::keys::Caller;
use tierlm_gateway::load::load_models;
use tierlm_gateway::{Body, ChatCall, ChatEvent, Gateway, RequestMeta};
use tierlm_ledger::{
    KeyRecord, KeyStore, LedgerError, LedgerStore, NewKey, PicoUsd, Row, Store, UsageQuery,
    UsageReport,
};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A ledger that keeps every row it is given, over a real one (for keys and spend).
struct Recording {
    inner: Arc<dyn Store>,
    rows: Mutex<Vec<Row>>,
}

impl LedgerStore for Recording {
    fn insert(&self, row: &Row) -> Result<(), LedgerError> {
        self.rows.lock().unwrap().push(row.clone());
        self.inner.insert(row)
    }
    fn usage(&self, q: &UsageQuery) -> Result<UsageReport, LedgerError> {
        self.inner.usage(q)
    }
    fn count(&self) -> Result<u64, LedgerError> {
        self.inner.count()
    }
}

impl KeyStore for Recording {
    fn create_key(&self, k: &NewKey) -> Result<(KeyRecord, String), LedgerError> {
        self.inner.create_key(k)
    }
    fn find_key(&self, secret: &str) -> Result<Option<KeyRecord>, LedgerError> {
        self.inner.find_key(secret)
    }
    fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, LedgerError> {
        self.inner.list_keys(tenant)
    }
    fn revoke_key(&self, key_id: &str) -> Result<bool, LedgerError> {
        self.inner.revoke_key(key_id)
    }
    fn spent(&self, key_id: &str, since_ms: Option<i64>) -> Result<PicoUsd, LedgerError> {
        self.inner.spent(key_id, since_ms)
    }
}

/// A gateway under test, the mock it calls and what the mock received.
struct Harness {
    gw: Gateway,
    ledger: Arc<Recording>,
    recorded: PathBuf,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Harness {
    /// Start the mock cloud in-process and a gateway with SmolLM2, the mock as provider
    /// `mock` (and a dead provider `dead`), and `extra` TOML.
    async fn start(extra: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tierlm-core-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let recorded = dir.join("mock.jsonl");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mock = listener.local_addr().unwrap();
        let mock_cfg = tierlm_mockcloud::Config {
            record: Some(recorded.clone()),
            ..Default::default()
        };
        tierlm_gateway::tasks::Tasks::new().spawn(tierlm_mockcloud::serve(
            mock_cfg,
            listener,
            std::future::pending(),
        ));
        let models = repo().join("models");
        let toml = format!(
            r#"
[[models]]
name = "smollm2-135m"
path = "{model}"
context_size = 1024
parallel = 2

[[providers]]
name = "mock"
kind = "openai_compatible"
base_url = "http://{mock}/v1"

[[providers]]
name = "dead"
kind = "openai_compatible"
base_url = "http://127.0.0.1:9/v1"
max_retries = 0

[[cloud_models]]
name = "frontier"
targets = ["mock/gpt-4o-mini"]

[[cloud_models]]
name = "doomed-with-local"
targets = ["dead/gpt-4o"]
fallback_local = "smollm2-135m"

[ledger]
baseline_model = "gpt-4o"
{extra}"#,
            model = models.join("SmolLM2-135M-Instruct.Q4_1.gguf").display(),
        );
        let cfg = parse_str(&toml)
            .unwrap()
            .load(&Overrides {
                data_dir: Some(dir.clone()),
                threads: Some(2),
                ..Default::default()
            })
            .unwrap();
        let gw = Gateway::new(cfg);
        let loader = gw.clone();
        let mut reg = tokio::task::spawn_blocking(move || load_models(&loader))
            .await
            .unwrap()
            .expect("models load (run scripts/fetch-models)");
        let ledger = Arc::new(Recording {
            inner: reg.ledger.clone().expect("the ledger is on by default"),
            rows: Mutex::default(),
        });
        reg.ledger = Some(ledger.clone());
        gw.install(reg);
        Self {
            gw,
            ledger,
            recorded,
            _dir: TempDir(dir),
        }
    }

    async fn chat(
        &self,
        body: serde_json::Value,
        caller: Option<Caller>,
    ) -> Result<tierlm_gateway::ChatAnswer, tierlm_api::ApiError> {
        self.chat_hinted(body, caller, None).await
    }

    async fn chat_hinted(
        &self,
        body: serde_json::Value,
        caller: Option<Caller>,
        hint: Option<tierlm_router::Hint>,
    ) -> Result<tierlm_gateway::ChatAnswer, tierlm_api::ApiError> {
        let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
        let call = ChatCall {
            request,
            caller,
            meta: RequestMeta::now(format!("req-{}", self.rows().len()), None),
            hint,
            endpoint: tierlm_gateway::Endpoint::ChatCompletions,
        };
        self.gw.chat(call).await
    }

    fn rows(&self) -> Vec<Row> {
        self.ledger.rows.lock().unwrap().clone()
    }

    fn last_row(&self) -> Row {
        self.rows().pop().expect("a ledger row")
    }

    /// Every body the mock received, as one string.
    fn sent(&self) -> String {
        std::fs::read_to_string(&self.recorded).unwrap_or_default()
    }
}

fn ask(model: &str, text: &str) -> serde_json::Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 6, "temperature": 0})
}

#[tokio::test]
async fn a_local_answer_leaves_one_row_with_its_exact_tokens() {
    let h = Harness::start("").await;
    let answer = h.chat(ask("smollm2-135m", "Say hi"), None).await.unwrap();
    assert_eq!(answer.facts.route, tierlm_gateway::Route::Local);
    let Body::Whole(c) = answer.body else {
        panic!("a whole answer")
    };
    let row = h.last_row();
    assert_eq!((row.route.as_str(), row.status), ("local", 200));
    assert_eq!(row.served_model.as_deref(), Some("smollm2-135m"));
    assert_eq!(
        (row.prompt_tokens, row.completion_tokens),
        (c.usage.prompt_tokens, c.usage.completion_tokens)
    );
    assert!(row.counterfactual_cost > 0 && row.cost == 0, "{row:?}");
}

#[tokio::test]
async fn a_stream_writes_its_row_when_it_ends_and_a_dropped_one_says_499() {
    let h = Harness::start("").await;
    let mut body = ask("smollm2-135m", "Count to three");
    body["stream"] = json!(true);
    let answer = h.chat(body.clone(), None).await.unwrap();
    let Body::Stream(events) = answer.body else {
        panic!("a stream")
    };
    assert!(h.rows().is_empty(), "no row before the stream ends");
    let events: Vec<ChatEvent> = events.collect().await;
    let Some(ChatEvent::Done(usage)) = events.last() else {
        panic!("ends with Done: {events:?}")
    };
    let row = h.last_row();
    assert_eq!(
        (row.status, row.completion_tokens),
        (200, usage.completion_tokens)
    );
    assert!(row.ttft_ms.is_some(), "a stream has a time to first token");

    let answer = h.chat(body, None).await.unwrap();
    let Body::Stream(mut events) = answer.body else {
        panic!("a stream")
    };
    let _first = events.next().await;
    drop(events); // the client hangs up
    h.gw.tasks().drain(std::time::Duration::from_secs(5)).await;
    let row = h.last_row();
    assert_eq!(row.status, 499);
    assert_eq!(row.reason.as_deref(), Some("client_closed"));
    assert_eq!(h.rows().len(), 2);
}

#[tokio::test]
async fn a_cloud_answer_is_priced_from_the_catalog_and_says_so() {
    let h = Harness::start("").await;
    let answer = h
        .chat(ask("frontier", "Tell me about tides"), None)
        .await
        .unwrap();
    assert_eq!(answer.facts.route, tierlm_gateway::Route::Cloud);
    assert_eq!(answer.facts.provider.as_deref(), Some("mock"));
    let cost = answer.facts.cost.expect("a cloud answer has a cost");
    let row = h.last_row();
    assert_eq!(row.route, "cloud");
    assert_eq!(row.served_model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(u128::from(row.cost), cost.0);
    assert!(
        row.cost > 0 && row.counterfactual_cost > row.cost,
        "{row:?}"
    );
}

#[tokio::test]
async fn redacted_values_never_reach_the_provider_and_come_back_to_the_client() {
    let h = Harness::start("[guard]\ndefault_action = \"redact\"\n").await;
    let secret = "jane.doe@example.com";
    let answer = h
        .chat(ask("frontier", &format!("Write to {secret} please")), None)
        .await
        .unwrap();
    let sent = h.sent();
    assert!(sent.contains("EMAIL"), "a placeholder went out: {sent}");
    assert!(!sent.contains(secret), "the address left: {sent}");
    let Body::Whole(c) = answer.body else {
        panic!("a whole answer")
    };
    // The mock echoes the first words of the request: the client reads the value again.
    let text = c.choices[0].message.content.clone().unwrap();
    assert!(text.contains(secret), "{text}");
    assert_eq!(h.last_row().route, "cloud");
}

#[tokio::test]
async fn a_dead_cloud_falls_back_to_the_local_model_and_says_why() {
    let h = Harness::start("").await;
    let answer = h.chat(ask("doomed-with-local", "hi"), None).await.unwrap();
    assert_eq!(answer.facts.route, tierlm_gateway::Route::Local);
    assert_eq!(
        answer.facts.reason.map(|r| r.as_str()),
        Some("cloud_failed_local_fallback")
    );
    let row = h.last_row();
    assert_eq!(
        (
            row.route.as_str(),
            row.reason.as_deref(),
            row.provider.as_deref()
        ),
        ("local", Some("cloud_failed_local_fallback"), None)
    );
}

#[tokio::test]
async fn the_cascade_answers_locally_when_sure_and_escalates_when_not() {
    let router = |threshold: f64| {
        format!(
            "[router]\nlocal_model = \"smollm2-135m\"\ncloud_model = \"frontier\"\ndefault_route = \"cascade\"\ndefault_min_confidence = {threshold}\n"
        )
    };
    let sure = Harness::start(&router(0.0)).await;
    let a = sure.chat(ask("auto", "Say yes"), None).await.unwrap();
    assert_eq!(a.facts.route, tierlm_gateway::Route::Local);
    assert_eq!(
        a.facts.reason.map(|r| r.as_str()),
        Some("cascade_confident")
    );
    assert_eq!(a.facts.tiers.len(), 1);
    assert!(a.facts.tiers[0].answered);

    // No free-text answer is certain of every token.
    let unsure = Harness::start(&router(1.0)).await;
    let a = unsure.chat(ask("auto", "Say yes"), None).await.unwrap();
    assert_eq!(a.facts.route, tierlm_gateway::Route::Escalated);
    assert_eq!(
        a.facts.reason.map(|r| r.as_str()),
        Some("cascade_low_confidence")
    );
    let tiers: Vec<(&str, bool)> = a
        .facts
        .tiers
        .iter()
        .map(|t| (t.tier.as_str(), t.answered))
        .collect();
    assert_eq!(tiers, [("smollm2-135m", false), ("frontier", true)]);
    let row = unsure.last_row();
    assert_eq!(row.route, "escalated");
    assert!(row.cost > 0, "the cloud's tokens are priced: {row:?}");
}

#[tokio::test]
async fn a_budget_smaller_than_the_request_refuses_it_before_anything_leaves() {
    let h = Harness::start("").await;
    let store = h.gw.ledger().unwrap();
    let (key, _secret) = store
        .create_key(&NewKey {
            tenant: "acme".into(),
            name: None,
            budget: Some(1), // one pico-dollar: less than any request's maximum cost
            period: tierlm_ledger::BudgetPeriod::Month,
            rpm: None,
            tpm: None,
            models: None,
        })
        .unwrap();
    let caller = || {
        Some(Caller {
            key: Arc::new(key.clone()),
            over_budget: false,
        })
    };
    let err = h
        .chat(ask("frontier", "An answer that costs money"), caller())
        .await
        .err()
        .expect("the reservation alone passes the budget");
    assert_eq!(err.code, ErrorCode::BudgetExceeded);
    let row = h.last_row();
    assert_eq!((row.status, row.tenant.as_deref()), (429, Some("acme")));
    // Nothing left the premises.
    assert!(h.sent().is_empty());
    let local = h.chat(ask("smollm2-135m", "Local is free"), caller()).await;
    assert!(local.is_ok(), "local answers need no budget");
}

/// A second, bigger local tier (Qwen2.5-Coder-0.5B) next to SmolLM2.
fn second_tier() -> String {
    let path = repo()
        .join("models")
        .join("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
    format!(
        "\n[[models]]\nname = \"qwen-0.5b\"\npath = \"{}\"\ncontext_size = 1024\nparallel = 1\n",
        path.display()
    )
}

#[tokio::test]
async fn a_request_climbs_every_local_tier_before_the_cloud() {
    let router = |cloud: &str| {
        format!(
            "[router]\nlocal_model = \"smollm2-135m\"\ncloud_model = \"{cloud}\"\ntiers = [\"student\", \"smollm2-135m\", \"qwen-0.5b\"]\ndefault_route = \"cascade\"\ndefault_min_confidence = 1.0\n{}",
            second_tier()
        )
    };
    // With a cloud: both local tiers are tried, in order, then the cloud answers.
    let h = Harness::start(&router("frontier")).await;
    let a = h.chat(ask("auto", "Name a colour"), None).await.unwrap();
    let tiers: Vec<(&str, bool, bool)> = a
        .facts
        .tiers
        .iter()
        .map(|t| (t.tier.as_str(), t.confidence.is_some(), t.answered))
        .collect();
    assert_eq!(
        tiers,
        [
            ("smollm2-135m", true, false),
            ("qwen-0.5b", true, false),
            ("frontier", false, true)
        ]
    );
    assert_eq!(a.facts.route, tierlm_gateway::Route::Escalated);
    let row = h.last_row();
    let tiers = row.tiers.expect("a routed row names its tiers");
    assert!(
        tiers.starts_with("smollm2-135m=")
            && tiers.contains(",qwen-0.5b=")
            && tiers.ends_with(",frontier*"),
        "{tiers}"
    );

    // Without one: the most confident local answer, and the reason says so.
    let h = Harness::start(&router("")).await;
    let a = h.chat(ask("auto", "Name a colour"), None).await.unwrap();
    assert_eq!(a.facts.route, tierlm_gateway::Route::Local);
    assert_eq!(a.facts.reason.map(|r| r.as_str()), Some("tiers_exhausted"));
    let answered: Vec<&str> = a
        .facts
        .tiers
        .iter()
        .filter(|t| t.answered)
        .map(|t| t.tier.as_str())
        .collect();
    assert_eq!(answered.len(), 1, "{:?}", a.facts.tiers);
    let best = a
        .facts
        .tiers
        .iter()
        .filter_map(|t| t.confidence)
        .fold(0.0, f64::max);
    assert_eq!(a.facts.confidence, Some(best));
    let row = h.last_row();
    assert_eq!(row.served_model.as_deref(), Some(answered[0]));
    assert!(h.sent().is_empty(), "nothing left the premises");
}

#[tokio::test]
async fn a_tier_that_would_miss_the_deadline_is_skipped() {
    let toml = format!(
        "[router]\nlocal_model = \"smollm2-135m\"\ncloud_model = \"frontier\"\ntiers = [\"smollm2-135m\", \"qwen-0.5b\"]\ndefault_route = \"cascade\"\ndefault_min_confidence = 1.0\ndeadline_ms = 1\n{}",
        second_tier()
    );
    let h = Harness::start(&toml).await;
    // Nothing is measured yet: every tier runs once.
    let a = h.chat(ask("auto", "Say hi"), None).await.unwrap();
    assert!(a.facts.tiers.iter().take(2).all(|t| t.confidence.is_some()));
    // Now both are known to take longer than 1 ms: the request goes straight up.
    let a = h.chat(ask("auto", "Say hi"), None).await.unwrap();
    assert_eq!(a.facts.reason.map(|r| r.as_str()), Some("local_too_slow"));
    let tried: Vec<bool> = a
        .facts
        .tiers
        .iter()
        .map(|t| t.confidence.is_some())
        .collect();
    assert_eq!(tried, [false, false, false]);
    assert_eq!(a.facts.route, tierlm_gateway::Route::Escalated);
}

#[tokio::test]
async fn data_kept_local_still_climbs_the_tiers_and_a_hint_can_name_one() {
    let toml = format!(
        "[router]\nlocal_model = \"smollm2-135m\"\ncloud_model = \"frontier\"\ntiers = [\"smollm2-135m\", \"qwen-0.5b\"]\ndefault_route = \"cascade\"\ndefault_min_confidence = 1.0\n[guard]\ndefault_action = \"allow\"\nactions = {{ EMAIL = \"local_only\" }}\n{}",
        second_tier()
    );
    let h = Harness::start(&toml).await;
    // An e-mail address must stay: both tiers are asked (no gate of 1.0 passes), the
    // more confident answers, the reason is the policy, and nothing is sent.
    let a = h
        .chat(
            ask("auto", "Write to ann.lee@example.com about lunch"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(a.facts.route, tierlm_gateway::Route::Local);
    assert_eq!(a.facts.reason.map(|r| r.as_str()), Some("guard_local_only"));
    let tried: Vec<&str> = a.facts.tiers.iter().map(|t| t.tier.as_str()).collect();
    assert_eq!(tried, ["smollm2-135m", "qwen-0.5b"]);
    assert_eq!(a.facts.tiers.iter().filter(|t| t.answered).count(), 1);
    assert!(h.sent().is_empty(), "nothing left the premises");
    // `local:MODEL` asks that tier alone, the profile's way.
    let hint = tierlm_router::Hint::parse("local:qwen-0.5b");
    let a = h
        .chat_hinted(ask("auto", "Name a colour"), None, hint)
        .await
        .unwrap();
    assert_eq!(a.facts.reason.map(|r| r.as_str()), Some("hint_local"));
    let tried: Vec<&str> = a.facts.tiers.iter().map(|t| t.tier.as_str()).collect();
    assert_eq!(tried, ["qwen-0.5b"]);
    assert_eq!(h.last_row().served_model.as_deref(), Some("qwen-0.5b"));
}
