//! Writing a QR sequence to disk and showing it on a terminal.
//!
//! Invariant: every image is encoded in memory before the first file is written, each file is
//! written atomically, and existing files are never replaced unless asked; when replacing,
//! stale frames of an older, longer sequence are removed so a directory never mixes messages.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::encode::{encode_qr, EncodeQrError, QrSequence};
use crate::files::{write_file_atomic, Overwrite, WriteFileError};
use crate::payload::Payload;
use crate::settings::QrSettings;

/// File name of the animated GIF in a QR output directory.
pub const GIF_FILE_NAME: &str = "qr.gif";
/// File name of the manifest in a QR output directory.
pub const MANIFEST_FILE_NAME: &str = "manifest.json";

/// File name of frame `index` (0-based): `frame-0001.png`, ...
pub fn frame_file_name(index: usize) -> String {
    format!("frame-{:04}.png", index + 1)
}

/// What [`write_qr`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrOutput {
    /// The directory.
    pub dir: PathBuf,
    /// PNG frames, in order.
    pub frames: Vec<PathBuf>,
    /// The animated GIF.
    pub gif: PathBuf,
    /// The manifest.
    pub manifest: PathBuf,
    /// The UR type written.
    pub ur_type: &'static str,
    /// Fountain fragments in the message (1 for a single-part UR).
    pub fragment_count: usize,
}

/// Why QR output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteQrError {
    /// The payload could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeQrError),
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] WriteFileError),
    /// The output directory could not be created or listed.
    #[error("cannot use output directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

#[derive(serde::Serialize)]
struct Manifest<'a> {
    ur_type: &'a str,
    frames: usize,
    fragments: usize,
    message_bytes: usize,
    payload_bytes: usize,
    density: &'a str,
    max_fragment_len: usize,
    module_px: u32,
    fps: f32,
    extra_frames_ratio: f32,
    frame_files: Vec<String>,
    gif: &'a str,
}

/// Encodes `payload` and writes `frame-0001.png`..., `qr.gif` and `manifest.json` into
/// `out_dir` (created if missing).
pub fn write_qr(
    out_dir: &Path,
    payload: &Payload,
    settings: &QrSettings,
    overwrite: Overwrite,
) -> Result<QrOutput, WriteQrError> {
    let seq = encode_qr(payload, settings)?;
    write_sequence(out_dir, &seq, payload.as_bytes().len(), overwrite)
}

/// Writes an already encoded sequence (see [`write_qr`]).
pub fn write_sequence(
    out_dir: &Path,
    seq: &QrSequence,
    payload_bytes: usize,
    overwrite: Overwrite,
) -> Result<QrOutput, WriteQrError> {
    let dir_err = |source| WriteQrError::Dir {
        path: out_dir.to_path_buf(),
        source,
    };
    // Encode everything first: a failure here writes nothing.
    let mut pngs = Vec::with_capacity(seq.len());
    for i in 0..seq.len() {
        pngs.push(seq.frame_png(i)?);
    }
    let gif = seq.gif()?;
    let names: Vec<String> = (0..seq.len()).map(frame_file_name).collect();
    let manifest = Manifest {
        ur_type: seq.ur.ur_type,
        frames: seq.len(),
        fragments: seq.ur.fragment_count,
        message_bytes: seq.ur.message_len,
        payload_bytes,
        density: seq.settings.density.as_str(),
        max_fragment_len: seq.settings.density.max_fragment_len(),
        module_px: seq.settings.density.module_px(),
        fps: seq.settings.fps,
        extra_frames_ratio: seq.settings.extra_frames_ratio,
        frame_files: names.clone(),
        gif: GIF_FILE_NAME,
    };
    let mut manifest_json =
        serde_json::to_string_pretty(&manifest).map_err(|e| EncodeQrError::Image(e.to_string()))?;
    manifest_json.push('\n');

    std::fs::create_dir_all(out_dir).map_err(dir_err)?;
    let frame_paths: Vec<PathBuf> = names.iter().map(|n| out_dir.join(n)).collect();
    let gif_path = out_dir.join(GIF_FILE_NAME);
    let manifest_path = out_dir.join(MANIFEST_FILE_NAME);
    let stale = stale_frames(out_dir, seq.len()).map_err(dir_err)?;
    if overwrite == Overwrite::Refuse {
        let mut existing = frame_paths
            .iter()
            .chain([&gif_path, &manifest_path])
            .chain(stale.iter())
            .filter(|p| p.exists());
        if let Some(p) = existing.next() {
            return Err(WriteFileError::AlreadyExists(p.clone()).into());
        }
    }
    for p in &stale {
        std::fs::remove_file(p).map_err(dir_err)?;
    }
    for (p, bytes) in frame_paths.iter().zip(&pngs) {
        write_file_atomic(p, bytes, overwrite)?;
    }
    write_file_atomic(&gif_path, &gif, overwrite)?;
    // The manifest goes last: its presence means the directory is complete.
    write_file_atomic(&manifest_path, manifest_json.as_bytes(), overwrite)?;
    Ok(QrOutput {
        dir: out_dir.to_path_buf(),
        frames: frame_paths,
        gif: gif_path,
        manifest: manifest_path,
        ur_type: seq.ur.ur_type,
        fragment_count: seq.ur.fragment_count,
    })
}

/// `frame-NNNN.png` files in `dir` numbered above `count`.
fn stale_frames(dir: &Path, count: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let number = name
            .strip_prefix("frame-")
            .and_then(|r| r.strip_suffix(".png"))
            .and_then(|n| n.parse::<usize>().ok());
        if number.is_some_and(|n| n > count) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Encodes `payload` and plays it on a terminal (`--qr-show`): frames redrawn in place at
/// `settings.fps`, `loops` times through.
pub fn show_qr_terminal<W: Write>(
    out: &mut W,
    payload: &Payload,
    settings: &QrSettings,
    loops: usize,
) -> Result<(), WriteQrError> {
    let seq = encode_qr(payload, settings)?;
    seq.play_terminal(out, loops, true, std::thread::sleep)
        .map_err(|e| EncodeQrError::Image(format!("terminal: {e}")).into())
}
