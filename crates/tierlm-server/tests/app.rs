//! The whole app driven in-process with `oneshot`, on the real SmolLM2 model.
//! Needs `models/` (scripts/fetch-models); every test here loads the model once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::path::PathBuf;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tierlm_gateway::load::load_models;
use tierlm_server::config::{Overrides, UninitializedConfig};
use tierlm_server::{app, Gateway as AppState};
use tower::ServiceExt;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn state() -> AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE
        .get_or_init(|| {
            let models = repo_root().join("models");
            let cfg = UninitializedConfig::default()
                .load(&Overrides {
                    models: vec![(
                        "smol".into(),
                        models.join("SmolLM2-135M-Instruct.Q4_1.gguf"),
                    )],
                    embedding_model: Some(("minilm".into(), models.join("all-MiniLM-L6-v2"))),
                    context_size: Some(512),
                    parallel: Some(2),
                    threads: Some(2),
                    ..Default::default()
                })
                .expect("config");
            let state = AppState::new(cfg);
            let reg = load_models(&state).expect("models load (run scripts/fetch-models)");
            state.install(reg);
            state
        })
        .clone()
}

async fn call(
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(match body {
            Some(b) => Body::from(b.to_string()),
            None => Body::empty(),
        })
        .unwrap();
    raw(req).await
}

async fn raw(req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = app(state()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, v)
}

fn assert_error_shape(v: &Value) {
    let e = &v["error"];
    assert!(e["message"].is_string(), "{v}");
    assert!(e["type"].is_string(), "{v}");
    assert!(e.get("param").is_some() && e.get("code").is_some(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_answers_with_exact_usage_and_headers() {
    let (status, headers, v) = call(
        "POST",
        "/v1/chat/completions",
        Some(json!({"model":"smol","messages":[{"role":"user","content":"Say hello."}],"max_tokens":8,"temperature":0})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(headers["x-tierlm-route"], "local");
    assert!(headers.contains_key("x-request-id"));
    let usage = &v["usage"];
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert!((1..=8).contains(&completion));
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + completion
    );
    assert!(!v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn temperature_zero_is_deterministic_and_seeded_sampling_repeats() {
    let body = json!({"model":"smol","messages":[{"role":"user","content":"Name a fruit."}],"max_tokens":12,"temperature":0});
    let a = call("POST", "/v1/chat/completions", Some(body.clone()))
        .await
        .2;
    let b = call("POST", "/v1/chat/completions", Some(body)).await.2;
    assert_eq!(
        a["choices"][0]["message"]["content"],
        b["choices"][0]["message"]["content"]
    );
    let body = json!({"model":"smol","messages":[{"role":"user","content":"Write a word."}],"max_tokens":12,"temperature":1.0,"seed":42});
    let a = call("POST", "/v1/chat/completions", Some(body.clone()))
        .await
        .2;
    let b = call("POST", "/v1/chat/completions", Some(body)).await.2;
    assert_eq!(
        a["choices"][0]["message"]["content"],
        b["choices"][0]["message"]["content"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_schema_output_parses() {
    let schema = json!({"type":"object","properties":{"colour":{"type":"string","enum":["red","green","blue"]}},"required":["colour"],"additionalProperties":false});
    let (status, _, v) = call(
        "POST",
        "/v1/chat/completions",
        Some(json!({"model":"smol","messages":[{"role":"user","content":"Pick a colour."}],"max_tokens":32,"temperature":0,
            "response_format":{"type":"json_schema","json_schema":{"name":"c","schema":schema}}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(content).unwrap_or_else(|e| panic!("{content}: {e}"));
    assert!(["red", "green", "blue"].contains(&parsed["colour"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_have_the_openai_shape_and_status() {
    let cases = [
        (
            json!({"model":"nope","messages":[{"role":"user","content":"x"}]}),
            StatusCode::NOT_FOUND,
            "model_not_found",
        ),
        (
            json!({"model":"smol","messages":[]}),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            json!({"model":"smol","messages":"hi"}),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            json!({"model":"smol","messages":[{"role":"user","content":"x"}],"max_tokens":0}),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            json!({"model":"smol","messages":[{"role":"user","content":"x"}],"temperature":9}),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            json!({"model":"smol","messages":[{"role":"user","content":"x"}],"temprature":1}),
            StatusCode::BAD_REQUEST,
            "unknown_parameter",
        ),
        (
            json!({"model":"smol","messages":[{"role":"user","content":"x"}],"n":99}),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            json!({"model":"smol","messages":[{"role":"user","content":"word ".repeat(800)}]}),
            StatusCode::BAD_REQUEST,
            "context_length_exceeded",
        ),
        (
            json!({"model":"smol","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":12}}}}),
            StatusCode::BAD_REQUEST,
            "invalid_json_schema",
        ),
    ];
    for (body, want, code) in cases {
        let (status, _, v) = call("POST", "/v1/chat/completions", Some(body.clone())).await;
        assert_eq!(status, want, "{body} -> {v}");
        assert_error_shape(&v);
        assert_eq!(v["error"]["code"], code, "{body} -> {v}");
    }
    let req = Request::builder()
        .method("POST")
        .uri("/v1/chat/completions")
        .body(Body::from("{oops"))
        .unwrap();
    let (status, _, v) = raw(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid_json");
    let (status, _, v) = call("GET", "/v1/chat/completions", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_shape(&v);
    let (status, _, v) = call("GET", "/v2/nothing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&v);
}

#[tokio::test(flavor = "multi_thread")]
async fn streaming_ends_with_done_and_matches_non_streaming() {
    let body = json!({"model":"smol","messages":[{"role":"user","content":"Count to three."}],"max_tokens":10,"temperature":0});
    let whole = call("POST", "/v1/chat/completions", Some(body.clone()))
        .await
        .2;
    let mut sbody = body.clone();
    sbody["stream"] = json!(true);
    sbody["stream_options"] = json!({"include_usage": true});
    let (status, headers, v) = call("POST", "/v1/chat/completions", Some(sbody)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = v.as_str().unwrap().to_string();
    let datas: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(*datas.last().unwrap(), "[DONE]");
    let mut content = String::new();
    let mut usage = Value::Null;
    for d in &datas[..datas.len() - 1] {
        let c: Value = serde_json::from_str(d).unwrap();
        if let Some(t) = c["choices"][0]["delta"]["content"].as_str() {
            content.push_str(t);
        }
        if !c["usage"].is_null() {
            usage = c["usage"].clone();
        }
    }
    assert_eq!(
        content,
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert_eq!(usage, whole["usage"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn embeddings_are_unit_vectors_and_similar_texts_are_close() {
    let (status, _, v) = call(
        "POST",
        "/v1/embeddings",
        Some(json!({"model":"minilm","input":["A man is playing a guitar.","Someone is playing an acoustic guitar.","The stock market fell today."]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let vecs: Vec<Vec<f64>> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(vecs[0].len(), 384);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    for x in &vecs {
        assert!((dot(x, x) - 1.0).abs() < 1e-3);
    }
    assert!(dot(&vecs[0], &vecs[1]) > 0.7);
    assert!(dot(&vecs[0], &vecs[2]) < 0.3);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_ready_models_metrics() {
    assert_eq!(call("GET", "/health", None).await.0, StatusCode::OK);
    let (s, _, v) = call("GET", "/ready", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, _, v) = call("GET", "/v1/models", None).await;
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"smol") && ids.contains(&"minilm"));
    let (s, _, text) = call("GET", "/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text
        .as_str()
        .unwrap()
        .contains("# TYPE tierlm_requests_total counter"));
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains("model=\"smol\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Two slots, three long prompts: the first prompt's state is pushed out of its slot,
/// saved to RAM, and restored when it comes back; the answer is unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn evicted_prefixes_come_back_from_the_ram_prompt_cache() {
    let long = |topic: &str| {
        format!(
            "{} Now answer in one word: what is the topic?",
            format!("This text is about {topic}. ").repeat(30)
        )
    };
    let ask = |topic: &str| json!({"model":"smol","messages":[{"role":"user","content":long(topic)}],"max_tokens":6,"temperature":0});
    let first = call("POST", "/v1/chat/completions", Some(ask("glaciers")))
        .await
        .2;
    // Two other long prompts, one after the other, take both slots.
    for t in ["volcanoes", "deserts", "rivers"] {
        call("POST", "/v1/chat/completions", Some(ask(t))).await;
    }
    let before = call("GET", "/metrics", None).await.2;
    let before = metric(
        before.as_str().unwrap(),
        "tierlm_prefix_cache_hit_tokens_total",
    );
    let again = call("POST", "/v1/chat/completions", Some(ask("glaciers")))
        .await
        .2;
    let after = call("GET", "/metrics", None).await.2;
    let text = after.as_str().unwrap();
    let reused = metric(text, "tierlm_prefix_cache_hit_tokens_total") - before;
    let prompt = again["usage"]["prompt_tokens"].as_f64().unwrap();
    assert!(
        reused >= prompt - 2.0,
        "reused {reused} of {prompt} prompt tokens"
    );
    assert!(metric(text, "tierlm_prompt_cache_bytes") > 0.0);
    assert_eq!(
        first["choices"][0]["message"]["content"],
        again["choices"][0]["message"]["content"]
    );
}
