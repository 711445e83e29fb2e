//! The SQLite ledger's row queue on disk. A request's row is appended to a small file
//! (one `write`; in the `synchronous=FULL` mode also one `fdatasync`, shared by the
//! requests appending at the same moment) and the request goes on; a background
//! thread moves queued rows into the database in batches. The file is what keeps that
//! durable: an acknowledged row is in the database or in the queue, and opening the
//! database replays what a crash left in the queue.
//!
//! Two segment files alternate. Requests append to the *active* one; a drain makes
//! the other one active, commits the rows of the one it took together with that
//! segment's *generation* number in one transaction, and only then empties it. The
//! generation makes replay exact: a segment whose generation the database already
//! holds was committed before the crash and is skipped, so no row is recorded twice
//! (request ids may repeat, so the rows themselves cannot tell).
//!
//! Format: JSON lines. The first line is `{"tierlm_ledger_queue":1,"generation":G}`,
//! then one [`Row`] per line. A last line without its newline is a write the crash cut
//! short, never acknowledged; it is ignored.
//!
//! One process owns a database's queue (an exclusive lock on `DB-queue.lock`, which the
//! OS releases on any exit). Another process opening the same database while it is
//! held — `tierlm report` while the gateway runs — writes its rows directly instead.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::error::LedgerError;
use crate::sqlite::Synchronous;
use crate::usage::Row;

/// The first line of every segment.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    tierlm_ledger_queue: u32,
    generation: u64,
}

const FORMAT: u32 = 1;

/// The queue files of the database at `db`: the lock and the two segments.
fn paths(db: &Path) -> (PathBuf, [PathBuf; 2]) {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    (with("-queue.lock"), [with("-queue-a"), with("-queue-b")])
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> LedgerError + 'a {
    move |source| LedgerError::Queue {
        path: path.to_path_buf(),
        op,
        source,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Rows a crash left in one segment.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub generation: u64,
    pub rows: Vec<Row>,
}

/// The queue of a database this process has locked, before it starts taking rows:
/// what the last owner left behind is read, not yet replayed.
pub(crate) struct Claim {
    lock_file: File,
    segments: [PathBuf; 2],
    /// Segments with rows, oldest generation first.
    pub recovered: Vec<Recovered>,
    /// The newest generation found in either segment (0 when none).
    pub newest_generation: u64,
}

impl Claim {
    /// Locks the queue of the database at `db` and reads what is in it; `None` when
    /// another process holds it.
    pub fn take(db: &Path) -> Result<Option<Self>, LedgerError> {
        let (lock_path, segments) = paths(db);
        let lock_file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err(&lock_path, "open the file"))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(io_err(&lock_path, "lock the file")(e)),
        }
        let mut recovered = Vec::new();
        let mut newest_generation = 0;
        for path in &segments {
            if let Some((generation, rows)) = read_segment(path)? {
                newest_generation = newest_generation.max(generation);
                if !rows.is_empty() {
                    recovered.push(Recovered { generation, rows });
                }
            }
        }
        recovered.sort_by_key(|r| r.generation);
        Ok(Some(Self {
            lock_file,
            segments,
            recovered,
            newest_generation,
        }))
    }

    /// Empties both segments (the caller has replayed what they held) and starts
    /// the queue; the segments get generations `first` and `first + 1`.
    pub fn start(self, first: u64, sync: Synchronous) -> Result<RowQueue, LedgerError> {
        let [a, b] = &self.segments;
        let open = |path: &PathBuf, generation: u64| -> Result<Segment, LedgerError> {
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(path)
                .map_err(io_err(path, "open the file"))?;
            let mut segment = Segment {
                file: Arc::new(file),
                path: path.clone(),
                generation: 0,
                len: 0,
            };
            segment.reset(generation)?;
            Ok(segment)
        };
        let segments = [open(a, first)?, open(b, first + 1)?];
        Ok(RowQueue {
            sync,
            _lock_file: self.lock_file,
            state: Mutex::new(State {
                segments,
                active: 0,
                pending: Vec::new(),
                taken: None,
                unreset: None,
                next_generation: first + 2,
                broken: None,
            }),
            synced: Mutex::new((0, 0)),
        })
    }
}

/// Reads one segment: its generation and every complete row; `None` when the file
/// is missing, empty or has no complete header.
fn read_segment(path: &Path) -> Result<Option<(u64, Vec<Row>)>, LedgerError> {
    let mut text = Vec::new();
    match File::open(path) {
        Ok(mut f) => f
            .read_to_end(&mut text)
            .map_err(io_err(path, "read the file"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "open the file")(e)),
    };
    let mut lines = text.split_inclusive(|&b| b == b'\n');
    let Some(header) = lines.next().filter(|l| l.ends_with(b"\n")) else {
        return Ok(None);
    };
    let header: Header = serde_json::from_slice(header).map_err(|e| LedgerError::Queue {
        path: path.to_path_buf(),
        op: "read the header",
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    if header.tierlm_ledger_queue != FORMAT {
        return Err(LedgerError::Queue {
            path: path.to_path_buf(),
            op: "read the file",
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "queue format {} is not {FORMAT}",
                    header.tierlm_ledger_queue
                ),
            ),
        });
    }
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        if !line.ends_with(b"\n") {
            tracing::warn!(path = %path.display(), "ledger queue: ignoring a row cut short by a crash");
            break;
        }
        let row = serde_json::from_slice(line).map_err(|e| LedgerError::Queue {
            path: path.to_path_buf(),
            op: "read a row",
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("line {}: {e}", n + 2),
            ),
        })?;
        rows.push(row);
    }
    Ok(Some((header.generation, rows)))
}

/// One segment file.
struct Segment {
    file: Arc<File>,
    path: PathBuf,
    generation: u64,
    /// Bytes written (the header and every complete row).
    len: u64,
}

impl Segment {
    /// Empties the file and writes the header of `generation`.
    fn reset(&mut self, generation: u64) -> Result<(), LedgerError> {
        let mut header = serde_json::to_vec(&Header {
            tierlm_ledger_queue: FORMAT,
            generation,
        })
        .map_err(|e| {
            io_err(&self.path, "encode the header")(std::io::Error::other(e.to_string()))
        })?;
        header.push(b'\n');
        self.file
            .set_len(0)
            .and_then(|()| (&*self.file).write_all(&header))
            .map_err(io_err(&self.path, "empty the file"))?;
        self.generation = generation;
        self.len = header.len() as u64;
        Ok(())
    }
}

/// The queue as requests and the drain share it.
struct State {
    segments: [Segment; 2],
    /// The segment requests append to.
    active: usize,
    /// The active segment's rows, in order.
    pending: Vec<Row>,
    /// The segment a drain took and has not emptied yet.
    taken: Option<usize>,
    /// A committed segment that could not be emptied; retried before the next take.
    unreset: Option<usize>,
    next_generation: u64,
    /// Why appends fail: a failed write could not be undone.
    broken: Option<String>,
}

/// Where an appended row is, for [`RowQueue::sync`].
pub(crate) struct Ticket {
    file: Arc<File>,
    path: PathBuf,
    generation: u64,
    end: u64,
    /// The first row since the last take: the drain has to be woken.
    pub first: bool,
}

/// The summed `cost` of the `rows` that `pick` accepts.
pub(crate) fn cost_of(rows: &[Row], pick: &impl Fn(&Row) -> bool) -> u64 {
    rows.iter()
        .filter(|r| pick(r))
        .fold(0, |sum, r| sum.saturating_add(r.cost))
}

/// Rows a drain took from a segment.
#[derive(Debug)]
pub(crate) struct Taken {
    pub generation: u64,
    pub rows: Vec<Row>,
}

/// The queue of a database this process owns.
pub(crate) struct RowQueue {
    sync: Synchronous,
    /// Held (locked) as long as the queue lives.
    _lock_file: File,
    state: Mutex<State>,
    /// `(generation, bytes)` of the segment prefix known to be on disk.
    synced: Mutex<(u64, u64)>,
}

impl RowQueue {
    /// Appends `row` to the active segment. On return the row survives a crash of
    /// this process; call [`RowQueue::sync`] for a power loss too.
    pub fn append(&self, row: &Row) -> Result<Ticket, LedgerError> {
        let mut line = serde_json::to_vec(row).map_err(|e| LedgerError::Corrupt {
            location: row.request_id.clone(),
            detail: format!("cannot encode the row: {e}"),
        })?;
        line.push(b'\n');
        let mut st = lock(&self.state);
        if let Some(why) = &st.broken {
            return Err(LedgerError::Queue {
                path: st.segments[st.active].path.clone(),
                op: "append a row",
                source: std::io::Error::other(why.clone()),
            });
        }
        let active = st.active;
        let seg = &mut st.segments[active];
        if let Err(e) = (&*seg.file).write_all(&line) {
            // Cut a partial line off, or later rows would be read as part of it.
            if let Err(undo) = seg.file.set_len(seg.len) {
                st.broken = Some(format!("a failed write ({e}) could not be undone ({undo})"));
            }
            return Err(io_err(&st.segments[active].path, "append a row")(e));
        }
        seg.len += line.len() as u64;
        let ticket = Ticket {
            file: Arc::clone(&seg.file),
            path: seg.path.clone(),
            generation: seg.generation,
            end: seg.len,
            first: st.pending.is_empty(),
        };
        st.pending.push(row.clone());
        Ok(ticket)
    }

    /// Sums `cost` of the queued rows `pick` accepts (rows taken by a drain are not
    /// here: the caller holds the connection, so none is mid-commit).
    pub fn queued_cost(&self, pick: &impl Fn(&Row) -> bool) -> u64 {
        cost_of(&lock(&self.state).pending, pick)
    }

    /// Whether [`RowQueue::sync`] does anything (`synchronous=FULL`).
    pub fn syncs(&self) -> bool {
        self.sync == Synchronous::Full
    }

    /// Puts the row `ticket` stands for on disk, together with every row appended
    /// before this call: one `fdatasync` serves the requests waiting here.
    pub fn sync(&self, ticket: &Ticket) -> Result<(), LedgerError> {
        if !self.syncs() {
            return Ok(());
        }
        let mut synced = lock(&self.synced);
        if synced.0 == ticket.generation && synced.1 >= ticket.end {
            return Ok(());
        }
        // Everything written to this segment so far is covered by the sync below.
        let target = {
            let st = lock(&self.state);
            st.segments
                .iter()
                .find(|s| s.generation == ticket.generation)
                .map_or(ticket.end, |s| s.len)
        };
        ticket
            .file
            .sync_data()
            .map_err(io_err(&ticket.path, "sync the file"))?;
        *synced = (ticket.generation, target);
        Ok(())
    }

    /// Empties a segment left committed but full by a failed reset; the next take
    /// needs it.
    fn reset_leftover(&self) -> Result<(), LedgerError> {
        let index = lock(&self.state).unreset;
        if let Some(index) = index {
            self.release(index)?;
        }
        Ok(())
    }

    /// Takes the active segment's rows for a drain (the other segment becomes
    /// active); `None` when there is nothing to take. The caller commits them and then
    /// calls [`RowQueue::release`] with the returned index, before any other take.
    pub fn take(&self) -> Result<Option<(usize, Taken)>, LedgerError> {
        self.reset_leftover()?;
        let mut st = lock(&self.state);
        if st.pending.is_empty() || st.taken.is_some() {
            return Ok(None);
        }
        let index = st.active;
        st.active = 1 - index;
        st.taken = Some(index);
        let taken = Taken {
            generation: st.segments[index].generation,
            rows: std::mem::take(&mut st.pending),
        };
        Ok(Some((index, taken)))
    }

    /// Empties segment `index`, whose rows are committed, for its next turn.
    pub fn release(&self, index: usize) -> Result<(), LedgerError> {
        // Requests never touch a segment that is not active, so the file work runs
        // outside the lock, on a copy of the segment's handle.
        let (mut seg, generation) = {
            let mut st = lock(&self.state);
            let generation = st.next_generation;
            st.next_generation += 1;
            let s = &st.segments[index];
            let seg = Segment {
                file: Arc::clone(&s.file),
                path: s.path.clone(),
                generation: s.generation,
                len: s.len,
            };
            (seg, generation)
        };
        let result = seg.reset(generation);
        let mut st = lock(&self.state);
        st.taken = None;
        match result {
            Ok(()) => {
                st.segments[index] = seg;
                st.unreset = None;
                Ok(())
            }
            Err(e) => {
                st.unreset = Some(index);
                st.taken = Some(index);
                Err(e)
            }
        }
    }
}

/// The segment files of the database at `db` (for tests that look inside).
#[cfg(test)]
pub(crate) fn segment_paths(db: &Path) -> [PathBuf; 2] {
    paths(db).1
}
