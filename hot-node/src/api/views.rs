//! JSON shapes of API answers (shared with the CLI, which parses them back).
//!
//! Invariant: amounts are decimal MONA strings; a voucher code appears only in
//! [`VoucherCreatedView`], the one answer that shows it.

use mona::Amount;
use mona_ledger::{TopUpProposal, Withdrawal, WithdrawalSource};
use serde::{Deserialize, Serialize};

/// A withdrawal (also what a redemption returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalView {
    /// Idempotency key (`voucher:<id>` for a redemption).
    pub id: String,
    /// Destination address.
    pub address: String,
    /// Amount.
    pub amount: Amount,
    /// `requested`, `rejected`, or the paying transaction's state.
    pub state: String,
    /// The paying transaction, once signed.
    pub txid: Option<String>,
    /// Why it was rejected.
    pub reject_reason: Option<String>,
    /// The voucher it redeems, if any.
    pub voucher_id: Option<String>,
    /// Above `max_payout` and still `requested`: it waits for a cold-signed PSBT.
    #[serde(default)]
    pub awaiting_cold_signature: bool,
    /// The open proposal (`/v1/topups/{id}`) paying it from cold coins, if any.
    #[serde(default)]
    pub proposal_id: Option<String>,
}

impl From<&Withdrawal> for WithdrawalView {
    fn from(w: &Withdrawal) -> Self {
        WithdrawalView {
            id: w.id.clone(),
            address: w.destination.address.clone(),
            amount: Amount::from_wat(w.amount_wat).unwrap_or(Amount::MAX_MONEY),
            state: w.state.as_str().to_owned(),
            txid: w.txid.map(|t| t.to_string()),
            reject_reason: w.reject_reason.clone(),
            voucher_id: match &w.source {
                WithdrawalSource::Voucher { voucher_id } => Some(voucher_id.clone()),
                _ => None,
            },
            awaiting_cold_signature: false,
            proposal_id: None,
        }
    }
}

/// The answer to `POST /v1/vouchers`: the only place the code is ever shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherCreatedView {
    /// Voucher id.
    pub id: String,
    /// Amount it pays.
    pub amount: Amount,
    /// The code (shown once; only its hash is stored).
    pub code: String,
    /// `active`.
    pub state: String,
}

impl std::fmt::Debug for VoucherCreatedView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoucherCreatedView")
            .field("id", &self.id)
            .field("amount", &self.amount)
            .field("code", &"<redacted>")
            .finish()
    }
}

/// A fresh hot deposit address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressView {
    /// The address.
    pub address: String,
    /// Its index on the hot receive chain.
    pub index: u32,
    /// `hot_external`.
    pub keychain: String,
}

/// A proposal (a top-up, or a cold withdrawal), with its PSBT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpView {
    /// Proposal id.
    pub id: String,
    /// `topup` or `cold_withdrawal`.
    #[serde(default)]
    pub purpose: String,
    /// The withdrawal it pays (a cold withdrawal).
    #[serde(default)]
    pub withdrawal_id: Option<String>,
    /// `open`, `submitted`, `cancelled`.
    pub state: String,
    /// Amount moved to hot, or paid to the withdrawal.
    pub amount: Amount,
    /// Txid of the unsigned transaction.
    pub unsigned_txid: String,
    /// The unsigned PSBT, base64.
    pub psbt: String,
    /// Close note.
    pub close_note: Option<String>,
}

impl From<&TopUpProposal> for TopUpView {
    fn from(t: &TopUpProposal) -> Self {
        use base64::Engine as _;
        TopUpView {
            id: t.id.clone(),
            purpose: t.purpose().to_owned(),
            withdrawal_id: t.withdrawal_id.clone(),
            state: t.state.as_str().to_owned(),
            amount: Amount::from_wat(t.amount_wat).unwrap_or(Amount::MAX_MONEY),
            unsigned_txid: t.unsigned_txid.to_string(),
            psbt: base64::engine::general_purpose::STANDARD.encode(&t.psbt),
            close_note: t.close_note.clone(),
        }
    }
}

/// A proposal in `GET /v1/topups` (without its PSBT: `GET /v1/topups/{id}/psbt` has it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalSummaryView {
    /// Proposal id.
    pub id: String,
    /// `topup` or `cold_withdrawal`.
    pub purpose: String,
    /// The withdrawal it pays (a cold withdrawal).
    pub withdrawal_id: Option<String>,
    /// Amount moved to hot, or paid to the withdrawal.
    pub amount: Amount,
    /// `open`, `submitted`, `cancelled`.
    pub state: String,
    /// Txid of the unsigned transaction.
    pub unsigned_txid: String,
    /// The committed payout's txid once submitted, or why it was cancelled.
    pub close_note: Option<String>,
}

impl From<&TopUpProposal> for ProposalSummaryView {
    fn from(t: &TopUpProposal) -> Self {
        ProposalSummaryView {
            id: t.id.clone(),
            purpose: t.purpose().to_owned(),
            withdrawal_id: t.withdrawal_id.clone(),
            amount: Amount::from_wat(t.amount_wat).unwrap_or(Amount::MAX_MONEY),
            state: t.state.as_str().to_owned(),
            unsigned_txid: t.unsigned_txid.to_string(),
            close_note: t.close_note.clone(),
        }
    }
}
