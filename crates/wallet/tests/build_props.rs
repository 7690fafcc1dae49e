//! Property tests over random wallets and requests: money adds up, the fee covers the
//! upper-bound size at the target rate and exceeds it by less than the bounded burn, no output is
//! dust, change is absent or worth keeping, inputs are unique and eligible, signed transactions
//! verify under Core's interpreter within the estimate, and fee bumps obey BIP125.

mod build_util;

use std::collections::HashSet;

use build_util::*;
use mona::{Amount, FeeRate, ScriptType};
use mona_wallet::build::{
    build_fee_bump, build_payout, min_change, replacement_fee_ok, vsize, BuiltTx, Coin, DustPolicy,
    FeeBumpRequest, Keychain, Payment, PayoutRequest, SelectionError, TxSettings,
    WalletDestination,
};
use proptest::prelude::*;

fn script_type(n: u8) -> ScriptType {
    match n % 3 {
        0 => ScriptType::Wpkh,
        1 => ScriptType::ShWpkh,
        _ => ScriptType::Pkh,
    }
}

#[derive(Debug, Clone)]
struct World {
    coin_specs: Vec<(u8, u32, u64, bool, bool)>, // type, index, value, confirmed, excluded
    payments: Vec<(u8, u8, u64)>,                // type, seed byte, amount
    rate_wat_per_vb: u64,
    max_inputs: usize,
    change_type: u8,
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(
            (
                0u8..3,
                0u32..6,
                prop_oneof![1_000u64..20_000, 20_000u64..50_000_000],
                prop::bool::weighted(0.9),
                prop::bool::weighted(0.1),
            ),
            1..30,
        ),
        prop::collection::vec((0u8..3, any::<u8>(), 200u64..30_000_000), 1..5),
        prop_oneof![100u64..=150, 150u64..=2_000],
        1usize..30,
        0u8..3,
    )
        .prop_map(
            |(coin_specs, payments, rate_wat_per_vb, max_inputs, change_type)| World {
                coin_specs,
                payments,
                rate_wat_per_vb,
                max_inputs,
                change_type,
            },
        )
}

fn make(w: &World, nonce: u32) -> (Vec<Coin>, HashSet<bitcoin::OutPoint>, Vec<Payment>) {
    let specs: Vec<Spec> = w
        .coin_specs
        .iter()
        .map(|(t, i, v, _, _)| spec(script_type(*t), *i, *v))
        .collect();
    let mut coins = fund(hot_accounts(), &specs, nonce, Some(50));
    let mut excluded = HashSet::new();
    for (c, (_, _, _, confirmed, excl)) in coins.iter_mut().zip(&w.coin_specs) {
        if !confirmed {
            c.confirmation_height = None;
        }
        if *excl {
            excluded.insert(c.outpoint);
        }
    }
    let payments = w
        .payments
        .iter()
        .map(|(t, b, a)| Payment {
            script_pubkey: match t {
                0 => foreign_wpkh(*b),
                1 => foreign_sh(*b),
                _ => foreign_pkh(*b),
            },
            amount: Amount::from_wat(*a).unwrap(),
        })
        .collect();
    (coins, excluded, payments)
}

/// The invariants every built transaction holds.
fn check_built(b: &BuiltTx, min_change_amount: Amount) -> Result<(), TestCaseError> {
    let tx = b.unsigned_tx();
    let s = b.summary;
    let in_total: u64 = b.inputs.iter().map(|c| c.value.to_wat()).sum();
    prop_assert_eq!(in_total, s.input_total.to_wat());
    prop_assert_eq!(
        in_total,
        output_total(tx) + s.fee.to_wat(),
        "inputs = outputs + fee"
    );
    let types: Vec<ScriptType> = b.inputs.iter().map(|c| c.script_type).collect();
    let lens: Vec<usize> = tx.output.iter().map(|o| o.script_pubkey.len()).collect();
    let est = vsize::estimate_vsize(&types, &lens);
    prop_assert_eq!(est, s.estimated_vsize);
    let least = s.target_fee_rate.fee_for_vsize(est);
    prop_assert!(s.fee >= least, "fee {} below rate x size {}", s.fee, least);
    prop_assert!(
        s.fee.to_wat() - least.to_wat() <= s.max_burn.to_wat() || b.summary.change.is_some()
    );
    for o in &tx.output {
        prop_assert!(o.value.to_sat() >= mona::dust_threshold(&o.script_pubkey).to_wat());
    }
    if let Some(c) = s.change {
        prop_assert!(c.amount >= min_change_amount);
        prop_assert_eq!(tx.output[c.vout as usize].value.to_sat(), c.amount.to_wat());
    }
    let unique: HashSet<_> = tx.input.iter().map(|i| i.previous_output).collect();
    prop_assert_eq!(unique.len(), tx.input.len(), "inputs unique");
    prop_assert!(tx.input.iter().all(|i| i.sequence.0 == 0xffff_fffd));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn payouts_hold_their_invariants(w in world(), nonce in any::<u32>()) {
        let hot = watch(hot_accounts());
        let (coins, excluded, payments) = make(&w, nonce);
        let exclude = |c: &Coin| excluded.contains(&c.outpoint);
        let change_acct = hot.iter().find(|a| a.script_type == script_type(w.change_type)).unwrap();
        let settings = TxSettings { max_inputs: w.max_inputs, ..TxSettings::default() };
        let req = PayoutRequest {
            payments: &payments,
            fee_rate: FeeRate::from_wat_per_vb(w.rate_wat_per_vb),
            change: WalletDestination::change(change_acct, 3),
            tip_height: 60,
            settings,
            exclude: &exclude,
        };
        let dust = DustPolicy::default();
        match build_payout(&coins, &hot, &req) {
            Ok(b) => {
                check_built(&b, min_change(change_acct.script_type, dust))?;
                prop_assert!(b.inputs.len() <= w.max_inputs);
                for c in &b.inputs {
                    prop_assert!(!excluded.contains(&c.outpoint), "excluded coin spent");
                    prop_assert!(c.confirmation_height.is_some(), "unconfirmed coin spent");
                    prop_assert!(c.value >= dust.coin_threshold(c.script_type), "dust spent");
                }
                for (i, p) in payments.iter().enumerate() {
                    let o = &b.unsigned_tx().output[b.payment_vouts[i] as usize];
                    prop_assert_eq!(&o.script_pubkey, &p.script_pubkey);
                    prop_assert_eq!(o.value.to_sat(), p.amount.to_wat());
                }
                let signed = sign(&b.psbt, hot_accounts());
                verify(&signed, &spent_outputs(&b.psbt));
                prop_assert!(signed.vsize() as u64 <= b.summary.estimated_vsize);
            }
            Err(mona_wallet::build::BuildPayoutError::PaymentBelowDust { index, .. }) => {
                let p = &payments[index];
                prop_assert!(p.amount < mona::dust_threshold(&p.script_pubkey));
            }
            Err(mona_wallet::build::BuildPayoutError::Selection(SelectionError::InsufficientFunds { .. })) => {
                // Every eligible coin together cannot pay, up to the selector's rounding slack.
                let rate = FeeRate::from_wat_per_vb(w.rate_wat_per_vb);
                let eligible: Vec<&Coin> = coins.iter().filter(|c| {
                    !excluded.contains(&c.outpoint) && c.confirmation_height.is_some()
                        && c.value >= dust.coin_threshold(c.script_type)
                        && c.value > rate.fee_for_vsize(vsize::input_vsize(c.script_type))
                }).collect();
                let types: Vec<_> = eligible.iter().map(|c| c.script_type).collect();
                let lens: Vec<_> = payments.iter().map(|p| p.script_pubkey.len()).collect();
                let fee = rate.fee_for_vsize(vsize::estimate_vsize(&types, &lens) + 2);
                let have: u64 = eligible.iter().map(|c| c.value.to_wat()).sum();
                let want: u64 = payments.iter().map(|p| p.amount.to_wat()).sum::<u64>() + fee.to_wat();
                prop_assert!(have < want, "refused with {have} >= {want}");
            }
            Err(mona_wallet::build::BuildPayoutError::Selection(SelectionError::TooManyInputs { .. })) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn bumps_keep_inputs_and_payments_and_pay_more(
        w in world(),
        nonce in any::<u32>(),
        extra_rate in 1u64..600,
        drop_change in prop::bool::weighted(0.2),
    ) {
        let hot = watch(hot_accounts());
        let (coins, excluded, payments) = make(&w, nonce);
        let exclude = |c: &Coin| excluded.contains(&c.outpoint);
        let settings = TxSettings { max_inputs: 30, ..TxSettings::default() };
        let req = PayoutRequest {
            payments: &payments,
            fee_rate: FeeRate::from_wat_per_vb(w.rate_wat_per_vb.min(1_000)),
            change: WalletDestination::change(&hot[0], 3),
            tip_height: 60,
            settings,
            exclude: &exclude,
        };
        let Ok(original) = build_payout(&coins, &hot, &req) else { return Ok(()) };
        let signed_original = sign(&original.psbt, hot_accounts());
        let new_rate = (original.summary.target_fee_rate.wat_per_vb_floor() + extra_rate).min(2_000);
        // Sometimes pass the unsigned original (size then bounded below).
        let original_tx = if drop_change { original.unsigned_tx().clone() } else { signed_original.clone() };
        let breq = FeeBumpRequest {
            original: &original_tx,
            original_coins: &original.inputs,
            change_vout: original.summary.change.map(|c| c.vout),
            change: WalletDestination { account: &hot[1], keychain: Keychain::Internal, index: 4 },
            fee_rate: FeeRate::from_wat_per_vb(new_rate),
            tip_height: 61,
            settings,
            exclude: &exclude,
        };
        match build_fee_bump(&coins, &hot, &breq) {
            Ok(bump) => {
                check_built(&bump.tx, min_change(hot[1].script_type, DustPolicy::default()))?;
                let new_ops: HashSet<_> = bump.tx.inputs.iter().map(|c| c.outpoint).collect();
                for c in &original.inputs {
                    prop_assert!(new_ops.contains(&c.outpoint), "original input dropped");
                }
                for c in &bump.tx.inputs {
                    prop_assert!(
                        original.inputs.contains(c) || (!excluded.contains(&c.outpoint) && c.confirmation_height.is_some()),
                        "ineligible coin added"
                    );
                }
                let kept: Vec<_> = signed_original.output.iter().enumerate()
                    .filter(|(v, _)| Some(*v as u32) != original.summary.change.map(|c| c.vout))
                    .map(|(_, o)| o.clone()).collect();
                for (i, o) in kept.iter().enumerate() {
                    prop_assert_eq!(&bump.tx.unsigned_tx().output[bump.tx.payment_vouts[i] as usize], o);
                }
                let signed = sign(&bump.tx.psbt, hot_accounts());
                verify(&signed, &spent_outputs(&bump.tx.psbt));
                prop_assert!(replacement_fee_ok(
                    original.summary.fee,
                    signed_original.vsize() as u64,
                    bump.tx.summary.fee,
                    signed.vsize() as u64,
                ), "BIP125 rules");
            }
            Err(mona_wallet::build::FeeBumpError::Build(
                mona_wallet::build::BuildPayoutError::Selection(_)
                | mona_wallet::build::BuildPayoutError::FeeAboveCap { .. },
            )) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}
