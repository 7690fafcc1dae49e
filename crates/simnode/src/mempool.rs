//! The transaction memory pool.
//!
//! Invariant: every entry's inputs are either unspent coins of the active chain or outputs of
//! other entries, no two entries spend the same outpoint (`spends` indexes them all), and
//! entries are kept in arrival order (`sequence`), which is a topological order.

use std::collections::{BTreeSet, HashMap, HashSet};

use bitcoin::{OutPoint, Transaction, Txid, Wtxid};

/// One mempool transaction.
#[derive(Clone, Debug)]
pub struct MempoolEntry {
    /// The transaction.
    pub tx: Transaction,
    /// Its txid.
    pub txid: Txid,
    /// Its wtxid.
    pub wtxid: Wtxid,
    /// Fee in watanabe.
    pub fee: u64,
    /// Virtual size.
    pub vsize: u64,
    /// Weight units.
    pub weight: u64,
    /// Entry time (unix seconds).
    pub time: u64,
    /// Chain height when it entered.
    pub height: u32,
    /// Arrival order.
    pub sequence: u64,
}

impl MempoolEntry {
    /// Whether the transaction itself signals BIP125 replaceability.
    pub fn signals_rbf(&self) -> bool {
        self.tx.input.iter().any(|i| i.sequence.0 < 0xffff_fffe)
    }
}

/// The mempool.
#[derive(Debug, Default)]
pub struct Mempool {
    entries: HashMap<Txid, MempoolEntry>,
    spends: HashMap<OutPoint, Txid>,
    next_sequence: u64,
}

impl Mempool {
    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry by txid.
    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    /// Whether `txid` is in the pool.
    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    /// The mempool transaction spending `op`, if any.
    pub fn spender(&self, op: &OutPoint) -> Option<Txid> {
        self.spends.get(op).copied()
    }

    /// Entries in arrival (topological) order.
    pub fn ordered(&self) -> Vec<&MempoolEntry> {
        let mut v: Vec<&MempoolEntry> = self.entries.values().collect();
        v.sort_by_key(|e| e.sequence);
        v
    }

    /// Adds an entry (caller has validated it).
    pub fn insert(&mut self, mut entry: MempoolEntry) {
        entry.sequence = self.next_sequence;
        self.next_sequence += 1;
        for i in &entry.tx.input {
            self.spends.insert(i.previous_output, entry.txid);
        }
        self.entries.insert(entry.txid, entry);
    }

    /// Removes one entry only (no descendants).
    pub fn remove_one(&mut self, txid: &Txid) -> Option<MempoolEntry> {
        let e = self.entries.remove(txid)?;
        for i in &e.tx.input {
            if self.spends.get(&i.previous_output) == Some(txid) {
                self.spends.remove(&i.previous_output);
            }
        }
        Some(e)
    }

    /// Removes an entry and all its descendants.
    pub fn remove_with_descendants(&mut self, txid: &Txid) {
        let mut all = self.descendants(txid);
        all.insert(*txid);
        for t in all {
            self.remove_one(&t);
        }
    }

    /// Removes everything and returns the entries in arrival order.
    pub fn drain(&mut self) -> Vec<MempoolEntry> {
        let mut v: Vec<MempoolEntry> = self.entries.drain().map(|(_, e)| e).collect();
        self.spends.clear();
        v.sort_by_key(|e| e.sequence);
        v
    }

    /// In-pool parents of a transaction.
    pub fn parents_of_tx(&self, tx: &Transaction) -> BTreeSet<Txid> {
        tx.input
            .iter()
            .filter(|i| self.entries.contains_key(&i.previous_output.txid))
            .map(|i| i.previous_output.txid)
            .collect()
    }

    /// In-pool children of an entry.
    pub fn children(&self, txid: &Txid) -> BTreeSet<Txid> {
        let mut out = BTreeSet::new();
        if let Some(e) = self.entries.get(txid) {
            for n in 0..e.tx.output.len() {
                if let Some(c) = self.spends.get(&OutPoint::new(*txid, n as u32)) {
                    out.insert(*c);
                }
            }
        }
        out
    }

    /// All in-pool ancestors of a (possibly not yet added) transaction.
    pub fn ancestors_of_tx(&self, tx: &Transaction) -> HashSet<Txid> {
        let mut seen = HashSet::new();
        let mut stack: Vec<Txid> = self.parents_of_tx(tx).into_iter().collect();
        while let Some(t) = stack.pop() {
            if seen.insert(t) {
                if let Some(e) = self.entries.get(&t) {
                    stack.extend(self.parents_of_tx(&e.tx));
                }
            }
        }
        seen
    }

    /// All in-pool descendants of an entry (not including itself).
    pub fn descendants(&self, txid: &Txid) -> HashSet<Txid> {
        let mut seen = HashSet::new();
        let mut stack: Vec<Txid> = self.children(txid).into_iter().collect();
        while let Some(t) = stack.pop() {
            if seen.insert(t) {
                stack.extend(self.children(&t));
            }
        }
        seen
    }

    /// Whether the entry or any in-pool ancestor signals BIP125 (the RPC's view).
    pub fn is_bip125_replaceable(&self, txid: &Txid) -> bool {
        let Some(e) = self.entries.get(txid) else {
            return false;
        };
        if e.signals_rbf() {
            return true;
        }
        self.ancestors_of_tx(&e.tx)
            .iter()
            .any(|a| self.entries.get(a).is_some_and(MempoolEntry::signals_rbf))
    }

    /// Sum of vsizes.
    pub fn total_vsize(&self) -> u64 {
        self.entries.values().map(|e| e.vsize).sum()
    }
}
