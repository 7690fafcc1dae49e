//! "Bounded queue, never an unbounded wait" down to the ledger: when the SQLite store's write
//! queue is full, intake routes answer 503 `overloaded` with `Retry-After` at once and change
//! nothing; once there is room the same request succeeds. Deterministic: the test holds the
//! ledger's writer inside a job and fills its one-slot queue itself (no timing).

use crate::common::{payee, Harness};
use hot_node::secret::ApiToken;
use hyper::Method;
use mona_ledger::{Destination, Intake, Ledger, SqliteLedger, SqliteOptions, WithdrawalRequest};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_ledger_queue_answers_503_overloaded_with_retry_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SqliteOptions {
        queue_depth: 1,
        ..SqliteOptions::default()
    };
    let ledger = SqliteLedger::open_with(dir.path().join("ledger.sqlite"), opts).expect("open");
    let h = Harness::start_with(dir, ledger, |_| {}, ApiToken::generate()).await;
    let created = h
        .call(
            Method::POST,
            "/v1/vouchers",
            Some(json!({"amount":"2","id":"gift1"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json());
    let code = created.json()["code"].as_str().unwrap().to_owned();

    let address = mona::Address::parse(&payee(3), mona::Network::Regtest).expect("payee");
    let req = WithdrawalRequest {
        id: "queued".into(),
        destination: Destination {
            address: address.to_string(),
            script_pubkey: address.script_pubkey().clone(),
        },
        amount_wat: 100_000_000,
    };
    let l = h.ledger.clone();
    let (hold, queued) = tokio::task::spawn_blocking(move || {
        let hold = l.hold_writer_for_tests();
        let queued = l.request_withdrawal_pending(&req);
        (hold, queued)
    })
    .await
    .expect("join");
    let before = h.snapshot();

    let withdrawal = json!({"id":"w1","address":payee(1),"amount":"1"});
    let redeem = json!({"code": code, "address": payee(2)});
    let voucher = json!({"amount":"1","id":"gift2"});
    let cases = [
        ("withdrawal", "/v1/withdrawals", &withdrawal, true),
        ("voucher creation", "/v1/vouchers", &voucher, true),
        ("voucher redemption", "/v1/vouchers/redeem", &redeem, false),
    ];
    for (name, path, body, auth) in cases {
        let client = if auth { h.client() } else { h.public() };
        let r = client
            .call(Method::POST, path, Some(body))
            .await
            .expect("reachable");
        assert_eq!(
            (r.status, r.json()["code"].as_str(), r.retry_after),
            (503, Some("overloaded"), Some(1)),
            "{name}: {}",
            r.json()
        );
    }
    assert_eq!(h.snapshot(), before, "refused intake changed nothing");

    tokio::task::spawn_blocking(move || {
        drop(hold);
        assert!(matches!(queued.wait(), Ok(Intake::Created(_))));
    })
    .await
    .expect("join");
    assert!(h.ledger.withdrawal("w1").expect("read").is_none());
    // With room again, the same request is accepted.
    let r = h
        .call(Method::POST, "/v1/withdrawals", Some(withdrawal))
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    h.stop().await;
}
