//! RPC credentials: a user/password pair or monacoind's cookie file.
//!
//! Invariant: passwords, cookie secrets and the `Authorization` header derived from them live in
//! zeroizing buffers and never appear in `Debug` output, logs or error messages.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use zeroize::Zeroizing;

/// The user name monacoind writes into its cookie file.
pub const COOKIE_USER: &str = "__cookie__";

/// How the client authenticates to the node.
#[derive(Clone)]
pub enum Auth {
    /// `-rpcuser` / `-rpcpassword` (or an `-rpcauth` entry).
    UserPass {
        /// The RPC user name.
        user: String,
        /// The RPC password (zeroized on drop, never printed).
        password: Zeroizing<String>,
    },
    /// The `.cookie` file the node writes at start (`<datadir>/regtest/.cookie` on regtest). It is
    /// re-read when the node answers 401, because the node writes a new one at every restart.
    CookieFile(PathBuf),
    /// Send no `Authorization` header at all (only useful against a test server).
    None,
}

impl Auth {
    /// User/password credentials.
    pub fn user_pass(user: impl Into<String>, password: impl Into<String>) -> Auth {
        Auth::UserPass {
            user: user.into(),
            password: Zeroizing::new(password.into()),
        }
    }

    /// Cookie-file credentials.
    pub fn cookie_file(path: impl Into<PathBuf>) -> Auth {
        Auth::CookieFile(path.into())
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::UserPass { user, .. } => f
                .debug_struct("UserPass")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Auth::CookieFile(p) => f.debug_tuple("CookieFile").field(p).finish(),
            Auth::None => f.write_str("None"),
        }
    }
}

/// Why the cookie file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// The file does not exist (the node is not running, or is restarting).
    #[error("cookie file {} does not exist (is the node running?)", .0.display())]
    Missing(PathBuf),
    /// The file could not be read.
    #[error("cannot read cookie file {}: {reason}", .path.display())]
    Unreadable {
        /// The cookie file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The file is not `user:secret` on one line (its content is not quoted: it is a secret).
    #[error("cookie file {} is not of the form user:secret", .0.display())]
    Malformed(PathBuf),
}

/// The value of an `Authorization` header (zeroized on drop).
pub(crate) type AuthHeader = Zeroizing<String>;

/// `Basic base64(user:password)`.
pub(crate) fn basic_header(user: &str, password: &str) -> AuthHeader {
    let plain = Zeroizing::new(format!("{user}:{password}"));
    Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(plain.as_bytes())
    ))
}

/// Reads the cookie file and returns the header it yields.
pub(crate) fn read_cookie(path: &Path) -> Result<AuthHeader, CookieError> {
    let content = match std::fs::read(path) {
        Ok(c) => Zeroizing::new(c),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CookieError::Missing(path.to_path_buf()))
        }
        Err(e) => {
            return Err(CookieError::Unreadable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    let text =
        std::str::from_utf8(&content).map_err(|_| CookieError::Malformed(path.to_path_buf()))?;
    // The node writes no trailing newline; tolerate one written by hand.
    let line = text.trim_end_matches(['\r', '\n']);
    match line.split_once(':') {
        Some((user, secret)) if !user.is_empty() && !secret.is_empty() && !line.contains('\n') => {
            Ok(basic_header(user, secret))
        }
        _ => Err(CookieError::Malformed(path.to_path_buf())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_matches_the_recorded_wrong_password() {
        // http/02-wrong-password.json records this exact header for monarpc:wrongpassword.
        assert_eq!(
            basic_header("monarpc", "wrongpassword").as_str(),
            "Basic bW9uYXJwYzp3cm9uZ3Bhc3N3b3Jk"
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let a = Auth::user_pass("monarpc", "hunter2-secret");
        let s = format!("{a:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("monarpc"));
    }

    #[test]
    fn cookie_file_cases() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".cookie");
        assert_eq!(read_cookie(&p), Err(CookieError::Missing(p.clone())));
        std::fs::write(&p, format!("{COOKIE_USER}:{}", "ab".repeat(32))).unwrap();
        let h = read_cookie(&p).unwrap();
        assert_eq!(
            h.as_str(),
            basic_header(COOKIE_USER, &"ab".repeat(32)).as_str()
        );
        std::fs::write(&p, "no-colon-here").unwrap();
        let e = read_cookie(&p).unwrap_err();
        assert_eq!(e, CookieError::Malformed(p.clone()));
        assert!(!e.to_string().contains("no-colon"));
        std::fs::write(&p, "__cookie__:abc\n").unwrap();
        assert_eq!(
            read_cookie(&p).unwrap().as_str(),
            basic_header("__cookie__", "abc").as_str()
        );
    }
}
