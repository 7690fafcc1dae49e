//! Every entry of the shared Monacoin vectors file, the official BIP39 English vectors and the
//! BIP32 test vectors 1-3.

use std::str::FromStr;

use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bitcoin::secp256k1::Secp256k1;
use mona::xkey::{self, KeyFormat};
use mona::{Address, Network};
use mona_wallet::seed::master_from_bytes;
use mona_wallet::{derive_path, Mnemonic};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[test]
fn monacoin_vectors_all_mnemonic() {
    let v = fixture("vectors/monacoin.json");
    let secp = Secp256k1::new();
    let all = &v["bip39_all_mnemonic"];
    let seed = Mnemonic::parse(s(&all["mnemonic"]))
        .unwrap()
        .to_seed(s(&all["passphrase"]));
    assert_eq!(
        seed.master_fingerprint(&secp).to_string(),
        s(&all["master_fingerprint"])
    );
    for (net, key) in [(Network::Mainnet, "mainnet"), (Network::Regtest, "regtest")] {
        for e in all[key].as_array().unwrap() {
            let path = DerivationPath::from_str(s(&e["path"])).unwrap();
            let d = derive_path(&secp, &seed, net, &path).unwrap();
            assert_eq!(d.address.to_string(), s(&e["address"]), "{}", s(&e["path"]));
            if let Some(pk) = e.get("pubkey") {
                assert_eq!(d.pubkey.to_string(), s(pk));
            }
            if let Some(wif) = e.get("wif") {
                assert_eq!(mona::wif::encode(d.private_key(), net), s(wif));
            }
        }
    }
    for (net, key) in [
        (Network::Mainnet, "account_keys_mainnet"),
        (Network::Regtest, "account_keys_regtest"),
    ] {
        for (path, forms) in all[key].as_object().unwrap() {
            let p = DerivationPath::from_str(path).unwrap();
            let d = derive_path(&secp, &seed, net, &p).unwrap();
            for (form, expected) in forms.as_object().unwrap() {
                let f = match form.as_str() {
                    "xpub" => KeyFormat::Xpub,
                    "zpub" => KeyFormat::Zpub,
                    "tpub" => KeyFormat::Tpub,
                    other => panic!("unexpected form {other}"),
                };
                assert_eq!(xkey::encode_xpub(&d.xpub, f), s(expected), "{path} {form}");
            }
        }
    }
}

#[test]
fn monacoin_vectors_abandon_mnemonic() {
    let v = fixture("vectors/monacoin.json");
    let secp = Secp256k1::new();
    let ab = &v["bip39_abandon_mnemonic"];
    let seed = Mnemonic::parse(s(&ab["mnemonic"]))
        .unwrap()
        .to_seed(s(&ab["passphrase"]));
    for (path, expected) in ab["mainnet"].as_object().unwrap() {
        let d = derive_path(
            &secp,
            &seed,
            Network::Mainnet,
            &DerivationPath::from_str(path).unwrap(),
        )
        .unwrap();
        match expected {
            Value::String(addr) => assert_eq!(&d.address.to_string(), addr, "{path}"),
            Value::Object(o) => {
                assert_eq!(xkey::encode_xpub(&d.xpub, KeyFormat::Zpub), s(&o["zpub"]))
            }
            _ => panic!("unexpected vector shape"),
        }
    }
}

#[test]
fn monacoin_vectors_one_key_all_encodings() {
    let v = fixture("vectors/monacoin.json");
    let secp = Secp256k1::new();
    let k = &v["one_key_all_encodings"];
    let key = mona::wif::decode(s(&k["wif_compressed"]), Network::Mainnet).unwrap();
    let ukey = mona::wif::decode(s(&k["wif_uncompressed"]), Network::Mainnet).unwrap();
    assert_eq!(key.inner, ukey.inner);
    let pk = bitcoin::CompressedPublicKey::from_private_key(&secp, &key).unwrap();
    assert_eq!(pk.to_string(), s(&k["pubkey"]));
    use mona::descriptor::ScriptType::*;
    let cases = [
        (Network::Mainnet, "mainnet", "p2pkh", Pkh),
        (Network::Mainnet, "mainnet", "p2sh_p2wpkh", ShWpkh),
        (Network::Mainnet, "mainnet", "p2wpkh", Wpkh),
        (Network::Testnet, "testnet", "p2pkh", Pkh),
        (Network::Testnet, "testnet", "p2sh_p2wpkh", ShWpkh),
        (Network::Testnet, "testnet", "p2wpkh", Wpkh),
        (Network::Regtest, "regtest", "p2wpkh", Wpkh),
    ];
    for (net, nk, field, t) in cases {
        let a = Address::from_script(&t.script_pubkey(&pk), net).unwrap();
        assert_eq!(a.to_string(), s(&k[nk][field]), "{nk} {field}");
        assert_eq!(Address::parse(s(&k[nk][field]), net).unwrap(), a);
    }
    let legacy = Address::parse(
        s(&k["mainnet"]["p2sh_p2wpkh_legacy_prefix"]),
        Network::Mainnet,
    )
    .unwrap();
    assert_eq!(legacy.script_pubkey(), &ShWpkh.script_pubkey(&pk));
    let t = mona::wif::decode(s(&k["testnet"]["wif_compressed"]), Network::Testnet).unwrap();
    assert_eq!(t.inner, key.inner);
}

#[test]
fn monacoin_vectors_addresses_and_rejections() {
    let v = fixture("vectors/monacoin.json");
    for e in v["address_to_script_pubkey"].as_array().unwrap() {
        let net: Network = s(&e["network"]).parse().unwrap();
        let a = Address::parse(s(&e["address"]), net).unwrap();
        assert_eq!(a.script_pubkey().to_hex_string(), s(&e["script_pubkey"]));
        assert_eq!(a.kind().name(), s(&e["type"]));
    }
    for bad in v["invalid_on_mainnet"].as_array().unwrap() {
        assert!(Address::parse(s(bad), Network::Mainnet).is_err(), "{bad}");
    }
    for (n, g) in v["genesis"].as_object().unwrap() {
        if let Ok(net) = n.parse::<Network>() {
            assert_eq!(net.genesis_hash().to_string(), s(g));
        }
    }
    let header = hex::decode(s(&v["genesis"]["mainnet_header_hex"])).unwrap();
    let h: bitcoin::block::Header = bitcoin::consensus::deserialize(&header).unwrap();
    assert_eq!(h.block_hash(), Network::Mainnet.genesis_hash());
    let dust = &v["dust_thresholds_watanabe"];
    use bitcoin::hashes::Hash;
    let p2pkh = bitcoin::ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::all_zeros());
    let p2sh = bitcoin::ScriptBuf::new_p2sh(&bitcoin::ScriptHash::all_zeros());
    let p2wpkh = bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::all_zeros());
    assert_eq!(
        mona::dust_threshold(&p2pkh).to_wat(),
        dust["p2pkh"].as_u64().unwrap()
    );
    assert_eq!(
        mona::dust_threshold(&p2sh).to_wat(),
        dust["p2sh"].as_u64().unwrap()
    );
    assert_eq!(
        mona::dust_threshold(&p2wpkh).to_wat(),
        dust["p2wpkh"].as_u64().unwrap()
    );
}

#[test]
fn bip39_official_english_vectors() {
    let v = fixture("bip39/english.json");
    let pass = s(&v["passphrase"]);
    let vectors = v["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 24);
    for e in vectors {
        let entropy = hex::decode(s(&e["entropy"])).unwrap();
        let m = Mnemonic::from_entropy(&entropy).unwrap();
        assert_eq!(*m.phrase(), s(&e["mnemonic"]));
        let parsed = Mnemonic::parse(s(&e["mnemonic"])).unwrap();
        assert_eq!(*parsed.to_entropy(), entropy);
        assert_eq!(hex::encode(parsed.to_seed(pass).as_bytes()), s(&e["seed"]));
    }
}

#[test]
fn bip32_test_vectors_1_to_3() {
    let v = fixture("bip32/vectors.json");
    let secp = Secp256k1::new();
    for tv in v["vectors"].as_array().unwrap() {
        let seed = hex::decode(s(&tv["seed"])).unwrap();
        let master = master_from_bytes(&seed, Network::Mainnet);
        for step in tv["chain"].as_array().unwrap() {
            let path = DerivationPath::from_str(s(&step["path"])).unwrap();
            let xprv = master.derive_priv(&secp, &path).unwrap();
            assert_eq!(
                xprv.to_string(),
                s(&step["xprv"]),
                "{} {}",
                s(&tv["name"]),
                path
            );
            assert_eq!(Xpub::from_priv(&secp, &xprv).to_string(), s(&step["xpub"]));
            assert_eq!(Xpriv::from_str(s(&step["xprv"])).unwrap(), xprv);
        }
    }
}
