//! Block index, active chain and UTXO set.
//!
//! Invariant: `utxo` is exactly the set of unspent, spendable outputs created by the blocks of
//! `active` (genesis excluded: its coinbase is unspendable, as in Core); every connected block
//! has undo data so it can be disconnected again.

use std::collections::HashMap;

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash as _;
use bitcoin::script::{Builder, PushBytesBuf, ScriptBuf};
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, Sequence, Transaction, TxIn, TxMerkleNode,
    TxOut, Txid, Witness,
};

use crate::params;

/// Timestamp string of Monacoin's genesis coinbase.
pub const GENESIS_TIMESTAMP: &str =
    "Dec. 31th 2013 Japan, The winning numbers of the 2013 Year-End Jumbo Lottery:23-130916";
/// Public key paid by Monacoin's genesis coinbase.
pub const GENESIS_PUBKEY_HEX: &str = "040184710fa689ad5023690c80f3a49c8f13f8d45b8c857fbcbc8bc4a8e4d3eb4b10f4d4604fa08dce601aaf0f470216fe1b51850b4acf21b179c45070ac7b03a9";

/// An unspent output with the facts consensus needs.
#[derive(Clone, Debug)]
pub struct Coin {
    /// The output.
    pub txout: TxOut,
    /// Height of the block that created it.
    pub height: u32,
    /// Whether it was created by a coinbase.
    pub is_coinbase: bool,
}

/// One block of the index (active or not).
#[derive(Clone, Debug)]
pub struct BlockEntry {
    /// The full block.
    pub block: Block,
    /// Its hash.
    pub hash: BlockHash,
    /// Its height.
    pub height: u32,
    /// Median time past at this block (median of the last 11 block times).
    pub median_time: u32,
    /// Serialized size with witness.
    pub size: usize,
    /// Serialized size without witness.
    pub stripped_size: usize,
    /// Block weight.
    pub weight: u64,
    /// Marked invalid by `invalidateblock` (itself).
    pub failed: bool,
    /// A descendant of a block marked invalid.
    pub failed_child: bool,
    /// Order in which blocks were received (Core's nSequenceId, for ties).
    pub sequence: u64,
}

impl BlockEntry {
    /// Accumulated work as Core prints it: 2 per block on regtest.
    pub fn chainwork_hex(&self) -> String {
        format!("{:064x}", 2 * (u64::from(self.height) + 1))
    }

    /// Whether the block is invalid (itself or an ancestor).
    pub fn is_invalid(&self) -> bool {
        self.failed || self.failed_child
    }
}

/// The block index, the active chain and the UTXO set.
#[derive(Debug)]
pub struct Chain {
    blocks: HashMap<BlockHash, BlockEntry>,
    children: HashMap<BlockHash, Vec<BlockHash>>,
    active: Vec<BlockHash>,
    /// The UTXO set of the active chain.
    pub utxo: HashMap<OutPoint, Coin>,
    undo: HashMap<BlockHash, Vec<(OutPoint, Coin)>>,
    tx_index: HashMap<Txid, BlockHash>,
    next_sequence: u64,
}

/// Builds Monacoin's regtest genesis block.
pub fn genesis_block() -> Block {
    let pubkey = hex::decode(GENESIS_PUBKEY_HEX).expect("constant hex is valid");
    let pubkey = PushBytesBuf::try_from(pubkey).expect("65 bytes fit a push");
    let ts = PushBytesBuf::try_from(GENESIS_TIMESTAMP.as_bytes().to_vec())
        .expect("timestamp fits a push");
    let script_sig = Builder::new()
        .push_int(486_604_799)
        .push_int_non_minimal(4)
        .push_slice(ts)
        .into_script();
    let script_pubkey = Builder::new()
        .push_slice(pubkey)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKSIG)
        .into_script();
    let tx = Transaction {
        version: bitcoin::transaction::Version::ONE,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(params::INITIAL_SUBSIDY),
            script_pubkey,
        }],
    };
    let merkle_root = TxMerkleNode::from_raw_hash(tx.compute_txid().to_raw_hash());
    Block {
        header: Header {
            version: Version::ONE,
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root,
            time: 1_296_688_602,
            bits: CompactTarget::from_consensus(params::POW_LIMIT_BITS),
            nonce: 1,
        },
        txdata: vec![tx],
    }
}

trait PushIntNonMinimal {
    fn push_int_non_minimal(self, n: u8) -> Self;
}

impl PushIntNonMinimal for Builder {
    // Satoshi's genesis pushes the number 4 as a one-byte data push (`01 04`), not OP_4.
    fn push_int_non_minimal(self, n: u8) -> Self {
        self.push_slice([n])
    }
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// A chain holding only the genesis block.
    pub fn new() -> Chain {
        let mut c = Chain {
            blocks: HashMap::new(),
            children: HashMap::new(),
            active: Vec::new(),
            utxo: HashMap::new(),
            undo: HashMap::new(),
            tx_index: HashMap::new(),
            next_sequence: 0,
        };
        let g = genesis_block();
        let hash = c.insert(g);
        c.active.push(hash);
        c.undo.insert(hash, Vec::new());
        c
    }

    /// Inserts a block in the index (not connected). Its parent must be known.
    pub fn insert(&mut self, block: Block) -> BlockHash {
        let hash = block.block_hash();
        if self.blocks.contains_key(&hash) {
            return hash;
        }
        let parent = block.header.prev_blockhash;
        let (height, failed_child) = match self.blocks.get(&parent) {
            Some(p) => (p.height + 1, p.is_invalid()),
            None => (0, false),
        };
        let mut times = vec![block.header.time];
        let mut cur = parent;
        while times.len() < 11 {
            match self.blocks.get(&cur) {
                Some(e) => {
                    times.push(e.block.header.time);
                    cur = e.block.header.prev_blockhash;
                }
                None => break,
            }
        }
        times.sort_unstable();
        let median_time = times[times.len() / 2];
        let size = bitcoin::consensus::serialize(&block).len();
        let stripped_size = size_without_witness(&block);
        let weight = block.weight().to_wu();
        let entry = BlockEntry {
            block,
            hash,
            height,
            median_time,
            size,
            stripped_size,
            weight,
            failed: false,
            failed_child,
            sequence: self.next_sequence,
        };
        self.next_sequence += 1;
        self.blocks.insert(hash, entry);
        if height > 0 || parent != BlockHash::all_zeros() {
            self.children.entry(parent).or_default().push(hash);
        }
        hash
    }

    /// The tip of the active chain.
    pub fn tip(&self) -> &BlockEntry {
        let h = self
            .active
            .last()
            .expect("the active chain always holds genesis");
        &self.blocks[h]
    }

    /// Height of the active tip.
    pub fn height(&self) -> u32 {
        (self.active.len() - 1) as u32
    }

    /// Hash of the active block at `height`.
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.active.get(height as usize).copied()
    }

    /// A block of the index.
    pub fn get(&self, hash: &BlockHash) -> Option<&BlockEntry> {
        self.blocks.get(hash)
    }

    /// Whether `hash` is on the active chain.
    pub fn is_active(&self, hash: &BlockHash) -> bool {
        self.blocks
            .get(hash)
            .is_some_and(|e| self.active.get(e.height as usize) == Some(hash))
    }

    /// Core's confirmations: depth on the active chain, -1 when not on it.
    pub fn confirmations(&self, hash: &BlockHash) -> i64 {
        match self.blocks.get(hash) {
            Some(e) if self.is_active(hash) => i64::from(self.height()) - i64::from(e.height) + 1,
            _ => -1,
        }
    }

    /// Next active block after `hash`, if any.
    pub fn next_active(&self, hash: &BlockHash) -> Option<BlockHash> {
        let e = self.blocks.get(hash)?;
        if !self.is_active(hash) {
            return None;
        }
        self.hash_at(e.height + 1)
    }

    /// Block containing `txid` on the active chain (the txindex).
    pub fn find_tx(&self, txid: &Txid) -> Option<BlockHash> {
        self.tx_index.get(txid).copied()
    }

    /// Sum of (size + 8) of all stored blocks, like Core's size_on_disk.
    pub fn size_on_disk(&self) -> u64 {
        self.blocks.values().map(|e| e.size as u64 + 8).sum()
    }

    /// All blocks of the index.
    pub fn entries(&self) -> impl Iterator<Item = &BlockEntry> {
        self.blocks.values()
    }

    /// Children of a block in the index.
    pub fn children_of(&self, hash: &BlockHash) -> &[BlockHash] {
        self.children.get(hash).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Connects `hash`, whose parent must be the active tip. Returns false if an input is
    /// missing (the block is then not connected and the chain is unchanged).
    pub fn connect(&mut self, hash: BlockHash) -> bool {
        let Some(entry) = self.blocks.get(&hash) else {
            return false;
        };
        if entry.block.header.prev_blockhash != self.tip().hash {
            return false;
        }
        let height = entry.height;
        let block = entry.block.clone();
        let mut undo = Vec::new();
        let mut added: Vec<OutPoint> = Vec::new();
        for tx in &block.txdata {
            let cb = tx.is_coinbase();
            if !cb {
                for input in &tx.input {
                    match self.utxo.remove(&input.previous_output) {
                        Some(c) => undo.push((input.previous_output, c)),
                        None => {
                            // roll back this partial connect
                            for op in &added {
                                self.utxo.remove(op);
                            }
                            for (op, c) in undo.into_iter().rev() {
                                self.utxo.insert(op, c);
                            }
                            return false;
                        }
                    }
                }
            }
            let txid = tx.compute_txid();
            for (n, out) in tx.output.iter().enumerate() {
                if out.script_pubkey.is_op_return() || out.script_pubkey.len() > 10_000 {
                    continue;
                }
                let op = OutPoint::new(txid, n as u32);
                added.push(op);
                self.utxo.insert(
                    op,
                    Coin {
                        txout: out.clone(),
                        height,
                        is_coinbase: cb,
                    },
                );
            }
        }
        for tx in &block.txdata {
            self.tx_index.insert(tx.compute_txid(), hash);
        }
        self.undo.insert(hash, undo);
        self.active.push(hash);
        true
    }

    /// Disconnects the active tip (never genesis) and returns its block.
    pub fn disconnect_tip(&mut self) -> Option<Block> {
        if self.active.len() <= 1 {
            return None;
        }
        let hash = self.active.pop()?;
        let block = self.blocks[&hash].block.clone();
        for tx in &block.txdata {
            let txid = tx.compute_txid();
            for n in 0..tx.output.len() {
                self.utxo.remove(&OutPoint::new(txid, n as u32));
            }
            if self.tx_index.get(&txid) == Some(&hash) {
                self.tx_index.remove(&txid);
            }
        }
        if let Some(undo) = self.undo.remove(&hash) {
            for (op, c) in undo {
                self.utxo.insert(op, c);
            }
        }
        Some(block)
    }

    /// Marks `hash` failed and its descendants failed-child.
    pub fn mark_invalid(&mut self, hash: BlockHash) {
        if let Some(e) = self.blocks.get_mut(&hash) {
            e.failed = true;
        }
        let mut stack: Vec<BlockHash> = self.children_of(&hash).to_vec();
        while let Some(h) = stack.pop() {
            if let Some(e) = self.blocks.get_mut(&h) {
                e.failed_child = true;
            }
            stack.extend(self.children_of(&h).iter().copied());
        }
    }

    /// Clears failure flags of `hash`, its ancestors and descendants (reconsiderblock).
    pub fn clear_invalid(&mut self, hash: BlockHash) {
        let mut stack = vec![hash];
        while let Some(h) = stack.pop() {
            if let Some(e) = self.blocks.get_mut(&h) {
                e.failed = false;
                e.failed_child = false;
            }
            stack.extend(self.children_of(&h).iter().copied());
        }
        let mut cur = self
            .blocks
            .get(&hash)
            .map(|e| e.block.header.prev_blockhash);
        while let Some(h) = cur {
            match self.blocks.get_mut(&h) {
                Some(e) => {
                    e.failed = false;
                    e.failed_child = false;
                    cur = Some(e.block.header.prev_blockhash);
                }
                None => break,
            }
        }
    }

    /// The best valid tip: most work (height), ties to the earliest received.
    pub fn best_valid_tip(&self) -> BlockHash {
        let current = self.tip();
        let mut best = current;
        for e in self.blocks.values() {
            if e.is_invalid() {
                continue;
            }
            if e.height > best.height
                || (e.height == best.height
                    && e.sequence < best.sequence
                    && best.hash != current.hash)
            {
                best = e;
            }
        }
        best.hash
    }

    /// Path of block hashes from the fork point (exclusive) up to `tip` (inclusive).
    pub fn branch_to(&self, tip: BlockHash) -> Vec<BlockHash> {
        let mut path = Vec::new();
        let mut cur = tip;
        while !self.is_active(&cur) {
            path.push(cur);
            match self.blocks.get(&cur) {
                Some(e) => cur = e.block.header.prev_blockhash,
                None => break,
            }
        }
        path.reverse();
        path
    }

    /// Height of the last common block of `hash`'s branch with the active chain.
    pub fn fork_height(&self, hash: BlockHash) -> u32 {
        let mut cur = hash;
        loop {
            if self.is_active(&cur) {
                return self.blocks[&cur].height;
            }
            match self.blocks.get(&cur) {
                Some(e) => cur = e.block.header.prev_blockhash,
                None => return 0,
            }
        }
    }
}

fn size_without_witness(block: &Block) -> usize {
    let header = 80;
    let n = block.txdata.len();
    let varint = bitcoin::VarInt(n as u64).size();
    header + varint + block.txdata.iter().map(|t| t.base_size()).sum::<usize>()
}

/// BIP34 coinbase scriptSig as Core's miner writes it: `<height> <extranonce 1>`.
pub fn coinbase_script_sig(height: u32) -> ScriptBuf {
    Builder::new()
        .push_int(i64::from(height))
        .push_slice([1u8])
        .into_script()
}

/// Builds a block on `parent` with a coinbase paying `subsidy + fees` to `script`.
pub fn build_block(
    parent: &BlockEntry,
    script: &ScriptBuf,
    txs: Vec<Transaction>,
    fees: u64,
    time: u32,
) -> Block {
    let height = parent.height + 1;
    let mut coinbase = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: coinbase_script_sig(height),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[[0u8; 32]]),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(params::subsidy(height) + fees),
            script_pubkey: script.clone(),
        }],
    };
    let mut txdata = Vec::with_capacity(txs.len() + 1);
    txdata.push(coinbase.clone());
    txdata.extend(txs);
    let mut block = Block {
        header: Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: parent.hash,
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: CompactTarget::from_consensus(params::POW_LIMIT_BITS),
            nonce: 0,
        },
        txdata,
    };
    let witness_root = block
        .witness_root()
        .expect("a block with a coinbase has a witness root");
    let commitment = Block::compute_witness_commitment(&witness_root, &[0u8; 32]);
    let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
    script.extend_from_slice(commitment.as_byte_array());
    coinbase.output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(script),
    });
    block.txdata[0] = coinbase;
    block.header.merkle_root = block
        .compute_merkle_root()
        .expect("a block with a coinbase has a merkle root");
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_matches_monacoin_regtest() {
        let g = genesis_block();
        assert_eq!(
            g.txdata[0].compute_txid().to_string(),
            "35e405a8a46f4dbc1941727aaf338939323c3b955232d0317f8731fe07ac4ba6"
        );
        assert!(g.check_merkle_root());
        assert_eq!(g.block_hash().to_string(), params::GENESIS_HASH_HEX);
        assert_eq!(bitcoin::consensus::serialize(&g).len(), 303);
    }

    #[test]
    fn genesis_coinbase_is_not_spendable() {
        let c = Chain::new();
        assert!(c.utxo.is_empty());
        assert_eq!(c.height(), 0);
    }

    #[test]
    fn built_blocks_have_valid_merkle_and_witness_commitment() {
        let c = Chain::new();
        let script =
            crate::params::address_to_script("rmona1qku3myd6c8u0avl8r03clyzu45pgfau25u562rk")
                .unwrap();
        let b = build_block(c.tip(), &script, vec![], 0, 1_296_688_603);
        assert!(b.check_merkle_root());
        assert!(b.check_witness_commitment());
    }

    #[test]
    fn coinbase_height_push_like_core_miner() {
        // block 111 of the fixtures: scriptSig 016f0101; heights 1..16 use OP_1..OP_16
        assert_eq!(hex::encode(coinbase_script_sig(111).as_bytes()), "016f0101");
        assert_eq!(hex::encode(coinbase_script_sig(1).as_bytes()), "510101");
        assert_eq!(
            hex::encode(coinbase_script_sig(200).as_bytes()),
            "02c8000101"
        );
    }
}
