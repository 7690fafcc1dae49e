//! Transport failures against tiny hand-made loopback servers: each must map to the right class
//! and say whether the node may have executed the call.

use std::time::Duration;

use mona_node::{Auth, BroadcastOutcome, Delivery, ErrorClass, NodeClient, NodeConfig, RpcError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does after reading the request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Never answer (keep the connection open).
    Silent,
    /// Close the connection without answering.
    Close,
    /// Reset the connection (RST) without answering.
    Reset,
    /// Answer with these bytes and close.
    Answer(&'static str),
}

async fn read_request(sock: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return;
            }
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn server(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                read_request(&mut sock).await;
                match behaviour {
                    Behaviour::Silent => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Behaviour::Close => {
                        let _ = sock.shutdown().await;
                    }
                    Behaviour::Reset => {
                        // SO_LINGER 0 + close sends RST.
                        #[allow(deprecated)]
                        let _ = sock.set_linger(Some(Duration::ZERO));
                        drop(sock);
                    }
                    Behaviour::Answer(bytes) => {
                        let _ = sock.write_all(bytes.as_bytes()).await;
                        let _ = sock.shutdown().await;
                    }
                }
            });
        }
    });
    format!("http://{addr}/")
}

fn client(url: &str, timeout_ms: u64) -> NodeClient {
    NodeClient::new(
        NodeConfig::new(url, Auth::user_pass("u", "p"))
            .unwrap()
            .with_timeout_ms(timeout_ms),
    )
}

fn answer(status: &str, body: &str) -> &'static str {
    Box::leak(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    )
}

#[tokio::test]
async fn transport_failures_are_classified() {
    // A port with nothing listening: bind, note the port, close.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let cases: Vec<(&str, String, u64, ErrorClass)> = vec![
        (
            "connection refused: nothing was sent",
            closed,
            2_000,
            ErrorClass::Transient {
                delivery: Delivery::NotSent,
            },
        ),
        (
            "timeout after sending: the node may have executed it",
            server(Behaviour::Silent).await,
            200,
            ErrorClass::Transient {
                delivery: Delivery::Unknown,
            },
        ),
        (
            "closed without an answer (dropped response)",
            server(Behaviour::Close).await,
            2_000,
            ErrorClass::Transient {
                delivery: Delivery::Unknown,
            },
        ),
        (
            "reset after sending",
            server(Behaviour::Reset).await,
            2_000,
            ErrorClass::Transient {
                delivery: Delivery::Unknown,
            },
        ),
        (
            "HTTP 503 work queue full",
            server(Behaviour::Answer(answer(
                "503 Service Unavailable",
                "Work queue depth exceeded",
            )))
            .await,
            2_000,
            ErrorClass::Transient {
                delivery: Delivery::Declined,
            },
        ),
        (
            "-28 warming up",
            server(Behaviour::Answer(answer(
                "500 Internal Server Error",
                "{\"result\":null,\"error\":{\"code\":-28,\"message\":\"Loading block index...\"},\"id\":1}\n",
            )))
            .await,
            2_000,
            ErrorClass::Transient {
                delivery: Delivery::Declined,
            },
        ),
        (
            "truncated body",
            server(Behaviour::Answer(
                "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"result\":",
            ))
            .await,
            2_000,
            ErrorClass::Transient {
                delivery: Delivery::Unknown,
            },
        ),
        (
            "not HTTP at all",
            server(Behaviour::Answer("SSH-2.0-OpenSSH_9.6\r\n\r\n")).await,
            2_000,
            ErrorClass::Transient {
                delivery: Delivery::Unknown,
            },
        ),
        (
            "403 rpcallowip",
            server(Behaviour::Answer(answer("403 Forbidden", ""))).await,
            2_000,
            ErrorClass::Configuration,
        ),
    ];
    for (name, url, timeout_ms, class) in cases {
        let c = client(&url, timeout_ms);
        let err = c.get_block_count().await.unwrap_err();
        assert_eq!(err.class(), class, "{name}: {err:?}");
        assert!(err.is_retry_safe() == matches!(class, ErrorClass::Transient { .. }));
        // The same failure during a broadcast: never a verdict of failure.
        let o = BroadcastOutcome::from_error(err);
        assert!(
            !o.is_permanent_failure() && !o.is_success(),
            "{name}: {o:?}"
        );
    }
}

#[tokio::test]
async fn a_timeout_names_the_call_and_warns_it_may_have_executed() {
    let url = server(Behaviour::Silent).await;
    let c = client(&url, 100);
    let err = c.send_raw_transaction_hex("00", None).await.unwrap_err();
    assert!(
        matches!(
            &err,
            RpcError::Timeout {
                timeout_ms: 100,
                delivery: Delivery::Unknown,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.may_have_executed());
    let msg = err.to_string();
    assert!(
        msg.contains("sendrawtransaction") && msg.contains("may have executed"),
        "{msg}"
    );
}

#[tokio::test]
async fn chunked_and_oversized_answers() {
    let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        a\r\n{\"result\":\r\n18\r\n111,\"error\":null,\"id\":1}\r\n0\r\n\r\n";
    let c = client(&server(Behaviour::Answer(chunked)).await, 2_000);
    assert_eq!(c.get_block_count().await.unwrap(), 111);

    let big = answer(
        "200 OK",
        &format!(
            "{{\"result\":\"{}\",\"error\":null,\"id\":1}}",
            "a".repeat(5000)
        ),
    );
    let url = server(Behaviour::Answer(big)).await;
    let c = NodeClient::new(
        NodeConfig::new(&url, Auth::user_pass("u", "p"))
            .unwrap()
            .with_max_response_bytes(1000),
    );
    let err = c.get_best_block_hash().await.unwrap_err();
    assert!(matches!(err, RpcError::ResponseTooLarge { .. }), "{err:?}");
}
