//! Final-number extraction for the `number` metric (GSM8K-style answers).
//!
//! The answer's number is the first number after the last `####` when the
//! text has one (the GSM8K answer convention), otherwise the last number in
//! the text. A number is a run of digits with optional `,` thousands
//! separators (a comma counts only when exactly three digits follow it), an
//! optional decimal part, and an optional sign: a `-` (or `−`) directly
//! before the digits or before a `$`, when that sign does not follow a
//! letter, digit or `)` (so `5-3` reads as 5 and 3, not 5 and −3). A `$`
//! before the digits and a trailing `.` (end of sentence) are ignored.

/// The final number of `text`, as described in the module docs.
pub fn extract_number(text: &str) -> Option<f64> {
    if let Some(pos) = text.rfind("####") {
        if let Some(first) = numbers(&text[pos + 4..]).first() {
            return Some(*first);
        }
    }
    numbers(text).last().copied()
}

fn is_minus(c: char) -> bool {
    c == '-' || c == '\u{2212}'
}

/// Every number in `text`, in order.
pub(crate) fn numbers(text: &str) -> Vec<f64> {
    let chars: Vec<char> = text.chars().collect();
    let digit = |i: usize| chars.get(i).is_some_and(|c| c.is_ascii_digit());
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let leading_dot = chars[i] == '.'
            && digit(i + 1)
            && (i == 0 || !(chars[i - 1].is_ascii_digit() || chars[i - 1] == '.'));
        if !(digit(i) || leading_dot) {
            i += 1;
            continue;
        }
        let start = i;
        let mut literal = String::new();
        let mut j = i;
        if leading_dot {
            literal.push('0');
        } else {
            while digit(j) {
                literal.push(chars[j]);
                j += 1;
            }
            // Thousands groups: ",ddd" not followed by another digit.
            while chars.get(j) == Some(&',')
                && digit(j + 1)
                && digit(j + 2)
                && digit(j + 3)
                && !digit(j + 4)
            {
                literal.extend(&chars[j + 1..j + 4]);
                j += 4;
            }
        }
        if chars.get(j) == Some(&'.') && digit(j + 1) {
            literal.push('.');
            j += 1;
            while digit(j) {
                literal.push(chars[j]);
                j += 1;
            }
        }
        let mut k = start;
        if k > 0 && chars[k - 1] == '$' {
            k -= 1;
        }
        let negative = k > 0
            && is_minus(chars[k - 1])
            && (k < 2 || !(chars[k - 2].is_alphanumeric() || chars[k - 2] == ')'));
        if let Ok(value) = literal.parse::<f64>() {
            out.push(if negative { -value } else { value });
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-6)
    }

    #[test]
    fn takes_the_last_number() {
        assert!(close(
            extract_number("She had 3 apples and bought 4, so 7."),
            7.0
        ));
        assert!(close(extract_number("42"), 42.0));
        assert!(close(extract_number("The answer is 42."), 42.0));
        assert_eq!(extract_number("no digits here"), None);
        assert_eq!(extract_number(""), None);
    }

    #[test]
    fn prefers_the_number_after_the_last_hashes() {
        assert!(close(extract_number("3 + 4 = 7\n#### 7\nAlso 99"), 7.0));
        assert!(close(
            extract_number("#### 1\nrethink\n#### 2 (final) 5"),
            2.0
        ));
        // `####` with nothing after it falls back to the last number.
        assert!(close(extract_number("so 12 ####"), 12.0));
    }

    #[test]
    fn handles_commas_dollars_signs_and_decimals() {
        assert!(close(extract_number("It costs $1,234.50 in total"), 1234.5));
        assert!(close(extract_number("total: 1,000,000"), 1_000_000.0));
        assert!(close(extract_number("a loss of -$5"), -5.0));
        assert!(close(extract_number("a loss of $-5."), -5.0));
        assert!(close(extract_number("temperature −3.5"), -3.5));
        assert!(close(extract_number("value .5"), 0.5));
        assert!(close(extract_number("5-3"), 3.0));
        assert!(close(extract_number("(2)-3"), 3.0));
        assert!(close(extract_number("x = -3"), -3.0));
        assert!(close(extract_number("50%"), 50.0));
    }

    #[test]
    fn lists_are_not_thousands() {
        assert!(close(extract_number("1,2,3"), 3.0));
        assert!(close(extract_number("12,34"), 34.0));
        assert!(close(extract_number("1,2345"), 2345.0));
        assert_eq!(numbers("1, 2, 3"), vec![1.0, 2.0, 3.0]);
    }

    fn with_commas(n: u64) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            let left = (digits.len() - i) % 3;
            if i > 0 && left == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    proptest! {
        #[test]
        fn extracts_generated_formatted_numbers(
            whole in 0u64..10_000_000_000,
            cents in proptest::option::of(0u32..100),
            negative in any::<bool>(),
            commas in any::<bool>(),
            dollar in any::<bool>(),
            period in any::<bool>(),
            prefix in "[a-z ]{0,12}",
        ) {
            let mut s = String::new();
            if negative { s.push('-'); }
            if dollar { s.push('$'); }
            s.push_str(&if commas { with_commas(whole) } else { whole.to_string() });
            let mut value = whole as f64;
            if let Some(c) = cents {
                s.push_str(&format!(".{c:02}"));
                value += f64::from(c) / 100.0;
            }
            if negative { value = -value; }
            if period { s.push('.'); }
            let text = format!("Earlier 17 and 4. {prefix} The answer is {s}");
            let got = extract_number(&text);
            prop_assert!(close(got, value), "{text:?} -> {got:?}, want {value}");
            let hashed = format!("Work: 1 + 2 = 3\n#### {s}\nignored 8");
            let got = extract_number(&hashed);
            prop_assert!(close(got, value), "{hashed:?} -> {got:?}, want {value}");
        }
    }
}
