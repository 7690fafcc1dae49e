//! Every real PSBT fixture survives PNG frames with a third of them dropped and the rest
//! shuffled, read back from a directory.

mod common;

use common::*;
use mona_airgap::{encode_qr, read_qr, write_qr, Caps, Overwrite, Payload};

#[test]
fn every_fixture_survives_png_frames_with_a_third_dropped_and_shuffled() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, f) in fixtures().iter().enumerate() {
        let settings = settings_for(f);
        let seq = encode_qr(&Payload::Psbt(f.bytes.clone()), &settings).unwrap();
        let images = frame_images(&seq);
        let total = images.len();
        let kept = drop_third_and_shuffle(images, 1000 + i as u64);
        let dir = tmp.path().join(format!("case-{i}"));
        write_images(&dir, &kept, "png", png);
        let mut lines = Vec::new();
        let payload = read_qr(&dir, &Caps::default(), |p| lines.push(p.to_string()))
            .unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(payload, Payload::Psbt(f.bytes.clone()), "{}", f.name);
        if total > 1 {
            assert!(kept.len() < total, "{}: frames were dropped", f.name);
            assert_eq!(
                lines.len(),
                kept.len(),
                "{}: one progress line per new frame",
                f.name
            );
            assert!(
                lines.last().unwrap().ends_with("100%"),
                "{}: {lines:?}",
                f.name
            );
        }
    }
}

#[test]
fn write_qr_directory_reads_back_and_manifest_describes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let f = &fixtures()[2]; // 2-mixed-three-inputs/unsigned
    let payload = Payload::Psbt(f.bytes.clone());
    let settings = settings_for(f);
    let out = write_qr(tmp.path(), &payload, &settings, Overwrite::Refuse).unwrap();
    assert!(out.frames.len() > 1);
    for (i, p) in out.frames.iter().enumerate() {
        assert_eq!(
            p.file_name().unwrap().to_str().unwrap(),
            format!("frame-{:04}.png", i + 1)
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out.manifest).unwrap()).unwrap();
    assert_eq!(manifest["ur_type"], "crypto-psbt");
    assert_eq!(manifest["frames"], out.frames.len());
    assert_eq!(manifest["density"], "medium");
    assert_eq!(manifest["payload_bytes"], f.bytes.len());
    // the directory (frames + gif + manifest) decodes; the gif and manifest are ignored
    assert_eq!(
        read_qr(tmp.path(), &Caps::default(), |_| {}).unwrap(),
        payload
    );

    // a second write refuses, and changes nothing
    let before = std::fs::read(&out.frames[0]).unwrap();
    let other = Payload::Psbt(fixtures()[0].bytes.clone());
    let err = write_qr(tmp.path(), &other, &settings, Overwrite::Refuse).unwrap_err();
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read(&out.frames[0]).unwrap(), before);

    // overwriting with a shorter sequence removes the stale frames: no mixed directory
    let out2 = write_qr(tmp.path(), &other, &settings, Overwrite::Allow).unwrap();
    assert!(out2.frames.len() < out.frames.len());
    let pngs = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().unwrap_or_default() == "png")
        .count();
    assert_eq!(pngs, out2.frames.len());
    assert_eq!(
        read_qr(tmp.path(), &Caps::default(), |_| {}).unwrap(),
        other
    );
}
