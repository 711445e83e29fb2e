//! Replay a workload through a real gateway: the mock cloud starts in-process as the
//! teacher (it answers each prompt with the workload's reference answer), every
//! configured provider is pointed at it, and tierlm itself starts in-process on a free
//! port. Each item is then sent up to three times over HTTP — to `auto`, forced local
//! and forced cloud (`x-tierlm-route`), as `--passes` says — and the answers and
//! routing headers recorded. A pass that is not run leaves a [`skipped`] answer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tierlm_eval::{Answer, Item, Observation};
use tierlm_gateway::Config;
use tierlm_providers::ProviderKind;
use tokio::sync::oneshot;

/// Stops the in-process servers when dropped.
pub struct Servers {
    pub gateway: SocketAddr,
    stops: Vec<oneshot::Sender<()>>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for s in self.stops.drain(..) {
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
    cfg.host = std::net::IpAddr::from([127, 0, 0, 1]);
    cfg.port = 0;
    let (addr_tx, addr_rx) = oneshot::channel();
    let (gw_stop, gw_rx) = oneshot::channel::<()>();
    #[allow(clippy::disallowed_methods)]
    let server = tokio::spawn(tierlm_server::serve(
        cfg,
        move |addr| {
            let _ = addr_tx.send(addr);
        },
        async move {
            let _ = gw_rx.await;
        },
    ));
    let gateway = addr_rx
        .await
        .map_err(|_| "the gateway did not start".to_string())?;
    let servers = Servers {
        gateway,
        stops: vec![gw_stop, mock_stop],
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if server.is_finished() {
            return Err("the gateway stopped while loading models (see the log)".into());
        }
        let ready = client
            .get(format!("http://{gateway}/ready"))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if ready {
            return Ok(servers);
        }
        if Instant::now() > deadline {
            return Err("the gateway was not ready after 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Send one item once; `hint` forces a route.
async fn ask(
    client: &reqwest::Client,
    gateway: SocketAddr,
    item: &Item,
    hint: Option<&str>,
) -> Answer {
    let mut body = serde_json::json!({
        "model": "auto",
        "messages": item.messages,
        "temperature": 0,
    });
    if let Some(m) = item.max_tokens {
        body["max_tokens"] = m.into();
    }
    let mut req = client
        .post(format!("http://{gateway}/v1/chat/completions"))
        .json(&body);
    if let Some(h) = hint {
        req = req.header("x-tierlm-route", h);
    }
    let started = Instant::now();
    let mut answer = Answer::default();
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            answer.error = Some(e.to_string());
            return answer;
        }
    };
    answer.route = header(&resp, "x-tierlm-route").unwrap_or_default();
    answer.reason = header(&resp, "x-tierlm-reason").unwrap_or_default();
    answer.profile = header(&resp, "x-tierlm-profile");
    answer.class = header(&resp, "x-tierlm-class");
    answer.confidence = header(&resp, "x-tierlm-confidence").and_then(|v| v.parse().ok());
    answer.cost_usd = header(&resp, "x-tierlm-cost-usd")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    answer.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if !status.is_success() {
        answer.error = Some(format!("HTTP {status}: {text}"));
        return answer;
    }
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => {
            answer.text = v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        Err(e) => answer.error = Some(format!("invalid JSON answer: {e}")),
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

/// Replay every item (forced local, forced cloud, then routed; the passes asked for),
/// `concurrency` at once.
pub async fn replay(
    gateway: SocketAddr,
    items: &[Item],
    concurrency: usize,
    passes: Passes,
) -> Vec<Observation> {
    let client = reqwest::Client::new();
    let total = items.len();
    let mut done = 0usize;
    let mut out: Vec<(usize, Observation)> = Vec::with_capacity(total);
    let mut pending = futures::stream::iter(items.iter().enumerate())
        .map(|(i, item)| {
            let client = client.clone();
            async move {
                let local = match passes.local {
                    true => ask(&client, gateway, item, Some("local")).await,
                    false => skipped(),
                };
                let cloud = match passes.cloud {
                    true => ask(&client, gateway, item, Some("cloud")).await,
                    false => skipped(),
                };
                let routed = match passes.routed {
                    true => ask(&client, gateway, item, None).await,
                    false => skipped(),
                };
                (
                    i,
                    Observation {
                        item: item.clone(),
                        routed,
                        local,
                        cloud,
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
