//! The request ledger: one row per inference request — who, which route and model,
//! tokens, latency, status and exact prices, never message content — and the usage
//! reports built from it (`GET /v1/usage`, `tierlm report`): spend, local against
//! cloud, what the all-frontier baseline would have cost, and the savings.
//!
//! Money is whole pico-dollars in integers ([`PicoUsd`]). Storage sits behind the
//! synchronous [`LedgerStore`] and [`KeyStore`] traits with two backends: SQLite
//! embedded ([`SqliteLedger`], the default) and PostgreSQL ([`PostgresLedger`], for
//! replicas sharing one database). Both run the same portable SQL ([`sql`]) and pass
//! the same test suites ([`suite`], [`suite_keys`]; feature `test-suite`).
//!
//! The same database holds the gateway's virtual keys ([`KeyStore`], see [`keys`]);
//! [`open_store`] opens one connection serving both traits ([`Store`]).

mod error;
pub mod keys;
mod money;
mod postgres;
mod queue;
pub mod sql;
mod sqlite;
mod sqlite_keys;
mod store;
mod usage;

#[cfg(any(test, feature = "test-suite"))]
pub mod suite;
#[cfg(any(test, feature = "test-suite"))]
pub mod suite_keys;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod keys_tests;

#[cfg(test)]
mod queue_tests;

#[cfg(test)]
mod postgres_tests;

use std::path::{Path, PathBuf};

pub use error::{BoxError, LedgerError};
pub use keys::{ct_eq, BudgetPeriod, KeyRecord, KeyStore, NewKey};
pub use money::{format_usd, PicoUsd, PICO_PER_USD};
pub use postgres::{PostgresLedger, POOL_SIZE as POSTGRES_POOL_SIZE};
pub use sqlite::{enable_wal as sqlite_enable_wal, SqliteLedger, Synchronous};
pub use store::LedgerStore;
pub use usage::{GroupBy, Row, UsageQuery, UsageReport, UsageTotals};

/// A store of both ledger rows and virtual keys: what the gateway holds, one
/// connection for both. Every type with both traits is one; a `dyn Store` coerces to
/// `dyn LedgerStore` or `dyn KeyStore` where only one side is needed.
pub trait Store: LedgerStore + KeyStore {}

impl<T: LedgerStore + KeyStore> Store for T {}

/// Opens the ledger a database URL names, bringing its schema up to date:
///
/// - `sqlite://PATH`, `sqlite:PATH` or a plain `PATH` → [`SqliteLedger::open`]
///   (`sqlite://data/tierlm.db` is relative, `sqlite:///var/lib/tierlm.db` absolute);
///   `?synchronous=normal` trades power-loss durability for no disk sync per commit
///   (see [`Synchronous`]);
/// - `sqlite::memory:`, `sqlite://:memory:` or `:memory:` → an in-memory ledger;
/// - `postgres://…` / `postgresql://…` → [`PostgresLedger::open`].
pub fn open(database_url: &str) -> Result<Box<dyn LedgerStore>, LedgerError> {
    let store: Box<dyn LedgerStore> = open_store(database_url)?;
    Ok(store)
}

/// Opens the store a database URL names, rows and keys in one place; URLs as for
/// [`open`]. Share it with `Arc::from(open_store(url)?)`.
pub fn open_store(database_url: &str) -> Result<Box<dyn Store>, LedgerError> {
    Ok(match backend(database_url)? {
        Backend::Sqlite(l) => Box::new(l),
        Backend::Postgres(l) => l,
    })
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The database, without any password.
    pub location: String,
    /// Migrations applied now (0: it was up to date).
    pub applied: usize,
    /// The schema version after.
    pub version: i64,
}

/// Opens (creating a SQLite file if need be) the database a URL names and applies
/// the migrations it lacks: what the server does at start-up, for `tierlm migrate`.
pub fn migrate(database_url: &str) -> Result<Migrated, LedgerError> {
    Ok(match backend(database_url)? {
        Backend::Sqlite(l) => Migrated {
            location: l.location().to_string(),
            applied: l.migrations_applied(),
            version: l.schema_version()?,
        },
        Backend::Postgres(l) => Migrated {
            location: l.location().to_string(),
            applied: l.migrations_applied(),
            version: l.schema_version()?,
        },
    })
}

/// The file a database URL names; `None` for an in-memory or PostgreSQL database.
/// The URL is checked as [`open`] checks it, but nothing is opened or created.
pub fn database_file(database_url: &str) -> Result<Option<PathBuf>, LedgerError> {
    Ok(match parse_url(database_url)? {
        Target::Sqlite(path, _) => (path != ":memory:").then(|| PathBuf::from(path)),
        Target::Postgres(_) => None,
    })
}

/// An opened backend.
enum Backend {
    Sqlite(SqliteLedger),
    Postgres(Box<PostgresLedger>),
}

/// The database a URL names, opened (see [`open`]).
fn backend(database_url: &str) -> Result<Backend, LedgerError> {
    Ok(match parse_url(database_url)? {
        Target::Sqlite(":memory:", _) => Backend::Sqlite(SqliteLedger::open_in_memory()?),
        Target::Sqlite(path, sync) => {
            Backend::Sqlite(SqliteLedger::open_with(Path::new(path), sync)?)
        }
        Target::Postgres(url) => {
            Backend::Postgres(Box::new(PostgresLedger::open(url, redact(url))?))
        }
    })
}

/// Where a database URL points.
enum Target<'a> {
    /// A SQLite file path, or `:memory:`, and how commits reach the disk.
    Sqlite(&'a str, Synchronous),
    /// A PostgreSQL URL, as given (trimmed).
    Postgres(&'a str),
}

/// A database URL, checked and split by backend.
fn parse_url(database_url: &str) -> Result<Target<'_>, LedgerError> {
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
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let (path, sync) =
                match rest.split_once('?') {
                    None => (rest, Synchronous::Full),
                    Some((path, "synchronous=full")) => (path, Synchronous::Full),
                    Some((path, "synchronous=normal")) => (path, Synchronous::Normal),
                    Some(_) => return Err(invalid(
                        "the only parameter is synchronous=full (default) or synchronous=normal",
                    )),
                };
            if path.is_empty() {
                return Err(invalid("it names no file, e.g. sqlite://data/tierlm.db"));
            }
            return Ok(Target::Sqlite(path, sync));
        }
        Some("postgres" | "postgresql") => {
            if !url[url.find(':').unwrap_or(0)..].starts_with("://") {
                return Err(invalid("write postgres://USER:PASSWORD@HOST:PORT/DATABASE"));
            }
            return Ok(Target::Postgres(url));
        }
        Some(other) if url[other.len() + 1..].starts_with("//") => {
            return Err(invalid(&format!(
                "unknown scheme `{other}`; use sqlite://PATH, postgres://… or a plain path"
            )));
        }
        // A plain path (possibly with a colon in it).
        _ => url,
    };
    Ok(Target::Sqlite(path, Synchronous::Full))
}

/// Unix milliseconds now (0 before 1970, saturating far in the future).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The URL without the password of any `user:password@` part, and without its query
/// (PostgreSQL URLs may carry `?password=…`).
pub(crate) fn redact(url: &str) -> String {
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
