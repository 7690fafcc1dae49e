//! The signer's own keys as the PSBT analysis and the signer use them: the accounts it owns, with
//! each chain's (account/chain) extended key derived once, so that a child costs one HMAC (plus
//! one point tweak for a public key).
//!
//! Invariant: [`OurKeys`] holds only public keys (the hot node can build one from a watch-only
//! export); [`SigningKeys`] adds the chain-level secrets, erased on drop and never printed.

use std::fmt;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpub};
use bitcoin::secp256k1::{All, Scalar, Secp256k1, SecretKey, VerifyOnly};
use bitcoin::CompressedPublicKey;
use mona::{Network, ScriptType};

use crate::account::{Account, Purpose, WatchOnlyAccount};
use crate::seed::Seed;

/// Why a set of accounts cannot be used as one signer's keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// No account given.
    #[error("no account given")]
    Empty,
    /// Accounts of different master keys or networks.
    #[error("account {0} belongs to another master key or network than the first")]
    Mixed(String),
    /// An account path that is not `purpose'/coin_type'/account'`.
    #[error("account path {0} is not m/purpose'/coin_type'/account'")]
    BadAccountPath(String),
}

/// Where a path lands in our accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    /// Position of the account in [`OurKeys::accounts`].
    pub account_pos: usize,
    /// The account number (hardened level 3).
    pub account: u32,
    /// Script family of the account.
    pub script_type: ScriptType,
    /// Chain, 0 or 1.
    pub chain: u32,
    /// Child index.
    pub index: u32,
}

#[derive(Clone)]
struct PublicAccount {
    watch: WatchOnlyAccount,
    account: u32,
    chains: [Xpub; 2],
}

/// The public side of the signer's accounts.
#[derive(Clone)]
pub struct OurKeys {
    network: Network,
    /// `None` for [`OurKeys::none`]: nothing can be proven ours.
    fingerprint: Option<Fingerprint>,
    accounts: Vec<PublicAccount>,
    secp: Secp256k1<VerifyOnly>,
}

impl fmt::Debug for OurKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OurKeys")
            .field("network", &self.network)
            .field("fingerprint", &self.fingerprint)
            .field(
                "accounts",
                &self
                    .accounts
                    .iter()
                    .map(|a| a.watch.account_path_string())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl PartialEq for OurKeys {
    fn eq(&self, other: &Self) -> bool {
        self.network == other.network
            && self.fingerprint == other.fingerprint
            && self.accounts.len() == other.accounts.len()
            && self
                .accounts
                .iter()
                .zip(&other.accounts)
                .all(|(a, b)| a.watch == b.watch)
    }
}

fn account_number(watch: &WatchOnlyAccount) -> Result<u32, KeysError> {
    let steps: Vec<ChildNumber> = watch.account_path.into_iter().copied().collect();
    match steps.as_slice() {
        [ChildNumber::Hardened { .. }, ChildNumber::Hardened { .. }, ChildNumber::Hardened { index }] => {
            Ok(*index)
        }
        _ => Err(KeysError::BadAccountPath(watch.account_path_string())),
    }
}

impl OurKeys {
    /// From watch-only accounts of one master key on one network (e.g. a watch-only export).
    pub fn from_watch_only(accounts: Vec<WatchOnlyAccount>) -> Result<OurKeys, KeysError> {
        let secp = Secp256k1::verification_only();
        let first = accounts.first().ok_or(KeysError::Empty)?;
        let (network, fingerprint) = (first.network, first.fingerprint);
        let mut out = Vec::with_capacity(accounts.len());
        for watch in accounts {
            if watch.network != network || watch.fingerprint != fingerprint {
                return Err(KeysError::Mixed(watch.account_path_string()));
            }
            let account = account_number(&watch)?;
            let chain = |c: u32| {
                watch
                    .xpub
                    .ckd_pub(&secp, ChildNumber::Normal { index: c })
                    .map_err(|_| KeysError::BadAccountPath(watch.account_path_string()))
            };
            let chains = [chain(0)?, chain(1)?];
            out.push(PublicAccount {
                watch,
                account,
                chains,
            });
        }
        Ok(OurKeys {
            network,
            fingerprint: Some(fingerprint),
            accounts: out,
            secp,
        })
    }

    /// No keys at all (a review without a wallet): no input or output can be proven ours.
    pub fn none(network: Network) -> OurKeys {
        OurKeys {
            network,
            fingerprint: None,
            accounts: Vec::new(),
            secp: Secp256k1::verification_only(),
        }
    }

    /// The network.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The master key fingerprint (`None` for [`OurKeys::none`]).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.fingerprint
    }

    /// The accounts, in order.
    pub fn accounts(&self) -> impl Iterator<Item = &WatchOnlyAccount> {
        self.accounts.iter().map(|a| &a.watch)
    }

    /// Places a full path (`m/purpose'/coin'/account'/chain/index`) in one of our accounts, or
    /// says why it is not a sane path of ours.
    pub fn locate(&self, path: &DerivationPath) -> Result<Located, String> {
        let steps: &[ChildNumber] = path.as_ref();
        if steps.len() != 5 {
            return Err(format!(
                "path has {} levels, not purpose'/coin_type'/account'/chain/index",
                steps.len()
            ));
        }
        let account_pos = self
            .accounts
            .iter()
            .position(|a| a.watch.account_path.as_ref() == &steps[..3])
            .ok_or_else(|| {
                format!(
                    "account m/{} is not one of this signer's accounts",
                    DerivationPath::from(steps[..3].to_vec())
                )
            })?;
        let chain = match steps[3] {
            ChildNumber::Normal { index } if index <= 1 => index,
            other => return Err(format!("chain {other} is not 0 (receive) or 1 (change)")),
        };
        let index = match steps[4] {
            ChildNumber::Normal { index } => index,
            other => return Err(format!("index {other} is hardened")),
        };
        let a = &self.accounts[account_pos];
        Ok(Located {
            account_pos,
            account: a.account,
            script_type: a.watch.script_type,
            chain,
            index,
        })
    }

    /// The public key at a located path.
    pub fn pubkey(&self, at: &Located) -> Option<CompressedPublicKey> {
        self.child(at).map(|c| c.pubkey)
    }

    /// The child at a located path: its public key and the BIP32 tweak from the chain key, so
    /// that signing adds the tweak to the chain secret without a second HMAC-SHA512 (the same
    /// steps as `Xpub::ckd_pub`, without the parent fingerprint it would also hash).
    pub(crate) fn child(&self, at: &Located) -> Option<Child> {
        let chain = self.chain_xpub(at)?;
        let (tweak, _) = chain
            .ckd_pub_tweak(ChildNumber::from_normal_idx(at.index).ok()?)
            .ok()?;
        let tweak = Scalar::from(tweak);
        let public_key = chain.public_key.add_exp_tweak(&self.secp, &tweak).ok()?;
        Some(Child {
            pubkey: CompressedPublicKey(public_key),
            tweak,
        })
    }

    fn chain_xpub(&self, at: &Located) -> Option<&Xpub> {
        self.accounts
            .get(at.account_pos)?
            .chains
            .get(at.chain as usize)
    }
}

/// A child key of one of our chains, as the review derived it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Child {
    /// The child public key.
    pub(crate) pubkey: CompressedPublicKey,
    /// BIP32's `I_L` for this child: public (computed from the chain xpub alone); the child
    /// secret is the chain secret plus this tweak.
    tweak: Scalar,
}

/// A chain-level secret (account/chain), erased on drop.
struct ChainSecret(SecretKey);

impl Drop for ChainSecret {
    fn drop(&mut self) {
        self.0.non_secure_erase();
    }
}

/// The signer's accounts with their secrets.
pub struct SigningKeys {
    public: OurKeys,
    secp: Secp256k1<All>,
    secrets: Vec<[ChainSecret; 2]>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("public", &self.public)
            .field("secrets", &"[redacted]")
            .finish()
    }
}

impl SigningKeys {
    /// The accounts `(purpose, index)` of `seed` on `network`.
    pub fn from_seed(
        seed: &Seed,
        network: Network,
        accounts: &[(Purpose, u32)],
    ) -> Result<SigningKeys, KeysError> {
        let secp = Secp256k1::new();
        let mut watch = Vec::with_capacity(accounts.len());
        let mut secrets = Vec::with_capacity(accounts.len());
        for (purpose, index) in accounts {
            let account = Account::from_seed(&secp, seed, network, *purpose, *index);
            let chain = |c: u32| {
                account
                    .xpriv()
                    .derive_priv(&secp, &[ChildNumber::Normal { index: c }])
                    .map(|x| ChainSecret(x.private_key))
                    .map_err(|_| {
                        KeysError::BadAccountPath(account.watch_only().account_path_string())
                    })
            };
            secrets.push([chain(0)?, chain(1)?]);
            watch.push(account.watch_only().clone());
        }
        Ok(SigningKeys {
            public: OurKeys::from_watch_only(watch)?,
            secp,
            secrets,
        })
    }

    /// Account 0 of BIP84, BIP49 and BIP44 (what the recorded node's wallet holds).
    pub fn standard(seed: &Seed, network: Network) -> SigningKeys {
        let accounts = [
            (Purpose::Bip84, 0),
            (Purpose::Bip49, 0),
            (Purpose::Bip44, 0),
        ];
        // The three standard account paths are well-formed, so the only failure left is a
        // BIP32 derivation hitting an invalid key (probability ~2^-127).
        SigningKeys::from_seed(seed, network, &accounts).expect("standard accounts derive")
    }

    /// The public half (for the analysis).
    pub fn public(&self) -> &OurKeys {
        &self.public
    }

    /// The signing context.
    pub(crate) fn secp(&self) -> &Secp256k1<All> {
        &self.secp
    }

    /// The secret key of `child` (derived by [`OurKeys::child`] at `at` with these keys' public
    /// half): chain secret + the child's tweak, a scalar addition (no HMAC, no point
    /// multiplication).
    pub(crate) fn secret(&self, at: &Located, child: &Child) -> Option<ChildSecret> {
        let secret = &self.secrets.get(at.account_pos)?.get(at.chain as usize)?.0;
        secret.add_tweak(&child.tweak).ok().map(ChildSecret)
    }
}

/// A child secret key, erased on drop.
pub(crate) struct ChildSecret(pub(crate) SecretKey);

impl Drop for ChildSecret {
    fn drop(&mut self) {
        self.0.non_secure_erase();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Mnemonic;
    use std::str::FromStr;

    #[test]
    fn cached_derivation_matches_account_derivation() {
        let seed = Mnemonic::parse("all all all all all all all all all all all all")
            .unwrap()
            .to_seed("");
        let keys = SigningKeys::standard(&seed, Network::Regtest);
        let secp = Secp256k1::new();
        for (path, purpose) in [
            ("m/84'/1'/0'/1/7", Purpose::Bip84),
            ("m/49'/1'/0'/0/3", Purpose::Bip49),
            ("m/44'/1'/0'/0/0", Purpose::Bip44),
        ] {
            let at = keys
                .public()
                .locate(&DerivationPath::from_str(path).unwrap())
                .unwrap();
            let account = Account::from_seed(&secp, &seed, Network::Regtest, purpose, 0);
            let expected = account.private_key(&secp, at.chain, at.index).unwrap();
            let child = keys.public().child(&at).unwrap();
            assert_eq!(
                keys.secret(&at, &child).unwrap().0,
                expected.inner,
                "{path}"
            );
            assert_eq!(
                CompressedPublicKey::from_private_key(&secp, &expected).unwrap(),
                child.pubkey,
                "{path}"
            );
            assert_eq!(
                keys.public().pubkey(&at).unwrap(),
                account.watch_only().pubkey(at.chain, at.index).unwrap()
            );
        }
        assert!(format!("{keys:?}").contains("[redacted]"));
    }

    #[test]
    fn odd_paths_say_why() {
        let seed = Mnemonic::parse("all all all all all all all all all all all all")
            .unwrap()
            .to_seed("");
        let keys = SigningKeys::standard(&seed, Network::Regtest);
        for (path, needle) in [
            ("m/84'/1'/0'/1", "levels"),
            ("m/84'/1'/5'/1/0", "not one of this signer's accounts"),
            ("m/84'/22'/0'/1/0", "not one of this signer's accounts"),
            ("m/84'/1'/0'/2/0", "chain 2"),
            ("m/84'/1'/0'/1/0'", "hardened"),
        ] {
            let e = keys
                .public()
                .locate(&DerivationPath::from_str(path).unwrap())
                .unwrap_err();
            assert!(e.contains(needle), "{path}: {e}");
        }
    }
}
