//! Test fixtures: scored observations built directly from scores, so the
//! simulation, calibration and report tests do not depend on the scorers.

use crate::observe::{Answer, Observation};
use crate::score::Scored;
use crate::workload::{Class, Item, Message, Metric};

pub fn item(id: &str, task: &str, class: Class) -> Item {
    Item {
        id: id.into(),
        task: task.into(),
        class,
        messages: vec![Message {
            role: "user".into(),
            content: format!("question {id}"),
        }],
        metric: Metric::Label,
        labels: None,
        expected: Some("x".into()),
        reference: "x".into(),
        max_tokens: None,
        code: None,
        response_format: None,
        tenant: None,
    }
}

fn answer(route: &str, reason: &str, profile: &str, class: &str, cost: f64) -> Answer {
    Answer {
        text: String::new(),
        route: route.into(),
        reason: reason.into(),
        profile: Some(profile.into()),
        class: Some(class.into()),
        confidence: None,
        cost_usd: cost,
        latency_ms: 1.0,
        error: None,
        model: None,
        tiers: None,
    }
}

/// A cascaded routine item of `task` (profile = task) whose local pass has
/// confidence `conf` and scores `local_q`; the cloud pass costs `cloud_cost`
/// and scores `cloud_q`; the routed run served it local iff `routed_local`.
pub fn cascaded(
    id: &str,
    task: &str,
    conf: f64,
    local_q: f64,
    cloud_q: f64,
    cloud_cost: f64,
    routed_local: bool,
) -> Scored {
    let mut local = answer("local", "cascade_confident", task, "routine", 0.0);
    local.confidence = Some(conf);
    let cloud = answer("cloud", "hint_cloud", task, "routine", cloud_cost);
    let routed = if routed_local {
        local.clone()
    } else {
        let mut r = answer(
            "escalated",
            "cascade_low_confidence",
            task,
            "routine",
            cloud_cost,
        );
        r.confidence = Some(conf);
        r
    };
    let routed_q = if routed_local { local_q } else { cloud_q };
    Scored {
        obs: Observation {
            item: item(id, task, Class::Routine),
            routed,
            local,
            cloud,
            tiers: Vec::new(),
        },
        routed: Some(routed_q),
        local: Some(local_q),
        cloud: Some(cloud_q),
        tiers: vec![Some(local_q)],
    }
}

/// A complex item the classifier sent to the cloud.
pub fn to_cloud(id: &str, task: &str, q: f64, cost: f64) -> Scored {
    let cloud = answer("cloud", "classifier_complex", task, "complex", cost);
    let mut local = answer("local", "hint_local", task, "complex", 0.0);
    local.confidence = Some(0.2);
    Scored {
        obs: Observation {
            item: item(id, task, Class::Complex),
            routed: cloud.clone(),
            local,
            cloud,
            tiers: Vec::new(),
        },
        routed: Some(q),
        local: Some(q / 2.0),
        cloud: Some(q),
        tiers: vec![Some(q / 2.0)],
    }
}

/// A cascaded routine item of `task` climbing two tiers, `small` then `big`, each
/// given as (confidence, score); the cloud scores `cloud_q` at `cloud_cost`. The
/// routed run was answered by tier `routed` (`None`: escalated).
pub fn two_tiers(
    id: &str,
    task: &str,
    small: (f64, f64),
    big: (f64, f64),
    cloud_q: f64,
    cloud_cost: f64,
    routed: Option<usize>,
) -> Scored {
    let tier = |model: &str, conf: f64| {
        let mut a = answer("local", "hint_local", task, "routine", 0.0);
        a.confidence = Some(conf);
        a.model = Some(model.into());
        a.latency_ms = if model == "small" { 10.0 } else { 100.0 };
        a
    };
    let tiers = vec![tier("small", small.0), tier("big", big.0)];
    let mut cloud = answer("cloud", "hint_cloud", task, "routine", cloud_cost);
    cloud.latency_ms = 1000.0;
    let mut r = match routed {
        Some(i) => {
            let mut r = tiers[i].clone();
            r.reason = "cascade_confident".into();
            r
        }
        None => {
            let mut r = answer(
                "escalated",
                "cascade_low_confidence",
                task,
                "routine",
                cloud_cost,
            );
            r.model = Some("frontier".into());
            r
        }
    };
    let star = |i: usize| if routed == Some(i) { "*" } else { "" };
    r.tiers = Some(format!(
        "small={}{},big={}{}",
        small.0,
        star(0),
        big.0,
        star(1)
    ));
    let qs = [small.1, big.1];
    Scored {
        obs: Observation {
            item: item(id, task, Class::Routine),
            routed: r,
            local: tiers[0].clone(),
            cloud,
            tiers,
        },
        routed: Some(routed.map_or(cloud_q, |i| qs[i])),
        local: Some(small.1),
        cloud: Some(cloud_q),
        tiers: vec![Some(small.1), Some(big.1)],
    }
}
