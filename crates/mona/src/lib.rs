//! Monacoin primitives: chain parameters, amounts in watanabe, fee rates, addresses, WIF,
//! extended-key encodings and output-descriptor strings.
//!
//! Every constant here is Monacoin's (checked against Monacoin Core v0.20.3, see
//! `../shared/MONACOIN.md`). The `bitcoin` crate is used for the data structures it shares with
//! Monacoin (scripts, transactions, BIP32), never for its Bitcoin-specific constants.

pub mod address;
pub mod amount;
pub mod descriptor;
pub mod network;
pub mod wif;
pub mod xkey;

pub use address::{dust_threshold, Address, AddressError, AddressKind};
pub use amount::{Amount, AmountError, FeeRate};
pub use descriptor::{DescriptorError, KeyDescriptor, ScriptType};
pub use network::{Network, Params, UnknownNetworkError};
pub use wif::WifError;
pub use xkey::{KeyFormat, XkeyError};

/// Re-export of the `bitcoin` crate version this crate is built against.
pub use bitcoin;
