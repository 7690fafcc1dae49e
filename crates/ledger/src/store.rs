//! The store contract ([`Ledger`]) every backend implements, its errors, and the pure checks
//! both backends run before a payout is committed.
//!
//! Module invariant (the contract, checked by [`crate::conformance`] against every backend):
//! - every mutating method is atomic: it either commits all its changes, its audit rows and
//!   the new audit head in ONE durable transaction, or changes nothing (bad input included);
//! - effects ([`crate::Effect`]) are returned only after that commit: perform them after the
//!   call returns, never before;
//! - idempotency keys (withdrawal ids, voucher ids, voucher withdrawals) are unique; a replay
//!   returns the stored record, a different body is a conflict, whatever the concurrency;
//! - a coin is reserved by at most one live payout transaction, in the same transaction that
//!   records the payout; a payout's bytes never change once committed;
//! - no payout is committed while the system is frozen.

use crate::audit::{AuditError, AuditReport};
use crate::machine::{Effect, PayoutState, SendOutcome, TransitionError};
use crate::model::*;
use bitcoin::{BlockHash, OutPoint, Transaction, Txid};
use std::collections::{HashMap, HashSet};

/// A storage failure (I/O, SQLite, corruption). Retrying the same call is safe: the failed
/// call changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (e.g. an SQLite error).
    #[error("ledger storage failed: {0}")]
    Backend(String),
    /// Stored data breaks an invariant (a bug or an edited database).
    #[error("ledger data is inconsistent: {0}")]
    Corrupt(String),
    /// The store's writer is gone (shut down or crashed).
    #[error("ledger store is closed")]
    Closed,
    /// The write queue is full (intake refused at once instead of waiting; HTTP 503 with
    /// `Retry-After`). Nothing was queued.
    #[error("ledger write queue is full ({queue_depth} writes waiting); retry later")]
    Busy {
        /// The queue's capacity.
        queue_depth: usize,
    },
}

/// Why an intake (withdrawal request, voucher creation, redemption) failed. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntakeError {
    /// Malformed input (HTTP 422).
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// Storage failed (HTTP 503; retry is safe).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a payout transaction could not be committed (or a replacement recorded). Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// Malformed input.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// Payouts are frozen.
    #[error("payouts are frozen: {reason}")]
    Frozen {
        /// The freeze reason.
        reason: String,
    },
    /// The raw bytes are not a transaction.
    #[error("raw transaction does not decode: {0}")]
    TxDecode(String),
    /// The raw bytes hash to another txid.
    #[error("raw transaction has txid {actual}, not the declared {declared}")]
    TxidMismatch {
        /// Declared.
        declared: Txid,
        /// Computed.
        actual: Txid,
    },
    /// A transaction with this txid is already committed.
    #[error("payout {0} is already committed")]
    AlreadyCommitted(Txid),
    /// The declared inputs are not exactly the transaction's inputs.
    #[error("declared inputs do not match the transaction's inputs")]
    InputsMismatch,
    /// An input is not a coin of ours.
    #[error("input {0} is not a known coin")]
    UnknownCoin(OutPoint),
    /// An input cannot be spent by this payout.
    #[error("input {outpoint} cannot be spent: {why}")]
    CoinUnavailable {
        /// The coin.
        outpoint: OutPoint,
        /// Why (dust, spent, unconfirmed, wrong keychain...).
        why: &'static str,
    },
    /// An input is reserved by another payout.
    #[error("input {outpoint} is reserved by payout {by}")]
    CoinReserved {
        /// The coin.
        outpoint: OutPoint,
        /// The payout holding it.
        by: Txid,
    },
    /// A withdrawal id is unknown.
    #[error("unknown withdrawal {0:?}")]
    UnknownWithdrawal(String),
    /// A withdrawal is not in the state this commit needs.
    #[error("withdrawal {id:?} is {state}, not payable by this transaction")]
    WithdrawalNotPayable {
        /// The withdrawal.
        id: String,
        /// Its state.
        state: PayoutState,
    },
    /// No output pays a withdrawal its exact amount at its script.
    #[error("no output pays withdrawal {0:?} its amount")]
    WithdrawalNotPaid(String),
    /// An output of a withdrawals payout is neither a withdrawal's payment nor a declared coin
    /// of ours (e.g. a withdrawal paid twice): money would leave the wallet unrecorded.
    #[error("output {0} pays neither a withdrawal of this payout nor an address of ours")]
    UnaccountedOutput(u32),
    /// A declared change output is not in the transaction.
    #[error("declared change output {0} does not match the transaction")]
    ChangeMismatch(OutPoint),
    /// The declared fee is not inputs − outputs.
    #[error("declared fee {declared_wat} wat but inputs minus outputs is {actual_wat} wat")]
    FeeMismatch {
        /// Declared.
        declared_wat: u64,
        /// Computed (negative if outputs exceed inputs).
        actual_wat: i128,
    },
    /// An output of a cold withdrawal pays a hot address of ours: its change must go back to a
    /// cold address (a cold withdrawal is not a top-up).
    #[error(
        "output {0} of a cold withdrawal pays a hot address; its change must go to a cold address"
    )]
    HotOutputInColdPayout(u32),
    /// No proposal has this id.
    #[error("unknown proposal {0:?}")]
    UnknownProposal(String),
    /// The proposal is not open (submitted with another transaction, or cancelled).
    #[error("proposal {id:?} is {state}, not open")]
    ProposalNotOpen {
        /// The proposal.
        id: String,
        /// Its state's name.
        state: &'static str,
    },
    /// The submitted transaction is not the proposed one (another output, amount, input...), or
    /// its kind does not fit the proposal's purpose.
    #[error("not the transaction proposal {id:?} proposed: {detail}")]
    ProposalMismatch {
        /// The proposal.
        id: String,
        /// What did not fit.
        detail: String,
    },
    /// The kind does not fit the withdrawals (withdrawals need ids; sweeps and top-ups have none).
    #[error("payout kind {0} does not fit its withdrawal list")]
    KindMismatch(&'static str),
    /// The payout to replace is unknown.
    #[error("unknown payout {0}")]
    UnknownPayout(Txid),
    /// The replacement shares no input with the payout it replaces.
    #[error("replacement spends none of the inputs of {0}")]
    NoSharedInput(Txid),
    /// The replacement does not pay the same withdrawals, or an output of the old payout is
    /// already spent by another of our payouts.
    #[error("replacement does not fit payout {txid}: {detail}")]
    ReplacementMismatch {
        /// The payout being replaced.
        txid: Txid,
        /// What did not fit.
        detail: String,
    },
    /// The state machine refused the transition.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Storage failed; retry is safe.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a state change of an existing payout or withdrawal failed. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayoutOpError {
    /// Malformed input.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// No payout with this txid.
    #[error("unknown payout {0}")]
    UnknownPayout(Txid),
    /// No withdrawal with this id.
    #[error("unknown withdrawal {0:?}")]
    UnknownWithdrawal(String),
    /// The state machine refused the transition.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Storage failed; retry is safe.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a block could not be connected or disconnected. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// Malformed input.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The block does not extend the stored tip (disconnect blocks first: a reorg).
    #[error("block {height} does not extend the stored tip {tip_height} {tip_hash}")]
    NotOnTip {
        /// The block's height.
        height: u32,
        /// The stored tip's height.
        tip_height: u32,
        /// The stored tip's hash.
        tip_hash: BlockHash,
    },
    /// Only the stored tip can be disconnected.
    #[error("block {height} {hash} is not the stored tip")]
    NotTip {
        /// Given height.
        height: u32,
        /// Given hash.
        hash: BlockHash,
    },
    /// A payout transition failed (stored data inconsistent with the chain).
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Storage failed; retry is safe.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a float operation (freeze, top-up, audit note) failed. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FloatError {
    /// Malformed input.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// Another top-up proposal is open.
    #[error("top-up proposal {0:?} is already open")]
    TopUpAlreadyOpen(String),
    /// No such top-up proposal.
    #[error("unknown top-up proposal {0:?}")]
    UnknownTopUp(String),
    /// The proposal is not open.
    #[error("top-up proposal {id:?} is {state}, not open")]
    TopUpNotOpen {
        /// The proposal.
        id: String,
        /// Its state's name.
        state: &'static str,
    },
    /// A proposal names a withdrawal that does not exist.
    #[error("unknown withdrawal {0:?}")]
    UnknownWithdrawal(String),
    /// A proposal names a withdrawal that is no longer `requested`.
    #[error("withdrawal {id:?} is {state}, not requested")]
    WithdrawalNotRequested {
        /// The withdrawal.
        id: String,
        /// Its state.
        state: PayoutState,
    },
    /// A submitted top-up names a payout that is not committed.
    #[error("top-up submission names uncommitted payout {0}")]
    UnknownPayout(Txid),
    /// A submitted proposal names a committed payout that is not of its kind (a top-up, or a
    /// cold withdrawal paying the proposal's withdrawal).
    #[error(
        "proposal submission names payout {txid}, a {kind} payout that does not fit the proposal"
    )]
    NotATopUp {
        /// The payout named.
        txid: Txid,
        /// Its kind's name.
        kind: &'static str,
    },
    /// Storage failed; retry is safe.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ledger store: everything the hot-node daemon reads and writes.
///
/// Every method is synchronous and may block on a durable commit (`fsync`); from tokio, call it
/// inside `spawn_blocking` (the SQLite store is cheap to clone and `Send + Sync`).
pub trait Ledger: Send + Sync {
    // ---- intake -------------------------------------------------------------------------
    /// Records a withdrawal request under its idempotency key.
    fn request_withdrawal(
        &self,
        req: &WithdrawalRequest,
    ) -> Result<Intake<Withdrawal>, IntakeError>;
    /// Records a voucher (only its code hash) under its id.
    fn create_voucher(&self, voucher: &NewVoucher) -> Result<Intake<Voucher>, IntakeError>;
    /// Redeems the voucher with this code hash: marks it redeemed and creates its withdrawal
    /// (`voucher:<id>`) atomically.
    fn redeem_voucher(
        &self,
        code_hash: &CodeHash,
        destination: &Destination,
    ) -> Result<Redemption, IntakeError>;
    /// Policy refuses a `requested` withdrawal (the only failure exit).
    fn reject_withdrawal(&self, id: &str, reason: &str) -> Result<Withdrawal, PayoutOpError>;

    // ---- payouts ------------------------------------------------------------------------
    /// Commits a signed payout transaction, reserves its inputs, records its change, moves its
    /// withdrawals to `signed`. Returns the first broadcast effect.
    fn commit_payout(&self, commit: &PayoutCommit) -> Result<Vec<Effect>, CommitError>;
    /// Records the answer (or non-answer) to one send attempt; returns what to do next.
    fn record_send_attempt(
        &self,
        txid: &Txid,
        outcome: &SendOutcome,
    ) -> Result<Vec<Effect>, PayoutOpError>;
    /// Fee bump: commits `replacement` (spending >= 1 input of `old`, paying the same
    /// withdrawals) and marks `old` `replaced_by`, in one transaction.
    fn replace_payout(
        &self,
        old: &Txid,
        replacement: &PayoutCommit,
    ) -> Result<Vec<Effect>, CommitError>;
    /// Investigation found a spend of `txid`'s inputs that the ledger did not make: the payout
    /// becomes `stuck` and the system is frozen. Refused (nothing changes) if `spending_txid`
    /// is one of the ledger's own payouts, or if the payout is already confirmed or final.
    fn mark_conflicting_spend(
        &self,
        txid: &Txid,
        spending_txid: Option<Txid>,
    ) -> Result<Vec<Effect>, PayoutOpError>;
    /// Operator: send a `stuck` payout's same bytes again.
    fn resend_stuck(&self, txid: &Txid) -> Result<Vec<Effect>, PayoutOpError>;

    // ---- chain --------------------------------------------------------------------------
    /// Applies a block on top of the stored tip: records our new coins, spends, confirmations,
    /// finality; freezes on a spend the ledger did not make. Returns effects (alerts).
    fn block_connected(&self, update: &BlockUpdate) -> Result<Vec<Effect>, BlockError>;
    /// Takes the stored tip out of the chain (reorg): its payouts go back to `broadcast` and are
    /// re-sent (returned effects), its coins become unconfirmed, its spends are undone.
    fn block_disconnected(&self, tip: &BlockRef) -> Result<Vec<Effect>, BlockError>;

    // ---- float --------------------------------------------------------------------------
    /// Freezes all payouts (idempotent; the first reason is kept).
    fn freeze(&self, reason: &str) -> Result<FreezeState, FloatError>;
    /// Operator: unfreezes, with a reason for the record.
    fn unfreeze(&self, reason: &str) -> Result<FreezeState, FloatError>;
    /// Opens a proposal (one open at a time, whatever its purpose; same id and body = replay).
    /// A proposal with a `withdrawal_id` pays that withdrawal, which must be `requested`.
    fn open_topup(&self, proposal: &TopUpProposal) -> Result<Intake<TopUpProposal>, FloatError>;
    /// Closes the open top-up proposal `id` (`Submitted` must name a committed payout of the
    /// proposal's kind: a top-up, or a cold withdrawal).
    fn close_topup(&self, id: &str, close: &TopUpClose) -> Result<TopUpProposal, FloatError>;
    /// Commits the cold-signed transaction of the open proposal `id` (exactly as
    /// [`Ledger::commit_payout`], of the proposal's kind: `TopUp`, or `ColdWithdrawal` paying
    /// the proposal's withdrawal) AND closes the proposal as submitted, in ONE transaction: a
    /// crash can never leave a committed payout under an open proposal. The transaction, with
    /// its signatures stripped, must hash to the proposal's `unsigned_txid`. Submitting the
    /// same transaction again once submitted is a replay (`Ok`, no effects, nothing changes but
    /// an audit row). Returns the first broadcast effect.
    fn submit_proposal(&self, id: &str, commit: &PayoutCommit) -> Result<Vec<Effect>, CommitError>;
    /// Appends a decision to the audit log (e.g. a signing decision); returns its seq.
    fn append_audit(&self, kind: &str, subject: &str, detail: &str) -> Result<u64, FloatError>;

    // ---- reads --------------------------------------------------------------------------
    /// A withdrawal by id (`voucher:<id>` for voucher payouts).
    fn withdrawal(&self, id: &str) -> Result<Option<Withdrawal>, StoreError>;
    /// Withdrawals still `requested`, oldest first, at most `limit`.
    fn queued_withdrawals(&self, limit: usize) -> Result<Vec<Withdrawal>, StoreError>;
    /// A voucher by id.
    fn voucher(&self, id: &str) -> Result<Option<Voucher>, StoreError>;
    /// A payout transaction by txid.
    fn payout(&self, txid: &Txid) -> Result<Option<PayoutTx>, StoreError>;
    /// Payout transactions in any of `states`, ordered by txid.
    fn payouts_in_states(&self, states: &[PayoutState]) -> Result<Vec<PayoutTx>, StoreError>;
    /// What to do after a restart: a broadcast effect (same bytes) for every `signed` or
    /// `broadcast` payout.
    fn pending_effects(&self) -> Result<Vec<Effect>, StoreError>;
    /// A coin by outpoint.
    fn coin(&self, outpoint: &OutPoint) -> Result<Option<Coin>, StoreError>;
    /// Hot coins a new payout may spend: unspent, unreserved, not dust, confirmed or change of
    /// our own live payout that has no fee-bump family; ordered by outpoint.
    fn spendable_coins(&self) -> Result<Vec<Coin>, StoreError>;
    /// Every coin of ours not yet seen spent in the stored chain, hot and cold, whatever its
    /// value (dust included), confirmation or reservation; ordered by outpoint. This is the
    /// complete watch set: a block input spending any of these must reach `block_connected`
    /// (invariant 6), so it is what a restarted daemon rebuilds its spend index from.
    fn unspent_coins(&self) -> Result<Vec<Coin>, StoreError>;
    /// Sums for reconciliation.
    fn balances(&self) -> Result<Balances, StoreError>;
    /// The freeze flag.
    fn freeze_state(&self) -> Result<FreezeState, StoreError>;
    /// The stored tip.
    fn tip(&self) -> Result<Option<BlockRef>, StoreError>;
    /// The stored hash at `height` (the last [`BLOCK_HASH_RETENTION`] blocks are kept).
    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, StoreError>;
    /// The top-up proposal `id`.
    fn topup(&self, id: &str) -> Result<Option<TopUpProposal>, StoreError>;
    /// The open top-up proposal, if any.
    fn open_topup_proposal(&self) -> Result<Option<TopUpProposal>, StoreError>;
    /// Every proposal (any purpose and state), oldest first, at most `limit`.
    fn topup_proposals(&self, limit: usize) -> Result<Vec<TopUpProposal>, StoreError>;
    /// Audit rows with `seq >= from_seq`, at most `limit`.
    fn audit_entries(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// The stored audit head.
    fn audit_head(&self) -> Result<AuditHead, StoreError>;
    /// Verifies the whole audit chain against the stored head.
    fn verify_audit(&self) -> Result<AuditReport, AuditError>;
}

// ---------------------------------------------------------------------------------------
// Pure checks shared by the backends.

/// Decodes and shape-checks a commit without looking at stored data.
pub(crate) fn check_commit_shape(c: &PayoutCommit) -> Result<Transaction, CommitError> {
    let tx: Transaction = bitcoin::consensus::deserialize(&c.raw_tx)
        .map_err(|e| CommitError::TxDecode(e.to_string()))?;
    let actual = tx.compute_txid();
    if actual != c.txid {
        return Err(CommitError::TxidMismatch {
            declared: c.txid,
            actual,
        });
    }
    match (c.kind, c.withdrawal_ids.is_empty()) {
        (PayoutKind::Withdrawals, true) => return Err(CommitError::KindMismatch("withdrawals")),
        (PayoutKind::Sweep, false) => return Err(CommitError::KindMismatch("sweep")),
        (PayoutKind::TopUp, false) => return Err(CommitError::KindMismatch("topup")),
        (PayoutKind::ColdWithdrawal, true) => {
            return Err(CommitError::KindMismatch("cold_withdrawal"))
        }
        _ => {}
    }
    let mut ids = HashSet::new();
    for id in &c.withdrawal_ids {
        if !ids.insert(id.as_str()) {
            return Err(InvalidInput::Bad {
                field: "withdrawal_ids",
                detail: format!("{id:?} listed twice"),
            }
            .into());
        }
        if id
            .strip_prefix(VOUCHER_WITHDRAWAL_PREFIX)
            .map_or_else(
                || validate_id("withdrawal id", id),
                |v| validate_id("voucher id", v),
            )
            .is_err()
        {
            return Err(CommitError::UnknownWithdrawal(
                id.chars().take(80).collect(),
            ));
        }
    }
    let declared: HashSet<OutPoint> = c.inputs.iter().copied().collect();
    let actual: HashSet<OutPoint> = tx.input.iter().map(|i| i.previous_output).collect();
    if declared.len() != c.inputs.len()
        || actual.len() != tx.input.len()
        || declared != actual
        || tx.input.is_empty()
    {
        return Err(CommitError::InputsMismatch);
    }
    let mut change_vouts = HashSet::new();
    for ch in &c.change {
        ch.validate()?;
        let vout = ch.outpoint.vout as usize;
        let ok = ch.outpoint.txid == c.txid
            && change_vouts.insert(vout)
            && tx.output.get(vout).is_some_and(|o| {
                o.value.to_sat() == ch.value_wat && o.script_pubkey == ch.script_pubkey
            });
        if !ok {
            return Err(CommitError::ChangeMismatch(ch.outpoint));
        }
    }
    if c.fee_wat > MAX_MONEY_WAT {
        return Err(InvalidInput::BadAmount {
            amount_wat: c.fee_wat,
        }
        .into());
    }
    Ok(tx)
}

/// A coin as the checks need it: the stored coin and whether the payout that created it (if
/// any) makes its unconfirmed change safe to spend (see [`change_is_spendable`]).
pub(crate) struct CoinView {
    pub coin: Coin,
    pub creator_live: bool,
}

/// Checks a commit against the stored coins and withdrawals (already fetched by the backend,
/// in the order of `c.inputs` / `c.withdrawal_ids`). `replacing` allows inputs reserved by it.
pub(crate) fn check_commit_against(
    c: &PayoutCommit,
    tx: &Transaction,
    coins: &[Option<CoinView>],
    withdrawals: &[Option<Withdrawal>],
    replacing: Option<&PayoutTx>,
) -> Result<(), CommitError> {
    let mut in_total: u128 = 0;
    for (op, view) in c.inputs.iter().zip(coins) {
        let v = view.as_ref().ok_or(CommitError::UnknownCoin(*op))?;
        let coin = &v.coin;
        let unavailable = |why| CommitError::CoinUnavailable { outpoint: *op, why };
        let hot_ok = if c.kind.spends_cold() {
            !coin.keychain.is_hot()
        } else {
            coin.keychain.is_hot()
        };
        if !hot_ok {
            return Err(unavailable("wrong keychain for this payout kind"));
        }
        if coin.is_dust {
            return Err(unavailable("dust is never selected"));
        }
        if coin.spent_by.is_some() {
            return Err(unavailable("already spent in the chain"));
        }
        if coin.height.is_none() && !(coin.created_by.is_some() && v.creator_live) {
            return Err(unavailable("unconfirmed and not our own live change"));
        }
        if let Some(by) = coin.reserved_by {
            if Some(by) != replacing.map(|r| r.txid) {
                return Err(CommitError::CoinReserved { outpoint: *op, by });
            }
        }
        in_total += u128::from(coin.value_wat);
    }
    let out_total: u128 = tx.output.iter().map(|o| u128::from(o.value.to_sat())).sum();
    let actual = in_total as i128 - out_total as i128;
    if actual != i128::from(c.fee_wat) {
        return Err(CommitError::FeeMismatch {
            declared_wat: c.fee_wat,
            actual_wat: actual,
        });
    }
    // Each withdrawal needs its own output (same script, exact amount). Outputs not declared
    // as ours are used first; an output declared as ours pays a withdrawal only when nothing
    // else does (a withdrawal to one of our own addresses, e.g. a deposit address of the same
    // service: the daemon rightly records that output as our coin, and it is the payment).
    let change_vouts: HashSet<usize> = c
        .change
        .iter()
        .map(|ch| ch.outpoint.vout as usize)
        .collect();
    let mut free: HashMap<(&[u8], u64), usize> = HashMap::new();
    let mut free_ours: HashMap<(&[u8], u64), usize> = HashMap::new();
    for (i, o) in tx.output.iter().enumerate() {
        let pool = if change_vouts.contains(&i) {
            &mut free_ours
        } else {
            &mut free
        };
        *pool
            .entry((o.script_pubkey.as_bytes(), o.value.to_sat()))
            .or_default() += 1;
    }
    for (id, w) in c.withdrawal_ids.iter().zip(withdrawals) {
        let w = w
            .as_ref()
            .ok_or_else(|| CommitError::UnknownWithdrawal(id.clone()))?;
        let payable = match replacing {
            None => w.state == PayoutState::Requested,
            Some(old) => w.txid == Some(old.txid),
        };
        if !payable {
            return Err(CommitError::WithdrawalNotPayable {
                id: id.clone(),
                state: w.state,
            });
        }
        let key = (w.destination.script_pubkey.as_bytes(), w.amount_wat);
        match free.get_mut(&key) {
            Some(n) if *n > 0 => *n -= 1,
            _ => match free_ours.get_mut(&key) {
                Some(n) if *n > 0 => *n -= 1,
                _ => return Err(CommitError::WithdrawalNotPaid(id.clone())),
            },
        }
    }
    if c.kind == PayoutKind::ColdWithdrawal {
        // Scripts of hot and cold keychains never coincide, so a hot key left over is an
        // output to the hot wallet that pays no withdrawal: a top-up in disguise.
        for ch in c.change.iter().rev().filter(|ch| ch.keychain.is_hot()) {
            let key = (ch.script_pubkey.as_bytes(), ch.value_wat);
            if free_ours.get(&key).is_some_and(|n| *n > 0) {
                return Err(CommitError::HotOutputInColdPayout(ch.outpoint.vout));
            }
        }
    }
    if matches!(c.kind, PayoutKind::Withdrawals | PayoutKind::ColdWithdrawal) {
        // Reported from the end: of two equal outputs, the later one is the extra.
        for (i, o) in tx.output.iter().enumerate().rev() {
            if let Some(n) = free.get_mut(&(o.script_pubkey.as_bytes(), o.value.to_sat())) {
                if *n > 0 {
                    return Err(CommitError::UnaccountedOutput(
                        u32::try_from(i).unwrap_or(u32::MAX),
                    ));
                }
            }
        }
    }
    if let Some(old) = replacing {
        if !c.inputs.iter().any(|i| old.inputs.contains(i)) {
            return Err(CommitError::NoSharedInput(old.txid));
        }
        if c.kind != old.kind {
            return Err(CommitError::ReplacementMismatch {
                txid: old.txid,
                detail: "different payout kind".into(),
            });
        }
        let a: HashSet<&String> = c.withdrawal_ids.iter().collect();
        let b: HashSet<&String> = old.withdrawal_ids.iter().collect();
        if a != b {
            return Err(CommitError::ReplacementMismatch {
                txid: old.txid,
                detail: "pays a different set of withdrawals".into(),
            });
        }
    }
    Ok(())
}

/// Whether submitting `c` to the proposal `t` (named `id`; `None`: unknown) is a replay of an
/// earlier successful submission (`Ok(true)`), a first submission (`Ok(false)`), or refused.
/// A first submission must also pass [`check_proposal_fit`].
pub(crate) fn proposal_submission(
    id: &str,
    t: Option<&TopUpProposal>,
    c: &PayoutCommit,
) -> Result<bool, CommitError> {
    let t = t.ok_or_else(|| CommitError::UnknownProposal(id.to_owned()))?;
    match t.state {
        TopUpState::Open => Ok(false),
        TopUpState::Submitted if t.close_note.as_deref() == Some(c.txid.to_string().as_str()) => {
            Ok(true)
        }
        state => Err(CommitError::ProposalNotOpen {
            id: id.to_owned(),
            state: state.as_str(),
        }),
    }
}

/// Checks that `tx` (the decoded `c.raw_tx`) is the transaction proposal `t` proposed: without
/// its signatures (script_sig, witness) it hashes to `t.unsigned_txid`, and `c` commits it as
/// the proposal's kind, paying exactly the proposal's withdrawal (if any).
pub(crate) fn check_proposal_fit(
    t: &TopUpProposal,
    c: &PayoutCommit,
    tx: &Transaction,
) -> Result<(), CommitError> {
    let mismatch = |detail: String| CommitError::ProposalMismatch {
        id: t.id.clone(),
        detail,
    };
    let mut bare = tx.clone();
    for i in &mut bare.input {
        i.script_sig = bitcoin::ScriptBuf::new();
        i.witness = bitcoin::Witness::new();
    }
    let unsigned = bare.compute_txid();
    if unsigned != t.unsigned_txid {
        return Err(mismatch(format!(
            "unsigned transaction {unsigned} is not the proposed {}",
            t.unsigned_txid
        )));
    }
    if c.kind != t.payout_kind() {
        return Err(mismatch(format!(
            "committed as a {} payout, the proposal is a {}",
            c.kind.as_str(),
            t.purpose()
        )));
    }
    let expected: Vec<String> = t.withdrawal_id.iter().cloned().collect();
    if c.withdrawal_ids != expected {
        return Err(mismatch(format!(
            "pays withdrawals [{}], the proposal pays [{}]",
            c.withdrawal_ids.join(","),
            expected.join(",")
        )));
    }
    Ok(())
}

/// The payout kind a `Submitted` close of proposal `t` must name.
pub(crate) fn check_close_kind(t: &TopUpProposal, p: &PayoutTx) -> Result<(), FloatError> {
    let fits = p.kind == t.payout_kind()
        && t.withdrawal_id
            .as_ref()
            .is_none_or(|w| p.withdrawal_ids.contains(w));
    if fits {
        Ok(())
    } else {
        Err(FloatError::NotATopUp {
            txid: p.txid,
            kind: p.kind.as_str(),
        })
    }
}

/// Checks that a replacement spends at least one input of EVERY other transaction of its
/// family (`family`: the payout being replaced and every payout linked to it, transitively, by
/// a `replaces` or `replaced_by` edge), so that at most one of them can ever confirm. Sharing
/// an input with the replaced payout alone is not enough: after A -> B -> C, a C that shares an
/// input with B but none with A could confirm together with A.
pub(crate) fn check_replacement_family(
    c: &PayoutCommit,
    family: &[PayoutTx],
) -> Result<(), CommitError> {
    for m in family {
        if !c.inputs.iter().any(|i| m.inputs.contains(i)) {
            return Err(CommitError::NoSharedInput(m.txid));
        }
    }
    Ok(())
}

/// Key/value detail string for audit rows (`k=v` separated by spaces).
pub(crate) fn detail(pairs: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(k);
        s.push('=');
        s.push_str(&v.to_string());
    }
    s
}

/// Unix time in seconds (0 if the clock is before 1970).
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether the unconfirmed change of payout `p` may be spent by another payout: `p` is live and
/// has no fee-bump family (it replaces nothing and nothing replaced or lost to it). The change
/// of a transaction with a family may never exist: if another member confirms instead, a payout
/// spending that change can never confirm and can never be replaced (its input is gone).
/// `family_edges`: whether any other payout has `replaces` or `replaced_by` equal to `p`.
pub(crate) fn change_is_spendable(p: &PayoutTx, family_edges: bool) -> bool {
    is_live(p.state) && p.replaces.is_none() && !family_edges
}

/// The refusal of a "conflicting spend" whose spender is one of our own payouts.
pub(crate) fn own_spend(spender: Txid) -> TransitionError {
    TransitionError::Mismatch {
        event: "conflicting_spend",
        detail: format!("spender {spender} is a payout of this ledger, not a foreign spend"),
    }
}

/// Whether a reserved coin's payout can still take a conflicting spend (a foreign spend of a
/// coin reserved by a confirmed/final payout, or by a stuck one, freezes the system instead).
pub(crate) fn takes_conflicting_spend(state: PayoutState) -> bool {
    !matches!(
        state,
        PayoutState::Stuck | PayoutState::Confirmed | PayoutState::Final
    )
}

/// Whether a payout state keeps its inputs/outputs alive.
pub(crate) fn is_live(state: PayoutState) -> bool {
    matches!(
        state,
        PayoutState::Signed | PayoutState::Broadcast | PayoutState::Confirmed | PayoutState::Final
    )
}
