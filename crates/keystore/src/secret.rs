//! Secret byte containers.
//!
//! Invariant: every secret held by this crate lives in a [`Zeroizing`] buffer that is wiped on
//! drop, and no secret type prints its contents through `Debug` (there is no `Display`).

use std::fmt;

use zeroize::Zeroizing;

/// A passphrase that unlocks a seed file; wiped on drop, redacted in `Debug`.
///
/// The bytes are used exactly as given (no Unicode normalization, no trimming): callers that read
/// a passphrase from a file decide how to strip a trailing newline.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    /// Wraps a passphrase string (its UTF-8 bytes are the KDF input).
    pub fn new(passphrase: String) -> Self {
        Self(Zeroizing::new(passphrase.into_bytes()))
    }

    /// Wraps raw passphrase bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The passphrase bytes (the KDF input).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// True if the passphrase is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for Passphrase {
    /// Constant-time comparison (used to check that a passphrase typed twice matches).
    fn eq(&self, other: &Self) -> bool {
        // Length is not secret-dependent enough to matter; the content comparison does not
        // short-circuit.
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl Eq for Passphrase {}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Secret bytes (a decrypted payload, a derived key); wiped on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`; they are wiped when the value is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new zeroizing buffer (the caller still owns and must wipe its copy).
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let p = Passphrase::new("correct horse battery staple".to_owned());
        let s = SecretBytes::from_slice(b"abandon abandon about");
        let dp = format!("{p:?} {p:#?}");
        let ds = format!("{s:?} {s:#?}");
        assert!(!dp.contains("horse"), "{dp}");
        assert!(!ds.contains("abandon"), "{ds}");
        assert!(dp.contains("redacted") && ds.contains("redacted"));
    }

    #[test]
    fn passphrase_equality() {
        let a = Passphrase::new("abc".into());
        assert_eq!(a, Passphrase::from_bytes(b"abc".to_vec()));
        assert_ne!(a, Passphrase::new("abd".into()));
        assert_ne!(a, Passphrase::new("abcd".into()));
    }
}
