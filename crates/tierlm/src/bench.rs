//! `tierlm bench`: prefill and single-stream decode speed of a GGUF model through the
//! engine, measured like llama.cpp's `llama-bench` (`pp` and `tg` tests) so the two
//! can be compared in one run. Prompts are pseudo-random token ids, distinct per
//! repetition so the prefix cache cannot help; decoding ignores end-of-sequence.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use tierlm_engine::{EngineMetrics, Event, Generation, LocalModel, ModelConfig, SamplingParams};

pub struct BenchArgs {
    pub model: PathBuf,
    pub threads: u32,
    pub prompt_tokens: u32,
    pub gen_tokens: u32,
    pub repetitions: u32,
}

fn prompt(n: u32, n_vocab: i32, rep: u32) -> Vec<i32> {
    let mut x = 0x2545_F491_4F6C_DD1Du64 ^ u64::from(rep).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n_vocab as u64) as i32
        })
        .collect()
}

/// Run one generation; returns (time to first token, time of the last token, tokens).
async fn run(
    model: &LocalModel,
    prompt: Vec<i32>,
    max_tokens: u32,
) -> Result<(f64, f64, u32), String> {
    let gen = Generation {
        prompt,
        n: 1,
        max_tokens,
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        stop: Vec::new(),
        grammar: None,
        logprobs: None,
        ignore_eos: true,
        tenant: None,
        deterministic: false,
    };
    let start = Instant::now();
    let mut rx = model.submit(gen).map_err(|e| e.message)?;
    let (mut first, mut last) = (None, 0.0);
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Text { .. } | Event::Finished { .. } => {
                let t = start.elapsed().as_secs_f64();
                first.get_or_insert(t);
                last = t;
            }
            Event::Done {
                completion_tokens, ..
            } => return Ok((first.unwrap_or(last), last, completion_tokens)),
            Event::Error(e) => return Err(e.message),
        }
    }
    Err("the engine stopped".into())
}

pub fn bench(args: BenchArgs) -> ExitCode {
    let cfg = ModelConfig {
        name: "bench".into(),
        path: args.model.clone(),
        context_size: args.prompt_tokens + args.gen_tokens + 8,
        parallel: 1,
        threads: args.threads,
        batch_size: args.prompt_tokens.max(512),
        max_queue: 4,
        chat_template: None,
        gpu_layers: 0,
        // Each repetition must prefill afresh, like llama-bench.
        prompt_cache_bytes: 0,
        adapters: Vec::new(),
    };
    let metrics = EngineMetrics::default();
    let model = match LocalModel::load(&cfg, &metrics) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match crate::runtime(false) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let n_vocab = model.info().n_vocab;
    let result: Result<(f64, f64), String> = rt.block_on(async {
        // Warm-up, not counted.
        run(&model, prompt(32, n_vocab, 1000), 4).await?;
        let (mut pp, mut tg) = (Vec::new(), Vec::new());
        for rep in 0..args.repetitions {
            // Prefill: time to the first token (one forward pass over the prompt).
            let (ttft, _, _) = run(&model, prompt(args.prompt_tokens, n_vocab, rep), 1).await?;
            pp.push(f64::from(args.prompt_tokens) / ttft);
            // Decode: one token of prompt, then `gen_tokens` single-stream steps.
            let (first, last, n) =
                run(&model, prompt(1, n_vocab, 500 + rep), args.gen_tokens).await?;
            if n > 1 && last > first {
                tg.push(f64::from(n - 1) / (last - first));
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        Ok((mean(&pp), mean(&tg)))
    });
    match result {
        Ok((pp, tg)) => {
            println!(
                "{}",
                serde_json::json!({
                    "model": args.model.display().to_string(),
                    "threads": args.threads,
                    "prompt_tokens": args.prompt_tokens,
                    "gen_tokens": args.gen_tokens,
                    "repetitions": args.repetitions,
                    "prefill_tok_s": (pp * 10.0).round() / 10.0,
                    "decode_tok_s": (tg * 10.0).round() / 10.0,
                })
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
