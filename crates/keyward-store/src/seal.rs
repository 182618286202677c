//! Sealing of secrets under a master key kept outside the database (AES-256-GCM).
//!
//! API key secrets must be recoverable (the server needs them to compute HMACs), so they are
//! encrypted, not hashed. The master key lives in a file created with mode 0600 in the data
//! directory on first start, or comes from `KEYWARD_MASTER_KEY` (base64 of 32 bytes). Each
//! sealed value binds its purpose and row through the AEAD's associated data, so a sealed
//! secret copied to another row does not open.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::StoreError;

const NONCE_LEN: usize = 12;
/// The master key file's name in the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// The AES-256-GCM key that seals secrets. `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A master key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        MasterKey(Aes256Gcm::new_from_slice(bytes).expect("AES-256 takes a 32-byte key"))
    }

    /// Parses the base64 form used by the key file and `KEYWARD_MASTER_KEY`.
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| StoreError::MasterKey("not valid base64".into()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| StoreError::MasterKey("must be 32 bytes (44 base64 characters)".into()))?;
        Ok(Self::from_bytes(&bytes))
    }

    /// Reads `<dir>/master.key`, or creates it with a new random key (mode 0600) when absent.
    /// Refuses a key file that others can read.
    pub fn load_or_create(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(MASTER_KEY_FILE);
        let fail = |what: &str, e: std::io::Error| {
            StoreError::MasterKey(format!("{what} {}: {e}", path.display()))
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                check_private(&path)?;
                Self::from_base64(&text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| fail("cannot create the directory of", e))?;
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes)
                    .map_err(|e| StoreError::MasterKey(format!("no randomness: {e}")))?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&path).map_err(|e| fail("cannot create", e))?;
                writeln!(file, "{}", STANDARD.encode(bytes))
                    .map_err(|e| fail("cannot write", e))?;
                file.sync_all().map_err(|e| fail("cannot sync", e))?;
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) => Err(fail("cannot read", e)),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (associated data): nonce || ciphertext || tag.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system provides randomness");
        let sealed = self
            .0
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: context })
            .expect("AES-GCM encrypts any message of this size");
        [&nonce[..], &sealed].concat()
    }

    /// Decrypts what [`MasterKey::seal`] produced with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < NONCE_LEN {
            return Err(StoreError::Unseal);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| StoreError::Unseal)?;
        self.0
            .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: context })
            .map_err(|_| StoreError::Unseal)
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| StoreError::MasterKey(format!("cannot stat {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(StoreError::MasterKey(format!(
            "{} is readable by others (mode {:o}); run `chmod 600` on it",
            path.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let sealed = key.seal(b"kwsec_secret", b"api-key/1");
        assert_eq!(key.open(&sealed, b"api-key/1").unwrap(), b"kwsec_secret");
        assert!(matches!(key.open(&sealed, b"api-key/2"), Err(StoreError::Unseal)));
        assert!(matches!(
            MasterKey::from_bytes(&[8; 32]).open(&sealed, b"api-key/1"),
            Err(StoreError::Unseal)
        ));
        assert!(matches!(key.open(&sealed[..5], b"api-key/1"), Err(StoreError::Unseal)));
        assert_ne!(key.seal(b"x", b"c"), key.seal(b"x", b"c"), "fresh nonce each time");
    }

    #[test]
    fn key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = MasterKey::load_or_create(dir.path()).unwrap();
        let sealed = first.seal(b"s", b"c");
        let again = MasterKey::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open(&sealed, b"c").unwrap(), b"s");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(MASTER_KEY_FILE);
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(MasterKey::load_or_create(dir.path()), Err(StoreError::MasterKey(_))));
        }
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", MasterKey::from_bytes(&[1; 32])), "MasterKey(<redacted>)");
    }
}
