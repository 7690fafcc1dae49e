//! Measures one unlock (argon2id with the default parameters + decrypt) in an optimized build.
//!
//! Run: `cargo bench -p mona-keystore --bench unlock`. Plain timing loop (no criterion): each
//! iteration takes most of a second, so a handful of samples is enough.

use std::time::{Duration, Instant};

use mona_keystore::{seal, KdfParams, Passphrase, SeedFile};

fn main() {
    let params = KdfParams::DEFAULT;
    let pass = Passphrase::new("correct horse battery staple".to_owned());
    let bytes = seal(&[7u8; 36], b"{}", &pass, &params).expect("seal");
    let file = SeedFile::parse(bytes).expect("parse");
    let mut samples: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let payload = file.open(&pass).expect("open");
            let elapsed = start.elapsed();
            assert_eq!(payload.len(), 36);
            elapsed
        })
        .collect();
    samples.sort();
    println!(
        "unlock with {params:?}: min {:.3} s, median {:.3} s, max {:.3} s ({} samples)",
        samples[0].as_secs_f64(),
        samples[samples.len() / 2].as_secs_f64(),
        samples[samples.len() - 1].as_secs_f64(),
        samples.len()
    );
}
