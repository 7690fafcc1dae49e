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
//!
//! Output: one numbered line per step. Under `hot-node demo` the command lines a treasury
//! operator would type (`cold-signer ...`, `hot-node topup ...`) run as child processes of
//! this binary with their output captured, and the in-process daemon logs to
//! `<workdir>/hot-node.log`; both are printed only when a step fails.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
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
    /// Internal: run `cold-signer ARGS` (after `--`) in this process and exit with its code.
    /// The demo runs the cold side this way, as a child process whose output it captures.
    #[arg(long, hide = true, requires = "cold_signer_args")]
    pub as_cold_signer: bool,
    /// The cold-signer command line of `--as-cold-signer`.
    #[arg(last = true, hide = true, value_name = "ARGS")]
    pub cold_signer_args: Vec<OsString>,
}

/// How the demo runs the command lines it shows (`cold-signer ...`, `hot-node topup ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commands {
    /// In this process (tests): their output goes to this process's stdout and stderr.
    InProcess,
    /// As child processes of this `hot-node` binary (the path): their output is captured and
    /// shown only when the step fails.
    Child(PathBuf),
}

impl Commands {
    /// Runs `cold-signer --network regtest ARGS`; `Err` carries the exit code and, for a
    /// child, its captured output.
    fn cold_signer(&self, args: &[OsString]) -> Result<(), String> {
        match self {
            Commands::InProcess => {
                cold_signer(args).map_err(|code| format!("cold-signer exited {code}"))
            }
            Commands::Child(exe) => {
                let mut cmd = Command::new(exe);
                cmd.args(["demo", "--as-cold-signer", "--"]).args(args);
                child(cmd, "cold-signer")
            }
        }
    }

    /// Runs `hot-node ARGS` (the operator CLI, as a script would).
    async fn hot_node(&self, args: Vec<OsString>) -> Result<(), String> {
        match self {
            Commands::InProcess => hot_node_cli(args).await,
            Commands::Child(exe) => {
                let mut cmd = Command::new(exe);
                cmd.args(args);
                tokio::task::spawn_blocking(move || child(cmd, "hot-node"))
                    .await
                    .map_err(|e| e.to_string())?
            }
        }
    }
}

/// Runs a child to completion; on failure its exit status and captured output.
fn child(mut cmd: Command, name: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let mut detail = format!("{name} exited with {}", out.status);
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        if !text.trim().is_empty() {
            detail.push_str(&format!("\n--- {name} {stream} ---\n{}", text.trim_end()));
        }
    }
    Err(detail)
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

/// The steps of the story, in order (the progress lines are numbered against them).
const STEPS: usize = 11;

/// One numbered line per finished step.
struct Progress {
    t0: Instant,
    done: usize,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            t0: Instant::now(),
            done: 0,
        }
    }

    fn step(&mut self, name: &str, line: &str) {
        self.done += 1;
        println!(
            "[{:>2}/{STEPS}] {name:<15} {line}  ({:.1} s)",
            self.done,
            self.t0.elapsed().as_secs_f64()
        );
    }
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
        ColdSigner::create_with(dir, &Commands::InProcess)
    }

    /// [`ColdSigner::create`], running the cold signer's command lines as `how` says.
    pub fn create_with(dir: &Path, how: &Commands) -> Result<(ColdSigner, PathBuf), String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let mnemonic = mona_wallet::Mnemonic::generate(mona_wallet::WordCount::Twelve)
            .map_err(|e| e.to_string())?;
        let words = dir.join("mnemonic.txt");
        std::fs::write(&words, mnemonic.phrase().as_bytes()).map_err(|e| e.to_string())?;
        let pass = dir.join("cold-passphrase");
        std::fs::write(&pass, "cold demo passphrase").map_err(|e| e.to_string())?;
        let wallet = dir.join("cold-wallet");
        how.cold_signer(&os(&[
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
        .map_err(|e| format!("cold-signer restore: {e}"))?;
        let export = dir.join("cold-export.json");
        how.cold_signer(&os(&[
            &"export",
            &"--wallet",
            &wallet,
            &"--out",
            &export,
            &"--passphrase-file",
            &pass,
        ]))
        .map_err(|e| format!("cold-signer export: {e}"))?;
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
        cold_signer(&self.sign_qr_args(qr_in, out))
    }

    fn sign_qr_args(&self, qr_in: &Path, out: &Path) -> Vec<OsString> {
        os(&[
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
        ])
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

/// Runs the whole story in `workdir` with the command lines in this process; prints one
/// line per step; returns the chain's final figures.
pub async fn run_story(workdir: &Path) -> Result<DemoReport, DemoError> {
    run_story_with(workdir, &Commands::InProcess)
        .await
        .map(|(report, _rig)| report)
}

fn io_fail(step: &'static str) -> impl Fn(std::io::Error) -> DemoError {
    move |e| DemoError {
        step,
        detail: e.to_string(),
    }
}

fn cmd_fail(step: &'static str) -> impl Fn(String) -> DemoError {
    move |detail| DemoError { step, detail }
}

/// [`run_story`], running the command lines as `how` says; also returns the rig, still
/// running (frozen by the theft), so a caller can check the chain further.
pub async fn run_story_with(
    workdir: &Path,
    how: &Commands,
) -> Result<(DemoReport, SimRig), DemoError> {
    let mut progress = Progress::new();
    let mut report = DemoReport::default();

    // 1. Cold wallet and export.
    let (cold, cold_export) =
        ColdSigner::create_with(&workdir.join("cold"), how).map_err(cmd_fail("cold wallet"))?;
    progress.step(
        "cold wallet",
        "cold-signer restore + export: seed encrypted at rest, watch-only export written",
    );

    // 2. hot-node init + run on the simulated chain.
    let rig = SimRig::start(&workdir.join("hot"), &cold_export, demo_policy)
        .await
        .map_err(fail("hot node"))?;
    let hot_export = rig.hot.export();
    cold.register_hot(&hot_export.document.account.receive_descriptor)
        .map_err(cmd_fail("hot node"))?;
    progress.step(
        "hot node",
        &format!(
            "init with the cold export, daemon on {}; cap 100 / target 50 / low 20 MONA; hot wallet pinned in the cold policy",
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
    progress.step(
        "funding",
        "3 x 30 MONA deposited to the hot wallet, confirmed",
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
    progress.step(
        "withdrawals",
        "3 x 1 MONA, each request sent twice: paid once each, confirmed",
    );

    // 5. Vouchers.
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
    progress.step(
        "vouchers",
        &format!("{n_vouchers} gift codes of 0.5 MONA created (only their hashes stored)"),
    );

    // 6. The Monappy attack.
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
    let created = by_status.get(&201).copied().unwrap_or(0);
    check("monappy attack", created == n_vouchers as usize, || {
        format!("redemption answers {by_status:?}: expected {n_vouchers} created")
    })?;
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
    let replays = by_status.get(&200).copied().unwrap_or(0);
    progress.step(
        "monappy attack",
        &format!(
            "{} redemptions by {attackers} clients, node dropping/delaying send answers: {created} created, {replays} replays, {} refused (409); each paid once",
            attackers * n_vouchers as usize,
            report.conflicts
        ),
    );

    // 7. Sweep to cold above the cap.
    rig.fund_hot(60 * MONA).await.map_err(fail("sweep"))?;
    rig.mine(1).await.map_err(fail("sweep"))?;
    let hot_over = rig.balance_on_chain(rig.hot.watch_only(), 300);
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
    progress.step(
        "sweep",
        &format!(
            "a deposit took hot to {} MONA (cap 100): {} MONA swept to cold in the next block, hot {} MONA",
            mona(hot_over),
            mona(cold_after_sweep),
            mona(hot_after_sweep)
        ),
    );

    // 8. Top-up proposed, as a PSBT file and QR frames.
    rig.wait_synced().await.map_err(fail("top-up propose"))?;
    rig.wait_for("the cold coin in the ledger", 20, || async {
        let f = rig.float().await.ok()?;
        (f["cold_confirmed"] != "0").then_some(())
    })
    .await
    .map_err(fail("top-up propose"))?;
    let outbox = workdir.join("outbox");
    let qr_out = workdir.join("qr-unsigned");
    std::fs::create_dir_all(&outbox).map_err(io_fail("top-up propose"))?;
    let dd: OsString = rig.datadir.clone().into();
    how.hot_node(vec![
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
    .map_err(cmd_fail("top-up propose"))?;
    let frames = std::fs::read_dir(&qr_out)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".png"))
                .count()
        })
        .unwrap_or(0);
    progress.step(
        "top-up propose",
        &format!("hot-node topup propose: 30 MONA from cold, unsigned PSBT written as a file and {frames} QR PNG frames"),
    );

    // 9. The cold signer reads the QR frames, reviews and signs.
    let signed = workdir.join("topup-signed.psbt");
    let args = cold.sign_qr_args(&qr_out, &signed);
    let how2 = how.clone();
    tokio::task::spawn_blocking(move || how2.cold_signer(&args))
        .await
        .map_err(|e| DemoError {
            step: "top-up sign",
            detail: e.to_string(),
        })?
        .map_err(cmd_fail("top-up sign"))?;
    progress.step(
        "top-up sign",
        "cold-signer sign --qr-in: frames decoded, reviewed under its pinned policy (pays the registered hot wallet only), signed",
    );

    // 10. Submitted, broadcast, confirmed.
    let hot_before = rig.balance_on_chain(rig.hot.watch_only(), 300);
    how.hot_node(vec![
        "topup".into(),
        "submit".into(),
        "--datadir".into(),
        dd,
        signed.into(),
    ])
    .await
    .map_err(cmd_fail("top-up submit"))?;
    rig.mine(1).await.map_err(fail("top-up submit"))?;
    let hot_after = rig.balance_on_chain(rig.hot.watch_only(), 300);
    check("top-up submit", hot_after >= hot_before + 30 * MONA, || {
        format!("hot {} -> {}", mona(hot_before), mona(hot_after))
    })?;
    progress.step(
        "top-up submit",
        &format!(
            "hot-node topup submit: same transaction as proposed, broadcast, confirmed: hot {} -> {} MONA",
            mona(hot_before),
            mona(hot_after)
        ),
    );

    // 11. Theft: a hot coin spent with the hot key directly to the node.
    let theft = steal_one_coin(&rig).map_err(cmd_fail("theft"))?;
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
    progress.step(
        "theft",
        &format!("{theft} spent outside the ledger: FROZEN in the next block; withdrawals get 503 until unfreeze"),
    );

    report.hot_wat = rig.balance_on_chain(rig.hot.watch_only(), 300);
    report.cold_wat = rig.balance_on_chain(&rig.cold, 50);
    Ok((report, rig))
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
    let txid = txid.to_string();
    Ok(format!(
        "a hot coin of {} MONA (tx {}..)",
        mona(out.value.to_sat()),
        &txid[..16]
    ))
}

/// The daemon log lines worth showing after a failure: the last 20 warnings and errors, or
/// the last 10 lines when there are none (empty when unreadable).
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let loud: Vec<&str> = all
        .iter()
        .copied()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    let (lines, n) = if loud.is_empty() {
        (all, 10)
    } else {
        (loud, 20)
    };
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `hot-node demo`: the story in a temporary (or the given) directory, one numbered line
/// per step, then the summary; on failure the failing step's captured output and the tail of
/// the daemon's log, and the working directory is kept.
pub fn run(args: &DemoArgs) -> Result<(), CliError> {
    if args.as_cold_signer {
        // The demo's child process for the cold side (see `Commands::Child`).
        return cold_signer(&args.cold_signer_args)
            .map_err(|code| CliError::new(Exit::Failure, format!("cold-signer exited {code}")));
    }
    let started = Instant::now();
    let workdir = match &args.workdir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| {
                CliError::new(Exit::Failure, format!("cannot create {}: {e}", d.display()))
            })?;
            d.clone()
        }
        None => tempfile_dir()?,
    };
    let exe = std::env::current_exe().map_err(|e| {
        CliError::new(
            Exit::Failure,
            format!("cannot locate the hot-node binary: {e}"),
        )
    })?;
    let log_path = workdir.join("hot-node.log");
    let log = std::fs::File::create(&log_path).map_err(|e| {
        CliError::new(
            Exit::Failure,
            format!("cannot create {}: {e}", log_path.display()),
        )
    })?;
    // The in-process daemon logs to the file, not over the report: every runtime thread (and
    // this one) gets the file subscriber as its default.
    let dispatch = tracing::Dispatch::new(crate::logging::subscriber(
        crate::logging::LogFormat::Human,
        "info",
        Mutex::new(log),
        false,
    ));
    let _log_guard = tracing::dispatcher::set_default(&dispatch);
    let d2 = dispatch.clone();
    println!("hot-node demo: the custody story on the embedded simulated chain (regtest)");
    println!("working directory: {}", workdir.display());
    println!();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // The guard would restore the previous default on drop; the thread keeps the file
            // subscriber for its whole life.
            std::mem::forget(tracing::dispatcher::set_default(&d2));
        })
        .build()
        .map_err(|e| CliError::new(Exit::Failure, format!("cannot start the runtime: {e}")))?;
    let how = Commands::Child(exe);
    let result = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), async {
            // The rig (daemon, simulated node) stops inside the runtime.
            run_story_with(&workdir, &how).await.map(|(r, _rig)| r)
        })
        .await
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    let report = match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            println!("FAILED at step '{}':", e.step);
            for line in e.detail.lines() {
                println!("  {line}");
            }
            let log_tail = log_tail(&log_path);
            if !log_tail.is_empty() {
                println!("  --- hot-node daemon log ({}) ---", log_path.display());
                for line in log_tail.lines() {
                    println!("  {line}");
                }
            }
            println!("working directory kept: {}", workdir.display());
            let first = e.detail.lines().next().unwrap_or_default().to_owned();
            return Err(CliError::new(
                Exit::Failure,
                format!("demo step '{}' failed: {first}", e.step),
            ));
        }
        Err(_) => {
            println!("working directory kept: {}", workdir.display());
            return Err(CliError::new(
                Exit::Failure,
                "demo step 'overall' failed: the story took more than 120 s",
            ));
        }
    };
    if args.workdir.is_none() {
        let _ = std::fs::remove_dir_all(&workdir);
    }
    let total = report.hot_wat + report.cold_wat;
    let pct = |x: u64| {
        if total == 0 {
            0.0
        } else {
            x as f64 * 100.0 / total as f64
        }
    };
    println!();
    println!("SUMMARY");
    println!(
        "  hot/cold split on chain:        hot {} MONA ({:.1}%) / cold {} MONA ({:.1}%)",
        mona(report.hot_wat),
        pct(report.hot_wat),
        mona(report.cold_wat),
        pct(report.cold_wat)
    );
    println!(
        "  double payouts on chain:        {}",
        report.double_payouts
    );
    println!("  other-address redemptions 409: {}", report.conflicts);
    println!(
        "  theft frozen within one block:  {}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_failed_child_hands_back_its_status_and_captured_output() {
        // name, shell script, Ok or the parts the error must contain
        let cases: [(&str, &str, Option<&[&str]>); 3] = [
            ("success", "echo noise; exit 0", None),
            (
                "failure with output",
                "echo out-line; echo err-line >&2; exit 3",
                Some(&[
                    "tool exited with exit status: 3",
                    "--- tool stdout ---\nout-line",
                    "--- tool stderr ---\nerr-line",
                ]),
            ),
            ("failure, silent", "exit 4", Some(&["exit status: 4"])),
        ];
        for (name, script, want) in cases {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", script]);
            match (child(cmd, "tool"), want) {
                (Ok(()), None) => {}
                (Err(detail), Some(parts)) => {
                    for p in parts {
                        assert!(detail.contains(p), "{name}: {detail:?} lacks {p:?}");
                    }
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_log_tail_prefers_warnings_and_errors() {
        let dir = tempfile_dir().unwrap();
        let p = dir.join("log");
        let info = |i: usize| format!("t INFO x: request {i}");
        // name, lines, expected tail
        let cases: [(&str, Vec<String>, Vec<String>); 3] = [
            ("missing file", vec![], vec![]),
            (
                "only info: the last 10",
                (0..15).map(info).collect(),
                (5..15).map(info).collect(),
            ),
            (
                "warnings and errors only",
                vec![
                    info(0),
                    "t WARN y: slow".into(),
                    info(1),
                    "t ERROR z: frozen".into(),
                    info(2),
                ],
                vec!["t WARN y: slow".into(), "t ERROR z: frozen".into()],
            ),
        ];
        for (name, lines, want) in cases {
            if lines.is_empty() {
                let _ = std::fs::remove_file(&p);
            } else {
                std::fs::write(&p, lines.join("\n")).unwrap();
            }
            assert_eq!(log_tail(&p), want.join("\n"), "{name}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_hidden_cold_signer_mode_takes_everything_after_the_double_dash() {
        let parse = |args: &[&str]| {
            <crate::cli::Cli as clap::Parser>::try_parse_from(
                ["hot-node", "demo"].iter().chain(args),
            )
        };
        let cli = parse(&[
            "--as-cold-signer",
            "--",
            "--network",
            "regtest",
            "sign",
            "--qr-in",
            "x",
        ])
        .unwrap();
        let crate::cli::Command::Demo(args) = cli.command else {
            panic!("not the demo command");
        };
        assert!(args.as_cold_signer);
        assert_eq!(args.cold_signer_args.len(), 5);
        assert_eq!(args.cold_signer_args[0], "--network");
        assert!(
            parse(&["--as-cold-signer"]).is_err(),
            "the mode needs a command line"
        );
    }
}
