//! Row decoding and read queries (used by read connections and inside write jobs).
//!
//! Module invariant: decoding never panics; a value that breaks the schema's meaning is
//! reported as [`StoreError::Corrupt`].

use super::Db;
use crate::audit::{self, AuditError, AuditReport};
use crate::machine::{Confirmation, PayoutState};
use crate::model::*;
use crate::store::StoreError;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, OutPoint, ScriptBuf, Txid};
use rusqlite::{params, Connection, OptionalExtension, Row};

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

pub(crate) fn arr32(v: Vec<u8>, what: &str) -> Result<[u8; 32], StoreError> {
    v.try_into().map_err(|_| corrupt(what))
}

pub(crate) fn txid_of(v: Vec<u8>) -> Result<Txid, StoreError> {
    Ok(Txid::from_byte_array(arr32(v, "txid length")?))
}

fn opt_txid(v: Option<Vec<u8>>) -> Result<Option<Txid>, StoreError> {
    v.map(txid_of).transpose()
}

pub(crate) fn u64_of(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt(what))
}

pub(crate) fn u32_of(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt(what))
}

pub(crate) fn i64_of(v: u64) -> i64 {
    // All stored u64 values are amounts <= MAX_MONEY_WAT or counters: they fit.
    i64::try_from(v).unwrap_or(i64::MAX)
}

const W_COLS: &str =
    "w.seq, w.id, w.source, w.voucher_id, w.address, w.script_pubkey, w.amount_wat, w.state, \
                      w.txid, w.reject_reason, p.state";

fn withdrawal_row(r: &Row<'_>) -> rusqlite::Result<Result<Withdrawal, StoreError>> {
    let seq: i64 = r.get(0)?;
    let id: String = r.get(1)?;
    let source: String = r.get(2)?;
    let voucher_id: Option<String> = r.get(3)?;
    let address: String = r.get(4)?;
    let script: Vec<u8> = r.get(5)?;
    let amount: i64 = r.get(6)?;
    let state: String = r.get(7)?;
    let txid: Option<Vec<u8>> = r.get(8)?;
    let reject_reason: Option<String> = r.get(9)?;
    let tx_state: Option<String> = r.get(10)?;
    Ok((|| {
        let source = match (source.as_str(), voucher_id) {
            ("request", _) => WithdrawalSource::Request,
            ("voucher", Some(v)) => WithdrawalSource::Voucher { voucher_id: v },
            _ => return Err(corrupt("withdrawal source")),
        };
        let state = match state.as_str() {
            "requested" => PayoutState::Requested,
            "rejected" => PayoutState::Rejected,
            "linked" => tx_state
                .as_deref()
                .and_then(PayoutState::parse)
                .ok_or_else(|| corrupt("linked withdrawal without payout"))?,
            _ => return Err(corrupt("withdrawal state")),
        };
        Ok(Withdrawal {
            id,
            source,
            destination: Destination {
                address,
                script_pubkey: ScriptBuf::from_bytes(script),
            },
            amount_wat: u64_of(amount, "amount")?,
            state,
            txid: opt_txid(txid)?,
            reject_reason,
            seq: u64_of(seq, "seq")?,
        })
    })())
}

pub(crate) fn withdrawal(c: &Connection, id: &str) -> Result<Option<Withdrawal>, StoreError> {
    let sql = format!("SELECT {W_COLS} FROM withdrawals w LEFT JOIN payout_txs p ON p.txid = w.txid WHERE w.id = ?1");
    c.prepare_cached(&sql)
        .db()?
        .query_row(params![id], withdrawal_row)
        .optional()
        .db()?
        .transpose()
}

pub(crate) fn queued_withdrawals(
    c: &Connection,
    limit: usize,
) -> Result<Vec<Withdrawal>, StoreError> {
    let sql = format!(
        "SELECT {W_COLS} FROM withdrawals w LEFT JOIN payout_txs p ON p.txid = w.txid \
         WHERE w.state = 'requested' ORDER BY w.seq LIMIT ?1"
    );
    let mut st = c.prepare_cached(&sql).db()?;
    let rows = st
        .query_map(params![i64_of(limit as u64)], withdrawal_row)
        .db()?;
    rows.map(|r| r.db().and_then(|x| x)).collect()
}

pub(crate) fn voucher(c: &Connection, id: &str) -> Result<Option<Voucher>, StoreError> {
    voucher_where(c, "id = ?1", &id)
}

pub(crate) fn voucher_by_hash(c: &Connection, h: &CodeHash) -> Result<Option<Voucher>, StoreError> {
    voucher_where(c, "code_hash = ?1", &h.0.as_slice())
}

fn voucher_where(
    c: &Connection,
    cond: &str,
    arg: &dyn rusqlite::ToSql,
) -> Result<Option<Voucher>, StoreError> {
    let sql = format!(
        "SELECT id, code_hash, amount_wat, state, redeemed_address, redeemed_script, withdrawal_id \
         FROM vouchers WHERE {cond}"
    );
    let row = c
        .prepare_cached(&sql)
        .db()?
        .query_row([arg], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })
        .optional()
        .db()?;
    let Some((id, hash, amount, state, addr, script, wid)) = row else {
        return Ok(None);
    };
    let state = match state.as_str() {
        "active" => VoucherState::Active,
        "redeemed" => VoucherState::Redeemed,
        _ => return Err(corrupt("voucher state")),
    };
    let redeemed_to = match (addr, script) {
        (Some(address), Some(s)) => Some(Destination {
            address,
            script_pubkey: ScriptBuf::from_bytes(s),
        }),
        _ => None,
    };
    Ok(Some(Voucher {
        id,
        code_hash: CodeHash(arr32(hash, "code hash")?),
        amount_wat: u64_of(amount, "amount")?,
        state,
        redeemed_to,
        withdrawal_id: wid,
    }))
}

const P_COLS: &str =
    "txid, raw_tx, kind, fee_wat, state, send_attempts, last_send_outcome, height, block_hash, \
                      confirmations, replaced_by, replaces, stuck_reason";

type PRow = (
    Vec<u8>,
    Vec<u8>,
    String,
    i64,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<Vec<u8>>,
    Option<i64>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<String>,
);

fn prow(r: &Row<'_>) -> rusqlite::Result<PRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

fn decode_payout(c: &Connection, p: PRow) -> Result<PayoutTx, StoreError> {
    let (txid, raw_tx, kind, fee, state, attempts, last, height, bhash, confs, rby, reps, stuck) =
        p;
    let txid = txid_of(txid)?;
    let confirmation = match (height, bhash, confs) {
        (Some(h), Some(b), Some(n)) => Some(Confirmation {
            height: u32_of(h, "height")?,
            block_hash: BlockHash::from_byte_array(arr32(b, "block hash")?),
            confirmations: u32_of(n, "confirmations")?,
        }),
        _ => None,
    };
    let mut st = c
        .prepare_cached(
            "SELECT prev_txid, prev_vout FROM payout_inputs WHERE txid = ?1 ORDER BY idx",
        )
        .db()?;
    let inputs = st
        .query_map(params![txid.as_byte_array().as_slice()], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
        })
        .db()?
        .map(|r| {
            let (t, v) = r.db()?;
            Ok(OutPoint {
                txid: txid_of(t)?,
                vout: u32_of(v, "vout")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut st = c
        .prepare_cached(
            "SELECT withdrawal_id FROM payout_withdrawals WHERE txid = ?1 ORDER BY withdrawal_id",
        )
        .db()?;
    let withdrawal_ids = st
        .query_map(params![txid.as_byte_array().as_slice()], |r| {
            r.get::<_, String>(0)
        })
        .db()?
        .collect::<Result<Vec<_>, _>>()
        .db()?;
    Ok(PayoutTx {
        txid,
        raw_tx,
        kind: PayoutKind::parse(&kind).ok_or_else(|| corrupt("payout kind"))?,
        fee_wat: u64_of(fee, "fee")?,
        state: PayoutState::parse(&state).ok_or_else(|| corrupt("payout state"))?,
        send_attempts: u32_of(attempts, "send attempts")?,
        last_send_outcome: last,
        confirmation,
        replaced_by: opt_txid(rby)?,
        replaces: opt_txid(reps)?,
        stuck_reason: stuck,
        inputs,
        withdrawal_ids,
    })
}

pub(crate) fn payout(c: &Connection, txid: &Txid) -> Result<Option<PayoutTx>, StoreError> {
    let sql = format!("SELECT {P_COLS} FROM payout_txs WHERE txid = ?1");
    let row = c
        .prepare_cached(&sql)
        .db()?
        .query_row(params![txid.as_byte_array().as_slice()], prow)
        .optional()
        .db()?;
    row.map(|p| decode_payout(c, p)).transpose()
}

pub(crate) fn payouts_in_states(
    c: &Connection,
    states: &[PayoutState],
) -> Result<Vec<PayoutTx>, StoreError> {
    let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    let sql = format!("SELECT {P_COLS} FROM payout_txs WHERE state IN (SELECT value FROM json_each(?1)) ORDER BY txid");
    let json = format!(
        "[{}]",
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut st = c.prepare_cached(&sql).db()?;
    let rows: Vec<PRow> = st
        .query_map(params![json], prow)
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    rows.into_iter().map(|p| decode_payout(c, p)).collect()
}

const C_COLS: &str =
    "c.txid, c.vout, c.value_wat, c.script_pubkey, c.keychain, c.derivation_index, c.height, \
                      c.is_dust, c.created_by, c.spent_by, c.spent_height, r.payout_txid";

fn coin_row(r: &Row<'_>) -> rusqlite::Result<Result<Coin, StoreError>> {
    let txid: Vec<u8> = r.get(0)?;
    let vout: i64 = r.get(1)?;
    let value: i64 = r.get(2)?;
    let script: Vec<u8> = r.get(3)?;
    let keychain: String = r.get(4)?;
    let index: i64 = r.get(5)?;
    let height: Option<i64> = r.get(6)?;
    let dust: i64 = r.get(7)?;
    let created_by: Option<Vec<u8>> = r.get(8)?;
    let spent_by: Option<Vec<u8>> = r.get(9)?;
    let spent_height: Option<i64> = r.get(10)?;
    let reserved_by: Option<Vec<u8>> = r.get(11)?;
    Ok((|| {
        Ok(Coin {
            outpoint: OutPoint {
                txid: txid_of(txid)?,
                vout: u32_of(vout, "vout")?,
            },
            value_wat: u64_of(value, "value")?,
            script_pubkey: ScriptBuf::from_bytes(script),
            keychain: Keychain::parse(&keychain).ok_or_else(|| corrupt("keychain"))?,
            derivation_index: u32_of(index, "derivation index")?,
            height: height.map(|h| u32_of(h, "height")).transpose()?,
            is_dust: dust != 0,
            created_by: opt_txid(created_by)?,
            spent_by: opt_txid(spent_by)?,
            spent_height: spent_height
                .map(|h| u32_of(h, "spent height"))
                .transpose()?,
            reserved_by: opt_txid(reserved_by)?,
        })
    })())
}

pub(crate) fn coin(c: &Connection, op: &OutPoint) -> Result<Option<Coin>, StoreError> {
    let sql = format!(
        "SELECT {C_COLS} FROM coins c LEFT JOIN reservations r ON r.txid = c.txid AND r.vout = c.vout \
         WHERE c.txid = ?1 AND c.vout = ?2"
    );
    c.prepare_cached(&sql)
        .db()?
        .query_row(
            params![op.txid.as_byte_array().as_slice(), op.vout],
            coin_row,
        )
        .optional()
        .db()?
        .transpose()
}

const LIVE: &str = "('signed', 'broadcast', 'confirmed', 'final')";

pub(crate) fn spendable_coins(c: &Connection) -> Result<Vec<Coin>, StoreError> {
    let sql = format!(
        "SELECT {C_COLS} FROM coins c LEFT JOIN reservations r ON r.txid = c.txid AND r.vout = c.vout \
         WHERE c.keychain IN ('hot_external', 'hot_internal') AND c.spent_by IS NULL AND r.payout_txid IS NULL \
           AND c.is_dust = 0 \
           AND (c.height IS NOT NULL OR EXISTS (SELECT 1 FROM payout_txs p WHERE p.txid = c.created_by AND p.state IN {LIVE} \
                AND p.replaces IS NULL \
                AND NOT EXISTS (SELECT 1 FROM payout_txs q WHERE q.replaces = p.txid OR q.replaced_by = p.txid))) \
         ORDER BY c.txid, c.vout"
    );
    let mut st = c.prepare_cached(&sql).db()?;
    let rows = st.query_map([], coin_row).db()?;
    rows.map(|r| r.db().and_then(|x| x)).collect()
}

pub(crate) fn unspent_coins(c: &Connection) -> Result<Vec<Coin>, StoreError> {
    let sql = format!(
        "SELECT {C_COLS} FROM coins c LEFT JOIN reservations r ON r.txid = c.txid AND r.vout = c.vout \
         WHERE c.spent_by IS NULL ORDER BY c.txid, c.vout"
    );
    let mut st = c.prepare_cached(&sql).db()?;
    let rows = st.query_map([], coin_row).db()?;
    rows.map(|r| r.db().and_then(|x| x)).collect()
}

/// Whether another payout replaces `t` or was superseded by it (a fee-bump family edge).
pub(crate) fn has_family_edges(c: &Connection, t: &Txid) -> Result<bool, StoreError> {
    c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM payout_txs WHERE replaces = ?1 OR replaced_by = ?1)",
    )
    .db()?
    .query_row(params![t.as_byte_array().as_slice()], |r| {
        r.get::<_, bool>(0)
    })
    .db()
}

pub(crate) fn balances(c: &Connection) -> Result<Balances, StoreError> {
    let sql = format!(
        "SELECT \
           COALESCE(SUM(CASE WHEN hot AND c.height IS NOT NULL THEN c.value_wat END), 0), \
           COALESCE(SUM(CASE WHEN hot AND c.height IS NULL AND (c.created_by IS NULL OR EXISTS \
               (SELECT 1 FROM payout_txs p WHERE p.txid = c.created_by AND p.state IN {LIVE})) THEN c.value_wat END), 0), \
           COALESCE(SUM(CASE WHEN hot AND c.height IS NULL AND c.created_by IS NOT NULL AND EXISTS \
               (SELECT 1 FROM payout_txs p WHERE p.txid = c.created_by AND p.state IN {LIVE}) THEN c.value_wat END), 0), \
           COALESCE(SUM(CASE WHEN hot AND r.payout_txid IS NOT NULL THEN c.value_wat END), 0), \
           COALESCE(SUM(CASE WHEN hot AND c.is_dust = 1 AND c.height IS NOT NULL THEN c.value_wat END), 0), \
           COALESCE(SUM(CASE WHEN NOT hot AND c.height IS NOT NULL THEN c.value_wat END), 0) \
         FROM (SELECT *, keychain IN ('hot_external', 'hot_internal') AS hot FROM coins) c \
         LEFT JOIN reservations r ON r.txid = c.txid AND r.vout = c.vout \
         WHERE c.spent_by IS NULL"
    );
    let (a, b, ch, r, d, cold): (i64, i64, i64, i64, i64, i64) = c
        .prepare_cached(&sql)
        .db()?
        .query_row([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .db()?;
    let (queued, in_flight): (i64, i64) = c
        .prepare_cached(
            "SELECT \
               COALESCE(SUM(CASE WHEN w.state = 'requested' THEN w.amount_wat END), 0), \
               COALESCE(SUM(CASE WHEN w.state = 'linked' AND p.state IN ('signed', 'broadcast', 'confirmed', 'stuck') \
                            THEN w.amount_wat END), 0) \
             FROM withdrawals w LEFT JOIN payout_txs p ON p.txid = w.txid",
        )
        .db()?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?;
    Ok(Balances {
        hot_confirmed_wat: u64_of(a, "sum")?,
        hot_unconfirmed_wat: u64_of(b, "sum")?,
        hot_change_unconfirmed_wat: u64_of(ch, "sum")?,
        hot_reserved_wat: u64_of(r, "sum")?,
        hot_dust_wat: u64_of(d, "sum")?,
        cold_confirmed_wat: u64_of(cold, "sum")?,
        queued_wat: u64_of(queued, "sum")?,
        in_flight_wat: u64_of(in_flight, "sum")?,
    })
}

pub(crate) fn freeze_state(c: &Connection) -> Result<FreezeState, StoreError> {
    let (frozen, reason): (i64, Option<String>) = c
        .prepare_cached("SELECT frozen, reason FROM float_state WHERE id = 1")
        .db()?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?;
    Ok(FreezeState {
        frozen: frozen != 0,
        reason,
    })
}

pub(crate) fn tip(c: &Connection) -> Result<Option<BlockRef>, StoreError> {
    let row: Option<(i64, Vec<u8>)> = c
        .prepare_cached("SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1")
        .db()?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .db()?;
    row.map(|(h, hash)| {
        Ok(BlockRef {
            height: u32_of(h, "height")?,
            hash: BlockHash::from_byte_array(arr32(hash, "block hash")?),
        })
    })
    .transpose()
}

pub(crate) fn block_hash_at(c: &Connection, height: u32) -> Result<Option<BlockHash>, StoreError> {
    let row: Option<Vec<u8>> = c
        .prepare_cached("SELECT hash FROM blocks WHERE height = ?1")
        .db()?
        .query_row(params![height], |r| r.get(0))
        .optional()
        .db()?;
    row.map(|h| Ok(BlockHash::from_byte_array(arr32(h, "block hash")?)))
        .transpose()
}

fn topup_where(
    c: &Connection,
    cond: &str,
    arg: &dyn rusqlite::ToSql,
) -> Result<Option<TopUpProposal>, StoreError> {
    let sql = format!("SELECT {TOPUP_COLUMNS} FROM topups WHERE {cond}");
    let row = c
        .prepare_cached(&sql)
        .db()?
        .query_row([arg], topup_row)
        .optional()
        .db()?;
    row.map(decode_topup).transpose()
}

const TOPUP_COLUMNS: &str = "id, psbt, unsigned_txid, amount_wat, state, close_note, withdrawal_id";
type TRow = (
    String,
    Vec<u8>,
    Vec<u8>,
    i64,
    String,
    Option<String>,
    Option<String>,
);

fn topup_row(r: &Row<'_>) -> rusqlite::Result<TRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn decode_topup(row: TRow) -> Result<TopUpProposal, StoreError> {
    let (id, psbt, t, a, s, note, withdrawal_id) = row;
    Ok(TopUpProposal {
        id,
        withdrawal_id,
        psbt,
        unsigned_txid: txid_of(t)?,
        amount_wat: u64_of(a, "amount")?,
        state: TopUpState::parse(&s).ok_or_else(|| corrupt("top-up state"))?,
        close_note: note,
    })
}

/// Every proposal, oldest first (insertion order), at most `limit`.
pub(crate) fn topups(c: &Connection, limit: usize) -> Result<Vec<TopUpProposal>, StoreError> {
    let sql = format!("SELECT {TOPUP_COLUMNS} FROM topups ORDER BY rowid LIMIT ?1");
    let rows: Vec<TRow> = c
        .prepare_cached(&sql)
        .db()?
        .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], topup_row)
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    rows.into_iter().map(decode_topup).collect()
}

pub(crate) fn topup(c: &Connection, id: &str) -> Result<Option<TopUpProposal>, StoreError> {
    topup_where(c, "id = ?1", &id)
}

pub(crate) fn open_topup(c: &Connection) -> Result<Option<TopUpProposal>, StoreError> {
    topup_where(c, "state = ?1", &"open")
}

type ARow = (i64, i64, String, String, String, Vec<u8>, Vec<u8>);

fn audit_row(r: &Row<'_>) -> rusqlite::Result<ARow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn decode_audit(row: ARow) -> Result<AuditEntry, StoreError> {
    let (seq, at, kind, subject, detail, prev, hash) = row;
    Ok(AuditEntry {
        seq: u64_of(seq, "audit seq")?,
        created_at: at,
        kind,
        subject,
        detail,
        prev_hash: arr32(prev, "audit prev hash")?,
        hash: arr32(hash, "audit hash")?,
    })
}

pub(crate) fn audit_entries(
    c: &Connection,
    from_seq: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut st = c
        .prepare_cached(
            "SELECT seq, created_at, kind, subject, detail, prev_hash, hash FROM audit_log \
             WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        )
        .db()?;
    let rows = st
        .query_map(params![i64_of(from_seq), i64_of(limit as u64)], audit_row)
        .db()?;
    rows.map(|r| decode_audit(r.db()?)).collect()
}

pub(crate) fn audit_head(c: &Connection) -> Result<AuditHead, StoreError> {
    let (seq, hash): (i64, Vec<u8>) = c
        .prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1")
        .db()?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?;
    Ok(AuditHead {
        seq: u64_of(seq, "audit head seq")?,
        hash: arr32(hash, "audit head hash")?,
    })
}

pub(crate) fn verify_audit(c: &Connection) -> Result<AuditReport, AuditError> {
    let head = audit_head(c).map_err(|e| AuditError::Read(e.to_string()))?;
    let mut st = c
        .prepare("SELECT seq, created_at, kind, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq")
        .map_err(|e| AuditError::Read(e.to_string()))?;
    let rows = st
        .query_map([], audit_row)
        .map_err(|e| AuditError::Read(e.to_string()))?;
    audit::verify_chain(
        rows.map(|r| {
            r.map_err(|e| AuditError::Read(e.to_string()))
                .and_then(|row| decode_audit(row).map_err(|e| AuditError::Read(e.to_string())))
        }),
        &head,
    )
}
