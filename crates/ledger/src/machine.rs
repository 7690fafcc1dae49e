//! The payout state machine of ARCHITECTURE.md, as pure code (no I/O, LDK style).
//!
//! ```text
//!  requested --(coins selected, tx built+signed, bytes+txid committed)--> signed
//!  signed --(first send attempted, whatever the answer)--> broadcast
//!  broadcast --(seen in a block)--> confirmed(n) --(n >= finality depth)--> final
//!  broadcast --(fee bump: new tx spending >= 1 same input, committed first)--> replaced_by(txid)
//!  requested --(policy refuses before any tx exists)--> rejected     (the only failure exit)
//!  any --(conflicting spend the ledger did not make)--> stuck + system frozen
//! ```
//!
//! Module invariant: once a [`Payout`] carries a transaction (`signed` or later) it carries that
//! same transaction, byte for byte, forever; no event leads back to `requested` or `rejected`.
//! A fee bump does not change a payout's bytes: the old payout goes to `replaced_by(txid)` (its
//! bytes stay recorded) and the replacement is a new payout born `signed`. Unknown outcomes
//! (timeouts, 503, resets) are never failures: they keep the payout `broadcast` and ask for the
//! same bytes to be sent again.
//!
//! Edges beyond the diagram, each keeping a transaction:
//! - `confirmed --(block disconnected)--> broadcast` (reorg: same bytes re-sent, never rebuilt);
//!   `final` too, with an alert, if a reorg ever goes deeper than the finality depth;
//! - `replaced_by` / `stuck` / `signed` `--(seen in a block)--> confirmed`: the chain is the
//!   truth; if the original of a fee bump confirms, the replacement is then superseded
//!   (`signed`/`broadcast`/`stuck --(replaced)--> replaced_by(winner)`);
//! - `stuck --(operator resend)--> broadcast` (same bytes).
//!
//! A conflicting spend is refused for a `confirmed`/`final` payout (its inputs are spent by
//! itself: a late or mistaken investigation must not undo a confirmation) and when the named
//! spender is the payout itself.
//!
//! The daemon's loop: the store applies the event and commits the new state in one database
//! transaction, and only then hands back the [`Effect`]s for the daemon to perform.

use bitcoin::{BlockHash, Txid};
use std::fmt;

/// The state tag of a payout (see the module diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PayoutState {
    /// Queued; no transaction exists yet.
    Requested,
    /// Refused by policy before any transaction existed (terminal, the only failure exit).
    Rejected,
    /// Transaction built, signed and committed; not yet sent.
    Signed,
    /// At least one send was attempted (whatever its answer); waiting for the chain.
    Broadcast,
    /// In a block of the active chain, fewer than the finality depth confirmations.
    Confirmed,
    /// At least the finality depth confirmations.
    Final,
    /// Superseded by another of our transactions spending at least one same input.
    ReplacedBy,
    /// Needs an operator: permanently invalid, or a conflicting spend we did not make.
    Stuck,
}

impl PayoutState {
    /// Every state, for tables and tests.
    pub const ALL: [PayoutState; 8] = [
        PayoutState::Requested,
        PayoutState::Rejected,
        PayoutState::Signed,
        PayoutState::Broadcast,
        PayoutState::Confirmed,
        PayoutState::Final,
        PayoutState::ReplacedBy,
        PayoutState::Stuck,
    ];

    /// Stable lower-case name (used in the database, the audit log and the API).
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutState::Requested => "requested",
            PayoutState::Rejected => "rejected",
            PayoutState::Signed => "signed",
            PayoutState::Broadcast => "broadcast",
            PayoutState::Confirmed => "confirmed",
            PayoutState::Final => "final",
            PayoutState::ReplacedBy => "replaced_by",
            PayoutState::Stuck => "stuck",
        }
    }

    /// Parses [`PayoutState::as_str`] output.
    pub fn parse(s: &str) -> Option<PayoutState> {
        PayoutState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether a payout in this state carries a transaction.
    pub fn has_tx(self) -> bool {
        !matches!(self, PayoutState::Requested | PayoutState::Rejected)
    }

    /// Whether the payout still waits for the chain (its bytes must be (re-)sent on restart).
    pub fn needs_send(self) -> bool {
        matches!(self, PayoutState::Signed | PayoutState::Broadcast)
    }
}

impl fmt::Display for PayoutState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every allowed `(from, to)` pair (self-loops included). Anything else is a bug.
pub const ALLOWED_TRANSITIONS: &[(PayoutState, PayoutState)] = {
    use PayoutState::*;
    &[
        (Requested, Signed),
        (Requested, Rejected),
        (Signed, Broadcast),
        (Signed, Confirmed),
        (Signed, ReplacedBy),
        (Signed, Stuck),
        (Broadcast, Broadcast),
        (Broadcast, Confirmed),
        (Broadcast, ReplacedBy),
        (Broadcast, Stuck),
        (Confirmed, Confirmed),
        (Confirmed, Final),
        (Confirmed, Broadcast),
        (Final, Final),
        (Final, Broadcast),
        (ReplacedBy, ReplacedBy),
        (ReplacedBy, Confirmed),
        (ReplacedBy, Stuck),
        (Stuck, Stuck),
        (Stuck, Confirmed),
        (Stuck, Broadcast),
        (Stuck, ReplacedBy),
    ]
};

/// A signed transaction as committed: its txid and exact consensus bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SignedTx {
    /// The transaction id (of `raw_tx`).
    pub txid: Txid,
    /// Consensus-serialized bytes, sent byte-identical on every attempt.
    pub raw_tx: Vec<u8>,
}

impl fmt::Debug for SignedTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedTx")
            .field("txid", &self.txid)
            .field("raw_tx_len", &self.raw_tx.len())
            .finish()
    }
}

/// Where a payout transaction was seen in the active chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Confirmation {
    /// Height of the block containing the transaction.
    pub height: u32,
    /// Hash of that block.
    pub block_hash: BlockHash,
    /// `tip_height - height + 1` at the last update.
    pub confirmations: u32,
}

/// The machine's state for one payout.
///
/// Invariants (checked by [`Payout::check`]): `tx` is `Some` iff `state.has_tx()`;
/// `confirmation` is `Some` iff the state is `confirmed` or `final`; `replaced_by` is `Some` iff
/// the state is `replaced_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// The state tag.
    pub state: PayoutState,
    /// The committed transaction (from `signed` on; never changes afterwards).
    pub tx: Option<SignedTx>,
    /// How many sends were attempted (any answer, including none).
    pub send_attempts: u32,
    /// Block position while `confirmed`/`final`.
    pub confirmation: Option<Confirmation>,
    /// The transaction that superseded this one, while `replaced_by`.
    pub replaced_by: Option<Txid>,
    /// Why it was rejected or is stuck (empty otherwise).
    pub reason: Option<String>,
}

/// What the node answered to one `sendrawtransaction` (the daemon classifies the answer).
///
/// Suggested mapping of monacoind 0.20.3 answers (see `fixtures/monacoind-0.20.3-regtest/broadcast`):
/// HTTP 200 + txid -> `Accepted` (also for a resend while in the mempool); -27 `Transaction
/// already in block chain` -> `AlreadyKnown`; -26 `txn-mempool-conflict`, `insufficient fee` of
/// an RBF attempt -> `Conflict`; -25 `bad-txns-inputs-missingorspent` / `Missing inputs` ->
/// `MissingInputs`; -26 `too-long-mempool-chain`, `mempool min fee not met` and any timeout,
/// HTTP 503, connection reset or -28 warm-up -> `Transient`; -26/-25 script or consensus
/// failures (`mandatory-script-verify-flag-failed`, `dust`, `non-final`, `bad-txns-*`) and
/// -22 decode errors -> `Invalid` (our own bytes are wrong: an operator must look).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendOutcome {
    /// Accepted into the mempool.
    Accepted,
    /// Already in the mempool or in the chain (code -27 and friends): same as accepted.
    AlreadyKnown,
    /// Conflicts with a mempool or chain spend (e.g. `txn-mempool-conflict`, `bad-txns-inputs-spent`).
    Conflict {
        /// The node's message.
        detail: String,
    },
    /// `bad-txns-inputs-missingorspent` / missing inputs: maybe our own earlier tx confirmed.
    MissingInputs {
        /// The node's message.
        detail: String,
    },
    /// Permanently invalid (bad signature, non-standard, dust...): needs an operator.
    Invalid {
        /// The node's message.
        reason: String,
    },
    /// No usable answer: timeout, 503, reset, work queue full, node busy. Never a failure.
    Transient {
        /// What happened.
        reason: String,
    },
}

impl SendOutcome {
    /// Stable short name for the store and the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            SendOutcome::Accepted => "accepted",
            SendOutcome::AlreadyKnown => "already_known",
            SendOutcome::Conflict { .. } => "conflict",
            SendOutcome::MissingInputs { .. } => "missing_inputs",
            SendOutcome::Invalid { .. } => "invalid",
            SendOutcome::Transient { .. } => "transient",
        }
    }

    /// The node's message, if any.
    pub fn detail(&self) -> &str {
        match self {
            SendOutcome::Accepted | SendOutcome::AlreadyKnown => "",
            SendOutcome::Conflict { detail } | SendOutcome::MissingInputs { detail } => detail,
            SendOutcome::Invalid { reason } | SendOutcome::Transient { reason } => reason,
        }
    }
}

/// Something that happened to a payout.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayoutEvent {
    /// Coins selected, transaction built and signed, bytes and txid committed.
    Committed {
        /// The signed transaction.
        tx: SignedTx,
    },
    /// Policy refused the request before any transaction existed.
    PolicyRefused {
        /// Why.
        reason: String,
    },
    /// A send was attempted; this is its answer (or lack of one).
    SendAttempted {
        /// The classified answer.
        outcome: SendOutcome,
    },
    /// The transaction is in a block of the active chain.
    SeenInBlock {
        /// Height of that block.
        height: u32,
        /// Hash of that block.
        block_hash: BlockHash,
        /// Current tip height (>= `height`).
        tip_height: u32,
    },
    /// The tip moved: recount confirmations.
    TipChanged {
        /// Current tip height.
        tip_height: u32,
        /// Confirmations at which a payout is final (>= 1).
        finality_depth: u32,
    },
    /// The block with this hash left the active chain (reorg).
    BlockDisconnected {
        /// The disconnected block.
        block_hash: BlockHash,
    },
    /// Another of our transactions, spending at least one same input, supersedes this one
    /// (a fee bump committed first, or the other one confirmed).
    Replaced {
        /// The superseding transaction.
        by: Txid,
    },
    /// A spend of one of our inputs that the ledger did not make (not allowed once the payout is
    /// confirmed: then its inputs are spent by itself).
    ConflictingSpend {
        /// The foreign transaction, when known.
        spending_txid: Option<Txid>,
    },
    /// An operator asks to send a stuck payout's same bytes again.
    OperatorResend,
}

impl PayoutEvent {
    /// Stable short name for the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            PayoutEvent::Committed { .. } => "committed",
            PayoutEvent::PolicyRefused { .. } => "policy_refused",
            PayoutEvent::SendAttempted { .. } => "send_attempted",
            PayoutEvent::SeenInBlock { .. } => "seen_in_block",
            PayoutEvent::TipChanged { .. } => "tip_changed",
            PayoutEvent::BlockDisconnected { .. } => "block_disconnected",
            PayoutEvent::Replaced { .. } => "replaced",
            PayoutEvent::ConflictingSpend { .. } => "conflicting_spend",
            PayoutEvent::OperatorResend => "operator_resend",
        }
    }
}

/// Something the daemon must do after the new state is committed.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Effect {
    /// Send exactly these bytes with `sendrawtransaction`; `attempt` 0 means now, otherwise wait
    /// [`backoff_ms`]`(attempt)` first. Report the answer with `record_send_attempt`.
    Broadcast {
        /// The transaction id.
        txid: Txid,
        /// The committed bytes (never rebuilt).
        raw_tx: Vec<u8>,
        /// Number of earlier attempts.
        attempt: u32,
    },
    /// The node reported a conflict or missing inputs: find out who spent the inputs (maybe our
    /// own earlier transaction confirmed). Never treat it as a failure.
    Investigate {
        /// Our transaction.
        txid: Txid,
        /// The node's message.
        detail: String,
    },
    /// Tell an operator.
    Alert {
        /// The payout concerned, if any.
        txid: Option<Txid>,
        /// What happened.
        message: String,
    },
    /// All payouts are frozen. Already persisted by the store (same DB transaction) when a store
    /// method returns it; the daemon raises the alarm and answers 503.
    FreezeSystem {
        /// Why.
        reason: String,
    },
}

impl fmt::Debug for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::Broadcast {
                txid,
                raw_tx,
                attempt,
            } => f
                .debug_struct("Broadcast")
                .field("txid", txid)
                .field("raw_tx_len", &raw_tx.len())
                .field("attempt", attempt)
                .finish(),
            Effect::Investigate { txid, detail } => f
                .debug_struct("Investigate")
                .field("txid", txid)
                .field("detail", detail)
                .finish(),
            Effect::Alert { txid, message } => f
                .debug_struct("Alert")
                .field("txid", txid)
                .field("message", message)
                .finish(),
            Effect::FreezeSystem { reason } => f
                .debug_struct("FreezeSystem")
                .field("reason", reason)
                .finish(),
        }
    }
}

/// Suggested wait before re-sending attempt number `attempt` (exponential, 1 s to 5 min).
pub fn backoff_ms(attempt: u32) -> u64 {
    if attempt == 0 {
        return 0;
    }
    let exp = attempt.saturating_sub(1).min(20);
    (1000u64 << exp).min(300_000)
}

/// Why an event cannot apply to a payout in its current state. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    /// The event is not allowed in this state.
    #[error("event {event} is not allowed in state {state}")]
    NotAllowed {
        /// The current state.
        state: PayoutState,
        /// The event's kind.
        event: &'static str,
    },
    /// The payout has no transaction yet, so the event cannot concern it.
    #[error("event {event} needs a transaction but the payout is {state}")]
    NoTransaction {
        /// The current state.
        state: PayoutState,
        /// The event's kind.
        event: &'static str,
    },
    /// The event names a block the payout is not in, or a transaction that is not its own.
    #[error("event {event} does not match the payout: {detail}")]
    Mismatch {
        /// The event's kind.
        event: &'static str,
        /// What did not match.
        detail: String,
    },
    /// The event carries an impossible value (finality depth 0, tip below the block...).
    #[error("event {event} is malformed: {detail}")]
    Malformed {
        /// The event's kind.
        event: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The payout value itself breaks the machine's invariants (corrupt state).
    #[error("payout state is inconsistent: {0}")]
    Inconsistent(String),
}

impl Payout {
    /// A new payout in `requested`.
    pub fn requested() -> Payout {
        Payout {
            state: PayoutState::Requested,
            tx: None,
            send_attempts: 0,
            confirmation: None,
            replaced_by: None,
            reason: None,
        }
    }

    /// Checks the field invariants documented on [`Payout`].
    pub fn check(&self) -> Result<(), TransitionError> {
        if self.tx.is_some() != self.state.has_tx() {
            return Err(TransitionError::Inconsistent(format!(
                "state {} with tx present = {}",
                self.state,
                self.tx.is_some()
            )));
        }
        let confirmed = matches!(self.state, PayoutState::Confirmed | PayoutState::Final);
        if self.confirmation.is_some() != confirmed {
            return Err(TransitionError::Inconsistent(format!(
                "state {} with confirmation present = {}",
                self.state,
                self.confirmation.is_some()
            )));
        }
        if self.replaced_by.is_some() != (self.state == PayoutState::ReplacedBy) {
            return Err(TransitionError::Inconsistent(format!(
                "state {} with replaced_by present = {}",
                self.state,
                self.replaced_by.is_some()
            )));
        }
        Ok(())
    }

    fn txid(&self) -> Option<Txid> {
        self.tx.as_ref().map(|t| t.txid)
    }

    fn rebroadcast(&self) -> Vec<Effect> {
        match &self.tx {
            Some(tx) => vec![Effect::Broadcast {
                txid: tx.txid,
                raw_tx: tx.raw_tx.clone(),
                attempt: self.send_attempts,
            }],
            None => Vec::new(),
        }
    }
}

/// Applies `event` to `payout`: the new state and the effects to perform once it is committed.
///
/// Pure: no I/O, no clock. On `Err` nothing changed. The result always satisfies
/// [`Payout::check`], keeps the same transaction once one exists, and is an edge listed in
/// [`ALLOWED_TRANSITIONS`].
pub fn apply(
    payout: &Payout,
    event: &PayoutEvent,
) -> Result<(Payout, Vec<Effect>), TransitionError> {
    use PayoutState as S;
    payout.check()?;
    let ev = event.kind();
    let not_allowed = || TransitionError::NotAllowed {
        state: payout.state,
        event: ev,
    };
    let mut next = payout.clone();
    let mut effects = Vec::new();

    if !payout.state.has_tx()
        && !matches!(
            event,
            PayoutEvent::Committed { .. } | PayoutEvent::PolicyRefused { .. }
        )
    {
        return Err(TransitionError::NoTransaction {
            state: payout.state,
            event: ev,
        });
    }

    match event {
        PayoutEvent::Committed { tx } => {
            if payout.state != S::Requested {
                return Err(not_allowed());
            }
            if tx.raw_tx.is_empty() {
                return Err(TransitionError::Malformed {
                    event: ev,
                    detail: "empty transaction bytes".into(),
                });
            }
            next.state = S::Signed;
            next.tx = Some(tx.clone());
            effects.push(Effect::Broadcast {
                txid: tx.txid,
                raw_tx: tx.raw_tx.clone(),
                attempt: 0,
            });
        }
        PayoutEvent::PolicyRefused { reason } => {
            if payout.state != S::Requested {
                return Err(not_allowed());
            }
            next.state = S::Rejected;
            next.reason = Some(reason.clone());
        }
        PayoutEvent::SendAttempted { outcome } => {
            next.send_attempts = payout.send_attempts.saturating_add(1);
            match payout.state {
                S::Signed | S::Broadcast => {
                    next.state = S::Broadcast;
                    let txid = payout
                        .txid()
                        .ok_or_else(|| TransitionError::Inconsistent("no tx".into()))?;
                    match outcome {
                        SendOutcome::Accepted | SendOutcome::AlreadyKnown => {}
                        SendOutcome::Transient { .. } => effects.extend(next.rebroadcast()),
                        SendOutcome::Conflict { detail }
                        | SendOutcome::MissingInputs { detail } => {
                            effects.push(Effect::Investigate {
                                txid,
                                detail: detail.clone(),
                            })
                        }
                        SendOutcome::Invalid { reason } => {
                            next.state = S::Stuck;
                            next.reason =
                                Some(format!("node refused the transaction as invalid: {reason}"));
                            effects.push(Effect::Alert {
                                txid: Some(txid),
                                message: format!("payout {txid} is permanently invalid ({reason}); it needs an operator"),
                            });
                        }
                    }
                }
                // A late answer for a payout the chain already settled, or that was superseded:
                // counted, nothing else changes.
                S::Confirmed | S::Final | S::ReplacedBy | S::Stuck => {}
                S::Requested | S::Rejected => return Err(not_allowed()),
            }
        }
        PayoutEvent::SeenInBlock {
            height,
            block_hash,
            tip_height,
        } => {
            if tip_height < height {
                return Err(TransitionError::Malformed {
                    event: ev,
                    detail: format!("tip height {tip_height} below block height {height}"),
                });
            }
            let conf = Confirmation {
                height: *height,
                block_hash: *block_hash,
                // Saturating: a tip at u32::MAX over height 0 must not overflow (no panic on input).
                confirmations: (tip_height - height).saturating_add(1),
            };
            match payout.state {
                S::Signed | S::Broadcast | S::ReplacedBy | S::Stuck => {
                    next.state = S::Confirmed;
                    next.confirmation = Some(conf);
                    next.replaced_by = None;
                    next.reason = None;
                }
                S::Confirmed | S::Final => {
                    let same = payout.confirmation.map(|c| c.block_hash) == Some(*block_hash);
                    if !same {
                        return Err(TransitionError::Mismatch {
                            event: ev,
                            detail:
                                "already confirmed in another block; disconnect that block first"
                                    .into(),
                        });
                    }
                }
                S::Requested | S::Rejected => return Err(not_allowed()),
            }
        }
        PayoutEvent::TipChanged {
            tip_height,
            finality_depth,
        } => {
            if *finality_depth == 0 {
                return Err(TransitionError::Malformed {
                    event: ev,
                    detail: "finality depth 0".into(),
                });
            }
            if let (S::Confirmed, Some(c)) = (payout.state, payout.confirmation) {
                if *tip_height < c.height {
                    return Err(TransitionError::Malformed {
                        event: ev,
                        detail: format!("tip height {tip_height} below block height {}", c.height),
                    });
                }
                let n = (tip_height - c.height).saturating_add(1);
                next.confirmation = Some(Confirmation {
                    confirmations: n,
                    ..c
                });
                if n >= *finality_depth {
                    next.state = S::Final;
                }
            }
            // Other states: no confirmations to count.
        }
        PayoutEvent::BlockDisconnected { block_hash } => match payout.state {
            S::Confirmed | S::Final => {
                let c = payout.confirmation.ok_or_else(|| {
                    TransitionError::Inconsistent("confirmed without block".into())
                })?;
                if c.block_hash != *block_hash {
                    return Err(TransitionError::Mismatch {
                        event: ev,
                        detail: format!("payout is in block {} not {block_hash}", c.block_hash),
                    });
                }
                next.state = S::Broadcast;
                next.confirmation = None;
                effects.extend(next.rebroadcast());
                if payout.state == S::Final {
                    effects.push(Effect::Alert {
                        txid: payout.txid(),
                        message: format!(
                            "reorg deeper than the finality depth took final payout {} out of the chain",
                            c.block_hash
                        ),
                    });
                }
            }
            _ => {
                return Err(TransitionError::Mismatch {
                    event: ev,
                    detail: "payout is not in any block".into(),
                })
            }
        },
        PayoutEvent::Replaced { by } => {
            if Some(*by) == payout.txid() {
                return Err(TransitionError::Mismatch {
                    event: ev,
                    detail: "a transaction cannot replace itself".into(),
                });
            }
            match payout.state {
                S::Signed | S::Broadcast | S::Stuck => {
                    next.state = S::ReplacedBy;
                    next.replaced_by = Some(*by);
                    next.reason = None;
                }
                _ => return Err(not_allowed()),
            }
        }
        PayoutEvent::ConflictingSpend { spending_txid } => {
            let txid = payout
                .txid()
                .ok_or_else(|| TransitionError::Inconsistent("no tx".into()))?;
            if matches!(payout.state, S::Confirmed | S::Final) {
                return Err(not_allowed());
            }
            if *spending_txid == Some(txid) {
                return Err(TransitionError::Mismatch {
                    event: ev,
                    detail: "a transaction does not conflict with itself".into(),
                });
            }
            let who = spending_txid
                .map(|t| t.to_string())
                .unwrap_or_else(|| "an unknown transaction".into());
            let reason =
                format!("inputs of payout {txid} spent by {who} that the ledger did not make");
            next.state = S::Stuck;
            next.confirmation = None;
            next.replaced_by = None;
            next.reason = Some(reason.clone());
            effects.push(Effect::FreezeSystem {
                reason: reason.clone(),
            });
            effects.push(Effect::Alert {
                txid: Some(txid),
                message: reason,
            });
        }
        PayoutEvent::OperatorResend => {
            if payout.state != S::Stuck {
                return Err(not_allowed());
            }
            next.state = S::Broadcast;
            next.reason = None;
            effects.extend(next.rebroadcast());
        }
    }
    next.check()?;
    debug_assert!(
        ALLOWED_TRANSITIONS.contains(&(payout.state, next.state)) || payout.state == next.state
    );
    Ok((next, effects))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use proptest::prelude::*;

    fn txid(n: u8) -> Txid {
        Txid::from_byte_array([n; 32])
    }
    fn bh(n: u8) -> BlockHash {
        BlockHash::from_byte_array([n; 32])
    }
    fn stx(n: u8) -> SignedTx {
        SignedTx {
            txid: txid(n),
            raw_tx: vec![n; 60],
        }
    }
    fn transient() -> PayoutEvent {
        PayoutEvent::SendAttempted {
            outcome: SendOutcome::Transient {
                reason: "timeout".into(),
            },
        }
    }
    fn run(events: &[PayoutEvent]) -> (Payout, Vec<Effect>) {
        let mut p = Payout::requested();
        let mut all = Vec::new();
        for e in events {
            let (n, eff) = apply(&p, e).unwrap_or_else(|err| panic!("{e:?} on {p:?}: {err}"));
            p = n;
            all.extend(eff);
        }
        (p, all)
    }

    #[test]
    fn happy_path_table() {
        let committed = PayoutEvent::Committed { tx: stx(1) };
        let accepted = PayoutEvent::SendAttempted {
            outcome: SendOutcome::Accepted,
        };
        let seen = PayoutEvent::SeenInBlock {
            height: 10,
            block_hash: bh(10),
            tip_height: 10,
        };
        let tip = |h| PayoutEvent::TipChanged {
            tip_height: h,
            finality_depth: 6,
        };
        let cases: Vec<(&str, Vec<PayoutEvent>, PayoutState)> = vec![
            ("commit", vec![committed.clone()], PayoutState::Signed),
            (
                "first send accepted",
                vec![committed.clone(), accepted.clone()],
                PayoutState::Broadcast,
            ),
            (
                "first send timed out",
                vec![committed.clone(), transient()],
                PayoutState::Broadcast,
            ),
            (
                "confirmed",
                vec![committed.clone(), accepted.clone(), seen.clone()],
                PayoutState::Confirmed,
            ),
            (
                "five confs not final",
                vec![committed.clone(), accepted.clone(), seen.clone(), tip(14)],
                PayoutState::Confirmed,
            ),
            (
                "six confs final",
                vec![committed.clone(), accepted.clone(), seen.clone(), tip(15)],
                PayoutState::Final,
            ),
            (
                "reorg back to broadcast",
                vec![
                    committed.clone(),
                    accepted.clone(),
                    seen.clone(),
                    PayoutEvent::BlockDisconnected { block_hash: bh(10) },
                ],
                PayoutState::Broadcast,
            ),
            (
                "rejected",
                vec![PayoutEvent::PolicyRefused {
                    reason: "over max".into(),
                }],
                PayoutState::Rejected,
            ),
            (
                "fee bump",
                vec![
                    committed.clone(),
                    accepted.clone(),
                    PayoutEvent::Replaced { by: txid(2) },
                ],
                PayoutState::ReplacedBy,
            ),
            (
                "invalid is stuck",
                vec![
                    committed.clone(),
                    PayoutEvent::SendAttempted {
                        outcome: SendOutcome::Invalid {
                            reason: "bad sig".into(),
                        },
                    },
                ],
                PayoutState::Stuck,
            ),
            (
                "conflict is investigated, not failed",
                vec![
                    committed.clone(),
                    PayoutEvent::SendAttempted {
                        outcome: SendOutcome::Conflict {
                            detail: "txn-mempool-conflict".into(),
                        },
                    },
                ],
                PayoutState::Broadcast,
            ),
            (
                "foreign spend",
                vec![
                    committed.clone(),
                    PayoutEvent::ConflictingSpend {
                        spending_txid: Some(txid(9)),
                    },
                ],
                PayoutState::Stuck,
            ),
            (
                "replaced original confirms anyway",
                vec![
                    committed.clone(),
                    accepted.clone(),
                    PayoutEvent::Replaced { by: txid(2) },
                    seen.clone(),
                ],
                PayoutState::Confirmed,
            ),
        ];
        for (name, events, want) in cases {
            let (p, _) = run(&events);
            assert_eq!(p.state, want, "case {name}");
            if want.has_tx() {
                assert_eq!(p.tx, Some(stx(1)), "case {name}: bytes unchanged");
            }
        }
    }

    #[test]
    fn effects_table() {
        let committed = PayoutEvent::Committed { tx: stx(1) };
        let (_, eff) = run(std::slice::from_ref(&committed));
        assert_eq!(
            eff,
            vec![Effect::Broadcast {
                txid: txid(1),
                raw_tx: stx(1).raw_tx,
                attempt: 0
            }],
            "commit asks for the first broadcast"
        );
        let (_, eff) = run(&[committed.clone(), transient()]);
        assert!(
            matches!(&eff[1], Effect::Broadcast { attempt: 1, raw_tx, .. } if *raw_tx == stx(1).raw_tx),
            "timeout retries the same bytes: {eff:?}"
        );
        let (_, eff) = run(&[
            committed.clone(),
            PayoutEvent::SendAttempted {
                outcome: SendOutcome::MissingInputs {
                    detail: "missingorspent".into(),
                },
            },
        ]);
        assert!(matches!(&eff[1], Effect::Investigate { .. }), "{eff:?}");
        let (_, eff) = run(&[
            committed.clone(),
            PayoutEvent::ConflictingSpend {
                spending_txid: None,
            },
        ]);
        assert!(
            eff.iter().any(|e| matches!(e, Effect::FreezeSystem { .. })),
            "{eff:?}"
        );
        let (_, eff) = run(&[
            committed,
            PayoutEvent::SeenInBlock {
                height: 5,
                block_hash: bh(5),
                tip_height: 5,
            },
            PayoutEvent::BlockDisconnected { block_hash: bh(5) },
        ]);
        assert!(
            matches!(&eff[1], Effect::Broadcast { raw_tx, .. } if *raw_tx == stx(1).raw_tx),
            "reorg re-sends the same bytes: {eff:?}"
        );
    }

    #[test]
    fn forbidden_events_table() {
        let signed = run(&[PayoutEvent::Committed { tx: stx(1) }]).0;
        let rejected = run(&[PayoutEvent::PolicyRefused { reason: "x".into() }]).0;
        let cases: Vec<(&str, Payout, PayoutEvent)> = vec![
            (
                "recommit a signed payout",
                signed.clone(),
                PayoutEvent::Committed { tx: stx(2) },
            ),
            (
                "reject a signed payout",
                signed.clone(),
                PayoutEvent::PolicyRefused {
                    reason: "late".into(),
                },
            ),
            (
                "commit a rejected payout",
                rejected.clone(),
                PayoutEvent::Committed { tx: stx(2) },
            ),
            ("send a requested payout", Payout::requested(), transient()),
            (
                "disconnect an unconfirmed payout",
                signed.clone(),
                PayoutEvent::BlockDisconnected { block_hash: bh(1) },
            ),
            (
                "replace by itself",
                signed.clone(),
                PayoutEvent::Replaced { by: txid(1) },
            ),
            (
                "resend a non-stuck payout",
                signed.clone(),
                PayoutEvent::OperatorResend,
            ),
            (
                "finality depth zero",
                signed.clone(),
                PayoutEvent::TipChanged {
                    tip_height: 1,
                    finality_depth: 0,
                },
            ),
            (
                "conflicting spend of a confirmed payout",
                run(&[
                    PayoutEvent::Committed { tx: stx(1) },
                    PayoutEvent::SeenInBlock {
                        height: 5,
                        block_hash: bh(5),
                        tip_height: 5,
                    },
                ])
                .0,
                PayoutEvent::ConflictingSpend {
                    spending_txid: Some(txid(9)),
                },
            ),
            (
                "a payout conflicting with itself",
                signed.clone(),
                PayoutEvent::ConflictingSpend {
                    spending_txid: Some(txid(1)),
                },
            ),
            (
                "empty bytes",
                Payout::requested(),
                PayoutEvent::Committed {
                    tx: SignedTx {
                        txid: txid(3),
                        raw_tx: vec![],
                    },
                },
            ),
        ];
        for (name, p, e) in cases {
            assert!(apply(&p, &e).is_err(), "case {name} must be refused");
        }
    }

    #[test]
    fn extreme_heights_do_not_overflow() {
        // apply is public and must not panic on any input: tip u32::MAX over height 0.
        let (p, _) = run(&[
            PayoutEvent::Committed { tx: stx(1) },
            PayoutEvent::SeenInBlock {
                height: 0,
                block_hash: bh(0),
                tip_height: u32::MAX,
            },
        ]);
        assert_eq!(p.confirmation.map(|c| c.confirmations), Some(u32::MAX));
        let (p, _) = apply(
            &p,
            &PayoutEvent::TipChanged {
                tip_height: u32::MAX,
                finality_depth: u32::MAX,
            },
        )
        .expect("tip");
        assert_eq!(p.state, PayoutState::Final);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(0), 0);
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(2), 2000);
        assert_eq!(backoff_ms(100), 300_000);
    }

    fn arb_outcome() -> impl Strategy<Value = SendOutcome> {
        prop_oneof![
            Just(SendOutcome::Accepted),
            Just(SendOutcome::AlreadyKnown),
            Just(SendOutcome::Conflict { detail: "c".into() }),
            Just(SendOutcome::MissingInputs { detail: "m".into() }),
            Just(SendOutcome::Invalid { reason: "i".into() }),
            Just(SendOutcome::Transient { reason: "t".into() }),
        ]
    }

    fn arb_event() -> impl Strategy<Value = PayoutEvent> {
        prop_oneof![
            (1u8..4).prop_map(|n| PayoutEvent::Committed { tx: stx(n) }),
            Just(PayoutEvent::PolicyRefused { reason: "p".into() }),
            arb_outcome().prop_map(|outcome| PayoutEvent::SendAttempted { outcome }),
            (1u32..20, 0u32..5).prop_map(|(h, d)| PayoutEvent::SeenInBlock {
                height: h,
                block_hash: bh(h as u8),
                tip_height: h + d,
            }),
            (0u32..30, 0u32..8).prop_map(|(t, f)| PayoutEvent::TipChanged {
                tip_height: t,
                finality_depth: f,
            }),
            (1u8..20).prop_map(|h| PayoutEvent::BlockDisconnected { block_hash: bh(h) }),
            (1u8..5).prop_map(|n| PayoutEvent::Replaced { by: txid(n) }),
            prop::option::of(Just(txid(9)))
                .prop_map(|s| PayoutEvent::ConflictingSpend { spending_txid: s }),
            Just(PayoutEvent::OperatorResend),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn random_event_sequences_never_break_the_machine(events in prop::collection::vec(arb_event(), 0..40)) {
            let mut p = Payout::requested();
            let mut first_tx: Option<SignedTx> = None;
            let mut left_requested = false;
            for e in &events {
                match apply(&p, e) {
                    Ok((next, effects)) => {
                        prop_assert!(next.check().is_ok());
                        prop_assert!(
                            next.state == p.state || ALLOWED_TRANSITIONS.contains(&(p.state, next.state)),
                            "forbidden edge {} -> {} on {:?}", p.state, next.state, e
                        );
                        if let Some(tx) = &first_tx {
                            // Bytes never change once signed (a fee bump is another payout).
                            prop_assert_eq!(next.tx.as_ref(), Some(tx));
                            prop_assert!(next.state.has_tx());
                        } else if next.tx.is_some() {
                            first_tx = next.tx.clone();
                        }
                        if left_requested {
                            prop_assert!(next.state != PayoutState::Requested);
                        }
                        if p.state == PayoutState::Rejected {
                            prop_assert_eq!(&next, &p, "rejected is terminal");
                        }
                        if next.state != PayoutState::Requested { left_requested = true; }
                        for eff in &effects {
                            if let Effect::Broadcast { raw_tx, txid, .. } = eff {
                                let tx = next.tx.as_ref().expect("broadcast without tx");
                                prop_assert_eq!(raw_tx, &tx.raw_tx);
                                prop_assert_eq!(txid, &tx.txid);
                            }
                        }
                        // An unknown outcome is never a failure.
                        if let PayoutEvent::SendAttempted { outcome: SendOutcome::Transient { .. } } = e {
                            prop_assert!(next.state != PayoutState::Stuck || p.state == PayoutState::Stuck);
                            prop_assert!(next.state != PayoutState::Rejected);
                        }
                        p = next;
                    }
                    Err(_) => { /* refused: nothing changed, p is unchanged by construction */ }
                }
            }
        }
    }
}
