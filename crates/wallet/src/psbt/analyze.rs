//! PSBT -> [`TxSummary`]: which inputs are ours, which outputs are proven change, and the
//! amounts that can be trusted.
//!
//! Invariant: nothing the PSBT claims is believed without proof. An input is ours only if a
//! derivation carries our fingerprint, its path lies in one of our accounts, the key we derive
//! there equals the claimed key, and that key's script equals the spent output's script (taken
//! from the verified full previous transaction when present). An output is change only if the
//! script we re-derive at its claimed path equals it exactly. An amount is trusted only from a
//! full previous transaction whose txid equals the prevout's.

use bitcoin::psbt::{Input, Psbt};
use bitcoin::{ScriptBuf, TxIn, VarInt};
use mona::{Address, ScriptType};
use mona_policy::{
    Envelope, InputOwnership, InputSummary, OutputOwnership, OutputSummary, TxSummary, UtxoEvidence,
};

use crate::psbt::keys::{Child, Located, OurKeys};

/// What the signer needs to sign an input it proved to be its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnedInput {
    pub(crate) at: Located,
    /// Our key at `at` (public key and tweak), derived once here and reused to sign.
    pub(crate) child: Child,
    /// Value of the spent output (trusted, or witness-only when the policy allowed it).
    pub(crate) amount_wat: u64,
    /// The spent script.
    pub(crate) script_pubkey: ScriptBuf,
}

/// A summary plus the signer's private notes on its own inputs.
#[derive(Debug, Clone)]
pub(crate) struct Analysis {
    pub(crate) summary: TxSummary,
    pub(crate) owned: Vec<Option<OwnedInput>>,
}

/// Analyses a parsed PSBT for the keys in `keys`.
pub fn summarize(psbt: &Psbt, envelope: Envelope, keys: &OurKeys) -> TxSummary {
    analyze(psbt, envelope, keys).summary
}

pub(crate) fn analyze(psbt: &Psbt, envelope: Envelope, keys: &OurKeys) -> Analysis {
    let tx = &psbt.unsigned_tx;
    let mut inputs = Vec::with_capacity(tx.input.len());
    let mut owned = Vec::with_capacity(tx.input.len());
    for (index, (txin, input)) in tx.input.iter().zip(&psbt.inputs).enumerate() {
        let utxo = evidence(txin, input);
        let (ownership, own) = input_ownership(input, &utxo, keys);
        inputs.push(InputSummary {
            index,
            prevout: txin.previous_output,
            sequence: txin.sequence.0,
            utxo,
            ownership,
            sighash: input.sighash_type.map(|s| s.to_u32()),
            finalized: input.final_script_sig.is_some() || input.final_script_witness.is_some(),
        });
        owned.push(own);
    }
    let mut outputs = Vec::with_capacity(tx.output.len());
    for (index, (txout, output)) in tx.output.iter().zip(&psbt.outputs).enumerate() {
        let ownership = output_ownership(&txout.script_pubkey, output, keys);
        outputs.push(OutputSummary {
            index,
            amount_wat: txout.value.to_sat(),
            script_pubkey: txout.script_pubkey.clone(),
            address: Address::from_script(&txout.script_pubkey, keys.network())
                .ok()
                .map(|a| a.to_string()),
            ownership,
        });
    }
    let estimated_vsize = estimate_vsize(psbt, &owned);
    Analysis {
        summary: TxSummary {
            network: keys.network(),
            envelope,
            txid: tx.compute_txid(),
            tx_version: tx.version.0,
            lock_time: tx.lock_time.to_consensus_u32(),
            inputs,
            outputs,
            estimated_vsize,
        },
        owned,
    }
}

fn evidence(txin: &TxIn, input: &Input) -> UtxoEvidence {
    let prevout = txin.previous_output;
    match (&input.non_witness_utxo, &input.witness_utxo) {
        (Some(prev), witness) => {
            let found = prev.compute_txid();
            if found != prevout.txid {
                return UtxoEvidence::PrevTxidMismatch { found };
            }
            let Some(out) = prev.output.get(prevout.vout as usize) else {
                return UtxoEvidence::PrevTxMissingOutput {
                    outputs: prev.output.len(),
                };
            };
            match witness {
                Some(w) if w != out => UtxoEvidence::WitnessUtxoMismatch {
                    trusted_wat: out.value.to_sat(),
                    claimed_wat: w.value.to_sat(),
                    script_differs: w.script_pubkey != out.script_pubkey,
                },
                _ => UtxoEvidence::FullPrevTx {
                    amount_wat: out.value.to_sat(),
                    script_pubkey: out.script_pubkey.clone(),
                },
            }
        }
        (None, Some(w)) => UtxoEvidence::WitnessUtxoOnly {
            amount_wat: w.value.to_sat(),
            script_pubkey: w.script_pubkey.clone(),
        },
        (None, None) => UtxoEvidence::Missing,
    }
}

fn input_ownership(
    input: &Input,
    utxo: &UtxoEvidence,
    keys: &OurKeys,
) -> (InputOwnership, Option<OwnedInput>) {
    let spent = match utxo {
        UtxoEvidence::FullPrevTx {
            amount_wat,
            script_pubkey,
        }
        | UtxoEvidence::WitnessUtxoOnly {
            amount_wat,
            script_pubkey,
        } => Some((*amount_wat, script_pubkey)),
        _ => None,
    };
    let mut first_problem = None;
    for (claimed_key, (fingerprint, path)) in &input.bip32_derivation {
        if Some(*fingerprint) != keys.fingerprint() {
            continue;
        }
        let problem = |reason: String| InputOwnership::ClaimMismatch {
            path: path.clone(),
            reason,
        };
        let at = match keys.locate(path) {
            Ok(at) => at,
            Err(reason) => {
                first_problem.get_or_insert(problem(reason));
                continue;
            }
        };
        let Some(child) = keys.child(&at) else {
            first_problem.get_or_insert(problem("the key cannot be derived there".into()));
            continue;
        };
        let pubkey = child.pubkey;
        if pubkey.0 != *claimed_key {
            first_problem.get_or_insert(problem("our key at that path is another key".into()));
            continue;
        }
        let Some((amount_wat, spent_script)) = spent else {
            first_problem.get_or_insert(problem("the spent output is not proven".into()));
            continue;
        };
        if at.script_type.script_pubkey(&pubkey) != *spent_script {
            first_problem.get_or_insert(problem(
                "the spent script is not our script for that key".into(),
            ));
            continue;
        }
        if let (Some(rs), Some(ours)) =
            (&input.redeem_script, at.script_type.redeem_script(&pubkey))
        {
            if *rs != ours {
                first_problem.get_or_insert(problem("its redeem script is not ours".into()));
                continue;
            }
        }
        let ownership = InputOwnership::Ours {
            path: path.clone(),
            script_type: at.script_type,
            account: at.account,
            chain: at.chain,
            index: at.index,
        };
        let own = OwnedInput {
            at,
            child,
            amount_wat,
            script_pubkey: spent_script.clone(),
        };
        return (ownership, Some(own));
    }
    (first_problem.unwrap_or(InputOwnership::NotOurs), None)
}

fn output_ownership(
    script: &ScriptBuf,
    output: &bitcoin::psbt::Output,
    keys: &OurKeys,
) -> OutputOwnership {
    let mut proven = None;
    for (claimed_key, (fingerprint, path)) in &output.bip32_derivation {
        if Some(*fingerprint) != keys.fingerprint() {
            continue;
        }
        let at = match keys.locate(path) {
            Ok(at) => at,
            Err(reason) => {
                return OutputOwnership::OddChangePath {
                    path: path.clone(),
                    reason,
                }
            }
        };
        let fraud = |reason: &str| OutputOwnership::FraudulentChange {
            path: path.clone(),
            reason: reason.to_owned(),
        };
        let Some(pubkey) = keys.pubkey(&at) else {
            return fraud("no key can be derived there");
        };
        if at.script_type.script_pubkey(&pubkey) != *script {
            return fraud("the output pays another script than ours at that path");
        }
        if pubkey.0 != *claimed_key {
            return fraud("the claimed key is not ours at that path");
        }
        proven.get_or_insert(OutputOwnership::Change {
            path: path.clone(),
            script_type: at.script_type,
            account: at.account,
            chain: at.chain,
            index: at.index,
        });
    }
    proven.unwrap_or(OutputOwnership::External)
}

/// Witness bytes of `[sig, pubkey]` with a 72-byte signature (Core's conservative estimate).
const P2WPKH_WITNESS: u64 = 1 + 1 + 72 + 1 + 33;
/// scriptSig `<sig> <pubkey>` of a P2PKH spend.
const P2PKH_SCRIPT_SIG: u64 = 1 + 72 + 1 + 33;
/// scriptSig pushing a P2WPKH redeem script.
const SH_WPKH_SCRIPT_SIG: u64 = 1 + 22;

/// The virtual size of the final transaction: real final scripts where present, estimates for
/// our inputs by type, and for foreign inputs by their spent script (P2PKH-sized if unknown).
fn estimate_vsize(psbt: &Psbt, owned: &[Option<OwnedInput>]) -> u64 {
    let tx = &psbt.unsigned_tx;
    let mut base = tx.base_size() as u64;
    let mut witness = 0u64;
    let mut any_witness = false;
    for (i, input) in psbt.inputs.iter().enumerate() {
        let (script_sig, wit): (u64, Option<u64>) =
            if input.final_script_sig.is_some() || input.final_script_witness.is_some() {
                (
                    input
                        .final_script_sig
                        .as_ref()
                        .map_or(0, |s| s.len() as u64),
                    input.final_script_witness.as_ref().map(|w| w.size() as u64),
                )
            } else {
                let kind = owned
                    .get(i)
                    .and_then(|o| o.as_ref().map(|o| o.at.script_type))
                    .or_else(|| {
                        input
                            .witness_utxo
                            .as_ref()
                            .and_then(|w| ScriptType::of_script(&w.script_pubkey))
                    });
                match kind {
                    Some(ScriptType::Wpkh) => (0, Some(P2WPKH_WITNESS)),
                    Some(ScriptType::ShWpkh) => (SH_WPKH_SCRIPT_SIG, Some(P2WPKH_WITNESS)),
                    Some(ScriptType::Pkh) | None => (P2PKH_SCRIPT_SIG, None),
                }
            };
        // The unsigned tx already counts one byte of empty scriptSig length.
        base += script_sig + VarInt(script_sig).size() as u64 - 1;
        match wit {
            Some(w) => {
                any_witness = true;
                witness += w;
            }
            None => witness += 1,
        }
    }
    let weight = if any_witness {
        base * 4 + 2 + witness
    } else {
        base * 4
    };
    weight.div_ceil(4)
}
