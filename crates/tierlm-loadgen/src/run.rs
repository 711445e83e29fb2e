//! Running one load step: a sender thread that wakes at each scheduled time and hands
//! the request to the async runtime (the thread sleeps with the OS's sub-millisecond
//! timer instead of tokio's 1 ms wheel, so requests leave on time at thousands per
//! second), a monitor thread that samples the watched processes' CPU time and memory
//! over the measured window, and the aggregation of every outcome into a [`Report`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::{run_one, Outcome, Target};
use crate::procstat::{self, ProcStat, TICKS_PER_SEC};
use crate::schedule::Schedule;
use crate::stats::{summarize, ErrorSample, LatencySummary, Outcomes};

/// Resource use of one watched process tree over the measured window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Resources {
    pub pid: u32,
    /// CPU seconds (user + system) of the tree during the measured window.
    pub cpu_s: f64,
    /// `cpu_s` per 1,000 measured requests.
    pub cpu_s_per_1k: f64,
    /// Highest `VmRSS` of the tree seen by sampling every 200 ms, in MB (10^6 bytes).
    pub rss_peak_sampled_mb: f64,
    /// `VmHWM` of the root process at the end (peak since it started), in MB.
    pub hwm_mb: f64,
    /// Whether the process was gone at the end.
    pub exited: bool,
}

/// What the machine did besides the watched processes during the measured window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Machine {
    pub cpus: usize,
    pub loadavg_start: f64,
    pub loadavg_end: f64,
    /// CPU seconds of this load generator during the window.
    pub loadgen_cpu_s: f64,
    /// Share of all CPUs' time used by processes neither watched nor this one (0..1).
    pub other_cpu_share: f64,
    /// Those processes that used the most CPU, most first (at most 3).
    pub other_busiest: Vec<OtherProcess>,
}

/// A process outside the watched ones and its CPU time during the window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OtherProcess {
    pub pid: u32,
    pub comm: String,
    pub cpu_s: f64,
}

/// The results of one step, written as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub label: String,
    pub url: String,
    pub stream: bool,
    pub rate: f64,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub timeout_ms: u64,
    pub requests: u64,
    pub ok: u64,
    pub success_rate: f64,
    /// Measured requests by class (`ok`, `http_503`, `timeout`, ...).
    pub counts: BTreeMap<String, u64>,
    pub error_samples: Vec<ErrorSample>,
    /// Warm-up requests by class (not in any other figure).
    pub warmup_counts: BTreeMap<String, u64>,
    /// Latency of the successful measured requests, from their scheduled time.
    pub latency: Option<LatencySummary>,
    /// Time to the first body bytes of successful streams.
    pub ttft: Option<LatencySummary>,
    /// How late the generator started the measured requests.
    pub send_lag: Option<LatencySummary>,
    /// Measured requests per second offered.
    pub offered_rps: f64,
    /// Successful measured answers per second, over the window from the first measured
    /// request's scheduled time to the last measured answer.
    pub achieved_rps: f64,
    pub wall_s: f64,
    pub resources: BTreeMap<String, Resources>,
    pub machine: Option<Machine>,
}

impl Report {
    /// A step's report before any request: its settings, every count at zero.
    pub fn template(
        label: &str,
        url: &str,
        stream: bool,
        rate: f64,
        warmup_s: f64,
        duration_s: f64,
        timeout_ms: u64,
    ) -> Self {
        Self {
            label: label.to_string(),
            url: url.to_string(),
            stream,
            rate,
            warmup_s,
            duration_s,
            timeout_ms,
            requests: 0,
            ok: 0,
            success_rate: 0.0,
            counts: BTreeMap::new(),
            error_samples: Vec::new(),
            warmup_counts: BTreeMap::new(),
            latency: None,
            ttft: None,
            send_lag: None,
            offered_rps: 0.0,
            achieved_rps: 0.0,
            wall_s: 0.0,
            resources: BTreeMap::new(),
            machine: None,
        }
    }
}

/// Completion times are needed for the achieved rate.
#[derive(Debug, Clone)]
pub struct Timed {
    pub outcome: Outcome,
    /// When the answer was complete, from the start of the run.
    pub done_at: Duration,
}

/// Build the report's request figures from every outcome of a run.
pub fn aggregate(mut rep: Report, outcomes: &[Timed], schedule: &Schedule, keep: usize) -> Report {
    let mut measured = Outcomes::new(keep);
    let mut warm = Outcomes::new(0);
    let mut lat = Vec::new();
    let mut ttft = Vec::new();
    let mut lag = Vec::new();
    let mut last_done = schedule.measured_start();
    for t in outcomes {
        let o = &t.outcome;
        if o.warmup {
            warm.add(&o.class, None);
            continue;
        }
        measured.add(&o.class, o.sample.clone());
        lag.push(o.lag_us);
        if o.class == "ok" {
            lat.push(o.latency_us);
            if let Some(f) = o.ttft_us {
                ttft.push(f);
            }
            last_done = last_done.max(t.done_at);
        }
    }
    let window = last_done
        .saturating_sub(schedule.measured_start())
        .as_secs_f64()
        .max(schedule.measured_count() as f64 / schedule.rate());
    rep.requests = measured.total();
    rep.ok = measured.ok();
    rep.success_rate = if rep.requests == 0 {
        0.0
    } else {
        rep.ok as f64 / rep.requests as f64
    };
    rep.offered_rps = schedule.rate();
    rep.achieved_rps = rep.ok as f64 / window;
    rep.latency = summarize(&mut lat);
    rep.ttft = summarize(&mut ttft);
    rep.send_lag = summarize(&mut lag);
    rep.counts = measured.counts;
    rep.error_samples = measured.samples;
    rep.warmup_counts = warm.counts;
    rep
}

struct Snapshot {
    at: Instant,
    trees: Vec<Option<u64>>,
    me: u64,
    /// Every process on the machine.
    procs: HashMap<u32, ProcStat>,
}

fn snapshot(watch: &[(String, u32)]) -> Snapshot {
    let procs = procstat::all_stats();
    Snapshot {
        at: Instant::now(),
        trees: watch
            .iter()
            .map(|(_, p)| procstat::tree_cpu_ticks(*p, &procs))
            .collect(),
        me: procstat::self_cpu_ticks().unwrap_or(0),
        procs,
    }
}

/// Watch `watch` from `from` until `stop`; `None` when nothing is watched.
fn monitor(
    watch: Vec<(String, u32)>,
    from: Instant,
    stop: Arc<AtomicBool>,
    measured: u64,
) -> (BTreeMap<String, Resources>, Option<Machine>) {
    while Instant::now() < from && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(5).min(from - Instant::now()));
    }
    let load0 = procstat::loadavg().unwrap_or(0.0);
    let a = snapshot(&watch);
    let mut peaks = vec![0u64; watch.len()];
    loop {
        for (i, (_, pid)) in watch.iter().enumerate() {
            if let (Some(r), Some(p)) = (procstat::tree_rss(*pid), peaks.get_mut(i)) {
                *p = (*p).max(r);
            }
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let b = snapshot(&watch);
    let secs = (b.at - a.at).as_secs_f64().max(1e-9);
    let mut res = BTreeMap::new();
    for (i, (name, pid)) in watch.iter().enumerate() {
        let t0 = a.trees.get(i).copied().flatten();
        let t1 = b.trees.get(i).copied().flatten();
        let ticks = match (t0, t1) {
            (Some(x), Some(y)) => y.saturating_sub(x),
            _ => 0,
        };
        let cpu_s = ticks as f64 / TICKS_PER_SEC;
        res.insert(
            name.clone(),
            Resources {
                pid: *pid,
                cpu_s,
                cpu_s_per_1k: cpu_s * 1000.0 / measured.max(1) as f64,
                rss_peak_sampled_mb: peaks.get(i).copied().unwrap_or(0) as f64 / 1e6,
                hwm_mb: procstat::hwm(*pid).unwrap_or(0) as f64 / 1e6,
                exited: t1.is_none(),
            },
        );
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let me = b.me.saturating_sub(a.me);
    let mut excluded = vec![std::process::id()];
    for (_, pid) in &watch {
        excluded.extend(procstat::tree(*pid, &b.procs));
    }
    let others = procstat::busiest(&a.procs, &b.procs, &excluded);
    let foreign: u64 = others.iter().map(|&(_, used)| used).sum();
    let other = (foreign as f64 / TICKS_PER_SEC / (secs * cpus as f64)).clamp(0.0, 1.0);
    let other_busiest = others
        .iter()
        .take(3)
        .map(|&(pid, used)| OtherProcess {
            pid,
            comm: procstat::comm(pid).unwrap_or_default(),
            cpu_s: used as f64 / TICKS_PER_SEC,
        })
        .collect();
    let machine = Machine {
        cpus,
        loadavg_start: load0,
        loadavg_end: procstat::loadavg().unwrap_or(0.0),
        loadgen_cpu_s: me as f64 / TICKS_PER_SEC,
        other_cpu_share: other,
        other_busiest,
    };
    (res, Some(machine))
}

/// Run the whole schedule against `target` and build the report.
pub fn execute(
    rt: &tokio::runtime::Runtime,
    target: Arc<Target>,
    schedule: Schedule,
    watch: Vec<(String, u32)>,
    template: Report,
    keep: usize,
) -> Report {
    let start = Instant::now() + Duration::from_millis(20);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Timed>();
    let handle = rt.handle().clone();
    let sender_target = target.clone();
    let sender = std::thread::spawn(move || {
        for slot in schedule.slots() {
            let due = start + slot.due;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let tx = tx.clone();
            let t = sender_target.clone();
            handle.spawn(async move {
                let outcome = run_one(t, due, slot.warmup).await;
                let _ = tx.send(Timed {
                    outcome,
                    done_at: start.elapsed(),
                });
            });
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mon_stop = stop.clone();
    let from = start + schedule.measured_start();
    let measured = schedule.measured_count();
    let mon = std::thread::spawn(move || monitor(watch, from, mon_stop, measured));
    let total = schedule.total();
    let outcomes = rt.block_on(async move {
        let mut all = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        while (all.len() as u64) < total {
            match rx.recv().await {
                Some(t) => all.push(t),
                None => break,
            }
        }
        all
    });
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    let (resources, machine) = mon.join().unwrap_or_default();
    let mut rep = aggregate(template, &outcomes, &schedule, keep);
    rep.wall_s = start.elapsed().as_secs_f64();
    rep.resources = resources;
    rep.machine = machine;
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Report {
        Report::template("t", "http://x", false, 10.0, 1.0, 1.0, 1000)
    }

    fn timed(warmup: bool, class: &str, latency_ms: u64, done_ms: u64) -> Timed {
        Timed {
            outcome: Outcome {
                warmup,
                class: class.into(),
                latency_us: latency_ms * 1000,
                ttft_us: Some(latency_ms * 500),
                lag_us: 10,
                sample: (class != "ok").then(|| ErrorSample {
                    class: class.into(),
                    status: Some(503),
                    body: "busy".into(),
                }),
            },
            done_at: Duration::from_millis(done_ms),
        }
    }

    #[test]
    fn aggregates_measured_requests_only() {
        let s = Schedule::new(10.0, 1.0, 1.0).unwrap();
        let mut v = Vec::new();
        for i in 0..10 {
            v.push(timed(
                true,
                if i == 0 { "http_503" } else { "ok" },
                500,
                100 * i,
            ));
        }
        for i in 0..8 {
            v.push(timed(false, "ok", i + 1, 1000 + 100 * i + 5));
        }
        v.push(timed(false, "http_503", 50, 1900));
        v.push(timed(false, "timeout", 5000, 7000));
        let r = aggregate(template(), &v, &s, 5);
        assert_eq!(r.requests, 10);
        assert_eq!(r.ok, 8);
        assert!((r.success_rate - 0.8).abs() < 1e-9);
        assert_eq!(r.counts["http_503"], 1);
        assert_eq!(r.counts["timeout"], 1);
        assert_eq!(r.warmup_counts["ok"], 9);
        assert_eq!(r.warmup_counts["http_503"], 1);
        assert_eq!(r.error_samples.len(), 2);
        let lat = r.latency.unwrap();
        assert_eq!(lat.count, 8);
        assert_eq!(lat.max_ms, 8.0);
        assert_eq!(lat.p50_ms, 4.0);
        assert_eq!(r.ttft.unwrap().count, 8);
        assert_eq!(r.send_lag.unwrap().count, 10);
        // Window is at least the measured duration (1 s): 8 ok / 1 s.
        assert!((r.achieved_rps - 8.0).abs() < 1e-9);
    }

    #[test]
    fn achieved_rate_stretches_with_late_answers() {
        let s = Schedule::new(10.0, 0.0, 1.0).unwrap();
        let v: Vec<Timed> = (0..10)
            .map(|i| timed(false, "ok", 1, 1000 + i * 100))
            .collect();
        let r = aggregate(template(), &v, &s, 5);
        // Last answer at 1.9 s: 10 / 1.9.
        assert!((r.achieved_rps - 10.0 / 1.9).abs() < 1e-9);
        assert_eq!(r.success_rate, 1.0);
    }

    #[test]
    fn empty_run() {
        let s = Schedule::new(10.0, 0.0, 1.0).unwrap();
        let r = aggregate(template(), &[], &s, 5);
        assert_eq!(r.requests, 0);
        assert_eq!(r.success_rate, 0.0);
        assert!(r.latency.is_none());
    }
}
