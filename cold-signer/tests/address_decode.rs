//! `address decode`: every address vector, the legacy P2SH form, and other coins refused with a
//! message saying what they are.

mod common;

use common::{cold_signer, stdout_json, vectors};
use serde_json::Value;

fn decode(network: &str, address: &str) -> std::process::Output {
    cold_signer()
        .args(["--network", network, "--json", "address", "decode", address])
        .output()
        .unwrap()
}

#[test]
fn address_vectors_decode_to_their_scripts() {
    let v = vectors();
    for e in v["address_to_script_pubkey"].as_array().unwrap() {
        let network = e["network"].as_str().unwrap();
        let address = e["address"].as_str().unwrap();
        let got = stdout_json(&decode(network, address));
        assert_eq!(got["script_pubkey"], e["script_pubkey"], "{address}");
        assert_eq!(got["type"], e["type"], "{address}");
        assert_eq!(got["network"], network, "{address}");
        assert_eq!(got["address"], address, "{address}: canonical form");
        assert_eq!(got["spendable"], true);
    }
}

#[test]
fn p2sh_new_and_legacy_prefix_give_the_same_script() {
    // 3AqJ... is PHjT...'s hash160 with Bitcoin's P2SH version byte 5 (Monacoin's legacy one).
    let new = stdout_json(&decode("mainnet", "PHjTKtgYLTJ9D2Bzw2f6xBB41KBm2HeGfg"));
    let legacy = stdout_json(&decode("mainnet", "3AqJ6Tn8qS8LKMDfi41AhuZiY6JbR6mt6E"));
    assert_eq!(new["script_pubkey"], legacy["script_pubkey"]);
    assert_eq!(
        new["script_pubkey"],
        "a9146449f568c9cd2378138f2636e1567112a184a9e887"
    );
    assert_eq!(
        legacy["address"], "PHjTKtgYLTJ9D2Bzw2f6xBB41KBm2HeGfg",
        "re-encoded with 'P'"
    );
    assert_eq!(legacy["input"], "3AqJ6Tn8qS8LKMDfi41AhuZiY6JbR6mt6E");
}

#[test]
fn one_key_all_encodings_agree() {
    let v = vectors();
    let k = &v["one_key_all_encodings"];
    let script = |network: &str, a: &Value| -> String {
        stdout_json(&decode(network, a.as_str().unwrap()))["script_pubkey"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let m = &k["mainnet"];
    assert_eq!(
        script("mainnet", &m["p2sh_p2wpkh"]),
        script("mainnet", &m["p2sh_p2wpkh_legacy_prefix"])
    );
    let t = &k["testnet"];
    assert_eq!(
        script("mainnet", &m["p2pkh"]),
        script("testnet", &t["p2pkh"])
    );
    assert_eq!(
        script("mainnet", &m["p2sh_p2wpkh"]),
        script("testnet", &t["p2sh_p2wpkh"])
    );
    assert_eq!(
        script("mainnet", &m["p2wpkh"]),
        script("testnet", &t["p2wpkh"])
    );
    assert_eq!(
        script("mainnet", &m["p2wpkh"]),
        script("regtest", &k["regtest"]["p2wpkh"])
    );
}

#[test]
fn other_coins_and_networks_are_refused_saying_what_they_are() {
    let v = vectors();
    // (network, address, words the message must contain)
    let mut cases: Vec<(&str, String, &str)> = vec![
        (
            "mainnet",
            "LM2WMpR1Rp6j3Sa59cMXMs1SPzj9eXpGc1".into(),
            "Litecoin",
        ),
        (
            "mainnet",
            "ltc1q49knemcefarfkvuqr7rgajdu3x5gx8pzdus9a3".into(),
            "Litecoin",
        ),
        (
            "mainnet",
            "1JAd7XCBzGudGpJQSDSfpmJhiygtLQWaGL".into(),
            "Bitcoin",
        ),
        (
            "mainnet",
            "bc1qannfxke2tfd4l7vhepehpvt05y83v3qsf6nfkk".into(),
            "Bitcoin",
        ),
        (
            "mainnet",
            "tmona1q7cgva59egg6l4eg64c285rfutmdjfw6npqm6ju".into(),
            "testnet",
        ),
        (
            "mainnet",
            "mptvgSbAs4iwxQ7JQZdEN6Urpt3dtjbawd".into(),
            "testnet",
        ),
        (
            "mainnet",
            "rmona1q7cgva59egg6l4eg64c285rfutmdjfw6nlahe75".into(),
            "regtest",
        ),
        (
            "regtest",
            "mona1q49knemcefarfkvuqr7rgajdu3x5gx8pzdnurgq".into(),
            "mainnet",
        ),
    ];
    for a in v["invalid_on_mainnet"].as_array().unwrap() {
        cases.push(("mainnet", a.as_str().unwrap().to_owned(), ""));
    }
    for (network, address, says) in &cases {
        let out = decode(network, address);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{address}: {stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(says),
            "{address}: '{stderr}' should say {says}"
        );
    }
}

#[test]
fn malformed_addresses_are_bad_input() {
    for bad in [
        "PHjTKtgYLTJ9D2Bzw2f6xBB41KBm2HeGfh",           // checksum
        "mona1q49knemcefarfkvuqr7rgajdu3x5gx8pzdnurgx", // bech32 checksum
        "hello",
    ] {
        let out = decode("mainnet", bad);
        assert_eq!(out.status.code(), Some(3), "{bad}");
    }
}

#[test]
fn segwit_v1_decodes_but_is_not_spendable() {
    let got = stdout_json(&decode(
        "mainnet",
        "mona1pqqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0spjjwh2",
    ));
    assert_eq!(got["spendable"], false);
    assert_eq!(got["type"], "witness_v1");
    let human = cold_signer()
        .args([
            "address",
            "decode",
            "mona1pqqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0spjjwh2",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains("never send"));
}
