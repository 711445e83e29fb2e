//! What the replay records for each workload item: the gateway's answers
//! ([`Observation`]: routed through `auto`, forced to each local tier, forced
//! cloud), each with the routing facts that came back ([`Answer`]).
//! Observations are saved as JSONL so `tierlm eval --from-observations FILE`
//! can score and report again without replaying.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::workload::Item;

/// One HTTP answer from the gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// `choices[0].message.content` (`""` on error).
    pub text: String,
    /// Header `x-tierlm-route`: `local`, `cloud` or `escalated`.
    pub route: String,
    /// Header `x-tierlm-reason`, e.g. `cascade_confident`, `classifier_complex`.
    pub reason: String,
    /// Header `x-tierlm-profile`: the task profile the classifier picked.
    #[serde(default)]
    pub profile: Option<String>,
    /// Header `x-tierlm-class`: the classifier verdict, `routine` or `complex`.
    #[serde(default)]
    pub class: Option<String>,
    /// Header `x-tierlm-confidence`: the local answer's confidence in `[0, 1]`.
    #[serde(default)]
    pub confidence: Option<f64>,
    /// Header `x-tierlm-cost-usd` (0 when absent: local).
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default)]
    pub latency_ms: f64,
    /// Set when the HTTP call failed or was not 2xx.
    #[serde(default)]
    pub error: Option<String>,
    /// The model that served the answer (the tier's model for a local answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Header `x-tierlm-tiers`: each tier tried with its confidence, `*` on the one
    /// that answered (`smollm2-135m=0.41,qwen=0.93*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<String>,
}

impl Answer {
    /// Whether the gateway served this answer with the local model.
    pub fn is_local(&self) -> bool {
        self.route == "local"
    }

    /// Whether the router decided this request by the confidence cascade
    /// (`x-tierlm-reason` starts with `cascade_`, or a tier was skipped for time or
    /// every tier was tried).
    pub fn is_cascaded(&self) -> bool {
        self.reason.starts_with("cascade_")
            || self.reason == "local_too_slow"
            || self.reason == "tiers_exhausted"
    }

    /// The model of the tier that answered, from [`Answer::tiers`].
    pub fn answering_tier(&self) -> Option<&str> {
        self.tiers.as_deref()?.split(',').find_map(|t| {
            let t = t.strip_suffix('*')?;
            Some(t.split_once('=').map_or(t, |(m, _)| m))
        })
    }
}

/// One workload item with its three answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub item: Item,
    /// The request sent to the routed model `auto`.
    pub routed: Answer,
    /// The same request forced local (`x-tierlm-route: local`).
    pub local: Answer,
    /// The same request forced cloud.
    pub cloud: Answer,
    /// The same request forced to each local tier, cheapest first
    /// (`x-tierlm-route: local:MODEL`); empty when there is one tier (`local`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<Answer>,
}

impl Observation {
    /// The forced local answers, one per tier, cheapest first.
    pub fn tier_answers(&self) -> Vec<&Answer> {
        if self.tiers.is_empty() {
            vec![&self.local]
        } else {
            self.tiers.iter().collect()
        }
    }

    /// Whether the routed request climbed the local tiers by confidence: a cascade,
    /// or a request the data policy (or a spent budget) kept on the premises that
    /// climbs several tiers with no cloud at the end.
    pub fn climbs(&self) -> bool {
        self.routed.is_cascaded() || (self.tiers.len() > 1 && self.kept())
    }

    /// The forced tier answer with the highest confidence (the first of equals; failed
    /// answers left out): what a kept request gets when no tier passes its gate.
    pub fn most_confident_tier(&self) -> Option<usize> {
        self.tier_answers()
            .iter()
            .enumerate()
            .filter(|(_, a)| a.error.is_none())
            .fold(None::<(usize, f64)>, |best, (i, a)| {
                let c = a.confidence.unwrap_or(0.0);
                match best {
                    Some((_, b)) if b >= c => best,
                    _ => Some((i, c)),
                }
            })
            .map(|(i, _)| i)
    }

    /// Whether the routed request was kept on the premises by policy.
    pub fn kept(&self) -> bool {
        matches!(
            self.routed.reason.as_str(),
            "guard_local_only" | "over_budget_local"
        )
    }

    /// The index (in [`Observation::tier_answers`]) of the tier that answered the
    /// routed request, when it was answered locally.
    pub fn routed_tier(&self) -> Option<usize> {
        if !self.routed.is_local() {
            return None;
        }
        let answers = self.tier_answers();
        match self.routed.answering_tier() {
            Some(m) => answers
                .iter()
                .position(|a| a.model.as_deref() == Some(m))
                .or(Some(0)),
            None => Some(0),
        }
    }
}

/// Serialises observations as JSONL (one object per line, trailing newline).
pub fn observations_to_jsonl(observations: &[Observation]) -> Result<String, EvalError> {
    let mut out = String::new();
    for (index, obs) in observations.iter().enumerate() {
        let line = serde_json::to_string(obs).map_err(|e| {
            EvalError::line(
                "<observations>",
                index + 1,
                format!("cannot serialise: {e}"),
            )
        })?;
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// Writes observations as JSONL, replacing `path`.
pub fn write_observations(
    path: impl AsRef<Path>,
    observations: &[Observation],
) -> Result<(), EvalError> {
    let path = path.as_ref();
    let text = observations_to_jsonl(observations)?;
    let mut file = std::fs::File::create(path).map_err(|e| EvalError::io(path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| EvalError::io(path, e))
}

/// Parses JSONL observations held in memory; `origin` names them in errors.
/// Blank lines are skipped; an empty file is an error.
pub fn parse_observations(text: &str, origin: &str) -> Result<Vec<Observation>, EvalError> {
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let obs: Observation = serde_json::from_str(raw)
            .map_err(|e| EvalError::line(origin, index + 1, format!("invalid observation: {e}")))?;
        out.push(obs);
    }
    if out.is_empty() {
        return Err(EvalError::file(origin, "no observations"));
    }
    Ok(out)
}

/// Reads JSONL observations written by [`write_observations`].
pub fn read_observations(path: impl AsRef<Path>) -> Result<Vec<Observation>, EvalError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    parse_observations(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::parse_workload;

    fn sample() -> Observation {
        let item = parse_workload(
            r#"{"id":"a","task":"sms_spam","class":"routine","messages":[{"role":"user","content":"hi"}],"metric":"label","labels":["ham","spam"],"expected":"ham","reference":"ham"}"#,
        )
        .unwrap()
        .remove(0);
        let local = Answer {
            text: "ham".into(),
            route: "local".into(),
            reason: "cascade_confident".into(),
            profile: Some("sms_spam".into()),
            class: Some("routine".into()),
            confidence: Some(0.91),
            cost_usd: 0.0,
            latency_ms: 12.5,
            error: None,
            model: Some("smollm2-135m".into()),
            tiers: Some("smollm2-135m=0.9100*".into()),
        };
        let cloud = Answer {
            route: "cloud".into(),
            reason: "hint_cloud".into(),
            cost_usd: 0.0004,
            ..local.clone()
        };
        Observation {
            item,
            routed: local.clone(),
            local,
            cloud,
            tiers: Vec::new(),
        }
    }

    #[test]
    fn observations_round_trip_through_a_file() {
        let dir = std::env::temp_dir().join(format!("tierlm-eval-obs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("obs.jsonl");
        let obs = vec![sample(), sample()];
        write_observations(&path, &obs).unwrap();
        let back = read_observations(&path).unwrap();
        assert_eq!(back, obs);
        std::fs::write(&path, "\n{bad\n").unwrap();
        let err = read_observations(&path).unwrap_err().to_string();
        assert!(err.contains("obs.jsonl:2"), "{err}");
        std::fs::write(&path, "").unwrap();
        assert!(read_observations(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn optional_answer_fields_default() {
        let a: Answer =
            serde_json::from_str(r#"{"text":"","route":"cloud","reason":"x"}"#).unwrap();
        assert_eq!(a.cost_usd, 0.0);
        assert!(a.confidence.is_none() && a.error.is_none() && !a.is_local());
        assert!(!a.is_cascaded());
        assert!(sample().routed.is_cascaded());
    }
}
