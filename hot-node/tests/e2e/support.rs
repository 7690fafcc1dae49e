//! Shared helpers: a cold export file, customer addresses, a rig in a temp dir.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bitcoin::secp256k1::Secp256k1;
use hot_node::config::Config;
use hot_node::simrig::SimRig;
use hot_node::watch_only::WatchOnlyWallet;
use mona::Network;
use mona_wallet::{Account, Mnemonic, Purpose, WatchOnlyAccount};

pub const COLD_MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
pub const CUSTOMER_MNEMONIC: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";

pub fn account(phrase: &str) -> Account {
    let m = Mnemonic::parse(phrase).expect("test mnemonic");
    Account::from_seed(
        &Secp256k1::new(),
        &m.to_seed(""),
        Network::Regtest,
        Purpose::Bip84,
        0,
    )
}

pub fn customers() -> WatchOnlyAccount {
    account(CUSTOMER_MNEMONIC).watch_only().clone()
}

/// Customer address `i` (not ours).
pub fn customer(i: u32) -> mona::Address {
    customers().address(0, i).expect("derive")
}

pub fn write_cold_export(dir: &Path) -> PathBuf {
    let p = dir.join("cold-export.json");
    std::fs::write(
        &p,
        WatchOnlyWallet::from_account(account(COLD_MNEMONIC).watch_only()).to_json(),
    )
    .expect("write cold export");
    p
}

/// A rig in a fresh temp dir (returned too: it must outlive the rig).
pub async fn rig(edit: impl FnOnce(&mut Config)) -> (tempfile::TempDir, SimRig) {
    let dir = tempfile::tempdir().expect("tempdir");
    let export = write_cold_export(dir.path());
    let rig = SimRig::start(&dir.path().join("work"), &export, edit)
        .await
        .expect("rig starts");
    (dir, rig)
}
