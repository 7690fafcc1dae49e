//! A payout left unconfirmed for N blocks is replaced (committed first) by a higher-fee
//! transaction spending the same inputs; exactly one of them pays.

mod common;

use common::*;
use mona_ledger::PayoutState;
use mona_simnode::{FaultAction, FaultRule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_payout_is_fee_bumped_and_paid_once() {
    let rig = Rig::new().await;
    rig.fund_hot(0, 10 * MONA);
    rig.sim.mine(1);
    // The node keeps refusing to relay for now (mempool min fee): the payout stays unconfirmed.
    rig.sim.faults().add(FaultRule::always(
        Some("sendrawtransaction"),
        FaultAction::Error {
            code: -26,
            message: "mempool min fee not met, 1 < 2".into(),
        },
    ));
    let mut cfg = test_config(rig.dir.path());
    cfg.bump_after_blocks = 2;
    let engine = rig.engine(cfg).await;
    rig.withdraw("b1", 1, 2 * MONA);
    engine.wake();
    wait_for("broadcast", || {
        state_of(&rig.ledger, "b1") == PayoutState::Broadcast
    })
    .await;
    let first = rig.ledger.withdrawal("b1").unwrap().unwrap().txid.unwrap();
    let first_fee = rig.ledger.payout(&first).unwrap().unwrap().fee_wat;
    for _ in 0..3 {
        rig.sim.mine(1);
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    wait_for("bumped", || engine.metrics().fee_bumps >= 1).await;
    let old = rig.ledger.payout(&first).unwrap().unwrap();
    assert_eq!(old.state, PayoutState::ReplacedBy);
    let second = old.replaced_by.unwrap();
    let new = rig.ledger.payout(&second).unwrap().unwrap();
    assert!(new.fee_wat > first_fee);
    assert!(
        old.inputs.iter().all(|i| new.inputs.contains(i)),
        "spends every original input"
    );
    rig.sim.faults().clear();
    wait_for("replacement in the mempool", || {
        rig.sim.mempool_txids().contains(&second)
    })
    .await;
    rig.sim.mine(1);
    wait_for("confirmed", || {
        state_of(&rig.ledger, "b1") == PayoutState::Confirmed
    })
    .await;
    assert_eq!(
        rig.ledger.withdrawal("b1").unwrap().unwrap().txid,
        Some(second)
    );
    let view = chain_view(&rig.blocks().await);
    assert_eq!(view.paid_to[&customer(1).script_pubkey], vec![2 * MONA]);
    engine.shutdown().await;
}
