//! Reading QR codes out of images: one image, a directory of frames, or an animated GIF.
//!
//! Invariants: file sizes, image dimensions and frame counts are checked against [`Caps`]
//! before the pixels are allocated; frames are fed to one [`UrDecoder`], so order does not
//! matter, duplicates are ignored and mixed messages are refused; nothing is written.

use std::fs::File;
use std::io::BufReader;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use image::codecs::gif::GifDecoder;
use image::{
    AnimationDecoder, DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits,
};

use crate::decode::{Caps, DecodeUrError, Progress, UrDecoder};
use crate::payload::Payload;

/// Why QR codes could not be read from images.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadQrError {
    /// The frames were read but refused (mixed, corrupted, not UR, over a cap, incomplete...).
    #[error(transparent)]
    Decode(#[from] DecodeUrError),
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An image file is larger than the cap.
    #[error("image {path} is too large: {size} bytes, the limit is {max} bytes")]
    ImageTooLarge {
        /// The image.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// An image could not be decoded.
    #[error("cannot decode image {path}: {reason}")]
    Image {
        /// The image.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// No QR code was found in the image(s).
    #[error("no qr code found in {path}")]
    NoQrFound {
        /// The image or directory.
        path: PathBuf,
    },
    /// A directory holds no PNG or JPEG files.
    #[error("no png or jpeg images in directory {path}")]
    NoImages {
        /// The directory.
        path: PathBuf,
    },
}

/// Extensions read from a directory (case-insensitive).
const FRAME_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// The texts of every QR code found in `img` (usually zero or one).
///
/// rqrr's adaptive threshold sometimes loses a large code whose module edges are gray (a
/// scaled or photographed frame); when it finds nothing, the image is binarized at its Otsu
/// threshold and searched again.
pub fn decode_image(img: &GrayImage) -> Vec<Vec<u8>> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let raw = img.as_raw();
    // rqrr is not hardened against adversarial pixels; a panic inside it means "no code here".
    catch_unwind(AssertUnwindSafe(|| {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| raw[y * w + x]);
        let texts = grid_texts(prepared.detect_grids());
        if !texts.is_empty() {
            return texts;
        }
        let threshold = otsu_threshold(raw);
        let mut binary =
            rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| raw[y * w + x] < threshold);
        grid_texts(binary.detect_grids())
    }))
    .unwrap_or_default()
}

fn grid_texts<G: rqrr::BitGrid>(grids: Vec<rqrr::Grid<G>>) -> Vec<Vec<u8>> {
    let mut texts = Vec::new();
    for grid in grids {
        let mut buf = Vec::new();
        if grid.decode_to(&mut buf).is_ok() {
            texts.push(buf);
        }
    }
    texts
}

/// Otsu's threshold: the gray level that best separates dark from light pixels
/// (pixels below it are dark).
fn otsu_threshold(pixels: &[u8]) -> u8 {
    let mut hist = [0u64; 256];
    for &p in pixels {
        hist[p as usize] += 1;
    }
    let total = pixels.len() as f64;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut weight_dark, mut sum_dark) = (0.0f64, 0.0f64);
    let (mut best, mut best_var) = (128u8, -1.0f64);
    for (t, &count) in hist.iter().enumerate() {
        // pixels with value < t + 1 are dark
        weight_dark += count as f64;
        sum_dark += t as f64 * count as f64;
        let weight_light = total - weight_dark;
        if weight_dark == 0.0 || weight_light == 0.0 {
            continue;
        }
        let mean_dark = sum_dark / weight_dark;
        let mean_light = (sum_all - sum_dark) / weight_light;
        let var = weight_dark * weight_light * (mean_dark - mean_light).powi(2);
        if var > best_var {
            best_var = var;
            best = (t + 1).min(255) as u8;
        }
    }
    best
}

fn limits(caps: &Caps) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(caps.max_image_side);
    l.max_image_height = Some(caps.max_image_side);
    l
}

fn check_file_size(path: &Path, caps: &Caps) -> Result<(), ReadQrError> {
    let meta = std::fs::metadata(path).map_err(|source| ReadQrError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() > caps.max_image_file_bytes {
        return Err(ReadQrError::ImageTooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            max: caps.max_image_file_bytes,
        });
    }
    Ok(())
}

fn image_err(path: &Path, e: impl std::fmt::Display) -> ReadQrError {
    ReadQrError::Image {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Opens an image, returning its detected format and a reader with limits set.
fn open_image(path: &Path, caps: &Caps) -> Result<ImageReader<BufReader<File>>, ReadQrError> {
    check_file_size(path, caps)?;
    let mut reader = ImageReader::open(path)
        .map_err(|source| ReadQrError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| ReadQrError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    reader.limits(limits(caps));
    Ok(reader)
}

/// Loads one still image as grayscale, within the caps.
pub fn load_gray(path: &Path, caps: &Caps) -> Result<GrayImage, ReadQrError> {
    let reader = open_image(path, caps)?;
    let img: DynamicImage = catch_unwind(AssertUnwindSafe(|| reader.decode()))
        .map_err(|_| image_err(path, "image decoder failed"))?
        .map_err(|e| image_err(path, e))?;
    Ok(img.to_luma8())
}

struct Feeder<'a, F: FnMut(Progress)> {
    decoder: UrDecoder,
    progress: &'a mut F,
    frames_found: usize,
}

impl<F: FnMut(Progress)> Feeder<'_, F> {
    fn feed(&mut self, img: &GrayImage) -> Result<(), ReadQrError> {
        for text in decode_image(img) {
            self.frames_found += 1;
            if self.decoder.receive(&text)? {
                (self.progress)(self.decoder.progress());
            }
        }
        Ok(())
    }
}

/// Reads a payload from QR codes at `path`: a single image (PNG, JPEG), an animated GIF (all
/// frames), or a directory of PNG/JPEG frames (any order; other files are ignored).
/// `progress` is called after each new frame with e.g. `frames 14/22, 71%`.
pub fn read_qr(
    path: &Path,
    caps: &Caps,
    mut progress: impl FnMut(Progress),
) -> Result<Payload, ReadQrError> {
    let mut feeder = Feeder {
        decoder: UrDecoder::new(*caps),
        progress: &mut progress,
        frames_found: 0,
    };
    let io_err = |source| ReadQrError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if meta.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let p = entry.path();
            let is_frame = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| FRAME_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)));
            if is_frame && p.is_file() {
                files.push(p);
                if files.len() > caps.max_frames {
                    return Err(DecodeUrError::TooManyFrames {
                        frames: files.len() as u64,
                        max: caps.max_frames,
                    }
                    .into());
                }
            }
        }
        if files.is_empty() {
            return Err(ReadQrError::NoImages {
                path: path.to_path_buf(),
            });
        }
        files.sort();
        for f in &files {
            let img = load_gray(f, caps)?;
            feeder.feed(&img)?;
        }
    } else {
        let reader = open_image(path, caps)?;
        if reader.format() == Some(ImageFormat::Gif) {
            read_gif_frames(path, caps, &mut feeder)?;
        } else {
            let img = load_gray(path, caps)?;
            feeder.feed(&img)?;
        }
    }
    if feeder.frames_found == 0 {
        return Err(ReadQrError::NoQrFound {
            path: path.to_path_buf(),
        });
    }
    Ok(feeder.decoder.finish()?)
}

fn read_gif_frames<F: FnMut(Progress)>(
    path: &Path,
    caps: &Caps,
    feeder: &mut Feeder<'_, F>,
) -> Result<(), ReadQrError> {
    let file = File::open(path).map_err(|source| ReadQrError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut decoder = GifDecoder::new(BufReader::new(file)).map_err(|e| image_err(path, e))?;
    decoder
        .set_limits(limits(caps))
        .map_err(|e| image_err(path, e))?;
    let mut count = 0usize;
    let mut frames = decoder.into_frames();
    loop {
        let next = catch_unwind(AssertUnwindSafe(|| frames.next()))
            .map_err(|_| image_err(path, "gif decoder failed"))?;
        let Some(frame) = next else { break };
        let frame = frame.map_err(|e| image_err(path, e))?;
        count += 1;
        if count > caps.max_frames {
            return Err(DecodeUrError::TooManyFrames {
                frames: count as u64,
                max: caps.max_frames,
            }
            .into());
        }
        let gray = DynamicImage::ImageRgba8(frame.into_buffer()).to_luma8();
        feeder.feed(&gray)?;
    }
    Ok(())
}

/// Why [`read_qr_to_file`] failed; nothing was written in either case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadQrToFileError {
    /// The QR codes could not be read.
    #[error(transparent)]
    Read(#[from] ReadQrError),
    /// The decoded payload could not be written.
    #[error(transparent)]
    Write(#[from] crate::files::WriteFileError),
}

/// `qr decode PATH --out FILE`: reads a payload from QR codes at `path` and, only if it is
/// complete and valid, writes it atomically to `out` (a PSBT as binary, an export as JSON).
pub fn read_qr_to_file(
    path: &Path,
    out: &Path,
    caps: &Caps,
    overwrite: crate::files::Overwrite,
    progress: impl FnMut(Progress),
) -> Result<Payload, ReadQrToFileError> {
    if overwrite == crate::files::Overwrite::Refuse && std::fs::symlink_metadata(out).is_ok() {
        // refuse before the (possibly slow) decode
        return Err(crate::files::WriteFileError::AlreadyExists(out.to_path_buf()).into());
    }
    let payload = read_qr(path, caps, progress)?;
    match &payload {
        Payload::Psbt(bytes) => crate::files::write_psbt_file(out, bytes, overwrite)?,
        Payload::WatchOnlyExport(json) => {
            crate::files::write_watch_only_export(out, json, overwrite)?
        }
    }
    Ok(payload)
}
