//! Typed results of the node's RPC calls, with the node's field names.
//!
//! Invariant: every amount and fee rate is read from the exact number text the node wrote
//! (`0.00014100`) through `serde_json`'s `RawValue` and `mona::Amount` / `mona::FeeRate`
//! parsing; a float never touches money. Numbers that are not money (difficulty, progress) are
//! not exposed.

use std::collections::BTreeMap;

use bitcoin::{BlockHash, ScriptBuf, Txid, Wtxid};
use mona::{Amount, FeeRate};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Reads an amount from the node's number text (`50.00000000`).
pub(crate) fn de_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
    let raw = Box::<RawValue>::deserialize(d)?;
    Amount::from_mona_str(raw.get()).map_err(D::Error::custom)
}

/// Reads an optional fee rate in MONA/kvB from the node's number text (`0.00001000`).
fn de_opt_fee_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FeeRate>, D::Error> {
    let raw = Option::<Box<RawValue>>::deserialize(d)?;
    match raw {
        None => Ok(None),
        Some(r) => FeeRate::from_mona_per_kvb_str(r.get())
            .map(Some)
            .map_err(D::Error::custom),
    }
}

fn de_script_hex<'de, D: Deserializer<'de>>(d: D) -> Result<ScriptBuf, D::Error> {
    #[derive(Deserialize)]
    struct Spk {
        hex: String,
    }
    let spk = Spk::deserialize(d)?;
    ScriptBuf::from_hex(&spk.hex).map_err(D::Error::custom)
}

/// `getblockchaininfo` (the fields a wallet needs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct BlockchainInfo {
    /// `"main"`, `"test"` or `"regtest"`.
    pub chain: String,
    /// Height of the active chain tip.
    pub blocks: u64,
    /// Height of the best known header.
    pub headers: u64,
    /// Hash of the active chain tip.
    #[serde(rename = "bestblockhash")]
    pub best_block_hash: BlockHash,
    /// Median time past of the tip.
    #[serde(rename = "mediantime")]
    pub median_time: u64,
    /// Whether the node is still in initial block download.
    #[serde(rename = "initialblockdownload")]
    pub initial_block_download: bool,
    /// Whether the node prunes old blocks.
    pub pruned: bool,
    /// Node warnings (empty if none).
    #[serde(default)]
    pub warnings: String,
}

/// `getblockheader <hash> true` and the header part of `getblock <hash> 1`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct BlockHeaderInfo {
    /// Block hash.
    pub hash: BlockHash,
    /// Confirmations; `-1` when the block is not in the active chain (stale after a reorg).
    pub confirmations: i64,
    /// Height.
    pub height: u64,
    /// Block version.
    pub version: i32,
    /// Merkle root.
    #[serde(rename = "merkleroot")]
    pub merkle_root: bitcoin::TxMerkleNode,
    /// Block time.
    pub time: u64,
    /// Median time past.
    #[serde(rename = "mediantime")]
    pub median_time: u64,
    /// Number of transactions.
    #[serde(rename = "nTx")]
    pub n_tx: u64,
    /// Previous block (absent for genesis).
    #[serde(rename = "previousblockhash", default)]
    pub previous_block_hash: Option<BlockHash>,
    /// Next block in the active chain (absent for the tip and for stale blocks).
    #[serde(rename = "nextblockhash", default)]
    pub next_block_hash: Option<BlockHash>,
}

impl BlockHeaderInfo {
    /// Whether the block is in the active chain (`confirmations >= 1`).
    pub fn in_active_chain(&self) -> bool {
        self.confirmations >= 1
    }
}

/// `getblock <hash> 1`: the header fields and the txids.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct BlockInfo {
    /// Block hash.
    pub hash: BlockHash,
    /// Confirmations; `-1` when the block is not in the active chain.
    pub confirmations: i64,
    /// Height.
    pub height: u64,
    /// Serialized size in bytes.
    pub size: u64,
    /// Weight.
    pub weight: u64,
    /// Block time.
    pub time: u64,
    /// Median time past.
    #[serde(rename = "mediantime")]
    pub median_time: u64,
    /// Txids, coinbase first.
    pub tx: Vec<Txid>,
    /// Previous block (absent for genesis).
    #[serde(rename = "previousblockhash", default)]
    pub previous_block_hash: Option<BlockHash>,
    /// Next block in the active chain.
    #[serde(rename = "nextblockhash", default)]
    pub next_block_hash: Option<BlockHash>,
}

/// One output of a verbose transaction.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TxOutInfo {
    /// Value.
    #[serde(deserialize_with = "de_amount")]
    pub value: Amount,
    /// Output index.
    pub n: u32,
    /// The output script.
    #[serde(rename = "scriptPubKey", deserialize_with = "de_script_hex")]
    pub script_pubkey: ScriptBuf,
}

/// `getrawtransaction <txid> true [blockhash]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TransactionInfo {
    /// Present only when a block hash was given: whether that block is in the active chain.
    #[serde(default)]
    pub in_active_chain: Option<bool>,
    /// Txid.
    pub txid: Txid,
    /// Wtxid (the node calls it `hash`).
    #[serde(rename = "hash")]
    pub wtxid: Wtxid,
    /// Size in bytes.
    pub size: u64,
    /// Virtual size.
    pub vsize: u64,
    /// Weight.
    pub weight: u64,
    /// nLockTime.
    pub locktime: u32,
    /// Outputs.
    pub vout: Vec<TxOutInfo>,
    /// The raw transaction hex.
    pub hex: String,
    /// Containing block (absent for a mempool transaction).
    #[serde(rename = "blockhash", default)]
    pub block_hash: Option<BlockHash>,
    /// Confirmations (absent in the mempool; `0` when read through a stale block).
    #[serde(default)]
    pub confirmations: Option<u64>,
    /// Block time (absent in the mempool and for stale blocks).
    #[serde(rename = "blocktime", default)]
    pub block_time: Option<u64>,
}

/// `gettxout <txid> <n> [include_mempool]` when the output exists and is unspent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct UnspentTxOut {
    /// The tip the answer refers to.
    #[serde(rename = "bestblock")]
    pub best_block: BlockHash,
    /// Confirmations (`0` for a mempool output).
    pub confirmations: u64,
    /// Value.
    #[serde(deserialize_with = "de_amount")]
    pub value: Amount,
    /// The output script.
    #[serde(rename = "scriptPubKey", deserialize_with = "de_script_hex")]
    pub script_pubkey: ScriptBuf,
    /// Whether it is a coinbase output.
    pub coinbase: bool,
}

/// The `fees` object of a mempool entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct MempoolFees {
    /// Fee paid by the transaction.
    #[serde(deserialize_with = "de_amount")]
    pub base: Amount,
    /// Fee with `prioritisetransaction` deltas.
    #[serde(deserialize_with = "de_amount")]
    pub modified: Amount,
    /// Fees of in-mempool ancestors, this one included.
    #[serde(deserialize_with = "de_amount")]
    pub ancestor: Amount,
    /// Fees of in-mempool descendants, this one included.
    #[serde(deserialize_with = "de_amount")]
    pub descendant: Amount,
}

/// `getmempoolentry <txid>` (and the values of `getrawmempool true`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct MempoolEntry {
    /// Fees.
    pub fees: MempoolFees,
    /// Virtual size.
    pub vsize: u64,
    /// Weight.
    pub weight: u64,
    /// Entry time.
    pub time: u64,
    /// Chain height when it entered the mempool.
    pub height: u64,
    /// Number of in-mempool descendants (this one included).
    #[serde(rename = "descendantcount")]
    pub descendant_count: u64,
    /// Number of in-mempool ancestors (this one included).
    #[serde(rename = "ancestorcount")]
    pub ancestor_count: u64,
    /// Wtxid.
    pub wtxid: Wtxid,
    /// Unconfirmed parents.
    pub depends: Vec<Txid>,
    /// Unconfirmed children.
    #[serde(rename = "spentby")]
    pub spent_by: Vec<Txid>,
    /// Whether it (or an ancestor) signals BIP125 replaceability.
    #[serde(rename = "bip125-replaceable")]
    pub bip125_replaceable: bool,
}

/// `getrawmempool true`.
pub type MempoolVerbose = BTreeMap<Txid, MempoolEntry>;

/// One element of `testmempoolaccept`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct MempoolAcceptResult {
    /// Txid of the tested transaction.
    pub txid: Txid,
    /// Whether it would be accepted.
    pub allowed: bool,
    /// The short reject reason (`dust`, `missing-inputs`, ...) when not allowed.
    #[serde(rename = "reject-reason", default)]
    pub reject_reason: Option<String>,
}

impl MempoolAcceptResult {
    /// `None` when allowed; otherwise the class of the reject reason.
    pub fn rejection(&self) -> Option<crate::RejectClass> {
        if self.allowed {
            return None;
        }
        Some(crate::classify_rejection(
            None,
            self.reject_reason.as_deref().unwrap_or_default(),
        ))
    }
}

/// `estimatesmartfee <blocks>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct FeeEstimate {
    /// The estimate; `None` on a young or quiet chain ("Insufficient data"): use a fallback.
    #[serde(rename = "feerate", default, deserialize_with = "de_opt_fee_rate")]
    pub fee_rate: Option<FeeRate>,
    /// The node's explanations when there is no estimate.
    #[serde(default)]
    pub errors: Vec<String>,
    /// The confirmation target the estimate is for.
    pub blocks: u32,
}

/// `estimatesmartfee` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EstimateMode {
    /// `"UNSET"`: the node's default.
    Unset,
    /// `"ECONOMICAL"`.
    Economical,
    /// `"CONSERVATIVE"`.
    Conservative,
}

impl EstimateMode {
    /// The node's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EstimateMode::Unset => "UNSET",
            EstimateMode::Economical => "ECONOMICAL",
            EstimateMode::Conservative => "CONSERVATIVE",
        }
    }
}
