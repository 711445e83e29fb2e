//! Secrets: API keys and tokens with a known prefix (OpenAI, Anthropic, AWS, GitHub,
//! Slack, Stripe, Google, JWTs), PEM private keys, AWS secret keys and `password=`-style
//! assignments near their names, and generic high-entropy tokens. A generic token is
//! reported with a low confidence (dropped by the default threshold) unless a word like
//! "key", "token" or "secret" is just before it; hex hashes, UUIDs, URLs and paths are
//! left alone unless such a word is there.

use regex::Regex;

use super::{char_at, char_before, entity, re, Hints};
use crate::entity::{Entity, EntityKind};

const KNOWN: &str = concat!(
    r"sk-ant-[A-Za-z0-9_-]{20,}",
    r"|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}",
    r"|(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}",
    r"|github_pat_[A-Za-z0-9_]{20,}",
    r"|xox[abprs]-[A-Za-z0-9-]{10,}",
    r"|(?:sk|rk)_live_[A-Za-z0-9]{16,}",
    r"|AIza[0-9A-Za-z_-]{35}",
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
);
const PEM: &str = r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s:,-]*)";
const AWS_SECRET: &str = r"[A-Za-z0-9/+]{40}";
const ASSIGNMENT: &str = r#"(?i)(password|passwd|pwd|passcode|passphrase|api[_-]?key|secret[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)["']?[ \t]*[:=][ \t]*["']?([^\s"'`&]{4,200})"#;
const GENERIC: &str = r"[A-Za-z0-9+/_-]{24,}={0,2}";

/// How example values in documentation start.
const PLACEHOLDERS: [&str; 10] = [
    "your", "<", "${", "{{", "***", "none", "null", "redacted", "example", "changeme",
];

/// Words that make a nearby token a secret.
pub(crate) const SECRET_CTX: &str =
    "key|token|secret|password|passwd|api|bearer|authorization|credential|auth|apikey|private";

/// The compiled secret detectors.
#[derive(Debug, Clone)]
pub(crate) struct Secrets {
    known: Regex,
    pem: Regex,
    aws_secret: Regex,
    assignment: Regex,
    generic: Regex,
}

impl Secrets {
    pub(crate) fn new() -> Result<Self, String> {
        Ok(Secrets {
            known: re(KNOWN)?,
            pem: re(PEM)?,
            aws_secret: re(AWS_SECRET)?,
            assignment: re(ASSIGNMENT)?,
            generic: re(GENERIC)?,
        })
    }

    /// Append the secrets found in `h.text`.
    pub(crate) fn find(&self, h: &Hints, out: &mut Vec<Entity>) {
        let text = h.text;
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        for m in self.known.find_iter(text) {
            let p = m.as_str();
            let before = char_before(text, m.start());
            if word(before) || before == Some('-') || word(char_at(text, m.end())) {
                continue;
            }
            let body_mixed = || mixed(p.split_once('-').map_or(p, |(_, b)| b).as_bytes());
            if (p.starts_with("sk-") || p.starts_with("xox")) && !body_mixed() {
                continue;
            }
            out.push(entity(EntityKind::Secret, m.start(), m.end(), 0.97));
        }
        if text.contains("-----BEGIN") {
            for m in self.pem.find_iter(text) {
                let end = m.start() + m.as_str().trim_end().len();
                out.push(entity(EntityKind::Secret, m.start(), end, 0.99));
            }
        }
        if h.lower.contains("aws") {
            let edge =
                |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || "/+=".contains(c));
            for m in self.aws_secret.find_iter(text) {
                let b = m.as_str().as_bytes();
                if !edge(char_before(text, m.start()))
                    && !edge(char_at(text, m.end()))
                    && b.iter().any(u8::is_ascii_uppercase)
                    && b.iter().any(u8::is_ascii_lowercase)
                    && entropy(b) >= 4.0
                    && h.context_in(m.start().saturating_sub(80), m.start(), "aws|secret")
                {
                    out.push(entity(EntityKind::Secret, m.start(), m.end(), 0.9));
                }
            }
        }
        if h.has_any("pass|pwd|key|token|secret") {
            self.assignments(h, out);
        }
        self.generic(h, out);
    }

    /// `password: value`, `api_key = "value"`: the value.
    fn assignments(&self, h: &Hints, out: &mut Vec<Entity>) {
        for c in self.assignment.captures_iter(h.text) {
            let (Some(label), Some(value)) = (c.get(1), c.get(2)) else {
                continue;
            };
            if char_before(h.text, label.start()).is_some_and(char::is_alphanumeric) {
                continue;
            }
            let v = value
                .as_str()
                .trim_end_matches(['.', ',', ';', ')', ']', '}']);
            let lower = v.to_ascii_lowercase();
            let placeholder = v.len() < 4
                || v.bytes().all(|b| b == v.as_bytes()[0])
                || lower.contains("xxx")
                || PLACEHOLDERS.iter().any(|p| lower.starts_with(p));
            let is_password = label.as_str().to_ascii_lowercase().starts_with('p');
            if placeholder || (!is_password && !v.bytes().any(|b| b.is_ascii_digit())) {
                continue;
            }
            out.push(entity(
                EntityKind::Secret,
                value.start(),
                value.start() + v.len(),
                0.85,
            ));
        }
    }

    /// Generic high-entropy tokens.
    fn generic(&self, h: &Hints, out: &mut Vec<Entity>) {
        let text = h.text;
        for m in self.generic.find_iter(text) {
            let (s, e, p) = (m.start(), m.end(), m.as_str().as_bytes());
            let hex = p.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-');
            if !mixed(p)
                || entropy(p) < if hex { 3.0 } else { 4.0 }
                || char_before(text, s).is_some_and(char::is_alphanumeric)
            {
                continue;
            }
            let context = h.context_before(s, SECRET_CTX);
            let conf = if in_url(text, s) {
                if !url_param_secret(text, s) {
                    continue;
                }
                0.8
            } else if path_like(p) || wordy(p) {
                continue;
            } else if hex {
                if !context {
                    continue; // hashes, UUIDs
                }
                0.7
            } else if context {
                0.8
            } else {
                0.35
            };
            out.push(entity(EntityKind::Secret, s, e, conf));
        }
    }
}

/// Both letters and digits.
fn mixed(p: &[u8]) -> bool {
    p.iter().any(u8::is_ascii_digit) && p.iter().any(u8::is_ascii_alphabetic)
}

/// Shannon entropy in bits per byte.
pub(crate) fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// The whitespace-delimited word holding byte `s` is a URL (looking back at most
/// 512 bytes, so that long runs without spaces stay linear).
fn in_url(text: &str, s: usize) -> bool {
    let from = super::floor_boundary(text, s.saturating_sub(512));
    let start = text[from..s]
        .rfind(char::is_whitespace)
        .map_or(from, |i| from + i + 1);
    let word = &text[start..s];
    word.contains("://") || word.starts_with("www.")
}

/// Byte `s` starts the value of a URL query parameter named like a secret.
fn url_param_secret(text: &str, s: usize) -> bool {
    let Some(prefix) = text[..s].strip_suffix('=') else {
        return false;
    };
    let name_start = prefix.rfind(['?', '&', ';', '#']).map_or(0, |i| i + 1);
    let name = prefix[name_start..].to_ascii_lowercase();
    [
        "key",
        "token",
        "secret",
        "sig",
        "pass",
        "auth",
        "code",
        "credential",
    ]
    .iter()
    .any(|w| name.contains(w))
}

/// Made of words (`AbstractFactoryBean2`, `some_long_identifier_name`): its runs of
/// letters and of digits are 3.5 bytes long on average, where random tokens switch
/// between upper case, lower case and digits every byte or two.
fn wordy(p: &[u8]) -> bool {
    let mut pieces = 0;
    let mut len = 0;
    let mut i = 0;
    while i < p.len() {
        let start = i;
        if p[i].is_ascii_digit() {
            while i < p.len() && p[i].is_ascii_digit() {
                i += 1;
            }
        } else if p[i].is_ascii_alphabetic() {
            while i < p.len() && p[i].is_ascii_uppercase() {
                i += 1;
            }
            while i < p.len() && p[i].is_ascii_lowercase() {
                i += 1;
            }
        } else {
            i += 1;
            continue;
        }
        pieces += 1;
        len += i - start;
    }
    pieces > 0 && 2 * len >= 7 * pieces
}

/// A file or URL path: slashes between ordinary lower-case segments.
fn path_like(p: &[u8]) -> bool {
    p.contains(&b'/')
        && p.split(|&b| b == b'/').any(|seg| {
            seg.len() >= 2
                && seg
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || matches!(b, b'-' | b'_'))
        })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn entropy_of_simple_strings() {
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert!(entropy(b"Xk9fQ2mZ7pLr4TnW8vBc3HjD") >= 4.0);
    }

    #[test]
    fn helpers() {
        assert!(path_like(b"src/main/java/com/Example1234567890"));
        assert!(!path_like(b"Ab3dEf9hIj2lMn/Op5qRs8tUv1x"));
        assert!(
            wordy(b"AbstractSingletonProxyFactoryBean2") && wordy(b"sha256_hex_digest_of_input")
        );
        assert!(
            !wordy(b"Xk9fQ2mZ7pLr4TnW8vBc3HjD") && !wordy(b"dXNlcm5hbWU6cGFzc3dvcmQxMjM0NTY3ODkw")
        );
        assert!(in_url("see https://example.com/abc", 20));
        assert!(url_param_secret("https://x.io/a?api_key=", 23));
        assert!(!url_param_secret("https://x.io/a?page=", 20));
    }
    #[test]
    fn secrets_with_known_prefixes() {
        let d = detector(&[]);
        let body = "A1b2C3d4E5f6G7h8J9k0L1m2N3p4Q5r6S7t8";
        for value in [
            format!("sk-proj-{body}"),
            format!("sk-ant-api03-{body}"),
            format!("sk-{body}"),
            "AKIAIOSFODNN7EXAMPLE".to_string(),
            format!("ghp_{body}"),
            format!("github_pat_11{body}"),
            format!("xoxb-123456789012-{body}"),
            format!("sk_live_{body}"),
            format!("AIza{}", &format!("{body}{body}")[..35]),
            format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{body}"),
        ] {
            assert_finds(&d, &format!("config uses {value} here"), "SECRET", &value);
        }
        let pem = format!("-----BEGIN RSA PRIVATE KEY-----\nMIIEow{body}\n{body}==\n-----END RSA PRIVATE KEY-----");
        assert_finds(&d, &format!("key:\n{pem}\nthanks"), "SECRET", &pem);
        let cut = format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n{body}");
        assert_finds(&d, &format!("{cut}\n\n"), "SECRET", &cut);
        let aws = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_finds(
            &d,
            aws,
            "SECRET",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        );
        assert_finds(&d, "db password: hunter2.", "SECRET", "hunter2");
        assert_finds(&d, "API_KEY=\"abc123def456\"", "SECRET", "abc123def456");
        assert_none(
            &d,
            "the task-management-system-overview-2 and sk-this-is-not-a-real-key-ok",
            "SECRET",
        );
        assert_none(&d, "password: ******** and api_key=YOUR_API_KEY", "SECRET");
    }

    #[test]
    fn generic_tokens() {
        let d = detector(&[]);
        let token = "Xk9fQ2mZ7pLr4TnW8vBc3HjD";
        assert_finds(&d, &format!("my api token is {token}"), "SECRET", token);
        assert_finds(
            &d,
            &format!("Authorization: Bearer {token}"),
            "SECRET",
            token,
        );
        assert_none(&d, &format!("the value {token} appeared"), "SECRET");
        let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        for text in [
            "internationalization pneumonoultramicroscopicsilicovolcanoconiosis".to_string(),
            "request 550e8400-e29b-41d4-a716-446655440000 failed".to_string(),
            format!("commit sha256 {hash}"),
            "see https://github.com/rust-lang/rust/blob/1a2b3c4d5e6f7a8b9c0d/src/lib.rs"
                .to_string(),
            "https://example.com/search?q=Xk9fQ2mZ7pLr4TnW8vBc3HjD&page=2".to_string(),
            "base64 SGVsbG8gV29ybGQ= and VGhlIHF1aWNrIGJyb3duIGZveA==".to_string(),
            "path /usr/local/lib/python3.11/site-packages/x2".to_string(),
        ] {
            assert_none(&d, &text, "SECRET");
        }
        assert_finds(&d, &format!("secret key {hash}"), "SECRET", hash);
        assert_finds(
            &d,
            &format!("https://api.example.com/v1?api_key={token}&x=1"),
            "SECRET",
            token,
        );
    }
}
