//! PSBT (BIP174 v0) review and signing for the signer's own keys.
//!
//! Invariant: the path from bytes to a signature is the type chain
//! [`Parsed`] -> [`Reviewed`] -> [`Approved`] -> [`Signed`] (see [`pipeline`]); the size,
//! version and count caps are checked on a non-allocating pre-scan ([`envelope`]) before the
//! parser runs; ownership, change and amounts are proven, never taken from the PSBT's word
//! ([`analyze`]).

pub mod analyze;
pub mod envelope;
pub mod keys;
pub mod pipeline;

pub use analyze::summarize;
pub use envelope::{scan, EnvelopeError, PSBT_MAGIC};
pub use keys::{KeysError, Located, OurKeys, SigningKeys};
pub use pipeline::{
    ApproveError, Approved, Confirmation, ParsePsbtError, Parsed, Reviewed, SignError, Signed,
};
