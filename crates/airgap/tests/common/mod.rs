//! Shared helpers for the airgap integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use image::GrayImage;
use mona_airgap::{Density, QrSequence, QrSettings};
use rand::{seq::SliceRandom, SeedableRng};

/// A real PSBT fixture recorded from monacoind 0.20.3 regtest.
pub struct Fixture {
    pub name: String,
    pub bytes: Vec<u8>,
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/airgap/psbt")
}

/// All 8 fixtures (4 transactions x unsigned/signed), sorted by name.
pub fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/airgap/psbt exists")
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        for kind in ["unsigned", "signed"] {
            let path = dir.join(format!("{kind}.psbt"));
            out.push(Fixture {
                name: format!("{}/{kind}", dir.file_name().unwrap().to_string_lossy()),
                bytes: std::fs::read(&path).unwrap(),
            });
        }
    }
    assert_eq!(out.len(), 8, "expected 4 unsigned + 4 signed fixtures");
    out
}

/// Settings that keep frame counts sane in debug builds: the 30-input consolidation
/// (16-18 kB) at high density, the others at medium.
pub fn settings_for(f: &Fixture) -> QrSettings {
    let density = if f.bytes.len() > 4000 {
        Density::High
    } else {
        Density::Medium
    };
    QrSettings::with_density(density)
}

/// [`settings_for`] without redundant frames (fragments + 2): for paths that lose no frame,
/// so debug-mode tests stay fast.
pub fn no_extra_frames(f: &Fixture) -> QrSettings {
    QrSettings {
        extra_frames_ratio: 0.0,
        ..settings_for(f)
    }
}

/// Frame images of a sequence.
pub fn frame_images(seq: &QrSequence) -> Vec<GrayImage> {
    (0..seq.len())
        .map(|i| seq.frame_image(i).unwrap())
        .collect()
}

/// Deterministically shuffles and drops a third of `items`.
pub fn drop_third_and_shuffle<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    items.shuffle(&mut rng);
    let keep = items.len() - items.len() / 3;
    items.truncate(keep);
    items
}

/// Writes each image into `dir` with `encode`, under shuffled names `img-<random>.<ext>`.
pub fn write_images(
    dir: &Path,
    images: &[GrayImage],
    ext: &str,
    encode: impl Fn(&GrayImage) -> Vec<u8>,
) {
    std::fs::create_dir_all(dir).unwrap();
    for (i, img) in images.iter().enumerate() {
        // names hide the original order: the reader must not depend on it
        let name = format!(
            "img-{:08x}.{ext}",
            (i as u64).wrapping_mul(0x9e37_79b9) % 0xffff_ffff
        );
        std::fs::write(dir.join(name), encode(img)).unwrap();
    }
}

pub fn png(img: &GrayImage) -> Vec<u8> {
    mona_airgap::png_bytes(img).unwrap()
}

pub fn jpeg(img: &GrayImage, quality: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
        .encode_image(img)
        .unwrap();
    buf
}

/// Upscales by 2 with bilinear interpolation (edges become gray, as from a real scaler).
/// Hand-written because `imageops::resize` is slow in debug builds.
pub fn upscale_2x(img: &GrayImage) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let src = img.as_raw();
    let at = |x: usize, y: usize| u32::from(src[y.min(h - 1) * w + x.min(w - 1)]);
    let mut out = vec![0u8; 4 * w * h];
    for y in 0..h {
        for x in 0..w {
            let (p, r, d, rd) = (at(x, y), at(x + 1, y), at(x, y + 1), at(x + 1, y + 1));
            let o = 2 * y * 2 * w + 2 * x;
            out[o] = p as u8;
            out[o + 1] = ((p + r) / 2) as u8;
            out[o + 2 * w] = ((p + d) / 2) as u8;
            out[o + 2 * w + 1] = ((p + r + d + rd) / 4) as u8;
        }
    }
    GrayImage::from_raw(2 * w as u32, 2 * h as u32, out).unwrap()
}
