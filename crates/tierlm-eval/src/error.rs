//! The one error type of the crate. Every variant names the file it came from
//! (or `<workload>` / `<observations>` for text parsed from memory) and, where
//! it is about one line of a JSONL file, the 1-based line number, so a bad
//! workload is fixed by reading the message alone.

use std::path::PathBuf;

/// Errors from reading or writing workloads and observation files.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// One line of a JSONL file is malformed or breaks a workload rule.
    #[error("{origin}:{line}: {message}")]
    Line {
        origin: String,
        line: usize,
        message: String,
    },
    /// A whole-file problem (for example an empty workload).
    #[error("{origin}: {message}")]
    File { origin: String, message: String },
}

impl EvalError {
    pub(crate) fn line(origin: &str, line: usize, message: impl Into<String>) -> Self {
        Self::Line {
            origin: origin.to_string(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn file(origin: &str, message: impl Into<String>) -> Self {
        Self::File {
            origin: origin.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
