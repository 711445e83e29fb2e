//! The report of a replay without the forced-local pass (`tierlm eval --passes
//! routed,cloud`): what the gateway actually served through `auto`, scored against
//! the forced-cloud (all-cloud) answers. No threshold is simulated, so this is the
//! report to use when something other than the cascade answers — a distilled student
//! (`x-tierlm-reason: student`) — and it costs one local-model run per cascaded item
//! instead of two.
//!
//! Per task and overall: requests, share served locally, share served by a student,
//! mean quality of the served answers and of the all-cloud answers (over the items
//! where both are scorable), their ratio, the cost of the served answers against the
//! all-cloud cost, and routing accuracy. Fractions are kept as fractions in JSON
//! (`null` when not measurable) and printed as percentages in the table.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tierlm_eval::sim::{mean, ratio};
use tierlm_eval::{score_answer, Observation};

use super::replay::SKIPPED;

/// Running totals of one group of items.
#[derive(Debug, Default, Clone)]
struct Acc {
    requests: usize,
    local: usize,
    student: usize,
    escalated: usize,
    scored: usize,
    quality: f64,
    quality_cloud: f64,
    cost: f64,
    cost_cloud: f64,
    class_ok: usize,
    errors: usize,
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 {
        f64::NAN
    } else {
        n as f64 / of as f64
    }
}

impl Acc {
    fn add(&mut self, o: &Observation) {
        let r = &o.routed;
        self.requests += 1;
        self.local += usize::from(r.is_local());
        self.student += usize::from(r.reason == "student");
        self.escalated += usize::from(r.route == "escalated");
        self.cost += r.cost_usd;
        self.class_ok += usize::from(r.class.as_deref() == Some(o.item.class.as_str()));
        self.errors += usize::from(r.error.is_some());
        if o.cloud.route == SKIPPED {
            return;
        }
        self.cost_cloud += o.cloud.cost_usd;
        if let (Some(q), Some(c)) = (score_answer(&o.item, r), score_answer(&o.item, &o.cloud)) {
            self.scored += 1;
            self.quality += q;
            self.quality_cloud += c;
        }
    }

    fn json(&self) -> Value {
        let quality = mean(self.quality, self.scored);
        let quality_cloud = mean(self.quality_cloud, self.scored);
        let num = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
        json!({
            "requests": self.requests,
            "local_share": num(share(self.local, self.requests)),
            "student_share": num(share(self.student, self.requests)),
            "escalated": self.escalated,
            "scored": self.scored,
            "quality": num(quality),
            "quality_cloud": num(quality_cloud),
            "quality_vs_cloud": num(ratio(quality, quality_cloud)),
            "cost_usd": self.cost,
            "cost_cloud_usd": self.cost_cloud,
            "cost_vs_cloud": num(ratio(self.cost, self.cost_cloud)),
            "routing_accuracy": num(share(self.class_ok, self.requests)),
            "errors": self.errors,
        })
    }
}

/// The routed-pass figures: `{ overall..., "per_task": { task: {...} } }`.
pub fn summary(observations: &[Observation]) -> Value {
    let mut all = Acc::default();
    let mut tasks: BTreeMap<&str, Acc> = BTreeMap::new();
    for o in observations {
        all.add(o);
        tasks.entry(o.item.task.as_str()).or_default().add(o);
    }
    let mut v = all.json();
    v["per_task"] = tasks
        .into_iter()
        .map(|(t, a)| (t.to_string(), a.json()))
        .collect::<serde_json::Map<_, _>>()
        .into();
    v["mode"] = json!("routed");
    v
}

/// The forced-local pass alone (`--passes local`): per task and overall, requests,
/// scored answers and their mean quality — e.g. to compare a base model with a LoRA
/// student on the same items.
pub fn local_summary(observations: &[Observation]) -> Value {
    let mut tasks: BTreeMap<&str, (usize, Vec<f64>)> = BTreeMap::new();
    for o in observations {
        let entry = tasks.entry(o.item.task.as_str()).or_default();
        entry.0 += 1;
        entry.1.extend(score_answer(&o.item, &o.local));
    }
    let group = |n: usize, scores: &[f64]| json!({"requests": n, "scored": scores.len(), "quality": finite(mean(scores.iter().sum(), scores.len()))});
    let all: Vec<f64> = tasks
        .values()
        .flat_map(|(_, s)| s.iter().copied())
        .collect();
    let mut v = group(observations.len(), &all);
    v["per_task"] = tasks
        .iter()
        .map(|(t, (n, s))| (t.to_string(), group(*n, s)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    v["mode"] = json!("local");
    v
}

fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "n/a".to_string(), |x| format!("{:.1}%", x * 100.0))
}

fn num3(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "n/a".to_string(), |x| format!("{x:.3}"))
}

fn row(name: &str, v: &Value) -> String {
    format!(
        "{name:<12}  {:>5}  {:>6}  {:>7}  {:>7}  {:>7}  {:>8}  {:>8}  {:>8}\n",
        v["requests"],
        pct(&v["local_share"]),
        pct(&v["student_share"]),
        num3(&v["quality"]),
        num3(&v["quality_cloud"]),
        pct(&v["quality_vs_cloud"]),
        pct(&v["cost_vs_cloud"]),
        pct(&v["routing_accuracy"]),
    )
}

/// A plain-text table of [`summary`].
pub fn table(v: &Value) -> String {
    let mut out = format!(
        "{:<12}  {:>5}  {:>6}  {:>7}  {:>7}  {:>7}  {:>8}  {:>8}  {:>8}\n",
        "task", "n", "local", "student", "quality", "cloud", "q/cloud", "$/cloud", "routing"
    );
    out.push_str(&row("overall", v));
    if let Some(tasks) = v["per_task"].as_object() {
        for (t, tv) in tasks {
            out.push_str(&row(t, tv));
        }
    }
    out.push_str(
        "(routed pass only: served answers vs the forced-cloud pass; no threshold simulated)\n",
    );
    out
}

/// The table of [`local_summary`].
pub fn local_table(v: &Value) -> String {
    let line = |name: &str, g: &Value| {
        format!(
            "{name:<12}  {:>5}  {:>6}  {:>7}\n",
            g["requests"],
            g["scored"],
            pct(&g["quality"])
        )
    };
    let mut out = format!(
        "{:<12}  {:>5}  {:>6}  {:>7}\n",
        "task", "n", "scored", "quality"
    );
    out.push_str(&line("overall", v));
    if let Some(tasks) = v["per_task"].as_object() {
        for (t, tv) in tasks {
            out.push_str(&line(t, tv));
        }
    }
    out.push_str("(forced-local pass only: the local model's answers, scored)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierlm_eval::{Answer, Item};

    fn item(task: &str) -> Item {
        let line = format!(
            r#"{{"id":"{task}-0001","task":"{task}","class":"routine","messages":[{{"role":"user","content":"x"}}],"metric":"label","labels":["a","b"],"expected":"a","reference":"a","max_tokens":8}}"#
        );
        tierlm_eval::parse_workload(&line).unwrap().remove(0)
    }

    #[test]
    fn local_summary_scores_the_forced_local_answers_per_task() {
        let skipped = answer("", SKIPPED, "", 0.0);
        let obs = |task: &str, text: &str| Observation {
            item: item(task),
            routed: skipped.clone(),
            local: answer(text, "local", "hint_local", 0.0),
            cloud: skipped.clone(),
            tiers: Vec::new(),
        };
        let v = local_summary(&[obs("t", "a"), obs("t", "b"), obs("u", "a")]);
        assert_eq!(v["mode"], "local");
        assert_eq!(v["requests"], 3);
        assert_eq!(v["per_task"]["t"]["quality"], 0.5);
        assert_eq!(v["per_task"]["u"]["quality"], 1.0);
        assert!((v["quality"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!(local_table(&v).contains("50.0%"));
    }

    fn answer(text: &str, route: &str, reason: &str, cost: f64) -> Answer {
        Answer {
            text: text.into(),
            route: route.into(),
            reason: reason.into(),
            class: Some("routine".into()),
            cost_usd: cost,
            ..Answer::default()
        }
    }

    #[test]
    fn student_answers_count_as_local_and_are_scored_against_cloud() {
        let obs = vec![
            Observation {
                item: item("t"),
                routed: answer("a", "local", "student", 0.0),
                local: super::super::replay::skipped(),
                cloud: answer("a", "cloud", "hint_cloud", 1.0),
                tiers: Vec::new(),
            },
            Observation {
                item: item("t"),
                routed: answer("a", "escalated", "cascade_escalated", 1.0),
                local: super::super::replay::skipped(),
                cloud: answer("a", "cloud", "hint_cloud", 1.0),
                tiers: Vec::new(),
            },
            Observation {
                item: item("u"),
                routed: answer("b", "local", "cascade_confident", 0.0),
                local: super::super::replay::skipped(),
                cloud: answer("a", "cloud", "hint_cloud", 1.0),
                tiers: Vec::new(),
            },
        ];
        let v = summary(&obs);
        assert_eq!(v["requests"], 3);
        assert!((v["local_share"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert!((v["student_share"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert!((v["quality_vs_cloud"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert!((v["cost_vs_cloud"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(v["per_task"]["t"]["escalated"], 1);
        assert!(table(&v).contains("overall"));
    }

    #[test]
    fn without_the_cloud_pass_ratios_are_null() {
        let obs = vec![Observation {
            item: item("t"),
            routed: answer("a", "cloud", "policy_rule", 1.0),
            local: super::super::replay::skipped(),
            cloud: super::super::replay::skipped(),
            tiers: Vec::new(),
        }];
        let v = summary(&obs);
        assert_eq!(v["local_share"].as_f64(), Some(0.0));
        assert!(v["quality_vs_cloud"].is_null());
    }
}
