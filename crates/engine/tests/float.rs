//! Theft freezes within one block; sweeps above the cap; top-up proposal shape and submission;
//! a withdrawal above `max_payout` paid by a cold-signed PSBT.

mod common;

use bitcoin::psbt::Psbt;
use bitcoin::{Amount as BtcAmount, OutPoint, TxOut};
use common::*;
use mona::ScriptType;
use mona_engine::HotKeys;
use mona_ledger::PayoutState;
use mona_simnode::{FaultAction, FaultRule};
use mona_wallet::build::{Coin as WalletCoin, Keychain as WK};

fn coin(op: OutPoint, value: u64, script: bitcoin::ScriptBuf, chain: WK, index: u32) -> WalletCoin {
    WalletCoin {
        outpoint: op,
        value: mona::Amount::from_wat_const(value),
        script_pubkey: script,
        script_type: ScriptType::Wpkh,
        keychain: chain,
        index,
        confirmation_height: Some(1),
        prev_tx: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn theft_of_a_hot_coin_freezes_within_one_block() {
    let rig = Rig::new().await;
    let stolen = rig.fund_hot(3, 10 * MONA);
    rig.fund_hot(4, 10 * MONA);
    rig.sim.mine(1);
    let engine = rig.engine(test_config(rig.dir.path())).await;
    wait_for("synced", || {
        engine.status().synced_tip.map(|t| t.height) == Some(rig.sim.height())
    })
    .await;
    assert!(!engine.is_frozen());
    // The thief has the hot key and spends a hot coin directly at the node.
    let script = hot_watch().script_pubkey(0, 3).unwrap();
    let tx = bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: stolen,
            script_sig: bitcoin::ScriptBuf::new(),
            sequence: bitcoin::Sequence::MAX,
            witness: bitcoin::Witness::new(),
        }],
        output: vec![TxOut {
            value: BtcAmount::from_sat(10 * MONA - 100_000),
            script_pubkey: customer(99).script_pubkey,
        }],
    };
    let keys = HotKeys::from_account(&hot_account());
    let signed = keys
        .sign(
            &Psbt::from_unsigned_tx(tx).unwrap(),
            &[coin(stolen, 10 * MONA, script, WK::External, 3)],
        )
        .unwrap();
    rig.sim.submit_transaction(&signed).unwrap();
    rig.sim.mine(1);
    wait_for("frozen", || engine.is_frozen()).await;
    let reason = engine.freeze_info().reason.unwrap();
    assert!(reason.contains("did not make"), "{reason}");
    assert!(rig.ledger.freeze_state().unwrap().frozen);
    // Withdrawals wait while frozen.
    rig.withdraw("after", 1, MONA);
    engine.wake();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(state_of(&rig.ledger, "after"), PayoutState::Requested);
    // The operator unfreezes: it is paid.
    rig.ledger.unfreeze("investigated: test theft").unwrap();
    engine.wake();
    wait_for("paid after unfreeze", || {
        state_of(&rig.ledger, "after").has_tx()
    })
    .await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_above_the_cap_to_cold() {
    let rig = Rig::new().await;
    rig.fund_hot(0, 30 * MONA);
    rig.sim.mine(1);
    let mut cfg = test_config(rig.dir.path());
    cfg.float.hot_cap_wat = 10 * MONA;
    cfg.float.hot_target_wat = 5 * MONA;
    let engine = rig.engine(cfg).await;
    wait_for("sweep committed", || engine.metrics().sweeps == 1).await;
    let sweep = rig
        .ledger
        .payouts_in_states(&[PayoutState::Signed, PayoutState::Broadcast])
        .unwrap();
    assert_eq!(sweep.len(), 1);
    rig.sim.mine(1);
    wait_for("sweep confirmed", || {
        rig.ledger.payout(&sweep[0].txid).unwrap().unwrap().state == PayoutState::Confirmed
    })
    .await;
    let view = chain_view(&rig.blocks().await);
    assert_eq!(view.cold_balance, 25 * MONA);
    assert_eq!(view.hot_balance, 5 * MONA - sweep[0].fee_wat);
    let fs = engine.float_status().await.unwrap();
    assert_eq!(fs.cold_confirmed_wat, 25 * MONA);
    assert!(!fs.above_cap);
    engine.shutdown().await;
}

/// A restart onto a ledger already at the node's tip, whose first node call fails: the float
/// step (and the start reconciliation) are still owed and run on a later tick, without a new
/// block. (They used to run only on the first tick or after a new block: one failed call at
/// start left hot above the cap until the next block.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_owed_at_start_survives_a_failed_first_tick() {
    let rig = Rig::new().await;
    rig.fund_hot(0, 30 * MONA);
    rig.sim.mine(1);
    let mut cfg = test_config(rig.dir.path());
    cfg.auto_sweep = false;
    let engine = rig.engine(cfg).await;
    wait_for("synced", || {
        engine.status().synced_tip.map(|t| t.height) == Some(rig.sim.height())
    })
    .await;
    engine.shutdown().await;
    drop(engine);

    let height = rig.sim.height();
    rig.sim.faults().add(FaultRule::once(
        "getblockcount",
        FaultAction::Error {
            code: -28,
            message: "Loading block index...".into(),
        },
    ));
    let mut cfg = test_config(rig.dir.path());
    cfg.float.hot_cap_wat = 10 * MONA;
    cfg.float.hot_target_wat = 5 * MONA;
    let engine = rig.engine(cfg).await;
    wait_for("sweep committed without a new block", || {
        engine.metrics().sweeps == 1
    })
    .await;
    assert_eq!(rig.sim.height(), height, "no block was mined");
    assert!(
        engine.status().last_error.is_some(),
        "the first tick failed"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topup_proposal_shape_and_submission() {
    let rig = Rig::new().await;
    let cold_op = rig.fund_cold(0, 100 * MONA);
    rig.fund_hot(0, MONA);
    rig.sim.mine(1);
    let engine = rig.engine(test_config(rig.dir.path())).await;
    wait_for("synced", || {
        engine.status().synced_tip.map(|t| t.height) == Some(rig.sim.height())
    })
    .await;
    let p = engine
        .propose_topup(Some(mona::Amount::from_wat_const(10 * MONA)))
        .await
        .unwrap();
    assert!(matches!(
        engine.propose_topup(None).await,
        Err(mona_engine::EngineError::Conflict(_))
    ));
    let psbt = Psbt::deserialize(&p.psbt).unwrap();
    let cold = cold_watch();
    let hot = hot_watch();
    assert_eq!(psbt.unsigned_tx.input.len(), 1);
    assert_eq!(psbt.unsigned_tx.input[0].previous_output, cold_op);
    let pin = &psbt.inputs[0];
    let prev = pin
        .non_witness_utxo
        .as_ref()
        .expect("full previous transaction");
    assert_eq!(prev.compute_txid(), cold_op.txid);
    let (_, (fp, path)) = pin
        .bip32_derivation
        .iter()
        .next()
        .expect("input derivation");
    assert_eq!(*fp, cold.fingerprint);
    assert_eq!(path.to_string(), cold.full_path(0, 0).to_string());
    let mut to_hot = 0;
    let mut to_cold_change = 0;
    for (o, po) in psbt.unsigned_tx.output.iter().zip(&psbt.outputs) {
        assert!(
            !po.bip32_derivation.is_empty(),
            "every output is ours and proven"
        );
        if (0..5).any(|i| hot.script_pubkey(0, i).unwrap() == o.script_pubkey) {
            assert_eq!(o.value.to_sat(), 10 * MONA);
            to_hot += 1;
        } else if (0..5).any(|i| cold.script_pubkey(1, i).unwrap() == o.script_pubkey) {
            to_cold_change += 1;
        }
    }
    assert_eq!((to_hot, to_cold_change), (1, 1));

    // The cold side signs (here with the cold key directly).
    let cold_keys = HotKeys::from_account(&cold_account());
    let prev_out = &prev.output[cold_op.vout as usize];
    let signed_tx = cold_keys
        .sign(
            &psbt,
            &[coin(
                cold_op,
                prev_out.value.to_sat(),
                prev_out.script_pubkey.clone(),
                WK::External,
                0,
            )],
        )
        .unwrap();
    let mut signed = psbt.clone();
    signed.inputs[0].final_script_witness = Some(signed_tx.input[0].witness.clone());

    // Altered: another amount to hot -> refused, nothing changes.
    let mut altered = signed.clone();
    altered.unsigned_tx.output[0].value =
        BtcAmount::from_sat(altered.unsigned_tx.output[0].value.to_sat() - 1);
    assert!(matches!(
        engine.submit_topup(&p.id, &altered.serialize()).await,
        Err(mona_engine::EngineError::Refused(_))
    ));
    let txid = engine
        .submit_topup(&p.id, &signed.serialize())
        .await
        .unwrap();
    assert_eq!(txid, signed_tx.compute_txid());
    rig.sim.mine(1);
    wait_for("top-up confirmed", || {
        rig.ledger
            .payout(&txid)
            .unwrap()
            .is_some_and(|p| p.state == PayoutState::Confirmed)
    })
    .await;
    let fs = engine.float_status().await.unwrap();
    assert_eq!(fs.hot_confirmed_wat, 11 * MONA);
    assert!(rig.ledger.open_topup_proposal().unwrap().is_none());
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_expecting_more_than_the_chain_freezes_at_start() {
    let rig = Rig::new().await;
    rig.fund_hot(0, 10 * MONA);
    rig.sim.mine(1);
    let engine = rig.engine(test_config(rig.dir.path())).await;
    wait_for("synced", || {
        engine.status().synced_tip.map(|t| t.height) == Some(rig.sim.height())
    })
    .await;
    engine.shutdown().await;
    drop(engine);
    assert!(!rig.ledger.freeze_state().unwrap().frozen);
    // The database is edited: a hot coin is worth more in the ledger than on the chain.
    let sqlite = mona_ledger::SqliteLedger::open(rig.dir.path().join("ledger.db")).unwrap();
    sqlite
        .raw_sql_for_tests(
            "UPDATE coins SET value_wat = value_wat + 1000 WHERE keychain = 'hot_external'",
        )
        .unwrap();
    drop(sqlite);
    let engine = rig.engine(test_config(rig.dir.path())).await;
    wait_for("frozen at start", || engine.is_frozen()).await;
    assert!(engine
        .freeze_info()
        .reason
        .unwrap()
        .contains("not in the chain's UTXO set"));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_balance_above_the_scanned_chain_freezes_on_the_next_block() {
    let rig = Rig::new().await;
    rig.fund_hot(0, 10 * MONA);
    rig.sim.mine(1);
    let engine = rig.engine(test_config(rig.dir.path())).await;
    wait_for("synced", || {
        engine.status().synced_tip.map(|t| t.height) == Some(rig.sim.height())
    })
    .await;
    let sqlite = mona_ledger::SqliteLedger::open(rig.dir.path().join("ledger.db")).unwrap();
    sqlite
        .raw_sql_for_tests(
            "UPDATE coins SET value_wat = value_wat + 1000 WHERE keychain = 'hot_external'",
        )
        .unwrap();
    drop(sqlite);
    assert!(!engine.is_frozen());
    rig.sim.mine(1);
    wait_for("frozen after the block", || engine.is_frozen()).await;
    assert!(engine
        .freeze_info()
        .reason
        .unwrap()
        .contains("below the ledger"));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_withdrawal_is_paid_by_a_cold_signed_psbt() {
    let rig = Rig::new().await;
    let cold_op = rig.fund_cold(0, 6_000 * MONA);
    rig.fund_hot(0, 50 * MONA);
    rig.sim.mine(1);
    let engine = rig.engine(test_config(rig.dir.path())).await;
    rig.withdraw("big", 2, 5_000 * MONA);
    engine.wake();
    wait_for("the automatic cold proposal", || {
        rig.ledger
            .open_topup_proposal()
            .unwrap()
            .is_some_and(|p| p.withdrawal_id.as_deref() == Some("big"))
    })
    .await;
    let p = rig.ledger.open_topup_proposal().unwrap().unwrap();
    // One open proposal at a time, whatever its purpose.
    assert!(matches!(
        engine
            .propose_topup(Some(mona::Amount::from_wat_const(MONA)))
            .await,
        Err(mona_engine::EngineError::Conflict(_))
    ));
    let psbt = Psbt::deserialize(&p.psbt).unwrap();
    let prev = psbt.inputs[0].non_witness_utxo.clone().unwrap();
    assert_eq!(psbt.unsigned_tx.input[0].previous_output, cold_op);
    let cold_keys = HotKeys::from_account(&cold_account());
    let prev_out = &prev.output[cold_op.vout as usize];
    let signed_tx = cold_keys
        .sign(
            &psbt,
            &[coin(
                cold_op,
                prev_out.value.to_sat(),
                prev_out.script_pubkey.clone(),
                WK::External,
                0,
            )],
        )
        .unwrap();
    let mut signed = psbt.clone();
    signed.inputs[0].final_script_witness = Some(signed_tx.input[0].witness.clone());
    // Altered amount: refused, nothing changes.
    let mut altered = signed.clone();
    for o in &mut altered.unsigned_tx.output {
        if o.script_pubkey == customer(2).script_pubkey {
            o.value = BtcAmount::from_sat(o.value.to_sat() + 1);
        }
    }
    assert!(matches!(
        engine.submit_topup(&p.id, &altered.serialize()).await,
        Err(mona_engine::EngineError::Refused(_))
    ));
    assert_eq!(state_of(&rig.ledger, "big"), PayoutState::Requested);
    let txid = engine
        .submit_topup(&p.id, &signed.serialize())
        .await
        .unwrap();
    assert_eq!(txid, signed_tx.compute_txid());
    assert!(rig.ledger.open_topup_proposal().unwrap().is_none());
    rig.sim.mine(1);
    wait_for("the cold withdrawal confirmed", || {
        state_of(&rig.ledger, "big") == PayoutState::Confirmed
    })
    .await;
    assert!(!engine.is_frozen(), "our own cold payout froze the system");
    let view = chain_view(&rig.blocks().await);
    assert_eq!(view.paid_to[&customer(2).script_pubkey], vec![5_000 * MONA]);
    assert_eq!(view.hot_balance, 50 * MONA, "the hot wallet paid nothing");
    let p = rig.ledger.payout(&txid).unwrap().unwrap();
    assert_eq!(p.kind, mona_ledger::PayoutKind::ColdWithdrawal);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_cold_proposal_is_cancelled() {
    let rig = Rig::new().await;
    rig.fund_cold(0, 6_000 * MONA);
    rig.sim.mine(1);
    let engine = rig.engine(test_config(rig.dir.path())).await;
    rig.withdraw("big", 2, 5_000 * MONA);
    engine.wake();
    wait_for("the automatic cold proposal", || {
        rig.ledger.open_topup_proposal().unwrap().is_some()
    })
    .await;
    let p = rig.ledger.open_topup_proposal().unwrap().unwrap();
    rig.ledger
        .reject_withdrawal("big", "withdrawn by the customer")
        .unwrap();
    rig.sim.mine(1);
    wait_for("the stale proposal cancelled", || {
        rig.ledger.open_topup_proposal().unwrap().is_none()
    })
    .await;
    let t = rig.ledger.topup(&p.id).unwrap().unwrap();
    assert_eq!(t.state, mona_ledger::TopUpState::Cancelled);
    assert!(t.close_note.unwrap().contains("rejected"));
    // The float can be topped up again.
    engine
        .propose_topup(Some(mona::Amount::from_wat_const(MONA)))
        .await
        .unwrap();
    engine.shutdown().await;
}

/// A cancelled cold proposal may have been signed, and whoever holds the signed copy can still
/// broadcast it. So its withdrawal is never paid hot afterwards (even once `max_payout` is
/// raised above it), and a new proposal only spends inputs of the cancelled one, so at most one
/// of the two can ever confirm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_cold_proposal_is_never_paid_around() {
    let rig = Rig::new().await;
    rig.fund_cold(0, 6_000 * MONA);
    rig.fund_hot(0, 6_000 * MONA);
    rig.sim.mine(1);
    let mut cfg = test_config(rig.dir.path());
    cfg.auto_sweep = false;
    let engine = rig.engine(cfg).await;
    rig.withdraw("big", 2, 5_000 * MONA);
    engine.wake();
    wait_for("the automatic cold proposal", || {
        rig.ledger.open_topup_proposal().unwrap().is_some()
    })
    .await;
    let a = rig.ledger.open_topup_proposal().unwrap().unwrap();
    let inputs = |p: &mona_ledger::TopUpProposal| -> Vec<OutPoint> {
        Psbt::deserialize(&p.psbt)
            .unwrap()
            .unsigned_tx
            .input
            .iter()
            .map(|i| i.previous_output)
            .collect()
    };
    let a_inputs = inputs(&a);
    engine.shutdown().await;
    drop(engine);
    // Treasury cancels A (it may have signed it), more cold coins arrive, and the operator
    // raises max_payout above the withdrawal.
    rig.ledger
        .close_topup(
            &a.id,
            &mona_ledger::TopUpClose::Cancelled {
                reason: "re-plan".into(),
            },
        )
        .unwrap();
    rig.fund_cold(1, 1_000 * MONA);
    rig.sim.mine(1);
    let mut cfg = test_config(rig.dir.path());
    cfg.auto_sweep = false;
    cfg.float.max_payout_wat = 10_000 * MONA;
    cfg.float.max_daily_wat = 100_000 * MONA;
    let engine = rig.engine(cfg).await;
    engine.wake();
    wait_for("a new cold proposal for the same withdrawal", || {
        rig.ledger
            .open_topup_proposal()
            .unwrap()
            .is_some_and(|p| p.id != a.id)
    })
    .await;
    let b = rig.ledger.open_topup_proposal().unwrap().unwrap();
    assert_eq!(b.withdrawal_id.as_deref(), Some("big"));
    assert!(
        inputs(&b).iter().all(|op| a_inputs.contains(op)),
        "the new proposal spends only inputs of the cancelled one"
    );
    assert_eq!(
        state_of(&rig.ledger, "big"),
        PayoutState::Requested,
        "never paid hot"
    );
    assert!(rig
        .ledger
        .payouts_in_states(&[PayoutState::Signed, PayoutState::Broadcast])
        .unwrap()
        .is_empty());
    engine.shutdown().await;
}
