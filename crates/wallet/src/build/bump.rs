//! RBF fee bumps: a replacement for a stuck payout that spends all of its inputs.
//!
//! Invariants: the replacement spends every input of the original (so at most one of them can
//! confirm, ARCHITECTURE invariant 2), keeps every payment output byte for byte, changes only the
//! change output (and adds inputs, all confirmed, when the change cannot absorb the fee), and its
//! fee satisfies, with the replacement's upper-bound size `v`:
//! - BIP125 rule 3: `new_fee >= old_fee`;
//! - BIP125 rule 4: `new_fee - old_fee >= incremental relay fee (1 wat/vB) x v`;
//! - Core 0.20's "insufficient fee" check: the new rate (wat/kvB, rounded down) is above the
//!   original's. The original's rate is taken at its real size when it is signed, and at the
//!   smallest size any signature could give it otherwise, so the check holds whatever the
//!   signatures turn out to be.

use bitcoin::{OutPoint, Transaction, Txid};
use mona::{Amount, FeeRate};

use super::assemble::{self, OutSpec};
use super::coin::Coin;
use super::error::BuildPayoutError;
use super::payout::{check_caps, effective_rate};
use super::select::{self, SelectionAlgorithm, SelectionParams, SelectionTarget};
use super::{vsize, BuiltTx, ChangeInfo, FeeSummary, Payment, TxSettings, WalletDestination};
use crate::account::WatchOnlyAccount;

/// A request to replace a payout with a higher fee.
#[derive(Clone, Copy)]
pub struct FeeBumpRequest<'a> {
    /// The original transaction, preferably signed as broadcast (its real size is then used;
    /// an unsigned original is bounded below and costs a little more).
    pub original: &'a Transaction,
    /// The coins the original spends (any order; every input must be covered).
    pub original_coins: &'a [Coin],
    /// Which output of the original is change (every other output is a payment and is kept).
    pub change_vout: Option<u32>,
    /// Where the replacement's change goes.
    pub change: WalletDestination<'a>,
    /// The new fee rate (raised as BIP125 needs; refused above the ceiling).
    pub fee_rate: FeeRate,
    /// The tip height (confirmations of added coins; the original's lock time is kept).
    pub tip_height: u32,
    /// Caps, dust and confirmations (added coins need at least one confirmation, BIP125 rule 2).
    pub settings: TxSettings,
    /// Coins never to add.
    pub exclude: &'a dyn Fn(&Coin) -> bool,
}

impl std::fmt::Debug for FeeBumpRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeeBumpRequest")
            .field("original", &self.original.compute_txid())
            .field("change_vout", &self.change_vout)
            .field("fee_rate", &self.fee_rate)
            .field("tip_height", &self.tip_height)
            .finish_non_exhaustive()
    }
}

/// What the replacement replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BumpInfo {
    /// The txid of the original as given (for an unsigned original with non-segwit inputs this
    /// differs from the broadcast txid).
    pub replaces: Txid,
    /// The original's fee.
    pub original_fee: Amount,
    /// The size the original's rate was computed at (real if signed, else a lower bound).
    pub original_vsize: u64,
    /// The original's rate at that size, rounded down as Core does.
    pub original_fee_rate: FeeRate,
}

/// A built replacement.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltBump {
    /// The replacement, ready for the signer.
    pub tx: BuiltTx,
    /// What it replaces.
    pub info: BumpInfo,
}

/// Why a fee bump was not built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeeBumpError {
    /// The original spends nothing.
    #[error("the original transaction has no input")]
    NoInputs,
    /// An input of the original does not signal RBF, so no node would accept a replacement.
    #[error("input {vin} of the original does not signal replaceability")]
    NotReplaceable {
        /// The input index.
        vin: usize,
    },
    /// No coin was given for an input of the original.
    #[error("no coin given for input {0} of the original")]
    MissingInputCoin(OutPoint),
    /// A coin was given that the original does not spend.
    #[error("coin {0} is not spent by the original")]
    UnrelatedCoin(OutPoint),
    /// `change_vout` names no output of the original.
    #[error("change output {0} does not exist in the original")]
    ChangeVoutOutOfRange(u32),
    /// The original's outputs exceed its inputs.
    #[error("the original pays out more than its inputs hold")]
    OriginalOverspends,
    /// The fee rules could not be met within the input cap and funds.
    #[error(transparent)]
    Build(#[from] BuildPayoutError),
}

/// Whether a replacement paying `new_fee` at `new_vsize` passes Core 0.20's fee checks against
/// an original paying `old_fee` at `old_vsize` (real sizes): its rate (wat/kvB, rounded down) is
/// higher, and it pays the original's fee plus the incremental relay fee for its own size
/// (BIP125 rules 3 and 4).
pub fn replacement_fee_ok(
    old_fee: Amount,
    old_vsize: u64,
    new_fee: Amount,
    new_vsize: u64,
) -> bool {
    let (Some(old_rate), Some(new_rate)) = (
        FeeRate::from_fee_and_vsize(old_fee, old_vsize),
        FeeRate::from_fee_and_vsize(new_fee, new_vsize),
    ) else {
        return false;
    };
    new_rate > old_rate
        && new_fee
            .checked_sub(old_fee)
            .is_some_and(|delta| delta >= FeeRate::MIN_RELAY.core_fee_for_vsize(new_vsize))
}

/// Builds an RBF replacement of `req.original` paying at least `req.fee_rate`, adding coins from
/// `extra_coins` only if its own inputs cannot pay.
///
/// In the result, payment `i` (see `BuiltTx::payment_vouts`) is the original's `i`-th output
/// that is not `change_vout`.
pub fn build_fee_bump(
    extra_coins: &[Coin],
    accounts: &[WatchOnlyAccount],
    req: &FeeBumpRequest<'_>,
) -> Result<BuiltBump, FeeBumpError> {
    let orig = req.original;
    if orig.input.is_empty() {
        return Err(FeeBumpError::NoInputs);
    }
    if let Some(vin) = orig.input.iter().position(|i| !i.sequence.is_rbf()) {
        return Err(FeeBumpError::NotReplaceable { vin });
    }
    let mut orig_coins = Vec::with_capacity(orig.input.len());
    for txin in &orig.input {
        let coin = req
            .original_coins
            .iter()
            .find(|c| c.outpoint == txin.previous_output)
            .ok_or(FeeBumpError::MissingInputCoin(txin.previous_output))?;
        orig_coins.push(coin.clone());
    }
    if let Some(c) = req
        .original_coins
        .iter()
        .find(|c| !orig.input.iter().any(|i| i.previous_output == c.outpoint))
    {
        return Err(FeeBumpError::UnrelatedCoin(c.outpoint));
    }
    if let Some(v) = req.change_vout {
        if v as usize >= orig.output.len() {
            return Err(FeeBumpError::ChangeVoutOutOfRange(v));
        }
    }
    let network = req.change.account.network;
    let mut payments = Vec::new();
    for (vout, o) in orig.output.iter().enumerate() {
        if Some(vout as u32) == req.change_vout {
            continue;
        }
        let amount =
            Amount::from_btc_amount(o.value).map_err(|_| BuildPayoutError::AmountOverflow)?;
        let p = Payment {
            script_pubkey: o.script_pubkey.clone(),
            amount,
        };
        assemble::check_payment(payments.len(), &p, network)?;
        payments.push(p);
    }
    if payments.is_empty() {
        return Err(BuildPayoutError::NoPayments.into());
    }
    let old_in = Amount::checked_sum(orig_coins.iter().map(|c| c.value))
        .ok_or(BuildPayoutError::AmountOverflow)?;
    let old_out = orig
        .output
        .iter()
        .try_fold(0u64, |acc, o| acc.checked_add(o.value.to_sat()))
        .ok_or(BuildPayoutError::AmountOverflow)?;
    let old_fee = old_in
        .to_wat()
        .checked_sub(old_out)
        .ok_or(FeeBumpError::OriginalOverspends)?;
    let orig_types: Vec<_> = orig_coins.iter().map(|c| c.script_type).collect();
    let orig_lens: Vec<usize> = orig.output.iter().map(|o| o.script_pubkey.len()).collect();
    let signed = orig
        .input
        .iter()
        .all(|i| !i.script_sig.is_empty() || !i.witness.is_empty());
    let old_vsize = if signed {
        orig.vsize() as u64
    } else {
        vsize::vsize_lower_bound(&orig_types, &orig_lens)
    };
    // Core compares CFeeRate(fee, size): watanabe per kvB rounded down.
    let old_rate_kvb = old_fee.saturating_mul(1000) / old_vsize.max(1);
    let info = BumpInfo {
        replaces: orig.compute_txid(),
        original_fee: Amount::from_wat(old_fee).map_err(|_| BuildPayoutError::AmountOverflow)?,
        original_vsize: old_vsize,
        original_fee_rate: FeeRate::from_wat_per_kvb(old_rate_kvb),
    };

    let fees = req.settings.fees;
    let rate = effective_rate(req.fee_rate, &fees)?;
    let above_old = FeeRate::from_wat_per_kvb(old_rate_kvb + 1);
    let required = move |v: u64| -> Amount {
        let by_rate = rate.fee_for_vsize(v);
        let by_rule4 = Amount::from_wat(old_fee)
            .ok()
            .and_then(|f| f.checked_add(FeeRate::MIN_RELAY.fee_for_vsize(v)))
            .unwrap_or(Amount::MAX_MONEY);
        let by_rate_rule = above_old.fee_for_vsize(v);
        by_rate.max(by_rule4).max(by_rate_rule)
    };
    let sel_rate = rate.max(FeeRate::from_wat_per_kvb(
        old_rate_kvb + 1 + FeeRate::MIN_RELAY.wat_per_kvb(),
    ));

    let mut orig_keyed = Vec::with_capacity(orig_coins.len());
    for c in &orig_coins {
        orig_keyed.push((c.clone(), assemble::coin_key(c, accounts, false)?));
    }
    let (change_script, change_key) = assemble::destination_key(&req.change)?;
    let change_type = req.change.account.script_type;
    let min_change = select::min_change(change_type, req.settings.dust);
    let payment_total = Amount::checked_sum(payments.iter().map(|p| p.amount))
        .ok_or(BuildPayoutError::AmountOverflow)?;
    let payment_lens: Vec<usize> = payments.iter().map(|p| p.script_pubkey.len()).collect();
    let params = SelectionParams {
        fee_rate: sel_rate,
        dust: req.settings.dust,
        max_inputs: req.settings.max_inputs,
        // BIP125 rule 2: a replacement may add only confirmed inputs.
        min_confirmations: req.settings.min_confirmations.max(1),
        tip_height: req.tip_height,
        exclude: req.exclude,
    };

    let mut extra_fee = Amount::ZERO;
    let mut attempt = 0;
    let (selection, inputs, settled) = loop {
        attempt += 1;
        let target = SelectionTarget {
            payment_total,
            payment_script_lens: &payment_lens,
            change_type,
            min_change,
            preselected: &orig_coins,
            extra_fee,
        };
        let selection =
            select::select_coins(extra_coins, &params, &target).map_err(BuildPayoutError::from)?;
        let mut inputs = orig_keyed.clone();
        for i in &selection.selected {
            let c = &extra_coins[*i];
            inputs.push((c.clone(), assemble::coin_key(c, accounts, false)?));
        }
        let types: Vec<_> = inputs.iter().map(|(c, _)| c.script_type).collect();
        let total = old_in
            .checked_add(selection.selected_value)
            .ok_or(BuildPayoutError::AmountOverflow)?;
        match assemble::settle(
            &types,
            total,
            payment_total,
            &payment_lens,
            change_script.len(),
            min_change,
            &required,
        ) {
            Ok(s) => break (selection, inputs, s),
            Err(deficit) if attempt < 8 => {
                extra_fee = extra_fee
                    .checked_add(Amount::from_wat(deficit).unwrap_or(Amount::MAX_MONEY))
                    .ok_or(BuildPayoutError::AmountOverflow)?;
            }
            Err(_) => {
                return Err(BuildPayoutError::Selection(
                    select::SelectionError::InsufficientFunds {
                        needed: payment_total,
                        available: total,
                    },
                )
                .into())
            }
        }
    };
    check_caps(
        settled.fee,
        settled.vsize,
        settled.weight,
        settled.max_burn,
        &fees,
    )?;
    let input_total = old_in
        .checked_add(selection.selected_value)
        .ok_or(BuildPayoutError::AmountOverflow)?;
    let mut outputs: Vec<OutSpec> = payments
        .into_iter()
        .enumerate()
        .map(|(i, p)| OutSpec {
            script_pubkey: p.script_pubkey,
            amount: p.amount,
            key: None,
            payment_index: Some(i),
        })
        .collect();
    if let Some(amount) = settled.change {
        outputs.push(OutSpec {
            script_pubkey: change_script,
            amount,
            key: Some(change_key),
            payment_index: None,
        });
    }
    let a = assemble::assemble(inputs, outputs, orig.lock_time);
    let algorithm = if selection.selected.is_empty() {
        SelectionAlgorithm::Preselected
    } else {
        selection.algorithm
    };
    Ok(BuiltBump {
        tx: BuiltTx {
            summary: FeeSummary {
                input_total,
                payment_total,
                change: a
                    .change_vout
                    .zip(settled.change)
                    .map(|(vout, amount)| ChangeInfo { vout, amount }),
                fee: settled.fee,
                estimated_vsize: settled.vsize,
                target_fee_rate: rate.max(above_old),
                fee_rate: FeeRate::from_fee_and_vsize(settled.fee, settled.vsize).unwrap_or(rate),
                max_burn: settled.max_burn,
            },
            psbt: a.psbt,
            inputs: a.inputs,
            payment_vouts: a.payment_vouts,
            algorithm,
        },
        info,
    })
}
