//! Input script verification through Bitcoin Core's interpreter (`bitcoinconsensus`).
//!
//! Invariant: an input is accepted only if libbitcoinconsensus accepts it with every
//! consensus flag simnode enforces (P2SH, DERSIG, NULLDUMMY, CLTV, CSV, WITNESS) AND the
//! policy-only signature rules Core's standard flags add for the standard templates (low S,
//! defined hashtype, compressed keys in segwit). libbitcoinconsensus only says pass/fail, so
//! the error *text* is derived from the template, the way Core's interpreter would fail it;
//! mandatory vs non-mandatory is decided by re-running the library with P2SH only, exactly like
//! Core 0.20's `CheckInputs`.

use bitcoin::hashes::{hash160, sha256, Hash as _};
use bitcoin::script::Instruction;
use bitcoin::{Script, Transaction, TxOut};

use crate::params::{classify, ScriptKind};

const VERIFY_P2SH: u32 = 1 << 0;
const VERIFY_DERSIG: u32 = 1 << 2;
const VERIFY_NULLDUMMY: u32 = 1 << 4;
const VERIFY_CLTV: u32 = 1 << 9;
const VERIFY_CSV: u32 = 1 << 10;
const VERIFY_WITNESS: u32 = 1 << 11;

/// Flags simnode checks mempool transactions with (the library's subset of Core's standard flags).
pub const STANDARD_FLAGS: u32 =
    VERIFY_P2SH | VERIFY_DERSIG | VERIFY_NULLDUMMY | VERIFY_CLTV | VERIFY_CSV | VERIFY_WITNESS;
/// Core 0.20's MANDATORY_SCRIPT_VERIFY_FLAGS.
pub const MANDATORY_FLAGS: u32 = VERIFY_P2SH;

const EVAL_FALSE: &str =
    "Script evaluated without error but finished with a false/empty top stack element";
const STACK: &str = "Operation not valid with the current stack size";
const NULLFAIL: &str = "Signature must be zero for failed CHECK(MULTI)SIG operation";
const WITNESS_MISMATCH: &str = "Witness program hash mismatch";
const EQUALVERIFY: &str = "Script failed an OP_EQUALVERIFY operation";
const SIG_DER: &str = "Non-canonical DER signature";
const SIG_HIGH_S: &str = "Non-canonical signature: S value is unnecessarily high";
const SIG_HASHTYPE: &str = "Signature hash type missing or not understood";
const PUBKEYTYPE: &str = "Public key is neither compressed or uncompressed";
const WITNESS_PUBKEYTYPE: &str = "Using non-compressed keys in segwit";
const WITNESS_MALLEATED: &str = "Witness requires empty scriptSig";
const WITNESS_MALLEATED_P2SH: &str = "Witness requires only-redeemscript scriptSig";
const WITNESS_EMPTY: &str = "Witness program was passed an empty witness";

fn lib_verify(spk: &Script, amount: u64, tx_bytes: &[u8], index: usize, flags: u32) -> bool {
    bitcoin::consensus::validation::verify_script_with_flags(
        spk,
        index,
        bitcoin::Amount::from_sat(amount),
        tx_bytes,
        flags,
    )
    .is_ok()
}

/// Verifies input `index` of `tx` (serialised as `tx_bytes`) spending `prevout`.
/// On failure returns Core's reject reason, e.g.
/// `non-mandatory-script-verify-flag (Signature must be zero for failed CHECK(MULTI)SIG operation)`.
pub fn verify_input(
    tx: &Transaction,
    tx_bytes: &[u8],
    index: usize,
    prevout: &TxOut,
) -> Result<(), String> {
    let spk = prevout.script_pubkey.as_script();
    let amount = prevout.value.to_sat();
    if !lib_verify(spk, amount, tx_bytes, index, STANDARD_FLAGS) {
        let why = explain_failure(tx, index, spk);
        if lib_verify(spk, amount, tx_bytes, index, MANDATORY_FLAGS) {
            return Err(format!("non-mandatory-script-verify-flag ({why})"));
        }
        return Err(format!("mandatory-script-verify-flag-failed ({why})"));
    }
    if let Some(why) = policy_violation(tx, index, spk) {
        return Err(format!("non-mandatory-script-verify-flag ({why})"));
    }
    Ok(())
}

fn pushes(script: &Script) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for ins in script.instructions() {
        match ins.ok()? {
            Instruction::PushBytes(p) => out.push(p.as_bytes().to_vec()),
            Instruction::Op(o) => {
                let c = o.to_u8();
                match c {
                    0x4f => out.push(vec![0x81]),
                    0x51..=0x60 => out.push(vec![c - 0x50]),
                    _ => return None,
                }
            }
        }
    }
    Some(out)
}

fn sig_encoding_error(sig: &[u8]) -> Option<&'static str> {
    if sig.is_empty() {
        return None;
    }
    let der = &sig[..sig.len() - 1];
    let Ok(parsed) = bitcoin::secp256k1::ecdsa::Signature::from_der(der) else {
        return Some(SIG_DER);
    };
    let mut normalized = parsed;
    normalized.normalize_s();
    if normalized != parsed {
        return Some(SIG_HIGH_S);
    }
    let ht = sig[sig.len() - 1] & !0x80;
    if !(1..=3).contains(&ht) {
        return Some(SIG_HASHTYPE);
    }
    None
}

fn pubkey_error(pk: &[u8], witness: bool) -> Option<&'static str> {
    let compressed = pk.len() == 33 && (pk[0] == 2 || pk[0] == 3);
    let uncompressed = pk.len() == 65 && pk[0] == 4;
    if !compressed && !uncompressed {
        return Some(PUBKEYTYPE);
    }
    if witness && !compressed {
        return Some(WITNESS_PUBKEYTYPE);
    }
    None
}

fn explain_p2wpkh(witness: &[Vec<u8>], program: &[u8]) -> &'static str {
    if witness.len() != 2 || hash160::Hash::hash(&witness[1]).as_byte_array() != program {
        return WITNESS_MISMATCH;
    }
    let (sig, pk) = (&witness[0], &witness[1]);
    if let Some(e) = sig_encoding_error(sig).or_else(|| pubkey_error(pk, true)) {
        return e;
    }
    if sig.is_empty() {
        EVAL_FALSE
    } else {
        NULLFAIL
    }
}

fn explain_p2pkh(stack: &[Vec<u8>], hash: &[u8]) -> &'static str {
    let Some(pk) = stack.last() else {
        return STACK;
    };
    if hash160::Hash::hash(pk).as_byte_array() != hash {
        return EQUALVERIFY;
    }
    if stack.len() < 2 {
        return STACK;
    }
    let sig = &stack[stack.len() - 2];
    if let Some(e) = sig_encoding_error(sig).or_else(|| pubkey_error(pk, false)) {
        return e;
    }
    if sig.is_empty() {
        EVAL_FALSE
    } else {
        NULLFAIL
    }
}

/// The interpreter error Core reports for a failing input of a known template.
fn explain_failure(tx: &Transaction, index: usize, spk: &Script) -> &'static str {
    let input = &tx.input[index];
    let witness: Vec<Vec<u8>> = input.witness.iter().map(<[u8]>::to_vec).collect();
    let Some(stack) = pushes(&input.script_sig) else {
        return "Only push operators allowed in signatures";
    };
    let b = spk.as_bytes();
    match classify(spk) {
        ScriptKind::WitnessV0KeyHash => {
            if !input.script_sig.is_empty() {
                return WITNESS_MALLEATED;
            }
            explain_p2wpkh(&witness, &b[2..22])
        }
        ScriptKind::WitnessV0ScriptHash => {
            if !input.script_sig.is_empty() {
                return WITNESS_MALLEATED;
            }
            match witness.last() {
                None => WITNESS_EMPTY,
                Some(ws) if sha256::Hash::hash(ws).as_byte_array() != &b[2..34] => WITNESS_MISMATCH,
                Some(_) => EVAL_FALSE,
            }
        }
        ScriptKind::ScriptHash => {
            let Some(redeem) = stack.last() else {
                return STACK;
            };
            if hash160::Hash::hash(redeem).as_byte_array() != &b[2..22] {
                return EVAL_FALSE;
            }
            let rs = Script::from_bytes(redeem);
            if rs.is_p2wpkh() {
                if stack.len() != 1 {
                    return WITNESS_MALLEATED_P2SH;
                }
                return explain_p2wpkh(&witness, &redeem[2..22]);
            }
            if rs.is_p2wsh() {
                return if witness.is_empty() {
                    WITNESS_EMPTY
                } else {
                    WITNESS_MISMATCH
                };
            }
            EVAL_FALSE
        }
        ScriptKind::PubKeyHash => explain_p2pkh(&stack, &b[3..23]),
        ScriptKind::PubKey => match stack.last() {
            None => STACK,
            Some(sig) if sig.is_empty() => EVAL_FALSE,
            Some(sig) => sig_encoding_error(sig).unwrap_or(NULLFAIL),
        },
        _ => EVAL_FALSE,
    }
}

/// Policy-only rules (standard flags libbitcoinconsensus does not expose) for inputs the
/// library accepted: low S, defined hashtype, key encoding.
fn policy_violation(tx: &Transaction, index: usize, spk: &Script) -> Option<&'static str> {
    let input = &tx.input[index];
    let witness: Vec<Vec<u8>> = input.witness.iter().map(<[u8]>::to_vec).collect();
    let stack = pushes(&input.script_sig)?;
    let check = |sig: &[u8], pk: &[u8], segwit: bool| {
        sig_encoding_error(sig).or_else(|| pubkey_error(pk, segwit))
    };
    match classify(spk) {
        ScriptKind::WitnessV0KeyHash if witness.len() == 2 => check(&witness[0], &witness[1], true),
        ScriptKind::ScriptHash => {
            let redeem = stack.last()?;
            if Script::from_bytes(redeem).is_p2wpkh() && witness.len() == 2 {
                check(&witness[0], &witness[1], true)
            } else {
                None
            }
        }
        ScriptKind::PubKeyHash if stack.len() == 2 => check(&stack[0], &stack[1], false),
        _ => None,
    }
}
