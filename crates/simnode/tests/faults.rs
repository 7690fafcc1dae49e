//! Fault injection over HTTP: every fault kind, through the Rust API and POST /control.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use mona_simnode::{FaultAction, FaultRule, SimConfig, SimNode, SimNodeHandle};

const COUNT: &str = r#"{"jsonrpc":"1.0","id":1,"method":"getblockcount","params":[]}"#;

/// A signed, valid transaction spending a fresh faucet-funded output.
fn valid_tx(h: &SimNodeHandle) -> bitcoin::Transaction {
    let key = TestKey::new(3);
    let op = h.fund_script(&key.p2wpkh(), 100_000_000).unwrap();
    h.mine(1);
    let prev = h.utxo(&op).unwrap();
    let mut tx = unsigned_tx(
        &[(op, 0xffff_ffff)],
        &[(TestKey::new(4).p2wpkh(), 99_990_000)],
        0,
    );
    key.sign_input(&mut tx, 0, &prev);
    tx
}

/// Raw exchange that reports what came back: Ok(bytes) (maybe empty) or the io error.
fn raw_exchange(h: &SimNodeHandle, body: &str) -> std::io::Result<Vec<u8>> {
    let (u, p) = h.auth();
    let mut s = TcpStream::connect(h.addr())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn drop_response_applies_the_transaction_but_never_answers() {
    let h = SimNode::start_background(SimConfig::default()).unwrap();
    let tx = valid_tx(&h);
    h.faults().add(FaultRule::once(
        "sendrawtransaction",
        FaultAction::DropResponse,
    ));
    let body = format!(
        r#"{{"id":1,"method":"sendrawtransaction","params":["{}"]}}"#,
        tx_hex(&tx)
    );
    let got = raw_exchange(&h, &body);
    assert!(got.map(|b| b.is_empty()).unwrap_or(true), "no HTTP answer");
    assert_eq!(
        h.mempool_txids(),
        vec![tx.compute_txid()],
        "but the node accepted it"
    );
    // resending the same bytes is a success (already in mempool)
    let r = rpc_raw(&h, "/", &body);
    assert_eq!(r.status, 200);
}

#[test]
fn delayed_response_still_applies() {
    let h = SimNode::start_background(SimConfig::default()).unwrap();
    let tx = valid_tx(&h);
    h.faults().add(FaultRule::once(
        "sendrawtransaction",
        FaultAction::DelayResponse { ms: 300 },
    ));
    let (u, p) = h.auth();
    let mut s = TcpStream::connect(h.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let body = format!(
        r#"{{"id":1,"method":"sendrawtransaction","params":["{}"]}}"#,
        tx_hex(&tx)
    );
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
    s.write_all(
        format!(
            "POST / HTTP/1.1\r\nAuthorization: Basic {auth}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut buf = [0u8; 16];
    assert!(s.read(&mut buf).is_err(), "caller times out first");
    // the transaction is in the mempool even though the caller gave up
    for _ in 0..100 {
        if !h.mempool_txids().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(h.mempool_txids(), vec![tx.compute_txid()]);
}

#[test]
fn work_queue_full_answers_503() {
    let h = SimNode::start_background(SimConfig::default()).unwrap();
    h.faults().set_work_queue_limit(Some(1));
    h.faults().add(FaultRule::once(
        "getblockcount",
        FaultAction::Delay { ms: 400 },
    ));
    let addr = h.addr();
    let (u, p) = h.auth();
    let slow = std::thread::spawn(move || {
        http(
            addr,
            "POST",
            "/",
            Some((&u, &p)),
            Some("application/json"),
            COUNT.as_bytes(),
        )
        .unwrap()
    });
    // wait until the slow call occupies the queue
    for _ in 0..200 {
        if h.faults().in_flight() == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let r = rpc_raw(&h, "/", COUNT);
    assert_eq!(
        (r.status, r.text().as_str()),
        (503, "Work queue depth exceeded")
    );
    assert_eq!(r.header_names(), ["Date", "Content-Length", "Content-Type"]);
    assert_eq!(slow.join().unwrap().status, 200);
    assert_eq!(rpc_raw(&h, "/", COUNT).status, 200);
}

#[test]
fn reset_and_injected_errors() {
    let h = SimNode::start_background(SimConfig::default()).unwrap();
    h.faults()
        .add(FaultRule::once("getblockcount", FaultAction::Reset));
    let got = raw_exchange(&h, COUNT);
    assert!(got.map(|b| b.is_empty()).unwrap_or(true));
    h.faults().add(FaultRule::once(
        "getblockcount",
        FaultAction::Error {
            code: -28,
            message: "Loading block index...".into(),
        },
    ));
    let r = rpc_raw(&h, "/", COUNT);
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "{\"result\":null,\"error\":{\"code\":-28,\"message\":\"Loading block index...\"},\"id\":1}\n");
    assert_eq!(rpc_raw(&h, "/", COUNT).status, 200, "fired once only");
}

#[test]
fn control_endpoint_drives_faults_and_chain() {
    let h = SimNode::start_background(SimConfig::default()).unwrap();
    let ctl = |body: &str| rpc_raw(&h, "/control", body);
    let r = ctl(
        r#"{"command":"add_fault","rule":{"method":"getblockcount","times":1,"action":{"kind":"http","status":503,"body":"Work queue depth exceeded"}}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(rpc_raw(&h, "/", COUNT).status, 503);
    let r = ctl(r#"{"command":"mine","blocks":3}"#);
    assert_eq!(r.status, 200);
    assert_eq!(h.height(), 3);
    let r = ctl(r#"{"command":"set_fee_estimate","feerate":"0.00020000"}"#);
    assert_eq!(r.status, 200);
    let r = rpc_raw(
        &h,
        "/",
        r#"{"id":1,"method":"estimatesmartfee","params":[6]}"#,
    );
    assert_eq!(
        r.text(),
        "{\"result\":{\"feerate\":0.00020000,\"blocks\":6},\"error\":null,\"id\":1}\n"
    );
    let key = TestKey::new(9);
    let r = ctl(&format!(
        r#"{{"command":"fund","address":"{}","amount":"2.5"}}"#,
        key.address_wpkh()
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.mempool_txids().len(), 1);
    assert_eq!(ctl(r#"{"command":"nope"}"#).status, 400);
    let bad_auth = http(h.addr(), "POST", "/control", Some(("x", "y")), None, b"{}").unwrap();
    assert_eq!(bad_auth.status, 401);
}

#[test]
fn latency_is_injected_per_method_only() {
    let h = SimNode::start_background(SimConfig::default()).unwrap();
    h.faults().add(FaultRule::always(
        Some("getbestblockhash"),
        FaultAction::Delay { ms: 200 },
    ));
    let (u, p) = h.auth();
    let mut s = TcpStream::connect(h.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
    let body = r#"{"id":1,"method":"getbestblockhash"}"#;
    s.write_all(
        format!(
            "POST / HTTP/1.1\r\nAuthorization: Basic {auth}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut buf = [0u8; 16];
    assert!(
        s.read(&mut buf).is_err(),
        "delayed beyond the caller's 50 ms"
    );
    assert_eq!(
        rpc_raw(&h, "/", COUNT).status,
        200,
        "other methods unaffected"
    );
}

/// `sendrawtransaction_calls` through `POST /control`.
fn calls_over_control(h: &SimNodeHandle, txid: bitcoin::Txid) -> u64 {
    let r = rpc_raw(
        h,
        "/control",
        &format!(r#"{{"command":"sendrawtransaction_calls","txid":"{txid}"}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["calls"].as_u64().unwrap()
}

#[test]
fn sendrawtransaction_calls_are_counted_per_txid_when_executed() {
    let h = SimNode::start_background(SimConfig::default()).unwrap();
    let tx = valid_tx(&h);
    let txid = tx.compute_txid();
    let body = format!(
        r#"{{"id":1,"method":"sendrawtransaction","params":["{}"]}}"#,
        tx_hex(&tx)
    );
    assert_eq!(h.sendrawtransaction_calls(&txid), 0);
    // name, fault before the call, calls counted afterwards
    let cases: [(&str, Option<FaultAction>, u32); 4] = [
        ("answered", None, 1),
        (
            "answer dropped: executed",
            Some(FaultAction::DropResponse),
            2,
        ),
        (
            "error fault: never executed",
            Some(FaultAction::Error {
                code: -28,
                message: "Loading block index...".into(),
            }),
            2,
        ),
        ("already in the mempool: executed", None, 3),
    ];
    for (name, fault, want) in cases {
        match fault {
            // No answer will come: read until the node closes the connection.
            Some(FaultAction::DropResponse) => {
                h.faults().add(FaultRule::once(
                    "sendrawtransaction",
                    FaultAction::DropResponse,
                ));
                let _ = raw_exchange(&h, &body);
            }
            Some(a) => {
                h.faults().add(FaultRule::once("sendrawtransaction", a));
                let _ = rpc_raw(&h, "/", &body);
            }
            None => {
                let _ = rpc_raw(&h, "/", &body);
            }
        }
        assert_eq!(h.sendrawtransaction_calls(&txid), want, "{name}");
        assert_eq!(calls_over_control(&h, txid), u64::from(want), "{name}");
    }
    // The in-process API is not the client's RPC: not counted.
    let other = valid_tx(&h);
    h.submit_transaction(&other).unwrap();
    assert_eq!(h.sendrawtransaction_calls(&other.compute_txid()), 0);
    let bad = rpc_raw(
        &h,
        "/control",
        r#"{"command":"sendrawtransaction_calls","txid":"zz"}"#,
    );
    assert_eq!(bad.status, 400);
}

#[test]
fn a_reorg_readds_disconnected_transactions_unless_told_to_drop_them() {
    // name, switch through /control (after switching off with the Rust API), re-add
    let cases = [
        ("core's default", None, true),
        ("dropped, through /control", Some(false), false),
        (
            "re-add switched back on, through /control",
            Some(true),
            true,
        ),
    ];
    for (name, control, readd) in cases {
        let h = SimNode::start_background(SimConfig::default()).unwrap();
        if let Some(enabled) = control {
            // Switched off first, so the third case proves that switching back on works.
            h.set_readd_disconnected(false);
            let r = rpc_raw(
                &h,
                "/control",
                &format!(r#"{{"command":"set_readd_disconnected","enabled":{enabled}}}"#),
            );
            assert_eq!(r.status, 200, "{name}: {}", r.text());
        }
        let tx = valid_tx(&h);
        let txid = tx.compute_txid();
        h.submit_transaction(&tx).unwrap();
        let block = h.mine(1)[0];
        assert!(h.mempool_txids().is_empty(), "{name}");
        assert!(h.invalidate_block(block));
        h.mine(2); // a longer branch without it
        let in_pool = h.mempool_txids().contains(&txid);
        let on_chain = h.with_state(|st| st.chain.find_tx(&txid).is_some());
        if readd {
            assert!(in_pool || on_chain, "{name}: put back and mined again");
        } else {
            assert!(!in_pool && !on_chain, "{name}: dropped by the reorg");
            // Only a client that sends it again gets it mined again (same bytes, same txid).
            let body = format!(
                r#"{{"id":1,"method":"sendrawtransaction","params":["{}"]}}"#,
                tx_hex(&tx)
            );
            let r = rpc_raw(&h, "/", &body);
            assert_eq!(r.status, 200, "{name}: {}", r.text());
            assert_eq!(h.sendrawtransaction_calls(&txid), 1, "{name}");
            h.mine(1);
            assert!(
                h.with_state(|st| st.chain.find_tx(&txid).is_some()),
                "{name}"
            );
        }
    }
    let h = SimNode::start_background(SimConfig::default()).unwrap();
    let r = rpc_raw(
        &h,
        "/control",
        r#"{"command":"set_readd_disconnected","enabled":"no"}"#,
    );
    assert_eq!(r.status, 400);
}
