//! Exit codes and the one error type every command returns.
//!
//! Invariant: each failure class has exactly one exit code, listed in [`EXIT_CODES_HELP`] (shown
//! by `--help`); a [`CliError`] message is one line and never contains a secret.

use std::fmt;

use mona_keystore::{OpenError, OpenErrorClass};

/// The process exit codes. Stable: scripts depend on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// Unexpected failure (I/O, out of memory, internal).
    Failure = 1,
    /// Bad command line. clap exits with 2 itself; the variant documents the code.
    #[allow(dead_code)]
    Usage = 2,
    /// Bad input: invalid mnemonic, path, address, passphrase file, mismatched passphrases.
    BadInput = 3,
    /// An address of another coin or another Monacoin network.
    WrongNetworkAddress = 4,
    /// A wallet (or output file) already exists where one would be created; nothing changed.
    AlreadyExists = 5,
    /// No wallet in the given directory.
    NoWallet = 6,
    /// The wallet belongs to another network than `--network`.
    WalletNetworkMismatch = 7,
    /// Wrong passphrase for the wallet's seed file.
    WrongPassphrase = 10,
    /// The seed file is corrupted or was tampered with.
    SeedTampered = 11,
    /// The seed file is truncated.
    SeedTruncated = 12,
    /// The file is not a seed file.
    NotASeedFile = 13,
    /// The seed file's format version (or algorithm) is not supported by this build.
    SeedUnsupportedVersion = 14,
}

/// The exit code table appended to `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
   0  success
   1  unexpected failure (I/O, out of memory)
   2  bad command line
   3  bad input (mnemonic, derivation path, address, passphrase file, passphrases differ)
   4  address of another coin or another Monacoin network
   5  wallet or output file already exists (nothing was changed)
   6  no wallet in the given directory
   7  wallet belongs to another network than --network
  10  wrong passphrase
  11  seed file corrupted or tampered with
  12  seed file truncated
  13  not a seed file
  14  unsupported seed file version";

/// A command failure: an exit code and a one-line message for stderr.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub exit: Exit,
    /// The message (one line, no secrets).
    pub message: String,
}

impl CliError {
    /// An error with an explicit class.
    pub fn new(exit: Exit, message: impl fmt::Display) -> Self {
        Self {
            exit,
            message: message.to_string(),
        }
    }

    /// Bad input.
    pub fn bad_input(message: impl fmt::Display) -> Self {
        Self::new(Exit::BadInput, message)
    }

    /// Unexpected failure.
    pub fn failure(message: impl fmt::Display) -> Self {
        Self::new(Exit::Failure, message)
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        self.exit as u8
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep it to one line whatever the source said.
        f.write_str(&self.message.replace(['\n', '\r'], " "))
    }
}

impl From<OpenError> for CliError {
    fn from(e: OpenError) -> Self {
        let exit = match e.class() {
            OpenErrorClass::NotASeedFile => Exit::NotASeedFile,
            OpenErrorClass::UnsupportedVersion => Exit::SeedUnsupportedVersion,
            OpenErrorClass::Truncated => Exit::SeedTruncated,
            OpenErrorClass::Tampered => Exit::SeedTampered,
            OpenErrorClass::WrongPassphrase => Exit::WrongPassphrase,
            _ => Exit::Failure,
        };
        Self::new(exit, e)
    }
}
