//! The QR side of both binaries' command lines (feature `cli`): the `--qr-*` flags
//! ([`QrArgs`]), `qr encode|decode` ([`QrCmd`], [`run`]) and the helpers that `export`,
//! `inspect`, `sign` and the top-up commands share ([`write_qr_out`], [`read_qr_in`],
//! [`read_psbt_qr`], [`ensure_qr_dir_free`]). Refusals are a [`QrCliError`] whose
//! [`QrFailure`] each binary maps to its own documented exit code.
//!
//! Invariant: QR input is decoded completely and checked (complete message, checksum, a valid
//! PSBT or export) before anything is written; outputs are written atomically and never over
//! an existing file; every refusal is one stderr line and one exit code of the QR class
//! (see [`qr_read_failure`]), with nothing written.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::{
    encode_qr, read_psbt_file, read_qr, write_psbt_file, write_sequence, write_watch_only_export,
    Caps, DecodeUrError, Density, EncodeQrError, Overwrite, Payload, QrOutput, QrSettings,
    ReadQrError, WriteFileError, WriteQrError, DEFAULT_MAX_FILE_BYTES, GIF_FILE_NAME,
    MANIFEST_FILE_NAME, MAX_FPS, MIN_FPS,
};
use bitcoin::hashes::{sha256, Hash};
use clap::{Args, Subcommand};
use serde_json::json;

/// What kind of refusal a QR command met; each binary maps it to its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum QrFailure {
    /// Unexpected failure (I/O while writing, terminal).
    Failure,
    /// Bad flag value (e.g. an fps out of range reaching the encoder).
    Usage,
    /// Bad input file.
    BadInput,
    /// An output already exists; nothing was written.
    AlreadyExists,
    /// No QR code found.
    NoCode,
    /// Not a UR of an accepted type.
    NotUr,
    /// A corrupted frame.
    Corrupted,
    /// The message checksum does not match.
    Checksum,
    /// Frames of two different messages.
    Mixed,
    /// Over the size cap.
    TooLarge,
    /// More frames than the cap.
    TooManyFrames,
    /// Not enough frames to finish.
    Incomplete,
    /// The wrong kind of payload, or not a valid PSBT/export.
    WrongContent,
}

/// A refused QR command: its class and one line for stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QrCliError {
    /// The class of refusal.
    pub failure: QrFailure,
    /// One line.
    pub message: String,
}

impl QrCliError {
    /// An error of class `failure`.
    pub fn new(failure: QrFailure, message: impl std::fmt::Display) -> Self {
        QrCliError {
            failure,
            message: message.to_string(),
        }
    }
}

/// How an outgoing QR sequence looks and plays: `--qr-density`, `--qr-fps`, `--qr-show`,
/// `--qr-loops`. Flatten it into any command that writes QR codes (`#[command(flatten)]`).
#[derive(Debug, Clone, Args)]
pub struct QrArgs {
    /// Data per QR frame: low (small codes, most frames), medium, or high (fewest frames).
    #[arg(long, value_name = "DENSITY", default_value = "medium", value_parser = parse_density)]
    pub qr_density: Density,
    /// Frames per second of the animated GIF and of --qr-show (0.1 to 30).
    #[arg(long, value_name = "N", default_value = "5", value_parser = parse_fps)]
    pub qr_fps: f32,
    /// Also play the QR sequence on this terminal, animated in place.
    #[arg(long)]
    pub qr_show: bool,
    /// How many times --qr-show plays the whole sequence.
    #[arg(long, value_name = "N", default_value = "3")]
    pub qr_loops: usize,
}

impl Default for QrArgs {
    fn default() -> Self {
        QrArgs {
            qr_density: Density::Medium,
            qr_fps: QrSettings::default().fps,
            qr_show: false,
            qr_loops: 3,
        }
    }
}

impl QrArgs {
    /// The encoder settings these flags select (default redundancy).
    pub fn settings(&self) -> QrSettings {
        QrSettings {
            density: self.qr_density,
            fps: self.qr_fps,
            ..QrSettings::default()
        }
    }
}

fn parse_density(s: &str) -> Result<Density, String> {
    s.parse::<Density>().map_err(|e| e.to_string())
}

fn parse_fps(s: &str) -> Result<f32, String> {
    let fps: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of frames per second"))?;
    if fps.is_finite() && (MIN_FPS..=MAX_FPS).contains(&fps) {
        Ok(fps)
    } else {
        Err(format!(
            "{s} is out of range: expected {MIN_FPS} to {MAX_FPS}"
        ))
    }
}

/// `qr ...`: carry a PSBT made by any tool across the air gap.
#[derive(Debug, Subcommand)]
pub enum QrCmd {
    /// Encode a PSBT file (binary, base64 or hex) as ur:crypto-psbt QR frames (PNG + GIF).
    Encode(EncodeArgs),
    /// Decode QR codes (one image, a directory of PNG/JPEG frames, or an animated GIF) into
    /// a file: a PSBT as binary, a watch-only export as JSON. Nothing is written unless the
    /// message is complete and valid.
    Decode(DecodeArgs),
}

/// `qr encode`.
#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// The PSBT file (binary, base64 or hex; detected).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Directory to write frame-0001.png..., qr.gif and manifest.json into (created if
    /// missing; existing frames are never overwritten).
    #[arg(long, value_name = "DIR", required_unless_present = "qr_show")]
    pub qr_out: Option<PathBuf>,
    /// Density, speed and terminal display.
    #[command(flatten)]
    pub qr: QrArgs,
}

/// `qr decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// An image (PNG, JPEG), a directory of frames, or an animated GIF.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// The file to write (never overwritten).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `qr encode` / `qr decode`.
pub fn run(json: bool, cmd: &QrCmd) -> Result<(), QrCliError> {
    match cmd {
        QrCmd::Encode(args) => encode(json, args),
        QrCmd::Decode(args) => decode(json, args),
    }
}

fn encode(json: bool, args: &EncodeArgs) -> Result<(), QrCliError> {
    if let Some(dir) = &args.qr_out {
        ensure_qr_dir_free(dir)?;
    }
    let loaded = read_psbt_file(&args.file, DEFAULT_MAX_FILE_BYTES).map_err(|e| {
        QrCliError::new(
            QrFailure::BadInput,
            format!("{}: {e}; nothing was written", args.file.display()),
        )
    })?;
    let payload = Payload::Psbt(loaded.bytes);
    let out = write_qr_out(args.qr_out.as_deref(), &payload, &args.qr, json)?;
    print_written(json, &payload, out.as_ref());
    Ok(())
}

fn decode(json: bool, args: &DecodeArgs) -> Result<(), QrCliError> {
    if std::fs::symlink_metadata(&args.out).is_ok() {
        return Err(QrCliError::new(
            QrFailure::AlreadyExists,
            format!(
                "{} already exists; nothing was decoded or written",
                args.out.display()
            ),
        ));
    }
    let payload = read_qr_in(&args.path, &Caps::default())?;
    let written = match &payload {
        Payload::Psbt(bytes) => write_psbt_file(&args.out, bytes, Overwrite::Refuse),
        Payload::WatchOnlyExport(text) => {
            write_watch_only_export(&args.out, text, Overwrite::Refuse)
        }
    };
    written.map_err(write_file_error)?;
    let bytes = payload.as_bytes();
    let sha = sha256::Hash::hash(bytes).to_string();
    if json {
        println!(
            "{}",
            json!({
                "out": args.out.display().to_string(),
                "kind": payload.ur_type(),
                "bytes": bytes.len(),
                "sha256": sha,
            })
        );
    } else {
        println!(
            "wrote {} ({} bytes, sha256 {sha}) to {}",
            payload.kind_name(),
            bytes.len(),
            args.out.display()
        );
    }
    Ok(())
}

fn print_written(json: bool, payload: &Payload, out: Option<&QrOutput>) {
    let Some(out) = out else { return };
    if json {
        println!(
            "{}",
            json!({
                "qr_out": out.dir.display().to_string(),
                "ur_type": out.ur_type,
                "frames": out.frames.len(),
                "fragments": out.fragment_count,
                "payload_bytes": payload.as_bytes().len(),
                "gif": out.gif.display().to_string(),
                "manifest": out.manifest.display().to_string(),
            })
        );
    } else {
        println!(
            "wrote {} as {} QR frame(s) (ur:{}, {} fragment(s)) to {}: frame-0001.png..., {}",
            payload.kind_name(),
            out.frames.len(),
            out.ur_type,
            out.fragment_count,
            out.dir.display(),
            GIF_FILE_NAME
        );
    }
}

/// Refuses (exit 9, before any work) when `dir` already holds QR output: a `frame-*.png`, the
/// GIF or the manifest.
pub fn ensure_qr_dir_free(dir: &Path) -> Result<(), QrCliError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(()); // missing: created on write; unreadable: the write reports it
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_frame = name.starts_with("frame-") && name.ends_with(".png");
        if is_frame || name == GIF_FILE_NAME || name == MANIFEST_FILE_NAME {
            return Err(QrCliError::new(
                QrFailure::AlreadyExists,
                format!(
                    "{} already holds qr output ({name}); nothing was written",
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Encodes `payload` once, writes it into `dir` (if given) as PNG frames, GIF and manifest,
/// and plays it on the terminal with `--qr-show` (on stdout, or stderr under `--json` so
/// stdout stays one JSON object).
pub fn write_qr_out(
    dir: Option<&Path>,
    payload: &Payload,
    args: &QrArgs,
    json: bool,
) -> Result<Option<QrOutput>, QrCliError> {
    let seq = encode_qr(payload, &args.settings()).map_err(encode_error)?;
    let out = match dir {
        Some(dir) => Some(
            write_sequence(dir, &seq, payload.as_bytes().len(), Overwrite::Refuse)
                .map_err(write_qr_error)?,
        ),
        None => None,
    };
    if args.qr_show {
        let played = if json {
            let mut err = std::io::stderr().lock();
            let ansi = std::io::stderr().is_terminal();
            seq.play_terminal(&mut err, args.qr_loops, ansi, std::thread::sleep)
        } else {
            let mut stdout = std::io::stdout().lock();
            let ansi = std::io::stdout().is_terminal();
            seq.play_terminal(&mut stdout, args.qr_loops, ansi, std::thread::sleep)
                .and_then(|()| stdout.flush())
        };
        played.map_err(|e| {
            QrCliError::new(QrFailure::Failure, format!("cannot show qr codes: {e}"))
        })?;
    }
    Ok(out)
}

/// Reads a payload from QR codes at `path` (image, directory or GIF), printing progress lines
/// (`frames 14/22, 71%`) to stderr; refusals map to the QR exit codes.
pub fn read_qr_in(path: &Path, caps: &Caps) -> Result<Payload, QrCliError> {
    let mut stderr = std::io::stderr();
    // On a terminal the line is redrawn in place; in a pipe or a log, one line per frame.
    let tty = stderr.is_terminal();
    let mut shown = false;
    let result = read_qr(path, caps, |p| {
        shown = true;
        let _ = if tty {
            write!(stderr, "\r{p}    ")
        } else {
            writeln!(stderr, "{p}")
        };
    });
    if tty && shown {
        let _ = writeln!(stderr);
    }
    result.map_err(qr_read_error)
}

/// Reads a PSBT from QR codes at `path` (see [`read_qr_in`]); a watch-only export is refused
/// with exit 28.
pub fn read_psbt_qr(path: &Path, caps: &Caps) -> Result<Vec<u8>, QrCliError> {
    read_qr_in(path, caps)?.into_psbt().map_err(|e| {
        QrCliError::new(
            QrFailure::WrongContent,
            format!("{}: {e}; nothing was written", path.display()),
        )
    })
}

/// The refusal class of a QR decoding error.
pub fn qr_read_failure(e: &ReadQrError) -> QrFailure {
    match e {
        ReadQrError::Decode(d) => match d {
            DecodeUrError::NotUr { .. } | DecodeUrError::UnsupportedType { .. } => QrFailure::NotUr,
            DecodeUrError::CorruptedFrame { .. } => QrFailure::Corrupted,
            DecodeUrError::ChecksumMismatch => QrFailure::Checksum,
            DecodeUrError::MixedMessages { .. } => QrFailure::Mixed,
            DecodeUrError::TooLarge { .. } => QrFailure::TooLarge,
            DecodeUrError::TooManyFrames { .. } => QrFailure::TooManyFrames,
            DecodeUrError::Incomplete { .. } => QrFailure::Incomplete,
            DecodeUrError::NoFrames => QrFailure::NoCode,
            DecodeUrError::InvalidPsbt(_) | DecodeUrError::InvalidExport(_) => {
                QrFailure::WrongContent
            }
        },
        ReadQrError::ImageTooLarge { .. } => QrFailure::TooLarge,
        ReadQrError::Image { .. }
        | ReadQrError::NoQrFound { .. }
        | ReadQrError::NoImages { .. } => QrFailure::NoCode,
        ReadQrError::Io { .. } => QrFailure::BadInput,
    }
}

/// A QR decoding refusal as a one-line CLI error with its exit code.
pub fn qr_read_error(e: ReadQrError) -> QrCliError {
    QrCliError::new(qr_read_failure(&e), format!("{e}; nothing was written"))
}

fn encode_error(e: EncodeQrError) -> QrCliError {
    let exit = match &e {
        EncodeQrError::TooLarge { .. } => QrFailure::TooLarge,
        EncodeQrError::Settings(_) => QrFailure::Usage,
        EncodeQrError::Empty | EncodeQrError::InvalidPayload { .. } => QrFailure::BadInput,
        _ => QrFailure::Failure,
    };
    QrCliError::new(exit, format!("{e}; nothing was written"))
}

fn write_file_error(e: WriteFileError) -> QrCliError {
    let exit = match &e {
        WriteFileError::AlreadyExists(_) => QrFailure::AlreadyExists,
        WriteFileError::InvalidContent { .. } => QrFailure::WrongContent,
        _ => QrFailure::Failure,
    };
    QrCliError::new(exit, e)
}

fn write_qr_error(e: WriteQrError) -> QrCliError {
    match e {
        WriteQrError::Encode(e) => encode_error(e),
        WriteQrError::Write(e) => write_file_error(e),
        other => QrCliError::new(QrFailure::Failure, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fps_parser_takes_the_documented_range() {
        for (text, ok) in [
            ("5", true),
            ("0.1", true),
            ("30", true),
            ("0", false),
            ("31", false),
            ("NaN", false),
            ("fast", false),
        ] {
            assert_eq!(parse_fps(text).is_ok(), ok, "{text}");
        }
    }

    #[test]
    fn refusal_classes_are_distinct() {
        let errors = [
            ReadQrError::from(DecodeUrError::NotUr {
                preview: "x".into(),
            }),
            DecodeUrError::CorruptedFrame { reason: "x".into() }.into(),
            DecodeUrError::ChecksumMismatch.into(),
            DecodeUrError::MixedMessages {
                first: "a".into(),
                other: "b".into(),
            }
            .into(),
            DecodeUrError::TooLarge { size: 2, max: 1 }.into(),
            DecodeUrError::TooManyFrames { frames: 2, max: 1 }.into(),
            DecodeUrError::Incomplete {
                progress: crate::Progress {
                    frames_seen: 1,
                    frames_total: Some(2),
                    percent: 50,
                },
            }
            .into(),
            ReadQrError::NoQrFound {
                path: PathBuf::from("x"),
            },
        ];
        let mut codes: Vec<QrFailure> = errors.iter().map(qr_read_failure).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
    }
}
