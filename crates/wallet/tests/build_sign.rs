//! Built transactions, signed by a straightforward local signer (SighashCache +
//! `sign_ecdsa_low_r`), pass Bitcoin Core's own script interpreter (libbitcoinconsensus), and
//! their real vsize never exceeds the estimate the fee was paid for. The same holds for fee bumps
//! and top-ups, and for a payout spending the recorded node's real coins.

mod build_util;

use bitcoin::Transaction;
use build_util::*;
use mona::{Amount, FeeRate, ScriptType};
use mona_wallet::build::{
    build_fee_bump, build_payout, build_topup, replacement_fee_ok, BuiltTx, Coin, FeeBumpRequest,
    Keychain, Payment, PayoutRequest, TransferRequest, TxSettings, WalletDestination,
};

fn none(_: &Coin) -> bool {
    false
}

fn check_signed(built: &BuiltTx, accounts: &[mona_wallet::Account]) -> Transaction {
    let signed = sign(&built.psbt, accounts);
    verify(&signed, &spent_outputs(&built.psbt));
    let real = signed.vsize() as u64;
    assert!(
        real <= built.summary.estimated_vsize,
        "real vsize {real} above estimate {}",
        built.summary.estimated_vsize
    );
    assert!(built.summary.estimated_vsize - real <= built.inputs.len() as u64 + 1);
    let rate_paid = FeeRate::from_fee_and_vsize(built.summary.fee, real).unwrap();
    assert!(
        rate_paid >= built.summary.target_fee_rate,
        "rate {rate_paid} below target"
    );
    signed
}

fn mixed_coins(nonce: u32) -> Vec<Coin> {
    let mut specs = Vec::new();
    for i in 0..4 {
        specs.push(spec(
            ScriptType::Wpkh,
            i,
            10_000_000 + u64::from(i) * 1_000_000,
        ));
        specs.push(spec(
            ScriptType::ShWpkh,
            i,
            12_000_000 + u64::from(i) * 700_000,
        ));
        specs.push(spec(ScriptType::Pkh, i, 9_000_000 + u64::from(i) * 300_000));
    }
    specs.push(Spec {
        keychain: Keychain::Internal,
        ..spec(ScriptType::Wpkh, 3, 8_000_000)
    });
    fund(hot_accounts(), &specs, nonce, Some(100))
}

#[test]
fn payouts_of_every_input_type_verify_under_core_interpreter() {
    let hot = watch(hot_accounts());
    let coins = mixed_coins(1);
    let batches: Vec<Vec<Payment>> = vec![
        vec![Payment {
            script_pubkey: foreign_wpkh(1),
            amount: Amount::from_wat(45_000_000).unwrap(),
        }],
        (0..20)
            .map(|i| Payment {
                script_pubkey: match i % 3 {
                    0 => foreign_wpkh(i),
                    1 => foreign_pkh(i),
                    _ => foreign_sh(i),
                },
                amount: Amount::from_wat(3_000_000 + u64::from(i) * 1_111).unwrap(),
            })
            .collect(),
        vec![Payment {
            script_pubkey: foreign_pkh(2),
            amount: Amount::from_wat(120_000_000).unwrap(),
        }],
    ];
    for (n, payments) in batches.iter().enumerate() {
        for change_type in [ScriptType::Wpkh, ScriptType::ShWpkh, ScriptType::Pkh] {
            let change_acct = hot.iter().find(|a| a.script_type == change_type).unwrap();
            for rate in [100u64, 137, 1_000] {
                let req = PayoutRequest {
                    payments,
                    fee_rate: FeeRate::from_wat_per_vb(rate),
                    change: WalletDestination::change(change_acct, 9),
                    tip_height: 300,
                    settings: TxSettings::default(),
                    exclude: &none,
                };
                let built = build_payout(&coins, &hot, &req)
                    .unwrap_or_else(|e| panic!("batch {n} {change_type:?} {rate}: {e}"));
                check_signed(&built, hot_accounts());
            }
        }
    }
}

#[test]
fn payout_of_the_recorded_nodes_real_coins_verifies() {
    // Real funding transactions from the regtest node, the same keys.
    let hot = watch(hot_accounts());
    for name in [
        "1-p2wpkh-single-input",
        "2-mixed-three-inputs",
        "4-consolidation-30-inputs",
    ] {
        let f = load_fixture(name);
        let total: u64 = f.coins.iter().map(|c| c.value.to_wat()).sum();
        let payments = [Payment {
            script_pubkey: foreign_sh(4),
            amount: Amount::from_wat(total / 2).unwrap(),
        }];
        let req = PayoutRequest {
            payments: &payments,
            fee_rate: FeeRate::WALLET_FLOOR,
            change: WalletDestination::change(&hot[0], 0),
            tip_height: 121,
            settings: TxSettings::default(),
            exclude: &none,
        };
        let built = build_payout(&f.coins, &hot, &req).unwrap();
        check_signed(&built, hot_accounts());
    }
}

#[test]
fn our_signer_reproduces_cores_final_transactions() {
    // The local signer is the reference the other tests lean on: on Core's own unsigned PSBTs
    // it must produce Core's final transactions byte for byte.
    for name in [
        "1-p2wpkh-single-input",
        "2-mixed-three-inputs",
        "3-batch-two-outputs",
    ] {
        let f = load_fixture(name);
        let signed = sign(&f.core_psbt, hot_accounts());
        assert_eq!(signed, f.final_tx, "{name}");
    }
}

#[test]
fn fee_bumps_verify_and_satisfy_bip125() {
    let hot = watch(hot_accounts());
    // The original spends one coin with a small change; spare coins are available for bumps.
    let first = fund(
        hot_accounts(),
        &[spec(ScriptType::ShWpkh, 20, 10_000_000)],
        7,
        Some(100),
    );
    let spare = mixed_coins(2);
    let payments = [
        Payment {
            script_pubkey: foreign_wpkh(5),
            amount: Amount::from_wat(9_000_000).unwrap(),
        },
        Payment {
            script_pubkey: foreign_pkh(6),
            amount: Amount::from_wat(900_000).unwrap(),
        },
    ];
    let req = PayoutRequest {
        payments: &payments,
        fee_rate: FeeRate::WALLET_FLOOR,
        change: WalletDestination::change(&hot[0], 1),
        tip_height: 300,
        settings: TxSettings::default(),
        exclude: &none,
    };
    let original = build_payout(&first, &hot, &req).unwrap();
    assert!(original.summary.change.is_some());
    let signed_original = check_signed(&original, hot_accounts());
    let unsigned_original = original.unsigned_tx().clone();
    let mut pool = first.clone();
    pool.extend(spare);
    // A bump the change absorbs, one that needs another input; from the signed original and
    // from the unsigned one (whose size is then bounded below).
    for (rate, must_add) in [(150u64, false), (1_000, true)] {
        for original_tx in [&signed_original, &unsigned_original] {
            let bump_req = FeeBumpRequest {
                original: original_tx,
                original_coins: &original.inputs,
                change_vout: original.summary.change.map(|c| c.vout),
                change: WalletDestination::change(&hot[0], 2),
                fee_rate: FeeRate::from_wat_per_vb(rate),
                tip_height: 301,
                settings: TxSettings::default(),
                exclude: &none,
            };
            let bump = build_fee_bump(&pool, &hot, &bump_req).unwrap();
            let signed = check_signed(&bump.tx, hot_accounts());
            for txin in &signed_original.input {
                assert!(
                    signed
                        .input
                        .iter()
                        .any(|i| i.previous_output == txin.previous_output),
                    "every original input is spent again"
                );
            }
            assert_eq!(
                bump.tx.inputs.len() > original.inputs.len(),
                must_add,
                "rate {rate}"
            );
            // Payment i of a bump is the original's i-th non-change output, kept unchanged.
            let kept: Vec<_> = signed_original
                .output
                .iter()
                .enumerate()
                .filter(|(v, _)| Some(*v as u32) != original.summary.change.map(|c| c.vout))
                .map(|(_, o)| o.clone())
                .collect();
            assert_eq!(kept.len(), payments.len());
            for (i, o) in kept.iter().enumerate() {
                assert_eq!(signed.output[bump.tx.payment_vouts[i] as usize], *o);
            }
            assert!(replacement_fee_ok(
                original.summary.fee,
                signed_original.vsize() as u64,
                bump.tx.summary.fee,
                signed.vsize() as u64
            ));
            assert_eq!(bump.info.original_fee, original.summary.fee);
        }
    }
}

#[test]
fn topup_signed_by_the_cold_keys_verifies() {
    let hot = watch(hot_accounts());
    let cold = watch(cold_accounts());
    let cold_coins = fund(
        cold_accounts(),
        &[
            spec(ScriptType::Wpkh, 0, 300_000_000),
            spec(ScriptType::ShWpkh, 1, 200_000_000),
            spec(ScriptType::Pkh, 2, 100_000_000),
        ],
        3,
        Some(100),
    );
    let req = TransferRequest {
        destination: WalletDestination::receive(&hot[0], 4),
        amount: Amount::from_wat(550_000_000).unwrap(),
        fee_rate: FeeRate::WALLET_FLOOR,
        change: WalletDestination::change(&cold[1], 0),
        tip_height: 300,
        settings: TxSettings::default(),
        exclude: &none,
    };
    let topup = build_topup(&cold_coins, &cold, &req).unwrap();
    assert_eq!(topup.inputs.len(), 3);
    check_signed(&topup, cold_accounts());
}
