//! Prometheus metrics (`GET /metrics`).
//!
//! Invariant: metric labels are drawn from fixed sets (route names, outcome names, RPC method
//! names, payout states); nothing a client sends (ids, addresses, codes, tokens) ever becomes a
//! label or a value, so the exposition can neither leak secrets nor grow without bound.

use std::time::Duration;

use mona_ledger::{Ledger, PayoutState};
use prometheus::{
    exponential_buckets, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Payout transaction states exported as `hotnode_payouts{state}` (the live and attention
/// states; `final` grows forever and is left out).
pub const EXPORTED_PAYOUT_STATES: [PayoutState; 5] = [
    PayoutState::Signed,
    PayoutState::Broadcast,
    PayoutState::Confirmed,
    PayoutState::ReplacedBy,
    PayoutState::Stuck,
];

/// The daemon's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Hot balance in watanabe by `kind` (confirmed, unconfirmed, reserved, dust).
    pub hot_balance: IntGaugeVec,
    /// Cold confirmed balance in watanabe (watch-only).
    pub cold_balance: IntGauge,
    /// Owed amounts in watanabe by `kind` (queued, in_flight).
    pub owed: IntGaugeVec,
    /// Payout transactions by `state`.
    pub payouts: IntGaugeVec,
    /// Node RPC calls by `method` and `outcome` (ok, transient, rejected, configuration).
    pub node_calls: IntCounterVec,
    /// Node RPC call latency in seconds by `method`.
    pub node_latency: HistogramVec,
    /// Requests refused by a rate limit, by `route`.
    pub rate_limited: IntCounterVec,
    /// Requests refused because the in-flight bound and queue were full.
    pub overloaded: IntCounter,
    /// 1 while payouts are frozen.
    pub frozen: IntGauge,
    /// Intake results by `kind` (withdrawal, voucher_create, voucher_redeem) and `outcome`.
    pub intake: IntCounterVec,
    /// HTTP responses by `route` and `status`.
    pub responses: IntCounterVec,
    /// Payout engine events by `event` (blocks_connected, blocks_disconnected,
    /// payouts_committed, withdrawals_committed, fee_bumps, sweeps, freezes, rejected, errors).
    pub engine_events: IntCounterVec,
    /// Times the outbox was (re)written with the open proposal.
    pub outbox_writes: IntCounter,
    /// Failed attempts to bring the outbox in line with the ledger (disk full, permissions).
    pub outbox_errors: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        // Registration only fails on duplicate or malformed names, which are constants here.
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
            r.register(Box::new(m.clone()))
                .expect("metric names are unique constants");
            m
        }
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let buckets = exponential_buckets(0.001, 2.0, 16).expect("valid buckets");
        Metrics {
            hot_balance: gauge_vec(
                "hotnode_hot_balance_watanabe",
                "Hot wallet balance in watanabe",
                &["kind"],
            ),
            cold_balance: reg(
                &registry,
                IntGauge::new(
                    "hotnode_cold_balance_watanabe",
                    "Cold wallet confirmed balance in watanabe",
                )
                .expect("valid metric"),
            ),
            owed: gauge_vec(
                "hotnode_owed_watanabe",
                "Withdrawals owed in watanabe",
                &["kind"],
            ),
            payouts: gauge_vec(
                "hotnode_payouts",
                "Payout transactions by state",
                &["state"],
            ),
            node_calls: counter_vec(
                "hotnode_node_calls_total",
                "Node RPC calls by method and outcome",
                &["method", "outcome"],
            ),
            node_latency: reg(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new("hotnode_node_call_seconds", "Node RPC call latency")
                        .buckets(buckets),
                    &["method"],
                )
                .expect("valid metric"),
            ),
            rate_limited: counter_vec(
                "hotnode_rate_limited_total",
                "Requests refused by a rate limit",
                &["route"],
            ),
            overloaded: reg(
                &registry,
                IntCounter::new(
                    "hotnode_overloaded_total",
                    "Requests refused with 503 because the API was full",
                )
                .expect("valid metric"),
            ),
            frozen: reg(
                &registry,
                IntGauge::new("hotnode_frozen", "1 while payouts are frozen")
                    .expect("valid metric"),
            ),
            intake: counter_vec(
                "hotnode_intake_total",
                "Intake results by kind and outcome",
                &["kind", "outcome"],
            ),
            responses: counter_vec(
                "hotnode_http_responses_total",
                "HTTP responses by route and status",
                &["route", "status"],
            ),
            engine_events: counter_vec(
                "hotnode_engine_events_total",
                "Payout engine events by kind",
                &["event"],
            ),
            outbox_writes: reg(
                &registry,
                IntCounter::new(
                    "hotnode_outbox_writes_total",
                    "Times the open proposal was written to the outbox",
                )
                .expect("valid metric"),
            ),
            outbox_errors: reg(
                &registry,
                IntCounter::new(
                    "hotnode_outbox_errors_total",
                    "Failed attempts to write the outbox",
                )
                .expect("valid metric"),
            ),
            registry,
        }
    }

    /// Records one node RPC call (`outcome` from a fixed set: ok, transient, rejected,
    /// configuration; `error` for the engine's calls, which it counts without a class).
    pub fn observe_node_call(
        &self,
        method: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        self.node_calls.with_label_values(&[method, outcome]).inc();
        self.node_latency
            .with_label_values(&[method])
            .observe(elapsed.as_secs_f64());
    }

    /// Refreshes the ledger-derived gauges (blocking: call from `spawn_blocking`).
    pub fn refresh_from_ledger(&self, ledger: &dyn Ledger) -> Result<(), mona_ledger::StoreError> {
        let b = ledger.balances()?;
        let set = |v: &IntGaugeVec, k: &str, wat: u64| {
            v.with_label_values(&[k])
                .set(i64::try_from(wat).unwrap_or(i64::MAX))
        };
        set(&self.hot_balance, "confirmed", b.hot_confirmed_wat);
        set(&self.hot_balance, "unconfirmed", b.hot_unconfirmed_wat);
        set(&self.hot_balance, "reserved", b.hot_reserved_wat);
        set(&self.hot_balance, "dust", b.hot_dust_wat);
        self.cold_balance
            .set(i64::try_from(b.cold_confirmed_wat).unwrap_or(i64::MAX));
        set(&self.owed, "queued", b.queued_wat);
        set(&self.owed, "in_flight", b.in_flight_wat);
        for s in EXPORTED_PAYOUT_STATES {
            let n = ledger.payouts_in_states(&[s])?.len();
            self.payouts
                .with_label_values(&[s.as_str()])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.frozen.set(i64::from(ledger.freeze_state()?.frozen));
        Ok(())
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
