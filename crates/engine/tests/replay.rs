//! The Monappy replay (small scale) and a reorg of a confirmed payout.

mod common;

use std::sync::Arc;

use common::*;
use mona_ledger::{CodeHash, NewVoucher, PayoutState, Redemption};
use mona_simnode::{FaultAction, FaultRule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monappy_replay_pays_every_voucher_exactly_once() {
    const VOUCHERS: u32 = 20;
    const CLIENTS: u32 = 6;
    let rig = Rig::new().await;
    for i in 0..10 {
        rig.fund_hot(i, 10 * MONA);
    }
    rig.sim.mine(1);
    let start_balance = 100 * MONA;
    // Half the answers are dropped after the node accepted; the rest come after the timeout.
    rig.sim.faults().add(FaultRule::with_rate(
        Some("sendrawtransaction"),
        0.5,
        FaultAction::DropResponse,
    ));
    rig.sim.faults().add(FaultRule::always(
        Some("sendrawtransaction"),
        FaultAction::DelayResponse { ms: 600 },
    ));
    let engine = Arc::new(rig.engine(test_config(rig.dir.path())).await);
    for v in 0..VOUCHERS {
        rig.ledger
            .create_voucher(&NewVoucher {
                id: format!("v{v}"),
                code_hash: CodeHash::of_code(&format!("code-{v}")),
                amount_wat: MONA / 2 + u64::from(v),
            })
            .unwrap();
    }
    // Concurrent clients redeem every voucher; odd clients to another address.
    let mut handles = Vec::new();
    for c in 0..CLIENTS {
        let ledger = Arc::clone(&rig.ledger);
        let engine = Arc::clone(&engine);
        handles.push(std::thread::spawn(move || {
            let mut conflicts = 0;
            for v in 0..VOUCHERS {
                let dest = if c % 2 == 0 {
                    customer(v)
                } else {
                    customer(1000 + v)
                };
                match ledger
                    .redeem_voucher(&CodeHash::of_code(&format!("code-{v}")), &dest)
                    .unwrap()
                {
                    Redemption::Conflict(_) => conflicts += 1,
                    Redemption::NotFound => panic!("voucher not found"),
                    _ => {}
                }
                engine.wake();
            }
            conflicts
        }));
    }
    // Tiny deposits keep arriving.
    let mut deposits = 0u64;
    for i in 0..30u32 {
        let amount = 2_000 + u64::from(i);
        rig.fund_hot(10 + i % 5, amount);
        deposits += amount;
        if i % 10 == 9 {
            rig.sim.mine(1);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let conflicts: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(conflicts > 0, "second-address redemptions are conflicts");
    let ids: Vec<String> = (0..VOUCHERS).map(|v| format!("voucher:v{v}")).collect();
    // Blocks come; the engine keeps re-sending the same bytes until the chain answers.
    for _ in 0..300 {
        rig.sim.mine(1);
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        if ids.iter().all(|id| {
            matches!(
                state_of(&rig.ledger, id),
                PayoutState::Confirmed | PayoutState::Final
            )
        }) {
            break;
        }
    }
    rig.sim.faults().clear();
    let view = chain_view(&rig.blocks().await);
    let mut paid_total = 0;
    for v in 0..VOUCHERS {
        let first = view
            .paid_to
            .get(&customer(v).script_pubkey)
            .cloned()
            .unwrap_or_default();
        let redeemer = view
            .paid_to
            .get(&customer(1000 + v).script_pubkey)
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            first.len() + redeemer.len(),
            1,
            "voucher {v} paid exactly once on chain"
        );
        paid_total += first.iter().chain(&redeemer).sum::<u64>();
    }
    // Fees from the chain: inputs minus outputs of every transaction spending our coins.
    let fees: u64 = rig
        .ledger
        .payouts_in_states(&[PayoutState::Confirmed, PayoutState::Final])
        .unwrap()
        .iter()
        .map(|p| p.fee_wat)
        .sum();
    assert_eq!(
        view.hot_balance,
        start_balance + deposits - paid_total - fees
    );
    assert!(!engine.is_frozen());
    assert!(
        engine.metrics().broadcasts[5] > 0,
        "transient answers were seen"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorged_payout_is_resent_with_the_same_txid() {
    let rig = Rig::new().await;
    rig.fund_hot(0, 10 * MONA);
    rig.sim.mine(1);
    let engine = rig.engine(test_config(rig.dir.path())).await;
    rig.withdraw("ro", 1, 3 * MONA);
    engine.wake();
    wait_for("broadcast", || {
        state_of(&rig.ledger, "ro") == PayoutState::Broadcast
    })
    .await;
    let txid = rig.ledger.withdrawal("ro").unwrap().unwrap().txid.unwrap();
    let block = rig.sim.mine(1)[0];
    wait_for("confirmed", || {
        state_of(&rig.ledger, "ro") == PayoutState::Confirmed
    })
    .await;
    // Reorg: the block is invalidated and a longer chain without it is mined.
    assert!(rig.sim.invalidate_block(block));
    // Empty the mempool of the payout so the new blocks cannot include it by themselves.
    rig.sim.with_state(|st| st.mempool = Default::default());
    rig.sim.mine(2);
    wait_for("back to broadcast and re-sent", || {
        state_of(&rig.ledger, "ro") == PayoutState::Broadcast
            && rig.sim.mempool_txids().contains(&txid)
    })
    .await;
    rig.sim.mine(1);
    wait_for("confirmed again", || {
        state_of(&rig.ledger, "ro") == PayoutState::Confirmed
    })
    .await;
    assert_eq!(
        rig.ledger.withdrawal("ro").unwrap().unwrap().txid,
        Some(txid)
    );
    let view = chain_view(&rig.blocks().await);
    assert_eq!(view.paid_to[&customer(1).script_pubkey], vec![3 * MONA]);
    assert_eq!(engine.metrics().blocks_disconnected, 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_reorg_of_forty_blocks_resends_and_keeps_balances() {
    let rig = Rig::new().await;
    rig.fund_hot(0, 10 * MONA);
    rig.sim.mine(1);
    let engine = rig.engine(test_config(rig.dir.path())).await;
    rig.withdraw("deep", 1, MONA);
    engine.wake();
    wait_for("broadcast", || {
        state_of(&rig.ledger, "deep") == PayoutState::Broadcast
    })
    .await;
    let txid = rig
        .ledger
        .withdrawal("deep")
        .unwrap()
        .unwrap()
        .txid
        .unwrap();
    let fork = rig.sim.mine(1)[0];
    rig.sim.mine(39);
    wait_for("final", || {
        state_of(&rig.ledger, "deep") == PayoutState::Final
    })
    .await;
    // The payout turns final before the engine has necessarily synced the last blocks: wait
    // for the whole old branch, so the reorg below disconnects exactly its 40 blocks.
    let tip = rig.sim.height();
    wait_for("synced to the old tip", || {
        engine.status().synced_tip.map(|b| b.height) == Some(tip)
    })
    .await;
    let before = rig.ledger.balances().unwrap();
    assert!(rig.sim.invalidate_block(fork));
    rig.sim.with_state(|st| st.mempool = Default::default());
    rig.sim.mine(41);
    wait_for("re-sent after the reorg", || {
        rig.sim.mempool_txids().contains(&txid)
    })
    .await;
    assert_eq!(engine.metrics().blocks_disconnected, 40);
    rig.sim.mine(1);
    wait_for("confirmed again", || {
        matches!(
            state_of(&rig.ledger, "deep"),
            PayoutState::Confirmed | PayoutState::Final
        )
    })
    .await;
    let after = rig.ledger.balances().unwrap();
    assert_eq!(after.hot_confirmed_wat, before.hot_confirmed_wat);
    assert!(!engine.is_frozen(), "{:?}", engine.freeze_info());
    engine.shutdown().await;
}
