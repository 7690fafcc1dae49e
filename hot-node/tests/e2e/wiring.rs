//! The engine is wired into `run`: a withdrawal through the API is paid once on chain and
//! confirms; metrics show the engine's work; `status` reports the engine; a graceful stop and
//! restart keeps everything.

use hot_node::simrig::MONA;
use hyper::Method;
use serde_json::json;

use crate::support::{assert_hot_cap_held, customer, rig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_is_paid_once_on_chain_through_the_daemon() {
    let (_dir, mut rig) = rig(|_| {}).await;
    rig.fund_hot(50 * MONA).await.unwrap();
    rig.mine(1).await.unwrap();
    rig.wait_for("the deposit to be confirmed", 20, || async {
        let f = rig.float().await.ok()?;
        (f["hot_confirmed"] == "50").then_some(())
    })
    .await
    .unwrap();

    let to = customer(0);
    let body = json!({"id": "w-1", "address": to.to_string(), "amount": "1.25"});
    let r = rig
        .api(Method::POST, "/v1/withdrawals", Some(body.clone()))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
    let txid = rig
        .wait_for("the payout to be broadcast", 20, || async {
            let w = rig
                .api(Method::GET, "/v1/withdrawals/w-1", None)
                .await
                .ok()?
                .json();
            w["txid"].as_str().map(str::to_owned)
        })
        .await
        .unwrap();
    rig.mine(1).await.unwrap();
    rig.wait_for("the withdrawal to confirm", 20, || async {
        let w = rig
            .api(Method::GET, "/v1/withdrawals/w-1", None)
            .await
            .ok()?
            .json();
        matches!(w["state"].as_str(), Some("confirmed" | "final")).then_some(())
    })
    .await
    .unwrap();
    // A replay after payment is the same record, and pays nothing more.
    let again = rig
        .api(Method::POST, "/v1/withdrawals", Some(body))
        .await
        .unwrap();
    assert_eq!(again.status, 200);
    rig.mine(1).await.unwrap();

    let paid = rig.payments_on_chain();
    let to_customer = &paid[to.script_pubkey()];
    assert_eq!(to_customer.len(), 1, "paid exactly once on chain");
    assert_eq!(to_customer[0].1, 125_000_000);
    assert_eq!(to_customer[0].0.to_string(), txid);

    let metrics = rig.api(Method::GET, "/metrics", None).await.unwrap();
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    assert!(
        text.contains("hotnode_engine_events_total{event=\"payouts_committed\"} 1"),
        "{text}"
    );
    assert!(text.contains("hotnode_frozen 0"));
    let f = rig.float().await.unwrap();
    assert_eq!(f["engine"]["running"], true);
    assert_eq!(f["frozen"], false);

    // The operator's status shows the engine.
    let d = rig.datadir.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("hot-node"))
            .args(["status", "--datadir"])
            .arg(d)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("engine:  synced to "),
        "{text}"
    );

    // Graceful stop and restart: nothing is re-paid.
    rig.stop_daemon().await.unwrap();
    rig.start_daemon().await.unwrap();
    rig.mine(2).await.unwrap();
    assert_eq!(rig.payments_on_chain()[to.script_pubkey()].len(), 1);
    assert_hot_cap_held(&rig).await;
}

/// Regression guard for the engine (reported): with no fee estimate the engine builds at the
/// fallback rate clamped to the ceiling and broadcasts with `maxfeerate` = the ceiling; a
/// payout built at exactly the ceiling can exceed it after signing ("absurdly-high-fee,
/// 554000 > 552000") and is marked permanently invalid. The defaults of `init` had fallback =
/// ceiling = 2000 wat/vB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_built_at_the_fee_ceiling_is_accepted() {
    let (_dir, rig) = rig(|c| {
        c.payouts.fallback_fee_rate = c.policy.fee_rate_ceiling;
    })
    .await;
    for _ in 0..6 {
        rig.fund_hot(10 * MONA).await.unwrap();
    }
    rig.mine(1).await.unwrap();
    // Six inputs: the size estimate rounds above the signed size.
    let body = json!({"id": "c-0", "address": customer(0).to_string(), "amount": "55"});
    let r = rig
        .api(Method::POST, "/v1/withdrawals", Some(body))
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    rig.wait_for("the withdrawal to confirm", 30, || async {
        let w = rig
            .api(Method::GET, "/v1/withdrawals/c-0", None)
            .await
            .ok()?
            .json();
        if !matches!(w["state"].as_str(), Some("confirmed" | "final")) {
            rig.sim.mine(1);
            return None;
        }
        Some(())
    })
    .await
    .unwrap();
    assert_hot_cap_held(&rig).await;
}
