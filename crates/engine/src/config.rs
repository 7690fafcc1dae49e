//! The engine's settings: batching, fees, float policy, sync and gap limits.
//!
//! Module invariant: [`EngineConfig::validate`] is run by [`crate::Engine::start`] before
//! anything else; an invalid configuration never starts an engine (nothing is changed).

use std::path::PathBuf;
use std::time::Duration;

use mona::{FeeRate, Network};

/// The float policy (ARCHITECTURE "Float management"), amounts in watanabe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloatPolicy {
    /// Absolute cap of the hot balance.
    pub hot_cap_wat: u64,
    /// Cap as a fraction of hot + cold, in parts per million.
    pub hot_cap_fraction_ppm: u32,
    /// What a sweep leaves hot.
    pub hot_target_wat: u64,
    /// Below this a top-up is proposed.
    pub hot_low_wat: u64,
    /// Largest withdrawal paid hot; larger ones wait for a cold-signed PSBT.
    pub max_payout_wat: u64,
    /// Most paid hot in any rolling 24 hours.
    pub max_daily_wat: u64,
}

impl Default for FloatPolicy {
    fn default() -> Self {
        const MONA: u64 = 100_000_000;
        FloatPolicy {
            hot_cap_wat: 1_000 * MONA,
            hot_cap_fraction_ppm: 100_000,
            hot_target_wat: 500 * MONA,
            hot_low_wat: 100 * MONA,
            max_payout_wat: 100 * MONA,
            max_daily_wat: 10_000 * MONA,
        }
    }
}

impl FloatPolicy {
    /// `min(hot_cap, hot_cap_fraction x (hot + cold))`.
    pub fn effective_cap_wat(&self, hot_wat: u64, cold_wat: u64) -> u64 {
        let total = u128::from(hot_wat) + u128::from(cold_wat);
        let frac = total * u128::from(self.hot_cap_fraction_ppm) / 1_000_000;
        let frac = u64::try_from(frac).unwrap_or(u64::MAX);
        self.hot_cap_wat.min(frac)
    }

    /// How much a sweep moves to cold (`None` when hot is at or below the effective cap).
    pub fn sweep_amount_wat(&self, hot_wat: u64, cold_wat: u64) -> Option<u64> {
        let cap = self.effective_cap_wat(hot_wat, cold_wat);
        (hot_wat > cap).then(|| hot_wat.saturating_sub(self.hot_target_wat.min(cap)))
    }

    /// How much a top-up brings (`None` when hot is at or above `hot_low`).
    pub fn topup_amount_wat(&self, hot_wat: u64) -> Option<u64> {
        (hot_wat < self.hot_low_wat).then(|| self.hot_target_wat.saturating_sub(hot_wat))
    }
}

/// Everything the engine needs besides its collaborators.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The chain (checked against the node's genesis at start).
    pub network: Network,
    /// Where the engine keeps its small state file (`engine-state.json`: issued address
    /// indices). `None` keeps it in memory (tests only: restarts then reuse indices).
    pub datadir: Option<PathBuf>,
    /// Unused receive addresses watched past the last used/issued one (default 20).
    pub gap_limit: u32,
    /// Change addresses watched past the last used one (default 100).
    pub change_lookahead: u32,
    /// Time between payout batches (woken early by [`crate::EngineHandle::wake`]).
    pub batch_interval: Duration,
    /// Most withdrawals per transaction.
    pub batch_size: usize,
    /// Most inputs per transaction.
    pub max_inputs: usize,
    /// Fee rate floor (at least 100 wat/vB).
    pub fee_floor: FeeRate,
    /// Fee rate ceiling (also the `maxfeerate` of every broadcast).
    pub fee_ceiling: FeeRate,
    /// Rate used when `estimatesmartfee` has no answer.
    pub fee_fallback: FeeRate,
    /// No transaction pays a larger fee, in watanabe.
    pub max_fee_wat: u64,
    /// `estimatesmartfee` confirmation target.
    pub fee_conf_target: u16,
    /// Coins below this value are dust (recorded, never selected); `None`: twice their spend
    /// cost at the floor.
    pub dust_threshold_wat: Option<u64>,
    /// Confirmations at which a payout is final.
    pub finality_depth: u32,
    /// A payout unconfirmed after this many blocks is fee-bumped (0 = never).
    pub bump_after_blocks: u32,
    /// The float policy.
    pub float: FloatPolicy,
    /// Sweep automatically above the cap.
    pub auto_sweep: bool,
    /// Propose a top-up automatically below `hot_low`.
    pub auto_topup: bool,
    /// Propose a cold-signed PSBT automatically for the oldest withdrawal above `max_payout`
    /// (when no proposal is open).
    pub auto_cold_withdrawal: bool,
    /// How often the node's tip is polled.
    pub poll_interval: Duration,
    /// How often our broadcast payouts are looked for in the mempool.
    pub mempool_interval: Duration,
    /// Block fetches in flight while catching up.
    pub fetch_concurrency: usize,
    /// First height to scan when the ledger has no tip (the wallet's birthday).
    pub start_height: u32,
    /// Hot coins checked with `gettxout` at start (largest first).
    pub start_reconcile_coins: usize,
    /// Unit of the re-send backoff: attempt n waits `ledger::backoff_ms(n)` x this / 1 s
    /// (1 s in production: 1 s, 2 s, 4 s ... 5 min; tests shrink it).
    pub retry_base: Duration,
}

impl EngineConfig {
    /// Defaults for `network`.
    pub fn new(network: Network) -> EngineConfig {
        EngineConfig {
            network,
            datadir: None,
            gap_limit: 20,
            change_lookahead: 100,
            batch_interval: Duration::from_secs(10),
            batch_size: 100,
            max_inputs: 100,
            fee_floor: FeeRate::WALLET_FLOOR,
            fee_ceiling: FeeRate::WALLET_FALLBACK,
            fee_fallback: FeeRate::from_wat_per_vb(200),
            max_fee_wat: 50_000_000,
            fee_conf_target: 6,
            dust_threshold_wat: None,
            finality_depth: 6,
            bump_after_blocks: 6,
            float: FloatPolicy::default(),
            auto_sweep: true,
            auto_topup: true,
            auto_cold_withdrawal: true,
            poll_interval: Duration::from_secs(2),
            mempool_interval: Duration::from_secs(30),
            fetch_concurrency: 16,
            start_height: 0,
            start_reconcile_coins: 1000,
            retry_base: Duration::from_secs(1),
        }
    }

    /// Checks the settings; says which one is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, detail: String| Err(ConfigError { field, detail });
        if self.fee_floor < FeeRate::WALLET_FLOOR {
            return bad("fee_floor", "must be at least 100 watanabe/vB".into());
        }
        if self.fee_ceiling < self.fee_floor {
            return bad("fee_ceiling", "must be at least the floor".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if self.max_inputs == 0 {
            return bad("max_inputs", "must be at least 1".into());
        }
        if self.finality_depth == 0 {
            return bad("finality_depth", "must be at least 1".into());
        }
        if self.gap_limit == 0 || self.change_lookahead == 0 {
            return bad(
                "gap_limit",
                "gap limit and change lookahead must be at least 1".into(),
            );
        }
        if self.fetch_concurrency == 0 {
            return bad("fetch_concurrency", "must be at least 1".into());
        }
        if self.float.hot_cap_fraction_ppm > 1_000_000 {
            return bad("hot_cap_fraction", "must be at most 1".into());
        }
        if self.float.hot_target_wat > self.float.hot_cap_wat {
            return bad("hot_target", "must not exceed hot_cap".into());
        }
        if self.float.hot_low_wat > self.float.hot_target_wat {
            return bad("hot_low", "must not exceed hot_target".into());
        }
        Ok(())
    }
}

/// An invalid setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid engine setting {field}: {detail}")]
pub struct ConfigError {
    /// The setting.
    pub field: &'static str,
    /// What is wrong.
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 100_000_000;

    #[test]
    fn float_math_table() {
        let p = FloatPolicy {
            hot_cap_wat: 1000 * M,
            hot_cap_fraction_ppm: 100_000,
            hot_target_wat: 500 * M,
            hot_low_wat: 100 * M,
            max_payout_wat: 100 * M,
            max_daily_wat: 1000 * M,
        };
        // (name, hot, cold, cap, sweep, topup)
        type Case = (&'static str, u64, u64, u64, Option<u64>, Option<u64>);
        let cases: &[Case] = &[
            (
                "absolute cap binds",
                1200 * M,
                100_000 * M,
                1000 * M,
                Some(700 * M),
                None,
            ),
            (
                "fraction binds",
                300 * M,
                1000 * M,
                130 * M,
                Some(170 * M),
                None,
            ),
            ("under cap", 900 * M, 100_000 * M, 1000 * M, None, None),
            ("low", 50 * M, 100_000 * M, 1000 * M, None, Some(450 * M)),
            ("empty", 0, 0, 0, None, Some(500 * M)),
        ];
        for (name, hot, cold, cap, sweep, topup) in cases {
            assert_eq!(p.effective_cap_wat(*hot, *cold), *cap, "{name} cap");
            assert_eq!(p.sweep_amount_wat(*hot, *cold), *sweep, "{name} sweep");
            assert_eq!(p.topup_amount_wat(*hot), *topup, "{name} topup");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = EngineConfig::new(Network::Regtest);
        assert!(c.validate().is_ok());
        c.fee_floor = FeeRate::from_wat_per_vb(10);
        assert_eq!(c.validate().unwrap_err().field, "fee_floor");
        let mut c = EngineConfig::new(Network::Regtest);
        c.float.hot_low_wat = c.float.hot_target_wat + 1;
        assert_eq!(c.validate().unwrap_err().field, "hot_low");
    }
}
