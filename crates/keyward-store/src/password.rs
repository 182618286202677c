//! Password hashing with argon2id (the `argon2` crate's defaults: m=19 MiB, t=2, p=1).
//!
//! Both functions are CPU-bound for tens of milliseconds: async callers run them on a blocking
//! thread.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::StoreError;

/// The fewest characters a password may have: every password keyward stores, the bootstrap
/// administrator's (`KEYWARD_ADMIN_PASSWORD`) included.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The most bytes a password may have: hashing a megabyte of password would only cost time.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password against keyward's one rule: [`MIN_PASSWORD_CHARS`] characters to
/// [`MAX_PASSWORD_BYTES`] bytes. `Err` says what is wrong, as a sentence for the user.
pub fn check_password(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err("password must have at least 12 characters");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err("password is longer than 1024 bytes");
    }
    Ok(())
}

/// The PHC string of `password` (`$argon2id$v=19$...`), with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| StoreError::PasswordHash)
}

/// Whether `password` matches the PHC string `hash` (constant-time in the hash comparison).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_rule_counts_characters_and_bounds_bytes() {
        assert!(check_password("elevenchars").is_err());
        assert!(check_password("twelve chars").is_ok());
        assert!(check_password("ééééééééééé").is_err(), "11 characters, 22 bytes");
        assert!(check_password(&"x".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }

    #[test]
    fn hashes_verify_only_the_right_password() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsf", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
