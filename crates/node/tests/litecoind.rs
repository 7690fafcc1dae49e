//! Optional extra evidence: the client's HTTP, auth and error handling against a real Bitcoin
//! Core-lineage server, Debian's `litecoind` (Litecoin Core 0.21) in regtest on loopback. It is
//! NOT a substitute for Monacoin's parameters (Litecoin's chain is refused by `check_chain`,
//! which this test also shows). Ignored by default; run with
//! `cargo test -p mona-node --test litecoind -- --ignored` after `apt-get install litecoind`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    CompressedPublicKey, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use mona::Network;
use mona_node::{
    Auth, BroadcastOutcome, ConflictKind, ErrorClass, KnownState, NodeClient, NodeConfig,
    RejectReason, RpcError,
};

/// Kills the daemon we started (by its own handle) when the test ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(datadir: &Path, port: u16, extra: &[&str]) -> Daemon {
    let mut cmd = Command::new("litecoind");
    cmd.arg("-regtest")
        .arg(format!("-datadir={}", datadir.display()))
        .arg(format!("-rpcport={port}"))
        .arg(format!("-port={}", free_port()))
        .args([
            "-server",
            "-listen=0",
            "-dnsseed=0",
            "-disablewallet",
            "-rpcbind=127.0.0.1",
            "-rpcallowip=127.0.0.1",
            "-printtoconsole=0",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Daemon(cmd.spawn().expect("litecoind"))
}

/// Waits until the node answers; every failure on the way must be transient.
async fn wait_ready(c: &NodeClient) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..300 {
        match c.get_block_count().await {
            Ok(_) => return seen,
            Err(e) => {
                assert!(
                    matches!(e.class(), ErrorClass::Transient { .. })
                        || matches!(e, RpcError::Cookie(_)),
                    "{e:?}"
                );
                seen.push(format!("{:?}", e.class()));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("litecoind did not come up: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's litecoind; optional extra evidence"]
async fn against_litecoind_regtest() {
    if Command::new("litecoind").arg("-version").output().is_err() {
        eprintln!("litecoind not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");

    // Cookie mode first (no -rpcuser): the client reads <datadir>/regtest/.cookie.
    let daemon = start(dir.path(), port, &[]);
    let cookie = dir.path().join("regtest/.cookie");
    let c = NodeClient::new(
        NodeConfig::new(&url, Auth::cookie_file(&cookie))
            .unwrap()
            .with_timeout_ms(5_000),
    );
    let seen = wait_ready(&c).await;
    eprintln!("classes seen while litecoind started: {seen:?}");
    assert_eq!(c.get_blockchain_info().await.unwrap().chain, "regtest");
    drop(daemon);

    // User/password mode.
    let daemon = start(dir.path(), port, &["-rpcuser=u", "-rpcpassword=p"]);
    let c = NodeClient::new(
        NodeConfig::new(&url, Auth::user_pass("u", "p"))
            .unwrap()
            .with_timeout_ms(5_000),
    );
    wait_ready(&c).await;

    let wrong = NodeClient::new(NodeConfig::new(&url, Auth::user_pass("u", "nope")).unwrap());
    let e = wrong.get_block_count().await.unwrap_err();
    assert!(matches!(e, RpcError::Unauthorized { .. }), "{e:?}");
    let e = NodeClient::new(NodeConfig::new(&url, Auth::None).unwrap())
        .get_block_count()
        .await
        .unwrap_err();
    assert!(matches!(e, RpcError::Unauthorized { .. }), "{e:?}");
    let e = NodeClient::new(
        NodeConfig::new(&url, Auth::user_pass("u", "p"))
            .unwrap()
            .with_path("/foo"),
    )
    .get_block_count()
    .await
    .unwrap_err();
    assert!(matches!(e, RpcError::UnknownPath { .. }), "{e:?}");
    let e = c
        .call::<serde_json::Value>("getfoo", &[])
        .await
        .unwrap_err();
    assert!(matches!(e, RpcError::MethodNotFound { .. }), "{e:?}");
    // Litecoin's regtest is not Monacoin's: refused with a clear message.
    let e = c.check_chain(Network::Regtest).await.unwrap_err();
    assert!(matches!(e, RpcError::WrongChain { .. }), "{e:?}");
    eprintln!("check_chain against litecoind: {e}");
    assert_eq!(c.get_block_hash(10_000).await.unwrap(), None);
    assert_eq!(
        c.get_raw_transaction_info(Txid::from_byte_array([3; 32]), None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        c.get_tx_out(Txid::from_byte_array([3; 32]), 0, true)
            .await
            .unwrap(),
        None
    );
    assert_eq!(c.estimate_smart_fee(6, None).await.unwrap().fee_rate, None);
    let o = c.broadcast_raw(&[0xde, 0xad], None).await;
    assert!(
        matches!(
            o,
            BroadcastOutcome::PermanentlyRejected {
                reason: RejectReason::DecodeFailed,
                ..
            }
        ),
        "{o:?}"
    );

    // Mine to our key, spend a mature coinbase, and walk the broadcast outcomes.
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[0x42; 32]).unwrap();
    let pk = CompressedPublicKey(sk.public_key(&secp));
    let spk = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
    let desc = format!("raw({})", spk.to_hex_string());
    let hashes: Vec<bitcoin::BlockHash> = c
        .call("generatetodescriptor", &[101.into(), desc.clone().into()])
        .await
        .unwrap();
    let block = c.get_block(hashes[0]).await.unwrap().unwrap();
    let coinbase = &block.txdata[0];
    let value = coinbase.output[0].value.to_sat();
    let prev = OutPoint::new(coinbase.compute_txid(), 0);
    let sign = |out_value: u64| {
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: prev,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: bitcoin::Amount::from_sat(out_value),
                script_pubkey: spk.clone(),
            }],
        };
        let h = SighashCache::new(&tx)
            .p2wpkh_signature_hash(
                0,
                &spk,
                bitcoin::Amount::from_sat(value),
                EcdsaSighashType::All,
            )
            .unwrap();
        let sig = bitcoin::ecdsa::Signature {
            signature: secp.sign_ecdsa(&Message::from_digest(h.to_byte_array()), &sk),
            sighash_type: EcdsaSighashType::All,
        };
        tx.input[0].witness = Witness::p2wpkh(&sig, &pk.0);
        tx
    };
    let a = sign(value - 100_000);
    let a2 = sign(value - 200_000);
    assert!(c.test_mempool_accept(&a, None).await.unwrap().allowed);
    let o = c.broadcast(&a, None).await;
    assert!(
        matches!(o, BroadcastOutcome::Accepted { txid } if txid == a.compute_txid()),
        "{o:?}"
    );
    let o = c.broadcast(&a, None).await;
    assert!(o.is_success(), "re-send while in mempool: {o:?}");
    let o = c.broadcast(&a2, None).await;
    assert!(
        matches!(
            o,
            BroadcastOutcome::ConflictOrMissingInputs {
                kind: ConflictKind::MempoolConflict,
                ..
            }
        ),
        "{o:?}"
    );
    let entry = c
        .get_mempool_entry(a.compute_txid())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.fees.base.to_wat(), 100_000);
    let _: Vec<bitcoin::BlockHash> = c
        .call("generatetodescriptor", &[1.into(), desc.into()])
        .await
        .unwrap();
    let o = c.broadcast(&a, None).await;
    assert!(
        matches!(
            o,
            BroadcastOutcome::AlreadyKnown {
                state: KnownState::InChain
            }
        ),
        "{o:?}"
    );
    let o = c.broadcast(&a2, None).await;
    assert!(
        matches!(
            o,
            BroadcastOutcome::ConflictOrMissingInputs {
                kind: ConflictKind::MissingOrSpent,
                ..
            }
        ),
        "{o:?}"
    );
    let out = c
        .get_tx_out(a.compute_txid(), 0, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.value.to_wat(), value - 100_000);
    drop(daemon);
}
