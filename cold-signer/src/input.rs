//! Reading secrets from files and the terminal.
//!
//! Invariant: every secret read here goes straight into a zeroizing buffer; errors name the file
//! but never quote its content.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use mona_keystore::Passphrase;
use zeroize::Zeroizing;

use crate::exit::CliError;

/// Largest secret file read (a 24-word mnemonic with generous whitespace is < 300 bytes).
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Reads a small UTF-8 secret file, dropping one trailing `\n` or `\r\n`.
pub fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<String>, CliError> {
    let file = File::open(path).map_err(|e| {
        CliError::bad_input(format!("cannot read {what} file {}: {e}", path.display()))
    })?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            CliError::bad_input(format!("cannot read {what} file {}: {e}", path.display()))
        })?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(CliError::bad_input(format!(
            "{what} file {} is larger than {MAX_SECRET_FILE} bytes",
            path.display()
        )));
    }
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CliError::bad_input(format!("{what} file {} is not UTF-8", path.display())))?;
    Ok(Zeroizing::new(text.to_owned()))
}

fn nonempty(p: Passphrase, source: &str) -> Result<Passphrase, CliError> {
    if p.is_empty() {
        Err(CliError::bad_input(format!(
            "the wallet passphrase {source} is empty"
        )))
    } else {
        Ok(p)
    }
}

fn prompt(text: &str) -> Result<Passphrase, CliError> {
    rpassword::prompt_password(text)
        .map(Passphrase::new)
        .map_err(|e| {
            CliError::bad_input(format!("cannot read the passphrase from the terminal: {e}"))
        })
}

/// The passphrase that unlocks an existing wallet: from `file`, else one prompt.
pub fn unlock_passphrase(file: Option<&Path>) -> Result<Passphrase, CliError> {
    match file {
        Some(path) => {
            let text = read_secret_file(path, "passphrase")?;
            nonempty(Passphrase::new(text.as_str().to_owned()), "file")
        }
        None => nonempty(prompt("Wallet passphrase: ")?, "typed"),
    }
}

/// The passphrase for a new wallet: from `file`, else prompted twice (both must match).
pub fn new_passphrase(file: Option<&Path>) -> Result<Passphrase, CliError> {
    match file {
        Some(_) => unlock_passphrase(file),
        None => {
            let first = nonempty(prompt("New wallet passphrase: ")?, "typed")?;
            let second = prompt("Repeat the passphrase: ")?;
            if first != second {
                return Err(CliError::bad_input(
                    "the two passphrases differ; nothing was written",
                ));
            }
            Ok(first)
        }
    }
}

/// The optional BIP39 passphrase ("25th word"); empty when no file is given.
pub fn bip39_passphrase(file: Option<&Path>) -> Result<Zeroizing<String>, CliError> {
    match file {
        Some(path) => read_secret_file(path, "bip39 passphrase"),
        None => Ok(Zeroizing::new(String::new())),
    }
}
