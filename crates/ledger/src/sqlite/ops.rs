//! Write operations, each run by the writer thread inside its own savepoint.
//!
//! Module invariant: every function here either returns `Ok` with all its rows (and audit
//! rows) written, or returns `Err` and the caller rolls its savepoint back; the same semantics,
//! step by step, as [`crate::memory::MemoryLedger`] (the conformance suite compares them).

use super::read::{self, i64_of};
use super::Db;
use crate::audit;
use crate::machine::{apply, Effect, Payout, PayoutEvent, PayoutState, SignedTx, TransitionError};
use crate::model::*;
use crate::store::*;
use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, Transaction, Txid};
use rusqlite::{params, Connection, OptionalExtension};

fn b(t: &Txid) -> &[u8] {
    t.as_byte_array().as_slice()
}

/// Appends one audit row and moves the head, in the caller's transaction.
pub(crate) fn audit(
    c: &Connection,
    kind: &str,
    subject: &str,
    detail: &str,
) -> Result<u64, StoreError> {
    let head = read::audit_head(c)?;
    let e = audit::next_entry(&head, now_unix(), kind, subject, detail);
    c.prepare_cached(
        "INSERT INTO audit_log (seq, created_at, kind, subject, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .db()?
    .execute(params![
        i64_of(e.seq),
        e.created_at,
        e.kind,
        e.subject,
        e.detail,
        e.prev_hash.as_slice(),
        e.hash.as_slice()
    ])
    .db()?;
    c.prepare_cached("UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1")
        .db()?
        .execute(params![i64_of(e.seq), e.hash.as_slice()])
        .db()?;
    Ok(e.seq)
}

/// Error of an internal payout transition.
pub(crate) enum ApplyError {
    Transition(TransitionError),
    Store(StoreError),
}

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> Self {
        ApplyError::Store(e)
    }
}
impl From<TransitionError> for ApplyError {
    fn from(e: TransitionError) -> Self {
        ApplyError::Transition(e)
    }
}
impl From<ApplyError> for PayoutOpError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Transition(t) => t.into(),
            ApplyError::Store(s) => s.into(),
        }
    }
}
impl From<ApplyError> for CommitError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Transition(t) => t.into(),
            ApplyError::Store(s) => s.into(),
        }
    }
}
impl From<ApplyError> for BlockError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Transition(t) => t.into(),
            ApplyError::Store(s) => s.into(),
        }
    }
}

fn set_frozen(c: &Connection, reason: &str) -> Result<(), StoreError> {
    c.prepare_cached("UPDATE float_state SET frozen = 1, reason = ?1 WHERE id = 1 AND frozen = 0")
        .db()?
        .execute(params![reason])
        .db()?;
    audit(c, "freeze", "system", &detail(&[("reason", &reason)]))?;
    Ok(())
}

/// Applies one machine event to a stored payout and persists the result.
fn apply_payout(
    c: &Connection,
    txid: &Txid,
    event: &PayoutEvent,
) -> Result<Vec<Effect>, ApplyError> {
    let p = read::payout(c, txid)?
        .ok_or_else(|| TransitionError::Inconsistent(format!("unknown payout {txid}")))?;
    let before = p.state;
    let (next, effects) = apply(&p.machine(), event)?;
    let conf = next.confirmation;
    let stuck = if next.state == PayoutState::Stuck {
        next.reason.clone()
    } else {
        None
    };
    let last = match event {
        PayoutEvent::SendAttempted { outcome } => Some(outcome.kind().to_owned()),
        _ => p.last_send_outcome.clone(),
    };
    c.prepare_cached(
        "UPDATE payout_txs SET state = ?2, send_attempts = ?3, last_send_outcome = ?4, height = ?5, block_hash = ?6, \
         confirmations = ?7, replaced_by = ?8, stuck_reason = ?9 WHERE txid = ?1",
    )
    .db()?
    .execute(params![
        b(txid),
        next.state.as_str(),
        next.send_attempts,
        last,
        conf.map(|c| c.height),
        conf.map(|c| c.block_hash.to_byte_array().to_vec()),
        conf.map(|c| c.confirmations),
        next.replaced_by.map(|t| t.to_byte_array().to_vec()),
        stuck
    ])
    .db()?;
    if before != next.state || !matches!(event, PayoutEvent::TipChanged { .. }) {
        let d = detail(&[
            ("event", &event.kind()),
            ("from", &before),
            ("to", &next.state),
            ("attempts", &next.send_attempts),
        ]);
        audit(c, "payout.transition", &txid.to_string(), &d)?;
    }
    for e in &effects {
        if let Effect::FreezeSystem { reason } = e {
            set_frozen(c, reason)?;
        }
    }
    Ok(effects)
}

fn intake_withdrawal(
    c: &Connection,
    w: &WithdrawalRequest,
    voucher_id: Option<&str>,
) -> Result<(), StoreError> {
    let (source, vid) = match voucher_id {
        Some(v) => ("voucher", Some(v)),
        None => ("request", None),
    };
    c.prepare_cached(
        "INSERT INTO withdrawals (id, source, voucher_id, address, script_pubkey, amount_wat, state, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'requested', ?7)",
    )
    .db()?
    .execute(params![
        w.id,
        source,
        vid,
        w.destination.address,
        w.destination.script_pubkey.as_bytes(),
        i64_of(w.amount_wat),
        now_unix()
    ])
    .db()?;
    Ok(())
}

pub(crate) fn request_withdrawal(
    c: &Connection,
    req: &WithdrawalRequest,
) -> Result<Intake<Withdrawal>, IntakeError> {
    // Unique by constraint: INSERT OR IGNORE, then read back whatever holds the key.
    let inserted = c
        .prepare_cached(
            "INSERT INTO withdrawals (id, source, voucher_id, address, script_pubkey, amount_wat, state, created_at) \
             VALUES (?1, 'request', NULL, ?2, ?3, ?4, 'requested', ?5) ON CONFLICT(id) DO NOTHING",
        )
        .db()?
        .execute(params![
            req.id,
            req.destination.address,
            req.destination.script_pubkey.as_bytes(),
            i64_of(req.amount_wat),
            now_unix()
        ])
        .db()?;
    let w = read::withdrawal(c, &req.id)?
        .ok_or_else(|| StoreError::Corrupt("withdrawal vanished".into()))?;
    if inserted == 1 {
        let d = detail(&[
            ("address", &req.destination.address),
            ("amount_wat", &req.amount_wat),
        ]);
        audit(c, "withdrawal.requested", &req.id, &d)?;
        return Ok(Intake::Created(w));
    }
    let same = w.source == WithdrawalSource::Request
        && w.destination == req.destination
        && w.amount_wat == req.amount_wat;
    if same {
        audit(c, "withdrawal.replay", &req.id, "")?;
        Ok(Intake::Replay(w))
    } else {
        audit(
            c,
            "withdrawal.conflict",
            &req.id,
            &detail(&[("amount_wat", &req.amount_wat)]),
        )?;
        Ok(Intake::Conflict(w))
    }
}

pub(crate) fn create_voucher(
    c: &Connection,
    v: &NewVoucher,
) -> Result<Intake<Voucher>, IntakeError> {
    if let Some(old) = read::voucher(c, &v.id)? {
        return Ok(
            if old.code_hash == v.code_hash && old.amount_wat == v.amount_wat {
                audit(c, "voucher.replay", &v.id, "")?;
                Intake::Replay(old)
            } else {
                audit(c, "voucher.conflict", &v.id, "")?;
                Intake::Conflict(old)
            },
        );
    }
    if read::voucher_by_hash(c, &v.code_hash)?.is_some() {
        return Err(InvalidInput::Bad {
            field: "code_hash",
            detail: "already used by another voucher".into(),
        }
        .into());
    }
    c.prepare_cached(
        "INSERT INTO vouchers (id, code_hash, amount_wat, state, created_at) VALUES (?1, ?2, ?3, 'active', ?4)",
    )
    .db()?
    .execute(params![v.id, v.code_hash.0.as_slice(), i64_of(v.amount_wat), now_unix()])
    .db()?;
    audit(
        c,
        "voucher.created",
        &v.id,
        &detail(&[("amount_wat", &v.amount_wat)]),
    )?;
    let rec =
        read::voucher(c, &v.id)?.ok_or_else(|| StoreError::Corrupt("voucher vanished".into()))?;
    Ok(Intake::Created(rec))
}

pub(crate) fn redeem_voucher(
    c: &Connection,
    h: &CodeHash,
    dest: &Destination,
) -> Result<Redemption, IntakeError> {
    let Some(v) = read::voucher_by_hash(c, h)? else {
        return Ok(Redemption::NotFound);
    };
    let wid = format!("{VOUCHER_WITHDRAWAL_PREFIX}{}", v.id);
    if v.state == VoucherState::Redeemed {
        let w = read::withdrawal(c, &wid)?
            .ok_or_else(|| StoreError::Corrupt(format!("{wid} missing")))?;
        return Ok(if w.destination == *dest {
            audit(c, "voucher.replay", &v.id, "")?;
            Redemption::Replay(w)
        } else {
            audit(
                c,
                "voucher.conflict",
                &v.id,
                &detail(&[("address", &dest.address)]),
            )?;
            Redemption::Conflict(w)
        });
    }
    // The voucher row flips to redeemed only if it is still active (guards any race), and the
    // withdrawal id is unique: a second redemption can never create a second payout.
    let req = WithdrawalRequest {
        id: wid.clone(),
        destination: dest.clone(),
        amount_wat: v.amount_wat,
    };
    discard_rejected_voucher_withdrawal(c, &wid)?;
    intake_withdrawal(c, &req, Some(&v.id))?;
    let n = c
        .prepare_cached(
            "UPDATE vouchers SET state = 'redeemed', redeemed_address = ?2, redeemed_script = ?3, withdrawal_id = ?4 \
             WHERE id = ?1 AND state = 'active'",
        )
        .db()?
        .execute(params![v.id, dest.address, dest.script_pubkey.as_bytes(), wid])
        .db()?;
    if n != 1 {
        return Err(StoreError::Corrupt("voucher changed under redemption".into()).into());
    }
    audit(
        c,
        "voucher.redeemed",
        &v.id,
        &detail(&[("address", &dest.address)]),
    )?;
    let d = detail(&[("address", &dest.address), ("amount_wat", &v.amount_wat)]);
    audit(c, "withdrawal.requested", &wid, &d)?;
    let w = read::withdrawal(c, &wid)?
        .ok_or_else(|| StoreError::Corrupt("withdrawal vanished".into()))?;
    Ok(Redemption::Created(w))
}

pub(crate) fn reject_withdrawal(
    c: &Connection,
    id: &str,
    reason: &str,
) -> Result<Withdrawal, PayoutOpError> {
    let w =
        read::withdrawal(c, id)?.ok_or_else(|| PayoutOpError::UnknownWithdrawal(id.to_owned()))?;
    if w.state != PayoutState::Requested {
        return Err(TransitionError::NotAllowed {
            state: w.state,
            event: "policy_refused",
        }
        .into());
    }
    apply(
        &Payout::requested(),
        &PayoutEvent::PolicyRefused {
            reason: reason.to_owned(),
        },
    )?;
    c.prepare_cached("UPDATE withdrawals SET state = 'rejected', reject_reason = ?2 WHERE id = ?1 AND state = 'requested'")
        .db()?
        .execute(params![id, reason])
        .db()?;
    audit(
        c,
        "withdrawal.rejected",
        id,
        &detail(&[("reason", &reason)]),
    )?;
    if let WithdrawalSource::Voucher { voucher_id } = &w.source {
        release_voucher(c, voucher_id, id)?;
    }
    Ok(
        read::withdrawal(c, id)?
            .ok_or_else(|| StoreError::Corrupt("withdrawal vanished".into()))?,
    )
}

/// A voucher whose withdrawal policy refused (no transaction ever existed) is owed in full:
/// it becomes redeemable again, in the same transaction as the rejection, on the record.
fn release_voucher(c: &Connection, voucher_id: &str, wid: &str) -> Result<(), StoreError> {
    let n = c
        .prepare_cached(
            "UPDATE vouchers SET state = 'active', redeemed_address = NULL, redeemed_script = NULL, \
             withdrawal_id = NULL WHERE id = ?1 AND state = 'redeemed' AND withdrawal_id = ?2",
        )
        .db()?
        .execute(params![voucher_id, wid])
        .db()?;
    if n != 1 {
        return Err(StoreError::Corrupt(format!(
            "voucher {voucher_id} is not redeemed by {wid}"
        )));
    }
    audit(
        c,
        VOUCHER_RELEASED,
        voucher_id,
        &detail(&[("withdrawal", &wid)]),
    )?;
    Ok(())
}

/// Before a released voucher is redeemed again: its rejected withdrawal (which never had a
/// transaction) gives its id back; the audit log keeps its history.
fn discard_rejected_voucher_withdrawal(c: &Connection, wid: &str) -> Result<(), StoreError> {
    let Some(old) = read::withdrawal(c, wid)? else {
        return Ok(());
    };
    if old.state != PayoutState::Rejected || old.txid.is_some() {
        return Err(StoreError::Corrupt(format!(
            "{wid} exists in state {} while its voucher is active",
            old.state
        )));
    }
    c.prepare_cached(
        "DELETE FROM withdrawals WHERE id = ?1 AND state = 'rejected' AND txid IS NULL",
    )
    .db()?
    .execute(params![wid])
    .db()?;
    audit(
        c,
        WITHDRAWAL_DISCARDED,
        wid,
        &detail(&[("state", &old.state)]),
    )?;
    Ok(())
}

fn coin_view(c: &Connection, op: &OutPoint) -> Result<Option<CoinView>, StoreError> {
    let Some(coin) = read::coin(c, op)? else {
        return Ok(None);
    };
    let creator_live = match coin.created_by {
        Some(t) => match read::payout(c, &t)? {
            Some(p) => change_is_spendable(&p, read::has_family_edges(c, &t)?),
            None => false,
        },
        None => false,
    };
    Ok(Some(CoinView { coin, creator_live }))
}

fn insert_coin(
    c: &Connection,
    nc: &NewCoin,
    height: Option<u32>,
    created_by: Option<Txid>,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO coins (txid, vout, value_wat, script_pubkey, keychain, derivation_index, height, is_dust, created_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .db()?
    .execute(params![
        b(&nc.outpoint.txid),
        nc.outpoint.vout,
        i64_of(nc.value_wat),
        nc.script_pubkey.as_bytes(),
        nc.keychain.as_str(),
        nc.derivation_index,
        height,
        nc.is_dust as i64,
        created_by.map(|t| t.to_byte_array().to_vec())
    ])
    .db()?;
    Ok(())
}

/// Commits a new payout, or a replacement of `replacing` (fee bump).
pub(crate) fn commit_payout(
    c: &Connection,
    p: &PayoutCommit,
    tx: &Transaction,
    replacing: Option<Txid>,
) -> Result<Vec<Effect>, CommitError> {
    let fs = read::freeze_state(c)?;
    if fs.frozen {
        return Err(CommitError::Frozen {
            reason: fs.reason.unwrap_or_default(),
        });
    }
    if read::payout(c, &p.txid)?.is_some() {
        return Err(CommitError::AlreadyCommitted(p.txid));
    }
    let old = match replacing {
        Some(o) => {
            let old = read::payout(c, &o)?.ok_or(CommitError::UnknownPayout(o))?;
            apply(&old.machine(), &PayoutEvent::Replaced { by: p.txid })?;
            Some(old)
        }
        None => None,
    };
    let coins = p
        .inputs
        .iter()
        .map(|op| coin_view(c, op))
        .collect::<Result<Vec<_>, _>>()?;
    let ws = p
        .withdrawal_ids
        .iter()
        .map(|id| read::withdrawal(c, id))
        .collect::<Result<Vec<_>, _>>()?;
    check_commit_against(p, tx, &coins, &ws, old.as_ref())?;
    if let Some(old) = &old {
        check_replacement_family(p, &family(c, old)?)?;
    }
    if let Some(old) = &old {
        let busy: Option<(Vec<u8>, i64)> = c
            .prepare_cached(
                "SELECT c.txid, c.vout FROM coins c JOIN reservations r ON r.txid = c.txid AND r.vout = c.vout \
                 WHERE c.created_by = ?1 ORDER BY c.txid, c.vout LIMIT 1",
            )
            .db()?
            .query_row(params![b(&old.txid)], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .db()?;
        if let Some((t, v)) = busy {
            let op = OutPoint {
                txid: read::txid_of(t)?,
                vout: read::u32_of(v, "vout")?,
            };
            return Err(CommitError::ReplacementMismatch {
                txid: old.txid,
                detail: format!("its output {op} is spent by another payout"),
            });
        }
    }
    let signed = SignedTx {
        txid: p.txid,
        raw_tx: p.raw_tx.clone(),
    };
    let (machine, effects) = apply(&Payout::requested(), &PayoutEvent::Committed { tx: signed })?;
    c.prepare_cached(
        "INSERT INTO payout_txs (txid, raw_tx, kind, fee_wat, state, send_attempts, replaces, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)",
    )
    .db()?
    .execute(params![
        b(&p.txid),
        p.raw_tx,
        p.kind.as_str(),
        i64_of(p.fee_wat),
        machine.state.as_str(),
        replacing.map(|t| t.to_byte_array().to_vec()),
        now_unix()
    ])
    .db()?;
    for (i, op) in p.inputs.iter().enumerate() {
        c.prepare_cached(
            "INSERT INTO payout_inputs (txid, idx, prev_txid, prev_vout) VALUES (?1, ?2, ?3, ?4)",
        )
        .db()?
        .execute(params![b(&p.txid), i as i64, b(&op.txid), op.vout])
        .db()?;
        // Reserve: a plain INSERT, so the primary key refuses a coin reserved by anyone else;
        // a coin reserved by the payout being replaced moves to the replacement.
        let moved = match replacing {
            Some(o) => c
                .prepare_cached("UPDATE reservations SET payout_txid = ?3 WHERE txid = ?1 AND vout = ?2 AND payout_txid = ?4")
                .db()?
                .execute(params![b(&op.txid), op.vout, b(&p.txid), b(&o)])
                .db()?,
            None => 0,
        };
        if moved == 0 {
            c.prepare_cached(
                "INSERT INTO reservations (txid, vout, payout_txid) VALUES (?1, ?2, ?3)",
            )
            .db()?
            .execute(params![b(&op.txid), op.vout, b(&p.txid)])
            .db()?;
        }
    }
    for ch in &p.change {
        insert_coin(c, ch, None, Some(p.txid))?;
    }
    for id in &p.withdrawal_ids {
        c.prepare_cached("INSERT INTO payout_withdrawals (txid, withdrawal_id) VALUES (?1, ?2)")
            .db()?
            .execute(params![b(&p.txid), id])
            .db()?;
        if replacing.is_none() {
            let n = c
                .prepare_cached("UPDATE withdrawals SET state = 'linked', txid = ?2 WHERE id = ?1 AND state = 'requested'")
                .db()?
                .execute(params![id, b(&p.txid)])
                .db()?;
            if n != 1 {
                return Err(
                    StoreError::Corrupt(format!("withdrawal {id} changed under commit")).into(),
                );
            }
        }
    }
    let d = detail(&[
        ("kind", &p.kind.as_str()),
        ("fee_wat", &p.fee_wat),
        ("inputs", &p.inputs.len()),
        ("withdrawals", &p.withdrawal_ids.join(",")),
        (
            "replaces",
            &replacing.map(|t| t.to_string()).unwrap_or_default(),
        ),
    ]);
    audit(c, "payout.signed", &p.txid.to_string(), &d)?;
    if let Some(o) = replacing {
        apply_payout(c, &o, &PayoutEvent::Replaced { by: p.txid })?;
        relink(c, &o, &p.txid)?;
    }
    Ok(effects)
}

/// `old` first, then every payout linked to it by `replaces`/`replaced_by` edges (either
/// direction, transitively), by txid.
fn family(c: &Connection, old: &PayoutTx) -> Result<Vec<PayoutTx>, StoreError> {
    let mut seen = std::collections::BTreeSet::from([old.txid]);
    let mut todo = vec![old.txid];
    while let Some(t) = todo.pop() {
        let mut next = txids_where(
            c,
            "SELECT txid FROM payout_txs WHERE replaces = ?1 OR replaced_by = ?1 \
             UNION SELECT replaces FROM payout_txs WHERE txid = ?1 AND replaces IS NOT NULL \
             UNION SELECT replaced_by FROM payout_txs WHERE txid = ?1 AND replaced_by IS NOT NULL",
            &[&b(&t)],
        )?;
        next.retain(|n| seen.insert(*n));
        todo.extend(next);
    }
    let mut out = vec![old.clone()];
    for t in seen.iter().filter(|t| **t != old.txid) {
        out.push(read::payout(c, t)?.ok_or_else(|| read::corrupt("family member vanished"))?);
    }
    Ok(out)
}

fn relink(c: &Connection, from: &Txid, to: &Txid) -> Result<(), StoreError> {
    c.prepare_cached("UPDATE withdrawals SET txid = ?2 WHERE txid = ?1")
        .db()?
        .execute(params![b(from), b(to)])
        .db()?;
    c.prepare_cached(
        "INSERT OR IGNORE INTO payout_withdrawals (txid, withdrawal_id) SELECT ?2, withdrawal_id FROM payout_withdrawals WHERE txid = ?1",
    )
    .db()?
    .execute(params![b(from), b(to)])
    .db()?;
    Ok(())
}

pub(crate) fn payout_event(
    c: &Connection,
    txid: &Txid,
    event: &PayoutEvent,
) -> Result<Vec<Effect>, PayoutOpError> {
    if read::payout(c, txid)?.is_none() {
        return Err(PayoutOpError::UnknownPayout(*txid));
    }
    Ok(apply_payout(c, txid, event)?)
}

pub(crate) fn mark_conflicting_spend(
    c: &Connection,
    txid: &Txid,
    spending_txid: Option<Txid>,
) -> Result<Vec<Effect>, PayoutOpError> {
    if read::payout(c, txid)?.is_none() {
        return Err(PayoutOpError::UnknownPayout(*txid));
    }
    if let Some(s) = spending_txid {
        if is_payout(c, &s)? {
            return Err(own_spend(s).into());
        }
    }
    Ok(apply_payout(
        c,
        txid,
        &PayoutEvent::ConflictingSpend { spending_txid },
    )?)
}

fn txids_where(
    c: &Connection,
    sql: &str,
    p: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Txid>, StoreError> {
    let mut st = c.prepare_cached(sql).db()?;
    let rows: Vec<Vec<u8>> = st
        .query_map(p, |r| r.get(0))
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    rows.into_iter().map(read::txid_of).collect()
}

fn release_replaced_by(c: &Connection, winner: Txid) -> Result<(), StoreError> {
    let mut winners = vec![winner];
    while let Some(w) = winners.pop() {
        let losers = txids_where(
            c,
            "SELECT txid FROM payout_txs WHERE state = 'replaced_by' AND replaced_by = ?1 ORDER BY txid",
            &[&b(&w)],
        )?;
        for l in losers {
            c.prepare_cached(
                "DELETE FROM reservations WHERE payout_txid = ?1 AND EXISTS (SELECT 1 FROM coins k \
                 WHERE k.txid = reservations.txid AND k.vout = reservations.vout AND k.spent_by IS NULL)",
            )
            .db()?
            .execute(params![b(&l)])
            .db()?;
            winners.push(l);
        }
    }
    Ok(())
}

fn is_payout(c: &Connection, t: &Txid) -> Result<bool, StoreError> {
    c.prepare_cached("SELECT 1 FROM payout_txs WHERE txid = ?1")
        .db()?
        .query_row(params![b(t)], |_| Ok(()))
        .optional()
        .db()
        .map(|o| o.is_some())
}

pub(crate) fn block_connected(c: &Connection, u: &BlockUpdate) -> Result<Vec<Effect>, BlockError> {
    let h = u.block.height;
    if let Some(tip) = read::tip(c)? {
        if h != tip.height.wrapping_add(1) || u.prev_hash != tip.hash {
            return Err(BlockError::NotOnTip {
                height: h,
                tip_height: tip.height,
                tip_hash: tip.hash,
            });
        }
    }
    c.prepare_cached("INSERT INTO blocks (height, hash) VALUES (?1, ?2)")
        .db()?
        .execute(params![h, u.block.hash.as_byte_array().as_slice()])
        .db()?;
    c.prepare_cached("DELETE FROM blocks WHERE height < ?1")
        .db()?
        .execute(params![h.saturating_sub(BLOCK_HASH_RETENTION - 1)])
        .db()?;
    let mut effects = Vec::new();
    // 1. our new coins
    for nc in &u.new_coins {
        let n = c
            .prepare_cached("UPDATE coins SET height = ?3 WHERE txid = ?1 AND vout = ?2")
            .db()?
            .execute(params![b(&nc.outpoint.txid), nc.outpoint.vout, h])
            .db()?;
        if n == 0 {
            let created_by = if is_payout(c, &nc.outpoint.txid)? {
                Some(nc.outpoint.txid)
            } else {
                None
            };
            insert_coin(c, nc, Some(h), created_by)?;
        }
    }
    // 2. spends
    for (op, spender) in &u.spends {
        let Some(coin) = read::coin(c, op)? else {
            continue;
        };
        c.prepare_cached(
            "UPDATE coins SET spent_by = ?3, spent_height = ?4 WHERE txid = ?1 AND vout = ?2",
        )
        .db()?
        .execute(params![b(&op.txid), op.vout, b(spender), h])
        .db()?;
        if is_payout(c, spender)? || !coin.keychain.is_hot() {
            continue;
        }
        let reserved_live = match coin.reserved_by {
            Some(p) => read::payout(c, &p)?.is_some_and(|p| takes_conflicting_spend(p.state)),
            None => false,
        };
        match coin.reserved_by {
            Some(p) if reserved_live => {
                effects.extend(apply_payout(
                    c,
                    &p,
                    &PayoutEvent::ConflictingSpend {
                        spending_txid: Some(*spender),
                    },
                )?);
            }
            _ => {
                let reason =
                    format!("hot coin {op} spent by {spender} that the ledger did not make");
                set_frozen(c, &reason)?;
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
    // 3. our transactions in the block; conflicting siblings are superseded
    let mut ours = Vec::new();
    for t in &u.txids {
        if is_payout(c, t)? {
            ours.push(*t);
        }
    }
    ours.sort();
    ours.dedup();
    for t in &ours {
        effects.extend(apply_payout(
            c,
            t,
            &PayoutEvent::SeenInBlock {
                height: h,
                block_hash: u.block.hash,
                tip_height: h,
            },
        )?);
        let losers = txids_where(
            c,
            "SELECT DISTINCT p.txid FROM payout_txs p JOIN payout_inputs i ON i.txid = p.txid \
             JOIN payout_inputs w ON w.prev_txid = i.prev_txid AND w.prev_vout = i.prev_vout AND w.txid = ?1 \
             WHERE p.txid <> ?1 AND p.state IN ('signed', 'broadcast', 'stuck') ORDER BY p.txid",
            &[&b(t)],
        )?;
        if losers.is_empty() {
            continue;
        }
        let winner = read::payout(c, t)?.ok_or_else(|| read::corrupt("payout vanished"))?;
        let fam: Vec<Txid> = family(c, &winner)?.iter().map(|p| p.txid).collect();
        for l in losers {
            if fam.contains(&l) {
                effects.extend(apply_payout(c, &l, &PayoutEvent::Replaced { by: *t })?);
                relink(c, &l, t)?;
            } else {
                // Not a version of the same payout (only possible after a reorg deeper than
                // the finality depth re-used a released coin): it can never confirm, and it
                // pays other withdrawals, so it is never relinked. An operator must look.
                effects.extend(apply_payout(
                    c,
                    &l,
                    &PayoutEvent::ConflictingSpend {
                        spending_txid: Some(*t),
                    },
                )?);
            }
        }
    }
    // 4. confirmations and finality
    let confirmed = txids_where(
        c,
        "SELECT txid FROM payout_txs WHERE state = 'confirmed' ORDER BY txid",
        &[],
    )?;
    for t in confirmed {
        effects.extend(apply_payout(
            c,
            &t,
            &PayoutEvent::TipChanged {
                tip_height: h,
                finality_depth: u.finality_depth,
            },
        )?);
        if read::payout(c, &t)?.is_some_and(|p| p.state == PayoutState::Final) {
            release_replaced_by(c, t)?;
        }
    }
    let d = detail(&[
        ("hash", &u.block.hash),
        ("new_coins", &u.new_coins.len()),
        ("ours", &ours.len()),
    ]);
    audit(c, "block.connected", &h.to_string(), &d)?;
    Ok(effects)
}

pub(crate) fn block_disconnected(
    c: &Connection,
    tip: &BlockRef,
) -> Result<Vec<Effect>, BlockError> {
    match read::tip(c)? {
        Some(t) if t == *tip => {}
        _ => {
            return Err(BlockError::NotTip {
                height: tip.height,
                hash: tip.hash,
            })
        }
    }
    let mut effects = Vec::new();
    let in_block = txids_where(
        c,
        "SELECT txid FROM payout_txs WHERE block_hash = ?1 ORDER BY txid",
        &[&tip.hash.as_byte_array().as_slice()],
    )?;
    for t in in_block {
        effects.extend(apply_payout(
            c,
            &t,
            &PayoutEvent::BlockDisconnected {
                block_hash: tip.hash,
            },
        )?);
    }
    c.prepare_cached("UPDATE coins SET height = NULL WHERE height = ?1")
        .db()?
        .execute(params![tip.height])
        .db()?;
    c.prepare_cached(
        "UPDATE coins SET spent_by = NULL, spent_height = NULL WHERE spent_height = ?1",
    )
    .db()?
    .execute(params![tip.height])
    .db()?;
    c.prepare_cached("DELETE FROM blocks WHERE height = ?1")
        .db()?
        .execute(params![tip.height])
        .db()?;
    let new_tip = tip.height.saturating_sub(1);
    let confirmed = txids_where(
        c,
        "SELECT txid FROM payout_txs WHERE state = 'confirmed' ORDER BY txid",
        &[],
    )?;
    for t in confirmed {
        effects.extend(apply_payout(
            c,
            &t,
            &PayoutEvent::TipChanged {
                tip_height: new_tip,
                finality_depth: u32::MAX,
            },
        )?);
    }
    audit(
        c,
        "block.disconnected",
        &tip.height.to_string(),
        &detail(&[("hash", &tip.hash)]),
    )?;
    Ok(effects)
}

pub(crate) fn freeze(c: &Connection, reason: &str) -> Result<FreezeState, FloatError> {
    set_frozen(c, reason)?;
    Ok(read::freeze_state(c)?)
}

pub(crate) fn unfreeze(c: &Connection, reason: &str) -> Result<FreezeState, FloatError> {
    c.prepare_cached("UPDATE float_state SET frozen = 0, reason = ?1 WHERE id = 1")
        .db()?
        .execute(params![reason])
        .db()?;
    audit(c, "unfreeze", "system", &detail(&[("reason", &reason)]))?;
    Ok(read::freeze_state(c)?)
}

pub(crate) fn open_topup(
    c: &Connection,
    p: &TopUpProposal,
) -> Result<Intake<TopUpProposal>, FloatError> {
    if let Some(old) = read::topup(c, &p.id)? {
        return Ok(if crate::memory::same_proposal(&old, p) {
            Intake::Replay(old)
        } else {
            Intake::Conflict(old)
        });
    }
    if let Some(open) = read::open_topup(c)? {
        return Err(FloatError::TopUpAlreadyOpen(open.id));
    }
    if let Some(wid) = &p.withdrawal_id {
        let w =
            read::withdrawal(c, wid)?.ok_or_else(|| FloatError::UnknownWithdrawal(wid.clone()))?;
        if w.state != PayoutState::Requested {
            return Err(FloatError::WithdrawalNotRequested {
                id: wid.clone(),
                state: w.state,
            });
        }
    }
    c.prepare_cached(
        "INSERT INTO topups (id, psbt, unsigned_txid, amount_wat, state, created_at, withdrawal_id) \
         VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6)",
    )
    .db()?
    .execute(params![
        p.id,
        p.psbt,
        b(&p.unsigned_txid),
        i64_of(p.amount_wat),
        now_unix(),
        p.withdrawal_id
    ])
    .db()?;
    let d = crate::memory::proposal_detail(p);
    audit(c, "topup.opened", &p.id, &d)?;
    Ok(Intake::Created(read::topup(c, &p.id)?.ok_or_else(
        || StoreError::Corrupt("top-up vanished".into()),
    )?))
}

pub(crate) fn close_topup(
    c: &Connection,
    id: &str,
    close: &TopUpClose,
) -> Result<TopUpProposal, FloatError> {
    let t = read::topup(c, id)?.ok_or_else(|| FloatError::UnknownTopUp(id.to_owned()))?;
    if t.state != TopUpState::Open {
        return Err(FloatError::TopUpNotOpen {
            id: id.to_owned(),
            state: t.state.as_str(),
        });
    }
    let (state, note) = match close {
        TopUpClose::Submitted { txid } => {
            let p = read::payout(c, txid)?.ok_or(FloatError::UnknownPayout(*txid))?;
            check_close_kind(&t, &p)?;
            (TopUpState::Submitted, txid.to_string())
        }
        TopUpClose::Cancelled { reason } => (TopUpState::Cancelled, reason.clone()),
    };
    c.prepare_cached("UPDATE topups SET state = ?2, close_note = ?3 WHERE id = ?1")
        .db()?
        .execute(params![id, state.as_str(), note])
        .db()?;
    audit(
        c,
        "topup.closed",
        id,
        &detail(&[("state", &state.as_str()), ("note", &note)]),
    )?;
    Ok(read::topup(c, id)?.ok_or_else(|| StoreError::Corrupt("top-up vanished".into()))?)
}

/// Commits the cold-signed transaction of proposal `id` and closes it, in the caller's
/// transaction (one savepoint: a refusal anywhere leaves the proposal open and nothing
/// committed).
pub(crate) fn submit_proposal(
    c: &Connection,
    id: &str,
    p: &PayoutCommit,
    tx: &Transaction,
) -> Result<Vec<Effect>, CommitError> {
    let t = read::topup(c, id)?;
    if proposal_submission(id, t.as_ref(), p)? {
        audit(c, "topup.replay", id, &detail(&[("txid", &p.txid)]))?;
        return Ok(Vec::new());
    }
    let t = t.ok_or_else(|| CommitError::UnknownProposal(id.to_owned()))?;
    check_proposal_fit(&t, p, tx)?;
    let effects = commit_payout(c, p, tx, None)?;
    let note = p.txid.to_string();
    let n = c
        .prepare_cached(
            "UPDATE topups SET state = 'submitted', close_note = ?2 WHERE id = ?1 AND state = 'open'",
        )
        .db()?
        .execute(params![id, note])
        .db()?;
    if n != 1 {
        return Err(StoreError::Corrupt(format!("proposal {id} changed under submission")).into());
    }
    audit(
        c,
        "topup.closed",
        id,
        &detail(&[("state", &TopUpState::Submitted.as_str()), ("note", &note)]),
    )?;
    Ok(effects)
}
