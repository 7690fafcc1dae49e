//! Payout transactions: batched withdrawals and voucher redemptions, sweeps from hot to cold, and
//! top-up PSBTs from cold to hot.
//!
//! Invariant: all three go through one path (validate payments, select coins, settle change and
//! fee from the exact size estimate, check the caps, assemble), so they share every guarantee
//! listed in [`crate::build`].

use bitcoin::absolute::LockTime;
use mona::{Amount, FeeRate};

use super::assemble::{self, KeyInfo, OutSpec};
use super::coin::Coin;
use super::error::BuildPayoutError;
use super::select::{self, SelectionParams, SelectionTarget};
use super::{vsize, BuiltTx, FeePolicy, FeeSummary, Payment, TxSettings, WalletDestination};
use crate::account::WatchOnlyAccount;

/// A batch of payments from the hot wallet.
#[derive(Clone, Copy)]
pub struct PayoutRequest<'a> {
    /// The payments, in the order `payment_vouts` reports them.
    pub payments: &'a [Payment],
    /// The fee rate to pay (raised to `settings.fees.floor`, refused above the ceiling).
    pub fee_rate: FeeRate,
    /// Where change goes (normally the hot account's next change index).
    pub change: WalletDestination<'a>,
    /// The current tip height: the lock time (anti-fee-sniping) and the confirmation base.
    pub tip_height: u32,
    /// Caps, dust and confirmations.
    pub settings: TxSettings,
    /// Coins never to select (reserved by another payout, foreign unconfirmed, ...).
    pub exclude: &'a dyn Fn(&Coin) -> bool,
}

impl std::fmt::Debug for PayoutRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayoutRequest")
            .field("payments", &self.payments)
            .field("fee_rate", &self.fee_rate)
            .field("change", &self.change)
            .field("tip_height", &self.tip_height)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A transfer between our own wallets: a sweep (hot to cold) or a top-up (cold to hot).
#[derive(Clone, Copy)]
pub struct TransferRequest<'a> {
    /// The receiving address (a cold receive address for a sweep, a hot one for a top-up);
    /// its BIP32 derivation is recorded on the output so the signer can prove it.
    pub destination: WalletDestination<'a>,
    /// The amount to move (for a sweep: hot balance minus `hot_target`; the fee comes from the
    /// change, so the hot balance ends at `hot_target` minus the fee).
    pub amount: Amount,
    /// The fee rate to pay (raised to the floor, refused above the ceiling).
    pub fee_rate: FeeRate,
    /// Change back to the sending wallet (hot change for a sweep, cold change for a top-up).
    pub change: WalletDestination<'a>,
    /// The current tip height: the lock time and the confirmation base.
    pub tip_height: u32,
    /// Caps, dust and confirmations.
    pub settings: TxSettings,
    /// Coins never to select.
    pub exclude: &'a dyn Fn(&Coin) -> bool,
}

impl std::fmt::Debug for TransferRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferRequest")
            .field("destination", &self.destination)
            .field("amount", &self.amount)
            .field("fee_rate", &self.fee_rate)
            .field("change", &self.change)
            .field("tip_height", &self.tip_height)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A sweep request (hot to cold).
pub type SweepRequest<'a> = TransferRequest<'a>;
/// A top-up request (cold to hot).
pub type TopUpRequest<'a> = TransferRequest<'a>;

struct Plan<'a> {
    payments: Vec<(Payment, Option<KeyInfo>)>,
    fee_rate: FeeRate,
    change: WalletDestination<'a>,
    tip_height: u32,
    settings: TxSettings,
    exclude: &'a dyn Fn(&Coin) -> bool,
    require_prev_tx: bool,
}

/// Builds a batch payout from the hot wallet's `coins` (keys from `accounts`).
///
/// The caller reserves `BuiltTx::inputs` in the same ledger transaction that records the payout
/// (ARCHITECTURE invariant 3), then signs the PSBT.
pub fn build_payout(
    coins: &[Coin],
    accounts: &[WatchOnlyAccount],
    req: &PayoutRequest<'_>,
) -> Result<BuiltTx, BuildPayoutError> {
    build(
        coins,
        accounts,
        Plan {
            payments: req.payments.iter().map(|p| (p.clone(), None)).collect(),
            fee_rate: req.fee_rate,
            change: req.change,
            tip_height: req.tip_height,
            settings: req.settings,
            exclude: req.exclude,
            require_prev_tx: false,
        },
    )
}

/// Builds a sweep: one output of `amount` to a cold receive address, change back to hot.
pub fn build_sweep(
    hot_coins: &[Coin],
    hot_accounts: &[WatchOnlyAccount],
    req: &SweepRequest<'_>,
) -> Result<BuiltTx, BuildPayoutError> {
    transfer(hot_coins, hot_accounts, req, false)
}

/// Builds a top-up PSBT for the cold signer: spends cold coins (each must carry its full
/// previous transaction) to a hot receive address, change to a cold change address.
pub fn build_topup(
    cold_coins: &[Coin],
    cold_accounts: &[WatchOnlyAccount],
    req: &TopUpRequest<'_>,
) -> Result<BuiltTx, BuildPayoutError> {
    transfer(cold_coins, cold_accounts, req, true)
}

fn transfer(
    coins: &[Coin],
    accounts: &[WatchOnlyAccount],
    req: &TransferRequest<'_>,
    require_prev_tx: bool,
) -> Result<BuiltTx, BuildPayoutError> {
    let (script_pubkey, key) = assemble::destination_key(&req.destination)?;
    build(
        coins,
        accounts,
        Plan {
            payments: vec![(
                Payment {
                    script_pubkey,
                    amount: req.amount,
                },
                Some(key),
            )],
            fee_rate: req.fee_rate,
            change: req.change,
            tip_height: req.tip_height,
            settings: req.settings,
            exclude: req.exclude,
            require_prev_tx,
        },
    )
}

/// The requested rate raised to the floor, or refused above the ceiling.
pub(crate) fn effective_rate(
    requested: FeeRate,
    fees: &FeePolicy,
) -> Result<FeeRate, BuildPayoutError> {
    if requested > fees.ceiling {
        return Err(BuildPayoutError::FeeRateAboveCeiling {
            fee_rate: requested,
            ceiling: fees.ceiling,
        });
    }
    Ok(requested.max(fees.floor))
}

/// Refuses a fee or size above the policy's caps.
pub(crate) fn check_caps(
    fee: Amount,
    vsize_estimate: u64,
    weight: u64,
    max_burn: Amount,
    fees: &FeePolicy,
) -> Result<(), BuildPayoutError> {
    if weight > vsize::MAX_STANDARD_TX_WEIGHT {
        return Err(BuildPayoutError::TooLarge { weight });
    }
    if fee > fees.max_fee {
        return Err(BuildPayoutError::FeeAboveCap {
            fee,
            cap: fees.max_fee,
        });
    }
    let rate_cap = fees
        .ceiling
        .fee_for_vsize(vsize_estimate)
        .checked_add(max_burn)
        .unwrap_or(Amount::MAX_MONEY);
    if fee > rate_cap {
        return Err(BuildPayoutError::FeeAboveCap { fee, cap: rate_cap });
    }
    Ok(())
}

pub(crate) fn lock_time(tip_height: u32) -> Result<LockTime, BuildPayoutError> {
    LockTime::from_height(tip_height).map_err(|_| BuildPayoutError::LockTimeNotAHeight(tip_height))
}

fn build(
    coins: &[Coin],
    accounts: &[WatchOnlyAccount],
    plan: Plan<'_>,
) -> Result<BuiltTx, BuildPayoutError> {
    if plan.payments.is_empty() {
        return Err(BuildPayoutError::NoPayments);
    }
    let network = plan.change.account.network;
    for (i, (p, _)) in plan.payments.iter().enumerate() {
        assemble::check_payment(i, p, network)?;
    }
    let payment_total = Amount::checked_sum(plan.payments.iter().map(|(p, _)| p.amount))
        .ok_or(BuildPayoutError::AmountOverflow)?;
    let fees = plan.settings.fees;
    let rate = effective_rate(plan.fee_rate, &fees)?;
    let lock_time = lock_time(plan.tip_height)?;
    let (change_script, change_key) = assemble::destination_key(&plan.change)?;
    let change_type = plan.change.account.script_type;
    let min_change = select::min_change(change_type, plan.settings.dust);
    let payment_lens: Vec<usize> = plan
        .payments
        .iter()
        .map(|(p, _)| p.script_pubkey.len())
        .collect();

    let params = SelectionParams {
        fee_rate: rate,
        dust: plan.settings.dust,
        max_inputs: plan.settings.max_inputs,
        min_confirmations: plan.settings.min_confirmations,
        tip_height: plan.tip_height,
        exclude: plan.exclude,
    };
    let target = SelectionTarget {
        payment_total,
        payment_script_lens: &payment_lens,
        change_type,
        min_change,
        preselected: &[],
        extra_fee: Amount::ZERO,
    };
    let selection = select::select_coins(coins, &params, &target)?;
    let mut inputs = Vec::with_capacity(selection.selected.len());
    for i in &selection.selected {
        let coin = &coins[*i];
        let key = assemble::coin_key(coin, accounts, plan.require_prev_tx)?;
        inputs.push((coin.clone(), key));
    }
    let types: Vec<_> = inputs.iter().map(|(c, _)| c.script_type).collect();
    let settled = assemble::settle(
        &types,
        selection.selected_value,
        payment_total,
        &payment_lens,
        change_script.len(),
        min_change,
        &|v| rate.fee_for_vsize(v),
    )
    .map_err(|_| {
        // Selection budgets at least the exact fee; reaching this means the coins changed.
        BuildPayoutError::Selection(select::SelectionError::InsufficientFunds {
            needed: payment_total,
            available: selection.selected_value,
        })
    })?;
    check_caps(
        settled.fee,
        settled.vsize,
        settled.weight,
        settled.max_burn,
        &fees,
    )?;

    let mut outputs: Vec<OutSpec> = plan
        .payments
        .into_iter()
        .enumerate()
        .map(|(i, (p, key))| OutSpec {
            script_pubkey: p.script_pubkey,
            amount: p.amount,
            key,
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
    let a = assemble::assemble(inputs, outputs, lock_time);
    Ok(BuiltTx {
        summary: FeeSummary {
            input_total: selection.selected_value,
            payment_total,
            change: a
                .change_vout
                .zip(settled.change)
                .map(|(vout, amount)| super::ChangeInfo { vout, amount }),
            fee: settled.fee,
            estimated_vsize: settled.vsize,
            target_fee_rate: rate,
            fee_rate: FeeRate::from_fee_and_vsize(settled.fee, settled.vsize).unwrap_or(rate),
            max_burn: settled.max_burn,
        },
        psbt: a.psbt,
        inputs: a.inputs,
        payment_vouts: a.payment_vouts,
        algorithm: selection.algorithm,
    })
}
