//! Turning a stream of token bytes into safe text deltas.
//!
//! Tokens end in the middle of UTF-8 characters and stop strings span tokens, so a
//! [`TextStream`] holds back bytes until they form whole characters and holds back
//! text that could still become a stop string. What it releases never has to be
//! taken back, which is what a streaming client needs.

/// The result of pushing one token's bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Text that is final and can be sent.
    pub text: String,
    /// A stop string was found; `text` ends right before it.
    pub stopped: bool,
}

#[derive(Debug, Clone)]
pub struct TextStream {
    pending: Vec<u8>,
    text: String,
    emitted: usize,
    stops: Vec<String>,
    max_stop: usize,
    finished: bool,
}

impl TextStream {
    pub fn new(stops: Vec<String>) -> Self {
        let stops: Vec<String> = stops.into_iter().filter(|s| !s.is_empty()).collect();
        let max_stop = stops.iter().map(String::len).max().unwrap_or(0);
        Self {
            pending: Vec::new(),
            text: String::new(),
            emitted: 0,
            stops,
            max_stop,
            finished: false,
        }
    }

    /// All text released so far.
    pub fn released(&self) -> &str {
        &self.text[..self.emitted]
    }

    /// Push one token's bytes; returns the text that became final.
    pub fn push(&mut self, bytes: &[u8]) -> Delta {
        if self.finished {
            return Delta::default();
        }
        self.pending.extend_from_slice(bytes);
        self.decode_pending(false);
        self.release(false)
    }

    /// The stream ended (end of sequence or length): release everything held back.
    pub fn finish(&mut self) -> Delta {
        if self.finished {
            return Delta::default();
        }
        self.decode_pending(true);
        self.release(true)
    }

    fn decode_pending(&mut self, flush: bool) {
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.pending.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // The prefix is valid by construction of `valid_up_to`.
                    self.text
                        .push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        Some(bad) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            self.pending.drain(..valid);
                            if flush {
                                self.text.push(char::REPLACEMENT_CHARACTER);
                                self.pending.clear();
                            }
                            return;
                        }
                    }
                }
            }
        }
    }

    fn release(&mut self, flush: bool) -> Delta {
        // Search only where a new match could start.
        let mut from = self.emitted.saturating_sub(self.max_stop);
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        let earliest = self
            .stops
            .iter()
            .filter_map(|s| self.text[from..].find(s.as_str()).map(|i| from + i))
            .min();
        if let Some(at) = earliest {
            let at = at.max(self.emitted);
            let text = self.text[self.emitted..at].to_string();
            self.emitted = at;
            self.text.truncate(at);
            self.finished = true;
            return Delta {
                text,
                stopped: true,
            };
        }
        let end = if flush {
            self.text.len()
        } else {
            self.text.len() - self.held_back()
        };
        let end = end.max(self.emitted);
        let text = self.text[self.emitted..end].to_string();
        self.emitted = end;
        if flush {
            self.finished = true;
        }
        Delta {
            text,
            stopped: false,
        }
    }

    /// Length of the longest suffix of the text that is a proper prefix of a stop string.
    fn held_back(&self) -> usize {
        let mut best = 0;
        for stop in &self.stops {
            for (i, _) in stop.char_indices().skip(1) {
                let prefix = &stop[..i];
                if i > best && self.text.ends_with(prefix) {
                    best = i;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(stops: &[&str], pieces: &[&[u8]]) -> (String, bool) {
        let mut s = TextStream::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = String::new();
        for p in pieces {
            let d = s.push(p);
            out.push_str(&d.text);
            if d.stopped {
                return (out, true);
            }
        }
        out.push_str(&s.finish().text);
        (out, false)
    }

    #[test]
    fn stop_across_tokens_is_cut_before_the_stop() {
        let (out, stopped) = run(&["END"], &[b"hello E", b"N", b"D more"]);
        assert_eq!(out, "hello ");
        assert!(stopped);
    }

    #[test]
    fn partial_stop_is_released_when_it_diverges() {
        let mut s = TextStream::new(vec!["END".into()]);
        assert_eq!(s.push(b"ab E").text, "ab ");
        assert_eq!(s.push(b"x").text, "Ex");
    }

    #[test]
    fn split_utf8_is_held_until_complete() {
        let euro = "€".as_bytes();
        let mut s = TextStream::new(vec![]);
        assert_eq!(s.push(&euro[..1]).text, "");
        assert_eq!(s.push(&euro[1..]).text, "€");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let (out, _) = run(&[], &[b"a\xffb"]);
        assert_eq!(out, "a\u{FFFD}b");
    }

    proptest! {
        /// Whatever the token boundaries, the released text equals the full text cut
        /// at the first stop string.
        #[test]
        fn released_text_matches_oneshot_cut(
            text in "[a-cE€\n]{0,40}",
            stop in "[a-cE\n]{1,3}",
            cuts in proptest::collection::vec(0usize..60, 0..8),
        ) {
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.push(0);
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
            let (out, stopped) = run(&[stop.as_str()], &pieces);
            match text.find(stop.as_str()) {
                Some(i) => { prop_assert_eq!(&out, &text[..i]); prop_assert!(stopped); }
                None => { prop_assert_eq!(&out, &text); prop_assert!(!stopped); }
            }
        }
    }
}
