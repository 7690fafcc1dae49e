//! A wallet directory: `DIR/seed.enc`, a `MONASEED` keystore file whose payload is the BIP39
//! entropy and passphrase and whose public metadata names the network and master fingerprint.
//!
//! Invariant: a wallet file is only ever created (never replaced or rewritten); unlocking reads
//! it and re-checks, after decryption, that the seed's fingerprint matches the metadata.

use std::fs;
use std::path::{Path, PathBuf};

use bitcoin::bip32::Fingerprint;
use bitcoin::secp256k1::Secp256k1;
use mona::Network;
use mona_keystore::{
    read_file, CreateError, KdfParams, Passphrase, SeedFile, SeedPayload, WriteError,
};
use mona_wallet::{Mnemonic, Seed};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::exit::{CliError, Exit};

/// File name of the encrypted seed inside a wallet directory.
pub const SEED_FILE: &str = "seed.enc";

/// Public metadata stored (authenticated, unencrypted) in the seed file header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletMetadata {
    /// Always "bip39".
    pub kind: String,
    /// The network the wallet was created for.
    pub network: Network,
    /// Master key fingerprint, 8 hex digits.
    pub master_fingerprint: String,
}

/// The seed file path of a wallet directory.
pub fn seed_path(dir: &Path) -> PathBuf {
    dir.join(SEED_FILE)
}

fn exists_error(path: &Path) -> CliError {
    CliError::new(
        Exit::AlreadyExists,
        format!(
            "a wallet already exists at {}; nothing was changed",
            path.display()
        ),
    )
}

/// Encrypts `mnemonic` (+ BIP39 passphrase) into a new `DIR/seed.enc`; never overwrites.
/// Returns the master fingerprint.
pub fn create(
    dir: &Path,
    network: Network,
    mnemonic: &Mnemonic,
    bip39_passphrase: &str,
    passphrase: &Passphrase,
    params: &KdfParams,
) -> Result<Fingerprint, CliError> {
    let path = seed_path(dir);
    ensure_free(dir)?;
    create_dir_private(dir)?;
    let seed = mnemonic.to_seed(bip39_passphrase);
    let fingerprint = seed.master_fingerprint(&Secp256k1::signing_only());
    let payload =
        SeedPayload::new(&mnemonic.to_entropy(), bip39_passphrase).map_err(CliError::bad_input)?;
    let metadata = WalletMetadata {
        kind: "bip39".into(),
        network,
        master_fingerprint: fingerprint.to_string(),
    };
    let metadata = serde_json::to_vec(&metadata)
        .map_err(|e| CliError::failure(format!("cannot encode wallet metadata: {e}")))?;
    tracing::debug!(path = %path.display(), ?params, "sealing seed file");
    mona_keystore::create_file(
        &path,
        payload.encode().as_bytes(),
        &metadata,
        passphrase,
        params,
    )
    .map_err(|e| match e {
        CreateError::Write(WriteError::AlreadyExists { .. }) => exists_error(&path),
        other => CliError::failure(other),
    })?;
    tracing::info!(path = %path.display(), %fingerprint, %network, "wallet created");
    Ok(fingerprint)
}

/// Refuses early (before any prompt or KDF) if `DIR/seed.enc` already exists.
pub fn ensure_free(dir: &Path) -> Result<(), CliError> {
    let path = seed_path(dir);
    if fs::symlink_metadata(&path).is_ok() {
        return Err(exists_error(&path));
    }
    Ok(())
}

fn create_dir_private(dir: &Path) -> Result<(), CliError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        CliError::failure(format!(
            "cannot create wallet directory {}: {e}",
            dir.display()
        ))
    })
}

/// A wallet whose seed file passed the integrity checks, not yet decrypted.
#[derive(Debug)]
pub struct LockedWallet {
    path: PathBuf,
    file: SeedFile,
    /// The metadata (authenticated only once unlocked).
    pub metadata: WalletMetadata,
}

/// A decrypted wallet.
pub struct UnlockedWallet {
    /// The BIP39 seed (mnemonic + BIP39 passphrase).
    pub seed: Seed,
    /// The public metadata, now authenticated.
    pub metadata: WalletMetadata,
}

impl std::fmt::Debug for UnlockedWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnlockedWallet")
            .field("metadata", &self.metadata)
            .field("seed", &"<redacted>")
            .finish()
    }
}

/// Reads and checks `DIR/seed.enc` and that it belongs to `network` (no passphrase yet).
pub fn open(dir: &Path, network: Network) -> Result<LockedWallet, CliError> {
    let path = seed_path(dir);
    if fs::symlink_metadata(&path).is_err() {
        return Err(CliError::new(
            Exit::NoWallet,
            format!("no wallet in {} (missing {SEED_FILE})", dir.display()),
        ));
    }
    let file = read_file(&path).map_err(|e| prefix(&path, e.into()))?;
    let metadata: WalletMetadata = serde_json::from_slice(file.metadata()).map_err(|e| {
        CliError::new(
            Exit::SeedTampered,
            format!("{}: wallet metadata is malformed: {e}", path.display()),
        )
    })?;
    if metadata.network != network {
        return Err(CliError::new(
            Exit::WalletNetworkMismatch,
            format!(
                "the wallet in {} is for {}, not {network} (use --network {})",
                dir.display(),
                metadata.network,
                metadata.network
            ),
        ));
    }
    tracing::debug!(path = %path.display(), kdf = ?file.kdf_params(), "seed file intact");
    Ok(LockedWallet {
        path,
        file,
        metadata,
    })
}

impl LockedWallet {
    /// Decrypts the seed (runs the KDF: most of a second).
    pub fn unlock(self, passphrase: &Passphrase) -> Result<UnlockedWallet, CliError> {
        let payload = self
            .file
            .open(passphrase)
            .map_err(|e| prefix(&self.path, e.into()))?;
        let tampered = |what: &str| {
            CliError::new(
                Exit::SeedTampered,
                format!("{}: {what}", self.path.display()),
            )
        };
        let payload =
            SeedPayload::decode(payload.as_bytes()).map_err(|e| tampered(&e.to_string()))?;
        let mnemonic = Mnemonic::from_entropy(payload.entropy())
            .map_err(|e| tampered(&format!("stored entropy refused: {e}")))?;
        let bip39_passphrase = Zeroizing::new(payload.bip39_passphrase().to_owned());
        let seed = mnemonic.to_seed(&bip39_passphrase);
        let fingerprint = seed.master_fingerprint(&Secp256k1::signing_only());
        if fingerprint.to_string() != self.metadata.master_fingerprint {
            return Err(tampered(
                "the decrypted seed does not match the fingerprint in the file",
            ));
        }
        tracing::info!(path = %self.path.display(), %fingerprint, "wallet unlocked");
        Ok(UnlockedWallet {
            seed,
            metadata: self.metadata,
        })
    }
}

fn prefix(path: &Path, e: CliError) -> CliError {
    CliError::new(e.exit, format!("{}: {}", path.display(), e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlocked_wallet_debug_is_redacted() {
        let mnemonic = Mnemonic::parse("all all all all all all all all all all all all").unwrap();
        let seed = mnemonic.to_seed("");
        let seed_hex: String = seed.as_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let w = UnlockedWallet {
            seed,
            metadata: WalletMetadata {
                kind: "bip39".into(),
                network: Network::Regtest,
                master_fingerprint: "5c9e228d".into(),
            },
        };
        let d = format!("{w:?} {w:#?}");
        assert!(d.contains("<redacted>") && d.contains("5c9e228d"), "{d}");
        assert!(!d.contains(&seed_hex), "{d}");
    }
}
