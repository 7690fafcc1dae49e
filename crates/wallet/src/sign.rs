//! ECDSA signatures for the inputs the analysis proved ours: P2WPKH and P2SH-P2WPKH (BIP143) and
//! P2PKH (legacy sighash), low-R like Bitcoin/Monacoin Core (RFC6979 + grinding).
//!
//! Invariant: only inputs with an [`crate::psbt::analyze`] ownership proof are signed, with the
//! amount, script and key the analysis verified (never re-read from the PSBT; the child secret
//! is the chain secret plus the tweak that derived the proven public key), and BIP143's shared
//! hashes are computed once per transaction ([`SighashCache`]).

use bitcoin::ecdsa::Signature;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::Message;
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Amount, CompressedPublicKey, ScriptBuf};
use mona::ScriptType;

use crate::psbt::analyze::OwnedInput;
use crate::psbt::keys::SigningKeys;

/// Why an input could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignInputError {
    /// The input's sighash type is not a standard ECDSA one.
    #[error("input {input}: non-standard sighash type 0x{sighash:x}")]
    NonStandardSighash {
        /// Input.
        input: usize,
        /// Raw value.
        sighash: u32,
    },
    /// The key at the proven path could not be derived (BIP32 invalid child).
    #[error("input {input}: the key at its path cannot be derived")]
    KeyUnavailable {
        /// Input.
        input: usize,
    },
    /// The sighash could not be computed (index out of range, not a P2WPKH script).
    #[error("input {input}: cannot compute the sighash: {reason}")]
    Sighash {
        /// Input.
        input: usize,
        /// Why.
        reason: String,
    },
}

/// One produced signature, not yet placed in the PSBT.
pub(crate) struct InputSignature {
    pub(crate) input: usize,
    pub(crate) script_type: ScriptType,
    pub(crate) pubkey: CompressedPublicKey,
    pub(crate) signature: Signature,
}

/// Signs every owned, not yet finalized input of `psbt`.
pub(crate) fn sign_owned(
    psbt: &Psbt,
    owned: &[Option<OwnedInput>],
    keys: &SigningKeys,
) -> Result<Vec<InputSignature>, SignInputError> {
    let secp = keys.secp();
    let mut cache = SighashCache::new(&psbt.unsigned_tx);
    let mut out = Vec::new();
    for (input, (own, pin)) in owned.iter().zip(&psbt.inputs).enumerate() {
        let Some(own) = own else { continue };
        if pin.final_script_sig.is_some() || pin.final_script_witness.is_some() {
            continue;
        }
        let sighash_type = match pin.sighash_type {
            None => EcdsaSighashType::All,
            Some(t) => t
                .ecdsa_hash_ty()
                .map_err(|_| SignInputError::NonStandardSighash {
                    input,
                    sighash: t.to_u32(),
                })?,
        };
        let sighash_err = |reason: String| SignInputError::Sighash { input, reason };
        let digest: [u8; 32] = match own.at.script_type {
            ScriptType::Wpkh | ScriptType::ShWpkh => {
                let wpkh = ScriptBuf::new_p2wpkh(&own.child.pubkey.wpubkey_hash());
                cache
                    .p2wpkh_signature_hash(
                        input,
                        &wpkh,
                        Amount::from_sat(own.amount_wat),
                        sighash_type,
                    )
                    .map_err(|e| sighash_err(e.to_string()))?
                    .to_byte_array()
            }
            ScriptType::Pkh => cache
                .legacy_signature_hash(input, &own.script_pubkey, sighash_type.to_u32())
                .map_err(|e| sighash_err(e.to_string()))?
                .to_byte_array(),
        };
        let secret = keys
            .secret(&own.at, &own.child)
            .ok_or(SignInputError::KeyUnavailable { input })?;
        let signature = secp.sign_ecdsa_low_r(&Message::from_digest(digest), &secret.0);
        out.push(InputSignature {
            input,
            script_type: own.at.script_type,
            pubkey: own.child.pubkey,
            signature: Signature {
                signature,
                sighash_type,
            },
        });
    }
    Ok(out)
}
