//! The routing decision for one request, in a fixed order of precedence:
//!
//! 1. **data policy** — a `local_only` verdict from the guard wins over everything;
//! 2. **budget** — a key over its budget is served locally or refused (`over_budget`);
//! 3. **rules** — the first `[[router.rules]]` entry whose tenant/key/profile/class
//!    match decides (an administrator's rule beats a client's hint);
//! 4. **hint** — the client's `x-tierlm-route: local|cloud` header, when allowed;
//! 5. **classifier** — complex work goes to the cloud; routine work goes local, through
//!    the cascade when its profile has a threshold. A request that matches no profile
//!    well enough goes to the cloud when a complexity cue (code, maths, multi-step,
//!    length) is strong, else takes `default_route`; for a matched but unclear routine
//!    verdict only the precise cues (code, length) can overrule it.
//!
//! The classifier runs first whatever the outcome, because the local model is asked
//! in the profile's way (instructions, demonstrations, label set) even when a rule or
//! a hint sent the request local. Every decision carries a short machine-readable
//! reason that ends up in the `x-tierlm-reason` header and the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tierlm_api::chat::{ChatCompletionRequest, ChatMessage, Role};

use crate::classify::{Classifier, Embedder, Verdict};
use crate::config::{Class, DefaultRoute, OverBudget, ProfileConfig, RouterConfig, RuleRoute};
use crate::features::Features;
use crate::reason::Reason;

/// A client's routing hint (`x-tierlm-route`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// `local`: the profile's first (cheapest) local tier.
    Local,
    /// `local:MODEL`: that local tier, asked the profile's way (what an evaluation
    /// needs to measure each tier, and an operator to try one).
    Tier(String),
    /// `cloud`: the router's cloud model.
    Cloud,
}

impl Hint {
    /// Parse the header value; `None` for anything else.
    pub fn parse(v: &str) -> Option<Self> {
        let v = v.trim();
        if let Some((head, model)) = v.split_once(':') {
            let model = model.trim();
            return (head.trim().eq_ignore_ascii_case("local") && !model.is_empty())
                .then(|| Hint::Tier(model.to_string()));
        }
        match v.to_ascii_lowercase().as_str() {
            "local" => Some(Hint::Local),
            "cloud" => Some(Hint::Cloud),
            _ => None,
        }
    }

    /// The local tier this hint names, if it names one.
    pub fn tier(&self) -> Option<&str> {
        match self {
            Hint::Tier(m) => Some(m),
            _ => None,
        }
    }
}

/// What the data guard concluded about the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sensitivity {
    #[default]
    Normal,
    /// The request must not leave the premises.
    LocalOnly,
}

/// What the gateway knows about the caller.
#[derive(Debug, Clone, Default)]
pub struct RouteContext {
    pub hint: Option<Hint>,
    pub tenant: Option<String>,
    pub key: Option<String>,
    pub sensitivity: Sensitivity,
    pub over_budget: bool,
}

/// Where the request goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Route {
    Local,
    Cloud,
    /// Local first; escalate when the answer's confidence is below the threshold.
    Cascade {
        threshold: f64,
    },
    Refuse,
}

/// A routing decision and why it was taken.
#[derive(Debug, Clone)]
pub struct Decision {
    pub route: Route,
    /// Machine-readable reason (`classifier_complex`, `hint_local`, ...).
    pub reason: Reason,
    /// The profile the classifier picked, if any matched.
    pub profile: Option<Arc<Profile>>,
    /// The classifier's verdict: routine or complex.
    pub class: Option<Class>,
    pub similarity: Option<f32>,
    /// The request's embedding, as the classifier saw it (for students and drift).
    pub embedding: Option<Vec<f32>>,
    /// The router's own time.
    pub elapsed: Duration,
}

/// The name of tier 0 in a tier list: the task's promoted student.
pub const STUDENT_TIER: &str = "student";

/// One local tier of a routed request: the model that answers and the confidence its
/// answer must reach to be returned.
#[derive(Debug, Clone, PartialEq)]
pub struct TierPlan {
    pub model: String,
    pub threshold: f64,
}

/// A task profile ready to use.
#[derive(Debug)]
pub struct Profile {
    pub config: ProfileConfig,
    /// The cascade threshold (calibrated threshold, else `min_confidence`).
    pub threshold: Option<f64>,
    /// GBNF that only admits one of the labels.
    pub grammar: Option<String>,
}

impl Profile {
    pub fn name(&self) -> &str {
        &self.config.name
    }
}

/// A routine verdict with a clear margin is trusted over the complexity cues.
const CUE_OVERRIDE_MARGIN: f32 = 0.1;

pub struct Router {
    config: RouterConfig,
    profiles: Vec<Arc<Profile>>,
    classifier: Classifier,
    embedder: Option<Arc<dyn Embedder>>,
}

/// A GBNF grammar whose only sentences are the labels.
pub fn label_grammar(labels: &[String]) -> String {
    let alts: Vec<String> = labels
        .iter()
        .map(|l| {
            let escaped: String = l
                .chars()
                .flat_map(|c| match c {
                    '"' => vec!['\\', '"'],
                    '\\' => vec!['\\', '\\'],
                    '\n' => vec!['\\', 'n'],
                    c => vec![c],
                })
                .collect();
            format!("\"{escaped}\"")
        })
        .collect();
    format!("root ::= {}\n", alts.join(" | "))
}

/// The text the classifier reads: the last user message (all text when there is none).
pub fn request_text(req: &ChatCompletionRequest) -> String {
    let text_of = |m: &ChatMessage| {
        m.content
            .as_ref()
            .and_then(|c| c.text().ok())
            .unwrap_or_default()
    };
    match req.messages.iter().rev().find(|m| m.role == Role::User) {
        Some(m) => text_of(m),
        None => req
            .messages
            .iter()
            .map(text_of)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

impl Router {
    /// Build the router; embeds every profile's examples (profiles need an embedder).
    pub fn new(config: RouterConfig, embedder: Option<Arc<dyn Embedder>>) -> Result<Self, String> {
        config.validate()?;
        let classifier = match (&embedder, config.profiles.is_empty()) {
            (_, true) => Classifier::build(&NoEmbedder, &[], config.route_words, config.top_k)?,
            (Some(e), false) => {
                let specs: Vec<(Vec<String>, bool)> = config
                    .profiles
                    .iter()
                    .map(|p| (p.examples.clone(), p.class == Class::Complex))
                    .collect();
                Classifier::build(e.as_ref(), &specs, config.route_words, config.top_k)?
            }
            (None, false) => {
                return Err(
                    "router.profiles need an embedding model: configure [embeddings]".into(),
                )
            }
        };
        let profiles = config
            .profiles
            .iter()
            .map(|p| {
                Arc::new(Profile {
                    threshold: config.thresholds.get(&p.name).copied().or(p.min_confidence),
                    grammar: p.labels.as_deref().map(label_grammar),
                    config: p.clone(),
                })
            })
            .collect();
        Ok(Self {
            config,
            profiles,
            classifier,
            embedder,
        })
    }

    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    pub fn profiles(&self) -> &[Arc<Profile>] {
        &self.profiles
    }

    /// Whether requests for this model name are routed.
    pub fn routes(&self, model: &str) -> bool {
        self.config.models.iter().any(|m| m == model)
    }

    /// The classifier's verdict and the embedding it came from.
    fn verdict(&self, text: &str) -> Result<(Option<Verdict>, Option<Vec<f32>>), String> {
        if self.classifier.is_empty() {
            return Ok((None, None));
        }
        let Some(embedder) = &self.embedder else {
            return Ok((None, None));
        };
        let q = self.classifier.embed_request(embedder.as_ref(), text)?;
        Ok((self.classifier.classify(&q), Some(q)))
    }

    /// A text embedded exactly as the classifier embeds a request (same embedder, same
    /// word limit): what students are trained on and consulted with. `None` without
    /// an embedder.
    pub fn embed_text(&self, text: &str) -> Option<Result<Vec<f32>, String>> {
        let embedder = self.embedder.as_ref()?;
        Some(self.classifier.embed_request(embedder.as_ref(), text))
    }

    /// Decide where a routed request goes. Blocking (it embeds the request text).
    pub fn decide(&self, req: &ChatCompletionRequest, ctx: &RouteContext) -> Decision {
        let started = Instant::now();
        let text = request_text(req);
        let mut d = Decision {
            route: Route::Local,
            reason: Reason::NoProfile,
            profile: None,
            class: None,
            similarity: None,
            embedding: None,
            elapsed: Duration::ZERO,
        };
        // Classify first: the profile shapes the local request whatever decides.
        let verdict = match self.verdict(&text) {
            Ok((v, embedding)) => {
                d.embedding = embedding;
                v
            }
            Err(e) => {
                tracing::warn!(error = %e, "router: cannot embed the request; using the default route");
                d.reason = Reason::ClassifierUnavailable;
                None
            }
        };
        let mut classified: Option<(Route, Reason)> = None;
        match verdict {
            Some(v) if v.similarity >= self.config.min_similarity => {
                let profile = Arc::clone(&self.profiles[v.profile]);
                let mut class = profile.config.class;
                let mut reason = match class {
                    Class::Complex => Reason::ClassifierComplex,
                    Class::Routine => Reason::ClassifierRoutine,
                };
                // Only the precise cues (code, sheer length) may overrule an unclear
                // routine verdict: maths and multi-step words are everywhere in prose
                // (news, abstracts), which the development workload showed.
                if class == Class::Routine && v.similarity - v.other_class < CUE_OVERRIDE_MARGIN {
                    let f = Features::of(&text, self.config.complexity.long_prompt_words);
                    let (cue, score) = f.strongest_precise();
                    if score >= self.config.complexity.threshold {
                        class = Class::Complex;
                        reason = cue.reason();
                    }
                }
                let route = match (class, profile.threshold) {
                    (Class::Complex, _) => Route::Cloud,
                    (Class::Routine, Some(t)) => Route::Cascade { threshold: t },
                    (Class::Routine, None) => Route::Local,
                };
                d.class = Some(class);
                d.similarity = Some(v.similarity);
                d.profile = Some(profile);
                classified = Some((route, reason));
            }
            // No profile is close: the cues, all of them, tell complex work from the rest.
            _ => {
                d.similarity = verdict.map(|v| v.similarity);
                let f = Features::of(&text, self.config.complexity.long_prompt_words);
                let (cue, score) = f.strongest();
                if score >= self.config.complexity.threshold {
                    d.class = Some(Class::Complex);
                    classified = Some((Route::Cloud, cue.reason()));
                }
            }
        }
        let (route, reason) = self.policy(ctx, &d).unwrap_or_else(|| {
            classified.unwrap_or_else(|| {
                // `NoProfile`, or `ClassifierUnavailable` when embedding failed.
                let reason = d.reason;
                let route = match self.config.default_route {
                    DefaultRoute::Local => Route::Local,
                    DefaultRoute::Cloud => Route::Cloud,
                    DefaultRoute::Cascade => Route::Cascade {
                        threshold: self.config.default_min_confidence,
                    },
                };
                (route, reason)
            })
        });
        d.route = route;
        d.reason = reason;
        d.elapsed = started.elapsed();
        d
    }

    /// The policy stages (1–4), given what the classifier found.
    fn policy(&self, ctx: &RouteContext, d: &Decision) -> Option<(Route, Reason)> {
        if ctx.sensitivity == Sensitivity::LocalOnly {
            return Some((Route::Local, Reason::GuardLocalOnly));
        }
        if ctx.over_budget {
            return Some(match self.config.over_budget {
                OverBudget::Local => (Route::Local, Reason::OverBudgetLocal),
                OverBudget::Refuse => (Route::Refuse, Reason::OverBudgetRefused),
            });
        }
        let profile = d.profile.as_ref().map(|p| p.name());
        let rule = self.config.rules.iter().find(|r| {
            matches(&r.tenant, ctx.tenant.as_deref())
                && matches(&r.key, ctx.key.as_deref())
                && matches(&r.profile, profile)
                && r.class.is_none_or(|c| d.class == Some(c))
        });
        if let Some(r) = rule {
            return Some((r_route(r.route), Reason::PolicyRule));
        }
        match ctx.hint.as_ref().filter(|_| self.config.hint_header) {
            Some(Hint::Local | Hint::Tier(_)) => Some((Route::Local, Reason::HintLocal)),
            Some(Hint::Cloud) => Some((Route::Cloud, Reason::HintCloud)),
            None => None,
        }
    }

    /// Policy for a request that names a concrete cloud model: `Some` when policy
    /// overrides it (the data must stay local, or a rule refuses it).
    pub fn check_cloud_request(&self, ctx: &RouteContext) -> Option<(Route, Reason)> {
        if ctx.sensitivity == Sensitivity::LocalOnly {
            return Some((Route::Local, Reason::GuardLocalOnly));
        }
        let rule = self.config.rules.iter().find(|r| {
            r.profile.is_none()
                && r.class.is_none()
                && matches(&r.tenant, ctx.tenant.as_deref())
                && matches(&r.key, ctx.key.as_deref())
        })?;
        match r_route(rule.route) {
            Route::Cloud => None,
            other => Some((other, Reason::PolicyRule)),
        }
    }

    /// The local tiers a request of this profile climbs, cheapest first, each with its
    /// gate: the profile's `tiers`, else the router's, else its one local model (the
    /// profile's `local_model` or the router's). `student` entries are tier 0, which the
    /// gateway consults before any model, so they are not model tiers here. A tier's
    /// gate is its calibrated `thresholds["PROFILE/MODEL"]`, else `base`.
    pub fn tiers(&self, profile: Option<&Profile>, base: f64) -> Vec<TierPlan> {
        let cfg = profile.map(|p| &p.config);
        let names: Vec<String> = match cfg.and_then(|c| c.tiers.clone()) {
            Some(t) => t,
            None if !self.config.tiers.is_empty()
                && cfg.and_then(|c| c.local_model.as_ref()).is_none() =>
            {
                self.config.tiers.clone()
            }
            None => vec![cfg
                .and_then(|c| c.local_model.clone())
                .unwrap_or_else(|| self.config.local_model.clone())],
        };
        let mut names: Vec<String> = names.into_iter().filter(|n| n != STUDENT_TIER).collect();
        if names.is_empty() {
            names.push(self.config.local_model.clone());
        }
        names
            .into_iter()
            .map(|model| {
                let key = profile.map(|p| format!("{}/{model}", p.name()));
                let threshold = key
                    .and_then(|k| self.config.thresholds.get(&k).copied())
                    .unwrap_or(base);
                TierPlan { model, threshold }
            })
            .collect()
    }

    /// How long a request of this profile may spend on local tiers.
    pub fn deadline(&self, profile: Option<&Profile>) -> Option<Duration> {
        profile
            .and_then(|p| p.config.deadline_ms)
            .or(self.config.deadline_ms)
            .map(Duration::from_millis)
    }

    /// Whether escalated and complex work has a cloud model to go to.
    pub fn has_cloud(&self) -> bool {
        !self.config.cloud_model.is_empty()
    }

    /// The request the local model answers: the profile's instructions and
    /// demonstrations before the client's messages, the profile's token cap, greedy
    /// decoding for label answers, and log-probabilities for the confidence check.
    pub fn shape_local(
        &self,
        req: &ChatCompletionRequest,
        profile: Option<&Profile>,
        want_confidence: bool,
    ) -> ChatCompletionRequest {
        let mut out = req.clone();
        out.model = self.config.local_model.clone();
        if want_confidence {
            out.logprobs = Some(true);
            out.top_logprobs = Some(out.top_logprobs.unwrap_or(0).max(20));
        }
        let Some(p) = profile else { return out };
        let cfg = &p.config;
        if let Some(model) = &cfg.local_model {
            out.model = model.clone();
        }
        if let Some(cap) = cfg.max_tokens {
            let asked = req.max_completion_tokens.or(req.max_tokens);
            out.max_tokens = Some(asked.map_or(cap, |a| a.min(cap)));
            out.max_completion_tokens = None;
        }
        if cfg.labels.is_some() {
            out.temperature = Some(0.0);
            out.n = None;
        }
        if cfg.deterministic {
            out.deterministic = Some(true);
        }
        let mut messages = Vec::with_capacity(req.messages.len() + 2 * cfg.few_shot.len() + 1);
        let mut system: Vec<String> = cfg.instructions.iter().cloned().collect();
        let mut rest = Vec::new();
        for m in &req.messages {
            match (&m.role, m.content.as_ref().and_then(|c| c.text().ok())) {
                (Role::System | Role::Developer, Some(t)) if rest.is_empty() => system.push(t),
                _ => rest.push(m.clone()),
            }
        }
        if !system.is_empty() {
            messages.push(ChatMessage::text(Role::System, system.join("\n\n")));
        }
        for shot in &cfg.few_shot {
            messages.push(ChatMessage::text(Role::User, shot.input.clone()));
            messages.push(ChatMessage::text(Role::Assistant, shot.output.clone()));
        }
        messages.extend(rest);
        out.messages = messages;
        out
    }
}

fn r_route(r: RuleRoute) -> Route {
    match r {
        RuleRoute::Local => Route::Local,
        RuleRoute::Cloud => Route::Cloud,
        RuleRoute::Refuse => Route::Refuse,
    }
}

fn matches(want: &Option<String>, have: Option<&str>) -> bool {
    want.as_deref().is_none_or(|w| have == Some(w))
}

struct NoEmbedder;

impl Embedder for NoEmbedder {
    fn embed(&self, _: &[String]) -> Result<Vec<Vec<f32>>, String> {
        Err("no embedding model".into())
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
