//! The four PSBTs recorded from monacoind 0.20.3 (fixtures/psbt/good/): reviewing and signing
//! them with the `all` seed must reproduce monacoind's final transactions byte for byte (and its
//! signed PSBTs), and every input must verify under Bitcoin Core's script interpreter.

use std::collections::HashMap;
use std::path::PathBuf;

use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::{OutPoint, Transaction, TxOut};
use mona::Network;
use mona_policy::{InputOwnership, Now, OutputClass, OutputOwnership, Policy};
use mona_wallet::psbt::{Confirmation, Parsed, SigningKeys};
use mona_wallet::Mnemonic;

const CASES: [&str; 4] = [
    "1-p2wpkh-single-input",
    "2-mixed-three-inputs",
    "3-batch-two-outputs",
    "4-consolidation-30-inputs",
];
const NOW: Now = Now {
    unix_time: 1_795_000_000,
    tip_height: Some(121),
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/psbt")
}

fn read(case: &str, file: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("good").join(case).join(file)).unwrap()
}

fn policy() -> Policy {
    Policy::from_toml_bytes(&std::fs::read(fixtures().join("policy-regtest.toml")).unwrap())
        .unwrap()
}

fn keys() -> SigningKeys {
    let seed = Mnemonic::parse("all all all all all all all all all all all all")
        .unwrap()
        .to_seed("");
    SigningKeys::standard(&seed, Network::Regtest)
}

/// The spent outputs, from the full funding transactions in utxos.json.
fn spent_outputs(case: &str) -> HashMap<OutPoint, TxOut> {
    let utxos: serde_json::Value = serde_json::from_slice(&read(case, "utxos.json")).unwrap();
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

#[test]
fn signing_reproduces_monacoind_byte_for_byte_and_verifies() {
    let policy = policy();
    let keys = keys();
    for case in CASES {
        let bytes = read(case, "unsigned.psbt");
        let reviewed =
            Parsed::parse(bytes.clone(), &policy)
                .unwrap()
                .review(keys.public(), &policy, NOW);
        let v = reviewed.verdict();
        assert!(v.is_clean(), "{case}: {:?}", v.violations);
        assert!(v.warnings.is_empty(), "{case}: {:?}", v.warnings);
        assert!(reviewed
            .summary()
            .inputs
            .iter()
            .all(|i| matches!(i.ownership, InputOwnership::Ours { .. })));
        let signed = reviewed
            .approve(Confirmation::Unattended)
            .unwrap()
            .sign(&keys, &bytes)
            .unwrap();
        let expected_hex = String::from_utf8(read(case, "final-tx.hex")).unwrap();
        assert_eq!(
            signed.final_tx_hex().unwrap(),
            expected_hex.trim(),
            "{case}: final transaction differs from monacoind's"
        );
        assert_eq!(
            signed.psbt_bytes(),
            read(case, "signed.psbt"),
            "{case}: signed PSBT differs from monacoind's"
        );
        let tx = signed.final_tx().unwrap();
        let spent = spent_outputs(case);
        assert_eq!(spent.len(), tx.input.len());
        tx.verify(|o| spent.get(o).cloned())
            .unwrap_or_else(|e| panic!("{case}: consensus verification failed: {e}"));
        // Each input on its own, too, under the standard (policy) flags.
        let raw = bitcoin::consensus::serialize(tx);
        for (i, txin) in tx.input.iter().enumerate() {
            let out = &spent[&txin.previous_output];
            bitcoin::consensus::verify_script(&out.script_pubkey, i, out.value, &raw)
                .unwrap_or_else(|e| panic!("{case}: input {i}: {e}"));
        }
    }
}

#[test]
fn the_summaries_say_what_monacoind_said() {
    let policy = policy();
    let keys = keys();
    // (case, fee in watanabe, classes of the outputs)
    let expected: [(&str, u64, &[OutputClass]); 4] = [
        (
            CASES[0],
            14_100,
            &[OutputClass::AllowedExternal, OutputClass::Change],
        ),
        (
            CASES[1],
            38_100,
            &[OutputClass::AllowedExternal, OutputClass::Change],
        ),
        (
            CASES[2],
            26_700,
            &[
                OutputClass::AllowedExternal,
                OutputClass::AllowedExternal,
                OutputClass::Change,
            ],
        ),
        (CASES[3], 311_400, &[OutputClass::Change]),
    ];
    for (case, fee, classes) in expected {
        let reviewed = Parsed::parse(read(case, "unsigned.psbt"), &policy)
            .unwrap()
            .review(keys.public(), &policy, NOW);
        let v = reviewed.verdict();
        assert_eq!(v.totals.fee_wat, Some(fee), "{case}");
        assert_eq!(v.outputs, classes, "{case}");
        // The decoded PSBT's view: change outputs carry our derivation and were proven.
        let decoded: serde_json::Value =
            serde_json::from_slice(&read(case, "02-decodepsbt-unsigned.json")).unwrap();
        let outs = decoded["response"]["body"]["result"]["outputs"]
            .as_array()
            .unwrap();
        for (o, summary) in outs.iter().zip(&reviewed.summary().outputs) {
            let claimed = o["bip32_derivs"][0]["path"].as_str();
            match (&summary.ownership, claimed) {
                (OutputOwnership::Change { path, .. }, Some(p)) => {
                    assert_eq!(format!("m/{path}"), p, "{case}")
                }
                (OutputOwnership::External, None) => {}
                other => panic!("{case}: {other:?}"),
            }
        }
    }
}

#[test]
fn base64_and_hex_are_not_binary_psbts() {
    // The library takes binary; text forms are decoded at the edge (the CLI detects them).
    let policy = policy();
    let text = read(CASES[0], "unsigned.psbt.base64.txt");
    assert!(Parsed::parse(text, &policy).is_err());
}

#[test]
fn signing_rechecks_the_reviewed_bytes_keys_and_typed_total() {
    use mona_wallet::psbt::{ApproveError, SignError};
    let policy = policy();
    let keys = keys();
    let bytes = read(CASES[0], "unsigned.psbt");
    let review = || {
        Parsed::parse(bytes.clone(), &policy)
            .unwrap()
            .review(keys.public(), &policy, NOW)
    };
    // The bytes on disk changed between review and signing.
    let mut tampered = bytes.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let e = review()
        .approve(Confirmation::Unattended)
        .unwrap()
        .sign(&keys, &tampered)
        .unwrap_err();
    assert!(matches!(e, SignError::BytesChanged { .. }), "{e}");
    // Other keys than the ones the review proved ownership with.
    let other = SigningKeys::standard(
        &Mnemonic::parse("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")
            .unwrap()
            .to_seed(""),
        Network::Regtest,
    );
    let e = review()
        .approve(Confirmation::Unattended)
        .unwrap()
        .sign(&other, &bytes)
        .unwrap_err();
    assert_eq!(e, SignError::OtherKeys);
    // The typed total must be exact: 1 MONA sent + 0.000141 fee.
    for wrong in ["1", "1.00014", "1.0001410001", "", "one"] {
        let e = review()
            .approve(Confirmation::TypedTotal(wrong))
            .unwrap_err();
        assert!(
            matches!(e, ApproveError::TotalMismatch { .. }),
            "{wrong}: {e}"
        );
    }
    for right in ["1.000141", " 1.00014100\n"] {
        assert!(
            review().approve(Confirmation::TypedTotal(right)).is_ok(),
            "{right}"
        );
    }
}
