//! Table-driven checks of `evaluate`: one named case per rule, each mutating a clean summary.

use std::str::FromStr;

use bitcoin::bip32::DerivationPath;
use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, ScriptBuf, Txid};
use mona::{Address, Network, ScriptType};
use mona_policy::{
    evaluate, Envelope, InputOwnership, InputSummary, Now, OutputClass, OutputOwnership,
    OutputSummary, Policy, TxSummary, UtxoEvidence, Violation, Warning, SEQUENCE_FINAL,
};
use proptest::prelude::*;

const EXTERNAL: &str = "rmona1q7cgva59egg6l4eg64c285rfutmdjfw6nlahe75";
const HOT_0: &str = "rmona1qkvwu9g3k2pdxewfqr7syz89r3gj557l3506gn9";
const NOW: Now = Now {
    unix_time: 1_800_000_000,
    tip_height: Some(121),
};

fn policy(extra: &str) -> Policy {
    let text = format!(
        r#"version = 1
network = "regtest"
[destinations]
hot_descriptors = ["wpkh([5c9e228d/84'/1'/0']tpubDCZB6sR48s4T5Cr8qHUYSZEFCQMMHRg8AoVKVmvcAP5bRw7ArDKeoNwKAJujV3xCPkBvXH5ejSgbgyN6kREmF7sMd41NdbuHa8n1DZNxSMg/0/*)#rn0zejch"]
allow_addresses = ["{EXTERNAL}"]
hot_scan_range = 10
[limits]
max_send = "100"
max_fee = "0.1"
max_fee_fraction = 0.10
max_fee_rate = 1000
max_inputs = 5
max_outputs = 5
{extra}"#
    );
    Policy::from_toml_bytes(text.as_bytes()).unwrap()
}

fn script(addr: &str) -> ScriptBuf {
    Address::parse(addr, Network::Regtest)
        .unwrap()
        .script_pubkey()
        .clone()
}

fn path(s: &str) -> DerivationPath {
    DerivationPath::from_str(s).unwrap()
}

fn mona(s: &str) -> u64 {
    mona::Amount::from_mona_str(s).unwrap().to_wat()
}

/// 2.5 MONA in (ours), 1 MONA to the allow-listed address, 1.499859 back as change.
fn clean() -> TxSummary {
    TxSummary {
        network: Network::Regtest,
        envelope: Envelope {
            psbt_bytes: 557,
            psbt_version: 0,
            input_count: 1,
            output_count: 2,
        },
        txid: Txid::all_zeros(),
        tx_version: 2,
        lock_time: 0,
        inputs: vec![InputSummary {
            index: 0,
            prevout: OutPoint::new(Txid::all_zeros(), 0),
            sequence: SEQUENCE_FINAL,
            utxo: UtxoEvidence::FullPrevTx {
                amount_wat: mona("2.5"),
                script_pubkey: script(HOT_0),
            },
            ownership: InputOwnership::Ours {
                path: path("m/84'/1'/0'/0/0"),
                script_type: ScriptType::Wpkh,
                account: 0,
                chain: 0,
                index: 0,
            },
            sighash: None,
            finalized: false,
        }],
        outputs: vec![
            OutputSummary {
                index: 0,
                amount_wat: mona("1"),
                script_pubkey: script(EXTERNAL),
                address: Some(EXTERNAL.into()),
                ownership: OutputOwnership::External,
            },
            OutputSummary {
                index: 1,
                amount_wat: mona("1.499859"),
                script_pubkey: script("rmona1qejqxwzfld7zr6mf7ygqy5s5se5xq7vmtdfpm4x"),
                address: None,
                ownership: OutputOwnership::Change {
                    path: path("m/84'/1'/0'/1/0"),
                    script_type: ScriptType::Wpkh,
                    account: 0,
                    chain: 1,
                    index: 0,
                },
            },
        ],
        estimated_vsize: 141,
    }
}

#[test]
fn a_clean_summary_passes_with_totals() {
    let v = evaluate(&clean(), &policy(""), NOW);
    assert!(v.is_clean(), "{:?}", v.violations);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    assert_eq!(
        v.outputs,
        vec![OutputClass::AllowedExternal, OutputClass::Change]
    );
    assert_eq!(v.totals.fee_wat, Some(14_100));
    assert_eq!(v.totals.sent_wat, mona("1"));
    assert_eq!(v.totals.total_spent_wat, Some(mona("1") + 14_100));
    assert_eq!(v.totals.fee_rate_wat_per_kvb, Some(100_000));
    assert_eq!(v.policy_sha256.len(), 64);
}

type Mutation = fn(&mut TxSummary);

#[test]
fn each_rule_refuses_with_its_own_violation() {
    let cases: Vec<(&str, &str, Mutation)> = vec![
        ("psbt version", "psbt_version", |s| {
            s.envelope.psbt_version = 2
        }),
        ("too large", "psbt_too_large", |s| {
            s.envelope.psbt_bytes = 20_000_000
        }),
        ("too many inputs", "too_many_inputs", |s| {
            s.envelope.input_count = 6
        }),
        ("too many outputs", "too_many_outputs", |s| {
            s.envelope.output_count = 6
        }),
        ("wrong network", "wrong_network", |s| {
            s.network = Network::Testnet
        }),
        ("prev txid mismatch", "prev_txid_mismatch", |s| {
            s.inputs[0].utxo = UtxoEvidence::PrevTxidMismatch {
                found: Txid::from_byte_array([1; 32]),
            }
        }),
        ("prev tx lacks output", "prev_tx_missing_output", |s| {
            s.inputs[0].utxo = UtxoEvidence::PrevTxMissingOutput { outputs: 0 }
        }),
        ("segwit fee attack", "witness_utxo_mismatch", |s| {
            s.inputs[0].utxo = UtxoEvidence::WitnessUtxoMismatch {
                trusted_wat: mona("2.5"),
                claimed_wat: mona("1.5"),
                script_differs: false,
            }
        }),
        ("no full prev tx", "missing_prev_tx", |s| {
            s.inputs[0].utxo = UtxoEvidence::WitnessUtxoOnly {
                amount_wat: mona("2.5"),
                script_pubkey: script(HOT_0),
            }
        }),
        ("no utxo at all", "missing_prev_tx", |s| {
            s.inputs[0].utxo = UtxoEvidence::Missing
        }),
        ("fraudulent change", "fraudulent_change", |s| {
            s.outputs[1].ownership = OutputOwnership::FraudulentChange {
                path: path("m/84'/1'/0'/1/0"),
                reason: "the script differs".into(),
            }
        }),
        ("odd change path", "odd_change_path", |s| {
            s.outputs[1].ownership = OutputOwnership::OddChangePath {
                path: path("m/84'/1'/7'/1/0"),
                reason: "not our account".into(),
            }
        }),
        ("change index far beyond", "odd_change_path", |s| {
            if let OutputOwnership::Change { index, .. } = &mut s.outputs[1].ownership {
                *index = 101;
            }
        }),
        ("sighash none", "sighash_not_allowed", |s| {
            s.inputs[0].sighash = Some(2)
        }),
        ("unknown destination", "destination_not_allowed", |s| {
            s.outputs[0].script_pubkey = script("rmona1qejqxwzfld7zr6mf7ygqy5s5se5xq7vmtdfpm4x");
        }),
        ("send over limit", "send_over_limit", |s| {
            s.inputs[0].utxo = UtxoEvidence::FullPrevTx {
                amount_wat: mona("200"),
                script_pubkey: script(HOT_0),
            };
            s.outputs[0].amount_wat = mona("150");
            s.outputs[1].amount_wat = mona("49.99");
        }),
        ("fee over limit", "fee_over_limit", |s| {
            s.outputs[1].amount_wat = mona("1.3")
        }),
        ("fee fraction", "fee_fraction_over_limit", |s| {
            s.estimated_vsize = 100_000;
            s.outputs[0].amount_wat = mona("0.5");
            s.outputs[1].amount_wat = mona("1.95");
        }),
        ("fee rate", "fee_rate_over_limit", |s| {
            s.outputs[1].amount_wat = mona("1.49")
        }),
        ("outputs exceed inputs", "outputs_exceed_inputs", |s| {
            s.outputs[1].amount_wat = mona("2")
        }),
        ("no input of ours", "no_inputs_ours", |s| {
            s.inputs[0].ownership = InputOwnership::NotOurs
        }),
        ("dust", "dust_output", |s| s.outputs[0].amount_wat = 293),
        ("amount beyond supply", "amount_out_of_range", |s| {
            s.outputs[0].amount_wat = u64::MAX
        }),
        ("non-final height locktime", "non_final_locktime", |s| {
            s.lock_time = 125;
            s.inputs[0].sequence = 0xffff_fffe;
        }),
        ("far-future time locktime", "far_future_locktime", |s| {
            s.lock_time = 4_000_000_000;
            s.inputs[0].sequence = 0xffff_fffe;
        }),
    ];
    let p = policy("");
    for (name, code, mutate) in cases {
        let mut s = clean();
        mutate(&mut s);
        let v = evaluate(&s, &p, NOW);
        assert!(
            v.has(code),
            "{name}: expected {code}, got {:?}",
            v.violations.iter().map(Violation::code).collect::<Vec<_>>()
        );
        for violation in &v.violations {
            let msg = violation.to_string();
            assert!(!msg.contains('\n') && !msg.is_empty(), "{name}: {msg:?}");
        }
    }
}

#[test]
fn warnings_do_not_block() {
    let cases: Vec<(&str, &str, Mutation)> = vec![
        (
            "fee between half and full fraction",
            "fee_fraction_high",
            |s| {
                s.estimated_vsize = 100_000;
                s.outputs[0].amount_wat = mona("0.9");
                s.outputs[1].amount_wat = mona("1.55");
            },
        ),
        ("locktime without height", "locktime_unchecked", |s| {
            s.lock_time = 100;
            s.inputs[0].sequence = 0;
        }),
        ("change to receive chain", "change_on_receive_chain", |s| {
            if let OutputOwnership::Change { chain, .. } = &mut s.outputs[1].ownership {
                *chain = 0;
            }
        }),
    ];
    let p = policy("");
    for (name, code, mutate) in cases {
        let mut s = clean();
        mutate(&mut s);
        let now = Now {
            tip_height: None,
            ..NOW
        };
        let v = evaluate(&s, &p, now);
        assert!(v.is_clean(), "{name}: {:?}", v.violations);
        assert!(
            v.warnings.iter().any(|w| w.code() == code),
            "{name}: {:?}",
            v.warnings
        );
    }
}

#[test]
fn locktime_rules_follow_the_tip_and_the_policy() {
    let p = policy("");
    let mut s = clean();
    s.inputs[0].sequence = 0xffff_fffe;
    s.lock_time = 121; // anti-fee-sniping: minable in block 122.
    assert!(evaluate(&s, &p, NOW).is_clean());
    s.lock_time = 122;
    assert!(evaluate(&s, &p, NOW).has("non_final_locktime"));
    let lenient = policy("[locktime]\nallow_non_final = true\nmax_blocks_ahead = 10\n");
    assert!(evaluate(&s, &lenient, NOW).is_clean());
    s.lock_time = 132;
    assert!(evaluate(&s, &lenient, NOW).has("far_future_locktime"));
    // All sequences final: the locktime is not enforced at all.
    s.inputs[0].sequence = SEQUENCE_FINAL;
    assert!(evaluate(&s, &p, NOW).is_clean());
}

#[test]
fn witness_only_amounts_pass_when_the_policy_allows_but_never_for_legacy() {
    let p = policy("require_full_prev_tx = false\n");
    let mut s = clean();
    s.inputs[0].utxo = UtxoEvidence::WitnessUtxoOnly {
        amount_wat: mona("2.5"),
        script_pubkey: script(HOT_0),
    };
    let v = evaluate(&s, &p, NOW);
    assert!(v.is_clean(), "{:?}", v.violations);
    assert!(v
        .warnings
        .contains(&Warning::AmountFromWitnessUtxoOnly { input: 0 }));
    if let InputOwnership::Ours { script_type, .. } = &mut s.inputs[0].ownership {
        *script_type = ScriptType::Pkh;
    }
    assert!(evaluate(&s, &p, NOW).has("missing_prev_tx"));
}

#[test]
fn hot_wallet_outputs_are_allowed_and_labelled() {
    let mut s = clean();
    s.outputs[0].script_pubkey = script(HOT_0);
    let v = evaluate(&s, &policy(""), NOW);
    assert!(v.is_clean(), "{:?}", v.violations);
    assert_eq!(
        v.outputs[0],
        OutputClass::Hot {
            descriptor: 0,
            index: 0
        }
    );
}

#[test]
fn a_consolidation_is_judged_against_what_it_moves() {
    let mut s = clean();
    s.outputs.remove(0);
    s.outputs[0].index = 0;
    s.outputs[0].amount_wat = mona("2.4999");
    let v = evaluate(&s, &policy(""), NOW);
    assert!(v.is_clean(), "{:?}", v.violations);
    assert_eq!(v.totals.sent_wat, 0);
    assert_eq!(v.totals.total_spent_wat, Some(10_000));
    // 10% of the 2.4999 MONA moved is the refusal line.
    s.estimated_vsize = 1_000_000;
    s.outputs[0].amount_wat = mona("2.2");
    assert!(evaluate(&s, &policy(""), NOW).has("fee_fraction_over_limit"));
}

proptest! {
    #[test]
    fn evaluate_never_panics(
        amounts in proptest::collection::vec(any::<u64>(), 0..4),
        input_amount in any::<u64>(),
        vsize in any::<u64>(),
        lock_time in any::<u32>(),
        sequence in any::<u32>(),
        sighash in proptest::option::of(any::<u32>()),
        tip in proptest::option::of(any::<u32>()),
        unix_time in any::<u64>(),
        index in any::<u32>(),
    ) {
        let mut s = clean();
        s.inputs[0].utxo = UtxoEvidence::FullPrevTx { amount_wat: input_amount, script_pubkey: script(HOT_0) };
        s.inputs[0].sequence = sequence;
        s.inputs[0].sighash = sighash;
        if let InputOwnership::Ours { index: i, .. } = &mut s.inputs[0].ownership { *i = index; }
        s.lock_time = lock_time;
        s.estimated_vsize = vsize;
        for (i, a) in amounts.iter().enumerate() {
            let mut o = s.outputs[0].clone();
            o.index = i + 2;
            o.amount_wat = *a;
            s.outputs.push(o);
        }
        let v = evaluate(&s, &policy(""), Now { unix_time, tip_height: tip });
        for violation in &v.violations { let _ = violation.to_string(); }
        for w in &v.warnings { let _ = w.to_string(); }
    }
}
