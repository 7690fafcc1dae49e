//! Secrets the daemon handles: the operator API token, passphrases read from files or the
//! terminal, and a constant-time comparison.
//!
//! Invariant: every secret lives in a zeroizing buffer and prints as `<redacted>` in `Debug`;
//! errors name the file a secret came from, never its content.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use mona_keystore::Passphrase;
use rand::RngCore;
use zeroize::Zeroizing;

/// Length of the API token in bytes (written as 64 hex digits).
pub const TOKEN_BYTES: usize = 32;
/// Largest secret file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// differ. Lengths are not secret here (tokens and hashes have fixed lengths).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Why a secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read {what} file {path}: {reason}")]
    Read {
        /// What the file holds.
        what: &'static str,
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The content has the wrong form (the content itself is never quoted).
    #[error("{what} in {path} is malformed: {reason}")]
    Malformed {
        /// What the file holds.
        what: &'static str,
        /// The file.
        path: String,
        /// What is wrong, without the content.
        reason: &'static str,
    },
    /// The terminal prompt failed or the two entries differ.
    #[error("{0}")]
    Prompt(String),
}

/// Reads a small UTF-8 secret file, dropping one trailing `\n` or `\r\n`.
pub fn read_secret_file(path: &Path, what: &'static str) -> Result<Zeroizing<String>, SecretError> {
    let err = |reason: String| SecretError::Read {
        what,
        path: path.display().to_string(),
        reason,
    };
    let file = File::open(path).map_err(|e| err(e.to_string()))?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(err(format!("larger than {MAX_SECRET_FILE} bytes")));
    }
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| SecretError::Malformed {
        what,
        path: path.display().to_string(),
        reason: "not UTF-8",
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// The hot seed passphrase: from `file`, else prompted (twice when `confirm`).
pub fn passphrase(file: Option<&Path>, confirm: bool) -> Result<Passphrase, SecretError> {
    let p = match file {
        Some(path) => Passphrase::new(read_secret_file(path, "passphrase")?.as_str().to_owned()),
        None => {
            let prompt = |t: &str| {
                rpassword::prompt_password(t)
                    .map(Passphrase::new)
                    .map_err(|e| {
                        SecretError::Prompt(format!(
                            "cannot read the passphrase from the terminal: {e}"
                        ))
                    })
            };
            let first = prompt("Hot seed passphrase: ")?;
            if confirm {
                let second = prompt("Repeat the passphrase: ")?;
                if first != second {
                    return Err(SecretError::Prompt(
                        "the two passphrases differ; nothing was written".into(),
                    ));
                }
            }
            first
        }
    };
    if p.is_empty() {
        return Err(SecretError::Prompt(
            "the hot seed passphrase is empty".into(),
        ));
    }
    Ok(p)
}

/// The operator API token: 32 random bytes, stored as hex in `api.token` (mode 0600).
#[derive(Clone)]
pub struct ApiToken(Zeroizing<[u8; TOKEN_BYTES]>);

impl ApiToken {
    /// A fresh random token.
    pub fn generate() -> ApiToken {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        ApiToken(bytes)
    }

    /// Parses 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Option<ApiToken> {
        let text = text.trim();
        if text.len() != 2 * TOKEN_BYTES {
            return None;
        }
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        hex::decode_to_slice(text, bytes.as_mut()).ok()?;
        Some(ApiToken(bytes))
    }

    /// Reads a token file.
    pub fn load(path: &Path) -> Result<ApiToken, SecretError> {
        let text = read_secret_file(path, "API token")?;
        ApiToken::from_hex(&text).ok_or_else(|| SecretError::Malformed {
            what: "API token",
            path: path.display().to_string(),
            reason: "expected 64 hex digits",
        })
    }

    /// The token as 64 lower-case hex digits (for the file and the `Authorization` header).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(&self.0[..]))
    }

    /// Whether `presented` (the text after `Bearer `) is this token, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let mut given = Zeroizing::new([0u8; TOKEN_BYTES]);
        let parsed = presented.len() == 2 * TOKEN_BYTES
            && hex::decode_to_slice(presented, given.as_mut()).is_ok();
        // Compare even when parsing failed, so the time does not tell a malformed token apart.
        let equal = ct_eq(given.as_ref(), self.0.as_ref());
        parsed && equal
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_cases() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    proptest::proptest! {
        #[test]
        fn token_match_never_panics(s in "\\PC{0,80}") {
            let t = ApiToken::generate();
            proptest::prop_assert!(!t.matches(&s) || s == t.to_hex().as_str());
            let _ = ApiToken::from_hex(&s);
        }
    }

    #[test]
    fn token_round_trip_and_match() {
        let t = ApiToken::generate();
        let hex = t.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(t.matches(&hex));
        assert!(ApiToken::from_hex(&hex).unwrap().matches(&hex));
        let mut other = hex.to_string();
        other.replace_range(63.., if hex.ends_with('0') { "1" } else { "0" });
        assert!(!t.matches(&other));
        assert!(!t.matches(""));
        assert!(!t.matches(&hex[..62]));
        assert!(!t.matches(&"zz".repeat(32)));
        assert!(!format!("{t:?}").contains(hex.as_str()));
    }
}
