//! A full group-commit queue refuses intake at once with `StoreError::Busy` (never an unbounded
//! wait) and queues nothing; the engine's own writes still wait for room. Deterministic: the
//! writer is held inside a job, so the queue fills without any timing.

use mona_ledger::conformance::{dest, fund, wreq};
use mona_ledger::{
    CodeHash, Intake, IntakeError, Ledger, NewVoucher, Redemption, SqliteLedger, SqliteOptions,
    StoreError,
};

fn open_tiny(dir: &tempfile::TempDir) -> SqliteLedger {
    let opts = SqliteOptions {
        queue_depth: 1,
        ..SqliteOptions::default()
    };
    SqliteLedger::open_with(dir.path().join("ledger.db"), opts).expect("open")
}

fn is_busy<T: std::fmt::Debug>(r: &Result<T, IntakeError>) -> bool {
    matches!(
        r,
        Err(IntakeError::Store(StoreError::Busy { queue_depth: 1 }))
    )
}

#[test]
fn full_queue_refuses_every_intake_at_once_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = open_tiny(&dir);
    let code = "a voucher code with plenty of entropy";
    l.create_voucher(&NewVoucher {
        id: "v1".into(),
        code_hash: CodeHash::of_code(code),
        amount_wat: 5_000,
    })
    .expect("voucher");
    let head = l.audit_head().expect("head");

    let hold = l.hold_writer_for_tests();
    // The one queue slot is taken by a request that waits for the writer.
    let queued = l.request_withdrawal_pending(&wreq("queued", 1, 1_000));
    // Everything else is refused at once, without waiting for the writer.
    let cases: Vec<(&str, bool)> = vec![
        (
            "withdrawal",
            is_busy(&l.request_withdrawal(&wreq("refused", 2, 1_000))),
        ),
        (
            "withdrawal (pending form)",
            is_busy(
                &l.request_withdrawal_pending(&wreq("refused2", 2, 1_000))
                    .wait(),
            ),
        ),
        (
            "voucher creation",
            is_busy(&l.create_voucher(&NewVoucher {
                id: "v2".into(),
                code_hash: CodeHash::of_code("another code"),
                amount_wat: 7_000,
            })),
        ),
        (
            "voucher redemption",
            is_busy(&l.redeem_voucher(&CodeHash::of_code(code), &dest(3))),
        ),
    ];
    for (name, busy) in &cases {
        assert!(busy, "{name}: a full queue answers Busy at once");
    }
    assert!(
        queued.try_wait().is_none(),
        "the queued request still waits"
    );
    drop(hold);

    // The queued request went through; the refused ones left no trace.
    assert!(matches!(queued.wait(), Ok(Intake::Created(_))));
    for id in ["refused", "refused2"] {
        assert!(l.withdrawal(id).expect("read").is_none(), "{id} not stored");
    }
    assert!(l.voucher("v2").expect("read").is_none());
    assert_eq!(
        l.voucher("v1").expect("read").expect("v1").state,
        mona_ledger::VoucherState::Active,
        "the refused redemption did not mark the voucher"
    );
    let entries = l.audit_entries(head.seq + 1, 100).expect("audit");
    assert!(
        entries.iter().all(|e| e.subject == "queued"),
        "only the queued request is on the record: {entries:?}"
    );
    // Once there is room, the same requests are accepted (retry is safe).
    assert!(matches!(
        l.request_withdrawal(&wreq("refused", 2, 1_000)),
        Ok(Intake::Created(_))
    ));
    assert!(matches!(
        l.redeem_voucher(&CodeHash::of_code(code), &dest(3)),
        Ok(Redemption::Created(_))
    ));
}

#[test]
fn engine_writes_wait_for_room_instead_of_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = open_tiny(&dir);
    let hold = l.hold_writer_for_tests();
    let queued = l.request_withdrawal_pending(&wreq("queued", 1, 1_000));
    // A block (an engine write) blocks until the writer has room, then commits.
    let l2 = l.clone();
    let block = std::thread::spawn(move || fund(&l2, &[10_000]));
    drop(hold);
    let coins = block.join().expect("block thread");
    assert!(l.coin(&coins[0]).expect("read").is_some());
    assert!(matches!(queued.wait(), Ok(Intake::Created(_))));
}
