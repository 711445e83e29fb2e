//! The ledger's error type. Every message names the database (file path, `:memory:`
//! or the URL with any password removed) or the row, so a log line alone says what
//! failed where. Backend errors are boxed, so the type does not change when another
//! backend (PostgreSQL) arrives.

use std::path::PathBuf;

/// A backend's own error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The directory for a database file could not be created.
    #[error("ledger: cannot create the directory {} for the database: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The database rejected an operation (open, insert, query, …).
    #[error("ledger {location}: cannot {op}: {source}")]
    Database {
        location: String,
        op: &'static str,
        source: BoxError,
    },

    /// A schema migration failed; its transaction was rolled back.
    #[error("ledger {location}: schema migration {version} failed: {source}")]
    Migration {
        location: String,
        version: i64,
        source: BoxError,
    },

    /// The database was written by a newer tierlm.
    #[error(
        "ledger {location}: the database has schema version {found}, newer than the {supported} \
         this tierlm knows; upgrade tierlm or use another database"
    )]
    NewerSchema {
        location: String,
        found: i64,
        supported: i64,
    },

    /// The database holds a value the ledger never writes.
    #[error("ledger {location}: unexpected data: {detail}")]
    Corrupt { location: String, detail: String },

    /// A usage sum does not fit in 64 bits.
    #[error("ledger {location}: the usage sums overflow 64 bits; query a shorter range")]
    Overflow { location: String },

    /// A row value the store cannot hold (money above `i64::MAX` pico-dollars).
    #[error("ledger row {request_id}: {field} = {value} is above the largest storable {max}")]
    OutOfRange {
        request_id: String,
        field: &'static str,
        value: u64,
        max: u64,
    },

    /// A database URL this ledger cannot use.
    #[error("ledger: invalid database URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// A virtual key's settings the store refuses (an empty tenant, a budget above
    /// `i64::MAX` pico-dollars, a model name with a comma, …).
    #[error("ledger: invalid key: {0}")]
    InvalidKey(String),

    /// The system's random source (`/dev/urandom`) could not be read.
    #[error("ledger: cannot read random bytes from {path}: {source}")]
    Random {
        path: &'static str,
        source: std::io::Error,
    },

    /// The SQLite ledger's row queue file (next to the database) failed.
    #[error("ledger queue {}: cannot {op}: {source}", path.display())]
    Queue {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
}
