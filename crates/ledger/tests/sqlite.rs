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
        assert_eq!(l.schema_version().expect("version"), 2);
        l.request_withdrawal(&wreq("a", 1, 10)).expect("request");
    }
    for _ in 0..3 {
        let l = open(&dir);
        assert_eq!(l.schema_version().expect("version"), 2);
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
    assert_eq!(versions, 2, "each migration recorded once");
    // STRICT tables refuse wrongly typed values.
    let bad = c.execute(
        "INSERT INTO withdrawals (id, source, address, script_pubkey, amount_wat, state, created_at) \
         VALUES ('x', 'request', 'a', x'00', 'lots', 'requested', 0)",
        [],
    );
    assert!(bad.is_err(), "STRICT table accepted a text amount");
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
            "INSERT INTO topups VALUES ('t1', x'00', zeroblob(32), 1, 'open', NULL, 0); \
             INSERT INTO topups VALUES ('t2', x'00', zeroblob(32), 1, 'open', NULL, 0)",
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
