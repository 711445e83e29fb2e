//! An incremental Server-Sent Events parser, after the WHATWG HTML specification
//! (§9.2 "Server-sent events", the `text/event-stream` interpretation rules).
//!
//! Bytes arrive in arbitrary chunks; [`SseParser::push`] returns the events they
//! complete. Lines end in `\n`, `\r\n` or `\r` (a `\r` ending one chunk may be followed
//! by the `\n` that starts the next). A line is split at its first `:` into field and
//! value, one leading space of the value removed; a line without `:` is a field with an
//! empty value; a line starting with `:` is a comment. `data` lines are joined with
//! `\n`, `event` sets the type, `id` sets the last event id (ignored if it contains
//! NUL; it persists across events, as the spec says), `retry` and unknown fields are
//! ignored. An empty line dispatches the event, unless it has no `data` line. A UTF-8
//! byte-order mark at the very start is skipped. Lines are decoded as UTF-8 (invalid
//! bytes become U+FFFD) only once complete, so a character split across chunks is
//! never damaged.
//!
//! One deliberate difference from browsers: [`SseParser::finish`], called when the
//! HTTP body ended cleanly, treats an unterminated last line as complete and
//! dispatches a pending event instead of discarding it. A clean end of body is a
//! real terminator (a dropped connection is reported by the HTTP client as an error,
//! not as an end), and servers that omit the final blank line are common enough.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event` field; `None` when absent or empty (the spec's default `message`).
    pub event: Option<String>,
    /// The `data` lines joined with `\n`.
    pub data: String,
    /// The last event id seen on the stream so far; `None` when never set or reset to
    /// the empty string.
    pub id: Option<String>,
}

/// The parser state: bytes of an incomplete line and the event being assembled.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, not yet terminated, line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one is part of it.
    pending_cr: bool,
    /// Still at the start of the stream, where a byte-order mark may appear.
    at_start: bool,
    /// Bytes seen at the start that may be a prefix of the byte-order mark.
    bom_prefix: Vec<u8>,
    data: String,
    has_data: bool,
    event: String,
    last_id: String,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseParser {
    pub fn new() -> Self {
        Self {
            at_start: true,
            ..Self::default()
        }
    }

    /// Feed bytes; returns the events they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut bytes = bytes;
        if self.at_start {
            // Collect up to three bytes to decide whether the stream opens with a BOM.
            let need = BOM.len() - self.bom_prefix.len();
            let take = need.min(bytes.len());
            self.bom_prefix.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.bom_prefix.len() < BOM.len() && BOM.starts_with(&self.bom_prefix) {
                return out; // still possibly a BOM: wait for more bytes
            }
            self.at_start = false;
            let prefix = std::mem::take(&mut self.bom_prefix);
            if prefix != BOM {
                self.scan(&prefix, &mut out);
            }
        }
        self.scan(bytes, &mut out);
        out
    }

    /// The body ended: process an unterminated last line and dispatch a pending event.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.at_start {
            self.at_start = false;
            let prefix = std::mem::take(&mut self.bom_prefix);
            if prefix != BOM {
                self.scan(&prefix, &mut out);
            }
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out);
        }
        self.dispatch(&mut out);
        self.pending_cr = false;
        out
    }

    fn scan(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) {
        if self.pending_cr && !bytes.is_empty() {
            self.pending_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line_end = &bytes[..pos];
            let mut next = pos + 1;
            if bytes[pos] == b'\r' {
                match bytes.get(pos + 1) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
            if self.line.is_empty() {
                self.process_line(line_end, out);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(line_end);
                self.process_line(&line, out);
            }
            bytes = &bytes[next..];
        }
        self.line.extend_from_slice(bytes);
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // comment
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
                self.has_data = true;
            }
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"id" if !value.contains(&0) => {
                self.last_id = String::from_utf8_lossy(value).into_owned();
            }
            _ => {} // `retry`, unknown fields, and ids containing NUL
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        if !self.has_data {
            self.data.clear();
            return;
        }
        self.has_data = false;
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        out.push(SseEvent {
            event: (!event.is_empty()).then_some(event),
            data,
            id: (!self.last_id.is_empty()).then(|| self.last_id.clone()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(bytes: &[u8]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = p.push(bytes);
        out.extend(p.finish());
        out
    }

    fn parse_split(bytes: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut start = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        for c in cuts {
            out.extend(p.push(&bytes[start..c]));
            start = c;
        }
        out.extend(p.push(&bytes[start..]));
        out.extend(p.finish());
        out
    }

    fn parse_bytewise(bytes: &[u8]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out: Vec<SseEvent> = bytes.iter().flat_map(|b| p.push(&[*b])).collect();
        out.extend(p.finish());
        out
    }

    fn ev(event: Option<&str>, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
            id: id.map(str::to_string),
        }
    }

    #[test]
    fn spec_examples() {
        // WHATWG: "data: YHOO\ndata: +2\ndata: 10\n\n" is one event with three lines.
        assert_eq!(
            parse_all(b"data: YHOO\ndata: +2\ndata: 10\n\n"),
            vec![ev(None, "YHOO\n+2\n10", None)]
        );
        // Comments, ids, and the trailing unterminated block.
        let s = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n";
        assert_eq!(
            parse_all(s),
            vec![
                ev(None, "first event", Some("1")),
                ev(None, "second event", None),
                ev(None, " third event", None),
            ]
        );
        // `data` with no colon is an empty data line; two of them give "\n".
        assert_eq!(
            parse_all(b"data\n\ndata\ndata\n\ndata:\n"),
            vec![ev(None, "", None), ev(None, "\n", None), ev(None, "", None)]
        );
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        assert_eq!(parse_all(b"event: ping\n\n: hi\n\nid: 5\n\n"), vec![]);
        // The event type does not leak into the next event.
        assert_eq!(
            parse_all(b"event: ping\n\ndata: x\n\n"),
            vec![ev(None, "x", None)]
        );
    }

    #[test]
    fn all_line_endings() {
        let want = vec![ev(Some("a"), "1\n2", None), ev(None, "3", None)];
        assert_eq!(
            parse_all(b"event: a\ndata: 1\ndata: 2\n\ndata: 3\n\n"),
            want
        );
        assert_eq!(
            parse_all(b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\ndata: 3\r\n\r\n"),
            want
        );
        assert_eq!(
            parse_all(b"event: a\rdata: 1\rdata: 2\r\rdata: 3\r\r"),
            want
        );
        // A CR at the end of a chunk followed by LF at the start of the next is one break.
        let mut p = SseParser::new();
        let mut got = p.push(b"data: 1\r");
        got.extend(p.push(b"\ndata: 2\r"));
        got.extend(p.push(b"\n\r"));
        got.extend(p.push(b"\n"));
        assert_eq!(got, vec![ev(None, "1\n2", None)]);
        assert!(p.finish().is_empty());
    }

    #[test]
    fn utf8_split_across_chunks() {
        let text = "data: héllo — 世界 🦀\n\n".as_bytes();
        for cut in 0..=text.len() {
            let mut p = SseParser::new();
            let mut got = p.push(&text[..cut]);
            got.extend(p.push(&text[cut..]));
            assert_eq!(got, vec![ev(None, "héllo — 世界 🦀", None)], "cut at {cut}");
        }
    }

    #[test]
    fn bom_is_skipped_only_at_start() {
        let s = b"\xEF\xBB\xBFdata: x\n\n";
        assert_eq!(parse_all(s), vec![ev(None, "x", None)]);
        assert_eq!(parse_split(s, &[1, 2]), vec![ev(None, "x", None)]);
        // Not a BOM: the bytes are kept (and a lone 0xEF decodes to U+FFFD).
        assert_eq!(parse_all(b"\xEFdata: x\n\ndata: y\n\n").len(), 1);
        assert_eq!(parse_all(b"da"), vec![]);
        assert_eq!(parse_all(b"data: y"), vec![ev(None, "y", None)]);
    }

    #[test]
    fn ids_persist_and_nul_ids_are_ignored() {
        let s = b"id: 7\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\nid\ndata: d\n\n";
        assert_eq!(
            parse_all(s),
            vec![
                ev(None, "a", Some("7")),
                ev(None, "b", Some("7")),
                ev(None, "c", Some("7")),
                ev(None, "d", None),
            ]
        );
    }

    #[test]
    fn only_one_space_is_removed_and_unknown_fields_ignored() {
        assert_eq!(
            parse_all(b"data:   x \nretry: 10\nfoo: bar\nevent:e\n\n"),
            vec![ev(Some("e"), "  x ", None)]
        );
    }

    #[test]
    fn finish_flushes_a_pending_event_once() {
        let mut p = SseParser::new();
        assert!(p.push(b"event: message_stop\ndata: {}").is_empty());
        assert_eq!(p.finish(), vec![ev(Some("message_stop"), "{}", None)]);
        assert!(p.finish().is_empty());
    }

    fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
        // Bytes biased towards the characters that matter to the grammar.
        let piece = prop_oneof![
            Just(b"data".to_vec()),
            Just(b"event".to_vec()),
            Just(b"id".to_vec()),
            Just(b":".to_vec()),
            Just(b": ".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\xEF\xBB\xBF".to_vec()),
            Just("é🦀".as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..4),
            "[a-z {}\"]{0,6}".prop_map(String::into_bytes),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    #[derive(Debug, Clone)]
    struct Generated {
        event: Option<String>,
        data_lines: Vec<String>,
        id: Option<String>,
        comment: bool,
    }

    fn generated_event() -> impl Strategy<Value = Generated> {
        (
            proptest::option::of("[a-z_]{1,12}"),
            prop::collection::vec("[^\r\n]{0,12}", 1..4),
            proptest::option::of("[a-z0-9]{1,6}"),
            any::<bool>(),
        )
            .prop_map(|(event, data_lines, id, comment)| Generated {
                event,
                data_lines,
                id,
                comment,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_chunking_gives_the_same_events(
            bytes in stream_bytes(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let whole = parse_all(&bytes);
            prop_assert_eq!(parse_split(&bytes, &cuts), whole.clone());
            prop_assert_eq!(parse_bytewise(&bytes), whole);
        }

        #[test]
        fn arbitrary_bytes_any_chunking(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            prop_assert_eq!(parse_split(&bytes, &cuts), parse_all(&bytes));
        }

        #[test]
        fn generated_events_round_trip(
            events in prop::collection::vec(generated_event(), 0..8),
            eol in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            space in any::<bool>(),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            let sep = if space { ": " } else { ":" };
            let mut text = String::new();
            let mut want = Vec::new();
            let mut last_id: Option<String> = None;
            for e in &events {
                if e.comment {
                    text.push_str(&format!(":keep-alive{eol}"));
                }
                if let Some(name) = &e.event {
                    text.push_str(&format!("event{sep}{name}{eol}"));
                }
                for line in &e.data_lines {
                    // A value starting with a space needs the separator's own space.
                    text.push_str(&format!("data: {line}{eol}"));
                }
                if let Some(id) = &e.id {
                    text.push_str(&format!("id{sep}{id}{eol}"));
                    last_id = Some(id.clone());
                }
                text.push_str(eol);
                want.push(SseEvent {
                    event: e.event.clone(),
                    data: e.data_lines.join("\n"),
                    id: last_id.clone(),
                });
            }
            prop_assert_eq!(parse_split(text.as_bytes(), &cuts), want.clone());
            prop_assert_eq!(parse_bytewise(text.as_bytes()), want);
        }
    }
}
