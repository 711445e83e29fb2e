//! End-to-end use of the public API as `tierlm eval` will drive it: parse a
//! workload, build observations as a replay would, save and re-read them,
//! score, simulate under the served thresholds, sweep, calibrate, report.

use std::collections::BTreeMap;

use tierlm_eval::*;

const WORKLOAD: &str = r#"{"id":"spam-1","task":"sms_spam","class":"routine","messages":[{"role":"user","content":"WIN a prize now"}],"metric":"label","labels":["ham","spam"],"expected":"spam","reference":"spam","max_tokens":8}
{"id":"spam-2","task":"sms_spam","class":"routine","messages":[{"role":"user","content":"see you at 5"}],"metric":"label","labels":["ham","spam"],"expected":"ham","reference":"ham","max_tokens":8}
{"id":"sum-1","task":"xsum","class":"routine","messages":[{"role":"user","content":"Summarise: the cat sat on the mat all day."}],"metric":"rouge_l","expected":null,"reference":"A cat sat on a mat."}
{"id":"gsm-1","task":"gsm8k","class":"complex","messages":[{"role":"user","content":"3 apples plus 4?"}],"metric":"number","expected":"7","reference":"3 + 4 = 7\n#### 7"}
{"id":"he-1","task":"humaneval","class":"complex","messages":[{"role":"user","content":"Complete add"}],"metric":"pass_at_1","expected":null,"reference":"    return a + b\n","code":{"prompt":"def add(a, b):\n","test":"def check(f):\n    assert f(1, 2) == 3\n","entry_point":"add"}}
"#;

fn answer(text: &str, route: &str, reason: &str, profile: &str, class: &str) -> Answer {
    Answer {
        text: text.into(),
        route: route.into(),
        reason: reason.into(),
        profile: Some(profile.into()),
        class: Some(class.into()),
        confidence: None,
        cost_usd: if route == "local" { 0.0 } else { 0.001 },
        latency_ms: 10.0,
        error: None,
        model: None,
        tiers: None,
    }
}

fn observe(item: &Item) -> Observation {
    let task = item.task.as_str();
    let (local_text, conf) = match task {
        "sms_spam" if item.id == "spam-1" => ("spam", 0.9),
        "sms_spam" => ("spam", 0.3), // wrong and unsure
        "xsum" => ("the cat sat on the mat", 0.7),
        "gsm8k" => ("#### 8", 0.1),
        _ => ("    return a - b\n", 0.1),
    };
    let mut local = answer(local_text, "local", "cascade_confident", task, "routine");
    local.confidence = Some(conf);
    let cloud = answer(&item.reference, "cloud", "hint_cloud", task, "routine");
    let routed = if item.class == Class::Complex {
        answer(
            &item.reference,
            "cloud",
            "classifier_complex",
            task,
            "complex",
        )
    } else if conf >= 0.5 {
        local.clone()
    } else {
        let mut r = answer(
            &item.reference,
            "escalated",
            "cascade_low_confidence",
            task,
            "routine",
        );
        r.confidence = Some(conf);
        r.cost_usd = 0.001;
        r
    };
    Observation {
        item: item.clone(),
        routed,
        local,
        cloud,
        tiers: Vec::new(),
    }
}

#[test]
fn the_whole_pipeline() {
    let items = parse_workload(WORKLOAD).unwrap();
    assert_eq!(items.len(), 5);
    let observations: Vec<Observation> = items.iter().map(observe).collect();

    let dir = std::env::temp_dir().join(format!("tierlm-eval-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("observations.jsonl");
    write_observations(&path, &observations).unwrap();
    let observations = read_observations(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let scored = score_observations(&observations);
    let served: BTreeMap<String, f64> = [("sms_spam", 0.5), ("xsum", 0.5)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let summary = simulate(&scored, &Thresholds::per_profile(served));
    assert_eq!(summary.overall.requests, 5);
    assert_eq!(summary.overall.consistency_mismatches, 0);
    assert_eq!(summary.overall.cascaded, 3);
    assert!((summary.overall.routing_accuracy - 1.0).abs() < 1e-12);
    assert!((summary.overall.local_share - 0.4).abs() < 1e-12);
    assert!(summary.overall.quality_vs_cloud > 0.8 && summary.overall.quality_vs_cloud <= 1.0);
    assert!(summary.overall.cost_vs_cloud < 1.0);
    let python = python_available();
    assert_eq!(summary.overall.unscored, usize::from(!python));

    let points = curve(&scored, DEFAULT_CURVE_STEPS);
    assert_eq!(points.len(), 21);

    // The served thresholds give 14/15 of cloud quality (the local summary
    // scores ROUGE-L 2/3): a 95% floor must escalate xsum, a 90% floor not.
    let never = simulate(&scored, &Thresholds::global(NEVER_LOCAL));
    let cal = calibrate(&scored, 0.95);
    assert!(cal.feasible);
    assert!(cal.summary.overall.quality_vs_cloud >= 0.95 - 1e-9);
    assert!(cal.summary.overall.cost_usd < never.overall.cost_usd);
    assert!(cal.thresholds["xsum"] > 0.7 && cal.thresholds["sms_spam"] <= 0.9);
    let loose = calibrate(&scored, 0.9);
    assert!(loose.summary.overall.cost_usd <= summary.overall.cost_usd + 1e-12);
    assert_eq!(
        loose.summary.overall.local_share,
        summary.overall.local_share
    );
    let toml = thresholds_toml(&cal, "calibrated by the pipeline test");
    assert!(toml.contains("[router.thresholds]\n"));
    assert!(toml.contains("sms_spam = "));

    let text = table(&summary, &points);
    assert!(text.contains("humaneval") && text.contains("pass_at_1"));
    let value = json(&summary, &points);
    assert_eq!(value["per_task"]["gsm8k"]["n"], 1);
    let chart = svg(
        &points,
        "tierlm",
        &[
            OperatingPoint::from_summary("configured", &summary),
            OperatingPoint::from_summary("calibrated", &cal.summary),
        ],
    );
    assert_eq!(chart.matches("<polygon").count(), 2);
}
