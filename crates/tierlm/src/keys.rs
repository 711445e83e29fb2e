//! `tierlm keys create | list | revoke`: manage the gateway's virtual keys in the
//! ledger database (see `tierlm_ledger::keys`); and `tierlm migrate`, which brings
//! that database's schema up to date.
//!
//! The database is `--database`, else the configuration's `[ledger] database_url`,
//! else `tierlm.db` in the data folder (`TIERLM_DATA_DIR`, else the configuration's
//! `[server] data_dir`, else `data`). `create` prints the secret alone on standard
//! output, once (only its salted hash is stored), and the key's id and settings on
//! standard error. Exit codes: 0 on success, 1 when `revoke` finds no active key of
//! that id, 2 on any other error (bad flags, no database, a database error).

use std::path::PathBuf;
use std::process::ExitCode;

use tierlm_gateway::config;
use tierlm_ledger::{format_usd, BudgetPeriod, KeyRecord, NewKey, PicoUsd, Store};

use crate::cli::{DatabaseArgs, KeyCreateArgs};

/// The database URL `db` names (see the module docs).
fn database_url(db: &DatabaseArgs) -> Result<String, String> {
    if let Some(url) = &db.database {
        return Ok(url.clone());
    }
    let mut data_dir = None;
    if let Some(path) = &db.config {
        let raw = config::parse_file(path).map_err(|e| e.to_string())?;
        if let Some(url) = raw.ledger.and_then(|l| l.database_url) {
            return Ok(url);
        }
        data_dir = raw.server.data_dir;
    }
    let data_dir = env_data_dir()
        .or(data_dir)
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_DATA_DIR));
    Ok(config::database_url_in(&data_dir))
}

/// `TIERLM_DATA_DIR`, as `tierlm serve --data-dir` reads it.
pub(crate) fn env_data_dir() -> Option<PathBuf> {
    std::env::var_os("TIERLM_DATA_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// Opens the store; with `must_exist`, refuses to create a database file that is not
/// there (listing or revoking in an empty new database would only hide a wrong path).
fn open(db: &DatabaseArgs, must_exist: bool) -> Result<Box<dyn Store>, String> {
    let url = database_url(db)?;
    if must_exist {
        if let Some(path) = tierlm_ledger::database_file(&url).map_err(|e| e.to_string())? {
            if !path.exists() {
                return Err(format!(
                    "no ledger database at {} (give --database or --config)",
                    path.display()
                ));
            }
        }
    }
    tierlm_ledger::open_store(&url).map_err(|e| e.to_string())
}

/// `--budget-usd` as exact pico-dollars.
fn parse_budget(text: &str) -> Result<PicoUsd, String> {
    let usd =
        tierlm_providers::pricing::Usd::parse(text).map_err(|e| format!("--budget-usd: {e}"))?;
    PicoUsd::try_from(usd.0).map_err(|_| format!("--budget-usd: `{text}` is too large"))
}

/// `--models a,b` as a list: names trimmed, none empty.
fn parse_models(text: &str) -> Result<Vec<String>, String> {
    let models: Vec<String> = text.split(',').map(|m| m.trim().to_string()).collect();
    if models.iter().any(String::is_empty) {
        return Err(format!(
            "--models: `{text}` has an empty name; give MODEL,MODEL,…"
        ));
    }
    Ok(models)
}

fn new_key(args: &KeyCreateArgs) -> Result<NewKey, String> {
    Ok(NewKey {
        tenant: args.tenant.clone(),
        name: args.name.clone(),
        budget: args.budget_usd.as_deref().map(parse_budget).transpose()?,
        period: args.period.parse::<BudgetPeriod>()?,
        rpm: args.rpm,
        tpm: args.tpm,
        models: args.models.as_deref().map(parse_models).transpose()?,
    })
}

fn budget_text(k: &KeyRecord) -> String {
    match k.budget {
        Some(b) if k.period == BudgetPeriod::Total => format!("{} USD in total", format_usd(b)),
        Some(b) => format!("{} USD per {}", format_usd(b), k.period),
        None => "none".to_string(),
    }
}

fn limit_text(v: Option<u32>) -> String {
    v.map_or_else(|| "unlimited".to_string(), |v| v.to_string())
}

fn models_text(k: &KeyRecord) -> String {
    k.models
        .as_ref()
        .map_or_else(|| "all".to_string(), |m| m.join(","))
}

/// `2024-05-01T12:00:00Z`.
fn time_text(ms: i64) -> String {
    let t = tierlm_guard::audit::format_rfc3339_ms(ms);
    format!("{}Z", t.get(..19).unwrap_or(&t))
}

fn fail(e: &str) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

pub fn create(args: &KeyCreateArgs) -> ExitCode {
    let created = new_key(args).and_then(|k| {
        open(&args.db, false)?
            .create_key(&k)
            .map_err(|e| e.to_string())
    });
    let (record, secret) = match created {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    println!("{secret}");
    let name = record
        .name
        .as_ref()
        .map_or_else(String::new, |n| format!(" ({n})"));
    eprintln!(
        "created key {}{name} for tenant {}\n  budget: {}\n  rpm: {}\n  tpm: {}\n  models: {}\n\
         the secret above is shown once and cannot be recovered: store it now",
        record.key_id,
        record.tenant,
        budget_text(&record),
        limit_text(record.rpm),
        limit_text(record.tpm),
        models_text(&record),
    );
    ExitCode::SUCCESS
}

fn list_text(keys: &[KeyRecord]) -> String {
    let mut out = format!(
        "{:<16} {:<16} {:<16} {:<20} {:<24} {:>8} {:>9} {:<20} {}\n",
        "key", "tenant", "name", "created", "budget", "rpm", "tpm", "models", "status"
    );
    for k in keys {
        let status = k.revoked_ms.map_or_else(
            || "active".to_string(),
            |t| format!("revoked {}", time_text(t)),
        );
        out.push_str(&format!(
            "{:<16} {:<16} {:<16} {:<20} {:<24} {:>8} {:>9} {:<20} {status}\n",
            k.key_id,
            k.tenant,
            k.name.as_deref().unwrap_or("-"),
            time_text(k.created_ms),
            budget_text(k),
            limit_text(k.rpm),
            limit_text(k.tpm),
            models_text(k),
        ));
    }
    out
}

fn list_json(keys: &[KeyRecord]) -> Result<String, String> {
    let items = keys
        .iter()
        .map(|k| {
            let mut v = serde_json::to_value(k).map_err(|e| e.to_string())?;
            if let Some(o) = v.as_object_mut() {
                o.insert("budget_usd".into(), k.budget.map(format_usd).into());
                o.insert("active".into(), k.revoked_ms.is_none().into());
            }
            Ok(v)
        })
        .collect::<Result<Vec<_>, String>>()?;
    serde_json::to_string_pretty(&items).map_err(|e| e.to_string())
}

pub fn list(db: &DatabaseArgs, tenant: Option<&str>, json: bool) -> ExitCode {
    let text = open(db, true)
        .and_then(|s| s.list_keys(tenant).map_err(|e| e.to_string()))
        .and_then(|keys| {
            if json {
                list_json(&keys).map(|t| t + "\n")
            } else if keys.is_empty() {
                eprintln!("no keys");
                Ok(String::new())
            } else {
                Ok(list_text(&keys))
            }
        });
    match text {
        Ok(t) => {
            print!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

pub fn revoke(db: &DatabaseArgs, key_id: &str) -> ExitCode {
    match open(db, true).and_then(|s| s.revoke_key(key_id).map_err(|e| e.to_string())) {
        Ok(true) => {
            println!("revoked {key_id}");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("error: no active key {key_id} (unknown or already revoked)");
            ExitCode::from(1)
        }
        Err(e) => fail(&e),
    }
}

/// `tierlm migrate`: opens (creating a SQLite file if need be) the database and
/// applies the migrations it lacks; prints what it did.
pub fn migrate(db: &DatabaseArgs) -> ExitCode {
    match database_url(db).and_then(|url| tierlm_ledger::migrate(&url).map_err(|e| e.to_string())) {
        Ok(m) => {
            println!(
                "{}: applied {} migration{}; schema version {}",
                m.location,
                m.applied,
                if m.applied == 1 { "" } else { "s" },
                m.version
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_exact_pico_dollars() {
        assert_eq!(parse_budget("100"), Ok(100 * tierlm_ledger::PICO_PER_USD));
        assert_eq!(parse_budget("0.000000000001"), Ok(1));
        assert_eq!(parse_budget("12.5"), Ok(12_500_000_000_000));
        for bad in ["-1", "1e3", "abc", "", "0.0000000000001", "99999999999"] {
            assert!(parse_budget(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn model_lists() {
        assert_eq!(parse_models(" a , b").unwrap(), vec!["a", "b"]);
        assert!(parse_models("a,,b").is_err() && parse_models("").is_err());
    }

    #[test]
    fn the_database_comes_from_the_flag_then_the_config_then_the_default() {
        let none = DatabaseArgs {
            config: None,
            database: None,
        };
        assert_eq!(database_url(&none).unwrap(), "sqlite://data/tierlm.db");
        let dir = std::env::temp_dir().join(format!("tierlm-keys-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("tierlm.toml");
        std::fs::write(&cfg, "[ledger]\ndatabase_url = \"sqlite://x/keys.db\"\n").unwrap();
        let from_config = DatabaseArgs {
            config: Some(cfg.clone()),
            database: None,
        };
        assert_eq!(database_url(&from_config).unwrap(), "sqlite://x/keys.db");
        let flag = DatabaseArgs {
            config: Some(cfg),
            database: Some(":memory:".into()),
        };
        assert_eq!(database_url(&flag).unwrap(), ":memory:");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
