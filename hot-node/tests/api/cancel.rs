//! `POST /v1/topups/{id}/cancel {reason}`: an open proposal treasury will not sign is closed
//! as cancelled (200, the reason audited), after which another proposal can be opened; a
//! second cancel is 409, an unknown id 404, a bad reason 422, a missing or wrong token 401,
//! and none of the refusals changes anything.

use hot_node::client::ApiClient;
use hot_node::secret::ApiToken;
use hyper::Method;
use mona_ledger::{Intake, Ledger, TopUpProposal, TopUpState};
use serde_json::json;

use crate::common::Harness;

fn proposal(id: &str, byte: u8) -> TopUpProposal {
    TopUpProposal {
        id: id.into(),
        withdrawal_id: None,
        psbt: vec![0x70, 0x73, 0x62, 0x74, 0xff, byte],
        unsigned_txid: bitcoin::hashes::Hash::from_byte_array([byte; 32]),
        amount_wat: 30 * 100_000_000,
        state: TopUpState::Open,
        close_note: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_closes_the_open_proposal_once_and_refusals_change_nothing() {
    let h = Harness::start(|_| {}).await;
    h.ledger.open_topup(&proposal("topup-stuck", 1)).unwrap();
    // While it is open, no other proposal can be opened.
    assert!(h.ledger.open_topup(&proposal("topup-next", 2)).is_err());

    let path = "/v1/topups/topup-stuck/cancel";
    let before = h.snapshot();
    let refusals: [(&str, &str, serde_json::Value, u16, &str); 6] = [
        (
            "empty reason",
            path,
            json!({"reason": ""}),
            422,
            "bad_reason",
        ),
        (
            "blank reason",
            path,
            json!({"reason": "   "}),
            422,
            "bad_reason",
        ),
        (
            "oversized reason",
            path,
            json!({"reason": "x".repeat(1025)}),
            422,
            "bad_reason",
        ),
        ("missing reason", path, json!({}), 422, "bad_request"),
        (
            "unknown proposal",
            "/v1/topups/topup-nope/cancel",
            json!({"reason": "treasury refused"}),
            404,
            "topup_not_found",
        ),
        (
            "malformed id",
            "/v1/topups/bad%20id/cancel",
            json!({"reason": "treasury refused"}),
            422,
            "bad_id",
        ),
    ];
    for (name, p, body, status, code) in refusals {
        let r = h.call(Method::POST, p, Some(body)).await;
        assert_eq!(r.status, status, "{name}: {:?}", r.json());
        assert_eq!(r.json()["code"], code, "{name}");
    }
    // No token, a wrong token: 401.
    let body = json!({"reason": "treasury refused"});
    for (name, client) in [
        ("no token", h.public()),
        (
            "wrong token",
            ApiClient::new(h.addr, Some(ApiToken::generate())),
        ),
    ] {
        let r = client.call(Method::POST, path, Some(&body)).await.unwrap();
        assert_eq!(r.status, 401, "{name}");
    }
    assert_eq!(h.snapshot(), before, "a refusal changed the ledger");
    assert_eq!(
        h.ledger.topup("topup-stuck").unwrap().unwrap().state,
        TopUpState::Open
    );

    // Cancelled: 200 with the proposal, the reason recorded and audited.
    let reason = "treasury will not sign: fee too high";
    let r = h
        .call(Method::POST, path, Some(json!({ "reason": reason })))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let v = r.json();
    assert_eq!(
        (
            v["id"].as_str(),
            v["state"].as_str(),
            v["close_note"].as_str()
        ),
        (Some("topup-stuck"), Some("cancelled"), Some(reason)),
        "{v}"
    );
    let head = h.ledger.audit_head().unwrap();
    let audit = h
        .ledger
        .audit_entries(head.seq.saturating_sub(5).max(1), 10)
        .unwrap();
    assert!(
        audit.iter().any(|e| e.kind == "topup.closed"
            && e.subject == "topup-stuck"
            && e.detail.contains("cancelled")
            && e.detail.contains("fee too high")),
        "{audit:?}"
    );

    // A second cancel: 409, nothing changes.
    let before = h.snapshot();
    let r = h
        .call(Method::POST, path, Some(json!({"reason": "again"})))
        .await;
    assert_eq!(r.status, 409, "{:?}", r.json());
    assert_eq!(r.json()["code"], "conflict");
    assert_eq!(h.snapshot(), before);
    let t = h.ledger.topup("topup-stuck").unwrap().unwrap();
    assert_eq!(
        t.close_note.as_deref(),
        Some(reason),
        "the first reason stays"
    );

    // The way is free for the next proposal.
    assert!(matches!(
        h.ledger.open_topup(&proposal("topup-next", 2)).unwrap(),
        Intake::Created(_)
    ));
    h.stop().await;
}
