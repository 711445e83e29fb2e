//! Reports of a simulated workload: a plain-text table for people
//! ([`table`]) and one JSON object for machines ([`json`]). Fractions are
//! printed as percentages in the table and kept as fractions in JSON; a value
//! that cannot be measured (no scored items, a zero denominator) prints as
//! `n/a` and is `null` in JSON.

use serde_json::{json, Value};

use crate::sim::{CurvePoint, Figures, Summary};

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", v * 100.0)
    } else {
        "n/a".into()
    }
}

fn score(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "n/a".into()
    }
}

fn row(out: &mut String, width: usize, name: &str, metric: &str, f: &Figures) {
    out.push_str(&format!(
        "{name:<width$}  {metric:<9}  {:>5}  {:>6}  {:>7}  {:>7}  {:>7}  {:>8}  {:>8}  {:>8}\n",
        f.requests,
        pct(f.local_share),
        score(f.quality),
        score(f.quality_cloud),
        score(f.quality_local),
        pct(f.quality_vs_cloud),
        pct(f.cost_vs_cloud),
        pct(f.routing_accuracy),
    ));
}

/// The per-task table, totals and notes, then the threshold curve.
pub fn table(summary: &Summary, curve: &[CurvePoint]) -> String {
    let width = summary
        .per_task
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .max("overall".len());
    let mut out = format!(
        "{:<width$}  {:<9}  {:>5}  {:>6}  {:>7}  {:>7}  {:>7}  {:>8}  {:>8}  {:>8}\n",
        "task",
        "metric",
        "n",
        "local",
        "quality",
        "cloud",
        "local-q",
        "q/cloud",
        "$/cloud",
        "route-ok"
    );
    let all = &summary.overall;
    row(&mut out, width, "overall", "-", all);
    for (task, t) in &summary.per_task {
        row(&mut out, width, task, &t.metric, &t.figures);
    }
    out.push_str(&format!(
        "\nquality: tierlm answers / all-cloud / all-local (mean score); local = share served locally;\n\
         q/cloud and $/cloud = tierlm vs all-cloud; route-ok = classifier verdict equals the item's class\n\
         requests {}, errors {}, cascaded {}, consistency mismatches {}\n\
         cost ${:.6} (all-cloud ${:.6}, all-local ${:.6})\n",
        all.requests,
        all.errors,
        all.cascaded,
        all.consistency_mismatches,
        all.cost_usd,
        all.cost_cloud_usd,
        all.cost_local_usd,
    ));
    if all.unscored > 0 {
        let pass_at_1 = summary
            .per_task
            .values()
            .any(|t| t.metric == "pass_at_1" && t.figures.unscored > 0);
        let why = if pass_at_1 {
            " (pass@1 unavailable: python3 could not be started)"
        } else {
            ""
        };
        out.push_str(&format!(
            "note: {} items not scored{why}; left out of quality\n",
            all.unscored
        ));
    }
    tier_section(&mut out, width, summary);
    if !curve.is_empty() {
        out.push_str(&format!(
            "\n{:>9}  {:>6}  {:>8}  {:>8}\n",
            "threshold", "local", "q/cloud", "$/cloud"
        ));
        for p in curve {
            out.push_str(&format!(
                "{:>9.2}  {:>6}  {:>8}  {:>8}\n",
                p.threshold,
                pct(p.local_share),
                pct(p.quality_vs_cloud),
                pct(p.cost_vs_cloud)
            ));
        }
    }
    out
}

/// Per task: the 95% interval of q/cloud, latency, and for each local tier its share
/// of the requests served and its own quality when asked alone.
fn tier_section(out: &mut String, width: usize, summary: &Summary) {
    let tiers: Vec<&String> = summary.tiers.iter().collect();
    out.push_str(&format!(
        "\n{:<width$}  {:>15}  {:>8}  {:>8}",
        "task", "q/cloud 95% CI", "mean ms", "p99 ms"
    ));
    for t in &tiers {
        out.push_str(&format!("  {:>22}", format!("{t}: served / q")));
    }
    out.push('\n');
    let line = |out: &mut String, name: &str, f: &Figures| {
        let [lo, hi] = f.quality_vs_cloud_ci95;
        out.push_str(&format!(
            "{name:<width$}  {:>15}  {:>8.0}  {:>8.0}",
            format!("{}-{}", pct(lo), pct(hi)),
            f.latency_mean_ms,
            f.latency_p99_ms
        ));
        for t in &tiers {
            let served = f.local_by_tier.get(*t).copied().unwrap_or(0.0);
            let q = f.quality_tiers.get(*t).copied().unwrap_or(f64::NAN);
            out.push_str(&format!(
                "  {:>22}",
                format!("{} / {}", pct(served), score(q))
            ));
        }
        out.push('\n');
    };
    line(out, "overall", &summary.overall);
    for (task, t) in &summary.per_task {
        line(out, task, &t.figures);
    }
}

/// One JSON object: every overall [`Figures`] field at top level (fractions in
/// `[0, 1]`), `per_task` with `n` and `metric` added, and `curve`.
pub fn json(summary: &Summary, curve: &[CurvePoint]) -> Value {
    let mut value = serde_json::to_value(summary).unwrap_or_else(|_| json!({}));
    if let Some(tasks) = value.get_mut("per_task").and_then(Value::as_object_mut) {
        for task in tasks.values_mut() {
            if let Some(obj) = task.as_object_mut() {
                let n = obj.get("requests").cloned().unwrap_or(Value::Null);
                obj.insert("n".into(), n);
            }
        }
    }
    if let Some(obj) = value.as_object_mut() {
        let points = serde_json::to_value(curve).unwrap_or_else(|_| json!([]));
        obj.insert("curve".into(), points);
    }
    value
}

/// The change of the headline figures (`local_share`, `quality_vs_cloud`,
/// `cost_vs_cloud`, overall and per task) from a `previous` [`json`] report to the
/// `current` one, in fractions (0.05 = five points). Tasks in only one report are
/// left out; a figure missing on either side is `null`.
pub fn change(current: &Value, previous: &Value) -> Value {
    const KEYS: [&str; 3] = ["local_share", "quality_vs_cloud", "cost_vs_cloud"];
    let delta = |c: &Value, p: &Value| -> Value {
        KEYS.iter()
            .map(|k| {
                let d = match (
                    c.get(*k).and_then(Value::as_f64),
                    p.get(*k).and_then(Value::as_f64),
                ) {
                    (Some(a), Some(b)) => json!(a - b),
                    _ => Value::Null,
                };
                (k.to_string(), d)
            })
            .collect::<serde_json::Map<String, Value>>()
            .into()
    };
    let mut per_task = serde_json::Map::new();
    if let (Some(c), Some(p)) = (
        current.get("per_task").and_then(Value::as_object),
        previous.get("per_task").and_then(Value::as_object),
    ) {
        for (task, ct) in c {
            if let Some(pt) = p.get(task) {
                per_task.insert(task.clone(), delta(ct, pt));
            }
        }
    }
    let mut out = delta(current, previous);
    out["per_task"] = Value::Object(per_task);
    out
}

/// [`change`] as lines of text, in percentage points.
pub fn change_table(change: &Value) -> String {
    let pts = |v: &Value, k: &str| match v.get(k).and_then(Value::as_f64) {
        Some(d) => format!("{:+.1}", d * 100.0),
        None => "n/a".into(),
    };
    let line = |name: &str, v: &Value| {
        format!(
            "{name:<16}  {:>8}  {:>8}  {:>8}\n",
            pts(v, "local_share"),
            pts(v, "quality_vs_cloud"),
            pts(v, "cost_vs_cloud")
        )
    };
    let mut out = format!(
        "\nchange since the previous report (points)\n{:<16}  {:>8}  {:>8}  {:>8}\n",
        "task", "local", "q/cloud", "$/cloud"
    );
    out.push_str(&line("overall", change));
    if let Some(tasks) = change.get("per_task").and_then(Value::as_object) {
        for (task, v) in tasks {
            out.push_str(&line(task, v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{curve, simulate, Thresholds};
    use crate::testutil::{cascaded, to_cloud};

    fn summary() -> (Summary, Vec<CurvePoint>) {
        let w = vec![
            cascaded("a", "sms_spam", 0.9, 1.0, 1.0, 0.01, true),
            cascaded("b", "sms_spam", 0.2, 0.0, 1.0, 0.01, false),
            to_cloud("c", "gsm8k_long_name", 1.0, 0.02),
        ];
        let t = Thresholds::per_profile([("sms_spam".to_string(), 0.5)].into_iter().collect());
        (simulate(&w, &t), curve(&w, 4))
    }

    #[test]
    fn the_change_since_a_previous_report_is_in_points() {
        let now = json!({"local_share": 0.6, "quality_vs_cloud": 0.9, "cost_vs_cloud": 0.4,
            "per_task": {"a": {"local_share": 1.0, "quality_vs_cloud": null}, "new": {}}});
        let before = json!({"local_share": 0.5, "quality_vs_cloud": 0.95, "cost_vs_cloud": 0.5,
            "per_task": {"a": {"local_share": 0.25, "quality_vs_cloud": 0.5}, "gone": {}}});
        let c = change(&now, &before);
        assert!((c["local_share"].as_f64().unwrap() - 0.1).abs() < 1e-12);
        assert!((c["quality_vs_cloud"].as_f64().unwrap() + 0.05).abs() < 1e-12);
        assert_eq!(c["per_task"]["a"]["local_share"], 0.75);
        assert!(c["per_task"]["a"]["quality_vs_cloud"].is_null());
        assert!(c["per_task"].get("new").is_none() && c["per_task"].get("gone").is_none());
        let text = change_table(&c);
        assert!(
            text.contains("+10.0") && text.contains("-5.0") && text.contains("+75.0"),
            "{text}"
        );
    }

    #[test]
    fn table_has_overall_tasks_and_curve() {
        let (s, c) = summary();
        let text = table(&s, &c);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("task"));
        assert!(lines[1].starts_with("overall"));
        assert!(lines[2].starts_with("gsm8k_long_name"));
        assert!(lines[3].starts_with("sms_spam"));
        assert!(lines[3].contains("label") && lines[3].contains("50.0%"));
        assert!(text.contains("consistency mismatches 0"));
        assert!(text.contains("threshold"));
        assert!(text.contains("     1.00"));
        assert!(!text.contains("not scored"));
    }

    #[test]
    fn table_says_when_pass_at_1_is_unavailable() {
        let (mut s, _) = summary();
        s.overall.unscored = 2;
        if let Some(t) = s.per_task.get_mut("gsm8k_long_name") {
            t.metric = "pass_at_1".into();
            t.figures.unscored = 2;
            t.figures.quality = f64::NAN;
        }
        let text = table(&s, &[]);
        assert!(text.contains("pass@1 unavailable"), "{text}");
        assert!(text.contains("n/a"));
        assert!(!text.contains("threshold"));
    }

    #[test]
    fn json_has_the_top_level_fractions() {
        let (s, c) = summary();
        let v = json(&s, &c);
        for key in [
            "local_share",
            "quality_vs_cloud",
            "cost_vs_cloud",
            "routing_accuracy",
        ] {
            let f = v[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&f), "{key} = {f}");
        }
        for key in [
            "quality",
            "quality_cloud",
            "quality_local",
            "cost_usd",
            "cost_cloud_usd",
            "requests",
            "errors",
            "consistency_mismatches",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["requests"], 3);
        let spam = &v["per_task"]["sms_spam"];
        assert_eq!(spam["n"], 2);
        assert_eq!(spam["metric"], "label");
        assert!(spam["quality_vs_cloud"].is_number());
        // The shared figures are flattened, not nested.
        assert!(v.get("overall").is_none() && spam.get("figures").is_none());
        assert_eq!(v["curve"].as_array().unwrap().len(), 5);
        assert_eq!(v["curve"][4]["threshold"], 1.0);
    }
}
