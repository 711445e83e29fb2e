//! `tierlm audit verify` and `tierlm audit export`: check the egress audit chain the
//! gateway writes (see `tierlm_guard::audit`) and hand a time range of it to auditors.
//!
//! Exit codes: 0 when the chain is intact (and the export written), 1 when the chain
//! is broken (the first broken line is named), 2 when the file cannot be read, a
//! date is malformed or the output cannot be written.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tierlm_guard::audit::{self, AuditError};

/// Print an error and return its exit code: 1 for a broken chain, else 2.
fn fail(e: &AuditError) -> ExitCode {
    match e {
        AuditError::Broken(link) => {
            eprintln!("audit chain BROKEN at {link}");
            ExitCode::from(1)
        }
        other => {
            eprintln!("error: {other}");
            ExitCode::from(2)
        }
    }
}

pub fn verify(file: &Path) -> ExitCode {
    match audit::verify(file) {
        Ok(report) => match report.first_broken {
            None => {
                println!("audit chain ok: {} entries", report.entries);
                ExitCode::SUCCESS
            }
            Some(link) => {
                println!("audit chain BROKEN at {link}");
                ExitCode::from(1)
            }
        },
        Err(e) => fail(&e),
    }
}

pub fn export(file: &Path, from: Option<&str>, to: Option<&str>, out: Option<&Path>) -> ExitCode {
    let result = match out {
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            audit::export(file, from, to, &mut w)
        }
        Some(out) => export_to_file(file, from, to, out),
    };
    match result {
        Ok(n) => {
            eprintln!("exported {n} audit entries");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Export into `OUT.part`, renamed to `OUT` only once complete, so a refused or failed
/// export leaves no partial file and does not replace an earlier one.
fn export_to_file(
    file: &Path,
    from: Option<&str>,
    to: Option<&str>,
    out: &Path,
) -> Result<u64, AuditError> {
    let mut part = out.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AuditError::Io { path, source }
    };
    let result = File::create(&part)
        .map_err(io_err(&part))
        .and_then(|f| {
            let mut w = BufWriter::new(f);
            let n = audit::export(file, from, to, &mut w)?;
            w.into_inner()
                .map_err(|e| AuditError::Output(e.into_error()))?
                .sync_all()
                .map_err(AuditError::Output)?;
            Ok(n)
        })
        .and_then(|n| fs::rename(&part, out).map(|()| n).map_err(io_err(out)));
    if result.is_err() {
        let _ = fs::remove_file(&part);
    }
    result
}
