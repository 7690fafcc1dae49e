//! Fee-bump rules against the recorded node's answers, and the bump builder's refusals.

mod build_util;

use bitcoin::Sequence;
use build_util::*;
use mona::{Amount, FeeRate, ScriptType};
use mona_wallet::build::{
    build_fee_bump, build_payout, replacement_fee_ok, BuildPayoutError, Coin, FeeBumpError,
    FeeBumpRequest, Payment, PayoutRequest, TxSettings, WalletDestination,
};

fn context_fee_and_vsize(file: &str) -> (Amount, u64) {
    let j = read_json(&format!("broadcast/{file}.json"));
    let tx = &j["context"]["tx"];
    (
        Amount::from_wat(tx["fee_sat"].as_u64().unwrap()).unwrap(),
        tx["vsize"].as_u64().unwrap(),
    )
}

#[test]
fn rules_agree_with_the_node_answers() {
    let (old_fee, old_vsize) = context_fee_and_vsize("e1-sendrawtransaction-original-rbf");
    let cases = [
        ("e3-sendrawtransaction-replacement-lower-fee", false),
        ("e4-sendrawtransaction-replacement-same-fee", false),
        ("e6-sendrawtransaction-replacement-ok", true),
    ];
    for (file, accepted) in cases {
        let j = read_json(&format!("broadcast/{file}.json"));
        let node_accepted = j["response"]["body"]["error"].is_null();
        assert_eq!(node_accepted, accepted, "{file}: fixture");
        if !accepted {
            let msg = j["response"]["body"]["error"]["message"].as_str().unwrap();
            assert!(msg.starts_with("insufficient fee"), "{file}: {msg}");
        }
        let (fee, vsize) = context_fee_and_vsize(file);
        assert_eq!(
            replacement_fee_ok(old_fee, old_vsize, fee, vsize),
            accepted,
            "{file}"
        );
    }
    // Rule 4 alone: one watanabe per vbyte more is the least accepted delta at the same size...
    let w = |n| Amount::from_wat(n).unwrap();
    assert!(replacement_fee_ok(w(100_000), 110, w(100_110), 110));
    assert!(!replacement_fee_ok(w(100_000), 110, w(100_109), 110));
    // ...and a bigger replacement must also beat the old rate.
    assert!(!replacement_fee_ok(w(100_000), 110, w(150_000), 200));
}

fn none(_: &Coin) -> bool {
    false
}

#[test]
fn bump_refusals() {
    let hot = watch(hot_accounts());
    let coins = fund(
        hot_accounts(),
        &[
            spec(ScriptType::Wpkh, 0, 10_000_000),
            spec(ScriptType::Wpkh, 1, 10_000_000),
        ],
        1,
        Some(10),
    );
    let payments = [Payment {
        script_pubkey: foreign_wpkh(1),
        amount: Amount::from_wat(5_000_000).unwrap(),
    }];
    let built = build_payout(
        &coins,
        &hot,
        &PayoutRequest {
            payments: &payments,
            fee_rate: FeeRate::WALLET_FLOOR,
            change: WalletDestination::change(&hot[0], 0),
            tip_height: 20,
            settings: TxSettings::default(),
            exclude: &none,
        },
    )
    .unwrap();
    let tx = built.unsigned_tx().clone();
    let change_vout = built.summary.change.map(|c| c.vout);
    let mut final_seq = tx.clone();
    final_seq.input[0].sequence = Sequence::MAX;
    let not_spent_by_original = coins
        .iter()
        .find(|c| !built.inputs.contains(c))
        .unwrap()
        .clone();
    let mut with_unrelated = built.inputs.clone();
    with_unrelated.push(not_spent_by_original);
    type Check = fn(&FeeBumpError) -> bool;
    type Case = (
        &'static str,
        bitcoin::Transaction,
        Vec<Coin>,
        Option<u32>,
        u64,
        Check,
    );
    let cases: Vec<Case> = vec![
        (
            "original does not signal RBF",
            final_seq,
            built.inputs.clone(),
            change_vout,
            200,
            |e| matches!(e, FeeBumpError::NotReplaceable { vin: 0 }),
        ),
        (
            "coin of an input missing",
            tx.clone(),
            vec![],
            change_vout,
            200,
            |e| matches!(e, FeeBumpError::MissingInputCoin(_)),
        ),
        (
            "unrelated coin",
            tx.clone(),
            with_unrelated,
            change_vout,
            200,
            |e| matches!(e, FeeBumpError::UnrelatedCoin(_)),
        ),
        (
            "change vout out of range",
            tx.clone(),
            built.inputs.clone(),
            Some(9),
            200,
            |e| matches!(e, FeeBumpError::ChangeVoutOutOfRange(9)),
        ),
        (
            "rate above the ceiling",
            tx.clone(),
            built.inputs.clone(),
            change_vout,
            2_001,
            |e| {
                matches!(
                    e,
                    FeeBumpError::Build(BuildPayoutError::FeeRateAboveCeiling { .. })
                )
            },
        ),
    ];
    for (name, original, original_coins, change_vout, rate, check) in cases {
        let req = FeeBumpRequest {
            original: &original,
            original_coins: &original_coins,
            change_vout,
            change: WalletDestination::change(&hot[0], 1),
            fee_rate: FeeRate::from_wat_per_vb(rate),
            tip_height: 21,
            settings: TxSettings::default(),
            exclude: &none,
        };
        match build_fee_bump(&coins, &hot, &req) {
            Ok(_) => panic!("{name}: built"),
            Err(e) => assert!(check(&e), "{name}: {e:?}"),
        }
    }
}

#[test]
fn bump_never_drops_a_payment_even_when_change_is_gone() {
    // No change at all in the original (an exact match): the bump must add an input rather
    // than shave a payment.
    let hot = watch(hot_accounts());
    let coins = fund(
        hot_accounts(),
        &[
            spec(ScriptType::Wpkh, 0, 1_000_000),
            spec(ScriptType::Wpkh, 1, 5_000_000),
        ],
        2,
        Some(10),
    );
    // 1,000,000 - fee(1 in, 1 out P2WPKH = 110 vB at 100) = 989,000; the selector budgets
    // up to 7 weight units of rounding slack, so pay 100 watanabe less (they go to the fee).
    let payments = [Payment {
        script_pubkey: foreign_wpkh(1),
        amount: Amount::from_wat(988_900).unwrap(),
    }];
    let built = build_payout(
        &coins,
        &hot,
        &PayoutRequest {
            payments: &payments,
            fee_rate: FeeRate::WALLET_FLOOR,
            change: WalletDestination::change(&hot[0], 0),
            tip_height: 20,
            settings: TxSettings::default(),
            exclude: &none,
        },
    )
    .unwrap();
    assert!(built.summary.change.is_none());
    assert_eq!(built.inputs.len(), 1);
    let req = FeeBumpRequest {
        original: built.unsigned_tx(),
        original_coins: &built.inputs,
        change_vout: None,
        change: WalletDestination::change(&hot[0], 1),
        fee_rate: FeeRate::from_wat_per_vb(120),
        tip_height: 21,
        settings: TxSettings::default(),
        exclude: &none,
    };
    let bump = build_fee_bump(&coins, &hot, &req).unwrap();
    assert_eq!(bump.tx.inputs.len(), 2);
    let o = &bump.tx.unsigned_tx().output[bump.tx.payment_vouts[0] as usize];
    assert_eq!(o.value.to_sat(), 988_900);
    assert!(bump.tx.summary.change.is_some());
    // Without spare coins it cannot be done, and says so.
    let only_original: Vec<Coin> = built.inputs.clone();
    assert!(matches!(
        build_fee_bump(&only_original, &hot, &req),
        Err(FeeBumpError::Build(BuildPayoutError::Selection(_)))
    ));
}
