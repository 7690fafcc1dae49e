//! `hot-node demo`: the whole custody story on the embedded simulated chain, in a temporary
//! directory: a cold wallet (the real `cold-signer`, in-process) and its watch-only export;
//! `hot-node init` with it; funding; withdrawals and vouchers through the HTTP API; a
//! Monappy-style attack (repeated concurrent redemptions while the node drops or delays its
//! answers) paying nothing twice; a sweep to cold; a top-up carried through QR PNG frames and
//! signed by the cold signer; a theft from the hot wallet frozen within one block.
//!
//! Invariant: every step checks its invariant on the CHAIN (the simulated node's blocks and
//! UTXO set), not on the ledger, and a violation stops the demo with the step's name and a
//! non-zero exit; the final report counts double payouts from the chain.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::psbt::Psbt;
use bitcoin::{absolute::LockTime, transaction::Version, ScriptBuf, Sequence, TxIn, TxOut};
use bitcoin::{Amount as BtcAmount, Transaction, Witness};
use clap::Args;
use hyper::Method;
use mona::Amount;
use mona_simnode::{FaultAction, FaultRule};
use serde_json::json;

use crate::config::Config;
use crate::exit::{CliError, Exit};
use crate::simrig::{RigError, SimRig, MONA};

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the working directory (default: a temporary directory removed at the end).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}

/// Why the demo stopped: the step and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("demo step '{step}' failed: {detail}")]
pub struct DemoError {
    /// The step.
    pub step: &'static str,
    /// What went wrong.
    pub detail: String,
}

/// What the demo found on the chain at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoReport {
    /// Hot balance on the chain, watanabe.
    pub hot_wat: u64,
    /// Cold balance on the chain, watanabe.
    pub cold_wat: u64,
    /// Requests (withdrawal ids, vouchers) paid more than once on the chain.
    pub double_payouts: usize,
    /// Redemptions answered 409 (another address).
    pub conflicts: usize,
    /// Whether the theft froze payouts within one block.
    pub theft_frozen: bool,
}

fn fail(step: &'static str) -> impl Fn(RigError) -> DemoError {
    move |e| DemoError {
        step,
        detail: e.to_string(),
    }
}

fn check(step: &'static str, ok: bool, detail: impl FnOnce() -> String) -> Result<(), DemoError> {
    if ok {
        Ok(())
    } else {
        Err(DemoError {
            step,
            detail: detail(),
        })
    }
}

/// Prints one progress line.
fn say(t0: Instant, line: &str) {
    println!("[{:>5.1}s] {line}", t0.elapsed().as_secs_f64());
}

fn mona(wat: u64) -> String {
    Amount::from_wat(wat)
        .map(|a| a.to_mona_string())
        .unwrap_or_else(|_| format!("{wat} wat"))
}

/// The cold signer, run in-process through its command-line entry point.
#[derive(Debug, Clone)]
pub struct ColdSigner {
    /// The wallet directory.
    pub wallet: PathBuf,
    /// Its passphrase file.
    pub passphrase_file: PathBuf,
    /// Its pinned policy file.
    pub policy: PathBuf,
}

/// Runs `cold-signer ARGS` in-process; `Err` with its exit code.
pub fn cold_signer(args: &[OsString]) -> Result<(), u8> {
    let mut all: Vec<OsString> = vec!["cold-signer".into(), "--network".into(), "regtest".into()];
    all.extend(args.iter().cloned());
    match cold_signer::run_to_code(all) {
        0 => Ok(()),
        code => Err(code),
    }
}

fn os(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

impl ColdSigner {
    /// Creates a cold wallet in `dir` from a freshly drawn mnemonic (`cold-signer restore`,
    /// so the demo does not print a seed) and writes its watch-only export
    /// (`cold-signer export --out`); returns the signer and the export path.
    pub fn create(dir: &Path) -> Result<(ColdSigner, PathBuf), String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let mnemonic = mona_wallet::Mnemonic::generate(mona_wallet::WordCount::Twelve)
            .map_err(|e| e.to_string())?;
        let words = dir.join("mnemonic.txt");
        std::fs::write(&words, mnemonic.phrase().as_bytes()).map_err(|e| e.to_string())?;
        let pass = dir.join("cold-passphrase");
        std::fs::write(&pass, "cold demo passphrase").map_err(|e| e.to_string())?;
        let wallet = dir.join("cold-wallet");
        cold_signer(&os(&[
            &"restore",
            &"--wallet",
            &wallet,
            &"--mnemonic-file",
            &words,
            &"--passphrase-file",
            &pass,
            &"--kdf-m-cost-kib",
            &"64",
            &"--kdf-t-cost",
            &"1",
        ]))
        .map_err(|c| format!("cold-signer restore exited {c}"))?;
        let export = dir.join("cold-export.json");
        cold_signer(&os(&[
            &"export",
            &"--wallet",
            &wallet,
            &"--out",
            &export,
            &"--passphrase-file",
            &pass,
        ]))
        .map_err(|c| format!("cold-signer export exited {c}"))?;
        Ok((
            ColdSigner {
                wallet,
                passphrase_file: pass,
                policy: dir.join("policy.toml"),
            },
            export,
        ))
    }

    /// Pins the policy: only the registered hot wallet (its receive descriptor) may receive.
    pub fn register_hot(&self, hot_receive_descriptor: &str) -> Result<(), String> {
        let text = format!(
            "version = 1\nnetwork = \"regtest\"\n[destinations]\nhot_descriptors = [\"{hot_receive_descriptor}\"]\nhot_scan_range = 200\n[limits]\nmax_send = \"1000\"\nmax_fee = \"0.1\"\n"
        );
        std::fs::write(&self.policy, text).map_err(|e| e.to_string())
    }

    /// `cold-signer sign --qr-in QR --out OUT --yes`: reviews under the pinned policy, signs.
    pub fn sign_qr(&self, qr_in: &Path, out: &Path) -> Result<(), u8> {
        cold_signer(&os(&[
            &"sign",
            &"--qr-in",
            &qr_in,
            &"--wallet",
            &self.wallet,
            &"--policy",
            &self.policy,
            &"--out",
            &out,
            &"--yes",
            &"--passphrase-file",
            &self.passphrase_file,
        ]))
    }
}

/// The demo's float policy: cap 100, target 50, low 20, max payout 10 MONA.
pub fn demo_policy(c: &mut Config) {
    let m = |n: u64| Amount::from_wat_const(n * MONA);
    c.policy.hot_cap = m(100);
    c.policy.hot_target = m(50);
    c.policy.hot_low = m(20);
    c.policy.max_payout = m(10);
    c.policy.max_daily = m(1_000);
    c.engine.auto_sweep = true;
}

/// Runs the operator CLI in-process (`hot-node ARGS`), as a script would.
async fn hot_node_cli(args: Vec<OsString>) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        let mut all: Vec<OsString> = vec!["hot-node".into()];
        all.extend(args);
        let cli =
            <crate::cli::Cli as clap::Parser>::try_parse_from(all).map_err(|e| e.to_string())?;
        crate::cli::dispatch(cli).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Runs the whole story in `workdir`; prints progress; returns the chain's final figures.
pub async fn run_story(workdir: &Path) -> Result<DemoReport, DemoError> {
    let t0 = Instant::now();
    let mut report = DemoReport::default();

    // 1. Cold wallet and export.
    let (cold, cold_export) =
        ColdSigner::create(&workdir.join("cold")).map_err(|detail| DemoError {
            step: "cold wallet",
            detail,
        })?;
    say(t0, "cold-signer: wallet created, watch-only export written");

    // 2. hot-node init + run on the simulated chain.
    let rig = SimRig::start(&workdir.join("hot"), &cold_export, demo_policy)
        .await
        .map_err(fail("hot-node init and run"))?;
    let hot_export = rig.hot.export();
    cold.register_hot(&hot_export.document.account.receive_descriptor)
        .map_err(|detail| DemoError {
            step: "register the hot wallet",
            detail,
        })?;
    say(
        t0,
        &format!(
            "hot-node: data directory initialised, daemon running (API {}), hot wallet registered in the cold policy",
            rig.client.addr()
        ),
    );

    // 3. Funding.
    for _ in 0..3 {
        rig.fund_hot(30 * MONA).await.map_err(fail("funding"))?;
    }
    rig.mine(1).await.map_err(fail("funding"))?;
    rig.wait_for("the deposit", 20, || async {
        (rig.float().await.ok()?["hot_confirmed"] == "90").then_some(())
    })
    .await
    .map_err(fail("funding"))?;
    say(
        t0,
        "funding: 3 x 30 MONA deposited to the hot wallet and confirmed",
    );

    // 4. Withdrawals (one replayed) through the API.
    let customers = customer_account();
    for i in 0..3u32 {
        let to = customers
            .address(0, i)
            .map(|a| a.to_string())
            .unwrap_or_default();
        for _ in 0..2 {
            let r = rig
                .api(
                    Method::POST,
                    "/v1/withdrawals",
                    Some(json!({"id": format!("w-{i}"), "address": to, "amount": "1"})),
                )
                .await
                .map_err(fail("withdrawals"))?;
            check("withdrawals", matches!(r.status, 200 | 201), || {
                format!("POST /v1/withdrawals answered {}: {}", r.status, r.json())
            })?;
        }
    }
    wait_paid(&rig, &["w-0", "w-1", "w-2"], "withdrawals").await?;
    say(
        t0,
        "withdrawals: 3 withdrawals of 1 MONA (each sent twice) paid and confirmed",
    );

    // 5. Vouchers and the Monappy attack.
    let n_vouchers = 10u32;
    let mut codes = Vec::new();
    for i in 0..n_vouchers {
        let r = rig
            .api(
                Method::POST,
                "/v1/vouchers",
                Some(json!({"amount": "0.5", "id": format!("gift-{i}")})),
            )
            .await
            .map_err(fail("vouchers"))?;
        check("vouchers", r.status == 201, || format!("{}", r.json()))?;
        codes.push(r.json()["code"].as_str().unwrap_or_default().to_owned());
    }
    say(
        t0,
        &format!("vouchers: {n_vouchers} gift codes of 0.5 MONA created"),
    );
    rig.sim.faults().add(FaultRule::with_rate(
        Some("sendrawtransaction"),
        0.5,
        FaultAction::DropResponse,
    ));
    rig.sim.faults().add(FaultRule::always(
        Some("sendrawtransaction"),
        FaultAction::DelayResponse { ms: 1_500 },
    ));
    let attackers = 8usize;
    let public = Arc::new(rig.client.clone().without_token());
    let codes = Arc::new(codes);
    let mut tasks = Vec::new();
    for a in 0..attackers {
        let public = Arc::clone(&public);
        let codes = Arc::clone(&codes);
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for (i, code) in codes.iter().enumerate() {
                // Every voucher has its own addresses: half the attackers redeem it to its
                // first address, the other half each to one of their own.
                let i = i as u32;
                let to = if a % 2 == 0 {
                    customer_account().address(0, 300 + i)
                } else {
                    customer_account().address(0, 1_000 + i * 10 + a as u32)
                };
                let to = to.map(|t| t.to_string()).unwrap_or_default();
                let r = public
                    .call(
                        Method::POST,
                        "/v1/vouchers/redeem",
                        Some(&json!({"code": code, "address": to})),
                    )
                    .await;
                statuses.push(r.map(|r| r.status).unwrap_or(0));
            }
            statuses
        }));
    }
    // Tiny deposits keep arriving meanwhile.
    for _ in 0..5 {
        let _ = rig.fund_hot(20_000).await;
    }
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for t in tasks {
        for s in t.await.map_err(|e| DemoError {
            step: "monappy attack",
            detail: e.to_string(),
        })? {
            *by_status.entry(s).or_default() += 1;
        }
    }
    report.conflicts = by_status.get(&409).copied().unwrap_or(0);
    check(
        "monappy attack",
        by_status.get(&201).copied().unwrap_or(0) == n_vouchers as usize,
        || format!("redemption answers {by_status:?}: expected {n_vouchers} created"),
    )?;
    say(
        t0,
        &format!(
            "monappy attack: {} redemptions by {attackers} clients while the node dropped half of the send answers and delayed the rest past the timeout: {by_status:?}",
            attackers * n_vouchers as usize
        ),
    );
    let ids: Vec<String> = (0..n_vouchers)
        .map(|i| format!("voucher:gift-{i}"))
        .collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    rig.wait_for("every redemption to be broadcast", 40, || async {
        for id in &id_refs {
            let w = rig
                .api(Method::GET, &format!("/v1/withdrawals/{id}"), None)
                .await
                .ok()?
                .json();
            if w["txid"].as_str().is_none() {
                rig.sim.mine(1);
                return None;
            }
        }
        Some(())
    })
    .await
    .map_err(fail("monappy attack"))?;
    rig.sim.faults().clear();
    wait_paid(&rig, &id_refs, "monappy attack").await?;
    let paid = rig.payments_on_chain();
    let mut doubles = 0;
    for id in &id_refs {
        let w = rig
            .api(Method::GET, &format!("/v1/withdrawals/{id}"), None)
            .await
            .map_err(fail("monappy attack"))?
            .json();
        let addr = w["address"].as_str().unwrap_or_default();
        let script = mona::Address::parse(addr, mona::Network::Regtest)
            .map(|a| a.script_pubkey().clone())
            .unwrap_or_default();
        let n = paid.get(&script).map_or(0, Vec::len);
        check("monappy attack", n >= 1, || {
            format!("{id} was never paid on chain")
        })?;
        if n > 1 {
            doubles += 1;
        }
    }
    for i in 0..3 {
        let s = customers.script_pubkey(0, i).unwrap_or_default();
        if paid.get(&s).map_or(0, Vec::len) > 1 {
            doubles += 1;
        }
    }
    report.double_payouts = doubles;
    check("monappy attack", doubles == 0, || {
        format!("{doubles} requests paid more than once on chain")
    })?;
    say(
        t0,
        &format!("monappy attack: every voucher paid exactly once on chain, {} other-address redemptions refused with 409", report.conflicts),
    );

    // 6. Sweep to cold above the cap.
    rig.fund_hot(60 * MONA).await.map_err(fail("sweep"))?;
    rig.mine(1).await.map_err(fail("sweep"))?;
    rig.wait_for("the sweep to be broadcast", 30, || async {
        (!rig.sim.mempool_txids().is_empty()).then_some(())
    })
    .await
    .map_err(fail("sweep"))?;
    rig.mine(1).await.map_err(fail("sweep"))?;
    let cold_after_sweep = rig.balance_on_chain(&rig.cold, 50);
    let hot_after_sweep = rig.balance_on_chain(rig.hot.watch_only(), 300);
    check(
        "sweep",
        cold_after_sweep > 0 && hot_after_sweep <= 100 * MONA,
        || {
            format!(
                "after the sweep: hot {} cold {}",
                mona(hot_after_sweep),
                mona(cold_after_sweep)
            )
        },
    )?;
    say(
        t0,
        &format!(
            "sweep: hot above the 100 MONA cap -> {} MONA swept to cold (hot now {} MONA)",
            mona(cold_after_sweep),
            mona(hot_after_sweep)
        ),
    );

    // 7. Top-up through QR frames, signed by the cold signer.
    rig.wait_synced().await.map_err(fail("top-up"))?;
    rig.wait_for("the cold coin in the ledger", 20, || async {
        let f = rig.float().await.ok()?;
        (f["cold_confirmed"] != "0").then_some(())
    })
    .await
    .map_err(fail("top-up"))?;
    let outbox = workdir.join("outbox");
    let qr_out = workdir.join("qr-unsigned");
    std::fs::create_dir_all(&outbox).map_err(|e| DemoError {
        step: "top-up",
        detail: e.to_string(),
    })?;
    let dd: OsString = rig.datadir.clone().into();
    hot_node_cli(vec![
        "topup".into(),
        "propose".into(),
        "--datadir".into(),
        dd.clone(),
        "--amount".into(),
        "30".into(),
        "--out".into(),
        outbox.clone().into(),
        "--qr-out".into(),
        qr_out.clone().into(),
    ])
    .await
    .map_err(|detail| DemoError {
        step: "top-up propose",
        detail,
    })?;
    let frames = std::fs::read_dir(&qr_out)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".png"))
                .count()
        })
        .unwrap_or(0);
    say(
        t0,
        &format!("top-up: 30 MONA proposed; unsigned PSBT written as {frames} QR PNG frames"),
    );
    let signed = workdir.join("topup-signed.psbt");
    let c2 = cold.clone();
    let (q, s2) = (qr_out.clone(), signed.clone());
    tokio::task::spawn_blocking(move || c2.sign_qr(&q, &s2))
        .await
        .map_err(|e| DemoError {
            step: "top-up sign",
            detail: e.to_string(),
        })?
        .map_err(|code| DemoError {
            step: "top-up sign",
            detail: format!("cold-signer sign exited {code}"),
        })?;
    say(t0, "cold-signer: read the QR frames, reviewed under its pinned policy (hot wallet registered), signed");
    let hot_before = rig.balance_on_chain(rig.hot.watch_only(), 300);
    hot_node_cli(vec![
        "topup".into(),
        "submit".into(),
        "--datadir".into(),
        dd,
        signed.into(),
    ])
    .await
    .map_err(|detail| DemoError {
        step: "top-up submit",
        detail,
    })?;
    rig.mine(1).await.map_err(fail("top-up confirm"))?;
    let hot_after = rig.balance_on_chain(rig.hot.watch_only(), 300);
    check(
        "top-up confirm",
        hot_after >= hot_before + 30 * MONA,
        || format!("hot {} -> {}", mona(hot_before), mona(hot_after)),
    )?;
    say(
        t0,
        "top-up: submitted, broadcast and confirmed: +30 MONA hot",
    );

    // 8. Theft: a hot coin spent with the hot key directly to the node.
    let theft = steal_one_coin(&rig).map_err(|detail| DemoError {
        step: "theft",
        detail,
    })?;
    say(
        t0,
        &format!("theft: a hot coin spent outside the ledger ({theft})"),
    );
    rig.mine(1).await.map_err(fail("theft"))?;
    let f = rig.float().await.map_err(fail("theft"))?;
    report.theft_frozen = f["frozen"] == true;
    check("theft", report.theft_frozen, || {
        format!("not frozen after the block that carried the theft: {f}")
    })?;
    let r = rig
        .api(
            Method::POST,
            "/v1/withdrawals",
            Some(json!({"id": "after-theft", "address": customers.address(0, 9).map(|a| a.to_string()).unwrap_or_default(), "amount": "1"})),
        )
        .await
        .map_err(fail("theft"))?;
    check("theft", r.status == 503, || {
        format!("a withdrawal while frozen answered {}", r.status)
    })?;
    say(
        t0,
        &format!(
            "theft: payouts FROZEN within one block ({}); withdrawals answer 503 until `hot-node unfreeze --reason`",
            f["freeze_reason"].as_str().unwrap_or("-")
        ),
    );

    report.hot_wat = rig.balance_on_chain(rig.hot.watch_only(), 300);
    report.cold_wat = rig.balance_on_chain(&rig.cold, 50);
    Ok(report)
}

fn customer_account() -> mona_wallet::WatchOnlyAccount {
    // A third party's wallet (the "legal winner" BIP39 test vector): customers and attackers.
    #[allow(clippy::expect_used)] // a fixed, valid BIP39 test vector always parses
    let m = mona_wallet::Mnemonic::parse(
        "legal winner thank year wave sausage worth useful legal winner thank yellow",
    )
    .expect("fixed BIP39 test vector");
    mona_wallet::Account::from_seed(
        &bitcoin::secp256k1::Secp256k1::new(),
        &m.to_seed(""),
        mona::Network::Regtest,
        mona_wallet::Purpose::Bip84,
        0,
    )
    .watch_only()
    .clone()
}

async fn wait_paid(rig: &SimRig, ids: &[&str], step: &'static str) -> Result<(), DemoError> {
    rig.wait_for("the payouts to be broadcast", 40, || async {
        for id in ids {
            let w = rig
                .api(Method::GET, &format!("/v1/withdrawals/{id}"), None)
                .await
                .ok()?
                .json();
            if w["txid"].as_str().is_none() {
                // Payouts spend confirmed coins only: confirm the change of the last one.
                rig.sim.mine(1);
                return None;
            }
        }
        Some(())
    })
    .await
    .map_err(fail(step))?;
    rig.mine(1).await.map_err(fail(step))?;
    rig.wait_for("the payouts to confirm", 40, || async {
        for id in ids {
            let w = rig
                .api(Method::GET, &format!("/v1/withdrawals/{id}"), None)
                .await
                .ok()?
                .json();
            if !matches!(w["state"].as_str(), Some("confirmed" | "final")) {
                // A payout re-sent after the block: mine it too.
                rig.sim.mine(1);
                return None;
            }
        }
        Some(())
    })
    .await
    .map_err(fail(step))
}

/// Spends the largest confirmed hot coin to a stranger with the hot key, straight to the node
/// (the simulated theft); returns a description.
pub fn steal_one_coin(rig: &SimRig) -> Result<String, String> {
    let hot = rig.hot.watch_only();
    let mut utxos = rig.utxos_on_chain(hot, 300);
    utxos.sort_by_key(|(_, o)| std::cmp::Reverse(o.value.to_sat()));
    let (op, out) = utxos.first().cloned().ok_or("no hot coin on chain")?;
    let (chain, index) = (0..2u32)
        .flat_map(|c| (0..300u32).map(move |i| (c, i)))
        .find(|(c, i)| hot.script_pubkey(*c, *i).as_ref() == Some(&out.script_pubkey))
        .ok_or("hot coin of unknown derivation")?;
    let thief: ScriptBuf = customer_account()
        .script_pubkey(0, 666)
        .ok_or("cannot derive the thief's address")?;
    let fee = 20_000u64;
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: op,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: BtcAmount::from_sat(out.value.to_sat().saturating_sub(fee)),
            script_pubkey: thief,
        }],
    };
    let psbt = Psbt::from_unsigned_tx(tx).map_err(|e| e.to_string())?;
    let coin = mona_wallet::build::Coin {
        outpoint: op,
        value: Amount::from_wat_const(out.value.to_sat()),
        script_pubkey: out.script_pubkey.clone(),
        script_type: hot.script_type,
        keychain: if chain == 0 {
            mona_wallet::build::Keychain::External
        } else {
            mona_wallet::build::Keychain::Internal
        },
        index,
        confirmation_height: Some(1),
        prev_tx: None,
    };
    let keys = mona_engine::HotKeys::from_account(rig.hot.account());
    let signed = keys.sign(&psbt, &[coin]).map_err(|e| e.to_string())?;
    let txid = rig
        .sim
        .submit_transaction(&signed)
        .map_err(|e| e.to_string())?;
    Ok(format!("{} MONA in {txid}", mona(out.value.to_sat())))
}

/// Runs `hot-node demo`: the story in a temporary (or the given) directory, then the report.
pub fn run(args: &DemoArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let tmp;
    let workdir = match &args.workdir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile_dir()?;
            tmp.clone()
        }
    };
    println!("hot-node demo: the custody story on the embedded simulated chain (regtest)");
    println!("working directory: {}", workdir.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::new(Exit::Failure, format!("cannot start the runtime: {e}")))?;
    let result = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), run_story(&workdir)).await
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    if args.workdir.is_none() {
        let _ = std::fs::remove_dir_all(&workdir);
    }
    let report = match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(CliError::new(Exit::Failure, e)),
        Err(_) => {
            return Err(CliError::new(
                Exit::Failure,
                "demo step 'overall' failed: the story took more than 120 s",
            ))
        }
    };
    let total = report.hot_wat + report.cold_wat;
    let pct = |x: u64| {
        if total == 0 {
            0.0
        } else {
            x as f64 * 100.0 / total as f64
        }
    };
    println!();
    println!("REPORT");
    println!(
        "  hot/cold split on chain: hot {} MONA ({:.1}%), cold {} MONA ({:.1}%)",
        mona(report.hot_wat),
        pct(report.hot_wat),
        mona(report.cold_wat),
        pct(report.cold_wat)
    );
    println!("  double payouts on chain: {}", report.double_payouts);
    println!(
        "  redemptions to another address refused (409): {}",
        report.conflicts
    );
    println!(
        "  theft frozen within one block: {}",
        if report.theft_frozen { "yes" } else { "no" }
    );
    println!("  finished in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf, CliError> {
    let base = std::env::temp_dir().join(format!(
        "hot-node-demo-{}-{}",
        std::process::id(),
        hex::encode(rand::random::<[u8; 4]>())
    ));
    std::fs::create_dir_all(&base).map_err(|e| {
        CliError::new(
            Exit::Failure,
            format!("cannot create {}: {e}", base.display()),
        )
    })?;
    Ok(base)
}
