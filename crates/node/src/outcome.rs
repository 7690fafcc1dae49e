//! What a broadcast attempt means for the payout that made it.
//!
//! Invariant: no answer that could mean "the transaction is (or may be) in the mempool or the
//! chain" is ever classified as a failure. `-25 bad-txns-inputs-missingorspent` is returned both
//! for a real double spend and for a re-sent transaction that confirmed and whose outputs are all
//! spent (fixture `broadcast/c3`), so it is [`BroadcastOutcome::ConflictOrMissingInputs`]: the
//! caller must look for its own transaction in the chain before calling the payout failed.
//! Timeouts and dropped answers are [`BroadcastOutcome::Transient`] with
//! [`Delivery::Unknown`]: the node MAY have accepted the transaction; retry the same bytes.

use bitcoin::Txid;

use crate::error::{Delivery, ErrorClass, RpcError};

/// Where a transaction the node already knows is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnownState {
    /// In the mempool (`testmempoolaccept`: `txn-already-in-mempool`; `sendrawtransaction`
    /// re-sent while in the mempool just returns the txid and is reported as `Accepted`).
    InMempool,
    /// Confirmed (`-27 Transaction already in block chain`, `testmempoolaccept`:
    /// `txn-already-known`).
    InChain,
}

/// Which kind of conflict or missing input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// An input does not exist or is spent in the chain (-25 `bad-txns-inputs-missingorspent`,
    /// `missing-inputs`). Also what a confirmed tx whose outputs are all spent returns.
    MissingOrSpent,
    /// An input is spent by a mempool transaction that does not signal BIP125 (-26
    /// `txn-mempool-conflict`).
    MempoolConflict,
    /// A BIP125 replacement was refused (`insufficient fee, rejecting replacement ...`, too many
    /// replacements, new unconfirmed inputs): bump the fee more or wait.
    ReplacementRejected,
}

/// Why the node will never accept these exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// An output is below the dust threshold (`dust`).
    Dust,
    /// The fee is below the minimum relay fee (`min relay fee not met`).
    MinRelayFee,
    /// The fee rate is above `maxfeerate` (`absurdly-high-fee`, newer Core `max-fee-exceeded`).
    AbsurdlyHighFee,
    /// A signature or script fails (`mandatory-script-verify-flag-failed (...)`,
    /// `non-mandatory-script-verify-flag (...)`): a signer bug, never retry.
    BadSignature,
    /// The bytes are not a transaction (-22 `TX decode failed`).
    DecodeFailed,
    /// Standardness policy (`scriptpubkey`, `tx-size`, `version`, `bare-multisig`, ...).
    NonStandard,
    /// Consensus-invalid (`bad-txns-...` other than missing inputs, coinbase, ...).
    Invalid,
    /// The request itself was malformed (-8, -3, -1: wrong parameters; a client bug).
    InvalidRequest,
    /// A rejection this client does not know; the node's message says more.
    Other,
}

/// Why the node refuses these bytes for now but may accept them later, unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeferReason {
    /// nLockTime (or a BIP68 sequence lock) is in the future (`non-final`, `non-BIP68-final`).
    NonFinal,
    /// Too many unconfirmed ancestors or descendants (`too-long-mempool-chain`).
    TooLongMempoolChain,
    /// The mempool is full or its dynamic minimum fee is above this tx's (`mempool full`,
    /// `mempool min fee not met`).
    MempoolFull,
    /// A coinbase output spent before maturity (`bad-txns-premature-spend-of-coinbase`).
    PrematureCoinbaseSpend,
    /// The node failed internally while handling the call (code -1 with an exception's text,
    /// e.g. a database I/O error, or -32700 thrown outside the handler): says nothing about
    /// the transaction, so the same bytes are retried.
    NodeInternalError,
}

/// The class of a node rejection (a `sendrawtransaction` error or a `testmempoolaccept`
/// `reject-reason`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RejectClass {
    /// The node already has the transaction.
    AlreadyKnown(KnownState),
    /// Conflicting or missing inputs: investigate.
    Conflict(ConflictKind),
    /// Never acceptable as is.
    Permanent(RejectReason),
    /// Not acceptable yet; the same bytes may be accepted later.
    RetryLater(DeferReason),
}

/// Classifies a rejection from its JSON-RPC code (`None` for a `testmempoolaccept`
/// `reject-reason`) and message. Total: every input yields a class.
pub fn classify_rejection(code: Option<i64>, message: &str) -> RejectClass {
    use RejectClass as C;
    let m = message.trim();
    let starts = |p: &str| m.starts_with(p);
    match code {
        Some(-27) => return C::AlreadyKnown(KnownState::InChain),
        Some(-22) => return C::Permanent(RejectReason::DecodeFailed),
        Some(-8) | Some(-3) | Some(-32602) | Some(-32600) => {
            return C::Permanent(RejectReason::InvalidRequest)
        }
        // Core answers -1 both for a wrong parameter list (the method's multi-line help text,
        // or a JSON type error) and for any exception inside the handler (e.g. "Database I/O
        // error"); -32700 both for a body that is not JSON and for an exception outside the
        // handler. Only the request mistakes are permanent.
        Some(-1) => {
            return if m.contains('\n')
                || starts("JSON value is not")
                || starts("Expected type")
                || starts("Invalid parameter")
            {
                C::Permanent(RejectReason::InvalidRequest)
            } else {
                C::RetryLater(DeferReason::NodeInternalError)
            };
        }
        Some(-32700) => {
            return if m == "Parse error" || m == "Top-level object parse error" {
                C::Permanent(RejectReason::InvalidRequest)
            } else {
                C::RetryLater(DeferReason::NodeInternalError)
            };
        }
        _ => {}
    }
    if starts("txn-already-in-mempool") {
        C::AlreadyKnown(KnownState::InMempool)
    } else if starts("txn-already-known") || starts("Transaction already in block chain") {
        C::AlreadyKnown(KnownState::InChain)
    } else if starts("bad-txns-inputs-missingorspent")
        || starts("missing-inputs")
        || starts("Missing inputs")
        || starts("bad-txns-inputs-spent")
    {
        C::Conflict(ConflictKind::MissingOrSpent)
    } else if starts("txn-mempool-conflict") {
        C::Conflict(ConflictKind::MempoolConflict)
    } else if starts("insufficient fee")
        || starts("too many potential replacements")
        || starts("replacement-adds-unconfirmed")
    {
        C::Conflict(ConflictKind::ReplacementRejected)
    } else if starts("non-final") || starts("non-BIP68-final") {
        C::RetryLater(DeferReason::NonFinal)
    } else if starts("too-long-mempool-chain") {
        C::RetryLater(DeferReason::TooLongMempoolChain)
    } else if starts("mempool full") || starts("mempool min fee not met") {
        C::RetryLater(DeferReason::MempoolFull)
    } else if starts("bad-txns-premature-spend-of-coinbase") {
        C::RetryLater(DeferReason::PrematureCoinbaseSpend)
    } else if m == "dust" || starts("dust,") {
        C::Permanent(RejectReason::Dust)
    } else if starts("min relay fee not met") {
        C::Permanent(RejectReason::MinRelayFee)
    } else if starts("absurdly-high-fee")
        || starts("max-fee-exceeded")
        || starts("Fee exceeds maximum")
    {
        C::Permanent(RejectReason::AbsurdlyHighFee)
    } else if starts("mandatory-script-verify-flag") || starts("non-mandatory-script-verify-flag") {
        C::Permanent(RejectReason::BadSignature)
    } else if starts("TX decode failed") {
        C::Permanent(RejectReason::DecodeFailed)
    } else if [
        "scriptpubkey",
        "tx-size",
        "version",
        "multi-op-return",
        "scriptsig-size",
        "scriptsig-not-pushonly",
        "bare-multisig",
        "bad-txns-nonstandard-inputs",
        "bad-witness-nonstandard",
        "tx-size-small",
        "non-standard",
    ]
    .iter()
    .any(|p| starts(p))
    {
        C::Permanent(RejectReason::NonStandard)
    } else if starts("bad-txns-") || starts("bad-tx") || starts("coinbase") || starts("bad-witness")
    {
        C::Permanent(RejectReason::Invalid)
    } else if code == Some(-25) {
        // -25 is RPC_VERIFY_ERROR; in v0.20.3 it carries missing inputs. An unknown -25 message
        // is treated the same way (investigate), never as a final failure.
        C::Conflict(ConflictKind::MissingOrSpent)
    } else {
        C::Permanent(RejectReason::Other)
    }
}

/// What a `sendrawtransaction` attempt means; the payout machinery acts on this.
#[derive(Debug)]
#[non_exhaustive]
pub enum BroadcastOutcome {
    /// The node accepted the transaction (or already had it in its mempool: v0.20.3 answers a
    /// re-send with the txid). Success.
    Accepted {
        /// The txid the node returned.
        txid: Txid,
    },
    /// The node already has it (-27: confirmed). Success: do not rebroadcast.
    AlreadyKnown {
        /// Where it is.
        state: KnownState,
    },
    /// Conflicting or missing inputs. NOT a failure by itself: our own earlier transaction may
    /// have confirmed (and its outputs been spent), so look it up in the chain first.
    ConflictOrMissingInputs {
        /// Which kind.
        kind: ConflictKind,
        /// The node's message, verbatim.
        message: String,
    },
    /// These bytes will never be accepted: alert, freeze the payout.
    PermanentlyRejected {
        /// Why.
        reason: RejectReason,
        /// The node's message, verbatim.
        message: String,
    },
    /// Not accepted now, but the same bytes may be accepted later (non-final, too long a mempool
    /// chain, mempool full): retry the same bytes later.
    RetryLater {
        /// Why.
        reason: DeferReason,
        /// The node's message, verbatim.
        message: String,
    },
    /// No verdict: timeout, connection refused or reset, HTTP 503, -28 warming up, a dropped or
    /// garbled answer. Retry the SAME bytes with backoff. If `error.may_have_executed()`, the
    /// node MAY already have accepted the transaction.
    Transient {
        /// Whether the node may have executed the request.
        delivery: Delivery,
        /// The underlying error.
        error: RpcError,
    },
    /// The setup is wrong (401, wrong path, wrong chain, unknown method): stop and alert.
    Configuration {
        /// The underlying error.
        error: RpcError,
    },
}

impl BroadcastOutcome {
    /// Classifies the result of a `sendrawtransaction` call. `expected_txid` is the txid of the
    /// bytes sent, when known: a success answer naming another txid is treated as a garbled
    /// answer (transient, outcome unknown).
    pub fn classify(result: Result<Txid, RpcError>, expected_txid: Option<Txid>) -> Self {
        match result {
            Ok(txid) => match expected_txid {
                Some(expected) if expected != txid => BroadcastOutcome::Transient {
                    delivery: Delivery::Unknown,
                    error: RpcError::InvalidResponse {
                        method: "sendrawtransaction".into(),
                        http_status: Some(200),
                        detail: format!("node answered txid {txid} for transaction {expected}"),
                    },
                },
                _ => BroadcastOutcome::Accepted { txid },
            },
            Err(error) => Self::from_error(error),
        }
    }

    /// Classifies a failed `sendrawtransaction` call.
    pub fn from_error(error: RpcError) -> Self {
        match error.class() {
            ErrorClass::Transient { delivery } => BroadcastOutcome::Transient { delivery, error },
            ErrorClass::Configuration => BroadcastOutcome::Configuration { error },
            ErrorClass::Rejected => {
                let code = error.node_code();
                let message = error.node_message().unwrap_or_default().to_string();
                match classify_rejection(code, &message) {
                    RejectClass::AlreadyKnown(state) => BroadcastOutcome::AlreadyKnown { state },
                    RejectClass::Conflict(kind) => {
                        BroadcastOutcome::ConflictOrMissingInputs { kind, message }
                    }
                    RejectClass::Permanent(reason) => {
                        BroadcastOutcome::PermanentlyRejected { reason, message }
                    }
                    RejectClass::RetryLater(reason) => {
                        BroadcastOutcome::RetryLater { reason, message }
                    }
                }
            }
        }
    }

    /// The transaction is in the mempool or the chain (accepted or already known).
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            BroadcastOutcome::Accepted { .. } | BroadcastOutcome::AlreadyKnown { .. }
        )
    }

    /// Sending the same bytes again later is the right action (transient, or retry-later).
    pub fn should_retry_same_bytes(&self) -> bool {
        matches!(
            self,
            BroadcastOutcome::Transient { .. } | BroadcastOutcome::RetryLater { .. }
        )
    }

    /// Re-sending these exact bytes is harmless (always true for a broadcast: the node answers a
    /// duplicate with the txid, -27 or -25); kept for symmetry with [`RpcError::is_retry_safe`].
    pub fn is_retry_safe(&self) -> bool {
        true
    }

    /// The transaction may be in the mempool or chain although this attempt did not say so:
    /// the caller must check (conflict/missing inputs, or an unknown-delivery transient).
    pub fn needs_investigation(&self) -> bool {
        match self {
            BroadcastOutcome::ConflictOrMissingInputs { .. } => true,
            BroadcastOutcome::Transient { delivery, .. } => *delivery == Delivery::Unknown,
            _ => false,
        }
    }

    /// The only outcome that proves the payout failed for good (these bytes are invalid).
    pub fn is_permanent_failure(&self) -> bool {
        matches!(self, BroadcastOutcome::PermanentlyRejected { .. })
    }

    /// The setup is wrong; stop.
    pub fn is_configuration(&self) -> bool {
        matches!(self, BroadcastOutcome::Configuration { .. })
    }

    /// A short stable name of the class (for logs and metrics).
    pub fn class_name(&self) -> &'static str {
        match self {
            BroadcastOutcome::Accepted { .. } => "accepted",
            BroadcastOutcome::AlreadyKnown { .. } => "already_known",
            BroadcastOutcome::ConflictOrMissingInputs { .. } => "conflict_or_missing_inputs",
            BroadcastOutcome::PermanentlyRejected { .. } => "permanently_rejected",
            BroadcastOutcome::RetryLater { .. } => "retry_later",
            BroadcastOutcome::Transient { .. } => "transient",
            BroadcastOutcome::Configuration { .. } => "configuration",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_table() {
        use RejectClass as C;
        let cases: &[(&str, Option<i64>, &str, RejectClass)] = &[
            ("c1 already in chain", Some(-27), "Transaction already in block chain", C::AlreadyKnown(KnownState::InChain)),
            ("b2 tma in mempool", None, "txn-already-in-mempool", C::AlreadyKnown(KnownState::InMempool)),
            ("c2 tma known", None, "txn-already-known", C::AlreadyKnown(KnownState::InChain)),
            ("c3/f1 missing", Some(-25), "bad-txns-inputs-missingorspent", C::Conflict(ConflictKind::MissingOrSpent)),
            ("f2 tma missing", None, "missing-inputs", C::Conflict(ConflictKind::MissingOrSpent)),
            ("d3 conflict", Some(-26), "txn-mempool-conflict", C::Conflict(ConflictKind::MempoolConflict)),
            ("e3 rbf fee", Some(-26), "insufficient fee, rejecting replacement 76; new feerate 0.1 MONA/kB <= old feerate 0.2 MONA/kB", C::Conflict(ConflictKind::ReplacementRejected)),
            ("g1 dust", Some(-26), "dust", C::Permanent(RejectReason::Dust)),
            ("h1 min relay", Some(-26), "min relay fee not met, 100 < 110", C::Permanent(RejectReason::MinRelayFee)),
            ("j2 high fee", Some(-26), "absurdly-high-fee, 50000000 > 1100000", C::Permanent(RejectReason::AbsurdlyHighFee)),
            ("core 0.21 high fee", Some(-25), "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)", C::Permanent(RejectReason::AbsurdlyHighFee)),
            ("i1 witness sig", Some(-26), "non-mandatory-script-verify-flag (Signature must be zero for failed CHECK(MULTI)SIG operation)", C::Permanent(RejectReason::BadSignature)),
            ("i3 legacy sig", Some(-26), "mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)", C::Permanent(RejectReason::BadSignature)),
            ("l1 decode", Some(-22), "TX decode failed. Make sure the tx has at least one input.", C::Permanent(RejectReason::DecodeFailed)),
            ("j4 bool", Some(-8), "Second argument must be numeric (maxfeerate) and no longer supports a boolean.", C::Permanent(RejectReason::InvalidRequest)),
            ("k1 non-final", Some(-26), "non-final", C::RetryLater(DeferReason::NonFinal)),
            ("05 help text", Some(-1), "getblockcount\n\nReturns the height of the most-work fully-validated chain.", C::Permanent(RejectReason::InvalidRequest)),
            ("07 json type", Some(-1), "JSON value is not an integer as expected", C::Permanent(RejectReason::InvalidRequest)),
            ("node exception", Some(-1), "Database I/O error", C::RetryLater(DeferReason::NodeInternalError)),
            ("22 parse error", Some(-32700), "Parse error", C::Permanent(RejectReason::InvalidRequest)),
            ("exception outside handler", Some(-32700), "std::bad_alloc", C::RetryLater(DeferReason::NodeInternalError)),
            ("n2 chain", Some(-26), "too-long-mempool-chain, too many unconfirmed ancestors [limit: 25]", C::RetryLater(DeferReason::TooLongMempoolChain)),
            ("mempool min fee", Some(-26), "mempool min fee not met, 1 < 2", C::RetryLater(DeferReason::MempoolFull)),
            ("nonstandard", Some(-26), "scriptpubkey", C::Permanent(RejectReason::NonStandard)),
            ("consensus", Some(-26), "bad-txns-in-belowout, value in (0.1) < value out (0.2)", C::Permanent(RejectReason::Invalid)),
            ("unknown", Some(-26), "something new", C::Permanent(RejectReason::Other)),
        ];
        for (name, code, msg, expected) in cases {
            assert_eq!(&classify_rejection(*code, msg), expected, "{name}");
        }
    }

    #[test]
    fn mismatched_txid_is_not_success() {
        use bitcoin::hashes::Hash;
        let a = Txid::from_byte_array([1; 32]);
        let b = Txid::from_byte_array([2; 32]);
        let o = BroadcastOutcome::classify(Ok(a), Some(b));
        assert!(!o.is_success());
        assert!(o.needs_investigation());
        assert!(BroadcastOutcome::classify(Ok(a), Some(a)).is_success());
    }
}
