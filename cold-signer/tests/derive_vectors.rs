//! `derive --json` reproduces every derivation vector of fixtures/vectors/monacoin.json, on
//! mainnet and regtest.

mod common;

use common::{cold_signer, stdout_json, vectors, Scratch};
use serde_json::Value;

fn derive(s: &Scratch, network: &str, mnemonic: &str, path: &str, extra: &[&str]) -> Value {
    let m = s.write("m.txt", mnemonic);
    let out = cold_signer()
        .args(["--network", network, "--json", "derive", "--mnemonic-file"])
        .arg(&m)
        .args(["--path", path])
        .args(extra)
        .output()
        .expect("run");
    stdout_json(&out)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing {key} in {v}"))
}

#[test]
fn all_mnemonic_key_vectors_mainnet_and_regtest() {
    let v = vectors();
    let all = &v["bip39_all_mnemonic"];
    let mnemonic = all["mnemonic"].as_str().unwrap();
    let s = Scratch::new();
    for (network, entries) in [("mainnet", &all["mainnet"]), ("regtest", &all["regtest"])] {
        for e in entries.as_array().unwrap() {
            let path = e["path"].as_str().unwrap();
            let show = if e.get("wif").is_some() {
                vec!["--show-private"]
            } else {
                vec![]
            };
            let got = derive(&s, network, mnemonic, path, &show);
            assert_eq!(
                str_of(&got, "address"),
                e["address"].as_str().unwrap(),
                "{network} {path}"
            );
            assert_eq!(
                str_of(&got, "master_fingerprint"),
                all["master_fingerprint"].as_str().unwrap()
            );
            assert_eq!(str_of(&got, "path"), path);
            if let Some(pubkey) = e["pubkey"].as_str() {
                assert_eq!(str_of(&got, "pubkey"), pubkey, "{network} {path}");
            }
            match e["wif"].as_str() {
                Some(wif) => assert_eq!(str_of(&got, "wif"), wif, "{path}"),
                None => assert!(
                    got.get("wif").is_none(),
                    "wif printed without --show-private"
                ),
            }
            // The public key does not depend on the network: the same path on the other chain
            // gives the same key and another encoding.
            let other = if network == "mainnet" {
                "regtest"
            } else {
                "mainnet"
            };
            let again = derive(&s, other, mnemonic, path, &[]);
            assert_eq!(again["pubkey"], got["pubkey"], "{path} on {other}");
            assert_ne!(again["address"], got["address"], "{path} on {other}");
        }
    }
}

#[test]
fn account_keys_mainnet_and_regtest() {
    let v = vectors();
    let all = &v["bip39_all_mnemonic"];
    let mnemonic = all["mnemonic"].as_str().unwrap();
    let s = Scratch::new();
    let tables = [
        ("mainnet", &all["account_keys_mainnet"]),
        ("regtest", &all["account_keys_regtest"]),
    ];
    for (network, table) in tables {
        for (account_path, keys) in table.as_object().unwrap() {
            let got = derive(&s, network, mnemonic, &format!("{account_path}/0/0"), &[]);
            assert_eq!(str_of(&got, "account_path"), account_path);
            for (form, expected) in keys.as_object().unwrap() {
                let field = if matches!(form.as_str(), "xpub" | "tpub") {
                    "account_xpub"
                } else {
                    "account_xpub_slip132"
                };
                assert_eq!(
                    str_of(&got, field),
                    expected.as_str().unwrap(),
                    "{network} {account_path} {form}"
                );
            }
            // And at the account path itself, the key's own xpub is the account xpub.
            let at = derive(&s, network, mnemonic, account_path, &[]);
            assert_eq!(at["xpub"], got["account_xpub"], "{network} {account_path}");
        }
    }
}

#[test]
fn abandon_mnemonic_vectors() {
    let v = vectors();
    let ab = &v["bip39_abandon_mnemonic"];
    let mnemonic = ab["mnemonic"].as_str().unwrap();
    let s = Scratch::new();
    for (path, expected) in ab["mainnet"].as_object().unwrap() {
        let got = derive(
            &s,
            "mainnet",
            mnemonic,
            &format!("{path}{}", if expected.is_object() { "/0/0" } else { "" }),
            &[],
        );
        match expected {
            Value::String(address) => assert_eq!(str_of(&got, "address"), address, "{path}"),
            Value::Object(keys) => {
                assert_eq!(
                    str_of(&got, "account_xpub_slip132"),
                    keys["zpub"].as_str().unwrap(),
                    "{path}"
                );
            }
            other => panic!("unexpected vector {other}"),
        }
    }
}

#[test]
fn bip39_passphrase_changes_the_wallet() {
    let s = Scratch::new();
    let m = s.write("m.txt", common::ALL_MNEMONIC);
    let p = s.write("p.txt", "TREZOR\n");
    let out = cold_signer()
        .args(["--json", "derive", "--mnemonic-file"])
        .arg(&m)
        .arg("--bip39-passphrase-file")
        .arg(&p)
        .args(["--path", "m/84'/22'/0'/0/0"])
        .output()
        .unwrap();
    let got = stdout_json(&out);
    assert_ne!(str_of(&got, "master_fingerprint"), "5c9e228d");
    assert_ne!(
        str_of(&got, "address"),
        "mona1qexmc9urdumk860d9fgtw0j03cz78plpsffge7n"
    );
}

#[test]
fn bad_paths_and_mnemonics_are_refused_with_exit_3() {
    let s = Scratch::new();
    let good = s.write("good.txt", common::ALL_MNEMONIC);
    let bad_checksum = s.write(
        "bad.txt",
        "all all all all all all all all all all all able",
    );
    let cases: &[(&str, &std::path::Path, &str)] = &[
        ("garbage path", &good, "m/84'/x"),
        ("path too deep index", &good, "m/4294967296"),
        ("bad mnemonic checksum", &bad_checksum, "m/84'/22'/0'/0/0"),
    ];
    for (name, mnemonic, path) in cases {
        let out = cold_signer()
            .args(["derive", "--mnemonic-file"])
            .arg(mnemonic)
            .args(["--path", path])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{name}");
        assert!(out.stdout.is_empty(), "{name}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{name}: one line"
        );
    }
    cold_signer()
        .args(["derive", "--mnemonic-file"])
        .arg(s.path("missing.txt"))
        .args(["--path", "m/0"])
        .assert()
        .code(3);
}
