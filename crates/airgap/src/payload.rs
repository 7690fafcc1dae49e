//! What crosses the air gap: the payload kinds, their UR types and their file names.
//!
//! Invariant: every payload kind has exactly one UR type it is written as, and the reader maps
//! each accepted UR type back to exactly one kind.

use std::path::{Path, PathBuf};

/// UR type written for PSBTs (BC-UR registry, `crypto-psbt`: a CBOR byte string of the PSBT).
pub const UR_TYPE_CRYPTO_PSBT: &str = "crypto-psbt";
/// Newer registry name for the same PSBT content; accepted on input, never written.
pub const UR_TYPE_PSBT: &str = "psbt";
/// UR type written for the watch-only export: a CBOR byte string of the UTF-8 JSON document.
pub const UR_TYPE_WATCH_ONLY_EXPORT: &str = "bytes";

/// A decoded or to-be-encoded transfer.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload {
    /// A BIP174 v0 PSBT (unsigned or signed), as its exact serialized bytes.
    Psbt(Vec<u8>),
    /// The cold signer's watch-only export, a UTF-8 JSON document.
    WatchOnlyExport(String),
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Psbt(b) => write!(f, "Psbt({} bytes)", b.len()),
            Payload::WatchOnlyExport(s) => write!(f, "WatchOnlyExport({} bytes)", s.len()),
        }
    }
}

/// A payload of one kind where another was needed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} but the qr code carries {found}")]
#[non_exhaustive]
pub struct WrongPayloadError {
    /// What the caller needed.
    pub expected: &'static str,
    /// What arrived.
    pub found: &'static str,
}

impl Payload {
    /// The UR type this payload is encoded as.
    pub fn ur_type(&self) -> &'static str {
        match self {
            Payload::Psbt(_) => UR_TYPE_CRYPTO_PSBT,
            Payload::WatchOnlyExport(_) => UR_TYPE_WATCH_ONLY_EXPORT,
        }
    }

    /// A short human name of the kind (`a psbt`, `a watch-only export`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Payload::Psbt(_) => "a psbt",
            Payload::WatchOnlyExport(_) => "a watch-only export",
        }
    }

    /// The bytes carried (PSBT bytes, or the export's UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Payload::Psbt(b) => b,
            Payload::WatchOnlyExport(s) => s.as_bytes(),
        }
    }

    /// The PSBT bytes, or an error naming what arrived instead.
    pub fn into_psbt(self) -> Result<Vec<u8>, WrongPayloadError> {
        match self {
            Payload::Psbt(b) => Ok(b),
            other => Err(WrongPayloadError {
                expected: "a psbt",
                found: other.kind_name(),
            }),
        }
    }

    /// The watch-only export JSON, or an error naming what arrived instead.
    pub fn into_watch_only_export(self) -> Result<String, WrongPayloadError> {
        match self {
            Payload::WatchOnlyExport(s) => Ok(s),
            other => Err(WrongPayloadError {
                expected: "a watch-only export",
                found: other.kind_name(),
            }),
        }
    }
}

/// The four things that cross the gap, for naming files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// `NAME.psbt`, binary.
    UnsignedPsbt,
    /// `NAME-signed.psbt`, binary.
    SignedPsbt,
    /// `NAME-final.txn`, hex and a newline.
    FinalTransaction,
    /// `NAME.json`, UTF-8 JSON.
    WatchOnlyExport,
}

impl TransferKind {
    /// The suffix appended to a base name (`.psbt`, `-signed.psbt`, `-final.txn`, `.json`).
    pub fn suffix(self) -> &'static str {
        match self {
            TransferKind::UnsignedPsbt => ".psbt",
            TransferKind::SignedPsbt => "-signed.psbt",
            TransferKind::FinalTransaction => "-final.txn",
            TransferKind::WatchOnlyExport => ".json",
        }
    }

    /// The file name for base name `name` (`topup-7` -> `topup-7-signed.psbt`).
    pub fn file_name(self, name: &str) -> String {
        format!("{name}{}", self.suffix())
    }
}

/// Extensions stripped (repeatedly, case-insensitively) when computing a base name.
const KNOWN_EXTENSIONS: [&str; 7] = [".psbt", ".base64", ".b64", ".hex", ".txt", ".txn", ".json"];
/// Suffixes stripped once, after the extensions, when computing a base name.
const KNOWN_SUFFIXES: [&str; 3] = ["-signed", "-final", "-unsigned"];

/// The base name of a transfer file: its file name without known extensions and without a
/// trailing `-signed`, `-final` or `-unsigned` (`dir/topup-7-signed.psbt` -> `topup-7`).
/// Falls back to `transfer` when nothing is left.
pub fn base_name(path: &Path) -> String {
    let mut name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    loop {
        let lower = name.to_ascii_lowercase();
        match KNOWN_EXTENSIONS.iter().find(|e| lower.ends_with(*e)) {
            Some(ext) if name.len() > ext.len() => name.truncate(name.len() - ext.len()),
            _ => break,
        }
    }
    let lower = name.to_ascii_lowercase();
    if let Some(sfx) = KNOWN_SUFFIXES.iter().find(|s| lower.ends_with(*s)) {
        if name.len() > sfx.len() {
            name.truncate(name.len() - sfx.len());
        }
    }
    if name.is_empty() {
        "transfer".to_owned()
    } else {
        name
    }
}

/// The path of the `kind` file that belongs with `input`, in the same directory
/// (`in/topup-7.psbt` + `SignedPsbt` -> `in/topup-7-signed.psbt`).
pub fn sibling_path(input: &Path, kind: TransferKind) -> PathBuf {
    let file = kind.file_name(&base_name(input));
    match input.parent() {
        Some(dir) => dir.join(file),
        None => PathBuf::from(file),
    }
}

/// `NAME-signed.psbt` beside `input`.
pub fn signed_psbt_path(input: &Path) -> PathBuf {
    sibling_path(input, TransferKind::SignedPsbt)
}

/// `NAME-final.txn` beside `input`.
pub fn final_tx_path(input: &Path) -> PathBuf {
    sibling_path(input, TransferKind::FinalTransaction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        let cases = [
            (
                "topup-7.psbt",
                TransferKind::SignedPsbt,
                "topup-7-signed.psbt",
            ),
            (
                "topup-7-signed.psbt",
                TransferKind::FinalTransaction,
                "topup-7-final.txn",
            ),
            (
                "dir/x.psbt.base64.txt",
                TransferKind::SignedPsbt,
                "dir/x-signed.psbt",
            ),
            ("X.PSBT", TransferKind::UnsignedPsbt, "X.psbt"),
            (".psbt", TransferKind::SignedPsbt, ".psbt-signed.psbt"),
            (
                "-signed.psbt",
                TransferKind::SignedPsbt,
                "-signed-signed.psbt",
            ),
            ("export", TransferKind::WatchOnlyExport, "export.json"),
        ];
        for (input, kind, want) in cases {
            assert_eq!(
                sibling_path(Path::new(input), kind),
                PathBuf::from(want),
                "{input}"
            );
        }
        assert_eq!(base_name(Path::new("/")), "transfer");
    }

    #[test]
    fn payload_kind_checks() {
        let p = Payload::WatchOnlyExport("{}".into());
        let err = p.clone().into_psbt().unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a psbt but the qr code carries a watch-only export"
        );
        assert_eq!(p.into_watch_only_export().unwrap(), "{}");
    }
}
