//! Engine benchmarks (run with `cargo bench -p mona-engine`; a plain release binary, not a test):
//! 1. chain sync speed over a simnode chain of `BLOCKS` blocks (default 10,000) with 50
//!    transactions per block, some paying and spending hot addresses, into a SQLite ledger;
//! 2. request-to-broadcast latency: `request_withdrawal` + `wake()` until the payout is
//!    `broadcast` in the ledger (one withdrawal at a time, confirmed coins available).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use mona::Network;
use mona_engine::{Engine, EngineConfig, FloatPolicy, HotKeys};
use mona_ledger::{Destination, Ledger, PayoutState, SqliteLedger, WithdrawalRequest};
use mona_node::{Auth, NodeClient, NodeConfig};
use mona_simnode::{chain::build_block, SimConfig, SimNode};
use mona_wallet::{Account, Mnemonic, Purpose};

const MONA: u64 = 100_000_000;

/// Process CPU seconds (user + system) from /proc (Linux; 0 elsewhere), to report throughput
/// per CPU-second on a shared machine.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
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

fn tx(input: OutPoint, outs: Vec<(ScriptBuf, u64)>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: input,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outs
            .into_iter()
            .map(|(s, v)| TxOut {
                value: Amount::from_sat(v),
                script_pubkey: s,
            })
            .collect(),
    }
}

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(Network::Regtest);
    c.datadir = Some(dir.to_path_buf());
    c.poll_interval = Duration::from_millis(5);
    c.batch_interval = Duration::from_secs(3600);
    c.mempool_interval = Duration::from_secs(3600);
    c.bump_after_blocks = 0;
    c.auto_topup = false;
    c.auto_sweep = false;
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

fn node_client(sim: &mona_simnode::SimNodeHandle) -> Arc<NodeClient> {
    let (user, password) = sim.auth();
    let cfg = NodeConfig::new(
        &sim.url(),
        Auth::UserPass {
            user,
            password: password.into(),
        },
    )
    .unwrap();
    Arc::new(NodeClient::new(cfg))
}

async fn sync_bench(blocks: u32, txs_per_block: usize) {
    let hot = account("all all all all all all all all all all all all");
    let cold = account(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    );
    let sim = SimNode::start(SimConfig::default()).await.unwrap();
    let foreign = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_raw_hash(
        bitcoin::hashes::Hash::from_byte_array([7u8; 20]),
    ));
    let hot_spk: Vec<ScriptBuf> = (0..10)
        .map(|i| hot.watch_only().script_pubkey(0, i).unwrap())
        .collect();
    // A hot deposit every HOT_EVERY blocks (default 50; 0 = none).
    let hot_every: u32 = std::env::var("HOT_EVERY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let t0 = Instant::now();
    sim.with_state(|st| {
        let mut prev_cb: Option<OutPoint> = None;
        for h in 0..blocks {
            let mut txs = Vec::with_capacity(txs_per_block);
            if let Some(mut spend) = prev_cb {
                let mut value = 50 * MONA;
                for j in 0..txs_per_block {
                    value -= 1000;
                    let side = if hot_every > 0 && j == 0 && h % hot_every == 0 {
                        hot_spk[(h / hot_every) as usize % hot_spk.len()].clone()
                    } else {
                        foreign.clone()
                    };
                    let t = tx(spend, vec![(side, 1000), (foreign.clone(), value - 1000)]);
                    spend = OutPoint::new(t.compute_txid(), 1);
                    value -= 1000;
                    txs.push(t);
                }
            }
            let tip = st.chain.tip().clone();
            let block = build_block(&tip, &foreign, txs, 0, tip.block.header.time + 1);
            let cb = OutPoint::new(block.txdata[0].compute_txid(), 0);
            let hash = st.chain.insert(block);
            assert!(st.chain.connect(hash), "bench chain connects at {h}");
            prev_cb = Some(cb);
        }
    });
    eprintln!(
        "built {blocks} blocks x {txs_per_block} txs in {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    let ledger: Arc<dyn Ledger> =
        Arc::new(SqliteLedger::open(dir.path().join("ledger.db")).unwrap());
    let node = node_client(&sim);
    let t0 = Instant::now();
    let c0 = cpu_seconds();
    let engine = Engine::start(
        config(dir.path()),
        Arc::clone(&ledger),
        node,
        HotKeys::from_account(&hot),
        cold.watch_only().clone(),
    )
    .await
    .unwrap();
    let target = sim.height();
    loop {
        if engine.status().synced_tip.map(|t| t.height) == Some(target) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c0;
    let b = ledger.balances().unwrap();
    println!(
        "sync: {} blocks x {} txs in {:.2} s = {:.0} blocks/s wall; {:.2} CPU-s (engine + ledger + in-process simnode) = {:.0} blocks per CPU-s ({} hot deposit wat recorded)",
        target,
        txs_per_block,
        secs,
        f64::from(target) / secs,
        cpu,
        f64::from(target) / cpu.max(0.001),
        b.hot_confirmed_wat + b.hot_dust_wat
    );
    eprintln!(
        "metrics: {:?} status error: {:?}",
        engine.metrics(),
        engine.status().last_error
    );
    engine.shutdown().await;
}

async fn latency_bench(n: usize) {
    let hot = account("all all all all all all all all all all all all");
    let cold = account(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    );
    let sim = SimNode::start(SimConfig::default()).await.unwrap();
    sim.mine(101);
    for i in 0..(n as u32 + 5) {
        let s = hot.watch_only().script_pubkey(0, i % 20).unwrap();
        sim.fund_script(&s, 10 * MONA).unwrap();
    }
    sim.mine(1);
    let dir = tempfile::tempdir().unwrap();
    let ledger: Arc<dyn Ledger> =
        Arc::new(SqliteLedger::open(dir.path().join("ledger.db")).unwrap());
    let engine = Engine::start(
        config(dir.path()),
        Arc::clone(&ledger),
        node_client(&sim),
        HotKeys::from_account(&hot),
        cold.watch_only().clone(),
    )
    .await
    .unwrap();
    while engine.status().synced_tip.map(|t| t.height) != Some(sim.height()) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let dest = account("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong");
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let a = dest.watch_only().address(0, i as u32).unwrap();
        let id = format!("lat{i}");
        let t0 = Instant::now();
        ledger
            .request_withdrawal(&WithdrawalRequest {
                id: id.clone(),
                destination: Destination {
                    address: a.to_string(),
                    script_pubkey: a.script_pubkey().clone(),
                },
                amount_wat: MONA,
            })
            .unwrap();
        engine.wake();
        loop {
            let st = ledger.withdrawal(&id).unwrap().unwrap().state;
            if st == PayoutState::Broadcast {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        lat.push(t0.elapsed());
    }
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "request-to-broadcast over {n} withdrawals: median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        ms(lat[n / 2]),
        ms(lat[n * 9 / 10]),
        ms(lat[n - 1])
    );
    engine.shutdown().await;
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let blocks: u32 = std::env::var("BLOCKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let txs = std::env::var("TXS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(50);
        sync_bench(blocks, txs).await;
        latency_bench(50).await;
    });
}
