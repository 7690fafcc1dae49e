//! The custody ledger: the payout state machine (pure, no I/O) and its stores.
//!
//! - [`machine`]: `apply(payout, event) -> (payout, effects)`, exactly ARCHITECTURE.md's payout
//!   machine; the daemon commits first and performs the effects after.
//! - [`Ledger`]: the store contract the hot-node daemon drives (intake, vouchers, payouts,
//!   chain sync, freeze, top-ups, audit). Backends: [`SqliteLedger`] (durable, group commit)
//!   and [`MemoryLedger`] (reference model for tests).
//! - [`audit`]: the hash-chained audit log format and its verification.
//! - `conformance` (feature `conformance`): the suite any [`Ledger`] must pass.
//!
//! Crate invariant: a payout's bytes are committed before they are ever sent, are never
//! rebuilt, and are re-sent unchanged until the chain answers; an unknown outcome is never a
//! failure; one idempotency key gives at most one payout; a coin is reserved by one payout.
//!
//! Amounts are `u64` watanabe (fields end in `_wat`); decimal MONA strings are the daemon's
//! business (`mona::Amount`).
//!
//! # How the daemon drives it
//! ```text
//! open:      let ledger = SqliteLedger::open(datadir.join("ledger.db"))?;   // migrates
//! restart:   for e in ledger.pending_effects()? { perform(e) }              // re-send same bytes
//! intake:    ledger.request_withdrawal(&req)?  -> Created 201 | Replay 200 | Conflict 409
//!            ledger.redeem_voucher(&CodeHash::of_code(code), &dest)? -> Created | Replay | Conflict | NotFound
//!            (from tokio: spawn_blocking, or request_withdrawal_pending(..) then .wait())
//! batch:     queued_withdrawals(n) + spendable_coins() -> select, build, SIGN
//!            -> commit_payout(&PayoutCommit{..})?  -> [Broadcast]   (committed before any send)
//! effects:   Broadcast{txid, raw_tx, attempt}: sleep backoff_ms(attempt), sendrawtransaction,
//!            classify the answer into SendOutcome, then record_send_attempt(txid, outcome)?
//!            -> more effects (retry same bytes / Investigate / Alert). Crash anywhere: the
//!            committed state and pending_effects() say exactly what to do next.
//! Investigate: find who spent the inputs; our own tx -> it shows up in a block (sync);
//!            a stranger -> mark_conflicting_spend(txid, Some(spender)) (stuck + frozen).
//! sync:      block_connected(&BlockUpdate{..}) per block; on a reorg, block_disconnected(tip)
//!            down to the fork point first (compare block_hash_at(h) with the node's).
//! fee bump:  build a replacement spending >= 1 same input, paying the same withdrawals,
//!            replace_payout(&old_txid, &commit)? -> [Broadcast new].
//! float:     freeze/unfreeze, balances(), append_audit, verify_audit.
//! proposals: open_topup(proposal{withdrawal_id: None | Some(id)}) (one open at a time: top-ups
//!            and cold withdrawals both spend cold coins) -> the cold signer signs ->
//!            submit_proposal(id, &PayoutCommit{kind: TopUp | ColdWithdrawal, ..})? commits the
//!            payout AND closes the proposal in one transaction -> [Broadcast].
//! ```
//! A store method returning `Err` changed nothing; `StoreError` means retrying is safe.

pub mod audit;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod machine;
pub mod memory;
pub mod model;
pub mod sqlite;
pub mod store;

pub use audit::{AuditError, AuditReport};
pub use machine::{
    apply, backoff_ms, Effect, Payout, PayoutEvent, PayoutState, SendOutcome, SignedTx,
    TransitionError,
};
pub use memory::MemoryLedger;
pub use model::*;
pub use sqlite::{Pending, SqliteLedger, SqliteOptions, WriterHold};
pub use store::{
    BlockError, CommitError, FloatError, IntakeError, Ledger, PayoutOpError, StoreError,
};
