//! Versioned schema migrations (BDK style: a `schema_version` table lists applied versions).
//!
//! Module invariant: migrations are append-only; version N is applied exactly once, in one
//! transaction together with its `schema_version` row; a database newer than this code is
//! refused rather than guessed at.

use crate::store::StoreError;
use rusqlite::{Connection, OptionalExtension};

/// Migration scripts; index 0 is version 1. Never edit a released one: append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// Cold withdrawals: `payout_txs.kind` accepts `cold_withdrawal` (a table rebuild: SQLite cannot
/// alter a CHECK constraint; rows, indexes and triggers are carried over unchanged), and a
/// proposal may name the withdrawal it pays (`topups.withdrawal_id`).
///
/// Runs with foreign keys off (SQLite's documented table-rebuild procedure, see [`migrate`]);
/// `PRAGMA foreign_key_check` must then find nothing before the migration commits.
const V3: &str = r#"
CREATE TABLE payout_txs_v3 (
    txid              BLOB PRIMARY KEY CHECK (length(txid) = 32),
    raw_tx            BLOB NOT NULL CHECK (length(raw_tx) > 0),
    kind              TEXT NOT NULL CHECK (kind IN ('withdrawals', 'sweep', 'topup', 'cold_withdrawal')),
    fee_wat           INTEGER NOT NULL CHECK (fee_wat >= 0),
    state             TEXT NOT NULL CHECK (state IN ('signed', 'broadcast', 'confirmed', 'final', 'replaced_by', 'stuck')),
    send_attempts     INTEGER NOT NULL DEFAULT 0 CHECK (send_attempts >= 0),
    last_send_outcome TEXT,
    height            INTEGER,
    block_hash        BLOB,
    confirmations     INTEGER,
    replaced_by       BLOB REFERENCES payout_txs(txid),
    replaces          BLOB REFERENCES payout_txs(txid),
    stuck_reason      TEXT,
    created_at        INTEGER NOT NULL,
    CHECK ((state IN ('confirmed', 'final')) = (height IS NOT NULL AND block_hash IS NOT NULL AND confirmations IS NOT NULL)),
    CHECK ((state = 'replaced_by') = (replaced_by IS NOT NULL))
) STRICT;
INSERT INTO payout_txs_v3 (txid, raw_tx, kind, fee_wat, state, send_attempts, last_send_outcome,
    height, block_hash, confirmations, replaced_by, replaces, stuck_reason, created_at)
SELECT txid, raw_tx, kind, fee_wat, state, send_attempts, last_send_outcome,
    height, block_hash, confirmations, replaced_by, replaces, stuck_reason, created_at
FROM payout_txs;
DROP TABLE payout_txs;
ALTER TABLE payout_txs_v3 RENAME TO payout_txs;
CREATE INDEX payout_txs_state ON payout_txs(state);
CREATE INDEX payout_txs_replaces ON payout_txs(replaces);
CREATE INDEX payout_txs_replaced_by ON payout_txs(replaced_by);
CREATE TRIGGER payout_txs_bytes_immutable BEFORE UPDATE OF txid, raw_tx, kind, fee_wat ON payout_txs
BEGIN SELECT RAISE(ABORT, 'payout bytes are immutable'); END;
CREATE TRIGGER payout_txs_never_deleted BEFORE DELETE ON payout_txs
BEGIN SELECT RAISE(ABORT, 'payouts are never deleted'); END;

ALTER TABLE topups ADD COLUMN withdrawal_id TEXT REFERENCES withdrawals(id);
"#;

/// Reverse edges of fee-bump families (a replacement must conflict with the whole family).
const V2: &str = r#"
CREATE INDEX payout_txs_replaces ON payout_txs(replaces);
CREATE INDEX payout_txs_replaced_by ON payout_txs(replaced_by);
"#;

const V1: &str = r#"
CREATE TABLE payout_txs (
    txid              BLOB PRIMARY KEY CHECK (length(txid) = 32),
    raw_tx            BLOB NOT NULL CHECK (length(raw_tx) > 0),
    kind              TEXT NOT NULL CHECK (kind IN ('withdrawals', 'sweep', 'topup')),
    fee_wat           INTEGER NOT NULL CHECK (fee_wat >= 0),
    state             TEXT NOT NULL CHECK (state IN ('signed', 'broadcast', 'confirmed', 'final', 'replaced_by', 'stuck')),
    send_attempts     INTEGER NOT NULL DEFAULT 0 CHECK (send_attempts >= 0),
    last_send_outcome TEXT,
    height            INTEGER,
    block_hash        BLOB,
    confirmations     INTEGER,
    replaced_by       BLOB REFERENCES payout_txs(txid),
    replaces          BLOB REFERENCES payout_txs(txid),
    stuck_reason      TEXT,
    created_at        INTEGER NOT NULL,
    CHECK ((state IN ('confirmed', 'final')) = (height IS NOT NULL AND block_hash IS NOT NULL AND confirmations IS NOT NULL)),
    CHECK ((state = 'replaced_by') = (replaced_by IS NOT NULL))
) STRICT;
CREATE INDEX payout_txs_state ON payout_txs(state);

-- A payout's bytes never change and a payout is never deleted (a fee bump is a new row).
CREATE TRIGGER payout_txs_bytes_immutable BEFORE UPDATE OF txid, raw_tx, kind, fee_wat ON payout_txs
BEGIN SELECT RAISE(ABORT, 'payout bytes are immutable'); END;
CREATE TRIGGER payout_txs_never_deleted BEFORE DELETE ON payout_txs
BEGIN SELECT RAISE(ABORT, 'payouts are never deleted'); END;

CREATE TABLE payout_inputs (
    txid      BLOB NOT NULL REFERENCES payout_txs(txid),
    idx       INTEGER NOT NULL,
    prev_txid BLOB NOT NULL CHECK (length(prev_txid) = 32),
    prev_vout INTEGER NOT NULL,
    PRIMARY KEY (txid, idx)
) STRICT, WITHOUT ROWID;
CREATE INDEX payout_inputs_prev ON payout_inputs(prev_txid, prev_vout);

CREATE TABLE withdrawals (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    source        TEXT NOT NULL CHECK (source IN ('request', 'voucher')),
    voucher_id    TEXT,
    address       TEXT NOT NULL,
    script_pubkey BLOB NOT NULL,
    amount_wat    INTEGER NOT NULL CHECK (amount_wat > 0 AND amount_wat <= 10512000000000000),
    state         TEXT NOT NULL CHECK (state IN ('requested', 'rejected', 'linked')),
    txid          BLOB REFERENCES payout_txs(txid),
    reject_reason TEXT,
    created_at    INTEGER NOT NULL,
    CHECK ((state = 'linked') = (txid IS NOT NULL)),
    CHECK ((source = 'voucher') = (voucher_id IS NOT NULL))
) STRICT;
CREATE INDEX withdrawals_state ON withdrawals(state, seq);
CREATE INDEX withdrawals_txid ON withdrawals(txid);

-- No edge from a state with a transaction (or from rejected) back to anything else.
CREATE TRIGGER withdrawals_no_way_back BEFORE UPDATE OF state ON withdrawals
WHEN OLD.state <> 'requested' AND NEW.state <> OLD.state
BEGIN SELECT RAISE(ABORT, 'withdrawal state cannot go back'); END;
CREATE TRIGGER withdrawals_body_immutable BEFORE UPDATE OF id, source, voucher_id, address, script_pubkey, amount_wat ON withdrawals
BEGIN SELECT RAISE(ABORT, 'withdrawal body is immutable'); END;

CREATE TABLE payout_withdrawals (
    txid          BLOB NOT NULL REFERENCES payout_txs(txid),
    withdrawal_id TEXT NOT NULL REFERENCES withdrawals(id),
    PRIMARY KEY (txid, withdrawal_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE vouchers (
    id               TEXT PRIMARY KEY,
    code_hash        BLOB NOT NULL UNIQUE CHECK (length(code_hash) = 32),
    amount_wat       INTEGER NOT NULL CHECK (amount_wat > 0 AND amount_wat <= 10512000000000000),
    state            TEXT NOT NULL CHECK (state IN ('active', 'redeemed')),
    redeemed_address TEXT,
    redeemed_script  BLOB,
    withdrawal_id    TEXT UNIQUE REFERENCES withdrawals(id),
    created_at       INTEGER NOT NULL,
    CHECK ((state = 'redeemed') = (withdrawal_id IS NOT NULL))
) STRICT;

CREATE TABLE coins (
    txid             BLOB NOT NULL CHECK (length(txid) = 32),
    vout             INTEGER NOT NULL CHECK (vout >= 0),
    value_wat        INTEGER NOT NULL CHECK (value_wat >= 0),
    script_pubkey    BLOB NOT NULL,
    keychain         TEXT NOT NULL CHECK (keychain IN ('hot_external', 'hot_internal', 'cold_external', 'cold_internal')),
    derivation_index INTEGER NOT NULL,
    height           INTEGER,
    is_dust          INTEGER NOT NULL CHECK (is_dust IN (0, 1)),
    created_by       BLOB REFERENCES payout_txs(txid),
    spent_by         BLOB,
    spent_height     INTEGER,
    PRIMARY KEY (txid, vout)
) STRICT, WITHOUT ROWID;
CREATE INDEX coins_height ON coins(height);
CREATE INDEX coins_spent_height ON coins(spent_height);
CREATE INDEX coins_created_by ON coins(created_by);

-- One row per reserved coin: the primary key makes a double reservation impossible.
CREATE TABLE reservations (
    txid        BLOB NOT NULL,
    vout        INTEGER NOT NULL,
    payout_txid BLOB NOT NULL REFERENCES payout_txs(txid),
    PRIMARY KEY (txid, vout),
    FOREIGN KEY (txid, vout) REFERENCES coins(txid, vout)
) STRICT, WITHOUT ROWID;
CREATE INDEX reservations_payout ON reservations(payout_txid);

CREATE TABLE blocks (
    height INTEGER PRIMARY KEY,
    hash   BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;

CREATE TABLE float_state (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    frozen INTEGER NOT NULL CHECK (frozen IN (0, 1)),
    reason TEXT
) STRICT;
INSERT INTO float_state (id, frozen, reason) VALUES (1, 0, NULL);

CREATE TABLE topups (
    id            TEXT PRIMARY KEY,
    psbt          BLOB NOT NULL,
    unsigned_txid BLOB NOT NULL CHECK (length(unsigned_txid) = 32),
    amount_wat    INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('open', 'submitted', 'cancelled')),
    close_note    TEXT,
    created_at    INTEGER NOT NULL
) STRICT;
-- At most one open proposal, by constraint.
CREATE UNIQUE INDEX topups_one_open ON topups(state) WHERE state = 'open';

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  BLOB NOT NULL CHECK (length(prev_hash) = 32),
    hash       BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

-- The chain head, updated in the same transaction as every appended row.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));
"#;

/// Brings the database to the latest schema version; returns it.
///
/// Foreign keys are switched off for the migration (a no-op inside a transaction, so before
/// it) and back on after, whatever happened: a table rebuild (V3) must not let `DROP TABLE`
/// touch the rows that reference the table. Before committing, `PRAGMA foreign_key_check`
/// must report nothing, so a migration can never commit a dangling reference.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    migrate_to(conn, MIGRATIONS.len() as u32)
}

/// [`migrate`], stopping at version `target` (tests build older databases with it).
pub(crate) fn migrate_to(conn: &mut Connection, target: u32) -> Result<u32, StoreError> {
    let db = |e: rusqlite::Error| StoreError::Backend(format!("migration: {e}"));
    conn.execute_batch("PRAGMA foreign_keys=OFF").map_err(db)?;
    let r = migrate_fk_off(conn, target.min(MIGRATIONS.len() as u32));
    conn.execute_batch("PRAGMA foreign_keys=ON").map_err(db)?;
    r
}

fn migrate_fk_off(conn: &mut Connection, target: u32) -> Result<u32, StoreError> {
    let db = |e: rusqlite::Error| StoreError::Backend(format!("migration: {e}"));
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         ) STRICT;",
    )
    .map_err(db)?;
    let current: u32 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    let latest = MIGRATIONS.len() as u32;
    if current > latest {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this program's {latest}"
        )));
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(current as usize)
    {
        let version = i as u32 + 1;
        tx.execute_batch(sql).map_err(db)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            rusqlite::params![version, crate::store::now_unix()],
        )
        .map_err(db)?;
    }
    let dangling: Option<String> = tx
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()
        .map_err(db)?;
    if let Some(table) = dangling {
        return Err(StoreError::Corrupt(format!(
            "migration left a dangling reference in table {table}"
        )));
    }
    tx.commit().map_err(db)?;
    Ok(current.max(target))
}
