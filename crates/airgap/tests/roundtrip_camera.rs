//! Every real PSBT fixture survives lossy JPEG frames (quality 80) and frames scaled by 2x,
//! as a camera or a screenshot tool would deliver them.

mod common;

use common::*;
use mona_airgap::{encode_qr, read_qr, Caps, Payload};

#[test]
fn every_fixture_survives_jpeg_quality_80_frames() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, f) in fixtures().iter().enumerate() {
        let seq = encode_qr(&Payload::Psbt(f.bytes.clone()), &no_extra_frames(f)).unwrap();
        let dir = tmp.path().join(format!("case-{i}"));
        write_images(&dir, &frame_images(&seq), "jpg", |img| jpeg(img, 80));
        let got =
            read_qr(&dir, &Caps::default(), |_| {}).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(got, Payload::Psbt(f.bytes.clone()), "{}", f.name);
    }
}

#[test]
fn every_fixture_survives_frames_scaled_2x() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, f) in fixtures().iter().enumerate() {
        let seq = encode_qr(&Payload::Psbt(f.bytes.clone()), &no_extra_frames(f)).unwrap();
        let scaled: Vec<_> = frame_images(&seq).iter().map(upscale_2x).collect();
        let dir = tmp.path().join(format!("case-{i}"));
        write_images(&dir, &scaled, "png", png);
        let got =
            read_qr(&dir, &Caps::default(), |_| {}).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(got, Payload::Psbt(f.bytes.clone()), "{}", f.name);
    }
}
