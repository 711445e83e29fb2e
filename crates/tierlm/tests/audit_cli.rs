//! `tierlm audit verify` and `tierlm audit export` run as the real binary on a chain
//! written with the library: ok, then a tampered byte names its line, and a date range
//! exports exactly the entries inside it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use tierlm_guard::audit::{self, AuditLog, AuditRecord};

fn tierlm(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierlm"))
        .args(args)
        .arg("--file")
        .arg(file)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn verify_and_export_through_the_binary() {
    let dir = std::env::temp_dir().join(format!("tierlm-audit-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let file = dir.join("data/audit.jsonl");
    let log = AuditLog::open(&file).unwrap();
    let entries: Vec<_> = (0..4)
        .map(|i| {
            log.append(AuditRecord {
                request_id: format!("req-{i}"),
                tenant: Some("acme".into()),
                provider: "anthropic".into(),
                model: format!("claude-{i}"),
                body_sha256: "ab".repeat(32),
                body_bytes: 1000 + i,
                redacted: BTreeMap::from([("EMAIL".into(), 2)]),
                route: "escalated".into(),
            })
            .unwrap()
        })
        .collect();
    drop(log);

    let out = tierlm(&["audit", "verify"], &file);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "audit chain ok: 4 entries");

    // The day the entries were written, [today, tomorrow): all of them.
    let today = &entries[0].time[..10];
    let tomorrow = audit::format_rfc3339_ms(audit::parse_bound(today).unwrap() + 86_400_000);
    let tomorrow = &tomorrow[..10];
    let stored = std::fs::read_to_string(&file).unwrap();
    let out = tierlm(
        &["audit", "export", "--from", today, "--to", tomorrow],
        &file,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    if entries[3].time.starts_with(today) {
        assert_eq!(text(&out.stdout), stored);
        assert!(text(&out.stderr).contains("exported 4 audit entries"));
    }
    // From the third entry's time on, into a file.
    let from = entries[2].time.as_str();
    let expected: String = stored
        .lines()
        .zip(&entries)
        .filter(|(_, e)| e.time.as_str() >= from)
        .map(|(l, _)| format!("{l}\n"))
        .collect();
    let out_file = dir.join("export.jsonl");
    let out = tierlm(
        &[
            "audit",
            "export",
            "--from",
            from,
            "--out",
            out_file.to_str().unwrap(),
        ],
        &file,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), expected);
    // Before the first entry's day: nothing.
    let out = tierlm(&["audit", "export", "--to", today], &file);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("exported 0 audit entries"));

    // One byte of the third line changed: `claude-2` becomes `claude-7`.
    let mut bytes = stored.into_bytes();
    let at = text(&bytes).find("claude-2").unwrap() + "claude-".len();
    bytes[at] = b'7';
    std::fs::write(&file, &bytes).unwrap();
    let out = tierlm(&["audit", "verify"], &file);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    assert!(
        said.starts_with("audit chain BROKEN at line 3 (seq 3): hash mismatch"),
        "{said}"
    );
    let out = tierlm(
        &["audit", "export", "--out", out_file.to_str().unwrap()],
        &file,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("BROKEN at line 3"),
        "{}",
        text(&out.stderr)
    );
    // The refused export left the earlier one alone.
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), expected);

    let out = tierlm(&["audit", "export", "--from", "yesterday"], &file);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
