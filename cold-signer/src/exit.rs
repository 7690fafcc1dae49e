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
    /// Bad command line (clap's own code).
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
    /// QR input: no QR code found (no images, an unreadable image).
    QrNoCode = 20,
    /// QR input: a QR code that is not a UR of an accepted type.
    QrNotUr = 21,
    /// QR input: a corrupted frame (bad checksum word, bad CBOR, self-contradicting header).
    QrCorrupted = 22,
    /// QR input: all fragments arrived but the message checksum does not match.
    QrChecksum = 23,
    /// QR input: frames from two different messages.
    QrMixed = 24,
    /// QR input or output: the message (or an image) is over the size cap.
    QrTooLarge = 25,
    /// QR input: more frames than the cap.
    QrTooManyFrames = 26,
    /// QR input: not enough frames to finish; capture more.
    QrIncomplete = 27,
    /// QR input: complete, but not the expected kind, or not a valid PSBT / export.
    QrWrongContent = 28,
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
  14  unsupported seed file version
QR input refusals (nothing is written):
  20  no qr code found (no images, unreadable image)
  21  qr code is not a ur of an accepted type (ur:crypto-psbt, ur:psbt, ur:bytes, base64 psbt)
  22  corrupted qr frame
  23  qr message checksum mismatch
  24  qr frames from two different messages
  25  qr message or image over the size cap
  26  more qr frames than the cap
  27  incomplete: not enough qr frames, capture more
  28  qr carries the wrong kind of payload or an invalid psbt / export";

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
