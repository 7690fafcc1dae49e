//! Property tests: nothing that arrives through the air gap makes the parsers panic.

use mona_airgap::{
    decode_texts, encode_ur, parse_frame, parse_psbt, Caps, Density, Payload, QrSettings, UrDecoder,
};
use proptest::prelude::*;

/// A valid multi-part UR sequence to mutate.
fn valid_texts() -> Vec<String> {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/airgap/psbt/1-p2wpkh-single-input/unsigned.psbt"
    ))
    .unwrap();
    let s = QrSettings {
        extra_frames_ratio: 0.5,
        ..QrSettings::with_density(Density::Low)
    };
    encode_ur(&Payload::Psbt(bytes), &s).unwrap().texts
}

fn small_caps() -> Caps {
    Caps {
        max_message_bytes: 4096,
        max_frames: 64,
        ..Caps::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn frame_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_frame(&bytes);
    }

    #[test]
    fn frame_parser_never_panics_on_ur_like_strings(s in "(?i)ur:[a-z-]{0,12}(/[0-9]{0,11}-[0-9]{0,11})?/[a-z]{0,300}") {
        let _ = parse_frame(s.as_bytes());
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_frame_sets(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8)
    ) {
        let _ = decode_texts(&frames, &small_caps(), |_| {});
    }

    #[test]
    fn decoder_never_panics_on_mutated_valid_frames(
        picks in proptest::collection::vec((0usize..64, 0usize..400, any::<u8>(), any::<bool>()), 1..24)
    ) {
        let texts = valid_texts();
        let mut decoder = UrDecoder::new(small_caps());
        for (which, pos, byte, mutate) in picks {
            let mut t = texts[which % texts.len()].clone().into_bytes();
            if mutate && !t.is_empty() {
                let p = pos % t.len();
                t[p] = byte;
            }
            let _ = decoder.receive(&t);
            let p = decoder.progress();
            prop_assert!(p.percent <= 100);
        }
        let _ = decoder.finish();
    }

    #[test]
    fn psbt_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_psbt(&bytes, 1 << 20);
    }

    #[test]
    fn psbt_reader_never_panics_on_magic_prefixed_input(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = b"psbt\xff".to_vec();
        bytes.extend_from_slice(&tail);
        let _ = parse_psbt(&bytes, 1 << 20);
        let text = format!("cHNidP8{}", String::from_utf8_lossy(&tail));
        let _ = parse_psbt(text.as_bytes(), 1 << 20);
        let hex = format!("70736274ff{}", hex::encode(&tail));
        let _ = parse_psbt(hex.as_bytes(), 1 << 20);
    }
}
