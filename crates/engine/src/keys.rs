//! The hot key: signs the hot wallet's payouts (P2WPKH / P2SH-P2WPKH, low-R, SIGHASH_ALL) and
//! verifies every signed input under libbitcoinconsensus before anything is committed.
//!
//! Module invariant: a transaction leaves [`HotKeys::sign`] only if every input verifies
//! against the value and script of the coin it spends as WE recorded it (never as a PSBT
//! claims); the chain-level private keys are erased on drop and never printed.

use std::fmt;

use bitcoin::bip32::{ChildNumber, Xpriv};
use bitcoin::ecdsa::Signature;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::secp256k1::{All, Message, Secp256k1};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Amount, CompressedPublicKey, OutPoint, ScriptBuf, Transaction, TxOut, Witness};
use mona::ScriptType;
use mona_wallet::build::Coin as WalletCoin;
use mona_wallet::{Account, WatchOnlyAccount};

/// Why a transaction could not be signed or did not verify. Nothing was committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The PSBT's inputs are not the coins given.
    #[error("input {0} of the transaction is not one of the selected coins")]
    UnknownInput(OutPoint),
    /// The key of a coin could not be derived or does not produce its script.
    #[error("coin {0} is not spendable by the hot key at its recorded derivation")]
    NotOurs(OutPoint),
    /// The sighash could not be computed.
    #[error("cannot compute the sighash of input {input}: {reason}")]
    Sighash {
        /// The input.
        input: usize,
        /// Why.
        reason: String,
    },
    /// A signed input does not verify under libbitcoinconsensus.
    #[error("signed transaction does not verify: {0}")]
    Verify(String),
    /// A PSBT input has no final scripts and no usable signature.
    #[error("input {0} is not signed")]
    Incomplete(usize),
}

/// The hot account's chain keys (receive and change).
pub struct HotKeys {
    watch: WatchOnlyAccount,
    chains: [Xpriv; 2],
    secp: Secp256k1<All>,
}

impl fmt::Debug for HotKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HotKeys")
            .field("account", &self.watch.account_path_string())
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl Drop for HotKeys {
    fn drop(&mut self) {
        for x in &mut self.chains {
            x.private_key.non_secure_erase();
            x.chain_code = bitcoin::bip32::ChainCode::from([0u8; 32]);
        }
    }
}

impl HotKeys {
    /// The keys of `account` (the hot seed's BIP84 account 0 in hot-node).
    pub fn from_account(account: &Account) -> HotKeys {
        let secp = Secp256k1::new();
        let chain = |c: u32| {
            // Chains 0 and 1 of a valid account key: a non-hardened child fails only with
            // probability ~2^-127 (an invalid tweak), in which case the account is unusable.
            account
                .xpriv()
                .derive_priv(&secp, &[ChildNumber::Normal { index: c }])
                .expect("account chain key derives")
        };
        let chains = [chain(0), chain(1)];
        HotKeys {
            watch: account.watch_only().clone(),
            chains,
            secp,
        }
    }

    /// The public half.
    pub fn watch_only(&self) -> &WatchOnlyAccount {
        &self.watch
    }

    /// Signs every input of `psbt.unsigned_tx` with the key of the coin it spends (`coins`
    /// as selected from our own records), then verifies the whole transaction.
    pub fn sign(&self, psbt: &Psbt, coins: &[WalletCoin]) -> Result<Transaction, SignError> {
        let mut tx = psbt.unsigned_tx.clone();
        let mut prevouts = Vec::with_capacity(tx.input.len());
        for txin in &tx.input {
            let c = coins
                .iter()
                .find(|c| c.outpoint == txin.previous_output)
                .ok_or(SignError::UnknownInput(txin.previous_output))?;
            prevouts.push(c.clone());
        }
        let mut cache = SighashCache::new(&tx);
        let mut finals = Vec::with_capacity(prevouts.len());
        for (i, c) in prevouts.iter().enumerate() {
            let not_ours = || SignError::NotOurs(c.outpoint);
            let xpriv = &self.chains[c.keychain.chain() as usize];
            let child = xpriv
                .derive_priv(
                    &self.secp,
                    &[ChildNumber::from_normal_idx(c.index).map_err(|_| not_ours())?],
                )
                .map_err(|_| not_ours())?;
            let mut sk = child.private_key;
            let pk = CompressedPublicKey(sk.public_key(&self.secp));
            let st = self.watch.script_type;
            if st.script_pubkey(&pk) != c.script_pubkey || st == ScriptType::Pkh {
                sk.non_secure_erase();
                return Err(not_ours());
            }
            let wpkh = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
            let digest = cache
                .p2wpkh_signature_hash(
                    i,
                    &wpkh,
                    Amount::from_sat(c.value.to_wat()),
                    EcdsaSighashType::All,
                )
                .map_err(|e| SignError::Sighash {
                    input: i,
                    reason: e.to_string(),
                })?;
            let sig = self
                .secp
                .sign_ecdsa_low_r(&Message::from_digest(digest.to_byte_array()), &sk);
            sk.non_secure_erase();
            let sig = Signature {
                signature: sig,
                sighash_type: EcdsaSighashType::All,
            };
            finals.push((Witness::p2wpkh(&sig, &pk.0), st.redeem_script(&pk)));
        }
        for (txin, (witness, redeem)) in tx.input.iter_mut().zip(finals) {
            txin.witness = witness;
            if let Some(r) = redeem {
                let push = PushBytesBuf::try_from(r.into_bytes()).unwrap_or_default();
                txin.script_sig = Builder::new().push_slice(push).into_script();
            }
        }
        let spent: Vec<(OutPoint, TxOut)> = prevouts
            .iter()
            .map(|c| {
                (
                    c.outpoint,
                    TxOut {
                        value: Amount::from_sat(c.value.to_wat()),
                        script_pubkey: c.script_pubkey.clone(),
                    },
                )
            })
            .collect();
        verify(&tx, &spent)?;
        Ok(tx)
    }
}

/// Verifies every input of `tx` under libbitcoinconsensus against `spent` (outpoint -> output).
pub fn verify(tx: &Transaction, spent: &[(OutPoint, TxOut)]) -> Result<(), SignError> {
    tx.verify(|op| {
        spent
            .iter()
            .find(|(o, _)| o == op)
            .map(|(_, out)| out.clone())
    })
    .map_err(|e| SignError::Verify(e.to_string()))
}

/// The network transaction of a cold-signed PSBT: inputs already finalized are taken as they
/// are; a P2WPKH input with exactly one partial signature is finalized as Core would.
pub fn finalize_cold(psbt: &Psbt) -> Result<Transaction, SignError> {
    let mut tx = psbt.unsigned_tx.clone();
    for (i, (txin, pin)) in tx.input.iter_mut().zip(&psbt.inputs).enumerate() {
        if pin.final_script_sig.is_some() || pin.final_script_witness.is_some() {
            txin.script_sig = pin.final_script_sig.clone().unwrap_or_default();
            txin.witness = pin.final_script_witness.clone().unwrap_or_default();
            continue;
        }
        let mut sigs = pin.partial_sigs.iter();
        match (sigs.next(), sigs.next()) {
            (Some((pk, sig)), None) if pk.compressed => {
                txin.witness = Witness::p2wpkh(sig, &pk.inner);
                if let Some(r) = &pin.redeem_script {
                    let push = PushBytesBuf::try_from(r.clone().into_bytes()).unwrap_or_default();
                    txin.script_sig = Builder::new().push_slice(push).into_script();
                }
            }
            _ => return Err(SignError::Incomplete(i)),
        }
    }
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkeys;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Sequence, TxIn, Txid};
    use mona_wallet::build::Keychain as WK;

    fn spend(coins: &[WalletCoin]) -> Psbt {
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: coins
                .iter()
                .map(|c| TxIn {
                    previous_output: c.outpoint,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: vec![TxOut {
                value: Amount::from_sat(90_000),
                script_pubkey: testkeys::foreign_script(),
            }],
        };
        Psbt::from_unsigned_tx(tx).unwrap()
    }

    fn coin(n: u8, chain: WK, index: u32) -> WalletCoin {
        let hot = testkeys::hot_watch();
        WalletCoin {
            outpoint: OutPoint {
                txid: Txid::from_byte_array([n; 32]),
                vout: 1,
            },
            value: mona::Amount::from_wat_const(100_000),
            script_pubkey: hot.script_pubkey(chain.chain(), index).unwrap(),
            script_type: ScriptType::Wpkh,
            keychain: chain,
            index,
            confirmation_height: Some(1),
            prev_tx: None,
        }
    }

    #[test]
    fn signs_and_verifies_and_refuses_foreign_or_tampered() {
        let keys = testkeys::hot_keys();
        let coins = vec![coin(1, WK::External, 4), coin(2, WK::Internal, 9)];
        let tx = keys.sign(&spend(&coins), &coins).unwrap();
        assert!(tx.input.iter().all(|i| i.witness.len() == 2));
        // a coin recorded with a value other than the signed one fails verification
        let spent: Vec<_> = coins
            .iter()
            .map(|c| {
                (
                    c.outpoint,
                    TxOut {
                        value: Amount::from_sat(100_001),
                        script_pubkey: c.script_pubkey.clone(),
                    },
                )
            })
            .collect();
        assert!(matches!(verify(&tx, &spent), Err(SignError::Verify(_))));
        // a coin whose script is not the key at its recorded index
        let mut wrong = coins.clone();
        wrong[0].index = 5;
        assert_eq!(
            keys.sign(&spend(&wrong), &wrong).unwrap_err(),
            SignError::NotOurs(wrong[0].outpoint)
        );
        // an input that is not one of the selected coins
        assert!(matches!(
            keys.sign(&spend(&coins), &coins[..1]),
            Err(SignError::UnknownInput(_))
        ));
        assert!(format!("{keys:?}").contains("[redacted]"));
    }
}
