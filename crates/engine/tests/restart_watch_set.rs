//! Invariant 6 after a restart: the engine rebuilds its spend index from the ledger's whole
//! watch set (`unspent_coins`), so a thief holding the hot key who spends a DUST hot coin or a
//! coin RESERVED by a broadcast payout freezes payouts within one block, and the index is
//! complete again (foreign inputs are not handed to the ledger one by one).

mod common;

use std::time::Duration;

use bitcoin::psbt::Psbt;
use bitcoin::{Amount as BtcAmount, OutPoint, ScriptBuf, Transaction, TxOut};
use common::*;
use mona::ScriptType;
use mona_engine::HotKeys;
use mona_ledger::PayoutState;
use mona_wallet::build::{Coin as WalletCoin, Keychain as WK};

/// The thief's transaction: spends hot receive coin `op` (index `index`) to a stranger.
fn steal(op: OutPoint, value: u64, index: u32, fee: u64) -> Transaction {
    let script: ScriptBuf = hot_watch().script_pubkey(0, index).unwrap();
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: op,
            script_sig: ScriptBuf::new(),
            sequence: bitcoin::Sequence::MAX,
            witness: bitcoin::Witness::new(),
        }],
        output: vec![TxOut {
            value: BtcAmount::from_sat(value - fee),
            script_pubkey: customer(90 + index).script_pubkey,
        }],
    };
    let coin = WalletCoin {
        outpoint: op,
        value: mona::Amount::from_wat_const(value),
        script_pubkey: script,
        script_type: ScriptType::Wpkh,
        keychain: WK::External,
        index,
        confirmation_height: Some(1),
        prev_tx: None,
    };
    HotKeys::from_account(&hot_account())
        .sign(&Psbt::from_unsigned_tx(tx).unwrap(), &[coin])
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_restart_theft_of_a_dust_or_reserved_coin_freezes_within_one_block() {
    const DUST: u64 = 19_000;
    let mut rig = Rig::new().await;
    let big = rig.fund_hot(0, 10 * MONA);
    let dust = rig.fund_hot(1, DUST);
    rig.sim.mine(1);
    let mut cfg = test_config(rig.dir.path());
    cfg.dust_threshold_wat = Some(20_000);
    // 1. First run: a withdrawal is paid from the only spendable coin and broadcast; the
    //    payout stays in the mempool, so `big` is reserved when the engine stops.
    let engine = rig.engine(cfg.clone()).await;
    rig.withdraw("w1", 1, MONA);
    engine.wake();
    wait_for("payout broadcast", || {
        state_of(&rig.ledger, "w1") == PayoutState::Broadcast
    })
    .await;
    engine.shutdown().await;
    drop(engine);
    let payout = rig.ledger.withdrawal("w1").unwrap().unwrap().txid.unwrap();
    let p = rig.ledger.payout(&payout).unwrap().unwrap();
    assert_eq!(p.inputs, vec![big], "the payout reserves the big coin");
    let d = rig.ledger.coin(&dust).unwrap().unwrap();
    assert!(d.is_dust && d.spent_by.is_none(), "{d:?}");
    let spendable = rig.ledger.spendable_coins().unwrap();
    assert!(
        spendable
            .iter()
            .all(|c| c.outpoint != big && c.outpoint != dust),
        "neither coin is spendable: a watch set built from spendable_coins misses both"
    );

    // 2. Restart (ledger reopened). No mempool following: only the block can tell.
    rig.reopen_ledger();
    cfg.mempool_interval = Duration::from_secs(3600);
    let engine = rig.engine(cfg).await;
    let height = rig.sim.height();
    wait_for("synced after restart", || {
        engine.status().synced_tip.map(|t| t.height) == Some(height)
    })
    .await;
    assert!(!engine.is_frozen());
    let spends_before = engine.metrics().scan_spends;

    // 3. A stranger's payment (foreign inputs), the thief's replacement of our payout (spends
    //    the reserved coin, higher fee) and the thief's spend of the dust coin: one block.
    rig.sim
        .fund_script(&customer(7).script_pubkey, MONA)
        .unwrap();
    let t_big = steal(big, 10 * MONA, 0, 300_000);
    let t_dust = steal(dust, DUST, 1, 14_000);
    rig.sim.submit_transaction(&t_big).unwrap();
    rig.sim.submit_transaction(&t_dust).unwrap();
    assert!(
        !rig.sim.mempool_txids().contains(&payout),
        "the thief replaced our payout in the mempool"
    );
    rig.sim.mine(1);
    wait_for("frozen within one block", || engine.is_frozen()).await;
    wait_for("block synced", || {
        engine.status().synced_tip.map(|t| t.height) == Some(height + 1)
    })
    .await;

    let fs = rig.ledger.freeze_state().unwrap();
    assert!(fs.frozen);
    assert_eq!(
        rig.ledger.payout(&payout).unwrap().unwrap().state,
        PayoutState::Stuck,
        "the payout whose reserved coin was stolen is stuck"
    );
    let dust_after = rig.ledger.coin(&dust).unwrap().unwrap();
    assert_eq!(dust_after.spent_by, Some(t_dust.compute_txid()));
    let reason = fs.reason.unwrap_or_default();
    assert!(
        reason.contains(&t_big.compute_txid().to_string())
            || reason.contains(&t_dust.compute_txid().to_string()),
        "{reason}"
    );
    // The index is complete after the restart: only the two spends of our coins reached the
    // ledger, not the stranger's faucet inputs.
    assert_eq!(engine.metrics().scan_spends - spends_before, 2);
    engine.shutdown().await;
}
