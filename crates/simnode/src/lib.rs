//! A simulated Monacoin Core v0.20.3 regtest node for tests and the demo.
//!
//! It serves monacoind's JSON-RPC over HTTP on 127.0.0.1 with the recorded statuses, shapes,
//! codes and messages (`fixtures/monacoind-0.20.3-regtest/`), over a real chain: Monacoin
//! regtest genesis, blocks with correct merkle roots and witness commitments, a UTXO set, a
//! mempool with BIP125, Core's relay policy, every input checked by libbitcoinconsensus,
//! reorgs through `invalidateblock`/`reconsiderblock`, and deterministic fault injection.
//! For tests it can also drop (instead of re-add, as Core does) the transactions of blocks a
//! reorg disconnects, and counts `sendrawtransaction` calls per txid, so a test can prove that
//! a client re-sent a transaction itself.
//!
//! Invariant: all chain/mempool state lives behind one mutex in [`SimNode`]; the HTTP server
//! and the in-process API go through the same code paths.
//!
//! Not implemented (documented deviations): wallet RPCs (on a configured wallet's endpoint
//! they answer -32601 Method not found; on `/` or an unknown wallet path -18/-19 like the real
//! node), BIP68 relative lock-times, sigop limits, mempool size limits/eviction, PoW.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mona_simnode::{SimConfig, SimNode};
//! let node = SimNode::start(SimConfig::default()).await?;
//! node.generate_to_address(101, "rmona1qku3myd6c8u0avl8r03clyzu45pgfau25u562rk")?;
//! println!("{} as {:?}", node.url(), node.auth().0);
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bitcoin::{BlockHash, OutPoint, Script, Transaction, TxOut, Txid};

pub mod chain;
mod control;
pub mod faults;
pub mod json;
pub mod mempool;
pub mod params;
pub mod rpc;
pub mod script;
mod server;
pub mod state;
pub mod validation;

pub use faults::{FaultAction, FaultRule, Faults};
pub use json::Json;
pub use params::AddressError;
pub use rpc::RpcError;
pub use state::{FundError, NodeState, SubmitError};

/// How RPC clients authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum RpcAuth {
    /// `-rpcuser` / `-rpcpassword`.
    UserPass {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// Cookie auth: `<datadir>/regtest/.cookie` is written at start and deleted at stop.
    Cookie {
        /// The data directory.
        datadir: PathBuf,
    },
}

impl std::fmt::Debug for RpcAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcAuth::UserPass { user, .. } => f
                .debug_struct("UserPass")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            RpcAuth::Cookie { datadir } => {
                f.debug_struct("Cookie").field("datadir", datadir).finish()
            }
        }
    }
}

/// Start-up options.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// TCP port on 127.0.0.1 (0 = ephemeral).
    pub rpc_port: u16,
    /// Authentication.
    pub auth: RpcAuth,
    /// Seed of the fault generator and of the faucet key.
    pub seed: u64,
    /// Behave as if started with `-txindex=1`.
    pub txindex: bool,
    /// Wallet names to pretend are loaded (only changes -18/-19 answers).
    pub wallets: Vec<String>,
    /// Fixed clock (unix seconds) instead of the system clock.
    pub mock_time: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            rpc_port: 0,
            auth: RpcAuth::UserPass {
                user: "simnode".into(),
                password: "simnode".into(),
            },
            seed: 0,
            txindex: false,
            wallets: Vec::new(),
            mock_time: None,
        }
    }
}

/// The node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Binding 127.0.0.1:port failed.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port.
        port: u16,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing the cookie file failed.
    #[error("cannot write cookie file {path}: {source}")]
    Cookie {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The background runtime could not be created.
    #[error("cannot start the background runtime: {0}")]
    Runtime(std::io::Error),
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<NodeState>,
    pub(crate) faults: Faults,
    pub(crate) user: String,
    pub(crate) password: String,
}

/// The simulated node (cheap to clone; all clones share one state).
#[derive(Clone)]
pub struct SimNode {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SimNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNode")
            .field("height", &self.height())
            .finish()
    }
}

fn random_hex32() -> String {
    use rand::RngCore as _;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn write_cookie(datadir: &Path, secret: &str) -> Result<PathBuf, StartError> {
    let dir = datadir.join("regtest");
    let path = dir.join(".cookie");
    let err = |source| StartError::Cookie {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(err)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path).map_err(err)?;
    use std::io::Write as _;
    f.write_all(format!("__cookie__:{secret}").as_bytes())
        .map_err(err)?;
    Ok(path)
}

impl SimNode {
    /// A node without a server (in-process use only). Cookie auth gets a fresh secret but no
    /// file; use [`SimNode::start`] for that.
    pub fn new(config: &SimConfig) -> SimNode {
        let (user, password) = match &config.auth {
            RpcAuth::UserPass { user, password } => (user.clone(), password.clone()),
            RpcAuth::Cookie { .. } => ("__cookie__".to_string(), random_hex32()),
        };
        let mut state = NodeState::new(config.seed);
        state.txindex = config.txindex;
        state.wallets = config.wallets.clone();
        state.mock_time = config.mock_time;
        SimNode {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                faults: Faults::new(config.seed),
                user,
                password,
            }),
        }
    }

    fn prepare(config: &SimConfig) -> Result<(SimNode, Option<PathBuf>), StartError> {
        let node = SimNode::new(config);
        let cookie = match &config.auth {
            RpcAuth::Cookie { datadir } => Some(write_cookie(datadir, &node.shared.password)?),
            RpcAuth::UserPass { .. } => None,
        };
        Ok((node, cookie))
    }

    /// Starts the HTTP server on the current tokio runtime.
    pub async fn start(config: SimConfig) -> Result<SimNodeHandle, StartError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.rpc_port))
            .await
            .map_err(|source| StartError::Bind {
                port: config.rpc_port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            port: config.rpc_port,
            source,
        })?;
        let (node, cookie_path) = SimNode::prepare(&config)?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(server::serve(Arc::clone(&node.shared), listener, rx));
        Ok(SimNodeHandle {
            node,
            addr,
            cookie_path,
            shutdown: tx,
            thread: None,
        })
    }

    /// Starts the HTTP server on its own background thread and runtime (for sync tests).
    pub fn start_background(config: SimConfig) -> Result<SimNodeHandle, StartError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let std_listener =
            std::net::TcpListener::bind(("127.0.0.1", config.rpc_port)).map_err(|source| {
                StartError::Bind {
                    port: config.rpc_port,
                    source,
                }
            })?;
        let addr = std_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                port: config.rpc_port,
                source,
            })?;
        std_listener
            .set_nonblocking(true)
            .map_err(StartError::Runtime)?;
        let (node, cookie_path) = SimNode::prepare(&config)?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        let shared = Arc::clone(&node.shared);
        let thread = std::thread::Builder::new()
            .name("simnode".into())
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(listener) => server::serve(shared, listener, rx).await,
                        Err(e) => eprintln!("simnode: cannot use listener: {e}"),
                    }
                });
                rt.shutdown_background();
            })
            .map_err(StartError::Runtime)?;
        Ok(SimNodeHandle {
            node,
            addr,
            cookie_path,
            shutdown: tx,
            thread: Some(thread),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NodeState> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` with exclusive access to the node state.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut NodeState) -> R) -> R {
        f(&mut self.lock())
    }

    /// The fault controls.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Calls an RPC in-process (no HTTP, no faults), `params` an array or object.
    pub fn call(&self, method: &str, params: serde_json::Value) -> Result<Json, RpcError> {
        rpc::execute(&self.shared.state, &rpc::Endpoint::Root, method, &params)
    }

    /// Height of the active tip.
    pub fn height(&self) -> u32 {
        self.lock().chain.height()
    }

    /// Hash of the active tip.
    pub fn best_block_hash(&self) -> BlockHash {
        self.lock().chain.tip().hash
    }

    /// Mines `n` blocks paying to `address` (Monacoin regtest rules).
    pub fn generate_to_address(
        &self,
        n: u32,
        address: &str,
    ) -> Result<Vec<BlockHash>, AddressError> {
        let script = params::address_to_script(address)?;
        Ok(self.lock().mine(n, &script))
    }

    /// Mines `n` blocks paying to `script`.
    pub fn generate_to_script(&self, n: u32, script: &Script) -> Vec<BlockHash> {
        self.lock().mine(n, &script.to_owned())
    }

    /// Mines `n` blocks paying to the internal faucet.
    pub fn mine(&self, n: u32) -> Vec<BlockHash> {
        let mut st = self.lock();
        let script = st.faucet_script().clone();
        st.mine(n, &script)
    }

    /// `invalidateblock`; false when the hash is unknown.
    pub fn invalidate_block(&self, hash: BlockHash) -> bool {
        self.lock().invalidate(hash)
    }

    /// `reconsiderblock`; false when the hash is unknown.
    pub fn reconsider_block(&self, hash: BlockHash) -> bool {
        self.lock().reconsider(hash)
    }

    /// `sendrawtransaction` with the default maxfeerate.
    pub fn submit_transaction(&self, tx: &Transaction) -> Result<Txid, SubmitError> {
        self.lock().submit(tx, params::DEFAULT_MAX_FEE_RATE_PER_KVB)
    }

    /// Txids in the mempool, in arrival order.
    pub fn mempool_txids(&self) -> Vec<Txid> {
        self.lock()
            .mempool
            .ordered()
            .iter()
            .map(|e| e.txid)
            .collect()
    }

    /// The unspent confirmed output at `outpoint`.
    pub fn utxo(&self, outpoint: &OutPoint) -> Option<TxOut> {
        self.lock()
            .chain
            .utxo
            .get(outpoint)
            .map(|c| c.txout.clone())
    }

    /// Pays `amount_wat` to `address` from the faucet (unconfirmed: mine to confirm).
    pub fn fund_address(&self, address: &str, amount_wat: u64) -> Result<OutPoint, FundError> {
        let script =
            params::address_to_script(address).map_err(|e| FundError::Refused(e.to_string()))?;
        self.lock().fund(&script, amount_wat)
    }

    /// Pays `amount_wat` to `script` from the faucet (unconfirmed: mine to confirm).
    pub fn fund_script(&self, script: &Script, amount_wat: u64) -> Result<OutPoint, FundError> {
        self.lock().fund(&script.to_owned(), amount_wat)
    }

    /// Makes estimatesmartfee return `rate` (watanabe/kvB), or no estimate with `None`.
    pub fn set_fee_estimate(&self, rate_wat_per_kvb: Option<u64>) {
        self.lock().fee_estimate = rate_wat_per_kvb;
    }

    /// Fixes the clock (unix seconds), or back to the system clock with `None`.
    pub fn set_mock_time(&self, time: Option<u64>) {
        self.lock().mock_time = time;
    }

    /// Turns the txindex behaviour of getrawtransaction on or off.
    pub fn set_txindex(&self, enabled: bool) {
        self.lock().txindex = enabled;
    }

    /// Whether a reorg puts the transactions of disconnected blocks back in the mempool
    /// (`true`, Core's behaviour and the default) or drops them (`false`: only a client that
    /// sends them again gets them mined again).
    pub fn set_readd_disconnected(&self, enabled: bool) {
        self.lock().readd_disconnected = enabled;
    }

    /// How many times `sendrawtransaction` was executed through the RPC for `txid` (whatever
    /// the answer; a fault that answers without executing the call does not count).
    pub fn sendrawtransaction_calls(&self, txid: &Txid) -> u32 {
        self.lock().sendraw_calls.get(txid).copied().unwrap_or(0)
    }
}

/// A running node with its HTTP server; stops (and deletes the cookie) on drop.
pub struct SimNodeHandle {
    node: SimNode,
    addr: SocketAddr,
    cookie_path: Option<PathBuf>,
    shutdown: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SimNodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNodeHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl std::ops::Deref for SimNodeHandle {
    type Target = SimNode;
    fn deref(&self) -> &SimNode {
        &self.node
    }
}

impl SimNodeHandle {
    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Basic-auth credentials `(user, password)` (`__cookie__` and the secret in cookie mode).
    pub fn auth(&self) -> (String, String) {
        (
            self.node.shared.user.clone(),
            self.node.shared.password.clone(),
        )
    }

    /// The cookie file, in cookie mode.
    pub fn cookie_path(&self) -> Option<&Path> {
        self.cookie_path.as_deref()
    }

    /// The node behind the server.
    pub fn node(&self) -> &SimNode {
        &self.node
    }

    /// Stops the server and deletes the cookie file.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for SimNodeHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(p) = &self.cookie_path {
            let _ = std::fs::remove_file(p);
        }
    }
}
