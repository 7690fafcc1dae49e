//! Turning a payload into QR frames: UR texts, QR matrices, PNG and GIF images and an
//! animated terminal rendering.
//!
//! Invariants: only a valid payload is encoded (a PSBT that parses, JSON that parses); every
//! UR text is upper case so the QR codes use alphanumeric mode, at error correction level L;
//! every frame of one sequence has the same QR version, so all images have the same size.

use std::io::{self, Write};
use std::time::Duration;

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, GrayImage};
use qrcode::{Color, EcLevel, QrCode, Version};

use crate::cbor;
use crate::files::{self, DEFAULT_MAX_FILE_BYTES};
use crate::payload::Payload;
use crate::settings::{QrSettings, QrSettingsError};

/// Quiet zone around each QR code, in modules (the QR standard asks for 4).
pub const QUIET_ZONE_MODULES: u32 = 4;

/// Why a payload could not be turned into QR frames.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeQrError {
    /// The settings are out of range.
    #[error(transparent)]
    Settings(#[from] QrSettingsError),
    /// Nothing to encode.
    #[error("refusing to encode an empty payload")]
    Empty,
    /// The payload is larger than QR transfer supports.
    #[error(
        "payload is too large for qr transfer: {size} bytes, the limit is {max} bytes; use a file"
    )]
    TooLarge {
        /// Payload bytes.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// The payload is not a valid instance of its kind.
    #[error("refusing to encode {kind}: {reason}")]
    InvalidPayload {
        /// `a psbt` or `a watch-only export`.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The UR or QR library failed (not expected for valid settings).
    #[error("qr encoding failed: {0}")]
    Encoder(String),
    /// Writing an image or the terminal failed.
    #[error("qr image encoding failed: {0}")]
    Image(String),
}

/// The UR texts of a payload, upper case, in emission order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrFrames {
    /// The UR type (`crypto-psbt` or `bytes`).
    pub ur_type: &'static str,
    /// Fountain fragments in the message (1 for a single-part UR).
    pub fragment_count: usize,
    /// Length of the CBOR message carried.
    pub message_len: usize,
    /// One text per frame.
    pub texts: Vec<String>,
}

/// Builds the UR texts for `payload`: single-part when the message fits one fragment,
/// otherwise `settings.frames_for(fragments)` fountain parts.
pub fn encode_ur(payload: &Payload, settings: &QrSettings) -> Result<UrFrames, EncodeQrError> {
    settings.validate()?;
    let content = payload.as_bytes();
    if content.is_empty() {
        return Err(EncodeQrError::Empty);
    }
    if content.len() > DEFAULT_MAX_FILE_BYTES {
        return Err(EncodeQrError::TooLarge {
            size: content.len(),
            max: DEFAULT_MAX_FILE_BYTES,
        });
    }
    match payload {
        Payload::Psbt(b) => files::parse_psbt_binary(b)
            .map(drop)
            .map_err(|e| e.to_string()),
        Payload::WatchOnlyExport(s) => files::parse_watch_only_export(s.as_bytes())
            .map(drop)
            .map_err(|e| e.to_string()),
    }
    .map_err(|reason| EncodeQrError::InvalidPayload {
        kind: payload.kind_name(),
        reason,
    })?;
    let ur_type = payload.ur_type();
    let message = cbor::wrap_byte_string(content);
    let max_fragment = settings.density.max_fragment_len();
    let texts = if message.len() <= max_fragment {
        let text = ur::ur::try_encode(&message, &ur::Type::Custom(ur_type))
            .map_err(|e| EncodeQrError::Encoder(e.to_string()))?;
        vec![text.to_ascii_uppercase()]
    } else {
        let mut encoder = ur::Encoder::new(&message, max_fragment, ur_type)
            .map_err(|e| EncodeQrError::Encoder(e.to_string()))?;
        let n = settings.frames_for(encoder.fragment_count());
        let mut texts = Vec::with_capacity(n);
        for _ in 0..n {
            let part = encoder
                .next_part()
                .map_err(|e| EncodeQrError::Encoder(e.to_string()))?;
            texts.push(part.to_ascii_uppercase());
        }
        texts
    };
    let fragment_count = if texts.len() == 1 {
        1
    } else {
        message
            .len()
            .div_ceil(fragment_len(message.len(), max_fragment))
    };
    Ok(UrFrames {
        ur_type,
        fragment_count,
        message_len: message.len(),
        texts,
    })
}

/// The fragment length the fountain encoder picks (same formula as the `ur` crate).
fn fragment_len(len: usize, max: usize) -> usize {
    len.div_ceil(len.div_ceil(max))
}

/// One QR code as a square grid of modules.
#[derive(Clone, PartialEq, Eq)]
pub struct QrMatrix {
    width: usize,
    dark: Vec<bool>,
}

impl std::fmt::Debug for QrMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QrMatrix({}x{})", self.width, self.width)
    }
}

impl QrMatrix {
    fn from_code(code: &QrCode) -> Self {
        QrMatrix {
            width: code.width(),
            dark: code
                .to_colors()
                .into_iter()
                .map(|c| c == Color::Dark)
                .collect(),
        }
    }

    /// Modules per side (without quiet zone).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether the module at column `x`, row `y` is dark (false outside the code).
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }

    /// The code drawn with `module_px` pixels per module and a 4-module white quiet zone.
    pub fn to_image(&self, module_px: u32) -> GrayImage {
        let m = module_px.max(1) as usize;
        let q = QUIET_ZONE_MODULES as usize;
        let side = (self.width + 2 * q) * m;
        let mut pixels = vec![255u8; side * side];
        let mut row = vec![255u8; side];
        for y in 0..self.width {
            // draw one pixel row of module row y, then repeat it m times
            row.fill(255);
            for x in 0..self.width {
                if self.dark[y * self.width + x] {
                    let start = (q + x) * m;
                    row[start..start + m].fill(0);
                }
            }
            for r in 0..m {
                let start = ((q + y) * m + r) * side;
                pixels[start..start + side].copy_from_slice(&row);
            }
        }
        // side * side == pixels.len() by construction
        GrayImage::from_raw(side as u32, side as u32, pixels)
            .unwrap_or_else(|| GrayImage::new(side as u32, side as u32))
    }

    /// The code as lines of Unicode half blocks (two module rows per line), with a quiet
    /// zone; with `ansi_colors` it paints black on white explicitly so it scans on dark
    /// terminals too.
    pub fn to_terminal(&self, ansi_colors: bool) -> String {
        let q = QUIET_ZONE_MODULES as usize;
        let side = self.width + 2 * q;
        let dark = |x: usize, y: usize| x >= q && y >= q && self.is_dark(x - q, y - q);
        let mut out = String::new();
        let mut y = 0;
        while y < side {
            if ansi_colors {
                out.push_str("\x1b[38;5;16;48;5;231m");
            }
            for x in 0..side {
                let top = dark(x, y);
                let bottom = y + 1 < side && dark(x, y + 1);
                out.push(match (top, bottom) {
                    (true, true) => '\u{2588}',
                    (true, false) => '\u{2580}',
                    (false, true) => '\u{2584}',
                    (false, false) => ' ',
                });
            }
            if ansi_colors {
                out.push_str("\x1b[0m");
            }
            out.push('\n');
            y += 2;
        }
        out
    }
}

/// A payload encoded as a sequence of QR codes, ready to render.
#[derive(Debug, Clone)]
pub struct QrSequence {
    /// The UR texts.
    pub ur: UrFrames,
    /// One QR code per text, all of the same version.
    pub codes: Vec<QrMatrix>,
    /// The settings used.
    pub settings: QrSettings,
}

/// Encodes `payload` as QR codes (UR texts, then one code per text at ECC level L).
pub fn encode_qr(payload: &Payload, settings: &QrSettings) -> Result<QrSequence, EncodeQrError> {
    let ur = encode_ur(payload, settings)?;
    let codes = qr_codes(&ur.texts)?;
    Ok(QrSequence {
        ur,
        codes,
        settings: *settings,
    })
}

/// QR codes for `texts`, all at the version of the largest, so frames do not change size.
pub fn qr_codes(texts: &[String]) -> Result<Vec<QrMatrix>, EncodeQrError> {
    let err = |e: qrcode::types::QrError| EncodeQrError::Encoder(e.to_string());
    let mut codes = Vec::with_capacity(texts.len());
    for t in texts {
        codes.push(QrCode::with_error_correction_level(t.as_bytes(), EcLevel::L).map_err(err)?);
    }
    let version_number = |v: Version| match v {
        Version::Normal(n) | Version::Micro(n) => n,
    };
    let max = codes
        .iter()
        .map(|c| version_number(c.version()))
        .max()
        .unwrap_or(1);
    let mut out = Vec::with_capacity(codes.len());
    for (t, c) in texts.iter().zip(codes) {
        if version_number(c.version()) == max {
            out.push(QrMatrix::from_code(&c));
        } else {
            let c = QrCode::with_version(t.as_bytes(), Version::Normal(max), EcLevel::L)
                .map_err(err)?;
            out.push(QrMatrix::from_code(&c));
        }
    }
    Ok(out)
}

impl QrSequence {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether there are no frames (never true for a sequence from [`encode_qr`]).
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Frame `i` as a grayscale image at the density's module size.
    pub fn frame_image(&self, i: usize) -> Option<GrayImage> {
        self.codes
            .get(i)
            .map(|c| c.to_image(self.settings.density.module_px()))
    }

    /// Frame `i` as PNG bytes.
    pub fn frame_png(&self, i: usize) -> Result<Vec<u8>, EncodeQrError> {
        let img = self
            .frame_image(i)
            .ok_or_else(|| EncodeQrError::Image(format!("no frame {i}")))?;
        png_bytes(&img)
    }

    /// The whole sequence as an animated GIF that loops forever, one frame per
    /// `settings.frame_interval()`.
    pub fn gif(&self) -> Result<Vec<u8>, EncodeQrError> {
        let mut buf = Vec::new();
        {
            let mut enc = GifEncoder::new_with_speed(&mut buf, 30);
            enc.set_repeat(Repeat::Infinite)
                .map_err(|e| EncodeQrError::Image(e.to_string()))?;
            let delay = Delay::from_saturating_duration(self.settings.frame_interval());
            for code in &self.codes {
                let gray = code.to_image(self.settings.density.module_px());
                let rgba = image::DynamicImage::ImageLuma8(gray).into_rgba8();
                enc.encode_frame(image::Frame::from_parts(rgba, 0, 0, delay))
                    .map_err(|e| EncodeQrError::Image(e.to_string()))?;
            }
        }
        Ok(buf)
    }

    /// Plays the sequence on a terminal: each frame drawn in place with a status line, one
    /// frame per interval, `loops` times through (once for a single frame). `sleep` is called
    /// between frames (pass `std::thread::sleep`; tests pass a no-op).
    pub fn play_terminal<W: Write>(
        &self,
        out: &mut W,
        loops: usize,
        ansi_colors: bool,
        mut sleep: impl FnMut(Duration),
    ) -> io::Result<()> {
        let rendered: Vec<String> = self
            .codes
            .iter()
            .map(|c| c.to_terminal(ansi_colors))
            .collect();
        let Some(first) = rendered.first() else {
            return Ok(());
        };
        let lines = first.lines().count() + 1;
        let loops = if rendered.len() == 1 { 1 } else { loops.max(1) };
        let interval = self.settings.frame_interval();
        let total = rendered.len();
        let mut drawn = false;
        if ansi_colors {
            out.write_all(b"\x1b[?25l")?;
        }
        for lap in 0..loops {
            for (i, frame) in rendered.iter().enumerate() {
                if drawn && ansi_colors {
                    write!(out, "\x1b[{lines}A\r")?;
                }
                out.write_all(frame.as_bytes())?;
                writeln!(
                    out,
                    "ur:{} frame {}/{} (loop {}/{})   ",
                    self.ur.ur_type,
                    i + 1,
                    total,
                    lap + 1,
                    loops
                )?;
                out.flush()?;
                drawn = true;
                if total > 1 {
                    sleep(interval);
                }
            }
        }
        if ansi_colors {
            out.write_all(b"\x1b[?25h")?;
        }
        out.flush()
    }
}

/// Encodes a grayscale image as PNG.
pub fn png_bytes(img: &GrayImage) -> Result<Vec<u8>, EncodeQrError> {
    let mut buf = Vec::new();
    img.write_with_encoder(image::codecs::png::PngEncoder::new(&mut buf))
        .map_err(|e| EncodeQrError::Image(e.to_string()))?;
    Ok(buf)
}
