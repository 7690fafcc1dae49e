//! The size estimator against real signed transactions of Monacoin Core v0.20.3
//! (`fixtures/txbuild/psbt/*`, copied from the recorded regtest node): the estimate is never
//! below the real vsize, exceeds it by at most one vbyte per input, and equals the size Core's
//! own `walletcreatefundedpsbt` paid for (fee / 100 wat/vB).

use std::path::PathBuf;

use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::Transaction;
use mona::ScriptType;
use mona_wallet::build::vsize;

fn fixture_dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/txbuild/psbt")
        .join(case)
}

fn read_json(case: &str, file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture_dir(case).join(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

struct Case {
    inputs: Vec<ScriptType>,
    input_total: u64,
    tx: Transaction,
}

fn load(case: &str) -> Case {
    let utxos = read_json(case, "utxos.json");
    let mut inputs = Vec::new();
    let mut input_total = 0;
    for u in utxos["inputs"].as_array().unwrap() {
        inputs.push(match u["type"].as_str().unwrap() {
            "wpkh" => ScriptType::Wpkh,
            "sh-wpkh" => ScriptType::ShWpkh,
            "pkh" => ScriptType::Pkh,
            other => panic!("unknown type {other}"),
        });
        input_total += u["amount_sat"].as_u64().unwrap();
    }
    let hex = std::fs::read_to_string(fixture_dir(case).join("final-tx.hex")).unwrap();
    let tx: Transaction = deserialize_hex(hex.trim()).unwrap();
    Case {
        inputs,
        input_total,
        tx,
    }
}

const CASES: [&str; 4] = [
    "1-p2wpkh-single-input",
    "2-mixed-three-inputs",
    "3-batch-two-outputs",
    "4-consolidation-30-inputs",
];

#[test]
fn estimate_is_an_upper_bound_within_one_vbyte_per_input() {
    for name in CASES {
        let c = load(name);
        let real = c.tx.vsize() as u64;
        let decoded = read_json(name, "08-decoderawtransaction-final.json");
        assert_eq!(
            decoded["response"]["body"]["result"]["vsize"]
                .as_u64()
                .unwrap(),
            real,
            "{name}: fixture vsize"
        );
        let est = vsize::estimate_tx_vsize(&c.tx, &c.inputs);
        assert!(est >= real, "{name}: estimate {est} below real {real}");
        assert!(
            est - real <= c.inputs.len() as u64,
            "{name}: estimate {est} too far above real {real}"
        );
        assert!(
            vsize::vsize_lower_bound(&c.inputs, &lens(&c.tx)) <= real,
            "{name}: lower bound above real"
        );
    }
}

fn lens(tx: &Transaction) -> Vec<usize> {
    tx.output.iter().map(|o| o.script_pubkey.len()).collect()
}

#[test]
fn estimate_equals_what_core_paid_for_at_100_wat_per_vbyte() {
    for name in CASES {
        let c = load(name);
        let out: u64 = c.tx.output.iter().map(|o| o.value.to_sat()).sum();
        let core_fee = c.input_total - out;
        let est = vsize::estimate_tx_vsize(&c.tx, &c.inputs);
        assert_eq!(
            core_fee,
            est * 100,
            "{name}: Core's fee {core_fee} vs estimate {est}"
        );
    }
}

#[test]
fn real_vsizes_match_the_table_in_the_fixture_readme() {
    let expect = [141u64, 380, 266, 3099];
    for (name, v) in CASES.iter().zip(expect) {
        assert_eq!(load(name).tx.vsize() as u64, v, "{name}");
    }
}
