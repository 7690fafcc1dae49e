//! QR transport benchmark: synthetic PSBTs of 1, 10, 100 and 500 inputs at each density
//! preset. Prints frames needed and bytes per frame, then measures encoding one frame
//! (UR part -> QR code -> PNG) and decoding one frame (PNG -> rqrr -> UR decoder).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mona_airgap::{decode_image, encode_qr, Caps, Density, Payload, QrSettings, UrDecoder};
use std::hint::black_box;
use std::time::Duration;

#[path = "support/synthetic.rs"]
mod synthetic;

const INPUTS: [u32; 4] = [1, 10, 100, 500];
/// Frames measured per case (frame cost does not depend on how many frames follow).
const SAMPLE_FRAMES: usize = 8;

fn print_table() {
    println!(
        "{:>6} {:>8} {:>7} {:>9} {:>7} {:>8} {:>10}",
        "inputs", "psbt_B", "density", "fragments", "frames", "B/frame", "qr_px"
    );
    for n in INPUTS {
        let psbt = synthetic::synthetic_psbt(n);
        for d in Density::ALL {
            let seq = encode_qr(&Payload::Psbt(psbt.clone()), &QrSettings::with_density(d))
                .expect("valid psbt");
            let side = seq.frame_image(0).map(|i| i.width()).unwrap_or(0);
            println!(
                "{:>6} {:>8} {:>7} {:>9} {:>7} {:>8} {:>10}",
                n,
                psbt.len(),
                d,
                seq.ur.fragment_count,
                seq.len(),
                seq.ur.message_len.div_ceil(seq.ur.fragment_count),
                side
            );
        }
    }
}

fn bench(c: &mut Criterion) {
    print_table();
    let mut enc = c.benchmark_group("encode_frame");
    enc.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));
    for n in INPUTS {
        let psbt = synthetic::synthetic_psbt(n);
        for d in Density::ALL {
            let settings = QrSettings {
                extra_frames_ratio: 0.0,
                ..QrSettings::with_density(d)
            };
            // one frame's worth: the UR texts are cheap; QR + PNG is the per-frame work
            let ur =
                mona_airgap::encode_ur(&Payload::Psbt(psbt.clone()), &settings).expect("valid");
            let texts: Vec<String> = ur.texts.iter().take(SAMPLE_FRAMES).cloned().collect();
            // throughput in frames: criterion prints frames/s beside the time per iteration
            enc.throughput(Throughput::Elements(texts.len() as u64));
            enc.bench_with_input(BenchmarkId::new(d.as_str(), n), &texts, |b, texts| {
                b.iter(|| {
                    for t in texts {
                        let code =
                            &mona_airgap::qr_codes(std::slice::from_ref(t)).expect("fits")[0];
                        black_box(
                            mona_airgap::png_bytes(&code.to_image(d.module_px())).expect("png"),
                        );
                    }
                })
            });
        }
    }
    enc.finish();
    let mut dec = c.benchmark_group("decode_frame");
    dec.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));
    for n in INPUTS {
        let psbt = synthetic::synthetic_psbt(n);
        for d in Density::ALL {
            let seq = encode_qr(&Payload::Psbt(psbt.clone()), &QrSettings::with_density(d))
                .expect("valid");
            let pngs: Vec<Vec<u8>> = (0..seq.len().min(SAMPLE_FRAMES))
                .map(|i| seq.frame_png(i).expect("png"))
                .collect();
            dec.throughput(Throughput::Elements(pngs.len() as u64));
            dec.bench_with_input(BenchmarkId::new(d.as_str(), n), &pngs, |b, pngs| {
                b.iter(|| {
                    let mut decoder = UrDecoder::new(Caps::default());
                    for p in pngs {
                        let img = image::load_from_memory(p).expect("png").to_luma8();
                        for text in decode_image(&img) {
                            black_box(decoder.receive(&text).expect("valid frame"));
                        }
                    }
                })
            });
        }
    }
    dec.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
