//! `hot-node qr encode|decode` (carry a PSBT across the air gap as animated QR codes) and the
//! QR flags and helpers the top-up commands share: [`QrArgs`], [`write_qr_out`],
//! [`read_qr_in`].
//!
//! Invariant: QR input is decoded completely and checked (complete message, checksum, a valid
//! PSBT or export) before anything is written; outputs are written atomically and never over
//! an existing file; every refusal is one stderr line and one exit code of the QR class
//! (20-28, see [`qr_read_error`]), with nothing written.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use bitcoin::hashes::{sha256, Hash};
use clap::{Args, Subcommand};
use mona_airgap::{
    encode_qr, read_psbt_file, read_qr, write_psbt_file, write_sequence, write_watch_only_export,
    Caps, DecodeUrError, Density, EncodeQrError, Overwrite, Payload, QrOutput, QrSettings,
    ReadQrError, WriteFileError, WriteQrError, DEFAULT_MAX_FILE_BYTES, GIF_FILE_NAME,
    MANIFEST_FILE_NAME, MAX_FPS, MIN_FPS,
};
use serde_json::json;

use crate::exit::{CliError, Exit};

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
pub fn run(json: bool, cmd: QrCmd) -> Result<(), CliError> {
    match cmd {
        QrCmd::Encode(args) => encode(json, &args),
        QrCmd::Decode(args) => decode(json, &args),
    }
}

fn encode(json: bool, args: &EncodeArgs) -> Result<(), CliError> {
    if let Some(dir) = &args.qr_out {
        ensure_qr_dir_free(dir)?;
    }
    let loaded = read_psbt_file(&args.file, DEFAULT_MAX_FILE_BYTES).map_err(|e| {
        CliError::new(
            Exit::BadInput,
            format!("{}: {e}; nothing was written", args.file.display()),
        )
    })?;
    let payload = Payload::Psbt(loaded.bytes);
    let out = write_qr_out(args.qr_out.as_deref(), &payload, &args.qr, json)?;
    print_written(json, &payload, out.as_ref());
    Ok(())
}

fn decode(json: bool, args: &DecodeArgs) -> Result<(), CliError> {
    if std::fs::symlink_metadata(&args.out).is_ok() {
        return Err(CliError::new(
            Exit::AlreadyExists,
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
        _ => {
            return Err(CliError::new(
                Exit::QrWrongContent,
                "the qr codes carry a payload this build cannot write; nothing was written",
            ))
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
pub fn ensure_qr_dir_free(dir: &Path) -> Result<(), CliError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(()); // missing: created on write; unreadable: the write reports it
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_frame = name.starts_with("frame-") && name.ends_with(".png");
        if is_frame || name == GIF_FILE_NAME || name == MANIFEST_FILE_NAME {
            return Err(CliError::new(
                Exit::AlreadyExists,
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
) -> Result<Option<QrOutput>, CliError> {
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
        played.map_err(|e| CliError::new(Exit::Failure, format!("cannot show qr codes: {e}")))?;
    }
    Ok(out)
}

/// Reads a payload from QR codes at `path` (image, directory or GIF), printing progress lines
/// (`frames 14/22, 71%`) to stderr; refusals map to the QR exit codes.
pub fn read_qr_in(path: &Path, caps: &Caps) -> Result<Payload, CliError> {
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
pub fn read_psbt_qr(path: &Path, caps: &Caps) -> Result<Vec<u8>, CliError> {
    read_qr_in(path, caps)?.into_psbt().map_err(|e| {
        CliError::new(
            Exit::QrWrongContent,
            format!("{}: {e}; nothing was written", path.display()),
        )
    })
}

/// The exit code of a QR decoding refusal.
pub fn qr_read_exit(e: &ReadQrError) -> Exit {
    match e {
        ReadQrError::Decode(d) => match d {
            DecodeUrError::NotUr { .. } | DecodeUrError::UnsupportedType { .. } => Exit::QrNotUr,
            DecodeUrError::CorruptedFrame { .. } => Exit::QrCorrupted,
            DecodeUrError::ChecksumMismatch => Exit::QrChecksum,
            DecodeUrError::MixedMessages { .. } => Exit::QrMixed,
            DecodeUrError::TooLarge { .. } => Exit::QrTooLarge,
            DecodeUrError::TooManyFrames { .. } => Exit::QrTooManyFrames,
            DecodeUrError::Incomplete { .. } => Exit::QrIncomplete,
            DecodeUrError::NoFrames => Exit::QrNoCode,
            DecodeUrError::InvalidPsbt(_) | DecodeUrError::InvalidExport(_) => Exit::QrWrongContent,
            _ => Exit::Failure,
        },
        ReadQrError::ImageTooLarge { .. } => Exit::QrTooLarge,
        ReadQrError::Image { .. }
        | ReadQrError::NoQrFound { .. }
        | ReadQrError::NoImages { .. } => Exit::QrNoCode,
        ReadQrError::Io { .. } => Exit::BadInput,
        _ => Exit::Failure,
    }
}

/// A QR decoding refusal as a one-line CLI error with its exit code.
pub fn qr_read_error(e: ReadQrError) -> CliError {
    CliError::new(qr_read_exit(&e), format!("{e}; nothing was written"))
}

fn encode_error(e: EncodeQrError) -> CliError {
    let exit = match &e {
        EncodeQrError::TooLarge { .. } => Exit::QrTooLarge,
        EncodeQrError::Settings(_) => Exit::Usage,
        EncodeQrError::Empty | EncodeQrError::InvalidPayload { .. } => Exit::BadInput,
        _ => Exit::Failure,
    };
    CliError::new(exit, format!("{e}; nothing was written"))
}

fn write_file_error(e: WriteFileError) -> CliError {
    let exit = match &e {
        WriteFileError::AlreadyExists(_) => Exit::AlreadyExists,
        WriteFileError::InvalidContent { .. } => Exit::QrWrongContent,
        _ => Exit::Failure,
    };
    CliError::new(exit, e)
}

fn write_qr_error(e: WriteQrError) -> CliError {
    match e {
        WriteQrError::Encode(e) => encode_error(e),
        WriteQrError::Write(e) => write_file_error(e),
        other => CliError::new(Exit::Failure, other),
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
    fn refusal_classes_have_distinct_exit_codes() {
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
                progress: mona_airgap::Progress {
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
        let mut codes: Vec<i32> = errors.iter().map(|e| qr_read_exit(e).code()).collect();
        assert!(codes.iter().all(|c| (20..=28).contains(c)), "{codes:?}");
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
    }
}
