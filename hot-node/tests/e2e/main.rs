//! End-to-end: the real daemon (engine + HTTP API) on the embedded simulated chain, every
//! money check read from the CHAIN. (One test binary keeps link time down.)

mod cold_withdrawal;
mod crash;
mod demo;
mod duplicates;
mod float;
mod monappy;
mod outbox;
mod reorg_dust;
mod support;
mod wiring;
