//! The signing pipeline as types: [`Parsed`] -> [`Reviewed`] -> [`Approved`] -> [`Signed`].
//!
//! Invariant: a signature can only be produced by [`Approved::sign`]; an [`Approved`] can only be
//! made by [`Reviewed::approve`] from a review whose verdict has no violation, with an explicit
//! [`Confirmation`]; a [`Reviewed`] can only be made from a [`Parsed`] by running the analysis and
//! the policy. Signing first re-checks that the bytes in hand hash to the bytes reviewed and that
//! the keys are the ones the review proved ownership with.
//!
//! ```compile_fail
//! // An unreviewed PSBT cannot be signed: `Approved` has no public constructor.
//! let approved = mona_wallet::psbt::Approved { };
//! ```

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::psbt::Psbt;
use bitcoin::Transaction;
use mona::Amount;
use mona_policy::{check_envelope, evaluate, Envelope, Now, Policy, TxSummary, Verdict, Violation};

use crate::finalize;
use crate::psbt::analyze::{analyze, Analysis};
use crate::psbt::envelope::{scan, EnvelopeError};
use crate::psbt::keys::{OurKeys, SigningKeys};
use crate::sign::{sign_owned, SignInputError};

/// Why bytes could not become a [`Parsed`] PSBT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParsePsbtError {
    /// The envelope could not be read.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The envelope breaks the policy's caps or version rule: refused before parsing.
    #[error("PSBT refused before parsing: {}", .violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Refused {
        /// The violations (size, version, counts).
        violations: Vec<Violation>,
        /// SHA-256 of the policy file.
        policy_sha256: String,
    },
    /// The full parser refused it.
    #[error("malformed PSBT: {0}")]
    Malformed(String),
}

/// A PSBT parsed from bytes, bound to the SHA-256 of those bytes.
#[derive(Debug, Clone)]
pub struct Parsed {
    bytes: Vec<u8>,
    sha256: sha256::Hash,
    envelope: Envelope,
    psbt: Psbt,
}

impl Parsed {
    /// Pre-scans `bytes` against the policy's caps, then parses them.
    pub fn parse(bytes: Vec<u8>, policy: &Policy) -> Result<Parsed, ParsePsbtError> {
        let sha256 = sha256::Hash::hash(&bytes);
        let refuse = |violations| ParsePsbtError::Refused {
            violations,
            policy_sha256: policy.sha256_hex(),
        };
        if bytes.len() as u64 > policy.limits.max_psbt_bytes {
            let too_large = Envelope {
                psbt_bytes: bytes.len() as u64,
                psbt_version: 0,
                input_count: 0,
                output_count: 0,
            };
            return Err(refuse(check_envelope(&too_large, policy)));
        }
        let envelope = scan(&bytes)?;
        let violations = check_envelope(&envelope, policy);
        if !violations.is_empty() {
            return Err(refuse(violations));
        }
        let psbt =
            Psbt::deserialize(&bytes).map_err(|e| ParsePsbtError::Malformed(e.to_string()))?;
        Ok(Parsed {
            bytes,
            sha256,
            envelope,
            psbt,
        })
    }

    /// The bytes as read.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Their SHA-256.
    pub fn sha256(&self) -> sha256::Hash {
        self.sha256
    }

    /// The parsed PSBT.
    pub fn psbt(&self) -> &Psbt {
        &self.psbt
    }

    /// The envelope pre-scan.
    pub fn envelope(&self) -> Envelope {
        self.envelope
    }

    /// Analyses the PSBT with `keys` and judges it under `policy` at `now`.
    pub fn review(self, keys: &OurKeys, policy: &Policy, now: Now) -> Reviewed {
        let analysis = analyze(&self.psbt, self.envelope, keys);
        let verdict = evaluate(&analysis.summary, policy, now);
        Reviewed {
            parsed: self,
            analysis,
            verdict,
            keys: keys.clone(),
        }
    }
}

/// A PSBT with its summary and verdict: what the operator is shown.
#[derive(Debug, Clone)]
pub struct Reviewed {
    parsed: Parsed,
    analysis: Analysis,
    verdict: Verdict,
    keys: OurKeys,
}

/// How the operator confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation<'a> {
    /// The operator typed the total amount (sent + fee) in MONA.
    TypedTotal(&'a str),
    /// A script passed `--yes` (violations still refuse).
    Unattended,
}

/// Why a review could not be approved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApproveError {
    /// The verdict has violations; nothing overrides them.
    #[error("refused: {count} policy violation(s)")]
    Violations {
        /// How many.
        count: usize,
    },
    /// The typed amount is not the total.
    #[error("the typed amount '{typed}' is not the total {expected} MONA; nothing was signed")]
    TotalMismatch {
        /// What was typed.
        typed: String,
        /// The total.
        expected: String,
    },
    /// The total is unknown (no trusted input amounts), so it cannot be confirmed by typing.
    #[error("the total is unknown, so it cannot be confirmed")]
    TotalUnknown,
}

impl Reviewed {
    /// The analysis result.
    pub fn summary(&self) -> &TxSummary {
        &self.analysis.summary
    }

    /// The policy's verdict.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// SHA-256 of the reviewed bytes.
    pub fn sha256(&self) -> sha256::Hash {
        self.parsed.sha256
    }

    /// The reviewed PSBT.
    pub fn psbt(&self) -> &Psbt {
        &self.parsed.psbt
    }

    /// Approves the review: only with no violation, and, when the operator typed the total,
    /// only if it equals the total exactly.
    pub fn approve(self, confirmation: Confirmation<'_>) -> Result<Approved, ApproveError> {
        if !self.verdict.violations.is_empty() {
            return Err(ApproveError::Violations {
                count: self.verdict.violations.len(),
            });
        }
        if let Confirmation::TypedTotal(typed) = confirmation {
            let total = self
                .verdict
                .totals
                .confirmation_amount()
                .ok_or(ApproveError::TotalUnknown)?;
            let typed = typed.trim();
            let mismatch = || ApproveError::TotalMismatch {
                typed: typed.chars().take(40).collect(),
                expected: total.to_mona_string(),
            };
            let typed_amount = Amount::from_mona_str(typed).map_err(|_| mismatch())?;
            if typed_amount != total {
                return Err(mismatch());
            }
        }
        Ok(Approved { reviewed: self })
    }
}

/// A review the operator approved; the only thing that can be signed.
#[derive(Debug)]
pub struct Approved {
    reviewed: Reviewed,
}

/// Why signing stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The bytes in hand are not the bytes reviewed.
    #[error("the PSBT changed since it was reviewed (sha256 {reviewed} then, {now} now); nothing was signed")]
    BytesChanged {
        /// Hash reviewed.
        reviewed: String,
        /// Hash now.
        now: String,
    },
    /// Other keys than the ones the review used.
    #[error("the signing keys are not the keys the PSBT was reviewed with")]
    OtherKeys,
    /// An input failed to sign.
    #[error(transparent)]
    Input(#[from] SignInputError),
}

impl Approved {
    /// The review that was approved.
    pub fn reviewed(&self) -> &Reviewed {
        &self.reviewed
    }

    /// Signs the owned inputs after re-checking that `bytes_now` (the file re-read just before
    /// signing) hash to the reviewed bytes; finalizes them like Core and extracts the transaction
    /// when every input is final.
    pub fn sign(self, keys: &SigningKeys, bytes_now: &[u8]) -> Result<Signed, SignError> {
        let now = sha256::Hash::hash(bytes_now);
        if now != self.reviewed.parsed.sha256 {
            return Err(SignError::BytesChanged {
                reviewed: self.reviewed.parsed.sha256.to_string(),
                now: now.to_string(),
            });
        }
        if *keys.public() != self.reviewed.keys {
            return Err(SignError::OtherKeys);
        }
        let Reviewed {
            parsed, analysis, ..
        } = self.reviewed;
        let signatures = sign_owned(&parsed.psbt, &analysis.owned, keys)?;
        let mut psbt = parsed.psbt;
        finalize::finalize_inputs(&mut psbt, &signatures);
        let final_tx = finalize::extract(&psbt);
        Ok(Signed {
            signed_inputs: signatures.iter().map(|s| s.input).collect(),
            psbt,
            final_tx,
            reviewed_sha256: parsed.sha256,
        })
    }
}

/// The signed PSBT and, when complete, the final transaction.
#[derive(Debug, Clone)]
pub struct Signed {
    psbt: Psbt,
    signed_inputs: Vec<usize>,
    final_tx: Option<Transaction>,
    reviewed_sha256: sha256::Hash,
}

impl Signed {
    /// The signed PSBT.
    pub fn psbt(&self) -> &Psbt {
        &self.psbt
    }

    /// Its BIP174 binary serialization (`NAME-signed.psbt`).
    pub fn psbt_bytes(&self) -> Vec<u8> {
        self.psbt.serialize()
    }

    /// The inputs this signer signed.
    pub fn signed_inputs(&self) -> &[usize] {
        &self.signed_inputs
    }

    /// Whether every input is final.
    pub fn is_complete(&self) -> bool {
        self.final_tx.is_some()
    }

    /// The final network transaction, when complete.
    pub fn final_tx(&self) -> Option<&Transaction> {
        self.final_tx.as_ref()
    }

    /// The final transaction as hex (`NAME-final.txn`), when complete.
    pub fn final_tx_hex(&self) -> Option<String> {
        self.final_tx.as_ref().map(serialize_hex)
    }

    /// SHA-256 of the bytes that were reviewed and signed.
    pub fn reviewed_sha256(&self) -> sha256::Hash {
        self.reviewed_sha256
    }
}
