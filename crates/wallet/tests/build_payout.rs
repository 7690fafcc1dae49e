//! Payout, sweep and top-up building: the PSBT carries what Core's own `walletcreatefundedpsbt`
//! puts there, the fee matches Core's for the same coins, the transaction has the fixed shape
//! (RBF sequences, lock time, BIP69), and every bad request is refused.

mod build_util;

use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::{OutPoint, ScriptBuf, Sequence};
use build_util::*;
use mona::{Address, Amount, FeeRate, Network, ScriptType};
use mona_wallet::build::{
    build_payout, build_sweep, build_topup, BuildPayoutError, Coin, DustPolicy, FeePolicy,
    Keychain, Payment, PayoutRequest, SelectionError, TransferRequest, TxSettings,
    WalletDestination,
};

fn no_exclusions(_: &Coin) -> bool {
    false
}

fn pay(addr: &str, wat: u64) -> Payment {
    Payment {
        script_pubkey: Address::parse(addr, Network::Regtest)
            .unwrap()
            .script_pubkey()
            .clone(),
        amount: Amount::from_wat(wat).unwrap(),
    }
}

fn change_index_of(core: &Psbt, vout: usize) -> u32 {
    let (_, (_, path)) = core.outputs[vout].bip32_derivation.iter().next().unwrap();
    match path.as_ref()[4] {
        bitcoin::bip32::ChildNumber::Normal { index } => index,
        _ => panic!(),
    }
}

/// Same coins, payments and change address as the recorded node: same PSBT input fields,
/// same change derivation, and the same fee (our estimate equals Core's).
#[test]
fn psbt_matches_what_core_builds_for_the_same_coins() {
    let cases = [
        (
            "2-mixed-three-inputs",
            vec![pay("pPqdZBXRtc6Ee94RdCrSwQJ9sd1iauX38g", 200_000_000)],
            ScriptType::Wpkh,
            1usize,
            38_100u64,
        ),
        (
            "3-batch-two-outputs",
            vec![
                pay("n3x2f5M5Q1fhXHoB6AoZ4HQZgM6Gx6SrwP", 110_000_000),
                pay("rmona1q7cgva59egg6l4eg64c285rfutmdjfw6nlahe75", 70_000_000),
            ],
            ScriptType::ShWpkh,
            2,
            26_700,
        ),
    ];
    let hot = watch(hot_accounts());
    for (name, payments, change_type, core_change_vout, core_fee) in cases {
        let f = load_fixture(name);
        let change_acct = hot.iter().find(|a| a.script_type == change_type).unwrap();
        let change_index = change_index_of(&f.core_psbt, core_change_vout);
        let req = PayoutRequest {
            payments: &payments,
            fee_rate: FeeRate::WALLET_FLOOR,
            change: WalletDestination::change(change_acct, change_index),
            tip_height: 121,
            settings: TxSettings::default(),
            exclude: &no_exclusions,
        };
        let built = build_payout(&f.coins, &hot, &req).unwrap();
        assert_eq!(built.summary.fee.to_wat(), core_fee, "{name}: fee");
        assert_eq!(built.inputs.len(), f.coins.len(), "{name}: all coins spent");
        let ours = &built.psbt;
        for (i, txin) in ours.unsigned_tx.input.iter().enumerate() {
            let j = f
                .core_psbt
                .unsigned_tx
                .input
                .iter()
                .position(|c| c.previous_output == txin.previous_output)
                .unwrap();
            let (a, b) = (&ours.inputs[i], &f.core_psbt.inputs[j]);
            assert_eq!(
                a.witness_utxo, b.witness_utxo,
                "{name} input {i}: witness_utxo"
            );
            assert_eq!(
                a.non_witness_utxo, b.non_witness_utxo,
                "{name} input {i}: non_witness_utxo"
            );
            assert_eq!(
                a.redeem_script, b.redeem_script,
                "{name} input {i}: redeem_script"
            );
            assert_eq!(
                a.bip32_derivation, b.bip32_derivation,
                "{name} input {i}: bip32"
            );
        }
        let ch = built.summary.change.unwrap();
        let core_change = &f.core_psbt.unsigned_tx.output[core_change_vout];
        assert_eq!(
            built.unsigned_tx().output[ch.vout as usize],
            *core_change,
            "{name}: change output equals Core's"
        );
        assert_eq!(
            ours.outputs[ch.vout as usize].bip32_derivation,
            f.core_psbt.outputs[core_change_vout].bip32_derivation,
            "{name}: change derivation"
        );
        // Core 0.20 writes no redeem script on outputs; ours adds it for P2SH-P2WPKH change
        // (BIP174 output type 0x00), which lets a signer re-derive the change script exactly.
        if change_type == ScriptType::ShWpkh {
            assert!(ours.outputs[ch.vout as usize].redeem_script.is_some());
        }
    }
}

fn hot_coins() -> Vec<Coin> {
    fund(
        hot_accounts(),
        &[
            spec(ScriptType::Wpkh, 0, 50_000_000),
            spec(ScriptType::Wpkh, 1, 30_000_000),
            spec(ScriptType::ShWpkh, 0, 40_000_000),
            spec(ScriptType::Pkh, 0, 20_000_000),
            spec(ScriptType::Wpkh, 2, 5_000),
        ],
        1,
        Some(100),
    )
}

#[test]
fn payout_shape_is_fixed() {
    let hot = watch(hot_accounts());
    let coins = hot_coins();
    let payments = vec![
        Payment {
            script_pubkey: foreign_pkh(9),
            amount: Amount::from_wat(70_000_000).unwrap(),
        },
        Payment {
            script_pubkey: foreign_wpkh(3),
            amount: Amount::from_wat(1_000_000).unwrap(),
        },
        Payment {
            script_pubkey: foreign_sh(5),
            amount: Amount::from_wat(1_000_000).unwrap(),
        },
    ];
    let req = PayoutRequest {
        payments: &payments,
        fee_rate: FeeRate::from_wat_per_vb(1), // below the floor: raised to 100 wat/vB
        change: WalletDestination::change(&hot[0], 7),
        tip_height: 150,
        settings: TxSettings::default(),
        exclude: &no_exclusions,
    };
    let built = build_payout(&coins, &hot, &req).unwrap();
    let tx = built.unsigned_tx();
    assert_eq!(built.summary.target_fee_rate, FeeRate::WALLET_FLOOR);
    assert_eq!(tx.version, bitcoin::transaction::Version::TWO);
    assert_eq!(
        tx.lock_time,
        bitcoin::absolute::LockTime::from_height(150).unwrap()
    );
    assert!(tx.input.iter().all(|i| i.sequence == Sequence(0xffff_fffd)));
    // BIP69: inputs by txid (display order) then vout; outputs by amount then script.
    let keys: Vec<(String, u32)> = tx
        .input
        .iter()
        .map(|i| (i.previous_output.txid.to_string(), i.previous_output.vout))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "inputs sorted");
    let outs: Vec<(u64, Vec<u8>)> = tx
        .output
        .iter()
        .map(|o| (o.value.to_sat(), o.script_pubkey.to_bytes()))
        .collect();
    assert!(outs.windows(2).all(|w| w[0] <= w[1]), "outputs sorted");
    for (i, p) in payments.iter().enumerate() {
        let o = &tx.output[built.payment_vouts[i] as usize];
        assert_eq!(o.script_pubkey, p.script_pubkey);
        assert_eq!(o.value.to_sat(), p.amount.to_wat());
    }
    // The dust coin (5,000 < 13,600) is never spent.
    assert!(built.inputs.iter().all(|c| c.value.to_wat() >= 13_600));
    // The inputs list is the transaction's inputs, in order.
    let ops: Vec<OutPoint> = built.inputs.iter().map(|c| c.outpoint).collect();
    let tx_ops: Vec<OutPoint> = tx.input.iter().map(|i| i.previous_output).collect();
    assert_eq!(ops, tx_ops);
    // Money adds up.
    let s = built.summary;
    let change = s.change.map_or(0, |c| c.amount.to_wat());
    assert_eq!(
        s.input_total.to_wat(),
        s.payment_total.to_wat() + change + s.fee.to_wat()
    );
    assert_eq!(output_total(tx), s.payment_total.to_wat() + change);
    // Same request, same bytes.
    let again = build_payout(&coins, &hot, &req).unwrap();
    assert_eq!(again.psbt.serialize(), built.psbt.serialize());
}

#[test]
fn sweep_and_topup_record_our_destination_and_change() {
    let hot = watch(hot_accounts());
    let cold = watch(cold_accounts());
    // Sweep: hot coins to a cold receive address, change to hot.
    let coins = hot_coins();
    let req = TransferRequest {
        destination: WalletDestination::receive(&cold[0], 3),
        amount: Amount::from_wat(60_000_000).unwrap(),
        fee_rate: FeeRate::WALLET_FLOOR,
        change: WalletDestination::change(&hot[0], 2),
        tip_height: 200,
        settings: TxSettings::default(),
        exclude: &no_exclusions,
    };
    let sweep = build_sweep(&coins, &hot, &req).unwrap();
    let vout = sweep.payment_vouts[0] as usize;
    assert_eq!(
        sweep.unsigned_tx().output[vout].script_pubkey,
        cold[0].script_pubkey(0, 3).unwrap()
    );
    let (_, (fp, path)) = sweep.psbt.outputs[vout]
        .bip32_derivation
        .iter()
        .next()
        .unwrap();
    assert_eq!(*fp, cold[0].fingerprint);
    assert_eq!(*path, cold[0].full_path(0, 3));

    // Top-up: cold coins (with full previous transactions) to a hot address, change to cold.
    let cold_coins = fund(
        cold_accounts(),
        &[
            spec(ScriptType::Wpkh, 0, 300_000_000),
            spec(ScriptType::ShWpkh, 4, 200_000_000),
            spec(ScriptType::Pkh, 1, 100_000_000),
        ],
        2,
        Some(150),
    );
    let req = TransferRequest {
        destination: WalletDestination::receive(&hot[0], 11),
        amount: Amount::from_wat(450_000_000).unwrap(),
        fee_rate: FeeRate::WALLET_FLOOR,
        change: WalletDestination::change(&cold[0], 5),
        tip_height: 200,
        settings: TxSettings::default(),
        exclude: &no_exclusions,
    };
    let topup = build_topup(&cold_coins, &cold, &req).unwrap();
    for (i, pin) in topup.psbt.inputs.iter().enumerate() {
        let coin = &topup.inputs[i];
        assert!(
            pin.non_witness_utxo.is_some(),
            "input {i}: full previous tx"
        );
        assert_eq!(
            pin.witness_utxo.is_some(),
            coin.script_type != ScriptType::Pkh
        );
        let (_, (fp, path)) = pin.bip32_derivation.iter().next().unwrap();
        assert_eq!(*fp, cold[0].fingerprint);
        assert_eq!(
            path.as_ref()[..3],
            cold.iter()
                .find(|a| a.script_type == coin.script_type)
                .unwrap()
                .account_path
                .as_ref()[..]
        );
    }
    let ch = topup.summary.change.unwrap();
    let (_, (fp, path)) = topup.psbt.outputs[ch.vout as usize]
        .bip32_derivation
        .iter()
        .next()
        .unwrap();
    assert_eq!(
        (*fp, path.clone()),
        (cold[0].fingerprint, cold[0].full_path(1, 5))
    );
    let dest = topup.payment_vouts[0] as usize;
    let (_, (fp, path)) = topup.psbt.outputs[dest]
        .bip32_derivation
        .iter()
        .next()
        .unwrap();
    assert_eq!(
        (*fp, path.clone()),
        (hot[0].fingerprint, hot[0].full_path(0, 11))
    );

    // A top-up coin without its previous transaction is refused (the cold signer needs it).
    let mut bare = cold_coins.clone();
    for c in &mut bare {
        c.prev_tx = None;
    }
    assert!(matches!(
        build_topup(&bare, &cold, &req),
        Err(BuildPayoutError::MissingPrevTx(_))
    ));
}

#[test]
fn refusals() {
    let hot = watch(hot_accounts());
    let coins = hot_coins();
    let ok_payment = Payment {
        script_pubkey: foreign_wpkh(1),
        amount: Amount::from_wat(1_000_000).unwrap(),
    };
    let segwit_v1 = ScriptBuf::from_bytes([vec![0x51, 0x20], vec![7u8; 32]].concat());
    let op_return = ScriptBuf::new_op_return([1u8, 2, 3]);
    let mut foreign = coins.clone();
    foreign[0].script_pubkey = foreign_wpkh(42);
    foreign[0].prev_tx = None;
    let mut pkh_bare = coins.clone();
    for c in &mut pkh_bare {
        c.prev_tx = None;
    }
    let mut mismatched = coins.clone();
    for c in &mut mismatched {
        c.value = Amount::from_wat(c.value.to_wat() + 1).unwrap();
    }
    type Check = fn(&BuildPayoutError) -> bool;
    struct Case {
        name: &'static str,
        payments: Vec<Payment>,
        coins: Vec<Coin>,
        fee_rate: FeeRate,
        tip: u32,
        settings: TxSettings,
        check: Check,
    }
    let base = |name, payments: Vec<Payment>, check: Check| Case {
        name,
        payments,
        coins: coins.clone(),
        fee_rate: FeeRate::WALLET_FLOOR,
        tip: 150,
        settings: TxSettings::default(),
        check,
    };
    let p = |script: ScriptBuf, wat: u64| Payment {
        script_pubkey: script,
        amount: Amount::from_wat(wat).unwrap(),
    };
    let cases = vec![
        base("no payments", vec![], |e| {
            matches!(e, BuildPayoutError::NoPayments)
        }),
        base("p2wpkh below 294", vec![p(foreign_wpkh(1), 293)], |e| {
            matches!(e, BuildPayoutError::PaymentBelowDust { index: 0, .. })
        }),
        base(
            "p2pkh below 546",
            vec![ok_payment.clone(), p(foreign_pkh(1), 545)],
            |e| matches!(e, BuildPayoutError::PaymentBelowDust { index: 1, .. }),
        ),
        base("zero amount", vec![p(foreign_wpkh(1), 0)], |e| {
            matches!(e, BuildPayoutError::PaymentBelowDust { .. })
        }),
        base(
            "segwit v1 destination",
            vec![p(segwit_v1, 1_000_000)],
            |e| matches!(e, BuildPayoutError::UnspendableDestination { .. }),
        ),
        base(
            "op_return destination",
            vec![p(op_return, 1_000_000)],
            |e| matches!(e, BuildPayoutError::NonStandardDestination { .. }),
        ),
        base(
            "insufficient funds",
            vec![p(foreign_wpkh(1), 140_000_000)],
            |e| {
                matches!(
                    e,
                    BuildPayoutError::Selection(SelectionError::InsufficientFunds { .. })
                )
            },
        ),
        Case {
            settings: TxSettings {
                max_inputs: 2,
                ..TxSettings::default()
            },
            ..base(
                "too many inputs",
                vec![p(foreign_wpkh(1), 100_000_000)],
                |e| {
                    matches!(
                        e,
                        BuildPayoutError::Selection(SelectionError::TooManyInputs { .. })
                    )
                },
            )
        },
        Case {
            fee_rate: FeeRate::from_wat_per_vb(2_001),
            ..base(
                "fee rate above the ceiling",
                vec![ok_payment.clone()],
                |e| matches!(e, BuildPayoutError::FeeRateAboveCeiling { .. }),
            )
        },
        Case {
            settings: TxSettings {
                fees: FeePolicy {
                    max_fee: Amount::from_wat(10_000).unwrap(),
                    ..FeePolicy::default()
                },
                ..TxSettings::default()
            },
            ..base(
                "fee above the absolute cap",
                vec![ok_payment.clone()],
                |e| matches!(e, BuildPayoutError::FeeAboveCap { .. }),
            )
        },
        Case {
            tip: 500_000_000,
            ..base("lock time not a height", vec![ok_payment.clone()], |e| {
                matches!(e, BuildPayoutError::LockTimeNotAHeight(500_000_000))
            })
        },
        Case {
            coins: foreign[..1].to_vec(),
            ..base(
                "coin not derivable from our accounts",
                vec![ok_payment.clone()],
                |e| matches!(e, BuildPayoutError::CoinNotInWallet(_)),
            )
        },
        Case {
            coins: pkh_bare[3..4].to_vec(),
            ..base(
                "p2pkh coin without its previous tx",
                vec![ok_payment.clone()],
                |e| matches!(e, BuildPayoutError::MissingPrevTx(_)),
            )
        },
        Case {
            coins: mismatched[..1].to_vec(),
            ..base(
                "previous tx disagrees with the coin",
                vec![ok_payment.clone()],
                |e| matches!(e, BuildPayoutError::PrevTxMismatch(_)),
            )
        },
        Case {
            settings: TxSettings {
                dust: DustPolicy::Threshold(Amount::from_wat(60_000_000).unwrap()),
                ..TxSettings::default()
            },
            ..base(
                "every coin is dust under the policy",
                vec![ok_payment.clone()],
                |e| {
                    matches!(
                        e,
                        BuildPayoutError::Selection(SelectionError::InsufficientFunds { .. })
                    )
                },
            )
        },
    ];
    for c in cases {
        let req = PayoutRequest {
            payments: &c.payments,
            fee_rate: c.fee_rate,
            change: WalletDestination::change(&hot[0], 0),
            tip_height: c.tip,
            settings: c.settings,
            exclude: &no_exclusions,
        };
        match build_payout(&c.coins, &hot, &req) {
            Ok(_) => panic!("{}: built", c.name),
            Err(e) => {
                assert!((c.check)(&e), "{}: wrong error {e:?}", c.name);
                let msg = e.to_string();
                assert!(!msg.is_empty() && !msg.contains('\n'), "{}: {msg}", c.name);
            }
        }
    }
}

#[test]
fn reserved_coins_are_never_spent() {
    let hot = watch(hot_accounts());
    let coins = hot_coins();
    let reserved: Vec<OutPoint> = vec![coins[0].outpoint, coins[2].outpoint];
    let exclude = |c: &Coin| reserved.contains(&c.outpoint);
    let payments = [Payment {
        script_pubkey: foreign_wpkh(8),
        amount: Amount::from_wat(25_000_000).unwrap(),
    }];
    let req = PayoutRequest {
        payments: &payments,
        fee_rate: FeeRate::WALLET_FLOOR,
        change: WalletDestination::change(&hot[0], 0),
        tip_height: 150,
        settings: TxSettings::default(),
        exclude: &exclude,
    };
    let built = build_payout(&coins, &hot, &req).unwrap();
    assert!(built.inputs.iter().all(|c| !reserved.contains(&c.outpoint)));
    let _ = (Keychain::Internal, bitcoin::Txid::all_zeros());
}
