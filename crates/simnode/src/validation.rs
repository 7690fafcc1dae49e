//! Mempool acceptance: Core 0.20's `AcceptToMemoryPool` checks, in Core's order.
//!
//! Invariant: `check` never mutates anything; a transaction it accepts is consistent with the
//! chain and the pool once its `conflicts` (and their descendants) are removed, and every input
//! script has passed Core's interpreter.

use std::collections::HashSet;

use bitcoin::{OutPoint, Transaction, TxOut, Txid};

use crate::chain::Chain;
use crate::json::format_money;
use crate::mempool::{Mempool, MempoolEntry};
use crate::params::{self, classify, ScriptKind};

/// Why a transaction was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RejectKind {
    /// An input does not exist or is spent (Core's TX_MISSING_INPUTS).
    MissingInputs,
    /// Any other policy or consensus failure.
    Invalid,
}

/// A refusal with Core's reason and debug text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// Category.
    pub kind: RejectKind,
    /// Short reason (`dust`, `min relay fee not met`, ...).
    pub reason: String,
    /// Detail appended after `, ` in sendrawtransaction's message.
    pub debug: Option<String>,
}

impl Reject {
    fn invalid(reason: &str) -> Reject {
        Reject {
            kind: RejectKind::Invalid,
            reason: reason.to_string(),
            debug: None,
        }
    }

    fn with(reason: &str, debug: String) -> Reject {
        Reject {
            kind: RejectKind::Invalid,
            reason: reason.to_string(),
            debug: Some(debug),
        }
    }

    /// Core's `ValidationState::ToString()`.
    pub fn message(&self) -> String {
        match &self.debug {
            Some(d) => format!("{}, {}", self.reason, d),
            None => self.reason.clone(),
        }
    }
}

/// A transaction that may enter the pool.
#[derive(Debug)]
pub struct Accepted {
    /// The entry to insert.
    pub entry: MempoolEntry,
    /// Directly conflicting pool transactions to evict (with their descendants).
    pub conflicts: Vec<Txid>,
}

/// Context of one acceptance check.
#[derive(Clone, Copy, Debug)]
pub struct CheckContext {
    /// Fee limit in watanabe computed from `maxfeerate` (None = no limit).
    pub max_fee: Option<u64>,
    /// Current time (entry time).
    pub now: u64,
    /// Skip the ancestor-limit and feerate checks (re-adding after a reorg, like Core).
    pub bypass_limits: bool,
}

/// Core's `CFeeRate(rate).GetFee(vsize)`.
pub fn fee_for(rate_per_kvb: u64, vsize: u64) -> u64 {
    let fee = rate_per_kvb.saturating_mul(vsize) / 1000;
    if fee == 0 && vsize != 0 && rate_per_kvb > 0 {
        1
    } else {
        fee
    }
}

/// Dust threshold of an output (Core 0.20 `GetDustThreshold` at 3000 wat/kvB).
pub fn dust_threshold(out: &TxOut) -> u64 {
    if out.script_pubkey.is_op_return() || out.script_pubkey.len() > 10_000 {
        return 0;
    }
    let mut size = bitcoin::consensus::serialize(out).len() as u64;
    if out.script_pubkey.is_witness_program() {
        size += 32 + 4 + 1 + (107 / 4) + 4;
    } else {
        size += 32 + 4 + 1 + 107 + 4;
    }
    fee_for(params::DUST_RELAY_FEE_PER_KVB, size)
}

/// Virtual size of a transaction.
pub fn vsize(tx: &Transaction) -> u64 {
    tx.weight().to_wu().div_ceil(4)
}

fn check_transaction(tx: &Transaction) -> Result<(), Reject> {
    if tx.input.is_empty() {
        return Err(Reject::invalid("bad-txns-vin-empty"));
    }
    if tx.output.is_empty() {
        return Err(Reject::invalid("bad-txns-vout-empty"));
    }
    if tx.base_size() * 4 > 4_000_000 {
        return Err(Reject::invalid("bad-txns-oversize"));
    }
    let mut total: u64 = 0;
    for o in &tx.output {
        let v = o.value.to_sat();
        if v > params::MAX_MONEY {
            return Err(Reject::invalid("bad-txns-vout-toolarge"));
        }
        total = total.saturating_add(v);
        if total > params::MAX_MONEY {
            return Err(Reject::invalid("bad-txns-txouttotal-toolarge"));
        }
    }
    let mut seen = HashSet::new();
    for i in &tx.input {
        if !seen.insert(i.previous_output) {
            return Err(Reject::invalid("bad-txns-inputs-duplicate"));
        }
    }
    if tx.is_coinbase() {
        let l = tx.input[0].script_sig.len();
        if !(2..=100).contains(&l) {
            return Err(Reject::invalid("bad-cb-length"));
        }
    } else if tx.input.iter().any(|i| i.previous_output.is_null()) {
        return Err(Reject::invalid("bad-txns-prevout-null"));
    }
    Ok(())
}

fn is_standard_tx(tx: &Transaction) -> Result<(), Reject> {
    let v = tx.version.0;
    if !(1..=2).contains(&v) {
        return Err(Reject::invalid("version"));
    }
    if tx.weight().to_wu() > params::MAX_STANDARD_TX_WEIGHT {
        return Err(Reject::invalid("tx-size"));
    }
    for i in &tx.input {
        if i.script_sig.len() > 1650 {
            return Err(Reject::invalid("scriptsig-size"));
        }
        if !i.script_sig.is_push_only() {
            return Err(Reject::invalid("scriptsig-not-pushonly"));
        }
    }
    let mut data_out = 0;
    for o in &tx.output {
        let kind = classify(&o.script_pubkey);
        let standard = match kind {
            ScriptKind::NonStandard => false,
            ScriptKind::NullData => o.script_pubkey.len() <= 83,
            ScriptKind::Multisig(m) => {
                let n = o.script_pubkey.as_bytes()[o.script_pubkey.len() - 2].wrapping_sub(0x50);
                (1..=3).contains(&n) && m >= 1 && m <= n
            }
            _ => true,
        };
        if !standard {
            return Err(Reject::invalid("scriptpubkey"));
        }
        if kind == ScriptKind::NullData {
            data_out += 1;
        } else if o.value.to_sat() < dust_threshold(o) {
            return Err(Reject::invalid("dust"));
        }
    }
    if data_out > 1 {
        return Err(Reject::invalid("multi-op-return"));
    }
    Ok(())
}

fn is_final(tx: &Transaction, height: u32, mtp: u32) -> bool {
    let lt = tx.lock_time.to_consensus_u32();
    if lt == 0 {
        return true;
    }
    let limit = if lt < 500_000_000 { height } else { mtp };
    if lt < limit {
        return true;
    }
    tx.input.iter().all(|i| i.sequence.0 == 0xffff_ffff)
}

/// Looks a coin up in the chain's UTXO set or among pool outputs (Core's CCoinsViewMemPool).
fn lookup(chain: &Chain, pool: &Mempool, op: &OutPoint) -> Option<(TxOut, Option<u32>, bool)> {
    if let Some(c) = chain.utxo.get(op) {
        return Some((c.txout.clone(), Some(c.height), c.is_coinbase));
    }
    let e = pool.get(&op.txid)?;
    let out = e.tx.output.get(op.vout as usize)?;
    Some((out.clone(), None, false))
}

/// Runs Core's mempool acceptance checks for `tx`.
pub fn check(
    chain: &Chain,
    pool: &Mempool,
    tx: &Transaction,
    ctx: CheckContext,
) -> Result<Accepted, Reject> {
    let txid = tx.compute_txid();
    check_transaction(tx)?;
    if tx.is_coinbase() {
        return Err(Reject::invalid("coinbase"));
    }
    is_standard_tx(tx)?;
    if tx.base_size() < params::MIN_STANDARD_TX_NONWITNESS_SIZE {
        return Err(Reject::invalid("tx-size-small"));
    }
    let tip = chain.tip();
    let spend_height = tip.height + 1;
    if !is_final(tx, spend_height, tip.median_time) {
        return Err(Reject::invalid("non-final"));
    }
    if pool.contains(&txid) {
        return Err(Reject::invalid("txn-already-in-mempool"));
    }
    // Direct conflicts with pool transactions; each must signal replaceability itself.
    let mut conflicts: Vec<Txid> = Vec::new();
    for i in &tx.input {
        if let Some(c) = pool.spender(&i.previous_output) {
            if conflicts.contains(&c) {
                continue;
            }
            let signals = pool.get(&c).is_some_and(MempoolEntry::signals_rbf);
            if !signals {
                return Err(Reject::invalid("txn-mempool-conflict"));
            }
            conflicts.push(c);
        }
    }
    // Inputs.
    let mut spent: Vec<TxOut> = Vec::with_capacity(tx.input.len());
    let mut value_in: u64 = 0;
    for i in &tx.input {
        match lookup(chain, pool, &i.previous_output) {
            Some((out, height, coinbase)) => {
                if coinbase {
                    let h = height.unwrap_or(spend_height);
                    if spend_height - h < params::COINBASE_MATURITY {
                        return Err(Reject::with(
                            "bad-txns-premature-spend-of-coinbase",
                            format!("tried to spend coinbase at depth {}", spend_height - h),
                        ));
                    }
                }
                value_in = value_in.saturating_add(out.value.to_sat());
                spent.push(out);
            }
            None => {
                let known = (0..tx.output.len() as u32)
                    .any(|n| lookup(chain, pool, &OutPoint::new(txid, n)).is_some());
                if known {
                    return Err(Reject::invalid("txn-already-known"));
                }
                return Err(Reject {
                    kind: RejectKind::MissingInputs,
                    reason: "bad-txns-inputs-missingorspent".to_string(),
                    debug: None,
                });
            }
        }
    }
    if value_in > params::MAX_MONEY {
        return Err(Reject::invalid("bad-txns-inputvalues-outofrange"));
    }
    let value_out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    if value_in < value_out {
        return Err(Reject::with(
            "bad-txns-in-belowout",
            format!(
                "value in ({}) < value out ({})",
                format_money(value_in as i64),
                format_money(value_out as i64)
            ),
        ));
    }
    let fee = value_in - value_out;
    let size = vsize(tx);
    if !ctx.bypass_limits {
        let min = fee_for(params::MIN_RELAY_FEE_PER_KVB, size);
        if fee < min {
            return Err(Reject::with(
                "min relay fee not met",
                format!("{fee} < {min}"),
            ));
        }
    }
    if let Some(max) = ctx.max_fee {
        if fee > max {
            return Err(Reject::with("absurdly-high-fee", format!("{fee} > {max}")));
        }
    }
    let ancestors = pool.ancestors_of_tx(tx);
    if !ctx.bypass_limits {
        if ancestors.len() + 1 > params::ANCESTOR_LIMIT {
            return Err(Reject::with(
                "too-long-mempool-chain",
                format!(
                    "too many unconfirmed ancestors [limit: {}]",
                    params::ANCESTOR_LIMIT
                ),
            ));
        }
        for a in &ancestors {
            if pool.descendants(a).len() + 1 + 1 > params::DESCENDANT_LIMIT {
                return Err(Reject::with(
                    "too-long-mempool-chain",
                    format!(
                        "too many descendants for tx {a} [limit: {}]",
                        params::DESCENDANT_LIMIT
                    ),
                ));
            }
        }
    }
    for c in &conflicts {
        if ancestors.contains(c) {
            return Err(Reject::with(
                "bad-txns-spends-conflicting-tx",
                format!("{txid} spends conflicting transaction {c}"),
            ));
        }
    }
    if !conflicts.is_empty() {
        check_replacement(pool, tx, txid, fee, size, &conflicts)?;
    }
    // Scripts last, as Core does (PolicyScriptChecks after PreChecks).
    let tx_bytes = bitcoin::consensus::serialize(tx);
    for (n, prev) in spent.iter().enumerate() {
        if let Err(reason) = crate::script::verify_input(tx, &tx_bytes, n, prev) {
            return Err(Reject::invalid(&reason));
        }
    }
    Ok(Accepted {
        entry: MempoolEntry {
            tx: tx.clone(),
            txid,
            wtxid: tx.compute_wtxid(),
            fee,
            vsize: size,
            weight: tx.weight().to_wu(),
            time: ctx.now,
            height: tip.height,
            sequence: 0,
        },
        conflicts,
    })
}

fn fee_rate_string(fee: u64, size: u64) -> String {
    let per_k = (fee * 1000).checked_div(size).unwrap_or(0);
    format!("{}.{:08} MONA/kB", per_k / 100_000_000, per_k % 100_000_000)
}

/// BIP125 rules as Core 0.20 applies them.
fn check_replacement(
    pool: &Mempool,
    tx: &Transaction,
    txid: Txid,
    fee: u64,
    size: u64,
    conflicts: &[Txid],
) -> Result<(), Reject> {
    let new_rate = fee * 1000 / size.max(1);
    let mut all_conflicting: HashSet<Txid> = HashSet::new();
    for c in conflicts {
        let e = pool.get(c).expect("conflicts were taken from the pool");
        let old_rate = e.fee * 1000 / e.vsize.max(1);
        if new_rate <= old_rate {
            return Err(Reject::with(
                "insufficient fee",
                format!(
                    "rejecting replacement {txid}; new feerate {} <= old feerate {}",
                    fee_rate_string(fee, size),
                    fee_rate_string(e.fee, e.vsize)
                ),
            ));
        }
        all_conflicting.insert(*c);
        all_conflicting.extend(pool.descendants(c));
    }
    if all_conflicting.len() > 100 {
        return Err(Reject::with(
            "too many potential replacements",
            format!(
                "rejecting replacement {txid}; too many potential replacements ({} > 100)",
                all_conflicting.len()
            ),
        ));
    }
    let conflict_inputs: HashSet<Txid> = conflicts
        .iter()
        .filter_map(|c| pool.get(c))
        .flat_map(|e| e.tx.input.iter().map(|i| i.previous_output.txid))
        .collect();
    for (j, i) in tx.input.iter().enumerate() {
        let parent = i.previous_output.txid;
        if !conflict_inputs.contains(&parent) && pool.contains(&parent) {
            return Err(Reject::with(
                "replacement-adds-unconfirmed",
                format!("replacement {txid} adds unconfirmed input, idx {j}"),
            ));
        }
    }
    let conflicting_fees: u64 = all_conflicting
        .iter()
        .filter_map(|t| pool.get(t))
        .map(|e| e.fee)
        .sum();
    if fee < conflicting_fees {
        return Err(Reject::with(
            "insufficient fee",
            format!(
                "rejecting replacement {txid}, less fees than conflicting txs; {} < {}",
                format_money(fee as i64),
                format_money(conflicting_fees as i64)
            ),
        ));
    }
    let delta = fee - conflicting_fees;
    let needed = fee_for(params::INCREMENTAL_RELAY_FEE_PER_KVB, size);
    if delta < needed {
        return Err(Reject::with(
            "insufficient fee",
            format!(
                "rejecting replacement {txid}, not enough additional fees to relay; {} < {}",
                format_money(delta as i64),
                format_money(needed as i64)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dust_thresholds_match_monacoin_md() {
        let cases = [
            (
                "p2pkh",
                "76a91416d79d8a045c9eef0a7ff1adb954716d05ada00488ac",
                546,
            ),
            (
                "p2sh",
                "a914702437708474f2e23a97bbca711e576f5ee33b1687",
                540,
            ),
            (
                "p2wpkh",
                "0014b723b237583f1fd67ce37c71f20b95a0509ef154",
                294,
            ),
            (
                "p2wsh",
                "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
                330,
            ),
        ];
        for (name, spk, want) in cases {
            let out = TxOut {
                value: bitcoin::Amount::ZERO,
                script_pubkey: bitcoin::ScriptBuf::from_bytes(hex::decode(spk).unwrap()),
            };
            assert_eq!(dust_threshold(&out), want, "{name}");
        }
    }

    #[test]
    fn fee_rate_string_truncates_like_cfeerate() {
        assert_eq!(fee_rate_string(50_000, 110), "0.00454545 MONA/kB");
        assert_eq!(fee_rate_string(100_000, 110), "0.00909090 MONA/kB");
    }

    #[test]
    fn fee_for_rounds_down_with_one_minimum() {
        assert_eq!(fee_for(1000, 110), 110);
        assert_eq!(fee_for(10_000_000, 110), 1_100_000);
        assert_eq!(fee_for(1, 10), 1);
        assert_eq!(fee_for(0, 10), 0);
    }
}
