//! Pure signing/payout policy checks shared by the cold signer and the hot node's pre-flight:
//! `evaluate(summary, policy, now) -> Verdict { violations, warnings }`.
//!
//! Invariant: nothing in this crate reads a clock, a file, the network or a key. The caller hands
//! in the policy file's bytes (their SHA-256 is carried on every [`Verdict`]), the transaction
//! summary the wallet's PSBT analysis produced, and the time/height to judge locktimes against.
//! A verdict with any violation must never lead to a signature; warnings are shown first and do
//! not block.

mod evaluate;
mod file;
mod summary;
mod verdict;

pub use evaluate::{check_envelope, evaluate, Now};
pub use file::{
    sighash_name, HotMatch, Limits, LocktimeRules, Policy, PolicyError, DEFAULT_MAX_PSBT_BYTES,
    HARD_MAX_INPUTS, HARD_MAX_OUTPUTS, HARD_MAX_PSBT_BYTES, POLICY_VERSION,
};
pub use summary::{
    Envelope, InputOwnership, InputSummary, OutputOwnership, OutputSummary, TxSummary,
    UtxoEvidence, SEQUENCE_FINAL,
};
pub use verdict::{OutputClass, Totals, Verdict, Violation, Warning};
