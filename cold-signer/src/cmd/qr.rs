//! `cold-signer qr encode|decode` (carry any PSBT across the air gap as animated QR codes) and
//! the QR flags and helpers `export`, `inspect` and `sign` share: [`QrArgs`],
//! [`write_qr_out`], [`read_psbt_qr`].
//!
//! The implementation is shared with the other binary: [`mona_airgap::cli`]. This module only
//! maps its refusal classes to this binary's documented exit codes (QR classes 20-28).

use std::path::Path;

use mona_airgap::cli::{self, QrCliError, QrFailure};
use mona_airgap::{Caps, Payload, QrOutput};

pub use mona_airgap::cli::{QrArgs, QrCmd};

use crate::exit::{CliError, Exit};

/// This binary's exit code for a QR refusal class.
pub fn exit_for(failure: QrFailure) -> Exit {
    match failure {
        QrFailure::Usage => Exit::BadInput,
        QrFailure::BadInput => Exit::BadInput,
        QrFailure::AlreadyExists => Exit::AlreadyExists,
        QrFailure::NoCode => Exit::QrNoCode,
        QrFailure::NotUr => Exit::QrNotUr,
        QrFailure::Corrupted => Exit::QrCorrupted,
        QrFailure::Checksum => Exit::QrChecksum,
        QrFailure::Mixed => Exit::QrMixed,
        QrFailure::TooLarge => Exit::QrTooLarge,
        QrFailure::TooManyFrames => Exit::QrTooManyFrames,
        QrFailure::Incomplete => Exit::QrIncomplete,
        QrFailure::WrongContent => Exit::QrWrongContent,
        _ => Exit::Failure,
    }
}

impl From<QrCliError> for CliError {
    fn from(e: QrCliError) -> Self {
        CliError::new(exit_for(e.failure), e.message)
    }
}

/// Runs `qr encode` / `qr decode`.
pub fn run(json: bool, cmd: &QrCmd) -> Result<(), CliError> {
    Ok(cli::run(json, cmd)?)
}

/// Refuses (before any work) when `dir` already holds QR output.
pub fn ensure_qr_dir_free(dir: &Path) -> Result<(), CliError> {
    Ok(cli::ensure_qr_dir_free(dir)?)
}

/// Writes `payload` as QR frames into `dir` (when given) and plays it with `--qr-show`.
pub fn write_qr_out(
    dir: Option<&Path>,
    payload: &Payload,
    args: &QrArgs,
    json: bool,
) -> Result<Option<QrOutput>, CliError> {
    Ok(cli::write_qr_out(dir, payload, args, json)?)
}

/// Decodes QR input at `path` that must be a PSBT.
pub fn read_psbt_qr(path: &Path, caps: &Caps) -> Result<Vec<u8>, CliError> {
    Ok(cli::read_psbt_qr(path, caps)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_classes_have_distinct_exit_codes() {
        let classes = [
            QrFailure::NoCode,
            QrFailure::NotUr,
            QrFailure::Corrupted,
            QrFailure::Checksum,
            QrFailure::Mixed,
            QrFailure::TooLarge,
            QrFailure::TooManyFrames,
            QrFailure::Incomplete,
            QrFailure::WrongContent,
        ];
        let mut codes: Vec<i64> = classes.iter().map(|c| exit_for(*c) as i64).collect();
        assert!(codes.iter().all(|c| (20..=28).contains(c)), "{codes:?}");
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), classes.len());
    }
}
