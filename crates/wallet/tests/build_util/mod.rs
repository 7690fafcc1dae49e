//! Helpers shared by the `build_*` tests: the public test wallet (`all all ... all`, the
//! mnemonic of the recorded node's PSBT fixtures), fake funding transactions, a straightforward
//! local signer (SighashCache + `sign_ecdsa_low_r`, as Core signs) and Core's script interpreter.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bitcoin::absolute::LockTime;
use bitcoin::ecdsa::Signature as EcdsaSig;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{All, Message, Secp256k1};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    CompressedPublicKey, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use mona::{Amount, Network, ScriptType};
use mona_wallet::build::{Coin, Keychain};
use mona_wallet::{Account, Mnemonic, Purpose, WatchOnlyAccount};

pub const MNEMONIC: &str = "all all all all all all all all all all all all";

pub fn secp() -> &'static Secp256k1<All> {
    static S: OnceLock<Secp256k1<All>> = OnceLock::new();
    S.get_or_init(Secp256k1::new)
}

/// Accounts of the test mnemonic on regtest (coin type 1), for BIP84, BIP49, BIP44 account 0.
pub fn hot_accounts() -> &'static [Account] {
    static A: OnceLock<Vec<Account>> = OnceLock::new();
    A.get_or_init(|| accounts_of(MNEMONIC, 0))
}

/// A second wallet (account 1 of the same seed) playing the cold side.
pub fn cold_accounts() -> &'static [Account] {
    static A: OnceLock<Vec<Account>> = OnceLock::new();
    A.get_or_init(|| accounts_of(MNEMONIC, 1))
}

fn accounts_of(phrase: &str, index: u32) -> Vec<Account> {
    let seed = Mnemonic::parse(phrase).unwrap().to_seed("");
    [Purpose::Bip84, Purpose::Bip49, Purpose::Bip44]
        .into_iter()
        .map(|p| Account::from_seed(secp(), &seed, Network::Regtest, p, index))
        .collect()
}

pub fn watch(accounts: &[Account]) -> Vec<WatchOnlyAccount> {
    accounts.iter().map(|a| a.watch_only().clone()).collect()
}

pub fn account_of(accounts: &[Account], t: ScriptType) -> &Account {
    accounts
        .iter()
        .find(|a| a.watch_only().script_type == t)
        .unwrap()
}

/// One coin to fund: type, keychain, index, value in watanabe.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub script_type: ScriptType,
    pub keychain: Keychain,
    pub index: u32,
    pub value: u64,
}

pub fn spec(script_type: ScriptType, index: u32, value: u64) -> Spec {
    Spec {
        script_type,
        keychain: Keychain::External,
        index,
        value,
    }
}

/// Funds `specs` in one fake transaction (unique per `nonce`) confirmed at `height`.
pub fn fund(accounts: &[Account], specs: &[Spec], nonce: u32, height: Option<u32>) -> Vec<Coin> {
    let outputs: Vec<TxOut> = specs
        .iter()
        .map(|s| TxOut {
            value: bitcoin::Amount::from_sat(s.value),
            script_pubkey: account_of(accounts, s.script_type)
                .watch_only()
                .script_pubkey(s.keychain.chain(), s.index)
                .unwrap(),
        })
        .collect();
    let prev = Arc::new(Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array([7; 32]),
                vout: nonce,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outputs,
    });
    let txid = prev.compute_txid();
    specs
        .iter()
        .enumerate()
        .map(|(vout, s)| Coin {
            outpoint: OutPoint {
                txid,
                vout: vout as u32,
            },
            value: Amount::from_wat(s.value).unwrap(),
            script_pubkey: prev.output[vout].script_pubkey.clone(),
            script_type: s.script_type,
            keychain: s.keychain,
            index: s.index,
            confirmation_height: height,
            prev_tx: Some(prev.clone()),
        })
        .collect()
}

/// A foreign P2WPKH script (not ours) from a fixed byte.
pub fn foreign_wpkh(b: u8) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([b; 20]))
}

/// A foreign P2PKH script.
pub fn foreign_pkh(b: u8) -> ScriptBuf {
    ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array([b; 20]))
}

/// A foreign P2SH script.
pub fn foreign_sh(b: u8) -> ScriptBuf {
    ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array([b; 20]))
}

/// The spent outputs of a PSBT's inputs, from witness_utxo or non_witness_utxo.
pub fn spent_outputs(psbt: &Psbt) -> HashMap<OutPoint, TxOut> {
    psbt.unsigned_tx
        .input
        .iter()
        .zip(&psbt.inputs)
        .map(|(txin, pin)| {
            let out = pin.witness_utxo.clone().unwrap_or_else(|| {
                pin.non_witness_utxo.as_ref().unwrap().output[txin.previous_output.vout as usize]
                    .clone()
            });
            (txin.previous_output, out)
        })
        .collect()
}

/// Signs every input of `psbt` with the key its BIP32 derivation names, SIGHASH_ALL, low-R, and
/// returns the final transaction. Panics if a key is not one of `accounts`.
pub fn sign(psbt: &Psbt, accounts: &[Account]) -> Transaction {
    let mut tx = psbt.unsigned_tx.clone();
    let spent = spent_outputs(psbt);
    let mut cache = SighashCache::new(&psbt.unsigned_tx);
    let mut finals = Vec::new();
    for (i, pin) in psbt.inputs.iter().enumerate() {
        assert_eq!(pin.bip32_derivation.len(), 1, "one key per input");
        let (pk, (fp, path)) = pin.bip32_derivation.iter().next().unwrap();
        let acct = accounts
            .iter()
            .find(|a| {
                let w = a.watch_only();
                w.fingerprint == *fp && path.as_ref().starts_with(w.account_path.as_ref())
            })
            .expect("an account for the path");
        let steps: Vec<_> = path.as_ref()[3..].to_vec();
        let (chain, index) = match (steps[0], steps[1]) {
            (
                bitcoin::bip32::ChildNumber::Normal { index: c },
                bitcoin::bip32::ChildNumber::Normal { index: n },
            ) => (c, n),
            _ => panic!("hardened leaf"),
        };
        let sk = acct.private_key(secp(), chain, index).unwrap();
        let cpk = CompressedPublicKey::from_private_key(secp(), &sk).unwrap();
        assert_eq!(cpk.0, *pk, "derivation names the right key");
        let prevout = &spent[&tx.input[i].previous_output];
        let t = acct.watch_only().script_type;
        let sighash_msg = match t {
            ScriptType::Pkh => {
                let h = cache
                    .legacy_signature_hash(
                        i,
                        &prevout.script_pubkey,
                        EcdsaSighashType::All.to_u32(),
                    )
                    .unwrap();
                Message::from_digest(h.to_byte_array())
            }
            ScriptType::Wpkh | ScriptType::ShWpkh => {
                let spk = ScriptBuf::new_p2wpkh(&cpk.wpubkey_hash());
                let h = cache
                    .p2wpkh_signature_hash(i, &spk, prevout.value, EcdsaSighashType::All)
                    .unwrap();
                Message::from_digest(h.to_byte_array())
            }
        };
        let sig = secp().sign_ecdsa_low_r(&sighash_msg, &sk.inner);
        let sig = EcdsaSig {
            signature: sig,
            sighash_type: EcdsaSighashType::All,
        };
        finals.push((t, sig, cpk, pin.redeem_script.clone()));
    }
    for (i, (t, sig, cpk, redeem)) in finals.into_iter().enumerate() {
        match t {
            ScriptType::Pkh => {
                tx.input[i].script_sig = bitcoin::script::Builder::new()
                    .push_slice(sig.serialize())
                    .push_key(&bitcoin::PublicKey::new(cpk.0))
                    .into_script();
            }
            ScriptType::Wpkh => {
                tx.input[i].witness = Witness::p2wpkh(&sig, &cpk.0);
            }
            ScriptType::ShWpkh => {
                let redeem = redeem.expect("redeem script in the PSBT");
                let push: &bitcoin::script::PushBytes = redeem.as_bytes().try_into().unwrap();
                tx.input[i].script_sig = bitcoin::script::Builder::new()
                    .push_slice(push)
                    .into_script();
                tx.input[i].witness = Witness::p2wpkh(&sig, &cpk.0);
            }
        }
    }
    tx
}

/// Runs Bitcoin Core's interpreter (libbitcoinconsensus) over every input of `tx`.
pub fn verify(tx: &Transaction, spent: &HashMap<OutPoint, TxOut>) {
    tx.verify(|op| spent.get(op).cloned())
        .unwrap_or_else(|e| panic!("consensus verification failed: {e:?}"));
}

/// Sum of a transaction's outputs.
pub fn output_total(tx: &Transaction) -> u64 {
    tx.output.iter().map(|o| o.value.to_sat()).sum()
}

/// A recorded PSBT case of the real node (`fixtures/txbuild/psbt/NAME`).
pub struct FixtureCase {
    /// The coins spent, with their full previous transactions.
    pub coins: Vec<Coin>,
    /// Core's unsigned PSBT (`walletcreatefundedpsbt`).
    pub core_psbt: Psbt,
    /// Core's final signed transaction.
    pub final_tx: Transaction,
}

pub fn fixture_path(rel: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/txbuild")
        .join(rel)
}

pub fn read_json(rel: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture_path(rel)).unwrap()).unwrap()
}

pub fn load_fixture(name: &str) -> FixtureCase {
    use bitcoin::consensus::encode::deserialize_hex;
    use std::str::FromStr;
    let utxos = read_json(&format!("psbt/{name}/utxos.json"));
    let coins = utxos["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let prev: Transaction = deserialize_hex(u["prev_tx_hex"].as_str().unwrap()).unwrap();
            let path =
                bitcoin::bip32::DerivationPath::from_str(u["path"].as_str().unwrap()).unwrap();
            let steps: Vec<u32> = path
                .as_ref()
                .iter()
                .map(|c| match c {
                    bitcoin::bip32::ChildNumber::Normal { index } => *index,
                    bitcoin::bip32::ChildNumber::Hardened { index } => *index,
                })
                .collect();
            let script_type = match u["type"].as_str().unwrap() {
                "wpkh" => ScriptType::Wpkh,
                "sh-wpkh" => ScriptType::ShWpkh,
                _ => ScriptType::Pkh,
            };
            let vout = u["vout"].as_u64().unwrap() as u32;
            Coin {
                outpoint: OutPoint {
                    txid: u["txid"].as_str().unwrap().parse().unwrap(),
                    vout,
                },
                value: Amount::from_wat(u["amount_sat"].as_u64().unwrap()).unwrap(),
                script_pubkey: prev.output[vout as usize].script_pubkey.clone(),
                script_type,
                keychain: Keychain::from_chain(steps[3]).unwrap(),
                index: steps[4],
                confirmation_height: Some(121),
                prev_tx: Some(Arc::new(prev)),
            }
        })
        .collect();
    let b64 = std::fs::read_to_string(fixture_path(&format!(
        "psbt/{name}/unsigned.psbt.base64.txt"
    )))
    .unwrap();
    let core_psbt = Psbt::from_str(b64.trim()).unwrap();
    let hex = std::fs::read_to_string(fixture_path(&format!("psbt/{name}/final-tx.hex"))).unwrap();
    FixtureCase {
        coins,
        core_psbt,
        final_tx: deserialize_hex(hex.trim()).unwrap(),
    }
}
