//! The Monacoin custody hot node: configuration, data directory (`init`), the operator HTTP
//! API and the CLI that calls it, voucher codes, metrics, and the daemon (`run`).
//!
//! The payout engine (chain sync, batching, signing, broadcasting, sweeps, top-ups) plugs in
//! behind [`engine::Engine`]; the API only records intake in the ledger and wakes it.

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod datadir;
pub mod demo;
pub mod engine;
pub mod exit;
pub mod export;
pub mod float;
pub mod hot_wallet;
pub mod live_engine;
pub mod logging;
pub mod metrics;
pub mod outbox;
pub mod qr;
pub mod run;
pub mod secret;
pub mod simrig;
pub mod topup;
pub mod voucher;
pub mod watch_only;
