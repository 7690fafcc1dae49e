//! `hot-node export`: the hot wallet's watch-only export is in exactly the cold signer's export
//! format, its receive descriptor registers in a cold policy file (`[destinations]
//! hot_descriptors`), and the cold signer's review classifies a top-up output to a hot address
//! as the registered hot wallet.

use std::path::Path;

use assert_cmd::Command;
use bitcoin::absolute::LockTime;
use bitcoin::psbt::Psbt;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use hot_node::config::NodeSection;
use hot_node::datadir::{self, InitOptions};
use hot_node::watch_only::WatchOnlyWallet;
use mona::Network;
use mona_keystore::{KdfParams, Passphrase};
use mona_policy::{Now, OutputClass, Policy};
use mona_wallet::{OurKeys, Parsed};
use serde_json::Value;

use crate::common::{account, PAYEE_MNEMONIC};

const PASSPHRASE: &str = "export test passphrase";

fn init_datadir(dir: &Path) -> std::path::PathBuf {
    let cold = dir.join("cold.json");
    std::fs::write(
        &cold,
        WatchOnlyWallet::from_account(&account(PAYEE_MNEMONIC, Network::Regtest)).to_json(),
    )
    .unwrap();
    std::fs::write(dir.join("pass"), PASSPHRASE).unwrap();
    let d = dir.join("hot");
    datadir::init(InitOptions {
        network: Network::Regtest,
        datadir: d.clone(),
        cold_export: cold,
        passphrase: Passphrase::new(PASSPHRASE.into()),
        node: NodeSection {
            url: "http://127.0.0.1:1/".into(),
            cookie_file: Some("/nonexistent/.cookie".into()),
            user: None,
            password_file: None,
            timeout_ms: 1000,
        },
        listen: None,
        kdf: KdfParams {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        },
    })
    .unwrap();
    d
}

fn export(datadir: &Path, out: &Path, pass: &Path) -> std::process::Output {
    Command::cargo_bin("hot-node")
        .unwrap()
        .args(["--network", "regtest", "export", "--datadir"])
        .arg(datadir)
        .arg("--out")
        .arg(out)
        .arg("--passphrase-file")
        .arg(pass)
        .output()
        .unwrap()
}

/// The field names and order `cold-signer export` writes (cold-signer/src/cmd/seed.rs).
const COLD_SIGNER_KEYS: [&str; 12] = [
    "format",
    "version",
    "network",
    "master_fingerprint",
    "account_type",
    "account_path",
    "account_xpub",
    "account_xpub_slip132",
    "receive_descriptor",
    "change_descriptor",
    "first_receive_address",
    "accounts",
];

#[test]
fn export_is_the_cold_signer_format_and_registers_in_a_cold_policy() {
    let dir = tempfile::tempdir().unwrap();
    let d = init_datadir(dir.path());
    let out = dir.path().join("hot-export.json");
    let o = export(&d, &out, &dir.path().join("pass"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();

    // Format: compact JSON + newline, the cold signer's keys in its order, every purpose.
    assert!(text.ends_with("}\n") && !text.trim_end().contains('\n'));
    let v: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = COLD_SIGNER_KEYS.to_vec();
    let mut got = keys.clone();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want, "same fields as cold-signer export");
    assert_eq!(v["format"], "mona-watch-only");
    assert_eq!(v["version"], 1);
    assert_eq!(v["network"], "regtest");
    assert_eq!(v["account_type"], "bip84");
    let types: Vec<&str> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["bip84", "bip49", "bip44"]);
    assert_eq!(
        v["accounts"][0]["receive_descriptor"],
        v["receive_descriptor"]
    );

    // It is the hot wallet's: the same keys the unlocked seed derives; and it is a valid
    // export by the same checks `init` applies to the cold one.
    let hot = hot_node::hot_wallet::unlock(
        &d.join("hot-seed.enc"),
        Network::Regtest,
        &Passphrase::new(PASSPHRASE.into()),
    )
    .unwrap();
    let parsed = WatchOnlyWallet::from_json(text.as_bytes(), Network::Regtest).unwrap();
    assert_eq!(&parsed.account, hot.watch_only());
    assert_eq!(v["master_fingerprint"], hot.fingerprint());

    // Registered in a cold policy file, a hot address is the registered hot wallet ...
    let policy_text = format!(
        "version = 1\nnetwork = \"regtest\"\n[destinations]\nhot_descriptors = [\"{}\"]\nhot_scan_range = 50\n",
        v["receive_descriptor"].as_str().unwrap()
    );
    let policy = Policy::from_toml_bytes(policy_text.as_bytes()).unwrap();
    let hot_addr = hot.watch_only().address(0, 7).unwrap();
    let m = policy.hot_match(hot_addr.script_pubkey()).unwrap();
    assert_eq!((m.descriptor, m.index), (0, 7));

    // ... and the cold signer's review (the pipeline `inspect` runs) classifies a top-up
    // output to it as such, while another address stays unknown.
    let cold = account(PAYEE_MNEMONIC, Network::Regtest);
    let cold_addr = cold.address(0, 0).unwrap();
    let prev = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(10_000_000_000),
            script_pubkey: cold_addr.script_pubkey().clone(),
        }],
    };
    let stranger = account(crate::common::HOT_MNEMONIC, Network::Regtest)
        .address(0, 0)
        .unwrap();
    let unsigned = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: prev.compute_txid(),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![
            TxOut {
                value: Amount::from_sat(5_000_000_000),
                script_pubkey: hot_addr.script_pubkey().clone(),
            },
            TxOut {
                value: Amount::from_sat(4_999_000_000),
                script_pubkey: stranger.script_pubkey().clone(),
            },
        ],
    };
    let mut psbt = Psbt::from_unsigned_tx(unsigned).unwrap();
    psbt.inputs[0].non_witness_utxo = Some(prev.clone());
    psbt.inputs[0].witness_utxo = Some(prev.output[0].clone());
    let reviewed = Parsed::parse(psbt.serialize(), &policy).unwrap().review(
        &OurKeys::from_watch_only(vec![cold]).unwrap(),
        &policy,
        Now {
            unix_time: 1_800_000_000,
            tip_height: Some(200),
        },
    );
    let classes = &reviewed.verdict().outputs;
    assert_eq!(
        classes[0],
        OutputClass::Hot {
            descriptor: 0,
            index: 7
        },
        "{classes:?}"
    );
    assert_eq!(classes[1], OutputClass::Unknown);
}

#[test]
fn export_refusals_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = init_datadir(dir.path());
    let out = dir.path().join("exists.json");
    std::fs::write(&out, "keep").unwrap();
    // (name, out, passphrase file, expected exit)
    std::fs::write(dir.path().join("wrong"), "not the passphrase").unwrap();
    let cases: [(&str, &Path, &str, i32); 2] = [
        ("existing output file", &out, "pass", 3),
        (
            "wrong passphrase",
            &dir.path().join("new.json"),
            "wrong",
            11,
        ),
    ];
    for (name, out_path, pass, code) in cases {
        let o = export(&d, out_path, &dir.path().join(pass));
        assert_eq!(o.status.code(), Some(code), "{name}: {o:?}");
    }
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep");
    assert!(!dir.path().join("new.json").exists());
}
