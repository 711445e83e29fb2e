//! Who answers a task's route: the teacher (the frontier model, through the
//! cascade), the student in shadow (the teacher still answers; the student's answer
//! is only compared), or the student. State and every transition (who, when, why,
//! and the agreement that justified it) are kept in the distillation store, so a
//! restart keeps them and `tierlm distill status` can show the history.
//!
//! ```text
//! Teacher ──start_shadow / first record_shadow──▶ Shadow{since, agree, total}
//! Shadow ──a selective gate over ≥ min_samples (auto) or promote──▶ Student{min_confidence}
//! any ──demote──▶ Teacher            any ──promote──▶ Student
//! ```
//!
//! Promotion is by **selective agreement** ([`crate::selective`]): every shadow
//! sample keeps the student's confidence, and once there are `min_samples` of them the
//! store looks for the widest confidence gate above which the student agreed with the
//! teacher on at least `min_agreement` of the samples, covering at least
//! `min_coverage` of them. The promoted state carries that gate; the gateway lets the
//! student answer at or above it and sends the rest on to the local tiers.
//!
//! Defaults: 95% agreement over at least 200 shadow samples, a quarter of them
//! covered. At 190/200 the Wilson 95% interval's lower bound is 91%: the student is
//! very likely right on at least nine requests in ten of what it answers, and the
//! tiers take what it is unsure of. Fewer samples widen the interval fast (at 95/100
//! the bound is 89%), and more would keep a good student waiting for days on a
//! quiet route. The samples of a shadow phase are kept until the next one starts.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::error::DistillError;
use crate::selective::{selective_gate, SelectiveGate, ShadowSample};
use crate::store::{db_err, DistillStore};

/// Who serves a task's route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RouteState {
    /// The frontier model answers (the default).
    Teacher,
    /// The teacher answers; the student's answers are compared with it.
    Shadow {
        since_ms: i64,
        agree: u64,
        total: u64,
    },
    /// The student answers (at or above `min_confidence`, when the shadow chose one).
    Student {
        promoted_at_ms: i64,
        by: String,
        reason: String,
        /// The selective gate the shadow measured; `None` for an operator's promotion
        /// (the gateway then uses `student_min_confidence`) or a student without
        /// confidences.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_confidence: Option<f64>,
    },
}

impl RouteState {
    pub fn name(&self) -> &'static str {
        match self {
            RouteState::Teacher => "teacher",
            RouteState::Shadow { .. } => "shadow",
            RouteState::Student { .. } => "student",
        }
    }

    /// Whether the student should answer (the server serves it locally).
    pub fn student_serves(&self) -> bool {
        matches!(self, RouteState::Student { .. })
    }

    /// Whether the student should run beside the teacher on sampled requests.
    pub fn is_shadow(&self) -> bool {
        matches!(self, RouteState::Shadow { .. })
    }

    /// The confidence gate a promoted student was given, if any.
    pub fn student_gate(&self) -> Option<f64> {
        match self {
            RouteState::Student { min_confidence, .. } => *min_confidence,
            _ => None,
        }
    }
}

/// When a shadowing student is promoted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromotionPolicy {
    /// Least share of the covered shadow samples where student and teacher agreed.
    pub min_agreement: f64,
    /// Least number of shadow samples before the gate is judged.
    pub min_samples: u64,
    /// Least share of the shadow samples the gate must cover.
    pub min_coverage: f64,
    /// Promote as soon as both are met; otherwise wait for `promote`.
    pub auto_promote: bool,
}

impl Default for PromotionPolicy {
    fn default() -> Self {
        Self {
            min_agreement: 0.95,
            min_samples: 200,
            min_coverage: 0.25,
            auto_promote: true,
        }
    }
}

/// A transition of a task's route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteEvent {
    pub task: String,
    pub time_ms: i64,
    pub from: String,
    pub to: String,
    /// Who: `auto`, `drift`, an operator's name.
    pub by: String,
    pub reason: String,
    /// Shadow agreement at the time, when there was a shadow phase.
    pub agree: Option<u64>,
    pub total: Option<u64>,
}

/// Lower bound of the Wilson score interval for `successes` of `n` at normal
/// quantile `z` (1.96 for 95%); 0 for `n = 0`.
pub fn wilson_lower_bound(successes: u64, n: u64, z: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    let p = successes.min(n as u64) as f64 / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half) / (1.0 + z2 / n)).clamp(0.0, 1.0)
}

impl DistillStore {
    /// The route state of `task` (`Teacher` if never set).
    pub fn route_state(&self, task: &str) -> Result<RouteState, DistillError> {
        let conn = self.conn();
        read_state(&conn, self.location(), task)
    }

    /// Every task with a stored state, by name.
    pub fn route_states(&self) -> Result<Vec<(String, RouteState)>, DistillError> {
        let loc = self.location();
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT task, state FROM route_state ORDER BY task")
            .map_err(db_err(loc, "prepare the state query"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(db_err(loc, "query states"))?;
        let mut out = Vec::new();
        for row in rows {
            let (task, json) = row.map_err(db_err(loc, "read a state"))?;
            out.push((task, parse_state(loc, &json)?));
        }
        Ok(out)
    }

    /// Puts the student of `task` in shadow with fresh counters and no samples (from
    /// any state).
    pub fn start_shadow(
        &self,
        task: &str,
        by: &str,
        reason: &str,
    ) -> Result<RouteState, DistillError> {
        self.transition(task, |tx, _| {
            clear_samples(tx, self.location(), task)?;
            Ok(Change::event(
                RouteState::Shadow {
                    since_ms: crate::now_ms(),
                    agree: 0,
                    total: 0,
                },
                by,
                reason,
            ))
        })
    }

    /// Counts one shadow comparison. A route still on the teacher enters shadow; a
    /// shadow route whose samples give a selective gate under `policy` is promoted
    /// (by `auto`) with that gate; a student route is left as it is (its agreement is
    /// the drift monitor's to watch). Returns the state after.
    pub fn record_shadow(
        &self,
        task: &str,
        sample: ShadowSample,
        policy: &PromotionPolicy,
    ) -> Result<RouteState, DistillError> {
        let loc = self.location();
        let hit = u64::from(sample.agreed);
        self.transition(task, |tx, state| {
            let (since_ms, agree, total) = match state {
                RouteState::Student { .. } => return Ok(None),
                RouteState::Teacher => {
                    clear_samples(tx, loc, task)?;
                    insert_sample(tx, loc, task, sample)?;
                    return Ok(Change::event(
                        RouteState::Shadow {
                            since_ms: crate::now_ms(),
                            agree: hit,
                            total: 1,
                        },
                        "auto",
                        "first shadow sample",
                    )
                    .map(|c| Change {
                        counts: Some((hit, 1)),
                        ..c
                    }));
                }
                RouteState::Shadow {
                    since_ms,
                    agree,
                    total,
                } => (*since_ms, agree + hit, total + 1),
            };
            insert_sample(tx, loc, task, sample)?;
            let gate = if policy.auto_promote && total >= policy.min_samples {
                let samples = read_samples(tx, loc, task)?;
                selective_gate(&samples, policy.min_agreement, policy.min_coverage)
            } else {
                None
            };
            let Some(gate) = gate else {
                return Ok(Some(Change {
                    state: RouteState::Shadow {
                        since_ms,
                        agree,
                        total,
                    },
                    event: None,
                    counts: None,
                }));
            };
            let reason = promotion_reason(&gate, policy);
            Ok(Some(Change {
                state: RouteState::Student {
                    promoted_at_ms: crate::now_ms(),
                    by: "auto".into(),
                    reason: reason.clone(),
                    min_confidence: gate.min_confidence,
                },
                event: Some(("auto".into(), reason)),
                counts: Some((agree, total)),
            }))
        })
    }

    /// The samples of the current shadow phase of `task`, oldest first.
    pub fn shadow_samples(&self, task: &str) -> Result<Vec<ShadowSample>, DistillError> {
        let conn = self.conn();
        read_samples(&conn, self.location(), task)
    }

    /// Hands the route to the student now (an operator's decision).
    pub fn promote(&self, task: &str, by: &str, reason: &str) -> Result<RouteState, DistillError> {
        self.transition(task, |_, _| {
            Ok(Change::event(
                RouteState::Student {
                    promoted_at_ms: crate::now_ms(),
                    by: by.to_string(),
                    reason: reason.to_string(),
                    min_confidence: None,
                },
                by,
                reason,
            ))
        })
    }

    /// Hands the route back to the teacher (an operator, or the drift policy).
    pub fn demote(&self, task: &str, by: &str, reason: &str) -> Result<RouteState, DistillError> {
        self.transition(task, |_, _| {
            Ok(Change::event(RouteState::Teacher, by, reason))
        })
    }

    /// The transitions of `task` (or of every task), oldest first.
    pub fn route_events(&self, task: Option<&str>) -> Result<Vec<RouteEvent>, DistillError> {
        let loc = self.location();
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT task, time_ms, from_state, to_state, actor, reason, agree, total \
                 FROM route_events WHERE (?1 IS NULL OR task = ?1) ORDER BY time_ms, rowid",
            )
            .map_err(db_err(loc, "prepare the event query"))?;
        let rows = stmt
            .query_map(params![task], |r| {
                Ok(RouteEvent {
                    task: r.get(0)?,
                    time_ms: r.get(1)?,
                    from: r.get(2)?,
                    to: r.get(3)?,
                    by: r.get(4)?,
                    reason: r.get(5)?,
                    agree: r
                        .get::<_, Option<i64>>(6)?
                        .and_then(|v| u64::try_from(v).ok()),
                    total: r
                        .get::<_, Option<i64>>(7)?
                        .and_then(|v| u64::try_from(v).ok()),
                })
            })
            .map_err(db_err(loc, "query events"))?;
        rows.map(|r| r.map_err(db_err(loc, "read an event")))
            .collect()
    }

    /// Reads the state, lets `next` decide the change (`None`: none; it may also
    /// write samples in the same transaction) and writes it in one `IMMEDIATE`
    /// transaction, logging it when it is an event.
    fn transition(
        &self,
        task: &str,
        next: impl FnOnce(&Transaction<'_>, &RouteState) -> Result<Option<Change>, DistillError>,
    ) -> Result<RouteState, DistillError> {
        let loc = self.location();
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(loc, "begin a state change"))?;
        let before = read_state(&tx, loc, task)?;
        let Some(change) = next(&tx, &before)? else {
            tx.commit().map_err(db_err(loc, "commit a state change"))?;
            return Ok(before);
        };
        let after = change.state;
        let json = serde_json::to_string(&after)
            .map_err(|e| DistillError::Invalid(format!("route state: {e}")))?;
        let now = crate::now_ms();
        tx.execute(
            "INSERT INTO route_state (task, state, updated_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (task) DO UPDATE SET state = excluded.state, \
             updated_ms = excluded.updated_ms",
            params![task, json, now],
        )
        .map_err(db_err(loc, "write a route state"))?;
        if let Some((by, reason)) = &change.event {
            let (agree, total) = match &before {
                RouteState::Shadow { agree, total, .. } => (Some(*agree), Some(*total)),
                _ => (None, None),
            };
            let (agree, total) = change
                .counts
                .map_or((agree, total), |(a, t)| (Some(a), Some(t)));
            let as_i64 = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
            tx.execute(
                "INSERT INTO route_events (task, time_ms, from_state, to_state, actor, reason, \
                 agree, total) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    task,
                    now,
                    before.name(),
                    after.name(),
                    by,
                    reason,
                    as_i64(agree),
                    as_i64(total)
                ],
            )
            .map_err(db_err(loc, "log a route event"))?;
            tracing::info!(
                task,
                from = before.name(),
                to = after.name(),
                by = by.as_str(),
                reason = reason.as_str(),
                "distill route change"
            );
        }
        tx.commit().map_err(db_err(loc, "commit a state change"))?;
        Ok(after)
    }
}

/// A new state, and the event (who, why) to log for it, if any.
struct Change {
    state: RouteState,
    event: Option<(String, String)>,
    /// Shadow counts to log with the event (else those of the state before).
    counts: Option<(u64, u64)>,
}

impl Change {
    fn event(state: RouteState, by: &str, reason: &str) -> Option<Self> {
        Some(Self {
            state,
            event: Some((by.to_string(), reason.to_string())),
            counts: None,
        })
    }
}

/// Why the store promoted a student: its gate and the evidence.
fn promotion_reason(gate: &SelectiveGate, policy: &PromotionPolicy) -> String {
    let at = gate
        .min_confidence
        .map_or("every request".to_string(), |c| {
            format!("confidence ≥ {c:.4}")
        });
    format!(
        "selective agreement {}/{} = {:.1}% ≥ {:.1}% at {at}, covering {}/{} = {:.1}% \
         of the shadow samples (≥ {:.0}%; Wilson 95% lower bound {:.1}%)",
        gate.agreed,
        gate.covered,
        gate.agreement() * 100.0,
        policy.min_agreement * 100.0,
        gate.covered,
        gate.samples,
        gate.coverage() * 100.0,
        policy.min_coverage * 100.0,
        wilson_lower_bound(gate.agreed, gate.covered, 1.96) * 100.0
    )
}

/// Most samples of one shadow phase the gate reads (the newest).
const MAX_SAMPLES: i64 = 20_000;

fn clear_samples(conn: &rusqlite::Connection, loc: &str, task: &str) -> Result<(), DistillError> {
    conn.execute("DELETE FROM shadow_samples WHERE task = ?1", params![task])
        .map_err(db_err(loc, "clear shadow samples"))?;
    Ok(())
}

fn insert_sample(
    conn: &rusqlite::Connection,
    loc: &str,
    task: &str,
    sample: ShadowSample,
) -> Result<(), DistillError> {
    conn.execute(
        "INSERT INTO shadow_samples (task, time_ms, confidence, agreed) VALUES (?1, ?2, ?3, ?4)",
        params![task, crate::now_ms(), sample.confidence, sample.agreed],
    )
    .map_err(db_err(loc, "record a shadow sample"))?;
    Ok(())
}

fn read_samples(
    conn: &rusqlite::Connection,
    loc: &str,
    task: &str,
) -> Result<Vec<ShadowSample>, DistillError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT confidence, agreed FROM (SELECT rowid, confidence, agreed FROM \
             shadow_samples WHERE task = ?1 ORDER BY rowid DESC LIMIT ?2) ORDER BY rowid",
        )
        .map_err(db_err(loc, "prepare the sample query"))?;
    let rows = stmt
        .query_map(params![task, MAX_SAMPLES], |r| {
            Ok(ShadowSample {
                confidence: r.get(0)?,
                agreed: r.get(1)?,
            })
        })
        .map_err(db_err(loc, "query shadow samples"))?;
    rows.map(|r| r.map_err(db_err(loc, "read a shadow sample")))
        .collect()
}

fn parse_state(location: &str, json: &str) -> Result<RouteState, DistillError> {
    serde_json::from_str(json).map_err(|e| DistillError::Corrupt {
        location: location.to_string(),
        detail: format!("route state {json:?}: {e}"),
    })
}

fn read_state(
    conn: &rusqlite::Connection,
    loc: &str,
    task: &str,
) -> Result<RouteState, DistillError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT state FROM route_state WHERE task = ?1",
            params![task],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err(loc, "read a route state"))?;
    match json {
        None => Ok(RouteState::Teacher),
        Some(j) => parse_state(loc, &j),
    }
}

#[cfg(test)]
#[path = "promotion_tests.rs"]
mod tests;
