//! Writing results: JSON (`--json`) or human text on stdout.
//!
//! Invariant: results go to stdout, diagnostics to stderr; a JSON result is a single object on
//! one line followed by a newline.

use std::io::Write;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::exit::CliError;

/// Serializes `value` to a JSON string held in a zeroizing buffer (it may hold a secret).
pub fn to_json(value: &impl Serialize) -> Result<Zeroizing<String>, CliError> {
    serde_json::to_string(value)
        .map(Zeroizing::new)
        .map_err(|e| CliError::failure(format!("cannot encode json: {e}")))
}

/// Prints `value` as JSON when `json` is set, else the text `human` builds.
pub fn emit<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> Zeroizing<String>,
) -> Result<(), CliError> {
    let text = if json { to_json(value)? } else { human(value) };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush())
        .map_err(|e| CliError::failure(format!("cannot write to stdout: {e}")))
}

/// A secret string field in a result (a mnemonic, a WIF): zeroized on drop, serialized as a
/// plain JSON string, redacted in `Debug`.
pub struct SecretStr(pub Zeroizing<String>);

impl Serialize for SecretStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl std::fmt::Debug for SecretStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An empty text buffer large enough that appending a result never reallocates (a
/// reallocation would leave an unwiped copy of any secret already in it).
pub fn text_buffer() -> Zeroizing<String> {
    Zeroizing::new(String::with_capacity(8 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_str_debug_is_redacted_and_serializes_plainly() {
        let s = SecretStr(Zeroizing::new("all all all".to_owned()));
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(to_json(&s).unwrap().as_str(), "\"all all all\"");
    }
}
