//! Fixed test keys (regtest): hot = "all x12", cold = "abandon x11 about".

use bitcoin::secp256k1::Secp256k1;
use bitcoin::ScriptBuf;
use mona::Network;
use mona_wallet::{Account, Mnemonic, Purpose, WatchOnlyAccount};

pub fn hot_account() -> Account {
    let seed = Mnemonic::parse("all all all all all all all all all all all all")
        .unwrap()
        .to_seed("");
    Account::from_seed(
        &Secp256k1::new(),
        &seed,
        Network::Regtest,
        Purpose::Bip84,
        0,
    )
}

pub fn hot_watch() -> WatchOnlyAccount {
    hot_account().watch_only().clone()
}

pub fn hot_keys() -> crate::HotKeys {
    crate::HotKeys::from_account(&hot_account())
}

pub fn cold_watch() -> WatchOnlyAccount {
    let seed = Mnemonic::parse(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    )
    .unwrap()
    .to_seed("");
    Account::from_seed(
        &Secp256k1::new(),
        &seed,
        Network::Regtest,
        Purpose::Bip84,
        0,
    )
    .watch_only()
    .clone()
}

pub fn foreign_script() -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_raw_hash(
        bitcoin::hashes::Hash::from_byte_array([9u8; 20]),
    ))
}
