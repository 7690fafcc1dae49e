//! Prints the QR transport table (frames, bytes per frame, encode and decode time per frame)
//! for synthetic PSBTs of 1, 10, 100 and 500 inputs. Run with
//! `cargo run --release -p mona-airgap --example qr_table`.

use std::time::Instant;

use mona_airgap::{decode_image, Caps, Density, Payload, QrSettings, UrDecoder};

#[path = "../benches/support/synthetic.rs"]
mod synthetic;

/// Frames timed per case.
const SAMPLE_FRAMES: usize = 24;

fn main() {
    println!("| inputs | PSBT bytes | density | fragments | frames emitted | bytes/frame | frame px | encode ms/frame | decode ms/frame | decode frames/s |");
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for n in [1u32, 10, 100, 500] {
        let psbt = synthetic::synthetic_psbt(n);
        for d in Density::ALL {
            let settings = QrSettings::with_density(d);
            let payload = Payload::Psbt(psbt.clone());
            let ur = mona_airgap::encode_ur(&payload, &settings).expect("valid psbt");
            let sample: Vec<String> = ur.texts.iter().take(SAMPLE_FRAMES).cloned().collect();
            let t = Instant::now();
            let mut pngs = Vec::new();
            for text in &sample {
                let code = &mona_airgap::qr_codes(std::slice::from_ref(text)).expect("fits")[0];
                pngs.push(mona_airgap::png_bytes(&code.to_image(d.module_px())).expect("png"));
            }
            let enc_ms = t.elapsed().as_secs_f64() * 1000.0 / sample.len() as f64;
            let t = Instant::now();
            let mut decoder = UrDecoder::new(Caps::default());
            let mut side = 0;
            for p in &pngs {
                let img = image::load_from_memory(p).expect("png").to_luma8();
                side = img.width();
                for text in decode_image(&img) {
                    decoder.receive(&text).expect("valid frame");
                }
            }
            let dec_ms = t.elapsed().as_secs_f64() * 1000.0 / pngs.len() as f64;
            assert_eq!(
                decoder.progress().frames_seen,
                pngs.len(),
                "every frame decoded"
            );
            let frames = if ur.fragment_count == 1 {
                1
            } else {
                settings.frames_for(ur.fragment_count)
            };
            println!(
                "| {n} | {} | {d} | {} | {frames} | {} | {side} | {enc_ms:.1} | {dec_ms:.1} | {:.0} |",
                psbt.len(),
                ur.fragment_count,
                ur.message_len.div_ceil(ur.fragment_count),
                1000.0 / dec_ms
            );
        }
    }
}
