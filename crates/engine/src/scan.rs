//! Turning a raw block into the ledger's [`BlockUpdate`]: our new coins (with the dust flag),
//! spends of our coins, and the txids that may be ours; and the in-memory index of our unspent
//! outpoints that makes this cheap.
//!
//! Module invariant: when the index is complete, every unspent output of ours is in it, so a
//! block with thousands of foreign inputs needs no database lookup; when it is not (after a
//! failed block commit or a reorg without undo data) every spend and every txid is handed to
//! the ledger, which then looks them up itself. Either way no spend of ours is missed. At
//! start the index is rebuilt complete from the ledger's `unspent_coins` (dust, reserved,
//! unconfirmed and cold coins included), never from the narrower `spendable_coins`.

use std::collections::{HashMap, VecDeque};

use bitcoin::{Block, BlockHash, OutPoint, Script, Txid};
use mona::{FeeRate, ScriptType};
use mona_ledger::{BlockRef, BlockUpdate, Keychain, NewCoin};
use mona_wallet::build::DustPolicy;

use crate::tracker::Tracker;

/// One of our unspent outputs, as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackedCoin {
    /// Its value in watanabe.
    pub value_wat: u64,
    /// Its keychain.
    pub keychain: Keychain,
    /// Height of the block that created it, `None` while unconfirmed.
    pub height: Option<u32>,
    /// Dust flag.
    pub is_dust: bool,
}

/// What a connected block changed in the index, kept for a possible disconnect.
#[derive(Debug, Clone, Default)]
pub struct Undo {
    created: Vec<OutPoint>,
    spent: Vec<(OutPoint, TrackedCoin)>,
}

/// The in-memory index of our unspent outpoints.
#[derive(Debug, Clone, Default)]
pub struct CoinIndex {
    coins: HashMap<OutPoint, TrackedCoin>,
    complete: bool,
    undo: VecDeque<(BlockHash, Undo)>,
    rebuilt: bool,
}

/// How many blocks of undo data are kept (reorgs up to 100 deep are handled).
pub const UNDO_DEPTH: usize = 110;

impl CoinIndex {
    /// An index; `complete` says whether every unspent coin of ours is (or will be) in it.
    pub fn new(complete: bool) -> CoinIndex {
        CoinIndex {
            complete,
            ..CoinIndex::default()
        }
    }

    /// Whether every unspent coin of ours is in the index.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Records that the coins came from the ledger at a restart, not from scanning the chain:
    /// they are the ledger's word, so the start-time reconciliation checks them at the node.
    pub fn mark_rebuilt_from_ledger(&mut self) {
        self.rebuilt = true;
    }

    /// Whether the coins came from the ledger at a restart.
    pub fn is_rebuilt_from_ledger(&self) -> bool {
        self.rebuilt
    }

    /// Forgets that the index is complete (every spend then goes to the ledger).
    pub fn mark_incomplete(&mut self) {
        self.complete = false;
        self.undo.clear();
    }

    /// Adds a coin known from elsewhere (the ledger at start, our own change).
    pub fn insert(&mut self, op: OutPoint, coin: TrackedCoin) {
        self.coins.insert(op, coin);
    }

    /// Whether `op` is one of ours.
    pub fn contains(&self, op: &OutPoint) -> bool {
        self.coins.contains_key(op)
    }

    /// Number of coins indexed.
    pub fn len(&self) -> usize {
        self.coins.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.coins.is_empty()
    }

    /// Outpoints of the indexed coins matching `f`.
    pub fn outpoints_where(&self, f: impl Fn(&TrackedCoin) -> bool) -> Vec<OutPoint> {
        let mut v: Vec<OutPoint> = self
            .coins
            .iter()
            .filter(|(_, c)| f(c))
            .map(|(op, _)| *op)
            .collect();
        v.sort();
        v
    }

    /// Sum of the confirmed hot coins (dust included), as the chain says.
    pub fn hot_confirmed_wat(&self) -> u64 {
        self.coins
            .values()
            .filter(|c| c.keychain.is_hot() && c.height.is_some())
            .map(|c| c.value_wat)
            .sum()
    }

    /// Applies a scanned block (after the ledger accepted it).
    pub fn connect(&mut self, hash: BlockHash, height: u32, s: &Scanned) {
        let mut undo = Undo::default();
        for nc in &s.update.new_coins {
            self.coins.insert(
                nc.outpoint,
                TrackedCoin {
                    value_wat: nc.value_wat,
                    keychain: nc.keychain,
                    height: Some(height),
                    is_dust: nc.is_dust,
                },
            );
            undo.created.push(nc.outpoint);
        }
        for (op, _) in &s.update.spends {
            if let Some(c) = self.coins.remove(op) {
                undo.spent.push((*op, c));
            }
        }
        self.undo.push_back((hash, undo));
        while self.undo.len() > UNDO_DEPTH {
            self.undo.pop_front();
        }
    }

    /// Takes a block out (reorg): restores the coins it spent, marks the ones it created
    /// unconfirmed. Without undo data for it, the index becomes incomplete.
    pub fn disconnect(&mut self, hash: BlockHash) {
        match self.undo.back() {
            Some((h, _)) if *h == hash => {
                if let Some((_, undo)) = self.undo.pop_back() {
                    for (op, c) in undo.spent {
                        self.coins.insert(op, c);
                    }
                    for op in undo.created {
                        if let Some(c) = self.coins.get_mut(&op) {
                            c.height = None;
                        }
                    }
                }
            }
            _ => {
                self.undo.clear();
                self.complete = false;
            }
        }
    }
}

/// The dust rule: coins of a script type below its threshold are dust.
#[derive(Debug, Clone, Copy)]
pub struct DustRule(pub DustPolicy);

impl DustRule {
    /// From the configured threshold, or twice the spend cost at `floor`.
    pub fn new(threshold_wat: Option<u64>, floor: FeeRate) -> DustRule {
        DustRule(match threshold_wat {
            Some(t) => DustPolicy::Threshold(mona::Amount::from_wat_const(t)),
            None => DustPolicy::TwiceSpendCost(floor),
        })
    }

    /// Whether a coin of `value_wat` at `script` is dust.
    pub fn is_dust(&self, value_wat: u64, script: &Script) -> bool {
        let t = ScriptType::of_script(script).unwrap_or(ScriptType::Pkh);
        value_wat < self.0.coin_threshold(t).to_wat()
    }
}

/// A block turned into the ledger's update, plus the indices it used.
#[derive(Debug, Clone)]
pub struct Scanned {
    /// What to hand to `block_connected`.
    pub update: BlockUpdate,
    /// Derivation indices seen used, to extend the lookahead.
    pub used: Vec<(Keychain, u32)>,
}

/// Scans `block` at `height`: every output paying a tracked script is a new coin; every input
/// spending an indexed outpoint (or created earlier in the same block) is a spend of ours.
pub fn scan_block(
    block: &Block,
    height: u32,
    tracker: &Tracker,
    index: &CoinIndex,
    dust: &DustRule,
    finality_depth: u32,
) -> Scanned {
    let all = !index.is_complete();
    let mut txids: Vec<Txid> = Vec::new();
    let mut new_coins = Vec::new();
    let mut spends = Vec::new();
    let mut used = Vec::new();
    let mut created_here: HashMap<OutPoint, ()> = HashMap::new();
    for tx in &block.txdata {
        let txid = tx.compute_txid();
        let mut ours = all;
        if !tx.is_coinbase() {
            for input in &tx.input {
                let op = input.previous_output;
                if all || index.contains(&op) || created_here.contains_key(&op) {
                    spends.push((op, txid));
                    ours = true;
                }
            }
        }
        for (vout, out) in tx.output.iter().enumerate() {
            if let Some((keychain, derivation_index)) = tracker.lookup(&out.script_pubkey) {
                let outpoint = OutPoint {
                    txid,
                    vout: vout as u32,
                };
                let value_wat = out.value.to_sat();
                new_coins.push(NewCoin {
                    outpoint,
                    value_wat,
                    script_pubkey: out.script_pubkey.clone(),
                    keychain,
                    derivation_index,
                    is_dust: dust.is_dust(value_wat, &out.script_pubkey),
                });
                created_here.insert(outpoint, ());
                used.push((keychain, derivation_index));
                ours = true;
            }
        }
        if ours {
            txids.push(txid);
        }
    }
    Scanned {
        update: BlockUpdate {
            block: BlockRef {
                height,
                hash: block.block_hash(),
            },
            prev_hash: block.header.prev_blockhash,
            txids,
            new_coins,
            spends,
            finality_depth,
        },
        used,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkeys;
    use bitcoin::absolute::LockTime;
    use bitcoin::block::{Header, Version as BlockVersion};
    use bitcoin::hashes::Hash;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, CompactTarget, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

    fn tx(inputs: &[OutPoint], outputs: &[(ScriptBuf, u64)]) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: inputs
                .iter()
                .map(|op| TxIn {
                    previous_output: *op,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs
                .iter()
                .map(|(s, v)| TxOut {
                    value: Amount::from_sat(*v),
                    script_pubkey: s.clone(),
                })
                .collect(),
        }
    }

    fn block(txs: Vec<Transaction>) -> Block {
        Block {
            header: Header {
                version: BlockVersion::TWO,
                prev_blockhash: BlockHash::all_zeros(),
                merkle_root: bitcoin::TxMerkleNode::all_zeros(),
                time: 0,
                bits: CompactTarget::from_consensus(0),
                nonce: 0,
            },
            txdata: txs,
        }
    }

    fn op(n: u8) -> OutPoint {
        OutPoint {
            txid: Txid::from_byte_array([n; 32]),
            vout: 0,
        }
    }

    #[test]
    fn finds_our_outputs_spends_and_dust_and_ignores_foreign() {
        let (hot, cold) = (testkeys::hot_watch(), testkeys::cold_watch());
        let tracker = Tracker::new(&hot, &cold, 20, 20).unwrap();
        let dust = DustRule::new(None, FeeRate::WALLET_FLOOR);
        let deposit = hot.script_pubkey(0, 3).unwrap();
        let cold_rx = cold.script_pubkey(0, 0).unwrap();
        let foreign = testkeys::foreign_script();
        let mut index = CoinIndex::new(true);
        index.insert(
            op(7),
            TrackedCoin {
                value_wat: 5,
                keychain: Keychain::HotExternal,
                height: Some(1),
                is_dust: false,
            },
        );
        let t_dep = tx(
            &[op(1)],
            &[(deposit.clone(), 1_000_000), (foreign.clone(), 9)],
        );
        let t_dust = tx(&[op(2)], &[(deposit.clone(), 500)]);
        let t_foreign = tx(&[op(3), op(4)], &[(foreign.clone(), 77)]);
        let t_spend = tx(&[op(7)], &[(cold_rx.clone(), 4)]);
        // spends the deposit created earlier in the same block
        let dep_out = OutPoint {
            txid: t_dep.compute_txid(),
            vout: 0,
        };
        let t_chain = tx(&[dep_out], &[(foreign.clone(), 1)]);
        let b = block(vec![
            t_dep.clone(),
            t_dust.clone(),
            t_foreign.clone(),
            t_spend.clone(),
            t_chain.clone(),
        ]);
        let s = scan_block(&b, 10, &tracker, &index, &dust, 6);
        let u = &s.update;
        assert_eq!(u.new_coins.len(), 3);
        assert!(!u.new_coins[0].is_dust);
        assert!(u.new_coins[1].is_dust, "500 wat is dust");
        assert_eq!(u.new_coins[2].keychain, Keychain::ColdExternal);
        assert_eq!(
            u.spends,
            vec![
                (op(7), t_spend.compute_txid()),
                (dep_out, t_chain.compute_txid())
            ]
        );
        assert!(!u.txids.contains(&t_foreign.compute_txid()));
        assert_eq!(u.txids.len(), 4);
        assert_eq!(s.used[0], (Keychain::HotExternal, 3));

        // incomplete index: every spend and txid goes to the ledger
        let s2 = scan_block(&b, 10, &tracker, &CoinIndex::new(false), &dust, 6);
        assert_eq!(s2.update.txids.len(), 5);
        assert_eq!(s2.update.spends.len(), 6);

        // connect / disconnect restores the index
        let before = index.clone();
        index.connect(b.block_hash(), 10, &s);
        assert!(!index.contains(&op(7)));
        assert!(index.contains(&OutPoint {
            txid: t_dust.compute_txid(),
            vout: 0
        }));
        index.disconnect(b.block_hash());
        assert!(index.contains(&op(7)));
        assert_eq!(index.hot_confirmed_wat(), before.hot_confirmed_wat());
        index.disconnect(b.block_hash());
        assert!(!index.is_complete(), "no undo data left: incomplete");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use bitcoin::hashes::Hash;
    use proptest::prelude::*;

    fn op(n: u8, v: u32) -> OutPoint {
        OutPoint {
            txid: Txid::from_byte_array([n; 32]),
            vout: v,
        }
    }

    fn scanned(created: &[(u8, u64)], spent: &[(u8, u32)], h: u32) -> Scanned {
        Scanned {
            update: BlockUpdate {
                block: BlockRef {
                    height: h,
                    hash: BlockHash::from_byte_array([h as u8; 32]),
                },
                prev_hash: BlockHash::all_zeros(),
                txids: vec![],
                new_coins: created
                    .iter()
                    .map(|(n, v)| NewCoin {
                        outpoint: op(*n, h),
                        value_wat: *v,
                        script_pubkey: bitcoin::ScriptBuf::from_bytes(vec![0x51]),
                        keychain: Keychain::HotExternal,
                        derivation_index: 0,
                        is_dust: false,
                    })
                    .collect(),
                spends: spent
                    .iter()
                    .map(|(n, v)| (op(*n, *v), Txid::all_zeros()))
                    .collect(),
                finality_depth: 1,
            },
            used: vec![],
        }
    }

    proptest! {
        /// Connecting blocks then disconnecting them all (newest first) restores the confirmed
        /// balance and the coin set.
        #[test]
        fn connect_then_disconnect_restores(blocks in proptest::collection::vec(
            (proptest::collection::vec((0u8..20, 1u64..1_000_000), 0..5),
             proptest::collection::vec((0u8..20, 0u32..8), 0..5)), 1..8)) {
            let mut idx = CoinIndex::new(true);
            for n in 0..5u8 {
                idx.insert(op(n, 0), TrackedCoin { value_wat: 1000, keychain: Keychain::HotInternal, height: Some(0), is_dust: false });
            }
            let before_bal = idx.hot_confirmed_wat();
            let before_set = idx.outpoints_where(|_| true);
            let mut hashes = Vec::new();
            for (i, (created, spent)) in blocks.iter().enumerate() {
                let h = i as u32 + 1;
                let s = scanned(created, spent, h);
                idx.connect(s.update.block.hash, h, &s);
                hashes.push(s.update.block.hash);
            }
            for hash in hashes.into_iter().rev() {
                idx.disconnect(hash);
            }
            prop_assert!(idx.is_complete());
            prop_assert_eq!(idx.hot_confirmed_wat(), before_bal);
            let confirmed = idx.outpoints_where(|c| c.height.is_some());
            prop_assert_eq!(confirmed, before_set);
        }
    }
}
