//! The float report of `GET /v1/float` and `hot-node status`: balances, the effective cap and
//! where the hot balance stands against each threshold.
//!
//! Invariant: pure arithmetic on watanabe (`mona::Amount`), no I/O; amounts leave as decimal
//! MONA strings.

use mona::Amount;
use mona_ledger::{Balances, FreezeState};
use serde::{Deserialize, Serialize};

use crate::config::PolicySection;

/// Where the hot balance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FloatPosition {
    /// Below `hot_low`: a top-up is due.
    BelowLow,
    /// Between `hot_low` and the effective cap.
    Normal,
    /// Above the effective cap: a sweep is due.
    AboveCap,
}

/// The float report (all amounts decimal MONA strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatReport {
    /// Confirmed hot balance (dust and reserved coins included).
    pub hot_confirmed: Amount,
    /// Unconfirmed hot balance (own change, deposits in flight).
    pub hot_unconfirmed: Amount,
    /// Hot coins reserved by payouts.
    pub hot_reserved: Amount,
    /// Confirmed hot dust (never spent).
    pub hot_dust: Amount,
    /// Confirmed cold balance (watch-only).
    pub cold_confirmed: Amount,
    /// Withdrawals queued, not yet in a transaction.
    pub pending_queued: Amount,
    /// Withdrawals in transactions not yet final.
    pub pending_in_flight: Amount,
    /// `min(hot_cap, hot_cap_fraction * (hot + cold))`.
    pub effective_cap: Amount,
    /// The policy's thresholds.
    pub hot_cap: Amount,
    /// Fraction of all custody funds allowed hot (decimal string).
    pub hot_cap_fraction: String,
    /// Sweep/top-up target.
    pub hot_target: Amount,
    /// Top-up threshold.
    pub hot_low: Amount,
    /// Where the confirmed hot balance stands.
    pub position: FloatPosition,
    /// Whether payouts are frozen.
    pub frozen: bool,
    /// The freeze reason (or the last unfreeze reason).
    pub freeze_reason: Option<String>,
}

fn amt(wat: u64) -> Amount {
    Amount::from_wat(wat).unwrap_or(Amount::MAX_MONEY)
}

/// Builds the report.
pub fn report(b: &Balances, policy: &PolicySection, freeze: &FreezeState) -> FloatReport {
    let hot = amt(b.hot_confirmed_wat);
    let cold = amt(b.cold_confirmed_wat);
    let cap = policy.effective_cap(hot, cold);
    let position = if hot < policy.hot_low {
        FloatPosition::BelowLow
    } else if hot > cap {
        FloatPosition::AboveCap
    } else {
        FloatPosition::Normal
    };
    FloatReport {
        hot_confirmed: hot,
        hot_unconfirmed: amt(b.hot_unconfirmed_wat),
        hot_reserved: amt(b.hot_reserved_wat),
        hot_dust: amt(b.hot_dust_wat),
        cold_confirmed: cold,
        pending_queued: amt(b.queued_wat),
        pending_in_flight: amt(b.in_flight_wat),
        effective_cap: cap,
        hot_cap: policy.hot_cap,
        hot_cap_fraction: policy.hot_cap_fraction.to_string(),
        hot_target: policy.hot_target,
        hot_low: policy.hot_low,
        position,
        frozen: freeze.frozen,
        freeze_reason: freeze.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let p = PolicySection::defaults();
        let mona = |n: u64| n * 100_000_000;
        let f = FreezeState {
            frozen: false,
            reason: None,
        };
        let cases = [
            ("empty", 0, 0, FloatPosition::BelowLow, "0"),
            (
                "normal, fraction caps",
                mona(200),
                mona(1_800),
                FloatPosition::Normal,
                "200",
            ),
            (
                "above fraction cap",
                mona(300),
                mona(1_700),
                FloatPosition::AboveCap,
                "200",
            ),
            (
                "absolute cap",
                mona(1_001),
                mona(100_000),
                FloatPosition::AboveCap,
                "1000",
            ),
        ];
        for (name, hot, cold, pos, cap) in cases {
            let b = Balances {
                hot_confirmed_wat: hot,
                cold_confirmed_wat: cold,
                ..Balances::default()
            };
            let r = report(&b, &p, &f);
            assert_eq!(r.position, pos, "{name}");
            assert_eq!(r.effective_cap.to_mona_string(), cap, "{name}");
        }
    }
}
