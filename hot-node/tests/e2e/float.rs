//! Issue 6 acceptance through the daemon and the real cold signer: a top-up whose signed PSBT
//! was altered is refused (422, nothing changes) and the genuine one confirms; a top-up below
//! `hot_low` through FILES with the real `hot-node` binary; the cold signer refuses a top-up
//! that pays anything but the registered hot wallet; sweeps keep the hot balance under the cap
//! block after block; a withdrawal above `max_payout` waits for a cold-signed transaction; a
//! theft freezes payouts within one block and withdrawals get 503 until `unfreeze --reason`.
//! (The top-up through QR frames is the demo's, `demo.rs`.)

use std::ffi::OsString;

use base64::Engine as _;
use hot_node::demo::{cold_signer, demo_policy, steal_one_coin, ColdSigner};
use hot_node::simrig::{SimRig, MONA};
use hyper::Method;
use serde_json::json;

use crate::support::{assert_hot_cap_held, customer, customers, mine_checked};

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
    let t = rig
        .api(Method::GET, &format!("/v1/topups/{id}/psbt"), None)
        .await
        .unwrap()
        .json();
    assert_eq!(t["state"], "open", "the proposal is untouched: {t}");
    assert_eq!(rig.balance_on_chain(rig.hot.watch_only(), 300), 0);

    // The genuine one: broadcast and confirmed, +30 MONA hot on chain.
    let r = rig
        .api(Method::POST, &path, Some(json!({"psbt": b64(&signed)})))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
    mine_checked(&rig, 1).await;
    assert_eq!(rig.balance_on_chain(rig.hot.watch_only(), 300), 30 * MONA);
    assert_hot_cap_held(&rig).await;
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
    assert_hot_cap_held(&rig).await;
}

/// `hot-node ARGS` (the real binary); `(success, stdout + stderr)`.
async fn hot_node(args: Vec<OsString>) -> (bool, String) {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("hot-node"))
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn sign_file(cold: &ColdSigner, file: &std::path::Path, out: &std::path::Path) -> Result<(), u8> {
    let args: Vec<OsString> = vec![
        "sign".into(),
        file.into(),
        "--wallet".into(),
        cold.wallet.clone().into(),
        "--policy".into(),
        cold.policy.clone().into(),
        "--out".into(),
        out.into(),
        "--yes".into(),
        "--passphrase-file".into(),
        cold.passphrase_file.clone().into(),
    ];
    cold_signer(&args)
}

/// Issue 6: a top-up below `hot_low` through FILES: `hot-node topup propose --out DIR` (the
/// real binary), `cold-signer sign FILE --out` (its command line, in-process), `hot-node topup
/// submit FILE` (the real binary); confirmed, the hot balance rose by exactly the amount, the
/// proposal is closed. On the way: the cold signer refuses the same PSBT altered to pay
/// anywhere but the registered hot wallet, and `topup submit` refuses an altered signed file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topup_below_hot_low_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let (rig, cold) = rig_with_cold_signer(dir.path()).await;
    cold.register_hot(&rig.hot.export().document.account.receive_descriptor)
        .unwrap();
    rig.fund_cold(0, 200 * MONA).unwrap();
    rig.fund_hot(5 * MONA).await.unwrap();
    mine_checked(&rig, 1).await;
    let f = rig
        .wait_for("the coins in the ledger", 20, || async {
            let f = rig.float().await.ok()?;
            (f["cold_confirmed"] == "200" && f["hot_confirmed"] == "5").then_some(f)
        })
        .await
        .unwrap();
    assert_eq!(f["position"], "below_low", "{f}");
    let hot_before = rig.balance_on_chain(rig.hot.watch_only(), 300);

    let outbox = dir.path().join("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    let dd: OsString = rig.datadir.clone().into();
    let (ok, text) = hot_node(vec![
        "topup".into(),
        "propose".into(),
        "--datadir".into(),
        dd.clone(),
        "--amount".into(),
        "30".into(),
        "--out".into(),
        outbox.clone().into(),
    ])
    .await;
    assert!(ok, "topup propose: {text}");
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let unsigned = files[0].clone();
    let id = unsigned.file_stem().unwrap().to_string_lossy().to_string();
    assert!(id.starts_with("topup-"), "{id}");

    // The cold signer refuses the proposal altered to pay a stranger instead of the hot wallet.
    let mut p = bitcoin::psbt::Psbt::deserialize(&std::fs::read(&unsigned).unwrap()).unwrap();
    let hot_out = p
        .unsigned_tx
        .output
        .iter()
        .position(|o| o.value.to_sat() == 30 * MONA)
        .expect("the 30 MONA output");
    p.unsigned_tx.output[hot_out].script_pubkey = customer(7).script_pubkey().clone();
    let elsewhere = dir.path().join("elsewhere.psbt");
    std::fs::write(&elsewhere, p.serialize()).unwrap();
    let refused = dir.path().join("elsewhere-signed.psbt");
    assert!(
        sign_file(&cold, &elsewhere, &refused).is_err(),
        "signed a top-up paying a stranger"
    );
    assert!(!refused.exists());

    // The genuine file: signed.
    let signed = dir.path().join("signed.psbt");
    sign_file(&cold, &unsigned, &signed).unwrap();

    // A signed file altered (another amount) is refused by `topup submit`: nothing sent.
    let mut p = bitcoin::psbt::Psbt::deserialize(&std::fs::read(&signed).unwrap()).unwrap();
    p.unsigned_tx.output[hot_out].value = bitcoin::Amount::from_sat(31 * MONA);
    let altered = dir.path().join("altered-signed.psbt");
    std::fs::write(&altered, p.serialize()).unwrap();
    let (ok, text) = hot_node(vec![
        "topup".into(),
        "submit".into(),
        "--datadir".into(),
        dd.clone(),
        "--id".into(),
        id.clone().into(),
        altered.into(),
    ])
    .await;
    assert!(!ok, "an altered top-up was accepted: {text}");
    assert!(rig.sim.mempool_txids().is_empty());

    let (ok, text) = hot_node(vec![
        "topup".into(),
        "submit".into(),
        "--datadir".into(),
        dd,
        signed.into(),
    ])
    .await;
    assert!(ok, "topup submit: {text}");
    assert!(text.contains(&id), "{text}");
    mine_checked(&rig, 1).await;
    assert_eq!(
        rig.balance_on_chain(rig.hot.watch_only(), 300),
        hot_before + 30 * MONA,
        "the hot balance rose by exactly the top-up"
    );
    let t = rig
        .api(Method::GET, &format!("/v1/topups/{id}/psbt"), None)
        .await
        .unwrap()
        .json();
    assert_eq!(t["state"], "submitted", "the proposal is closed: {t}");
    assert_hot_cap_held(&rig).await;
}

/// Issue 6: "sweep above the cap", and the hot cap bound block after block: deposits (one of
/// them with a withdrawal in flight) push the hot balance over the 100 MONA cap several
/// times; each time the engine sweeps to cold in the next block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeps_keep_the_hot_balance_under_the_cap_block_after_block() {
    let dir = tempfile::tempdir().unwrap();
    let (rig, _cold) = rig_with_cold_signer(dir.path()).await;
    let deposits: [&[u64]; 5] = [&[60], &[30, 40], &[], &[120], &[10, 10, 10]];
    for (i, block) in deposits.iter().enumerate() {
        for d in *block {
            rig.fund_hot(d * MONA).await.unwrap();
        }
        if i == 3 {
            let w = json!({"id": "in-flight", "address": customer(3).to_string(), "amount": "2"});
            let r = rig
                .api(Method::POST, "/v1/withdrawals", Some(w))
                .await
                .unwrap();
            assert_eq!(r.status, 201);
        }
        mine_checked(&rig, 1).await;
    }
    mine_checked(&rig, 2).await;
    let history = assert_hot_cap_held(&rig).await;
    let above = history.iter().filter(|b| b.hot_wat > b.cap_wat).count();
    assert!(above >= 2, "the scenario went above the cap: {history:?}");
    let cold = rig.balance_on_chain(&rig.cold, 50);
    assert!(cold > 0, "swept to cold");
    let tip = history.last().unwrap();
    assert!(tip.hot_wat <= tip.cap_wat, "{tip:?}");
}
