//! Shared helpers: a cold export file, customer addresses, a rig in a temp dir, and the hot
//! cap check of issue 6 read from the chain.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use bitcoin::{OutPoint, ScriptBuf};

use bitcoin::secp256k1::Secp256k1;
use hot_node::config::Config;
use hot_node::simrig::SimRig;
use hot_node::watch_only::WatchOnlyWallet;
use mona::Network;
use mona_wallet::{Account, Mnemonic, Purpose, WatchOnlyAccount};

pub const COLD_MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
pub const CUSTOMER_MNEMONIC: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";

pub fn account(phrase: &str) -> Account {
    let m = Mnemonic::parse(phrase).expect("test mnemonic");
    Account::from_seed(
        &Secp256k1::new(),
        &m.to_seed(""),
        Network::Regtest,
        Purpose::Bip84,
        0,
    )
}

pub fn customers() -> WatchOnlyAccount {
    account(CUSTOMER_MNEMONIC).watch_only().clone()
}

/// Customer address `i` (not ours).
pub fn customer(i: u32) -> mona::Address {
    customers().address(0, i).expect("derive")
}

pub fn write_cold_export(dir: &Path) -> PathBuf {
    let p = dir.join("cold-export.json");
    std::fs::write(
        &p,
        WatchOnlyWallet::from_account(account(COLD_MNEMONIC).watch_only()).to_json(),
    )
    .expect("write cold export");
    p
}

/// A rig in a fresh temp dir (returned too: it must outlive the rig).
pub async fn rig(edit: impl FnOnce(&mut Config)) -> (tempfile::TempDir, SimRig) {
    let dir = tempfile::tempdir().expect("tempdir");
    let export = write_cold_export(dir.path());
    let rig = SimRig::start(&dir.path().join("work"), &export, edit)
        .await
        .expect("rig starts");
    (dir, rig)
}

// ---- the hot cap, checked on the CHAIN -------------------------------------------------
//
// Issue 6: "across the suite, the hot balance never exceeds the effective cap by more than one
// block's incoming deposits". The bound checked, for EVERY block `h` of the active chain:
//
//     hot(h) <= cap(h) + deposits(h)
//
// - `hot(h)`: the confirmed balance of the hot wallet's scripts in the UTXO set after block
//   `h`, replayed from the chain's blocks (never from the ledger);
// - `cap(h)`: `min(hot_cap, hot_cap_fraction * (hot(h) + cold(h)))`, the policy's values read
//   from `GET /v1/float` (its `effective_cap` is cross-checked against ours at the tip);
// - `deposits(h)`: the value block `h` pays to hot scripts in transactions that spend no hot
//   coin (customer deposits, top-ups from cold; the change of our own payouts is not new money).
//
// Why this is the acceptance's bound: a sweep is a payout, so the hot balance can only come
// down one block after the engine saw it above the cap. Block `h` confirms the deposits that
// push the hot balance over; the engine syncs `h` and broadcasts a sweep to `hot_target`;
// block `h+1` confirms it (with `h+1`'s own deposits on top, which the bound allows). So at
// any block the excess over the cap is at most what that block brought in, PROVIDED the engine
// had the time between two blocks to react, as on a real chain (90 s blocks): `mine_checked`
// gives it that (mine one block, wait for the sync, and if the chain is above the cap wait for
// the sweep in the mempool). Blocks mined back to back by tests (`rig.sim.mine` in wait loops)
// are still checked by the replay; those loops run below the cap.

/// The cap settings of `GET /v1/float`.
#[derive(Debug, Clone, Copy)]
pub struct CapPolicy {
    /// `hot_cap`, watanabe.
    pub hot_cap_wat: u64,
    /// `hot_cap_fraction`, parts per million.
    pub fraction_ppm: u64,
}

fn mona_str(v: &serde_json::Value) -> u64 {
    mona::Amount::from_mona_str(v.as_str().expect("an amount string"))
        .expect("a MONA amount")
        .to_wat()
}

/// "0.25" -> 250_000 parts per million.
fn ppm(s: &str) -> u64 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 6, "fraction {s}");
    let int: u64 = int.parse().expect("fraction");
    let frac_ppm: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().expect("fraction")
    };
    int * 1_000_000 + frac_ppm
}

impl CapPolicy {
    /// Reads the policy from `GET /v1/float`.
    pub async fn read(rig: &SimRig) -> CapPolicy {
        let f = rig.float().await.expect("GET /v1/float");
        CapPolicy {
            hot_cap_wat: mona_str(&f["hot_cap"]),
            fraction_ppm: ppm(f["hot_cap_fraction"].as_str().expect("hot_cap_fraction")),
        }
    }

    /// `min(hot_cap, fraction * (hot + cold))`, rounded down like the node's.
    pub fn effective_cap(&self, hot: u64, cold: u64) -> u64 {
        let share = u128::from(hot + cold) * u128::from(self.fraction_ppm) / 1_000_000;
        self.hot_cap_wat
            .min(u64::try_from(share).unwrap_or(u64::MAX))
    }
}

/// The float after one block, from the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockFloat {
    /// Block height.
    pub height: u32,
    /// Confirmed hot balance after the block.
    pub hot_wat: u64,
    /// Confirmed cold balance after the block.
    pub cold_wat: u64,
    /// What the block paid to hot scripts in transactions spending no hot coin.
    pub deposits_wat: u64,
    /// The effective cap after the block.
    pub cap_wat: u64,
}

/// How many addresses of each chain of the hot and cold wallets the checks scan.
pub const SCAN: u32 = 400;

/// Replays the active chain and returns the float after every block (hot and cold scripts:
/// the first `scan` addresses of each chain).
pub fn float_history(rig: &SimRig, policy: &CapPolicy, scan: u32) -> Vec<BlockFloat> {
    let hot = SimRig::scripts_of(rig.hot.watch_only(), scan);
    let cold = SimRig::scripts_of(&rig.cold, scan);
    rig.sim.with_state(|st| {
        // outpoint -> (value, is_hot); only hot and cold coins are tracked.
        let mut ours: HashMap<OutPoint, (u64, bool)> = HashMap::new();
        let (mut hot_wat, mut cold_wat) = (0u64, 0u64);
        let mut out = Vec::new();
        for h in 0..=st.chain.height() {
            let Some(entry) = st.chain.hash_at(h).and_then(|x| st.chain.get(&x)) else {
                continue;
            };
            let mut deposits = 0u64;
            for tx in &entry.block.txdata {
                let mut spends_hot = false;
                for i in &tx.input {
                    if let Some((v, is_hot)) = ours.remove(&i.previous_output) {
                        if is_hot {
                            hot_wat -= v;
                            spends_hot = true;
                        } else {
                            cold_wat -= v;
                        }
                    }
                }
                let txid = tx.compute_txid();
                for (vout, o) in tx.output.iter().enumerate() {
                    let v = o.value.to_sat();
                    let is_hot = hot.contains(&o.script_pubkey);
                    if !is_hot && !cold.contains(&o.script_pubkey) {
                        continue;
                    }
                    ours.insert(OutPoint::new(txid, vout as u32), (v, is_hot));
                    if is_hot {
                        hot_wat += v;
                        if !spends_hot {
                            deposits += v;
                        }
                    } else {
                        cold_wat += v;
                    }
                }
            }
            out.push(BlockFloat {
                height: h,
                hot_wat,
                cold_wat,
                deposits_wat: deposits,
                cap_wat: policy.effective_cap(hot_wat, cold_wat),
            });
        }
        out
    })
}

/// Asserts `hot <= cap + deposits` after every block of the active chain (see above), and
/// that our cap at the tip is the daemon's (`GET /v1/float`, once synced). Returns the history.
pub async fn assert_hot_cap_held(rig: &SimRig) -> Vec<BlockFloat> {
    assert_hot_cap_held_scanning(rig, SCAN).await
}

/// [`assert_hot_cap_held`] scanning `scan` addresses per chain.
pub async fn assert_hot_cap_held_scanning(rig: &SimRig, scan: u32) -> Vec<BlockFloat> {
    rig.wait_synced().await.expect("the engine syncs the tip");
    let policy = CapPolicy::read(rig).await;
    let history = float_history(rig, &policy, scan);
    for b in &history {
        assert!(
            b.hot_wat <= b.cap_wat + b.deposits_wat,
            "hot cap broken at height {}: hot {} > cap {} + that block's deposits {}",
            b.height,
            b.hot_wat,
            b.cap_wat,
            b.deposits_wat
        );
    }
    let tip = history.last().copied().expect("a chain");
    let f = rig.float().await.expect("GET /v1/float");
    if mona_str(&f["hot_confirmed"]) == tip.hot_wat
        && mona_str(&f["cold_confirmed"]) == tip.cold_wat
    {
        assert_eq!(
            mona_str(&f["effective_cap"]),
            tip.cap_wat,
            "our effective cap is the daemon's: {f}"
        );
    }
    history
}

/// Mines `n` blocks one at a time the way a real chain paces them: after each, waits until
/// the engine synced it and, when the chain's hot balance is above the cap, until the
/// engine's sweep is in the mempool (at most 20 s; the next block's check catches a missing
/// sweep); then checks the bound for that block.
pub async fn mine_checked(rig: &SimRig, n: u32) {
    let policy = CapPolicy::read(rig).await;
    let hot = SimRig::scripts_of(rig.hot.watch_only(), SCAN);
    let cold = SimRig::scripts_of(&rig.cold, SCAN);
    for _ in 0..n {
        rig.mine(1).await.expect("mine and sync");
        let b = *float_history(rig, &policy, SCAN).last().expect("a chain");
        assert!(
            b.hot_wat <= b.cap_wat + b.deposits_wat,
            "hot cap broken at height {}: {b:?}",
            b.height
        );
        if b.hot_wat > b.cap_wat {
            let swept = rig
                .wait_for("the engine's sweep in the mempool", 20, || async {
                    sweep_in_mempool(rig, &hot, &cold).then_some(())
                })
                .await;
            assert!(swept.is_ok(), "no sweep after height {}: {b:?}", b.height);
        }
    }
}

/// Whether the mempool holds a transaction spending a hot coin to a cold script.
fn sweep_in_mempool(rig: &SimRig, hot: &HashSet<ScriptBuf>, cold: &HashSet<ScriptBuf>) -> bool {
    rig.sim.with_state(|st| {
        st.mempool.ordered().iter().any(|e| {
            let spends_hot = e.tx.input.iter().any(|i| {
                st.chain
                    .utxo
                    .get(&i.previous_output)
                    .is_some_and(|c| hot.contains(&c.txout.script_pubkey))
            });
            spends_hot && e.tx.output.iter().any(|o| cold.contains(&o.script_pubkey))
        })
    })
}
