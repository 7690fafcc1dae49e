//! The real payout engine (`mona-engine`) behind the API's [`Engine`] trait, its settings from
//! the data directory's configuration, and the bridge from its counters and freeze flag to the
//! Prometheus metrics.
//!
//! Invariant: this module only translates. Every money-moving decision is the engine's, every
//! record the ledger's; an engine error maps to the API error of the same meaning (refused
//! 422, conflict 409, frozen or busy 503, stopped 503), never to a success.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mona::{Amount, FeeRate};
use mona_engine::{EngineConfig, EngineHandle, FloatPolicy, MetricsSnapshot, BROADCAST_CLASSES};
use mona_ledger::{Intake, TopUpProposal};

use crate::config::Config;
use crate::engine::{BoxFuture, Engine, EngineError, EngineStatus};
use crate::metrics::Metrics;

/// The engine settings of a configuration (`[payouts]`, `[policy]`, `[engine]`,
/// `[wallet] gap_limit`); `datadir` keeps the engine's `engine-state.json`.
pub fn engine_config(config: &Config, datadir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(config.network);
    let p = &config.policy;
    let b = &config.payouts;
    let e = &config.engine;
    c.datadir = Some(datadir.to_path_buf());
    c.gap_limit = config.wallet.gap_limit;
    c.batch_interval = Duration::from_millis(b.batch_interval_ms);
    c.batch_size = b.batch_size as usize;
    c.max_inputs = b.max_inputs as usize;
    c.fee_floor = p.fee_floor();
    c.fee_ceiling = p.fee_ceiling();
    c.fee_fallback = FeeRate::from_wat_per_vb(b.fallback_fee_rate);
    c.dust_threshold_wat = Some(p.dust_threshold.to_wat());
    c.finality_depth = p.finality_depth;
    c.bump_after_blocks = e.bump_after_blocks;
    c.float = FloatPolicy {
        hot_cap_wat: p.hot_cap.to_wat(),
        hot_cap_fraction_ppm: p.hot_cap_fraction.ppm(),
        hot_target_wat: p.hot_target.to_wat(),
        hot_low_wat: p.hot_low.to_wat(),
        max_payout_wat: p.max_payout.to_wat(),
        max_daily_wat: p.max_daily.to_wat(),
    };
    c.auto_sweep = e.auto_sweep;
    c.auto_topup = e.auto_topup;
    c.poll_interval = Duration::from_millis(e.poll_interval_ms);
    c.mempool_interval = Duration::from_millis(e.mempool_interval_ms);
    c.retry_base = Duration::from_millis(e.retry_base_ms);
    c.start_height = e.start_height;
    c
}

fn api_error(e: mona_engine::EngineError) -> EngineError {
    use mona_engine::EngineError as E;
    match e {
        E::Refused(m) => EngineError::Refused(m),
        E::Conflict(m) => EngineError::Conflict(m),
        E::Frozen(m) => EngineError::Frozen(m),
        E::Busy(m) => EngineError::Busy(m),
        E::Stopped => EngineError::Busy("the payout engine is not running".into()),
        other => EngineError::Busy(other.to_string()),
    }
}

/// The running engine, as the API sees it.
pub struct LiveEngine {
    handle: Arc<EngineHandle>,
    bridge: Arc<Mutex<CounterBridge>>,
}

impl std::fmt::Debug for LiveEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveEngine").finish_non_exhaustive()
    }
}

impl LiveEngine {
    /// Wraps a started engine.
    pub fn new(handle: EngineHandle) -> LiveEngine {
        LiveEngine {
            handle: Arc::new(handle),
            bridge: Arc::default(),
        }
    }

    /// The engine handle.
    pub fn handle(&self) -> &Arc<EngineHandle> {
        &self.handle
    }

    /// Hands out deposit addresses until the engine's counter is at least `next` (the first
    /// index the API never issued), so addresses issued before the engine ran stay watched.
    pub fn catch_up_addresses(&self, next: u32) -> Result<(), EngineError> {
        loop {
            let a = self.handle.new_deposit_address().map_err(api_error)?;
            if a.index + 1 >= next {
                return Ok(());
            }
        }
    }

    /// Brings `metrics` up to date with the engine: the frozen flag and the engine's counters.
    pub fn push_metrics(&self, metrics: &Metrics) {
        push_metrics(&self.handle, &self.bridge, metrics);
    }

    /// Keeps `metrics` in step with the engine: the frozen flag on every change (logged at
    /// error level when raised), the counters every `every` (and at every scrape, through
    /// [`Engine::refresh_metrics`]). Stops with the engine.
    pub fn spawn_metrics_bridge(
        &self,
        metrics: Metrics,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let handle = Arc::clone(&self.handle);
        let bridge = Arc::clone(&self.bridge);
        let mut freeze = handle.freeze_events();
        tokio::spawn(async move {
            push_metrics(&handle, &bridge, &metrics);
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    changed = freeze.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let info = freeze.borrow_and_update().clone();
                        if info.frozen {
                            tracing::error!(reason = info.reason.as_deref().unwrap_or("-"), "payouts are FROZEN");
                        }
                        push_metrics(&handle, &bridge, &metrics);
                    }
                    _ = tick.tick() => push_metrics(&handle, &bridge, &metrics),
                }
            }
        })
    }
}

fn push_metrics(handle: &EngineHandle, bridge: &Mutex<CounterBridge>, metrics: &Metrics) {
    metrics.frozen.set(i64::from(handle.freeze_info().frozen));
    let snapshot = handle.metrics();
    if let Ok(mut b) = bridge.lock() {
        b.push(metrics, &snapshot);
    }
}

/// Turns the engine's monotonic counters into increments of the Prometheus counters.
#[derive(Default)]
struct CounterBridge {
    last: MetricsSnapshot,
}

impl CounterBridge {
    fn push(&mut self, m: &Metrics, now: &MetricsSnapshot) {
        let last = &self.last;
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let calls_ok = d(now.node_calls_ok, last.node_calls_ok);
        let calls_err = d(now.node_calls_err, last.node_calls_err);
        let calls = calls_ok + calls_err;
        let latency = d(now.node_latency_us_total, last.node_latency_us_total);
        if let Some(mean_us) = latency.checked_div(calls) {
            // The engine sums latencies; each call of this interval is observed at the mean.
            let mean = Duration::from_micros(mean_us);
            for _ in 0..calls_ok.min(10_000) {
                m.observe_node_call("engine", "ok", mean);
            }
            for _ in 0..calls_err.min(10_000) {
                m.observe_node_call("engine", "error", mean);
            }
        }
        for (i, class) in BROADCAST_CLASSES.iter().enumerate() {
            let n = d(now.broadcasts[i], last.broadcasts[i]);
            if n > 0 {
                m.node_calls
                    .with_label_values(&["sendrawtransaction", class])
                    .inc_by(n);
            }
        }
        let events = [
            (
                "blocks_connected",
                now.blocks_connected,
                last.blocks_connected,
            ),
            (
                "blocks_disconnected",
                now.blocks_disconnected,
                last.blocks_disconnected,
            ),
            (
                "payouts_committed",
                now.payouts_committed,
                last.payouts_committed,
            ),
            (
                "withdrawals_committed",
                now.withdrawals_committed,
                last.withdrawals_committed,
            ),
            ("fee_bumps", now.fee_bumps, last.fee_bumps),
            ("sweeps", now.sweeps, last.sweeps),
            ("freezes", now.freezes, last.freezes),
            ("rejected", now.rejected, last.rejected),
            ("errors", now.errors, last.errors),
        ];
        for (name, a, b) in events {
            let n = d(a, b);
            if n > 0 {
                m.engine_events.with_label_values(&[name]).inc_by(n);
            }
        }
        self.last = now.clone();
    }
}

impl Engine for LiveEngine {
    fn wake(&self) {
        self.handle.wake();
    }

    fn status(&self) -> EngineStatus {
        let s = self.handle.status();
        EngineStatus {
            running: true,
            node_height: s.node_height,
            synced_height: s.synced_tip.map(|t| t.height),
            synced_tip: s.synced_tip,
            last_error: s.last_error,
            last_alert: s.last_alert,
            awaiting_cold: s.awaiting_cold,
        }
    }

    fn propose_topup(
        &self,
        amount: Option<Amount>,
    ) -> BoxFuture<'_, Result<TopUpProposal, EngineError>> {
        Box::pin(async move { self.handle.propose_topup(amount).await.map_err(api_error) })
    }

    fn submit_topup(
        &self,
        id: String,
        psbt: Vec<u8>,
    ) -> BoxFuture<'_, Result<bitcoin::Txid, EngineError>> {
        Box::pin(async move {
            self.handle
                .submit_topup(&id, &psbt)
                .await
                .map_err(api_error)
        })
    }

    fn propose_cold_withdrawal(
        &self,
        id: String,
    ) -> BoxFuture<'_, Result<Intake<TopUpProposal>, EngineError>> {
        Box::pin(async move {
            self.handle
                .propose_cold_withdrawal(&id)
                .await
                .map_err(api_error)
        })
    }

    fn new_deposit_address(&self) -> Option<Result<(u32, mona::Address), EngineError>> {
        Some(
            self.handle
                .new_deposit_address()
                .map(|a| (a.index, a.address))
                .map_err(api_error),
        )
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.handle.shutdown().await })
    }

    fn refresh_metrics(&self, metrics: &Metrics) {
        self.push_metrics(metrics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeSection;
    use mona::Network;

    #[test]
    fn engine_config_copies_every_setting() {
        let mut cfg = Config::new_default(
            Network::Regtest,
            NodeSection {
                url: "http://127.0.0.1:1/".into(),
                cookie_file: Some("/x".into()),
                user: None,
                password_file: None,
                timeout_ms: 1000,
            },
        );
        cfg.payouts.batch_size = 7;
        cfg.engine.poll_interval_ms = 50;
        cfg.engine.auto_topup = false;
        let e = engine_config(&cfg, std::path::Path::new("/d"));
        assert!(e.validate().is_ok());
        assert_eq!(e.batch_size, 7);
        assert_eq!(e.poll_interval, Duration::from_millis(50));
        assert!(!e.auto_topup && e.auto_sweep);
        assert_eq!(e.float.hot_cap_wat, cfg.policy.hot_cap.to_wat());
        assert_eq!(e.float.hot_cap_fraction_ppm, 100_000);
        assert_eq!(
            e.dust_threshold_wat,
            Some(cfg.policy.dust_threshold.to_wat())
        );
        assert_eq!(e.fee_floor, FeeRate::from_wat_per_vb(100));
        assert_eq!(e.datadir.as_deref(), Some(std::path::Path::new("/d")));
    }

    #[test]
    fn engine_errors_keep_their_meaning() {
        use mona_engine::EngineError as E;
        let cases = [
            (E::Refused("r".into()), EngineError::Refused("r".into())),
            (E::Conflict("c".into()), EngineError::Conflict("c".into())),
            (E::Frozen("f".into()), EngineError::Frozen("f".into())),
            (E::Busy("b".into()), EngineError::Busy("b".into())),
        ];
        for (from, to) in cases {
            assert_eq!(api_error(from), to);
        }
        assert!(matches!(api_error(E::Stopped), EngineError::Busy(_)));
    }
}
