//! The boundary between the HTTP API and the payout engine (chain sync, batching, signing,
//! broadcasting, sweeps, top-ups, reconciliation).
//!
//! Invariant: the API never moves money itself. It records intake in the ledger (the single
//! source of truth, idempotent by its unique constraints) and then only *wakes* the engine;
//! the engine picks queued withdrawals up from the ledger. So the API works, and refuses or
//! accepts exactly the same requests, whether or not an engine is running.

use std::future::Future;
use std::pin::Pin;

use mona::Amount;
use mona_ledger::{BlockRef, Intake, TopUpProposal};
use serde::Serialize;

/// A boxed future (object-safe async trait methods).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the engine could not do what the API asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No engine is running (or it does not implement this yet): HTTP 501.
    #[error("{0} is not available: the payout engine is not running")]
    Unavailable(&'static str),
    /// The request was refused (bad PSBT, not the proposed transaction...): HTTP 422.
    #[error("{0}")]
    Refused(String),
    /// The request conflicts with the current state (a proposal is already open...): HTTP 409.
    #[error("{0}")]
    Conflict(String),
    /// A transient failure (node unreachable, storage busy); retry later: HTTP 503.
    #[error("{0}")]
    Busy(String),
    /// Payouts are frozen: HTTP 503 `frozen`.
    #[error("payouts are frozen: {0}")]
    Frozen(String),
}

/// What the engine reports for `status` and `/v1/float`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EngineStatus {
    /// Whether an engine is running.
    pub running: bool,
    /// The node's best height, when known.
    pub node_height: Option<u32>,
    /// The ledger's synced tip.
    #[serde(skip)]
    pub synced_tip: Option<BlockRef>,
    /// The ledger's synced height.
    pub synced_height: Option<u32>,
    /// The last error the engine met, if any (no secrets).
    pub last_error: Option<String>,
    /// The last alert the engine raised, if any.
    pub last_alert: Option<String>,
    /// Withdrawals above `max_payout` waiting for a cold-signed transaction.
    pub awaiting_cold: Vec<String>,
}

/// The payout engine as the API sees it.
pub trait Engine: Send + Sync + 'static {
    /// New queued work exists in the ledger (withdrawal, redemption, unfreeze): wake up.
    fn wake(&self);
    /// A status snapshot.
    fn status(&self) -> EngineStatus;
    /// Proposes a top-up of `amount` (or the policy's amount): builds the unsigned PSBT and
    /// opens the proposal in the ledger.
    fn propose_topup(
        &self,
        amount: Option<Amount>,
    ) -> BoxFuture<'_, Result<TopUpProposal, EngineError>>;
    /// Accepts the cold-signed PSBT of the open proposal `id` (already base64-decoded and
    /// parsed as a PSBT by the API); returns the committed payout's txid.
    fn submit_topup(
        &self,
        id: String,
        psbt: Vec<u8>,
    ) -> BoxFuture<'_, Result<bitcoin::Txid, EngineError>>;
    /// The open proposal paying withdrawal `id` (above `max_payout`) from cold coins:
    /// `Created` if it is new, `Replay` if it was already open for it; `Conflict` while
    /// another proposal is open.
    fn propose_cold_withdrawal(
        &self,
        _id: String,
    ) -> BoxFuture<'_, Result<Intake<TopUpProposal>, EngineError>> {
        Box::pin(async { Err(EngineError::Unavailable("cold withdrawal proposal")) })
    }
    /// The next hot deposit address when the engine hands them out (so it watches every
    /// address it issued); `None`: the API derives and records it itself.
    fn new_deposit_address(&self) -> Option<Result<(u32, mona::Address), EngineError>> {
        None
    }
    /// Stops the engine (committed payouts are re-sent by the next start).
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// Brings the engine's counters and frozen flag into `metrics` (before a scrape).
    fn refresh_metrics(&self, _metrics: &crate::metrics::Metrics) {}
}

/// The engine used until the real one is plugged in: intake is recorded and waits in the
/// ledger; top-ups answer 501.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEngine;

impl Engine for NoEngine {
    fn wake(&self) {}
    fn status(&self) -> EngineStatus {
        EngineStatus::default()
    }
    fn propose_topup(
        &self,
        _amount: Option<Amount>,
    ) -> BoxFuture<'_, Result<TopUpProposal, EngineError>> {
        Box::pin(async { Err(EngineError::Unavailable("top-up proposal")) })
    }
    fn submit_topup(
        &self,
        _id: String,
        _psbt: Vec<u8>,
    ) -> BoxFuture<'_, Result<bitcoin::Txid, EngineError>> {
        Box::pin(async { Err(EngineError::Unavailable("top-up submission")) })
    }
}
