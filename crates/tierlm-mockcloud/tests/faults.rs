//! Fault injection, API keys, the request recorder, and the binary itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{post, start, ANTHROPIC};
use futures::StreamExt;
use serde_json::{json, Value};
use tierlm_mockcloud::Config;

fn chat() -> Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test]
async fn error_rate_statuses_and_shapes() {
    let base = start(Config::default()).await;
    let h = [("x-mock-error-rate", "1.0"), ("x-mock-error-status", "503")];
    let (status, _, r) = post(&format!("{base}/v1/chat/completions"), &h, &chat()).await;
    assert_eq!(status, 503);
    assert_eq!(r["error"]["type"], "server_error");
    assert_eq!(r["error"]["message"], "mock: injected 503 error");
    let (status, _, r) = post(
        &format!("{base}/v1/messages"),
        &[h[0], h[1], ANTHROPIC[0]],
        &json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(r["type"], "error");
    assert_eq!(r["error"]["type"], "overloaded_error");
    let (status, _, r) = post(
        &format!("{base}/v1beta/models/g:generateContent"),
        &h,
        &json!({"contents": [{"parts": [{"text": "x"}]}]}),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(
        r["error"],
        json!({"code": 503, "message": "mock: injected 503 error", "status": "UNAVAILABLE"})
    );

    // 429 carries Retry-After.
    let h = [
        ("x-mock-error-rate", "1"),
        ("x-mock-error-status", "429"),
        ("x-mock-retry-after", "7"),
    ];
    let (status, headers, r) = post(&format!("{base}/v1/chat/completions"), &h, &chat()).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(r["error"]["code"], "rate_limit_exceeded");

    // Forced status.
    let (status, _, r) = post(
        &format!("{base}/v1/chat/completions"),
        &[("x-mock-status", "400")],
        &chat(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(r["error"]["message"], "mock: forced 400");
    // Rate 0 never fails.
    let (status, _, _) = post(
        &format!("{base}/v1/chat/completions"),
        &[("x-mock-error-rate", "0")],
        &chat(),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn configured_faults_are_deterministic_and_in_turn() {
    let config = Config {
        error_rate: 1.0,
        error_statuses: vec![500, 429],
        ..Config::default()
    };
    let base = start(config).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(
            post(&format!("{base}/v1/chat/completions"), &[], &chat())
                .await
                .0,
        );
    }
    assert_eq!(got, vec![500, 429, 500]);

    let run = |seed| async move {
        let base = start(Config {
            error_rate: 0.5,
            seed,
            ..Config::default()
        })
        .await;
        let mut out = Vec::new();
        for _ in 0..20 {
            out.push(
                post(&format!("{base}/v1/chat/completions"), &[], &chat())
                    .await
                    .0,
            );
        }
        out
    };
    let a = run(42).await;
    assert_eq!(a, run(42).await);
    assert!(a.contains(&200) && a.iter().any(|s| *s != 200), "{a:?}");
}

#[tokio::test]
async fn latency_and_first_token_delay() {
    let base = start(Config::default()).await;
    let t = Instant::now();
    let (status, _, _) = post(
        &format!("{base}/v1/chat/completions"),
        &[("x-mock-latency-ms", "150")],
        &chat(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));

    let mut body = chat();
    body["stream"] = json!(true);
    let t = Instant::now();
    let resp = common::client()
        .post(format!("{base}/v1/chat/completions"))
        .header("x-mock-first-token-ms", "200")
        .json(&body)
        .send()
        .await
        .unwrap();
    let headers_at = t.elapsed();
    let text = resp.text().await.unwrap();
    assert!(
        headers_at < Duration::from_millis(150),
        "headers come before the first token"
    );
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn reset_after_chunks_cuts_the_stream() {
    let base = start(Config::default()).await;
    let mut body = chat();
    body["stream"] = json!(true);
    let resp = common::client()
        .post(format!("{base}/v1/chat/completions"))
        .header("x-mock-reset-after-chunks", "2")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut stream = resp.bytes_stream();
    let mut received = Vec::new();
    let mut failed = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(b) => received.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must end with an error");
    let text = String::from_utf8(received).unwrap();
    assert_eq!(common::parse_sse(&text).len(), 2, "{text}");
    assert!(!text.contains("[DONE]"));

    // Anthropic too; Gemini via the flag default.
    let base = start(Config {
        reset_after_chunks: Some(1),
        ..Config::default()
    })
    .await;
    let r = common::client()
        .post(format!(
            "{base}/v1beta/models/g:streamGenerateContent?alt=sse"
        ))
        .json(&json!({"contents": [{"parts": [{"text": "a b c"}]}]}))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.is_err());
}

#[tokio::test]
async fn require_key_per_provider() {
    let base = start(Config {
        require_key: Some("sk-test".into()),
        ..Config::default()
    })
    .await;
    let url = format!("{base}/v1/chat/completions");
    let (status, _, r) = post(&url, &[], &chat()).await;
    assert_eq!(status, 401);
    assert_eq!(r["error"]["code"], "invalid_api_key");
    let (status, _, _) = post(&url, &[("authorization", "Bearer wrong")], &chat()).await;
    assert_eq!(status, 401);
    let (status, _, _) = post(&url, &[("authorization", "Bearer sk-test")], &chat()).await;
    assert_eq!(status, 200);

    let body =
        json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
    let url = format!("{base}/v1/messages");
    let (status, _, r) = post(&url, &[ANTHROPIC[0], ("x-api-key", "nope")], &body).await;
    assert_eq!(status, 401);
    assert_eq!(r["error"]["type"], "authentication_error");
    let (status, _, _) = post(&url, &[ANTHROPIC[0], ("x-api-key", "sk-test")], &body).await;
    assert_eq!(status, 200);

    let body = json!({"contents": [{"parts": [{"text": "x"}]}]});
    let (status, _, r) = post(
        &format!("{base}/v1beta/models/g:generateContent"),
        &[],
        &body,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(r["error"]["status"], "UNAUTHENTICATED");
    let (status, _, _) = post(
        &format!("{base}/v1beta/models/g:generateContent?key=sk-test"),
        &[],
        &body,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = post(
        &format!("{base}/v1beta/models/g:generateContent"),
        &[("x-goog-api-key", "sk-test")],
        &body,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn record_file_lines() {
    let path = common::temp_path("record");
    let base = start(Config {
        record: Some(path.clone()),
        ..Config::default()
    })
    .await;
    let pretty = "{\n  \"model\": \"gpt-4o\",\n  \"temperature\": 0.70,\n  \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]\n}";
    let resp = common::client()
        .post(format!("{base}/v1/chat/completions"))
        .header("authorization", "Bearer sk-secret")
        .header("content-type", "application/json")
        .body(pretty)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let gem = json!({"contents": [{"parts": [{"text": "x"}]}]});
    post(
        &format!("{base}/v1beta/models/g:streamGenerateContent?alt=sse&key=sk-secret"),
        &[],
        &gem,
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(3);
    let lines = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(String::from).collect();
        if lines.len() >= 2 || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("sk-secret")));
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/v1/chat/completions");
    assert_eq!(first["query"], Value::Null);
    assert_eq!(first["provider"], "openai");
    assert!(first["ts"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(
        first["body"],
        serde_json::from_str::<Value>(pretty).unwrap()
    );
    assert!(
        lines[0].contains("0.70"),
        "the body is kept verbatim: {}",
        lines[0]
    );
    let second: Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(second["provider"], "gemini");
    assert_eq!(second["query"], "alt=sse");
    assert_eq!(second["body"], gem);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn binary_prints_address_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierlm-mockcloud"))
        .args(["--port", "0", "--seed", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("tierlm-mockcloud listening on ")
        .unwrap()
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        common::client()
            .get(format!("{url}/health"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(code) = child.try_wait().unwrap() {
            assert!(code.success(), "{code:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}
