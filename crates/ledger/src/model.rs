//! The ledger's records and the validation of everything a caller hands in.
//!
//! Module invariant: every constructor-like check here is pure and is run by every store before
//! it touches anything, so bad input changes nothing whichever backend is used.

use crate::machine::{Confirmation, PayoutState};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{BlockHash, OutPoint, ScriptBuf, Txid};
use std::fmt;

/// Monacoin's supply cap in watanabe (105,120,000 MONA); no single amount may exceed it.
pub const MAX_MONEY_WAT: u64 = 105_120_000 * 100_000_000;
/// Longest accepted idempotency key / voucher id / top-up id, in bytes.
pub const MAX_ID_LEN: usize = 64;
/// Longest accepted destination address string, in bytes.
pub const MAX_ADDRESS_LEN: usize = 128;
/// Longest accepted destination script, in bytes (standard outputs are far shorter).
pub const MAX_SCRIPT_LEN: usize = 520;
/// Longest accepted free-text reason, in bytes.
pub const MAX_REASON_LEN: usize = 1024;
/// How many recent block hashes the store keeps for reorg detection (at least 100).
pub const BLOCK_HASH_RETENTION: u32 = 288;
/// Prefix of the withdrawal id created by a voucher redemption (`voucher:<voucher id>`).
/// Caller ids cannot contain `:`, so they never collide with it.
pub const VOUCHER_WITHDRAWAL_PREFIX: &str = "voucher:";
/// Audit kind: a voucher whose withdrawal policy rejected is redeemable again (subject: the
/// voucher id; detail `withdrawal=<id>`).
pub const VOUCHER_RELEASED: &str = "voucher.released";
/// Audit kind: a released voucher's rejected withdrawal gave its id back to a new redemption
/// (subject: the withdrawal id).
pub const WITHDRAWAL_DISCARDED: &str = "withdrawal.discarded";
/// Audit kind of an issued hot deposit address; subject [`address_issued_subject`], detail
/// `address=<address>`.
pub const AUDIT_ADDRESS_ISSUED: &str = "address.issued";

/// The audit subject of an issued hot deposit address: `hot_external/<index>` (one format for
/// the API and the engine, parsed back by [`parse_address_issued_subject`]).
pub fn address_issued_subject(index: u32) -> String {
    format!("hot_external/{index}")
}

/// The derivation index in an `address.issued` audit subject, if it is one.
pub fn parse_address_issued_subject(subject: &str) -> Option<u32> {
    subject.strip_prefix("hot_external/")?.parse().ok()
}

/// Why a caller's input was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// An id is empty, too long or has characters outside `[A-Za-z0-9._-]`.
    #[error("invalid {what} {value:?}: use 1 to 64 characters of A-Z a-z 0-9 . _ -")]
    BadId {
        /// Which id.
        what: &'static str,
        /// The id as given.
        value: String,
    },
    /// An amount is zero or above the supply cap.
    #[error("invalid amount {amount_wat} watanabe: must be 1..={MAX_MONEY_WAT}")]
    BadAmount {
        /// The amount as given.
        amount_wat: u64,
    },
    /// The destination address string is empty, too long or not printable ASCII.
    #[error("invalid destination address {0:?}")]
    BadAddress(String),
    /// The destination script is empty or too long.
    #[error("invalid destination script of {len} bytes")]
    BadScript {
        /// Its length.
        len: usize,
    },
    /// A reason is empty or longer than 1024 bytes.
    #[error("invalid reason: must be 1 to 1024 bytes")]
    BadReason,
    /// Some other field is malformed.
    #[error("invalid {field}: {detail}")]
    Bad {
        /// The field.
        field: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// Checks an idempotency key / voucher id / top-up id.
pub fn validate_id(what: &'static str, id: &str) -> Result<(), InvalidInput> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::BadId {
            what,
            value: id.chars().take(80).collect(),
        })
    }
}

/// Checks an amount (1 ..= [`MAX_MONEY_WAT`]).
pub fn validate_amount(amount_wat: u64) -> Result<(), InvalidInput> {
    if amount_wat == 0 || amount_wat > MAX_MONEY_WAT {
        return Err(InvalidInput::BadAmount { amount_wat });
    }
    Ok(())
}

/// Checks a free-text reason.
pub fn validate_reason(reason: &str) -> Result<(), InvalidInput> {
    if reason.trim().is_empty() || reason.len() > MAX_REASON_LEN {
        return Err(InvalidInput::BadReason);
    }
    Ok(())
}

/// Where a payout goes: the address as the caller wrote it (already parsed and checked against
/// the network by the daemon with `mona::Address`) and its output script.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Canonical address string, for display and the audit log.
    pub address: String,
    /// The output script paid.
    pub script_pubkey: ScriptBuf,
}

impl Destination {
    /// Checks lengths and characters (not the network: that is the daemon's `mona::Address` job).
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let a = &self.address;
        if a.is_empty() || a.len() > MAX_ADDRESS_LEN || !a.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidInput::BadAddress(a.chars().take(140).collect()));
        }
        let len = self.script_pubkey.len();
        if len == 0 || len > MAX_SCRIPT_LEN {
            return Err(InvalidInput::BadScript { len });
        }
        Ok(())
    }
}

/// A caller's withdrawal request (`POST /v1/withdrawals`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalRequest {
    /// Caller-chosen idempotency key.
    pub id: String,
    /// Where to pay.
    pub destination: Destination,
    /// How much, in watanabe.
    pub amount_wat: u64,
}

impl WithdrawalRequest {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        validate_id("withdrawal id", &self.id)?;
        self.destination.validate()?;
        validate_amount(self.amount_wat)
    }
}

/// What created a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WithdrawalSource {
    /// An operator/API withdrawal request.
    Request,
    /// A voucher redemption (the withdrawal id is `voucher:<voucher_id>`).
    Voucher {
        /// The redeemed voucher.
        voucher_id: String,
    },
}

/// A withdrawal (one payment owed), with the state of the payout paying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    /// The idempotency key.
    pub id: String,
    /// Request or voucher.
    pub source: WithdrawalSource,
    /// Where to pay.
    pub destination: Destination,
    /// How much, in watanabe.
    pub amount_wat: u64,
    /// `requested`, `rejected`, or the state of the transaction paying it.
    pub state: PayoutState,
    /// The live transaction paying it (follows fee bumps), from `signed` on.
    pub txid: Option<Txid>,
    /// Why it was rejected.
    pub reject_reason: Option<String>,
    /// Intake order (strictly increasing).
    pub seq: u64,
}

/// Result of an idempotent creation: the stored record in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake<T> {
    /// New record stored (HTTP 201).
    Created(T),
    /// Same key, same body: the existing record (HTTP 200).
    Replay(T),
    /// Same key, different body: the existing record, unchanged (HTTP 409).
    Conflict(T),
}

impl<T> Intake<T> {
    /// The record, whatever the outcome.
    pub fn record(&self) -> &T {
        match self {
            Intake::Created(t) | Intake::Replay(t) | Intake::Conflict(t) => t,
        }
    }
    /// Stable short name (`created`, `replay`, `conflict`).
    pub fn kind(&self) -> &'static str {
        match self {
            Intake::Created(_) => "created",
            Intake::Replay(_) => "replay",
            Intake::Conflict(_) => "conflict",
        }
    }
}

/// SHA-256 of a voucher code: the only form in which a code is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeHash(pub [u8; 32]);

impl CodeHash {
    /// Hashes a code as typed by its holder (exact bytes; normalise before if you need to).
    pub fn of_code(code: &str) -> CodeHash {
        CodeHash(sha256::Hash::hash(code.as_bytes()).to_byte_array())
    }
}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash of a 128-bit code is not secret, but it is a lookup key: print only a prefix.
        write!(f, "CodeHash({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// A voucher to create (`POST /v1/vouchers`): the daemon draws the code, shows it once, and
/// stores only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVoucher {
    /// Voucher id (idempotency key of the creation).
    pub id: String,
    /// Hash of the code.
    pub code_hash: CodeHash,
    /// Amount it pays, in watanabe.
    pub amount_wat: u64,
}

impl NewVoucher {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        validate_id("voucher id", &self.id)?;
        validate_amount(self.amount_wat)
    }
}

/// A voucher's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VoucherState {
    /// Not yet redeemed.
    Active,
    /// Redeemed to an address; its withdrawal exists.
    Redeemed,
}

impl VoucherState {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherState::Active => "active",
            VoucherState::Redeemed => "redeemed",
        }
    }
}

/// A stored voucher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    /// Voucher id.
    pub id: String,
    /// Hash of the code.
    pub code_hash: CodeHash,
    /// Amount, in watanabe.
    pub amount_wat: u64,
    /// Active or redeemed.
    pub state: VoucherState,
    /// Where it was redeemed to.
    pub redeemed_to: Option<Destination>,
    /// The withdrawal paying it (`voucher:<id>`), once redeemed.
    pub withdrawal_id: Option<String>,
}

/// Result of a voucher redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redemption {
    /// First redemption: voucher marked redeemed and its withdrawal created (201).
    Created(Withdrawal),
    /// Redeemed before to the same address: the same withdrawal (200).
    Replay(Withdrawal),
    /// Redeemed before to another address: the existing withdrawal, unchanged (409).
    Conflict(Withdrawal),
    /// No voucher has this code hash (404; count it against the client's rate limit).
    NotFound,
}

/// Which descriptor chain a wallet coin belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Keychain {
    /// Hot wallet receive addresses (deposits).
    HotExternal,
    /// Hot wallet change addresses.
    HotInternal,
    /// Cold wallet receive addresses (watch-only).
    ColdExternal,
    /// Cold wallet change addresses (watch-only).
    ColdInternal,
}

impl Keychain {
    /// Every keychain.
    pub const ALL: [Keychain; 4] = [
        Keychain::HotExternal,
        Keychain::HotInternal,
        Keychain::ColdExternal,
        Keychain::ColdInternal,
    ];
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Keychain::HotExternal => "hot_external",
            Keychain::HotInternal => "hot_internal",
            Keychain::ColdExternal => "cold_external",
            Keychain::ColdInternal => "cold_internal",
        }
    }
    /// Parses [`Keychain::as_str`] output.
    pub fn parse(s: &str) -> Option<Keychain> {
        Keychain::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// Hot keychains are spent by the hot key.
    pub fn is_hot(self) -> bool {
        matches!(self, Keychain::HotExternal | Keychain::HotInternal)
    }
}

/// An output of ours to record: a deposit seen in a block, or change of our own transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewCoin {
    /// Where it is.
    pub outpoint: OutPoint,
    /// Its value, in watanabe.
    pub value_wat: u64,
    /// Its script.
    pub script_pubkey: ScriptBuf,
    /// Which of our descriptor chains.
    pub keychain: Keychain,
    /// Derivation index in that chain.
    pub derivation_index: u32,
    /// Below the dust threshold of the policy: recorded but never selected.
    pub is_dust: bool,
}

impl NewCoin {
    /// Checks value and script.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        if self.value_wat > MAX_MONEY_WAT {
            return Err(InvalidInput::BadAmount {
                amount_wat: self.value_wat,
            });
        }
        if self.script_pubkey.is_empty() || self.script_pubkey.len() > 10_000 {
            return Err(InvalidInput::BadScript {
                len: self.script_pubkey.len(),
            });
        }
        Ok(())
    }
}

/// A wallet coin as stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Coin {
    /// Where it is.
    pub outpoint: OutPoint,
    /// Its value, in watanabe.
    pub value_wat: u64,
    /// Its script.
    pub script_pubkey: ScriptBuf,
    /// Which of our descriptor chains.
    pub keychain: Keychain,
    /// Derivation index in that chain.
    pub derivation_index: u32,
    /// Height of the block that created it; `None` while unconfirmed.
    pub height: Option<u32>,
    /// Below the dust threshold: never selected.
    pub is_dust: bool,
    /// Our payout transaction that created it (change), if any.
    pub created_by: Option<Txid>,
    /// The transaction that spent it in the active chain, if any.
    pub spent_by: Option<Txid>,
    /// Height of the block that spent it, if any.
    pub spent_height: Option<u32>,
    /// The payout transaction holding it reserved, if any.
    pub reserved_by: Option<Txid>,
}

/// What kind of transaction a payout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayoutKind {
    /// Pays withdrawals / vouchers from hot coins.
    Withdrawals,
    /// Hot-signed sweep of excess hot funds to a cold address (no withdrawals).
    Sweep,
    /// Cold-signed top-up spending cold coins to a hot address (no withdrawals).
    TopUp,
    /// Cold-signed payout of withdrawals above the per-payout max, spending cold coins (change
    /// back to a cold address).
    ColdWithdrawal,
}

impl PayoutKind {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutKind::Withdrawals => "withdrawals",
            PayoutKind::Sweep => "sweep",
            PayoutKind::TopUp => "topup",
            PayoutKind::ColdWithdrawal => "cold_withdrawal",
        }
    }
    /// Parses [`PayoutKind::as_str`] output.
    pub fn parse(s: &str) -> Option<PayoutKind> {
        [
            PayoutKind::Withdrawals,
            PayoutKind::Sweep,
            PayoutKind::TopUp,
            PayoutKind::ColdWithdrawal,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl PayoutKind {
    /// Whether payouts of this kind spend cold coins (signed on the cold signer, so the hot
    /// node can neither build nor fee-bump them).
    pub fn spends_cold(self) -> bool {
        matches!(self, PayoutKind::TopUp | PayoutKind::ColdWithdrawal)
    }
}

/// A built and signed transaction to commit before its first broadcast.
///
/// The store checks it against itself: `raw_tx` decodes and hashes to `txid`; its inputs are
/// exactly `inputs`, all known coins, unspent, unreserved, not dust, hot (cold for a top-up or a
/// cold withdrawal),
/// confirmed or our own change; each withdrawal is paid by its own output (same script, same
/// amount; a `change` output counts only when no other output does: a withdrawal to one of our
/// own addresses); each `change` entry is an output of the transaction; `fee_wat` = inputs − outputs.
/// A withdrawals or cold-withdrawal payout has no other output (a cold withdrawal's change goes
/// to a cold address only).
#[derive(Clone, PartialEq, Eq)]
pub struct PayoutCommit {
    /// What it pays.
    pub kind: PayoutKind,
    /// The withdrawals it pays (all `requested`); empty for sweeps and top-ups, non-empty for
    /// withdrawals and cold withdrawals.
    pub withdrawal_ids: Vec<String>,
    /// The transaction id.
    pub txid: Txid,
    /// The signed transaction's consensus bytes.
    pub raw_tx: Vec<u8>,
    /// The coins it spends, reserved in the same database transaction.
    pub inputs: Vec<OutPoint>,
    /// Outputs that come back to us (hot change, or the hot output of a top-up).
    pub change: Vec<NewCoin>,
    /// Its fee, in watanabe.
    pub fee_wat: u64,
}

impl fmt::Debug for PayoutCommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayoutCommit")
            .field("kind", &self.kind)
            .field("withdrawal_ids", &self.withdrawal_ids)
            .field("txid", &self.txid)
            .field("raw_tx_len", &self.raw_tx.len())
            .field("inputs", &self.inputs)
            .field("change", &self.change)
            .field("fee_wat", &self.fee_wat)
            .finish()
    }
}

/// A payout transaction as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PayoutTx {
    /// The transaction id.
    pub txid: Txid,
    /// The committed bytes (never change).
    pub raw_tx: Vec<u8>,
    /// Its kind.
    pub kind: PayoutKind,
    /// Its fee, in watanabe.
    pub fee_wat: u64,
    /// Machine state.
    pub state: PayoutState,
    /// Send attempts so far.
    pub send_attempts: u32,
    /// The last send outcome's short name ([`crate::SendOutcome::kind`]).
    pub last_send_outcome: Option<String>,
    /// Block position while confirmed/final.
    pub confirmation: Option<Confirmation>,
    /// What superseded it, while `replaced_by`.
    pub replaced_by: Option<Txid>,
    /// What it fee-bumped, if it is a replacement.
    pub replaces: Option<Txid>,
    /// Why it is stuck.
    pub stuck_reason: Option<String>,
    /// The coins it spends.
    pub inputs: Vec<OutPoint>,
    /// The withdrawals it pays (for a replaced tx: those it paid).
    pub withdrawal_ids: Vec<String>,
}

impl fmt::Debug for PayoutTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayoutTx")
            .field("txid", &self.txid)
            .field("raw_tx_len", &self.raw_tx.len())
            .field("kind", &self.kind)
            .field("fee_wat", &self.fee_wat)
            .field("state", &self.state)
            .field("send_attempts", &self.send_attempts)
            .field("confirmation", &self.confirmation)
            .field("replaced_by", &self.replaced_by)
            .field("replaces", &self.replaces)
            .field("stuck_reason", &self.stuck_reason)
            .field("inputs", &self.inputs)
            .field("withdrawal_ids", &self.withdrawal_ids)
            .finish()
    }
}

impl PayoutTx {
    /// The machine's view of this transaction.
    pub fn machine(&self) -> crate::machine::Payout {
        crate::machine::Payout {
            state: self.state,
            tx: Some(crate::machine::SignedTx {
                txid: self.txid,
                raw_tx: self.raw_tx.clone(),
            }),
            send_attempts: self.send_attempts,
            confirmation: self.confirmation,
            replaced_by: self.replaced_by,
            reason: self.stuck_reason.clone(),
        }
    }
}

/// A block of the active chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRef {
    /// Its height.
    pub height: u32,
    /// Its hash.
    pub hash: BlockHash,
}

/// What a newly connected block means for us (the daemon parses the block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockUpdate {
    /// The block.
    pub block: BlockRef,
    /// Its parent's hash (must be the stored tip's hash, if a tip is stored).
    pub prev_hash: BlockHash,
    /// Txids of every transaction in the block (or at least every one that may be ours).
    pub txids: Vec<Txid>,
    /// Outputs paying our descriptors.
    pub new_coins: Vec<NewCoin>,
    /// Outpoints spent in the block, with the spending txid (outpoints that are not ours are
    /// ignored).
    pub spends: Vec<(OutPoint, Txid)>,
    /// Confirmations at which a payout is final (policy; >= 1).
    pub finality_depth: u32,
}

/// The freeze flag of the float policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeState {
    /// Whether payouts are frozen.
    pub frozen: bool,
    /// Why it was frozen (while frozen) or the last unfreeze reason.
    pub reason: Option<String>,
}

/// A cold-signed PSBT proposal (only one open at a time, whatever its purpose: both spend cold
/// coins): a cold-to-hot top-up, or the payment of one withdrawal above the per-payout max.
#[derive(Clone, PartialEq, Eq)]
pub struct TopUpProposal {
    /// Its id.
    pub id: String,
    /// The withdrawal it pays (a cold withdrawal); `None` for a top-up of the hot float.
    pub withdrawal_id: Option<String>,
    /// The unsigned PSBT bytes written to the outbox.
    pub psbt: Vec<u8>,
    /// Txid of the unsigned transaction (what a signed submission must match).
    pub unsigned_txid: Txid,
    /// Amount moved to hot (a top-up) or paid to the withdrawal, in watanabe.
    pub amount_wat: u64,
    /// Open, submitted or cancelled.
    pub state: TopUpState,
    /// Why it was closed, or the broadcast txid, once closed.
    pub close_note: Option<String>,
}

impl fmt::Debug for TopUpProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopUpProposal")
            .field("id", &self.id)
            .field("withdrawal_id", &self.withdrawal_id)
            .field("psbt_len", &self.psbt.len())
            .field("unsigned_txid", &self.unsigned_txid)
            .field("amount_wat", &self.amount_wat)
            .field("state", &self.state)
            .field("close_note", &self.close_note)
            .finish()
    }
}

impl TopUpProposal {
    /// Stable name of its purpose: `topup` or `cold_withdrawal`.
    pub fn purpose(&self) -> &'static str {
        match self.withdrawal_id {
            Some(_) => PayoutKind::ColdWithdrawal.as_str(),
            None => PayoutKind::TopUp.as_str(),
        }
    }
    /// The payout kind its signed transaction is committed as.
    pub fn payout_kind(&self) -> PayoutKind {
        match self.withdrawal_id {
            Some(_) => PayoutKind::ColdWithdrawal,
            None => PayoutKind::TopUp,
        }
    }
}

/// A top-up proposal's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TopUpState {
    /// Waiting for the cold signature.
    Open,
    /// Signed transaction submitted (and committed as a payout).
    Submitted,
    /// Abandoned.
    Cancelled,
}

impl TopUpState {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TopUpState::Open => "open",
            TopUpState::Submitted => "submitted",
            TopUpState::Cancelled => "cancelled",
        }
    }
    /// Parses [`TopUpState::as_str`] output.
    pub fn parse(s: &str) -> Option<TopUpState> {
        [
            TopUpState::Open,
            TopUpState::Submitted,
            TopUpState::Cancelled,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// How a top-up proposal is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopUpClose {
    /// The signed transaction was committed as a payout (commit it first).
    Submitted {
        /// The committed payout's txid.
        txid: Txid,
    },
    /// Abandoned.
    Cancelled {
        /// Why.
        reason: String,
    },
}

/// Sums for reconciliation and `/v1/float`, in watanabe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balances {
    /// Unspent confirmed hot coins, dust and reserved included.
    pub hot_confirmed_wat: u64,
    /// Unspent unconfirmed hot coins (our change, deposits in flight).
    pub hot_unconfirmed_wat: u64,
    /// The part of `hot_unconfirmed_wat` created by our own live payouts (change, a top-up's
    /// hot output): it is hot once they confirm. The rest is deposits in flight.
    pub hot_change_unconfirmed_wat: u64,
    /// Unspent hot coins reserved by a payout.
    pub hot_reserved_wat: u64,
    /// Unspent confirmed hot dust.
    pub hot_dust_wat: u64,
    /// Unspent confirmed cold coins (watch-only).
    pub cold_confirmed_wat: u64,
    /// Withdrawals still `requested`.
    pub queued_wat: u64,
    /// Withdrawals paid by transactions not yet final (signed, broadcast, confirmed, stuck).
    pub in_flight_wat: u64,
}

/// One audit log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the log, from 1, contiguous.
    pub seq: u64,
    /// Unix time (seconds) when written.
    pub created_at: i64,
    /// What happened (`withdrawal.requested`, `payout.signed`, `freeze`...).
    pub kind: String,
    /// What it concerns (a withdrawal id, a txid...).
    pub subject: String,
    /// Details (`key=value` pairs separated by spaces; no secrets).
    pub detail: String,
    /// Hash of the previous row (zeros for the first).
    pub prev_hash: [u8; 32],
    /// `sha256(prev_hash || canonical(seq, created_at, kind, subject, detail))`.
    pub hash: [u8; 32],
}

/// The audit chain's head, kept beside the log and updated in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditHead {
    /// Last row's seq (0 when empty).
    pub seq: u64,
    /// Last row's hash (zeros when empty).
    pub hash: [u8; 32],
}
