//! Regression tests from the adversarial review of the ledger: each one reproduces a concrete
//! way an invariant could break, on both backends.

use mona_ledger::conformance::{build_tx, fund, next_block, payout_commit, script, wreq};
use mona_ledger::*;

/// Runs `check` on a fresh memory ledger and a fresh SQLite ledger.
fn both(check: fn(&dyn Ledger)) {
    check(&MemoryLedger::new());
    let dir = tempfile::tempdir().expect("tempdir");
    let l = SqliteLedger::open(dir.path().join("ledger.db")).expect("open");
    check(&l);
    l.verify_audit().expect("audit chain intact");
}

fn not_double_paid(l: &dyn Ledger, ids: &[&str]) {
    // Every live (could-still-confirm) payout of one family must share an input with every
    // other one, so at most one of them can ever confirm.
    let live = l
        .payouts_in_states(&[
            PayoutState::Signed,
            PayoutState::Broadcast,
            PayoutState::Confirmed,
            PayoutState::Final,
            PayoutState::ReplacedBy,
            PayoutState::Stuck,
        ])
        .expect("payouts");
    for id in ids {
        let fam: Vec<&PayoutTx> = live
            .iter()
            .filter(|p| p.withdrawal_ids.iter().any(|w| w == id))
            .collect();
        for a in &fam {
            for b in &fam {
                if a.txid != b.txid {
                    assert!(
                        a.inputs.iter().any(|i| b.inputs.contains(i)),
                        "payouts {} and {} both pay {id} and share no input: both can confirm",
                        a.txid,
                        b.txid
                    );
                }
            }
        }
    }
}

/// A -> B -> C where C shares an input with B but none with A: A (still in mempools, or simply
/// mined first) and C can both confirm, paying the withdrawal twice.
fn bump_of_a_bump_must_conflict_with_the_original(l: &dyn Ledger) {
    let coins = fund(l, &[100_000, 40_000, 40_000]);
    let (x, y, z) = (coins[0], coins[1], coins[2]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let a = payout_commit(&[(x, 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&a).expect("commit a");
    l.record_send_attempt(
        &a.txid,
        &SendOutcome::Transient {
            reason: "timeout".into(),
        },
    )
    .expect("sent a");
    let b = payout_commit(
        &[(x, 100_000), (y, 40_000)],
        &[("a", 1, 30_000)],
        108_000,
        6,
    );
    l.replace_payout(&a.txid, &b).expect("bump a -> b");
    let c = payout_commit(&[(y, 40_000), (z, 40_000)], &[("a", 1, 30_000)], 49_000, 7);
    let r = l.replace_payout(&b.txid, &c);
    assert!(
        matches!(r, Err(CommitError::NoSharedInput(t)) if t == a.txid),
        "a replacement sharing no input with the original must be refused: {r:?}"
    );
    not_double_paid(l, &["a"]);
    // And what would have happened: the original confirms; nothing may stay queued to send.
    let mut u = next_block(l, 0);
    u.txids = vec![a.txid];
    u.spends = vec![(x, a.txid)];
    u.new_coins = a.change.clone();
    l.block_connected(&u).expect("original confirms");
    let w = l.withdrawal("a").expect("r").expect("a");
    assert_eq!((w.state, w.txid), (PayoutState::Confirmed, Some(a.txid)));
    assert!(
        l.pending_effects().expect("p").is_empty(),
        "a second payment of 'a' is still being broadcast"
    );
}

#[test]
fn bump_of_a_bump_must_conflict_with_the_original_test() {
    both(bump_of_a_bump_must_conflict_with_the_original);
}

/// A -> B (shares x); A confirms, so B is superseded by A; a reorg takes A out; bumping A with
/// C that shares an input with A only (not with B) lets B and C both confirm.
fn bump_after_reorg_must_conflict_with_the_superseded_bump(l: &dyn Ledger) {
    let coins = fund(l, &[100_000, 40_000, 40_000, 40_000]);
    let (x, y, z, w) = (coins[0], coins[1], coins[2], coins[3]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let a = payout_commit(
        &[(x, 100_000), (z, 40_000)],
        &[("a", 1, 30_000)],
        109_000,
        5,
    );
    l.commit_payout(&a).expect("commit a");
    l.record_send_attempt(&a.txid, &SendOutcome::Accepted)
        .expect("sent a");
    let b = payout_commit(
        &[(x, 100_000), (y, 40_000)],
        &[("a", 1, 30_000)],
        108_000,
        6,
    );
    l.replace_payout(&a.txid, &b).expect("bump a -> b");
    // The original wins the race into a block.
    let mut u = next_block(l, 0);
    u.txids = vec![a.txid];
    u.spends = vec![(x, a.txid), (z, a.txid)];
    u.new_coins = a.change.clone();
    l.block_connected(&u).expect("a confirms");
    assert_eq!(
        l.payout(&b.txid).expect("r").expect("b").state,
        PayoutState::ReplacedBy
    );
    // Reorg: a goes back to the mempool.
    l.block_disconnected(&u.block).expect("reorg");
    assert_eq!(
        l.payout(&a.txid).expect("r").expect("a").state,
        PayoutState::Broadcast
    );
    // Fee-bump a again, sharing only z with it: b (x, y) and c (z, w) do not conflict.
    let c = payout_commit(&[(z, 40_000), (w, 40_000)], &[("a", 1, 30_000)], 49_000, 7);
    let r = l.replace_payout(&a.txid, &c);
    assert!(
        matches!(r, Err(CommitError::NoSharedInput(t)) if t == b.txid),
        "a replacement sharing no input with an earlier version must be refused: {r:?}"
    );
    not_double_paid(l, &["a"]);
}

#[test]
fn bump_after_reorg_must_conflict_with_the_superseded_bump_test() {
    both(bump_after_reorg_must_conflict_with_the_superseded_bump);
}

/// The unconfirmed change of a fee bump is not money yet: if the original confirms instead, the
/// bump (and its change) never exist, and a payout spending that change can never confirm and
/// can never be replaced (its only input is gone) - its withdrawal is stranded, silently.
fn change_of_a_bump_is_not_spendable_until_it_confirms(l: &dyn Ledger) {
    let coins = fund(l, &[100_000, 10_000]);
    let (x, y) = (coins[0], coins[1]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let a = payout_commit(&[(x, 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&a).expect("commit a");
    l.record_send_attempt(&a.txid, &SendOutcome::Accepted)
        .expect("sent a");
    let b = payout_commit(&[(x, 100_000), (y, 10_000)], &[("a", 1, 30_000)], 78_000, 6);
    l.replace_payout(&a.txid, &b).expect("bump a -> b");
    let b_change = b.change[0].outpoint;
    assert!(
        !l.spendable_coins()
            .expect("s")
            .iter()
            .any(|k| k.outpoint == b_change),
        "the unconfirmed change of a replacement is offered for selection"
    );
    l.request_withdrawal(&wreq("d", 2, 20_000)).expect("d");
    let d = payout_commit(&[(b_change, 78_000)], &[("d", 2, 20_000)], 57_000, 7);
    let r = l.commit_payout(&d);
    assert!(
        matches!(r, Err(CommitError::CoinUnavailable { outpoint, .. }) if outpoint == b_change),
        "a payout spending the unconfirmed change of a replacement was committed: {r:?}"
    );
    // The change of the replaced original is not spendable either.
    assert!(l
        .spendable_coins()
        .expect("s")
        .iter()
        .all(|k| k.outpoint != a.change[0].outpoint));
    // Once the bump confirms, its change is an ordinary confirmed coin.
    let mut u = next_block(l, 0);
    u.txids = vec![b.txid];
    u.spends = vec![(x, b.txid), (y, b.txid)];
    u.new_coins = b.change.clone();
    l.block_connected(&u).expect("b confirms");
    l.commit_payout(&d).expect("d after b confirmed");
    // The unconfirmed change of a payout without a fee-bump family stays spendable.
    assert!(l
        .spendable_coins()
        .expect("s")
        .iter()
        .any(|k| k.outpoint == d.change[0].outpoint));
}

#[test]
fn change_of_a_bump_is_not_spendable_until_it_confirms_test() {
    both(change_of_a_bump_is_not_spendable_until_it_confirms);
}
/// `-25 bad-txns-inputs-missingorspent` for our own confirmed tx (fixture broadcast/c3) leads
/// to an investigation; an investigation that names our own transaction as the "spender", or
/// that lands after the payout confirmed, must not turn a paid payout into a stuck one and
/// freeze the system.
fn own_spend_is_never_a_conflicting_spend(l: &dyn Ledger) {
    let coins = fund(l, &[100_000, 10_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let a = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&a).expect("commit a");
    let eff = l
        .record_send_attempt(
            &a.txid,
            &SendOutcome::MissingInputs {
                detail: "bad-txns-inputs-missingorspent".into(),
            },
        )
        .expect("sent a");
    assert!(matches!(&eff[..], [Effect::Investigate { .. }]), "{eff:?}");
    // The investigation found that a itself spent its inputs.
    let before = mona_ledger::conformance::snapshot(l);
    assert!(
        l.mark_conflicting_spend(&a.txid, Some(a.txid)).is_err(),
        "our own transaction was recorded as a foreign spend of itself"
    );
    assert_eq!(
        mona_ledger::conformance::snapshot(l),
        before,
        "refusal changed state"
    );
    // A bump b of a; b spends a's input; b is ours, not a stranger.
    let b = payout_commit(
        &[(coins[0], 100_000), (coins[1], 10_000)],
        &[("a", 1, 30_000)],
        78_000,
        6,
    );
    l.replace_payout(&a.txid, &b).expect("bump");
    assert!(
        l.mark_conflicting_spend(&a.txid, Some(b.txid)).is_err(),
        "our own replacement was recorded as a foreign spend"
    );
    // b confirms; a late investigation result for b must not un-confirm it.
    let mut u = next_block(l, 0);
    u.txids = vec![b.txid];
    u.spends = vec![(coins[0], b.txid), (coins[1], b.txid)];
    u.new_coins = b.change.clone();
    l.block_connected(&u).expect("b confirms");
    let thief = mona_ledger::conformance::fake_txid();
    let before = mona_ledger::conformance::snapshot(l);
    assert!(
        l.mark_conflicting_spend(&b.txid, Some(thief)).is_err(),
        "a confirmed payout was turned into a stuck one"
    );
    assert_eq!(mona_ledger::conformance::snapshot(l), before);
    assert_eq!(
        l.withdrawal("a").expect("r").expect("a").state,
        PayoutState::Confirmed
    );
    assert!(!l.freeze_state().expect("f").frozen);
}

#[test]
fn own_spend_is_never_a_conflicting_spend_test() {
    both(own_spend_is_never_a_conflicting_spend);
}

/// A reorg deeper than the finality depth brings back a fee-bump original whose extra input
/// had been released (and re-used by another payout) at finality. When that original confirms,
/// the other payout loses its input: it must not be "relinked" to the original, which would
/// mark a withdrawal that nobody paid as confirmed.
fn deep_reorg_never_marks_an_unpaid_withdrawal_paid(l: &dyn Ledger) {
    let coins = fund(l, &[100_000, 40_000]);
    let (x, z) = (coins[0], coins[1]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let a = payout_commit(
        &[(x, 100_000), (z, 40_000)],
        &[("a", 1, 30_000)],
        109_000,
        5,
    );
    l.commit_payout(&a).expect("commit a");
    l.record_send_attempt(&a.txid, &SendOutcome::Accepted)
        .expect("sent a");
    let b = payout_commit(&[(x, 100_000)], &[("a", 1, 30_000)], 68_000, 6);
    l.replace_payout(&a.txid, &b).expect("bump a -> b");
    let mut blocks = Vec::new();
    let mut u = next_block(l, 0);
    u.txids = vec![b.txid];
    u.spends = vec![(x, b.txid)];
    u.new_coins = b.change.clone();
    l.block_connected(&u).expect("b confirms");
    blocks.push(u.block);
    for _ in 0..2 {
        let u = next_block(l, 0);
        l.block_connected(&u).expect("block");
        blocks.push(u.block);
    }
    assert_eq!(
        l.withdrawal("a").expect("r").expect("a").state,
        PayoutState::Final
    );
    assert_eq!(
        l.coin(&z).expect("r").expect("z").reserved_by,
        None,
        "released at finality"
    );
    l.request_withdrawal(&wreq("d", 2, 20_000)).expect("d");
    let d = payout_commit(&[(z, 40_000)], &[("d", 2, 20_000)], 19_000, 7);
    l.commit_payout(&d).expect("commit d");
    // Reorg of all three blocks; the other branch mines the original a.
    for blk in blocks.iter().rev() {
        l.block_disconnected(blk).expect("disconnect");
    }
    let mut u = next_block(l, 1);
    u.txids = vec![a.txid];
    u.spends = vec![(x, a.txid), (z, a.txid)];
    u.new_coins = a.change.clone();
    l.block_connected(&u).expect("a confirms on the new branch");
    let wa = l.withdrawal("a").expect("r").expect("a");
    assert_eq!((wa.state, wa.txid), (PayoutState::Confirmed, Some(a.txid)));
    let wd = l.withdrawal("d").expect("r").expect("d");
    assert_eq!(
        wd.txid,
        Some(d.txid),
        "withdrawal d was relinked to a, which does not pay it"
    );
    assert_ne!(
        wd.state,
        PayoutState::Confirmed,
        "unpaid withdrawal d shows as paid"
    );
    assert!(
        l.freeze_state().expect("f").frozen,
        "a payout invalidated by a deep reorg needs an operator"
    );
}

#[test]
fn deep_reorg_never_marks_an_unpaid_withdrawal_paid_test() {
    both(deep_reorg_never_marks_an_unpaid_withdrawal_paid);
}

/// A withdrawal to one of our own addresses (a customer withdrawing to a deposit address of the
/// same service): the daemon declares that output as a coin of ours (it is), and the ledger
/// must still see the withdrawal paid - otherwise the commit is refused on every attempt and
/// the oldest-first batch holding it blocks every later withdrawal.
fn withdrawal_to_our_own_address_is_payable(l: &dyn Ledger) {
    let coins = fund(l, &[100_000]);
    // Script 9500 plays one of our hot receive addresses.
    let own = Destination {
        address: "rmona1qourdeposit".into(),
        script_pubkey: script(9500),
    };
    l.request_withdrawal(&WithdrawalRequest {
        id: "to-self".into(),
        destination: own.clone(),
        amount_wat: 30_000,
    })
    .expect("request");
    let tx = build_tx(
        &[coins[0]],
        &[(script(9500), 30_000), (script(8001), 69_000)],
    );
    let txid = tx.compute_txid();
    let ours = |vout: u32, n: u32, v: u64, k: Keychain| NewCoin {
        outpoint: OutPoint { txid, vout },
        value_wat: v,
        script_pubkey: script(n),
        keychain: k,
        derivation_index: n,
        is_dust: false,
    };
    let c = PayoutCommit {
        kind: PayoutKind::Withdrawals,
        withdrawal_ids: vec!["to-self".into()],
        txid,
        raw_tx: bitcoin::consensus::serialize(&tx),
        inputs: vec![coins[0]],
        change: vec![
            ours(0, 9500, 30_000, Keychain::HotExternal),
            ours(1, 8001, 69_000, Keychain::HotInternal),
        ],
        fee_wat: 1_000,
    };
    let r = l.commit_payout(&c);
    assert!(r.is_ok(), "withdrawal to our own address refused: {r:?}");
    let w = l.withdrawal("to-self").expect("r").expect("w");
    assert_eq!((w.state, w.txid), (PayoutState::Signed, Some(txid)));
    // Still one output per withdrawal: a second withdrawal cannot reuse the same output.
    l.request_withdrawal(&WithdrawalRequest {
        id: "to-self-2".into(),
        destination: own,
        amount_wat: 30_000,
    })
    .expect("request 2");
    let coins = fund(l, &[100_000]);
    let tx = build_tx(
        &[coins[0]],
        &[(script(9500), 30_000), (script(8002), 69_000)],
    );
    let txid = tx.compute_txid();
    let c2 = PayoutCommit {
        kind: PayoutKind::Withdrawals,
        withdrawal_ids: vec!["to-self-2".into()],
        txid,
        raw_tx: bitcoin::consensus::serialize(&tx),
        inputs: vec![coins[0]],
        change: vec![NewCoin {
            outpoint: OutPoint { txid, vout: 1 },
            value_wat: 69_000,
            script_pubkey: script(8002),
            keychain: Keychain::HotInternal,
            derivation_index: 8002,
            is_dust: false,
        }],
        fee_wat: 1_000,
    };
    l.commit_payout(&c2)
        .expect("the undeclared own output pays it too");
}

#[test]
fn withdrawal_to_our_own_address_is_payable_test() {
    both(withdrawal_to_our_own_address_is_payable);
}

/// A withdrawals payout whose transaction pays a withdrawal twice (a duplicated output from a
/// builder bug) or pays an output nobody asked for: every output of a withdrawals payout must
/// be a withdrawal's payment or a coin of ours, or money leaves the wallet unrecorded.
fn withdrawals_payout_has_no_unaccounted_output(l: &dyn Ledger) {
    let coins = fund(l, &[100_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    for (name, outs) in [
        (
            "withdrawal paid twice",
            vec![
                (script(1), 30_000),
                (script(1), 30_000),
                (script(8001), 39_000),
            ],
        ),
        (
            "extra output to a stranger",
            vec![
                (script(1), 30_000),
                (script(4242), 30_000),
                (script(8001), 39_000),
            ],
        ),
    ] {
        let tx = build_tx(&[coins[0]], &outs);
        let txid = tx.compute_txid();
        let c = PayoutCommit {
            kind: PayoutKind::Withdrawals,
            withdrawal_ids: vec!["a".into()],
            txid,
            raw_tx: bitcoin::consensus::serialize(&tx),
            inputs: vec![coins[0]],
            change: vec![NewCoin {
                outpoint: OutPoint { txid, vout: 2 },
                value_wat: 39_000,
                script_pubkey: script(8001),
                keychain: Keychain::HotInternal,
                derivation_index: 8001,
                is_dust: false,
            }],
            fee_wat: 1_000,
        };
        let before = mona_ledger::conformance::snapshot(l);
        let r = l.commit_payout(&c);
        assert!(
            matches!(r, Err(CommitError::UnaccountedOutput(1))),
            "case {name}: {r:?}"
        );
        assert_eq!(mona_ledger::conformance::snapshot(l), before, "case {name}");
    }
}

#[test]
fn withdrawals_payout_has_no_unaccounted_output_test() {
    both(withdrawals_payout_has_no_unaccounted_output);
}

/// Closing a top-up proposal as submitted must name the committed top-up, not any payout:
/// otherwise the proposal is recorded as done while no cold-to-hot transaction exists.
fn topup_submission_names_a_topup_payout(l: &dyn Ledger) {
    let coins = fund(l, &[100_000]);
    l.request_withdrawal(&wreq("a", 1, 30_000)).expect("a");
    let c = payout_commit(&[(coins[0], 100_000)], &[("a", 1, 30_000)], 69_000, 5);
    l.commit_payout(&c).expect("commit");
    let t = TopUpProposal {
        id: "t1".into(),
        withdrawal_id: None,
        psbt: vec![1, 2, 3],
        unsigned_txid: mona_ledger::conformance::fake_txid(),
        amount_wat: 500_000,
        state: TopUpState::Open,
        close_note: None,
    };
    l.open_topup(&t).expect("open");
    let before = mona_ledger::conformance::snapshot(l);
    let r = l.close_topup("t1", &TopUpClose::Submitted { txid: c.txid });
    assert!(
        matches!(r, Err(FloatError::NotATopUp { txid, .. }) if txid == c.txid),
        "a withdrawals payout closed a top-up proposal: {r:?}"
    );
    assert_eq!(mona_ledger::conformance::snapshot(l), before);
    assert_eq!(
        l.open_topup_proposal().expect("r").map(|t| t.id),
        Some("t1".into())
    );
}

#[test]
fn topup_submission_names_a_topup_payout_test() {
    both(topup_submission_names_a_topup_payout);
}

// ---------------------------------------------------------------------------------------
// Random operation sequences with chain-valid confirmations and fee bumps that change their
// inputs, checking the money invariants after every step.

use bitcoin::{OutPoint, Transaction};

/// The `n` of a test script `conformance::script(n)` (change is 8000.., funding 9000..).
fn script_number(s: &bitcoin::Script) -> u32 {
    u32::from_le_bytes(s.as_bytes()[2..6].try_into().expect("test script"))
}
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Request(u8, u64),
    Fund(u64),
    Commit,
    Send(u8, bool),
    Confirm(u8),
    Block,
    Reorg,
    /// Bump payout i: 0 same inputs, 1 drop the first input, 2 keep only the first input,
    /// 3 only the last input; each adds one fresh spendable coin.
    Bump(u8, u8),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..5, 1_000u64..30_000).prop_map(|(k, a)| Op::Request(k, a)),
        3 => (20_000u64..120_000).prop_map(Op::Fund),
        3 => Just(Op::Commit),
        2 => (0u8..8, any::<bool>()).prop_map(|(i, t)| Op::Send(i, t)),
        3 => (0u8..8).prop_map(Op::Confirm),
        1 => Just(Op::Block),
        2 => Just(Op::Reorg),
        4 => (0u8..8, 0u8..4).prop_map(|(i, m)| Op::Bump(i, m)),
    ]
}

fn with_tx(l: &dyn Ledger) -> Vec<PayoutTx> {
    l.payouts_in_states(&[
        PayoutState::Signed,
        PayoutState::Broadcast,
        PayoutState::Confirmed,
        PayoutState::Final,
        PayoutState::ReplacedBy,
        PayoutState::Stuck,
    ])
    .expect("payouts")
}

fn commit_for(
    l: &dyn Ledger,
    kind_of: &PayoutTx,
    inputs: &[(OutPoint, u64)],
    salt: u32,
) -> Option<PayoutCommit> {
    let ws: Vec<Withdrawal> = kind_of
        .withdrawal_ids
        .iter()
        .map(|id| l.withdrawal(id).expect("r").expect("w"))
        .collect();
    let pay: u64 = ws.iter().map(|w| w.amount_wat).sum();
    let have: u64 = inputs.iter().map(|(_, v)| v).sum();
    let fee = kind_of.fee_wat + 1_000;
    if have < pay + fee + 1_000 {
        return None;
    }
    let refs: Vec<(&str, u32, u64)> = ws
        .iter()
        .map(|w| {
            (
                w.id.as_str(),
                script_number(&w.destination.script_pubkey),
                w.amount_wat,
            )
        })
        .collect();
    Some(payout_commit(inputs, &refs, have - pay - fee, 8000 + salt))
}

fn apply_op(l: &dyn Ledger, op: &Op, salt: u32) {
    match op {
        Op::Request(k, a) => {
            let _ = l.request_withdrawal(&wreq(&format!("k{k}"), u32::from(*k) + 1, *a));
        }
        Op::Fund(v) => {
            fund(l, &[*v]);
        }
        Op::Commit => {
            let queued = l.queued_withdrawals(3).expect("q");
            let coins = l.spendable_coins().expect("c");
            let need: u64 = queued.iter().map(|w| w.amount_wat).sum::<u64>() + 2_000;
            let mut picked = Vec::new();
            let mut have = 0;
            for c in coins {
                if have >= need {
                    break;
                }
                have += c.value_wat;
                picked.push((c.outpoint, c.value_wat));
            }
            if queued.is_empty() || have < need {
                return;
            }
            let refs: Vec<(&str, u32, u64)> = queued
                .iter()
                .map(|w| {
                    (
                        w.id.as_str(),
                        script_number(&w.destination.script_pubkey),
                        w.amount_wat,
                    )
                })
                .collect();
            let _ = l.commit_payout(&payout_commit(
                &picked,
                &refs,
                have - need + 1_000,
                8000 + salt,
            ));
        }
        Op::Send(i, transient) => {
            let ps = l
                .payouts_in_states(&[PayoutState::Signed, PayoutState::Broadcast])
                .expect("p");
            if let Some(p) = ps.get(usize::from(*i) % ps.len().max(1)) {
                let o = if *transient {
                    SendOutcome::Transient {
                        reason: "timeout".into(),
                    }
                } else {
                    SendOutcome::Accepted
                };
                l.record_send_attempt(&p.txid, &o).expect("send");
            }
        }
        Op::Confirm(i) => {
            // Only a chain-valid block: a waiting payout whose inputs all exist, unspent.
            let ps: Vec<PayoutTx> = with_tx(l)
                .into_iter()
                .filter(|p| {
                    matches!(
                        p.state,
                        PayoutState::Signed
                            | PayoutState::Broadcast
                            | PayoutState::ReplacedBy
                            | PayoutState::Stuck
                    )
                })
                .filter(|p| {
                    p.inputs.iter().all(|op| {
                        l.coin(op).expect("r").is_some_and(|c| {
                            c.spent_by.is_none()
                                && (c.height.is_some()
                                    || c.created_by.is_some_and(|t| {
                                        l.payout(&t).expect("r").is_some_and(|p| {
                                            matches!(
                                                p.state,
                                                PayoutState::Confirmed | PayoutState::Final
                                            )
                                        })
                                    }))
                        })
                    })
                })
                .collect();
            let mut u = next_block(l, 0);
            if let Some(p) = ps.get(usize::from(*i) % ps.len().max(1)) {
                let tx: Transaction = bitcoin::consensus::deserialize(&p.raw_tx).expect("tx");
                u.txids = vec![p.txid];
                u.spends = p.inputs.iter().map(|op| (*op, p.txid)).collect();
                u.new_coins = tx
                    .output
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| (8000..9000).contains(&script_number(&o.script_pubkey)))
                    .map(|(v, o)| NewCoin {
                        outpoint: OutPoint {
                            txid: p.txid,
                            vout: v as u32,
                        },
                        value_wat: o.value.to_sat(),
                        script_pubkey: o.script_pubkey.clone(),
                        keychain: Keychain::HotInternal,
                        derivation_index: 0,
                        is_dust: false,
                    })
                    .collect();
            }
            let _ = l.block_connected(&u).expect("block");
        }
        Op::Block => {
            l.block_connected(&next_block(l, 0)).expect("block");
        }
        Op::Reorg => {
            if let Some(t) = l.tip().expect("t") {
                // Keep the funding history: only disconnect blocks above height 3.
                if t.height > 3 {
                    l.block_disconnected(&t).expect("disconnect");
                }
            }
        }
        Op::Bump(i, mode) => {
            let ps = l
                .payouts_in_states(&[
                    PayoutState::Signed,
                    PayoutState::Broadcast,
                    PayoutState::Stuck,
                ])
                .expect("p");
            let Some(p) = ps.get(usize::from(*i) % ps.len().max(1)) else {
                return;
            };
            if p.kind != PayoutKind::Withdrawals {
                return;
            }
            let value = |op: &OutPoint| l.coin(op).expect("r").map_or(0, |c| c.value_wat);
            let mut ins: Vec<(OutPoint, u64)> =
                p.inputs.iter().map(|op| (*op, value(op))).collect();
            match mode {
                1 if ins.len() > 1 => {
                    ins.remove(0);
                }
                2 => ins.truncate(1),
                3 => {
                    let last = ins[ins.len() - 1];
                    ins = vec![last];
                }
                _ => {}
            }
            if let Some(fresh) = l.spendable_coins().expect("c").first() {
                ins.push((fresh.outpoint, fresh.value_wat));
            }
            if let Some(c) = commit_for(l, p, &ins, salt) {
                let _ = l.replace_payout(&p.txid, &c);
            }
        }
    }
}

fn check_invariants(l: &dyn Ledger, step: usize, op: &Op) {
    let ps = with_tx(l);
    let mut ids: Vec<&String> = ps.iter().flat_map(|p| &p.withdrawal_ids).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        let fam: Vec<&PayoutTx> = ps
            .iter()
            .filter(|p| p.withdrawal_ids.contains(id))
            .collect();
        for a in &fam {
            for b in &fam {
                assert!(
                    a.txid == b.txid || a.inputs.iter().any(|i| b.inputs.contains(i)),
                    "step {step} {op:?}: {} and {} both pay {id} without a shared input",
                    a.txid,
                    b.txid
                );
            }
        }
        let confirmed = fam
            .iter()
            .filter(|p| matches!(p.state, PayoutState::Confirmed | PayoutState::Final))
            .count();
        assert!(confirmed <= 1, "step {step} {op:?}: {id} confirmed twice");
        // The payout a withdrawal points at really pays it.
        let w = l.withdrawal(id).expect("r").expect("w");
        if let Some(t) = w.txid {
            let p = l.payout(&t).expect("r").expect("linked payout exists");
            let tx: Transaction = bitcoin::consensus::deserialize(&p.raw_tx).expect("tx");
            assert!(
                tx.output
                    .iter()
                    .any(|o| o.script_pubkey == w.destination.script_pubkey
                        && o.value.to_sat() == w.amount_wat),
                "step {step} {op:?}: {id} is linked to {t}, which does not pay it"
            );
        }
    }
    // Reservations: a coin is reserved by a payout that spends it.
    for c in l.spendable_coins().expect("c") {
        assert!(c.reserved_by.is_none());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]
    #[test]
    fn random_bumps_and_reorgs_keep_one_payment_per_withdrawal(ops in prop::collection::vec(arb_op(), 1..60)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let sql = SqliteLedger::open(dir.path().join("p.db")).expect("open");
        let mem = MemoryLedger::new();
        for l in [&mem as &dyn Ledger, &sql as &dyn Ledger] {
            fund(l, &[50_000, 60_000, 70_000]);
            for (i, op) in ops.iter().enumerate() {
                apply_op(l, op, i as u32);
                check_invariants(l, i, op);
            }
            l.verify_audit().expect("audit");
        }
    }
}
