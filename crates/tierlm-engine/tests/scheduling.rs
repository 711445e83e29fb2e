//! How the worker shares its sequence slots, on the real SmolLM2-135M GGUF: tenants take
//! turns when requests wait, and a deterministic request runs alone. Needs `models/`
//! (scripts/fetch-models).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::path::PathBuf;
use std::time::Instant;

use tierlm_engine::{EngineMetrics, Event, Generation, LocalModel, ModelConfig, SamplingParams};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::UnboundedReceiver;

fn load(parallel: u32) -> LocalModel {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let cfg = ModelConfig {
        name: "smol".into(),
        path,
        context_size: 256,
        parallel,
        threads: 2,
        batch_size: 256,
        max_queue: 16,
        chat_template: None,
        gpu_layers: 0,
        prompt_cache_bytes: 0,
        adapters: Vec::new(),
    };
    LocalModel::load(&cfg, &EngineMetrics::default()).expect("SmolLM2 loads (scripts/fetch-models)")
}

fn job(model: &LocalModel, text: &str, tokens: u32, tenant: Option<&str>, det: bool) -> Generation {
    Generation {
        prompt: model.tokenize(text, true),
        n: 1,
        max_tokens: tokens,
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        stop: Vec::new(),
        grammar: None,
        logprobs: None,
        ignore_eos: true,
        tenant: tenant.map(str::to_string),
        deterministic: det,
    }
}

/// Wait for the end of a generation; when it ended, and its text.
fn finish(rx: &mut UnboundedReceiver<Event>) -> (Instant, String) {
    let mut text = String::new();
    while let Some(ev) = rx.blocking_recv() {
        match ev {
            Event::Text { text: t, .. } => text.push_str(&t),
            Event::Done { .. } => return (Instant::now(), text),
            Event::Error(e) => panic!("{}", e.message),
            Event::Finished { .. } => {}
        }
    }
    panic!("the generation ended without Done")
}

/// Wait for `n` text events; their text.
fn tokens(rx: &mut UnboundedReceiver<Event>, n: usize) -> String {
    let mut text = String::new();
    let mut seen = 0;
    while seen < n {
        match rx.blocking_recv() {
            Some(Event::Text { text: t, .. }) => {
                text.push_str(&t);
                seen += 1;
            }
            Some(Event::Error(e)) => panic!("{}", e.message),
            Some(_) => {}
            None => panic!("the generation ended early"),
        }
    }
    text
}

#[test]
fn a_tenant_s_burst_does_not_keep_another_tenant_waiting() {
    let model = load(1);
    // One slot. Tenant a sends five requests, then tenant b one.
    let mut a: Vec<_> = (0..5)
        .map(|i| {
            let g = job(&model, &format!("Count to {i}"), 24, Some("a"), false);
            model.submit(g).unwrap()
        })
        .collect();
    let mut b = model
        .submit(job(&model, "Name a fruit", 24, Some("b"), false))
        .unwrap();
    // Each answer is awaited on its own thread, so each end is seen when it happens.
    let (ends, b_end) = std::thread::scope(|scope| {
        let b = scope.spawn(|| finish(&mut b).0);
        let a: Vec<_> = a
            .iter_mut()
            .map(|rx| scope.spawn(move || finish(rx).0))
            .collect();
        let ends: Vec<Instant> = a.into_iter().map(|h| h.join().unwrap()).collect();
        (ends, b.join().unwrap())
    });
    // b goes right after the request that was running when it came: before a's second.
    assert!(b_end < ends[1], "b waited behind a's burst");
    assert!(ends[0] < b_end);
}

#[test]
fn a_deterministic_request_runs_alone() {
    let model = load(4);
    let prompt = "Tell me about the sea";
    let (_, alone) = finish(&mut model.submit(job(&model, prompt, 24, None, true)).unwrap());
    // Two ordinary requests are running (one short, one long) when it comes.
    let mut short = model
        .submit(job(&model, "Say one", 8, None, false))
        .unwrap();
    let mut long = model
        .submit(job(&model, "Say two", 96, None, false))
        .unwrap();
    tokens(&mut long, 1);
    let mut det = model.submit(job(&model, prompt, 24, None, true)).unwrap();
    let mut after = model
        .submit(job(&model, "Say three", 8, None, false))
        .unwrap();
    // It does not join them: when the short one is done, the long one still runs, and
    // the deterministic one has not started.
    finish(&mut short);
    assert!(
        matches!(det.try_recv(), Err(TryRecvError::Empty)),
        "it joined a batch"
    );
    finish(&mut long);
    // Nothing joins it either: a request that came after it waits for its end.
    let head = tokens(&mut det, 10);
    assert!(
        matches!(after.try_recv(), Err(TryRecvError::Empty)),
        "a request joined it"
    );
    let (_, rest) = finish(&mut det);
    let text = head + &rest;
    finish(&mut after);
    assert_eq!(text, alone, "byte-identical to its run alone");
}
