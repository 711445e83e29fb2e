//! `tierlm keys create | list | revoke` run as the real binary on a fresh database:
//! the secret is printed once on standard output, `list` shows the key without it,
//! `revoke` marks it revoked, and the database comes from `--config` too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tierlm(args: &[&str], database: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tierlm"));
    cmd.args(args).env_remove("TIERLM_CONFIG");
    if let Some(db) = database {
        cmd.arg("--database").arg(db);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tierlm-keys-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn contains_bytes(dir: &Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

#[test]
fn create_list_revoke_through_the_binary() {
    let dir = temp_dir("flow");
    let url = format!("sqlite://{}", dir.join("db/tierlm.db").display());
    let db = Some(url.as_str());

    // Listing where no database is yet does not create one.
    let out = tierlm(&["keys", "list"], db);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no ledger database"));
    assert!(!dir.join("db").exists());

    let out = tierlm(
        &[
            "keys",
            "create",
            "--tenant",
            "acme",
            "--name",
            "ci",
            "--budget-usd",
            "12.5",
            "--period",
            "week",
            "--rpm",
            "60",
            "--tpm",
            "100000",
            "--models",
            "auto,gpt-4o-mini",
        ],
        db,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let secret = stdout.trim();
    assert_eq!(stdout, format!("{secret}\n"), "stdout is the secret alone");
    assert!(secret.starts_with("tk-") && secret.len() == 43, "{secret}");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains(secret), "the secret is printed once");
    let key_id = stderr
        .split_whitespace()
        .find(|w| w.starts_with("key_"))
        .unwrap()
        .to_string();
    for said in [
        "tenant acme",
        "12.50 USD per week",
        "rpm: 60",
        "tpm: 100000",
        "auto,gpt-4o-mini",
        "shown once",
    ] {
        assert!(stderr.contains(said), "{said} not in {stderr}");
    }
    assert!(
        !contains_bytes(&dir.join("db"), secret),
        "the secret is stored"
    );

    // A second tenant's key, unlimited.
    let out = tierlm(&["keys", "create", "--tenant", "beta"], db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let other_secret = text(&out.stdout).trim().to_string();
    assert!(text(&out.stderr).contains("budget: none"));

    let out = tierlm(&["keys", "list"], db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let line = table.lines().find(|l| l.contains(&key_id)).unwrap();
    assert!(line.contains("acme") && line.contains("active"), "{line}");
    assert!(line.contains("12.50 USD per week"), "{line}");
    assert!(!table.contains(secret) && !table.contains(&other_secret));
    assert!(
        !table.contains(&secret[3..11]),
        "not even the lookup prefix"
    );
    assert_eq!(table.lines().count(), 3, "a header and two keys: {table}");

    let out = tierlm(&["keys", "list", "--tenant", "acme", "--json"], db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = listed.as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(k["key_id"], key_id.as_str());
    assert_eq!(k["tenant"], "acme");
    assert_eq!(k["name"], "ci");
    assert_eq!(k["budget"], 12_500_000_000_000u64);
    assert_eq!(k["budget_usd"], "12.50");
    assert_eq!(k["period"], "week");
    assert_eq!(k["rpm"], 60);
    assert_eq!(k["tpm"], 100_000);
    assert_eq!(k["models"], serde_json::json!(["auto", "gpt-4o-mini"]));
    assert_eq!(k["active"], true);
    assert!(k["revoked_ms"].is_null());
    for gone in ["salt", "hash", "secret", "prefix"] {
        assert!(k.get(gone).is_none(), "{gone} in {k}");
    }

    let out = tierlm(&["keys", "revoke", &key_id], db);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("revoked {key_id}"));
    let out = tierlm(&["keys", "revoke", &key_id], db);
    assert_eq!(out.status.code(), Some(1), "already revoked");
    assert!(text(&out.stderr).contains("no active key"));

    let out = tierlm(&["keys", "list"], db);
    let table = text(&out.stdout);
    let line = table.lines().find(|l| l.contains(&key_id)).unwrap();
    assert!(line.contains("revoked 20"), "{line}");
    let beta = table.lines().find(|l| l.contains("beta")).unwrap();
    assert!(beta.contains("active"), "{beta}");
    let out = tierlm(&["keys", "list", "--json", "--tenant", "acme"], db);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["active"], false);
    assert!(listed[0]["revoked_ms"].as_i64().unwrap() >= listed[0]["created_ms"].as_i64().unwrap());

    // Bad flags fail before anything is written.
    for bad in [
        &["keys", "create", "--tenant", "x", "--budget-usd", "twelve"][..],
        &["keys", "create", "--tenant", "x", "--models", "a,,b"],
        &["keys", "create", "--tenant", "", "--rpm", "1"],
    ] {
        let out = tierlm(bad, db);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(out.stdout.is_empty(), "{bad:?}");
    }
    let out = tierlm(&["keys", "list", "--json"], db);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_database_comes_from_the_config() {
    let dir = temp_dir("config");
    let db = dir.join("from-config.db");
    let cfg = dir.join("tierlm.toml");
    std::fs::write(
        &cfg,
        format!("[ledger]\ndatabase_url = \"sqlite://{}\"\n", db.display()),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let out = tierlm(&["keys", "create", "--tenant", "t", "--config", cfg], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(db.exists());
    let out = tierlm(&["keys", "list", "--config", cfg, "--json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["tenant"], "t");
    let _ = std::fs::remove_dir_all(&dir);
}
