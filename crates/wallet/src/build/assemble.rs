//! Shared steps of every builder: checking destinations, resolving coins to our keys, settling
//! change and fee from the exact size estimate, and assembling the BIP69-ordered PSBT.
//!
//! Invariant: [`assemble`] is the only place a transaction or PSBT is created, so every builder
//! gets the same sequence numbers, ordering and PSBT fields.

use std::cmp::Ordering;

use bitcoin::absolute::LockTime;
use bitcoin::bip32::{DerivationPath, Fingerprint};
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::transaction::Version;
use bitcoin::{CompressedPublicKey, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use mona::{Address, AddressKind, Amount, Network, ScriptType};

use super::coin::Coin;
use super::error::BuildPayoutError;
use super::{vsize, Payment, WalletDestination};
use crate::account::WatchOnlyAccount;

/// The key behind one of our scripts, as a PSBT records it.
#[derive(Debug, Clone)]
pub(crate) struct KeyInfo {
    pub pubkey: CompressedPublicKey,
    pub fingerprint: Fingerprint,
    pub path: DerivationPath,
    pub redeem_script: Option<ScriptBuf>,
}

/// An output to place: a payment (with its request index) or the change.
#[derive(Debug, Clone)]
pub(crate) struct OutSpec {
    pub script_pubkey: ScriptBuf,
    pub amount: Amount,
    /// Set for outputs to our own accounts (change, sweep and top-up destinations).
    pub key: Option<KeyInfo>,
    /// `Some(i)` for the request's payment `i`, `None` for change.
    pub payment_index: Option<usize>,
}

/// Refuses payments below dust, to segwit v1+ programs or to non-standard scripts.
pub(crate) fn check_payment(
    index: usize,
    p: &Payment,
    network: Network,
) -> Result<(), BuildPayoutError> {
    let script_hex = || p.script_pubkey.to_hex_string();
    match Address::from_script(&p.script_pubkey, network) {
        Ok(a) if matches!(a.kind(), AddressKind::WitnessUnknown { .. }) => {
            return Err(BuildPayoutError::UnspendableDestination {
                index,
                script_hex: script_hex(),
            })
        }
        Ok(_) => {}
        Err(_) => {
            return Err(BuildPayoutError::NonStandardDestination {
                index,
                script_hex: script_hex(),
            })
        }
    }
    let dust = mona::dust_threshold(&p.script_pubkey);
    if p.amount < dust || p.amount == Amount::ZERO {
        return Err(BuildPayoutError::PaymentBelowDust {
            index,
            amount: p.amount,
            dust,
        });
    }
    Ok(())
}

/// The key of our own destination.
pub(crate) fn destination_key(
    d: &WalletDestination<'_>,
) -> Result<(ScriptBuf, KeyInfo), BuildPayoutError> {
    let chain = d.keychain.chain();
    let not_derivable = BuildPayoutError::DestinationNotDerivable {
        chain,
        index: d.index,
    };
    let pubkey = d
        .account
        .pubkey(chain, d.index)
        .ok_or(not_derivable.clone())?;
    let t = d.account.script_type;
    Ok((
        t.script_pubkey(&pubkey),
        KeyInfo {
            pubkey,
            fingerprint: d.account.fingerprint,
            path: d.account.full_path(chain, d.index),
            redeem_script: t.redeem_script(&pubkey),
        },
    ))
}

/// Re-derives a coin's key from the accounts and checks its previous transaction.
pub(crate) fn coin_key(
    coin: &Coin,
    accounts: &[WatchOnlyAccount],
    require_prev_tx: bool,
) -> Result<KeyInfo, BuildPayoutError> {
    match &coin.prev_tx {
        Some(prev) => {
            let out = prev.output.get(coin.outpoint.vout as usize);
            let matches = prev.compute_txid() == coin.outpoint.txid
                && out.is_some_and(|o| {
                    o.value.to_sat() == coin.value.to_wat() && o.script_pubkey == coin.script_pubkey
                });
            if !matches {
                return Err(BuildPayoutError::PrevTxMismatch(coin.outpoint));
            }
        }
        None if require_prev_tx || coin.script_type == ScriptType::Pkh => {
            return Err(BuildPayoutError::MissingPrevTx(coin.outpoint));
        }
        None => {}
    }
    let chain = coin.keychain.chain();
    for acct in accounts
        .iter()
        .filter(|a| a.script_type == coin.script_type)
    {
        let Some(pubkey) = acct.pubkey(chain, coin.index) else {
            continue;
        };
        if acct.script_type.script_pubkey(&pubkey) == coin.script_pubkey {
            return Ok(KeyInfo {
                pubkey,
                fingerprint: acct.fingerprint,
                path: acct.full_path(chain, coin.index),
                redeem_script: acct.script_type.redeem_script(&pubkey),
            });
        }
    }
    Err(BuildPayoutError::CoinNotInWallet(coin.outpoint))
}

/// Change and fee for a set of inputs, from the exact size estimate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settled {
    pub change: Option<Amount>,
    pub fee: Amount,
    pub vsize: u64,
    pub weight: u64,
    pub max_burn: Amount,
}

/// Decides the change: made when it is at least `min_change` after paying for its own output,
/// otherwise the remainder goes to the fee. `Err(deficit)` if the inputs do not even cover the
/// payments and the changeless fee.
pub(crate) fn settle(
    input_types: &[ScriptType],
    input_total: Amount,
    payment_total: Amount,
    payment_lens: &[usize],
    change_len: usize,
    min_change: Amount,
    required_fee: &dyn Fn(u64) -> Amount,
) -> Result<Settled, u64> {
    let mut lens_c = payment_lens.to_vec();
    lens_c.push(change_len);
    let w_nc = vsize::estimate_weight(input_types, payment_lens);
    let w_c = vsize::estimate_weight(input_types, &lens_c);
    let (v_nc, v_c) = (vsize::weight_to_vsize(w_nc), vsize::weight_to_vsize(w_c));
    let (fee_nc, fee_c) = (required_fee(v_nc).to_wat(), required_fee(v_c).to_wat());
    let max_burn = Amount::from_wat(
        fee_c
            .saturating_sub(fee_nc)
            .saturating_add(min_change.to_wat()),
    )
    .unwrap_or(Amount::MAX_MONEY);
    let available = input_total.to_wat().saturating_sub(payment_total.to_wat());
    if input_total < payment_total || available < fee_nc {
        let deficit = (payment_total.to_wat() + fee_nc).saturating_sub(input_total.to_wat());
        return Err(deficit.max(1));
    }
    if available >= fee_c.saturating_add(min_change.to_wat()) {
        // Both values are at most `input_total`, itself within the supply cap.
        let change = Amount::from_wat(available - fee_c).unwrap_or(Amount::MAX_MONEY);
        return Ok(Settled {
            change: Some(change),
            fee: Amount::from_wat(fee_c).unwrap_or(Amount::MAX_MONEY),
            vsize: v_c,
            weight: w_c,
            max_burn,
        });
    }
    Ok(Settled {
        change: None,
        fee: Amount::from_wat(available).unwrap_or(Amount::MAX_MONEY),
        vsize: v_nc,
        weight: w_nc,
        max_burn,
    })
}

fn txid_display_cmp(a: &bitcoin::Txid, b: &bitcoin::Txid) -> Ordering {
    let (mut x, mut y) = (a.to_byte_array(), b.to_byte_array());
    x.reverse();
    y.reverse();
    x.cmp(&y)
}

/// The assembled PSBT with the coins in input order, the payment vouts and the change vout.
pub(crate) struct Assembled {
    pub psbt: Psbt,
    pub inputs: Vec<Coin>,
    pub payment_vouts: Vec<u32>,
    pub change_vout: Option<u32>,
}

/// Orders inputs and outputs (BIP69), sets RBF sequences and the lock time, and fills the PSBT.
pub(crate) fn assemble(
    mut inputs: Vec<(Coin, KeyInfo)>,
    mut outputs: Vec<OutSpec>,
    lock_time: LockTime,
) -> Assembled {
    inputs.sort_by(|(a, _), (b, _)| {
        txid_display_cmp(&a.outpoint.txid, &b.outpoint.txid)
            .then(a.outpoint.vout.cmp(&b.outpoint.vout))
    });
    // Stable: equal payments keep the request's order.
    outputs.sort_by(|a, b| {
        a.amount
            .cmp(&b.amount)
            .then_with(|| a.script_pubkey.as_bytes().cmp(b.script_pubkey.as_bytes()))
    });
    let tx = Transaction {
        version: Version::TWO,
        lock_time,
        input: inputs
            .iter()
            .map(|(c, _)| TxIn {
                previous_output: c.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs
            .iter()
            .map(|o| TxOut {
                value: o.amount.to_btc_amount(),
                script_pubkey: o.script_pubkey.clone(),
            })
            .collect(),
    };
    // Every scriptSig and witness above is empty, the only condition `from_unsigned_tx` checks.
    let mut psbt = Psbt::from_unsigned_tx(tx).expect("unsigned transaction");
    for (i, (coin, key)) in inputs.iter().enumerate() {
        let pin = &mut psbt.inputs[i];
        if coin.script_type != ScriptType::Pkh {
            pin.witness_utxo = Some(TxOut {
                value: coin.value.to_btc_amount(),
                script_pubkey: coin.script_pubkey.clone(),
            });
        }
        if let Some(prev) = &coin.prev_tx {
            // Witnesses do not change the txid; Core 0.20 leaves them out too, and every byte
            // counts when the PSBT crosses the air gap as QR frames.
            let mut prev = (**prev).clone();
            for txin in &mut prev.input {
                txin.witness = Witness::new();
            }
            pin.non_witness_utxo = Some(prev);
        }
        pin.redeem_script = key.redeem_script.clone();
        pin.bip32_derivation
            .insert(key.pubkey.0, (key.fingerprint, key.path.clone()));
    }
    let n_payments = outputs.iter().filter(|o| o.payment_index.is_some()).count();
    let mut payment_vouts = vec![0u32; n_payments];
    let mut change_vout = None;
    for (vout, o) in outputs.iter().enumerate() {
        // Output counts are bounded by the standard weight limit, far below u32::MAX.
        let v = vout as u32;
        match o.payment_index {
            Some(i) => payment_vouts[i] = v,
            None => change_vout = Some(v),
        }
        if let Some(key) = &o.key {
            let pout = &mut psbt.outputs[vout];
            pout.redeem_script = key.redeem_script.clone();
            pout.bip32_derivation
                .insert(key.pubkey.0, (key.fingerprint, key.path.clone()));
        }
    }
    Assembled {
        psbt,
        inputs: inputs.into_iter().map(|(c, _)| c).collect(),
        payment_vouts,
        change_vout,
    }
}
