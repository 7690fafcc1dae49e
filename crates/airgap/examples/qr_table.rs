//! Prints the QR transport table (frames, bytes per frame, encode and decode time per frame)
//! for synthetic PSBTs of 1, 10, 100 and 500 inputs. Run with
//! `cargo run --release -p mona-airgap --example qr_table`.

use std::time::Instant;

use mona_airgap::{decode_image, Caps, Density, Payload, QrSettings, UrDecoder};

#[path = "../benches/support/synthetic.rs"]
mod synthetic;

/// CPU time of this thread (user + system) from /proc, in ms; wall time lies on a busy machine.
/// `None` off Linux.
fn thread_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // fields after the command name (which is in parentheses and may hold spaces)
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10.0) // USER_HZ is 100 on Linux
}

/// Frames timed per case.
const SAMPLE_FRAMES: usize = 24;

fn main() {
    println!("| inputs | PSBT bytes | density | fragments | frames emitted | bytes/frame | frame px | encode ms/frame (wall / cpu) | decode ms/frame (wall / cpu) | decode frames/s (cpu) |");
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for n in [1u32, 10, 100, 500] {
        let psbt = synthetic::synthetic_psbt(n);
        for d in Density::ALL {
            let settings = QrSettings::with_density(d);
            let payload = Payload::Psbt(psbt.clone());
            let ur = mona_airgap::encode_ur(&payload, &settings).expect("valid psbt");
            let sample: Vec<String> = ur.texts.iter().take(SAMPLE_FRAMES).cloned().collect();
            let t = Instant::now();
            let c = thread_cpu_ms();
            let mut pngs = Vec::new();
            for text in &sample {
                let code = &mona_airgap::qr_codes(std::slice::from_ref(text)).expect("fits")[0];
                pngs.push(mona_airgap::png_bytes(&code.to_image(d.module_px())).expect("png"));
            }
            let enc_ms = t.elapsed().as_secs_f64() * 1000.0 / sample.len() as f64;
            let enc_cpu = c
                .zip(thread_cpu_ms())
                .map(|(a, b)| (b - a) / sample.len() as f64);
            let t = Instant::now();
            let c = thread_cpu_ms();
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
            let dec_cpu = c
                .zip(thread_cpu_ms())
                .map(|(a, b)| (b - a) / pngs.len() as f64);
            let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
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
                "| {n} | {} | {d} | {} | {frames} | {} | {side} | {enc_ms:.1} / {} | {dec_ms:.1} / {} | {:.0} |",
                psbt.len(),
                ur.fragment_count,
                ur.message_len.div_ceil(ur.fragment_count),
                fmt(enc_cpu),
                fmt(dec_cpu),
                1000.0 / dec_cpu.unwrap_or(dec_ms)
            );
        }
    }
}
