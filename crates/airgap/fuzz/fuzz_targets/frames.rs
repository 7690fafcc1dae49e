//! Fuzz the QR frame parser and the multi-frame UR decoder (and the PSBT reader): the input
//! is split at newlines into frames, as if each line were one QR code's text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mona_airgap::{parse_frame, parse_psbt, Caps, UrDecoder};

fuzz_target!(|data: &[u8]| {
    let caps = Caps {
        max_message_bytes: 64 * 1024,
        max_frames: 256,
        ..Caps::default()
    };
    let mut decoder = UrDecoder::new(caps);
    for line in data.split(|b| *b == b'\n') {
        let _ = parse_frame(line);
        let _ = decoder.receive(line);
        let p = decoder.progress();
        assert!(p.percent <= 100);
    }
    let _ = decoder.finish();
    let _ = parse_psbt(data, 64 * 1024);
});
