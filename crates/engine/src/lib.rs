//! The hot node's engine: chain sync from raw blocks, exactly-once payouts, fee bumps,
//! reconciliation and freeze, sweeps to cold and top-up proposals.
//!
//! The ledger (`mona-ledger`) is the source of truth; this crate drives it exactly as its
//! "How the daemon drives it" guide says: commit first, perform the returned effects after,
//! re-send the same bytes until the chain answers, never rebuild a committed payout.
//!
//! - [`Engine::start`] -> [`EngineHandle`]: what hot-node's daemon owns.
//! - Pure parts, unit-tested: [`tracker`] (which scripts are ours), [`scan`] (block ->
//!   `BlockUpdate`), [`config`] (float math), [`keys`] (signing + libbitcoinconsensus check),
//!   [`state`] (persisted address counters), [`failpoint`] (crash-matrix points).
//!
//! # How hot-node drives it
//! ```text
//! start:   let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(datadir.join("ledger.db"))?);
//!          let node = Arc::new(NodeClient::new(node_config));
//!          let mut cfg = EngineConfig::new(network);            // then copy [payouts]/[policy]
//!          cfg.datadir = Some(datadir);                        // engine-state.json lives here
//!          let engine = Engine::start(cfg, ledger.clone(), node,
//!                                     HotKeys::from_account(hot_wallet.account()),
//!                                     cold_export.account.clone()).await?;   // genesis checked
//! intake:  ledger.request_withdrawal(..) / redeem_voucher(..) (the API, as today), then
//!          engine.wake()  (also after unfreeze)
//! address: engine.new_deposit_address()? -> DepositAddress { address, index }
//! status:  engine.status(), engine.float_status().await?, engine.freeze_info(),
//!          engine.freeze_events() (watch), engine.metrics(), engine.payouts_by_state().await?
//! top-up:  engine.propose_topup(amount).await? -> TopUpProposal (psbt bytes for the outbox)
//!          engine.submit_topup(&id, &signed_psbt_bytes).await? -> Txid   (any proposal)
//! large:   withdrawals above max_payout wait; the engine proposes a cold-signed PSBT for the
//!          oldest by itself; engine.propose_cold_withdrawal(&id).await? -> Intake<TopUpProposal>
//!          (Replay if already open for it); submit it like a top-up (commit + close atomic)
//! stop:    engine.shutdown().await   (committed payouts are re-sent by the next start)
//! ```
//!
//! Crate invariant: no payout bytes reach the node before the ledger committed them; an
//! unknown outcome (timeout, 503, reset, dropped answer, crash) is never treated as a failure.

pub mod config;
mod engine;
pub mod failpoint;
pub mod keys;
pub mod metrics;
pub mod scan;
pub mod state;
pub mod tracker;

#[cfg(test)]
pub(crate) mod testkeys;

pub use config::{ConfigError, EngineConfig, FloatPolicy};
pub use engine::{
    to_send_outcome, DepositAddress, Engine, EngineError, EngineHandle, EngineStatus, FloatStatus,
    FreezeInfo, StartError,
};
pub use keys::{HotKeys, SignError};
pub use metrics::{MetricsSnapshot, BROADCAST_CLASSES};
