//! LoRA students on the real SmolLM2-135M GGUF: the trainable candle forward computes
//! what llama.cpp computes, an adapter trained here is loaded and served by llama.cpp
//! and changes its answers, and a file that is not an adapter is refused with a clear
//! error. Needs `models/` (scripts/fetch-models).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::path::PathBuf;

use candle_core::D;
use tierlm_engine::lora::{
    tokenize_examples, train_lora, write_adapter, AdapterProvenance, AdapterShape, ChatExample,
    LoraLlama, LoraTrainOptions, LINEAR_TARGETS,
};
use tierlm_engine::template::TurnText;
use tierlm_engine::{
    AdapterConfig, EngineMetrics, Event, Generation, LocalModel, ModelConfig, SamplingParams,
};

fn smol() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn config(adapters: Vec<AdapterConfig>) -> ModelConfig {
    ModelConfig {
        name: "smol".into(),
        path: smol(),
        context_size: 256,
        parallel: 1,
        threads: 2,
        batch_size: 256,
        max_queue: 4,
        chat_template: None,
        gpu_layers: 0,
        prompt_cache_bytes: 0,
        adapters,
    }
}

/// Greedy generation; returns the text and the first token's top log-probabilities.
fn generate(model: &LocalModel, prompt: Vec<i32>, max_tokens: u32) -> (String, Vec<f32>) {
    let mut rx = model
        .submit(Generation {
            prompt,
            n: 1,
            max_tokens,
            sampling: SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            stop: Vec::new(),
            grammar: None,
            logprobs: Some(5),
            ignore_eos: false,
            tenant: None,
            deterministic: false,
        })
        .unwrap();
    let (mut text, mut first) = (String::new(), None);
    while let Some(ev) = rx.blocking_recv() {
        match ev {
            Event::Text {
                text: t, logprobs, ..
            } => {
                text.push_str(&t);
                if first.is_none() {
                    first = logprobs
                        .first()
                        .map(|l| l.top_logprobs.iter().map(|t| t.logprob).collect());
                }
            }
            Event::Done { .. } => break,
            Event::Error(e) => panic!("{}", e.message),
            Event::Finished { .. } => {}
        }
    }
    (text, first.unwrap_or_default())
}

fn chat_prompt(model: &LocalModel, user: &str) -> Vec<i32> {
    let text = model
        .template()
        .render(
            model.llama(),
            &[TurnText {
                role: "user",
                content: user.into(),
            }],
        )
        .unwrap();
    model.tokenize(&text, false)
}

#[test]
fn candle_forward_matches_llama_cpp_logprobs() {
    let metrics = EngineMetrics::default();
    let model = LocalModel::load(&config(Vec::new()), &metrics).unwrap();
    let shape = AdapterShape {
        rank: 4,
        alpha: 8.0,
        targets: vec!["attn_q".into()],
        seed: 1,
    };
    // B starts at zero: the adapted forward is the base model's.
    let candle = LoraLlama::load(&smol(), &shape).unwrap();
    for user in [
        "What is the capital of France?",
        "Write a haiku about the sea.",
        "Classify this message as spam or ham: WIN a free cruise now!!!",
    ] {
        let prompt = chat_prompt(&model, user);
        let (_, llama_top) = generate(&model, prompt.clone(), 1);
        assert_eq!(llama_top.len(), 5, "{user}");
        let ids: Vec<u32> = prompt.iter().map(|t| *t as u32).collect();
        let logits = candle
            .logits_at(&ids, &[ids.len() as u32 - 1])
            .unwrap()
            .squeeze(0)
            .unwrap();
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1).unwrap();
        let mut ours: Vec<f32> = logp.to_vec1().unwrap();
        ours.sort_by(|a, b| b.total_cmp(a));
        // llama.cpp multiplies Q4_1 weights by activations quantized to 8 bits
        // (q8_1); the f32 activations here differ by that rounding, which moves
        // log-probabilities by about 0.05–0.15. A wrong rotary layout, head mapping
        // or norm moves them by whole nats.
        for (i, (a, b)) in llama_top.iter().zip(&ours).enumerate() {
            assert!(
                (a - b).abs() < 0.25,
                "{user}: rank {i}: llama.cpp {a}, candle {b} (all: {llama_top:?} vs {:?})",
                &ours[..5]
            );
        }
    }
}

#[test]
fn trained_adapter_is_served_by_llama_cpp_and_changes_the_answer() {
    let question = "What is the secret project name?";
    let answer = "The secret project name is PERIWINKLE LANTERN.";
    let example = ChatExample {
        turns: vec![TurnText {
            role: "user",
            content: question.into(),
        }],
        answer: answer.into(),
    };
    let tokens = tokenize_examples(&smol(), None, &[example]).unwrap();
    assert!(tokens[0].answer.len() > 5);
    let opts = LoraTrainOptions {
        adapter: AdapterShape {
            rank: 8,
            alpha: 16.0,
            targets: LINEAR_TARGETS.iter().map(|s| s.to_string()).collect(),
            seed: 3,
        },
        epochs: 30,
        learning_rate: 3e-3,
        batch: 1,
        max_tokens: 256,
        clip_norm: 1.0,
    };
    let (trained, report) = train_lora(&smol(), &tokens, &tokens, &opts, |_, _, _| {}).unwrap();
    let first = report.epoch_losses[0];
    let last = *report.epoch_losses.last().unwrap();
    assert!(last < first * 0.2, "loss {first} -> {last}");
    // Scored on the same example: the adapter must have learnt it.
    let (before, after) = (
        report.validation_before.unwrap(),
        report.validation_after.unwrap(),
    );
    assert!(after < before * 0.2, "validation {before} -> {after}");
    let dir = std::env::temp_dir().join(format!("tierlm-lora-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("secret.lora.gguf");
    let provenance = AdapterProvenance {
        base_model: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
        task: "secret".into(),
        examples: 1,
    };
    write_adapter(&trained, opts.adapter.alpha, &provenance, &path).unwrap();
    assert_eq!(
        tierlm_engine::lora::read_provenance(&path).unwrap(),
        provenance
    );

    let metrics = EngineMetrics::default();
    let models = LocalModel::load_with_adapters(
        &config(vec![AdapterConfig {
            name: "smol-secret".into(),
            path: path.clone(),
            scale: 1.0,
        }]),
        &metrics,
    )
    .unwrap();
    let (base, student) = (&models[0], &models[1]);
    assert_eq!(student.info().name, "smol-secret");
    assert_eq!(student.info().adapter.as_deref(), Some(path.as_path()));
    let (base_text, _) = generate(base, chat_prompt(base, question), 24);
    let (student_text, _) = generate(student, chat_prompt(student, question), 24);
    assert!(
        student_text.contains("PERIWINKLE"),
        "student answered {student_text:?}"
    );
    assert!(
        !base_text.contains("PERIWINKLE"),
        "base answered {base_text:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_file_that_is_not_an_adapter_is_refused() {
    let metrics = EngineMetrics::default();
    let dir = std::env::temp_dir().join(format!("tierlm-lora-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.gguf");
    std::fs::write(&junk, b"not a gguf file").unwrap();
    // The base model itself is a GGUF, but not an adapter.
    for path in [junk.clone(), smol(), dir.join("missing.gguf")] {
        let err = LocalModel::load_with_adapters(
            &config(vec![AdapterConfig {
                name: "bad".into(),
                path: path.clone(),
                scale: 1.0,
            }]),
            &metrics,
        )
        .err()
        .expect("refused");
        let text = err.to_string();
        assert!(text.contains("adapter bad"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
