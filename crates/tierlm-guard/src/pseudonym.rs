//! Keyed pseudonyms for identifiers that must stay stable but must not be guessable:
//! the `user` and `metadata` values a client sends for its own bookkeeping leave as
//! `EMAIL_3f1c…`, an HMAC-SHA256 of the value under a per-deployment secret.
//!
//! A bare hash would not do: e-mail addresses and phone numbers come from small,
//! enumerable spaces, so anyone holding the provider's logs could hash candidate
//! values until one matches. With the key, only the deployment can link a pseudonym
//! to a person. The key is 32 random bytes kept in a file readable by its owner only
//! (`[guard] pseudonym_key_path`, by default next to the egress audit); replicas that
//! share it give the same pseudonym for the same value, and a new key starts a new
//! series of pseudonyms.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

const KEY_BYTES: usize = 32;
const BLOCK_BYTES: usize = 64;
/// Hex digits of the MAC kept in a pseudonym: 64 bits, collision-free in practice
/// for the users of one deployment.
const PSEUDONYM_HEX: usize = 16;

/// Makes pseudonyms under one secret key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Pseudonyms {
    key: [u8; KEY_BYTES],
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms { key: <hidden> }")
    }
}

impl Pseudonyms {
    pub fn with_key(key: [u8; KEY_BYTES]) -> Self {
        Self { key }
    }

    /// A key from the operating system's random source, for this process only.
    pub fn ephemeral() -> std::io::Result<Self> {
        let mut key = [0u8; KEY_BYTES];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
        Ok(Self { key })
    }

    /// The key stored at `path` (64 hex digits), or a new random one written there
    /// with owner-only permissions when the file does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        match std::fs::read_to_string(path) {
            Ok(text) => parse_key(text.trim())
                .map(Self::with_key)
                .ok_or_else(|| format!("{shown}: expected {} hex digits", 2 * KEY_BYTES)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let new = Self::ephemeral().map_err(|e| format!("random source: {e}"))?;
                match write_new_key(path, &new.key) {
                    Ok(()) => Ok(new),
                    // another process created it first: use theirs
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(format!("{shown}: {e}")),
                }
            }
            Err(e) => Err(format!("{shown}: {e}")),
        }
    }

    /// `{kind}_{16 hex digits}`: the same value gives the same pseudonym under the
    /// same key.
    pub fn pseudonym(&self, kind: &str, value: &str) -> String {
        let mac = self.mac(value.as_bytes());
        let mut out = String::with_capacity(kind.len() + 1 + PSEUDONYM_HEX);
        out.push_str(kind);
        out.push('_');
        for b in &mac[..PSEUDONYM_HEX / 2] {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// HMAC-SHA256 (RFC 2104) of `message` under the key.
    fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut block = [0u8; BLOCK_BYTES];
        block[..KEY_BYTES].copy_from_slice(&self.key);
        let pad = |byte: u8| block.map(|b| b ^ byte);
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }
}

fn parse_key(hex: &str) -> Option<[u8; KEY_BYTES]> {
    if hex.len() != 2 * KEY_BYTES || !hex.is_ascii() {
        return None;
    }
    let mut key = [0u8; KEY_BYTES];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

/// Creates `path` (never overwriting) readable by its owner only, and syncs it, so a
/// crash cannot leave a half-written key that would silently change every pseudonym.
fn write_new_key(path: &Path, key: &[u8; KEY_BYTES]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    file.write_all(format!("{hex}\n").as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_mac_is_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2 uses a 4-byte key; a 32-byte key zero-padded to the
        // block is the same HMAC, so pad "Jefe" with zeros.
        let mut key = [0u8; KEY_BYTES];
        key[..4].copy_from_slice(b"Jefe");
        let mac = Pseudonyms::with_key(key).mac(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn pseudonyms_are_stable_per_key_and_differ_across_keys() {
        let a = Pseudonyms::with_key([7; KEY_BYTES]);
        let b = Pseudonyms::with_key([8; KEY_BYTES]);
        let p = a.pseudonym("EMAIL", "jane@example.com");
        assert_eq!(p, a.pseudonym("EMAIL", "jane@example.com"));
        assert_eq!(p.len(), "EMAIL_".len() + PSEUDONYM_HEX);
        assert_ne!(p, a.pseudonym("EMAIL", "john@example.com"));
        assert_ne!(p, b.pseudonym("EMAIL", "jane@example.com"));
        // not the bare sha256 prefix that anyone could compute
        let bare = hex(&Sha256::digest(b"jane@example.com"));
        assert!(!p.ends_with(&bare[..PSEUDONYM_HEX]), "{p}");
    }

    #[test]
    fn the_key_file_is_created_once_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("tierlm-pseudonym-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub").join("guard.key");
        let first = Pseudonyms::load_or_create(&path).unwrap();
        let again = Pseudonyms::load_or_create(&path).unwrap();
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        let err = Pseudonyms::load_or_create(&path).unwrap_err();
        assert!(err.contains("64 hex digits"), "{err}");
        assert!(!err.contains("not a key"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_output_hides_the_key() {
        let shown = format!("{:?}", Pseudonyms::with_key([0xab; KEY_BYTES]));
        assert!(!shown.contains("ab"), "{shown}");
    }
}
