//! Monacoin wallet logic without I/O: BIP39 seeds, BIP32 accounts for BIP44/49/84 (coin type 22
//! on mainnet, 1 on test chains), address derivation and watch-only descriptors.
//!
//! Secrets (mnemonics, seeds, private keys) live in types that zeroize on drop and print
//! `[redacted]` in `Debug`.

pub mod account;
pub mod build;
pub mod finalize;
pub mod psbt;
pub mod seed;
pub mod sign;

pub use account::{derive_path, Account, DerivedKey, Purpose, WatchOnlyAccount};
pub use build::{
    build_fee_bump, build_payout, build_sweep, build_topup, BuiltTx, Coin, FeePolicy, Keychain,
    Payment, TxSettings, WalletDestination,
};
pub use psbt::{Approved, Confirmation, OurKeys, Parsed, Reviewed, Signed, SigningKeys};
pub use seed::{Mnemonic, MnemonicError, Seed, WordCount};
