//! Issue 5 "Bad input": each malformed request gets its 4xx with a stable `code`, and the
//! ledger is unchanged afterwards (invariant 7: bad input changes nothing).

use crate::common::{payee, Harness};
use hyper::Method;
use mona_ledger::Ledger;
use serde_json::json;

fn taproot_regtest() -> String {
    use bitcoin::bech32::{segwit, Fe32, Hrp};
    segwit::encode(Hrp::parse("rmona").unwrap(), Fe32::P, &[7u8; 32]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_withdrawal_gets_its_4xx_and_changes_nothing() {
    let h = Harness::start(|c| c.api.max_body_bytes = 1024).await;
    let good = payee(0);
    let mainnet = crate::common::account(crate::common::PAYEE_MNEMONIC, mona::Network::Mainnet)
        .address(0, 0)
        .unwrap()
        .to_string();
    let before = h.snapshot();
    let big = "x".repeat(2000);
    // (name, raw body, status, code, message must contain)
    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        (
            "bitcoin address",
            json!({"id":"w1","address":"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4","amount":"1"})
                .to_string(),
            422,
            "bad_address",
            "looks like a Bitcoin address",
        ),
        (
            "mainnet monacoin address on regtest",
            json!({"id":"w1","address":mainnet,"amount":"1"}).to_string(),
            422,
            "bad_address",
            "looks like a Monacoin mainnet address",
        ),
        (
            "garbage address",
            json!({"id":"w1","address":"not-an-address","amount":"1"}).to_string(),
            422,
            "bad_address",
            "not a valid address",
        ),
        (
            "segwit v1 address",
            json!({"id":"w1","address":taproot_regtest(),"amount":"1"}).to_string(),
            422,
            "bad_address",
            "segwit v1",
        ),
        (
            "9 decimals",
            json!({"id":"w1","address":good,"amount":"0.000000001"}).to_string(),
            422,
            "bad_amount",
            "more than 8 decimals",
        ),
        (
            "negative",
            json!({"id":"w1","address":good,"amount":"-1"}).to_string(),
            422,
            "bad_amount",
            "sign",
        ),
        (
            "over the supply cap",
            json!({"id":"w1","address":good,"amount":"105120000.00000001"}).to_string(),
            422,
            "bad_amount",
            "supply cap",
        ),
        (
            "float amount",
            r#"{"id":"w1","address":"ADDR","amount":1.5}"#.replace("ADDR", &good),
            422,
            "bad_amount",
            "not a JSON number",
        ),
        (
            "integer amount",
            r#"{"id":"w1","address":"ADDR","amount":2}"#.replace("ADDR", &good),
            422,
            "bad_amount",
            "decimal MONA string",
        ),
        (
            "zero",
            json!({"id":"w1","address":good,"amount":"0"}).to_string(),
            422,
            "bad_amount",
            "above zero",
        ),
        (
            "exponent",
            json!({"id":"w1","address":good,"amount":"1e3"}).to_string(),
            422,
            "bad_amount",
            "plain decimal",
        ),
        (
            "dust",
            json!({"id":"w1","address":good,"amount":"0.00000001"}).to_string(),
            422,
            "amount_below_dust",
            "dust",
        ),
        (
            "unknown field",
            json!({"id":"w1","address":good,"amount":"1","fee":"0.1"}).to_string(),
            422,
            "unknown_field",
            "unknown field",
        ),
        (
            "missing field",
            json!({"id":"w1","address":good}).to_string(),
            422,
            "bad_request",
            "missing field",
        ),
        (
            "id wrong type",
            json!({"id":5,"address":good,"amount":"1"}).to_string(),
            422,
            "bad_request",
            "invalid type",
        ),
        (
            "bad id chars",
            json!({"id":"a b","address":good,"amount":"1"}).to_string(),
            422,
            "bad_id",
            "withdrawal id",
        ),
        (
            "id with colon",
            json!({"id":"voucher:x","address":good,"amount":"1"}).to_string(),
            422,
            "bad_id",
            "withdrawal id",
        ),
        (
            "id too long",
            json!({"id":"a".repeat(65),"address":good,"amount":"1"}).to_string(),
            422,
            "bad_id",
            "withdrawal id",
        ),
        (
            "bad json",
            "{\"id\":".to_owned(),
            400,
            "bad_json",
            "not valid JSON",
        ),
        (
            "not an object",
            "[1,2]".to_owned(),
            422,
            "bad_request",
            "invalid type",
        ),
        (
            "oversized body",
            json!({"id":"w1","address":good,"amount":"1","pad":big}).to_string(),
            413,
            "body_too_large",
            "larger than 1024",
        ),
    ];
    for (name, body, status, code, needle) in cases {
        let r = h
            .raw(Method::POST, "/v1/withdrawals", body.as_bytes())
            .await;
        let v = r.json();
        assert_eq!(r.status, status, "{name}: {v}");
        assert_eq!(v["code"], code, "{name}: {v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(needle),
            "{name}: message {msg:?} lacks {needle:?}"
        );
        assert!(!msg.contains('\n'), "{name}: multi-line message");
        assert_eq!(h.snapshot(), before, "{name}: the ledger changed");
        assert!(
            h.ledger.withdrawal("w1").unwrap().is_none(),
            "{name}: w1 recorded"
        );
    }
    // And the same request, well-formed, is accepted (the harness is not refusing everything).
    let ok = h
        .call(
            Method::POST,
            "/v1/withdrawals",
            Some(json!({"id":"w1","address":good,"amount":"1.5"})),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.json());
    assert_eq!(ok.json()["amount"], "1.5");
    assert_eq!(ok.json()["state"], "requested");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_and_bad_vouchers_change_nothing() {
    let h = Harness::start(|_| {}).await;
    let created = h
        .call(
            Method::POST,
            "/v1/vouchers",
            Some(json!({"amount":"2","id":"gift1"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json());
    let code = created.json()["code"].as_str().unwrap().to_owned();
    let before = h.snapshot();

    // A bad token on a money-moving route.
    let wrong =
        hot_node::client::ApiClient::new(h.addr, Some(hot_node::secret::ApiToken::generate()));
    let r = wrong
        .call(
            Method::POST,
            "/v1/withdrawals",
            Some(&json!({"id":"w9","address":payee(1),"amount":"1"})),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(h.snapshot(), before, "bad token changed the ledger");

    let wrong_secret = {
        let mut c = code.clone();
        let last = c.pop().unwrap();
        c.push(if last == 'A' { 'B' } else { 'A' });
        c
    };
    let cases: Vec<(&str, serde_json::Value, u16, &str)> = vec![
        (
            "voucher 9 decimals",
            json!({"amount":"0.000000001"}),
            422,
            "bad_amount",
        ),
        ("voucher float", json!({"amount":0.5}), 422, "bad_amount"),
        (
            "voucher negative",
            json!({"amount":"-2"}),
            422,
            "bad_amount",
        ),
        (
            "voucher bad id",
            json!({"amount":"1","id":"x/y"}),
            422,
            "bad_id",
        ),
        (
            "voucher unknown field",
            json!({"amount":"1","code":"MONA-V1-x-AAAA"}),
            422,
            "unknown_field",
        ),
    ];
    for (name, body, status, want) in cases {
        let r = h.call(Method::POST, "/v1/vouchers", Some(body)).await;
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (status, Some(want)),
            "{name}: {}",
            r.json()
        );
        assert!(
            !r.body.windows(code.len()).any(|w| w == code.as_bytes()),
            "{name}: code echoed"
        );
        assert_eq!(h.snapshot(), before, "{name}: the ledger changed");
    }
    // A taken voucher id is a 409 that shows no code; the ledger audits the attempt but the
    // voucher itself is unchanged.
    let stored = h.ledger.voucher("gift1").unwrap();
    let r = h
        .call(
            Method::POST,
            "/v1/vouchers",
            Some(json!({"amount":"2","id":"gift1"})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (409, Some("conflict"))
    );
    assert!(r.json()["existing"].get("code").is_none());
    assert!(!r.body.windows(code.len()).any(|w| w == code.as_bytes()));
    assert_eq!(h.ledger.voucher("gift1").unwrap(), stored);
    let before = h.snapshot();
    let redeem_cases: Vec<(&str, serde_json::Value, u16, &str)> = vec![
        (
            "malformed code",
            json!({"code":"MONA-V1-gift1-short","address":payee(1)}),
            422,
            "bad_code",
        ),
        (
            "wrong secret",
            json!({"code":wrong_secret,"address":payee(1)}),
            404,
            "voucher_not_found",
        ),
        (
            "unknown voucher id",
            json!({"code":code.replace("gift1","gift2"),"address":payee(1)}),
            404,
            "voucher_not_found",
        ),
        (
            "bitcoin address",
            json!({"code":code,"address":"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"}),
            422,
            "bad_address",
        ),
        (
            "unknown field",
            json!({"code":code,"address":payee(1),"amount":"5"}),
            422,
            "unknown_field",
        ),
    ];
    for (name, body, status, want) in redeem_cases {
        let r = h
            .public()
            .call(Method::POST, "/v1/vouchers/redeem", Some(&body))
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (status, Some(want)),
            "{name}: {}",
            r.json()
        );
        assert!(
            !r.body.windows(code.len()).any(|w| w == code.as_bytes()),
            "{name}: code echoed"
        );
        assert_eq!(h.snapshot(), before, "{name}: the ledger changed");
        let v = h.ledger.voucher("gift1").unwrap().unwrap();
        assert_eq!(v.state, mona_ledger::VoucherState::Active, "{name}");
    }
    // The real code still works afterwards.
    let r = h
        .public()
        .call(
            Method::POST,
            "/v1/vouchers/redeem",
            Some(&json!({"code":code,"address":payee(1)})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.json());
    assert_eq!(r.json()["id"], "voucher:gift1");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_refuses_intake_with_503_until_unfrozen() {
    let h = Harness::start(|_| {}).await;
    let r = h
        .call(Method::POST, "/v1/freeze", Some(json!({"reason":"   "})))
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (422, Some("bad_reason"))
    );
    let r = h
        .call(Method::POST, "/v1/freeze", Some(json!({"reason":"drill"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.json()["frozen"], true);
    let before = h.snapshot();
    let r = h
        .call(
            Method::POST,
            "/v1/withdrawals",
            Some(json!({"id":"w1","address":payee(0),"amount":"1"})),
        )
        .await;
    assert_eq!((r.status, r.json()["code"].as_str()), (503, Some("frozen")));
    assert!(r.retry_after.is_some());
    assert!(r.json()["message"].as_str().unwrap().contains("drill"));
    let r = h
        .call(Method::POST, "/v1/vouchers", Some(json!({"amount":"1"})))
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(h.snapshot(), before);
    let f = h.call(Method::GET, "/v1/float", None).await.json();
    assert_eq!(
        (f["frozen"].as_bool(), f["freeze_reason"].as_str()),
        (Some(true), Some("drill"))
    );
    let r = h
        .call(
            Method::POST,
            "/v1/unfreeze",
            Some(json!({"reason":"drill over"})),
        )
        .await;
    assert_eq!((r.status, r.json()["frozen"].as_bool()), (200, Some(false)));
    let r = h
        .call(
            Method::POST,
            "/v1/withdrawals",
            Some(json!({"id":"w1","address":payee(0),"amount":"1"})),
        )
        .await;
    assert_eq!(r.status, 201);
    h.stop().await;
}
