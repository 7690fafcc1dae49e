//! Cold withdrawals through the API without an engine: a withdrawal above `max_payout` is
//! shown as awaiting a cold signature, with the open proposal paying it; `GET /v1/topups` lists
//! proposals of both purposes; a malformed cold-withdrawal proposal request is refused and
//! changes nothing.

use hyper::Method;
use mona_ledger::{Ledger, TopUpProposal, TopUpState};
use serde_json::json;

use crate::common::{payee, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_withdrawals_show_their_cold_proposal() {
    let h = Harness::start(|_| {}).await; // max_payout 100 MONA
    let big = json!({"id": "big", "address": payee(1), "amount": "150"});
    let r = h.call(Method::POST, "/v1/withdrawals", Some(big)).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["awaiting_cold_signature"], true);
    let small = json!({"id": "small", "address": payee(2), "amount": "100"});
    let r = h.call(Method::POST, "/v1/withdrawals", Some(small)).await;
    assert_eq!(
        r.json()["awaiting_cold_signature"],
        false,
        "at max_payout: paid hot"
    );

    let w = h
        .call(Method::GET, "/v1/withdrawals/big", None)
        .await
        .json();
    assert_eq!(
        (
            w["awaiting_cold_signature"].as_bool(),
            w["proposal_id"].as_str()
        ),
        (Some(true), None),
        "{w}"
    );
    let proposal = TopUpProposal {
        id: "topup-cw".into(),
        withdrawal_id: Some("big".into()),
        psbt: vec![0x70, 0x73, 0x62, 0x74, 0xff],
        unsigned_txid: bitcoin::hashes::Hash::from_byte_array([7; 32]),
        amount_wat: 150 * 100_000_000,
        state: TopUpState::Open,
        close_note: None,
    };
    h.ledger.open_topup(&proposal).unwrap();
    let w = h
        .call(Method::GET, "/v1/withdrawals/big", None)
        .await
        .json();
    assert_eq!(w["proposal_id"], "topup-cw", "{w}");
    let w = h
        .call(Method::GET, "/v1/withdrawals/small", None)
        .await
        .json();
    assert_eq!(w["proposal_id"], serde_json::Value::Null, "{w}");

    let list = h.call(Method::GET, "/v1/topups", None).await;
    assert_eq!(list.status, 200);
    let list = list.json();
    assert_eq!(
        list["proposals"],
        json!([{
            "id": "topup-cw",
            "purpose": "cold_withdrawal",
            "withdrawal_id": "big",
            "amount": "150",
            "state": "open",
            "unsigned_txid": proposal.unsigned_txid.to_string(),
            "close_note": null,
        }])
    );
    let full = h
        .call(Method::GET, "/v1/topups/topup-cw/psbt", None)
        .await
        .json();
    assert_eq!(
        (full["purpose"].as_str(), full["withdrawal_id"].as_str()),
        (Some("cold_withdrawal"), Some("big"))
    );

    // Refused requests change nothing.
    let before = h.snapshot();
    let cases = [
        (
            "amount and withdrawal_id",
            json!({"withdrawal_id": "big", "amount": "1"}),
            422,
            "bad_request",
        ),
        ("bad id", json!({"withdrawal_id": "a b"}), 422, "bad_id"),
        (
            "not a string",
            json!({"withdrawal_id": 5}),
            422,
            "bad_request",
        ),
        (
            "no engine",
            json!({"withdrawal_id": "big"}),
            501,
            "not_implemented",
        ),
    ];
    for (name, body, status, code) in cases {
        let r = h.call(Method::POST, "/v1/topups", Some(body)).await;
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (status, Some(code)),
            "case {name}"
        );
    }
    assert_eq!(h.snapshot(), before);
    h.stop().await;
}
