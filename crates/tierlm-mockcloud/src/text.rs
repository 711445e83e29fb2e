//! Text helpers shared by every provider: the token rule, word-sized stream pieces,
//! truncation that keeps the original whitespace, and small deterministic hashes.

/// The mock's token rule: the number of whitespace-separated words in `text`
/// (`str::split_whitespace`). Usage reported by every provider endpoint follows it:
/// prompt tokens are the sum over every message, system and tool-result text (tool-call
/// names and argument JSON in the history included, tool schemas excluded); completion
/// tokens are those of the answer text, or for a tool call `tokens(name) +
/// tokens(arguments JSON)`.
pub fn tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Splits `text` into pieces of one word each, the whitespace that follows a word kept
/// with it (and leading whitespace with the first piece), so the pieces concatenate back
/// to `text` exactly.
pub(crate) fn word_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut seen_word = false;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else {
            if in_space && seen_word {
                pieces.push(&text[start..i]);
                start = i;
            }
            in_space = false;
            seen_word = true;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// The prefix of `text` that holds its first `n` words, ending right after the n-th word.
pub(crate) fn first_words(text: &str, n: u64) -> &str {
    if n == 0 {
        return "";
    }
    let mut count = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word {
                count += 1;
                if count == n {
                    return &text[..i];
                }
            }
            in_word = false;
        } else {
            in_word = true;
        }
    }
    text
}

/// Splits `s` into pieces of at most `n` characters (for streamed tool-call arguments).
pub(crate) fn char_chunks(s: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (count, (i, _)) in s.char_indices().enumerate() {
        if count > 0 && count % n == 0 {
            out.push(&s[start..i]);
            start = i;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Words of `text` split on anything that is not alphanumeric.
fn plain_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'')
        .map(|w| w.trim_matches(|c: char| c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
}

/// Whether `text` contains the word `call` (any case).
pub(crate) fn mentions_call(text: &str) -> bool {
    plain_words(text).any(|w| w.eq_ignore_ascii_case("call"))
}

/// The word after the first `in` or `city` in `text` (skipping `of`/`the`), used to fill
/// string tool arguments: "weather in Paris?" gives "Paris".
pub(crate) fn place_hint(text: &str) -> Option<String> {
    let words: Vec<&str> = plain_words(text).collect();
    let at = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("in") || w.eq_ignore_ascii_case("city"))?;
    words[at + 1..]
        .iter()
        .find(|w| !w.eq_ignore_ascii_case("of") && !w.eq_ignore_ascii_case("the"))
        .map(|w| (*w).to_string())
}

/// FNV-1a, 64 bits: a stable hash for ids.
pub(crate) fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// SplitMix64 finaliser of `(a, b)`: a well-mixed 64-bit value.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(b)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Current Unix time in milliseconds.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_rule() {
        assert_eq!(tokens(""), 0);
        assert_eq!(tokens("  hello   world \n x "), 3);
    }

    #[test]
    fn pieces_concatenate_exactly() {
        for s in [
            "",
            "a",
            " a b  c\n",
            "Mock answer to: hi there",
            "  ",
            "x  ",
        ] {
            let p = word_pieces(s);
            assert_eq!(p.concat(), s);
            assert!(p.len() as u64 <= tokens(s).max(1));
        }
        assert_eq!(word_pieces("a b  c"), vec!["a ", "b  ", "c"]);
    }

    #[test]
    fn first_words_keeps_whitespace() {
        assert_eq!(first_words("a  b c", 2), "a  b");
        assert_eq!(first_words("a b", 5), "a b");
        assert_eq!(first_words(" a b", 1), " a");
        assert_eq!(first_words("a b", 0), "");
    }

    #[test]
    fn chunks_and_hints() {
        assert_eq!(char_chunks("abcdefg", 3), vec!["abc", "def", "g"]);
        assert_eq!(
            place_hint("What's the weather in Paris?").as_deref(),
            Some("Paris")
        );
        assert_eq!(place_hint("city of Lyon").as_deref(), Some("Lyon"));
        assert_eq!(place_hint("hello"), None);
        assert!(mentions_call("Please CALL the tool."));
        assert!(!mentions_call("recall callback"));
    }
}
