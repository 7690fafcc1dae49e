//! The outcome of an evaluation: fatal violations apart from warnings.
//!
//! Invariant: every check of the signer has exactly one [`Violation`] variant with a stable
//! snake-case [`Violation::code`] (used by fixture manifests and `--json`) and a one-line message
//! that says what was wrong; a [`Verdict`] approves only when `violations` is empty.

use std::fmt;

use bitcoin::bip32::DerivationPath;
use bitcoin::Txid;
use mona::{Amount, FeeRate, Network};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::file::sighash_name;

fn mona(wat: u64) -> String {
    format!(
        "{}.{:08}",
        wat / mona::amount::WAT_PER_MONA,
        wat % mona::amount::WAT_PER_MONA
    )
}

/// A reason to refuse signing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// The policy is for another network than the PSBT was analysed for.
    WrongNetwork {
        /// Policy network.
        policy: Network,
        /// Signer network.
        signer: Network,
    },
    /// `PSBT_GLOBAL_VERSION` other than 0.
    UnsupportedPsbtVersion {
        /// The version found.
        version: u32,
    },
    /// The PSBT is larger than the cap.
    PsbtTooLarge {
        /// Its size.
        bytes: u64,
        /// The cap.
        max: u64,
    },
    /// More inputs than the cap.
    TooManyInputs {
        /// Count.
        count: u64,
        /// Cap.
        max: u64,
    },
    /// More outputs than the cap.
    TooManyOutputs {
        /// Count.
        count: u64,
        /// Cap.
        max: u64,
    },
    /// A full previous transaction whose txid is not the prevout's.
    PrevTxidMismatch {
        /// Input.
        input: usize,
        /// Txid named by the prevout.
        expected: Txid,
        /// Txid of the carried transaction.
        found: Txid,
    },
    /// A full previous transaction without the output the input spends.
    PrevTxMissingOutput {
        /// Input.
        input: usize,
        /// The prevout's index.
        vout: u32,
        /// Outputs the transaction has.
        outputs: usize,
    },
    /// A `witness_utxo` that differs from the full previous transaction's output.
    WitnessUtxoMismatch {
        /// Input.
        input: usize,
        /// Value in the full previous transaction.
        trusted_wat: u64,
        /// Value claimed by `witness_utxo`.
        claimed_wat: u64,
    },
    /// No full previous transaction where one is required (always for legacy inputs, and for
    /// segwit inputs unless the policy says `require_full_prev_tx = false`), or no UTXO at all.
    MissingPrevTx {
        /// Input.
        input: usize,
        /// Why it is required.
        reason: &'static str,
    },
    /// An output claims our derivation path but pays another script.
    FraudulentChange {
        /// Output.
        output: usize,
        /// Claimed path.
        path: DerivationPath,
        /// What differs.
        reason: String,
    },
    /// An output claims our fingerprint at a path that is not sane change.
    OddChangePath {
        /// Output.
        output: usize,
        /// Claimed path.
        path: DerivationPath,
        /// Why.
        reason: String,
    },
    /// An input of ours asks for a sighash the policy does not allow.
    SighashNotAllowed {
        /// Input.
        input: usize,
        /// Raw sighash value.
        sighash: u32,
    },
    /// An output pays a destination that is neither change, the hot wallet nor allow-listed.
    DestinationNotAllowed {
        /// Output.
        output: usize,
        /// Its address (or script hex).
        destination: String,
    },
    /// More sent than `max_send`.
    SendOverLimit {
        /// Sent (every non-change output).
        sent_wat: u64,
        /// Limit.
        max_wat: u64,
    },
    /// Fee above `max_fee`.
    FeeOverLimit {
        /// Fee.
        fee_wat: u64,
        /// Limit.
        max_wat: u64,
    },
    /// Fee at or above `max_fee_fraction` of the amount sent.
    FeeFractionOverLimit {
        /// Fee.
        fee_wat: u64,
        /// What the fee is compared with (amount sent, or moved for a consolidation).
        base_wat: u64,
        /// The limit in ppm.
        max_ppm: u64,
    },
    /// Fee rate above `max_fee_rate`.
    FeeRateOverLimit {
        /// Rate.
        rate: FeeRate,
        /// Limit.
        max: FeeRate,
    },
    /// The outputs spend more than the trusted inputs provide.
    OutputsExceedInputs {
        /// Inputs.
        inputs_wat: u64,
        /// Outputs.
        outputs_wat: u64,
    },
    /// An amount beyond Monacoin's 105.12M MONA supply.
    AmountOutOfRange {
        /// What (an output, the sum of outputs).
        what: String,
    },
    /// No input can be proven ours.
    NoInputsOurs,
    /// An output below the dust threshold.
    DustOutput {
        /// Output.
        output: usize,
        /// Its value.
        amount_wat: u64,
        /// The threshold.
        threshold_wat: u64,
    },
    /// The locktime is not yet reached.
    NonFinalLocktime {
        /// Locktime.
        lock_time: u32,
        /// What it is compared with ("tip height 121", "time 1700000000").
        now: String,
    },
    /// The locktime lies far in the future.
    FarFutureLocktime {
        /// Locktime.
        lock_time: u32,
        /// What it is compared with.
        now: String,
        /// The tolerated distance ("144 blocks", "86400 s").
        max_ahead: String,
    },
}

impl Violation {
    /// A stable snake-case identifier (fixture manifests, `--json`).
    pub fn code(&self) -> &'static str {
        match self {
            Violation::WrongNetwork { .. } => "wrong_network",
            Violation::UnsupportedPsbtVersion { .. } => "psbt_version",
            Violation::PsbtTooLarge { .. } => "psbt_too_large",
            Violation::TooManyInputs { .. } => "too_many_inputs",
            Violation::TooManyOutputs { .. } => "too_many_outputs",
            Violation::PrevTxidMismatch { .. } => "prev_txid_mismatch",
            Violation::PrevTxMissingOutput { .. } => "prev_tx_missing_output",
            Violation::WitnessUtxoMismatch { .. } => "witness_utxo_mismatch",
            Violation::MissingPrevTx { .. } => "missing_prev_tx",
            Violation::FraudulentChange { .. } => "fraudulent_change",
            Violation::OddChangePath { .. } => "odd_change_path",
            Violation::SighashNotAllowed { .. } => "sighash_not_allowed",
            Violation::DestinationNotAllowed { .. } => "destination_not_allowed",
            Violation::SendOverLimit { .. } => "send_over_limit",
            Violation::FeeOverLimit { .. } => "fee_over_limit",
            Violation::FeeFractionOverLimit { .. } => "fee_fraction_over_limit",
            Violation::FeeRateOverLimit { .. } => "fee_rate_over_limit",
            Violation::OutputsExceedInputs { .. } => "outputs_exceed_inputs",
            Violation::AmountOutOfRange { .. } => "amount_out_of_range",
            Violation::NoInputsOurs => "no_inputs_ours",
            Violation::DustOutput { .. } => "dust_output",
            Violation::NonFinalLocktime { .. } => "non_final_locktime",
            Violation::FarFutureLocktime { .. } => "far_future_locktime",
        }
    }
}

fn ppm_percent(ppm: u64) -> String {
    format!("{}.{:02}%", ppm / 10_000, (ppm % 10_000) / 100)
}

fn fraction_ppm(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return u64::MAX;
    }
    u64::try_from(u128::from(part) * 1_000_000 / u128::from(whole)).unwrap_or(u64::MAX)
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::WrongNetwork { policy, signer } => write!(
                f,
                "the policy file is for {policy} but the signer runs on {signer}"
            ),
            Violation::UnsupportedPsbtVersion { version } => write!(
                f,
                "PSBT version {version} is not supported (only version 0, BIP174)"
            ),
            Violation::PsbtTooLarge { bytes, max } => {
                write!(f, "PSBT is {bytes} bytes, above the {max}-byte cap")
            }
            Violation::TooManyInputs { count, max } => {
                write!(f, "PSBT has {count} inputs, above the cap of {max}")
            }
            Violation::TooManyOutputs { count, max } => {
                write!(f, "PSBT has {count} outputs, above the cap of {max}")
            }
            Violation::PrevTxidMismatch {
                input,
                expected,
                found,
            } => write!(
                f,
                "input {input}: the full previous transaction hashes to {found}, not to the spent txid {expected}"
            ),
            Violation::PrevTxMissingOutput {
                input,
                vout,
                outputs,
            } => write!(
                f,
                "input {input}: the previous transaction has {outputs} outputs, so output {vout} does not exist"
            ),
            Violation::WitnessUtxoMismatch {
                input,
                trusted_wat,
                claimed_wat,
            } => write!(
                f,
                "input {input}: witness_utxo ({} MONA) differs from the full previous transaction's output ({} MONA): the segwit fee attack",
                mona(*claimed_wat),
                mona(*trusted_wat)
            ),
            Violation::MissingPrevTx { input, reason } => {
                write!(f, "input {input}: no full previous transaction ({reason})")
            }
            Violation::FraudulentChange {
                output,
                path,
                reason,
            } => write!(
                f,
                "output {output}: claims our path m/{path} but {reason}: fraudulent change"
            ),
            Violation::OddChangePath {
                output,
                path,
                reason,
            } => write!(f, "output {output}: change at an odd path m/{path}: {reason}"),
            Violation::SighashNotAllowed { input, sighash } => write!(
                f,
                "input {input}: sighash {} is not allowed by the policy",
                sighash_name(*sighash)
            ),
            Violation::DestinationNotAllowed {
                output,
                destination,
            } => write!(
                f,
                "output {output}: destination {destination} is not the registered hot wallet nor on the allow-list"
            ),
            Violation::SendOverLimit { sent_wat, max_wat } => write!(
                f,
                "sends {} MONA, above max_send {} MONA",
                mona(*sent_wat),
                mona(*max_wat)
            ),
            Violation::FeeOverLimit { fee_wat, max_wat } => write!(
                f,
                "fee {} MONA is above max_fee {} MONA",
                mona(*fee_wat),
                mona(*max_wat)
            ),
            Violation::FeeFractionOverLimit {
                fee_wat,
                base_wat,
                max_ppm,
            } => write!(
                f,
                "fee {} MONA is {} of {} MONA sent, at or above max_fee_fraction {}",
                mona(*fee_wat),
                ppm_percent(fraction_ppm(*fee_wat, *base_wat)),
                mona(*base_wat),
                ppm_percent(*max_ppm)
            ),
            Violation::FeeRateOverLimit { rate, max } => write!(
                f,
                "fee rate {} watanabe/vbyte is above max_fee_rate {} watanabe/vbyte",
                rate.wat_per_vb_floor(),
                max.wat_per_vb_floor()
            ),
            Violation::OutputsExceedInputs {
                inputs_wat,
                outputs_wat,
            } => write!(
                f,
                "outputs ({} MONA) exceed the trusted inputs ({} MONA)",
                mona(*outputs_wat),
                mona(*inputs_wat)
            ),
            Violation::AmountOutOfRange { what } => {
                write!(f, "{what} is beyond the 105,120,000 MONA supply")
            }
            Violation::NoInputsOurs => {
                f.write_str("no input is provably ours (fingerprint, path and script must match)")
            }
            Violation::DustOutput {
                output,
                amount_wat,
                threshold_wat,
            } => write!(
                f,
                "output {output}: {} MONA is dust (threshold {} MONA)",
                mona(*amount_wat),
                mona(*threshold_wat)
            ),
            Violation::NonFinalLocktime { lock_time, now } => write!(
                f,
                "locktime {lock_time} is not final at {now}: the transaction could not be mined yet"
            ),
            Violation::FarFutureLocktime {
                lock_time,
                now,
                max_ahead,
            } => write!(
                f,
                "locktime {lock_time} is more than {max_ahead} past {now}"
            ),
        }
    }
}

/// Something the operator must see before confirming, that does not block signing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// Fee at or above half of `max_fee_fraction`.
    FeeFractionHigh {
        /// Fee.
        fee_wat: u64,
        /// Amount sent (or moved).
        base_wat: u64,
        /// Half the limit, ppm.
        warn_ppm: u64,
    },
    /// An input that is not ours: it will not be signed.
    InputNotOurs {
        /// Input.
        input: usize,
    },
    /// An input claiming our fingerprint that did not prove out: it will not be signed.
    InputClaimMismatch {
        /// Input.
        input: usize,
        /// Why.
        reason: String,
    },
    /// An input's amount comes from `witness_utxo` alone (allowed by this policy).
    AmountFromWitnessUtxoOnly {
        /// Input.
        input: usize,
    },
    /// A height locktime that cannot be checked because no chain height was given.
    LocktimeUnchecked {
        /// Locktime.
        lock_time: u32,
    },
    /// An input is already finalized by someone else.
    InputAlreadyFinal {
        /// Input.
        input: usize,
    },
    /// Change paid to a receive (chain 0) address.
    ChangeOnReceiveChain {
        /// Output.
        output: usize,
    },
}

impl Warning {
    /// A stable snake-case identifier.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::FeeFractionHigh { .. } => "fee_fraction_high",
            Warning::InputNotOurs { .. } => "input_not_ours",
            Warning::InputClaimMismatch { .. } => "input_claim_mismatch",
            Warning::AmountFromWitnessUtxoOnly { .. } => "amount_from_witness_utxo_only",
            Warning::LocktimeUnchecked { .. } => "locktime_unchecked",
            Warning::InputAlreadyFinal { .. } => "input_already_final",
            Warning::ChangeOnReceiveChain { .. } => "change_on_receive_chain",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::FeeFractionHigh {
                fee_wat,
                base_wat,
                warn_ppm,
            } => write!(
                f,
                "fee {} MONA is {} of {} MONA sent (warning from {})",
                mona(*fee_wat),
                ppm_percent(fraction_ppm(*fee_wat, *base_wat)),
                mona(*base_wat),
                ppm_percent(*warn_ppm)
            ),
            Warning::InputNotOurs { input } => {
                write!(f, "input {input} is not ours and will not be signed")
            }
            Warning::InputClaimMismatch { input, reason } => write!(
                f,
                "input {input} claims our key but {reason}; it will not be signed"
            ),
            Warning::AmountFromWitnessUtxoOnly { input } => write!(
                f,
                "input {input}: amount taken from witness_utxo alone (no full previous transaction)"
            ),
            Warning::LocktimeUnchecked { lock_time } => write!(
                f,
                "height locktime {lock_time} not checked: no chain height given"
            ),
            Warning::InputAlreadyFinal { input } => {
                write!(f, "input {input} is already finalized")
            }
            Warning::ChangeOnReceiveChain { output } => {
                write!(
                    f,
                    "output {output}: change goes to a receive (chain 0) address"
                )
            }
        }
    }
}

fn serialize_coded<S: Serializer>(
    s: S,
    name: &'static str,
    code: &str,
    message: String,
) -> Result<S::Ok, S::Error> {
    let mut st = s.serialize_struct(name, 2)?;
    st.serialize_field("code", code)?;
    st.serialize_field("message", &message)?;
    st.end()
}

impl Serialize for Violation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_coded(s, "Violation", self.code(), self.to_string())
    }
}

impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_coded(s, "Warning", self.code(), self.to_string())
    }
}

/// How the policy sees an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "class")]
pub enum OutputClass {
    /// Proven change.
    Change,
    /// The registered hot wallet.
    Hot {
        /// Descriptor position in the policy.
        descriptor: usize,
        /// Child index.
        index: u32,
    },
    /// On the external allow-list.
    AllowedExternal,
    /// Claims to be ours but is not (fraudulent or odd change).
    BadChange,
    /// Not allowed.
    Unknown,
}

impl OutputClass {
    /// A short label for display.
    pub fn label(&self) -> String {
        match self {
            OutputClass::Change => "change".into(),
            OutputClass::Hot { index, .. } => format!("hot wallet #{index}"),
            OutputClass::AllowedExternal => "allowed external".into(),
            OutputClass::BadChange => "FALSE CHANGE".into(),
            OutputClass::Unknown => "UNKNOWN".into(),
        }
    }
}

/// Sums from trusted amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Sum of inputs, when every input has a usable amount.
    pub inputs_wat: Option<u64>,
    /// Sum of outputs.
    pub outputs_wat: u64,
    /// Outputs that leave the wallet (not proven change).
    pub sent_wat: u64,
    /// Proven change.
    pub change_wat: u64,
    /// Fee, when the inputs are known and cover the outputs.
    pub fee_wat: Option<u64>,
    /// Fee rate in watanabe per kvB, from the estimated final vsize.
    pub fee_rate_wat_per_kvb: Option<u64>,
    /// What leaves the wallet: sent + fee (what the operator confirms).
    pub total_spent_wat: Option<u64>,
    /// Estimated final vsize.
    pub estimated_vsize: u64,
}

impl Totals {
    /// The amount the operator types to confirm (sent + fee), when known.
    pub fn confirmation_amount(&self) -> Option<Amount> {
        self.total_spent_wat.and_then(|w| Amount::from_wat(w).ok())
    }
}

/// The result of [`crate::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Reasons to refuse (signing is impossible while any is present).
    pub violations: Vec<Violation>,
    /// Things to show first.
    pub warnings: Vec<Warning>,
    /// The class of each output, in order.
    pub outputs: Vec<OutputClass>,
    /// Amounts.
    pub totals: Totals,
    /// SHA-256 (hex) of the policy file the verdict was reached under.
    pub policy_sha256: String,
}

impl Verdict {
    /// Whether signing may proceed (no violation).
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Whether a violation with `code` is present.
    pub fn has(&self, code: &str) -> bool {
        self.violations.iter().any(|v| v.code() == code)
    }
}
