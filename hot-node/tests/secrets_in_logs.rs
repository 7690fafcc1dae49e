//! Secrets never reach the logs: with every target at TRACE captured, a run of
//! token-authenticated calls, bad tokens, voucher creation and redemption leaves no trace of
//! the token or of any voucher code (or its secret part) in the output.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{payee, Harness};
use hot_node::logging::{subscriber, LogFormat};
use hyper::Method;
use serde_json::json;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_voucher_code_in_logs() {
    // The JSON format is checked on the daemon's real stderr in `run_simnode.rs`.
    let human = Buf::default();
    let h1 = human.clone();
    std::env::remove_var("HOT_NODE_LOG");
    std::env::remove_var("RUST_LOG");
    tracing::subscriber::set_global_default(subscriber(
        LogFormat::Human,
        "trace",
        move || h1.clone(),
        false,
    ))
    .unwrap();

    let mut secrets = Vec::new();
    let h = Harness::start(|c| c.api.redeem_burst = 100).await;
    secrets.push(h.token.to_hex().to_string());
    exercise(&h, &mut secrets).await;
    h.stop().await;

    let human = String::from_utf8(human.0.lock().unwrap().clone()).unwrap();
    assert!(
        human.contains("voucher created"),
        "the capture works: {human}"
    );
    assert!(
        human.contains("route=/v1/vouchers/redeem"),
        "request lines logged: {human}"
    );
    for secret in &secrets {
        assert!(
            !human.contains(secret.as_str()),
            "secret leaked into human logs"
        );
    }
}

async fn exercise(h: &Harness, secrets: &mut Vec<String>) {
    let wrong = hot_node::secret::ApiToken::generate();
    secrets.push(wrong.to_hex().to_string());
    let r = hot_node::client::ApiClient::new(h.addr, Some(wrong))
        .call(Method::GET, "/v1/float", None)
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    for _ in 0..2 {
        let v = h
            .call(Method::POST, "/v1/vouchers", Some(json!({"amount":"1"})))
            .await
            .json();
        let code = v["code"].as_str().unwrap().to_owned();
        let secret_part = code.rsplit('-').next().unwrap().to_owned();
        secrets.push(code.clone());
        secrets.push(secret_part.clone());
        secrets.push(secret_part.to_ascii_lowercase());
        for body in [
            json!({"code": code, "address": payee(0)}),
            json!({"code": code, "address": payee(1)}),
            json!({"code": code, "address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"}),
            json!({"code": code.replace('A', "B"), "address": payee(0)}),
            json!({"code": code, "address": payee(0), "extra": 1}),
            json!({"code": format!("{code}X"), "address": payee(0)}),
        ] {
            let _ = h
                .public()
                .call(Method::POST, "/v1/vouchers/redeem", Some(&body))
                .await
                .unwrap();
        }
    }
    let _ = h.call(Method::GET, "/metrics", None).await;
}
