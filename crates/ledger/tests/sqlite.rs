//! SQLite-specific guarantees: migrations, durability across crashes, tamper detection,
//! group commit isolation, and the constraints/triggers behind the code's checks.

use mona_ledger::conformance::{fund, payout_commit, wreq};
use mona_ledger::{AuditError, Intake, Ledger, PayoutState, SqliteLedger, StoreError};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn open(dir: &tempfile::TempDir) -> SqliteLedger {
    SqliteLedger::open(dir.path().join("ledger.db")).expect("open")
}

#[test]
fn migrates_an_empty_db_and_reopens_idempotently() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let l = open(&dir);
        assert_eq!(l.schema_version().expect("version"), 3);
        l.request_withdrawal(&wreq("a", 1, 10)).expect("request");
    }
    for _ in 0..3 {
        let l = open(&dir);
        assert_eq!(l.schema_version().expect("version"), 3);
        assert_eq!(
            l.queued_withdrawals(10).expect("q").len(),
            1,
            "data survives reopen"
        );
        l.verify_audit().expect("audit");
    }
    let c = rusqlite::Connection::open(dir.path().join("ledger.db")).expect("raw");
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let versions: i64 = c
        .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
        .expect("n");
    assert_eq!(versions, 3, "each migration recorded once");
    // STRICT tables refuse wrongly typed values.
    let bad = c.execute(
        "INSERT INTO withdrawals (id, source, address, script_pubkey, amount_wat, state, created_at) \
         VALUES ('x', 'request', 'a', x'00', 'lots', 'requested', 0)",
        [],
    );
    assert!(bad.is_err(), "STRICT table accepted a text amount");
}

type Rows = Vec<Vec<rusqlite::types::Value>>;

fn dump(c: &rusqlite::Connection, sql: &str) -> Rows {
    let mut st = c.prepare(sql).expect("prepare");
    let n = st.column_count();
    st.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// The tables a schema-2 database holds, in a stable order (`topups`: its schema-2 columns).
const DUMPS: [&str; 9] = [
    "SELECT * FROM payout_txs ORDER BY txid",
    "SELECT * FROM payout_inputs ORDER BY txid, idx",
    "SELECT * FROM withdrawals ORDER BY seq",
    "SELECT * FROM payout_withdrawals ORDER BY txid, withdrawal_id",
    "SELECT * FROM coins ORDER BY txid, vout",
    "SELECT * FROM reservations ORDER BY txid, vout",
    "SELECT id, psbt, unsigned_txid, amount_wat, state, close_note, created_at FROM topups ORDER BY id",
    "SELECT * FROM blocks ORDER BY height",
    "SELECT * FROM audit_log ORDER BY seq",
];

/// A database left by schema version 2 (a fee-bumped payout in flight, reserved coins, change,
/// a linked withdrawal, an open top-up) migrates to version 3 keeping every row, index,
/// trigger and reference, and then takes cold withdrawals.
#[test]
fn a_schema_2_database_migrates_and_keeps_its_rows() {
    use bitcoin::hashes::Hash;
    use mona_ledger::conformance::{build_tx, script};
    use rusqlite::params;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    assert_eq!(
        SqliteLedger::create_at_schema_version_for_tests(&path, 2).expect("v2"),
        2
    );
    let coin = bitcoin::OutPoint {
        txid: bitcoin::Txid::from_byte_array([0xfa; 32]),
        vout: 0,
    };
    let p0 = build_tx(&[coin], &[(script(1), 30_000), (script(5), 69_000)]);
    let p1 = build_tx(&[coin], &[(script(1), 30_000), (script(5), 68_000)]);
    let (t0, t1) = (p0.compute_txid(), p1.compute_txid());
    let b = |t: bitcoin::Txid| t.to_byte_array().to_vec();
    {
        let c = rusqlite::Connection::open(&path).expect("raw");
        c.execute_batch("PRAGMA foreign_keys=ON").expect("fk");
        c.execute("INSERT INTO blocks VALUES (1, ?1)", params![vec![7u8; 32]])
            .expect("block");
        c.execute(
            "INSERT INTO coins VALUES (?1, 0, 100000, ?2, 'hot_external', 0, 1, 0, NULL, NULL, NULL)",
            params![b(coin.txid), script(9000).as_bytes()],
        )
        .expect("coin");
        let insert_tx = "INSERT INTO payout_txs (txid, raw_tx, kind, fee_wat, state, send_attempts, \
                         last_send_outcome, replaced_by, replaces, created_at) VALUES (?1, ?2, 'withdrawals', ?3, ?4, 1, 'accepted', ?5, ?6, 5)";
        c.execute(
            insert_tx,
            params![
                b(t0),
                bitcoin::consensus::serialize(&p0),
                1000,
                "broadcast",
                None::<Vec<u8>>,
                None::<Vec<u8>>
            ],
        )
        .expect("p0");
        c.execute(
            insert_tx,
            params![
                b(t1),
                bitcoin::consensus::serialize(&p1),
                2000,
                "broadcast",
                None::<Vec<u8>>,
                Some(b(t0))
            ],
        )
        .expect("p1");
        c.execute(
            "UPDATE payout_txs SET state = 'replaced_by', replaced_by = ?2 WHERE txid = ?1",
            params![b(t0), b(t1)],
        )
        .expect("replaced");
        for t in [t0, t1] {
            c.execute(
                "INSERT INTO payout_inputs VALUES (?1, 0, ?2, 0)",
                params![b(t), b(coin.txid)],
            )
            .expect("input");
        }
        c.execute(
            "INSERT INTO reservations VALUES (?1, 0, ?2)",
            params![b(coin.txid), b(t1)],
        )
        .expect("reservation");
        c.execute(
            "INSERT INTO coins VALUES (?1, 1, 68000, ?2, 'hot_internal', 5, NULL, 0, ?1, NULL, NULL)",
            params![b(t1), script(5).as_bytes()],
        )
        .expect("change");
        c.execute(
            "INSERT INTO withdrawals (id, source, address, script_pubkey, amount_wat, state, txid, created_at) \
             VALUES ('w1', 'request', 'rmona1qtest1', ?1, 30000, 'linked', ?2, 1)",
            params![script(1).as_bytes(), b(t1)],
        )
        .expect("withdrawal");
        for t in [t0, t1] {
            c.execute(
                "INSERT INTO payout_withdrawals VALUES (?1, 'w1')",
                params![b(t)],
            )
            .expect("link");
        }
        c.execute(
            "INSERT INTO topups VALUES ('t1', x'70736274ff', zeroblob(32), 5000, 'open', NULL, 9)",
            [],
        )
        .expect("top-up");
    }
    let before: Vec<Rows> = {
        let c = rusqlite::Connection::open(&path).expect("raw");
        DUMPS.iter().map(|q| dump(&c, q)).collect()
    };
    let l = SqliteLedger::open(&path).expect("migrates");
    assert_eq!(l.schema_version().expect("v"), 3);
    {
        let c = rusqlite::Connection::open(&path).expect("raw");
        for (q, rows) in DUMPS.iter().zip(&before) {
            assert_eq!(&dump(&c, q), rows, "rows changed by the migration: {q}");
        }
        assert_eq!(before[0].len(), 2, "both payouts carried over");
        let objects = dump(
            &c,
            "SELECT type, name FROM sqlite_master WHERE tbl_name = 'payout_txs' AND type IN ('index', 'trigger') \
             AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
        );
        let names: Vec<String> = objects
            .iter()
            .map(|r| match &r[1] {
                rusqlite::types::Value::Text(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            [
                "payout_txs_bytes_immutable",
                "payout_txs_never_deleted",
                "payout_txs_replaced_by",
                "payout_txs_replaces",
                "payout_txs_state"
            ]
        );
        assert!(
            dump(&c, "PRAGMA foreign_key_check").is_empty(),
            "dangling references"
        );
        assert!(
            dump(
                &c,
                "SELECT 1 FROM sqlite_master WHERE name = 'payout_txs_v3'"
            )
            .is_empty(),
            "the rebuild table is renamed"
        );
    }
    // The ledger reads the migrated rows as before.
    let p = l.payout(&t1).expect("r").expect("p1");
    assert_eq!(p.state, PayoutState::Broadcast);
    assert_eq!(p.replaces, Some(t0));
    assert_eq!(p.inputs, vec![coin]);
    assert_eq!(l.payout(&t0).expect("r").expect("p0").replaced_by, Some(t1));
    let w = l.withdrawal("w1").expect("r").expect("w1");
    assert_eq!((w.state, w.txid), (PayoutState::Broadcast, Some(t1)));
    assert_eq!(
        l.coin(&coin).expect("r").expect("coin").reserved_by,
        Some(t1)
    );
    let t = l.topup("t1").expect("r").expect("t1");
    assert_eq!((t.withdrawal_id, t.amount_wat), (None, 5_000));
    // Triggers and references still back the code.
    for (name, sql) in [
        ("bytes immutable", "UPDATE payout_txs SET raw_tx = x'00'"),
        ("never deleted", "DELETE FROM payout_txs"),
        (
            "reservation of an unknown payout",
            "INSERT INTO reservations SELECT txid, vout, zeroblob(32) FROM coins WHERE vout = 1",
        ),
        (
            "unknown kind",
            "UPDATE payout_txs SET kind = 'gift' WHERE 0; INSERT INTO payout_txs (txid, raw_tx, kind, fee_wat, state, created_at) \
             VALUES (zeroblob(32), x'00', 'gift', 0, 'signed', 0)",
        ),
    ] {
        assert!(l.raw_sql_for_tests(sql).is_err(), "{name}: accepted");
    }
    l.raw_sql_for_tests(
        "INSERT INTO payout_txs (txid, raw_tx, kind, fee_wat, state, created_at) \
         VALUES (zeroblob(32), x'00', 'cold_withdrawal', 0, 'signed', 0)",
    )
    .expect("the new kind is accepted");
    drop(l);
    // Reopening does not migrate again.
    let l = SqliteLedger::open(&path).expect("reopen");
    assert_eq!(l.schema_version().expect("v"), 3);
    l.verify_audit().expect("audit");
}

#[test]
fn refuses_a_database_newer_than_the_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    open(&dir)
        .raw_sql_for_tests("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)")
        .expect("raw");
    match SqliteLedger::open(dir.path().join("ledger.db")) {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("99"), "{m}"),
        other => panic!("expected refusal, got {other:?}"),
    }
}

#[test]
fn constraints_and_triggers_back_the_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = open(&dir);
    let coins = fund(&l, &[100_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let c = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&c).expect("commit");
    let cases = [
        ("payout bytes are immutable", "UPDATE payout_txs SET raw_tx = x'00'"),
        ("payouts are never deleted", "DELETE FROM payout_txs"),
        ("audit rows cannot be edited", "UPDATE audit_log SET detail = 'x'"),
        ("audit rows cannot be deleted", "DELETE FROM audit_log"),
        ("withdrawal cannot go back to requested", "UPDATE withdrawals SET state = 'requested', txid = NULL"),
        ("withdrawal body is immutable", "UPDATE withdrawals SET amount_wat = 1"),
        (
            "a coin cannot be reserved twice",
            "INSERT INTO reservations (txid, vout, payout_txid) SELECT txid, vout, payout_txid FROM reservations",
        ),
        (
            "one open top-up",
            "INSERT INTO topups (id, psbt, unsigned_txid, amount_wat, state, created_at) VALUES ('t1', x'00', zeroblob(32), 1, 'open', 0); \
             INSERT INTO topups (id, psbt, unsigned_txid, amount_wat, state, created_at) VALUES ('t2', x'00', zeroblob(32), 1, 'open', 0)",
        ),
        ("idempotency key unique", "INSERT INTO withdrawals (id, source, address, script_pubkey, amount_wat, state, created_at) VALUES ('a', 'request', 'x', x'00', 1, 'requested', 0)"),
    ];
    for (name, sql) in cases {
        let before = l.audit_head().expect("head");
        assert!(
            l.raw_sql_for_tests(sql).is_err(),
            "case {name}: SQL was accepted"
        );
        assert_eq!(l.audit_head().expect("head"), before, "case {name}");
    }
    assert_eq!(
        l.withdrawal("a").expect("r").expect("a").state,
        PayoutState::Signed
    );
    l.verify_audit().expect("audit intact");
}

#[test]
fn audit_tampering_is_detected() {
    type Tamper = (&'static str, &'static str, fn(&AuditError) -> bool);
    let cases: [Tamper; 5] = [
        ("edited row", "UPDATE audit_log SET detail = 'amount_wat=1' WHERE seq = 3", |e| {
            matches!(e, AuditError::HashMismatch { seq: 3 })
        }),
        ("deleted middle row", "DELETE FROM audit_log WHERE seq = 3", |e| matches!(e, AuditError::SeqGap { .. })),
        ("truncated tail", "DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)", |e| {
            matches!(e, AuditError::HeadMismatch { .. })
        }),
        (
            "inserted row",
            "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 4; UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1004; \
             INSERT INTO audit_log SELECT 4, created_at, kind, subject, detail, prev_hash, hash FROM audit_log WHERE seq = 3",
            |e| matches!(e, AuditError::BrokenLink { .. } | AuditError::SeqGap { .. }),
        ),
        ("edited time", "UPDATE audit_log SET created_at = created_at + 1 WHERE seq = 2", |e| {
            matches!(e, AuditError::HashMismatch { seq: 2 })
        }),
    ];
    for (name, sql, want) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let l = open(&dir);
        for i in 0..6 {
            l.request_withdrawal(&wreq(&format!("w{i}"), i, 1000))
                .expect("request");
        }
        l.verify_audit().expect("clean chain verifies");
        l.raw_sql_for_tests(&format!(
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; {sql}"
        ))
        .expect("tamper");
        match l.verify_audit() {
            Err(e) if want(&e) => {}
            other => panic!("case {name}: {other:?}"),
        }
    }
}

#[test]
fn dropping_without_shutdown_keeps_committed_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = open(&dir);
    let coins = fund(&l, &[100_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let c = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&c).expect("commit");
    // No clean shutdown: the writer thread and its connection are simply abandoned.
    std::mem::forget(l);
    let l2 = open(&dir);
    assert_eq!(
        l2.withdrawal("a").expect("r").expect("a").state,
        PayoutState::Signed
    );
    assert_eq!(l2.payout(&c.txid).expect("r").expect("p").raw_tx, c.raw_tx);
    assert_eq!(
        l2.pending_effects().expect("p").len(),
        1,
        "restart knows what to re-send"
    );
    l2.verify_audit().expect("audit");
}

#[test]
fn a_failing_job_does_not_sink_its_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = open(&dir);
    let coins = fund(&l, &[100_000]);
    l.request_withdrawal(&wreq("x", 1, 30_000)).expect("x");
    let good = payout_commit(&[(coins[0], 100_000)], &[("x", 1, 30_000)], 69_000, 5);
    let pendings: Vec<_> = (0..300)
        .map(|i| l.request_withdrawal_pending(&wreq(&format!("p{i}"), i, 1000)))
        .collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..20 {
                // After the first, every one of these fails inside some batch.
                let _ = l.commit_payout(&good);
            }
        });
    });
    for p in pendings {
        assert!(matches!(p.wait().expect("intake"), Intake::Created(_)));
    }
    assert_eq!(l.queued_withdrawals(1000).expect("q").len(), 300);
    assert_eq!(l.payouts_in_states(&PayoutState::ALL).expect("p").len(), 1);
    l.verify_audit().expect("audit");
}

/// Not a test on its own: the child process of `killed_mid_batch_loses_nothing_acknowledged`.
#[test]
fn crash_child() {
    let Some(db) = std::env::var_os("LEDGER_CRASH_DB") else {
        return;
    };
    let l = SqliteLedger::open(db).expect("open");
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let l = &l;
            s.spawn(move || {
                for i in 0.. {
                    let id = format!("c{t}-{i}");
                    l.request_withdrawal(&wreq(&id, t, 1000 + u64::from(t)))
                        .expect("intake");
                    println!("ACK {id}");
                }
            });
        }
    });
}

#[test]
fn killed_mid_batch_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("crash.db");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("LEDGER_CRASH_DB", &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(id) = line.strip_prefix("ACK ") {
            acked.push(id.to_owned());
            if acked.len() >= 400 {
                break;
            }
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(acked.len() >= 400, "child stopped early");
    let l = SqliteLedger::open(&db).expect("reopen after kill");
    l.verify_audit().expect("audit chain intact after kill");
    for id in &acked {
        assert!(
            l.withdrawal(id).expect("read").is_some(),
            "acknowledged {id} was lost"
        );
    }
    // Consistent: every stored withdrawal has its audit row, and nothing else is half-written.
    let stored = l.queued_withdrawals(1_000_000).expect("q");
    let audited = l
        .audit_entries(0, 10_000_000)
        .expect("audit")
        .into_iter()
        .filter(|e| e.kind == "withdrawal.requested")
        .count();
    assert_eq!(stored.len(), audited);
    assert!(stored.len() >= acked.len());
}
