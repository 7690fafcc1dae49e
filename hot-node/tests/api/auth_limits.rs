//! Bearer token on every operator route (not on redeem/healthz), the admission bound (503 +
//! Retry-After, bounded queue wait), the per-IP redemption rate limit (429 + Retry-After),
//! metrics and top-up route validation.

use std::time::Duration;

use crate::common::{payee, Harness};
use hyper::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OPERATOR_ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/withdrawals"),
    ("GET", "/v1/withdrawals/w1"),
    ("GET", "/v1/float"),
    ("POST", "/v1/addresses"),
    ("POST", "/v1/vouchers"),
    ("POST", "/v1/topups"),
    ("GET", "/v1/topups/t1/psbt"),
    ("POST", "/v1/topups/t1/signed"),
    ("POST", "/v1/freeze"),
    ("POST", "/v1/unfreeze"),
    ("GET", "/metrics"),
];

async fn raw_request(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_required_on_every_operator_route_only() {
    let h = Harness::start(|_| {}).await;
    let before = h.snapshot();
    let hex = h.token.to_hex().to_string();
    let bad_headers = [
        ("none", String::new()),
        (
            "wrong token",
            format!("Authorization: Bearer {}\r\n", "ab".repeat(32)),
        ),
        ("basic scheme", format!("Authorization: Basic {hex}\r\n")),
        (
            "token prefix",
            format!("Authorization: Bearer {}\r\n", &hex[..63]),
        ),
        ("token plus", format!("Authorization: Bearer {hex}0\r\n")),
    ];
    let body = json!({"id":"w1","address":payee(0),"amount":"1","reason":"x","psbt":"cHNidP8="})
        .to_string();
    for (method, path) in OPERATOR_ROUTES {
        for (name, header) in &bad_headers {
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n{header}Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let resp = raw_request(h.addr, &req).await;
            assert!(
                resp.starts_with("HTTP/1.1 401"),
                "{method} {path} with {name}: {resp}"
            );
            assert!(
                resp.contains("\"code\":\"unauthorized\""),
                "{method} {path}: {resp}"
            );
            assert!(
                resp.to_ascii_lowercase()
                    .contains("www-authenticate: bearer"),
                "{resp}"
            );
        }
        // With the token the route is reachable (whatever it then answers, it is not 401).
        let r = h
            .client()
            .call_raw(method.parse().unwrap(), path, body.clone().into(), true)
            .await
            .unwrap();
        assert_ne!(r.status, 401, "{method} {path} refused the right token");
    }
    // The authorised calls above may have changed things; check the 401s did not, on a fresh
    // server where only 401s happen.
    h.stop().await;
    let h = Harness::start(|_| {}).await;
    let before_fresh = h.snapshot();
    for (method, path) in OPERATOR_ROUTES {
        let r = h
            .public()
            .call_raw(method.parse().unwrap(), path, body.clone().into(), true)
            .await
            .unwrap();
        assert_eq!(r.status, 401, "{method} {path}");
    }
    assert_eq!(h.snapshot(), before_fresh, "401s changed the ledger");
    let _ = before;
    // Public routes need no token.
    let r = h
        .public()
        .call(Method::GET, "/healthz", None)
        .await
        .unwrap();
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    let r = h
        .public()
        .call(
            Method::POST,
            "/v1/vouchers/redeem",
            Some(&json!({"code":"x","address":payee(0)})),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (422, Some("bad_code"))
    );
    // Unknown routes and methods get JSON errors too.
    let r = h.call(Method::GET, "/v2/nothing", None).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (404, Some("not_found"))
    );
    let r = h.call(Method::DELETE, "/v1/withdrawals", None).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    h.stop().await;
}

/// Opens a request whose body never completes: it holds an in-flight slot until dropped.
async fn hold_slot(h: &Harness) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let head = format!(
        "POST /v1/withdrawals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"id\":",
        h.token.to_hex().as_str()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// Retries `GET /v1/float` until it answers `want` (the held request may still be on its way).
async fn float_until(h: &Harness, want: u16) -> hot_node::client::ApiResponse {
    let mut last = None;
    for _ in 0..200 {
        let r = h.call(Method::GET, "/v1/float", None).await;
        if r.status == want {
            return r;
        }
        last = Some(r.status);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never got {want}; last {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_in_flight_bound_is_503_with_retry_after() {
    let h = Harness::start(|c| {
        c.api.max_in_flight = 1;
        c.api.max_queue = 0;
        c.api.body_timeout_ms = 60_000;
    })
    .await;
    let held = hold_slot(&h).await;
    let r = float_until(&h, 503).await;
    assert_eq!(r.json()["code"], "overloaded");
    assert!(r.retry_after.is_some_and(|s| s >= 1), "Retry-After missing");
    // Health checks are outside the bound.
    assert_eq!(
        h.public()
            .call(Method::GET, "/healthz", None)
            .await
            .unwrap()
            .status,
        200
    );
    drop(held);
    float_until(&h, 200).await;
    let m = String::from_utf8_lossy(&h.call(Method::GET, "/metrics", None).await.body).into_owned();
    assert!(
        m.lines()
            .any(|l| l.starts_with("hotnode_overloaded_total ") && !l.ends_with(" 0")),
        "{m}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_wait_is_bounded() {
    let h = Harness::start(|c| {
        c.api.max_in_flight = 1;
        c.api.max_queue = 1;
        c.api.queue_timeout_ms = 50;
        c.api.body_timeout_ms = 60_000;
    })
    .await;
    let held = hold_slot(&h).await;
    // A queued request is not left waiting: it gets 503 once the queue timeout passes.
    let r = float_until(&h, 503).await;
    assert_eq!(r.json()["code"], "overloaded");
    drop(held);
    float_until(&h, 200).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_gets_408_and_frees_its_slot() {
    let h = Harness::start(|c| {
        c.api.max_in_flight = 1;
        c.api.max_queue = 0;
        c.api.body_timeout_ms = 100;
    })
    .await;
    let mut held = hold_slot(&h).await;
    let mut out = Vec::new();
    let _ = held.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
    float_until(&h, 200).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redemption_rate_limit_is_429_with_retry_after() {
    let h = Harness::start(|c| {
        c.api.redeem_per_minute = 1;
        c.api.redeem_burst = 3;
    })
    .await;
    let body = json!({"code":"MONA-V1-x-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","address":payee(0)});
    for i in 0..3 {
        let r = h
            .public()
            .call(Method::POST, "/v1/vouchers/redeem", Some(&body))
            .await
            .unwrap();
        assert_eq!(r.status, 404, "attempt {i} within the burst: {}", r.json());
    }
    let r = h
        .public()
        .call(Method::POST, "/v1/vouchers/redeem", Some(&body))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (429, Some("rate_limited"))
    );
    assert!(r.retry_after.is_some_and(|s| s >= 1), "Retry-After missing");
    // Operator routes are not rate-limited by it.
    assert_eq!(h.call(Method::GET, "/v1/float", None).await.status, 200);
    let m = String::from_utf8_lossy(&h.call(Method::GET, "/metrics", None).await.body).into_owned();
    assert!(
        m.contains("hotnode_rate_limited_total{route=\"/v1/vouchers/redeem\"} 1"),
        "{m}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_float_and_topup_routes() {
    let h = Harness::start(|_| {}).await;
    let m = h.call(Method::GET, "/metrics", None).await;
    assert_eq!(m.status, 200);
    let text = String::from_utf8_lossy(&m.body).into_owned();
    for name in [
        "hotnode_hot_balance_watanabe{kind=\"confirmed\"} 0",
        "hotnode_cold_balance_watanabe 0",
        "hotnode_frozen 0",
        "hotnode_payouts{state=\"broadcast\"} 0",
        "hotnode_owed_watanabe{kind=\"queued\"} 0",
    ] {
        assert!(text.contains(name), "missing {name}:\n{text}");
    }
    let f = h.call(Method::GET, "/v1/float", None).await.json();
    assert_eq!(f["position"], "below_low");
    assert_eq!(f["effective_cap"], "0");
    assert_eq!(f["hot_cap"], "1000");
    assert_eq!(f["engine"]["running"], false);

    // Top-up routes: validation now, the engine later.
    let r = h
        .call(
            Method::POST,
            "/v1/topups",
            Some(json!({"amount":"1.000000001"})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (422, Some("bad_amount"))
    );
    let r = h.call(Method::POST, "/v1/topups", Some(json!({}))).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (501, Some("not_implemented"))
    );
    let r = h.call(Method::GET, "/v1/topups/t1/psbt", None).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (404, Some("topup_not_found"))
    );
    let r = h
        .call(
            Method::POST,
            "/v1/topups/t1/signed",
            Some(json!({"psbt":"%%%"})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (422, Some("bad_psbt"))
    );
    let r = h
        .call(
            Method::POST,
            "/v1/topups/t1/signed",
            Some(json!({"psbt":"aGVsbG8="})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (422, Some("bad_psbt"))
    );
    let r = h
        .call(
            Method::POST,
            "/v1/topups/a%20b/signed",
            Some(json!({"psbt":"aGVsbG8="})),
        )
        .await;
    assert_eq!((r.status, r.json()["code"].as_str()), (422, Some("bad_id")));
    h.stop().await;
}
