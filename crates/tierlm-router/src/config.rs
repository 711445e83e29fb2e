//! The `[router]` section of the configuration: which model names are routed, which
//! local and cloud models serve them, the policy rules, the task profiles the classifier
//! compares requests with, and the cascade thresholds.
//!
//! Everything is strict (`deny_unknown_fields`) and checked by [`RouterConfig::validate`],
//! which names the offending key, so a typo never silently changes where data goes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which kind of work a profile describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Narrow work a small model does well: answered locally (through the cascade when
    /// the profile has a threshold).
    Routine,
    /// Work worth a frontier model: answered by the cloud model.
    Complex,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Routine => "routine",
            Class::Complex => "complex",
        }
    }
}

/// How the classifier turns text into vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClassifierKind {
    /// Mean of the embedding model's input token vectors: microseconds per request.
    #[default]
    Static,
    /// The full sentence encoder: better on paraphrase, ~17 ms per request on 2 cores.
    Contextual,
}

/// Where a request that matches no profile goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultRoute {
    Local,
    Cloud,
    /// Local first; escalate below `default_min_confidence`.
    Cascade,
}

/// What a policy rule does with the requests it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleRoute {
    Local,
    Cloud,
    Refuse,
}

/// What happens to a request whose key is over its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OverBudget {
    /// Serve it with the local model (costs nothing).
    #[default]
    Local,
    /// Answer 403 `refused_by_policy`.
    Refuse,
}

/// A policy rule; every field that is set must match. First match wins.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub tenant: Option<String>,
    pub key: Option<String>,
    /// The task profile the classifier picked.
    pub profile: Option<String>,
    pub class: Option<Class>,
    pub route: RuleRoute,
}

/// A demonstration turn for the local model.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FewShot {
    pub input: String,
    pub output: String,
}

/// A task profile: example prompts for the classifier, and how the local model should
/// be asked (instructions, demonstrations, label set) and trusted (threshold).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    pub name: String,
    pub class: Class,
    pub examples: Vec<String>,
    /// The answer is one of these labels: the local model is constrained to them and its
    /// confidence is measured over them.
    pub labels: Option<Vec<String>>,
    /// A system prompt for the local model.
    pub instructions: Option<String>,
    #[serde(default)]
    pub few_shot: Vec<FewShot>,
    /// Cascade threshold in [0, 1]: a local answer less confident than this escalates.
    /// Unset on a routine profile: answered locally without a check.
    pub min_confidence: Option<f64>,
    /// Most tokens the local model may write for this profile.
    pub max_tokens: Option<u32>,
    /// The local model this profile's requests go to instead of `router.local_model`
    /// (e.g. a LoRA adapter trained for the task by `tierlm distill train`).
    pub local_model: Option<String>,
    /// The local tiers this profile climbs before the cloud, cheapest first (model
    /// names; `student` names tier 0, the promoted student). Default: `router.tiers`.
    pub tiers: Option<Vec<String>>,
    /// A tier whose expected time (its measured speed and its queue) would pass this
    /// deadline is skipped. Default: `router.deadline_ms`.
    pub deadline_ms: Option<u64>,
    /// Local answers are decoded in a batch of their own, so at temperature 0 they are
    /// byte-identical whatever else the engine runs (the request's own `deterministic`
    /// field asks the same).
    #[serde(default)]
    pub deterministic: bool,
}

/// Weights of the complexity cues (see `features`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComplexityConfig {
    /// A routine verdict turns complex when the cue score reaches this (0–1; above 1
    /// turns the cues off).
    pub threshold: f32,
    /// Prompts longer than this many words count as complex.
    pub long_prompt_words: usize,
}

impl Default for ComplexityConfig {
    fn default() -> Self {
        Self {
            threshold: 0.9,
            long_prompt_words: 3000,
        }
    }
}

fn default_models() -> Vec<String> {
    vec!["auto".to_string()]
}
fn yes() -> bool {
    true
}
fn default_min_similarity() -> f32 {
    0.25
}
fn default_route_words() -> usize {
    128
}
fn default_top_k() -> usize {
    3
}
fn default_min_confidence() -> f64 {
    0.5
}

/// The `[router]` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// Model names whose requests are routed.
    #[serde(default = "default_models")]
    pub models: Vec<String>,
    /// The local chat model that answers routine work.
    pub local_model: String,
    /// The cloud model (a `[[cloud_models]]` name) that answers complex and escalated
    /// work. Empty: no cloud; a routed request gets the most confident local answer.
    #[serde(default)]
    pub cloud_model: String,
    /// The local tiers every profile climbs before the cloud, cheapest first (model
    /// names; `student` names tier 0). Default: `[local_model]`.
    #[serde(default)]
    pub tiers: Vec<String>,
    /// Skip a local tier whose expected time would pass this many milliseconds.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    /// Honour the client's `x-tierlm-route: local|cloud` header.
    #[serde(default = "yes")]
    pub hint_header: bool,
    /// Where requests that match no profile go.
    #[serde(default = "default_route")]
    pub default_route: DefaultRoute,
    /// Cascade threshold for requests that match no profile (when `default_route = "cascade"`).
    #[serde(default = "default_min_confidence")]
    pub default_min_confidence: f64,
    /// How requests and examples are embedded.
    #[serde(default)]
    pub classifier: ClassifierKind,
    /// Cosine similarity below which a request matches no profile.
    #[serde(default = "default_min_similarity")]
    pub min_similarity: f32,
    /// The classifier embeds the first this-many words of the last user message.
    #[serde(default = "default_route_words")]
    pub route_words: usize,
    /// A profile's score is the mean of its `top_k` most similar examples.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    #[serde(default)]
    pub over_budget: OverBudget,
    #[serde(default)]
    pub complexity: ComplexityConfig,
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub profiles: Vec<ProfileConfig>,
    /// Per-profile cascade thresholds that override `min_confidence` (what
    /// `tierlm eval --calibrate` writes).
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
}

fn default_route() -> DefaultRoute {
    DefaultRoute::Cascade
}

impl RouterConfig {
    /// A router with every default, answering locally with `local_model` and no cloud.
    pub fn local_only(local_model: &str) -> Self {
        Self {
            models: default_models(),
            local_model: local_model.to_string(),
            cloud_model: String::new(),
            tiers: Vec::new(),
            deadline_ms: None,
            hint_header: true,
            default_route: default_route(),
            default_min_confidence: default_min_confidence(),
            classifier: ClassifierKind::default(),
            min_similarity: default_min_similarity(),
            route_words: default_route_words(),
            top_k: default_top_k(),
            over_budget: OverBudget::default(),
            complexity: ComplexityConfig::default(),
            rules: Vec::new(),
            profiles: Vec::new(),
            thresholds: BTreeMap::new(),
        }
    }

    /// Check the parts that do not depend on other sections; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.models.is_empty() {
            return Err("router.models: name at least one routed model (e.g. \"auto\")".into());
        }
        if self.route_words == 0 || self.top_k == 0 {
            return Err("router.route_words and router.top_k must be at least 1".into());
        }
        if !(-1.0..=1.0).contains(&self.min_similarity) {
            return Err("router.min_similarity must be in [-1, 1]".into());
        }
        check_unit("router.default_min_confidence", self.default_min_confidence)?;
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in self.profiles.iter().enumerate() {
            let at = format!("router.profiles[{i}] (`{}`)", p.name);
            if p.name.is_empty() || !seen.insert(p.name.as_str()) {
                return Err(format!("{at}: profile names must be unique and non-empty"));
            }
            if p.examples.iter().all(|e| e.trim().is_empty()) {
                return Err(format!("{at}.examples: give at least one example prompt"));
            }
            if let Some(labels) = &p.labels {
                if labels.is_empty() || labels.iter().any(|l| l.is_empty()) {
                    return Err(format!("{at}.labels: labels must be non-empty strings"));
                }
                if let Some(f) = p.few_shot.iter().find(|f| !labels.contains(&f.output)) {
                    return Err(format!(
                        "{at}.few_shot: output `{}` is not one of the labels",
                        f.output
                    ));
                }
            }
            if let Some(c) = p.min_confidence {
                check_unit(&format!("{at}.min_confidence"), c)?;
            }
            if p.max_tokens == Some(0) {
                return Err(format!("{at}.max_tokens must be at least 1"));
            }
        }
        for (name, t) in &self.thresholds {
            // `PROFILE` or `PROFILE/MODEL` (one tier of a profile).
            let profile = name.split_once('/').map_or(name.as_str(), |(p, _)| p);
            if !seen.contains(profile) {
                return Err(format!(
                    "router.thresholds.{name}: no profile has this name"
                ));
            }
            // Above 1 means "never trust the local answer" (what calibration writes
            // for a profile that must always escalate).
            if !t.is_finite() || *t < 0.0 {
                return Err(format!(
                    "router.thresholds.{name} must be 0 or more, not {t}"
                ));
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            if let Some(p) = &r.profile {
                if !seen.contains(p.as_str()) {
                    return Err(format!("router.rules[{i}].profile: no profile `{p}`"));
                }
            }
        }
        Ok(())
    }
}

fn check_unit(key: &str, v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("{key} must be in [0, 1], not {v}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RouterConfig, String> {
        let v: RouterConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        v.validate()?;
        Ok(v)
    }

    const BASE: &str = "local_model = \"small\"\ncloud_model = \"big\"\n";

    #[test]
    fn defaults_apply() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.models, vec!["auto"]);
        assert!(c.hint_header);
        assert_eq!(c.default_route, DefaultRoute::Cascade);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = parse(&format!("{BASE}colour = 1\n")).unwrap_err();
        assert!(e.contains("colour"), "{e}");
        let e = parse(&format!(
            "{BASE}[[profiles]]\nname = \"a\"\nclass = \"routine\"\nexamples = [\"x\"]\nmin_confidence = 2.0\n"
        ))
        .unwrap_err();
        assert!(e.contains("min_confidence"), "{e}");
        let e = parse(&format!("{BASE}[thresholds]\nnope = 0.5\n")).unwrap_err();
        assert!(e.contains("nope"), "{e}");
        let e = parse(&format!(
            "{BASE}[[profiles]]\nname = \"a\"\nclass = \"routine\"\nexamples = [\"x\"]\nlabels = [\"y\"]\nfew_shot = [{{ input = \"q\", output = \"z\" }}]\n"
        ))
        .unwrap_err();
        assert!(e.contains("few_shot"), "{e}");
    }
}
