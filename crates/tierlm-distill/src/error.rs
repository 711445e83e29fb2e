//! The crate's error type. Database errors name the database (file path or
//! `:memory:`) and the operation, so a log line alone says what failed where.

use std::path::PathBuf;

/// Why a distillation operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DistillError {
    /// The directory for a database or model file could not be created, or a file
    /// could not be read or written.
    #[error("distill: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// The database rejected an operation.
    #[error("distill store {location}: cannot {op}: {source}")]
    Database {
        location: String,
        op: &'static str,
        source: rusqlite::Error,
    },

    /// The database was written by a newer tierlm.
    #[error(
        "distill store {location}: schema version {found} is newer than the {supported} this \
         tierlm knows"
    )]
    NewerSchema {
        location: String,
        found: i64,
        supported: i64,
    },

    /// The database holds a value this crate never writes.
    #[error("distill store {location}: unexpected data: {detail}")]
    Corrupt { location: String, detail: String },

    /// A caller passed something unusable (empty label set, wrong embedding size, …).
    #[error("distill: {0}")]
    Invalid(String),

    /// A student file or a teacher reply did not parse.
    #[error("distill: cannot parse {what}: {detail}")]
    Parse { what: &'static str, detail: String },
}
