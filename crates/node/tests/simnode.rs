//! The client against `mona-simnode` (the simulated regtest node): every outcome class, every
//! fault kind simnode offers, configuration errors, cookie auth across a node restart, and the
//! typed reads on a live chain.

use std::time::Duration;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    CompressedPublicKey, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use mona::{FeeRate, Network};
use mona_node::{
    Auth, BroadcastOutcome, ConflictKind, DeferReason, Delivery, ErrorClass, KnownState,
    NodeClient, NodeConfig, RejectClass, RejectReason, RpcError,
};
use mona_simnode::{FaultAction, FaultRule, RpcAuth, SimConfig, SimNode, SimNodeHandle};

/// A P2WPKH key of the test (a fixed, public test key).
struct Key {
    sk: SecretKey,
    pk: CompressedPublicKey,
    spk: ScriptBuf,
}

fn key() -> Key {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[0x42; 32]).unwrap();
    let pk = CompressedPublicKey(sk.public_key(&secp));
    let spk = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
    Key { sk, pk, spk }
}

/// A signed 1-in spend of `prev` (worth `prev_value`) to `outputs`.
fn spend(
    k: &Key,
    prev: OutPoint,
    prev_value: u64,
    outputs: Vec<(u64, ScriptBuf)>,
    lock_time: LockTime,
    sequence: Sequence,
) -> Transaction {
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time,
        input: vec![TxIn {
            previous_output: prev,
            script_sig: ScriptBuf::new(),
            sequence,
            witness: Witness::new(),
        }],
        output: outputs
            .into_iter()
            .map(|(v, s)| TxOut {
                value: bitcoin::Amount::from_sat(v),
                script_pubkey: s,
            })
            .collect(),
    };
    let sighash = SighashCache::new(&tx)
        .p2wpkh_signature_hash(
            0,
            &k.spk,
            bitcoin::Amount::from_sat(prev_value),
            EcdsaSighashType::All,
        )
        .unwrap();
    let sig = Secp256k1::new().sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &k.sk);
    let sig = bitcoin::ecdsa::Signature {
        signature: sig,
        sighash_type: EcdsaSighashType::All,
    };
    tx.input[0].witness = Witness::p2wpkh(&sig, &k.pk.0);
    tx
}

fn simple(k: &Key, prev: OutPoint, prev_value: u64, out_value: u64) -> Transaction {
    spend(
        k,
        prev,
        prev_value,
        vec![(out_value, k.spk.clone())],
        LockTime::ZERO,
        Sequence::MAX,
    )
}

async fn start() -> SimNodeHandle {
    SimNode::start(SimConfig::default()).await.unwrap()
}

fn client(node: &SimNodeHandle, timeout_ms: u64) -> NodeClient {
    let (user, password) = node.auth();
    NodeClient::new(
        NodeConfig::new(&node.url(), Auth::user_pass(user, password))
            .unwrap()
            .with_timeout_ms(timeout_ms),
    )
}

const COIN: u64 = 1_000_000; // 0.01 MONA per funded output

/// Funds `n` outputs of `value` to the test key and confirms them.
fn fund(node: &SimNodeHandle, k: &Key, n: usize, value: u64) -> Vec<OutPoint> {
    let ops = (0..n)
        .map(|_| node.fund_script(&k.spk, value).unwrap())
        .collect();
    node.mine(1);
    ops
}

fn name(o: &BroadcastOutcome) -> String {
    match o {
        BroadcastOutcome::Accepted { .. } => "accepted".into(),
        BroadcastOutcome::AlreadyKnown { state } => format!("already_known/{state:?}"),
        BroadcastOutcome::ConflictOrMissingInputs { kind, .. } => format!("conflict/{kind:?}"),
        BroadcastOutcome::PermanentlyRejected { reason, .. } => format!("permanent/{reason:?}"),
        BroadcastOutcome::RetryLater { reason, .. } => format!("retry_later/{reason:?}"),
        BroadcastOutcome::Transient { delivery, .. } => format!("transient/{delivery:?}"),
        BroadcastOutcome::Configuration { .. } => "configuration".into(),
        _ => "unknown".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broadcast_outcome_class_against_simnode() {
    let node = start().await;
    let c = client(&node, 10_000);
    c.check_chain(Network::Regtest).await.unwrap();
    let k = key();
    let ops = fund(&node, &k, 7, COIN);
    let big = fund(&node, &k, 1, 5 * COIN)[0];
    let height = node.height();

    let a = simple(&k, ops[0], COIN, COIN - 20_000);
    let a_conflict = simple(&k, ops[0], COIN, COIN - 30_000);
    let missing = simple(
        &k,
        OutPoint::new(Txid::from_byte_array([7; 32]), 0),
        COIN,
        COIN - 20_000,
    );
    let dust = spend(
        &k,
        ops[1],
        COIN,
        vec![(293, k.spk.clone()), (COIN - 30_000, k.spk.clone())],
        LockTime::ZERO,
        Sequence::MAX,
    );
    let low_fee = simple(&k, ops[2], COIN, COIN - 50);
    let high_fee = simple(&k, big, 5 * COIN, COIN);
    let mut bad_sig = simple(&k, ops[3], COIN, COIN - 20_000);
    {
        let mut items: Vec<Vec<u8>> = bad_sig.input[0]
            .witness
            .iter()
            .map(|w| w.to_vec())
            .collect();
        items[0][10] ^= 0x01; // a bit of r; DER stays valid
        bad_sig.input[0].witness = Witness::from_slice(&items);
    }
    let non_final = spend(
        &k,
        ops[4],
        COIN,
        vec![(COIN - 20_000, k.spk.clone())],
        LockTime::from_height(height + 10).unwrap(),
        Sequence::ENABLE_LOCKTIME_NO_RBF,
    );
    let rbf = spend(
        &k,
        ops[5],
        COIN,
        vec![(COIN - 20_000, k.spk.clone())],
        LockTime::ZERO,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
    );
    let rbf_lower = spend(
        &k,
        ops[5],
        COIN,
        vec![(COIN - 10_000, k.spk.clone())],
        LockTime::ZERO,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
    );

    // testmempoolaccept first (it changes nothing).
    let tma: Vec<(&str, &Transaction, Option<RejectClass>)> = vec![
        ("valid", &a, None),
        (
            "missing",
            &missing,
            Some(RejectClass::Conflict(ConflictKind::MissingOrSpent)),
        ),
        (
            "dust",
            &dust,
            Some(RejectClass::Permanent(RejectReason::Dust)),
        ),
        (
            "low fee",
            &low_fee,
            Some(RejectClass::Permanent(RejectReason::MinRelayFee)),
        ),
        (
            "high fee",
            &high_fee,
            Some(RejectClass::Permanent(RejectReason::AbsurdlyHighFee)),
        ),
        (
            "bad sig",
            &bad_sig,
            Some(RejectClass::Permanent(RejectReason::BadSignature)),
        ),
        (
            "non-final",
            &non_final,
            Some(RejectClass::RetryLater(DeferReason::NonFinal)),
        ),
    ];
    for (case, tx, expected) in tma {
        let r = c.test_mempool_accept(tx, None).await.unwrap();
        assert_eq!(r.txid, tx.compute_txid(), "{case}");
        assert_eq!(r.rejection(), expected, "{case}: {r:?}");
    }

    let sends: Vec<(&str, &Transaction, Option<FeeRate>, &str)> = vec![
        ("valid", &a, None, "accepted"),
        ("again while in mempool", &a, None, "accepted"),
        (
            "double spend, no rbf",
            &a_conflict,
            None,
            "conflict/MempoolConflict",
        ),
        (
            "nonexistent input",
            &missing,
            None,
            "conflict/MissingOrSpent",
        ),
        ("dust output", &dust, None, "permanent/Dust"),
        (
            "below min relay fee",
            &low_fee,
            None,
            "permanent/MinRelayFee",
        ),
        (
            "above maxfeerate",
            &high_fee,
            None,
            "permanent/AbsurdlyHighFee",
        ),
        (
            "above maxfeerate, limit lifted",
            &high_fee,
            Some(FeeRate::ZERO),
            "accepted",
        ),
        ("bad signature", &bad_sig, None, "permanent/BadSignature"),
        ("non-final", &non_final, None, "retry_later/NonFinal"),
        ("rbf original", &rbf, None, "accepted"),
        (
            "rbf replacement paying less",
            &rbf_lower,
            None,
            "conflict/ReplacementRejected",
        ),
    ];
    for (case, tx, max, expected) in sends {
        let o = c.broadcast(tx, max).await;
        assert_eq!(name(&o), expected, "{case}: {o:?}");
    }
    let o = c.broadcast_raw(&[0xde, 0xad, 0xbe, 0xef], None).await;
    assert_eq!(name(&o), "permanent/DecodeFailed", "{o:?}");

    // Mined: a re-send is "already in block chain" (success), its conflict "missing inputs".
    node.mine(1);
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
    assert!(o.is_success());
    let o = c.broadcast(&a_conflict, None).await;
    assert_eq!(name(&o), "conflict/MissingOrSpent");
    let r = c.test_mempool_accept(&a, None).await.unwrap();
    assert_eq!(
        r.rejection(),
        Some(RejectClass::AlreadyKnown(KnownState::InChain))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_or_late_answers_are_unknown_and_the_same_bytes_are_retried() {
    let node = start().await;
    let c = client(&node, 300);
    let k = key();
    let ops = fund(&node, &k, 3, COIN);

    // The Monappy failure: the node accepts, the answer never comes.
    let b = simple(&k, ops[0], COIN, COIN - 20_000);
    node.faults().add(FaultRule::once(
        "sendrawtransaction",
        FaultAction::DropResponse,
    ));
    let o = c.broadcast(&b, None).await;
    assert_eq!(name(&o), "transient/Unknown", "{o:?}");
    assert!(o.needs_investigation() && o.should_retry_same_bytes() && !o.is_success());
    assert!(
        node.mempool_txids().contains(&b.compute_txid()),
        "the node did send it"
    );
    // Retrying the same bytes is safe and reports success.
    let o = c.broadcast(&b, None).await;
    assert!(matches!(o, BroadcastOutcome::Accepted { txid } if txid == b.compute_txid()));

    // The answer comes after the caller's timeout.
    let d = simple(&k, ops[1], COIN, COIN - 20_000);
    node.faults().add(FaultRule::once(
        "sendrawtransaction",
        FaultAction::DelayResponse { ms: 1_500 },
    ));
    let o = c.broadcast(&d, None).await;
    match &o {
        BroadcastOutcome::Transient { delivery, error } => {
            assert_eq!(*delivery, Delivery::Unknown);
            assert!(matches!(error, RpcError::Timeout { .. }), "{error:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(node.mempool_txids().contains(&d.compute_txid()));

    // Reset before processing: the client cannot know, so it is unknown too; the retry works.
    let e = simple(&k, ops[2], COIN, COIN - 20_000);
    node.faults()
        .add(FaultRule::once("sendrawtransaction", FaultAction::Reset));
    let o = c.broadcast(&e, None).await;
    assert_eq!(name(&o), "transient/Unknown", "{o:?}");
    assert!(!node.mempool_txids().contains(&e.compute_txid()));
    assert!(c.broadcast(&e, None).await.is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_map_to_their_classes() {
    let node = start().await;
    let c = client(&node, 300);
    type Check = fn(&RpcError) -> bool;
    let cases: Vec<(&str, FaultAction, Check)> = vec![
        (
            "latency below the timeout",
            FaultAction::Delay { ms: 50 },
            |_| false,
        ),
        (
            "latency above the timeout",
            FaultAction::Delay { ms: 1_000 },
            |e| {
                matches!(
                    e,
                    RpcError::Timeout {
                        delivery: Delivery::Unknown,
                        ..
                    }
                )
            },
        ),
        ("reset", FaultAction::Reset, |e| {
            e.class()
                == ErrorClass::Transient {
                    delivery: Delivery::Unknown,
                }
        }),
        (
            "-28 warming up",
            FaultAction::Error {
                code: -28,
                message: "Loading block index...".into(),
            },
            |e| {
                e.class()
                    == ErrorClass::Transient {
                        delivery: Delivery::Declined,
                    }
            },
        ),
        (
            "503",
            FaultAction::Http {
                status: 503,
                body: "Work queue depth exceeded".into(),
            },
            |e| matches!(e, RpcError::WorkQueueFull { .. }) && e.is_transient(),
        ),
        (
            "injected node error",
            FaultAction::Error {
                code: -1,
                message: "injected".into(),
            },
            |e| e.class() == ErrorClass::Rejected && e.node_message() == Some("injected"),
        ),
    ];
    for (case, action, check) in cases {
        node.faults().add(FaultRule::once("getblockcount", action));
        match c.get_block_count().await {
            Ok(_) => assert!(
                case.starts_with("latency below"),
                "{case}: unexpected success"
            ),
            Err(e) => assert!(check(&e), "{case}: {e:?}"),
        }
        // Faults fire once; the next call works.
        assert!(c.get_block_count().await.is_ok(), "{case}: next call");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_injection_by_rate_is_deterministic_and_classified() {
    async fn pattern(seed: u64) -> Vec<bool> {
        let node = SimNode::start(SimConfig {
            seed,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let c = client(&node, 5_000);
        node.faults().add(FaultRule::with_rate(
            Some("getblockcount"),
            0.5,
            FaultAction::Error {
                code: -1,
                message: "injected".into(),
            },
        ));
        let mut out = Vec::new();
        for _ in 0..24 {
            match c.get_block_count().await {
                Ok(_) => out.push(true),
                Err(e) => {
                    assert_eq!(e.class(), ErrorClass::Rejected, "{e:?}");
                    out.push(false);
                }
            }
            // Other methods are not affected.
            c.get_best_block_hash().await.unwrap();
        }
        out
    }
    let p = pattern(7).await;
    assert!(p.iter().any(|ok| *ok) && p.iter().any(|ok| !*ok), "{p:?}");
    assert_eq!(p, pattern(7).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_work_queue_answers_503() {
    let node = start().await;
    let c = std::sync::Arc::new(client(&node, 5_000));
    node.faults().set_work_queue_limit(Some(1));
    node.faults().add(FaultRule::once(
        "getblockchaininfo",
        FaultAction::Delay { ms: 1_000 },
    ));
    let slow = {
        let c = c.clone();
        tokio::spawn(async move { c.get_blockchain_info().await })
    };
    while node.faults().in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = c.get_block_count().await.unwrap_err();
    assert!(matches!(err, RpcError::WorkQueueFull { .. }), "{err:?}");
    assert_eq!(
        err.class(),
        ErrorClass::Transient {
            delivery: Delivery::Declined
        }
    );
    assert!(slow.await.unwrap().is_ok());
    assert!(c.get_block_count().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_refuse_with_a_clear_message() {
    let node = start().await;
    let url = node.url();

    let wrong =
        NodeClient::new(NodeConfig::new(&url, Auth::user_pass("simnode", "wrong")).unwrap());
    let e = wrong.get_block_count().await.unwrap_err();
    assert!(
        matches!(e, RpcError::Unauthorized { .. }) && e.is_configuration(),
        "{e:?}"
    );
    assert!(!e.to_string().contains("wrong"), "{e}");

    let c = client(&node, 5_000);
    let e = c.check_chain(Network::Mainnet).await.unwrap_err();
    assert!(
        matches!(e, RpcError::WrongChain { .. }) && e.is_configuration(),
        "{e:?}"
    );
    assert!(e.to_string().contains("mainnet"), "{e}");
    assert_eq!(
        c.check_chain(Network::Regtest).await.unwrap(),
        Network::Regtest.genesis_hash()
    );

    let (user, password) = node.auth();
    let bad_path = NodeClient::new(
        NodeConfig::new(&url, Auth::user_pass(user.clone(), password.clone()))
            .unwrap()
            .with_path("/foo"),
    );
    let e = bad_path.get_block_count().await.unwrap_err();
    assert!(
        matches!(e, RpcError::UnknownPath { .. }) && e.is_configuration(),
        "{e:?}"
    );

    let e = c
        .call::<serde_json::Value>("getfoo", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e, RpcError::MethodNotFound { .. }) && e.is_configuration(),
        "{e:?}"
    );

    let no_wallet = NodeClient::new(
        NodeConfig::new(&url, Auth::user_pass(user, password))
            .unwrap()
            .with_path("/wallet/nosuchwallet"),
    );
    let e = no_wallet
        .call::<serde_json::Value>("getbalance", &[])
        .await
        .unwrap_err();
    assert!(e.is_configuration(), "{e:?}");

    // A broadcast refused for configuration reasons is a Configuration outcome.
    let o = wrong.broadcast_raw(&[0u8; 10], None).await;
    assert!(o.is_configuration(), "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_auth_survives_a_node_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig {
        auth: RpcAuth::Cookie {
            datadir: dir.path().to_path_buf(),
        },
        ..SimConfig::default()
    };
    let node = SimNode::start(config.clone()).await.unwrap();
    let port = node.addr().port();
    let cookie = dir.path().join("regtest/.cookie");
    assert_eq!(node.cookie_path(), Some(cookie.as_path()));
    let c = NodeClient::new(
        NodeConfig::new(&node.url(), Auth::cookie_file(&cookie))
            .unwrap()
            .with_timeout_ms(5_000),
    );
    assert_eq!(c.get_block_count().await.unwrap(), u64::from(node.height()));

    // Stop: the cookie is deleted and nothing listens.
    drop(node);
    // The in-runtime server stops when its accept task next runs: let it run before calling.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let e = c.get_block_count().await.unwrap_err();
    assert_eq!(
        e.class(),
        ErrorClass::Transient {
            delivery: Delivery::NotSent
        },
        "{e:?}"
    );

    // Restart on the same port with a new cookie: the client gets 401, re-reads, succeeds.
    let node = SimNode::start(SimConfig {
        rpc_port: port,
        ..config
    })
    .await
    .unwrap();
    assert_eq!(c.get_block_count().await.unwrap(), u64::from(node.height()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_reads_on_a_live_chain() {
    let node = start().await;
    let c = client(&node, 10_000);
    let k = key();
    let op = fund(&node, &k, 1, COIN)[0];
    let tx = simple(&k, op, COIN, COIN - 14_100);
    let txid = tx.compute_txid();
    assert!(c.broadcast(&tx, None).await.is_success());

    let entry = c.get_mempool_entry(txid).await.unwrap().unwrap();
    assert_eq!(entry.fees.base.to_wat(), 14_100);
    assert_eq!(entry.vsize, tx.vsize() as u64);
    assert_eq!(c.get_raw_mempool().await.unwrap(), node.mempool_txids());
    assert_eq!(
        c.get_raw_mempool_verbose().await.unwrap()[&txid]
            .fees
            .base
            .to_wat(),
        14_100
    );
    let out = c.get_tx_out(txid, 0, true).await.unwrap().unwrap();
    assert_eq!((out.value.to_wat(), out.confirmations), (COIN - 14_100, 0));
    assert_eq!(c.get_tx_out(txid, 0, false).await.unwrap(), None);
    assert_eq!(c.get_tx_out(op.txid, op.vout, true).await.unwrap(), None);
    assert_eq!(
        c.get_raw_transaction(txid, None).await.unwrap(),
        Some(tx.clone())
    );

    let block_hash = node.mine(1)[0];
    assert_eq!(c.get_mempool_entry(txid).await.unwrap(), None);
    let block = c.get_block(block_hash).await.unwrap().unwrap();
    assert_eq!(block.block_hash(), block_hash);
    assert!(block.txdata.iter().any(|t| t.compute_txid() == txid));
    let info = c.get_block_info(block_hash).await.unwrap().unwrap();
    assert!(info.tx.contains(&txid) && info.confirmations == 1);
    let header = c.get_block_header(block_hash).await.unwrap().unwrap();
    assert_eq!(header, block.header);
    let hinfo = c.get_block_header_info(block_hash).await.unwrap().unwrap();
    assert_eq!(hinfo.height, u64::from(node.height()));
    let tinfo = c
        .get_raw_transaction_info(txid, Some(block_hash))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (tinfo.in_active_chain, tinfo.block_hash, tinfo.confirmations),
        (Some(true), Some(block_hash), Some(1))
    );
    assert_eq!(tinfo.vout[0].value.to_wat(), COIN - 14_100);

    let bci = c.get_blockchain_info().await.unwrap();
    assert_eq!(
        (bci.chain.as_str(), bci.best_block_hash),
        ("regtest", block_hash)
    );
    assert_eq!(c.get_best_block_hash().await.unwrap(), block_hash);
    assert_eq!(c.get_block_count().await.unwrap(), u64::from(node.height()));
    assert_eq!(
        c.get_block_hash(u64::from(node.height())).await.unwrap(),
        Some(block_hash)
    );
    assert_eq!(c.get_block_hash(1_000_000).await.unwrap(), None);

    assert_eq!(c.estimate_smart_fee(6, None).await.unwrap().fee_rate, None);
    node.set_fee_estimate(Some(123_450));
    assert_eq!(
        c.estimate_smart_fee(6, None).await.unwrap().fee_rate,
        Some(FeeRate::from_wat_per_kvb(123_450))
    );
}
