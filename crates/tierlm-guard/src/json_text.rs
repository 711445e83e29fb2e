//! JSON texts inside a request (tool-call arguments, tool results, a user pasting a
//! record) may spell characters as `\uXXXX` escapes: Python's `json.dumps` does so for
//! every non-ASCII character by default, and anyone can escape ASCII too. A detector
//! reading `J\u00f6rg M\u00fcller` or `jane\u0040example.com` would see neither a name
//! nor an address, yet the model reads both. So before scanning, such escapes are
//! spelled out as the characters they stand for; the JSON means exactly the same.
//!
//! Escapes that must stay escaped in a JSON string (`"`, `\`, control characters) and
//! lone surrogates are kept as they are; every other byte of the text is unchanged.

/// The text with its `\uXXXX` escapes spelled out, when it is a whole JSON document
/// that has any; `None` when there is nothing to change (plain prose is never touched:
/// a user asking what `\u00e9` means gets the question they wrote).
pub fn spell_out_escapes(text: &str) -> Option<String> {
    if !text.contains("\\u") || serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match decode_escape(rest) {
            Some((ch, used)) => {
                out.push(ch);
                rest = &rest[used..];
                changed = true;
            }
            None => {
                // keep this escape as written: a backslash and the character after it
                let len = rest[1..].chars().next().map_or(1, |c| 1 + c.len_utf8());
                out.push_str(&rest[..len]);
                rest = &rest[len..];
            }
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// `\uXXXX` (or a `\uD8XX\uDCXX` surrogate pair) at the start of `s` that may be
/// written as the bare character inside a JSON string: the character and the bytes
/// the escape takes.
fn decode_escape(s: &str) -> Option<(char, usize)> {
    let unit = hex_unit(s)?;
    let (code, used) = match unit {
        0xD800..=0xDBFF => {
            let low = hex_unit(&s[6..]).filter(|l| (0xDC00..=0xDFFF).contains(l))?;
            (0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), 12)
        }
        0xDC00..=0xDFFF => return None,
        _ => (unit, 6),
    };
    let ch = char::from_u32(code)?;
    let must_stay_escaped = ch < ' ' || ch == '"' || ch == '\\';
    (!must_stay_escaped).then_some((ch, used))
}

/// The code unit of a `\uXXXX` escape at the start of `s`.
fn hex_unit(s: &str) -> Option<u32> {
    let digits = s.strip_prefix("\\u")?.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// JSON with every non-ASCII character escaped, as Python's `json.dumps` writes it.
    fn ascii_json(value: &serde_json::Value) -> String {
        let mut out = String::new();
        for ch in serde_json::to_string(value).unwrap().chars() {
            if ch.is_ascii() {
                out.push(ch);
            } else {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        out
    }

    #[test]
    fn escaped_names_and_addresses_become_readable() {
        let args = r#"{"name": "J\u00f6rg M\u00fcller", "email": "jane\u0040example.com"}"#;
        assert_eq!(
            spell_out_escapes(args).as_deref(),
            Some(r#"{"name": "Jörg Müller", "email": "jane@example.com"}"#)
        );
        // astral characters arrive as surrogate pairs
        assert_eq!(
            spell_out_escapes(r#"["\ud83d\ude00 Zo\u00eb"]"#).as_deref(),
            Some(r#"["😀 Zoë"]"#)
        );
    }

    #[test]
    fn escapes_json_needs_are_kept() {
        let text = r#"{"q": "say \u0022hi\u0022 \\u0041 \u005c \u000a \ud800 x", "a": "\u00e9"}"#;
        assert_eq!(
            spell_out_escapes(text).as_deref(),
            Some(r#"{"q": "say \u0022hi\u0022 \\u0041 \u005c \u000a \ud800 x", "a": "é"}"#)
        );
    }

    #[test]
    fn prose_and_plain_json_are_left_alone() {
        assert_eq!(spell_out_escapes(r#"What does \u00e9 mean in JSON?"#), None);
        assert_eq!(spell_out_escapes(r#"{"a": "b"}"#), None);
        assert_eq!(
            spell_out_escapes(r#"{"a": "\u00e9""#),
            None,
            "not whole JSON"
        );
        assert_eq!(
            spell_out_escapes(r#"{"a": "\\u00e9"}"#),
            None,
            "an escaped backslash"
        );
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            any::<String>().prop_map(serde_json::Value::String),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::Bool),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn spelling_out_keeps_the_meaning_and_matches_plain_serialisation(v in json_value()) {
            let escaped = ascii_json(&v);
            let spelled = spell_out_escapes(&escaped).unwrap_or_else(|| escaped.clone());
            let reread: serde_json::Value = serde_json::from_str(&spelled).unwrap();
            prop_assert_eq!(&reread, &v);
            prop_assert_eq!(spelled, serde_json::to_string(&v).unwrap());
        }

        #[test]
        fn any_text_is_handled_without_panicking(s in ".{0,80}", t in "[\\\\u0-9a-fA-FdD\"{}\\[\\] ]{0,40}") {
            let _ = spell_out_escapes(&s);
            let _ = spell_out_escapes(&format!("\"{t}\""));
            let _ = spell_out_escapes(&t);
        }
    }
}
