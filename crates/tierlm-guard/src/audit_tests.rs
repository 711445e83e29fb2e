//! Tests of the egress audit chain: append and reopen, tamper detection, torn tails,
//! concurrent appenders, export bounds and time formatting.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::sync::Arc;

use proptest::prelude::*;

use super::time::MS_PER_DAY;
use super::*;

/// `<tmp>/tierlm-audit-PID-NAME/nested/audit.jsonl`, its folder removed first.
fn temp_log(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tierlm-audit-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir.join("nested/audit.jsonl")
}

fn cleanup(path: &Path) {
    let _ = fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
}

fn record(i: u32) -> AuditRecord {
    AuditRecord {
        request_id: format!("req-{i}"),
        tenant: (i > 1).then(|| "acme".to_string()),
        provider: "openai".into(),
        model: format!("gpt-{i}"),
        body_sha256: sha256_hex(format!("body {i}").as_bytes()),
        body_bytes: 100 + u64::from(i),
        redacted: BTreeMap::from([("EMAIL".to_string(), i), ("PERSON".to_string(), 1)]),
        route: "cloud".into(),
    }
}

fn write_chain(path: &Path, n: u32) -> Vec<AuditEntry> {
    let log = AuditLog::open(path).unwrap();
    (1..=n).map(|i| log.append(record(i)).unwrap()).collect()
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

fn ok(entries: u64) -> VerifyReport {
    VerifyReport {
        entries,
        first_broken: None,
    }
}

#[test]
fn append_reopen_continue() {
    let path = temp_log("reopen");
    drop(AuditLog::open(&path).unwrap());
    assert_eq!(verify(&path).unwrap(), ok(0));
    let first = write_chain(&path, 3);
    assert_eq!(
        (first[0].seq, first[0].prev_hash.as_str()),
        (1, GENESIS_HASH)
    );
    assert_eq!(first[1].prev_hash, first[0].hash);
    assert_eq!(entry_hash(&first[2]).unwrap(), first[2].hash);
    let log = AuditLog::open(&path).unwrap();
    assert!(log.torn_tail().is_none());
    let next = log.append(record(4)).unwrap();
    assert_eq!((next.seq, &next.prev_hash), (4, &first[2].hash));
    assert!(next.time >= first[2].time);
    assert_eq!(verify(&path).unwrap(), ok(4));
    let stored: AuditEntry = serde_json::from_str(&lines(&path)[3]).unwrap();
    assert_eq!(stored, next);
    assert!(lines(&path)[0].contains(r#""tenant":null"#));
    cleanup(&path);
}

#[test]
fn hash_is_over_the_canonical_json_of_every_other_member() {
    let mut entry = AuditEntry {
        seq: 1,
        time: "2024-05-01T12:00:00.000Z".into(),
        record: record(1),
        prev_hash: GENESIS_HASH.into(),
        hash: String::new(),
    };
    let mut value = serde_json::to_value(&entry).unwrap();
    value.as_object_mut().unwrap().remove("hash");
    let canonical = canonical_json(&value);
    assert!(canonical.starts_with(r#"{"body_bytes":101,"body_sha256":""#));
    assert!(canonical.contains(r#","redacted":{"EMAIL":1,"PERSON":1},"request_id":"#));
    entry.hash = sha256_hex(canonical.as_bytes());
    assert_eq!(entry_hash(&entry).unwrap(), entry.hash);
    let mut stored = serde_json::to_value(&entry).unwrap();
    assert!(parse_entry(&serde_json::to_vec(&stored).unwrap()).is_ok());
    stored["extra"] = Value::Bool(true); // an added member breaks the hash too
    let (seq, reason) = parse_entry(&serde_json::to_vec(&stored).unwrap()).unwrap_err();
    assert!(
        seq == Some(1) && reason.contains("hash mismatch"),
        "{reason}"
    );
}

#[test]
fn verify_finds_the_first_broken_line() {
    type Tamper = fn(&mut Vec<String>, &[AuditEntry]);
    let rehash: Tamper = |l, e| {
        let mut forged = e[2].clone();
        forged.record.body_bytes = 1;
        forged.hash = entry_hash(&forged).unwrap();
        l[2] = serde_json::to_string(&forged).unwrap();
    };
    let cases: [(&str, Tamper, u64, Option<u64>, &str); 4] = [
        (
            "edited",
            |l, _| l[2] = l[2].replace("gpt-3", "gpt-X"),
            3,
            Some(3),
            "hash mismatch",
        ),
        (
            "rehashed",
            rehash,
            4,
            Some(4),
            "does not match the hash of line 3",
        ),
        (
            "deleted",
            |l, _| drop(l.remove(2)),
            3,
            Some(4),
            "expected seq 3",
        ),
        (
            "reordered",
            |l, _| l.swap(1, 2),
            2,
            Some(3),
            "expected seq 2",
        ),
    ];
    for (name, tamper, line, seq, reason) in cases {
        let path = temp_log(name);
        let entries = write_chain(&path, 5);
        let mut l = lines(&path);
        tamper(&mut l, &entries);
        write_lines(&path, &l);
        let report = verify(&path).unwrap();
        assert_eq!(report.entries, line - 1, "{name}");
        let b = report.first_broken.unwrap();
        assert_eq!((b.line, b.seq), (line, seq), "{name}: {b}");
        assert!(b.reason.contains(reason), "{name}: {b}");
        cleanup(&path);
    }
}

#[test]
fn verify_reports_and_open_repairs_a_torn_last_line() {
    let path = temp_log("torn");
    write_chain(&path, 5);
    let full = fs::read(&path).unwrap();
    let last = full[..full.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    fs::write(&path, &full[..last + 40]).unwrap();
    let report = verify(&path).unwrap();
    let b = report.first_broken.unwrap();
    assert_eq!((report.entries, b.line, b.seq), (4, 5, None));
    assert!(b.reason.contains("truncated"), "{b}");

    let log = AuditLog::open(&path).unwrap();
    let torn = log.torn_tail().unwrap();
    assert_eq!(
        torn,
        &TornTail {
            offset: last as u64,
            bytes: 40
        }
    );
    assert!(torn.to_string().contains("40 bytes"));
    assert_eq!(verify(&path).unwrap(), ok(4));
    assert_eq!(log.append(record(9)).unwrap().seq, 5);
    assert_eq!(verify(&path).unwrap(), ok(5));
    drop(log);

    fs::write(&path, b"{\"seq\":1,\"ti").unwrap(); // nothing but a torn line
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(
        log.torn_tail(),
        Some(&TornTail {
            offset: 0,
            bytes: 12
        })
    );
    assert_eq!(log.append(record(1)).unwrap().prev_hash, GENESIS_HASH);
    assert_eq!(verify(&path).unwrap(), ok(1));
    cleanup(&path);
}

#[test]
fn open_and_append_refuse_to_continue_a_damaged_file() {
    let path = temp_log("damaged");
    write_chain(&path, 2);
    let mut l = lines(&path);
    l[1] = l[1].replace("openai", "0penai");
    write_lines(&path, &l);
    let err = AuditLog::open(&path).unwrap_err();
    assert!(matches!(err, AuditError::Tail { .. }) && err.to_string().contains("hash"));

    fs::remove_file(&path).unwrap();
    let log = AuditLog::open(&path).unwrap();
    log.append(record(1)).unwrap();
    let mut other = OpenOptions::new().append(true).open(&path).unwrap();
    other.write_all(b"junk\n").unwrap();
    let err = log.append(record(2)).unwrap_err();
    assert!(
        err.to_string().contains("changed under this writer"),
        "{err}"
    );
    cleanup(&path);
}

#[test]
fn concurrent_appends_make_one_valid_chain() {
    let path = temp_log("concurrent");
    let log = Arc::new(AuditLog::open(&path).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| log.append(record(t * 100 + i)).unwrap().seq)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());
    assert_eq!(verify(&path).unwrap(), ok(200));
    cleanup(&path);
}

#[test]
fn export_selects_by_time_and_refuses_a_broken_chain() {
    let path = temp_log("export");
    let log = AuditLog::open(&path).unwrap();
    let day = |d: &str| parse_bound(d).unwrap();
    let may1 = day("2024-05-01");
    let times = [
        may1 - 1,
        may1,
        may1 + 43_200_000,
        day("2024-05-02"),
        may1 - 5,
    ];
    let entries: Vec<_> = (0..5)
        .map(|i| log.append_at(record(i), times[i as usize]).unwrap())
        .collect();
    // The clock going back does not make time go back.
    assert_eq!(entries[4].time, entries[3].time);
    let l = lines(&path);
    let run = |from: Option<&str>, to: Option<&str>| {
        let mut out = Vec::new();
        let n = export(&path, from, to, &mut out).unwrap();
        (n, String::from_utf8(out).unwrap())
    };
    assert_eq!(
        run(Some("2024-05-01"), Some("2024-05-02")),
        (2, format!("{}\n{}\n", l[1], l[2]))
    );
    assert_eq!(run(None, None).0, 5);
    assert_eq!(run(None, Some("2024-05-01")).0, 1);
    assert_eq!(run(Some("2024-05-02T00:00:00.000Z"), None).0, 2);
    assert_eq!(
        run(
            Some("2024-05-01T14:00:00+02:00"),
            Some("2024-05-01T12:00:00.001Z")
        )
        .0,
        1
    );
    let bad = export(&path, Some("May 1"), None, &mut Vec::new());
    assert!(matches!(bad, Err(AuditError::BadTime(_))));
    let empty = export(
        &path,
        Some("2024-05-02"),
        Some("2024-05-01"),
        &mut Vec::new(),
    );
    assert!(matches!(empty, Err(AuditError::EmptyRange { .. })));

    let mut tampered = l.clone();
    tampered[3] = tampered[3].replace("gpt-3", "gpt-4");
    write_lines(&path, &tampered);
    let mut out = Vec::new();
    let err = export(&path, Some("2024-05-01"), None, &mut out).unwrap_err();
    assert!(
        matches!(&err, AuditError::Broken(b) if (b.line, b.seq) == (4, Some(4))),
        "{err}"
    );
    assert!(
        err.to_string().contains("line 4") && out.is_empty(),
        "{err}"
    );
    cleanup(&path);
}

#[test]
fn time_formats_and_parses() {
    assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        format_rfc3339_ms(951_782_400_123),
        "2000-02-29T00:00:00.123Z"
    );
    assert_eq!(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    assert_eq!(
        parse_rfc3339("2000-02-29t00:00:00.1234567z"),
        Some(951_782_400_123)
    );
    assert_eq!(
        parse_rfc3339("2000-02-29 00:00:00.5Z"),
        Some(951_782_400_500)
    );
    let noon = parse_rfc3339("2024-05-01T12:00:00Z");
    assert_eq!(parse_rfc3339("2024-05-01T14:30:00+02:30"), noon);
    assert_eq!(parse_rfc3339("2024-05-01T08:00:00-04:00"), noon);
    for bad in [
        "2023-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:00",
        "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00+0200",
        "2024-05-01T12:00:00Zjunk",
        "2024-05-01",
    ] {
        assert_eq!(parse_rfc3339(bad), None, "{bad}");
    }
    assert_eq!(parse_bound("2024-05-01").unwrap(), 1_714_521_600_000);
    assert!(parse_bound("2024-5-1").is_err());
}

proptest! {
    #[test]
    fn time_round_trips(ms in -62_167_219_200_000i64..=253_402_300_799_999) {
        let s = format_rfc3339_ms(ms);
        prop_assert_eq!(s.len(), 24);
        prop_assert_eq!(parse_rfc3339(&s), Some(ms));
        prop_assert_eq!(parse_bound(&s[..10]).unwrap(), ms.div_euclid(MS_PER_DAY) * MS_PER_DAY);
    }
}

#[test]
fn a_second_writer_on_the_same_file_is_refused_until_the_first_closes() {
    let path = temp_log("second-writer");
    let first = AuditLog::open(&path).unwrap();
    first.append(record(1)).unwrap();
    let Err(err) = AuditLog::open(&path) else {
        panic!("a second writer must be refused");
    };
    assert!(
        err.to_string().contains("another process"),
        "unexpected error: {err}"
    );
    // Reading is not writing: verify works while the writer is open.
    assert_eq!(verify(&path).unwrap(), ok(1));
    drop(first);
    let again = AuditLog::open(&path).unwrap();
    again.append(record(2)).unwrap();
    assert_eq!(verify(&path).unwrap(), ok(2));
    cleanup(&path);
}
