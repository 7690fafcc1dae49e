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
