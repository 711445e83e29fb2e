//! The request recorder (`--record FILE`): one JSON line per received provider request,
//! `{"ts", "method", "path", "query", "provider", "body"}`. Handlers hand finished lines to
//! a dedicated writer thread over an unbounded channel (never blocking the request); the
//! thread appends them to a buffered file and flushes whenever the channel runs dry, so
//! each line reaches the file promptly. API keys are never written: headers are not
//! recorded and a `key` query parameter is dropped.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc;

use crate::text::unix_ms;

enum Msg {
    Line(Vec<u8>),
    Sync(mpsc::SyncSender<()>),
}

/// Handle to the writer thread; cheap to share.
#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<Msg>,
}

impl Recorder {
    /// Opens `path` for appending (creating it) and starts the writer thread.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = mpsc::channel::<Msg>();
        std::thread::Builder::new()
            .name("mockcloud-record".into())
            .spawn(move || {
                let mut out = io::BufWriter::new(file);
                let mut acks = Vec::new();
                while let Ok(first) = rx.recv() {
                    let mut next = Some(first);
                    while let Some(msg) = next {
                        match msg {
                            Msg::Line(line) => {
                                if let Err(e) = out.write_all(&line) {
                                    tracing::error!("record file: {e}");
                                }
                            }
                            Msg::Sync(ack) => acks.push(ack),
                        }
                        next = rx.try_recv().ok();
                    }
                    if let Err(e) = out.flush() {
                        tracing::error!("record file: {e}");
                    }
                    for ack in acks.drain(..) {
                        let _ = ack.send(());
                    }
                }
            })?;
        Ok(Self { tx })
    }

    /// Queues one line. `body` is written verbatim when `body_is_json` (with its line
    /// breaks, which valid JSON only has between tokens, turned into spaces), as `null`
    /// when empty, and as a JSON string otherwise.
    pub(crate) fn record(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        provider: &str,
        body: &[u8],
        body_is_json: bool,
    ) {
        let query = query.map(strip_key).filter(|q| !q.is_empty());
        let mut line = format!(
            "{{\"ts\":{},\"method\":{},\"path\":{},\"query\":{},\"provider\":{},\"body\":",
            unix_ms(),
            json_str(method),
            json_str(path),
            query
                .as_deref()
                .map_or_else(|| "null".to_string(), json_str),
            json_str(provider),
        )
        .into_bytes();
        if body.iter().all(u8::is_ascii_whitespace) {
            line.extend_from_slice(b"null");
        } else if body_is_json {
            line.extend(
                body.iter()
                    .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
            );
        } else {
            line.extend_from_slice(json_str(&String::from_utf8_lossy(body)).as_bytes());
        }
        line.extend_from_slice(b"}\n");
        let _ = self.tx.send(Msg::Line(line));
    }

    /// Blocks until every line queued so far is flushed to the file.
    pub(crate) fn sync(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Sync(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The query without its `key=` parameter (Gemini's API key).
fn strip_key(query: &str) -> String {
    query
        .split('&')
        .filter(|kv| !kv.is_empty() && *kv != "key" && !kv.starts_with("key="))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::strip_key;

    #[test]
    fn key_is_dropped() {
        assert_eq!(strip_key("alt=sse&key=secret"), "alt=sse");
        assert_eq!(strip_key("key=secret"), "");
        assert_eq!(strip_key("keyboard=1"), "keyboard=1");
    }
}
