//! Signing PSBTs of 10, 100 and 1,000 P2WPKH inputs, next to bare low-R ECDSA doing the same
//! signatures.
//!
//! `cargo bench -p mona-wallet --bench sign`. Each `time` is per PSBT; the throughput is set to
//! the input count, so per-input time = 1 / `thrpt` (or `time` / N).
//! - `bare_low_r/N` (the floor): `sign_ecdsa_low_r` on exactly the N BIP143 sighashes of the
//!   PSBT with exactly the N child secret keys the signer uses, both computed before the timing,
//!   with one `Secp256k1::new()` context created once. The setup asserts that these are the
//!   signatures the pipeline writes, so the floor does the same nonce grinding as `sign/N`.
//!   Included: only the N low-R signatures (RFC6979 nonces and grinding; no DER encoding).
//! - `sign/N`: `Approved::sign` on a fresh approval (parse, review and approve run in the
//!   untimed setup; dropping the result is untimed too). Included: SHA-256 re-check of the
//!   bytes against the reviewed hash, the our-keys check, BIP143 sighashes (shared hashes cached
//!   per transaction), each child secret (chain secret + the tweak cached by the review), the
//!   low-R signatures, Core-style finalize of every input, extraction of the final transaction.
//! - `review_and_sign/N`: the whole pipeline from bytes (copying the bytes, pre-scan, parse,
//!   analysis with ownership and change proofs, policy, approval, signing as above, dropping
//!   the result).
//!
//! Why the floor must sign the very same sighashes: low-R signing (like Core) retries with a new
//! nonce until r < 2^255, so one signature costs 1 + Geometric(1/2) ECDSA attempts, and over 10
//! inputs the total varies a lot with the messages: 10 synthetic digests `i_le || 0..` with one
//! key need 15 attempts, this PSBT's 10 sighashes need 26. Comparing those two (as this bench
//! once did) reported 1.81x at 10 inputs with no overhead in the signer.

use std::hint::black_box;

use bitcoin::absolute::LockTime;
use bitcoin::bip32::{DerivationPath, Fingerprint};
use bitcoin::ecdsa::Signature;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
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

/// The N (sighash, child secret key) pairs the signer must produce for `psbt_of(n)`, computed
/// independently of the pipeline: BIP143 sighashes from the `bitcoin` crate and keys from the
/// BIP84 account's own derivation.
fn bare_work(bytes: &[u8], account: &Account, secp: &Secp256k1<All>) -> Vec<(Message, SecretKey)> {
    let psbt = Psbt::deserialize(bytes).expect("bench psbt");
    let mut cache = SighashCache::new(&psbt.unsigned_tx);
    psbt.inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let spent = input.witness_utxo.as_ref().expect("witness utxo");
            let sighash = cache
                .p2wpkh_signature_hash(i, &spent.script_pubkey, spent.value, EcdsaSighashType::All)
                .expect("sighash");
            let index = u32::try_from(i).expect("input index");
            let key = account.private_key(secp, 0, index).expect("key").inner;
            (Message::from_digest(sighash.to_byte_array()), key)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let seed = Mnemonic::parse("all all all all all all all all all all all all")
        .expect("mnemonic")
        .to_seed("");
    let keys = SigningKeys::standard(&seed, Network::Regtest);
    let policy = policy();
    let secp = Secp256k1::new();
    let account = Account::from_seed(&secp, &seed, Network::Regtest, Purpose::Bip84, 0);
    let mut group = c.benchmark_group("p2wpkh");
    for n in [10u32, 100, 1000] {
        let bytes = psbt_of(n);
        let approve = || {
            let reviewed = Parsed::parse(bytes.clone(), &policy)
                .expect("parse")
                .review(keys.public(), &policy, NOW);
            assert!(
                reviewed.verdict().is_clean(),
                "{:?}",
                reviewed.verdict().violations
            );
            reviewed.approve(Confirmation::Unattended).expect("approve")
        };
        let work = bare_work(&bytes, &account, &secp);
        // Like with like: the floor's signatures are the ones the pipeline writes.
        let signed = approve().sign(&keys, &bytes).expect("sign");
        let final_tx = signed.final_tx().expect("complete");
        for (i, (msg, key)) in work.iter().enumerate() {
            let expected = Signature {
                signature: secp.sign_ecdsa_low_r(msg, key),
                sighash_type: EcdsaSighashType::All,
            };
            assert_eq!(
                final_tx.input[i].witness.nth(0),
                Some(expected.to_vec().as_slice()),
                "input {i}"
            );
        }
        group.throughput(Throughput::Elements(u64::from(n)));
        if n == 1000 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("bare_low_r", n), &work, |b, work| {
            b.iter(|| {
                for (msg, key) in work {
                    black_box(secp.sign_ecdsa_low_r(black_box(msg), key));
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("sign", n), &bytes, |b, bytes| {
            b.iter_batched(
                approve,
                |approved| approved.sign(&keys, bytes).expect("sign"),
                BatchSize::LargeInput,
            )
        });
        group.bench_with_input(
            BenchmarkId::new("review_and_sign", n),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    Parsed::parse(bytes.clone(), &policy)
                        .expect("parse")
                        .review(keys.public(), &policy, NOW)
                        .approve(Confirmation::Unattended)
                        .expect("approve")
                        .sign(&keys, bytes)
                        .expect("sign")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
