//! The HTTP API through real sockets: bad input, idempotency under concurrency, auth, limits.
//! (One test binary for the three suites keeps link time down.)

#[path = "../common/mod.rs"]
mod common;

mod auth_limits;
mod bad_input;
mod cancel;
mod idempotency;
mod proposals;
mod store_backpressure;
