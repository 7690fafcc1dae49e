//! Virtual size estimation for transactions spending our single-key inputs.
//!
//! Invariant: every estimate is an upper bound of the real size once signed by any signer that
//! produces standard (low-S) signatures: each signature is counted at 72 bytes (a 71-byte DER
//! maximum under low-S plus the sighash byte), each public key at 33 bytes (compressed). Work is
//! done in weight units and rounded up to vbytes once, at the end, as Core does. With Core-style
//! low-R signatures (71 bytes) the real size is smaller by at most 1 vbyte per input; the estimate
//! matches `walletcreatefundedpsbt`'s own (see `tests/build_vsize.rs`).

use bitcoin::consensus::encode::VarInt;
use bitcoin::Transaction;
use mona::ScriptType;

/// Longest standard signature push: 71-byte DER (low-S) + 1 sighash byte.
pub const MAX_SIG_LEN: u64 = 72;
/// Shortest possible signature push: 8-byte DER + 1 sighash byte (used for lower bounds only).
pub const MIN_SIG_LEN: u64 = 9;
/// A compressed public key.
pub const PUBKEY_LEN: u64 = 33;
/// Weight of the segwit marker and flag bytes.
pub const SEGWIT_MARKER_WEIGHT: u64 = 2;
/// The largest standard transaction weight (Core's `MAX_STANDARD_TX_WEIGHT`).
pub const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;

fn varint_len(n: u64) -> u64 {
    VarInt(n).size() as u64
}

/// Weight of one input of `script_type` whose signature push is `sig_len` bytes, in a segwit
/// transaction. A legacy input here includes the 1 weight unit of its empty witness stack.
pub fn input_weight_with_sig(script_type: ScriptType, sig_len: u64) -> u64 {
    // outpoint 36 + sequence 4 + scriptSig length and script.
    let witness_p2wpkh = 1 + 1 + sig_len + 1 + PUBKEY_LEN;
    match script_type {
        ScriptType::Wpkh => 4 * (36 + 4 + 1) + witness_p2wpkh,
        // scriptSig: one push of the 22-byte P2WPKH redeem script.
        ScriptType::ShWpkh => 4 * (36 + 4 + 1 + 23) + witness_p2wpkh,
        ScriptType::Pkh => {
            let script_sig = 1 + sig_len + 1 + PUBKEY_LEN;
            4 * (36 + 4 + varint_len(script_sig) + script_sig) + 1
        }
    }
}

/// Upper-bound weight of one input of `script_type` (max-size signature) in a segwit
/// transaction: P2WPKH 272, P2SH-P2WPKH 364, P2PKH 593 (592 + its empty witness).
pub fn input_weight(script_type: ScriptType) -> u64 {
    input_weight_with_sig(script_type, MAX_SIG_LEN)
}

/// The classic per-input vsize: P2WPKH 68, P2SH-P2WPKH 91, P2PKH 148 vbytes.
pub fn input_vsize(script_type: ScriptType) -> u64 {
    let w = match script_type {
        // Without the empty-witness byte a legacy-only transaction does not carry.
        ScriptType::Pkh => input_weight(script_type) - 1,
        _ => input_weight(script_type),
    };
    weight_to_vsize(w)
}

/// Weight of an output whose `script_pubkey` is `script_len` bytes.
pub fn output_weight(script_len: usize) -> u64 {
    let len = script_len as u64;
    4 * (8 + varint_len(len) + len)
}

/// Vbytes of an output whose `script_pubkey` is `script_len` bytes (P2WPKH 31, P2SH 32, P2PKH 34).
pub fn output_vsize(script_len: usize) -> u64 {
    weight_to_vsize(output_weight(script_len))
}

/// Weight of version, locktime and the two counts (no marker).
pub fn overhead_weight(n_inputs: usize, n_outputs: usize) -> u64 {
    4 * (4 + 4 + varint_len(n_inputs as u64) + varint_len(n_outputs as u64))
}

/// Vbytes for `weight` weight units, rounded up.
pub const fn weight_to_vsize(weight: u64) -> u64 {
    weight.div_ceil(4)
}

fn weight_with_sig(inputs: &[ScriptType], output_script_lens: &[usize], sig_len: u64) -> u64 {
    let any_segwit = inputs.iter().any(|t| *t != ScriptType::Pkh);
    let ins: u64 = inputs
        .iter()
        .map(|t| {
            let w = input_weight_with_sig(*t, sig_len);
            // A legacy input carries an empty witness only in a segwit transaction.
            if *t == ScriptType::Pkh && !any_segwit {
                w - 1
            } else {
                w
            }
        })
        .sum();
    let outs: u64 = output_script_lens.iter().map(|l| output_weight(*l)).sum();
    let marker = if any_segwit { SEGWIT_MARKER_WEIGHT } else { 0 };
    overhead_weight(inputs.len(), output_script_lens.len()) + marker + ins + outs
}

/// Upper-bound weight of a transaction spending `inputs` to outputs with scripts of the given
/// lengths, once signed.
pub fn estimate_weight(inputs: &[ScriptType], output_script_lens: &[usize]) -> u64 {
    weight_with_sig(inputs, output_script_lens, MAX_SIG_LEN)
}

/// Upper-bound vsize of a transaction spending `inputs` to outputs with scripts of the given
/// lengths, once signed.
pub fn estimate_vsize(inputs: &[ScriptType], output_script_lens: &[usize]) -> u64 {
    weight_to_vsize(estimate_weight(inputs, output_script_lens))
}

/// Upper-bound vsize of `tx` (signed or not) once its inputs, of the given types in input order,
/// are signed.
pub fn estimate_tx_vsize(tx: &Transaction, input_types: &[ScriptType]) -> u64 {
    let lens: Vec<usize> = tx.output.iter().map(|o| o.script_pubkey.len()).collect();
    estimate_vsize(input_types, &lens)
}

/// A size no signed version of such a transaction can be smaller than (shortest DER signatures).
pub fn vsize_lower_bound(inputs: &[ScriptType], output_script_lens: &[usize]) -> u64 {
    weight_to_vsize(weight_with_sig(inputs, output_script_lens, MIN_SIG_LEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_input_and_output_sizes() {
        let cases = [
            ("p2wpkh", ScriptType::Wpkh, 68, 272),
            ("p2sh-p2wpkh", ScriptType::ShWpkh, 91, 364),
            ("p2pkh", ScriptType::Pkh, 148, 593),
        ];
        for (name, t, vb, wu) in cases {
            assert_eq!(input_vsize(t), vb, "{name}");
            assert_eq!(input_weight(t), wu, "{name}");
        }
        assert_eq!(output_vsize(22), 31);
        assert_eq!(output_vsize(23), 32);
        assert_eq!(output_vsize(25), 34);
        assert_eq!(output_vsize(34), 43);
    }

    #[test]
    fn legacy_only_transaction_has_no_marker() {
        // 1-in 2-out P2PKH: 10 + 148 + 2 * 34 = 226 vbytes.
        assert_eq!(estimate_vsize(&[ScriptType::Pkh], &[25, 25]), 226);
        // 1-in 2-out P2WPKH: 10.5 + 68 + 2 * 31 = 140.5 -> 141.
        assert_eq!(estimate_vsize(&[ScriptType::Wpkh], &[22, 22]), 141);
    }

    #[test]
    fn counts_grow_past_252() {
        let ins = vec![ScriptType::Wpkh; 253];
        let one = estimate_weight(&ins[..252], &[22]);
        let two = estimate_weight(&ins, &[22]);
        assert_eq!(two - one, input_weight(ScriptType::Wpkh) + 4 * 2);
    }

    #[test]
    fn lower_bound_is_below_estimate() {
        let ins = [ScriptType::Wpkh, ScriptType::ShWpkh, ScriptType::Pkh];
        assert!(vsize_lower_bound(&ins, &[22]) < estimate_vsize(&ins, &[22]));
    }
}
