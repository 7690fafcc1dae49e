//! Every real PSBT fixture survives the animated GIF (all frames of the loop).

mod common;

use common::*;
use mona_airgap::{read_qr, write_qr, Caps, Overwrite, Payload};

#[test]
fn every_fixture_survives_the_animated_gif() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, f) in fixtures().iter().enumerate() {
        let payload = Payload::Psbt(f.bytes.clone());
        let dir = tmp.path().join(format!("case-{i}"));
        let out = write_qr(&dir, &payload, &no_extra_frames(f), Overwrite::Refuse).unwrap();
        let mut last = None;
        let got = read_qr(&out.gif, &Caps::default(), |p| last = Some(p))
            .unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(got, payload, "{}", f.name);
        let last = last.unwrap();
        assert_eq!(last.percent, 100, "{}", f.name);
        assert_eq!(last.frames_total, Some(out.fragment_count), "{}", f.name);
    }
}
