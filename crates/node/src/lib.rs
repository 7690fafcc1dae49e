//! `mona-node`: the async monacoind (v0.20.3) JSON-RPC client, the only code that talks to the
//! chain.
//!
//! * [`NodeClient`] speaks JSON-RPC 1.0 over HTTP/1.1 exactly like the recorded real node
//!   exchanges (`POST`, headers `Host`, `Authorization`, `Content-Type`, `Content-Length`), one
//!   fresh connection per call with TCP_NODELAY, Basic auth from user/password or the cookie
//!   file, and a timeout on every call.
//! * Every failure is an [`RpcError`] whose [`ErrorClass`] says what to do: retry (transient,
//!   with [`Delivery`] telling whether the node may have executed the call), stop (configuration)
//!   or look at the node's answer (rejected).
//! * [`BroadcastOutcome`] is what the payout machinery acts on after `sendrawtransaction`.
//!
//! ```no_run
//! # async fn demo(raw_tx: Vec<u8>) -> Result<(), mona_node::RpcError> {
//! use mona_node::{Auth, BroadcastOutcome, NodeClient, NodeConfig};
//! let config = NodeConfig::new("http://127.0.0.1:19443/", Auth::cookie_file("/data/regtest/.cookie"))?
//!     .with_timeout_ms(10_000);
//! let node = NodeClient::new(config);
//! node.check_chain(mona::Network::Regtest).await?; // refuse to start on another chain
//! match node.broadcast_raw(&raw_tx, None).await {
//!     o if o.is_success() => { /* in the mempool or the chain */ }
//!     o if o.needs_investigation() => { /* look for our own tx before deciding */ }
//!     o if o.should_retry_same_bytes() => { /* retry these exact bytes later */ }
//!     BroadcastOutcome::PermanentlyRejected { reason, message } => { /* alert, freeze */ }
//!     _ => { /* configuration: stop */ }
//! }
//! # Ok(()) }
//! ```
//!
//! Invariant: money read from the node is parsed from the exact decimal text into
//! [`mona::Amount`] / [`mona::FeeRate`]; no float touches it.

mod auth;
mod client;
mod error;
mod http;
mod outcome;
mod types;

pub use auth::{Auth, CookieError, COOKIE_USER};
pub use client::{NodeClient, NodeConfig, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT_MS};
pub use error::{Delivery, ErrorClass, RpcError};
pub use outcome::{
    classify_rejection, BroadcastOutcome, ConflictKind, DeferReason, KnownState, RejectClass,
    RejectReason,
};
pub use types::{
    BlockHeaderInfo, BlockInfo, BlockchainInfo, EstimateMode, FeeEstimate, MempoolAcceptResult,
    MempoolEntry, MempoolFees, MempoolVerbose, TransactionInfo, TxOutInfo, UnspentTxOut,
};

/// Re-export of `serde_json`'s raw JSON text type used by [`NodeClient::call_raw`].
pub use serde_json::value::RawValue;
