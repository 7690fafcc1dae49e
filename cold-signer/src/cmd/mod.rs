//! One module per command group; each exposes its clap `Args` and a `run` function.
//!
//! Invariant: commands print their result to stdout and return a [`crate::exit::CliError`] on
//! failure; they never print secrets except where the command exists to show one (`init`'s
//! mnemonic, `derive --show-private`).

pub mod address;
pub mod derive;
pub mod qr;
pub mod review;
pub mod seed;

use std::sync::OnceLock;

use bitcoin::secp256k1::{All, Secp256k1};

/// A shared secp256k1 context.
pub fn secp() -> &'static Secp256k1<All> {
    static CTX: OnceLock<Secp256k1<All>> = OnceLock::new();
    CTX.get_or_init(Secp256k1::new)
}
