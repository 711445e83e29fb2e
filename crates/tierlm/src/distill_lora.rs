//! `tierlm distill train --task T` for a generative task (one without labels): a LoRA
//! adapter for the router's local model, trained on the task's records.
//!
//! Each record becomes the request the local model would be asked at serving time:
//! the record's messages (redacted, as the teacher saw them) shaped by the router
//! exactly as for a local answer (the profile's instructions and demonstrations), and
//! the teacher's answer as the target. A share of the records (by a seeded hash of the
//! input) is held out and only scored, so the report shows the loss on unseen records
//! before and after. The
//! adapter is written to `STUDENTS_DIR/TASK.lora.gguf` in llama.cpp's format and the
//! task goes into shadow; the command prints the configuration that serves the adapter
//! (`[[models.adapters]]`) and lets it shadow the teacher (`generative_students`).

use std::path::Path;

use tierlm_distill::{GenerativeStudent, TrainingDistribution};
use tierlm_engine::lora::{
    tokenize_examples, train_lora, write_adapter, AdapterProvenance, AdapterShape, ChatExample,
    LoraTrainOptions, LINEAR_TARGETS,
};
use tierlm_gateway::Config;

use crate::cli::LoraArgs;
use crate::distill::{distill_config, embed_all, open_store, router, who};

/// A stable pseudo-random number in [0, 1) for a key and seed (the split).
fn unit_hash(key: &str, seed: u64) -> f64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{seed}/{key}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

pub fn train(cfg: &Config, task: &str, args: &LoraArgs) -> Result<String, String> {
    if !(0.0..1.0).contains(&args.validation) {
        return Err(format!(
            "--validation must be in [0, 1), got {}",
            args.validation
        ));
    }
    if args.rank == 0 || args.epochs == 0 || args.batch == 0 {
        return Err("--rank, --epochs and --batch must be at least 1".into());
    }
    if !(args.learning_rate.is_finite() && args.learning_rate > 0.0) {
        return Err("--learning-rate must be a positive number".into());
    }
    let d = distill_config(cfg)?;
    let router = router(cfg)?;
    let prof = router
        .profiles()
        .iter()
        .find(|p| p.name() == task)
        .cloned()
        .ok_or_else(|| format!("no [[router.profiles]] named `{task}`"))?;
    let local = &router.config().local_model;
    let base = cfg
        .models
        .iter()
        .find(|m| &m.name == local)
        .ok_or_else(|| {
            format!("router.local_model `{local}` must be a base model to train an adapter for")
        })?;
    let store = open_store(cfg)?;
    let mut records = store.records(task).map_err(|e| e.to_string())?;
    records.retain(|r| !r.answer.trim().is_empty());
    if let Some(max) = args.max_examples {
        let skip = records.len().saturating_sub(max);
        records.drain(..skip);
    }
    if records.is_empty() {
        return Err(format!(
            "task `{task}` has no records with an answer yet (capture some first)"
        ));
    }
    // Every record shaped and tokenised in one pass (one vocabulary load), then split.
    let mut examples = Vec::with_capacity(records.len());
    let mut held_out = Vec::with_capacity(records.len());
    let mut train_inputs = Vec::new();
    for r in &records {
        let req: tierlm_api::chat::ChatCompletionRequest =
            serde_json::from_value(serde_json::json!({"model": local, "messages": r.messages}))
                .map_err(|e| format!("record {}: {e}", r.id))?;
        let shaped = router.shape_local(&req, Some(&prof), false);
        let turns = tierlm_engine::prepare::chat_turns(&shaped)
            .map_err(|e| format!("record {}: {}", r.id, e.message))?;
        examples.push(ChatExample {
            turns,
            answer: r.answer.clone(),
        });
        // Split by the input's hash: the same split whatever the record ids, and
        // repeated inputs never straddle it.
        let held = unit_hash(&r.input_hash(), args.seed) < args.validation;
        if !held {
            train_inputs.push(r.input_text().to_string());
        }
        held_out.push(held);
    }
    if train_inputs.is_empty() {
        return Err("every record fell in the validation share; lower --validation".into());
    }
    let tokens = tokenize_examples(&base.path, base.chat_template.as_deref(), &examples)?;
    let (mut train_tokens, mut held_tokens) = (Vec::new(), Vec::new());
    for (t, held) in tokens.into_iter().zip(held_out) {
        if held {
            held_tokens.push(t);
        } else {
            train_tokens.push(t);
        }
    }
    let opts = LoraTrainOptions {
        adapter: AdapterShape {
            rank: args.rank,
            alpha: args.alpha,
            targets: LINEAR_TARGETS.iter().map(|s| s.to_string()).collect(),
            seed: args.seed,
        },
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        batch: args.batch,
        max_tokens: args.max_tokens,
        clip_norm: 1.0,
    };
    eprintln!(
        "{task}: training a rank-{} LoRA adapter for `{local}` on {} records ({} held out), epochs: {}",
        args.rank,
        train_tokens.len(),
        held_tokens.len(),
        args.epochs
    );
    let mut last_report = std::time::Instant::now();
    let (model, report) = train_lora(
        &base.path,
        &train_tokens,
        &held_tokens,
        &opts,
        |step, total, _| {
            if last_report.elapsed().as_secs() >= 30 || step == total {
                last_report = std::time::Instant::now();
                eprintln!("{task}: step {step}/{total}");
            }
        },
    )?;
    std::fs::create_dir_all(&d.students_dir)
        .map_err(|e| format!("{}: {e}", d.students_dir.display()))?;
    let path = d.students_dir.join(format!("{task}.lora.gguf"));
    let provenance = AdapterProvenance {
        base_model: file_name(&base.path),
        task: task.to_string(),
        examples: report.examples,
    };
    write_adapter(&model, args.alpha, &provenance, &path)?;
    let held = match (report.validation_before, report.validation_after) {
        (Some(b), Some(a)) => format!("held-out loss {b:.3} -> {a:.3} (nats per answer token)"),
        _ => "no held-out records".to_string(),
    };
    let reason = format!(
        "LoRA adapter trained on {} records; {held}",
        report.examples
    );
    let drift = drift_card(cfg, &router, task, &path, &base.path, &train_inputs, d)?;
    let state = store
        .start_shadow(task, &who(), &reason)
        .map_err(|e| e.to_string())?;
    let losses: Vec<String> = report
        .epoch_losses
        .iter()
        .map(|l| format!("{l:.3}"))
        .collect();
    let student = format!("{}-{task}", base.name);
    Ok(format!(
        "{task}: LoRA adapter saved to {}\n  {} records trained ({} too long, skipped), {} answer of {} tokens, \
         {} steps, {:.0} s, {} trainable parameters\n  training loss per epoch: {}\n  {held}\n  {drift}\n  \
         route state: {} (restart the gateway with the configuration below)\n  \
         under the [[models]] entry `{}` add\n    [[models.adapters]]\n    name = \"{student}\"\n    path = \"{}\"\n  \
         and either let it shadow the teacher until promoted:\n    [distill.generative_students]\n    {task} = \"{student}\"\n  \
         or serve the route with it now: local_model = \"{student}\" in the [[router.profiles]] entry `{task}`\n",
        path.display(),
        report.examples,
        report.skipped,
        report.answer_tokens,
        report.total_tokens,
        report.steps,
        report.seconds,
        report.trainable_params,
        losses.join(", "),
        state.name(),
        base.name,
        path.display(),
    ))
}

/// Save the student's card (`TASK.lora.json`): the drift reference of its training
/// inputs, embedded as the router embeds requests. Returns a line for the report.
fn drift_card(
    cfg: &Config,
    router: &tierlm_router::Router,
    task: &str,
    adapter: &Path,
    base: &Path,
    inputs: &[String],
    d: &tierlm_distill::DistillConfig,
) -> Result<String, String> {
    let Some(embedder) = tierlm_gateway::load::embedder_id(cfg) else {
        return Ok("no drift reference (the router has no embedder)".into());
    };
    let embeddings = embed_all(router, inputs)?;
    let card = GenerativeStudent {
        format_version: tierlm_distill::generative::FORMAT_VERSION,
        task: task.to_string(),
        adapter: adapter.to_path_buf(),
        base_model: file_name(base),
        embedding_model: embedder,
        train_examples: inputs.len(),
        trained_ms: tierlm_distill::now_ms(),
        distribution: TrainingDistribution::of(&embeddings).map_err(|e| e.to_string())?,
    };
    let path = GenerativeStudent::path_in(&d.students_dir, task);
    card.save(&path).map_err(|e| e.to_string())?;
    Ok(format!("drift reference saved to {}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
