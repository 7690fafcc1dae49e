//! Shared harness: an in-process simnode, a SQLite ledger in a temp dir, fixed keys, and
//! chain-scanning helpers that check the CHAIN (not the ledger).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Block, OutPoint, ScriptBuf, Transaction};
use mona::Network;
use mona_engine::{Engine, EngineConfig, EngineHandle, FloatPolicy, HotKeys};
use mona_ledger::{Destination, Ledger, SqliteLedger, Withdrawal, WithdrawalRequest};
use mona_node::{Auth, NodeClient, NodeConfig};
use mona_simnode::{SimConfig, SimNode, SimNodeHandle};
use mona_wallet::{Account, Mnemonic, Purpose, WatchOnlyAccount};

pub const MONA: u64 = 100_000_000;

pub fn account(words: &str) -> Account {
    let seed = Mnemonic::parse(words).unwrap().to_seed("");
    Account::from_seed(
        &Secp256k1::new(),
        &seed,
        Network::Regtest,
        Purpose::Bip84,
        0,
    )
}

pub fn hot_account() -> Account {
    account("all all all all all all all all all all all all")
}

pub fn cold_account() -> Account {
    account("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")
}

pub fn hot_watch() -> WatchOnlyAccount {
    hot_account().watch_only().clone()
}

pub fn cold_watch() -> WatchOnlyAccount {
    cold_account().watch_only().clone()
}

/// A customer's address (a third key).
pub fn customer(i: u32) -> Destination {
    let a = account("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong");
    let addr = a.watch_only().address(0, i).unwrap();
    Destination {
        address: addr.to_string(),
        script_pubkey: addr.script_pubkey().clone(),
    }
}

pub struct Rig {
    pub sim: SimNodeHandle,
    pub node: Arc<NodeClient>,
    pub ledger: Arc<dyn Ledger>,
    pub dir: tempfile::TempDir,
}

pub fn test_config(dir: &Path) -> EngineConfig {
    let mut c = EngineConfig::new(Network::Regtest);
    c.datadir = Some(dir.to_path_buf());
    c.poll_interval = Duration::from_millis(40);
    c.batch_interval = Duration::from_millis(80);
    c.mempool_interval = Duration::from_millis(300);
    c.retry_base = Duration::from_millis(20);
    c.bump_after_blocks = 0;
    c.auto_topup = false;
    c.finality_depth = 3;
    c.float = FloatPolicy {
        hot_cap_wat: 1_000_000 * MONA,
        hot_cap_fraction_ppm: 1_000_000,
        hot_target_wat: 500_000 * MONA,
        hot_low_wat: 0,
        max_payout_wat: 1_000 * MONA,
        max_daily_wat: 1_000_000 * MONA,
    };
    c
}

impl Rig {
    pub async fn new() -> Rig {
        let sim = SimNode::start(SimConfig::default()).await.unwrap();
        sim.mine(101);
        let (user, password) = sim.auth();
        let cfg = NodeConfig::new(
            &sim.url(),
            Auth::UserPass {
                user,
                password: password.into(),
            },
        )
        .unwrap()
        .with_timeout_ms(400);
        let node = Arc::new(NodeClient::new(cfg));
        let dir = tempfile::tempdir().unwrap();
        let ledger: Arc<dyn Ledger> =
            Arc::new(SqliteLedger::open(dir.path().join("ledger.db")).unwrap());
        Rig {
            sim,
            node,
            ledger,
            dir,
        }
    }

    pub fn reopen_ledger(&mut self) {
        self.ledger = Arc::new(SqliteLedger::open(self.dir.path().join("ledger.db")).unwrap());
    }

    pub async fn engine(&self, cfg: EngineConfig) -> EngineHandle {
        Engine::start(
            cfg,
            Arc::clone(&self.ledger),
            Arc::clone(&self.node),
            HotKeys::from_account(&hot_account()),
            cold_watch(),
        )
        .await
        .unwrap()
    }

    /// Pays `amount` to hot receive index `i` from the faucet and mines it.
    pub fn fund_hot(&self, i: u32, amount: u64) -> OutPoint {
        let s = hot_watch().script_pubkey(0, i).unwrap();
        self.sim.fund_script(&s, amount).unwrap()
    }

    pub fn fund_cold(&self, i: u32, amount: u64) -> OutPoint {
        let s = cold_watch().script_pubkey(0, i).unwrap();
        self.sim.fund_script(&s, amount).unwrap()
    }

    pub fn withdraw(&self, id: &str, to: u32, amount: u64) -> Withdrawal {
        self.ledger
            .request_withdrawal(&WithdrawalRequest {
                id: id.into(),
                destination: customer(to),
                amount_wat: amount,
            })
            .unwrap()
            .record()
            .clone()
    }

    /// Every block of the active chain (read over RPC).
    pub async fn blocks(&self) -> Vec<Block> {
        let h = self.sim.height();
        let mut v = Vec::new();
        for i in 0..=h {
            let hash = self
                .node
                .get_block_hash(u64::from(i))
                .await
                .unwrap()
                .unwrap();
            v.push(self.node.get_block(hash).await.unwrap().unwrap());
        }
        v
    }
}

pub fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// What the chain says: payments per script, our UTXO balance per script set, and fees of
/// transactions spending our coins.
pub struct ChainView {
    pub paid_to: HashMap<ScriptBuf, Vec<u64>>,
    pub hot_balance: u64,
    pub cold_balance: u64,
    pub our_txs: Vec<Transaction>,
}

pub fn our_scripts(acct: &WatchOnlyAccount, n: u32) -> std::collections::HashSet<ScriptBuf> {
    let mut s = std::collections::HashSet::new();
    for chain in 0..2 {
        for i in 0..n {
            s.insert(acct.script_pubkey(chain, i).unwrap());
        }
    }
    s
}

pub fn chain_view(blocks: &[Block]) -> ChainView {
    let hot = our_scripts(&hot_watch(), 300);
    let cold = our_scripts(&cold_watch(), 100);
    let mut utxo: HashMap<OutPoint, (u64, bool)> = HashMap::new();
    let mut paid_to: HashMap<ScriptBuf, Vec<u64>> = HashMap::new();
    let mut our_txs = Vec::new();
    for b in blocks {
        for tx in &b.txdata {
            let mut ours = false;
            for i in &tx.input {
                if utxo.remove(&i.previous_output).is_some() {
                    ours = true;
                }
            }
            if ours {
                our_txs.push(tx.clone());
            }
            let txid = tx.compute_txid();
            for (v, o) in tx.output.iter().enumerate() {
                paid_to
                    .entry(o.script_pubkey.clone())
                    .or_default()
                    .push(o.value.to_sat());
                let is_hot = hot.contains(&o.script_pubkey);
                if is_hot || cold.contains(&o.script_pubkey) {
                    utxo.insert(
                        OutPoint {
                            txid,
                            vout: v as u32,
                        },
                        (o.value.to_sat(), is_hot),
                    );
                }
            }
        }
    }
    ChainView {
        paid_to,
        hot_balance: utxo.values().filter(|(_, h)| *h).map(|(v, _)| v).sum(),
        cold_balance: utxo.values().filter(|(_, h)| !*h).map(|(v, _)| v).sum(),
        our_txs,
    }
}

/// Polls `f` until it is true (a generous deadline so a broken engine fails instead of hanging).
pub async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

pub fn state_of(ledger: &Arc<dyn Ledger>, id: &str) -> mona_ledger::PayoutState {
    ledger.withdrawal(id).unwrap().unwrap().state
}
