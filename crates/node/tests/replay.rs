//! The client against a replay server that answers with the recorded real-node responses
//! (monacoind v0.20.3 regtest) byte for byte: the requests must look like the recorded ones, and
//! every recorded answer must be classified as the fixtures' README says.

mod common;

use std::str::FromStr;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Txid};
use common::{compact, header, Fixture, Received, ReplayServer};
use mona::{Amount, FeeRate, Network};
use mona_node::{
    Auth, BroadcastOutcome, ConflictKind, Delivery, ErrorClass, KnownState, MempoolAcceptResult,
    NodeClient, NodeConfig, RawValue, RejectReason, RpcError,
};

const FOLDERS: [&str; 6] = [
    "http",
    "broadcast",
    "chain",
    "mempool",
    "confirmed",
    "cookie",
];
const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn txid(s: &str) -> Txid {
    Txid::from_str(s).unwrap()
}

fn block_hash(s: &str) -> BlockHash {
    BlockHash::from_str(s).unwrap()
}

fn client_for(server: &ReplayServer, fixture: &Fixture, auth: Auth) -> NodeClient {
    let config = NodeConfig::new(&server.url, auth)
        .unwrap()
        .with_path(fixture.request.path.clone())
        .with_timeout_ms(10_000);
    NodeClient::new(config)
}

/// Requests the client cannot produce (it only sends well-formed single POST calls with an
/// integer id and positional params): only their recorded answers are checked.
fn client_can_send(name: &str) -> bool {
    match name.strip_prefix("http/") {
        // 10-28: batches, other ids, jsonrpc 2.0, named or missing params, malformed bodies,
        // GET, text/plain.
        Some(rest) => !(10..=28).contains(&rest[..2].parse::<u32>().unwrap()),
        None => true,
    }
}

fn auth_for(name: &str, cookie: &std::path::Path) -> Auth {
    if name.starts_with("http/02") {
        Auth::user_pass("monarpc", "wrongpassword")
    } else if name.starts_with("http/03") {
        Auth::None
    } else if name.starts_with("cookie/01") {
        Auth::cookie_file(cookie)
    } else {
        Auth::user_pass("monarpc", "pw")
    }
}

/// The request must match the recorded one: line, header names in order, Content-Type,
/// Content-Length and the exact body bytes.
fn assert_request_shape(name: &str, fixture: &Fixture, got: &Received, exact_body: bool) {
    let rec = &fixture.request;
    assert_eq!(got.http_method(), rec.http_method, "{name}: method");
    assert_eq!(got.path(), rec.path, "{name}: path");
    assert!(got.request_line.ends_with(" HTTP/1.1"), "{name}: version");
    let names = |h: &[(String, String)]| h.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&got.headers),
        names(&rec.headers),
        "{name}: header names/order"
    );
    assert_eq!(
        header(&got.headers, "content-type"),
        header(&rec.headers, "content-type"),
        "{name}: content-type"
    );
    if let Some(auth) = header(&rec.headers, "authorization") {
        let sent = header(&got.headers, "authorization").unwrap();
        if auth.contains("redacted") {
            assert!(sent.starts_with("Basic "), "{name}: {sent}");
        } else {
            assert_eq!(sent, auth, "{name}: authorization");
        }
    }
    assert_eq!(
        header(&got.headers, "content-length").unwrap(),
        got.body.len().to_string(),
        "{name}: content-length is the body length"
    );
    if exact_body {
        assert_eq!(
            String::from_utf8_lossy(&got.body),
            String::from_utf8_lossy(&fixture.request_body_bytes()),
            "{name}: body bytes"
        );
        assert_eq!(
            header(&got.headers, "content-length"),
            header(&rec.headers, "content-length"),
            "{name}: content-length"
        );
    }
}

fn describe_outcome(o: &BroadcastOutcome) -> String {
    match o {
        BroadcastOutcome::Accepted { .. } => "accepted".into(),
        BroadcastOutcome::AlreadyKnown { state } => format!("already_known/{state:?}"),
        BroadcastOutcome::ConflictOrMissingInputs { kind, .. } => format!("conflict/{kind:?}"),
        BroadcastOutcome::PermanentlyRejected { reason, .. } => format!("permanent/{reason:?}"),
        BroadcastOutcome::RetryLater { reason, .. } => format!("retry_later/{reason:?}"),
        BroadcastOutcome::Transient { delivery, .. } => format!("transient/{delivery:?}"),
        BroadcastOutcome::Configuration { .. } => "configuration".into(),
        _ => "unknown-variant".into(),
    }
}

fn describe_error(e: &RpcError) -> String {
    match e.class() {
        ErrorClass::Rejected => format!("rejected/{}", e.node_code().unwrap_or(0)),
        ErrorClass::Transient { delivery } => format!("transient/{delivery:?}"),
        ErrorClass::Configuration => "configuration".into(),
    }
}

/// The class of a call's result as the payout machinery sees it.
fn describe(method: &str, params: &[Box<RawValue>], r: Result<Box<RawValue>, RpcError>) -> String {
    match method {
        "sendrawtransaction" => {
            let expected = params
                .first()
                .and_then(|p| serde_json::from_str::<String>(p.get()).ok())
                .and_then(|h| {
                    bitcoin::consensus::encode::deserialize_hex::<bitcoin::Transaction>(&h).ok()
                })
                .map(|t| t.compute_txid());
            let r = r.and_then(|raw| {
                serde_json::from_str::<Txid>(raw.get()).map_err(|e| RpcError::InvalidResponse {
                    method: method.into(),
                    http_status: Some(200),
                    detail: e.to_string(),
                })
            });
            describe_outcome(&BroadcastOutcome::classify(r, expected))
        }
        "testmempoolaccept" => match r {
            Ok(raw) => {
                let v: Vec<MempoolAcceptResult> = serde_json::from_str(raw.get()).unwrap();
                assert_eq!(v.len(), 1);
                match v[0].rejection() {
                    None => "allowed".into(),
                    Some(c) => format!("tma/{c:?}"),
                }
            }
            Err(e) => format!("error/{}", describe_error(&e)),
        },
        _ => match r {
            Ok(_) => "ok".into(),
            Err(e) => format!("error/{}", describe_error(&e)),
        },
    }
}

/// Expected classes of every `broadcast/` fixture (file prefix -> class).
const BROADCAST_EXPECTED: &[(&str, &str)] = &[
    ("a1", "ok"),
    ("a2", "ok"),
    ("a3", "ok"),
    ("a4", "allowed"),
    ("a5", "accepted"),
    ("b1", "accepted"),
    ("b2", "tma/AlreadyKnown(InMempool)"),
    ("c1", "already_known/InChain"),
    ("c2", "tma/AlreadyKnown(InChain)"),
    ("c3", "conflict/MissingOrSpent"),
    ("c4", "tma/Conflict(MissingOrSpent)"),
    ("d1", "accepted"),
    ("d2", "tma/Conflict(MempoolConflict)"),
    ("d3", "conflict/MempoolConflict"),
    ("e1", "accepted"),
    ("e2", "ok"),
    ("e3", "conflict/ReplacementRejected"),
    ("e4", "conflict/ReplacementRejected"),
    ("e5", "allowed"),
    ("e6", "accepted"),
    ("e7", "ok"),
    ("e8", "error/rejected/-5"),
    ("e9", "error/rejected/-5"),
    ("f1", "conflict/MissingOrSpent"),
    ("f2", "tma/Conflict(MissingOrSpent)"),
    ("f3", "conflict/MissingOrSpent"),
    ("f4", "tma/Conflict(MissingOrSpent)"),
    ("f5", "conflict/MissingOrSpent"),
    ("g1", "permanent/Dust"),
    ("g2", "tma/Permanent(Dust)"),
    ("g3", "allowed"),
    ("g4", "tma/Permanent(Dust)"),
    ("g5", "allowed"),
    ("g6", "tma/Permanent(Dust)"),
    ("g7", "allowed"),
    ("h1", "permanent/MinRelayFee"),
    ("h2", "tma/Permanent(MinRelayFee)"),
    ("h3", "tma/Permanent(MinRelayFee)"),
    ("h4", "allowed"),
    ("i1", "permanent/BadSignature"),
    ("i2", "tma/Permanent(BadSignature)"),
    ("i3", "permanent/BadSignature"),
    ("i4", "permanent/BadSignature"),
    ("i5", "permanent/BadSignature"),
    ("i6", "permanent/BadSignature"),
    ("j1", "tma/Permanent(AbsurdlyHighFee)"),
    ("j2", "permanent/AbsurdlyHighFee"),
    ("j3", "allowed"),
    ("j4", "permanent/InvalidRequest"),
    ("j5", "accepted"),
    ("k1", "retry_later/NonFinal"),
    ("k2", "tma/RetryLater(NonFinal)"),
    ("k3", "allowed"),
    ("k4", "retry_later/NonFinal"),
    ("l1", "permanent/DecodeFailed"),
    ("l2", "permanent/DecodeFailed"),
    ("l3", "permanent/DecodeFailed"),
    ("l4", "permanent/DecodeFailed"),
    ("l5", "error/rejected/-22"),
    ("l6", "permanent/InvalidRequest"),
    ("m1", "error/rejected/-8"),
    ("n1", "tma/RetryLater(TooLongMempoolChain)"),
    ("n2", "retry_later/TooLongMempoolChain"),
    ("n3", "ok"),
];

/// Expected classes of the `http/` fixtures (the client's request id is always 1).
const HTTP_EXPECTED: &[(&str, &str)] = &[
    ("01", "ok"),
    ("02", "error/configuration"),
    ("03", "error/configuration"),
    ("04", "error/configuration"),
    ("05", "error/rejected/-1"),
    ("06", "error/rejected/-1"),
    ("07", "error/rejected/-1"),
    ("08", "error/rejected/-8"),
    ("09", "error/rejected/-8"),
    // A batch answer is not an answer to a single call.
    ("10", "error/transient/Unknown"),
    ("11", "error/transient/Unknown"),
    ("12", "error/transient/Unknown"),
    // Replies carrying another id than the request's are refused.
    ("13", "error/transient/Unknown"),
    ("14", "error/transient/Unknown"),
    ("15", "error/transient/Unknown"),
    ("16", "error/transient/Unknown"),
    ("17", "error/transient/Unknown"),
    ("18", "error/configuration"),
    ("19", "error/transient/Unknown"),
    ("20", "error/transient/Unknown"),
    ("21", "error/transient/Unknown"),
    ("22", "error/rejected/-32700"),
    ("23", "error/rejected/-32600"),
    ("24", "error/rejected/-32600"),
    ("25", "error/rejected/-32600"),
    ("26", "error/rejected/-32700"),
    ("27", "error/transient/Unknown"),
    ("28", "ok"),
    ("29", "error/configuration"),
    ("30", "error/configuration"),
    ("31", "ok"),
    ("32", "ok"),
    ("33", "error/configuration"),
];

fn expected_for(name: &str, fixture: &Fixture) -> String {
    let file = name.split('/').nth(1).unwrap();
    let table = if name.starts_with("broadcast/") {
        Some(BROADCAST_EXPECTED)
    } else if name.starts_with("http/") {
        Some(HTTP_EXPECTED)
    } else {
        None
    };
    if let Some(table) = table {
        let key = &file[..2];
        return table
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("{name}: no expected class in the table"))
            .1
            .to_string();
    }
    // chain/, mempool/, confirmed/, cookie/: 200 is ok, otherwise the recorded error code.
    match fixture.response.status {
        200 => "ok".into(),
        401 => "error/configuration".into(),
        _ => {
            let v: serde_json::Value = serde_json::from_str(fixture.response.body.get()).unwrap();
            format!("error/rejected/{}", v["error"]["code"].as_i64().unwrap())
        }
    }
}

#[test]
fn every_recorded_answer_is_rebuilt_byte_exact() {
    let mut n = 0;
    for folder in FOLDERS {
        for name in Fixture::names_in(folder) {
            let f = Fixture::load(&name);
            assert_eq!(
                Some(f.response_body_bytes().len()),
                f.response_content_length(),
                "{name}: rebuilt body length differs from the recorded Content-Length"
            );
            n += 1;
        }
    }
    assert!(n >= 140, "only {n} fixtures found");
}

#[tokio::test]
async fn every_fixture_replayed_sends_the_recorded_request_and_classifies() {
    let dir = tempfile::tempdir().unwrap();
    let cookie = dir.path().join(".cookie");
    std::fs::write(&cookie, format!("__cookie__:{SECRET}")).unwrap();
    let mut checked = 0;
    for folder in FOLDERS {
        for name in Fixture::names_in(folder) {
            let fixture = Fixture::load(&name);
            let server = ReplayServer::start(vec![fixture.response_bytes()]).await;
            let client = client_for(&server, &fixture, auth_for(&name, &cookie));
            let sendable = client_can_send(&name);
            let (method, params) = if sendable {
                (fixture.method().unwrap(), fixture.params_raw().unwrap())
            } else {
                ("getblockcount".to_string(), vec![])
            };
            let result = client.call_raw(&method, &params).await;
            let got = describe(&method, &params, result);
            assert_eq!(got, expected_for(&name, &fixture), "{name}");
            let requests = server.requests();
            assert!(!requests.is_empty(), "{name}: no request received");
            if sendable {
                assert_request_shape(&name, &fixture, &requests[0], true);
            }
            if name.starts_with("http/03") {
                assert!(header(&requests[0].headers, "authorization").is_none());
            }
            checked += 1;
        }
    }
    assert!(checked >= 140, "{checked}");
}

/// Serves one fixture to a typed call and returns the client's request.
async fn typed<T, F, Fut>(name: &str, call: F) -> (T, Received)
where
    F: FnOnce(NodeClient) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let fixture = Fixture::load(name);
    let server = ReplayServer::start(vec![fixture.response_bytes()]).await;
    let client = client_for(&server, &fixture, Auth::user_pass("monarpc", "pw"));
    let out = call(client).await;
    let req = server.requests().remove(0);
    // Typed calls send the recorded params, plus the defaults the recording left out.
    let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    let recorded: serde_json::Value =
        serde_json::from_str(fixture.request.body.as_ref().unwrap().get()).unwrap();
    assert_eq!(sent["method"], recorded["method"], "{name}");
    let sp = sent["params"].as_array().unwrap();
    let rp = recorded["params"].as_array().unwrap();
    assert!(sp.len() >= rp.len(), "{name}: {sp:?} vs {rp:?}");
    assert_eq!(&sp[..rp.len()], &rp[..], "{name}");
    if sp.len() == rp.len() {
        assert_request_shape(name, &fixture, &req, true);
    }
    (out, req)
}

#[tokio::test]
async fn typed_chain_calls_parse_the_recorded_answers() {
    let tip = block_hash("2fa659c8ae2baeef0fb0c4bd2940dad8c2c505439e100b4fd1a0cf4d4f581bac");

    let (n, _) = typed("http/01-correct-call-getblockcount.json", |c| async move {
        c.get_block_count().await
    })
    .await;
    assert_eq!(n.unwrap(), 111);

    let (info, _) = typed("chain/01-getblockchaininfo.json", |c| async move {
        c.get_blockchain_info().await
    })
    .await;
    let info = info.unwrap();
    assert_eq!(
        (
            info.chain.as_str(),
            info.blocks,
            info.best_block_hash,
            info.initial_block_download
        ),
        ("regtest", 111, tip, false)
    );

    let (best, _) = typed("chain/03-getbestblockhash.json", |c| async move {
        c.get_best_block_hash().await
    })
    .await;
    assert_eq!(best.unwrap(), tip);

    let (g, _) = typed("chain/04-getblockhash-0.json", |c| async move {
        c.get_block_hash(0).await
    })
    .await;
    assert_eq!(g.unwrap(), Some(Network::Regtest.genesis_hash()));

    let (none, _) = typed("http/09-invalid-params-out-of-range.json", |c| async move {
        c.get_block_hash(99_999).await
    })
    .await;
    assert_eq!(none.unwrap(), None);

    let (block, _) = typed("chain/06-getblock-111-verbosity0.json", |c| async move {
        c.get_block(tip).await
    })
    .await;
    let block = block.unwrap().unwrap();
    assert_eq!(block.block_hash(), tip);
    assert!(block.check_merkle_root());
    assert_eq!(
        block.txdata[1].compute_txid(),
        txid("3beaf1b0bd371a06ac45ef61b0156c377b2096f7f5b5d687c88efa461cdeb973")
    );

    let (bi, _) = typed("chain/07-getblock-111-verbosity1.json", |c| async move {
        c.get_block_info(tip).await
    })
    .await;
    let bi = bi.unwrap().unwrap();
    assert_eq!((bi.height, bi.confirmations, bi.tx.len()), (111, 1, 2));
    assert_eq!(bi.next_block_hash, None);

    let (hi, _) = typed(
        "chain/09-getblockheader-111-verbose-true.json",
        |c| async move { c.get_block_header_info(tip).await },
    )
    .await;
    let hi = hi.unwrap().unwrap();
    assert!(hi.in_active_chain());
    assert_eq!(hi.merkle_root, block.header.merkle_root);

    let (h, _) = typed(
        "chain/10-getblockheader-111-verbose-false.json",
        |c| async move { c.get_block_header(tip).await },
    )
    .await;
    assert_eq!(h.unwrap().unwrap(), block.header);

    let zero = BlockHash::all_zeros();
    let (h, _) = typed(
        "chain/11-getblockheader-unknown-hash.json",
        |c| async move { c.get_block_header_info(zero).await },
    )
    .await;
    assert_eq!(h.unwrap(), None);

    let ones = block_hash("1111111111111111111111111111111111111111111111111111111111111111");
    let (b, _) = typed("chain/12-getblock-unknown-hash.json", |c| async move {
        c.get_block_info(ones).await
    })
    .await;
    assert_eq!(b.unwrap(), None);

    let (fee, _) = typed("chain/13-estimatesmartfee-6.json", |c| async move {
        c.estimate_smart_fee(6, None).await
    })
    .await;
    let fee = fee.unwrap();
    assert_eq!(fee.fee_rate, None);
    assert_eq!(
        fee.errors,
        vec!["Insufficient data or no feerate found".to_string()]
    );
}

#[tokio::test]
async fn check_chain_accepts_regtest_and_refuses_other_networks() {
    let (ok, _) = typed("chain/04-getblockhash-0.json", |c| async move {
        c.check_chain(Network::Regtest).await
    })
    .await;
    assert_eq!(ok.unwrap(), Network::Regtest.genesis_hash());
    for network in [Network::Mainnet, Network::Testnet] {
        let (err, _) = typed("chain/04-getblockhash-0.json", |c| async move {
            c.check_chain(network).await
        })
        .await;
        let err = err.unwrap_err();
        assert!(matches!(err, RpcError::WrongChain { .. }), "{err:?}");
        assert!(err.is_configuration());
        let msg = err.to_string();
        assert!(
            msg.contains("7543a69d7c2fcdb29a5ebec2fc064c074a35253b6f3072c8a749473aa590a29c"),
            "{msg}"
        );
        assert!(msg.contains(&network.genesis_hash().to_string()), "{msg}");
        assert!(msg.contains(network.name()), "{msg}");
    }
}

#[tokio::test]
async fn typed_transaction_and_mempool_calls_parse_exact_amounts() {
    let a = txid("df844794a15d32ce153a6a32d7664de2c135099e47aaacf1165a357bb86bff41");
    let blk = block_hash("2196542636ec913af88ef682e581f136caebb3239613b5a2c207f48d8c42fd4f");

    let (tx, _) = typed(
        "confirmed/02-getrawtransaction-confirmed-with-blockhash-verbose-false.json",
        |c| async move { c.get_raw_transaction(a, Some(blk)).await },
    )
    .await;
    assert_eq!(tx.unwrap().unwrap().compute_txid(), a);

    let (info, _) = typed(
        "confirmed/03-getrawtransaction-confirmed-with-blockhash-verbose-true.json",
        |c| async move { c.get_raw_transaction_info(a, Some(blk)).await },
    )
    .await;
    let info = info.unwrap().unwrap();
    assert_eq!(info.in_active_chain, Some(true));
    assert_eq!(info.block_hash, Some(blk));
    assert_eq!(info.confirmations, Some(1));
    let values: Vec<u64> = info.vout.iter().map(|o| o.value.to_wat()).collect();
    assert_eq!(values, vec![50_000_000, 49_985_900]);

    let (info, _) = typed(
        "mempool/06-getrawtransaction-mempool-verbose-true.json",
        |c| async move { c.get_raw_transaction_info(a, None).await },
    )
    .await;
    let info = info.unwrap().unwrap();
    assert_eq!(
        (info.in_active_chain, info.block_hash, info.confirmations),
        (None, None, None)
    );

    let missing = txid("243964903cff30b9b445418a44ddf79dee16e73d204cb01ffe74edc67d9fa238");
    let (none, _) = typed(
        "confirmed/05-getrawtransaction-nonexistent.json",
        |c| async move { c.get_raw_transaction_info(missing, None).await },
    )
    .await;
    assert_eq!(none.unwrap(), None);

    let (out, _) = typed(
        "confirmed/07-gettxout-confirmed-unspent.json",
        |c| async move { c.get_tx_out(a, 0, true).await },
    )
    .await;
    let out = out.unwrap().unwrap();
    assert_eq!(out.value, Amount::from_wat(50_000_000).unwrap());
    assert_eq!((out.confirmations, out.coinbase), (1, false));

    let cb = txid("3d09696ef67fa80aa8709e5b47490380fa7f1a9f3cd791db2721dc3a6e103aec");
    let (out, _) = typed("confirmed/10-gettxout-coinbase.json", |c| async move {
        c.get_tx_out(cb, 0, true).await
    })
    .await;
    let out = out.unwrap().unwrap();
    assert_eq!(out.value, Amount::from_mona_str("50").unwrap());
    assert!(out.coinbase);

    let fan = txid("3beaf1b0bd371a06ac45ef61b0156c377b2096f7f5b5d687c88efa461cdeb973");
    let (spent, _) = typed("confirmed/08-gettxout-spent.json", |c| async move {
        c.get_tx_out(fan, 9, true).await
    })
    .await;
    assert_eq!(spent.unwrap(), None);
    let (out, _) = typed(
        "mempool/08-gettxout-mempool-output-include-mempool-false.json",
        |c| async move { c.get_tx_out(a, 0, false).await },
    )
    .await;
    assert_eq!(out.unwrap(), None);
    let (out, _) = typed(
        "mempool/07-gettxout-mempool-output-include-mempool-true.json",
        |c| async move { c.get_tx_out(a, 0, true).await },
    )
    .await;
    assert_eq!(out.unwrap().unwrap().confirmations, 0);

    let (pool, _) = typed("mempool/01-getrawmempool-false.json", |c| async move {
        c.get_raw_mempool().await
    })
    .await;
    assert_eq!(pool.unwrap(), vec![a]);

    let (pool, _) = typed("mempool/02-getrawmempool-true.json", |c| async move {
        c.get_raw_mempool_verbose().await
    })
    .await;
    assert_eq!(pool.unwrap()[&a].fees.base.to_wat(), 14_100);

    let (entry, _) = typed("mempool/03-getmempoolentry.json", |c| async move {
        c.get_mempool_entry(a).await
    })
    .await;
    let entry = entry.unwrap().unwrap();
    assert_eq!(entry.fees.base.to_wat(), 14_100);
    assert_eq!(
        (entry.vsize, entry.ancestor_count, entry.bip125_replaceable),
        (141, 1, false)
    );
    assert_eq!(
        FeeRate::from_fee_and_vsize(entry.fees.base, entry.vsize),
        Some(FeeRate::from_wat_per_vb(100))
    );

    let rbf = txid("fb51b617087025fa14da462cdfc8d1601ae055f51d82baa74b3844850db8d5d5");
    let (entry, _) = typed("broadcast/e2-getmempoolentry-rbf.json", |c| async move {
        c.get_mempool_entry(rbf).await
    })
    .await;
    let entry = entry.unwrap().unwrap();
    assert!(entry.bip125_replaceable);
    assert_eq!(entry.fees.base.to_wat(), 100_000);

    let (gone, _) = typed(
        "broadcast/e8-getmempoolentry-replaced.json",
        |c| async move { c.get_mempool_entry(rbf).await },
    )
    .await;
    assert_eq!(gone.unwrap(), None);
}

fn first_param_hex(name: &str) -> String {
    let f = Fixture::load(name);
    let v: serde_json::Value =
        serde_json::from_str(f.request.body.as_ref().unwrap().get()).unwrap();
    let p = &v["params"][0];
    p.as_str().or_else(|| p[0].as_str()).unwrap().to_string()
}

#[tokio::test]
async fn typed_broadcast_calls_send_the_recorded_bytes() {
    let a5 = "broadcast/a5-sendrawtransaction-valid.json";
    let hex = first_param_hex(a5);
    let tx: bitcoin::Transaction = bitcoin::consensus::encode::deserialize_hex(&hex).unwrap();
    let a = txid("df844794a15d32ce153a6a32d7664de2c135099e47aaacf1165a357bb86bff41");

    let (o, _) = typed(a5, |c| async move { c.broadcast(&tx, None).await }).await;
    assert!(
        matches!(o, BroadcastOutcome::Accepted { txid } if txid == a),
        "{o:?}"
    );

    let h = hex.clone();
    let (r, _) = typed(
        a5,
        |c| async move { c.send_raw_transaction_hex(&h, None).await },
    )
    .await;
    assert_eq!(r.unwrap(), a);

    // maxfeerate 0 is sent as the recorded `0`.
    let j5 = "broadcast/j5-sendrawtransaction-maxfeerate-0.json";
    let hex_j = first_param_hex(j5);
    let raw_j = Vec::<u8>::from_str_hex(&hex_j);
    let (o, _) = typed(j5, |c| async move {
        c.broadcast_raw(&raw_j, Some(FeeRate::ZERO)).await
    })
    .await;
    assert!(o.is_success(), "{o:?}");

    let c1 = "broadcast/c1-sendrawtransaction-already-in-chain.json";
    let raw_c = Vec::<u8>::from_str_hex(&first_param_hex(c1));
    let (o, _) = typed(c1, |c| async move { c.broadcast_raw(&raw_c, None).await }).await;
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

    let c3 = "broadcast/c3-sendrawtransaction-confirmed-all-outputs-spent.json";
    let raw = Vec::<u8>::from_str_hex(&first_param_hex(c3));
    let (o, _) = typed(c3, |c| async move { c.broadcast_raw(&raw, None).await }).await;
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
    assert!(o.needs_investigation() && !o.is_permanent_failure());

    let j2 = "broadcast/j2-sendrawtransaction-fee-above-maxfeerate.json";
    let raw = Vec::<u8>::from_str_hex(&first_param_hex(j2));
    let (o, _) = typed(j2, |c| async move { c.broadcast_raw(&raw, None).await }).await;
    match o {
        BroadcastOutcome::PermanentlyRejected { reason, message } => {
            assert_eq!(reason, RejectReason::AbsurdlyHighFee);
            assert_eq!(message, "absurdly-high-fee, 50000000 > 1100000");
        }
        other => panic!("{other:?}"),
    }

    let a4 = "broadcast/a4-testmempoolaccept-valid.json";
    let h = first_param_hex(a4);
    let (r, _) = typed(
        a4,
        |c| async move { c.test_mempool_accept_hex(&h, None).await },
    )
    .await;
    let r = r.unwrap();
    assert!(r.allowed && r.rejection().is_none());

    let j3 = "broadcast/j3-testmempoolaccept-maxfeerate-0.json";
    let h = first_param_hex(j3);
    let (r, _) = typed(j3, |c| async move {
        c.test_mempool_accept_hex(&h, Some(FeeRate::ZERO)).await
    })
    .await;
    assert!(r.unwrap().allowed);
}

#[tokio::test]
async fn cookie_auth_sends_the_cookie_and_rereads_it_after_401() {
    let dir = tempfile::tempdir().unwrap();
    let cookie = dir.path().join(".cookie");
    std::fs::write(&cookie, format!("__cookie__:{SECRET}")).unwrap();
    let ok = Fixture::load("cookie/01-getblockcount-cookie-auth.json");
    let refused = Fixture::load("cookie/02-rpcuser-credentials-rejected-in-cookie-mode.json");
    // 1st call ok; the node "restarts" (new cookie); the 2nd call's first try gets 401, the
    // client re-reads the file and the retry succeeds.
    let server = ReplayServer::start_with(
        vec![
            ok.response_bytes(),
            refused.response_bytes(),
            ok.response_bytes(),
        ],
        true,
    )
    .await;
    let client = client_for(&server, &ok, Auth::cookie_file(&cookie));
    assert_eq!(client.get_block_count().await.unwrap(), 121);
    let new_secret = "f".repeat(64);
    std::fs::write(&cookie, format!("__cookie__:{new_secret}")).unwrap();
    assert_eq!(client.get_block_count().await.unwrap(), 121);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    let basic = |s: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("__cookie__:{s}"))
        )
    };
    let auth = |i: usize| {
        header(&reqs[i].headers, "authorization")
            .unwrap()
            .to_string()
    };
    assert_eq!(auth(0), basic(SECRET));
    assert_eq!(auth(1), basic(SECRET));
    assert_eq!(auth(2), basic(&new_secret));
    assert_request_shape("cookie/01", &ok, &reqs[0], false);

    // A user/password client gets 401 once and reports it as a configuration error.
    let server = ReplayServer::start(vec![refused.response_bytes()]).await;
    let client = client_for(&server, &refused, Auth::user_pass("monarpc", "pw"));
    let err = client.get_block_count().await.unwrap_err();
    assert!(
        matches!(err, RpcError::Unauthorized { .. }) && err.is_configuration(),
        "{err:?}"
    );
    assert!(!err.to_string().contains("pw"));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_missing_cookie_file_is_transient_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ok = Fixture::load("cookie/01-getblockcount-cookie-auth.json");
    let server = ReplayServer::start(vec![ok.response_bytes()]).await;
    let client = client_for(&server, &ok, Auth::cookie_file(dir.path().join(".cookie")));
    let err = client.get_block_count().await.unwrap_err();
    assert_eq!(
        err.class(),
        ErrorClass::Transient {
            delivery: Delivery::NotSent
        }
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn estimatesmartfee_with_an_estimate_is_exact() {
    let body = "{\"result\":{\"feerate\":0.00101000,\"blocks\":2},\"error\":null,\"id\":1}\n";
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let server = ReplayServer::start(vec![resp.into_bytes()]).await;
    let client = NodeClient::new(NodeConfig::new(&server.url, Auth::user_pass("u", "p")).unwrap());
    let est = client
        .estimate_smart_fee(2, Some(mona_node::EstimateMode::Economical))
        .await
        .unwrap();
    assert_eq!(est.fee_rate, Some(FeeRate::from_wat_per_kvb(101_000)));
    assert_eq!(est.blocks, 2);
    let sent = String::from_utf8(server.requests()[0].body.clone()).unwrap();
    assert_eq!(
        sent,
        compact(
            r#"{"jsonrpc":"1.0","id":1,"method":"estimatesmartfee","params":[2,"ECONOMICAL"]}"#
        )
    );
}

trait FromStrHex {
    fn from_str_hex(s: &str) -> Vec<u8>;
}

impl FromStrHex for Vec<u8> {
    fn from_str_hex(s: &str) -> Vec<u8> {
        use bitcoin::hex::FromHex;
        Vec::<u8>::from_hex(s).unwrap()
    }
}
