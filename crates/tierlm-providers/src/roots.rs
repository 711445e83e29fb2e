//! Certificate authorities a provider's TLS connections trust beyond the public ones.
//!
//! Public providers are verified against the Mozilla roots that ship in the binary
//! (webpki-roots). A server behind a company's own certificate authority (a vLLM or
//! llama.cpp server on the internal network, a corporate API gateway) needs that
//! authority too: `[[providers]] ca_file` names a PEM file of one or more
//! certificates, read and checked once at start-up, so a wrong path or a file that is
//! not a certificate stops the server with a message instead of failing every request.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Extra trusted roots, read from a PEM file.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraRoots {
    path: PathBuf,
    certs: Vec<CertificateDer<'static>>,
}

impl ExtraRoots {
    /// Reads every `CERTIFICATE` block of the PEM file at `path`; each must be a
    /// certificate rustls accepts as a trust anchor.
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let pem = std::fs::read(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("`{shown}` is not a PEM certificate file: {e}"))?;
        if certs.is_empty() {
            return Err(format!(
                "`{shown}` holds no `-----BEGIN CERTIFICATE-----` block"
            ));
        }
        let mut store = rustls::RootCertStore::empty();
        for (i, cert) in certs.iter().enumerate() {
            store.add(cert.clone()).map_err(|e| {
                format!(
                    "certificate {} of `{shown}` cannot be a trust anchor: {e}",
                    i + 1
                )
            })?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            certs,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tierlm-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_missing_or_empty_or_broken_file_is_refused_with_its_path() {
        let missing = Path::new("/nonexistent/ca.pem");
        assert!(ExtraRoots::load(missing)
            .unwrap_err()
            .contains("/nonexistent/ca.pem"));

        let empty = write("empty.pem", "just text, no certificate\n");
        assert!(ExtraRoots::load(&empty)
            .unwrap_err()
            .contains("no `-----BEGIN CERTIFICATE-----`"));

        // Base64 that decodes, but to bytes that are no X.509 certificate.
        let junk = write(
            "junk.pem",
            "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
        );
        assert!(ExtraRoots::load(&junk)
            .unwrap_err()
            .contains("cannot be a trust anchor"));

        let bad_base64 = write(
            "bad.pem",
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        );
        assert!(ExtraRoots::load(&bad_base64).is_err());
    }
}
