//! `cold-signer sign` on the four PSBTs recorded from monacoind 0.20.3: the final transactions
//! are byte-identical to monacoind's and verify under Bitcoin Core's script interpreter; the
//! operator's typed total, the output-file contract and `inspect` are checked on the way.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::{OutPoint, Transaction, TxOut};
use common::{cold_signer, Scratch, ALL_MNEMONIC};
use serde_json::Value;

const CASES: [&str; 4] = [
    "1-p2wpkh-single-input",
    "2-mixed-three-inputs",
    "3-batch-two-outputs",
    "4-consolidation-30-inputs",
];

fn psbt_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/psbt")
}

fn good(case: &str, file: &str) -> PathBuf {
    psbt_fixtures().join("good").join(case).join(file)
}

fn policy() -> PathBuf {
    psbt_fixtures().join("policy-regtest.toml")
}

fn spent(case: &str) -> HashMap<OutPoint, TxOut> {
    let utxos: Value =
        serde_json::from_slice(&fs::read(good(case, "utxos.json")).unwrap()).unwrap();
    let mut map = HashMap::new();
    for u in utxos["inputs"].as_array().unwrap() {
        let prev: Transaction = deserialize_hex(u["prev_tx_hex"].as_str().unwrap()).unwrap();
        let vout = u["vout"].as_u64().unwrap() as u32;
        map.insert(
            OutPoint::new(prev.compute_txid(), vout),
            prev.output[vout as usize].clone(),
        );
    }
    map
}

fn sign_cmd(s: &Scratch, wallet: &Path, file: &Path) -> assert_cmd::Command {
    let mut cmd = cold_signer();
    cmd.args(["--network", "regtest", "sign"])
        .arg(file)
        .arg("--wallet")
        .arg(wallet)
        .arg("--policy")
        .arg(policy())
        .arg("--passphrase-file")
        .arg(s.path("pass.txt"));
    cmd
}

#[test]
fn sign_reproduces_monacoind_final_transactions() {
    let s = Scratch::new();
    let wallet = s.restore("regtest", "w", ALL_MNEMONIC);
    for (n, case) in CASES.iter().enumerate() {
        // Case 1 goes in as base64 text, case 2 as hex, the others as binary.
        let input = match n {
            0 => {
                let p = s.path(&format!("{case}.psbt.txt"));
                fs::copy(good(case, "unsigned.psbt.base64.txt"), &p).unwrap();
                p
            }
            1 => {
                let p = s.path(&format!("{case}.hex"));
                fs::write(
                    &p,
                    hex::encode(fs::read(good(case, "unsigned.psbt")).unwrap()),
                )
                .unwrap();
                p
            }
            _ => {
                let p = s.path(&format!("{case}.psbt"));
                fs::copy(good(case, "unsigned.psbt"), &p).unwrap();
                p
            }
        };
        let out = sign_cmd(&s, &wallet, &input)
            .args(["--yes", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let result: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(result["complete"], true, "{case}");
        let final_hex = fs::read_to_string(s.path(&format!("{case}-final.txn"))).unwrap();
        let expected = fs::read_to_string(good(case, "final-tx.hex")).unwrap();
        assert_eq!(
            final_hex.trim(),
            expected.trim(),
            "{case}: not monacoind's bytes"
        );
        assert_eq!(
            fs::read(s.path(&format!("{case}-signed.psbt"))).unwrap(),
            fs::read(good(case, "signed.psbt")).unwrap(),
            "{case}: signed PSBT differs from monacoind's"
        );
        let tx: Transaction = deserialize_hex(final_hex.trim()).unwrap();
        let spent = spent(case);
        tx.verify(|o| spent.get(o).cloned())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(result["txid"], tx.compute_txid().to_string());
    }
}

#[test]
fn the_operator_must_type_the_exact_total() {
    let s = Scratch::new();
    let wallet = s.restore("regtest", "w", ALL_MNEMONIC);
    let input = s.path("pay.psbt");
    fs::copy(good(CASES[0], "unsigned.psbt"), &input).unwrap();
    // 1 MONA sent + 0.000141 fee.
    for wrong in ["1\n", "1.00014\n", "\n", "all\n"] {
        let out = sign_cmd(&s, &wallet, &input)
            .write_stdin(wrong)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{wrong:?}");
        assert!(!s.path("pay-signed.psbt").exists(), "{wrong:?}");
        assert!(!s.path("pay-final.txn").exists(), "{wrong:?}");
    }
    let out = sign_cmd(&s, &wallet, &input)
        .write_stdin("1.000141\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("TOTAL (sent + fee) 1.00014100 MONA"),
        "{stdout}"
    );
    assert!(s.path("pay-final.txn").exists());
    // A second run refuses to overwrite, and changes nothing.
    let before = common::snapshot(&s.path("pay-signed.psbt"));
    let out = sign_cmd(&s, &wallet, &input).arg("--yes").output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(common::snapshot(&s.path("pay-signed.psbt")), before);
}

#[test]
fn inspect_shows_classes_amounts_and_hashes() {
    let s = Scratch::new();
    let wallet = s.restore("regtest", "w", ALL_MNEMONIC);
    let out = cold_signer()
        .args(["--network", "regtest", "--json", "inspect"])
        .arg(good(CASES[2], "unsigned.psbt"))
        .arg("--policy")
        .arg(policy())
        .arg("--wallet")
        .arg(&wallet)
        .arg("--passphrase-file")
        .arg(s.path("pass.txt"))
        .output()
        .unwrap();
    let r = common::stdout_json(&out);
    assert_eq!(r["approvable"], true);
    assert_eq!(r["fee"], "0.00026700");
    assert_eq!(r["total"], "1.80026700");
    let classes: Vec<&str> = r["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["allowed external", "allowed external", "change"]);
    assert_eq!(
        r["outputs"][0]["address"],
        "n3x2f5M5Q1fhXHoB6AoZ4HQZgM6Gx6SrwP"
    );
    assert_eq!(r["outputs"][2]["path"], "m/49'/1'/0'/1/0");
    use bitcoin::hashes::{sha256, Hash};
    assert_eq!(
        r["policy_sha256"],
        sha256::Hash::hash(&fs::read(policy()).unwrap()).to_string()
    );
    // Human form: warnings first, then the outputs with addresses and classes.
    let out = cold_signer()
        .args(["--network", "regtest", "inspect"])
        .arg(good(CASES[0], "unsigned.psbt"))
        .arg("--policy")
        .arg(policy())
        .output()
        .unwrap();
    // Without --wallet nothing is provably ours: refused, and it says why.
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("note: no --wallet given"), "{text}");
    assert!(
        text.contains("rmona1q7cgva59egg6l4eg64c285rfutmdjfw6nlahe75"),
        "{text}"
    );
    assert!(text.contains("no_inputs_ours"), "{text}");
}
