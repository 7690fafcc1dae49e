//! Reorg: a confirmed payout reorged out is re-sent with the same txid and confirms again,
//! paid once on chain. Dust storm: many dust deposits to hot addresses; payouts still go out
//! and none spends dust (scaled down to 200 deposits; the 10,000 with `--ignored`).

use std::collections::HashSet;

use bitcoin::OutPoint;
use hot_node::simrig::{SimRig, MONA};
use hyper::Method;
use serde_json::json;

use crate::support::{customer, rig};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorged_payout_is_resent_with_the_same_txid() {
    let (_dir, rig) = rig(|c| c.policy.finality_depth = 6).await;
    rig.fund_hot(20 * MONA).await.unwrap();
    rig.mine(1).await.unwrap();
    let txid = withdraw_and_confirm(&rig, "r-1", 0, "2").await;
    rig.mine(1).await.unwrap();
    // Reorg out every block since the payout's (it is back to broadcast), then a longer
    // branch: the same bytes confirm again.
    let block = rig.sim.with_state(|st| {
        let t: bitcoin::Txid = txid.parse().unwrap();
        st.chain.find_tx(&t).unwrap()
    });
    assert!(rig.sim.invalidate_block(block));
    rig.sim.mine(3);
    rig.wait_synced().await.unwrap();
    let again = rig
        .wait_for("the payout to confirm again", 60, || async {
            let w = rig
                .api(Method::GET, "/v1/withdrawals/r-1", None)
                .await
                .ok()?
                .json();
            if matches!(w["state"].as_str(), Some("confirmed" | "final")) {
                return w["txid"].as_str().map(str::to_owned);
            }
            rig.sim.mine(1);
            None
        })
        .await
        .unwrap();
    assert_eq!(again, txid, "re-sent with the same txid, never rebuilt");
    let paid = rig.payments_on_chain();
    let p = &paid[customer(0).script_pubkey()];
    assert_eq!(p.len(), 1, "paid once on the active chain");
    assert_eq!(p[0].0.to_string(), txid);
    assert_eq!(rig.float().await.unwrap()["frozen"], false);
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
