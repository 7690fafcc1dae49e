//! The node's state machine: chain + mempool + mining + reorgs + a test faucet.
//!
//! Invariant: after every public operation the mempool is consistent with the active chain
//! (every entry's inputs exist, no entry is confirmed), and the active chain is the best
//! chain of blocks not marked invalid.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash as _};
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    Amount, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};

use crate::chain::{build_block, Chain};
use crate::mempool::Mempool;
use crate::params;
use crate::validation::{self, CheckContext, Reject, RejectKind};

/// Why a submitted transaction was not accepted (sendrawtransaction's errors).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// At least one output is still unspent in the chain (-27).
    #[error("transaction already in block chain")]
    AlreadyInChain,
    /// Refused by mempool policy or consensus (-25 for missing inputs, -26 otherwise).
    #[error("transaction rejected: {}", .0.message())]
    Rejected(Reject),
}

/// A funding helper could not pay.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FundError {
    /// The amount is zero, below dust or above the money cap.
    #[error("cannot fund {0} watanabe")]
    BadAmount(u64),
    /// The faucet's transaction was refused (should not happen).
    #[error("faucet transaction refused: {0}")]
    Refused(String),
}

/// Chain, mempool and clocks.
#[derive(Debug)]
pub struct NodeState {
    /// Block index, active chain and UTXO set.
    pub chain: Chain,
    /// The mempool.
    pub mempool: Mempool,
    /// Mock time (unix seconds) used instead of the system clock when set.
    pub mock_time: Option<u64>,
    /// A fee estimate (watanabe/kvB) estimatesmartfee returns when set.
    pub fee_estimate: Option<u64>,
    /// Whether getrawtransaction finds confirmed transactions without a block hash.
    pub txindex: bool,
    /// Wallet names the node pretends are loaded (for -18/-19 answers).
    pub wallets: Vec<String>,
    /// Unix time the node started.
    pub started_at: u64,
    /// Whether a reorg puts the transactions of disconnected blocks back in the mempool, as
    /// Core does (default `true`). With `false` they are dropped: only a client that sends
    /// them again (`sendrawtransaction`) gets them mined again, which lets a test prove that
    /// the client re-sent them.
    pub readd_disconnected: bool,
    /// `sendrawtransaction` calls per txid through the RPC (whatever the answer, faults
    /// included; the in-process [`NodeState::submit`] and the faucet are not counted).
    pub sendraw_calls: HashMap<Txid, u32>,
    faucet_key: SecretKey,
    faucet_script: ScriptBuf,
}

/// Unix time from the system clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl NodeState {
    /// A fresh regtest node (genesis only). `seed` derives the faucet key.
    pub fn new(seed: u64) -> NodeState {
        let digest = sha256::Hash::hash(format!("simnode faucet {seed}").as_bytes());
        // A SHA-256 output is a valid secp256k1 scalar except with negligible probability;
        // fall back to a fixed key rather than fail.
        let key = SecretKey::from_slice(digest.as_byte_array())
            .unwrap_or_else(|_| SecretKey::from_slice(&[1u8; 32]).expect("constant key"));
        let secp = Secp256k1::signing_only();
        let pk = bitcoin::CompressedPublicKey(key.public_key(&secp));
        NodeState {
            chain: Chain::new(),
            mempool: Mempool::default(),
            mock_time: None,
            fee_estimate: None,
            txindex: false,
            wallets: Vec::new(),
            started_at: unix_now(),
            readd_disconnected: true,
            sendraw_calls: HashMap::new(),
            faucet_key: key,
            faucet_script: ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()),
        }
    }

    /// Current time (mock or system).
    pub fn now(&self) -> u64 {
        self.mock_time.unwrap_or_else(unix_now)
    }

    /// The faucet's P2WPKH script.
    pub fn faucet_script(&self) -> &ScriptBuf {
        &self.faucet_script
    }

    /// Runs the acceptance checks without changing anything (testmempoolaccept).
    pub fn test_accept(&self, tx: &Transaction, max_fee_rate: u64) -> Result<u64, Reject> {
        let ctx = CheckContext {
            max_fee: (max_fee_rate > 0)
                .then(|| validation::fee_for(max_fee_rate, validation::vsize(tx))),
            now: self.now(),
            bypass_limits: false,
        };
        validation::check(&self.chain, &self.mempool, tx, ctx).map(|a| a.entry.fee)
    }

    /// sendrawtransaction: returns the txid when the tx is in the pool afterwards.
    pub fn submit(&mut self, tx: &Transaction, max_fee_rate: u64) -> Result<Txid, SubmitError> {
        let txid = tx.compute_txid();
        for n in 0..tx.output.len() {
            if self.chain.utxo.contains_key(&OutPoint::new(txid, n as u32)) {
                return Err(SubmitError::AlreadyInChain);
            }
        }
        if self.mempool.contains(&txid) {
            return Ok(txid);
        }
        let ctx = CheckContext {
            max_fee: (max_fee_rate > 0)
                .then(|| validation::fee_for(max_fee_rate, validation::vsize(tx))),
            now: self.now(),
            bypass_limits: false,
        };
        let accepted = validation::check(&self.chain, &self.mempool, tx, ctx)
            .map_err(SubmitError::Rejected)?;
        for c in &accepted.conflicts {
            self.mempool.remove_with_descendants(c);
        }
        self.mempool.insert(accepted.entry);
        Ok(txid)
    }

    /// Mines `n` blocks paying to `script` on the active tip, including the mempool.
    pub fn mine(&mut self, n: u32, script: &ScriptBuf) -> Vec<BlockHash> {
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            out.push(self.mine_one(script));
        }
        out
    }

    fn mine_one(&mut self, script: &ScriptBuf) -> BlockHash {
        let mut txs = Vec::new();
        let mut fees = 0u64;
        let mut weight = 4000u64;
        let mut included = std::collections::HashSet::new();
        for e in self.mempool.ordered() {
            let parents_ok = e.tx.input.iter().all(|i| {
                !self.mempool.contains(&i.previous_output.txid)
                    || included.contains(&i.previous_output.txid)
            });
            if !parents_ok || weight + e.weight > 4_000_000 {
                continue;
            }
            weight += e.weight;
            fees += e.fee;
            included.insert(e.txid);
            txs.push(e.tx.clone());
        }
        let tip = self.chain.tip();
        let time = self.now().max(u64::from(tip.median_time) + 1);
        let time = u32::try_from(time).unwrap_or(u32::MAX);
        let mut block = build_block(tip, script, txs, fees, time);
        while self.chain.get(&block.block_hash()).is_some() {
            block.header.nonce = block.header.nonce.wrapping_add(1);
        }
        let hash = self.chain.insert(block);
        // Our own template only spends coins of the tip and the pool, so connecting succeeds.
        let connected = self.chain.connect(hash);
        debug_assert!(connected);
        for t in &included {
            self.mempool.remove_one(t);
        }
        self.remove_conflicts_with_chain();
        hash
    }

    /// Removes pool entries whose inputs are no longer available (and their descendants).
    fn remove_conflicts_with_chain(&mut self) {
        let stale: Vec<Txid> = self
            .mempool
            .ordered()
            .iter()
            .filter(|e| {
                e.tx.input.iter().any(|i| {
                    !self.chain.utxo.contains_key(&i.previous_output)
                        && !self.mempool.contains(&i.previous_output.txid)
                })
            })
            .map(|e| e.txid)
            .collect();
        for t in stale {
            self.mempool.remove_with_descendants(&t);
        }
    }

    /// invalidateblock: returns false if the hash is unknown.
    pub fn invalidate(&mut self, hash: BlockHash) -> bool {
        if self.chain.get(&hash).is_none() {
            return false;
        }
        if self.chain.get(&hash).is_some_and(|e| e.height == 0) {
            // Core refuses to invalidate genesis silently in effect; keep the chain usable.
            return true;
        }
        self.chain.mark_invalid(hash);
        let mut disconnected = Vec::new();
        while self.chain.tip().is_invalid() {
            match self.chain.disconnect_tip() {
                Some(b) => disconnected.push(b),
                None => break,
            }
        }
        self.activate_best_chain(disconnected);
        true
    }

    /// reconsiderblock: returns false if the hash is unknown.
    pub fn reconsider(&mut self, hash: BlockHash) -> bool {
        if self.chain.get(&hash).is_none() {
            return false;
        }
        self.chain.clear_invalid(hash);
        self.activate_best_chain(Vec::new());
        true
    }

    /// Switches to the best valid tip and repairs the mempool, like Core's
    /// ActivateBestChain + UpdateMempoolForReorg.
    fn activate_best_chain(&mut self, mut disconnected: Vec<bitcoin::Block>) {
        loop {
            let target = self.chain.best_valid_tip();
            if target == self.chain.tip().hash {
                break;
            }
            let branch = self.chain.branch_to(target);
            let fork = self.chain.fork_height(target);
            while self.chain.height() > fork {
                match self.chain.disconnect_tip() {
                    Some(b) => disconnected.push(b),
                    None => break,
                }
            }
            let mut ok = true;
            for h in branch {
                if !self.chain.connect(h) {
                    self.chain.mark_invalid(h);
                    ok = false;
                    break;
                }
            }
            if ok {
                break;
            }
        }
        // Re-add transactions of disconnected blocks (oldest block first, unless the test
        // asked to drop them), then the old pool.
        disconnected.reverse();
        if !self.readd_disconnected {
            disconnected.clear();
        }
        let mut candidates: Vec<(Transaction, Option<u64>)> = Vec::new();
        for b in &disconnected {
            for tx in b.txdata.iter().skip(1) {
                candidates.push((tx.clone(), None));
            }
        }
        for e in self.mempool.drain() {
            candidates.push((e.tx, Some(e.time)));
        }
        let now = self.now();
        for (tx, time) in candidates {
            let txid = tx.compute_txid();
            if self.chain.find_tx(&txid).is_some() || self.mempool.contains(&txid) {
                continue;
            }
            let ctx = CheckContext {
                max_fee: None,
                now: time.unwrap_or(now),
                bypass_limits: true,
            };
            if let Ok(a) = validation::check(&self.chain, &self.mempool, &tx, ctx) {
                if a.conflicts.is_empty() {
                    self.mempool.insert(a.entry);
                }
            }
        }
    }

    /// Sends `amount` watanabe to `script` from the faucet (mining faucet blocks as needed).
    /// The payment sits in the mempool; mine a block to confirm it.
    pub fn fund(&mut self, script: &ScriptBuf, amount: u64) -> Result<OutPoint, FundError> {
        if amount == 0 || amount > params::MAX_MONEY {
            return Err(FundError::BadAmount(amount));
        }
        let fee_rate = 100_000u64; // 100 wat/vB, Monacoin's wallet floor
        for _ in 0..2000 {
            let spend_height = self.chain.height() + 1;
            let mut coins: Vec<(OutPoint, u64)> = self
                .chain
                .utxo
                .iter()
                .filter(|(op, c)| {
                    c.txout.script_pubkey == self.faucet_script
                        && (!c.is_coinbase || spend_height - c.height >= params::COINBASE_MATURITY)
                        && self.mempool.spender(op).is_none()
                })
                .map(|(op, c)| (*op, c.txout.value.to_sat()))
                .collect();
            coins.sort();
            let mut picked = Vec::new();
            let mut total = 0u64;
            for (op, v) in coins {
                picked.push(op);
                total += v;
                let fee = validation::fee_for(fee_rate, 11 + 68 * picked.len() as u64 + 31 * 2);
                if total >= amount + fee {
                    return self.pay_from_faucet(&picked, total, script, amount, fee);
                }
            }
            let faucet = self.faucet_script.clone();
            self.mine(1, &faucet);
        }
        Err(FundError::BadAmount(amount))
    }

    fn pay_from_faucet(
        &mut self,
        inputs: &[OutPoint],
        total: u64,
        script: &ScriptBuf,
        amount: u64,
        fee: u64,
    ) -> Result<OutPoint, FundError> {
        let mut outputs = vec![TxOut {
            value: Amount::from_sat(amount),
            script_pubkey: script.clone(),
        }];
        let change = total - amount - fee;
        if change >= 1000 {
            outputs.push(TxOut {
                value: Amount::from_sat(change),
                script_pubkey: self.faucet_script.clone(),
            });
        }
        let mut tx = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: inputs
                .iter()
                .map(|op| TxIn {
                    previous_output: *op,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs,
        };
        let secp = Secp256k1::signing_only();
        let pk = bitcoin::CompressedPublicKey(self.faucet_key.public_key(&secp));
        let values: Vec<u64> = inputs
            .iter()
            .map(|op| {
                self.chain
                    .utxo
                    .get(op)
                    .map_or(0, |c| c.txout.value.to_sat())
            })
            .collect();
        let mut witnesses = Vec::new();
        {
            let mut cache = SighashCache::new(&tx);
            for (i, v) in values.iter().enumerate() {
                let sighash = cache
                    .p2wpkh_signature_hash(
                        i,
                        &self.faucet_script,
                        Amount::from_sat(*v),
                        EcdsaSighashType::All,
                    )
                    .map_err(|e| FundError::Refused(e.to_string()))?;
                let msg = Message::from_digest(sighash.to_byte_array());
                let sig = secp.sign_ecdsa_low_r(&msg, &self.faucet_key);
                let sig = bitcoin::ecdsa::Signature::sighash_all(sig);
                witnesses.push(Witness::p2wpkh(&sig, &pk.0));
            }
        }
        for (i, w) in witnesses.into_iter().enumerate() {
            tx.input[i].witness = w;
        }
        let txid = self
            .submit(&tx, 0)
            .map_err(|e| FundError::Refused(e.to_string()))?;
        Ok(OutPoint::new(txid, 0))
    }

    /// Whether `reason` came from a missing input (for -25 vs -26).
    pub fn is_missing_inputs(r: &Reject) -> bool {
        r.kind == RejectKind::MissingInputs
    }
}
