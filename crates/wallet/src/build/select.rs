//! Coin selection: which of the wallet's coins fund a payment.
//!
//! Invariants: a selection never contains an excluded, under-confirmed, dust or uneconomic coin,
//! never more than `max_inputs` inputs (pre-selected ones included), never the same outpoint
//! twice, and its effective value (value minus the input's own fee) covers the payments plus a
//! fee that is an upper bound of what the signed transaction needs at `fee_rate`. The result
//! depends only on the set of eligible coins (ties are broken by outpoint), never on their order
//! or on chance.
//!
//! Algorithm: branch-and-bound (as Bitcoin Core, 100,000 tries, bounded by the input cap) for a
//! changeless match within the cost of a change output; else the smallest single coin that pays
//! with change; else largest-first accumulation.

use std::cmp::Reverse;
use std::collections::HashSet;

use bitcoin::OutPoint;
use mona::{Amount, FeeRate, ScriptType};

use super::coin::Coin;
use super::vsize;

/// How many branch-and-bound steps are tried before falling back (Core's `TOTAL_TRIES`).
pub const BNB_TOTAL_TRIES: usize = 100_000;

/// Which coins count as dust: recorded by the ledger, never selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DustPolicy {
    /// A coin worth less than twice its own spend cost at this (floor) fee rate is dust. This is
    /// the ARCHITECTURE.md default with the wallet floor: 13,600 watanabe for P2WPKH.
    TwiceSpendCost(FeeRate),
    /// A coin below this amount is dust (the policy file's `dust_threshold`).
    Threshold(Amount),
}

impl Default for DustPolicy {
    fn default() -> Self {
        DustPolicy::TwiceSpendCost(FeeRate::WALLET_FLOOR)
    }
}

impl DustPolicy {
    /// The smallest value of a coin of `script_type` that may be selected.
    pub fn coin_threshold(self, script_type: ScriptType) -> Amount {
        match self {
            DustPolicy::TwiceSpendCost(rate) => {
                let spend = rate.fee_for_vsize(vsize::input_vsize(script_type));
                spend.checked_mul(2).unwrap_or(Amount::MAX_MONEY)
            }
            DustPolicy::Threshold(a) => a,
        }
    }
}

/// The smallest change output worth creating to a script of `change_type`: the larger of the
/// relay dust threshold and this policy's coin threshold (change we could never select is waste).
pub fn min_change(change_type: ScriptType, dust: DustPolicy) -> Amount {
    let relay = mona::dust_threshold(&change_script_template(change_type));
    relay.max(dust.coin_threshold(change_type))
}

/// A placeholder script of the right length for size and dust computations.
pub(crate) fn change_script_template(t: ScriptType) -> bitcoin::ScriptBuf {
    use bitcoin::hashes::Hash;
    match t {
        ScriptType::Wpkh => {
            bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([0; 20]))
        }
        ScriptType::ShWpkh => {
            bitcoin::ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array([0; 20]))
        }
        ScriptType::Pkh => {
            bitcoin::ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array([0; 20]))
        }
    }
}

/// Script length of an output of `t`.
pub(crate) fn script_len(t: ScriptType) -> usize {
    match t {
        ScriptType::Wpkh => 22,
        ScriptType::ShWpkh => 23,
        ScriptType::Pkh => 25,
    }
}

/// Which coins may be selected, and at what cost.
#[derive(Clone, Copy)]
pub struct SelectionParams<'a> {
    /// The fee rate the transaction pays.
    pub fee_rate: FeeRate,
    /// Which coins are too small to spend.
    pub dust: DustPolicy,
    /// The most inputs one transaction may have (pre-selected inputs included).
    pub max_inputs: usize,
    /// Coins with fewer confirmations at `tip_height` are not selected (0 allows unconfirmed).
    pub min_confirmations: u32,
    /// The current chain tip height.
    pub tip_height: u32,
    /// Coins for which this returns true are never selected (reserved by another payout,
    /// unconfirmed coins from others, frozen coins...).
    pub exclude: &'a dyn Fn(&Coin) -> bool,
}

impl std::fmt::Debug for SelectionParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectionParams")
            .field("fee_rate", &self.fee_rate)
            .field("dust", &self.dust)
            .field("max_inputs", &self.max_inputs)
            .field("min_confirmations", &self.min_confirmations)
            .field("tip_height", &self.tip_height)
            .finish_non_exhaustive()
    }
}

/// What the selected coins must pay for.
#[derive(Debug, Clone, Copy)]
pub struct SelectionTarget<'a> {
    /// Sum of the payment outputs.
    pub payment_total: Amount,
    /// `script_pubkey` lengths of the payment outputs (for their size).
    pub payment_script_lens: &'a [usize],
    /// Script type of a change output, if one is made.
    pub change_type: ScriptType,
    /// The smallest change output worth making (see [`min_change`]).
    pub min_change: Amount,
    /// Inputs that are spent whatever is selected (a fee bump keeps the original's inputs).
    pub preselected: &'a [Coin],
    /// A fee to pay on top of `fee_rate` times the size (used by fee bumps).
    pub extra_fee: Amount,
}

/// The algorithm that produced a selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectionAlgorithm {
    /// The pre-selected inputs were enough.
    Preselected,
    /// Branch and bound: a changeless match.
    BranchAndBound,
    /// The smallest single coin that pays with change.
    SingleCoin,
    /// Largest coins first until paid.
    LargestFirst,
}

/// The coins chosen (in addition to the pre-selected ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Indices into the candidate slice, largest effective value first.
    pub selected: Vec<usize>,
    /// Sum of the selected coins' values (pre-selected excluded).
    pub selected_value: Amount,
    /// How the coins were found.
    pub algorithm: SelectionAlgorithm,
}

/// Why no selection was possible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionError {
    /// The eligible coins do not cover payments and fee.
    #[error("insufficient funds: need {needed} MONA for payments and fee, {available} MONA spendable after input fees")]
    InsufficientFunds {
        /// Payments plus the fee of everything but the inputs still to select.
        needed: Amount,
        /// Pre-selected value plus the effective value of every eligible coin.
        available: Amount,
    },
    /// Enough funds exist, but not within the input cap.
    #[error("payment needs more than {max_inputs} inputs: the {max_inputs} largest eligible coins are worth {reachable} MONA after input fees, {needed} MONA needed")]
    TooManyInputs {
        /// The cap.
        max_inputs: usize,
        /// Pre-selected value plus the effective value of the largest coins within the cap.
        reachable: Amount,
        /// Payments plus the fee of everything but the inputs still to select.
        needed: Amount,
    },
    /// The pre-selected inputs alone exceed the input cap.
    #[error("{count} pre-selected inputs exceed the cap of {max_inputs}")]
    PreselectedOverCap {
        /// Pre-selected inputs.
        count: usize,
        /// The cap.
        max_inputs: usize,
    },
    /// An outpoint appears twice among the coins.
    #[error("coin {0} is listed twice")]
    DuplicateCoin(OutPoint),
    /// A sum went above the supply cap.
    #[error("amounts add up beyond the 105120000 MONA supply cap")]
    AmountOverflow,
}

/// `rate` times `weight` weight units, rounded up, in watanabe.
pub(crate) fn fee_for_weight(rate: FeeRate, weight: u64) -> u64 {
    let f = (u128::from(rate.wat_per_kvb()) * u128::from(weight)).div_ceil(4000);
    u64::try_from(f).unwrap_or(u64::MAX)
}

fn amount(wat: u64) -> Amount {
    Amount::from_wat(wat).unwrap_or(Amount::MAX_MONEY)
}

#[derive(Clone, Copy)]
struct Candidate {
    effective: u64,
    index: u32,
}

/// Chooses coins among `candidates` to pay `target` under `params`.
///
/// The caller turns the selection into a transaction and computes the exact fee from the final
/// shape; the budget used here is never below it, so the payment is always funded.
pub fn select_coins(
    candidates: &[Coin],
    params: &SelectionParams<'_>,
    target: &SelectionTarget<'_>,
) -> Result<Selection, SelectionError> {
    let rate = params.fee_rate;
    let presel = target.preselected;
    if presel.len() > params.max_inputs {
        return Err(SelectionError::PreselectedOverCap {
            count: presel.len(),
            max_inputs: params.max_inputs,
        });
    }
    let presel_set: HashSet<OutPoint> = presel.iter().map(|c| c.outpoint).collect();
    if presel_set.len() != presel.len() {
        let mut seen = HashSet::new();
        let dup = presel.iter().find(|c| !seen.insert(c.outpoint));
        // A duplicate exists because the set is smaller than the list.
        return Err(SelectionError::DuplicateCoin(
            dup.map(|c| c.outpoint).unwrap_or_default(),
        ));
    }

    // Everything except the selected inputs, conservatively: marker and flag always, counts at
    // the cap's varint size, one change output's count, and 4 weight units so that rounding the
    // total up to whole vbytes is covered by the per-part roundings.
    let n_outputs = target.payment_script_lens.len() + 1;
    let payments_weight: u64 = target
        .payment_script_lens
        .iter()
        .map(|l| vsize::output_weight(*l))
        .sum();
    let presel_weight: u64 = presel
        .iter()
        .map(|c| vsize::input_weight(c.script_type))
        .sum();
    let fixed_weight = vsize::overhead_weight(params.max_inputs, n_outputs)
        + vsize::SEGWIT_MARKER_WEIGHT
        + payments_weight
        + presel_weight
        + 4;
    let change_out_fee = fee_for_weight(rate, vsize::output_weight(script_len(target.change_type)));
    let change_spend_fee = fee_for_weight(rate, vsize::input_weight(target.change_type));

    let presel_value = Amount::checked_sum(presel.iter().map(|c| c.value))
        .ok_or(SelectionError::AmountOverflow)?
        .to_wat();
    let needed_total = target
        .payment_total
        .to_wat()
        .checked_add(fee_for_weight(rate, fixed_weight))
        .and_then(|v| v.checked_add(target.extra_fee.to_wat()))
        .ok_or(SelectionError::AmountOverflow)?;

    if presel_value >= needed_total {
        return Ok(Selection {
            selected: Vec::new(),
            selected_value: Amount::ZERO,
            algorithm: SelectionAlgorithm::Preselected,
        });
    }
    // What the selected coins' effective values must reach, without and with change.
    let need = needed_total - presel_value;
    let need_change = need
        .checked_add(change_out_fee)
        .and_then(|v| v.checked_add(target.min_change.to_wat()))
        .ok_or(SelectionError::AmountOverflow)?;
    let slots = params.max_inputs - presel.len();

    // Per-type constants, hoisted out of the 100,000-coin loop.
    let type_slot = |t: ScriptType| match t {
        ScriptType::Wpkh => 0,
        ScriptType::ShWpkh => 1,
        ScriptType::Pkh => 2,
    };
    let all_types = [ScriptType::Wpkh, ScriptType::ShWpkh, ScriptType::Pkh];
    let dust_of = all_types.map(|t| params.dust.coin_threshold(t).to_wat());
    let spend_of = all_types.map(|t| fee_for_weight(rate, vsize::input_weight(t)));
    let mut pool: Vec<Candidate> = Vec::with_capacity(candidates.len());
    for (i, c) in candidates.iter().enumerate() {
        let slot = type_slot(c.script_type);
        let value = c.value.to_wat();
        if value < dust_of[slot]
            || value <= spend_of[slot]
            || c.confirmations(params.tip_height) < params.min_confirmations
            || (params.exclude)(c)
            || (!presel_set.is_empty() && presel_set.contains(&c.outpoint))
        {
            continue;
        }
        let Ok(index) = u32::try_from(i) else { break };
        pool.push(Candidate {
            effective: value - spend_of[slot],
            index,
        });
    }
    // Outpoints are only looked at to break ties, so the sort stays on the small candidates.
    pool.sort_unstable_by(|a, b| {
        Reverse(a.effective)
            .cmp(&Reverse(b.effective))
            .then_with(|| {
                let (oa, ob) = (
                    &candidates[a.index as usize].outpoint,
                    &candidates[b.index as usize].outpoint,
                );
                oa.cmp(ob)
            })
            .then_with(|| a.index.cmp(&b.index))
    });
    // A duplicate outpoint with the same value sorts next to its twin (a twin with another value
    // is caught in the selection itself).
    for w in pool.windows(2) {
        if w[0].effective != w[1].effective {
            continue;
        }
        let (a, b) = (
            &candidates[w[0].index as usize],
            &candidates[w[1].index as usize],
        );
        if a.outpoint == b.outpoint {
            return Err(SelectionError::DuplicateCoin(a.outpoint));
        }
    }

    let mut prefix: Vec<u64> = Vec::with_capacity(pool.len() + 1);
    prefix.push(0);
    let mut acc: u64 = 0;
    for c in &pool {
        acc = acc.saturating_add(c.effective);
        prefix.push(acc);
    }
    let reachable = prefix[slots.min(pool.len())];

    let finish = |picked: Vec<usize>, algorithm| -> Result<Selection, SelectionError> {
        let selected: Vec<usize> = picked.iter().map(|p| pool[*p].index as usize).collect();
        let mut seen = HashSet::with_capacity(selected.len());
        for i in &selected {
            if !seen.insert(candidates[*i].outpoint) {
                return Err(SelectionError::DuplicateCoin(candidates[*i].outpoint));
            }
        }
        let selected_value = Amount::checked_sum(selected.iter().map(|i| candidates[*i].value))
            .ok_or(SelectionError::AmountOverflow)?;
        Ok(Selection {
            selected,
            selected_value,
            algorithm,
        })
    };

    if reachable < need {
        if acc >= need {
            return Err(SelectionError::TooManyInputs {
                max_inputs: params.max_inputs,
                reachable: amount(presel_value.saturating_add(reachable)),
                needed: amount(needed_total),
            });
        }
        return Err(SelectionError::InsufficientFunds {
            needed: amount(needed_total),
            available: amount(presel_value.saturating_add(acc)),
        });
    }

    let effective: Vec<u64> = pool.iter().map(|c| c.effective).collect();
    if let Some(picked) = branch_and_bound(
        &effective,
        &prefix,
        need,
        need.saturating_add(change_out_fee + change_spend_fee),
        slots,
    ) {
        return finish(picked, SelectionAlgorithm::BranchAndBound);
    }
    // The smallest single coin that pays with change (pool is sorted largest first).
    let covering = effective.partition_point(|e| *e >= need_change);
    if covering > 0 && slots >= 1 {
        return finish(vec![covering - 1], SelectionAlgorithm::SingleCoin);
    }
    let mut sum: u64 = 0;
    let mut picked = Vec::new();
    for (p, e) in effective.iter().enumerate().take(slots) {
        picked.push(p);
        sum = sum.saturating_add(*e);
        if sum >= need_change {
            break;
        }
    }
    // `reachable >= need` guarantees the largest `slots` coins reach `need`.
    finish(picked, SelectionAlgorithm::LargestFirst)
}

/// Depth-first search over `effective` (sorted descending, all positive) for a subset of at most
/// `max_count` coins whose sum lies in `[low, high]`, preferring the smallest excess, then the
/// fewest coins. Returns positions in `effective`.
fn branch_and_bound(
    effective: &[u64],
    prefix: &[u64],
    low: u64,
    high: u64,
    max_count: usize,
) -> Option<Vec<usize>> {
    let n = effective.len();
    // decisions[d]: whether coin d is included on the current path.
    let mut decisions: Vec<bool> = Vec::with_capacity(max_count.min(n) * 2);
    let mut included = 0usize;
    let mut current: u64 = 0;
    let mut best: Option<(u64, usize, Vec<usize>)> = None;
    for _ in 0..BNB_TOTAL_TRIES {
        let idx = decisions.len();
        let slots_left = max_count - included;
        let reach = current.saturating_add(prefix[(idx + slots_left).min(n)] - prefix[idx]);
        let mut backtrack = false;
        if reach < low || current > high {
            backtrack = true;
        } else if current >= low {
            let excess = current - low;
            let better = match &best {
                None => true,
                Some((e, c, _)) => (excess, included) < (*e, *c),
            };
            if better {
                let picked = decisions
                    .iter()
                    .enumerate()
                    .filter_map(|(i, d)| d.then_some(i))
                    .collect();
                best = Some((excess, included, picked));
                if excess == 0 {
                    break;
                }
            }
            backtrack = true;
        }
        if backtrack {
            while decisions.last() == Some(&false) {
                decisions.pop();
            }
            let Some(last) = decisions.last_mut() else {
                break;
            };
            // The last included coin: now try the branch without it.
            *last = false;
            current -= effective[decisions.len() - 1];
            included -= 1;
        } else {
            // Here current < low <= reach, so idx < n and a slot is left.
            let e = effective[idx];
            let same_as_skipped =
                idx > 0 && decisions.last() == Some(&false) && effective[idx - 1] == e;
            if same_as_skipped {
                // Including it would repeat the branch that included its equal twin.
                decisions.push(false);
            } else {
                decisions.push(true);
                current += e;
                included += 1;
            }
        }
    }
    best.map(|(_, _, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bnb_finds_exact_subset() {
        let eff = [50, 40, 30, 20, 10];
        let mut prefix = vec![0];
        for e in eff {
            prefix.push(prefix.last().unwrap() + e);
        }
        let p = branch_and_bound(&eff, &prefix, 60, 60, 5).unwrap();
        let s: u64 = p.iter().map(|i| eff[*i]).sum();
        assert_eq!(s, 60);
        // Two coins suffice (50 + 10 or 40 + 20): the fewest-coin exact match is kept.
        assert_eq!(p.len(), 2);
        assert!(branch_and_bound(&eff, &prefix, 151, 200, 5).is_none());
        assert!(
            branch_and_bound(&eff, &prefix, 150, 150, 4).is_none(),
            "cap respected"
        );
    }

    #[test]
    fn dust_policy_default_is_twice_spend_cost_at_floor() {
        let d = DustPolicy::default();
        assert_eq!(d.coin_threshold(ScriptType::Wpkh).to_wat(), 13_600);
        assert_eq!(d.coin_threshold(ScriptType::ShWpkh).to_wat(), 18_200);
        assert_eq!(d.coin_threshold(ScriptType::Pkh).to_wat(), 29_600);
        assert_eq!(min_change(ScriptType::Wpkh, d).to_wat(), 13_600);
        assert_eq!(
            min_change(ScriptType::Wpkh, DustPolicy::Threshold(Amount::ONE_WAT)).to_wat(),
            294
        );
    }
}
