//! Encrypted seed files at rest: `MONASEED` v1 (argon2id + ChaCha20-Poly1305).
//!
//! The format is generic over the secret payload (bytes): the cold signer stores a
//! [`SeedPayload`] (BIP39 entropy and passphrase), the hot node may store its hot seed the same
//! way. A file carries a public metadata blob (e.g. network and master fingerprint) that is
//! authenticated as AEAD associated data but not encrypted. The byte layout is documented in
//! [`format`].
//!
//! Invariant: a payload is only ever returned after every integrity check and the AEAD tag
//! passed; every failure is a distinct [`OpenError`] class (not a seed file, unsupported
//! version, truncated, tampered or corrupted, wrong passphrase); no operation here ever
//! modifies an existing file.
//!
//! # Key derivation
//! argon2id v0x13 with a fresh 16-byte salt per file; the parameters are written in the header
//! and read back from it when opening, so changing [`KdfParams::DEFAULT`] never breaks older
//! files. Headers are refused before any work if their parameters are outside
//! [`KdfParams::validate`]'s bounds (at most 2 GiB of memory and 8 GiB-passes of work).
//!
//! Defaults: `m_cost = 262144 KiB (256 MiB), t_cost = 4, p_cost = 1`. Measured on the
//! development machine (2-vCPU Intel Xeon VM, rustc 1.95, `cargo bench -p mona-keystore --bench
//! unlock`, an optimized build): one unlock (KDF + decrypt) takes 0.82-0.92 s wall (5 samples,
//! load average ~2) and about 0.88 s of CPU time (user+sys of the bench process / 6 KDF runs,
//! which does not depend on other load); 3 passes measured 0.62-0.65 s, too close to the 0.5 s
//! floor on a quieter or faster machine. It peaks at ~260 MiB of RSS. Run the `unlock` bench
//! for the figure on your hardware.
//!
//! # Telling tampering from a wrong passphrase
//! A SHA-256 checksum of the fixed header and one of the whole file are checked before the key
//! is derived: a mismatch is "tampered or corrupted". If both match but the AEAD tag fails, the
//! passphrase is wrong. Limit: the checksums are unkeyed, so an attacker who edits the file and
//! recomputes them is reported as "wrong passphrase"; they still never get a payload decrypted.

pub mod error;
pub mod format;
pub mod payload;

mod crypto;
mod file;
mod params;
mod secret;

use std::path::Path;

pub use crypto::{open, seal};
pub use error::{CreateError, OpenError, OpenErrorClass, SealError, TamperReason, WriteError};
pub use file::{read_file, write_new_file};
pub use format::{SeedFile, FORMAT_VERSION, MAGIC, MAX_METADATA_LEN, MAX_PAYLOAD_LEN};
pub use params::{KdfParams, KdfParamsError};
pub use payload::{PayloadError, SeedPayload};
pub use secret::{Passphrase, SecretBytes};

impl SeedFile {
    /// Derives the key with the header's parameters and decrypts the payload.
    pub fn open(&self, passphrase: &Passphrase) -> Result<SecretBytes, OpenError> {
        crypto::open(self, passphrase)
    }
}

/// Seals `payload` and writes it to a new file at `path` (mode 0600, never overwriting).
/// Checks that `path` is free before running the KDF.
pub fn create_file(
    path: &Path,
    payload: &[u8],
    metadata: &[u8],
    passphrase: &Passphrase,
    params: &KdfParams,
) -> Result<(), CreateError> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(WriteError::AlreadyExists {
            path: path.to_path_buf(),
        }
        .into());
    }
    let bytes = seal(payload, metadata, passphrase, params)?;
    write_new_file(path, &bytes)?;
    Ok(())
}

/// Reads, checks and decrypts the file at `path`; returns the file (for its metadata) and the
/// payload. The file is opened read-only.
pub fn open_file(
    path: &Path,
    passphrase: &Passphrase,
) -> Result<(SeedFile, SecretBytes), OpenError> {
    let file = read_file(path)?;
    let payload = file.open(passphrase)?;
    Ok((file, payload))
}
