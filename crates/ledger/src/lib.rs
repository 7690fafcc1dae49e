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
pub use sqlite::{Pending, SqliteLedger, SqliteOptions};
pub use store::{
    BlockError, CommitError, FloatError, IntakeError, Ledger, PayoutOpError, StoreError,
};
