//! The error of every RPC call and its classification.
//!
//! Invariant: every failure maps to exactly one [`ErrorClass`], and every transient failure says
//! whether the node may have executed the request ([`Delivery`]). A timeout or a dropped
//! connection after the request was written is [`Delivery::Unknown`]: for `sendrawtransaction`
//! the node MAY have accepted the transaction, so the caller retries the SAME bytes (which is
//! always harmless: a re-send is answered with the txid, -27 or -25) and never treats it as a
//! failure.

use std::io;

use bitcoin::BlockHash;
use mona::Network;

use crate::auth::CookieError;

/// Whether the node may have received and executed a request that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// The node cannot have executed it: the whole request was never sent (refused connection,
    /// timeout while connecting or writing, missing cookie file).
    NotSent,
    /// The node answered that it did not execute it (HTTP 503 work queue full, -28 warming up,
    /// HTTP 401).
    Declined,
    /// The request was sent and no usable answer came back (timeout, reset or closed connection
    /// while waiting, garbled answer): the node MAY have executed it.
    Unknown,
}

/// What the caller should do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Retry the same request later (with backoff); see `delivery` for what may have happened.
    Transient {
        /// Whether the node may have executed the request.
        delivery: Delivery,
    },
    /// The setup is wrong (credentials, URL path, chain, node version): refuse to start or stop,
    /// with the error's message. Retrying does not help.
    Configuration,
    /// The node understood the request and refused it with a JSON-RPC error code and message
    /// (for `sendrawtransaction`, see [`crate::BroadcastOutcome`] for the finer classes).
    Rejected,
}

/// Why an RPC call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The TCP connection could not be made (node down, wrong port, refused).
    #[error("cannot connect to the node at {addr} for {method}: {source}")]
    Connect {
        /// The RPC method.
        method: String,
        /// `host:port`.
        addr: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The call did not complete within the configured timeout.
    #[error("{method} timed out after {timeout_ms} ms ({})", delivery_words(*.delivery))]
    Timeout {
        /// The RPC method.
        method: String,
        /// The timeout that expired.
        timeout_ms: u64,
        /// Whether the node may have executed the request.
        delivery: Delivery,
    },
    /// The connection broke (reset, closed without an answer, broken pipe).
    #[error("connection to the node broke during {method} ({}): {detail}", delivery_words(*.delivery))]
    Connection {
        /// The RPC method.
        method: String,
        /// Whether the node may have executed the request.
        delivery: Delivery,
        /// The I/O error kind, if the failure was an I/O error.
        kind: Option<io::ErrorKind>,
        /// What happened.
        detail: String,
    },
    /// HTTP 503: the node's RPC work queue (`-rpcworkqueue`) is full; the call was not executed.
    #[error("the node is overloaded: HTTP 503 (work queue full) for {method}")]
    WorkQueueFull {
        /// The RPC method.
        method: String,
    },
    /// HTTP 401: the node refused the credentials.
    #[error("the node refused the RPC credentials (HTTP 401) for user '{user}'; check rpcuser/rpcpassword or the cookie file")]
    Unauthorized {
        /// The user name sent (never the password).
        user: String,
    },
    /// HTTP 403: the node does not accept RPC from this address (`-rpcallowip`).
    #[error("the node forbids RPC from this client (HTTP 403); check -rpcallowip")]
    Forbidden,
    /// HTTP 404 with an empty body: the URL path is not an RPC endpoint.
    #[error("the node has no RPC endpoint at path '{path}' (HTTP 404)")]
    UnknownPath {
        /// The URL path used.
        path: String,
    },
    /// JSON-RPC -32601: the node does not know the method (wrong node software or version).
    #[error("the node does not know the RPC method '{method}' (is it monacoind v0.20.3?)")]
    MethodNotFound {
        /// The RPC method.
        method: String,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{method} failed on the node: error {code}: {message}")]
    Node {
        /// The RPC method.
        method: String,
        /// HTTP status of the answer (500 for most node errors).
        http_status: u16,
        /// JSON-RPC error code (e.g. -26 RPC_VERIFY_REJECTED).
        code: i64,
        /// The node's message, verbatim.
        message: String,
    },
    /// The answer could not be understood.
    #[error("invalid answer from the node to {method} (HTTP {}): {detail}", .http_status.map_or_else(|| "-".to_string(), |s| s.to_string()))]
    InvalidResponse {
        /// The RPC method.
        method: String,
        /// HTTP status, if a status line was read.
        http_status: Option<u16>,
        /// What was wrong.
        detail: String,
    },
    /// The answer is larger than the configured limit.
    #[error("answer from the node to {method} is larger than the {limit} byte limit (at least {size} bytes)")]
    ResponseTooLarge {
        /// The RPC method.
        method: String,
        /// The size announced or received so far.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The node is on another chain than the configured network.
    #[error("wrong chain: the node's genesis block is {found}, but Monacoin {network}'s is {expected}; point the client at a Monacoin {network} node")]
    WrongChain {
        /// The configured network.
        network: Network,
        /// That network's genesis hash.
        expected: BlockHash,
        /// What the node returned for `getblockhash 0`.
        found: BlockHash,
    },
    /// The cookie file could not be used.
    #[error("{0}")]
    Cookie(#[from] CookieError),
    /// The client configuration is invalid.
    #[error("invalid node client configuration: {0}")]
    Config(String),
}

fn delivery_words(d: Delivery) -> &'static str {
    match d {
        Delivery::NotSent => "request not sent",
        Delivery::Declined => "not executed by the node",
        Delivery::Unknown => "the node may have executed it",
    }
}

/// JSON-RPC codes that mean "not now" (the node did not execute the call).
const RPC_IN_WARMUP: i64 = -28;
const RPC_CLIENT_IN_INITIAL_DOWNLOAD: i64 = -10;
const RPC_CLIENT_NOT_CONNECTED: i64 = -9;
/// P2P disabled: a node configuration problem for broadcasting.
const RPC_CLIENT_P2P_DISABLED: i64 = -31;
/// Wallet errors that mean a wrong wallet path in the URL.
const RPC_WALLET_NOT_FOUND: i64 = -18;
const RPC_WALLET_NOT_SPECIFIED: i64 = -19;

impl RpcError {
    /// The class the caller acts on.
    pub fn class(&self) -> ErrorClass {
        match self {
            RpcError::Connect { .. } => ErrorClass::Transient {
                delivery: Delivery::NotSent,
            },
            RpcError::Timeout { delivery, .. } | RpcError::Connection { delivery, .. } => {
                ErrorClass::Transient {
                    delivery: *delivery,
                }
            }
            RpcError::WorkQueueFull { .. } => ErrorClass::Transient {
                delivery: Delivery::Declined,
            },
            // A garbled or oversized answer came back for a delivered request.
            RpcError::InvalidResponse { .. } | RpcError::ResponseTooLarge { .. } => {
                ErrorClass::Transient {
                    delivery: Delivery::Unknown,
                }
            }
            RpcError::Node { code, .. } => match *code {
                RPC_IN_WARMUP | RPC_CLIENT_IN_INITIAL_DOWNLOAD | RPC_CLIENT_NOT_CONNECTED => {
                    ErrorClass::Transient {
                        delivery: Delivery::Declined,
                    }
                }
                RPC_CLIENT_P2P_DISABLED | RPC_WALLET_NOT_FOUND | RPC_WALLET_NOT_SPECIFIED => {
                    ErrorClass::Configuration
                }
                _ => ErrorClass::Rejected,
            },
            // The node restarts: its cookie file is briefly absent.
            RpcError::Cookie(CookieError::Missing(_)) => ErrorClass::Transient {
                delivery: Delivery::NotSent,
            },
            RpcError::Unauthorized { .. }
            | RpcError::Forbidden
            | RpcError::UnknownPath { .. }
            | RpcError::MethodNotFound { .. }
            | RpcError::WrongChain { .. }
            | RpcError::Cookie(_)
            | RpcError::Config(_) => ErrorClass::Configuration,
        }
    }

    /// Retrying the same request later may succeed (and re-sending it is harmless).
    pub fn is_transient(&self) -> bool {
        matches!(self.class(), ErrorClass::Transient { .. })
    }

    /// Alias of [`RpcError::is_transient`]: the same request may be sent again as is.
    pub fn is_retry_safe(&self) -> bool {
        self.is_transient()
    }

    /// The setup is wrong: refuse to start (or stop) with this error's message.
    pub fn is_configuration(&self) -> bool {
        matches!(self.class(), ErrorClass::Configuration)
    }

    /// The node may have executed the request although the call failed (the Monappy case: a
    /// `sendrawtransaction` that timed out may have been broadcast).
    pub fn may_have_executed(&self) -> bool {
        matches!(
            self.class(),
            ErrorClass::Transient {
                delivery: Delivery::Unknown
            }
        )
    }

    /// The JSON-RPC error code, if the node answered with one.
    pub fn node_code(&self) -> Option<i64> {
        match self {
            RpcError::Node { code, .. } => Some(*code),
            RpcError::MethodNotFound { .. } => Some(-32601),
            _ => None,
        }
    }

    /// The node's error message, if the node answered with one.
    pub fn node_message(&self) -> Option<&str> {
        match self {
            RpcError::Node { message, .. } => Some(message),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(code: i64) -> RpcError {
        RpcError::Node {
            method: "m".into(),
            http_status: 500,
            code,
            message: "x".into(),
        }
    }

    #[test]
    fn classes() {
        let cases: Vec<(&str, RpcError, ErrorClass)> = vec![
            (
                "refused",
                RpcError::Connect {
                    method: "m".into(),
                    addr: "a".into(),
                    source: io::Error::from(io::ErrorKind::ConnectionRefused),
                },
                ErrorClass::Transient {
                    delivery: Delivery::NotSent,
                },
            ),
            (
                "timeout after send",
                RpcError::Timeout {
                    method: "m".into(),
                    timeout_ms: 5,
                    delivery: Delivery::Unknown,
                },
                ErrorClass::Transient {
                    delivery: Delivery::Unknown,
                },
            ),
            (
                "503",
                RpcError::WorkQueueFull { method: "m".into() },
                ErrorClass::Transient {
                    delivery: Delivery::Declined,
                },
            ),
            (
                "warmup",
                node(-28),
                ErrorClass::Transient {
                    delivery: Delivery::Declined,
                },
            ),
            ("reject", node(-26), ErrorClass::Rejected),
            ("wallet path", node(-18), ErrorClass::Configuration),
            (
                "401",
                RpcError::Unauthorized { user: "u".into() },
                ErrorClass::Configuration,
            ),
            (
                "cookie missing",
                RpcError::Cookie(CookieError::Missing("x".into())),
                ErrorClass::Transient {
                    delivery: Delivery::NotSent,
                },
            ),
        ];
        for (name, err, class) in cases {
            assert_eq!(err.class(), class, "{name}");
        }
    }

    #[test]
    fn timeout_message_says_the_node_may_have_acted() {
        let e = RpcError::Timeout {
            method: "sendrawtransaction".into(),
            timeout_ms: 5000,
            delivery: Delivery::Unknown,
        };
        assert!(e.may_have_executed());
        assert!(e.to_string().contains("may have executed"), "{e}");
    }
}
