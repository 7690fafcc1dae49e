//! `hot-node run` as a real process against `simnode`: it checks the chain, serves the API,
//! logs JSON without secrets, stops cleanly on SIGTERM; it refuses a wrong chain, refused
//! credentials and a wrong passphrase with their exit codes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{account, payee, PAYEE_MNEMONIC};
use hot_node::client::ApiClient;
use hot_node::watch_only::WatchOnlyWallet;
use hyper::Method;
use mona::Network;
use mona_simnode::{SimConfig, SimNode};

const PASSPHRASE: &str = "run test passphrase";

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("hot-node")
}

fn init(dir: &Path, network: Network, node_url: &str, rpc_password: &str) -> PathBuf {
    let export = dir.join(format!("cold-{network}.json"));
    std::fs::write(
        &export,
        WatchOnlyWallet::from_account(&account(PAYEE_MNEMONIC, network)).to_json(),
    )
    .unwrap();
    std::fs::write(dir.join("pass"), PASSPHRASE).unwrap();
    std::fs::write(dir.join(format!("rpc-{rpc_password}")), rpc_password).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let datadir = dir.join(format!("node-{network}-{rpc_password}"));
    let o = Command::new(bin())
        .args(["--network", network.name(), "init", "--datadir"])
        .arg(&datadir)
        .arg("--cold-export")
        .arg(&export)
        .arg("--passphrase-file")
        .arg(dir.join("pass"))
        .args([
            "--node-url",
            node_url,
            "--node-user",
            "simnode",
            "--node-password-file",
        ])
        .arg(dir.join(format!("rpc-{rpc_password}")))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--kdf-m-cost-kib",
            "64",
            "--kdf-t-cost",
            "1",
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "init: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    datadir
}

fn spawn_run(datadir: &Path, passphrase_file: &Path) -> Child {
    Command::new(bin())
        .args(["--log-format", "json", "run", "--datadir"])
        .arg(datadir)
        .arg("--passphrase-file")
        .arg(passphrase_file)
        .env("HOT_NODE_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> (i32, String) {
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_then_stops_on_sigterm_and_refuses_bad_setups() {
    let node = SimNode::start(SimConfig::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let good = init(dir, Network::Regtest, &node.url(), "simnode");

    let mut child = spawn_run(&good, &dir.join("pass"));
    let client = ApiClient::from_datadir(&good)
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    let mut up = false;
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("run exited early with {status}: {}", finish(child).1);
        }
        if client
            .call(Method::GET, "/healthz", None)
            .await
            .is_ok_and(|r| r.status == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the API never came up");
    let r = client
        .call(
            Method::POST,
            "/v1/withdrawals",
            Some(&serde_json::json!({"id":"w1","address":payee(0),"amount":"1"})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    let v = client
        .call(
            Method::POST,
            "/v1/vouchers",
            Some(&serde_json::json!({"amount":"1"})),
        )
        .await
        .unwrap()
        .json();
    let code = v["code"].as_str().unwrap().to_owned();
    let r = client
        .clone()
        .without_token()
        .call(
            Method::POST,
            "/v1/vouchers/redeem",
            Some(&serde_json::json!({"code": code, "address": payee(1)})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    let m = String::from_utf8_lossy(
        &client
            .call(Method::GET, "/metrics", None)
            .await
            .unwrap()
            .body,
    )
    .into_owned();
    assert!(
        m.contains("hotnode_node_calls_total{method=\"getblockhash\",outcome=\"ok\"} 1"),
        "{m}"
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let (code_exit, stderr) = finish(child);
    assert_eq!(code_exit, 0, "{stderr}");
    assert!(
        stderr.contains("\"hot-node API listening\""),
        "JSON logs: {stderr}"
    );
    assert!(stderr.contains("hot-node stopped"), "{stderr}");
    let token = std::fs::read_to_string(good.join("api.token")).unwrap();
    for secret in [
        token.trim(),
        PASSPHRASE,
        code.as_str(),
        code.rsplit('-').next().unwrap(),
    ] {
        assert!(!stderr.contains(secret), "a secret is in the daemon's logs");
    }
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }

    // Wrong chain: a testnet data directory pointed at the regtest node.
    let testnet = init(dir, Network::Testnet, &node.url(), "simnode");
    let (c, err) = finish(spawn_run(&testnet, &dir.join("pass")));
    assert_eq!(c, 10, "{err}");
    assert!(err.contains("refusing to start"), "{err}");
    // Refused credentials.
    let wrong_pw = init(dir, Network::Regtest, &node.url(), "wrong");
    let (c, err) = finish(spawn_run(&wrong_pw, &dir.join("pass")));
    assert_eq!(c, 10, "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(
        !err.contains("\"wrong\""),
        "the RPC password is in the logs"
    );
    // Wrong passphrase.
    std::fs::write(dir.join("bad-pass"), "not it").unwrap();
    let (c, err) = finish(spawn_run(&good, &dir.join("bad-pass")));
    assert_eq!(c, 11, "{err}");
    assert!(!err.contains("not it"));
    node.shutdown();
}
