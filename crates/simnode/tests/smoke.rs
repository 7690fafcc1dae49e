//! End-to-end smoke test over HTTP: mine, fund, send, confirm.
mod common;

use common::*;
use mona_simnode::{SimConfig, SimNode};

#[test]
fn mine_fund_send_confirm_over_http() {
    let h = SimNode::start_background(SimConfig::default()).unwrap();
    let r = rpc_raw(
        &h,
        "/",
        r#"{"jsonrpc":"1.0","id":1,"method":"getblockcount","params":[]}"#,
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "{\"result\":0,\"error\":null,\"id\":1}\n")
    );
    assert_eq!(r.header_names(), ["Content-Type", "Date", "Content-Length"]);

    let key = TestKey::new(7);
    let addr = key.address_wpkh();
    let r = rpc_raw(
        &h,
        "/",
        &format!(r#"{{"id":2,"method":"generatetoaddress","params":[101,"{addr}"]}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.height(), 101);

    // spend the first coinbase (mature at 101) to a new key
    let cb_hash = h.with_state(|st| st.chain.hash_at(1).unwrap());
    let cb = h.with_state(|st| st.chain.get(&cb_hash).unwrap().block.txdata[0].clone());
    let prev = cb.output[0].clone();
    let dest = TestKey::new(8);
    let mut tx = unsigned_tx(
        &[(bitcoin::OutPoint::new(cb.compute_txid(), 0), 0xffff_ffff)],
        &[(dest.p2wpkh(), 49_9999_0000)],
        0,
    );
    key.sign_input(&mut tx, 0, &prev);
    let r = rpc_raw(
        &h,
        "/",
        &format!(
            r#"{{"id":3,"method":"sendrawtransaction","params":["{}"]}}"#,
            tx_hex(&tx)
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json().get("result").unwrap().as_str().unwrap(),
        tx.compute_txid().to_string()
    );

    let r = rpc_raw(
        &h,
        "/",
        &format!(r#"{{"id":4,"method":"generatetoaddress","params":[1,"{addr}"]}}"#),
    );
    let hash = r.json().get("result").unwrap().as_array().unwrap()[0]
        .as_str()
        .unwrap()
        .to_string();
    let r = rpc_raw(
        &h,
        "/",
        &format!(r#"{{"id":5,"method":"getblock","params":["{hash}",1]}}"#),
    );
    let txs = r
        .json()
        .get("result")
        .unwrap()
        .get("tx")
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(txs, 2);
    assert!(h.mempool_txids().is_empty());

    // faucet funding works
    let op = h.fund_address(&dest.address_wpkh(), 150_000_000).unwrap();
    h.mine(1);
    assert_eq!(h.utxo(&op).unwrap().value.to_sat(), 150_000_000);
}
