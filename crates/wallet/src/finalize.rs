//! Placing signatures as final scripts, the way Monacoin/Bitcoin Core 0.20's
//! `walletprocesspsbt` does for single-key inputs, and extracting the network transaction.
//!
//! Invariant: an input this module finalizes carries exactly Core's final script shapes —
//! P2WPKH: witness `[sig, pubkey]`; P2SH-P2WPKH: scriptSig `<redeemScript>` + the same witness;
//! P2PKH: scriptSig `<sig> <pubkey>` — and loses its partial signatures, derivations, redeem and
//! witness scripts and sighash type (BIP174 finalizer), keeping its UTXO fields.

use std::collections::BTreeMap;

use bitcoin::psbt::{Input, Psbt};
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::{PublicKey, Transaction, Witness};
use mona::ScriptType;

use crate::sign::InputSignature;

/// Writes each signature into its input as final scripts.
pub(crate) fn finalize_inputs(psbt: &mut Psbt, signatures: &[InputSignature]) {
    for s in signatures {
        let Some(input) = psbt.inputs.get_mut(s.input) else {
            continue;
        };
        let witness = Witness::p2wpkh(&s.signature, &s.pubkey.0);
        match s.script_type {
            ScriptType::Wpkh => {
                input.final_script_witness = Some(witness);
            }
            ScriptType::ShWpkh => {
                let redeem = ScriptType::ShWpkh
                    .redeem_script(&s.pubkey)
                    .unwrap_or_default();
                // A 22-byte redeem script always fits a push.
                let push = PushBytesBuf::try_from(redeem.into_bytes()).unwrap_or_default();
                input.final_script_sig = Some(Builder::new().push_slice(push).into_script());
                input.final_script_witness = Some(witness);
            }
            ScriptType::Pkh => {
                let sig = PushBytesBuf::try_from(s.signature.to_vec()).unwrap_or_default();
                input.final_script_sig = Some(
                    Builder::new()
                        .push_slice(sig)
                        .push_key(&PublicKey::new(s.pubkey.0))
                        .into_script(),
                );
            }
        }
        clear_after_finalize(input);
    }
}

fn clear_after_finalize(input: &mut Input) {
    input.partial_sigs = BTreeMap::new();
    input.bip32_derivation = BTreeMap::new();
    input.redeem_script = None;
    input.witness_script = None;
    input.sighash_type = None;
}

/// Whether every input carries a final scriptSig or witness.
pub fn is_complete(psbt: &Psbt) -> bool {
    psbt.inputs
        .iter()
        .all(|i| i.final_script_sig.is_some() || i.final_script_witness.is_some())
}

/// The network transaction of a complete PSBT (`None` while an input lacks its final scripts).
/// The fee-rate sanity check of the `bitcoin` crate uses Bitcoin's limits, so it is not used:
/// the fee was judged by the policy before signing.
pub fn extract(psbt: &Psbt) -> Option<Transaction> {
    is_complete(psbt).then(|| psbt.clone().extract_tx_unchecked_fee_rate())
}
