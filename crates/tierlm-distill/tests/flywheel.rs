//! The flywheel through the public API, as the server and CLI will drive it:
//! capture → store → export → train a label student → shadow → automatic
//! promotion → drift on a topic shift → demotion back to the teacher.

use std::sync::Arc;

use tierlm_distill::{
    label_examples, CaptureQueue, DistillConfig, DistillStore, DriftMonitor, ExportFormat,
    LabelStudent, Message, Observation, RecordSource, RouteState, StudentFeatures, TrainOptions,
    TrainingRecord,
};

/// A deterministic stand-in for the sentence encoder: a topic direction plus a
/// label direction plus hashed per-text noise, unit length.
fn embed(text: &str, topic: usize, label: usize) -> Vec<f32> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let v: Vec<f32> = (0..64)
        .map(|i| {
            h = h
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let noise = ((h >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.3;
            let t = if i % 8 == topic { 1.0 } else { 0.0 };
            let l = if i == 16 + label * 3 { 0.6 } else { 0.0 };
            t + l + noise
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn record(i: usize, label: &str) -> TrainingRecord {
    TrainingRecord {
        id: format!("req-{i}"),
        time_ms: i as i64,
        tenant: Some("acme".into()),
        task: "ticket_priority".into(),
        route: "escalated".into(),
        messages: vec![
            Message::new("system", "Answer urgent or routine."),
            Message::new(
                "user",
                format!("Ticket {i} from <PERSON_1>: something happened"),
            ),
        ],
        answer: label.into(),
        teacher_model: "mock/frontier".into(),
        label: Some(label.into()),
        source: RecordSource::Captured,
    }
}

#[test]
fn the_flywheel_turns() {
    let cfg = DistillConfig::default();
    cfg.validate().unwrap();
    let labels = vec!["urgent".to_string(), "routine".to_string()];
    let store = Arc::new(DistillStore::open_in_memory().unwrap());

    // Capture.
    let queue = CaptureQueue::start(Arc::clone(&store), cfg.capture.queue).unwrap();
    for i in 0..600 {
        queue.try_capture(record(i, &labels[i % 2]));
    }
    let stats = queue.close();
    assert_eq!(stats.captured, 600);

    // Export.
    let records = store.records("ticket_priority").unwrap();
    let export = store
        .export("ticket_priority", ExportFormat::OpenAi, 0.1, 0)
        .unwrap();
    assert_eq!(export.train_count + export.validation_count, 600);

    // Train.
    let (texts, targets) = label_examples(&records);
    let embeddings: Vec<Vec<f32>> = texts
        .iter()
        .zip(&targets)
        .map(|(t, l)| embed(t, 0, usize::from(l == "routine")))
        .collect();
    let (student, report) = LabelStudent::train(
        "ticket_priority",
        "stand-in",
        &StudentFeatures::default(),
        &labels,
        &embeddings,
        &targets,
        &TrainOptions::default(),
    )
    .unwrap();
    assert!(report.train_accuracy > 0.95, "{report:?}");

    // Shadow until promoted.
    let policy = cfg.promotion.policy();
    let mut state = store
        .start_shadow("ticket_priority", "cli", "trained")
        .unwrap();
    let mut i = 10_000;
    while !state.student_serves() {
        let label = i % 2;
        let p = student
            .predict(&embed(&format!("new {i}"), 0, label))
            .unwrap();
        state = store
            .record_shadow(
                "ticket_priority",
                tierlm_distill::ShadowSample {
                    confidence: Some(p.confidence),
                    agreed: p.label == labels[label],
                },
                &policy,
            )
            .unwrap();
        i += 1;
        assert!(i < 10_000 + 1000, "never promoted: {state:?}");
    }

    // Drift: the topic moves; the alarm demotes the route.
    let mut drift = DriftMonitor::for_student(&student, cfg.drift.clone());
    let mut demoted_at = None;
    for j in 0..600 {
        let topic = if j < 300 { 0 } else { 3 };
        let e = embed(&format!("live {j}"), topic, j % 2);
        let p = student.predict(&e).unwrap();
        let alarm = drift.observe(Observation {
            embedding: Some(&e),
            confidence: Some(p.confidence),
            shadow_agreed: None,
        });
        if let Some(alarm) = alarm {
            assert!(j >= 300, "false alarm at {j}: {alarm}");
            if drift.config().demote && demoted_at.is_none() {
                store
                    .demote("ticket_priority", "drift", &alarm.to_string())
                    .unwrap();
                demoted_at = Some(j);
            }
        }
    }
    assert!(demoted_at.is_some_and(|j| j < 400), "{demoted_at:?}");
    assert_eq!(
        store.route_state("ticket_priority").unwrap(),
        RouteState::Teacher
    );
    let events = store.route_events(Some("ticket_priority")).unwrap();
    let path: Vec<&str> = events.iter().map(|e| e.to.as_str()).collect();
    assert_eq!(path, vec!["shadow", "student", "teacher"]);
    assert_eq!(events[2].by, "drift");
}
