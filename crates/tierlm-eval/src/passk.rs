//! pass@1 for HumanEval-style items: extract the program from the answer,
//! complete it with the item's prompt when the answer is only a body, append
//! the item's `check` test, and run it with `python3 -` (program on stdin) in
//! a fresh temporary directory, killed after [`PASS_AT_1_TIMEOUT`]. The
//! answer passes iff the interpreter exits with status 0.
//!
//! The program is model-written code run on this machine: that is what
//! pass@1 measures, so run evaluations where that is acceptable.
//! When `python3` cannot be started the result is `None` (not scorable),
//! and reports say pass@1 is unavailable instead of scoring 0.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::workload::CodeSpec;

/// How long one program may run before it is killed and counted as a failure.
pub const PASS_AT_1_TIMEOUT: Duration = Duration::from_secs(10);

/// The code in `answer`: the first ```` ```python ```` (or ```` ```py ````)
/// fenced block, else the first fenced block of any language, else the whole
/// text. An unterminated fence runs to the end of the text.
pub fn extract_code(answer: &str) -> String {
    let blocks = fenced_blocks(answer);
    let python = blocks
        .iter()
        .find(|(lang, _)| matches!(lang.as_str(), "python" | "py" | "python3"));
    match python.or(blocks.first()) {
        Some((_, body)) => body.clone(),
        None => answer.to_string(),
    }
}

/// `(language, body)` for each fenced block, in order.
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let (info, body_start) = match after.find('\n') {
            Some(nl) => (&after[..nl], &after[nl + 1..]),
            None => (after, ""),
        };
        let lang = info.trim().to_ascii_lowercase();
        match body_start.find("```") {
            Some(close) => {
                out.push((lang, body_start[..close].to_string()));
                rest = &body_start[close + 3..];
            }
            None => {
                out.push((lang, body_start.to_string()));
                break;
            }
        }
    }
    out
}

/// Whether `code` defines `def <entry_point>` (followed by `(` or space).
fn defines(code: &str, entry_point: &str) -> bool {
    let needle = format!("def {entry_point}");
    code.match_indices(&needle).any(|(pos, _)| {
        let next = code[pos + needle.len()..].chars().next();
        matches!(next, Some('(') | Some(' ') | Some('\t'))
    })
}

/// The full program run for an answer: code (with the prompt prepended when
/// the answer does not define the entry point), the test, and the check call.
pub fn build_program(answer: &str, code: &CodeSpec) -> String {
    let mut body = extract_code(answer);
    if !defines(&body, &code.entry_point) {
        let sep = if code.prompt.ends_with('\n') || code.prompt.is_empty() {
            ""
        } else {
            "\n"
        };
        body = format!("{}{sep}{body}", code.prompt);
    }
    format!("{body}\n\n{}\n\ncheck({})\n", code.test, code.entry_point)
}

/// Runs the answer's program: `Some(1.0)` on exit status 0, `Some(0.0)` on
/// failure or timeout, `None` when `python3` cannot be started.
pub fn pass_at_1(answer: &str, code: &CodeSpec) -> Option<f64> {
    let program = build_program(answer, code);
    run_python(&program, PASS_AT_1_TIMEOUT).map(|ok| if ok { 1.0 } else { 0.0 })
}

/// Whether `python3` can be started here.
pub fn python_available() -> bool {
    run_python("pass\n", PASS_AT_1_TIMEOUT).is_some()
}

fn fresh_dir() -> Option<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("tierlm-eval-py-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir).ok().map(|()| dir)
}

/// `Some(exit status was 0)`, or `None` when the interpreter could not start.
fn run_python(program: &str, timeout: Duration) -> Option<bool> {
    run_with("python3", program, timeout)
}

fn run_with(interpreter: &str, program: &str, timeout: Duration) -> Option<bool> {
    let dir = fresh_dir()?;
    let result = run_in(interpreter, &dir, program, timeout);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(
    interpreter: &str,
    dir: &std::path::Path,
    program: &str,
    timeout: Duration,
) -> Option<bool> {
    let mut child = Command::new(interpreter)
        .arg("-")
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // Feed stdin from a thread so a program that never reads cannot block us;
    // the pipe closes (EOF) when the thread drops it.
    let writer = child.stdin.take().map(|mut stdin| {
        let program = program.to_string();
        std::thread::spawn(move || {
            let _ = stdin.write_all(program.as_bytes());
        })
    });
    let deadline = Instant::now() + timeout;
    let passed = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.success(),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
        }
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Some(passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CodeSpec {
        CodeSpec {
            prompt: "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n".into(),
            test: "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n".into(),
            entry_point: "add".into(),
        }
    }

    #[test]
    fn extracts_fenced_code() {
        let text = "Here:\n```\nprint(0)\n```\nand\n```python\ndef f():\n    return 1\n```\n";
        assert_eq!(extract_code(text), "def f():\n    return 1\n");
        assert_eq!(extract_code("```js\nx\n```"), "x\n");
        assert_eq!(extract_code("    return a + b\n"), "    return a + b\n");
        assert_eq!(extract_code("```python\nopen\n"), "open\n");
    }

    #[test]
    fn prepends_the_prompt_only_for_bodies() {
        let p = build_program("    return a + b\n", &spec());
        assert!(p.starts_with("def add(a, b):"));
        assert!(p.ends_with("check(add)\n"));
        let p = build_program("```python\ndef add(a, b):\n    return a + b\n```", &spec());
        assert!(p.starts_with("def add(a, b):\n    return a + b"));
        assert_eq!(p.matches("def add").count(), 1);
        assert!(!defines("def adder(x): pass", "add"));
        assert!(defines("def add (x): pass", "add"));
    }

    #[test]
    fn runs_programs_when_python_is_available() {
        if !python_available() {
            eprintln!("python3 not available: skipping");
            return;
        }
        assert_eq!(pass_at_1("    return a + b\n", &spec()), Some(1.0));
        assert_eq!(
            pass_at_1("```python\ndef add(a, b):\n    return a + b\n```", &spec()),
            Some(1.0)
        );
        assert_eq!(pass_at_1("    return a - b\n", &spec()), Some(0.0));
        assert_eq!(pass_at_1("this is not python", &spec()), Some(0.0));
        assert_eq!(pass_at_1("", &spec()), Some(0.0));
    }

    #[test]
    fn a_missing_interpreter_is_not_scorable() {
        let missing = "/nonexistent/tierlm-eval/python3";
        assert_eq!(run_with(missing, "pass\n", PASS_AT_1_TIMEOUT), None);
    }

    #[test]
    fn kills_programs_that_run_too_long() {
        if !python_available() {
            return;
        }
        let start = Instant::now();
        let ok = run_python("while True:\n    pass\n", Duration::from_millis(300));
        assert_eq!(ok, Some(false));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
