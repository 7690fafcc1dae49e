//! The conformance suite any [`Ledger`] backend must pass (BDK style), plus helpers to build
//! test transactions and a model-checking driver comparing two backends.
//!
//! Run it from a backend's tests: `conformance::run_all(&mut || Box::new(make_fresh_store()))`.
//! Each check panics (it is a test) with the name of the broken rule.
//!
//! Module invariant: every check starts from a fresh, empty store and asserts only observable
//! behaviour of the [`Ledger`] contract, never a backend's internals.

use crate::machine::{Effect, PayoutState, SendOutcome};
use crate::model::*;
use crate::store::*;
use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};

/// A factory of fresh, empty stores.
pub type Factory<'a> = &'a mut dyn FnMut() -> Box<dyn Ledger>;

/// One named check.
pub type Check = (&'static str, fn(&dyn Ledger));

/// Every check, by name.
pub const CHECKS: &[Check] = &[
    ("withdrawal_idempotency", withdrawal_idempotency),
    ("bad_input_changes_nothing", bad_input_changes_nothing),
    ("voucher_redemption", voucher_redemption),
    (
        "commit_payout_reserves_and_links",
        commit_payout_reserves_and_links,
    ),
    (
        "commit_refusals_change_nothing",
        commit_refusals_change_nothing,
    ),
    (
        "send_outcomes_never_fail_a_payout",
        send_outcomes_never_fail_a_payout,
    ),
    (
        "confirmations_finality_and_reorg",
        confirmations_finality_and_reorg,
    ),
    (
        "fee_bump_replaces_without_double_pay",
        fee_bump_replaces_without_double_pay,
    ),
    (
        "original_confirming_beats_replacement",
        original_confirming_beats_replacement,
    ),
    ("foreign_spend_freezes", foreign_spend_freezes),
    (
        "rejected_voucher_redemption_is_released",
        rejected_voucher_redemption_is_released,
    ),
    (
        "unspent_coins_is_the_whole_watch_set",
        unspent_coins_is_the_whole_watch_set,
    ),
    ("freeze_topups_and_notes", freeze_topups_and_notes),
    ("reject_is_only_before_a_tx", reject_is_only_before_a_tx),
    ("balances_add_up", balances_add_up),
    (
        "concurrent_duplicate_withdrawals",
        concurrent_duplicate_withdrawals,
    ),
    (
        "concurrent_voucher_redemptions",
        concurrent_voucher_redemptions,
    ),
    ("concurrent_reservations", concurrent_reservations),
    (
        "cold_withdrawal_commit_happy_path",
        cold_withdrawal_commit_happy_path,
    ),
    (
        "cold_withdrawal_refusals_change_nothing",
        cold_withdrawal_refusals_change_nothing,
    ),
    (
        "proposal_submission_is_atomic",
        proposal_submission_is_atomic,
    ),
    ("proposal_submission_replay", proposal_submission_replay),
    (
        "one_open_proposal_across_purposes",
        one_open_proposal_across_purposes,
    ),
];

/// Runs every check, each on a fresh store from `make`, then verifies its audit chain.
pub fn run_all(make: Factory<'_>) {
    for (name, check) in CHECKS {
        let l = make();
        check(l.as_ref());
        if let Err(e) = l.verify_audit() {
            panic!("check {name}: audit chain broken afterwards: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers (public: other backends' tests and the daemon's tests may use them).

static NEXT: AtomicU32 = AtomicU32::new(1);

/// A distinct fake txid (for deposits funding tests).
pub fn fake_txid() -> Txid {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut b = [0xabu8; 32];
    b[..4].copy_from_slice(&n.to_le_bytes());
    Txid::from_byte_array(b)
}

/// A distinct P2WPKH-shaped script numbered `n`.
pub fn script(n: u32) -> ScriptBuf {
    let mut s = vec![0x00, 0x14];
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(&n.to_le_bytes());
    s.extend_from_slice(&h);
    ScriptBuf::from_bytes(s)
}

/// A destination for script `n`.
pub fn dest(n: u32) -> Destination {
    Destination {
        address: format!("rmona1qtest{n}"),
        script_pubkey: script(n),
    }
}

/// A withdrawal request.
pub fn wreq(id: &str, n: u32, amount_wat: u64) -> WithdrawalRequest {
    WithdrawalRequest {
        id: id.to_owned(),
        destination: dest(n),
        amount_wat,
    }
}

/// Block hash for height `h` on fork `fork`.
pub fn block_hash(h: u32, fork: u8) -> BlockHash {
    let mut b = [fork; 32];
    b[..4].copy_from_slice(&h.to_le_bytes());
    BlockHash::from_byte_array(b)
}

/// An empty block update at the next height on `fork`.
pub fn next_block(l: &dyn Ledger, fork: u8) -> BlockUpdate {
    let tip = l.tip().expect("tip");
    let (height, prev_hash) = match tip {
        Some(t) => (t.height + 1, t.hash),
        None => (1, block_hash(0, 0)),
    };
    BlockUpdate {
        block: BlockRef {
            height,
            hash: block_hash(height, fork),
        },
        prev_hash,
        txids: vec![],
        new_coins: vec![],
        spends: vec![],
        finality_depth: 3,
    }
}

/// Deposits confirmed hot coins of the given values in one new block; returns their outpoints.
pub fn fund(l: &dyn Ledger, values: &[u64]) -> Vec<OutPoint> {
    fund_with(l, values, Keychain::HotExternal, false)
}

/// Deposits confirmed coins of a keychain (dust flag as given) in one new block.
pub fn fund_with(
    l: &dyn Ledger,
    values: &[u64],
    keychain: Keychain,
    is_dust: bool,
) -> Vec<OutPoint> {
    let txid = fake_txid();
    let mut u = next_block(l, 0);
    let ops: Vec<OutPoint> = (0..values.len() as u32)
        .map(|vout| OutPoint { txid, vout })
        .collect();
    u.txids.push(txid);
    u.new_coins = ops
        .iter()
        .zip(values)
        .map(|(op, v)| NewCoin {
            outpoint: *op,
            value_wat: *v,
            script_pubkey: script(9000 + op.vout),
            keychain,
            derivation_index: op.vout,
            is_dust,
        })
        .collect();
    l.block_connected(&u).expect("funding block");
    ops
}

/// Builds an (unsigned but well-formed, RBF-signalling) transaction.
pub fn build_tx(inputs: &[OutPoint], outputs: &[(ScriptBuf, u64)]) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs
            .iter()
            .map(|op| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs
            .iter()
            .map(|(s, v)| TxOut {
                value: Amount::from_sat(*v),
                script_pubkey: s.clone(),
            })
            .collect(),
    }
}

/// A consistent [`PayoutCommit`] paying `withdrawals` (id, script n, amount) from coins of
/// `input_values`, with one hot change output of `change_wat` (if non-zero); fee = rest.
pub fn payout_commit(
    inputs: &[(OutPoint, u64)],
    withdrawals: &[(&str, u32, u64)],
    change_wat: u64,
    change_n: u32,
) -> PayoutCommit {
    let mut outs: Vec<(ScriptBuf, u64)> = withdrawals
        .iter()
        .map(|(_, n, a)| (script(*n), *a))
        .collect();
    if change_wat > 0 {
        outs.push((script(change_n), change_wat));
    }
    let ops: Vec<OutPoint> = inputs.iter().map(|(o, _)| *o).collect();
    let tx = build_tx(&ops, &outs);
    let txid = tx.compute_txid();
    let in_total: u64 = inputs.iter().map(|(_, v)| v).sum();
    let out_total: u64 = outs.iter().map(|(_, v)| v).sum();
    let change = if change_wat > 0 {
        vec![NewCoin {
            outpoint: OutPoint {
                txid,
                vout: withdrawals.len() as u32,
            },
            value_wat: change_wat,
            script_pubkey: script(change_n),
            keychain: Keychain::HotInternal,
            derivation_index: change_n,
            is_dust: false,
        }]
    } else {
        vec![]
    };
    PayoutCommit {
        kind: PayoutKind::Withdrawals,
        withdrawal_ids: withdrawals
            .iter()
            .map(|(id, _, _)| (*id).to_owned())
            .collect(),
        txid,
        raw_tx: bitcoin::consensus::serialize(&tx),
        inputs: ops,
        change,
        fee_wat: in_total.saturating_sub(out_total),
    }
}

/// A consistent cold-withdrawal [`PayoutCommit`]: like [`payout_commit`] from (cold) coins of
/// `inputs`, its change (if any) declared on the cold change chain.
pub fn cold_withdrawal_commit(
    inputs: &[(OutPoint, u64)],
    withdrawals: &[(&str, u32, u64)],
    change_wat: u64,
    change_n: u32,
) -> PayoutCommit {
    let mut c = payout_commit(inputs, withdrawals, change_wat, change_n);
    c.kind = PayoutKind::ColdWithdrawal;
    for ch in &mut c.change {
        ch.keychain = Keychain::ColdInternal;
    }
    c
}

/// An open proposal `id` for the (unsigned: no witness) transaction of `c`, paying
/// `withdrawal_id` (a cold withdrawal) or topping up (`None`).
pub fn proposal_for(id: &str, c: &PayoutCommit, withdrawal_id: Option<&str>) -> TopUpProposal {
    TopUpProposal {
        id: id.to_owned(),
        withdrawal_id: withdrawal_id.map(str::to_owned),
        psbt: c.raw_tx.clone(),
        unsigned_txid: c.txid,
        amount_wat: 1_000,
        state: TopUpState::Open,
        close_note: None,
    }
}

fn state_of(l: &dyn Ledger, id: &str) -> PayoutState {
    l.withdrawal(id)
        .expect("read")
        .expect("withdrawal exists")
        .state
}

fn head(l: &dyn Ledger) -> AuditHead {
    l.audit_head().expect("audit head")
}

/// A snapshot of everything observable, to assert that a refused call changed nothing.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    head: AuditHead,
    queued: Vec<Withdrawal>,
    coins: Vec<Coin>,
    payouts: Vec<PayoutTx>,
    balances: Balances,
    freeze: FreezeState,
    tip: Option<BlockRef>,
}

/// Takes a [`Snapshot`].
pub fn snapshot(l: &dyn Ledger) -> Snapshot {
    Snapshot {
        head: head(l),
        queued: l.queued_withdrawals(usize::MAX >> 1).expect("queued"),
        coins: l.spendable_coins().expect("coins"),
        payouts: l.payouts_in_states(&PayoutState::ALL).expect("payouts"),
        balances: l.balances().expect("balances"),
        freeze: l.freeze_state().expect("freeze"),
        tip: l.tip().expect("tip"),
    }
}

// ---------------------------------------------------------------------------------------
// Checks.

/// Same key + same body = replay; same key + different body = conflict; one record.
pub fn withdrawal_idempotency(l: &dyn Ledger) {
    let r = l.request_withdrawal(&wreq("w1", 1, 5000)).expect("request");
    assert!(
        matches!(r, Intake::Created(_)),
        "first request creates: {r:?}"
    );
    let w = r.record().clone();
    assert_eq!(w.state, PayoutState::Requested);
    assert_eq!(w.txid, None);
    let cases: Vec<(&str, WithdrawalRequest, &str)> = vec![
        ("same body", wreq("w1", 1, 5000), "replay"),
        ("other amount", wreq("w1", 1, 5001), "conflict"),
        ("other address", wreq("w1", 2, 5000), "conflict"),
        (
            "other address string, same script",
            WithdrawalRequest {
                destination: Destination {
                    address: "rmona1qother".into(),
                    script_pubkey: script(1),
                },
                ..wreq("w1", 1, 5000)
            },
            "conflict",
        ),
    ];
    for (name, req, want) in cases {
        let r = l.request_withdrawal(&req).expect(name);
        assert_eq!(r.kind(), want, "case {name}");
        assert_eq!(
            r.record(),
            &w,
            "case {name}: the stored record is returned unchanged"
        );
    }
    let w2 = l
        .request_withdrawal(&wreq("w2", 1, 5000))
        .expect("second id");
    assert!(matches!(w2, Intake::Created(_)));
    assert!(w2.record().seq > w.seq, "intake order increases");
    let q = l.queued_withdrawals(10).expect("queued");
    assert_eq!(
        q.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        ["w1", "w2"]
    );
    assert_eq!(
        l.queued_withdrawals(1).expect("queued").len(),
        1,
        "limit respected"
    );
}

/// Every malformed input is refused and leaves every observable thing unchanged.
pub fn bad_input_changes_nothing(l: &dyn Ledger) {
    l.request_withdrawal(&wreq("ok", 1, 1000)).expect("setup");
    let before = snapshot(l);
    let bad_requests: Vec<(&str, WithdrawalRequest)> = vec![
        ("empty id", wreq("", 1, 1)),
        ("id too long", wreq(&"x".repeat(65), 1, 1)),
        ("id with colon", wreq("voucher:x", 1, 1)),
        ("id with space", wreq("a b", 1, 1)),
        ("id with unicode", wreq("é", 1, 1)),
        ("zero amount", wreq("z", 1, 0)),
        ("over the cap", wreq("z", 1, MAX_MONEY_WAT + 1)),
        ("u64 max", wreq("z", 1, u64::MAX)),
        (
            "empty address",
            WithdrawalRequest {
                destination: Destination {
                    address: String::new(),
                    script_pubkey: script(1),
                },
                ..wreq("z", 1, 1)
            },
        ),
        (
            "address with space",
            WithdrawalRequest {
                destination: Destination {
                    address: "rmona1 q".into(),
                    script_pubkey: script(1),
                },
                ..wreq("z", 1, 1)
            },
        ),
        (
            "empty script",
            WithdrawalRequest {
                destination: Destination {
                    address: "a".into(),
                    script_pubkey: ScriptBuf::new(),
                },
                ..wreq("z", 1, 1)
            },
        ),
    ];
    for (name, req) in bad_requests {
        assert!(
            matches!(l.request_withdrawal(&req), Err(IntakeError::Invalid(_))),
            "case {name} must be refused as invalid"
        );
        assert_eq!(snapshot(l), before, "case {name} changed state");
    }
    let bad_vouchers = [
        NewVoucher {
            id: "".into(),
            code_hash: CodeHash([1; 32]),
            amount_wat: 1,
        },
        NewVoucher {
            id: "v".into(),
            code_hash: CodeHash([1; 32]),
            amount_wat: 0,
        },
    ];
    for v in &bad_vouchers {
        assert!(
            matches!(l.create_voucher(v), Err(IntakeError::Invalid(_))),
            "{v:?}"
        );
    }
    assert!(matches!(
        l.redeem_voucher(
            &CodeHash([2; 32]),
            &Destination {
                address: "".into(),
                script_pubkey: script(1)
            }
        ),
        Err(IntakeError::Invalid(_))
    ));
    assert!(matches!(
        l.reject_withdrawal("ok", ""),
        Err(PayoutOpError::Invalid(_))
    ));
    assert!(matches!(
        l.reject_withdrawal("bad id!", "r"),
        Err(PayoutOpError::Invalid(_))
    ));
    assert!(matches!(l.freeze(" "), Err(FloatError::Invalid(_))));
    assert!(matches!(l.unfreeze(""), Err(FloatError::Invalid(_))));
    assert!(matches!(
        l.append_audit("Bad Kind", "s", "d"),
        Err(FloatError::Invalid(_))
    ));
    let mut bad_block = next_block(l, 0);
    bad_block.finality_depth = 0;
    assert!(matches!(
        l.block_connected(&bad_block),
        Err(BlockError::Invalid(_))
    ));
    let bad_topup = TopUpProposal {
        id: "t".into(),
        withdrawal_id: None,
        psbt: vec![],
        unsigned_txid: fake_txid(),
        amount_wat: 1,
        state: TopUpState::Open,
        close_note: None,
    };
    assert!(matches!(
        l.open_topup(&bad_topup),
        Err(FloatError::Invalid(_))
    ));
    let garbage = PayoutCommit {
        kind: PayoutKind::Withdrawals,
        withdrawal_ids: vec!["ok".into()],
        txid: fake_txid(),
        raw_tx: vec![1, 2, 3],
        inputs: vec![],
        change: vec![],
        fee_wat: 0,
    };
    assert!(matches!(
        l.commit_payout(&garbage),
        Err(CommitError::TxDecode(_))
    ));
    assert_eq!(snapshot(l), before, "bad input changed state");
    assert_eq!(l.withdrawal("z").expect("read"), None);
}

/// Redemption: atomic, one withdrawal per voucher, replay for the same address, conflict for
/// another, not found for an unknown code.
pub fn voucher_redemption(l: &dyn Ledger) {
    let code = "correct horse battery staple 0123456789abcdef";
    let v = NewVoucher {
        id: "v1".into(),
        code_hash: CodeHash::of_code(code),
        amount_wat: 70_000,
    };
    assert!(matches!(
        l.create_voucher(&v).expect("create"),
        Intake::Created(_)
    ));
    assert!(matches!(
        l.create_voucher(&v).expect("again"),
        Intake::Replay(_)
    ));
    let other = NewVoucher {
        amount_wat: 1,
        ..v.clone()
    };
    assert!(matches!(
        l.create_voucher(&other).expect("other"),
        Intake::Conflict(_)
    ));
    let same_hash = NewVoucher {
        id: "v2".into(),
        ..v.clone()
    };
    assert!(
        matches!(l.create_voucher(&same_hash), Err(IntakeError::Invalid(_))),
        "code hash is unique"
    );

    assert_eq!(
        l.redeem_voucher(&CodeHash::of_code("wrong code"), &dest(1))
            .expect("redeem"),
        Redemption::NotFound
    );
    let r = l
        .redeem_voucher(&CodeHash::of_code(code), &dest(1))
        .expect("redeem");
    let Redemption::Created(w) = r else {
        panic!("first redemption creates: {r:?}")
    };
    assert_eq!(w.id, "voucher:v1");
    assert_eq!(w.amount_wat, 70_000);
    assert_eq!(
        w.source,
        WithdrawalSource::Voucher {
            voucher_id: "v1".into()
        }
    );
    let again = l
        .redeem_voucher(&CodeHash::of_code(code), &dest(1))
        .expect("replay");
    assert_eq!(again, Redemption::Replay(w.clone()));
    let conflict = l
        .redeem_voucher(&CodeHash::of_code(code), &dest(2))
        .expect("conflict");
    assert_eq!(conflict, Redemption::Conflict(w.clone()));
    let stored = l.voucher("v1").expect("read").expect("exists");
    assert_eq!(stored.state, VoucherState::Redeemed);
    assert_eq!(stored.redeemed_to, Some(dest(1)));
    assert_eq!(stored.withdrawal_id.as_deref(), Some("voucher:v1"));
    assert_eq!(
        l.queued_withdrawals(10).expect("q").len(),
        1,
        "exactly one withdrawal"
    );
    // A caller cannot take the voucher's key.
    assert!(l
        .request_withdrawal(&wreq("voucher:v1", 1, 70_000))
        .is_err());
}

/// Commit: withdrawals signed and linked, inputs reserved, change recorded, broadcast effect.
pub fn commit_payout_reserves_and_links(l: &dyn Ledger) {
    let coins = fund(l, &[100_000, 50_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    l.request_withdrawal(&wreq("b", 2, 40_000)).expect("b");
    let c = payout_commit(
        &[(coins[0], 100_000)],
        &[("a", 1, 30_000), ("b", 2, 40_000)],
        29_000,
        77,
    );
    let effects = l.commit_payout(&c).expect("commit");
    assert_eq!(
        effects,
        vec![Effect::Broadcast {
            txid: c.txid,
            raw_tx: c.raw_tx.clone(),
            attempt: 0
        }],
        "commit asks for the first broadcast of the committed bytes"
    );
    for id in ["a", "b"] {
        let w = l.withdrawal(id).expect("read").expect("exists");
        assert_eq!(
            (w.state, w.txid),
            (PayoutState::Signed, Some(c.txid)),
            "withdrawal {id}"
        );
    }
    let p = l.payout(&c.txid).expect("read").expect("exists");
    assert_eq!(p.raw_tx, c.raw_tx);
    assert_eq!(p.state, PayoutState::Signed);
    assert_eq!(p.fee_wat, 1_000);
    assert_eq!(p.inputs, vec![coins[0]]);
    assert_eq!(p.withdrawal_ids, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(
        l.coin(&coins[0]).expect("read").expect("coin").reserved_by,
        Some(c.txid)
    );
    let spendable: Vec<OutPoint> = l
        .spendable_coins()
        .expect("spendable")
        .iter()
        .map(|c| c.outpoint)
        .collect();
    assert!(
        !spendable.contains(&coins[0]),
        "reserved coin is not spendable"
    );
    assert!(spendable.contains(&coins[1]));
    let change = c.change[0].outpoint;
    assert!(spendable.contains(&change), "own live change is spendable");
    assert_eq!(
        l.pending_effects().expect("pending"),
        effects,
        "restart re-sends the same bytes"
    );
    assert!(l.queued_withdrawals(10).expect("q").is_empty());
    assert!(matches!(
        l.commit_payout(&c),
        Err(CommitError::AlreadyCommitted(_))
    ));
}

/// Every refused commit leaves the store unchanged.
pub fn commit_refusals_change_nothing(l: &dyn Ledger) {
    let coins = fund(l, &[100_000, 50_000, 20_000]);
    let dust = fund_with(l, &[300], Keychain::HotExternal, true)[0];
    let cold = fund_with(l, &[90_000], Keychain::ColdExternal, false)[0];
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    l.request_withdrawal(&wreq("b", 2, 10_000)).expect("b");
    // An unconfirmed foreign coin (never confirmed): record then disconnect its block.
    let unconf = fund(l, &[60_000])[0];
    let t = l.tip().expect("tip").expect("tip");
    l.block_disconnected(&t).expect("disconnect");
    let good = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    type Case = (&'static str, PayoutCommit, fn(&CommitError) -> bool);
    let mut cases: Vec<Case> = Vec::new();
    let mut c = good.clone();
    c.txid = fake_txid();
    cases.push(("txid mismatch", c, |e| {
        matches!(e, CommitError::TxidMismatch { .. })
    }));
    let mut c = good.clone();
    c.inputs.push(coins[1]);
    cases.push(("inputs mismatch", c, |e| {
        matches!(e, CommitError::InputsMismatch)
    }));
    let mut c = good.clone();
    c.fee_wat += 1;
    cases.push(("fee mismatch", c, |e| {
        matches!(e, CommitError::FeeMismatch { .. })
    }));
    cases.push((
        "unknown coin",
        payout_commit(
            &[(
                OutPoint {
                    txid: fake_txid(),
                    vout: 0,
                },
                100_000,
            )],
            &[("a", 1, 30_000)],
            69_000,
            5,
        ),
        |e| matches!(e, CommitError::UnknownCoin(_)),
    ));
    cases.push((
        "dust input",
        payout_commit(
            &[(dust, 300), (coins[0], 100_000)],
            &[("a", 1, 30_000)],
            69_000,
            5,
        ),
        |e| matches!(e, CommitError::CoinUnavailable { .. }),
    ));
    cases.push((
        "cold input for a hot payout",
        payout_commit(&[(cold, 90_000)], &[("a", 1, 30_000)], 59_000, 5),
        |e| matches!(e, CommitError::CoinUnavailable { .. }),
    ));
    cases.push((
        "unconfirmed foreign input",
        payout_commit(&[(unconf, 60_000)], &[("a", 1, 30_000)], 29_000, 5),
        |e| matches!(e, CommitError::CoinUnavailable { .. }),
    ));
    cases.push((
        "wrong amount paid",
        payout_commit(&[(coins[0], 100_000)], &[("a", 1, 29_999)], 69_000, 5),
        |e| matches!(e, CommitError::WithdrawalNotPaid(_)),
    ));
    cases.push((
        "wrong script paid",
        payout_commit(&[(coins[0], 100_000)], &[("a", 3, 30_000)], 69_000, 5),
        |e| matches!(e, CommitError::WithdrawalNotPaid(_)),
    ));
    cases.push((
        "unknown withdrawal",
        payout_commit(&[(coins[0], 100_000)], &[("nope", 1, 30_000)], 69_000, 5),
        |e| matches!(e, CommitError::UnknownWithdrawal(_)),
    ));
    cases.push((
        "withdrawal listed twice",
        payout_commit(
            &[(coins[0], 100_000)],
            &[("a", 1, 30_000), ("a", 1, 30_000)],
            39_000,
            5,
        ),
        |e| matches!(e, CommitError::Invalid(_)),
    ));
    let mut c = good.clone();
    c.kind = PayoutKind::Sweep;
    cases.push(("sweep with withdrawals", c, |e| {
        matches!(e, CommitError::KindMismatch(_))
    }));
    let mut c = good.clone();
    c.change[0].value_wat += 1;
    cases.push(("change mismatch", c, |e| {
        matches!(e, CommitError::ChangeMismatch(_))
    }));
    for (name, c, want) in cases {
        let before = snapshot(l);
        match l.commit_payout(&c) {
            Err(e) if want(&e) => {}
            other => panic!("case {name}: unexpected {other:?}"),
        }
        assert_eq!(snapshot(l), before, "case {name} changed state");
    }
    // Now commit the good one; then: double reservation and double payment are refused.
    l.commit_payout(&good).expect("good commit");
    let before = snapshot(l);
    let same_coin = payout_commit(&[(coins[0], 100_000)], &[("b", 2, 10_000)], 89_000, 6);
    assert!(
        matches!(l.commit_payout(&same_coin), Err(CommitError::CoinReserved { by, .. }) if by == good.txid),
        "a reserved coin cannot be selected again"
    );
    let pay_again = payout_commit(&[(coins[1], 50_000)], &[("a", 1, 30_000)], 19_000, 6);
    assert!(
        matches!(
            l.commit_payout(&pay_again),
            Err(CommitError::WithdrawalNotPayable { .. })
        ),
        "a signed withdrawal cannot be paid twice"
    );
    l.freeze("test freeze").expect("freeze");
    let ok_otherwise = payout_commit(&[(coins[1], 50_000)], &[("b", 2, 10_000)], 39_000, 6);
    assert!(matches!(
        l.commit_payout(&ok_otherwise),
        Err(CommitError::Frozen { .. })
    ));
    l.unfreeze("test over").expect("unfreeze");
    let mut after = snapshot(l);
    after.head = before.head;
    after.freeze = before.freeze.clone();
    assert_eq!(after, before, "refused commits changed state");
    l.commit_payout(&ok_otherwise)
        .expect("allowed after unfreeze");
}

/// No send outcome fails a payout; timeouts re-send the same bytes; invalid is stuck.
pub fn send_outcomes_never_fail_a_payout(l: &dyn Ledger) {
    let coins = fund(l, &[100_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let c = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&c).expect("commit");
    let timeout = SendOutcome::Transient {
        reason: "timeout".into(),
    };
    let eff = l.record_send_attempt(&c.txid, &timeout).expect("send");
    assert_eq!(
        eff,
        vec![Effect::Broadcast {
            txid: c.txid,
            raw_tx: c.raw_tx.clone(),
            attempt: 1
        }]
    );
    assert_eq!(
        state_of(l, "a"),
        PayoutState::Broadcast,
        "a timeout is not a failure"
    );
    for outcome in [
        SendOutcome::Transient {
            reason: "503".into(),
        },
        SendOutcome::AlreadyKnown,
        SendOutcome::Accepted,
        SendOutcome::Conflict {
            detail: "txn-mempool-conflict".into(),
        },
        SendOutcome::MissingInputs {
            detail: "missingorspent".into(),
        },
    ] {
        l.record_send_attempt(&c.txid, &outcome).expect("send");
        assert_eq!(
            state_of(l, "a"),
            PayoutState::Broadcast,
            "outcome {outcome:?}"
        );
    }
    let p = l.payout(&c.txid).expect("read").expect("exists");
    assert_eq!(p.send_attempts, 6);
    assert_eq!(p.raw_tx, c.raw_tx, "bytes never change");
    assert_eq!(p.last_send_outcome.as_deref(), Some("missing_inputs"));
    let eff = l
        .record_send_attempt(
            &c.txid,
            &SendOutcome::Invalid {
                reason: "bad-sig".into(),
            },
        )
        .expect("invalid");
    assert!(eff.iter().any(|e| matches!(e, Effect::Alert { .. })));
    assert_eq!(state_of(l, "a"), PayoutState::Stuck);
    assert!(
        !l.freeze_state().expect("f").frozen,
        "invalid freezes that payout only"
    );
    assert!(l.pending_effects().expect("pending").is_empty());
    let eff = l.resend_stuck(&c.txid).expect("operator resend");
    assert!(matches!(&eff[..], [Effect::Broadcast { raw_tx, .. }] if *raw_tx == c.raw_tx));
    assert_eq!(state_of(l, "a"), PayoutState::Broadcast);
    assert!(matches!(
        l.record_send_attempt(&fake_txid(), &SendOutcome::Accepted),
        Err(PayoutOpError::UnknownPayout(_))
    ));
}

/// Seen in a block -> confirmed(n) -> final at depth; a reorg sends the same bytes again.
pub fn confirmations_finality_and_reorg(l: &dyn Ledger) {
    let coins = fund(l, &[100_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let c = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&c).expect("commit");
    l.record_send_attempt(&c.txid, &SendOutcome::Accepted)
        .expect("sent");
    let mut u = next_block(l, 0);
    u.txids = vec![c.txid];
    u.spends = vec![(coins[0], c.txid)];
    u.new_coins = c.change.clone();
    let conf_block = u.block;
    l.block_connected(&u).expect("block");
    assert_eq!(state_of(l, "a"), PayoutState::Confirmed);
    let p = l.payout(&c.txid).expect("r").expect("p");
    assert_eq!(
        p.confirmation.map(|c| (c.height, c.confirmations)),
        Some((conf_block.height, 1))
    );
    assert_eq!(
        l.coin(&c.change[0].outpoint)
            .expect("r")
            .expect("change")
            .height,
        Some(conf_block.height)
    );
    assert!(
        !l.freeze_state().expect("f").frozen,
        "our own spend does not freeze"
    );
    // wrong parent is refused
    let mut bad = next_block(l, 0);
    bad.prev_hash = block_hash(999, 9);
    assert!(matches!(
        l.block_connected(&bad),
        Err(BlockError::NotOnTip { .. })
    ));
    assert!(matches!(
        l.block_disconnected(&BlockRef {
            height: conf_block.height,
            hash: block_hash(conf_block.height, 9)
        }),
        Err(BlockError::NotTip { .. })
    ));
    // reorg the confirming block out: disconnect back to it
    l.block_disconnected(&conf_block).expect("disconnect tip");
    assert_eq!(
        state_of(l, "a"),
        PayoutState::Broadcast,
        "reorged out: broadcast again"
    );
    assert_eq!(l.coin(&coins[0]).expect("r").expect("coin").spent_by, None);
    assert!(l
        .pending_effects()
        .expect("p")
        .iter()
        .any(|e| matches!(e, Effect::Broadcast { raw_tx, .. } if *raw_tx == c.raw_tx)));
    // confirm on the other fork, then reach the finality depth (3)
    let mut u = next_block(l, 1);
    u.txids = vec![c.txid];
    u.spends = vec![(coins[0], c.txid)];
    l.block_connected(&u).expect("fork block");
    assert_eq!(state_of(l, "a"), PayoutState::Confirmed);
    l.block_connected(&next_block(l, 1)).expect("b2");
    assert_eq!(state_of(l, "a"), PayoutState::Confirmed);
    l.block_connected(&next_block(l, 1)).expect("b3");
    assert_eq!(state_of(l, "a"), PayoutState::Final);
    assert_eq!(
        l.payout(&c.txid).expect("r").expect("p").raw_tx,
        c.raw_tx,
        "never rebuilt"
    );
    let tip = l.tip().expect("t").expect("t");
    assert_eq!(l.block_hash_at(tip.height).expect("h"), Some(tip.hash));
}

/// A fee bump commits the replacement first, keeps the old bytes, moves the withdrawals.
pub fn fee_bump_replaces_without_double_pay(l: &dyn Ledger) {
    let coins = fund(l, &[100_000, 40_000, 10_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let c = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&c).expect("commit");
    l.record_send_attempt(&c.txid, &SendOutcome::Accepted)
        .expect("sent");
    let no_shared = payout_commit(&[(coins[1], 40_000)], &[("a", 1, 30_000)], 9_000, 6);
    assert!(matches!(
        l.replace_payout(&c.txid, &no_shared),
        Err(CommitError::NoSharedInput(_))
    ));
    l.request_withdrawal(&wreq("b", 2, 5_000)).expect("b");
    let other_set = payout_commit(
        &[(coins[0], 100_000)],
        &[("a", 1, 30_000), ("b", 2, 5_000)],
        60_000,
        6,
    );
    assert!(matches!(
        l.replace_payout(&c.txid, &other_set),
        Err(CommitError::ReplacementMismatch { .. } | CommitError::WithdrawalNotPayable { .. })
    ));
    let bump = payout_commit(
        &[(coins[0], 100_000), (coins[2], 10_000)],
        &[("a", 1, 30_000)],
        77_000,
        6,
    );
    let eff = l.replace_payout(&c.txid, &bump).expect("bump");
    assert!(matches!(&eff[..], [Effect::Broadcast { txid, attempt: 0, .. }] if *txid == bump.txid));
    let old = l.payout(&c.txid).expect("r").expect("old kept");
    assert_eq!(old.state, PayoutState::ReplacedBy);
    assert_eq!(old.replaced_by, Some(bump.txid));
    assert_eq!(old.raw_tx, c.raw_tx, "old bytes stay recorded");
    let w = l.withdrawal("a").expect("r").expect("a");
    assert_eq!((w.state, w.txid), (PayoutState::Signed, Some(bump.txid)));
    assert_eq!(
        l.payout(&bump.txid).expect("r").expect("new").replaces,
        Some(c.txid)
    );
    assert_eq!(
        l.coin(&coins[0]).expect("r").expect("c").reserved_by,
        Some(bump.txid)
    );
    assert_eq!(
        l.coin(&coins[2]).expect("r").expect("c").reserved_by,
        Some(bump.txid)
    );
    let spendable: Vec<OutPoint> = l
        .spendable_coins()
        .expect("s")
        .iter()
        .map(|c| c.outpoint)
        .collect();
    assert!(
        !spendable.contains(&c.change[0].outpoint),
        "change of a replaced tx is not spendable"
    );
    // The old tx cannot be replaced again, nor re-committed.
    assert!(l.replace_payout(&c.txid, &bump).is_err());
    // Replacement confirms; after finality, nothing is paid twice.
    let mut u = next_block(l, 0);
    u.txids = vec![bump.txid];
    u.spends = vec![(coins[0], bump.txid), (coins[2], bump.txid)];
    u.new_coins = bump.change.clone();
    l.block_connected(&u).expect("block");
    l.block_connected(&next_block(l, 0)).expect("b");
    l.block_connected(&next_block(l, 0)).expect("b");
    assert_eq!(state_of(l, "a"), PayoutState::Final);
    assert_eq!(
        l.payout(&c.txid).expect("r").expect("old").state,
        PayoutState::ReplacedBy
    );
}

/// If the original of a fee bump confirms, the replacement is superseded by it.
pub fn original_confirming_beats_replacement(l: &dyn Ledger) {
    let coins = fund(l, &[100_000, 10_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let c = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&c).expect("commit");
    l.record_send_attempt(
        &c.txid,
        &SendOutcome::Transient {
            reason: "timeout".into(),
        },
    )
    .expect("s");
    let bump = payout_commit(
        &[(coins[0], 100_000), (coins[1], 10_000)],
        &[("a", 1, 30_000)],
        78_000,
        6,
    );
    l.replace_payout(&c.txid, &bump).expect("bump");
    let mut u = next_block(l, 0);
    u.txids = vec![c.txid];
    u.spends = vec![(coins[0], c.txid)];
    u.new_coins = c.change.clone();
    l.block_connected(&u).expect("original confirms");
    assert!(
        !l.freeze_state().expect("f").frozen,
        "our own original is not a foreign spend"
    );
    let w = l.withdrawal("a").expect("r").expect("a");
    assert_eq!((w.state, w.txid), (PayoutState::Confirmed, Some(c.txid)));
    let b = l.payout(&bump.txid).expect("r").expect("bump");
    assert_eq!(
        (b.state, b.replaced_by),
        (PayoutState::ReplacedBy, Some(c.txid))
    );
    assert!(
        l.pending_effects().expect("p").is_empty(),
        "nothing left to send"
    );
    l.block_connected(&next_block(l, 0)).expect("b");
    l.block_connected(&next_block(l, 0)).expect("b");
    assert_eq!(state_of(l, "a"), PayoutState::Final);
    let freed = l.coin(&coins[1]).expect("r").expect("c");
    assert_eq!(
        freed.reserved_by, None,
        "the loser's extra input is released at finality"
    );
    assert!(l
        .spendable_coins()
        .expect("s")
        .iter()
        .any(|k| k.outpoint == coins[1]));
}

/// A spend the ledger did not make: payout stuck, system frozen, payouts refused.
pub fn foreign_spend_freezes(l: &dyn Ledger) {
    let coins = fund(l, &[100_000, 50_000, 50_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let c = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&c).expect("commit");
    let thief = fake_txid();
    let mut u = next_block(l, 0);
    u.txids = vec![thief];
    u.spends = vec![(coins[0], thief)];
    let eff = l.block_connected(&u).expect("block");
    assert!(
        eff.iter().any(|e| matches!(e, Effect::FreezeSystem { .. })),
        "{eff:?}"
    );
    assert_eq!(state_of(l, "a"), PayoutState::Stuck);
    let fs = l.freeze_state().expect("f");
    assert!(fs.frozen);
    assert!(fs.reason.unwrap_or_default().contains(&thief.to_string()));
    l.request_withdrawal(&wreq("b", 2, 1_000))
        .expect("intake still recorded");
    let next = payout_commit(&[(coins[1], 50_000)], &[("b", 2, 1_000)], 48_000, 6);
    assert!(matches!(
        l.commit_payout(&next),
        Err(CommitError::Frozen { .. })
    ));
    // An unreserved hot coin spent by a stranger also freezes (after an unfreeze).
    l.unfreeze("investigated").expect("unfreeze");
    let mut u = next_block(l, 0);
    let thief2 = fake_txid();
    u.spends = vec![(coins[2], thief2)];
    l.block_connected(&u).expect("block");
    assert!(l.freeze_state().expect("f").frozen);
    // mark_conflicting_spend (from an investigation) does the same for a payout.
    l.unfreeze("investigated again").expect("unfreeze");
    l.commit_payout(&next).expect("commit b");
    l.mark_conflicting_spend(&next.txid, None).expect("mark");
    assert_eq!(state_of(l, "b"), PayoutState::Stuck);
    assert!(l.freeze_state().expect("f").frozen);
}

/// A voucher whose withdrawal policy rejects is owed in full: the rejection makes it
/// redeemable again in the same transaction (on the record); the next redemption, to any
/// address, creates a fresh `voucher:<id>` withdrawal, and it can never be paid twice.
pub fn rejected_voucher_redemption_is_released(l: &dyn Ledger) {
    let code = "a voucher code the holder keeps 0123456789abcdef";
    let v = NewVoucher {
        id: "v1".into(),
        code_hash: CodeHash::of_code(code),
        amount_wat: 40_000,
    };
    l.create_voucher(&v).expect("create");
    let coins = fund(l, &[100_000]);
    let Redemption::Created(w) = l
        .redeem_voucher(&CodeHash::of_code(code), &dest(1))
        .expect("redeem")
    else {
        panic!("first redemption creates")
    };
    let h0 = head(l).seq;
    let rejected = l
        .reject_withdrawal(&w.id, "destination refused by policy")
        .expect("reject");
    assert_eq!(rejected.state, PayoutState::Rejected);
    let stored = l.voucher("v1").expect("read").expect("exists");
    assert_eq!(stored.state, VoucherState::Active, "redeemable again");
    assert_eq!((stored.redeemed_to, stored.withdrawal_id), (None, None));
    let kinds: Vec<String> = l
        .audit_entries(h0 + 1, 10)
        .expect("audit")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec!["withdrawal.rejected", VOUCHER_RELEASED]);
    // The rejected withdrawal stays visible (with its reason) until the next redemption.
    assert_eq!(
        l.withdrawal("voucher:v1")
            .expect("read")
            .expect("exists")
            .reject_reason
            .as_deref(),
        Some("destination refused by policy")
    );
    // A request withdrawal's rejection touches no voucher.
    l.request_withdrawal(&wreq("plain", 3, 1_000)).expect("req");
    l.reject_withdrawal("plain", "no").expect("reject plain");
    assert_eq!(
        l.voucher("v1").expect("read").expect("v1").state,
        VoucherState::Active
    );
    // Redeemed again, to another address: a fresh requested withdrawal under the same key.
    let Redemption::Created(w2) = l
        .redeem_voucher(&CodeHash::of_code(code), &dest(2))
        .expect("redeem again")
    else {
        panic!("a released voucher redeems again")
    };
    assert_eq!(w2.id, "voucher:v1");
    assert_eq!(w2.state, PayoutState::Requested);
    assert_eq!(w2.destination, dest(2));
    assert_eq!(w2.reject_reason, None);
    assert_eq!(
        l.redeem_voucher(&CodeHash::of_code(code), &dest(1))
            .expect("conflict"),
        Redemption::Conflict(w2.clone()),
        "redeemed again: another address is a conflict"
    );
    assert!(l
        .audit_entries(h0 + 1, 20)
        .expect("audit")
        .iter()
        .any(|e| e.kind == WITHDRAWAL_DISCARDED && e.subject == "voucher:v1"));
    // Paid once: after a transaction exists the voucher can no longer be released.
    let c = payout_commit(
        &[(coins[0], 100_000)],
        &[("voucher:v1", 2, 40_000)],
        59_000,
        5,
    );
    l.commit_payout(&c).expect("commit");
    assert!(l.reject_withdrawal("voucher:v1", "too late").is_err());
    assert_eq!(
        l.voucher("v1").expect("read").expect("v1").state,
        VoucherState::Redeemed
    );
    assert_eq!(
        l.redeem_voucher(&CodeHash::of_code(code), &dest(2))
            .expect("replay"),
        Redemption::Replay(l.withdrawal("voucher:v1").expect("r").expect("w")),
    );
}

/// `unspent_coins` lists every coin of ours not seen spent: dust, reserved, unconfirmed
/// change and cold coins included (they are missing from `spendable_coins`); a spend of each
/// one of them by a stranger freezes, and a spent coin leaves the set.
pub fn unspent_coins_is_the_whole_watch_set(l: &dyn Ledger) {
    let hot = fund(l, &[100_000, 50_000]);
    let dust = fund_with(l, &[500], Keychain::HotExternal, true);
    let cold = fund_with(l, &[70_000], Keychain::ColdExternal, false);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let c = payout_commit(&[(hot[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&c).expect("commit");
    let change = c.change[0].outpoint;
    let ops = |v: Vec<Coin>| v.iter().map(|c| c.outpoint).collect::<Vec<OutPoint>>();
    let unspent = ops(l.unspent_coins().expect("unspent"));
    let spendable = ops(l.spendable_coins().expect("spendable"));
    for (what, op) in [
        ("reserved", hot[0]),
        ("free", hot[1]),
        ("dust", dust[0]),
        ("cold", cold[0]),
        ("unconfirmed change", change),
    ] {
        assert!(unspent.contains(&op), "{what} coin {op} is unspent");
    }
    assert_eq!(unspent.len(), 5, "{unspent:?}");
    let mut sorted = unspent.clone();
    sorted.sort();
    assert_eq!(unspent, sorted, "ordered by outpoint");
    assert!(
        !spendable.contains(&dust[0]) && !spendable.contains(&hot[0]),
        "dust and reserved coins are watched, not spendable"
    );
    // A stranger spends the dust coin: it freezes and the coin leaves the set.
    let thief = fake_txid();
    let mut u = next_block(l, 0);
    u.txids = vec![thief];
    u.spends = vec![(dust[0], thief)];
    l.block_connected(&u).expect("block");
    let fs = l.freeze_state().expect("f");
    assert!(fs.frozen, "a spend of a dust hot coin freezes");
    assert!(fs.reason.unwrap_or_default().contains(&thief.to_string()));
    let unspent = ops(l.unspent_coins().expect("unspent"));
    assert!(!unspent.contains(&dust[0]), "a spent coin is not unspent");
    assert_eq!(unspent.len(), 4);
    // The reserved coin too: its payout is stuck and the system stays frozen.
    l.unfreeze("investigated").expect("unfreeze");
    let thief2 = fake_txid();
    let mut u = next_block(l, 0);
    u.txids = vec![thief2];
    u.spends = vec![(hot[0], thief2)];
    l.block_connected(&u).expect("block");
    assert!(l.freeze_state().expect("f").frozen);
    assert_eq!(state_of(l, "a"), PayoutState::Stuck);
}

/// Freeze/unfreeze are recorded; one open top-up at a time; audit notes.
pub fn freeze_topups_and_notes(l: &dyn Ledger) {
    let h0 = head(l).seq;
    let fs = l.freeze("manual").expect("freeze");
    assert!(fs.frozen);
    let fs = l.freeze("second reason").expect("freeze again");
    assert_eq!(fs.reason.as_deref(), Some("manual"), "first reason kept");
    let fs = l.unfreeze("all clear").expect("unfreeze");
    assert!(!fs.frozen);
    assert_eq!(fs.reason.as_deref(), Some("all clear"));
    let rows = l.audit_entries(h0 + 1, 10).expect("audit");
    let kinds: Vec<&str> = rows.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["freeze", "freeze", "unfreeze"]);
    let t = TopUpProposal {
        id: "t1".into(),
        withdrawal_id: None,
        psbt: vec![0x70, 0x73, 0x62, 0x74, 0xff],
        unsigned_txid: fake_txid(),
        amount_wat: 1_000_000,
        state: TopUpState::Open,
        close_note: None,
    };
    assert!(matches!(
        l.open_topup(&t).expect("open"),
        Intake::Created(_)
    ));
    assert!(matches!(l.open_topup(&t).expect("open"), Intake::Replay(_)));
    let t2 = TopUpProposal {
        id: "t2".into(),
        withdrawal_id: None,
        ..t.clone()
    };
    assert!(matches!(l.open_topup(&t2), Err(FloatError::TopUpAlreadyOpen(id)) if id == "t1"));
    assert_eq!(
        l.open_topup_proposal().expect("r").map(|t| t.id),
        Some("t1".into())
    );
    assert!(matches!(
        l.close_topup("t1", &TopUpClose::Submitted { txid: fake_txid() }),
        Err(FloatError::UnknownPayout(_))
    ));
    let closed = l
        .close_topup(
            "t1",
            &TopUpClose::Cancelled {
                reason: "stale".into(),
            },
        )
        .expect("close");
    assert_eq!(closed.state, TopUpState::Cancelled);
    assert!(matches!(
        l.close_topup("t1", &TopUpClose::Cancelled { reason: "x".into() }),
        Err(FloatError::TopUpNotOpen { .. })
    ));
    assert!(matches!(
        l.close_topup("zz", &TopUpClose::Cancelled { reason: "x".into() }),
        Err(FloatError::UnknownTopUp(_))
    ));
    assert!(matches!(
        l.open_topup(&t2).expect("open t2"),
        Intake::Created(_)
    ));
    let seq = l
        .append_audit("sign.refused", "psbt:abc", "reason=fee-too-high")
        .expect("note");
    assert_eq!(head(l).seq, seq);
    assert_eq!(
        l.topup("t1").expect("r").map(|t| t.state),
        Some(TopUpState::Cancelled)
    );
}

/// Policy rejection exists only before a transaction.
pub fn reject_is_only_before_a_tx(l: &dyn Ledger) {
    let coins = fund(l, &[100_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    l.request_withdrawal(&wreq("r", 2, 30_000)).expect("r");
    let w = l
        .reject_withdrawal("r", "over the per-payout max")
        .expect("reject");
    assert_eq!(w.state, PayoutState::Rejected);
    assert_eq!(w.reject_reason.as_deref(), Some("over the per-payout max"));
    assert!(
        l.reject_withdrawal("r", "again").is_err(),
        "rejected is terminal"
    );
    let c = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&c).expect("commit");
    assert!(
        matches!(
            l.reject_withdrawal("a", "late"),
            Err(PayoutOpError::Transition(_))
        ),
        "no edge from signed back to a state without a transaction"
    );
    assert!(matches!(
        l.reject_withdrawal("nope", "x"),
        Err(PayoutOpError::UnknownWithdrawal(_))
    ));
    let bad = payout_commit(&[(coins[0], 100_000)], &[("r", 2, 30_000)], 69_000, 5);
    assert!(
        l.commit_payout(&bad).is_err(),
        "a rejected withdrawal is never paid"
    );
}

/// Balances follow coins, reservations and withdrawals.
pub fn balances_add_up(l: &dyn Ledger) {
    let coins = fund(l, &[100_000, 50_000]);
    fund_with(l, &[500], Keychain::HotExternal, true);
    fund_with(l, &[7_000_000], Keychain::ColdExternal, false);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    l.request_withdrawal(&wreq("q", 2, 1_234)).expect("q");
    let b = l.balances().expect("b");
    assert_eq!(b.hot_confirmed_wat, 150_500);
    assert_eq!(b.hot_dust_wat, 500);
    assert_eq!(b.cold_confirmed_wat, 7_000_000);
    assert_eq!(b.queued_wat, 31_234);
    let c = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&c).expect("commit");
    let b = l.balances().expect("b");
    assert_eq!(b.hot_reserved_wat, 100_000);
    assert_eq!(b.hot_unconfirmed_wat, 69_000);
    assert_eq!(
        b.hot_change_unconfirmed_wat, 69_000,
        "the payout's change comes back hot"
    );
    assert_eq!(b.in_flight_wat, 30_000);
    assert_eq!(b.queued_wat, 1_234);
}

/// 1,000 concurrent requests over 100 ids from 16 threads: exactly 100 records, one creation
/// per id, every other answer a replay.
pub fn concurrent_duplicate_withdrawals(l: &dyn Ledger) {
    let created = std::sync::Mutex::new(HashMap::<String, u32>::new());
    std::thread::scope(|s| {
        for t in 0..16u32 {
            let created = &created;
            s.spawn(move || {
                for i in 0..1000u32 {
                    if i % 16 != t {
                        continue;
                    }
                    let id = format!("dup{}", i % 100);
                    let r = l
                        .request_withdrawal(&wreq(&id, i % 100, 1_000 + u64::from(i % 100)))
                        .expect("request");
                    match r {
                        Intake::Created(_) => {
                            *created.lock().expect("lock").entry(id).or_default() += 1
                        }
                        Intake::Replay(_) => {}
                        Intake::Conflict(w) => {
                            panic!("same body must replay, got conflict for {}", w.id)
                        }
                    }
                }
            });
        }
    });
    let created = created.into_inner().expect("lock");
    assert_eq!(created.len(), 100);
    assert!(
        created.values().all(|n| *n == 1),
        "each id created exactly once"
    );
    assert_eq!(
        l.queued_withdrawals(10_000).expect("q").len(),
        100,
        "exactly 100 records"
    );
}

/// 200 concurrent redemptions of one voucher, two addresses: one withdrawal; answers agree
/// with the winner's address.
pub fn concurrent_voucher_redemptions(l: &dyn Ledger) {
    let code = "a-very-secret-code-with-128-bits-of-entropy";
    l.create_voucher(&NewVoucher {
        id: "gift".into(),
        code_hash: CodeHash::of_code(code),
        amount_wat: 10_000,
    })
    .expect("voucher");
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let results = &results;
            s.spawn(move || {
                for i in 0..25u32 {
                    let n = (t * 25 + i) % 2;
                    let r = l
                        .redeem_voucher(&CodeHash::of_code(code), &dest(n))
                        .expect("redeem");
                    results.lock().expect("lock").push((n, r));
                }
            });
        }
    });
    let results = results.into_inner().expect("lock");
    assert_eq!(results.len(), 200);
    let winners: Vec<&(u32, Redemption)> = results
        .iter()
        .filter(|(_, r)| matches!(r, Redemption::Created(_)))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one redemption creates a payout");
    let win_n = winners[0].0;
    for (n, r) in &results {
        match r {
            Redemption::Created(_) => {}
            Redemption::Replay(w) => assert!(*n == win_n && w.destination == dest(win_n)),
            Redemption::Conflict(w) => assert!(*n != win_n && w.destination == dest(win_n)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(l.queued_withdrawals(10).expect("q").len(), 1);
}

/// Many threads try to commit payouts spending the same coin: exactly one wins.
pub fn concurrent_reservations(l: &dyn Ledger) {
    let coins = fund(l, &[100_000]);
    let ids: Vec<String> = (0..32).map(|i| format!("r{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        l.request_withdrawal(&wreq(id, i as u32, 10_000 + i as u64))
            .expect("req");
    }
    let commits: Vec<PayoutCommit> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            payout_commit(
                &[(coins[0], 100_000)],
                &[(id, i as u32, 10_000 + i as u64)],
                80_000,
                500,
            )
        })
        .collect();
    let wins = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for chunk in commits.chunks(4) {
            let wins = &wins;
            s.spawn(move || {
                for c in chunk {
                    match l.commit_payout(c) {
                        Ok(_) => {
                            wins.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(CommitError::CoinReserved { .. }) => {}
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
            });
        }
    });
    assert_eq!(
        wins.load(Ordering::Relaxed),
        1,
        "a coin is reserved by one payout only"
    );
    let live = l.payouts_in_states(&[PayoutState::Signed]).expect("p");
    assert_eq!(live.len(), 1);
    let signed: HashSet<String> = ids
        .iter()
        .filter(|id| l.withdrawal(id).expect("r").expect("w").state == PayoutState::Signed)
        .cloned()
        .collect();
    assert_eq!(signed.len(), 1);
}

/// A cold withdrawal: proposed for a `requested` withdrawal, submitted (commit + close in one
/// call) from cold coins, change to cold; then it follows the normal machine and its spend of
/// cold coins is our own (no freeze).
pub fn cold_withdrawal_commit_happy_path(l: &dyn Ledger) {
    fund(l, &[100_000]);
    let cold = fund_with(l, &[5_000_000], Keychain::ColdExternal, false);
    l.request_withdrawal(&wreq("big", 1, 3_000_000))
        .expect("big");
    let c = cold_withdrawal_commit(
        &[(cold[0], 5_000_000)],
        &[("big", 1, 3_000_000)],
        1_990_000,
        7,
    );
    let opened = l
        .open_topup(&proposal_for("cw1", &c, Some("big")))
        .expect("open");
    assert!(matches!(opened, Intake::Created(ref t) if t.withdrawal_id.as_deref() == Some("big")));
    assert_eq!(
        state_of(l, "big"),
        PayoutState::Requested,
        "a proposal moves no money"
    );
    let effects = l.submit_proposal("cw1", &c).expect("submit");
    assert!(
        matches!(effects.as_slice(), [Effect::Broadcast { txid, attempt: 0, .. }] if *txid == c.txid),
        "{effects:?}"
    );
    let w = l.withdrawal("big").expect("r").expect("w");
    assert_eq!((w.state, w.txid), (PayoutState::Signed, Some(c.txid)));
    let p = l.payout(&c.txid).expect("r").expect("payout");
    assert_eq!(p.kind, PayoutKind::ColdWithdrawal);
    assert_eq!(p.withdrawal_ids, vec!["big".to_string()]);
    let t = l.topup("cw1").expect("r").expect("proposal");
    assert_eq!(t.state, TopUpState::Submitted);
    assert_eq!(t.close_note, Some(c.txid.to_string()));
    assert!(l.open_topup_proposal().expect("r").is_none());
    assert_eq!(
        l.coin(&cold[0]).expect("r").expect("coin").reserved_by,
        Some(c.txid)
    );
    let change = l.coin(&c.change[0].outpoint).expect("r").expect("change");
    assert_eq!(change.keychain, Keychain::ColdInternal);
    let b = l.balances().expect("b");
    assert_eq!(b.in_flight_wat, 3_000_000);
    assert_eq!(b.hot_confirmed_wat, 100_000, "hot untouched");
    assert_eq!(b.hot_reserved_wat, 0);
    // Confirmed: the spend of a cold coin by our own payout freezes nothing.
    l.record_send_attempt(&c.txid, &SendOutcome::Accepted)
        .expect("send");
    let mut u = next_block(l, 0);
    u.txids = vec![c.txid];
    u.spends = vec![(cold[0], c.txid)];
    u.new_coins = c.change.clone();
    let eff = l.block_connected(&u).expect("block");
    assert!(
        !eff.iter().any(|e| matches!(e, Effect::FreezeSystem { .. })),
        "{eff:?}"
    );
    assert!(!l.freeze_state().expect("f").frozen);
    assert_eq!(state_of(l, "big"), PayoutState::Confirmed);
    for _ in 0..2 {
        l.block_connected(&next_block(l, 0)).expect("block");
    }
    assert_eq!(state_of(l, "big"), PayoutState::Final);
    let b = l.balances().expect("b");
    assert_eq!(b.cold_confirmed_wat, 1_990_000);
    assert_eq!(b.in_flight_wat, 0);
    let kinds: Vec<String> = l
        .audit_entries(0, usize::MAX >> 1)
        .expect("audit")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for k in ["topup.opened", "payout.signed", "topup.closed"] {
        assert!(kinds.iter().any(|x| x == k), "audit row {k} missing");
    }
}

/// Every refused cold-withdrawal submission leaves the proposal open and changes nothing
/// observable; the rules hold for `commit_payout` too.
pub fn cold_withdrawal_refusals_change_nothing(l: &dyn Ledger) {
    let hot = fund(l, &[5_000_000]);
    let cold = fund_with(l, &[5_000_000, 4_000_000], Keychain::ColdExternal, false);
    l.request_withdrawal(&wreq("big", 1, 3_000_000))
        .expect("big");
    l.request_withdrawal(&wreq("gone", 2, 3_000_000))
        .expect("gone");
    let good = cold_withdrawal_commit(
        &[(cold[0], 5_000_000)],
        &[("big", 1, 3_000_000)],
        1_990_000,
        7,
    );
    let mut to_hot = good.clone();
    to_hot.change[0].keychain = Keychain::HotInternal;
    let mut extra_tx: Transaction = bitcoin::consensus::deserialize(&good.raw_tx).expect("tx");
    extra_tx.output.push(TxOut {
        value: Amount::from_sat(5_000),
        script_pubkey: script(99),
    });
    let extra = PayoutCommit {
        txid: extra_tx.compute_txid(),
        raw_tx: bitcoin::consensus::serialize(&extra_tx),
        fee_wat: good.fee_wat - 5_000,
        change: vec![NewCoin {
            outpoint: OutPoint {
                txid: extra_tx.compute_txid(),
                vout: 1,
            },
            ..good.change[0].clone()
        }],
        ..good.clone()
    };
    let mut as_topup = good.clone();
    as_topup.kind = PayoutKind::TopUp;
    as_topup.withdrawal_ids.clear();
    type Case = (
        &'static str,
        Option<&'static str>,
        PayoutCommit,
        Option<PayoutCommit>,
        fn(&CommitError) -> bool,
    );
    let cases: Vec<Case> = vec![
        (
            "hot input refused",
            Some("big"),
            cold_withdrawal_commit(
                &[(hot[0], 5_000_000)],
                &[("big", 1, 3_000_000)],
                1_990_000,
                7,
            ),
            None,
            |e| matches!(e, CommitError::CoinUnavailable { .. }),
        ),
        (
            "withdrawal not requested refused",
            Some("gone"),
            cold_withdrawal_commit(
                &[(cold[1], 4_000_000)],
                &[("gone", 2, 3_000_000)],
                990_000,
                8,
            ),
            None,
            |e| matches!(e, CommitError::WithdrawalNotPayable { .. }),
        ),
        (
            "output not paying the withdrawal refused",
            Some("big"),
            cold_withdrawal_commit(
                &[(cold[0], 5_000_000)],
                &[("big", 1, 2_999_999)],
                1_990_000,
                7,
            ),
            None,
            |e| matches!(e, CommitError::WithdrawalNotPaid(_)),
        ),
        (
            "output paying a stranger refused",
            Some("big"),
            extra.clone(),
            None,
            |e| matches!(e, CommitError::UnaccountedOutput(2)),
        ),
        (
            "change to a hot address refused",
            Some("big"),
            to_hot.clone(),
            None,
            |e| matches!(e, CommitError::HotOutputInColdPayout(1)),
        ),
        (
            "not the proposed transaction refused",
            Some("big"),
            good.clone(),
            Some(extra.clone()),
            |e| matches!(e, CommitError::ProposalMismatch { .. }),
        ),
        (
            "a top-up commit for a withdrawal proposal refused",
            Some("big"),
            as_topup.clone(),
            None,
            |e| matches!(e, CommitError::ProposalMismatch { .. }),
        ),
        (
            "a cold withdrawal commit for a top-up proposal refused",
            None,
            good.clone(),
            None,
            |e| matches!(e, CommitError::ProposalMismatch { .. }),
        ),
    ];
    for (i, (name, wid, commit, proposed, want)) in cases.into_iter().enumerate() {
        let id = format!("p{i}");
        let proposed = proposed.unwrap_or_else(|| commit.clone());
        l.open_topup(&proposal_for(&id, &proposed, wid))
            .unwrap_or_else(|e| panic!("case {name}: open: {e}"));
        if wid == Some("gone") {
            l.reject_withdrawal("gone", "withdrawn by the customer")
                .expect("reject");
        }
        let before = snapshot(l);
        match l.submit_proposal(&id, &commit) {
            Err(e) => assert!(want(&e), "case {name}: wrong refusal {e:?}"),
            Ok(eff) => panic!("case {name}: accepted: {eff:?}"),
        }
        assert_eq!(
            snapshot(l),
            before,
            "case {name}: a refusal changed something"
        );
        assert_eq!(
            l.topup(&id).expect("r").map(|t| t.state),
            Some(TopUpState::Open),
            "case {name}: the proposal stays open"
        );
        assert!(l.payout(&commit.txid).expect("r").is_none(), "case {name}");
        l.close_topup(
            &id,
            &TopUpClose::Cancelled {
                reason: "test".into(),
            },
        )
        .expect("cancel");
    }
    // The same rules hold when committing directly.
    for (name, c) in [
        (
            "hot input",
            cold_withdrawal_commit(
                &[(hot[0], 5_000_000)],
                &[("big", 1, 3_000_000)],
                1_990_000,
                7,
            ),
        ),
        ("change to hot", to_hot),
        ("extra output", extra),
    ] {
        let before = snapshot(l);
        assert!(l.commit_payout(&c).is_err(), "{name} committed");
        assert_eq!(snapshot(l), before, "{name}");
    }
    let mut no_ids = good.clone();
    no_ids.withdrawal_ids.clear();
    assert!(matches!(
        l.commit_payout(&no_ids),
        Err(CommitError::KindMismatch("cold_withdrawal"))
    ));
    assert_eq!(state_of(l, "big"), PayoutState::Requested);
}

/// Commit and close are one transaction: a refused commit (here: frozen) leaves the proposal
/// open and nothing committed; the accepted one leaves no open proposal behind, for top-ups too.
pub fn proposal_submission_is_atomic(l: &dyn Ledger) {
    let cold = fund_with(l, &[5_000_000, 6_000_000], Keychain::ColdExternal, false);
    l.request_withdrawal(&wreq("big", 1, 3_000_000))
        .expect("big");
    let c = cold_withdrawal_commit(
        &[(cold[0], 5_000_000)],
        &[("big", 1, 3_000_000)],
        1_990_000,
        7,
    );
    l.open_topup(&proposal_for("cw", &c, Some("big")))
        .expect("open");
    l.freeze("investigating").expect("freeze");
    let before = snapshot(l);
    assert!(matches!(
        l.submit_proposal("cw", &c),
        Err(CommitError::Frozen { .. })
    ));
    assert_eq!(snapshot(l), before);
    assert_eq!(
        l.open_topup_proposal().expect("r").map(|t| t.id),
        Some("cw".into())
    );
    l.unfreeze("clear").expect("unfreeze");
    l.submit_proposal("cw", &c).expect("submit");
    assert!(l.open_topup_proposal().expect("r").is_none());
    assert!(l.payout(&c.txid).expect("r").is_some());
    // A top-up: one hot output (ours), change to cold.
    let mut t = payout_commit(&[(cold[1], 6_000_000)], &[], 5_990_000, 11);
    t.kind = PayoutKind::TopUp;
    l.open_topup(&proposal_for("tu", &t, None)).expect("open");
    l.submit_proposal("tu", &t).expect("top-up submit");
    let p = l.payout(&t.txid).expect("r").expect("payout");
    assert_eq!(p.kind, PayoutKind::TopUp);
    assert_eq!(
        l.topup("tu").expect("r").map(|t| t.state),
        Some(TopUpState::Submitted)
    );
    let b = l.balances().expect("b");
    assert_eq!(b.hot_unconfirmed_wat, 5_990_000);
    assert_eq!(
        b.hot_change_unconfirmed_wat, 5_990_000,
        "a top-up's hot output counts"
    );
}

/// Submitting the same transaction again is a replay (nothing new); another transaction, a
/// cancelled or an unknown proposal is refused.
pub fn proposal_submission_replay(l: &dyn Ledger) {
    let cold = fund_with(l, &[5_000_000], Keychain::ColdExternal, false);
    l.request_withdrawal(&wreq("big", 1, 3_000_000))
        .expect("big");
    let c = cold_withdrawal_commit(
        &[(cold[0], 5_000_000)],
        &[("big", 1, 3_000_000)],
        1_990_000,
        7,
    );
    l.open_topup(&proposal_for("cw", &c, Some("big")))
        .expect("open");
    assert!(!l.submit_proposal("cw", &c).expect("submit").is_empty());
    let payouts = l.payouts_in_states(&PayoutState::ALL).expect("p");
    let h = head(l).seq;
    assert_eq!(l.submit_proposal("cw", &c).expect("replay"), vec![]);
    assert_eq!(l.payouts_in_states(&PayoutState::ALL).expect("p"), payouts);
    let rows = l.audit_entries(h + 1, 10).expect("audit");
    assert_eq!(
        rows.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["topup.replay"]
    );
    let other = cold_withdrawal_commit(
        &[(cold[0], 5_000_000)],
        &[("big", 1, 3_000_000)],
        1_980_000,
        7,
    );
    assert!(matches!(
        l.submit_proposal("cw", &other),
        Err(CommitError::ProposalNotOpen {
            state: "submitted",
            ..
        })
    ));
    assert!(matches!(
        l.submit_proposal("nope", &c),
        Err(CommitError::UnknownProposal(_))
    ));
    assert!(matches!(
        l.submit_proposal("bad id!", &c),
        Err(CommitError::Invalid(_))
    ));
    assert_eq!(l.payouts_in_states(&PayoutState::ALL).expect("p"), payouts);
}

/// One open proposal at a time across both purposes; a withdrawal proposal names a requested
/// withdrawal; replay/conflict compare the purpose too; proposals are listed oldest first.
pub fn one_open_proposal_across_purposes(l: &dyn Ledger) {
    let cold = fund_with(l, &[5_000_000], Keychain::ColdExternal, false);
    l.request_withdrawal(&wreq("big", 1, 3_000_000))
        .expect("big");
    let c = cold_withdrawal_commit(
        &[(cold[0], 5_000_000)],
        &[("big", 1, 3_000_000)],
        1_990_000,
        7,
    );
    let top = proposal_for("top", &c, None);
    l.open_topup(&top).expect("open top-up");
    assert!(matches!(
        l.open_topup(&proposal_for("cw", &c, Some("big"))),
        Err(FloatError::TopUpAlreadyOpen(id)) if id == "top"
    ));
    assert!(matches!(
        l.open_topup(&proposal_for("top", &c, Some("big"))).expect("same id"),
        Intake::Conflict(t) if t.withdrawal_id.is_none()
    ));
    l.close_topup("top", &TopUpClose::Cancelled { reason: "x".into() })
        .expect("cancel");
    assert!(matches!(
        l.open_topup(&proposal_for("cw", &c, Some("nobody"))),
        Err(FloatError::UnknownWithdrawal(_))
    ));
    l.request_withdrawal(&wreq("rej", 2, 3_000_000))
        .expect("rej");
    l.reject_withdrawal("rej", "policy").expect("reject");
    assert!(matches!(
        l.open_topup(&proposal_for("cw", &c, Some("rej"))),
        Err(FloatError::WithdrawalNotRequested { .. })
    ));
    assert!(matches!(
        l.open_topup(&proposal_for("cw", &c, Some("bad id!"))),
        Err(FloatError::Invalid(_))
    ));
    let cw = proposal_for("cw", &c, Some("big"));
    assert!(matches!(
        l.open_topup(&cw).expect("open"),
        Intake::Created(_)
    ));
    assert!(matches!(
        l.open_topup(&cw).expect("again"),
        Intake::Replay(_)
    ));
    let list = l.topup_proposals(10).expect("list");
    let got: Vec<(&str, Option<&str>, TopUpState)> = list
        .iter()
        .map(|t| (t.id.as_str(), t.withdrawal_id.as_deref(), t.state))
        .collect();
    assert_eq!(
        got,
        [
            ("top", None, TopUpState::Cancelled),
            ("cw", Some("big"), TopUpState::Open)
        ]
    );
    assert_eq!(l.topup_proposals(1).expect("list").len(), 1);
    assert_eq!(
        l.open_topup_proposal()
            .expect("r")
            .and_then(|t| t.withdrawal_id),
        Some("big".into())
    );
}

// ---------------------------------------------------------------------------------------
// Model checking: the same operations on two backends must be observably equal.

/// One operation of the model-checking driver.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ModelOp {
    /// `request_withdrawal(id k, script n, amount)`.
    Request(u8, u8, u64),
    /// `create_voucher(id k, code c, amount)`.
    CreateVoucher(u8, u8, u64),
    /// `redeem_voucher(code c, script n)`.
    Redeem(u8, u8),
    /// Fund `count` coins of `value` in a new block.
    Fund(u8, u64),
    /// Commit a payout of the first `n` queued withdrawals from the first spendable coins.
    Commit(u8),
    /// Record a send outcome (index into outcomes) for payout index `i`.
    Send(u8, u8),
    /// Confirm payout index `i` in a new block.
    Confirm(u8),
    /// Empty block.
    Block,
    /// Disconnect the tip.
    Reorg,
    /// Reject withdrawal `k` (4 and 5: the withdrawals of vouchers `v0` and `v1`).
    Reject(u8),
    /// Freeze / unfreeze.
    Freeze(bool),
    /// Fee-bump payout index `i` (drop 1,000 wat of change).
    Bump(u8),
}

/// An observable outcome, normalised for comparison (audit times and hashes excluded).
pub fn observe(l: &dyn Ledger) -> String {
    let payouts = l.payouts_in_states(&PayoutState::ALL).expect("payouts");
    let audit: Vec<(u64, String, String, String)> = l
        .audit_entries(0, usize::MAX >> 1)
        .expect("audit")
        .into_iter()
        .map(|e| (e.seq, e.kind, e.subject, e.detail))
        .collect();
    format!(
        "queued={:?}\npayouts={:?}\ncoins={:?}\nbalances={:?}\nfreeze={:?}\ntip={:?}\naudit={:?}",
        l.queued_withdrawals(usize::MAX >> 1).expect("q"),
        payouts,
        l.spendable_coins().expect("c"),
        l.balances().expect("b"),
        l.freeze_state().expect("f"),
        l.tip().expect("t"),
        audit
    )
}

fn outcome(i: u8) -> SendOutcome {
    match i % 6 {
        0 => SendOutcome::Accepted,
        1 => SendOutcome::AlreadyKnown,
        2 => SendOutcome::Transient {
            reason: "timeout".into(),
        },
        3 => SendOutcome::Conflict {
            detail: "conflict".into(),
        },
        4 => SendOutcome::MissingInputs {
            detail: "missing".into(),
        },
        _ => SendOutcome::Invalid {
            reason: "invalid".into(),
        },
    }
}

/// Applies one [`ModelOp`] and renders its result (deterministically: no fresh randomness).
pub fn apply_model_op(l: &dyn Ledger, op: &ModelOp, salt: u32) -> String {
    let live = |l: &dyn Ledger| l.payouts_in_states(&PayoutState::ALL).expect("p");
    match op {
        ModelOp::Request(k, n, a) => format!(
            "{:?}",
            l.request_withdrawal(&wreq(&format!("k{k}"), u32::from(*n), *a))
        ),
        ModelOp::CreateVoucher(k, c, a) => format!(
            "{:?}",
            l.create_voucher(&NewVoucher {
                id: format!("v{k}"),
                code_hash: CodeHash::of_code(&format!("code{c}")),
                amount_wat: *a,
            })
        ),
        ModelOp::Redeem(c, n) => format!(
            "{:?}",
            l.redeem_voucher(
                &CodeHash::of_code(&format!("code{c}")),
                &dest(u32::from(*n))
            )
        ),
        ModelOp::Fund(count, v) => {
            let tip = l.tip().expect("t");
            let height = tip.map_or(1, |t| t.height + 1);
            let mut b = [0x5au8; 32];
            b[..4].copy_from_slice(&height.to_le_bytes());
            b[4..8].copy_from_slice(&salt.to_le_bytes());
            let txid = Txid::from_byte_array(b);
            let mut u = next_block(l, 0);
            u.new_coins = (0..u32::from(*count))
                .map(|vout| NewCoin {
                    outpoint: OutPoint { txid, vout },
                    value_wat: *v,
                    script_pubkey: script(7000 + vout),
                    keychain: Keychain::HotExternal,
                    derivation_index: vout,
                    is_dust: *v < 1000,
                })
                .collect();
            format!("{:?}", l.block_connected(&u))
        }
        ModelOp::Commit(n) => {
            let queued = l.queued_withdrawals(usize::from(*n).max(1)).expect("q");
            let coins = l.spendable_coins().expect("c");
            let need: u64 = queued.iter().map(|w| w.amount_wat).sum::<u64>() + 1000;
            let mut picked = Vec::new();
            let mut have = 0u64;
            for c in coins {
                if have >= need {
                    break;
                }
                have += c.value_wat;
                picked.push((c.outpoint, c.value_wat));
            }
            if queued.is_empty() || have < need {
                return "skip".into();
            }
            let ws: Vec<(String, u32, u64)> = queued
                .iter()
                .map(|w| {
                    let n = w.destination.script_pubkey.as_bytes()[2..6]
                        .try_into()
                        .map(u32::from_le_bytes)
                        .unwrap_or(0);
                    (w.id.clone(), n, w.amount_wat)
                })
                .collect();
            let refs: Vec<(&str, u32, u64)> =
                ws.iter().map(|(i, n, a)| (i.as_str(), *n, *a)).collect();
            let c = payout_commit(&picked, &refs, have - need + 500, 8000 + salt);
            format!("{:?}", l.commit_payout(&c))
        }
        ModelOp::Send(i, o) => {
            let ps = live(l);
            if ps.is_empty() {
                return "skip".into();
            }
            let p = &ps[usize::from(*i) % ps.len()];
            format!("{:?}", l.record_send_attempt(&p.txid, &outcome(*o)))
        }
        ModelOp::Confirm(i) => {
            let ps = live(l);
            let mut u = next_block(l, 0);
            if let Some(p) = (!ps.is_empty()).then(|| &ps[usize::from(*i) % ps.len()]) {
                u.txids = vec![p.txid];
                u.spends = p.inputs.iter().map(|op| (*op, p.txid)).collect();
            }
            format!("{:?}", l.block_connected(&u))
        }
        ModelOp::Block => format!("{:?}", l.block_connected(&next_block(l, 0))),
        ModelOp::Reorg => match l.tip().expect("t") {
            Some(t) => format!("{:?}", l.block_disconnected(&t)),
            None => "skip".into(),
        },
        ModelOp::Reject(k) => {
            // 4 and 5 reject the withdrawals of vouchers v0 and v1 (which release them).
            let id = match k.checked_sub(4) {
                Some(v) => format!("{VOUCHER_WITHDRAWAL_PREFIX}v{v}"),
                None => format!("k{k}"),
            };
            format!("{:?}", l.reject_withdrawal(&id, "policy"))
        }
        ModelOp::Freeze(true) => format!("{:?}", l.freeze("model freeze")),
        ModelOp::Freeze(false) => format!("{:?}", l.unfreeze("model unfreeze")),
        ModelOp::Bump(i) => {
            let ps = live(l);
            if ps.is_empty() {
                return "skip".into();
            }
            let p = &ps[usize::from(*i) % ps.len()];
            let Ok(tx) = bitcoin::consensus::deserialize::<Transaction>(&p.raw_tx) else {
                return "skip".into();
            };
            let mut tx2 = tx.clone();
            let Some(last) = tx2.output.last_mut() else {
                return "skip".into();
            };
            if last.value.to_sat() < 2000 {
                return "skip".into();
            }
            last.value = Amount::from_sat(last.value.to_sat() - 1000);
            let txid = tx2.compute_txid();
            let nw = p.withdrawal_ids.len();
            let change = if tx2.output.len() > nw {
                let o = &tx2.output[nw];
                vec![NewCoin {
                    outpoint: OutPoint {
                        txid,
                        vout: nw as u32,
                    },
                    value_wat: o.value.to_sat(),
                    script_pubkey: o.script_pubkey.clone(),
                    keychain: Keychain::HotInternal,
                    derivation_index: 0,
                    is_dust: false,
                }]
            } else {
                vec![]
            };
            let c = PayoutCommit {
                kind: p.kind,
                withdrawal_ids: p.withdrawal_ids.clone(),
                txid,
                raw_tx: bitcoin::consensus::serialize(&tx2),
                inputs: p.inputs.clone(),
                change,
                fee_wat: p.fee_wat + 1000,
            };
            format!("{:?}", l.replace_payout(&p.txid, &c))
        }
    }
}

/// Applies `ops` to both stores, comparing every result and the observable state after each;
/// returns the (equal) results.
pub fn compare_backends(a: &dyn Ledger, b: &dyn Ledger, ops: &[ModelOp]) -> Vec<String> {
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let ra = apply_model_op(a, op, i as u32);
        let rb = apply_model_op(b, op, i as u32);
        assert_eq!(ra, rb, "step {i} {op:?}: results differ");
        assert_eq!(observe(a), observe(b), "step {i} {op:?}: state differs");
        out.push(ra);
    }
    a.verify_audit().expect("audit a");
    b.verify_audit().expect("audit b");
    out
}
