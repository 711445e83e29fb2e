//! The request ledger: one row per inference request — who, which route and model,
//! tokens, latency, status and exact prices, never message content — and the usage
//! reports built from it (`GET /v1/usage`, `tierlm report`): spend, local against
//! cloud, what the all-frontier baseline would have cost, and the savings.
//!
//! Money is whole pico-dollars in integers ([`PicoUsd`]). Storage sits behind the
//! synchronous [`LedgerStore`] trait; [`SqliteLedger`] is the backend today, and the
//! SQL in [`sql`] is kept portable so a PostgreSQL backend can follow behind the same
//! trait and pass the same [`suite`] (feature `test-suite`).
//!
//! The same database holds the gateway's virtual keys ([`KeyStore`], see [`keys`]);
//! [`open_store`] opens one connection serving both traits ([`Store`]).

mod error;
pub mod keys;
mod money;
pub mod sql;
mod sqlite;
mod store;
mod usage;

#[cfg(any(test, feature = "test-suite"))]
pub mod suite;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod keys_tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::{BoxError, LedgerError};
pub use keys::{ct_eq, BudgetPeriod, KeyRecord, KeyStore, NewKey};
pub use money::{format_usd, PicoUsd, PICO_PER_USD};
pub use sqlite::SqliteLedger;
pub use store::LedgerStore;
pub use usage::{GroupBy, Row, UsageQuery, UsageReport, UsageTotals};

/// A store of both ledger rows and virtual keys: what the gateway holds, one
/// connection for both. Every type with both traits is one.
///
/// The `into_*` methods turn a shared `Arc<dyn Store>` into the narrower trait
/// objects for code that needs only one side (trait upcasting needs Rust 1.86, newer
/// than the workspace's `rust-version`).
pub trait Store: LedgerStore + KeyStore {
    /// This store as a ledger only.
    fn into_ledger_store(self: Arc<Self>) -> Arc<dyn LedgerStore>;
    /// This store as a key store only.
    fn into_key_store(self: Arc<Self>) -> Arc<dyn KeyStore>;
}

impl<T: LedgerStore + KeyStore + 'static> Store for T {
    fn into_ledger_store(self: Arc<Self>) -> Arc<dyn LedgerStore> {
        self
    }

    fn into_key_store(self: Arc<Self>) -> Arc<dyn KeyStore> {
        self
    }
}

/// Opens the ledger a database URL names:
///
/// - `sqlite://PATH`, `sqlite:PATH` or a plain `PATH` → [`SqliteLedger::open`]
///   (`sqlite://data/tierlm.db` is relative, `sqlite:///var/lib/tierlm.db` absolute);
/// - `sqlite::memory:`, `sqlite://:memory:` or `:memory:` → an in-memory ledger;
/// - `postgres://…` / `postgresql://…` → [`LedgerError::Unsupported`] for now.
pub fn open(database_url: &str) -> Result<Box<dyn LedgerStore>, LedgerError> {
    Ok(Box::new(open_sqlite(database_url)?))
}

/// Opens the store a database URL names, rows and keys in one connection; URLs as
/// for [`open`]. Share it with `Arc::from(open_store(url)?)`.
pub fn open_store(database_url: &str) -> Result<Box<dyn Store>, LedgerError> {
    Ok(Box::new(open_sqlite(database_url)?))
}

/// The file a database URL names, `None` for an in-memory database; the URL is
/// checked as [`open`] checks it, but nothing is opened or created.
pub fn database_file(database_url: &str) -> Result<Option<PathBuf>, LedgerError> {
    let path = sqlite_path(database_url)?;
    Ok((path != ":memory:").then(|| PathBuf::from(path)))
}

/// The SQLite database a URL names, opened (see [`open`]).
fn open_sqlite(database_url: &str) -> Result<SqliteLedger, LedgerError> {
    let path = sqlite_path(database_url)?;
    if path == ":memory:" {
        return SqliteLedger::open_in_memory();
    }
    SqliteLedger::open(Path::new(path))
}

/// The SQLite path of a database URL (`:memory:` for an in-memory one).
fn sqlite_path(database_url: &str) -> Result<&str, LedgerError> {
    let url = database_url.trim();
    let invalid = |reason: &str| LedgerError::InvalidUrl {
        url: redact(url),
        reason: reason.to_string(),
    };
    if url.is_empty() {
        return Err(invalid("it is empty"));
    }
    let scheme = url
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .filter(|s| {
            s.len() > 1
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
    let path = match scheme.as_deref() {
        Some("sqlite") => {
            let rest = &url["sqlite:".len()..];
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.contains('?') {
                return Err(invalid(
                    "query parameters are not supported; give the path alone",
                ));
            }
            if path.is_empty() {
                return Err(invalid("it names no file, e.g. sqlite://data/tierlm.db"));
            }
            path
        }
        Some("postgres" | "postgresql") => {
            return Err(LedgerError::Unsupported(format!(
                "PostgreSQL support comes with a later tierlm release; use \
                 sqlite://PATH for now (got {})",
                redact(url)
            )))
        }
        Some(other) if url[other.len() + 1..].starts_with("//") => {
            return Err(invalid(&format!(
                "unknown scheme `{other}`; use sqlite://PATH or a plain path"
            )));
        }
        // A plain path (possibly with a colon in it).
        _ => url,
    };
    Ok(path)
}

/// The URL without the password of any `user:password@` part, and without its query
/// (PostgreSQL URLs may carry `?password=…`).
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, _)) => (r, "?…"),
        None => (rest, ""),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}{query}")
}
