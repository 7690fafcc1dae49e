//! A complete hot node on the embedded simulated chain, in one process: `simnode` on loopback,
//! a data directory made by `init`, the daemon (`run`: engine + HTTP API) on a task, and
//! helpers that read the CHAIN (not the ledger) to check what was really paid. Used by
//! `hot-node demo` and by the end-to-end tests.
//!
//! Invariant: the rig only drives the product through its public doors (the `init` library
//! call, the `run` daemon, the HTTP API, the simulated node's RPC/faucet/miner); every check
//! it offers reads the simulated node's active chain, never the ledger.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use hyper::Method;
use mona::Network;
use mona_keystore::{KdfParams, Passphrase};
use mona_simnode::{SimConfig, SimNodeHandle};
use mona_wallet::WatchOnlyAccount;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::{ApiClient, ApiResponse};
use crate::config::{Config, NodeSection};
use crate::datadir::{self, DataDir, InitOptions};
use crate::exit::CliError;
use crate::hot_wallet::{self, HotWallet};
use crate::run::{run, RunOptions};

/// The passphrase of the rig's hot seed (the rig is a test/demo fixture).
pub const RIG_PASSPHRASE: &str = "simulated chain rig passphrase";
/// One MONA in watanabe.
pub const MONA: u64 = 100_000_000;

/// Why the rig could not do something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RigError {
    /// A step failed.
    #[error("{0}")]
    Step(String),
    /// A condition did not come true in time.
    #[error("timed out after {secs} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        secs: u64,
    },
}

fn step<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> RigError + '_ {
    move |e| RigError::Step(format!("{what}: {e}"))
}

/// A running hot node on a simulated chain.
pub struct SimRig {
    /// The simulated node.
    pub sim: SimNodeHandle,
    /// The working directory (everything lives below it).
    pub workdir: PathBuf,
    /// The hot node's data directory.
    pub datadir: PathBuf,
    /// The hot seed passphrase file.
    pub passphrase_file: PathBuf,
    /// The unlocked hot wallet (the rig plays the thief with it).
    pub hot: HotWallet,
    /// The cold wallet's watch-only account.
    pub cold: WatchOnlyAccount,
    /// An operator client (token from the data directory).
    pub client: ApiClient,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), CliError>>>,
}

impl std::fmt::Debug for SimRig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRig")
            .field("datadir", &self.datadir)
            .finish_non_exhaustive()
    }
}

fn free_port() -> Result<u16, RigError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(step("free port"))?;
    Ok(l.local_addr().map_err(step("free port"))?.port())
}

/// Settings suited to a fast simulated chain: poll every 50 ms, batch every 200 ms, re-send
/// backoff unit 20 ms, mempool follow every 300 ms, node timeout 1 s, no fee bumps, no
/// automatic top-ups, no cap fraction, fallback fee 200 wat/vB (edit further with `edit`).
pub fn fast_config(c: &mut Config) {
    c.node.timeout_ms = 1_000;
    c.engine.poll_interval_ms = 50;
    c.engine.mempool_interval_ms = 300;
    c.engine.retry_base_ms = 20;
    c.engine.bump_after_blocks = 0;
    c.engine.auto_topup = false;
    c.payouts.batch_interval_ms = 200;
    // Below the ceiling: a payout built at exactly the ceiling can exceed it by a rounding
    // and be refused by the node's maxfeerate (reported to the engine's owner).
    c.payouts.fallback_fee_rate = 200;
    c.policy.finality_depth = 3;
    c.policy.hot_cap_fraction = crate::config::Fraction::ONE;
    c.api.redeem_per_minute = 1_000_000;
    c.api.redeem_burst = 1_000_000;
}

impl SimRig {
    /// Starts simnode (101 blocks mined), `init`s a data directory in `workdir` with the cold
    /// export file `cold_export`, applies [`fast_config`] then `edit` to its configuration,
    /// and starts the daemon in-process; returns once `/healthz` answers.
    pub async fn start(
        workdir: &Path,
        cold_export: &Path,
        edit: impl FnOnce(&mut Config),
    ) -> Result<SimRig, RigError> {
        let mut rig = SimRig::prepare(workdir, cold_export, edit).await?;
        rig.start_daemon().await?;
        Ok(rig)
    }

    /// Like [`SimRig::start`] without starting the daemon (run it yourself, e.g. as the real
    /// binary: `hot-node run --datadir {datadir} --passphrase-file {passphrase_file}`).
    pub async fn prepare(
        workdir: &Path,
        cold_export: &Path,
        edit: impl FnOnce(&mut Config),
    ) -> Result<SimRig, RigError> {
        let sim = mona_simnode::SimNode::start(SimConfig::default())
            .await
            .map_err(step("starting simnode"))?;
        sim.mine(101);
        std::fs::create_dir_all(workdir).map_err(step("creating the work directory"))?;
        let passphrase_file = workdir.join("hot-passphrase");
        std::fs::write(&passphrase_file, RIG_PASSPHRASE).map_err(step("passphrase file"))?;
        let (user, password) = sim.auth();
        let rpc_file = workdir.join("rpc-password");
        std::fs::write(&rpc_file, password).map_err(step("rpc password file"))?;
        let datadir = workdir.join("hot-node");
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let kdf = KdfParams {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        };
        datadir::init(InitOptions {
            network: Network::Regtest,
            datadir: datadir.clone(),
            cold_export: cold_export.to_path_buf(),
            passphrase: Passphrase::new(RIG_PASSPHRASE.into()),
            node: NodeSection {
                url: sim.url(),
                cookie_file: None,
                user: Some(user),
                password_file: Some(rpc_file),
                timeout_ms: 1_000,
            },
            listen: Some(listen),
            kdf,
        })
        .map_err(step("hot-node init"))?;
        let dd = DataDir::new(&datadir);
        let mut config = Config::load(&dd.config()).map_err(step("reading config.toml"))?;
        fast_config(&mut config);
        edit(&mut config);
        config
            .validate("config.toml")
            .map_err(step("the edited configuration"))?;
        std::fs::write(dd.config(), config.to_toml_string()).map_err(step("config.toml"))?;
        let hot = hot_wallet::unlock(
            &dd.seed(),
            Network::Regtest,
            &Passphrase::new(RIG_PASSPHRASE.into()),
        )
        .map_err(step("unlocking the hot seed"))?;
        let cold_json = std::fs::read(cold_export).map_err(step("reading the cold export"))?;
        let cold = crate::watch_only::WatchOnlyWallet::from_json(&cold_json, Network::Regtest)
            .map_err(step("the cold export"))?
            .account;
        let client = ApiClient::from_datadir(&datadir).map_err(step("API client"))?;
        Ok(SimRig {
            sim,
            workdir: workdir.to_path_buf(),
            datadir,
            passphrase_file,
            hot,
            cold,
            client,
            stop: None,
            task: None,
        })
    }

    /// A fresh operator client (pooled connections to a stopped daemon would hang).
    pub fn reconnect(&mut self) -> Result<(), RigError> {
        self.client = ApiClient::from_datadir(&self.datadir).map_err(step("API client"))?;
        Ok(())
    }

    /// Starts the daemon (again) on the data directory; returns once `/healthz` answers.
    pub async fn start_daemon(&mut self) -> Result<(), RigError> {
        self.reconnect()?;
        let (tx, rx) = oneshot::channel::<()>();
        let opts = RunOptions {
            datadir: self.datadir.clone(),
            network: Some(Network::Regtest),
            passphrase_file: Some(self.passphrase_file.clone()),
        };
        let task = tokio::spawn(run(opts, async move {
            let _ = rx.await;
        }));
        self.stop = Some(tx);
        self.task = Some(task);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(t) = &self.task {
                if t.is_finished() {
                    let detail = match self.task.take() {
                        Some(t) => format!("{:?}", t.await),
                        None => String::new(),
                    };
                    return Err(RigError::Step(format!("hot-node run stopped: {detail}")));
                }
            }
            let ok = self
                .client
                .call(Method::GET, "/healthz", None)
                .await
                .is_ok_and(|r| r.status == 200);
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(RigError::Timeout {
                    what: "the API to answer /healthz".into(),
                    secs: 30,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the daemon gracefully (SIGTERM path) and waits for it.
    pub async fn stop_daemon(&mut self) -> Result<(), RigError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await
                .map_err(step("daemon task"))?
                .map_err(step("hot-node run"))?;
        }
        Ok(())
    }

    /// An operator API call; `Err` only when the API is unreachable.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<ApiResponse, RigError> {
        self.client
            .call(method, path, body.as_ref())
            .await
            .map_err(step(path))
    }

    /// `GET /v1/float`.
    pub async fn float(&self) -> Result<Value, RigError> {
        Ok(self.api(Method::GET, "/v1/float", None).await?.json())
    }

    /// Polls `check` every 50 ms until it returns `Some`, for at most `secs` seconds.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, secs: u64, check: F) -> Result<T, RigError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = check().await {
                return Ok(v);
            }
            if Instant::now() > deadline {
                return Err(RigError::Timeout {
                    what: what.into(),
                    secs,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the engine has synced the node's tip.
    pub async fn wait_synced(&self) -> Result<(), RigError> {
        let h = self.sim.height();
        self.wait_for("the engine to sync the tip", 30, || async {
            let v = self.float().await.ok()?;
            (v["engine"]["synced_height"].as_u64()? >= u64::from(h)).then_some(())
        })
        .await
    }

    /// Mines `n` blocks and waits until the engine synced them.
    pub async fn mine(&self, n: u32) -> Result<(), RigError> {
        self.sim.mine(n);
        self.wait_synced().await
    }

    /// A fresh hot deposit address (`POST /v1/addresses`).
    pub async fn deposit_address(&self) -> Result<String, RigError> {
        let r = self.api(Method::POST, "/v1/addresses", None).await?;
        if r.status != 201 {
            return Err(RigError::Step(format!(
                "POST /v1/addresses answered {}",
                r.status
            )));
        }
        r.json()["address"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| RigError::Step("no address in the answer".into()))
    }

    /// Pays `amount_wat` from the faucet to a fresh hot deposit address (unconfirmed).
    pub async fn fund_hot(&self, amount_wat: u64) -> Result<OutPoint, RigError> {
        let a = self.deposit_address().await?;
        self.sim
            .fund_address(&a, amount_wat)
            .map_err(step("faucet"))
    }

    /// Pays `amount_wat` from the faucet to cold receive address `index` (unconfirmed).
    pub fn fund_cold(&self, index: u32, amount_wat: u64) -> Result<OutPoint, RigError> {
        let s = self
            .cold
            .script_pubkey(0, index)
            .ok_or_else(|| RigError::Step("cannot derive a cold address".into()))?;
        self.sim.fund_script(&s, amount_wat).map_err(step("faucet"))
    }

    /// Every transaction of the active chain, in order.
    pub fn chain_transactions(&self) -> Vec<Transaction> {
        self.sim.with_state(|st| {
            let mut out = Vec::new();
            for h in 0..=st.chain.height() {
                if let Some(e) = st.chain.hash_at(h).and_then(|hash| st.chain.get(&hash)) {
                    out.extend(e.block.txdata.iter().cloned());
                }
            }
            out
        })
    }

    /// Payments on the active chain to each script: `(txid, watanabe)` per output.
    pub fn payments_on_chain(&self) -> HashMap<ScriptBuf, Vec<(Txid, u64)>> {
        let mut paid: HashMap<ScriptBuf, Vec<(Txid, u64)>> = HashMap::new();
        for tx in self.chain_transactions() {
            let txid = tx.compute_txid();
            for o in &tx.output {
                paid.entry(o.script_pubkey.clone())
                    .or_default()
                    .push((txid, o.value.to_sat()));
            }
        }
        paid
    }

    /// The scripts of the first `n` receive and change addresses of `account`.
    pub fn scripts_of(account: &WatchOnlyAccount, n: u32) -> HashSet<ScriptBuf> {
        let mut s = HashSet::new();
        for chain in 0..2 {
            for i in 0..n {
                if let Some(sp) = account.script_pubkey(chain, i) {
                    s.insert(sp);
                }
            }
        }
        s
    }

    /// Confirmed balance on the chain's UTXO set of the first `n` addresses of each chain of
    /// `account`.
    pub fn balance_on_chain(&self, account: &WatchOnlyAccount, n: u32) -> u64 {
        let scripts = Self::scripts_of(account, n);
        self.sim.with_state(|st| {
            st.chain
                .utxo
                .values()
                .filter(|c| scripts.contains(&c.txout.script_pubkey))
                .map(|c| c.txout.value.to_sat())
                .sum()
        })
    }

    /// Confirmed UTXOs of `account` (first `n` of each chain) on the chain.
    pub fn utxos_on_chain(
        &self,
        account: &WatchOnlyAccount,
        n: u32,
    ) -> Vec<(OutPoint, bitcoin::TxOut)> {
        let scripts = Self::scripts_of(account, n);
        self.sim.with_state(|st| {
            st.chain
                .utxo
                .iter()
                .filter(|(_, c)| scripts.contains(&c.txout.script_pubkey))
                .map(|(op, c)| (*op, c.txout.clone()))
                .collect()
        })
    }
}

impl Drop for SimRig {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
