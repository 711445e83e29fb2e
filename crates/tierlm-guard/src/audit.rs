//! The egress audit: every request the gateway sends to a cloud provider is recorded
//! as one line of a JSON-lines file, and the lines form a SHA-256 hash chain, so that
//! an edited, deleted, inserted or reordered entry is found by [`verify`].
//!
//! # File format
//!
//! One [`AuditEntry`] per line, as a JSON object terminated by `\n`:
//! `seq` (1 for the first entry, then +1 per line), `time` (RFC 3339 UTC with
//! milliseconds, never earlier than the previous entry's), the [`AuditRecord`] fields
//! flattened in, `prev_hash` (the previous entry's `hash`; 64 `0`s for the first) and
//! `hash`.
//!
//! # The hash
//!
//! `hash` is the lower-case hex SHA-256 of the *canonical JSON* of the entry's object
//! with the `hash` member removed (every other member, including any a tamperer
//! added, is covered). Canonical JSON is: no whitespace; object members sorted by key
//! (byte order of the UTF-8 key), recursively; strings escaped as `serde_json` does
//! (only `"`, `\` and control characters escaped, everything else as UTF-8); integers
//! in plain decimal; `null` for an absent tenant. The order in which the line stores
//! its members does not matter. For example the first entry's hash is
//! `sha256({"body_bytes":12,"body_sha256":"…","model":"…","prev_hash":"000…0",
//! "provider":"…","redacted":{"EMAIL":1},"request_id":"…","route":"cloud","seq":1,
//! "tenant":null,"time":"2024-05-01T12:00:00.000Z"})`.
//!
//! # Durability
//!
//! [`AuditLog`] opens the file with `O_APPEND`; an [`AuditLog::append`] returns only
//! once its line is written and `sync_data`'d, so an entry that was acknowledged is on
//! disk. Appends are group-committed: concurrent appends queue their records, and
//! whoever holds the file writes all queued lines at once with one sync. A failed append is cut back off the file. On open the
//! last line is read to continue `seq` and `prev_hash` (its own hash is checked); a
//! torn last line left by a crash (no terminating newline: it was never acknowledged)
//! is truncated away and reported by [`AuditLog::torn_tail`]. One process writes a
//! file at a time; an append that finds the file changed under it refuses to go on.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod time;
use time::now_ms;
pub use time::{format_rfc3339_ms, parse_bound, parse_rfc3339};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What the caller records about one request sent to a cloud provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub request_id: String,
    pub tenant: Option<String>,
    pub provider: String,
    pub model: String,
    /// Hex SHA-256 of the exact bytes sent.
    pub body_sha256: String,
    pub body_bytes: u64,
    /// Entity type name (`EntityKind::name`) → how many values were replaced by
    /// placeholders.
    pub redacted: BTreeMap<String, u32>,
    /// Why it went to the cloud, e.g. `cloud`, `escalated`.
    pub route: String,
}

/// One line of the audit file: a record with its place on the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    /// RFC 3339 UTC with milliseconds, e.g. `2024-05-01T12:00:00.000Z`.
    pub time: String,
    #[serde(flatten)]
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// Why the audit log could not be opened, appended to, verified or exported.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: the last entry cannot be continued from: {reason}", path.display())]
    Tail { path: PathBuf, reason: String },
    #[error("{}: audit log unusable: {reason}", path.display())]
    Unusable { path: PathBuf, reason: String },
    #[error("refusing to export: audit chain broken at {0}")]
    Broken(BrokenLink),
    #[error("bad time `{0}`: expected RFC 3339 (2024-05-01T12:00:00Z) or YYYY-MM-DD")]
    BadTime(String),
    #[error("empty range: from `{from}` is not before to `{to}`")]
    EmptyRange { from: String, to: String },
    #[error("cannot serialise the audit entry: {0}")]
    Json(#[from] serde_json::Error),
    #[error("writing the export: {0}")]
    Output(io::Error),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A torn last line that [`AuditLog::open`] cut off the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Where the file now ends (the torn bytes started here).
    pub offset: u64,
    /// How many bytes were removed.
    pub bytes: u64,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "removed a torn last line ({} bytes at offset {}) left by an interrupted append",
            self.bytes, self.offset
        )
    }
}

#[derive(Debug)]
struct State {
    file: File,
    /// File length after the last acknowledged line.
    len: u64,
    next_seq: u64,
    prev_hash: String,
    last_ms: i64,
    /// Set when a failed append could not be rolled back.
    unusable: Option<String>,
}

/// When an appended entry counts as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditSync {
    /// Synced to the disk (`fdatasync`, one per group) before the append returns:
    /// survives a power loss.
    #[default]
    Always,
    /// Handed to the operating system before the append returns, synced by it later:
    /// survives a crash of the gateway (kill -9), not a power loss or kernel crash,
    /// and takes the disk sync off every cloud request's path.
    Os,
}

/// An open audit file that entries are appended to (see the module documentation).
#[derive(Debug)]
pub struct AuditLog {
    sync: AuditSync,
    path: PathBuf,
    torn_tail: Option<TornTail>,
    state: Mutex<State>,
    /// Records waiting for the next group write.
    queue: Mutex<Vec<Queued>>,
}

impl AuditLog {
    /// Open (creating it and its parent folders if need be) the audit file at `path`,
    /// continuing the chain from its last entry. A torn last line is truncated away
    /// (see [`AuditLog::torn_tail`]); a last complete line that is not a valid entry
    /// is an error ([`verify`] tells where the chain breaks).
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        Self::open_with(path, AuditSync::Always)
    }

    /// [`AuditLog::open`] with a durability mode other than [`AuditSync::Always`].
    pub fn open_with(path: &Path, sync: AuditSync) -> Result<Self, AuditError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_err(path))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err(path))?;
        // One writer per chain: a second process appending to the same file would fork
        // the chain, so it is refused here, before anything is read or repaired. The
        // lock is held as long as the file is open and released by the OS on any exit.
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(AuditError::Unusable {
                    path: path.to_path_buf(),
                    reason: "another process (a second gateway?) is writing it; give each \
                             gateway its own audit file"
                        .to_string(),
                })
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(path)(e)),
        }
        let len = file.metadata().map_err(io_err(path))?.len();
        let end = rfind_newline(&mut file, len)
            .map_err(io_err(path))?
            .map_or(0, |p| p + 1);
        let torn_tail = if end < len {
            file.set_len(end)
                .and_then(|()| file.sync_data())
                .map_err(io_err(path))?;
            Some(TornTail {
                offset: end,
                bytes: len - end,
            })
        } else {
            None
        };
        let (next_seq, prev_hash, last_ms) = if end == 0 {
            (1, GENESIS_HASH.to_string(), i64::MIN)
        } else {
            let start = rfind_newline(&mut file, end - 1)
                .map_err(io_err(path))?
                .map_or(0, |p| p + 1);
            let mut line = vec![0; usize::try_from(end - start).unwrap_or(usize::MAX)];
            file.seek(SeekFrom::Start(start))
                .and_then(|_| file.read_exact(&mut line))
                .map_err(io_err(path))?;
            let (entry, ms) = parse_entry(&line).map_err(|(_, reason)| AuditError::Tail {
                path: path.to_path_buf(),
                reason,
            })?;
            (entry.seq + 1, entry.hash, ms)
        };
        Ok(AuditLog {
            sync,
            path: path.to_path_buf(),
            torn_tail,
            state: Mutex::new(State {
                file,
                len: end,
                next_seq,
                prev_hash,
                last_ms,
                unusable: None,
            }),
            queue: Mutex::new(Vec::new()),
        })
    }

    /// The audit file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The torn last line [`AuditLog::open`] removed, if any (worth a warning).
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn_tail.as_ref()
    }

    /// Whether [`AuditLog::append`] returns without waiting on a disk sync (a `write`
    /// to the page cache and a brief lock at most), so async code may call it in place
    /// instead of on a blocking thread: true with [`AuditSync::Os`].
    pub fn append_is_quick(&self) -> bool {
        self.sync == AuditSync::Os
    }

    /// Append `record` as the next entry, durably (written and `sync_data`'d) before
    /// returning it.
    pub fn append(&self, record: AuditRecord) -> Result<AuditEntry, AuditError> {
        self.append_at(record, now_ms())
    }

    fn append_at(&self, record: AuditRecord, now_ms: i64) -> Result<AuditEntry, AuditError> {
        let (done, result) = mpsc::sync_channel(1);
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((record, done));
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // The previous holder may have written this record with its group.
        if let Ok(r) = result.try_recv() {
            return r;
        }
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()));
        self.write_group(&mut state, batch, now_ms);
        drop(state);
        result.recv().unwrap_or_else(|_| {
            Err(AuditError::Unusable {
                path: self.path.clone(),
                reason: "the group write lost this entry's result".into(),
            })
        })
    }

    /// Chains every queued record onto the file, writes the lines at once and syncs
    /// once (group commit), then tells each waiter its entry. If anything fails, no
    /// line of the group stays in the file and every waiter gets the error.
    fn write_group(&self, state: &mut State, batch: Vec<Queued>, now_ms: i64) {
        let fail_all = |batch: Vec<Queued>, err: &dyn Fn() -> AuditError| {
            for (_, done) in batch {
                let _ = done.send(Err(err()));
            }
        };
        let unusable = |reason: String| {
            let path = self.path.clone();
            move || AuditError::Unusable {
                path: path.clone(),
                reason: reason.clone(),
            }
        };
        if let Some(reason) = &state.unusable {
            return fail_all(batch, &unusable(reason.clone()));
        }
        match state.file.metadata() {
            Ok(m) if m.len() == state.len => {}
            Ok(m) => {
                let reason = format!(
                    "the file changed under this writer (expected {} bytes, found {})",
                    state.len,
                    m.len()
                );
                return fail_all(batch, &unusable(reason));
            }
            Err(e) => return fail_all(batch, &io_error(&self.path, &e)),
        }
        let ms = now_ms.max(state.last_ms);
        let (mut seq, mut prev) = (state.next_seq, state.prev_hash.clone());
        let mut lines = Vec::new();
        let mut entries = Vec::with_capacity(batch.len());
        for (record, _) in &batch {
            let mut entry = AuditEntry {
                seq,
                time: format_rfc3339_ms(ms),
                record: record.clone(),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            let line = entry_hash(&entry).and_then(|h| {
                entry.hash = h;
                serde_json::to_vec(&entry).map_err(AuditError::from)
            });
            match line {
                Ok(l) => {
                    lines.extend_from_slice(&l);
                    lines.push(b'\n');
                }
                Err(e) => {
                    let reason = format!("cannot serialise an entry: {e}");
                    return fail_all(batch, &unusable(reason));
                }
            }
            seq += 1;
            prev.clone_from(&entry.hash);
            entries.push(entry);
        }
        let always = self.sync == AuditSync::Always;
        let written = state.file.write_all(&lines).and_then(|()| {
            if always {
                state.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            let len = state.len;
            if let Err(e2) = state
                .file
                .set_len(len)
                .and_then(|()| state.file.sync_data())
            {
                state.unusable = Some(format!(
                    "an append failed ({e}) and could not be cut off again ({e2})"
                ));
            }
            return fail_all(batch, &io_error(&self.path, &e));
        }
        state.len += lines.len() as u64;
        state.next_seq = seq;
        state.prev_hash = prev;
        state.last_ms = ms;
        for ((_, done), entry) in batch.into_iter().zip(entries) {
            let _ = done.send(Ok(entry));
        }
    }
}

/// A record waiting for the next group write, and where its entry goes.
type Queued = (
    AuditRecord,
    mpsc::SyncSender<Result<AuditEntry, AuditError>>,
);

/// An I/O error for every waiter of a failed group (`io::Error` is not `Clone`).
fn io_error<'a>(path: &'a Path, e: &io::Error) -> impl Fn() -> AuditError + 'a {
    let (kind, text) = (e.kind(), e.to_string());
    move || AuditError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(kind, text.clone()),
    }
}

/// Offset of the last `\n` before `before`, reading backwards in chunks.
fn rfind_newline(file: &mut File, before: u64) -> io::Result<Option<u64>> {
    let mut buf = [0u8; 8192];
    let mut end = before;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(start + i as u64));
        }
        end = start;
    }
    Ok(None)
}

/// The entry's `hash`: SHA-256 of the canonical JSON of every other member.
pub fn entry_hash(entry: &AuditEntry) -> Result<String, AuditError> {
    let mut value = serde_json::to_value(entry)?;
    if let Value::Object(members) = &mut value {
        members.remove("hash");
    }
    Ok(sha256_hex(canonical_json(&value).as_bytes()))
}

/// The canonical JSON of `value` (see the module documentation).
pub fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(members) => {
                let sorted: BTreeMap<&String, &Value> = members.iter().collect();
                out.push('{');
                for (i, (key, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parse one line (with or without its `\n`) as an entry whose own hash is right;
/// returns the entry and its time in unix milliseconds, or (seq if known, reason).
fn parse_entry(raw: &[u8]) -> Result<(AuditEntry, i64), (Option<u64>, String)> {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let mut value: Value =
        serde_json::from_slice(raw).map_err(|e| (None, format!("not valid JSON: {e}")))?;
    let seq = value.get("seq").and_then(Value::as_u64);
    let entry =
        AuditEntry::deserialize(&value).map_err(|e| (seq, format!("not an audit entry: {e}")))?;
    if let Value::Object(members) = &mut value {
        members.remove("hash");
    }
    let computed = sha256_hex(canonical_json(&value).as_bytes());
    if computed != entry.hash {
        return Err((
            seq,
            format!(
                "hash mismatch: the entry was altered (stored {}, computed {computed})",
                entry.hash
            ),
        ));
    }
    let ms = parse_rfc3339(&entry.time)
        .ok_or_else(|| (seq, format!("time `{}` is not RFC 3339", entry.time)))?;
    Ok((entry, ms))
}

/// Where [`verify`] found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// 1-based line number in the file.
    pub line: u64,
    /// The entry's `seq`, when the line had one.
    pub seq: Option<u64>,
    pub reason: String,
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "line {} (seq {seq}): {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries that verified, from the first line on (all of them when the chain is
    /// whole).
    pub entries: u64,
    /// The first line where the chain breaks, if it does.
    pub first_broken: Option<BrokenLink>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Walks a file line by line, checking each entry against the previous one.
struct Chain {
    line: u64,
    prev_hash: String,
}

impl Chain {
    fn new() -> Self {
        Chain {
            line: 0,
            prev_hash: GENESIS_HASH.to_string(),
        }
    }

    fn check(&mut self, raw: &[u8]) -> Result<(AuditEntry, i64), BrokenLink> {
        self.line += 1;
        let broken = |seq, reason| BrokenLink {
            line: self.line,
            seq,
            reason,
        };
        if !raw.ends_with(b"\n") {
            return Err(broken(
                None,
                format!(
                    "truncated last line ({} bytes, no newline): an interrupted append",
                    raw.len()
                ),
            ));
        }
        let (entry, ms) = parse_entry(raw).map_err(|(seq, reason)| broken(seq, reason))?;
        if entry.seq != self.line {
            return Err(broken(
                Some(entry.seq),
                format!(
                    "expected seq {}: an entry is missing, inserted or out of order",
                    self.line
                ),
            ));
        }
        if entry.prev_hash != self.prev_hash {
            return Err(broken(
                Some(entry.seq),
                if self.line == 1 {
                    "prev_hash of the first entry is not the genesis hash".to_string()
                } else {
                    format!(
                        "prev_hash does not match the hash of line {}",
                        self.line - 1
                    )
                },
            ));
        }
        self.prev_hash.clone_from(&entry.hash);
        Ok((entry, ms))
    }
}

/// Call `each` with every line of `path` (including its `\n`, when it has one) until
/// it returns `Ok(false)`.
fn for_each_line(
    path: &Path,
    mut each: impl FnMut(&[u8]) -> Result<bool, AuditError>,
) -> Result<(), AuditError> {
    let mut reader = BufReader::new(File::open(path).map_err(io_err(path))?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io_err(path))? == 0 {
            return Ok(());
        }
        if !each(&line)? {
            return Ok(());
        }
    }
}

/// Check the whole file: every line is JSON and an entry, `seq` counts up from 1,
/// every `prev_hash` is the previous line's `hash` and every `hash` is right.
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let mut chain = Chain::new();
    let mut first_broken = None;
    for_each_line(path, |raw| match chain.check(raw) {
        Ok(_) => Ok(true),
        Err(link) => {
            first_broken = Some(link);
            Ok(false)
        }
    })?;
    let entries = if first_broken.is_some() {
        chain.line - 1
    } else {
        chain.line
    };
    Ok(VerifyReport {
        entries,
        first_broken,
    })
}

/// Write the entries with `from <= time < to` (either bound optional; RFC 3339 or
/// `YYYY-MM-DD`, meaning midnight UTC) to `out` as JSON lines, byte for byte as stored,
/// and return how many. The whole file is verified first: a broken chain is refused
/// with [`AuditError::Broken`] naming the line, and nothing is written. Entries
/// appended while exporting are left out.
pub fn export(
    path: &Path,
    from: Option<&str>,
    to: Option<&str>,
    out: &mut dyn Write,
) -> Result<u64, AuditError> {
    let from_ms = from.map(parse_bound).transpose()?;
    let to_ms = to.map(parse_bound).transpose()?;
    if let (Some(f), Some(t), Some(from), Some(to)) = (from_ms, to_ms, from, to) {
        if f >= t {
            return Err(AuditError::EmptyRange {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
    }
    let report = verify(path)?;
    if let Some(link) = report.first_broken {
        return Err(AuditError::Broken(link));
    }
    let mut chain = Chain::new();
    let mut written = 0;
    for_each_line(path, |raw| {
        if chain.line == report.entries {
            return Ok(false);
        }
        // Checked again: the file may have been changed since it was verified.
        let (_, ms) = chain.check(raw).map_err(AuditError::Broken)?;
        if from_ms.is_none_or(|f| ms >= f) && to_ms.is_none_or(|t| ms < t) {
            out.write_all(raw).map_err(AuditError::Output)?;
            written += 1;
        }
        Ok(true)
    })?;
    out.flush().map_err(AuditError::Output)?;
    Ok(written)
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
