//! `hot-node init` (files, modes, refusals) and the operator CLI's exit codes, against an
//! in-process API server built from the initialised data directory.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{account, payee, Harness, PAYEE_MNEMONIC};
use assert_cmd::Command;
use hot_node::config::Config;
use hot_node::datadir::DataDir;
use hot_node::secret::ApiToken;
use hot_node::watch_only::WatchOnlyWallet;
use mona::Network;
use mona_keystore::Passphrase;
use mona_ledger::{Ledger, SqliteLedger};
use serde_json::Value;

const KDF: [&str; 4] = ["--kdf-m-cost-kib", "64", "--kdf-t-cost", "1"];
const PASSPHRASE: &str = "hot node test passphrase";

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let s = Scratch {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(s.path("pass"), format!("{PASSPHRASE}\n")).unwrap();
        std::fs::write(s.path("rpcpass"), "pw\n").unwrap();
        for (name, net) in [
            ("cold-regtest.json", Network::Regtest),
            ("cold-mainnet.json", Network::Mainnet),
        ] {
            std::fs::write(
                s.path(name),
                WatchOnlyWallet::from_account(&account(PAYEE_MNEMONIC, net)).to_json(),
            )
            .unwrap();
        }
        s
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn hot_node(args: &[&str]) -> Output {
    Command::cargo_bin("hot-node")
        .unwrap()
        .args(args)
        .env_remove("HOT_NODE_LOG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn init(s: &Scratch, datadir: &Path, export: &str, listen: &str) -> Output {
    let (d, e, p, pw) = (
        datadir.display().to_string(),
        s.path(export).display().to_string(),
        s.path("pass").display().to_string(),
        s.path("rpcpass").display().to_string(),
    );
    let mut args = vec![
        "--network",
        "regtest",
        "--json",
        "init",
        "--datadir",
        &d,
        "--cold-export",
        &e,
        "--passphrase-file",
        &p,
        "--node-url",
        "http://127.0.0.1:1/",
        "--node-user",
        "u",
        "--node-password-file",
        &pw,
        "--listen",
        listen,
    ];
    args.extend(KDF);
    hot_node(&args)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout_json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout not JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_creates_everything_and_never_overwrites() {
    let s = Scratch::new();
    let d = s.path("node");
    let o = init(&s, &d, "cold-regtest.json", "127.0.0.1:29999");
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let report = stdout_json(&o);
    assert_eq!(report["network"], "regtest");
    assert_eq!(report["files"].as_array().unwrap().len(), 5);
    let dd = DataDir::new(&d);
    let token = std::fs::read_to_string(dd.token()).unwrap();
    assert_eq!(token.trim().len(), 64);
    assert!(ApiToken::from_hex(&token).is_some());
    #[cfg(unix)]
    {
        assert_eq!(mode(&dd.token()), 0o600, "api.token mode");
        assert_eq!(mode(&dd.seed()), 0o600, "hot-seed.enc mode");
        assert_eq!(mode(&d), 0o700, "data directory mode");
    }
    let config = Config::load(&dd.config()).unwrap();
    assert_eq!(config.network, Network::Regtest);
    assert_eq!(config.listen_addr().to_string(), "127.0.0.1:29999");
    assert_eq!(config.node.user.as_deref(), Some("u"));
    assert_eq!(
        std::fs::read(dd.cold_export(&config)).unwrap(),
        std::fs::read(s.path("cold-regtest.json")).unwrap()
    );
    let hot = hot_node::hot_wallet::unlock(
        &dd.seed(),
        Network::Regtest,
        &Passphrase::new(PASSPHRASE.into()),
    )
    .unwrap();
    assert_eq!(report["hot_fingerprint"], hot.fingerprint());
    let ledger = SqliteLedger::open(dd.ledger()).unwrap();
    assert_eq!(ledger.audit_entries(1, 10).unwrap()[0].kind, "node.init");
    drop(ledger);
    // No staging directory is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Refusals: existing data directory; non-empty directory; nothing changes.
    let before: Vec<(PathBuf, Vec<u8>)> = [dd.config(), dd.token(), dd.seed()]
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let o = init(&s, &d, "cold-regtest.json", "127.0.0.1:29999");
    assert_eq!(code(&o), 9, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an empty directory"));
    for (p, b) in &before {
        assert_eq!(&std::fs::read(p).unwrap(), b, "{} changed", p.display());
    }
    let other = s.path("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    assert_eq!(
        code(&init(&s, &other, "cold-regtest.json", "127.0.0.1:29999")),
        9
    );
    assert_eq!(
        std::fs::read_to_string(other.join("keep.txt")).unwrap(),
        "mine"
    );
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
    // An empty existing directory is fine.
    let empty = s.path("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(
        code(&init(&s, &empty, "cold-regtest.json", "127.0.0.1:29999")),
        0
    );

    // Bad input: export of another network, garbage export, public listen; nothing is created.
    for (name, export, listen) in [
        ("mainnet export", "cold-mainnet.json", "127.0.0.1:29999"),
        ("garbage", "pass", "127.0.0.1:29999"),
        ("public listen", "cold-regtest.json", "0.0.0.0:29999"),
    ] {
        let target = s.path(&format!("bad-{}", name.replace(' ', "-")));
        let o = init(&s, &target, export, listen);
        assert_eq!(
            code(&o),
            3,
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!target.exists(), "{name}: created {}", target.display());
        let err = stdout_json(&o);
        assert_eq!(err["error"]["exit"], "bad_input", "{name}");
    }
    let o = hot_node(&[
        "init",
        "--datadir",
        &s.path("x").display().to_string(),
        "--cold-export",
        "y",
    ]);
    assert_eq!(code(&o), 2, "init without --network");
}

fn cli(args: &[&str]) -> Output {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    hot_node(&all)
}

async fn cli_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || cli(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_cli_exit_codes() {
    let s = Scratch::new();
    let d = s.path("node");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = init(&s, &d, "cold-regtest.json", &format!("127.0.0.1:{port}"));
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let dd = DataDir::new(&d);
    let config = Config::load(&dd.config()).unwrap();
    let token = ApiToken::load(&dd.token()).unwrap();
    let hot = hot_node::hot_wallet::unlock(
        &dd.seed(),
        Network::Regtest,
        &Passphrase::new(PASSPHRASE.into()),
    )
    .unwrap();
    let ledger = SqliteLedger::open(dd.ledger()).unwrap();
    let listener = tokio::net::TcpListener::bind(config.listen_addr())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let h = Harness::serve(
        tempfile::tempdir().unwrap(),
        ledger,
        config,
        token.clone(),
        hot.watch_only().clone(),
        listener,
        addr,
    )
    .await;

    let dir = d.display().to_string();
    let run = |args: &[&str]| {
        let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        v.extend(["--datadir".to_string(), dir.clone()]);
        cli_async(v)
    };
    let a0 = payee(0);
    let a1 = payee(1);

    let o = run(&[
        "withdraw",
        "--id",
        "w1",
        "--address",
        &a0,
        "--amount",
        "1.5",
    ])
    .await;
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout_json(&o)["state"], "requested");
    assert_eq!(
        code(
            &run(&[
                "withdraw",
                "--id",
                "w1",
                "--address",
                &a0,
                "--amount",
                "1.5"
            ])
            .await
        ),
        0,
        "replay"
    );
    let o = run(&["withdraw", "--id", "w1", "--address", &a0, "--amount", "2"]).await;
    assert_eq!(code(&o), 4, "conflict");
    assert_eq!(stdout_json(&o)["error"]["code"], "conflict");
    let o = run(&[
        "withdraw",
        "--id",
        "w2",
        "--address",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "--amount",
        "1",
    ])
    .await;
    assert_eq!(code(&o), 3);
    assert!(String::from_utf8_lossy(&o.stderr).contains("looks like a Bitcoin address"));
    assert_eq!(
        code(
            &run(&[
                "withdraw",
                "--id",
                "w2",
                "--address",
                &a0,
                "--amount",
                "1.000000001"
            ])
            .await
        ),
        3
    );
    let o = run(&["withdrawal", "show", "w1"]).await;
    assert_eq!(
        (
            code(&o),
            stdout_json(&o)["amount"].as_str().map(str::to_owned)
        ),
        (0, Some("1.5".into()))
    );
    assert_eq!(code(&run(&["withdrawal", "show", "nope"]).await), 5);

    let o = run(&["voucher", "create", "--amount", "0.25"]).await;
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let voucher = stdout_json(&o);
    let vcode = voucher["code"].as_str().unwrap().to_owned();
    std::fs::write(s.path("code"), &vcode).unwrap();
    let code_file = s.path("code").display().to_string();
    let o = run(&[
        "voucher",
        "redeem",
        "--code-file",
        &code_file,
        "--address",
        &a1,
    ])
    .await;
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        code(&run(&["voucher", "redeem", "--code", &vcode, "--address", &a1]).await),
        0,
        "replay"
    );
    assert_eq!(
        code(&run(&["voucher", "redeem", "--code", &vcode, "--address", &a0]).await),
        4,
        "other address"
    );

    let o = run(&["address", "new"]).await;
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout_json(&o)["address"],
        hot.watch_only().address(0, 0).unwrap().to_string()
    );
    let o = run(&["status"]).await;
    assert_eq!(code(&o), 0);
    assert_eq!(stdout_json(&o)["pending_queued"], "1.75");

    assert_eq!(code(&run(&["freeze", "--reason", "drill"]).await), 0);
    assert_eq!(
        code(&run(&["withdraw", "--id", "w3", "--address", &a0, "--amount", "1"]).await),
        6,
        "frozen"
    );
    assert_eq!(code(&run(&["unfreeze", "--reason", "drill over"]).await), 0);
    assert_eq!(
        code(&run(&["withdraw", "--id", "w3", "--address", &a0, "--amount", "1"]).await),
        0
    );
    assert_eq!(code(&run(&["topup", "propose"]).await), 13);
    assert_eq!(
        code(
            &cli_async(vec![
                "--network".into(),
                "mainnet".into(),
                "status".into(),
                "--datadir".into(),
                dir.clone()
            ])
            .await
        ),
        3,
        "network mismatch"
    );

    // A wrong token file: 7.
    let real = std::fs::read(dd.token()).unwrap();
    std::fs::write(dd.token(), ApiToken::generate().to_hex().as_bytes()).unwrap();
    assert_eq!(code(&run(&["status"]).await), 7);
    std::fs::write(dd.token(), &real).unwrap();

    let o = run(&["audit", "verify"]).await;
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout_json(&o)["rows"].as_u64().unwrap() > 5);

    let (_tmp, ledger) = h.stop().await;
    assert_eq!(code(&run(&["status"]).await), 8, "API down");

    // An edited audit row is detected: 12.
    ledger
        .raw_sql_for_tests("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET detail = 'edited' WHERE seq = 2;")
        .unwrap();
    drop(ledger);
    let o = run(&["audit", "verify"]).await;
    assert_eq!(code(&o), 12, "{}", String::from_utf8_lossy(&o.stderr));
}
