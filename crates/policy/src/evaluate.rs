//! `evaluate(summary, policy, now) -> Verdict`.
//!
//! Invariant: pure and total: no clock, no I/O, no keys, no panic on any summary; every amount
//! computed in `u128` or checked `u64` arithmetic; fee figures come only from amounts the
//! analysis verified (or, when the policy allows it, from a bare `witness_utxo`, with a warning).

use mona::{dust_threshold, Amount, FeeRate};

use crate::file::Policy;
use crate::summary::{Envelope, InputOwnership, OutputOwnership, TxSummary, UtxoEvidence};
use crate::verdict::{OutputClass, Totals, Verdict, Violation, Warning};

/// Locktimes at or above this are UNIX times, below it block heights (consensus rule).
const LOCKTIME_THRESHOLD: u32 = 500_000_000;
const SIGHASH_ALL: u32 = 1;

/// The moment to judge locktimes against, supplied by the caller (the signer has no chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Seconds since the UNIX epoch.
    pub unix_time: u64,
    /// The current chain tip height, when the operator knows it.
    pub tip_height: Option<u32>,
}

/// The size/version/count checks, usable on the pre-scan alone (before any allocation).
pub fn check_envelope(envelope: &Envelope, policy: &Policy) -> Vec<Violation> {
    let mut v = Vec::new();
    let l = &policy.limits;
    if envelope.psbt_bytes > l.max_psbt_bytes {
        v.push(Violation::PsbtTooLarge {
            bytes: envelope.psbt_bytes,
            max: l.max_psbt_bytes,
        });
    }
    if envelope.psbt_version != 0 {
        v.push(Violation::UnsupportedPsbtVersion {
            version: envelope.psbt_version,
        });
    }
    if envelope.input_count > l.max_inputs {
        v.push(Violation::TooManyInputs {
            count: envelope.input_count,
            max: l.max_inputs,
        });
    }
    if envelope.output_count > l.max_outputs {
        v.push(Violation::TooManyOutputs {
            count: envelope.output_count,
            max: l.max_outputs,
        });
    }
    v
}

/// Judges `summary` under `policy` at `now`.
pub fn evaluate(summary: &TxSummary, policy: &Policy, now: Now) -> Verdict {
    let mut violations = Vec::new();
    let mut warnings = Vec::new();
    if summary.network != policy.network {
        violations.push(Violation::WrongNetwork {
            policy: policy.network,
            signer: summary.network,
        });
    }
    violations.extend(check_envelope(&summary.envelope, policy));
    check_inputs(summary, policy, &mut violations, &mut warnings);
    let outputs = check_outputs(summary, policy, &mut violations, &mut warnings);
    let totals = check_amounts(summary, policy, &outputs, &mut violations, &mut warnings);
    check_locktime(summary, policy, now, &mut violations, &mut warnings);
    Verdict {
        violations,
        warnings,
        outputs,
        totals,
        policy_sha256: policy.sha256_hex(),
    }
}

fn check_inputs(
    summary: &TxSummary,
    policy: &Policy,
    violations: &mut Vec<Violation>,
    warnings: &mut Vec<Warning>,
) {
    let mut any_ours = false;
    for input in &summary.inputs {
        let i = input.index;
        let ours_type = match &input.ownership {
            InputOwnership::Ours { script_type, .. } => {
                any_ours = true;
                Some(*script_type)
            }
            InputOwnership::ClaimMismatch { reason, .. } => {
                warnings.push(Warning::InputClaimMismatch {
                    input: i,
                    reason: reason.clone(),
                });
                None
            }
            InputOwnership::NotOurs => {
                warnings.push(Warning::InputNotOurs { input: i });
                None
            }
        };
        match &input.utxo {
            UtxoEvidence::FullPrevTx { .. } => {}
            UtxoEvidence::WitnessUtxoOnly { .. } => {
                if ours_type == Some(mona::ScriptType::Pkh) {
                    violations.push(Violation::MissingPrevTx {
                        input: i,
                        reason: "a legacy input's amount is only proven by the full transaction",
                    });
                } else if policy.limits.require_full_prev_tx {
                    violations.push(Violation::MissingPrevTx {
                        input: i,
                        reason: "the policy requires it for every input",
                    });
                } else {
                    warnings.push(Warning::AmountFromWitnessUtxoOnly { input: i });
                }
            }
            UtxoEvidence::Missing => violations.push(Violation::MissingPrevTx {
                input: i,
                reason: "nor any witness_utxo: the amount is unknown",
            }),
            UtxoEvidence::PrevTxidMismatch { found } => {
                violations.push(Violation::PrevTxidMismatch {
                    input: i,
                    expected: input.prevout.txid,
                    found: *found,
                })
            }
            UtxoEvidence::PrevTxMissingOutput { outputs } => {
                violations.push(Violation::PrevTxMissingOutput {
                    input: i,
                    vout: input.prevout.vout,
                    outputs: *outputs,
                })
            }
            UtxoEvidence::WitnessUtxoMismatch {
                trusted_wat,
                claimed_wat,
                ..
            } => violations.push(Violation::WitnessUtxoMismatch {
                input: i,
                trusted_wat: *trusted_wat,
                claimed_wat: *claimed_wat,
            }),
        }
        if ours_type.is_some() {
            let sighash = input.sighash.unwrap_or(SIGHASH_ALL);
            if !policy.limits.sighash.contains(&sighash) {
                violations.push(Violation::SighashNotAllowed { input: i, sighash });
            }
            if input.finalized {
                warnings.push(Warning::InputAlreadyFinal { input: i });
            }
        }
    }
    if !any_ours {
        violations.push(Violation::NoInputsOurs);
    }
}

fn check_outputs(
    summary: &TxSummary,
    policy: &Policy,
    violations: &mut Vec<Violation>,
    warnings: &mut Vec<Warning>,
) -> Vec<OutputClass> {
    let max_input_index = summary.max_own_input_index();
    let gap = policy.limits.max_change_index_gap;
    let mut classes = Vec::with_capacity(summary.outputs.len());
    for out in &summary.outputs {
        let o = out.index;
        let class = match &out.ownership {
            OutputOwnership::Change {
                path, chain, index, ..
            } => {
                if u64::from(*index) > u64::from(max_input_index) + u64::from(gap) {
                    violations.push(Violation::OddChangePath {
                        output: o,
                        path: path.clone(),
                        reason: format!(
                            "index {index} is more than {gap} beyond the highest input index {max_input_index}"
                        ),
                    });
                    OutputClass::BadChange
                } else {
                    if *chain == 0 {
                        warnings.push(Warning::ChangeOnReceiveChain { output: o });
                    }
                    OutputClass::Change
                }
            }
            OutputOwnership::FraudulentChange { path, reason } => {
                violations.push(Violation::FraudulentChange {
                    output: o,
                    path: path.clone(),
                    reason: reason.clone(),
                });
                OutputClass::BadChange
            }
            OutputOwnership::OddChangePath { path, reason } => {
                violations.push(Violation::OddChangePath {
                    output: o,
                    path: path.clone(),
                    reason: reason.clone(),
                });
                OutputClass::BadChange
            }
            OutputOwnership::External => {
                if let Some(m) = policy.hot_match(&out.script_pubkey) {
                    OutputClass::Hot {
                        descriptor: m.descriptor,
                        index: m.index,
                    }
                } else if policy.is_allowed_address(&out.script_pubkey) {
                    OutputClass::AllowedExternal
                } else {
                    violations.push(Violation::DestinationNotAllowed {
                        output: o,
                        destination: out.address.clone().unwrap_or_else(|| {
                            format!("script {}", out.script_pubkey.to_hex_string())
                        }),
                    });
                    OutputClass::Unknown
                }
            }
        };
        if out.amount_wat > Amount::MAX_MONEY.to_wat() {
            violations.push(Violation::AmountOutOfRange {
                what: format!("output {o}"),
            });
        } else {
            let threshold = dust_threshold(&out.script_pubkey).to_wat();
            if out.amount_wat < threshold {
                violations.push(Violation::DustOutput {
                    output: o,
                    amount_wat: out.amount_wat,
                    threshold_wat: threshold,
                });
            }
        }
        classes.push(class);
    }
    classes
}

fn sum(values: impl Iterator<Item = u64>) -> u128 {
    values.map(u128::from).sum()
}

fn clamp(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn check_amounts(
    summary: &TxSummary,
    policy: &Policy,
    classes: &[OutputClass],
    violations: &mut Vec<Violation>,
    warnings: &mut Vec<Warning>,
) -> Totals {
    let max_money = u128::from(Amount::MAX_MONEY.to_wat());
    let outputs = sum(summary.outputs.iter().map(|o| o.amount_wat));
    let change = sum(summary
        .outputs
        .iter()
        .zip(classes)
        .filter(|(_, c)| **c == OutputClass::Change)
        .map(|(o, _)| o.amount_wat));
    let sent = outputs - change;
    let inputs: Option<u128> = summary
        .inputs
        .iter()
        .map(|i| i.amount_wat().map(u128::from))
        .sum();
    if outputs > max_money {
        violations.push(Violation::AmountOutOfRange {
            what: "the sum of the outputs".into(),
        });
    }
    if inputs.is_some_and(|v| v > max_money) {
        violations.push(Violation::AmountOutOfRange {
            what: "the sum of the inputs".into(),
        });
    }
    let l = &policy.limits;
    if sent > u128::from(l.max_send.to_wat()) {
        violations.push(Violation::SendOverLimit {
            sent_wat: clamp(sent),
            max_wat: l.max_send.to_wat(),
        });
    }
    let vsize = summary.estimated_vsize.max(1);
    let mut fee_out = None;
    let mut rate_out = None;
    if let Some(inputs) = inputs {
        if outputs > inputs {
            violations.push(Violation::OutputsExceedInputs {
                inputs_wat: clamp(inputs),
                outputs_wat: clamp(outputs),
            });
        } else {
            let fee = inputs - outputs;
            fee_out = Some(clamp(fee));
            if fee > u128::from(l.max_fee.to_wat()) {
                violations.push(Violation::FeeOverLimit {
                    fee_wat: clamp(fee),
                    max_wat: l.max_fee.to_wat(),
                });
            }
            let rate = clamp(fee * 1000 / u128::from(vsize));
            rate_out = Some(rate);
            if rate > l.max_fee_rate.wat_per_kvb() {
                violations.push(Violation::FeeRateOverLimit {
                    rate: FeeRate::from_wat_per_kvb(rate),
                    max: l.max_fee_rate,
                });
            }
            // The fee is judged against what leaves the wallet; a consolidation (nothing
            // leaves) is judged against what it moves.
            let base = if sent > 0 { sent } else { outputs };
            let ppm = u128::from(l.max_fee_fraction_ppm);
            let fee_ppm = fee * 1_000_000;
            if fee > 0 && fee_ppm >= ppm * base {
                violations.push(Violation::FeeFractionOverLimit {
                    fee_wat: clamp(fee),
                    base_wat: clamp(base),
                    max_ppm: l.max_fee_fraction_ppm,
                });
            } else if fee > 0 && fee_ppm * 2 >= ppm * base {
                warnings.push(Warning::FeeFractionHigh {
                    fee_wat: clamp(fee),
                    base_wat: clamp(base),
                    warn_ppm: l.max_fee_fraction_ppm / 2,
                });
            }
        }
    }
    Totals {
        inputs_wat: inputs.map(clamp),
        outputs_wat: clamp(outputs),
        sent_wat: clamp(sent),
        change_wat: clamp(change),
        fee_wat: fee_out,
        fee_rate_wat_per_kvb: rate_out,
        total_spent_wat: fee_out.map(|f| clamp(sent + u128::from(f))),
        estimated_vsize: summary.estimated_vsize,
    }
}

fn check_locktime(
    summary: &TxSummary,
    policy: &Policy,
    now: Now,
    violations: &mut Vec<Violation>,
    warnings: &mut Vec<Warning>,
) {
    if !summary.locktime_is_effective() {
        return;
    }
    let lt = summary.lock_time;
    let rules = &policy.locktime;
    // (is it reached?, is it far?, description of now, tolerated distance)
    let judged = if lt < LOCKTIME_THRESHOLD {
        let Some(tip) = now.tip_height else {
            warnings.push(Warning::LocktimeUnchecked { lock_time: lt });
            return;
        };
        // Minable in the next block (tip + 1) iff lt < tip + 1.
        (
            lt <= tip,
            u64::from(lt) > u64::from(tip) + u64::from(rules.max_blocks_ahead),
            format!("tip height {tip}"),
            format!("{} blocks", rules.max_blocks_ahead),
        )
    } else {
        let t = u64::from(lt);
        (
            t < now.unix_time,
            t > now.unix_time.saturating_add(rules.max_seconds_ahead),
            format!("time {}", now.unix_time),
            format!("{} s", rules.max_seconds_ahead),
        )
    };
    let (reached, far, now_text, max_ahead) = judged;
    if far {
        violations.push(Violation::FarFutureLocktime {
            lock_time: lt,
            now: now_text,
            max_ahead,
        });
    } else if !reached && !rules.allow_non_final {
        violations.push(Violation::NonFinalLocktime {
            lock_time: lt,
            now: now_text,
        });
    }
}
