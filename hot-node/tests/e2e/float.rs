//! Issue 6 acceptance through the daemon and the real cold signer: a top-up whose signed PSBT
//! was altered is refused (422) and the genuine one confirms; the cold signer refuses a top-up
//! that pays a hot wallet its policy does not register; a withdrawal above `max_payout` waits
//! for a cold-signed transaction; a theft freezes payouts within one block and withdrawals get
//! 503 until `unfreeze --reason`.

use std::ffi::OsString;

use base64::Engine as _;
use hot_node::demo::{cold_signer, demo_policy, steal_one_coin, ColdSigner};
use hot_node::simrig::{SimRig, MONA};
use hyper::Method;
use serde_json::json;

use crate::support::{customer, customers};

async fn rig_with_cold_signer(dir: &std::path::Path) -> (SimRig, ColdSigner) {
    let (cold, export) = ColdSigner::create(&dir.join("cold")).unwrap();
    let rig = SimRig::start(&dir.join("hot"), &export, demo_policy)
        .await
        .unwrap();
    (rig, cold)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topup_refusals_and_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let (rig, cold) = rig_with_cold_signer(dir.path()).await;
    rig.fund_cold(0, 200 * MONA).unwrap();
    rig.mine(1).await.unwrap();
    rig.wait_for("the cold coin", 20, || async {
        (rig.float().await.ok()?["cold_confirmed"] == "200").then_some(())
    })
    .await
    .unwrap();
    let r = rig
        .api(Method::POST, "/v1/topups", Some(json!({"amount": "30"})))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
    let v = r.json();
    let id = v["id"].as_str().unwrap().to_owned();
    let unsigned = base64::engine::general_purpose::STANDARD
        .decode(v["psbt"].as_str().unwrap())
        .unwrap();
    let unsigned_path = dir.path().join("topup.psbt");
    std::fs::write(&unsigned_path, &unsigned).unwrap();
    let sign = |out: &std::path::Path| {
        let args: Vec<OsString> = vec![
            "sign".into(),
            unsigned_path.clone().into(),
            "--wallet".into(),
            cold.wallet.clone().into(),
            "--policy".into(),
            cold.policy.clone().into(),
            "--out".into(),
            out.to_path_buf().into(),
            "--yes".into(),
            "--passphrase-file".into(),
            cold.passphrase_file.clone().into(),
        ];
        cold_signer(&args)
    };

    // The cold signer refuses a top-up to a hot wallet its policy does not register.
    cold.register_hot(&customers().receive_descriptor().to_string())
        .unwrap();
    let refused = dir.path().join("refused.psbt");
    assert!(
        sign(&refused).is_err(),
        "signed a top-up to an unregistered wallet"
    );
    assert!(!refused.exists());

    // Registered: signed.
    cold.register_hot(&rig.hot.export().document.account.receive_descriptor)
        .unwrap();
    let signed_path = dir.path().join("signed.psbt");
    sign(&signed_path).unwrap();
    let signed = std::fs::read(&signed_path).unwrap();

    // Altered (another amount, another output): 422, nothing broadcast.
    let alter = |f: &dyn Fn(&mut bitcoin::Transaction)| {
        let mut p = bitcoin::psbt::Psbt::deserialize(&signed).unwrap();
        f(&mut p.unsigned_tx);
        p.serialize()
    };
    let cases: [(&str, Vec<u8>); 2] = [
        (
            "another amount",
            alter(&|t| t.output[0].value = bitcoin::Amount::from_sat(40 * MONA)),
        ),
        (
            "another output",
            alter(&|t| t.output[0].script_pubkey = customer(5).script_pubkey().clone()),
        ),
    ];
    let path = format!("/v1/topups/{id}/signed");
    for (name, bytes) in cases {
        let r = rig
            .api(Method::POST, &path, Some(json!({"psbt": b64(&bytes)})))
            .await
            .unwrap();
        assert_eq!(r.status, 422, "{name}: {:?}", r.json());
    }
    assert!(rig.sim.mempool_txids().is_empty());

    // The genuine one: broadcast and confirmed, +30 MONA hot on chain.
    let r = rig
        .api(Method::POST, &path, Some(json!({"psbt": b64(&signed)})))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
    rig.mine(1).await.unwrap();
    assert_eq!(rig.balance_on_chain(rig.hot.watch_only(), 300), 30 * MONA);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_withdrawal_waits_and_theft_freezes_until_unfreeze() {
    let dir = tempfile::tempdir().unwrap();
    let (rig, _cold) = rig_with_cold_signer(dir.path()).await;
    for _ in 0..2 {
        rig.fund_hot(40 * MONA).await.unwrap();
    }
    rig.mine(1).await.unwrap();
    let big = json!({"id": "big", "address": customer(1).to_string(), "amount": "11"});
    let r = rig
        .api(Method::POST, "/v1/withdrawals", Some(big))
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    rig.wait_for("the large withdrawal to wait for cold", 20, || async {
        let f = rig.float().await.ok()?;
        let waiting = f["engine"]["awaiting_cold"].as_array()?;
        waiting.iter().any(|w| w == "big").then_some(())
    })
    .await
    .unwrap();
    rig.mine(2).await.unwrap();
    let w = rig
        .api(Method::GET, "/v1/withdrawals/big", None)
        .await
        .unwrap()
        .json();
    assert_eq!(w["state"], "requested", "not paid hot: {w}");

    // Theft: frozen within one block; 503 until unfreeze.
    steal_one_coin(&rig).unwrap();
    rig.mine(1).await.unwrap();
    let f = rig.float().await.unwrap();
    assert_eq!(f["frozen"], true, "{f}");
    let small = json!({"id": "s-1", "address": customer(2).to_string(), "amount": "1"});
    let r = rig
        .api(Method::POST, "/v1/withdrawals", Some(small.clone()))
        .await
        .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["code"], "frozen");
    let r = rig
        .api(
            Method::POST,
            "/v1/unfreeze",
            Some(json!({"reason": "theft investigated; key rotated"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = rig
        .api(Method::POST, "/v1/withdrawals", Some(small))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
}
