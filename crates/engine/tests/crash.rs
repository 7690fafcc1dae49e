//! Crash matrix at the engine level: a child process runs the engine against the parent's
//! simnode and ledger file with `MONA_FAILPOINT=<name>`; when it prints `FAILPOINT <name>` the
//! parent SIGKILLs it, starts a new engine on the same database, and checks on the CHAIN that
//! every withdrawal is paid exactly once.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mona_engine::failpoint;
use mona_ledger::{Ledger, PayoutState, SqliteLedger};
use mona_node::{Auth, NodeClient, NodeConfig};

const CHILD_ENV: &str = "ENGINE_CRASH_CHILD";

/// The child: runs an engine until killed (does nothing in a normal test run).
#[test]
fn crash_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.split('|');
    let (url, user, password, dir) = (
        parts.next().unwrap().to_string(),
        parts.next().unwrap().to_string(),
        parts.next().unwrap().to_string(),
        std::path::PathBuf::from(parts.next().unwrap()),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let node = Arc::new(NodeClient::new(
            NodeConfig::new(
                &url,
                Auth::UserPass {
                    user,
                    password: password.into(),
                },
            )
            .unwrap()
            .with_timeout_ms(400),
        ));
        let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(dir.join("ledger.db")).unwrap());
        let engine = mona_engine::Engine::start(
            test_config(&dir),
            ledger,
            node,
            mona_engine::HotKeys::from_account(&hot_account()),
            cold_watch(),
        )
        .await
        .unwrap();
        engine.wake();
        eprintln!("CHILD STARTED");
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn crash_at(point: &str) {
    let mut rig = Rig::new().await;
    rig.fund_hot(0, 20 * MONA);
    rig.fund_hot(1, 20 * MONA);
    rig.sim.mine(1);
    if point == failpoint::DURING_SYNC {
        rig.sim.mine(5);
    }
    for i in 0..4 {
        rig.withdraw(&format!("c{i}"), i, MONA + u64::from(i));
    }
    let (user, password) = rig.sim.auth();
    let spec = format!(
        "{}|{}|{}|{}",
        rig.sim.url(),
        user,
        password,
        rig.dir.path().display()
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .env(failpoint::ENV, point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let expected = format!("FAILPOINT {point}");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return false };
            if line.contains(&expected) {
                return true;
            }
        }
        false
    });
    let mut hit = false;
    for _ in 0..400 {
        if reader.is_finished() {
            hit = reader.join().unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert!(hit, "the child reached failpoint {point}");

    // Restart on the same database: nothing paid twice, nothing lost.
    rig.reopen_ledger();
    let engine = rig.engine(test_config(rig.dir.path())).await;
    engine.wake();
    let all_confirmed = |l: &Arc<dyn Ledger>| {
        (0..4).all(|i| {
            matches!(
                state_of(l, &format!("c{i}")),
                PayoutState::Confirmed | PayoutState::Final
            )
        })
    };
    for _ in 0..100 {
        if all_confirmed(&rig.ledger) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        rig.sim.mine(1);
    }
    assert!(
        all_confirmed(&rig.ledger),
        "{point}: every withdrawal confirmed"
    );
    let view = chain_view(&rig.blocks().await);
    for i in 0..4u32 {
        assert_eq!(
            view.paid_to[&customer(i).script_pubkey],
            vec![MONA + u64::from(i)],
            "{point}: c{i} paid exactly once"
        );
    }
    assert!(rig.ledger.verify_audit().is_ok());
    assert!(!engine.is_frozen());
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_every_failpoint_pays_once() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    for point in failpoint::ALL {
        crash_at(point).await;
    }
}
