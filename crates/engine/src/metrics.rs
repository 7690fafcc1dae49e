//! Counters the API exports (Prometheus text is hot-node's job).
//!
//! Module invariant: counters only grow; a [`MetricsSnapshot`] is a consistent-enough copy
//! (each field read atomically) for export.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters, shared by the engine tasks.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) node_calls_ok: AtomicU64,
    pub(crate) node_calls_err: AtomicU64,
    pub(crate) node_latency_us_total: AtomicU64,
    pub(crate) blocks_connected: AtomicU64,
    pub(crate) blocks_disconnected: AtomicU64,
    pub(crate) payouts_committed: AtomicU64,
    pub(crate) withdrawals_committed: AtomicU64,
    pub(crate) broadcasts: [AtomicU64; 7],
    pub(crate) fee_bumps: AtomicU64,
    pub(crate) sweeps: AtomicU64,
    pub(crate) freezes: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) scan_spends: AtomicU64,
    pub(crate) scan_txids: AtomicU64,
}

/// Names of the broadcast outcome classes, in [`MetricsSnapshot::broadcasts`] order.
pub const BROADCAST_CLASSES: [&str; 7] = [
    "accepted",
    "already_known",
    "conflict_or_missing_inputs",
    "permanently_rejected",
    "retry_later",
    "transient",
    "configuration",
];

/// A copy of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Node calls that answered.
    pub node_calls_ok: u64,
    /// Node calls that failed (any class).
    pub node_calls_err: u64,
    /// Sum of node call latencies, microseconds (divide by ok + err for the mean).
    pub node_latency_us_total: u64,
    /// Blocks connected.
    pub blocks_connected: u64,
    /// Blocks disconnected (reorgs).
    pub blocks_disconnected: u64,
    /// Payout transactions committed (withdrawal batches, sweeps, top-ups, bumps).
    pub payouts_committed: u64,
    /// Withdrawals put into committed transactions.
    pub withdrawals_committed: u64,
    /// `sendrawtransaction` outcomes by class ([`BROADCAST_CLASSES`]).
    pub broadcasts: [u64; 7],
    /// Fee bumps committed.
    pub fee_bumps: u64,
    /// Sweeps committed.
    pub sweeps: u64,
    /// Freezes raised by the engine.
    pub freezes: u64,
    /// Withdrawals rejected by policy.
    pub rejected: u64,
    /// Engine loop errors (logged; retried).
    pub errors: u64,
    /// Spends handed to the ledger by block scans (ours, or all while the index is incomplete).
    pub scan_spends: u64,
    /// Txids handed to the ledger by block scans.
    pub scan_txids: u64,
}

impl Metrics {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    pub(crate) fn node_call(&self, ok: bool, micros: u64) {
        if ok {
            Self::inc(&self.node_calls_ok);
        } else {
            Self::inc(&self.node_calls_err);
        }
        self.node_latency_us_total.fetch_add(micros, Relaxed);
    }

    pub(crate) fn broadcast(&self, class: &str) {
        if let Some(i) = BROADCAST_CLASSES.iter().position(|c| *c == class) {
            Self::inc(&self.broadcasts[i]);
        }
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let g = |c: &AtomicU64| c.load(Relaxed);
        MetricsSnapshot {
            node_calls_ok: g(&self.node_calls_ok),
            node_calls_err: g(&self.node_calls_err),
            node_latency_us_total: g(&self.node_latency_us_total),
            blocks_connected: g(&self.blocks_connected),
            blocks_disconnected: g(&self.blocks_disconnected),
            payouts_committed: g(&self.payouts_committed),
            withdrawals_committed: g(&self.withdrawals_committed),
            broadcasts: std::array::from_fn(|i| g(&self.broadcasts[i])),
            fee_bumps: g(&self.fee_bumps),
            sweeps: g(&self.sweeps),
            freezes: g(&self.freezes),
            rejected: g(&self.rejected),
            errors: g(&self.errors),
            scan_spends: g(&self.scan_spends),
            scan_txids: g(&self.scan_txids),
        }
    }
}
