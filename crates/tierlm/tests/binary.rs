//! The real `tierlm` binary started on port 0: it prints its address, answers
//! /health at once and /ready once the model is loaded, and stops on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Read the `tierlm listening on http://ADDR` line a started server prints first.
fn listening_address(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("tierlm listening on http://")
        .unwrap()
        .to_string()
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

#[test]
fn serves_on_port_zero_and_stops_on_sigterm() {
    let model = repo_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierlm"))
        .args([
            "serve",
            "--port",
            "0",
            "--no-embeddings",
            "--context-size",
            "256",
            "--parallel",
            "1",
        ])
        .arg("--model")
        .arg(format!("smol={}", model.display()))
        .env("TIERLM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let addr = listening_address(&mut child);
    assert_eq!(get(&addr, "/health").0, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(&addr, "/ready");
        if status == 200 {
            assert!(body.contains("smol"));
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "not ready in time");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body) = get(&addr, "/v1/models");
    assert_eq!(status, 200);
    assert!(body.contains("\"smol\""));
    // SAFETY-free SIGTERM through the kill command.
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn check_config_names_unknown_keys() {
    let dir = std::env::temp_dir().join(format!("tierlm-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[server]\ntemprature = 3\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tierlm"))
        .args(["serve", "--check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("temprature"), "{err}");
}

/// docs/CONFIGURATION.md embeds `--help`; this fails when the two drift apart.
#[test]
fn configuration_doc_matches_help() {
    let doc = std::fs::read_to_string(repo_root().join("docs/CONFIGURATION.md")).unwrap();
    for (marker, args) in [
        ("serve-help", &["serve", "--help"][..]),
        ("pull-help", &["models", "pull", "--help"][..]),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tierlm"))
            .args(args)
            .output()
            .unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        let begin = format!("<!-- BEGIN {marker} -->\n```text\n");
        let start = doc.find(&begin).unwrap() + begin.len();
        let end = start + doc[start..].find("\n```\n<!-- END").unwrap();
        assert_eq!(
            doc[start..end].trim_end(),
            help.trim_end(),
            "regenerate docs/CONFIGURATION.md from `tierlm {}`",
            args.join(" ")
        );
    }
}

fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, out)
}

/// With one sequence and a queue of one, a burst gets 429 + Retry-After for the
/// overflow, and every request still completes.
#[test]
fn a_full_queue_answers_429_with_retry_after() {
    let dir = std::env::temp_dir().join(format!("tierlm-bp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bp.toml");
    let model = repo_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nport = 0\n[[models]]\nname = \"smol\"\npath = \"{}\"\ncontext_size = 512\nparallel = 1\nmax_queue = 1\n",
            model.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierlm"))
        .args(["serve", "--no-embeddings", "--config"])
        .arg(&cfg)
        .env("TIERLM_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_address(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&addr, "/ready").0 != 200 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    let body = r#"{"model":"smol","messages":[{"role":"user","content":"Tell a long story."}],"max_tokens":48,"temperature":0}"#;
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || post(&addr, "/v1/chat/completions", body))
        })
        .collect();
    let results: Vec<(u16, String)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let limited: Vec<&String> = results
        .iter()
        .filter(|(s, _)| *s == 429)
        .map(|(_, r)| r)
        .collect();
    assert!(ok >= 1, "{results:?}");
    assert!(!limited.is_empty(), "expected some 429s: {results:?}");
    for r in limited {
        assert!(r.to_ascii_lowercase().contains("retry-after: 1"), "{r}");
        assert!(r.contains("\"code\":\"overloaded\""), "{r}");
    }
    assert_eq!(
        ok + results.iter().filter(|(s, _)| *s == 429).count(),
        6,
        "{results:?}"
    );
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}
