//! Resource use of the processes under test, read from `/proc`: CPU time (`utime +
//! stime` of a process and its live descendants, plus `cutime + cstime` of the root for
//! children already reaped), resident memory (`VmRSS`, `VmHWM`), and the CPU time of
//! every process on the machine, so a run can say how much CPU *other* processes took
//! while it measured, and which. The machine total is summed over `/proc/PID/stat` rather than read
//! from `/proc/stat`: in the VMs this runs on, `/proc/stat`'s tick-sampled busy time
//! disagreed with the processes' own (2.3 s busy in a window where tierlm alone used
//! 6.5 s), which flagged quiet steps as contended. Times in `/proc` are in clock ticks of
//! `USER_HZ`, which the kernel fixes at 100 per second for user space on Linux.

use std::collections::HashMap;
use std::fs;

/// Clock ticks per second in `/proc/*/stat` (Linux `USER_HZ`).
pub const TICKS_PER_SEC: f64 = 100.0;

/// The fields of `/proc/PID/stat` this crate needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub ppid: u32,
    pub utime: u64,
    pub stime: u64,
    pub cutime: u64,
    pub cstime: u64,
    /// When the process started (clock ticks after boot): a pid reused by a new process
    /// has another.
    pub start: u64,
}

impl ProcStat {
    /// CPU ticks of the process and of its children already reaped.
    pub fn total_ticks(&self) -> u64 {
        self.utime + self.stime + self.cutime + self.cstime
    }
}

/// Parse the text of `/proc/PID/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field N is f[N - 3].
    let num = |n: usize| f.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(ProcStat {
        ppid: u32::try_from(num(4)?).ok()?,
        utime: num(14)?,
        stime: num(15)?,
        cutime: num(16)?,
        cstime: num(17)?,
        start: num(22)?,
    })
}

/// A `kB` value of `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn parse_status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let v = line.strip_prefix(key)?.strip_prefix(':')?;
        let kb = v.split_whitespace().next()?.parse::<u64>().ok()?;
        Some(kb * 1024)
    })
}

fn read_stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The stats of every process on the machine, by pid.
pub fn all_stats() -> HashMap<u32, ProcStat> {
    let mut out = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                if let Some(s) = read_stat(pid) {
                    out.insert(pid, s);
                }
            }
        }
    }
    out
}

/// `pid` and every live descendant of it, given a table of stats.
pub fn tree(root: u32, stats: &HashMap<u32, ProcStat>) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while let Some(&p) = out.get(i) {
        let mut kids: Vec<u32> = stats
            .iter()
            .filter(|(&c, s)| s.ppid == p && c != p && !out.contains(&c))
            .map(|(&c, _)| c)
            .collect();
        kids.sort_unstable();
        out.extend(kids);
        i += 1;
    }
    out
}

/// CPU ticks used so far by `root` and its descendants (live ones, plus reaped ones
/// through the root's `cutime`/`cstime`); `None` when `root` is gone.
pub fn tree_cpu_ticks(root: u32, stats: &HashMap<u32, ProcStat>) -> Option<u64> {
    let r = stats.get(&root)?;
    let mut ticks = r.cutime + r.cstime;
    for pid in tree(root, stats) {
        if let Some(s) = stats.get(&pid) {
            ticks += s.utime + s.stime;
        }
    }
    Some(ticks)
}

/// Resident bytes (`VmRSS`) of `root` and its descendants.
pub fn tree_rss(root: u32) -> Option<u64> {
    let stats = all_stats();
    stats.get(&root)?;
    let mut total = 0;
    for pid in tree(root, &stats) {
        if let Ok(t) = fs::read_to_string(format!("/proc/{pid}/status")) {
            total += parse_status_kb(&t, "VmRSS").unwrap_or(0);
        }
    }
    Some(total)
}

/// Peak resident bytes (`VmHWM`) of `pid` alone, since it started.
pub fn hwm(pid: u32) -> Option<u64> {
    parse_status_kb(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "VmHWM",
    )
}

/// CPU ticks of this process.
pub fn self_cpu_ticks() -> Option<u64> {
    let s = parse_stat(&fs::read_to_string("/proc/self/stat").ok()?)?;
    Some(s.utime + s.stime)
}

/// The processes outside `excluded` (pids) that used CPU between the tables `before`
/// and `after`, with the ticks each used, most first.
pub fn busiest(
    before: &HashMap<u32, ProcStat>,
    after: &HashMap<u32, ProcStat>,
    excluded: &[u32],
) -> Vec<(u32, u64)> {
    let mut out: Vec<(u32, u64)> = after
        .iter()
        .filter(|(pid, _)| !excluded.contains(pid))
        .map(|(&pid, s)| {
            let prev = before
                .get(&pid)
                .filter(|p| p.start == s.start)
                .map_or(0, ProcStat::total_ticks);
            (pid, s.total_ticks().saturating_sub(prev))
        })
        .filter(|&(_, used)| used > 0)
        .collect();
    out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// The command name of `pid` (`/proc/PID/comm`).
pub fn comm(pid: u32) -> Option<String> {
    let name = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(name.trim_end().to_string())
}

/// The 1-minute load average.
pub fn loadavg() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let t =
            "1234 (my (weird) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 3 4 20 0 1 0 5 0 0";
        let s = parse_stat(t).unwrap();
        assert_eq!(s.ppid, 1);
        assert_eq!(s.utime, 250);
        assert_eq!(s.stime, 75);
        assert_eq!(s.cutime, 3);
        assert_eq!(s.cstime, 4);
        assert_eq!(s.start, 5);
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("1 (x) S 1 2").is_none());
    }

    #[test]
    fn status_values() {
        let t = "Name:\ttierlm\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(parse_status_kb(t, "VmHWM"), Some(51200 * 1024));
        assert_eq!(parse_status_kb(t, "VmRSS"), Some(40960 * 1024));
        assert_eq!(parse_status_kb(t, "VmSwap"), None);
    }

    #[test]
    fn process_tree() {
        let st = |ppid| ProcStat {
            ppid,
            utime: 0,
            stime: 0,
            cutime: 0,
            cstime: 0,
            start: 0,
        };
        let mut m = HashMap::new();
        m.insert(1, st(0));
        m.insert(10, st(1));
        m.insert(11, st(10));
        m.insert(12, st(10));
        m.insert(13, st(12));
        m.insert(20, st(1));
        assert_eq!(tree(10, &m), vec![10, 11, 12, 13]);
        assert_eq!(tree(20, &m), vec![20]);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let stats = all_stats();
        assert!(tree_cpu_ticks(me, &stats).is_some());
        assert!(tree_rss(me).unwrap_or(0) > 0);
        assert!(hwm(me).unwrap_or(0) > 0);
        assert!(self_cpu_ticks().is_some());
        assert!(busiest(&stats, &stats, &[]).is_empty());
        assert!(comm(me).is_some_and(|c| !c.is_empty()));
    }

    #[test]
    fn busiest_counts_the_window_only() {
        let st = |ticks, start| ProcStat {
            ppid: 1,
            utime: ticks,
            stime: 1,
            cutime: 0,
            cstime: 0,
            start,
        };
        let before = HashMap::from([(10, st(100, 5)), (11, st(50, 5)), (12, st(70, 5))]);
        // 10 used 30 ticks, 11 none, 12 is a new process on a reused pid, 13 is new
        let after = HashMap::from([
            (10, st(130, 5)),
            (11, st(50, 5)),
            (12, st(8, 900)),
            (13, st(20, 950)),
        ]);
        assert_eq!(
            busiest(&before, &after, &[]),
            vec![(10, 30), (13, 21), (12, 9)]
        );
        assert_eq!(busiest(&before, &after, &[10, 13]), vec![(12, 9)]);
    }
}
