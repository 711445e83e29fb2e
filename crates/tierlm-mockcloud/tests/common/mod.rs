//! Shared helpers for the integration tests: start the mock in-process on port 0, post
//! JSON, and read SSE streams.
#![allow(dead_code)]

use serde_json::Value;
use tierlm_mockcloud::{serve, Config};

/// Starts the mock on a free port; returns its base URL.
pub async fn start(config: Config) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A test server that lives as long as the test's runtime and writes nothing.
    #[allow(clippy::disallowed_methods)]
    tokio::spawn(serve(config, listener, std::future::pending()));
    format!("http://{addr}")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// POSTs `body` with `headers`; returns (status, headers, parsed JSON body).
pub async fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client().post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, h, json)
}

/// POSTs and reads the whole SSE body; returns (status, events as (event name, data)).
pub async fn post_sse(
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Vec<(String, String)>) {
    let mut req = client().post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, parse_sse(&text))
}

pub fn parse_sse(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = String::new();
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.to_string();
                }
            }
            (name, data)
        })
        .collect()
}

/// A unique temporary file path.
pub fn temp_path(tag: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "mockcloud-{tag}-{}-{nanos}.jsonl",
        std::process::id()
    ))
}

pub const ANTHROPIC: [(&str, &str); 1] = [("anthropic-version", "2023-06-01")];
