//! The daemon's outbox (issue 6: a proposal is "written to the outbox as `.psbt` and QR
//! frames"): an automatic top-up proposal (hot below `hot_low`) appears in
//! `<datadir>/outbox/` as `<id>.psbt` byte-identical to `GET /v1/topups/{id}/psbt`, as QR
//! frames that decode back to the same bytes, and as `<id>.json`; once the operator cancels
//! it (`hot-node topup cancel`, i.e. `POST /v1/topups/{id}/cancel`) its files are removed, a
//! second cancel is refused (exit 4, 409), and the engine's next proposal takes its place.
//! An outbox that cannot be written is counted and blocks neither proposals nor payouts.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use hot_node::demo::demo_policy;
use hot_node::simrig::{SimRig, MONA};
use hyper::Method;
use serde_json::{json, Value};

use crate::support::rig;

/// The open proposal (`GET /v1/topups`), if any, other than `not`.
async fn open_proposal(rig: &SimRig, not: Option<&str>) -> Option<Value> {
    let list = rig.api(Method::GET, "/v1/topups", None).await.ok()?.json();
    list["proposals"]
        .as_array()?
        .iter()
        .find(|p| p["state"] == "open" && p["id"].as_str() != not)
        .cloned()
}

/// Waits until the outbox holds the complete files of proposal `id` (the description is
/// written last).
async fn wait_for_files(rig: &SimRig, outbox: &Path, id: &str) {
    let (sidecar, manifest) = (
        outbox.join(format!("{id}.json")),
        outbox.join(format!("{id}-qr")).join("manifest.json"),
    );
    rig.wait_for("the proposal in the outbox", 20, || async {
        (sidecar.is_file() && manifest.is_file()).then_some(())
    })
    .await
    .unwrap();
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_topup_is_written_to_the_outbox_and_removed_when_cancelled() {
    let (_dir, rig) = rig(|c| {
        demo_policy(c); // hot_low 20, hot_target 50 MONA
        c.engine.auto_topup = true;
        c.outbox.interval_ms = 100;
    })
    .await;
    let outbox: PathBuf = rig.datadir.join("outbox");
    rig.fund_cold(0, 200 * MONA).unwrap();
    rig.mine(1).await.unwrap();

    // Hot is 0, below hot_low: the engine proposes on its own, and the daemon writes it.
    let p = rig
        .wait_for("the automatic top-up proposal", 20, || {
            open_proposal(&rig, None)
        })
        .await
        .unwrap();
    assert_eq!(
        (p["purpose"].as_str(), p["amount"].as_str()),
        (Some("topup"), Some("50")),
        "{p}"
    );
    let id = p["id"].as_str().unwrap().to_owned();
    wait_for_files(&rig, &outbox, &id).await;
    let api = rig
        .api(Method::GET, &format!("/v1/topups/{id}/psbt"), None)
        .await
        .unwrap()
        .json();
    let psbt = base64::engine::general_purpose::STANDARD
        .decode(api["psbt"].as_str().unwrap())
        .unwrap();
    let psbt_path = outbox.join(format!("{id}.psbt"));
    assert_eq!(
        std::fs::read(&psbt_path).unwrap(),
        psbt,
        "the file is the API's PSBT"
    );
    let decoded = mona_airgap::read_qr(
        &outbox.join(format!("{id}-qr")),
        &mona_airgap::Caps::default(),
        |_| {},
    )
    .expect("the frames decode")
    .into_psbt()
    .expect("a PSBT");
    assert_eq!(decoded, psbt, "the QR frames carry the same bytes");
    let side: Value =
        serde_json::from_slice(&std::fs::read(outbox.join(format!("{id}.json"))).unwrap()).unwrap();
    assert_eq!(
        side,
        json!({
            "id": id,
            "purpose": "topup",
            "withdrawal_id": null,
            "amount": "50",
            "unsigned_txid": api["unsigned_txid"],
            "psbt_file": format!("{id}.psbt"),
            "qr_dir": format!("{id}-qr"),
        })
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&psbt_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // Treasury will not sign it: `hot-node topup cancel` (the real binary) closes it, and its
    // files leave the outbox at once.
    let cancel = |reason: &str| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("hot-node"));
        cmd.arg("--json")
            .args(["topup", "cancel", "--datadir"])
            .arg(&rig.datadir)
            .args([id.as_str(), "--reason", reason]);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
    };
    let out = cancel("treasury will not sign this one").await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            v["id"].as_str(),
            v["state"].as_str(),
            v["close_note"].as_str()
        ),
        (
            Some(id.as_str()),
            Some("cancelled"),
            Some("treasury will not sign this one")
        ),
        "{v}"
    );
    rig.wait_for("the cancelled proposal's files to go", 20, || async {
        names_in(&outbox)
            .iter()
            .all(|n| !n.starts_with(&id))
            .then_some(())
    })
    .await
    .unwrap();
    // Again: refused with the conflict exit code (4), nothing changes.
    let out = cancel("again").await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not open"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Hot is still below hot_low: the engine proposes again at the next block (a new
    // transaction, a new id), and only that one is in the outbox.
    rig.mine(1).await.unwrap();
    let next = rig
        .wait_for("the next automatic proposal", 20, || {
            open_proposal(&rig, Some(&id))
        })
        .await
        .unwrap();
    let next_id = next["id"].as_str().unwrap().to_owned();
    assert_ne!(next_id, id);
    wait_for_files(&rig, &outbox, &next_id).await;
    assert_eq!(
        names_in(&outbox),
        vec![
            format!("{next_id}-qr"),
            format!("{next_id}.json"),
            format!("{next_id}.psbt"),
        ]
    );
    let metrics = rig.api(Method::GET, "/metrics", None).await.unwrap();
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metrics.contains("hotnode_outbox_errors_total 0"),
        "no outbox failure: {}",
        metrics
            .lines()
            .filter(|l| l.contains("outbox"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The value of the Prometheus counter `name` (0 when absent).
async fn counter(rig: &SimRig, name: &str) -> u64 {
    let r = rig.api(Method::GET, "/metrics", None).await.unwrap();
    String::from_utf8_lossy(&r.body)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// An outbox that cannot be written (its path runs through a regular file, as a full or
/// read-only disk would refuse it) is counted and logged, and changes nothing else: the
/// proposal is opened and served by the API, and a withdrawal is still paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_outbox_blocks_neither_proposals_nor_payouts() {
    let dir = tempfile::tempdir().unwrap();
    let export = crate::support::write_cold_export(dir.path());
    let mut rig = SimRig::prepare(&dir.path().join("work"), &export, |c| {
        c.outbox.dir = PathBuf::from("blocked/outbox");
        c.outbox.interval_ms = 100;
    })
    .await
    .unwrap();
    std::fs::write(rig.datadir.join("blocked"), b"a file, not a directory").unwrap();
    rig.start_daemon().await.unwrap();
    rig.fund_cold(0, 200 * MONA).unwrap();
    rig.fund_hot(30 * MONA).await.unwrap();
    rig.mine(1).await.unwrap();
    rig.wait_for("the coins in the ledger", 20, || async {
        let f = rig.float().await.ok()?;
        (f["cold_confirmed"] == "200" && f["hot_confirmed"] == "30").then_some(())
    })
    .await
    .unwrap();

    let r = rig
        .api(Method::POST, "/v1/topups", Some(json!({"amount": "30"})))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
    rig.wait_for("the outbox failure to be counted", 20, || async {
        (counter(&rig, "hotnode_outbox_errors_total").await > 0).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(counter(&rig, "hotnode_outbox_writes_total").await, 0);

    let w = json!({"id": "w-1", "address": crate::support::customer(1).to_string(), "amount": "1"});
    let r = rig
        .api(Method::POST, "/v1/withdrawals", Some(w))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
    // Committed first, then broadcast: wait for it in the mempool.
    rig.wait_for("the withdrawal in the mempool", 20, || async {
        let w = rig
            .api(Method::GET, "/v1/withdrawals/w-1", None)
            .await
            .ok()?
            .json();
        let txid = w["txid"].as_str()?.to_owned();
        rig.sim
            .mempool_txids()
            .iter()
            .any(|t| t.to_string() == txid)
            .then_some(())
    })
    .await
    .unwrap();
    let t = rig
        .api(Method::GET, "/v1/topups", None)
        .await
        .unwrap()
        .json();
    assert_eq!(t["proposals"][0]["state"], "open", "{t}");
}
