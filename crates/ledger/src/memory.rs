//! In-memory reference implementation of [`Ledger`] (tests and model checking; not durable).
//!
//! Module invariant: every method works on a copy of the state and swaps it in only on
//! success, so a failed call changes nothing; one mutex serialises all calls, which makes it
//! the obviously-correct model the SQLite store is compared against.

use crate::audit::{self, AuditError, AuditReport};
use crate::machine::{
    apply, Effect, Payout, PayoutEvent, PayoutState, SendOutcome, TransitionError,
};
use crate::model::*;
use crate::store::*;
use bitcoin::{BlockHash, OutPoint, Txid};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WState {
    Requested,
    Rejected,
    Linked,
}

#[derive(Debug, Clone)]
struct WRow {
    id: String,
    source: WithdrawalSource,
    destination: Destination,
    amount_wat: u64,
    state: WState,
    txid: Option<Txid>,
    reject_reason: Option<String>,
    seq: u64,
}

#[derive(Debug, Clone, Default)]
struct State {
    withdrawals: BTreeMap<String, WRow>,
    vouchers: BTreeMap<String, Voucher>,
    voucher_by_hash: HashMap<[u8; 32], String>,
    payouts: BTreeMap<Txid, PayoutTx>,
    coins: BTreeMap<OutPoint, Coin>,
    blocks: BTreeMap<u32, BlockHash>,
    frozen: bool,
    freeze_reason: Option<String>,
    topups: BTreeMap<String, TopUpProposal>,
    /// Proposal ids in creation order.
    topup_order: Vec<String>,
    audit: Vec<AuditEntry>,
    head: Option<AuditHead>,
}

/// The in-memory reference ledger.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    state: Mutex<State>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> MemoryLedger {
        MemoryLedger::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied state (we swap copies),
        // so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a copy and commits it only on success.
    fn tx<T, E>(&self, f: impl FnOnce(&mut State) -> Result<T, E>) -> Result<T, E> {
        let mut guard = self.lock();
        let mut copy = guard.clone();
        let out = f(&mut copy)?;
        *guard = copy;
        Ok(out)
    }

    /// Test hook: overwrites one audit row's detail without rehashing (tamper simulation).
    #[doc(hidden)]
    pub fn tamper_audit_detail(&self, seq: u64, detail: &str) {
        let mut g = self.lock();
        if let Some(e) = g.audit.iter_mut().find(|e| e.seq == seq) {
            e.detail = detail.to_owned();
        }
    }
}

impl State {
    fn head(&self) -> AuditHead {
        self.head.unwrap_or(AuditHead {
            seq: 0,
            hash: [0; 32],
        })
    }

    fn audit(&mut self, kind: &str, subject: &str, detail: &str) -> u64 {
        let e = audit::next_entry(&self.head(), now_unix(), kind, subject, detail);
        self.head = Some(AuditHead {
            seq: e.seq,
            hash: e.hash,
        });
        let seq = e.seq;
        self.audit.push(e);
        seq
    }

    fn view(&self, w: &WRow) -> Withdrawal {
        let state = match w.state {
            WState::Requested => PayoutState::Requested,
            WState::Rejected => PayoutState::Rejected,
            WState::Linked => w
                .txid
                .and_then(|t| self.payouts.get(&t))
                .map(|p| p.state)
                .unwrap_or(PayoutState::Stuck),
        };
        Withdrawal {
            id: w.id.clone(),
            source: w.source.clone(),
            destination: w.destination.clone(),
            amount_wat: w.amount_wat,
            state,
            txid: w.txid,
            reject_reason: w.reject_reason.clone(),
            seq: w.seq,
        }
    }

    fn next_seq(&self) -> u64 {
        self.withdrawals.values().map(|w| w.seq).max().unwrap_or(0) + 1
    }

    fn coin_view(&self, op: &OutPoint) -> Option<CoinView> {
        let coin = self.coins.get(op)?.clone();
        let creator_live = coin.created_by.is_some_and(|t| self.change_spendable(&t));
        Some(CoinView { coin, creator_live })
    }

    /// [`change_is_spendable`] for the payout `t`.
    fn change_spendable(&self, t: &Txid) -> bool {
        let edges = self
            .payouts
            .values()
            .any(|q| q.replaces == Some(*t) || q.replaced_by == Some(*t));
        self.payouts
            .get(t)
            .is_some_and(|p| change_is_spendable(p, edges))
    }

    fn apply_payout(
        &mut self,
        txid: &Txid,
        event: &PayoutEvent,
    ) -> Result<Vec<Effect>, TransitionError> {
        let Some(p) = self.payouts.get(txid) else {
            return Err(TransitionError::Inconsistent(format!(
                "unknown payout {txid}"
            )));
        };
        let before = p.state;
        let (next, effects) = apply(&p.machine(), event)?;
        let p = self
            .payouts
            .get_mut(txid)
            .ok_or_else(|| TransitionError::Inconsistent("vanished".into()))?;
        p.state = next.state;
        p.send_attempts = next.send_attempts;
        p.confirmation = next.confirmation;
        p.replaced_by = next.replaced_by;
        p.stuck_reason = if next.state == PayoutState::Stuck {
            next.reason.clone()
        } else {
            None
        };
        if let PayoutEvent::SendAttempted { outcome } = event {
            p.last_send_outcome = Some(outcome.kind().to_owned());
        }
        if before != next.state || !matches!(event, PayoutEvent::TipChanged { .. }) {
            let d = detail(&[
                ("event", &event.kind()),
                ("from", &before),
                ("to", &next.state),
                ("attempts", &next.send_attempts),
            ]);
            self.audit("payout.transition", &txid.to_string(), &d);
        }
        for e in &effects {
            if let Effect::FreezeSystem { reason } = e {
                self.set_frozen(reason);
            }
        }
        Ok(effects)
    }

    fn set_frozen(&mut self, reason: &str) {
        if !self.frozen {
            self.frozen = true;
            self.freeze_reason = Some(reason.to_owned());
        }
        self.audit("freeze", "system", &detail(&[("reason", &reason)]));
    }

    fn relink(&mut self, from: &Txid, to: &Txid) {
        for w in self.withdrawals.values_mut() {
            if w.txid == Some(*from) {
                w.txid = Some(*to);
            }
        }
        if let Some(p) = self.payouts.get(from) {
            let ids = p.withdrawal_ids.clone();
            if let Some(t) = self.payouts.get_mut(to) {
                for id in ids {
                    if !t.withdrawal_ids.contains(&id) {
                        t.withdrawal_ids.push(id);
                    }
                }
                t.withdrawal_ids.sort();
            }
        }
    }

    fn commit_new(
        &mut self,
        c: &PayoutCommit,
        replaces: Option<Txid>,
    ) -> Result<Vec<Effect>, CommitError> {
        let signed = crate::machine::SignedTx {
            txid: c.txid,
            raw_tx: c.raw_tx.clone(),
        };
        let (machine, effects) =
            apply(&Payout::requested(), &PayoutEvent::Committed { tx: signed })?;
        let mut ids = c.withdrawal_ids.clone();
        ids.sort();
        self.payouts.insert(
            c.txid,
            PayoutTx {
                txid: c.txid,
                raw_tx: c.raw_tx.clone(),
                kind: c.kind,
                fee_wat: c.fee_wat,
                state: machine.state,
                send_attempts: 0,
                last_send_outcome: None,
                confirmation: None,
                replaced_by: None,
                replaces,
                stuck_reason: None,
                inputs: c.inputs.clone(),
                withdrawal_ids: ids,
            },
        );
        for op in &c.inputs {
            if let Some(coin) = self.coins.get_mut(op) {
                coin.reserved_by = Some(c.txid);
            }
        }
        for ch in &c.change {
            if self.coins.contains_key(&ch.outpoint) {
                return Err(StoreError::Corrupt(format!(
                    "change output {} already recorded",
                    ch.outpoint
                ))
                .into());
            }
            self.coins
                .insert(ch.outpoint, new_coin(ch, None, Some(c.txid)));
        }
        for id in &c.withdrawal_ids {
            if let Some(w) = self.withdrawals.get_mut(id) {
                w.state = WState::Linked;
                w.txid = Some(c.txid);
            }
        }
        let d = detail(&[
            ("kind", &c.kind.as_str()),
            ("fee_wat", &c.fee_wat),
            ("inputs", &c.inputs.len()),
            ("withdrawals", &c.withdrawal_ids.join(",")),
            (
                "replaces",
                &replaces.map(|t| t.to_string()).unwrap_or_default(),
            ),
        ]);
        self.audit("payout.signed", &c.txid.to_string(), &d);
        Ok(effects)
    }

    /// `old` first, then every payout linked to it by `replaces`/`replaced_by` edges (either
    /// direction, transitively), by txid.
    fn family(&self, old: &PayoutTx) -> Vec<PayoutTx> {
        let mut seen = std::collections::BTreeSet::from([old.txid]);
        let mut todo = vec![old.txid];
        while let Some(t) = todo.pop() {
            let Some(p) = self.payouts.get(&t) else {
                continue;
            };
            let mut next: Vec<Txid> = p.replaces.into_iter().chain(p.replaced_by).collect();
            next.extend(
                self.payouts
                    .values()
                    .filter(|q| q.replaces == Some(t) || q.replaced_by == Some(t))
                    .map(|q| q.txid),
            );
            for n in next {
                if seen.insert(n) {
                    todo.push(n);
                }
            }
        }
        let mut out = vec![old.clone()];
        out.extend(
            seen.iter()
                .filter(|t| **t != old.txid)
                .filter_map(|t| self.payouts.get(t).cloned()),
        );
        out
    }

    fn release_replaced_by(&mut self, winner: Txid) {
        let mut winners = vec![winner];
        while let Some(w) = winners.pop() {
            let losers: Vec<Txid> = self
                .payouts
                .values()
                .filter(|p| p.state == PayoutState::ReplacedBy && p.replaced_by == Some(w))
                .map(|p| p.txid)
                .collect();
            for l in losers {
                for coin in self.coins.values_mut() {
                    if coin.reserved_by == Some(l) && coin.spent_by.is_none() {
                        coin.reserved_by = None;
                    }
                }
                winners.push(l);
            }
        }
    }
}

fn new_coin(c: &NewCoin, height: Option<u32>, created_by: Option<Txid>) -> Coin {
    Coin {
        outpoint: c.outpoint,
        value_wat: c.value_wat,
        script_pubkey: c.script_pubkey.clone(),
        keychain: c.keychain,
        derivation_index: c.derivation_index,
        height,
        is_dust: c.is_dust,
        created_by,
        spent_by: None,
        spent_height: None,
        reserved_by: None,
    }
}

pub(crate) fn validate_withdrawal_id(id: &str) -> Result<(), InvalidInput> {
    match id.strip_prefix(VOUCHER_WITHDRAWAL_PREFIX) {
        Some(v) => validate_id("voucher id", v),
        None => validate_id("withdrawal id", id),
    }
}

impl Ledger for MemoryLedger {
    fn request_withdrawal(
        &self,
        req: &WithdrawalRequest,
    ) -> Result<Intake<Withdrawal>, IntakeError> {
        req.validate()?;
        self.tx(|s| {
            if let Some(w) = s.withdrawals.get(&req.id) {
                let same = w.source == WithdrawalSource::Request
                    && w.destination == req.destination
                    && w.amount_wat == req.amount_wat;
                let v = s.view(w);
                return Ok(if same {
                    s.audit("withdrawal.replay", &req.id, "");
                    Intake::Replay(v)
                } else {
                    s.audit(
                        "withdrawal.conflict",
                        &req.id,
                        &detail(&[("amount_wat", &req.amount_wat)]),
                    );
                    Intake::Conflict(v)
                });
            }
            let row = WRow {
                id: req.id.clone(),
                source: WithdrawalSource::Request,
                destination: req.destination.clone(),
                amount_wat: req.amount_wat,
                state: WState::Requested,
                txid: None,
                reject_reason: None,
                seq: s.next_seq(),
            };
            let d = detail(&[
                ("address", &req.destination.address),
                ("amount_wat", &req.amount_wat),
            ]);
            s.audit("withdrawal.requested", &req.id, &d);
            let v = s.view(&row);
            s.withdrawals.insert(req.id.clone(), row);
            Ok(Intake::Created(v))
        })
    }

    fn create_voucher(&self, v: &NewVoucher) -> Result<Intake<Voucher>, IntakeError> {
        v.validate()?;
        self.tx(|s| {
            if let Some(old) = s.vouchers.get(&v.id) {
                let old = old.clone();
                return Ok(
                    if old.code_hash == v.code_hash && old.amount_wat == v.amount_wat {
                        s.audit("voucher.replay", &v.id, "");
                        Intake::Replay(old)
                    } else {
                        s.audit("voucher.conflict", &v.id, "");
                        Intake::Conflict(old)
                    },
                );
            }
            if s.voucher_by_hash.contains_key(&v.code_hash.0) {
                return Err(InvalidInput::Bad {
                    field: "code_hash",
                    detail: "already used by another voucher".into(),
                }
                .into());
            }
            let rec = Voucher {
                id: v.id.clone(),
                code_hash: v.code_hash,
                amount_wat: v.amount_wat,
                state: VoucherState::Active,
                redeemed_to: None,
                withdrawal_id: None,
            };
            s.vouchers.insert(v.id.clone(), rec.clone());
            s.voucher_by_hash.insert(v.code_hash.0, v.id.clone());
            s.audit(
                "voucher.created",
                &v.id,
                &detail(&[("amount_wat", &v.amount_wat)]),
            );
            Ok(Intake::Created(rec))
        })
    }

    fn redeem_voucher(
        &self,
        code_hash: &CodeHash,
        destination: &Destination,
    ) -> Result<Redemption, IntakeError> {
        destination.validate()?;
        self.tx(|s| {
            let Some(vid) = s.voucher_by_hash.get(&code_hash.0).cloned() else {
                return Ok(Redemption::NotFound);
            };
            let wid = format!("{VOUCHER_WITHDRAWAL_PREFIX}{vid}");
            let v = s
                .vouchers
                .get(&vid)
                .cloned()
                .ok_or_else(|| StoreError::Corrupt("voucher index".into()))?;
            if v.state == VoucherState::Redeemed {
                let w = s
                    .withdrawals
                    .get(&wid)
                    .ok_or_else(|| StoreError::Corrupt(format!("{wid} missing")))?;
                let view = s.view(w);
                return Ok(if w.destination == *destination {
                    s.audit("voucher.replay", &vid, "");
                    Redemption::Replay(view)
                } else {
                    s.audit(
                        "voucher.conflict",
                        &vid,
                        &detail(&[("address", &destination.address)]),
                    );
                    Redemption::Conflict(view)
                });
            }
            if let Some(old) = s.withdrawals.get(&wid) {
                // A released voucher: its rejected withdrawal gives the id back.
                if old.state != WState::Rejected || old.txid.is_some() {
                    return Err(StoreError::Corrupt(format!(
                        "{wid} exists in state {} while its voucher is active",
                        s.view(old).state
                    ))
                    .into());
                }
                let state = s.view(old).state;
                s.withdrawals.remove(&wid);
                s.audit(WITHDRAWAL_DISCARDED, &wid, &detail(&[("state", &state)]));
            }
            let row = WRow {
                id: wid.clone(),
                source: WithdrawalSource::Voucher {
                    voucher_id: vid.clone(),
                },
                destination: destination.clone(),
                amount_wat: v.amount_wat,
                state: WState::Requested,
                txid: None,
                reject_reason: None,
                seq: s.next_seq(),
            };
            if let Some(vm) = s.vouchers.get_mut(&vid) {
                vm.state = VoucherState::Redeemed;
                vm.redeemed_to = Some(destination.clone());
                vm.withdrawal_id = Some(wid.clone());
            }
            s.audit(
                "voucher.redeemed",
                &vid,
                &detail(&[("address", &destination.address)]),
            );
            let d = detail(&[
                ("address", &destination.address),
                ("amount_wat", &v.amount_wat),
            ]);
            s.audit("withdrawal.requested", &wid, &d);
            let view = s.view(&row);
            s.withdrawals.insert(wid, row);
            Ok(Redemption::Created(view))
        })
    }

    fn reject_withdrawal(&self, id: &str, reason: &str) -> Result<Withdrawal, PayoutOpError> {
        validate_withdrawal_id(id)?;
        validate_reason(reason)?;
        self.tx(|s| {
            let w = s
                .withdrawals
                .get(id)
                .ok_or_else(|| PayoutOpError::UnknownWithdrawal(id.to_owned()))?;
            let view = s.view(w);
            let from = Payout {
                state: view.state,
                ..Payout::requested()
            };
            if view.state != PayoutState::Requested {
                return Err(TransitionError::NotAllowed {
                    state: view.state,
                    event: "policy_refused",
                }
                .into());
            }
            apply(
                &from,
                &PayoutEvent::PolicyRefused {
                    reason: reason.to_owned(),
                },
            )?;
            let w = s
                .withdrawals
                .get_mut(id)
                .ok_or_else(|| PayoutOpError::UnknownWithdrawal(id.to_owned()))?;
            w.state = WState::Rejected;
            w.reject_reason = Some(reason.to_owned());
            let w = w.clone();
            s.audit("withdrawal.rejected", id, &detail(&[("reason", &reason)]));
            if let WithdrawalSource::Voucher { voucher_id } = &w.source {
                // The voucher is owed in full: redeemable again, atomically, on the record.
                let v = s
                    .vouchers
                    .get_mut(voucher_id)
                    .filter(|v| {
                        v.state == VoucherState::Redeemed && v.withdrawal_id.as_deref() == Some(id)
                    })
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("voucher {voucher_id} is not redeemed by {id}"))
                    })?;
                v.state = VoucherState::Active;
                v.redeemed_to = None;
                v.withdrawal_id = None;
                s.audit(
                    VOUCHER_RELEASED,
                    voucher_id,
                    &detail(&[("withdrawal", &id)]),
                );
            }
            Ok(s.view(&w))
        })
    }

    fn commit_payout(&self, c: &PayoutCommit) -> Result<Vec<Effect>, CommitError> {
        let tx = check_commit_shape(c)?;
        self.tx(|s| {
            if s.frozen {
                return Err(CommitError::Frozen {
                    reason: s.freeze_reason.clone().unwrap_or_default(),
                });
            }
            if s.payouts.contains_key(&c.txid) {
                return Err(CommitError::AlreadyCommitted(c.txid));
            }
            let coins: Vec<_> = c.inputs.iter().map(|op| s.coin_view(op)).collect();
            let ws: Vec<_> = c
                .withdrawal_ids
                .iter()
                .map(|id| s.withdrawals.get(id).map(|w| s.view(w)))
                .collect();
            check_commit_against(c, &tx, &coins, &ws, None)?;
            s.commit_new(c, None)
        })
    }

    fn record_send_attempt(
        &self,
        txid: &Txid,
        outcome: &SendOutcome,
    ) -> Result<Vec<Effect>, PayoutOpError> {
        self.tx(|s| {
            if !s.payouts.contains_key(txid) {
                return Err(PayoutOpError::UnknownPayout(*txid));
            }
            Ok(s.apply_payout(
                txid,
                &PayoutEvent::SendAttempted {
                    outcome: outcome.clone(),
                },
            )?)
        })
    }

    fn replace_payout(&self, old: &Txid, c: &PayoutCommit) -> Result<Vec<Effect>, CommitError> {
        let tx = check_commit_shape(c)?;
        self.tx(|s| {
            if s.frozen {
                return Err(CommitError::Frozen {
                    reason: s.freeze_reason.clone().unwrap_or_default(),
                });
            }
            if s.payouts.contains_key(&c.txid) {
                return Err(CommitError::AlreadyCommitted(c.txid));
            }
            let old_tx = s
                .payouts
                .get(old)
                .cloned()
                .ok_or(CommitError::UnknownPayout(*old))?;
            apply(&old_tx.machine(), &PayoutEvent::Replaced { by: c.txid })?;
            let coins: Vec<_> = c.inputs.iter().map(|op| s.coin_view(op)).collect();
            let ws: Vec<_> = c
                .withdrawal_ids
                .iter()
                .map(|id| s.withdrawals.get(id).map(|w| s.view(w)))
                .collect();
            check_commit_against(c, &tx, &coins, &ws, Some(&old_tx))?;
            check_replacement_family(c, &s.family(&old_tx))?;
            if let Some(coin) = s
                .coins
                .values()
                .find(|k| k.created_by == Some(*old) && k.reserved_by.is_some())
            {
                return Err(CommitError::ReplacementMismatch {
                    txid: *old,
                    detail: format!("its output {} is spent by another payout", coin.outpoint),
                });
            }
            let effects = s.commit_new(c, Some(*old))?;
            s.apply_payout(old, &PayoutEvent::Replaced { by: c.txid })?;
            s.relink(old, &c.txid);
            Ok(effects)
        })
    }

    fn mark_conflicting_spend(
        &self,
        txid: &Txid,
        spending_txid: Option<Txid>,
    ) -> Result<Vec<Effect>, PayoutOpError> {
        self.tx(|s| {
            if !s.payouts.contains_key(txid) {
                return Err(PayoutOpError::UnknownPayout(*txid));
            }
            if let Some(sp) = spending_txid.filter(|sp| s.payouts.contains_key(sp)) {
                return Err(own_spend(sp).into());
            }
            Ok(s.apply_payout(txid, &PayoutEvent::ConflictingSpend { spending_txid })?)
        })
    }

    fn resend_stuck(&self, txid: &Txid) -> Result<Vec<Effect>, PayoutOpError> {
        self.tx(|s| {
            if !s.payouts.contains_key(txid) {
                return Err(PayoutOpError::UnknownPayout(*txid));
            }
            Ok(s.apply_payout(txid, &PayoutEvent::OperatorResend)?)
        })
    }

    fn block_connected(&self, u: &BlockUpdate) -> Result<Vec<Effect>, BlockError> {
        validate_block_update(u)?;
        self.tx(|s| {
            let h = u.block.height;
            if let Some((&th, &thash)) = s.blocks.iter().next_back() {
                if h != th.wrapping_add(1) || u.prev_hash != thash {
                    return Err(BlockError::NotOnTip {
                        height: h,
                        tip_height: th,
                        tip_hash: thash,
                    });
                }
            }
            s.blocks.insert(h, u.block.hash);
            let keep_from = h.saturating_sub(BLOCK_HASH_RETENTION - 1);
            s.blocks = s.blocks.split_off(&keep_from);
            let mut effects = Vec::new();
            // 1. our new coins
            for nc in &u.new_coins {
                let created_by = s
                    .payouts
                    .contains_key(&nc.outpoint.txid)
                    .then_some(nc.outpoint.txid);
                match s.coins.get_mut(&nc.outpoint) {
                    Some(c) => c.height = Some(h),
                    None => {
                        s.coins
                            .insert(nc.outpoint, new_coin(nc, Some(h), created_by));
                    }
                }
            }
            // 2. spends
            for (op, spender) in &u.spends {
                let Some(coin) = s.coins.get_mut(op) else {
                    continue;
                };
                coin.spent_by = Some(*spender);
                coin.spent_height = Some(h);
                let (hot, reserved) = (coin.keychain.is_hot(), coin.reserved_by);
                if s.payouts.contains_key(spender) || !hot {
                    continue;
                }
                match reserved {
                    Some(p)
                        if s.payouts
                            .get(&p)
                            .is_some_and(|p| takes_conflicting_spend(p.state)) =>
                    {
                        effects.extend(s.apply_payout(
                            &p,
                            &PayoutEvent::ConflictingSpend {
                                spending_txid: Some(*spender),
                            },
                        )?);
                    }
                    _ => {
                        let reason = format!(
                            "hot coin {op} spent by {spender} that the ledger did not make"
                        );
                        s.set_frozen(&reason);
                        effects.push(Effect::FreezeSystem {
                            reason: reason.clone(),
                        });
                        effects.push(Effect::Alert {
                            txid: None,
                            message: reason,
                        });
                    }
                }
            }
            // 3. our transactions in the block; their conflicting siblings are superseded
            let mut ours: Vec<Txid> = u
                .txids
                .iter()
                .filter(|t| s.payouts.contains_key(*t))
                .copied()
                .collect();
            ours.sort();
            ours.dedup();
            for t in &ours {
                effects.extend(s.apply_payout(
                    t,
                    &PayoutEvent::SeenInBlock {
                        height: h,
                        block_hash: u.block.hash,
                        tip_height: h,
                    },
                )?);
                let inputs = s
                    .payouts
                    .get(t)
                    .map(|p| p.inputs.clone())
                    .unwrap_or_default();
                let losers: Vec<Txid> = s
                    .payouts
                    .values()
                    .filter(|p| {
                        p.txid != *t
                            && matches!(
                                p.state,
                                PayoutState::Signed | PayoutState::Broadcast | PayoutState::Stuck
                            )
                            && p.inputs.iter().any(|i| inputs.contains(i))
                    })
                    .map(|p| p.txid)
                    .collect();
                let fam: Vec<Txid> = match s.payouts.get(t).cloned() {
                    Some(w) if !losers.is_empty() => s.family(&w).iter().map(|p| p.txid).collect(),
                    _ => Vec::new(),
                };
                for l in losers {
                    if fam.contains(&l) {
                        effects.extend(s.apply_payout(&l, &PayoutEvent::Replaced { by: *t })?);
                        s.relink(&l, t);
                    } else {
                        // Not a version of the same payout (only after a reorg deeper than the
                        // finality depth re-used a released coin): never relinked; stuck.
                        effects.extend(s.apply_payout(
                            &l,
                            &PayoutEvent::ConflictingSpend {
                                spending_txid: Some(*t),
                            },
                        )?);
                    }
                }
            }
            // 4. confirmations and finality
            let confirmed: Vec<Txid> = s
                .payouts
                .values()
                .filter(|p| p.state == PayoutState::Confirmed)
                .map(|p| p.txid)
                .collect();
            for t in confirmed {
                effects.extend(s.apply_payout(
                    &t,
                    &PayoutEvent::TipChanged {
                        tip_height: h,
                        finality_depth: u.finality_depth,
                    },
                )?);
                if s.payouts
                    .get(&t)
                    .is_some_and(|p| p.state == PayoutState::Final)
                {
                    s.release_replaced_by(t);
                }
            }
            let d = detail(&[
                ("hash", &u.block.hash),
                ("new_coins", &u.new_coins.len()),
                ("ours", &ours.len()),
            ]);
            s.audit("block.connected", &h.to_string(), &d);
            Ok(effects)
        })
    }

    fn block_disconnected(&self, tip: &BlockRef) -> Result<Vec<Effect>, BlockError> {
        self.tx(|s| {
            match s.blocks.iter().next_back() {
                Some((&th, &thash)) if th == tip.height && thash == tip.hash => {}
                _ => {
                    return Err(BlockError::NotTip {
                        height: tip.height,
                        hash: tip.hash,
                    })
                }
            }
            let mut effects = Vec::new();
            let in_block: Vec<Txid> = s
                .payouts
                .values()
                .filter(|p| p.confirmation.is_some_and(|c| c.block_hash == tip.hash))
                .map(|p| p.txid)
                .collect();
            for t in in_block {
                effects.extend(s.apply_payout(
                    &t,
                    &PayoutEvent::BlockDisconnected {
                        block_hash: tip.hash,
                    },
                )?);
            }
            for c in s.coins.values_mut() {
                if c.height == Some(tip.height) {
                    c.height = None;
                }
                if c.spent_height == Some(tip.height) {
                    c.spent_by = None;
                    c.spent_height = None;
                }
            }
            s.blocks.remove(&tip.height);
            let new_tip = tip.height.saturating_sub(1);
            let confirmed: Vec<Txid> = s
                .payouts
                .values()
                .filter(|p| p.state == PayoutState::Confirmed)
                .map(|p| p.txid)
                .collect();
            for t in confirmed {
                effects.extend(s.apply_payout(
                    &t,
                    &PayoutEvent::TipChanged {
                        tip_height: new_tip,
                        finality_depth: u32::MAX,
                    },
                )?);
            }
            s.audit(
                "block.disconnected",
                &tip.height.to_string(),
                &detail(&[("hash", &tip.hash)]),
            );
            Ok(effects)
        })
    }

    fn freeze(&self, reason: &str) -> Result<FreezeState, FloatError> {
        validate_reason(reason)?;
        self.tx(|s| {
            s.set_frozen(reason);
            Ok(FreezeState {
                frozen: true,
                reason: s.freeze_reason.clone(),
            })
        })
    }

    fn unfreeze(&self, reason: &str) -> Result<FreezeState, FloatError> {
        validate_reason(reason)?;
        self.tx(|s| {
            s.frozen = false;
            s.freeze_reason = Some(reason.to_owned());
            s.audit("unfreeze", "system", &detail(&[("reason", &reason)]));
            Ok(FreezeState {
                frozen: false,
                reason: s.freeze_reason.clone(),
            })
        })
    }

    fn open_topup(&self, p: &TopUpProposal) -> Result<Intake<TopUpProposal>, FloatError> {
        validate_topup(p)?;
        self.tx(|s| {
            if let Some(old) = s.topups.get(&p.id).cloned() {
                return Ok(if same_proposal(&old, p) {
                    Intake::Replay(old)
                } else {
                    Intake::Conflict(old)
                });
            }
            if let Some(open) = s.topups.values().find(|t| t.state == TopUpState::Open) {
                return Err(FloatError::TopUpAlreadyOpen(open.id.clone()));
            }
            if let Some(wid) = &p.withdrawal_id {
                let w = s
                    .withdrawals
                    .get(wid)
                    .map(|w| s.view(w))
                    .ok_or_else(|| FloatError::UnknownWithdrawal(wid.clone()))?;
                if w.state != PayoutState::Requested {
                    return Err(FloatError::WithdrawalNotRequested {
                        id: wid.clone(),
                        state: w.state,
                    });
                }
            }
            let rec = TopUpProposal {
                state: TopUpState::Open,
                close_note: None,
                ..p.clone()
            };
            s.topups.insert(p.id.clone(), rec.clone());
            s.topup_order.push(p.id.clone());
            let d = proposal_detail(p);
            s.audit("topup.opened", &p.id, &d);
            Ok(Intake::Created(rec))
        })
    }

    fn close_topup(&self, id: &str, close: &TopUpClose) -> Result<TopUpProposal, FloatError> {
        validate_id("top-up id", id)?;
        if let TopUpClose::Cancelled { reason } = close {
            validate_reason(reason)?;
        }
        self.tx(|s| {
            let t = s
                .topups
                .get(id)
                .cloned()
                .ok_or_else(|| FloatError::UnknownTopUp(id.to_owned()))?;
            if t.state != TopUpState::Open {
                return Err(FloatError::TopUpNotOpen {
                    id: id.to_owned(),
                    state: t.state.as_str(),
                });
            }
            let (state, note) = match close {
                TopUpClose::Submitted { txid } => {
                    let p = s
                        .payouts
                        .get(txid)
                        .ok_or(FloatError::UnknownPayout(*txid))?;
                    check_close_kind(&t, p)?;
                    (TopUpState::Submitted, txid.to_string())
                }
                TopUpClose::Cancelled { reason } => (TopUpState::Cancelled, reason.clone()),
            };
            let rec = TopUpProposal {
                state,
                close_note: Some(note.clone()),
                ..t
            };
            s.topups.insert(id.to_owned(), rec.clone());
            s.audit(
                "topup.closed",
                id,
                &detail(&[("state", &state.as_str()), ("note", &note)]),
            );
            Ok(rec)
        })
    }

    fn submit_proposal(&self, id: &str, c: &PayoutCommit) -> Result<Vec<Effect>, CommitError> {
        validate_id("proposal id", id)?;
        let tx = check_commit_shape(c)?;
        self.tx(|s| {
            let t = s.topups.get(id).cloned();
            if proposal_submission(id, t.as_ref(), c)? {
                s.audit("topup.replay", id, &detail(&[("txid", &c.txid)]));
                return Ok(Vec::new());
            }
            let t = t.ok_or_else(|| CommitError::UnknownProposal(id.to_owned()))?;
            check_proposal_fit(&t, c, &tx)?;
            if s.frozen {
                return Err(CommitError::Frozen {
                    reason: s.freeze_reason.clone().unwrap_or_default(),
                });
            }
            if s.payouts.contains_key(&c.txid) {
                return Err(CommitError::AlreadyCommitted(c.txid));
            }
            let coins: Vec<_> = c.inputs.iter().map(|op| s.coin_view(op)).collect();
            let ws: Vec<_> = c
                .withdrawal_ids
                .iter()
                .map(|id| s.withdrawals.get(id).map(|w| s.view(w)))
                .collect();
            check_commit_against(c, &tx, &coins, &ws, None)?;
            let effects = s.commit_new(c, None)?;
            let note = c.txid.to_string();
            let rec = TopUpProposal {
                state: TopUpState::Submitted,
                close_note: Some(note.clone()),
                ..t
            };
            s.topups.insert(id.to_owned(), rec);
            s.audit(
                "topup.closed",
                id,
                &detail(&[("state", &TopUpState::Submitted.as_str()), ("note", &note)]),
            );
            Ok(effects)
        })
    }

    fn append_audit(&self, kind: &str, subject: &str, d: &str) -> Result<u64, FloatError> {
        validate_audit_note(kind, subject, d)?;
        self.tx(|s| Ok(s.audit(kind, subject, d)))
    }

    fn withdrawal(&self, id: &str) -> Result<Option<Withdrawal>, StoreError> {
        let s = self.lock();
        Ok(s.withdrawals.get(id).map(|w| s.view(w)))
    }

    fn queued_withdrawals(&self, limit: usize) -> Result<Vec<Withdrawal>, StoreError> {
        let s = self.lock();
        let mut v: Vec<_> = s
            .withdrawals
            .values()
            .filter(|w| w.state == WState::Requested)
            .map(|w| s.view(w))
            .collect();
        v.sort_by_key(|w| w.seq);
        v.truncate(limit);
        Ok(v)
    }

    fn voucher(&self, id: &str) -> Result<Option<Voucher>, StoreError> {
        Ok(self.lock().vouchers.get(id).cloned())
    }

    fn payout(&self, txid: &Txid) -> Result<Option<PayoutTx>, StoreError> {
        Ok(self.lock().payouts.get(txid).cloned())
    }

    fn payouts_in_states(&self, states: &[PayoutState]) -> Result<Vec<PayoutTx>, StoreError> {
        Ok(self
            .lock()
            .payouts
            .values()
            .filter(|p| states.contains(&p.state))
            .cloned()
            .collect())
    }

    fn pending_effects(&self) -> Result<Vec<Effect>, StoreError> {
        Ok(self
            .lock()
            .payouts
            .values()
            .filter(|p| p.state.needs_send())
            .map(|p| Effect::Broadcast {
                txid: p.txid,
                raw_tx: p.raw_tx.clone(),
                attempt: p.send_attempts,
            })
            .collect())
    }

    fn coin(&self, outpoint: &OutPoint) -> Result<Option<Coin>, StoreError> {
        Ok(self.lock().coins.get(outpoint).cloned())
    }

    fn spendable_coins(&self) -> Result<Vec<Coin>, StoreError> {
        let s = self.lock();
        Ok(s.coins
            .values()
            .filter(|c| {
                c.keychain.is_hot()
                    && c.spent_by.is_none()
                    && c.reserved_by.is_none()
                    && !c.is_dust
                    && (c.height.is_some() || c.created_by.is_some_and(|t| s.change_spendable(&t)))
            })
            .cloned()
            .collect())
    }

    fn unspent_coins(&self) -> Result<Vec<Coin>, StoreError> {
        let s = self.lock();
        Ok(s.coins
            .values()
            .filter(|c| c.spent_by.is_none())
            .cloned()
            .collect())
    }

    fn balances(&self) -> Result<Balances, StoreError> {
        let s = self.lock();
        let mut b = Balances::default();
        for c in s.coins.values().filter(|c| c.spent_by.is_none()) {
            let creator_ok = c
                .created_by
                .is_none_or(|t| s.payouts.get(&t).is_some_and(|p| is_live(p.state)));
            if c.keychain.is_hot() {
                match c.height {
                    Some(_) => b.hot_confirmed_wat += c.value_wat,
                    None if creator_ok => {
                        b.hot_unconfirmed_wat += c.value_wat;
                        if c.created_by.is_some() {
                            b.hot_change_unconfirmed_wat += c.value_wat;
                        }
                    }
                    None => {}
                }
                if c.reserved_by.is_some() {
                    b.hot_reserved_wat += c.value_wat;
                }
                if c.is_dust && c.height.is_some() {
                    b.hot_dust_wat += c.value_wat;
                }
            } else if c.height.is_some() {
                b.cold_confirmed_wat += c.value_wat;
            }
        }
        for w in s.withdrawals.values() {
            let v = s.view(w);
            match v.state {
                PayoutState::Requested => b.queued_wat += w.amount_wat,
                PayoutState::Signed
                | PayoutState::Broadcast
                | PayoutState::Confirmed
                | PayoutState::Stuck => b.in_flight_wat += w.amount_wat,
                _ => {}
            }
        }
        Ok(b)
    }

    fn freeze_state(&self) -> Result<FreezeState, StoreError> {
        let s = self.lock();
        Ok(FreezeState {
            frozen: s.frozen,
            reason: s.freeze_reason.clone(),
        })
    }

    fn tip(&self) -> Result<Option<BlockRef>, StoreError> {
        Ok(self
            .lock()
            .blocks
            .iter()
            .next_back()
            .map(|(&height, &hash)| BlockRef { height, hash }))
    }

    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, StoreError> {
        Ok(self.lock().blocks.get(&height).copied())
    }

    fn topup(&self, id: &str) -> Result<Option<TopUpProposal>, StoreError> {
        Ok(self.lock().topups.get(id).cloned())
    }

    fn open_topup_proposal(&self) -> Result<Option<TopUpProposal>, StoreError> {
        Ok(self
            .lock()
            .topups
            .values()
            .find(|t| t.state == TopUpState::Open)
            .cloned())
    }

    fn topup_proposals(&self, limit: usize) -> Result<Vec<TopUpProposal>, StoreError> {
        let s = self.lock();
        Ok(s.topup_order
            .iter()
            .filter_map(|id| s.topups.get(id).cloned())
            .take(limit)
            .collect())
    }

    fn audit_entries(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .lock()
            .audit
            .iter()
            .filter(|e| e.seq >= from_seq)
            .take(limit)
            .cloned()
            .collect())
    }

    fn audit_head(&self) -> Result<AuditHead, StoreError> {
        Ok(self.lock().head())
    }

    fn verify_audit(&self) -> Result<AuditReport, AuditError> {
        let s = self.lock();
        audit::verify_chain(s.audit.iter().cloned().map(Ok), &s.head())
    }
}

/// Checks a block update's own fields.
pub(crate) fn validate_block_update(u: &BlockUpdate) -> Result<(), InvalidInput> {
    if u.finality_depth == 0 {
        return Err(InvalidInput::Bad {
            field: "finality_depth",
            detail: "must be at least 1".into(),
        });
    }
    for c in &u.new_coins {
        c.validate()?;
    }
    Ok(())
}

/// Whether two proposals with the same id have the same body (replay) or not (conflict).
pub(crate) fn same_proposal(old: &TopUpProposal, p: &TopUpProposal) -> bool {
    old.psbt == p.psbt
        && old.unsigned_txid == p.unsigned_txid
        && old.amount_wat == p.amount_wat
        && old.withdrawal_id == p.withdrawal_id
}

/// The audit detail of an opened proposal.
pub(crate) fn proposal_detail(p: &TopUpProposal) -> String {
    let mut pairs: Vec<(&str, &dyn std::fmt::Display)> = vec![
        ("unsigned_txid", &p.unsigned_txid),
        ("amount_wat", &p.amount_wat),
    ];
    if let Some(w) = &p.withdrawal_id {
        pairs.push(("purpose", &"cold_withdrawal"));
        pairs.push(("withdrawal", w));
    }
    detail(&pairs)
}

/// Checks a top-up proposal's own fields.
pub(crate) fn validate_topup(p: &TopUpProposal) -> Result<(), InvalidInput> {
    validate_id("top-up id", &p.id)?;
    if let Some(w) = &p.withdrawal_id {
        validate_withdrawal_id(w)?;
    }
    validate_amount(p.amount_wat)?;
    if p.psbt.is_empty() || p.psbt.len() > 4_000_000 {
        return Err(InvalidInput::Bad {
            field: "psbt",
            detail: format!("{} bytes (1..=4000000 allowed)", p.psbt.len()),
        });
    }
    Ok(())
}

/// Checks a free audit note.
pub(crate) fn validate_audit_note(kind: &str, subject: &str, d: &str) -> Result<(), InvalidInput> {
    let kind_ok = !kind.is_empty()
        && kind.len() <= 64
        && kind.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if !kind_ok {
        return Err(InvalidInput::Bad {
            field: "audit kind",
            detail: "use 1 to 64 characters of a-z 0-9 . _ -".into(),
        });
    }
    if subject.len() > 256 || d.len() > 4096 {
        return Err(InvalidInput::Bad {
            field: "audit note",
            detail: "subject over 256 bytes or detail over 4096 bytes".into(),
        });
    }
    Ok(())
}
