//! Certificate authorities a provider's TLS connections trust beyond the public ones.
//!
//! Public providers are verified against the Mozilla roots that ship in the binary
//! (webpki-roots). A server behind a company's own certificate authority (a vLLM or
//! llama.cpp server on the internal network, a corporate API gateway, a proxy that
//! inspects TLS) needs that authority too. Two ways, both read and checked once at
//! start-up, so a wrong path stops the server with a message instead of failing every
//! request: `[[providers]] ca_file` names a PEM file for one provider, and the
//! `SSL_CERT_FILE` environment variable (what OpenSSL, curl and Python honour) names a
//! bundle trusted by every `https://` provider.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Extra trusted roots, read from PEM files.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraRoots {
    /// The files the roots were read from (for `Debug`).
    sources: Vec<PathBuf>,
    certs: Vec<CertificateDer<'static>>,
}

/// Every `CERTIFICATE` block of the PEM file at `path`.
fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
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
    Ok(certs)
}

/// Whether rustls takes `cert` as a trust anchor.
fn usable(cert: &CertificateDer<'static>) -> Result<(), rustls::Error> {
    rustls::RootCertStore::empty().add(cert.clone())
}

impl ExtraRoots {
    /// Reads a provider's `ca_file`: every certificate in it must be one rustls accepts
    /// as a trust anchor.
    pub fn load(path: &Path) -> Result<Self, String> {
        let certs = read_pem(path)?;
        for (i, cert) in certs.iter().enumerate() {
            usable(cert).map_err(|e| {
                format!(
                    "certificate {} of `{}` cannot be a trust anchor: {e}",
                    i + 1,
                    path.display()
                )
            })?;
        }
        Ok(Self {
            sources: vec![path.to_path_buf()],
            certs,
        })
    }

    /// Reads a system bundle (`SSL_CERT_FILE`). Distribution bundles can carry a few
    /// certificates rustls cannot use (old encodings); they are skipped, as curl and
    /// rustls-native-certs do, but at least one must be usable.
    pub fn load_bundle(path: &Path) -> Result<Self, String> {
        let certs: Vec<_> = read_pem(path)?
            .into_iter()
            .filter(|c| usable(c).is_ok())
            .collect();
        if certs.is_empty() {
            return Err(format!(
                "no certificate in `{}` can be a trust anchor",
                path.display()
            ));
        }
        Ok(Self {
            sources: vec![path.to_path_buf()],
            certs,
        })
    }

    /// These roots and `other`'s.
    #[must_use]
    pub fn and(mut self, other: Self) -> Self {
        self.sources.extend(other.sources);
        self.certs.extend(other.certs);
        self
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
        // A bundle skips what it cannot use, but not everything.
        assert!(ExtraRoots::load_bundle(&junk)
            .unwrap_err()
            .contains("no certificate"));
        assert!(ExtraRoots::load_bundle(missing).is_err());
    }
}
