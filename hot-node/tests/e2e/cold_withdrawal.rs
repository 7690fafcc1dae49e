//! Issue 6 acceptance, "a large withdrawal waits for a cold-signed PSBT", end to end through
//! the daemon (engine + HTTP API on the simulated chain), the operator CLI and the real cold
//! signer: a withdrawal above `max_payout` is accepted (201) and never paid hot; the engine
//! proposes its cold payment by itself; the cold signer refuses it under a policy that only
//! registers the hot wallet and signs it once the destination is allowed; an altered signed
//! PSBT is refused (422) and changes nothing; the genuine one is paid exactly once, from cold
//! coins, and confirms; submitting it again is a replay. Every money check reads the CHAIN.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hot_node::demo::{cold_signer, demo_policy, ColdSigner};
use hot_node::simrig::{SimRig, MONA};
use hyper::Method;
use serde_json::{json, Value};

use crate::support::customer;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs the operator CLI in-process (`hot-node ARGS`), as a script would; `Err` with its
/// message.
async fn hot_node_cli(args: Vec<OsString>) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        let mut all: Vec<OsString> = vec!["hot-node".into()];
        all.extend(args);
        let cli =
            <hot_node::cli::Cli as clap::Parser>::try_parse_from(all).map_err(|e| e.to_string())?;
        hot_node::cli::dispatch(cli).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// `cold-signer sign FILE --policy POLICY --out OUT --yes`.
fn sign(cold: &ColdSigner, policy: &Path, file: &Path, out: &Path) -> Result<(), u8> {
    let args: Vec<OsString> = vec![
        "sign".into(),
        file.into(),
        "--wallet".into(),
        cold.wallet.clone().into(),
        "--policy".into(),
        policy.into(),
        "--out".into(),
        out.into(),
        "--yes".into(),
        "--passphrase-file".into(),
        cold.passphrase_file.clone().into(),
    ];
    cold_signer(&args)
}

async fn get(rig: &SimRig, path: &str) -> Value {
    rig.api(Method::GET, path, None).await.unwrap().json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_withdrawal_is_paid_once_by_a_cold_signed_psbt() {
    let dir = tempfile::tempdir().unwrap();
    let (cold, export) = ColdSigner::create(&dir.path().join("cold")).unwrap();
    // max_payout 10 MONA; hot 40 sits between hot_low (20) and the cap (100): no sweep, no top-up.
    let rig = SimRig::start(&dir.path().join("hot"), &export, demo_policy)
        .await
        .unwrap();
    rig.fund_hot(40 * MONA).await.unwrap();
    rig.fund_cold(0, 200 * MONA).unwrap();
    rig.mine(1).await.unwrap();
    rig.wait_for("the deposits", 20, || async {
        let f = rig.float().await.ok()?;
        (f["cold_confirmed"] == "200" && f["hot_confirmed"] == "40").then_some(())
    })
    .await
    .unwrap();
    let hot_before = rig.balance_on_chain(rig.hot.watch_only(), 300);
    assert_eq!(hot_before, 40 * MONA);

    // Above max_payout: accepted, and it waits.
    let to = customer(1);
    let body = json!({"id": "big", "address": to.to_string(), "amount": "25"});
    let r = rig
        .api(Method::POST, "/v1/withdrawals", Some(body))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["awaiting_cold_signature"], true);

    // The engine proposes its cold payment by itself.
    let id = rig
        .wait_for("the automatic cold proposal", 20, || async {
            let list = get(&rig, "/v1/topups").await;
            list["proposals"].as_array()?.iter().find_map(|p| {
                (p["withdrawal_id"] == "big" && p["state"] == "open")
                    .then(|| p["id"].as_str().map(str::to_owned))
                    .flatten()
            })
        })
        .await
        .unwrap();
    let list = get(&rig, "/v1/topups").await;
    let p = &list["proposals"][0];
    assert_eq!(
        (p["purpose"].as_str(), p["amount"].as_str()),
        (Some("cold_withdrawal"), Some("25")),
        "{list}"
    );
    // Blocks go by: still not paid hot.
    rig.mine(2).await.unwrap();
    rig.wait_synced().await.unwrap();
    let w = get(&rig, "/v1/withdrawals/big").await;
    assert_eq!(w["state"], "requested", "paid hot: {w}");
    assert_eq!(w["awaiting_cold_signature"], true, "{w}");
    assert_eq!(w["proposal_id"].as_str(), Some(id.as_str()), "{w}");
    assert!(!rig.payments_on_chain().contains_key(to.script_pubkey()));

    // The operator writes it to the outbox with the CLI (the same open proposal).
    let outbox = dir.path().join("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    let datadir: PathBuf = rig.datadir.clone();
    hot_node_cli(vec![
        "--json".into(),
        "topup".into(),
        "propose".into(),
        "--datadir".into(),
        datadir.clone().into(),
        "--withdrawal".into(),
        "big".into(),
        "--out".into(),
        outbox.clone().into(),
    ])
    .await
    .unwrap();
    let unsigned_path = outbox.join(format!("{id}.psbt"));
    let unsigned = std::fs::read(&unsigned_path).unwrap();
    let api_psbt = get(&rig, &format!("/v1/topups/{id}/psbt")).await;
    assert_eq!(api_psbt["psbt"].as_str(), Some(b64(&unsigned).as_str()));
    let proposals = get(&rig, "/v1/topups").await;
    assert_eq!(
        proposals["proposals"].as_array().map(Vec::len),
        Some(1),
        "one proposal"
    );

    // The cold signer's default policy (the hot wallet only) refuses to pay a customer.
    cold.register_hot(&rig.hot.export().document.account.receive_descriptor)
        .unwrap();
    let refused = dir.path().join("refused.psbt");
    assert!(
        sign(&cold, &cold.policy, &unsigned_path, &refused).is_err(),
        "signed a payment to an address its policy does not allow"
    );
    assert!(!refused.exists());

    // A policy that allows the destination: signed.
    let allowing = dir.path().join("cold").join("policy-allow.toml");
    std::fs::write(
        &allowing,
        format!(
            "version = 1\nnetwork = \"regtest\"\n[destinations]\nhot_descriptors = [\"{}\"]\nallow_addresses = [\"{to}\"]\nhot_scan_range = 200\n[limits]\nmax_send = \"1000\"\nmax_fee = \"0.1\"\n",
            rig.hot.export().document.account.receive_descriptor
        ),
    )
    .unwrap();
    let signed_path = dir.path().join("signed.psbt");
    sign(&cold, &allowing, &unsigned_path, &signed_path).unwrap();
    let signed = std::fs::read(&signed_path).unwrap();

    // Altered after signing: refused (422), nothing changes.
    let alter = |f: &dyn Fn(&mut bitcoin::Transaction)| {
        let mut p = bitcoin::psbt::Psbt::deserialize(&signed).unwrap();
        f(&mut p.unsigned_tx);
        p.serialize()
    };
    let pay_vout = |t: &bitcoin::Transaction| {
        t.output
            .iter()
            .position(|o| o.script_pubkey == *to.script_pubkey())
            .unwrap()
    };
    let cases: [(&str, Vec<u8>); 2] = [
        (
            "another amount",
            alter(&|t| {
                let v = pay_vout(t);
                t.output[v].value = bitcoin::Amount::from_sat(26 * MONA);
            }),
        ),
        (
            "an extra output",
            alter(&|t| {
                let v = pay_vout(t);
                let mut extra = t.output[v].clone();
                extra.script_pubkey = customer(5).script_pubkey().clone();
                extra.value = bitcoin::Amount::from_sat(MONA);
                t.output.push(extra);
            }),
        ),
    ];
    let path = format!("/v1/topups/{id}/signed");
    for (name, bytes) in cases {
        let r = rig
            .api(Method::POST, &path, Some(json!({"psbt": b64(&bytes)})))
            .await
            .unwrap();
        assert!(
            (400..500).contains(&r.status),
            "{name}: {} {:?}",
            r.status,
            r.json()
        );
        assert!(rig.sim.mempool_txids().is_empty(), "{name}: broadcast");
        let w = get(&rig, "/v1/withdrawals/big").await;
        assert_eq!(w["state"], "requested", "{name}: {w}");
        assert_eq!(w["proposal_id"].as_str(), Some(id.as_str()), "{name}: {w}");
    }

    // The genuine one, through the CLI (the proposal is found from the transaction).
    hot_node_cli(vec![
        "topup".into(),
        "submit".into(),
        "--datadir".into(),
        datadir.into(),
        signed_path.clone().into(),
    ])
    .await
    .unwrap();
    let txid = get(&rig, "/v1/withdrawals/big").await["txid"]
        .as_str()
        .unwrap()
        .to_owned();
    rig.mine(1).await.unwrap();
    rig.wait_for("the cold withdrawal to confirm", 20, || async {
        let w = get(&rig, "/v1/withdrawals/big").await;
        matches!(w["state"].as_str(), Some("confirmed" | "final")).then_some(())
    })
    .await
    .unwrap();

    // On the chain: exactly one payment to the customer, from cold coins; hot untouched.
    let paid = rig.payments_on_chain();
    let to_customer = &paid[to.script_pubkey()];
    assert_eq!(to_customer.len(), 1, "{to_customer:?}");
    assert_eq!(to_customer[0].0.to_string(), txid);
    assert_eq!(to_customer[0].1, 25 * MONA);
    assert_eq!(rig.balance_on_chain(rig.hot.watch_only(), 300), hot_before);
    let cold_left = rig.balance_on_chain(&rig.cold, 50);
    assert!(
        cold_left < 175 * MONA && cold_left > 174 * MONA,
        "cold paid 25 MONA + fee: {cold_left}"
    );
    let f = rig.float().await.unwrap();
    assert_eq!(f["frozen"], false, "our own cold payout froze payouts: {f}");
    let list = get(&rig, "/v1/topups").await;
    let p = &list["proposals"][0];
    assert_eq!(p["state"], "submitted", "{list}");
    assert_eq!(p["close_note"].as_str(), Some(txid.as_str()));
    let w = get(&rig, "/v1/withdrawals/big").await;
    assert_eq!(w["awaiting_cold_signature"], false, "{w}");
    // A retry of the submission (answer lost) is a replay: same txid, nothing more paid.
    let r = rig
        .api(Method::POST, &path, Some(json!({"psbt": b64(&signed)})))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["txid"].as_str(), Some(txid.as_str()));
    rig.mine(1).await.unwrap();
    assert_eq!(rig.payments_on_chain()[to.script_pubkey()].len(), 1);
}
