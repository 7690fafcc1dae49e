//! The hot wallet's seed file `hot-seed.enc`: a `MONASEED` v1 keystore file in exactly the cold
//! signer's layout (payload: BIP39 entropy + passphrase; metadata: `{"kind":"bip39",
//! "network", "master_fingerprint"}`), and the hot BIP84 account derived from it.
//!
//! Invariant: the seed file is only ever created, never rewritten; unlocking checks the
//! metadata's network and, after decryption, that the seed's fingerprint matches the metadata.

use std::fmt;
use std::path::Path;

use bitcoin::secp256k1::Secp256k1;
use mona::Network;
use mona_keystore::{CreateError, KdfParams, OpenError, Passphrase, SeedPayload, WriteError};
use mona_wallet::{Account, Mnemonic, Purpose, WatchOnlyAccount, WordCount};
use serde::{Deserialize, Serialize};

use crate::watch_only::WatchOnlyWallet;

/// Public metadata in the seed file header (same shape as the cold signer's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedMetadata {
    /// Always "bip39".
    pub kind: String,
    /// The network.
    pub network: Network,
    /// Master key fingerprint, 8 hex digits.
    pub master_fingerprint: String,
}

/// Why the hot seed could not be created or unlocked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HotSeedError {
    /// The file already exists.
    #[error("{0} already exists; nothing was changed")]
    AlreadyExists(String),
    /// Writing failed.
    #[error("cannot create the hot seed file: {0}")]
    Create(CreateError),
    /// Reading, checking or decrypting failed (wrong passphrase, tampered file...).
    #[error("{path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: OpenError,
    },
    /// The metadata is unreadable or the decrypted seed does not fit it.
    #[error("{path}: {detail}")]
    Tampered {
        /// The file.
        path: String,
        /// What did not fit.
        detail: String,
    },
    /// The seed belongs to another network.
    #[error("{path} is a {found} seed, not {expected}")]
    WrongNetwork {
        /// The file.
        path: String,
        /// Configured.
        expected: Network,
        /// In the file.
        found: Network,
    },
}

impl HotSeedError {
    /// Whether the passphrase was wrong (as opposed to a damaged or foreign file).
    pub fn is_wrong_passphrase(&self) -> bool {
        matches!(self, HotSeedError::Open { source, .. } if source.class() == mona_keystore::OpenErrorClass::WrongPassphrase)
    }
}

/// The unlocked hot wallet: the BIP84 account 0 of the hot seed.
pub struct HotWallet {
    account: Account,
    /// Watch-only accounts 0 of every purpose (BIP84 first), for `hot-node export`.
    exports: Vec<WatchOnlyAccount>,
    fingerprint: String,
}

impl fmt::Debug for HotWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HotWallet")
            .field("fingerprint", &self.fingerprint)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl HotWallet {
    /// Builds the hot account from a BIP39 mnemonic (also used by tests).
    pub fn from_mnemonic(mnemonic: &Mnemonic, network: Network) -> HotWallet {
        let seed = mnemonic.to_seed("");
        let secp = Secp256k1::signing_only();
        let fingerprint = seed.master_fingerprint(&secp).to_string();
        let exports = Purpose::ALL
            .iter()
            .map(|p| {
                Account::from_seed(&secp, &seed, network, *p, 0)
                    .watch_only()
                    .clone()
            })
            .collect();
        HotWallet {
            account: Account::from_seed(&secp, &seed, network, Purpose::Bip84, 0),
            exports,
            fingerprint,
        }
    }

    /// The spending account (for the payout engine's signer).
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The public half (addresses, descriptors).
    pub fn watch_only(&self) -> &WatchOnlyAccount {
        self.account.watch_only()
    }

    /// The watch-only export of the hot wallet, in exactly the cold signer's `export` format
    /// (the BIP84 account selected, every purpose listed, BIP84 first), so treasury staff can
    /// register the hot wallet in the cold signer's policy (`[destinations] hot_descriptors`).
    pub fn export(&self) -> WatchOnlyWallet {
        WatchOnlyWallet::from_accounts(self.account.watch_only(), &self.exports)
    }

    /// Master fingerprint, 8 hex digits.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Creates `path` with a fresh 24-word seed for `network`; returns the unlocked wallet.
pub fn create(
    path: &Path,
    network: Network,
    passphrase: &Passphrase,
    params: &KdfParams,
) -> Result<HotWallet, HotSeedError> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(HotSeedError::AlreadyExists(path.display().to_string()));
    }
    let mnemonic =
        Mnemonic::generate(WordCount::TwentyFour).map_err(|e| HotSeedError::Tampered {
            path: path.display().to_string(),
            detail: format!("cannot draw a seed: {e}"),
        })?;
    let wallet = HotWallet::from_mnemonic(&mnemonic, network);
    let payload =
        SeedPayload::new(&mnemonic.to_entropy(), "").map_err(|e| HotSeedError::Tampered {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
    let metadata = SeedMetadata {
        kind: "bip39".into(),
        network,
        master_fingerprint: wallet.fingerprint.clone(),
    };
    let metadata = serde_json::to_vec(&metadata).unwrap_or_default();
    mona_keystore::create_file(
        path,
        payload.encode().as_bytes(),
        &metadata,
        passphrase,
        params,
    )
    .map_err(|e| match e {
        CreateError::Write(WriteError::AlreadyExists { .. }) => {
            HotSeedError::AlreadyExists(path.display().to_string())
        }
        other => HotSeedError::Create(other),
    })?;
    Ok(wallet)
}

/// Reads `path`'s public metadata (no passphrase needed) and checks its network.
pub fn read_metadata(path: &Path, network: Network) -> Result<SeedMetadata, HotSeedError> {
    let file = mona_keystore::read_file(path).map_err(|source| HotSeedError::Open {
        path: path.display().to_string(),
        source,
    })?;
    metadata_of(path, file.metadata(), network)
}

fn metadata_of(path: &Path, bytes: &[u8], network: Network) -> Result<SeedMetadata, HotSeedError> {
    let meta: SeedMetadata = serde_json::from_slice(bytes).map_err(|e| HotSeedError::Tampered {
        path: path.display().to_string(),
        detail: format!("seed metadata is malformed: {e}"),
    })?;
    if meta.network != network {
        return Err(HotSeedError::WrongNetwork {
            path: path.display().to_string(),
            expected: network,
            found: meta.network,
        });
    }
    Ok(meta)
}

/// Unlocks `path` (runs the KDF: most of a second with default parameters).
pub fn unlock(
    path: &Path,
    network: Network,
    passphrase: &Passphrase,
) -> Result<HotWallet, HotSeedError> {
    let p = || path.display().to_string();
    let (file, payload) = mona_keystore::open_file(path, passphrase)
        .map_err(|source| HotSeedError::Open { path: p(), source })?;
    let meta = metadata_of(path, file.metadata(), network)?;
    let tampered = |detail: String| HotSeedError::Tampered { path: p(), detail };
    let payload = SeedPayload::decode(payload.as_bytes()).map_err(|e| tampered(e.to_string()))?;
    if !payload.bip39_passphrase().is_empty() {
        return Err(tampered("hot seeds carry no BIP39 passphrase".into()));
    }
    let mnemonic = Mnemonic::from_entropy(payload.entropy())
        .map_err(|e| tampered(format!("stored entropy refused: {e}")))?;
    let wallet = HotWallet::from_mnemonic(&mnemonic, network);
    if wallet.fingerprint != meta.master_fingerprint {
        return Err(tampered(
            "the decrypted seed does not match the fingerprint in the file".into(),
        ));
    }
    Ok(wallet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        }
    }

    #[test]
    fn create_unlock_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hot-seed.enc");
        let pass = Passphrase::new("correct horse".into());
        let w = create(&path, Network::Regtest, &pass, &fast()).unwrap();
        let again = unlock(&path, Network::Regtest, &pass).unwrap();
        assert_eq!(w.watch_only(), again.watch_only());
        assert_eq!(
            read_metadata(&path, Network::Regtest)
                .unwrap()
                .master_fingerprint,
            w.fingerprint()
        );
        let wrong = unlock(&path, Network::Regtest, &Passphrase::new("nope".into())).unwrap_err();
        assert!(wrong.is_wrong_passphrase(), "{wrong}");
        assert!(matches!(
            unlock(&path, Network::Mainnet, &pass),
            Err(HotSeedError::WrongNetwork { .. })
        ));
        assert!(matches!(
            create(&path, Network::Regtest, &pass, &fast()),
            Err(HotSeedError::AlreadyExists(_))
        ));
        assert!(!format!("{w:?}").contains("xprv"));
    }
}
