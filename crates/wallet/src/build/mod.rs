//! Transaction building for the hot node: coin selection, payouts (batched withdrawals and
//! vouchers, sweeps to cold), RBF fee bumps, and top-up PSBTs for the cold signer.
//!
//! Every builder returns an unsigned BIP174 v0 [`Psbt`] carrying what one signing code path needs
//! for hot and cold alike: `witness_utxo` for segwit inputs, `non_witness_utxo` (the full previous
//! transaction, witnesses stripped as Core 0.20 does: same txid, fewer bytes) wherever it is known
//! and always for P2PKH and top-up inputs, `redeem_script` for
//! P2SH-P2WPKH, and BIP32 derivations (master fingerprint + full path) for every input key, the
//! change output and any output to one of our own accounts.
//!
//! Invariants of every built transaction (each is checked by a test in `tests/build_*.rs`):
//! - inputs are unique, belong to the given accounts (the script is re-derived), and all signal
//!   RBF (sequence `0xfffffffd`); nLockTime is the tip height passed in (anti-fee-sniping);
//! - sum(inputs) = sum(outputs) + fee, and fee >= fee rate x the upper-bound vsize
//!   ([`vsize`]); the fee exceeds that by less than [`FeeSummary::max_burn`] (a change output
//!   too small to be worth making);
//! - no output is below the relay dust threshold, none pays a segwit v1+ program (anyone can
//!   spend those on Monacoin v0.20.3) or a non-standard script; a change output is absent or at
//!   least [`min_change`];
//! - inputs and outputs are in BIP69 order (inputs by txid as displayed then vout, outputs by
//!   amount then script bytes), so the same request gives the same bytes;
//! - a fee bump spends every input of the original, keeps every payment output unchanged, and
//!   meets BIP125 rules 3 and 4 and Core 0.20's "higher fee rate" check, whatever the
//!   original's signatures turn out to be.

mod assemble;
pub mod bump;
pub mod coin;
mod error;
pub mod payout;
pub mod select;
pub mod vsize;

pub use bump::{
    build_fee_bump, replacement_fee_ok, BuiltBump, BumpInfo, FeeBumpError, FeeBumpRequest,
};
pub use coin::{Coin, Keychain};
pub use error::BuildPayoutError;
pub use payout::{
    build_payout, build_sweep, build_topup, PayoutRequest, SweepRequest, TopUpRequest,
    TransferRequest,
};
pub use select::{
    min_change, select_coins, DustPolicy, Selection, SelectionAlgorithm, SelectionError,
    SelectionParams, SelectionTarget,
};

use bitcoin::psbt::Psbt;
use bitcoin::{ScriptBuf, Transaction};
use mona::{Amount, FeeRate};

use crate::account::WatchOnlyAccount;

/// One payment: pay `amount` to `script_pubkey`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Payment {
    /// The destination script (from a parsed, network-checked `mona::Address`).
    pub script_pubkey: ScriptBuf,
    /// The amount.
    pub amount: Amount,
}

/// An address of one of our own accounts, named by its derivation so the PSBT can prove it.
#[derive(Debug, Clone, Copy)]
pub struct WalletDestination<'a> {
    /// The account (hot or cold watch-only half).
    pub account: &'a WatchOnlyAccount,
    /// Receive or change chain.
    pub keychain: Keychain,
    /// Index on that chain.
    pub index: u32,
}

impl<'a> WalletDestination<'a> {
    /// The change address `account/1/index`.
    pub fn change(account: &'a WatchOnlyAccount, index: u32) -> Self {
        WalletDestination {
            account,
            keychain: Keychain::Internal,
            index,
        }
    }

    /// The receive address `account/0/index`.
    pub fn receive(account: &'a WatchOnlyAccount, index: u32) -> Self {
        WalletDestination {
            account,
            keychain: Keychain::External,
            index,
        }
    }

    /// Its `script_pubkey`, or `None` if the index cannot be derived.
    pub fn script_pubkey(&self) -> Option<ScriptBuf> {
        self.account
            .script_pubkey(self.keychain.chain(), self.index)
    }
}

/// Fee-rate bounds and the absolute fee cap from the float policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePolicy {
    /// Requested rates below this are raised to it (default 100 wat/vB, the wallet floor).
    pub floor: FeeRate,
    /// Requested rates above this are refused, and so is a fee above it (plus the bounded
    /// change remainder) for the estimated size.
    pub ceiling: FeeRate,
    /// No transaction pays more than this fee.
    pub max_fee: Amount,
}

impl Default for FeePolicy {
    fn default() -> Self {
        FeePolicy {
            floor: FeeRate::WALLET_FLOOR,
            ceiling: FeeRate::WALLET_FALLBACK,
            max_fee: Amount::from_wat_const(50_000_000),
        }
    }
}

/// Settings shared by every build: fee policy, input cap, confirmations, dust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxSettings {
    /// Fee bounds.
    pub fees: FeePolicy,
    /// The most inputs a transaction may have (default 100).
    pub max_inputs: usize,
    /// Coins with fewer confirmations are not selected (default 1).
    pub min_confirmations: u32,
    /// Which coins are dust (default: worth less than twice their spend cost at the floor).
    pub dust: DustPolicy,
}

impl Default for TxSettings {
    fn default() -> Self {
        TxSettings {
            fees: FeePolicy::default(),
            max_inputs: 100,
            min_confirmations: 1,
            dust: DustPolicy::default(),
        }
    }
}

/// The change output of a built transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeInfo {
    /// Its position in the transaction.
    pub vout: u32,
    /// Its value.
    pub amount: Amount,
}

/// Where the money of a built transaction goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeSummary {
    /// Sum of the inputs.
    pub input_total: Amount,
    /// Sum of the payment outputs (everything but change).
    pub payment_total: Amount,
    /// The change output, if any.
    pub change: Option<ChangeInfo>,
    /// The fee: `input_total - payment_total - change`.
    pub fee: Amount,
    /// Upper bound of the signed transaction's vsize.
    pub estimated_vsize: u64,
    /// The rate actually targeted (the request raised to the floor; for a bump, raised further
    /// to what BIP125 needs).
    pub target_fee_rate: FeeRate,
    /// `fee / estimated_vsize`, rounded down: the least rate the signed transaction pays.
    pub fee_rate: FeeRate,
    /// The most the fee may exceed `target_fee_rate x estimated_vsize` by: the cost of a change
    /// output plus the smallest change worth making.
    pub max_burn: Amount,
}

/// An unsigned transaction ready for the signer, with its coins and fee.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltTx {
    /// The unsigned PSBT (BIP174 v0) with everything a signer needs.
    pub psbt: Psbt,
    /// The coins spent, in input order (reserve exactly these).
    pub inputs: Vec<Coin>,
    /// `payment_vouts[i]` is the output index of the request's payment `i`.
    pub payment_vouts: Vec<u32>,
    /// Amounts and fee.
    pub summary: FeeSummary,
    /// How the inputs were chosen ([`SelectionAlgorithm::Preselected`] for a bump that needed
    /// no new input).
    pub algorithm: SelectionAlgorithm,
}

impl BuiltTx {
    /// The unsigned transaction.
    pub fn unsigned_tx(&self) -> &Transaction {
        &self.psbt.unsigned_tx
    }
}
