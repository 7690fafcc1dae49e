//! Synthetic PSBTs of realistic size for the QR benchmark and the `qr_table` example:
//! N P2WPKH inputs, each with a witness_utxo, a BIP32 derivation and the full previous
//! transaction (a small segwit parent) as non_witness_utxo; two outputs.

use bitcoin::absolute::LockTime;
use bitcoin::bip32::{DerivationPath, Fingerprint};
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, OutPoint, Psbt, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, WPubkeyHash,
    Witness,
};

fn p2wpkh(i: u32) -> (PublicKey, ScriptBuf) {
    let secp = Secp256k1::new();
    let mut key = [0x11u8; 32];
    key[..4].copy_from_slice(&(i + 1).to_be_bytes());
    let sk = SecretKey::from_slice(&key).expect("a non-zero 32-byte key below the order");
    let pk = PublicKey::from_secret_key(&secp, &sk);
    let hash = WPubkeyHash::hash(&pk.serialize());
    (pk, ScriptBuf::new_p2wpkh(&hash))
}

/// A PSBT spending `inputs` P2WPKH coins to two outputs.
pub fn synthetic_psbt(inputs: u32) -> Vec<u8> {
    let mut parents = Vec::new();
    let mut tx_inputs = Vec::new();
    for i in 0..inputs {
        let (_, spk) = p2wpkh(i);
        let mut witness = Witness::new();
        witness.push([0x30u8; 71]);
        witness.push([0x02u8; 33]);
        let parent = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([(i % 251) as u8; 32]),
                    vout: i,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness,
            }],
            output: vec![
                TxOut {
                    value: Amount::from_sat(100_000 + u64::from(i)),
                    script_pubkey: spk,
                },
                TxOut {
                    value: Amount::from_sat(5_000_000),
                    script_pubkey: p2wpkh(i + 100_000).1,
                },
            ],
        };
        tx_inputs.push(TxIn {
            previous_output: OutPoint {
                txid: parent.compute_txid(),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        });
        parents.push(parent);
    }
    let unsigned = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: tx_inputs,
        output: vec![
            TxOut {
                value: Amount::from_sat(90_000 * u64::from(inputs)),
                script_pubkey: p2wpkh(1_000_000).1,
            },
            TxOut {
                value: Amount::from_sat(5_000),
                script_pubkey: p2wpkh(1_000_001).1,
            },
        ],
    };
    let mut psbt = Psbt::from_unsigned_tx(unsigned).expect("inputs have empty script_sig");
    let path: DerivationPath = "m/84'/22'/0'/0/0".parse().expect("valid path");
    for (i, (input, parent)) in psbt.inputs.iter_mut().zip(parents).enumerate() {
        let (pk, _) = p2wpkh(i as u32);
        input.witness_utxo = Some(parent.output[0].clone());
        input.non_witness_utxo = Some(parent);
        input.bip32_derivation.insert(
            pk,
            (Fingerprint::from([0xd3, 0x4d, 0xb3, 0x3f]), path.clone()),
        );
    }
    psbt.serialize()
}
