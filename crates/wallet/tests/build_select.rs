//! Coin selection, table-driven: each named case gives coins, a payment and settings, and the
//! expected outcome.

use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, ScriptBuf, Txid};
use mona::{Amount, FeeRate, ScriptType};
use mona_wallet::build::{
    select_coins, vsize, Coin, DustPolicy, Keychain, SelectionAlgorithm, SelectionError,
    SelectionParams, SelectionTarget,
};

const P: u64 = 10_000_000; // 0.1 MONA

fn coin(n: u32, value: u64) -> Coin {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_le_bytes());
    Coin {
        outpoint: OutPoint {
            txid: Txid::from_byte_array(b),
            vout: n % 3,
        },
        value: Amount::from_wat(value).unwrap(),
        script_pubkey: ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([1; 20])),
        script_type: ScriptType::Wpkh,
        keychain: Keychain::External,
        index: n,
        confirmation_height: Some(100),
        prev_tx: None,
    }
}

fn coins(values: &[u64]) -> Vec<Coin> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| coin(i as u32, *v))
        .collect()
}

/// The exact changeless budget the selector uses at 100 wat/vB for one P2WPKH payment and a
/// cap of 10 inputs: fixed part (overhead 40 + marker 2 + output 124 + rounding slack 4 = 170
/// weight units) is 4,250 watanabe, each P2WPKH input 6,800.
const FIXED_FEE: u64 = 4_250;
const INPUT_FEE: u64 = 6_800;

#[derive(Debug)]
enum Expect {
    Picks(SelectionAlgorithm, &'static [usize]),
    PicksAlgorithm(SelectionAlgorithm, usize),
    Insufficient,
    TooMany,
    Duplicate,
}

struct Case {
    name: &'static str,
    coins: Vec<Coin>,
    payment: u64,
    rate_wat_per_vb: u64,
    max_inputs: usize,
    min_conf: u32,
    exclude_index: Option<u32>,
    expect: Expect,
}

fn case(name: &'static str, coins: Vec<Coin>, payment: u64, expect: Expect) -> Case {
    Case {
        name,
        coins,
        payment,
        rate_wat_per_vb: 100,
        max_inputs: 10,
        min_conf: 1,
        exclude_index: None,
        expect,
    }
}

fn run(c: &Case) -> Result<mona_wallet::build::Selection, SelectionError> {
    let excl = c.exclude_index;
    let exclude = move |k: &Coin| Some(k.index) == excl;
    let params = SelectionParams {
        fee_rate: FeeRate::from_wat_per_vb(c.rate_wat_per_vb),
        dust: DustPolicy::default(),
        max_inputs: c.max_inputs,
        min_confirmations: c.min_conf,
        tip_height: 200,
        exclude: &exclude,
    };
    let target = SelectionTarget {
        payment_total: Amount::from_wat(c.payment).unwrap(),
        payment_script_lens: &[22],
        change_type: ScriptType::Wpkh,
        min_change: mona_wallet::build::min_change(ScriptType::Wpkh, DustPolicy::default()),
        preselected: &[],
        extra_fee: Amount::ZERO,
    };
    select_coins(&c.coins, &params, &target)
}

#[test]
fn selection_table() {
    let exact = P + FIXED_FEE + INPUT_FEE;
    let mut unconfirmed = coins(&[5 * P, 2 * P]);
    unconfirmed[1].confirmation_height = None;
    let mut dup = coins(&[P, 3 * P, 2 * P]);
    dup[2] = dup[1].clone();
    let cases = vec![
        case(
            "exact match needs no change",
            coins(&[50 * P, exact, 3 * P]),
            P,
            Expect::Picks(SelectionAlgorithm::BranchAndBound, &[1]),
        ),
        case(
            "two coins summing to an exact match",
            coins(&[
                P / 2 + INPUT_FEE,
                50 * P,
                P / 2 + FIXED_FEE + INPUT_FEE,
                7 * P,
            ]),
            P,
            Expect::Picks(SelectionAlgorithm::BranchAndBound, &[2, 0]),
        ),
        case(
            "smallest single coin that leaves change",
            coins(&[50 * P, 3 * P, 2 * P, 20 * P]),
            P,
            Expect::Picks(SelectionAlgorithm::SingleCoin, &[2]),
        ),
        case(
            "largest first when no coin covers alone",
            coins(&[P / 2, P / 3, P / 4, P / 5, P / 6]),
            P,
            Expect::PicksAlgorithm(SelectionAlgorithm::LargestFirst, 3),
        ),
        case(
            "dust is never selected even when it would cover",
            coins(&[13_599; 200]),
            1_000_000,
            Expect::Insufficient,
        ),
        case(
            "coins at the dust threshold are selectable",
            coins(&[13_600; 10]),
            30_000,
            // 6 coins of 6,800 effective each: 40,800 against 34,250 needed, no change.
            Expect::PicksAlgorithm(SelectionAlgorithm::BranchAndBound, 6),
        ),
        Case {
            max_inputs: 5,
            ..case("too many inputs", coins(&[P / 10; 20]), P, Expect::TooMany)
        },
        case(
            "insufficient funds",
            coins(&[P / 2, P / 4]),
            P,
            Expect::Insufficient,
        ),
        Case {
            rate_wat_per_vb: 1_000,
            ..case(
                "coins worth less than their spend cost are skipped",
                coins(&[60_000; 50]),
                1_000_000,
                Expect::Insufficient,
            )
        },
        Case {
            exclude_index: Some(1),
            ..case(
                "excluded coin is skipped",
                coins(&[50 * P, exact, 3 * P]),
                P,
                Expect::Picks(SelectionAlgorithm::SingleCoin, &[2]),
            )
        },
        case(
            "unconfirmed coins need min_confirmations 0",
            unconfirmed.clone(),
            P,
            Expect::Picks(SelectionAlgorithm::SingleCoin, &[0]),
        ),
        Case {
            min_conf: 0,
            ..case(
                "unconfirmed coins allowed with min_confirmations 0",
                unconfirmed,
                P,
                Expect::Picks(SelectionAlgorithm::SingleCoin, &[1]),
            )
        },
        case(
            "a coin listed twice is refused",
            dup,
            5 * P,
            Expect::Duplicate,
        ),
    ];
    for c in &cases {
        let got = run(c);
        match (&c.expect, &got) {
            (Expect::Picks(alg, idx), Ok(s)) => {
                assert_eq!(s.algorithm, *alg, "{}", c.name);
                assert_eq!(s.selected, idx.to_vec(), "{}", c.name);
            }
            (Expect::PicksAlgorithm(alg, n), Ok(s)) => {
                assert_eq!(s.algorithm, *alg, "{}", c.name);
                assert_eq!(s.selected.len(), *n, "{}", c.name);
            }
            (Expect::Insufficient, Err(SelectionError::InsufficientFunds { .. }))
            | (Expect::TooMany, Err(SelectionError::TooManyInputs { .. }))
            | (Expect::Duplicate, Err(SelectionError::DuplicateCoin(_))) => {}
            (e, g) => panic!("{}: expected {e:?}, got {g:?}", c.name),
        }
        if let Ok(s) = &got {
            // Effective value covers payment and the changeless fee of the final shape.
            let types = vec![ScriptType::Wpkh; s.selected.len()];
            let fee = FeeRate::from_wat_per_vb(c.rate_wat_per_vb)
                .fee_for_vsize(vsize::estimate_vsize(&types, &[22]));
            assert!(
                s.selected_value.to_wat() >= c.payment + fee.to_wat(),
                "{}: selection does not fund the payment",
                c.name
            );
            assert!(s.selected.len() <= c.max_inputs, "{}", c.name);
        }
    }
}

#[test]
fn result_does_not_depend_on_coin_order() {
    let values: Vec<u64> = (1..=300u64)
        .map(|i| (i * 7_919 % 1_000) * 100_000 + 20_000)
        .collect();
    let base = coins(&values);
    let mut reversed = base.clone();
    reversed.reverse();
    let mut rotated = base.clone();
    rotated.rotate_left(97);
    let c = case("order", base, 25 * P, Expect::Insufficient);
    let pick = |cs: &[Coin]| {
        let mut v: Vec<OutPoint> = run(&Case {
            coins: cs.to_vec(),
            ..case("order", vec![], c.payment, Expect::Insufficient)
        })
        .unwrap()
        .selected
        .iter()
        .map(|i| cs[*i].outpoint)
        .collect();
        v.sort();
        v
    };
    let a = pick(&c.coins);
    assert_eq!(a, pick(&reversed));
    assert_eq!(a, pick(&rotated));
}

#[test]
fn a_hundred_thousand_coins_select_within_the_cap() {
    // Correctness at scale (the timing is in benches/coinselect.rs).
    let values: Vec<u64> = (0..100_000u64)
        .map(|i| 20_000 + (i * 2_654_435_761) % 50_000_000)
        .collect();
    let c = Case {
        max_inputs: 50,
        ..case("scale", coins(&values), 150 * P, Expect::Insufficient)
    };
    let s = run(&c).unwrap();
    assert!(s.selected.len() <= 50);
    assert!(s.selected_value.to_wat() > 150 * P);
}
