//! The distillation flywheel on the request path (`[distill]`, see
//! docs/DISTILLATION.md and the `tierlm-distill` crate).
//!
//! - **Capture**: a routed request answered by the teacher (the cloud model) for a
//!   task profile becomes a training record — the request *as the cloud saw it*
//!   (placeholders, never the restored values) and the teacher's answer before
//!   restoration — queued without waiting; a full queue drops and counts.
//! - **Students**: `tierlm distill train` saves a label student per task in
//!   `students_dir`; the gateway loads them at start. A task's route state (teacher,
//!   shadow, student) lives in the distill database and is re-read every few seconds,
//!   so `tierlm distill promote|demote` in another process takes effect without a
//!   restart.
//! - **Shadow**: while a task is in shadow, each teacher answer (a sample of them, per
//!   `shadow_sample_rate`) is compared with the student's prediction for the same
//!   request, and the comparison is kept with the student's confidence; once the
//!   student agrees with the teacher on enough of what it is sure of (selective
//!   agreement, see `tierlm_distill::selective`), the store promotes the route with
//!   that confidence gate and logs why.
//! - **Generative students** (`generative_students`: a task's LoRA adapter, served as
//!   a local model): in shadow, a sample of the teacher-bound requests is also answered
//!   by the student in the background and compared with the teacher by ROUGE-L F1
//!   (`min_similarity`); once promoted, the student model answers the task's local
//!   requests without the cascade's check.
//! - **Serving**: once promoted, the student is tier 0: it answers the task's routine
//!   requests when its calibrated confidence reaches its gate (the one the shadow
//!   measured, or `student_min_confidence` after an operator's promotion); below it
//!   the request climbs the local tiers. Every student-served request feeds the drift
//!   monitor, which alarms (log, metric) and, per policy, demotes the route.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tierlm_api::chat::{ChatCompletion, ChatCompletionRequest};
use tierlm_distill::{
    normalise_label, CaptureQueue, DistillConfig, DistillStore, DriftMonitor, GenerativeStudent,
    LabelStudent, Message, Observation, Prediction, RecordSource, RouteState, TrainingRecord,
};
use tierlm_engine::embeddings::EmbedInput;
use tierlm_engine::EmbeddingModel;

/// How long a task's route state is trusted before the database is read again.
const STATE_TTL: Duration = Duration::from_secs(2);

/// What a task's student says about one request.
#[derive(Debug, Default)]
pub struct Consult {
    /// The student answers (promoted, and confident enough).
    pub serve: Option<Prediction>,
    /// Promoted, but below its gate: this confidence (a tier tried, not answering).
    pub declined: Option<f64>,
    /// The task is in shadow and this request is sampled: compare this prediction
    /// with the teacher's answer.
    pub shadow: Option<Prediction>,
}

/// What a generative task's student (a local model, e.g. a LoRA adapter) is asked to
/// do for one request.
#[derive(Debug, Default)]
pub struct GenerativeConsult {
    /// Promoted: this local model answers the request.
    pub serve: Option<String>,
    /// In shadow and sampled: this local model also answers, to be compared with the
    /// teacher.
    pub shadow: Option<String>,
}

/// The shadow student's answer text, arriving while the teacher answers.
pub type StudentAnswer = Arc<Mutex<Option<tokio::sync::oneshot::Receiver<String>>>>;

/// What the teacher path needs to learn from one answer.
#[derive(Debug, Clone)]
pub struct Learn {
    pub task: String,
    pub labels: Option<Vec<String>>,
    pub shadow: Option<Prediction>,
    /// A generative student's answer to compare with the teacher's (shadow).
    pub student_answer: Option<StudentAnswer>,
    /// `escalated` or `cloud`.
    pub route: &'static str,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct DistillCounters {
    pub student_answers: AtomicU64,
    pub shadow_agree: AtomicU64,
    pub shadow_disagree: AtomicU64,
    pub drift_alarms: AtomicU64,
}

/// The flywheel's state in a running gateway.
pub struct Distill {
    config: DistillConfig,
    store: Arc<DistillStore>,
    queue: CaptureQueue,
    students: HashMap<String, Arc<LabelStudent>>,
    /// The sentence encoder students of format 2 read (the `[embeddings]` model).
    encoder: Option<EmbeddingModel>,
    drift: HashMap<String, Mutex<DriftMonitor>>,
    states: Mutex<(Option<Instant>, HashMap<String, RouteState>)>,
    sampled: AtomicU64,
    pub counters: DistillCounters,
    /// Where shadow comparisons run (the gateway's tracked tasks).
    tasks: crate::tasks::Tasks,
}

/// The sentence encoder's vectors of `texts`, as label students read them (an empty
/// text is encoded as a blank, which the encoder reads as its special tokens alone).
/// Blocking and CPU-heavy.
pub fn encode(encoder: &EmbeddingModel, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
    let inputs: Vec<EmbedInput> = texts
        .iter()
        .map(|t| EmbedInput::Text(if t.is_empty() { " ".into() } else { t.clone() }))
        .collect();
    encoder
        .embed(&inputs)
        .map(|(vectors, _)| vectors)
        .map_err(|e| format!("sentence encoder: {}", e.message))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Distill {
    /// Opens the store, starts the capture writer and loads every saved student whose
    /// embeddings are the router's (`embedder`, see `load::embedder_id`) and whose
    /// sentence encoder, if it reads one, is `encoder`. Blocking (SQLite, files).
    pub fn open(
        config: &DistillConfig,
        embedder: Option<&str>,
        encoder: Option<EmbeddingModel>,
        tasks: crate::tasks::Tasks,
    ) -> Result<Self, String> {
        let store =
            Arc::new(DistillStore::open(&config.path).map_err(|e| format!("distill store: {e}"))?);
        let queue = CaptureQueue::start(Arc::clone(&store), config.capture.queue)
            .map_err(|e| format!("distill capture: {e}"))?;
        let mut students = HashMap::new();
        let mut drift = HashMap::new();
        if let Ok(entries) = std::fs::read_dir(&config.students_dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                match LabelStudent::load(&path) {
                    Ok(s) if Some(s.embedding_model.as_str()) != embedder => tracing::warn!(
                        task = %s.task,
                        trained_on = %s.embedding_model,
                        router = embedder.unwrap_or("none"),
                        "student not loaded: it was trained on other embeddings; retrain it"
                    ),
                    Ok(s)
                        if s.features.encoder.is_some()
                            && s.features.encoder.as_deref()
                                != encoder.as_ref().map(|e| e.name()) =>
                    {
                        tracing::warn!(
                            task = %s.task,
                            reads = ?s.features.encoder,
                            loaded = encoder.as_ref().map(|e| e.name()).unwrap_or("none"),
                            "student not loaded: it reads another sentence encoder; retrain it"
                        )
                    }
                    Ok(s) => {
                        tracing::info!(task = %s.task, path = %path.display(), "student loaded");
                        drift.insert(
                            s.task.clone(),
                            Mutex::new(DriftMonitor::for_student(&s, config.drift.clone())),
                        );
                        students.insert(s.task.clone(), Arc::new(s));
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "student not loaded")
                    }
                }
            }
        }
        for task in config.generative_students.keys() {
            let path = GenerativeStudent::path_in(&config.students_dir, task);
            match GenerativeStudent::load(&path) {
                Ok(card) if Some(card.embedding_model.as_str()) == embedder => {
                    let monitor = DriftMonitor::new(task, card.distribution, config.drift.clone());
                    drift.insert(task.clone(), Mutex::new(monitor));
                }
                Ok(card) => tracing::warn!(
                    task,
                    trained_on = %card.embedding_model,
                    "generative student: drift not watched, its reference is from other embeddings"
                ),
                Err(e) => tracing::warn!(
                    task,
                    error = %e,
                    "generative student: drift not watched (no reference; retrain with `tierlm distill train`)"
                ),
            }
        }
        Ok(Self {
            config: config.clone(),
            store,
            queue,
            students,
            encoder,
            drift,
            states: Mutex::new((None, HashMap::new())),
            sampled: AtomicU64::new(0),
            counters: DistillCounters::default(),
            tasks,
        })
    }

    pub fn config(&self) -> &DistillConfig {
        &self.config
    }

    /// Capture counters: queued, written, dropped (queue full), failed (write error).
    pub fn capture_stats(&self) -> tierlm_distill::CaptureStats {
        self.queue.stats()
    }

    /// The task's route state (cached for [`STATE_TTL`]). Blocking on a refresh.
    fn state(&self, task: &str) -> RouteState {
        let mut cache = lock(&self.states);
        if cache.0.is_none_or(|at| at.elapsed() > STATE_TTL) {
            match self.store.route_states() {
                Ok(all) => *cache = (Some(Instant::now()), all.into_iter().collect()),
                Err(e) => tracing::warn!(error = %e, "distill: cannot read route states"),
            }
        }
        cache.1.get(task).cloned().unwrap_or(RouteState::Teacher)
    }

    fn forget_states(&self) {
        lock(&self.states).0 = None;
    }

    /// Whether this shadow request is compared (`shadow_sample_rate`); deterministic:
    /// every k-th request for a rate of 1/k.
    fn sample(&self) -> bool {
        let rate = self.config.promotion.shadow_sample_rate;
        let n = self.sampled.fetch_add(1, Ordering::Relaxed);
        rate >= 1.0 || (rate > 0.0 && (n as f64 * rate).fract() + rate >= 1.0)
    }

    /// A generative task's student (`generative_students`): whether it answers this
    /// request (promoted) or shadows the teacher on it. Blocking (route states).
    /// A served request's embedding feeds the task's drift monitor (when its card has
    /// a reference).
    pub fn consult_generative(&self, task: &str, embedding: Option<&[f32]>) -> GenerativeConsult {
        let Some(model) = self.config.generative_students.get(task) else {
            return GenerativeConsult::default();
        };
        let state = self.state(task);
        if state.student_serves() {
            self.observe(
                task,
                Observation {
                    embedding,
                    confidence: None,
                    shadow_agreed: None,
                },
            );
            if !self.state(task).student_serves() {
                // The drift alarm just handed the route back.
                return GenerativeConsult::default();
            }
            return GenerativeConsult {
                serve: Some(model.clone()),
                shadow: None,
            };
        }
        GenerativeConsult {
            serve: None,
            shadow: (state.is_shadow() && self.sample()).then(|| model.clone()),
        }
    }

    /// What the task's student (if any) says about a request with this router
    /// embedding. Blocking (it may refresh the route states, and run the sentence
    /// encoder over the request's text).
    pub fn consult(&self, task: &str, embedding: &[f32], req: &ChatCompletionRequest) -> Consult {
        let Some(student) = self.students.get(task) else {
            return Consult::default();
        };
        let state = self.state(task);
        let shadow = state.is_shadow();
        // In shadow only the sampled requests are compared: the others cost nothing.
        if !(state.student_serves() || (shadow && self.sample())) {
            return Consult::default();
        }
        let prediction = match self.student_input(student, embedding, req) {
            Ok(x) => student.predict(&x).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let prediction = match prediction {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(task, error = %e, "distill: the student cannot read this request");
                return Consult::default();
            }
        };
        if shadow {
            return Consult {
                shadow: Some(prediction),
                ..Consult::default()
            };
        }
        self.observe(
            task,
            Observation {
                embedding: Some(embedding),
                confidence: Some(prediction.confidence),
                shadow_agreed: None,
            },
        );
        let gate = state
            .student_gate()
            .unwrap_or(self.config.student_min_confidence);
        if prediction.confidence >= gate {
            self.counters
                .student_answers
                .fetch_add(1, Ordering::Relaxed);
            Consult {
                serve: Some(prediction),
                ..Consult::default()
            }
        } else {
            Consult {
                declined: Some(prediction.confidence),
                ..Consult::default()
            }
        }
    }

    /// The student's input for a request: the router's embedding, then the sentence
    /// encoder's vector of the request's text when the student reads one.
    fn student_input(
        &self,
        student: &LabelStudent,
        embedding: &[f32],
        req: &ChatCompletionRequest,
    ) -> Result<Vec<f32>, String> {
        let encoded = match (&student.features.encoder, &self.encoder) {
            (None, _) => None,
            (Some(_), Some(encoder)) => {
                let text = student
                    .features
                    .encoder_text(&tierlm_router::router::request_text(req));
                encode(encoder, &[text])?.pop()
            }
            (Some(name), None) => return Err(format!("the sentence encoder {name} is not loaded")),
        };
        student
            .features
            .input(embedding, encoded.as_deref())
            .map_err(|e| e.to_string())
    }

    /// Feeds the task's drift monitor; an alarm is logged, counted and, per policy,
    /// hands the route back to the teacher.
    fn observe(&self, task: &str, obs: Observation<'_>) {
        let Some(monitor) = self.drift.get(task) else {
            return;
        };
        let alarm = lock(monitor).observe(obs);
        let Some(alarm) = alarm else { return };
        self.counters.drift_alarms.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(task, alarm = %alarm, "distill: drift");
        if self.config.drift.demote && self.state(task).student_serves() {
            match self.store.demote(task, "drift", &alarm.to_string()) {
                Ok(_) => tracing::warn!(task, "distill: route handed back to the teacher"),
                Err(e) => tracing::error!(task, error = %e, "distill: cannot demote"),
            }
            self.forget_states();
        }
    }

    /// The teacher answered a routed request: capture it (when configured) and score
    /// the student's shadow prediction. `outgoing` is the request as the cloud saw it,
    /// `answer` the teacher's answer text (the first choice, whole — a stream's
    /// content joined) before any restoration, `answer_id` its completion id. Does not
    /// block: the store work runs on the blocking pool.
    #[allow(clippy::too_many_arguments)]
    pub fn teacher_answered(
        self: &Arc<Self>,
        learn: &Learn,
        outgoing: &ChatCompletionRequest,
        answer: &str,
        answer_id: &str,
        teacher_model: &str,
        request_id: &str,
        tenant: Option<&str>,
    ) {
        let label = learn
            .labels
            .as_deref()
            .and_then(|labels| normalise_label(answer, labels));
        if self
            .config
            .capture
            .should_capture(tenant, Some(&learn.task), learn.route)
        {
            let record = TrainingRecord {
                id: if request_id.is_empty() {
                    answer_id.to_string()
                } else {
                    request_id.to_string()
                },
                time_ms: tierlm_api::ids::unix_ms(),
                tenant: tenant.map(str::to_string),
                task: learn.task.clone(),
                route: learn.route.to_string(),
                messages: outgoing
                    .messages
                    .iter()
                    .map(|m| {
                        let content = m
                            .content
                            .as_ref()
                            .and_then(|c| c.text().ok())
                            .unwrap_or_default();
                        Message::new(m.role.as_str(), content)
                    })
                    .collect(),
                answer: answer.to_string(),
                teacher_model: teacher_model.to_string(),
                label: label.clone(),
                source: RecordSource::Captured,
            };
            // A full queue drops (and counts); the request never waits.
            self.queue.try_capture(record);
        }
        if let (Some(shadow), Some(teacher)) = (&learn.shadow, label) {
            let agreed = shadow.label == teacher;
            let confidence = Some(shadow.confidence);
            let counter = if agreed {
                &self.counters.shadow_agree
            } else {
                &self.counters.shadow_disagree
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let me = Arc::clone(self);
            let task = learn.task.clone();
            self.tasks
                .spawn_blocking(move || me.record_shadow(&task, agreed, confidence));
        }
        if let Some(slot) = &learn.student_answer {
            self.compare_generative(&learn.task, slot, answer);
        }
    }

    /// Compares a generative student's answer, once it arrives, with the teacher's
    /// (ROUGE-L F1 against `promotion.min_similarity`) and records the sample.
    fn compare_generative(self: &Arc<Self>, task: &str, slot: &StudentAnswer, teacher: &str) {
        let Some(rx) = lock(slot).take() else { return };
        let me = Arc::clone(self);
        let task = task.to_string();
        let teacher = teacher.to_string();
        let tasks = self.tasks.clone();
        self.tasks.spawn(async move {
            // No answer (the student failed, or the request ended early): no sample.
            let Ok(student) = rx.await else { return };
            let similarity = tierlm_eval::score::rouge_l(&student, &teacher);
            let agreed = similarity >= me.config.promotion.min_similarity;
            let counter = if agreed {
                &me.counters.shadow_agree
            } else {
                &me.counters.shadow_disagree
            };
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                task,
                similarity,
                agreed,
                "distill: generative shadow sample"
            );
            let _ = tasks
                .spawn_blocking(move || me.record_shadow(&task, agreed, None))
                .await;
        });
    }

    /// Records one shadow comparison (`confidence`: the student's, when it has one).
    fn record_shadow(&self, task: &str, agreed: bool, confidence: Option<f64>) {
        self.observe(
            task,
            Observation {
                embedding: None,
                confidence: None,
                shadow_agreed: Some(agreed),
            },
        );
        let before = self.state(task);
        match self.store.record_shadow(
            task,
            tierlm_distill::ShadowSample { confidence, agreed },
            &self.config.promotion.policy(),
        ) {
            Ok(after) => {
                if after.student_serves() && !before.student_serves() {
                    tracing::info!(task, state = ?after, "distill: route promoted to its student");
                    self.forget_states();
                }
            }
            Err(e) => tracing::warn!(task, error = %e, "distill: cannot record a shadow sample"),
        }
    }
}

/// How a task's label student is named as a tier (`student:sms_spam`).
pub fn student_name(task: &str) -> String {
    format!("student:{task}")
}

/// A student's answer as a chat completion: the label (once per requested choice),
/// no log-probabilities, no tokens (no language model ran).
pub fn student_completion(
    req: &ChatCompletionRequest,
    task: &str,
    p: &Prediction,
) -> ChatCompletion {
    use tierlm_api::chat::{AssistantMessage, ChatChoice, FinishReason};
    let choices = (0..req.n.unwrap_or(1).max(1))
        .map(|index| ChatChoice {
            index,
            message: AssistantMessage::new(Some(p.label.clone()), None),
            logprobs: None,
            finish_reason: FinishReason::Stop,
        })
        .collect();
    ChatCompletion {
        id: tierlm_api::ids::new_id("chatcmpl"),
        object: "chat.completion".into(),
        created: tierlm_api::ids::unix_now(),
        model: student_name(task),
        choices,
        usage: tierlm_api::Usage::new(0, 0),
        system_fingerprint: None,
    }
}
