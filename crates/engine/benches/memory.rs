//! Peak memory with 100,000 hot UTXOs (issue 5 target: under 300 MB). A plain release binary,
//! not a test: `cargo bench -p mona-engine --bench memory` (`UTXOS=n` to change the count).
//!
//! What runs is the daemon's engine path in one process: an in-process `simnode` whose chain
//! holds `UTXOS` confirmed outputs paying 1,000 hot receive addresses (100 per address), the
//! real SQLite ledger in a temp dir, and the engine: it syncs the whole chain, pays a few
//! withdrawal batches (coin selection over every spendable coin), confirms them, then is
//! restarted (its spend index rebuilt from the ledger's `unspent_coins`) and pays once more.
//! The HTTP API is not started (it holds no per-UTXO state).
//!
//! Reported: VmHWM (peak RSS) of the process from `/proc/self/status`, and the RSS before the
//! engine started (the simulated chain's own share, which a real daemon does not carry: its
//! node is another process).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use mona::Network;
use mona_engine::{Engine, EngineConfig, EngineHandle, FloatPolicy, HotKeys};
use mona_ledger::{Destination, Ledger, PayoutState, SqliteLedger, WithdrawalRequest};
use mona_node::{Auth, NodeClient, NodeConfig};
use mona_simnode::{chain::build_block, SimConfig, SimNode, SimNodeHandle};
use mona_wallet::{Account, Mnemonic, Purpose};

const MONA: u64 = 100_000_000;
const ADDRESSES: u32 = 1_000;
const OUTPUTS_PER_TX: usize = 1_000;

/// A field of `/proc/self/status` in kB (Linux; 0 elsewhere).
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Prints RSS and peak RSS so far, after a named phase.
fn phase(name: &str) {
    eprintln!(
        "  after {name}: RSS {:.1} MB, peak {:.1} MB",
        mb(status_kb("VmRSS:")),
        mb(status_kb("VmHWM:"))
    );
}

fn account(words: &str) -> Account {
    let seed = Mnemonic::parse(words).unwrap().to_seed("");
    Account::from_seed(
        &Secp256k1::new(),
        &seed,
        Network::Regtest,
        Purpose::Bip84,
        0,
    )
}

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(Network::Regtest);
    c.datadir = Some(dir.to_path_buf());
    c.poll_interval = Duration::from_millis(20);
    c.batch_interval = Duration::from_secs(3600);
    c.mempool_interval = Duration::from_secs(3600);
    c.bump_after_blocks = 0;
    c.auto_topup = false;
    c.auto_sweep = false;
    c.gap_limit = ADDRESSES;
    c.float = FloatPolicy {
        hot_cap_wat: 100_000_000 * MONA,
        hot_cap_fraction_ppm: 1_000_000,
        hot_target_wat: 50_000_000 * MONA,
        hot_low_wat: 0,
        max_payout_wat: 1_000 * MONA,
        max_daily_wat: 1_000_000 * MONA,
    };
    c
}

fn node_client(sim: &SimNodeHandle) -> Arc<NodeClient> {
    let (user, password) = sim.auth();
    let cfg = NodeConfig::new(
        &sim.url(),
        Auth::UserPass {
            user,
            password: password.into(),
        },
    )
    .unwrap()
    .with_timeout_ms(30_000);
    Arc::new(NodeClient::new(cfg))
}

/// Builds the chain directly in the simulated node: each block's one transaction spends the
/// previous block's coinbase into `OUTPUTS_PER_TX` hot outputs.
fn build_chain(sim: &SimNodeHandle, hot: &Account, utxos: usize) -> u32 {
    let foreign = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_raw_hash(
        bitcoin::hashes::Hash::from_byte_array([7u8; 20]),
    ));
    let hot_spk: Vec<ScriptBuf> = (0..ADDRESSES)
        .map(|i| hot.watch_only().script_pubkey(0, i).unwrap())
        .collect();
    let blocks = utxos.div_ceil(OUTPUTS_PER_TX) as u32 + 1;
    let mut left = utxos;
    sim.with_state(|st| {
        let mut prev_cb: Option<(OutPoint, u64)> = None;
        for _ in 0..blocks {
            let mut txs = Vec::new();
            if let Some((cb, cb_value)) = prev_cb {
                let n = left.min(OUTPUTS_PER_TX);
                left -= n;
                let each = (cb_value - MONA) / OUTPUTS_PER_TX as u64;
                txs.push(Transaction {
                    version: Version::TWO,
                    lock_time: LockTime::ZERO,
                    input: vec![TxIn {
                        previous_output: cb,
                        script_sig: ScriptBuf::new(),
                        sequence: Sequence::MAX,
                        witness: Witness::new(),
                    }],
                    output: (0..n)
                        .map(|j| TxOut {
                            value: Amount::from_sat(each),
                            script_pubkey: hot_spk[j % hot_spk.len()].clone(),
                        })
                        .collect(),
                });
            }
            let tip = st.chain.tip().clone();
            let block = build_block(&tip, &foreign, txs, 0, tip.block.header.time + 1);
            let cb = &block.txdata[0];
            let cb_out = (
                OutPoint::new(cb.compute_txid(), 0),
                cb.output[0].value.to_sat(),
            );
            let hash = st.chain.insert(block);
            assert!(st.chain.connect(hash), "bench chain connects");
            prev_cb = Some(cb_out);
        }
    });
    sim.mine(1);
    sim.height()
}

async fn wait_synced(engine: &EngineHandle, height: u32) {
    while engine.status().synced_tip.map(|t| t.height) != Some(height) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Queues `n` withdrawals, wakes the engine and waits until every one is broadcast.
async fn pay(ledger: &Arc<dyn Ledger>, engine: &EngineHandle, round: usize, n: usize) {
    let dest = account("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong");
    let ids: Vec<String> = (0..n).map(|i| format!("r{round}w{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let a = dest
            .watch_only()
            .address(0, (round * n + i) as u32)
            .unwrap();
        ledger
            .request_withdrawal(&WithdrawalRequest {
                id: id.clone(),
                destination: Destination {
                    address: a.to_string(),
                    script_pubkey: a.script_pubkey().clone(),
                },
                // 0.01 MONA: a batch of 20 needs a handful of the 0.049 MONA coins.
                amount_wat: MONA / 100,
            })
            .unwrap();
    }
    engine.wake();
    for id in &ids {
        loop {
            let st = ledger.withdrawal(id).unwrap().unwrap().state;
            if st == PayoutState::Broadcast {
                break;
            }
            assert!(
                !matches!(st, PayoutState::Rejected | PayoutState::Stuck),
                "{id} is {st}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

async fn run(utxos: usize) {
    let hot = account("all all all all all all all all all all all all");
    let cold = account(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    );
    let sim = SimNode::start(SimConfig::default()).await.unwrap();
    let t0 = Instant::now();
    let height = build_chain(&sim, &hot, utxos);
    let rss_chain = status_kb("VmRSS:");
    eprintln!(
        "built {utxos} hot UTXOs in {height} blocks in {:.1}s; RSS {:.1} MB before the engine",
        t0.elapsed().as_secs_f64(),
        mb(rss_chain)
    );
    let dir = tempfile::tempdir().unwrap();
    let ledger: Arc<dyn Ledger> =
        Arc::new(SqliteLedger::open(dir.path().join("ledger.db")).unwrap());
    let start = || {
        Engine::start(
            config(dir.path()),
            Arc::clone(&ledger),
            node_client(&sim),
            HotKeys::from_account(&hot),
            cold.watch_only().clone(),
        )
    };
    let t0 = Instant::now();
    let engine = start().await.unwrap();
    wait_synced(&engine, height).await;
    let synced = t0.elapsed();
    phase("sync");
    let b = ledger.balances().unwrap();
    let unspent = ledger.unspent_coins().unwrap().len();
    assert_eq!(unspent, utxos, "every hot UTXO is in the ledger");
    // A few withdrawal batches, then a block to confirm them.
    let t0 = Instant::now();
    for round in 0..3 {
        pay(&ledger, &engine, round, 20).await;
    }
    sim.mine(1);
    wait_synced(&engine, height + 1).await;
    let paid = t0.elapsed();
    phase("3 payout batches + block");
    // Restart: the spend index is rebuilt from the ledger's whole watch set.
    engine.shutdown().await;
    drop(engine);
    let t0 = Instant::now();
    let engine = start().await.unwrap();
    wait_synced(&engine, height + 1).await;
    let restarted = t0.elapsed();
    phase("restart + resync");
    pay(&ledger, &engine, 3, 20).await;
    sim.mine(1);
    wait_synced(&engine, height + 2).await;
    let confirmed = ledger
        .payouts_in_states(&[PayoutState::Confirmed, PayoutState::Final])
        .unwrap()
        .len();
    assert!(!engine.is_frozen(), "{:?}", engine.freeze_info());
    engine.shutdown().await;
    let hwm = status_kb("VmHWM:");
    println!(
        "memory: {utxos} confirmed hot UTXOs ({} hot wat): synced {height} blocks in {:.2} s, 80 withdrawals in {confirmed} confirmed payouts ({:.2} s for the first 60), restart + resync {:.2} s",
        b.hot_confirmed_wat,
        synced.as_secs_f64(),
        paid.as_secs_f64(),
        restarted.as_secs_f64(),
    );
    println!(
        "memory: peak RSS (VmHWM) {:.1} MB for the whole process (engine + SQLite ledger + in-process simnode); RSS {:.1} MB before the engine started (simulated chain); target < 300 MB",
        mb(hwm),
        mb(rss_chain)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let utxos: usize = std::env::var("UTXOS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(utxos));
}
