//! The file forms: PSBTs (binary, base64 or hex in; binary out), final transactions (hex),
//! the watch-only export (JSON), and the atomic write they all use.
//!
//! Invariants: input size is checked against the cap before anything is decoded; a PSBT is
//! returned only if it has the `psbt\xff` magic and parses as BIP174 v0; a write either leaves
//! the complete new file at its path or changes nothing there (temp file in the same
//! directory, fsync, rename), and never replaces an existing file unless asked.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bitcoin::base64::engine::general_purpose::STANDARD as BASE64;
use bitcoin::base64::Engine as _;
use bitcoin::psbt::Psbt;

/// Default cap on a decoded PSBT, export or transaction: 16 MiB.
pub const DEFAULT_MAX_FILE_BYTES: usize = 16 * 1024 * 1024;
/// The BIP174 magic every PSBT starts with.
pub const PSBT_MAGIC: &[u8; 5] = b"psbt\xff";

/// Slack allowed beyond the encoded size of a capped payload (whitespace, line breaks).
const TEXT_SLACK: usize = 64 * 1024;

/// How a PSBT was encoded in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PsbtFormat {
    /// Raw BIP174 bytes.
    Binary,
    /// Standard base64 (`cHNidP8...`), whitespace allowed.
    Base64,
    /// Hex (`70736274ff...`), either case, whitespace allowed.
    Hex,
}

/// A PSBT read from a file or a QR code: its exact bytes and the parsed form.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedPsbt {
    /// The exact BIP174 bytes (decoded from base64/hex if needed).
    pub bytes: Vec<u8>,
    /// The parsed PSBT.
    pub psbt: Psbt,
    /// The encoding it was found in.
    pub format: PsbtFormat,
}

/// Why a PSBT could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadPsbtError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The input (or what it decodes to) is larger than the cap.
    #[error("psbt is too large: {size} bytes, the limit is {max} bytes")]
    TooLarge {
        /// Size seen (input bytes, or the decoded size computed from text length).
        size: u64,
        /// The cap.
        max: usize,
    },
    /// Not binary, base64 or hex PSBT.
    #[error("not a psbt: expected binary (psbt\\xff...), base64 (cHNidP8...) or hex (70736274ff...), found {found:?}")]
    UnknownFormat {
        /// The first bytes of the input, for the message.
        found: String,
    },
    /// The base64 text does not decode.
    #[error("psbt base64 is invalid: {0}")]
    Base64(String),
    /// The hex text does not decode.
    #[error("psbt hex is invalid: {0}")]
    Hex(String),
    /// Decoded, but does not start with `psbt\xff`.
    #[error("psbt magic bytes missing: expected 70736274ff, found {found}")]
    BadMagic {
        /// Hex of the first bytes found.
        found: String,
    },
    /// The bytes are not a valid BIP174 v0 PSBT.
    #[error("invalid psbt: {0}")]
    Invalid(String),
}

/// Whether a write may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Refuse if the destination exists (the default).
    #[default]
    Refuse,
    /// Atomically replace an existing file.
    Allow,
}

/// Why a file could not be written. The destination is unchanged in every case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteFileError {
    /// The destination exists and overwriting was not allowed.
    #[error("refusing to overwrite existing file {0}")]
    AlreadyExists(PathBuf),
    /// The content to write is not what the file kind requires.
    #[error("refusing to write {path}: {reason}")]
    InvalidContent {
        /// The destination.
        path: PathBuf,
        /// What was wrong with the content.
        reason: String,
    },
    /// The operating system refused.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The destination.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Reads at most `limit + 1` bytes of `path`, refusing early from file metadata.
fn read_capped(path: &Path, limit: u64) -> Result<Result<Vec<u8>, u64>, io::Error> {
    let file = File::open(path)?;
    let meta_len = file.metadata()?.len();
    if meta_len > limit {
        return Ok(Err(meta_len));
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta_len).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Ok(Err(buf.len() as u64));
    }
    Ok(Ok(buf))
}

/// Largest input accepted for a payload capped at `max` decoded bytes (hex doubles the size).
fn text_limit(max: usize) -> u64 {
    (max as u64)
        .saturating_mul(2)
        .saturating_add(TEXT_SLACK as u64)
}

/// Reads a PSBT file in binary, base64 or hex form (detected), refusing inputs over
/// `max_bytes` before decoding them.
pub fn read_psbt_file(path: &Path, max_bytes: usize) -> Result<LoadedPsbt, ReadPsbtError> {
    let io_err = |source| ReadPsbtError::Io {
        path: path.to_path_buf(),
        source,
    };
    match read_capped(path, text_limit(max_bytes)).map_err(io_err)? {
        Ok(buf) => parse_psbt(&buf, max_bytes),
        Err(size) => Err(ReadPsbtError::TooLarge {
            size,
            max: max_bytes,
        }),
    }
}

fn preview(input: &[u8]) -> String {
    let head = &input[..input.len().min(16)];
    String::from_utf8_lossy(head).into_owned()
}

/// Parses PSBT bytes in binary, base64 or hex form (detected), refusing inputs whose decoded
/// size exceeds `max_bytes` before decoding them.
pub fn parse_psbt(input: &[u8], max_bytes: usize) -> Result<LoadedPsbt, ReadPsbtError> {
    let (bytes, format) = if input.starts_with(PSBT_MAGIC) {
        if input.len() > max_bytes {
            return Err(ReadPsbtError::TooLarge {
                size: input.len() as u64,
                max: max_bytes,
            });
        }
        (input.to_vec(), PsbtFormat::Binary)
    } else {
        if input.len() as u64 > text_limit(max_bytes) {
            return Err(ReadPsbtError::TooLarge {
                size: input.len() as u64,
                max: max_bytes,
            });
        }
        let text: Vec<u8> = input
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if text.starts_with(b"cHNidP") {
            let decoded_len = (text.len() as u64 / 4) * 3;
            if decoded_len > max_bytes as u64 + 3 {
                return Err(ReadPsbtError::TooLarge {
                    size: decoded_len,
                    max: max_bytes,
                });
            }
            let b = BASE64
                .decode(&text)
                .map_err(|e| ReadPsbtError::Base64(e.to_string()))?;
            (b, PsbtFormat::Base64)
        } else if text.len() >= 10 && text[..10].eq_ignore_ascii_case(b"70736274ff") {
            let decoded_len = text.len() as u64 / 2;
            if decoded_len > max_bytes as u64 {
                return Err(ReadPsbtError::TooLarge {
                    size: decoded_len,
                    max: max_bytes,
                });
            }
            let b = hex::decode(&text).map_err(|e| ReadPsbtError::Hex(e.to_string()))?;
            (b, PsbtFormat::Hex)
        } else {
            return Err(ReadPsbtError::UnknownFormat {
                found: preview(input),
            });
        }
    };
    if bytes.len() > max_bytes {
        return Err(ReadPsbtError::TooLarge {
            size: bytes.len() as u64,
            max: max_bytes,
        });
    }
    let psbt = parse_psbt_binary(&bytes)?;
    Ok(LoadedPsbt {
        bytes,
        psbt,
        format,
    })
}

/// Parses binary BIP174 bytes: checks the magic, then the full v0 structure.
pub fn parse_psbt_binary(bytes: &[u8]) -> Result<Psbt, ReadPsbtError> {
    if !bytes.starts_with(PSBT_MAGIC) {
        return Err(ReadPsbtError::BadMagic {
            found: hex::encode(&bytes[..bytes.len().min(5)]),
        });
    }
    let psbt = Psbt::deserialize(bytes).map_err(|e| ReadPsbtError::Invalid(e.to_string()))?;
    if psbt.version != 0 {
        return Err(ReadPsbtError::Invalid(format!(
            "psbt version {} is not supported, only version 0",
            psbt.version
        )));
    }
    Ok(psbt)
}

/// Writes binary PSBT bytes to `path` atomically, after checking they parse as a PSBT.
pub fn write_psbt_file(
    path: &Path,
    psbt_bytes: &[u8],
    overwrite: Overwrite,
) -> Result<(), WriteFileError> {
    parse_psbt_binary(psbt_bytes).map_err(|e| WriteFileError::InvalidContent {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_file_atomic(path, psbt_bytes, overwrite)
}

/// Writes a final transaction as lower-case hex and a newline (`NAME-final.txn`), atomically,
/// after checking the bytes are exactly one consensus-encoded transaction.
pub fn write_final_tx(
    path: &Path,
    tx_bytes: &[u8],
    overwrite: Overwrite,
) -> Result<(), WriteFileError> {
    bitcoin::consensus::deserialize::<bitcoin::Transaction>(tx_bytes).map_err(|e| {
        WriteFileError::InvalidContent {
            path: path.to_path_buf(),
            reason: format!("not a transaction: {e}"),
        }
    })?;
    let mut text = hex::encode(tx_bytes);
    text.push('\n');
    write_file_atomic(path, text.as_bytes(), overwrite)
}

/// Why a final transaction file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadFinalTxError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Larger than the cap.
    #[error("transaction file is too large: {size} bytes, the limit is {max} bytes")]
    TooLarge {
        /// Bytes seen.
        size: u64,
        /// The cap.
        max: usize,
    },
    /// Not hex of exactly one transaction.
    #[error("invalid transaction hex: {0}")]
    Invalid(String),
}

/// Reads a `NAME-final.txn` file (hex, surrounding whitespace allowed) and returns the raw
/// transaction bytes, refusing files over `max_bytes` decoded.
pub fn read_final_tx(path: &Path, max_bytes: usize) -> Result<Vec<u8>, ReadFinalTxError> {
    let buf = match read_capped(path, text_limit(max_bytes)) {
        Ok(Ok(buf)) => buf,
        Ok(Err(size)) => {
            return Err(ReadFinalTxError::TooLarge {
                size,
                max: max_bytes,
            })
        }
        Err(source) => {
            return Err(ReadFinalTxError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let text: Vec<u8> = buf
        .into_iter()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if text.len() / 2 > max_bytes {
        return Err(ReadFinalTxError::TooLarge {
            size: (text.len() / 2) as u64,
            max: max_bytes,
        });
    }
    let bytes = hex::decode(&text).map_err(|e| ReadFinalTxError::Invalid(e.to_string()))?;
    bitcoin::consensus::deserialize::<bitcoin::Transaction>(&bytes)
        .map_err(|e| ReadFinalTxError::Invalid(e.to_string()))?;
    Ok(bytes)
}

/// Why a watch-only export could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadExportError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Larger than the cap.
    #[error("watch-only export is too large: {size} bytes, the limit is {max} bytes")]
    TooLarge {
        /// Bytes seen.
        size: u64,
        /// The cap.
        max: usize,
    },
    /// Not UTF-8 JSON.
    #[error("watch-only export is not valid json: {0}")]
    Invalid(String),
}

/// Checks that `bytes` is a UTF-8 JSON document and returns it as a string.
pub fn parse_watch_only_export(bytes: &[u8]) -> Result<String, ReadExportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ReadExportError::Invalid(e.to_string()))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| ReadExportError::Invalid(e.to_string()))?;
    Ok(text.to_owned())
}

/// Reads a watch-only export JSON file, refusing files over `max_bytes`.
pub fn read_watch_only_export(path: &Path, max_bytes: usize) -> Result<String, ReadExportError> {
    match read_capped(path, max_bytes as u64) {
        Ok(Ok(buf)) => parse_watch_only_export(&buf),
        Ok(Err(size)) => Err(ReadExportError::TooLarge {
            size,
            max: max_bytes,
        }),
        Err(source) => Err(ReadExportError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes a watch-only export (must be JSON) atomically.
pub fn write_watch_only_export(
    path: &Path,
    json: &str,
    overwrite: Overwrite,
) -> Result<(), WriteFileError> {
    parse_watch_only_export(json.as_bytes()).map_err(|e| WriteFileError::InvalidContent {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_file_atomic(path, json.as_bytes(), overwrite)
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: a temp file in the same directory is written and
/// fsynced, then moved into place (without replacing an existing file unless `overwrite`
/// allows it), then the directory is fsynced. On any error the temp file is removed and
/// `path` is untouched.
pub fn write_file_atomic(
    path: &Path,
    bytes: &[u8],
    overwrite: Overwrite,
) -> Result<(), WriteFileError> {
    let io_err = |source| WriteFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path.file_name().ok_or_else(|| {
        io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path has no file name",
        ))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if overwrite == Overwrite::Refuse && fs::symlink_metadata(path).is_ok() {
        return Err(WriteFileError::AlreadyExists(path.to_path_buf()));
    }
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> Result<(), WriteFileError> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err)?;
        f.write_all(bytes).map_err(io_err)?;
        f.sync_all().map_err(io_err)?;
        drop(f);
        match overwrite {
            Overwrite::Allow => fs::rename(&tmp, path).map_err(io_err)?,
            Overwrite::Refuse => match fs::hard_link(&tmp, path) {
                // a hard link never replaces an existing file: no race with another writer
                Ok(()) => {
                    let _ = fs::remove_file(&tmp);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(WriteFileError::AlreadyExists(path.to_path_buf()))
                }
                // file systems without hard links (FAT on USB sticks): checked above, rename
                Err(_) => {
                    if fs::symlink_metadata(path).is_ok() {
                        return Err(WriteFileError::AlreadyExists(path.to_path_buf()));
                    }
                    fs::rename(&tmp, path).map_err(io_err)?
                }
            },
        }
        // make the rename durable; not every platform can fsync a directory
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_formats_are_refused_with_a_preview() {
        let err = parse_psbt(b"hello world", 1000).unwrap_err();
        assert!(matches!(err, ReadPsbtError::UnknownFormat { .. }));
        assert!(err.to_string().contains("hello world"), "{err}");
    }

    #[test]
    fn caps_apply_before_decoding() {
        let big = vec![b'A'; 10_000];
        let mut b64 = b"cHNidP".to_vec();
        b64.extend_from_slice(&big);
        assert!(matches!(
            parse_psbt(&b64, 1000),
            Err(ReadPsbtError::TooLarge { .. })
        ));
        let mut bin = PSBT_MAGIC.to_vec();
        bin.extend_from_slice(&big);
        assert!(matches!(
            parse_psbt(&bin, 1000),
            Err(ReadPsbtError::TooLarge { .. })
        ));
    }
}
