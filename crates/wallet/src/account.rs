//! BIP44/49/84 accounts: `m/purpose'/coin_type'/account'`, receive chain 0 and change chain 1.
//!
//! Invariant: a [`WatchOnlyAccount`] holds no secret; an [`Account`] holds the account-level
//! private key, erased on drop and redacted in `Debug`. Coin type is 22 on mainnet and 1 on test
//! chains, as Monacoin wallets and the recorded node use.

use std::fmt;
use std::str::FromStr;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub};
use bitcoin::secp256k1::{Secp256k1, Signing};
use bitcoin::{CompressedPublicKey, PrivateKey, ScriptBuf};

use mona::descriptor::{KeyDescriptor, ScriptType};
use mona::xkey::{self, KeyFormat};
use mona::{Address, Network};

use crate::seed::Seed;

/// The BIP purpose of an account, which fixes its script type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// BIP44, legacy P2PKH.
    Bip44,
    /// BIP49, P2SH-wrapped P2WPKH.
    Bip49,
    /// BIP84, native P2WPKH (the default).
    Bip84,
}

impl Purpose {
    /// All purposes, default first.
    pub const ALL: [Purpose; 3] = [Purpose::Bip84, Purpose::Bip49, Purpose::Bip44];

    /// 44, 49 or 84.
    pub fn number(self) -> u32 {
        self.script_type().purpose()
    }

    /// The script type of addresses in this account.
    pub fn script_type(self) -> ScriptType {
        match self {
            Purpose::Bip44 => ScriptType::Pkh,
            Purpose::Bip49 => ScriptType::ShWpkh,
            Purpose::Bip84 => ScriptType::Wpkh,
        }
    }

    /// From a script type.
    pub fn from_script_type(t: ScriptType) -> Purpose {
        match t {
            ScriptType::Pkh => Purpose::Bip44,
            ScriptType::ShWpkh => Purpose::Bip49,
            ScriptType::Wpkh => Purpose::Bip84,
        }
    }

    /// "bip44", "bip49" or "bip84".
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Bip44 => "bip44",
            Purpose::Bip49 => "bip49",
            Purpose::Bip84 => "bip84",
        }
    }

    /// The account path `m/purpose'/coin_type'/index'`.
    pub fn account_path(self, network: Network, index: u32) -> DerivationPath {
        DerivationPath::from(vec![
            hardened(self.number()),
            hardened(network.coin_type()),
            hardened(index),
        ])
    }
}

impl FromStr for Purpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "bip44" | "44" | "pkh" => Ok(Purpose::Bip44),
            "bip49" | "49" | "sh-wpkh" => Ok(Purpose::Bip49),
            "bip84" | "84" | "wpkh" => Ok(Purpose::Bip84),
            other => Err(format!(
                "unknown account type '{other}' (expected bip84, bip49 or bip44)"
            )),
        }
    }
}

fn hardened(i: u32) -> ChildNumber {
    ChildNumber::Hardened {
        index: i & 0x7fff_ffff,
    }
}

/// A spending account derived from a seed. Holds the account private key.
pub struct Account {
    watch: WatchOnlyAccount,
    xpriv: Xpriv,
}

impl Account {
    /// The account `index` of `purpose` on `network`.
    pub fn from_seed<C: Signing>(
        secp: &Secp256k1<C>,
        seed: &Seed,
        network: Network,
        purpose: Purpose,
        index: u32,
    ) -> Account {
        let master = seed.master_xpriv(network);
        let fingerprint = master.fingerprint(secp);
        let path = purpose.account_path(network, index);
        // Derivation of hardened children from a valid master key cannot fail except with
        // negligible probability (an invalid child), for which BIP32 skips to the next index;
        // no real wallet hits it.
        let xpriv = master
            .derive_priv(secp, &path)
            .expect("BIP32 derivation of an account key");
        let xpub = Xpub::from_priv(secp, &xpriv);
        Account {
            watch: WatchOnlyAccount {
                network,
                script_type: purpose.script_type(),
                fingerprint,
                account_path: path,
                xpub,
            },
            xpriv,
        }
    }

    /// The watch-only half (safe to export).
    pub fn watch_only(&self) -> &WatchOnlyAccount {
        &self.watch
    }

    /// The private key at `chain/index` under this account.
    pub fn private_key<C: Signing>(
        &self,
        secp: &Secp256k1<C>,
        chain: u32,
        index: u32,
    ) -> Option<PrivateKey> {
        let steps = [
            ChildNumber::from_normal_idx(chain).ok()?,
            ChildNumber::from_normal_idx(index).ok()?,
        ];
        let k = self.xpriv.derive_priv(secp, &steps).ok()?;
        Some(k.to_priv())
    }

    /// The account-level extended private key (for `--show-private` only).
    pub fn xpriv(&self) -> &Xpriv {
        &self.xpriv
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        self.xpriv.private_key.non_secure_erase();
        self.xpriv.chain_code = bitcoin::bip32::ChainCode::from([0u8; 32]);
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("watch", &self.watch)
            .field("xpriv", &"[redacted]")
            .finish()
    }
}

/// The public half of an account: what the hot node and the cold signer's export carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOnlyAccount {
    /// Network.
    pub network: Network,
    /// Script type of every address in the account.
    pub script_type: ScriptType,
    /// Master key fingerprint.
    pub fingerprint: Fingerprint,
    /// `m/purpose'/coin_type'/account'`.
    pub account_path: DerivationPath,
    /// The account-level extended public key.
    pub xpub: Xpub,
}

impl WatchOnlyAccount {
    /// Rebuilds an account from a ranged descriptor with an origin (`.../0/*` or `.../1/*`).
    pub fn from_descriptor(d: &KeyDescriptor) -> Option<WatchOnlyAccount> {
        let (fingerprint, account_path) = d.origin.clone()?;
        Some(WatchOnlyAccount {
            network: d.network,
            script_type: d.script_type,
            fingerprint,
            account_path,
            xpub: d.xpub,
        })
    }

    /// The ranged descriptor of `chain` (0 receive, 1 change).
    pub fn descriptor(&self, chain: u32) -> KeyDescriptor {
        KeyDescriptor::account(
            self.script_type,
            self.fingerprint,
            self.account_path.clone(),
            self.xpub,
            chain,
            self.network,
        )
    }

    /// The receive descriptor (`/0/*`), with checksum when displayed.
    pub fn receive_descriptor(&self) -> KeyDescriptor {
        self.descriptor(0)
    }

    /// The change descriptor (`/1/*`).
    pub fn change_descriptor(&self) -> KeyDescriptor {
        self.descriptor(1)
    }

    /// The public key at `chain/index`.
    pub fn pubkey(&self, chain: u32, index: u32) -> Option<CompressedPublicKey> {
        self.descriptor(chain).derive_pubkey(index).ok()
    }

    /// The script at `chain/index`.
    pub fn script_pubkey(&self, chain: u32, index: u32) -> Option<ScriptBuf> {
        self.descriptor(chain).derive_script(index).ok()
    }

    /// The address at `chain/index`.
    pub fn address(&self, chain: u32, index: u32) -> Option<Address> {
        self.descriptor(chain).derive_address(index).ok()
    }

    /// The full path of `chain/index` from the master key.
    pub fn full_path(&self, chain: u32, index: u32) -> DerivationPath {
        self.account_path.extend([
            ChildNumber::Normal {
                index: chain & 0x7fff_ffff,
            },
            ChildNumber::Normal {
                index: index & 0x7fff_ffff,
            },
        ])
    }

    /// The account xpub as xpub (mainnet) or tpub (test chains).
    pub fn xpub_string(&self) -> String {
        xkey::encode_xpub(&self.xpub, KeyFormat::plain(self.network))
    }

    /// The account xpub in its SLIP-0132 form (zpub/ypub/xpub, vpub/upub/tpub).
    pub fn slip132_string(&self) -> String {
        xkey::encode_xpub(
            &self.xpub,
            KeyFormat::for_purpose(self.script_type.purpose(), self.network),
        )
    }

    /// The account path as text, `m/84'/22'/0'`.
    pub fn account_path_string(&self) -> String {
        format!("m/{}", self.account_path)
    }
}

/// A key derived at an arbitrary path (for `cold-signer derive`).
pub struct DerivedKey {
    /// The path derived.
    pub path: DerivationPath,
    /// Script type inferred from the path's purpose (84' -> wpkh, 49' -> sh(wpkh), 44' -> pkh;
    /// anything else -> wpkh).
    pub script_type: ScriptType,
    /// The public key.
    pub pubkey: CompressedPublicKey,
    /// The address of `pubkey` in `script_type`.
    pub address: Address,
    /// The extended public key at the path.
    pub xpub: Xpub,
    /// The account (first three levels) when the path is at least that deep and hardened there.
    pub account: Option<WatchOnlyAccount>,
    private: PrivateKey,
}

impl DerivedKey {
    /// The private key (show only on explicit request).
    pub fn private_key(&self) -> &PrivateKey {
        &self.private
    }
}

impl Drop for DerivedKey {
    fn drop(&mut self) {
        self.private.inner.non_secure_erase();
    }
}

impl fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DerivedKey")
            .field("path", &self.path)
            .field("address", &self.address)
            .field("private", &"[redacted]")
            .finish()
    }
}

/// Derives the key at `path` from `seed` on `network`.
pub fn derive_path<C: Signing>(
    secp: &Secp256k1<C>,
    seed: &Seed,
    network: Network,
    path: &DerivationPath,
) -> Result<DerivedKey, String> {
    let master = seed.master_xpriv(network);
    let fingerprint = master.fingerprint(secp);
    let xpriv = master.derive_priv(secp, path).map_err(|e| e.to_string())?;
    let xpub = Xpub::from_priv(secp, &xpriv);
    let steps: Vec<ChildNumber> = path.into_iter().copied().collect();
    let script_type = match steps.first() {
        Some(ChildNumber::Hardened { index }) => {
            ScriptType::from_purpose(*index).unwrap_or(ScriptType::Wpkh)
        }
        _ => ScriptType::Wpkh,
    };
    let pubkey = CompressedPublicKey(xpub.public_key);
    let address = Address::from_script(&script_type.script_pubkey(&pubkey), network)
        .map_err(|e| e.to_string())?;
    let account = if steps.len() >= 3 && steps[..3].iter().all(|c| c.is_hardened()) {
        let account_path = DerivationPath::from(steps[..3].to_vec());
        let acct = master
            .derive_priv(secp, &account_path)
            .map_err(|e| e.to_string())?;
        let acct_xpub = Xpub::from_priv(secp, &acct);
        Some(WatchOnlyAccount {
            network,
            script_type,
            fingerprint,
            account_path,
            xpub: acct_xpub,
        })
    } else {
        None
    };
    Ok(DerivedKey {
        path: path.clone(),
        script_type,
        pubkey,
        address,
        xpub,
        account,
        private: xpriv.to_priv(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Mnemonic;

    #[test]
    fn all_mnemonic_regtest_account_matches_fixture_descriptors() {
        let secp = Secp256k1::new();
        let seed = Mnemonic::parse("all all all all all all all all all all all all")
            .unwrap()
            .to_seed("");
        let a = Account::from_seed(&secp, &seed, Network::Regtest, Purpose::Bip84, 0);
        let w = a.watch_only();
        assert_eq!(w.fingerprint.to_string(), "5c9e228d");
        assert!(w
            .receive_descriptor()
            .to_string()
            .ends_with("/0/*)#rn0zejch"));
        assert!(w
            .change_descriptor()
            .to_string()
            .ends_with("/1/*)#j82ry8g0"));
        assert_eq!(
            w.address(0, 0).unwrap().to_string(),
            "rmona1qkvwu9g3k2pdxewfqr7syz89r3gj557l3506gn9"
        );
        assert_eq!(
            w.address(1, 0).unwrap().to_string(),
            "rmona1qejqxwzfld7zr6mf7ygqy5s5se5xq7vmtdfpm4x"
        );
        let b49 = Account::from_seed(&secp, &seed, Network::Regtest, Purpose::Bip49, 0);
        assert!(b49
            .watch_only()
            .receive_descriptor()
            .to_string()
            .ends_with("#qfh8hjq8"));
        let b44 = Account::from_seed(&secp, &seed, Network::Regtest, Purpose::Bip44, 0);
        assert!(b44
            .watch_only()
            .change_descriptor()
            .to_string()
            .ends_with("#8w3fz8gk"));
        assert!(format!("{a:?}").contains("[redacted]"));
    }

    #[test]
    fn private_key_matches_public_derivation() {
        let secp = Secp256k1::new();
        let seed = Mnemonic::parse("all all all all all all all all all all all all")
            .unwrap()
            .to_seed("");
        let a = Account::from_seed(&secp, &seed, Network::Mainnet, Purpose::Bip44, 0);
        let k = a.private_key(&secp, 0, 0).unwrap();
        assert_eq!(
            mona::wif::encode(&k, Network::Mainnet),
            "T3MKAtf3UhDhRET3zYdadwkvKsvxPsc1YwuHMbFN5K5wLjf4sKnx"
        );
        assert_eq!(
            CompressedPublicKey::from_private_key(&secp, &k).unwrap(),
            a.watch_only().pubkey(0, 0).unwrap()
        );
    }
}
