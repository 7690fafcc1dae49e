//! Coin selection over 100,000 UTXOs (issue 5 target: under 20 ms in release).
//!
//! `cargo bench -p mona-wallet --bench coinselect`

use std::hint::black_box;

use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, ScriptBuf, Txid};
use criterion::{criterion_group, criterion_main, Criterion};
use mona::{Amount, FeeRate, ScriptType};
use mona_wallet::build::{
    min_change, select_coins, Coin, DustPolicy, Keychain, SelectionParams, SelectionTarget,
};

/// `n` coins with pseudo-random values between 0.0001 and 1 MONA (a tenth of them dust), of
/// mixed script types, some reserved.
fn wallet(n: u32) -> Vec<Coin> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let value = if i % 10 == 0 {
                1_000 + x % 10_000
            } else {
                10_000 + x % 100_000_000
            };
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&x.to_le_bytes());
            let script_type = match i % 5 {
                0 => ScriptType::ShWpkh,
                1 => ScriptType::Pkh,
                _ => ScriptType::Wpkh,
            };
            Coin {
                outpoint: OutPoint {
                    txid: Txid::from_byte_array(b),
                    vout: i % 4,
                },
                value: Amount::from_wat(value).unwrap(),
                script_pubkey: ScriptBuf::new(),
                script_type,
                keychain: Keychain::External,
                index: i,
                confirmation_height: Some(1 + i % 1000),
                prev_tx: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let coins = wallet(100_000);
    let exclude = |c: &Coin| c.index % 97 == 0;
    let params = SelectionParams {
        fee_rate: FeeRate::WALLET_FLOOR,
        dust: DustPolicy::default(),
        max_inputs: 100,
        min_confirmations: 1,
        tip_height: 2_000,
        exclude: &exclude,
    };
    let mut group = c.benchmark_group("select_coins_100k");
    for (name, wat, outputs) in [
        ("one_payment_0.5_mona", 50_000_000u64, 1usize),
        ("batch_50_payments_20_mona", 2_000_000_000, 50),
        ("sweep_40_mona", 4_000_000_000, 1),
    ] {
        let lens = vec![22usize; outputs];
        let target = SelectionTarget {
            payment_total: Amount::from_wat(wat).unwrap(),
            payment_script_lens: &lens,
            change_type: ScriptType::Wpkh,
            min_change: min_change(ScriptType::Wpkh, DustPolicy::default()),
            preselected: &[],
            extra_fee: Amount::ZERO,
        };
        let s = select_coins(&coins, &params, &target).unwrap();
        eprintln!("{name}: {:?}, {} inputs", s.algorithm, s.selected.len());
        group.bench_function(name, |b| {
            b.iter(|| select_coins(black_box(&coins), &params, &target).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
