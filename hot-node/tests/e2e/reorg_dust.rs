//! Reorg: a confirmed payout reorged out is re-sent BY THE ENGINE (simnode drops the
//! disconnected transactions, and counts `sendrawtransaction` calls) with the same txid and
//! confirms again, paid once on chain. Dust storm: many dust deposits to hot addresses; payouts still go out
//! and none spends dust (scaled down to 200 deposits; the 10,000 with `--ignored`).

use std::collections::HashSet;

use bitcoin::{OutPoint, Txid};
use hot_node::simrig::{SimRig, MONA};
use hyper::Method;
use serde_json::json;

use crate::support::{
    assert_hot_cap_held, assert_hot_cap_held_scanning, customer, mine_checked, rig,
};

async fn withdraw_and_confirm(rig: &SimRig, id: &str, to: u32, amount: &str) -> String {
    let body = json!({"id": id, "address": customer(to).to_string(), "amount": amount});
    let r = rig
        .api(Method::POST, "/v1/withdrawals", Some(body))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
    let path = format!("/v1/withdrawals/{id}");
    rig.wait_for("the payout to confirm", 60, || async {
        let w = rig.api(Method::GET, &path, None).await.ok()?.json();
        if matches!(w["state"].as_str(), Some("confirmed" | "final")) {
            return w["txid"].as_str().map(str::to_owned);
        }
        rig.sim.mine(1);
        None
    })
    .await
    .unwrap()
}

async fn withdrawal_state(rig: &SimRig, id: &str) -> serde_json::Value {
    rig.api(Method::GET, &format!("/v1/withdrawals/{id}"), None)
        .await
        .unwrap()
        .json()
}

/// Issue 5: "a confirmed payout reorged out is re-sent with the same txid and confirms again".
/// simnode is told to DROP the transactions of disconnected blocks (Core would put them back
/// in its mempool by itself, which would prove nothing about the engine), so the payout can
/// only come back through the engine's own `sendrawtransaction` of the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorged_payout_is_resent_with_the_same_txid() {
    let (_dir, rig) = rig(|c| c.policy.finality_depth = 6).await;
    rig.sim.set_readd_disconnected(false);
    rig.fund_hot(20 * MONA).await.unwrap();
    rig.mine(1).await.unwrap();
    let txid = withdraw_and_confirm(&rig, "r-1", 0, "2").await;
    rig.mine(1).await.unwrap();
    let t: Txid = txid.parse().unwrap();
    let sends_before = rig.sim.sendrawtransaction_calls(&t);
    assert!(sends_before >= 1, "the engine broadcast it over RPC");
    let old_block = rig.sim.with_state(|st| st.chain.find_tx(&t).unwrap());

    // Reorg out every block since the payout's, then a longer branch without it; under the
    // node's lock, so the engine cannot re-send in between: the payout is nowhere.
    rig.sim.with_state(|st| {
        assert!(st.invalidate(old_block));
        assert!(
            !st.mempool.contains(&t),
            "simnode dropped the disconnected payout"
        );
        let faucet = st.faucet_script().clone();
        st.mine(3, &faucet);
        assert!(st.chain.find_tx(&t).is_none());
    });
    rig.wait_synced().await.unwrap();

    // The ledger took it back to broadcast (no block is mined until it is re-sent), and the
    // engine re-sent the SAME bytes: more sendrawtransaction calls for the same txid, and
    // the node's pool holds it again.
    rig.wait_for("the payout back to broadcast, re-sent", 30, || async {
        let w = withdrawal_state(&rig, "r-1").await;
        let resent = rig.sim.sendrawtransaction_calls(&t) > sends_before
            && rig.sim.mempool_txids().contains(&t);
        (w["state"] == "broadcast" && resent).then_some(())
    })
    .await
    .unwrap();
    let w = withdrawal_state(&rig, "r-1").await;
    assert_eq!(w["txid"], txid.as_str(), "never rebuilt: {w}");

    // Mined again: confirmed with the same txid, in a block of the new branch.
    mine_checked(&rig, 1).await;
    let again = rig
        .wait_for("the payout to confirm again", 30, || async {
            let w = withdrawal_state(&rig, "r-1").await;
            matches!(w["state"].as_str(), Some("confirmed" | "final"))
                .then(|| w["txid"].as_str().map(str::to_owned))
                .flatten()
        })
        .await
        .unwrap();
    assert_eq!(again, txid, "re-sent with the same txid, never rebuilt");
    let new_block = rig.sim.with_state(|st| st.chain.find_tx(&t).unwrap());
    assert_ne!(new_block, old_block);
    let paid = rig.payments_on_chain();
    let p = &paid[customer(0).script_pubkey()];
    assert_eq!(p.len(), 1, "paid once on the active chain");
    assert_eq!(p[0].0.to_string(), txid);
    assert_eq!(rig.float().await.unwrap()["frozen"], false);
    assert_hot_cap_held(&rig).await;
}

async fn dust_storm(n_dust: u32) {
    let (_dir, rig) = rig(|_| {}).await;
    for _ in 0..3 {
        rig.fund_hot(10 * MONA).await.unwrap();
    }
    let mut dust = HashSet::new();
    for _ in 0..n_dust {
        dust.insert(rig.fund_hot(5_000).await.unwrap());
    }
    rig.mine(1).await.unwrap();
    let mut txids = Vec::new();
    for i in 0..5u32 {
        txids.push(withdraw_and_confirm(&rig, &format!("d-{i}"), i, "1").await);
    }
    let ours: HashSet<String> = txids.into_iter().collect();
    let mut inputs: Vec<OutPoint> = Vec::new();
    for tx in rig.chain_transactions() {
        if ours.contains(&tx.compute_txid().to_string()) {
            inputs.extend(tx.input.iter().map(|i| i.previous_output));
        }
    }
    assert!(!inputs.is_empty());
    assert!(
        inputs.iter().all(|op| !dust.contains(op)),
        "a payout spent a dust coin"
    );
    // The dust is still there, recorded, unspent.
    let still: usize = rig
        .utxos_on_chain(rig.hot.watch_only(), n_dust + 100)
        .iter()
        .filter(|(op, _)| dust.contains(op))
        .count();
    assert_eq!(still, n_dust as usize);
    assert_hot_cap_held_scanning(&rig, n_dust + 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dust_storm_scaled_down_payouts_never_spend_dust() {
    dust_storm(200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full scale of issue 5: 10,000 dust deposits"]
async fn dust_storm_full_scale() {
    dust_storm(10_000).await;
}
