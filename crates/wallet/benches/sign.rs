//! Signing PSBTs of 10, 100 and 1,000 P2WPKH inputs, against bare `sign_ecdsa_low_r` per input.
//!
//! `cargo bench -p mona-wallet --bench sign`. Criterion reports time per PSBT and, with the
//! element throughput set to the input count, inputs per second: divide to compare per input.
//! - `bare_low_r/N`: N calls of `secp.sign_ecdsa_low_r` on distinct messages (the floor).
//! - `sign/N`: `Approved::sign` (hash re-check, BIP143 sighashes, cached derivation, low-R
//!   signatures, Core-style finalize, extraction).
//! - `review_and_sign/N`: the whole pipeline from bytes (parse, analysis with ownership proofs,
//!   policy, approval, signing).

use std::hint::black_box;

use bitcoin::absolute::LockTime;
use bitcoin::bip32::{DerivationPath, Fingerprint};
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use mona::Network;
use mona_policy::{Now, Policy};
use mona_wallet::psbt::{Confirmation, Parsed, SigningKeys};
use mona_wallet::{Account, Mnemonic, Purpose};

const EXTERNAL: &str = "rmona1q7cgva59egg6l4eg64c285rfutmdjfw6nlahe75";
const NOW: Now = Now {
    unix_time: 1_795_000_000,
    tip_height: Some(121),
};

fn policy() -> Policy {
    let text = format!(
        "version = 1\nnetwork = \"regtest\"\n[destinations]\nallow_addresses = [\"{EXTERNAL}\"]\n[limits]\nmax_send = \"100000\"\nmax_fee = \"1\"\nmax_inputs = 1000\n"
    );
    Policy::from_toml_bytes(text.as_bytes()).expect("bench policy")
}

/// An unsigned PSBT spending `n` P2WPKH coins of 0.01 MONA at m/84'/1'/0'/0/i, each with its
/// full (one-output) funding transaction, to one external output and one change output.
fn psbt_of(n: u32) -> Vec<u8> {
    let secp = Secp256k1::new();
    let seed = Mnemonic::parse("all all all all all all all all all all all all")
        .expect("mnemonic")
        .to_seed("");
    let account = Account::from_seed(&secp, &seed, Network::Regtest, Purpose::Bip84, 0);
    let w = account.watch_only();
    let fp = Fingerprint::from_hex("5c9e228d").expect("fingerprint");
    let coin = Amount::from_sat(1_000_000);
    let mut inputs = Vec::new();
    let mut psbt_inputs = Vec::new();
    for i in 0..n {
        let spk = w.script_pubkey(0, i).expect("script");
        let funding = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(bitcoin::Txid::from_byte_array([7; 32]), i),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: coin,
                script_pubkey: spk.clone(),
            }],
        };
        inputs.push(TxIn {
            previous_output: OutPoint::new(funding.compute_txid(), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        });
        let mut pin = bitcoin::psbt::Input {
            witness_utxo: Some(funding.output[0].clone()),
            non_witness_utxo: Some(funding),
            ..Default::default()
        };
        let pk = w.pubkey(0, i).expect("pubkey");
        pin.bip32_derivation.insert(pk.0, (fp, w.full_path(0, i)));
        psbt_inputs.push(pin);
    }
    let fee = 100 * (11 + 68 * u64::from(n) + 62);
    let total = coin.to_sat() * u64::from(n);
    let external = mona::Address::parse(EXTERNAL, Network::Regtest).expect("address");
    let change_path: DerivationPath = w.full_path(1, 0);
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs,
        output: vec![
            TxOut {
                value: Amount::from_sat(total / 2),
                script_pubkey: external.script_pubkey().clone(),
            },
            TxOut {
                value: Amount::from_sat(total - total / 2 - fee),
                script_pubkey: w.script_pubkey(1, 0).expect("change"),
            },
        ],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).expect("unsigned tx");
    psbt.inputs = psbt_inputs;
    psbt.outputs[1]
        .bip32_derivation
        .insert(w.pubkey(1, 0).expect("pk").0, (fp, change_path));
    psbt.serialize()
}

fn bench(c: &mut Criterion) {
    let seed = Mnemonic::parse("all all all all all all all all all all all all")
        .expect("mnemonic")
        .to_seed("");
    let keys = SigningKeys::standard(&seed, Network::Regtest);
    let policy = policy();
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[0x42; 32]).expect("key");
    let mut group = c.benchmark_group("p2wpkh");
    for n in [10u32, 100, 1000] {
        let bytes = psbt_of(n);
        let reviewed = Parsed::parse(bytes.clone(), &policy)
            .expect("parse")
            .review(keys.public(), &policy, NOW);
        assert!(
            reviewed.verdict().is_clean(),
            "{:?}",
            reviewed.verdict().violations
        );
        group.throughput(Throughput::Elements(u64::from(n)));
        if n == 1000 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("bare_low_r", n), &n, |b, &n| {
            b.iter(|| {
                for i in 0..n {
                    let mut digest = [0u8; 32];
                    digest[..4].copy_from_slice(&i.to_le_bytes());
                    black_box(secp.sign_ecdsa_low_r(&Message::from_digest(digest), &sk));
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("sign", n), &bytes, |b, bytes| {
            b.iter_batched(
                || {
                    Parsed::parse(bytes.clone(), &policy)
                        .expect("parse")
                        .review(keys.public(), &policy, NOW)
                        .approve(Confirmation::Unattended)
                        .expect("approve")
                },
                |approved| black_box(approved.sign(&keys, bytes).expect("sign")),
                BatchSize::LargeInput,
            )
        });
        group.bench_with_input(
            BenchmarkId::new("review_and_sign", n),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    let signed = Parsed::parse(bytes.clone(), &policy)
                        .expect("parse")
                        .review(keys.public(), &policy, NOW)
                        .approve(Confirmation::Unattended)
                        .expect("approve")
                        .sign(&keys, bytes)
                        .expect("sign");
                    black_box(signed)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
