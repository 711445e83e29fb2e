//! `tierlm distill …`: work the distillation flywheel from the command line, on the
//! store and students a gateway's `[distill]` section names (see
//! docs/DISTILLATION.md).
//!
//! - `status`: captured records per task, each task's route state and student;
//! - `export`: a task's records as fine-tuning JSONL (OpenAI or ChatML), train and
//!   validation files;
//! - `synthesize`: ask the teacher, through a running gateway's OpenAI-compatible API
//!   (so the call is guarded, audited and priced like any other), for new labelled
//!   examples in the style of the captured ones; deduplicated and validated;
//! - `train`: a label student on the router's own embeddings and the sentence
//!   encoder's vector of each request after the task's instructions, saved where the
//!   gateway loads it, and the task put in shadow;
//! - `promote` / `demote`: hand a task's route to its student or back to the teacher,
//!   logged with who, when and why; `events` prints that log.
//!
//! Exit codes: 0 on success, 2 on any error.

use std::path::Path;
use std::process::ExitCode;

use tierlm_distill::{
    label_examples, parse_synth_reply, synth_prompt, synth_record, DistillConfig, DistillStore,
    ExportFormat, LabelStudent, StudentFeatures, SynthExample, TrainOptions,
};
use tierlm_gateway::config::{self, Overrides};
use tierlm_gateway::Config;

use crate::cli::{DistillArgs, DistillCommand};

fn fail(e: &str) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// The gateway configuration, with `TIERLM_DATA_DIR` applied as `serve` applies it.
fn load_config(path: Option<&Path>) -> Result<Config, String> {
    let raw = match path {
        Some(p) => config::parse_file(p).map_err(|e| e.to_string())?,
        None => return Err("give the gateway's configuration: --config FILE".into()),
    };
    let overrides = Overrides {
        data_dir: crate::keys::env_data_dir(),
        ..Overrides::default()
    };
    raw.load(&overrides).map_err(|e| e.to_string())
}

pub(crate) fn distill_config(cfg: &Config) -> Result<&DistillConfig, String> {
    cfg.distill
        .as_ref()
        .ok_or_else(|| "the configuration has no [distill] section".to_string())
}

pub(crate) fn open_store(cfg: &Config) -> Result<DistillStore, String> {
    let d = distill_config(cfg)?;
    DistillStore::open(&d.path).map_err(|e| e.to_string())
}

/// The task's profile: its labels and instructions.
pub(crate) fn profile<'a>(
    cfg: &'a Config,
    task: &str,
) -> Result<&'a tierlm_router::config::ProfileConfig, String> {
    cfg.router
        .as_ref()
        .and_then(|r| r.profiles.iter().find(|p| p.name == task))
        .ok_or_else(|| format!("no [[router.profiles]] named `{task}`"))
}

/// The gateway's router, as `serve` builds it.
pub(crate) fn router(cfg: &Config) -> Result<tierlm_router::Router, String> {
    // The contextual classifier needs the sentence encoder itself.
    let encoder = match (&cfg.embeddings, &cfg.router) {
        (Some(e), Some(r)) if r.classifier == tierlm_router::config::ClassifierKind::Contextual => {
            Some(tierlm_engine::EmbeddingModel::load(e)?)
        }
        _ => None,
    };
    tierlm_gateway::load::build_router(cfg, encoder.as_ref())?
        .ok_or_else(|| "the configuration has no [router]".to_string())
}

/// Each text embedded as the router embeds a request (students learn from these).
pub(crate) fn embed_all(
    router: &tierlm_router::Router,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, String> {
    texts
        .iter()
        .map(|t| {
            router
                .embed_text(t)
                .unwrap_or_else(|| Err("no embedder".into()))
        })
        .collect()
}

pub(crate) fn who() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

pub fn run(args: &DistillArgs) -> ExitCode {
    match dispatch(args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn dispatch(args: &DistillArgs) -> Result<String, String> {
    let cfg = load_config(args.config.as_deref())?;
    match &args.command {
        DistillCommand::Status => status(&cfg),
        DistillCommand::Export {
            task,
            format,
            validation,
            seed,
            out,
        } => export(&cfg, task, format, *validation, *seed, out),
        DistillCommand::Train {
            task,
            no_encoder,
            lora,
        } => match profile(&cfg, task)?.labels {
            Some(_) => train(&cfg, task, !*no_encoder),
            None => crate::distill_lora::train(&cfg, task, lora),
        },
        DistillCommand::Synthesize {
            task,
            n,
            base_url,
            model,
            api_key_env,
        } => synthesize(&cfg, task, *n, base_url, model.as_deref(), api_key_env),
        DistillCommand::Promote { task, reason } => {
            let s = open_store(&cfg)?
                .promote(task, &who(), reason)
                .map_err(|e| e.to_string())?;
            Ok(format!("{task}: {}\n", s.name()))
        }
        DistillCommand::Demote { task, reason } => {
            let s = open_store(&cfg)?
                .demote(task, &who(), reason)
                .map_err(|e| e.to_string())?;
            Ok(format!("{task}: {}\n", s.name()))
        }
        DistillCommand::Events { task } => {
            let events = open_store(&cfg)?
                .route_events(task.as_deref())
                .map_err(|e| e.to_string())?;
            let mut out = String::new();
            for e in events {
                out.push_str(&serde_json::to_string(&e).map_err(|e| e.to_string())?);
                out.push('\n');
            }
            Ok(out)
        }
    }
}

fn status(cfg: &Config) -> Result<String, String> {
    let d = distill_config(cfg)?;
    let store = open_store(cfg)?;
    let counts: std::collections::BTreeMap<String, u64> = store
        .tasks()
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect();
    let states: std::collections::BTreeMap<String, tierlm_distill::RouteState> = store
        .route_states()
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect();
    let mut tasks: std::collections::BTreeSet<String> = counts.keys().cloned().collect();
    tasks.extend(states.keys().cloned());
    if let Some(r) = &cfg.router {
        tasks.extend(r.profiles.iter().map(|p| p.name.clone()));
    }
    let mut out = format!(
        "{:<24} {:>8} {:>9} {}\n",
        "task", "records", "state", "student"
    );
    for t in tasks {
        let lora = d.students_dir.join(format!("{t}.lora.gguf"));
        let student = match LabelStudent::load(&d.students_dir.join(format!("{t}.json"))) {
            Ok(s) => format!(
                "trained on {} examples, calibration accuracy {:.3}",
                s.report.train_examples, s.report.calibration_accuracy
            ),
            Err(_) => match tierlm_engine::lora::read_provenance(&lora) {
                Ok(p) => format!(
                    "LoRA adapter trained on {} examples ({}), for {}",
                    p.examples,
                    lora.display(),
                    d.generative_students
                        .get(&t)
                        .map_or("no model yet: see [distill.generative_students]", |m| m)
                ),
                Err(_) => "-".into(),
            },
        };
        let state = states.get(&t).map_or("teacher", |s| s.name());
        out.push_str(&format!(
            "{t:<24} {:>8} {state:>9} {student}\n",
            counts.get(&t).copied().unwrap_or(0)
        ));
    }
    Ok(out)
}

fn export(
    cfg: &Config,
    task: &str,
    format: &str,
    validation: f64,
    seed: u64,
    out: &Path,
) -> Result<String, String> {
    let format: ExportFormat = format
        .parse()
        .map_err(|e: tierlm_distill::DistillError| e.to_string())?;
    let e = open_store(cfg)?
        .export(task, format, validation, seed)
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let train = out.join(format!("{task}.train.jsonl"));
    let valid = out.join(format!("{task}.validation.jsonl"));
    for (path, text) in [(&train, &e.train), (&valid, &e.validation)] {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(format!(
        "{}: {} examples\n{}: {} examples\n",
        train.display(),
        e.train_count,
        valid.display(),
        e.validation_count
    ))
}

fn train(cfg: &Config, task: &str, with_encoder: bool) -> Result<String, String> {
    let d = distill_config(cfg)?;
    let p = profile(cfg, task)?;
    let labels = p
        .labels
        .clone()
        .ok_or_else(|| format!("task `{task}` has no labels: only label tasks get a student"))?;
    let embedder = tierlm_gateway::load::embedder_id(cfg)
        .ok_or("the router has no embedding model to train a student on")?;
    let store = open_store(cfg)?;
    let records = store.records(task).map_err(|e| e.to_string())?;
    let (texts, targets) = label_examples(&records);
    if texts.is_empty() {
        return Err(format!(
            "task `{task}` has no labelled records yet (capture or synthesize some)"
        ));
    }
    let router = router(cfg)?;
    let embeddings = embed_all(&router, &texts)?;
    let (features, inputs) = match (&cfg.embeddings, with_encoder) {
        (Some(e), true) => {
            let encoder = tierlm_engine::EmbeddingModel::load(e)?;
            let words = router.config().route_words;
            let features =
                StudentFeatures::with_encoder(encoder.name(), encoder.dims(), &texts, words);
            let bodies: Vec<String> = texts.iter().map(|t| features.encoder_text(t)).collect();
            let encoded = tierlm_gateway::distill::encode(&encoder, &bodies)?;
            let inputs = embeddings
                .iter()
                .zip(&encoded)
                .map(|(r, e)| features.input(r, Some(e)).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, String>>()?;
            (features, inputs)
        }
        _ => (StudentFeatures::default(), embeddings),
    };
    let (student, report) = LabelStudent::train(
        task,
        &embedder,
        &features,
        &labels,
        &inputs,
        &targets,
        &TrainOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&d.students_dir)
        .map_err(|e| format!("{}: {e}", d.students_dir.display()))?;
    let path = d.students_dir.join(format!("{task}.json"));
    student.save(&path).map_err(|e| e.to_string())?;
    let reason = format!(
        "trained on {} examples; calibration accuracy {:.3}, ECE {:.3}",
        report.train_examples, report.calibration_accuracy, report.ece_after
    );
    let state = store
        .start_shadow(task, &who(), &reason)
        .map_err(|e| e.to_string())?;
    let reads = match &features.encoder {
        Some(name) => format!(
            "the router's embedding + {name} of the request after its first {} characters",
            features.prefix.len()
        ),
        None => "the router's embedding".to_string(),
    };
    Ok(format!(
        "{task}: student saved to {}\n  reads {reads}\n  {} training + {} calibration examples ({} skipped), {} epochs, {} ms\n  \
         train accuracy {:.3}, calibration accuracy {:.3}, ECE {:.3} -> {:.3} (temperature {:.2})\n  \
         route state: {} (restart the gateway to load the student)\n",
        path.display(),
        report.train_examples,
        report.calibration_examples,
        report.skipped,
        report.epochs,
        report.millis,
        report.train_accuracy,
        report.calibration_accuracy,
        report.ece_before,
        report.ece_after,
        report.temperature,
        state.name()
    ))
}

fn synthesize(
    cfg: &Config,
    task: &str,
    n: usize,
    base_url: &str,
    model: Option<&str>,
    api_key_env: &str,
) -> Result<String, String> {
    let p = profile(cfg, task)?;
    let labels = p
        .labels
        .clone()
        .ok_or_else(|| format!("task `{task}` has no labels to synthesise for"))?;
    let model = match model {
        Some(m) => m.to_string(),
        None => cfg
            .router
            .as_ref()
            .map(|r| r.cloud_model.clone())
            .ok_or("give --model (no [router] cloud_model)")?,
    };
    let store = open_store(cfg)?;
    let records = store.records(task).map_err(|e| e.to_string())?;
    let examples: Vec<SynthExample> = records
        .iter()
        .filter_map(|r| {
            r.label.as_ref().map(|l| SynthExample {
                text: r.input_text().to_string(),
                label: l.clone(),
            })
        })
        .collect();
    let messages = synth_prompt(task, p.instructions.as_deref(), &labels, &examples, n, 12)
        .map_err(|e| e.to_string())?;
    let body = serde_json::json!({
        "model": model,
        "messages": messages.iter().map(|m| serde_json::json!({"role": m.role, "content": m.content})).collect::<Vec<_>>(),
        "temperature": 0.8,
    });
    let key = std::env::var(api_key_env).unwrap_or_default();
    let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let reply: serde_json::Value = rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(&url)
            .timeout(std::time::Duration::from_secs(300))
            .json(&body);
        if !key.is_empty() {
            req = req.bearer_auth(&key);
        }
        let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let value: serde_json::Value = resp.json().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{url}: {status}: {value}"));
        }
        Ok(value)
    })?;
    let text = reply["choices"][0]["message"]["content"]
        .as_str()
        .ok_or("the teacher's reply has no message content")?;
    let existing = store.input_hashes(task).map_err(|e| e.to_string())?;
    let outcome = parse_synth_reply(text, &labels, &existing).map_err(|e| e.to_string())?;
    let now = tierlm_distill::now_ms();
    let new: Vec<_> = outcome
        .accepted
        .iter()
        .map(|e| synth_record(task, e, p.instructions.as_deref(), &model, now))
        .collect();
    let stored = store.insert_records(&new).map_err(|e| e.to_string())?;
    Ok(format!(
        "{task}: {stored} synthetic examples stored from {model}; {} rejected\n",
        outcome.rejected.len()
    ))
}
