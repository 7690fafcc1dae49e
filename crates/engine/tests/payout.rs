//! A withdrawal is paid exactly once and confirms; large withdrawals wait for cold; dust is
//! never spent; a restart mid-flight pays nothing twice.

mod common;

use common::*;
use mona_ledger::PayoutState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawal_paid_once_and_confirms() {
    let rig = Rig::new().await;
    rig.fund_hot(0, 50 * MONA);
    rig.fund_cold(0, 6_000 * MONA);
    rig.sim.mine(1);
    let engine = rig.engine(test_config(rig.dir.path())).await;
    rig.withdraw("w1", 1, 2 * MONA);
    rig.withdraw("big", 2, 5_000 * MONA); // above max_payout: waits for cold
    engine.wake();
    wait_for("w1 broadcast", || {
        state_of(&rig.ledger, "w1") == PayoutState::Broadcast
    })
    .await;
    assert_eq!(state_of(&rig.ledger, "big"), PayoutState::Requested);
    rig.sim.mine(1);
    wait_for("w1 confirmed", || {
        state_of(&rig.ledger, "w1") == PayoutState::Confirmed
    })
    .await;
    rig.sim.mine(3);
    wait_for("w1 final", || {
        state_of(&rig.ledger, "w1") == PayoutState::Final
    })
    .await;
    assert_eq!(engine.status().awaiting_cold, vec!["big".to_string()]);
    // The cold path: the engine proposed by itself a PSBT paying it from cold coins, with
    // everything the cold signer needs; asking again returns the same open proposal.
    wait_for("the automatic cold proposal", || {
        rig.ledger
            .open_topup_proposal()
            .unwrap()
            .is_some_and(|p| p.withdrawal_id.as_deref() == Some("big"))
    })
    .await;
    let open = rig.ledger.open_topup_proposal().unwrap().unwrap();
    let proposal = match engine.propose_cold_withdrawal("big").await.unwrap() {
        mona_ledger::Intake::Replay(p) => p,
        other => panic!("expected the open proposal again: {other:?}"),
    };
    assert_eq!(proposal, open);
    assert_eq!(proposal.amount_wat, 5_000 * MONA);
    assert!(matches!(
        engine.propose_cold_withdrawal("w1").await,
        Err(mona_engine::EngineError::Conflict(_))
    ));
    let psbt = bitcoin::psbt::Psbt::deserialize(&proposal.psbt).unwrap();
    assert!(psbt
        .unsigned_tx
        .output
        .iter()
        .any(|o| o.script_pubkey == customer(2).script_pubkey && o.value.to_sat() == 5_000 * MONA));
    assert!(psbt
        .inputs
        .iter()
        .all(|i| i.non_witness_utxo.is_some() && !i.bip32_derivation.is_empty()));
    assert_eq!(state_of(&rig.ledger, "big"), PayoutState::Requested);
    let view = chain_view(&rig.blocks().await);
    assert_eq!(view.paid_to[&customer(1).script_pubkey], vec![2 * MONA]);
    assert!(!view.paid_to.contains_key(&customer(2).script_pubkey));
    let fees: u64 = rig
        .ledger
        .payouts_in_states(&[PayoutState::Final])
        .unwrap()
        .iter()
        .map(|p| p.fee_wat)
        .sum();
    assert_eq!(view.hot_balance, 50 * MONA - 2 * MONA - fees);
    assert!(!engine.is_frozen());
    let m = engine.metrics();
    assert_eq!(m.payouts_committed, 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dust_storm_payouts_never_spend_dust() {
    let rig = Rig::new().await;
    rig.fund_hot(0, 20 * MONA);
    for i in 0..200u32 {
        rig.fund_hot(1 + (i % 15), 1_000 + u64::from(i)); // dust: < 13,600 wat
    }
    rig.sim.mine(1);
    for i in 0..5 {
        rig.withdraw(&format!("d{i}"), i, MONA);
    }
    let engine = rig.engine(test_config(rig.dir.path())).await;
    engine.wake();
    wait_for("all broadcast", || {
        (0..5).all(|i| state_of(&rig.ledger, &format!("d{i}")) == PayoutState::Broadcast)
    })
    .await;
    rig.sim.mine(1);
    wait_for("all confirmed", || {
        (0..5).all(|i| state_of(&rig.ledger, &format!("d{i}")) == PayoutState::Confirmed)
    })
    .await;
    let b = rig.ledger.balances().unwrap();
    let dust_total: u64 = (0..200u64).map(|i| 1_000 + i).sum();
    assert_eq!(
        b.hot_dust_wat, dust_total,
        "every dust coin is still unspent"
    );
    for p in rig
        .ledger
        .payouts_in_states(&[PayoutState::Confirmed])
        .unwrap()
    {
        for op in &p.inputs {
            assert!(!rig.ledger.coin(op).unwrap().unwrap().is_dust);
        }
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_flight_pays_nothing_twice() {
    let mut rig = Rig::new().await;
    rig.fund_hot(0, 30 * MONA);
    rig.fund_hot(1, 30 * MONA);
    rig.sim.mine(1);
    // The node accepts but never answers sendrawtransaction.
    rig.sim.faults().add(mona_simnode::FaultRule::always(
        Some("sendrawtransaction"),
        mona_simnode::FaultAction::DropResponse,
    ));
    for i in 0..6 {
        rig.withdraw(&format!("r{i}"), i, MONA + u64::from(i));
    }
    let engine = rig.engine(test_config(rig.dir.path())).await;
    engine.wake();
    wait_for("all signed or broadcast", || {
        (0..6).all(|i| state_of(&rig.ledger, &format!("r{i}")).has_tx())
    })
    .await;
    drop(engine); // crash: no shutdown
    rig.reopen_ledger();
    rig.sim.faults().clear();
    for i in 6..8 {
        rig.withdraw(&format!("r{i}"), i, MONA + u64::from(i));
    }
    let engine = rig.engine(test_config(rig.dir.path())).await;
    engine.wake();
    // Coins may all be in flight (change unconfirmed): blocks come until everything is paid.
    let all_confirmed = || {
        (0..8).all(|i| {
            matches!(
                state_of(&rig.ledger, &format!("r{i}")),
                PayoutState::Confirmed | PayoutState::Final
            )
        })
    };
    for _ in 0..100 {
        if all_confirmed() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        rig.sim.mine(1);
    }
    wait_for("all confirmed", all_confirmed).await;
    let view = chain_view(&rig.blocks().await);
    for i in 0..8u32 {
        assert_eq!(
            view.paid_to[&customer(i).script_pubkey],
            vec![MONA + u64::from(i)],
            "r{i} paid exactly once"
        );
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposit_addresses_are_never_reissued_and_deposits_past_the_gap_are_seen() {
    let rig = Rig::new().await;
    let engine = rig.engine(test_config(rig.dir.path())).await;
    let mut issued = Vec::new();
    for _ in 0..30 {
        issued.push(engine.new_deposit_address().unwrap());
    }
    assert_eq!(
        issued.iter().map(|a| a.index).collect::<Vec<_>>(),
        (0..30).collect::<Vec<_>>()
    );
    assert_eq!(issued[29].address, hot_watch().address(0, 29).unwrap());
    wait_for("synced", || {
        engine.status().synced_tip.map(|t| t.height) == Some(rig.sim.height())
    })
    .await;
    // A fresh sync keeps its outpoint index complete: no foreign spend reaches the ledger
    // (the pipelined commits never fall back to handing over every spend).
    assert_eq!(engine.metrics().scan_spends, 0);
    assert!(engine.metrics().blocks_connected > 100);
    drop(engine); // crash
    let engine = rig.engine(test_config(rig.dir.path())).await;
    assert_eq!(
        engine.new_deposit_address().unwrap().index,
        30,
        "no index handed out twice"
    );
    // A deposit to the 30th issued address (index 29, beyond the default gap of 20 from 0).
    rig.sim
        .fund_script(&issued[29].address.script_pubkey().clone(), 3 * MONA)
        .unwrap();
    rig.sim.mine(1);
    wait_for("deposit seen", || {
        rig.ledger.balances().unwrap().hot_confirmed_wat == 3 * MONA
    })
    .await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_daily_limit_holds_across_restarts() {
    let rig = Rig::new().await;
    for i in 0..3 {
        rig.fund_hot(i, 10 * MONA);
    }
    rig.sim.mine(1);
    let mut cfg = test_config(rig.dir.path());
    cfg.float.max_daily_wat = 5 * MONA;
    rig.withdraw("day1", 1, 3 * MONA);
    let engine = rig.engine(cfg.clone()).await;
    wait_for("day1 paid", || state_of(&rig.ledger, "day1").has_tx()).await;
    engine.shutdown().await;
    drop(engine);
    // After a restart the 3 MONA already paid still count: 3 more would exceed 5.
    rig.withdraw("day2", 2, 3 * MONA);
    let engine = rig.engine(cfg).await;
    engine.wake();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(state_of(&rig.ledger, "day2"), PayoutState::Requested);
    engine.shutdown().await;
}
