//! Invariant 2 through the real HTTP API: at most one record per idempotency key, whatever the
//! concurrency; replays answer 200 with the stored record, a different body 409.

use std::collections::HashMap;

use crate::common::{payee, Harness};
use hyper::Method;
use mona_ledger::Ledger;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_withdrawals_over_100_ids_make_100_records() {
    let h = Harness::start(|c| {
        c.api.max_in_flight = 64;
        c.api.max_queue = 2_000;
        c.api.queue_timeout_ms = 60_000;
    })
    .await;
    let client = h.client();
    let mut tasks = Vec::new();
    for n in 0..1_000u32 {
        let id = format!("w{:03}", n % 100);
        // Every tenth request of an id (n / 100 == 7) asks for another amount: a conflicting body.
        let amount = if n / 100 == 7 { "2" } else { "1" };
        let body = json!({ "id": id, "address": payee(n % 100), "amount": amount });
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let r = c
                .call(Method::POST, "/v1/withdrawals", Some(&body))
                .await
                .expect("reachable");
            (body, r.status, r.json())
        }));
    }
    let mut by_id: HashMap<String, Vec<(serde_json::Value, u16, serde_json::Value)>> =
        HashMap::new();
    for t in tasks {
        let (body, status, answer) = t.await.expect("join");
        by_id
            .entry(body["id"].as_str().unwrap().to_owned())
            .or_default()
            .push((body, status, answer));
    }
    assert_eq!(by_id.len(), 100);
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for (id, answers) in &by_id {
        let stored = h.ledger.withdrawal(id).unwrap().expect("recorded");
        let stored_amount = mona::Amount::from_wat(stored.amount_wat)
            .unwrap()
            .to_mona_string();
        let created: Vec<_> = answers.iter().filter(|a| a.1 == 201).collect();
        assert_eq!(created.len(), 1, "{id}: exactly one 201");
        for (body, status, answer) in answers {
            *statuses.entry(*status).or_default() += 1;
            let same = body["amount"] == stored_amount.as_str();
            match status {
                201 | 200 => {
                    assert!(
                        same,
                        "{id}: {status} for a body that differs from the record"
                    );
                    assert_eq!(answer["amount"], stored_amount.as_str());
                }
                409 => {
                    assert!(!same, "{id}: 409 for the stored body");
                    assert_eq!(answer["code"], "conflict");
                    assert_eq!(answer["existing"]["amount"], stored_amount.as_str());
                }
                other => panic!("{id}: unexpected status {other}: {answer}"),
            }
        }
    }
    let records = h.ledger.queued_withdrawals(10_000).unwrap();
    assert_eq!(records.len(), 100, "exactly 100 records");
    assert_eq!(statuses.get(&201), Some(&100));
    assert_eq!(statuses.values().sum::<usize>(), 1_000);
    // The intake counters agree.
    let metrics = h.call(Method::GET, "/metrics", None).await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        text.contains("hotnode_intake_total{kind=\"withdrawal\",outcome=\"created\"} 100"),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voucher_redeemed_concurrently_pays_one_withdrawal() {
    let h = Harness::start(|c| {
        c.api.redeem_burst = 1_000;
        c.api.redeem_per_minute = 60_000;
        c.api.max_queue = 1_000;
    })
    .await;
    let created = h
        .call(
            Method::POST,
            "/v1/vouchers",
            Some(json!({ "amount": "3.25" })),
        )
        .await;
    assert_eq!(created.status, 201);
    let v = created.json();
    let code = v["code"].as_str().unwrap().to_owned();
    let voucher_id = v["id"].as_str().unwrap().to_owned();
    assert!(code.starts_with(&format!("MONA-V1-{voucher_id}-")));
    let public = h.public();
    let mut tasks = Vec::new();
    for n in 0..60u32 {
        let address = payee(n % 2);
        let body = json!({ "code": code, "address": address });
        let c = public.clone();
        tasks.push(tokio::spawn(async move {
            let r = c
                .call(Method::POST, "/v1/vouchers/redeem", Some(&body))
                .await
                .expect("reachable");
            (address, r.status, r.json())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("join"));
    }
    let winners: Vec<_> = results.iter().filter(|r| r.1 == 201).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one redemption created: {results:?}"
    );
    let winner_address = winners[0].0.clone();
    for (address, status, answer) in &results {
        if *address == winner_address {
            assert!(
                *status == 201 || *status == 200,
                "same address must replay: {status} {answer}"
            );
            assert_eq!(answer["id"], format!("voucher:{voucher_id}"));
            assert_eq!(answer["amount"], "3.25");
        } else {
            assert_eq!(*status, 409, "other address must conflict: {answer}");
            assert_eq!(answer["existing"]["address"], winner_address.as_str());
        }
    }
    let queued = h.ledger.queued_withdrawals(100).unwrap();
    assert_eq!(queued.len(), 1, "one withdrawal pays the voucher");
    assert_eq!(queued[0].id, format!("voucher:{voucher_id}"));
    assert_eq!(queued[0].destination.address, winner_address);
    let shown = h
        .call(
            Method::GET,
            &format!("/v1/withdrawals/voucher:{voucher_id}"),
            None,
        )
        .await;
    assert_eq!(
        (shown.status, shown.json()["voucher_id"].as_str()),
        (200, Some(voucher_id.as_str()))
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_withdrawal_and_addresses() {
    let h = Harness::start(|_| {}).await;
    let r = h.call(Method::GET, "/v1/withdrawals/nope", None).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (404, Some("withdrawal_not_found"))
    );
    let r = h.call(Method::GET, "/v1/withdrawals/a%20b", None).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (422, Some("bad_id")));
    let body = json!({"id":"w1","address":payee(3),"amount":"0.5"});
    assert_eq!(
        h.call(Method::POST, "/v1/withdrawals", Some(body.clone()))
            .await
            .status,
        201
    );
    assert_eq!(
        h.call(Method::POST, "/v1/withdrawals", Some(body))
            .await
            .status,
        200
    );
    let r = h.call(Method::GET, "/v1/withdrawals/w1", None).await.json();
    assert_eq!(
        (
            r["address"].as_str(),
            r["amount"].as_str(),
            r["state"].as_str()
        ),
        (Some(payee(3).as_str()), Some("0.5"), Some("requested"))
    );

    // Fresh deposit addresses follow the hot receive chain and survive a restart.
    let hot = crate::common::account(crate::common::HOT_MNEMONIC, mona::Network::Regtest);
    for i in 0..2 {
        let a = h.call(Method::POST, "/v1/addresses", None).await;
        assert_eq!(a.status, 201);
        assert_eq!(a.json()["index"], i);
        assert_eq!(a.json()["address"], hot.address(0, i).unwrap().to_string());
    }
    let token = h.token.clone();
    let (dir, ledger) = h.stop().await;
    let h = Harness::start_with(dir, ledger, |_| {}, token).await;
    let a = h.call(Method::POST, "/v1/addresses", None).await;
    assert_eq!(
        a.json()["index"],
        2,
        "index persisted through the audit log"
    );
    h.stop().await;
}
