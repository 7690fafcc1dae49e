//! Crash matrix (issue 5 acceptance) with the real `hot-node run` binary: armed with the
//! engine's failpoint variable at each named failpoint (after commit before broadcast, after
//! broadcast before recording the answer, mid-batch, during sync), it is SIGKILLed the moment
//! it prints `FAILPOINT <name>`, then restarted without it. Each time, on the CHAIN: every
//! withdrawal paid exactly once with its amount, nothing lost; the ledger's hot balance
//! equals the chain's; not frozen; the audit chain verifies.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hot_node::simrig::{SimRig, MONA};
use hyper::Method;
use serde_json::json;

use crate::support::{assert_hot_cap_held, customer, write_cold_export};

fn spawn_run(rig: &SimRig, failpoint: Option<&str>) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("hot-node"));
    cmd.args(["--log-format", "json", "run", "--datadir"])
        .arg(&rig.datadir)
        .arg("--passphrase-file")
        .arg(&rig.passphrase_file)
        .env("HOT_NODE_LOG", "warn")
        .env_remove(mona_engine::failpoint::ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(fp) = failpoint {
        cmd.env(mona_engine::failpoint::ENV, fp);
    }
    let mut child = cmd.spawn().expect("spawn hot-node run");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

async fn wait_api(rig: &SimRig) {
    rig.wait_for("the API", 30, || async {
        rig.client
            .call(Method::GET, "/healthz", None)
            .await
            .ok()
            .filter(|r| r.status == 200)
            .map(|_| ())
    })
    .await
    .unwrap();
}

async fn one_point(name: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let export = write_cold_export(dir.path());
    let mut rig = SimRig::prepare(&dir.path().join("work"), &export, |_| {})
        .await
        .unwrap();
    // Fund three hot coins (addresses 0..3 are within the gap limit) before the first start,
    // with blocks to sync.
    for i in 0..3 {
        let s = rig.hot.watch_only().script_pubkey(0, i).unwrap();
        rig.sim.fund_script(&s, 20 * MONA).unwrap();
    }
    rig.sim.mine(6);

    // The withdrawals are recorded first (the same ledger call the API makes): once a
    // failpoint blocks one of the daemon's threads, its API may not answer any more.
    let amounts = [150_000_000u64, 250_000_000, 350_000_000];
    {
        use mona_ledger::Ledger as _;
        let ledger =
            mona_ledger::SqliteLedger::open(hot_node::datadir::DataDir::new(&rig.datadir).ledger())
                .unwrap();
        for (i, a) in amounts.iter().enumerate() {
            let to = customer(i as u32);
            ledger
                .request_withdrawal(&mona_ledger::WithdrawalRequest {
                    id: format!("w-{i}"),
                    destination: mona_ledger::Destination {
                        address: to.to_string(),
                        script_pubkey: to.script_pubkey().clone(),
                    },
                    amount_wat: *a,
                })
                .unwrap();
        }
    }
    let (mut child, lines) = spawn_run(&rig, Some(name));
    let want = format!("FAILPOINT {name}");
    let hit = tokio::task::spawn_blocking(move || loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(l) if l.contains(&want) => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    })
    .await
    .unwrap();
    assert!(hit, "{name}: the failpoint was never reached");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Restart, unarmed.
    rig.reconnect().unwrap();
    let (mut child, _lines) = spawn_run(&rig, None);
    wait_api(&rig).await;
    // Replays through the API after the crash: the same records, nothing new.
    for (i, a) in amounts.iter().enumerate() {
        let body = json!({"id": format!("w-{i}"), "address": customer(i as u32).to_string(),
            "amount": mona::Amount::from_wat(*a).unwrap().to_mona_string()});
        let r = rig
            .api(Method::POST, "/v1/withdrawals", Some(body))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{name}: {:?}", r.json());
    }
    rig.wait_for("every withdrawal to confirm", 60, || async {
        rig.sim.mine(1);
        for i in 0..amounts.len() {
            let w = rig
                .api(Method::GET, &format!("/v1/withdrawals/w-{i}"), None)
                .await
                .ok()?
                .json();
            if !matches!(w["state"].as_str(), Some("confirmed" | "final")) {
                return None;
            }
        }
        Some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    rig.sim.mine(1);
    rig.wait_synced().await.unwrap();

    let paid = rig.payments_on_chain();
    for (i, a) in amounts.iter().enumerate() {
        let p = paid
            .get(customer(i as u32).script_pubkey())
            .cloned()
            .unwrap_or_default();
        assert_eq!(p.len(), 1, "{name}: w-{i} paid {} times on chain", p.len());
        assert_eq!(p[0].1, *a, "{name}: w-{i} amount");
    }
    let f = rig.float().await.unwrap();
    let ledger_hot = mona::Amount::from_mona_str(f["hot_confirmed"].as_str().unwrap())
        .unwrap()
        .to_wat();
    assert_eq!(
        ledger_hot,
        rig.balance_on_chain(rig.hot.watch_only(), 300),
        "{name}: ledger and chain agree"
    );
    assert_eq!(f["frozen"], false, "{name}: {f}");
    assert_hot_cap_held(&rig).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let audit = Command::new(assert_cmd::cargo::cargo_bin("hot-node"))
        .args(["audit", "verify", "--datadir"])
        .arg(&rig.datadir)
        .output()
        .unwrap();
    assert!(audit.status.success(), "{name}: {audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_every_failpoint_pays_everything_exactly_once() {
    for name in mona_engine::failpoint::ALL {
        one_point(name).await;
    }
}
