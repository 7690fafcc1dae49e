//! Spendable coins as the ledger knows them.
//!
//! Invariant: a [`Coin`] names exactly one output (`outpoint`) with the value and script the chain
//! holds for it; the builders re-check both against the full previous transaction whenever one is
//! attached, and re-derive the script from the wallet's keys before spending it.

use std::sync::Arc;

use bitcoin::{OutPoint, ScriptBuf, Transaction};
use mona::{Amount, ScriptType};

/// The BIP44 chain of a key: external (receive, 0) or internal (change, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Keychain {
    /// Chain 0: receive addresses.
    External,
    /// Chain 1: change addresses.
    Internal,
}

impl Keychain {
    /// 0 for external, 1 for internal.
    pub fn chain(self) -> u32 {
        match self {
            Keychain::External => 0,
            Keychain::Internal => 1,
        }
    }

    /// The keychain of chain number 0 or 1.
    pub fn from_chain(chain: u32) -> Option<Keychain> {
        match chain {
            0 => Some(Keychain::External),
            1 => Some(Keychain::Internal),
            _ => None,
        }
    }
}

/// An unspent output of one of our accounts, as a candidate input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    /// The output being spent.
    pub outpoint: OutPoint,
    /// Its value.
    pub value: Amount,
    /// Its `script_pubkey`.
    pub script_pubkey: ScriptBuf,
    /// Its script family (decides the spend size and the PSBT fields).
    pub script_type: ScriptType,
    /// The chain of the key under its account.
    pub keychain: Keychain,
    /// The derivation index of the key on that chain.
    pub index: u32,
    /// The height of the block that confirmed it; `None` while unconfirmed.
    pub confirmation_height: Option<u32>,
    /// The full previous transaction (`non_witness_utxo`), when known. Required for P2PKH coins
    /// and for every input of a top-up PSBT.
    pub prev_tx: Option<Arc<Transaction>>,
}

impl Coin {
    /// Confirmations at `tip_height` (0 while unconfirmed or if the height is above the tip).
    pub fn confirmations(&self, tip_height: u32) -> u32 {
        match self.confirmation_height {
            Some(h) if h <= tip_height => tip_height - h + 1,
            _ => 0,
        }
    }
}
