//! The async engine: one driver task that syncs the chain, reconciles, pays queued withdrawals,
//! bumps stuck payouts, sweeps, and performs the ledger's effects; plus the handle the API uses.
//!
//! Module invariant: every money-moving step commits to the ledger first and performs the
//! returned effects after (a payout's bytes are never sent before `commit_payout` /
//! `replace_payout` returned); a send whose answer is unknown is recorded as `Transient` and the
//! same bytes are sent again later; nothing is ever rebuilt or rolled back because the node
//! did not answer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bitcoin::psbt::Psbt;
use bitcoin::{Amount as BtcAmount, OutPoint, Transaction, TxOut, Txid};
use mona::{Address, Amount, FeeRate};
use mona_ledger::{
    backoff_ms, BlockError, BlockRef, Coin as LedgerCoin, CommitError, Effect, FloatError, Intake,
    Keychain, Ledger, NewCoin, PayoutCommit, PayoutKind, PayoutState, SendOutcome, StoreError,
    TopUpProposal, TopUpState, Withdrawal,
};
use mona_node::{BroadcastOutcome, NodeClient, RpcError};
use mona_wallet::build::{
    build_fee_bump, build_payout, build_sweep, build_topup, BuildPayoutError, Coin as WalletCoin,
    FeeBumpRequest, FeePolicy, Keychain as WalletKeychain, Payment, PayoutRequest, SelectionError,
    TransferRequest, TxSettings, WalletDestination,
};
use mona_wallet::WatchOnlyAccount;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::config::{ConfigError, EngineConfig};
use crate::failpoint;
use crate::keys::{self, HotKeys, SignError};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::scan::{scan_block, CoinIndex, DustRule, TrackedCoin};
use crate::state::{StateError, StateFile};
use crate::tracker::{Tracker, TrackerError};

/// Why the engine did not start. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The node is unreachable, misconfigured or on another chain.
    #[error("node check failed: {0}")]
    Node(#[from] RpcError),
    /// The ledger failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine state file failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// An account cannot be derived.
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    /// The hot keys and the hot account given do not match, or the networks differ.
    #[error("wallet mismatch: {0}")]
    Wallet(String),
}

/// Why a handle call failed. Nothing was changed unless the message says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The engine is shut down.
    #[error("the engine is not running")]
    Stopped,
    /// Refused: bad PSBT, not the proposed transaction, no funds... (HTTP 422).
    #[error("{0}")]
    Refused(String),
    /// Conflicts with the current state (a proposal is already open...) (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// Payouts are frozen (HTTP 503).
    #[error("payouts are frozen: {0}")]
    Frozen(String),
    /// Transient (node or storage); retry later (HTTP 503).
    #[error("{0}")]
    Busy(String),
}

/// The freeze flag as the engine last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreezeInfo {
    /// Whether payouts are frozen.
    pub frozen: bool,
    /// Why.
    pub reason: Option<String>,
}

/// A status snapshot for `status` and `/healthz`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStatus {
    /// The node's tip height, when known.
    pub node_height: Option<u32>,
    /// The ledger's synced tip.
    pub synced_tip: Option<BlockRef>,
    /// The last error met (no secrets).
    pub last_error: Option<String>,
    /// The last alert raised.
    pub last_alert: Option<String>,
    /// Withdrawals above `max_payout` waiting for a cold-signed transaction.
    pub awaiting_cold: Vec<String>,
}

/// Balances against the float policy (`GET /v1/float`), in watanabe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloatStatus {
    /// Confirmed hot balance (dust and reserved included).
    pub hot_confirmed_wat: u64,
    /// Unconfirmed hot coins (our change, deposits in flight).
    pub hot_unconfirmed_wat: u64,
    /// Hot coins reserved by payouts in flight.
    pub hot_reserved_wat: u64,
    /// Confirmed hot dust.
    pub hot_dust_wat: u64,
    /// Confirmed cold balance.
    pub cold_confirmed_wat: u64,
    /// Withdrawals queued.
    pub queued_wat: u64,
    /// Withdrawals paid by unconfirmed/not final transactions.
    pub in_flight_wat: u64,
    /// The hot balance the policy compares: confirmed plus our own payouts' unconfirmed
    /// change, minus reserved coins (what stays hot once live payouts confirm).
    pub hot_wat: u64,
    /// `min(hot_cap, hot_cap_fraction x (hot + cold))`.
    pub effective_cap_wat: u64,
    /// What a sweep leaves hot.
    pub hot_target_wat: u64,
    /// Top-up threshold.
    pub hot_low_wat: u64,
    /// Hot is above the effective cap (a sweep is due).
    pub above_cap: bool,
    /// Hot is below `hot_low` (a top-up is due).
    pub below_low: bool,
}

/// A fresh deposit address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositAddress {
    /// The address.
    pub address: Address,
    /// Its index on the hot receive chain.
    pub index: u32,
}

struct WalletState {
    tracker: Tracker,
    index: CoinIndex,
    state: StateFile,
}

#[derive(Default)]
struct Runtime {
    /// Broadcasts waiting for their backoff: txid -> (due, bytes, attempt).
    retries: HashMap<Txid, (Instant, Vec<u8>, u32)>,
    /// Tip height when a broadcast payout was first seen unconfirmed (for fee bumps).
    first_seen: HashMap<Txid, u32>,
    /// Hot payouts of the last 24 h: (when, amount).
    daily: VecDeque<(Instant, u64)>,
    /// Effects left over from a failed step, performed on the next tick.
    deferred: Vec<Effect>,
    /// The last automatic cold-withdrawal proposal that could not be built: (withdrawal id,
    /// tip height); retried once the tip moves.
    cold_failed: Option<(String, u32)>,
    /// A reconciliation is owed (after a new block, or at start: `Some(true)`); cleared only
    /// when it succeeds, so a failed node or ledger call is retried on the next tick instead
    /// of waiting for the next block.
    reconcile_due: Option<bool>,
    /// The float step (sweep / top-up) is owed from this instant on; cleared only when it
    /// settles, retried every [`FLOAT_RETRY`] after a failure.
    float_due: Option<Instant>,
    status: EngineStatus,
}

pub(crate) struct Core {
    cfg: EngineConfig,
    ledger: Arc<dyn Ledger>,
    node: Arc<NodeClient>,
    hot: HotKeys,
    cold: WatchOnlyAccount,
    dust: DustRule,
    metrics: Arc<Metrics>,
    wallet: Mutex<WalletState>,
    rt: Mutex<Runtime>,
    wake: Notify,
    woken: std::sync::atomic::AtomicBool,
    /// One sync at a time (the driver, or an investigation from an API call).
    sync_lock: tokio::sync::Mutex<()>,
    freeze_tx: watch::Sender<FreezeInfo>,
    shutdown_tx: watch::Sender<bool>,
}

/// The engine's entry point.
#[derive(Debug)]
pub struct Engine;

/// What the API holds: wake the payout worker, read status, drive top-ups, shut down.
pub struct EngineHandle {
    core: Arc<Core>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn to_wallet_keychain(kc: Keychain) -> WalletKeychain {
    match kc {
        Keychain::HotExternal | Keychain::ColdExternal => WalletKeychain::External,
        _ => WalletKeychain::Internal,
    }
}

impl Engine {
    /// Checks the node's chain, loads what the ledger knows, and starts the driver task
    /// (which first re-sends every committed, unconfirmed payout: crash recovery).
    ///
    /// `hot` signs; `cold` is the cold wallet's watch-only account (addresses only).
    pub async fn start(
        cfg: EngineConfig,
        ledger: Arc<dyn Ledger>,
        node: Arc<NodeClient>,
        hot: HotKeys,
        cold: WatchOnlyAccount,
    ) -> Result<EngineHandle, StartError> {
        cfg.validate()?;
        if hot.watch_only().network != cfg.network || cold.network != cfg.network {
            return Err(StartError::Wallet(
                "hot and cold accounts must be on the configured network".into(),
            ));
        }
        node.check_chain(cfg.network).await?;
        let mut state = StateFile::open(cfg.datadir.as_deref())?;
        let mut tracker =
            Tracker::new(hot.watch_only(), &cold, cfg.gap_limit, cfg.change_lookahead)?;
        let l2 = Arc::clone(&ledger);
        let (tip, coins, live) = tokio::task::spawn_blocking(move || {
            let tip = l2.tip()?;
            // The whole watch set (dust, reserved, unconfirmed and cold coins included), not
            // just what a payout may spend: any of them spent by a stranger must freeze.
            let coins = l2.unspent_coins()?;
            let live = l2.payouts_in_states(&[
                PayoutState::Signed,
                PayoutState::Broadcast,
                PayoutState::Confirmed,
                PayoutState::Stuck,
            ])?;
            let mut inputs = Vec::new();
            for p in &live {
                for op in &p.inputs {
                    if let Some(c) = l2.coin(op)? {
                        inputs.push(c);
                    }
                }
            }
            Ok::<_, StoreError>((tip, coins, inputs))
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))??;
        // Complete: every coin of ours the ledger holds unspent is indexed, so a restarted
        // engine neither misses a spend nor hands every foreign input to the ledger.
        let mut index = CoinIndex::new(true);
        if tip.is_some() {
            index.mark_rebuilt_from_ledger();
        }
        for c in coins.iter().chain(live.iter()) {
            if c.spent_by.is_none() {
                index.insert(c.outpoint, tracked(c));
            }
            tracker.mark_used(c.keychain, c.derivation_index);
            state.raise(c.keychain, c.derivation_index.saturating_add(1))?;
        }
        for kc in Keychain::ALL {
            let next = state.indices().get(kc);
            if next > 0 {
                tracker.mark_used(kc, next - 1);
            }
        }
        let dust = DustRule::new(cfg.dust_threshold_wat, cfg.fee_floor);
        let fs = {
            let l3 = Arc::clone(&ledger);
            tokio::task::spawn_blocking(move || l3.freeze_state())
                .await
                .map_err(|e| StoreError::Backend(e.to_string()))??
        };
        let (freeze_tx, _) = watch::channel(FreezeInfo {
            frozen: fs.frozen,
            reason: fs.reason.filter(|_| fs.frozen),
        });
        let (shutdown_tx, _) = watch::channel(false);
        let core = Arc::new(Core {
            cfg,
            ledger,
            node,
            hot,
            cold,
            dust,
            metrics: Arc::new(Metrics::default()),
            wallet: Mutex::new(WalletState {
                tracker,
                index,
                state,
            }),
            rt: Mutex::new(Runtime::default()),
            wake: Notify::new(),
            woken: std::sync::atomic::AtomicBool::new(true),
            sync_lock: tokio::sync::Mutex::new(()),
            freeze_tx,
            shutdown_tx,
        });
        lock(&core.rt).status.synced_tip = tip;
        // The rolling 24 h payout window survives restarts: rebuilt from the audit log.
        let l4 = Arc::clone(&core.ledger);
        match tokio::task::spawn_blocking(move || paid_last_24h(l4.as_ref())).await {
            Ok(Ok(rows)) => {
                let now = Instant::now();
                lock(&core.rt).daily = rows
                    .into_iter()
                    .map(|(age, amount)| (now.checked_sub(age).unwrap_or(now), amount))
                    .collect();
            }
            Ok(Err(e)) => return Err(StartError::Store(e)),
            Err(e) => return Err(StartError::Store(StoreError::Backend(e.to_string()))),
        }
        let c2 = Arc::clone(&core);
        let task = tokio::spawn(async move { c2.run().await });
        Ok(EngineHandle {
            core,
            task: Mutex::new(Some(task)),
        })
    }
}

/// Withdrawal amounts committed in the last 24 h, with their age, from the audit log's
/// `payout.signed` rows (first commits of withdrawal batches; fee bumps are not counted twice).
fn paid_last_24h(l: &dyn Ledger) -> Result<Vec<(Duration, u64)>, StoreError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let cutoff = now - 24 * 3600;
    let head = l.audit_head()?;
    // First seq written at or after the cutoff (rows are appended in time order).
    let (mut lo, mut hi) = (1u64, head.seq + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at = l
            .audit_entries(mid, 1)?
            .first()
            .map_or(i64::MAX, |e| e.created_at);
        if at < cutoff {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut out = Vec::new();
    let mut seq = lo;
    while seq <= head.seq {
        let page = l.audit_entries(seq, 1000)?;
        let Some(last) = page.last() else { break };
        seq = last.seq + 1;
        for e in page.iter().filter(|e| e.kind == "payout.signed") {
            let field = |k: &str| {
                e.detail
                    .split(' ')
                    .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            };
            if field("kind") != Some("withdrawals")
                || field("replaces").is_some_and(|r| !r.is_empty())
            {
                continue;
            }
            let mut total = 0u64;
            for id in field("withdrawals")
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
            {
                if let Some(w) = l.withdrawal(id)? {
                    total = total.saturating_add(w.amount_wat);
                }
            }
            let age = Duration::from_secs(u64::try_from(now - e.created_at).unwrap_or(0));
            out.push((age, total));
        }
    }
    Ok(out)
}

fn tracked(c: &LedgerCoin) -> TrackedCoin {
    TrackedCoin {
        value_wat: c.value_wat,
        keychain: c.keychain,
        height: c.height,
        is_dust: c.is_dust,
    }
}

impl EngineHandle {
    /// New queued work (withdrawal, redemption, unfreeze): run a batch now.
    pub fn wake(&self) {
        self.core
            .woken
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.core.wake.notify_one();
    }

    /// The next unused hot receive address; its index is persisted before it is returned, so
    /// no restart ever hands it out again.
    pub fn new_deposit_address(&self) -> Result<DepositAddress, EngineError> {
        let mut w = lock(&self.core.wallet);
        let index = w
            .state
            .take(Keychain::HotExternal)
            .map_err(|e| EngineError::Busy(e.to_string()))?;
        w.tracker.mark_used(Keychain::HotExternal, index);
        drop(w);
        let address = self
            .core
            .hot
            .watch_only()
            .address(0, index)
            .ok_or_else(|| EngineError::Busy(format!("cannot derive receive index {index}")))?;
        let l = Arc::clone(&self.core.ledger);
        // The record of the decision, in the one format the API also writes and reads back
        // (best effort: the index is already persisted).
        let detail = format!("address={address}");
        std::thread::spawn(move || {
            let _ = l.append_audit(
                mona_ledger::AUDIT_ADDRESS_ISSUED,
                &mona_ledger::address_issued_subject(index),
                &detail,
            );
        });
        Ok(DepositAddress { address, index })
    }

    /// The freeze flag as last seen (updated on every block and every freeze).
    pub fn freeze_info(&self) -> FreezeInfo {
        self.core.freeze_tx.borrow().clone()
    }

    /// Whether payouts are frozen.
    pub fn is_frozen(&self) -> bool {
        self.core.freeze_tx.borrow().frozen
    }

    /// A receiver that changes whenever the freeze flag does.
    pub fn freeze_events(&self) -> watch::Receiver<FreezeInfo> {
        self.core.freeze_tx.subscribe()
    }

    /// The counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.core.metrics.snapshot()
    }

    /// How many payout transactions are in each non-final state (for `/metrics`; `final`
    /// grows forever and is not counted here: the ledger has no count query).
    pub async fn payouts_by_state(&self) -> Result<Vec<(PayoutState, usize)>, EngineError> {
        self.core
            .db(|l| {
                PayoutState::ALL
                    .iter()
                    .filter(|s| s.has_tx() && **s != PayoutState::Final)
                    .map(|s| Ok((*s, l.payouts_in_states(&[*s])?.len())))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await
            .map_err(EngineError::Busy)
    }

    /// A status snapshot.
    pub fn status(&self) -> EngineStatus {
        lock(&self.core.rt).status.clone()
    }

    /// Balances against the float policy.
    pub async fn float_status(&self) -> Result<FloatStatus, EngineError> {
        self.core.float_status().await
    }

    /// Proposes a top-up of `amount` (default: up to `hot_target`): an unsigned PSBT spending
    /// cold coins to a fresh hot address, stored with `open_topup`.
    pub async fn propose_topup(
        &self,
        amount: Option<Amount>,
    ) -> Result<TopUpProposal, EngineError> {
        self.core.propose_topup(amount.map(Amount::to_wat)).await
    }

    /// For a withdrawal above `max_payout` (it waits, see [`EngineStatus::awaiting_cold`]):
    /// the open proposal paying it from cold coins (an unsigned PSBT with full previous
    /// transactions and BIP32 derivations, change to a cold change address), stored with
    /// `open_topup` (`Created`), or the one already open for it (`Replay`). `Conflict` while
    /// another proposal is open (one at a time: both spend cold coins). The engine also
    /// proposes for the oldest such withdrawal by itself when no proposal is open.
    pub async fn propose_cold_withdrawal(
        &self,
        id: &str,
    ) -> Result<Intake<TopUpProposal>, EngineError> {
        self.core.propose_cold_withdrawal(id).await
    }

    /// Accepts the cold-signed PSBT of the open proposal `id` (a top-up or a cold withdrawal)
    /// if its unsigned transaction is the proposed one (any other output, amount or input is
    /// refused and changes nothing); finalizes it, commits it as the proposal's payout and
    /// closes the proposal in one ledger transaction, then broadcasts it.
    pub async fn submit_topup(&self, id: &str, psbt: &[u8]) -> Result<Txid, EngineError> {
        self.core.submit_topup(id, psbt).await
    }

    /// Stops the driver task (committed payouts are re-sent by the next start).
    pub async fn shutdown(&self) {
        let _ = self.core.shutdown_tx.send(true);
        self.core.wake.notify_one();
        let task = lock(&self.task).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        let _ = self.core.shutdown_tx.send(true);
        if let Some(t) = lock(&self.task).take() {
            t.abort();
        }
    }
}

type Res<T> = Result<T, String>;

/// `block_connected` calls in flight while catching up.
const COMMIT_DEPTH: usize = 32;

/// How long a float step that failed (e.g. a sweep whose node call timed out) waits before
/// it is tried again without a new block.
const FLOAT_RETRY: Duration = Duration::from_secs(2);

/// `sendrawtransaction` calls in flight at once.
const SEND_CONCURRENCY: usize = 8;

/// Runs boxed futures concurrently on the current task; outputs in input order.
async fn join_all<'a, T: Send + 'a>(
    futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>>,
) -> Vec<T> {
    use std::task::Poll;
    let mut futs: Vec<Option<_>> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (slot, f) in out.iter_mut().zip(futs.iter_mut()) {
            if let Some(fut) = f {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *slot = Some(v);
                        *f = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            // Every future finished, so every slot is filled.
            Poll::Ready(out.iter_mut().filter_map(Option::take).collect())
        }
    })
    .await
}

impl Core {
    async fn db<T: Send + 'static, E: std::fmt::Display>(
        &self,
        f: impl FnOnce(&dyn Ledger) -> Result<T, E> + Send + 'static,
    ) -> Res<T> {
        let l = Arc::clone(&self.ledger);
        tokio::task::spawn_blocking(move || f(l.as_ref()).map_err(|e| e.to_string()))
            .await
            .map_err(|e| format!("ledger task failed: {e}"))?
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, RpcError>>,
    ) -> Result<T, RpcError> {
        let t0 = Instant::now();
        let r = f.await;
        self.metrics
            .node_call(r.is_ok(), t0.elapsed().as_micros() as u64);
        r
    }

    fn is_shutdown(&self) -> bool {
        *self.shutdown_tx.borrow()
    }

    async fn run(self: Arc<Self>) {
        // Crash recovery: the same bytes of every committed, unconfirmed payout go out again.
        match self.db(|l| l.pending_effects()).await {
            Ok(effects) => self.perform(effects).await,
            Err(e) => self.note_error(format!("pending effects: {e}")),
        }
        let mut first = true;
        let mut last_batch = Instant::now();
        let mut last_mempool = Instant::now();
        let mut shutdown = self.shutdown_tx.subscribe();
        loop {
            if self.is_shutdown() {
                break;
            }
            if let Err(e) = self.tick(first, &mut last_batch, &mut last_mempool).await {
                self.note_error(e);
            }
            first = false;
            if self.is_shutdown() {
                break;
            }
            let sleep = self.next_sleep(last_batch);
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    fn next_sleep(&self, last_batch: Instant) -> Duration {
        let mut d = self.cfg.poll_interval;
        let batch_due = self.cfg.batch_interval.saturating_sub(last_batch.elapsed());
        d = d.min(batch_due.max(Duration::from_millis(1)));
        // Only future deadlines shorten the sleep: one already past (its step failed or the
        // tick stopped before it, e.g. frozen or the node down) waits for the next poll, never a
        // busy loop against a struggling node.
        let rt = lock(&self.rt);
        let now = Instant::now();
        let retry = rt.retries.values().map(|(t, _, _)| *t).min();
        for due in retry.into_iter().chain(rt.float_due) {
            if due > now {
                d = d.min(due - now);
            }
        }
        d.max(Duration::from_millis(1))
    }

    fn note_error(&self, e: String) {
        tracing::warn!(error = %e, "engine step failed; retrying");
        Metrics::inc(&self.metrics.errors);
        lock(&self.rt).status.last_error = Some(e);
    }

    async fn tick(
        &self,
        first: bool,
        last_batch: &mut Instant,
        last_mempool: &mut Instant,
    ) -> Res<()> {
        let deferred = std::mem::take(&mut lock(&self.rt).deferred);
        self.perform(deferred).await;
        if first {
            // Owed from the start, even if this tick's node calls fail.
            let mut rt = lock(&self.rt);
            rt.reconcile_due = Some(true);
            rt.float_due = Some(Instant::now());
        }
        let new_blocks = self.sync().await?;
        if new_blocks {
            let mut rt = lock(&self.rt);
            rt.reconcile_due = Some(rt.reconcile_due == Some(true));
            rt.float_due = Some(Instant::now());
        }
        let reconcile_due = lock(&self.rt).reconcile_due;
        if let Some(at_start) = reconcile_due {
            self.reconcile(at_start).await?;
            lock(&self.rt).reconcile_due = None;
        }
        self.refresh_freeze().await?;
        self.run_due_retries().await;
        if last_mempool.elapsed() >= self.cfg.mempool_interval {
            *last_mempool = Instant::now();
            self.follow_mempool().await?;
        }
        if self.freeze_tx.borrow().frozen {
            return Ok(());
        }
        if new_blocks {
            self.bump_stuck().await?;
        }
        let float_due = lock(&self.rt).float_due;
        if float_due.is_some_and(|due| due <= Instant::now()) {
            let settled = self.float().await;
            lock(&self.rt).float_due = match settled {
                Ok(true) => None,
                _ => Some(Instant::now() + FLOAT_RETRY),
            };
            settled?;
        }
        let woken = self.woken.swap(false, std::sync::atomic::Ordering::SeqCst);
        if woken || last_batch.elapsed() >= self.cfg.batch_interval {
            *last_batch = Instant::now();
            // Keep batching while full batches go out.
            for _ in 0..16 {
                if !self.pay_batch().await? || self.is_shutdown() {
                    break;
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- sync

    /// Follows the node's active chain: disconnects our blocks down to the fork point, then
    /// connects the missing blocks in order (fetched several at a time). Returns whether the
    /// tip moved.
    pub(crate) async fn sync(&self) -> Res<bool> {
        let guard = self.sync_lock.lock().await;
        let (moved, effects) = self.sync_locked().await?;
        drop(guard);
        self.perform(effects).await;
        Ok(moved)
    }

    async fn sync_locked(&self) -> Res<(bool, Vec<Effect>)> {
        let node_height = self
            .timed(self.node.get_block_count())
            .await
            .map_err(|e| format!("getblockcount: {e}"))?;
        let node_height = u32::try_from(node_height).map_err(|_| "node height overflow")?;
        lock(&self.rt).status.node_height = Some(node_height);
        let mut effects = Vec::new();
        let mut moved = false;
        // 1. reorg: walk our tip down until it is on the node's chain
        loop {
            let Some(tip) = self.db(|l| l.tip()).await? else {
                break;
            };
            let node_hash = if tip.height <= node_height {
                self.timed(self.node.get_block_hash(u64::from(tip.height)))
                    .await
                    .map_err(|e| format!("getblockhash: {e}"))?
            } else {
                None
            };
            if node_hash == Some(tip.hash) {
                break;
            }
            tracing::warn!(height = tip.height, hash = %tip.hash, "block left the active chain: disconnecting");
            let e = self
                .db(move |l| l.block_disconnected(&tip))
                .await
                .map_err(|e| format!("block_disconnected {}: {e}", tip.height))?;
            effects.extend(e);
            lock(&self.wallet).index.disconnect(tip.hash);
            Metrics::inc(&self.metrics.blocks_disconnected);
            moved = true;
        }
        // 2. connect the missing blocks, pipelined
        let tip = self.db(|l| l.tip()).await?;
        let start = tip.map_or(self.cfg.start_height, |t| t.height + 1);
        if start <= node_height {
            let (m, e) = self.connect_range(start, node_height).await?;
            moved |= m;
            effects.extend(e);
        }
        let tip = self.db(|l| l.tip()).await?;
        lock(&self.rt).status.synced_tip = tip;
        Ok((moved, effects))
    }

    /// Fetches blocks `start..=end` (several in flight), scans them in order and hands them to
    /// the ledger. Commits are pipelined too: up to [`COMMIT_DEPTH`] `block_connected` calls
    /// wait at once, started strictly in height order, so the store's group commit can put
    /// several blocks in one durable transaction. A block that does not extend the stored tip
    /// changes nothing (the ledger checks it); if that ever happens the index is marked
    /// incomplete (every spend then goes to the ledger) and the next round resumes from the
    /// ledger's tip.
    async fn connect_range(&self, start: u32, end: u32) -> Res<(bool, Vec<Effect>)> {
        type Commit = JoinHandle<Result<Vec<Effect>, String>>;
        let mut effects = Vec::new();
        let mut moved = false;
        let mut next = start;
        let mut fetches: VecDeque<JoinHandle<Result<Option<bitcoin::Block>, RpcError>>> =
            VecDeque::new();
        let mut commits: VecDeque<(u32, Commit)> = VecDeque::new();
        let mut prev_go: Option<std::sync::mpsc::Receiver<()>> = None;
        let mut prev_done: Option<std::sync::mpsc::Receiver<bool>> = None;
        let mut height = start;
        let mut failure: Option<String> = None;
        loop {
            while fetches.len() < self.cfg.fetch_concurrency && next <= end {
                let node = Arc::clone(&self.node);
                let metrics = Arc::clone(&self.metrics);
                let h = next;
                fetches.push_back(tokio::spawn(async move {
                    let t0 = Instant::now();
                    let r = async {
                        match node.get_block_hash(u64::from(h)).await? {
                            Some(hash) => node.get_block(hash).await,
                            None => Ok(None),
                        }
                    }
                    .await;
                    metrics.node_call(r.is_ok(), t0.elapsed().as_micros() as u64);
                    r
                }));
                next += 1;
            }
            let Some(front) = fetches.pop_front() else {
                break;
            };
            let block = match front.await {
                Ok(Ok(Some(b))) => b,
                // The chain changed under us: the next round sees the reorg.
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    failure = Some(format!("fetching block {height}: {e}"));
                    break;
                }
                Err(e) => {
                    failure = Some(format!("block fetch task: {e}"));
                    break;
                }
            };
            let scanned = {
                let mut w = lock(&self.wallet);
                let s = scan_block(
                    &block,
                    height,
                    &w.tracker,
                    &w.index,
                    &self.dust,
                    self.cfg.finality_depth,
                );
                // Applied before the commit so the next block's scan sees these coins; on a
                // failed commit the index is marked incomplete below.
                w.index.connect(block.block_hash(), height, &s);
                for (kc, i) in &s.used {
                    w.tracker.mark_used(*kc, *i);
                    let _ = w.state.raise(*kc, i.saturating_add(1));
                }
                s
            };
            self.metrics.scan_spends.fetch_add(
                scanned.update.spends.len() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            self.metrics.scan_txids.fetch_add(
                scanned.update.txids.len() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let (done_tx, done_rx) = std::sync::mpsc::channel::<bool>();
            let wait_turn = prev_go.replace(go_rx);
            let prev_finished = prev_done.replace(done_rx);
            let ledger = Arc::clone(&self.ledger);
            let update = scanned.update;
            commits.push_back((
                height,
                tokio::task::spawn_blocking(move || {
                    if let Some(rx) = wait_turn {
                        let _ = rx.recv();
                    }
                    let _ = go_tx.send(());
                    let mut r = ledger.block_connected(&update);
                    if matches!(r, Err(BlockError::NotOnTip { .. })) {
                        // Queued ahead of its parent (a race between the two submitters):
                        // nothing changed; once the parent is in, try once more.
                        if let Some(prev) = prev_finished {
                            if prev.recv() == Ok(true) {
                                r = ledger.block_connected(&update);
                            }
                        }
                    }
                    let _ = done_tx.send(r.is_ok());
                    r.map_err(|e| e.to_string())
                }),
            ));
            height += 1;
            while commits.len() >= COMMIT_DEPTH || (fetches.is_empty() && !commits.is_empty()) {
                let Some((h, c)) = commits.pop_front() else {
                    break;
                };
                match c.await {
                    Ok(Ok(e)) => {
                        effects.extend(e);
                        Metrics::inc(&self.metrics.blocks_connected);
                        moved = true;
                        if h < end {
                            failpoint::hit_async(failpoint::DURING_SYNC).await;
                        }
                    }
                    Ok(Err(e)) => {
                        failure.get_or_insert(format!("block_connected {h}: {e}"));
                        break;
                    }
                    Err(e) => {
                        failure.get_or_insert(format!("block_connected task: {e}"));
                        break;
                    }
                }
            }
            if failure.is_some() || self.is_shutdown() {
                break;
            }
        }
        for f in fetches {
            f.abort();
        }
        // Let the remaining commits finish (in order) before anything else touches the ledger.
        for (h, c) in commits {
            match c.await {
                Ok(Ok(e)) if failure.is_none() => {
                    effects.extend(e);
                    Metrics::inc(&self.metrics.blocks_connected);
                    moved = true;
                }
                Ok(Ok(e)) => {
                    // Committed after an earlier failure (a block that raced ahead of its
                    // parent and was retried): it is connected, so count it and keep its effects.
                    effects.extend(e);
                    Metrics::inc(&self.metrics.blocks_connected);
                }
                Ok(Err(e)) => {
                    failure.get_or_insert(format!("block_connected {h}: {e}"));
                }
                Err(e) => {
                    failure.get_or_insert(format!("block_connected task: {e}"));
                }
            }
        }
        if let Some(f) = failure {
            lock(&self.wallet).index.mark_incomplete();
            if f.contains("does not extend the stored tip") {
                tracing::info!(failure = %f, "block commit raced the stored tip; syncing again");
                // A reorg raced us; the next round disconnects first.
                return Ok((true, effects));
            }
            // Committed blocks' effects run on the next tick (the freeze, if any, is already
            // persisted by the ledger).
            lock(&self.rt).deferred.extend(effects);
            return Err(f);
        }
        Ok((moved, effects))
    }

    // ---------------------------------------------------------------- reconciliation

    /// Compares the chain with the ledger; freezes on a hot balance below what the ledger
    /// expects. (A spend of a hot coin the ledger did not make is caught by `block_connected`
    /// itself, which freezes in the same transaction.)
    async fn reconcile(&self, at_start: bool) -> Res<()> {
        let b = self.db(|l| l.balances()).await?;
        let (complete, rebuilt, chain_hot) = {
            let w = lock(&self.wallet);
            (
                w.index.is_complete(),
                w.index.is_rebuilt_from_ledger(),
                w.index.hot_confirmed_wat(),
            )
        };
        if complete && chain_hot < b.hot_confirmed_wat {
            let reason = format!(
                "hot balance on chain {chain_hot} wat is below the ledger's {} wat",
                b.hot_confirmed_wat
            );
            self.freeze(&reason).await?;
            return Ok(());
        }
        if at_start && (!complete || rebuilt) {
            // Check the largest confirmed hot coins against the node's UTXO set (an index
            // rebuilt from the ledger holds the ledger's word: only the node can refute it).
            let mut coins = self.db(|l| l.spendable_coins()).await?;
            coins.retain(|c| c.height.is_some());
            coins.sort_by_key(|c| std::cmp::Reverse(c.value_wat));
            coins.truncate(self.cfg.start_reconcile_coins);
            for c in coins {
                let op = c.outpoint;
                let utxo = self
                    .timed(self.node.get_tx_out(op.txid, op.vout, false))
                    .await
                    .map_err(|e| format!("gettxout: {e}"))?;
                let ok = utxo.is_some_and(|u| {
                    u.value.to_wat() == c.value_wat && u.script_pubkey == c.script_pubkey
                });
                if !ok {
                    let reason = format!(
                        "hot coin {op} of {} wat the ledger holds unspent is not in the chain's UTXO set",
                        c.value_wat
                    );
                    self.freeze(&reason).await?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn freeze(&self, reason: &str) -> Res<()> {
        let r = reason.to_string();
        let fs = self.db(move |l| l.freeze(&r)).await?;
        tracing::error!(reason = %reason, "payouts frozen");
        Metrics::inc(&self.metrics.freezes);
        self.freeze_tx.send_replace(FreezeInfo {
            frozen: fs.frozen,
            reason: fs.reason,
        });
        Ok(())
    }

    async fn refresh_freeze(&self) -> Res<()> {
        let fs = self.db(|l| l.freeze_state()).await?;
        let info = FreezeInfo {
            frozen: fs.frozen,
            reason: fs.reason.filter(|_| fs.frozen),
        };
        if *self.freeze_tx.borrow() != info {
            self.freeze_tx.send_replace(info);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- effects

    /// Performs effects in order; sends whose answer asks for more are followed up.
    pub(crate) fn perform(
        &self,
        effects: Vec<Effect>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.perform_inner(effects))
    }

    async fn perform_inner(&self, effects: Vec<Effect>) {
        let mut work: VecDeque<Effect> = effects.into();
        let mut sends: Vec<(Txid, Vec<u8>, u32)> = Vec::new();
        loop {
            let Some(e) = work.pop_front() else {
                if sends.is_empty() {
                    break;
                }
                // Immediate sends go out together (a stalled node costs one timeout, not one
                // per payout); their answers may ask for more.
                work.extend(self.send_many(std::mem::take(&mut sends)).await);
                continue;
            };
            match e {
                Effect::Broadcast {
                    txid,
                    raw_tx,
                    attempt,
                } => {
                    let wait = self.backoff(attempt);
                    if attempt > 0 && !wait.is_zero() {
                        lock(&self.rt)
                            .retries
                            .insert(txid, (Instant::now() + wait, raw_tx, attempt));
                        continue;
                    }
                    sends.push((txid, raw_tx, attempt));
                }
                Effect::Investigate { txid, detail } => {
                    if let Err(e) = self.investigate(txid, &detail).await {
                        self.note_error(format!("investigating {txid}: {e}"));
                    }
                }
                Effect::Alert { txid, message } => {
                    tracing::error!(txid = ?txid, "{message}");
                    lock(&self.rt).status.last_alert = Some(message);
                }
                Effect::FreezeSystem { reason } => {
                    tracing::error!(reason = %reason, "payouts frozen by the ledger");
                    Metrics::inc(&self.metrics.freezes);
                    self.freeze_tx.send_replace(FreezeInfo {
                        frozen: true,
                        reason: Some(reason),
                    });
                }
                _ => {}
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let ms = backoff_ms(attempt);
        Duration::from_millis(ms * self.cfg_retry_base_ms() / 1000)
    }

    fn cfg_retry_base_ms(&self) -> u64 {
        self.cfg.retry_base.as_millis().max(1) as u64
    }

    /// One `sendrawtransaction` of committed bytes, recorded whatever the answer.
    async fn send(&self, txid: Txid, raw_tx: Vec<u8>, attempt: u32) -> Vec<Effect> {
        lock(&self.rt).retries.remove(&txid);
        // The builder already bounds the fee by the ceiling on the ESTIMATED size (and by
        // max_fee); the signed size can be a few vbytes smaller and sub-dust change goes to fee,
        // so the exact rate may sit slightly above the ceiling. The node's guard is kept for
        // gross errors only (twice the ceiling), never for that rounding: a refusal here would
        // strand a committed payout as permanently invalid.
        let max_rate = Some(FeeRate::from_wat_per_kvb(
            self.cfg.fee_ceiling.wat_per_kvb().saturating_mul(2),
        ));
        let t0 = Instant::now();
        let outcome = self.node.broadcast_raw(&raw_tx, max_rate).await;
        self.metrics
            .node_call(outcome.is_success(), t0.elapsed().as_micros() as u64);
        self.metrics.broadcast(outcome.class_name());
        failpoint::hit_async(failpoint::AFTER_BROADCAST_BEFORE_RECORD).await;
        let so = to_send_outcome(&outcome);
        tracing::info!(%txid, attempt, outcome = so.kind(), "payout sent");
        match self.db(move |l| l.record_send_attempt(&txid, &so)).await {
            Ok(effects) => effects,
            Err(e) => {
                // Nothing was recorded; the same bytes go out again later.
                self.note_error(format!("recording send of {txid}: {e}"));
                let wait = self
                    .backoff(attempt.saturating_add(1))
                    .max(Duration::from_millis(10));
                lock(&self.rt).retries.insert(
                    txid,
                    (Instant::now() + wait, raw_tx, attempt.saturating_add(1)),
                );
                Vec::new()
            }
        }
    }

    async fn run_due_retries(&self) {
        let now = Instant::now();
        let due: Vec<(Txid, Vec<u8>, u32)> = {
            let mut rt = lock(&self.rt);
            let ids: Vec<Txid> = rt
                .retries
                .iter()
                .filter(|(_, (t, _, _))| *t <= now)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| rt.retries.remove(&id).map(|(_, raw, a)| (id, raw, a)))
                .collect()
        };
        let more = self.send_many(due).await;
        self.perform(more).await;
    }

    /// Sends several committed transactions at once ([`SEND_CONCURRENCY`] at a time).
    async fn send_many(&self, items: Vec<(Txid, Vec<u8>, u32)>) -> Vec<Effect> {
        let mut out = Vec::new();
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<_> = items
                .by_ref()
                .take(SEND_CONCURRENCY)
                .map(|(txid, raw, attempt)| {
                    Box::pin(self.send(txid, raw, attempt))
                        as std::pin::Pin<
                            Box<dyn std::future::Future<Output = Vec<Effect>> + Send + '_>,
                        >
                })
                .collect();
            for effects in join_all(chunk).await {
                out.extend(effects);
            }
        }
        out
    }

    /// Our broadcast payouts that vanished from the mempool without confirming are re-sent
    /// (same bytes).
    async fn follow_mempool(&self) -> Res<()> {
        let live = self
            .db(|l| l.payouts_in_states(&[PayoutState::Broadcast]))
            .await?;
        if live.is_empty() {
            return Ok(());
        }
        let mempool: HashSet<Txid> = self
            .timed(self.node.get_raw_mempool())
            .await
            .map_err(|e| format!("getrawmempool: {e}"))?
            .into_iter()
            .collect();
        for p in live {
            let queued = lock(&self.rt).retries.contains_key(&p.txid);
            if !mempool.contains(&p.txid) && !queued {
                tracing::info!(txid = %p.txid, "payout not in the mempool: re-sending the same bytes");
                let more = self.send(p.txid, p.raw_tx.clone(), p.send_attempts).await;
                self.perform(more).await;
            }
        }
        Ok(())
    }

    /// The node said conflict / missing inputs: was it our own transaction (confirmed or in the
    /// mempool), or a stranger's spend?
    async fn investigate(&self, txid: Txid, detail: &str) -> Res<()> {
        self.sync().await?;
        let Some(p) = self.db(move |l| l.payout(&txid)).await? else {
            return Ok(());
        };
        if !p.state.needs_send() {
            return Ok(());
        }
        let related = self
            .db(|l| {
                l.payouts_in_states(&[
                    PayoutState::Signed,
                    PayoutState::Broadcast,
                    PayoutState::Confirmed,
                    PayoutState::Final,
                    PayoutState::ReplacedBy,
                    PayoutState::Stuck,
                ])
            })
            .await?;
        let mut spent_by_stranger = false;
        let mut anything_spent = false;
        for op in &p.inputs {
            let op = *op;
            let utxo = self
                .timed(self.node.get_tx_out(op.txid, op.vout, true))
                .await
                .map_err(|e| format!("gettxout: {e}"))?;
            if utxo.is_some() {
                continue;
            }
            anything_spent = true;
            let mut ours = false;
            for r in related.iter().filter(|r| r.inputs.contains(&op)) {
                if r.txid == txid {
                    continue;
                }
                if matches!(r.state, PayoutState::Confirmed | PayoutState::Final) {
                    ours = true;
                    break;
                }
                let in_mempool = self
                    .timed(self.node.get_mempool_entry(r.txid))
                    .await
                    .map_err(|e| format!("getmempoolentry: {e}"))?
                    .is_some();
                if in_mempool {
                    ours = true;
                    break;
                }
            }
            if !ours {
                // Our own tx in the mempool counts as ours too.
                let self_in_mempool = self
                    .timed(self.node.get_mempool_entry(txid))
                    .await
                    .map_err(|e| format!("getmempoolentry: {e}"))?
                    .is_some();
                if !self_in_mempool {
                    spent_by_stranger = true;
                }
            }
        }
        if spent_by_stranger {
            tracing::error!(%txid, detail, "inputs of a payout spent by a transaction the ledger did not make");
            let effects = self
                .db(move |l| l.mark_conflicting_spend(&txid, None))
                .await?;
            self.perform(effects).await;
        } else if !anything_spent {
            // A passing conflict (e.g. a mempool race): send the same bytes again later.
            let wait = self.backoff(p.send_attempts.max(1));
            lock(&self.rt).retries.insert(
                txid,
                (Instant::now() + wait, p.raw_tx.clone(), p.send_attempts),
            );
        }
        Ok(())
    }

    // ---------------------------------------------------------------- building blocks

    async fn fee_rate(&self) -> FeeRate {
        let est = self
            .timed(self.node.estimate_smart_fee(self.cfg.fee_conf_target, None))
            .await
            .ok()
            .and_then(|e| e.fee_rate)
            .unwrap_or(self.cfg.fee_fallback);
        est.max(self.cfg.fee_floor).min(self.cfg.fee_ceiling)
    }

    fn settings(&self) -> TxSettings {
        TxSettings {
            fees: FeePolicy {
                floor: self.cfg.fee_floor,
                ceiling: self.cfg.fee_ceiling,
                max_fee: Amount::from_wat_const(self.cfg.max_fee_wat),
            },
            max_inputs: self.cfg.max_inputs,
            min_confirmations: 1,
            dust: self.dust.0,
        }
    }

    fn wallet_coin(&self, c: &LedgerCoin, account: &WatchOnlyAccount) -> WalletCoin {
        WalletCoin {
            outpoint: c.outpoint,
            value: Amount::from_wat_const(c.value_wat),
            script_pubkey: c.script_pubkey.clone(),
            script_type: account.script_type,
            keychain: to_wallet_keychain(c.keychain),
            index: c.derivation_index,
            confirmation_height: c.height,
            prev_tx: None,
        }
    }

    /// Our outputs of `tx`, as the ledger records them (`change` of a commit).
    fn our_outputs(&self, tx: &Transaction) -> Vec<NewCoin> {
        let txid = tx.compute_txid();
        let w = lock(&self.wallet);
        tx.output
            .iter()
            .enumerate()
            .filter_map(|(vout, o)| {
                let (keychain, derivation_index) = w.tracker.lookup(&o.script_pubkey)?;
                Some(NewCoin {
                    outpoint: OutPoint {
                        txid,
                        vout: vout as u32,
                    },
                    value_wat: o.value.to_sat(),
                    script_pubkey: o.script_pubkey.clone(),
                    keychain,
                    derivation_index,
                    is_dust: self.dust.is_dust(o.value.to_sat(), &o.script_pubkey),
                })
            })
            .collect()
    }

    fn note_committed(&self, change: &[NewCoin]) {
        let mut w = lock(&self.wallet);
        for c in change {
            w.index.insert(
                c.outpoint,
                TrackedCoin {
                    value_wat: c.value_wat,
                    keychain: c.keychain,
                    height: None,
                    is_dust: c.is_dust,
                },
            );
            w.tracker.mark_used(c.keychain, c.derivation_index);
            let _ = w
                .state
                .raise(c.keychain, c.derivation_index.saturating_add(1));
        }
        Metrics::inc(&self.metrics.payouts_committed);
    }

    async fn tip_height(&self) -> Res<u32> {
        Ok(self.db(|l| l.tip()).await?.map_or(0, |t| t.height))
    }

    fn next_index(&self, kc: Keychain) -> u32 {
        lock(&self.wallet).state.indices().get(kc)
    }

    // ---------------------------------------------------------------- payouts

    /// One batch of queued withdrawals. Returns whether a full batch went out (more may wait).
    async fn pay_batch(&self) -> Res<bool> {
        let limit = self.cfg.batch_size.saturating_mul(4).saturating_add(64);
        let queued = self.db(move |l| l.queued_withdrawals(limit)).await?;
        if queued.is_empty() {
            lock(&self.rt).status.awaiting_cold.clear();
            return Ok(false);
        }
        let max_payout = self.cfg.float.max_payout_wat;
        // A withdrawal that ever had a cold proposal may have a signed copy in treasury's
        // hands: it is paid only by a cold transaction that conflicts with it, never hot.
        let named = if queued.iter().any(|w| w.amount_wat <= max_payout) {
            self.withdrawals_with_proposals().await?
        } else {
            HashSet::new()
        };
        let (large, small): (Vec<Withdrawal>, Vec<Withdrawal>) = queued
            .into_iter()
            .partition(|w| w.amount_wat > max_payout || named.contains(&w.id));
        lock(&self.rt).status.awaiting_cold = large.iter().map(|w| w.id.clone()).collect();
        if self.cfg.auto_cold_withdrawal {
            if let Some(oldest) = large.first() {
                self.auto_propose_cold(&oldest.id).await;
            }
        }
        let mut daily_left = {
            let mut rt = lock(&self.rt);
            let day = Duration::from_secs(24 * 3600);
            while rt.daily.front().is_some_and(|(t, _)| t.elapsed() > day) {
                rt.daily.pop_front();
            }
            let used: u64 = rt.daily.iter().map(|(_, a)| *a).sum();
            self.cfg.float.max_daily_wat.saturating_sub(used)
        };
        let mut batch = Vec::new();
        for w in small {
            if batch.len() >= self.cfg.batch_size {
                break;
            }
            if w.amount_wat > daily_left {
                break; // oldest first: the rest waits for the rolling window
            }
            daily_left -= w.amount_wat;
            batch.push(w);
        }
        if batch.is_empty() {
            return Ok(false);
        }
        let full = batch.len() >= self.cfg.batch_size;
        let tip = self.tip_height().await?;
        let coins = self.db(|l| l.spendable_coins()).await?;
        let hot_watch = self.hot.watch_only().clone();
        let coins: Vec<WalletCoin> = coins
            .iter()
            .filter(|c| c.keychain.is_hot())
            .map(|c| self.wallet_coin(c, &hot_watch))
            .collect();
        let payments: Vec<Payment> = batch
            .iter()
            .map(|w| Payment {
                script_pubkey: w.destination.script_pubkey.clone(),
                amount: Amount::from_wat_const(w.amount_wat),
            })
            .collect();
        let fee_rate = self.fee_rate().await;
        let change_index = self.next_index(Keychain::HotInternal);
        let no_exclude = |_: &WalletCoin| false;
        let built = build_payout(
            &coins,
            std::slice::from_ref(&hot_watch),
            &PayoutRequest {
                payments: &payments,
                fee_rate,
                change: WalletDestination::change(&hot_watch, change_index),
                tip_height: tip,
                settings: self.settings(),
                exclude: &no_exclude,
            },
        );
        let built = match built {
            Ok(b) => b,
            Err(
                BuildPayoutError::PaymentBelowDust { index, .. }
                | BuildPayoutError::UnspendableDestination { index, .. }
                | BuildPayoutError::NonStandardDestination { index, .. },
            ) => {
                let w = &batch[index];
                let reason = match built {
                    Err(e) => e.to_string(),
                    Ok(_) => String::new(),
                };
                let id = w.id.clone();
                tracing::warn!(id = %id, reason = %reason, "withdrawal refused by policy");
                self.db(move |l| l.reject_withdrawal(&id, &reason)).await?;
                Metrics::inc(&self.metrics.rejected);
                return Ok(true);
            }
            Err(BuildPayoutError::Selection(SelectionError::InsufficientFunds { .. })) => {
                tracing::warn!(
                    withdrawals = batch.len(),
                    "not enough confirmed hot coins for the queued withdrawals; waiting"
                );
                return Ok(false);
            }
            Err(e) => return Err(format!("building a payout: {e}")),
        };
        let tx = self
            .hot
            .sign(&built.psbt, &built.inputs)
            .map_err(|e: SignError| format!("signing a payout: {e}"))?;
        failpoint::hit_async(failpoint::MID_BATCH).await;
        let change = self.our_outputs(&tx);
        let commit = PayoutCommit {
            kind: PayoutKind::Withdrawals,
            withdrawal_ids: batch.iter().map(|w| w.id.clone()).collect(),
            txid: tx.compute_txid(),
            raw_tx: bitcoin::consensus::serialize(&tx),
            inputs: built.inputs.iter().map(|c| c.outpoint).collect(),
            change: change.clone(),
            fee_wat: built.summary.fee.to_wat(),
        };
        let n = commit.withdrawal_ids.len() as u64;
        let total: u64 = batch.iter().map(|w| w.amount_wat).sum();
        let c2 = commit.clone();
        let effects = match self.db(move |l| l.commit_payout(&c2)).await {
            Ok(e) => e,
            Err(e) if e.starts_with("payouts are frozen") => return Ok(false),
            Err(e) => return Err(format!("committing payout {}: {e}", commit.txid)),
        };
        self.note_committed(&change);
        self.metrics
            .withdrawals_committed
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        lock(&self.rt).daily.push_back((Instant::now(), total));
        tracing::info!(txid = %commit.txid, withdrawals = n, fee = commit.fee_wat, "payout committed");
        failpoint::hit_async(failpoint::AFTER_COMMIT_BEFORE_BROADCAST).await;
        self.perform(effects).await;
        Ok(full)
    }

    // ---------------------------------------------------------------- fee bumps

    async fn bump_stuck(&self) -> Res<()> {
        if self.cfg.bump_after_blocks == 0 {
            return Ok(());
        }
        let tip = self.tip_height().await?;
        let live = self
            .db(|l| l.payouts_in_states(&[PayoutState::Broadcast]))
            .await?;
        let mut due = Vec::new();
        {
            let mut rt = lock(&self.rt);
            let ids: HashSet<Txid> = live.iter().map(|p| p.txid).collect();
            rt.first_seen.retain(|t, _| ids.contains(t));
            for p in &live {
                let seen = *rt.first_seen.entry(p.txid).or_insert(tip);
                if !p.kind.spends_cold() && tip.saturating_sub(seen) >= self.cfg.bump_after_blocks {
                    due.push(p.clone());
                }
            }
        }
        for p in due {
            if let Err(e) = self.bump(&p, tip).await {
                self.note_error(format!("fee bump of {}: {e}", p.txid));
            }
        }
        Ok(())
    }

    async fn bump(&self, p: &mona_ledger::PayoutTx, tip: u32) -> Res<()> {
        let orig: Transaction = bitcoin::consensus::deserialize(&p.raw_tx)
            .map_err(|e| format!("stored payout does not decode: {e}"))?;
        let inputs = p.inputs.clone();
        let coins = self
            .db(move |l| {
                inputs
                    .iter()
                    .map(|op| l.coin(op))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let hot_watch = self.hot.watch_only().clone();
        let mut orig_coins = Vec::new();
        for c in coins.into_iter().flatten() {
            orig_coins.push(self.wallet_coin(&c, &hot_watch));
        }
        let change_vout = {
            let w = lock(&self.wallet);
            orig.output
                .iter()
                .position(|o| {
                    w.tracker.lookup(&o.script_pubkey).map(|(k, _)| k)
                        == Some(Keychain::HotInternal)
                })
                .map(|v| v as u32)
        };
        let in_total: u64 = orig_coins.iter().map(|c| c.value.to_wat()).sum();
        let out_total: u64 = orig.output.iter().map(|o| o.value.to_sat()).sum();
        let old_fee = in_total.saturating_sub(out_total);
        let old_rate =
            FeeRate::from_fee_and_vsize(Amount::from_wat_const(old_fee), orig.vsize() as u64)
                .unwrap_or(self.cfg.fee_floor);
        let want = FeeRate::from_wat_per_kvb(old_rate.wat_per_kvb().saturating_mul(3) / 2);
        let rate = self.fee_rate().await.max(want).min(self.cfg.fee_ceiling);
        let extra = self.db(|l| l.spendable_coins()).await?;
        let extra: Vec<WalletCoin> = extra
            .iter()
            .filter(|c| c.keychain.is_hot() && c.height.is_some())
            .map(|c| self.wallet_coin(c, &hot_watch))
            .collect();
        let change_index = self.next_index(Keychain::HotInternal);
        let no_exclude = |_: &WalletCoin| false;
        let built = build_fee_bump(
            &extra,
            std::slice::from_ref(&hot_watch),
            &FeeBumpRequest {
                original: &orig,
                original_coins: &orig_coins,
                change_vout,
                change: WalletDestination::change(&hot_watch, change_index),
                fee_rate: rate,
                tip_height: tip,
                settings: self.settings(),
                exclude: &no_exclude,
            },
        )
        .map_err(|e| format!("building the replacement: {e}"))?;
        let tx = self
            .hot
            .sign(&built.tx.psbt, &built.tx.inputs)
            .map_err(|e| format!("signing the replacement: {e}"))?;
        let change = self.our_outputs(&tx);
        let commit = PayoutCommit {
            kind: p.kind,
            withdrawal_ids: p.withdrawal_ids.clone(),
            txid: tx.compute_txid(),
            raw_tx: bitcoin::consensus::serialize(&tx),
            inputs: built.tx.inputs.iter().map(|c| c.outpoint).collect(),
            change: change.clone(),
            fee_wat: built.tx.summary.fee.to_wat(),
        };
        let old = p.txid;
        let c2 = commit.clone();
        let effects = self
            .db(move |l| l.replace_payout(&old, &c2))
            .await
            .map_err(|e| format!("committing the replacement: {e}"))?;
        self.note_committed(&change);
        Metrics::inc(&self.metrics.fee_bumps);
        lock(&self.rt).first_seen.insert(commit.txid, tip);
        tracing::info!(old = %old, new = %commit.txid, "fee bump committed");
        self.perform(effects).await;
        Ok(())
    }

    // ---------------------------------------------------------------- float

    async fn float_status(&self) -> Result<FloatStatus, EngineError> {
        let b = self.db(|l| l.balances()).await.map_err(EngineError::Busy)?;
        let f = &self.cfg.float;
        // What stays hot once the live payouts confirm: confirmed coins and the change our
        // own payouts bring back, minus the coins those payouts spend. (Confirmed minus
        // reserved alone would hide a large reserved coin's change for a block, and the hot
        // balance could exceed the cap by more than one block's deposits.)
        let hot = b
            .hot_confirmed_wat
            .saturating_add(b.hot_change_unconfirmed_wat)
            .saturating_sub(b.hot_reserved_wat);
        let cap = f.effective_cap_wat(hot, b.cold_confirmed_wat);
        Ok(FloatStatus {
            hot_confirmed_wat: b.hot_confirmed_wat,
            hot_unconfirmed_wat: b.hot_unconfirmed_wat,
            hot_reserved_wat: b.hot_reserved_wat,
            hot_dust_wat: b.hot_dust_wat,
            cold_confirmed_wat: b.cold_confirmed_wat,
            queued_wat: b.queued_wat,
            in_flight_wat: b.in_flight_wat,
            hot_wat: hot,
            effective_cap_wat: cap,
            hot_target_wat: f.hot_target_wat,
            hot_low_wat: f.hot_low_wat,
            above_cap: hot > cap,
            below_low: hot < f.hot_low_wat,
        })
    }

    /// Sweeps above the cap and proposes a top-up below `hot_low`. `Ok(false)`: a sweep was
    /// due and failed (logged); the caller tries again soon.
    async fn float(&self) -> Res<bool> {
        let mut settled = true;
        let fs = self.float_status().await.map_err(|e| e.to_string())?;
        if self.cfg.auto_sweep {
            if let Some(amount) = self
                .cfg
                .float
                .sweep_amount_wat(fs.hot_wat, fs.cold_confirmed_wat)
            {
                let live = self
                    .db(|l| l.payouts_in_states(&[PayoutState::Signed, PayoutState::Broadcast]))
                    .await?;
                if !live.iter().any(|p| p.kind == PayoutKind::Sweep) {
                    if let Err(e) = self.sweep(amount).await {
                        self.note_error(format!("sweep: {e}"));
                        settled = false;
                    }
                }
            }
        }
        if let Err(e) = self.cancel_stale_cold_proposal().await {
            self.note_error(format!("checking the open cold proposal: {e}"));
        }
        if self.cfg.auto_topup && fs.below_low {
            let open = self.db(|l| l.open_topup_proposal()).await?;
            if open.is_none() {
                if let Err(e) = self.propose_topup(None).await {
                    tracing::warn!(error = %e, "automatic top-up proposal failed");
                }
            }
        }
        Ok(settled)
    }

    async fn sweep(&self, amount_wat: u64) -> Res<()> {
        let tip = self.tip_height().await?;
        let coins = self.db(|l| l.spendable_coins()).await?;
        let hot_watch = self.hot.watch_only().clone();
        let coins: Vec<WalletCoin> = coins
            .iter()
            .filter(|c| c.keychain.is_hot())
            .map(|c| self.wallet_coin(c, &hot_watch))
            .collect();
        let fee_rate = self.fee_rate().await;
        let dest = self.next_index(Keychain::ColdExternal);
        let change_index = self.next_index(Keychain::HotInternal);
        let no_exclude = |_: &WalletCoin| false;
        let built = build_sweep(
            &coins,
            std::slice::from_ref(&hot_watch),
            &TransferRequest {
                destination: WalletDestination::receive(&self.cold, dest),
                amount: Amount::from_wat_const(amount_wat),
                fee_rate,
                change: WalletDestination::change(&hot_watch, change_index),
                tip_height: tip,
                settings: self.settings(),
                exclude: &no_exclude,
            },
        )
        .map_err(|e| format!("building the sweep: {e}"))?;
        let tx = self
            .hot
            .sign(&built.psbt, &built.inputs)
            .map_err(|e| format!("signing the sweep: {e}"))?;
        let change = self.our_outputs(&tx);
        let commit = PayoutCommit {
            kind: PayoutKind::Sweep,
            withdrawal_ids: Vec::new(),
            txid: tx.compute_txid(),
            raw_tx: bitcoin::consensus::serialize(&tx),
            inputs: built.inputs.iter().map(|c| c.outpoint).collect(),
            change: change.clone(),
            fee_wat: built.summary.fee.to_wat(),
        };
        let c2 = commit.clone();
        let effects = self
            .db(move |l| l.commit_payout(&c2))
            .await
            .map_err(|e| format!("committing the sweep: {e}"))?;
        self.note_committed(&change);
        Metrics::inc(&self.metrics.sweeps);
        tracing::info!(txid = %commit.txid, amount_wat, "sweep to cold committed");
        self.perform(effects).await;
        Ok(())
    }

    /// Our confirmed, unreserved, non-dust cold coins, each with its full previous transaction
    /// (fetched with `getrawtransaction txid false blockhash`, no txindex needed).
    async fn cold_coins_with_prev(&self) -> Result<Vec<WalletCoin>, EngineError> {
        let busy = EngineError::Busy;
        let cold_ops: Vec<OutPoint> = {
            let w = lock(&self.wallet);
            w.index_cold_outpoints()
        };
        let records = self
            .db(move |l| {
                cold_ops
                    .iter()
                    .map(|op| l.coin(op))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(busy)?;
        let mut coins = Vec::new();
        for c in records.into_iter().flatten() {
            if c.keychain.is_hot() || c.spent_by.is_some() || c.reserved_by.is_some() || c.is_dust {
                continue;
            }
            let Some(height) = c.height else { continue };
            let hash = self
                .timed(self.node.get_block_hash(u64::from(height)))
                .await
                .map_err(|e| EngineError::Busy(format!("getblockhash: {e}")))?;
            let prev = match hash {
                Some(h) => self
                    .timed(self.node.get_raw_transaction(c.outpoint.txid, Some(h)))
                    .await
                    .map_err(|e| EngineError::Busy(format!("getrawtransaction: {e}")))?,
                None => None,
            };
            let Some(prev) = prev else { continue };
            let mut wc = self.wallet_coin(&c, &self.cold);
            wc.prev_tx = Some(Arc::new(prev));
            coins.push(wc);
        }
        Ok(coins)
    }

    /// Proposes for the oldest withdrawal above `max_payout` when no proposal is open (like
    /// the automatic top-up below `hot_low`); a failed build is retried once the tip moves.
    async fn auto_propose_cold(&self, id: &str) {
        let tip = lock(&self.rt).status.synced_tip.map_or(0, |t| t.height);
        if lock(&self.rt).cold_failed == Some((id.to_string(), tip)) {
            return;
        }
        match self.db(|l| l.open_topup_proposal()).await {
            Ok(None) => {}
            Ok(Some(_)) => return,
            Err(e) => {
                self.note_error(format!("reading the open proposal: {e}"));
                return;
            }
        }
        match self.propose_cold_withdrawal(id).await {
            Ok(Intake::Created(p)) => {
                tracing::info!(proposal = %p.id, withdrawal = id, "cold withdrawal proposed automatically; waiting for the cold signature");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(withdrawal = id, error = %e, "automatic cold withdrawal proposal failed");
                lock(&self.rt).cold_failed = Some((id.to_string(), tip));
            }
        }
    }

    /// Cancels the open proposal of a withdrawal that is no longer `requested` (rejected, or
    /// paid hot after `max_payout` was raised): it can never be submitted (the ledger refuses
    /// it) and would block every other proposal, top-ups included.
    async fn cancel_stale_cold_proposal(&self) -> Res<()> {
        let Some(open) = self.db(|l| l.open_topup_proposal()).await? else {
            return Ok(());
        };
        let Some(wid) = open.withdrawal_id.clone() else {
            return Ok(());
        };
        let w2 = wid.clone();
        let state = self.db(move |l| l.withdrawal(&w2)).await?.map(|w| w.state);
        if state == Some(PayoutState::Requested) {
            return Ok(());
        }
        let reason = match state {
            Some(s) => format!("withdrawal {wid} is {s}, no longer requested"),
            None => format!("withdrawal {wid} is unknown"),
        };
        let (id, r) = (open.id.clone(), reason.clone());
        self.db(move |l| l.close_topup(&id, &mona_ledger::TopUpClose::Cancelled { reason: r }))
            .await?;
        tracing::warn!(proposal = %open.id, reason = %reason, "stale cold withdrawal proposal cancelled");
        Ok(())
    }

    /// Runs a ledger call off the runtime, keeping its typed error.
    async fn ledger<T: Send + 'static, E: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Ledger) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, EngineError> {
        let l = Arc::clone(&self.ledger);
        tokio::task::spawn_blocking(move || f(l.as_ref()))
            .await
            .map_err(|e| EngineError::Busy(format!("ledger task failed: {e}")))
    }

    /// Ids of the withdrawals any cold proposal (open, cancelled or submitted) has named.
    async fn withdrawals_with_proposals(&self) -> Res<HashSet<String>> {
        let proposals = self.db(|l| l.topup_proposals(usize::MAX)).await?;
        Ok(proposals
            .into_iter()
            .filter_map(|p| p.withdrawal_id)
            .collect())
    }

    /// The inputs a new proposal for withdrawal `id` must choose from so that it conflicts
    /// with every earlier (cancelled) proposal for it: a signed copy of a cancelled proposal
    /// may still be broadcast by whoever holds it, and both must never confirm. Each new
    /// proposal spends only inputs of the latest earlier one, so the input sets nest and any
    /// two proposals share an input. Returns whether any proposal ever named `id`, and the
    /// inputs (`None`: no earlier proposal can still confirm).
    async fn inputs_to_conflict_with(
        &self,
        id: &str,
    ) -> Result<(bool, Option<HashSet<OutPoint>>), EngineError> {
        let busy = EngineError::Busy;
        let proposals = self
            .db(|l| l.topup_proposals(usize::MAX))
            .await
            .map_err(busy)?;
        let Some(latest) = proposals
            .iter()
            .rev()
            .find(|p| p.withdrawal_id.as_deref() == Some(id))
        else {
            return Ok((false, None));
        };
        let psbt = Psbt::deserialize(&latest.psbt).map_err(|e| {
            EngineError::Busy(format!(
                "stored proposal {} does not decode: {e}",
                latest.id
            ))
        })?;
        let inputs: Vec<OutPoint> = psbt
            .unsigned_tx
            .input
            .iter()
            .map(|i| i.previous_output)
            .collect();
        let ins = inputs.clone();
        let coins = self
            .db(move |l| {
                ins.iter()
                    .map(|op| l.coin(op))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(busy)?;
        // Spent in the chain by another transaction: that proposal can never confirm.
        if coins
            .iter()
            .any(|c| c.as_ref().is_some_and(|c| c.spent_by.is_some()))
        {
            return Ok((true, None));
        }
        Ok((true, Some(inputs.into_iter().collect())))
    }

    /// The open proposal paying withdrawal `id` from cold coins: the one already open for it,
    /// or a new one (built, its derivation indices persisted, stored with `open_topup`).
    async fn propose_cold_withdrawal(
        &self,
        id: &str,
    ) -> Result<Intake<TopUpProposal>, EngineError> {
        let busy = EngineError::Busy;
        let id2 = id.to_string();
        let w = self
            .db(move |l| l.withdrawal(&id2))
            .await
            .map_err(busy)?
            .ok_or_else(|| EngineError::Refused(format!("unknown withdrawal {id:?}")))?;
        if w.state != PayoutState::Requested {
            return Err(EngineError::Conflict(format!(
                "withdrawal {id:?} is {}, not requested",
                w.state
            )));
        }
        let (had_proposal, conflict_with) = self.inputs_to_conflict_with(id).await?;
        if w.amount_wat <= self.cfg.float.max_payout_wat && !had_proposal {
            return Err(EngineError::Refused(format!(
                "withdrawal {id:?} is not above max_payout: the hot wallet pays it"
            )));
        }
        if let Some(open) = self.db(|l| l.open_topup_proposal()).await.map_err(busy)? {
            if open.withdrawal_id.as_deref() == Some(id) {
                return Ok(Intake::Replay(open));
            }
            return Err(EngineError::Conflict(format!(
                "proposal {:?} ({}) is already open; submit or cancel it first",
                open.id,
                open.purpose()
            )));
        }
        let mut coins = self.cold_coins_with_prev().await?;
        if let Some(allowed) = &conflict_with {
            coins.retain(|c| allowed.contains(&c.outpoint));
            if coins.is_empty() {
                return Err(EngineError::Refused(format!(
                    "withdrawal {id:?}: a new proposal must spend an input of its cancelled \
                     proposal (a signed copy may exist), and none of those coins is spendable now"
                )));
            }
        }
        let tip = self.tip_height().await.map_err(EngineError::Busy)?;
        let fee_rate = self.fee_rate().await;
        let cold_change = self.next_index(Keychain::ColdInternal);
        let no_exclude = |_: &WalletCoin| false;
        let built = build_payout(
            &coins,
            std::slice::from_ref(&self.cold),
            &PayoutRequest {
                payments: &[Payment {
                    script_pubkey: w.destination.script_pubkey.clone(),
                    amount: Amount::from_wat_const(w.amount_wat),
                }],
                fee_rate,
                change: WalletDestination::change(&self.cold, cold_change),
                tip_height: tip,
                settings: self.settings(),
                exclude: &no_exclude,
            },
        )
        .map_err(|e| EngineError::Refused(format!("cannot build the cold payout: {e}")))?;
        self.claim_indices(&[(Keychain::ColdInternal, cold_change)])?;
        let unsigned_txid = built.psbt.unsigned_tx.compute_txid();
        let proposal = TopUpProposal {
            id: format!("topup-{}", &unsigned_txid.to_string()[..16]),
            withdrawal_id: Some(id.to_string()),
            psbt: built.psbt.serialize(),
            unsigned_txid,
            amount_wat: w.amount_wat,
            state: TopUpState::Open,
            close_note: None,
        };
        let p2 = proposal.clone();
        match self.ledger(move |l| l.open_topup(&p2)).await? {
            Ok(Intake::Created(p)) => {
                tracing::info!(id = %p.id, withdrawal = id, amount_wat = w.amount_wat, "cold withdrawal proposed");
                Ok(Intake::Created(p))
            }
            Ok(Intake::Replay(p)) => Ok(Intake::Replay(p)),
            Ok(Intake::Conflict(p)) => Err(EngineError::Conflict(format!(
                "proposal {:?} exists with another body",
                p.id
            ))),
            Err(
                e @ (FloatError::TopUpAlreadyOpen(_) | FloatError::WithdrawalNotRequested { .. }),
            ) => Err(EngineError::Conflict(e.to_string())),
            Err(e @ (FloatError::Invalid(_) | FloatError::UnknownWithdrawal(_))) => {
                Err(EngineError::Refused(e.to_string()))
            }
            Err(e) => Err(EngineError::Busy(e.to_string())),
        }
    }

    /// Persists the derivation indices a PSBT names (state file, fsync'd) and marks them used,
    /// before the PSBT leaves the engine, so a restart never hands them out again.
    fn claim_indices(&self, claims: &[(Keychain, u32)]) -> Result<(), EngineError> {
        let mut w = lock(&self.wallet);
        for &(keychain, index) in claims {
            w.state
                .raise(keychain, index + 1)
                .map_err(|e| EngineError::Busy(e.to_string()))?;
        }
        for &(keychain, index) in claims {
            w.tracker.mark_used(keychain, index);
        }
        Ok(())
    }

    async fn propose_topup(&self, amount_wat: Option<u64>) -> Result<TopUpProposal, EngineError> {
        let busy = EngineError::Busy;
        if let Some(open) = self.db(|l| l.open_topup_proposal()).await.map_err(busy)? {
            return Err(EngineError::Conflict(format!(
                "top-up proposal {:?} is already open",
                open.id
            )));
        }
        let fs = self.float_status().await?;
        let amount_wat = match amount_wat {
            Some(a) => a,
            None => fs.hot_target_wat.saturating_sub(fs.hot_wat),
        };
        if amount_wat == 0 {
            return Err(EngineError::Refused(
                "hot balance is at or above hot_target: nothing to top up".into(),
            ));
        }
        let coins = self.cold_coins_with_prev().await?;
        let tip = self.tip_height().await.map_err(busy)?;
        let fee_rate = self.fee_rate().await;
        let hot_index = self.next_index(Keychain::HotExternal);
        let cold_change = self.next_index(Keychain::ColdInternal);
        let hot_watch = self.hot.watch_only().clone();
        let no_exclude = |_: &WalletCoin| false;
        let built = build_topup(
            &coins,
            std::slice::from_ref(&self.cold),
            &TransferRequest {
                destination: WalletDestination::receive(&hot_watch, hot_index),
                amount: Amount::from_wat_const(amount_wat),
                fee_rate,
                change: WalletDestination::change(&self.cold, cold_change),
                tip_height: tip,
                settings: self.settings(),
                exclude: &no_exclude,
            },
        )
        .map_err(|e| EngineError::Refused(format!("cannot build the top-up: {e}")))?;
        self.claim_indices(&[
            (Keychain::HotExternal, hot_index),
            (Keychain::ColdInternal, cold_change),
        ])?;
        let unsigned_txid = built.psbt.unsigned_tx.compute_txid();
        let proposal = TopUpProposal {
            id: format!("topup-{}", &unsigned_txid.to_string()[..16]),
            withdrawal_id: None,
            psbt: built.psbt.serialize(),
            unsigned_txid,
            amount_wat,
            state: TopUpState::Open,
            close_note: None,
        };
        let p2 = proposal.clone();
        let r = self.db(move |l| l.open_topup(&p2)).await;
        match r {
            Ok(Intake::Created(p) | Intake::Replay(p)) => {
                tracing::info!(id = %p.id, amount_wat, "top-up proposed");
                Ok(p)
            }
            Ok(Intake::Conflict(p)) => Err(EngineError::Conflict(format!(
                "top-up proposal {:?} exists with another body",
                p.id
            ))),
            Err(e) if e.contains("already open") => Err(EngineError::Conflict(e)),
            Err(e) => Err(EngineError::Busy(e)),
        }
    }

    async fn submit_topup(&self, id: &str, bytes: &[u8]) -> Result<Txid, EngineError> {
        let busy = EngineError::Busy;
        let id2 = id.to_string();
        let proposal = self
            .db(move |l| l.topup(&id2))
            .await
            .map_err(busy)?
            .ok_or_else(|| EngineError::Refused(format!("unknown top-up proposal {id:?}")))?;
        if proposal.state != TopUpState::Open {
            return Err(EngineError::Conflict(format!(
                "top-up proposal {id:?} is {}, not open",
                proposal.state.as_str()
            )));
        }
        let psbt = Psbt::deserialize(bytes)
            .map_err(|e| EngineError::Refused(format!("malformed PSBT: {e}")))?;
        let got = psbt.unsigned_tx.compute_txid();
        if got != proposal.unsigned_txid {
            return Err(EngineError::Refused(format!(
                "the signed PSBT's transaction {got} is not the proposed {}",
                proposal.unsigned_txid
            )));
        }
        let tx = keys::finalize_cold(&psbt).map_err(|e| EngineError::Refused(e.to_string()))?;
        let inputs: Vec<OutPoint> = tx.input.iter().map(|i| i.previous_output).collect();
        let ins = inputs.clone();
        let records = self
            .db(move |l| {
                ins.iter()
                    .map(|op| l.coin(op))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(busy)?;
        let mut spent = Vec::new();
        let mut in_total = 0u64;
        for (op, c) in inputs.iter().zip(records) {
            let c =
                c.ok_or_else(|| EngineError::Refused(format!("input {op} is not a known coin")))?;
            in_total += c.value_wat;
            spent.push((
                *op,
                TxOut {
                    value: BtcAmount::from_sat(c.value_wat),
                    script_pubkey: c.script_pubkey.clone(),
                },
            ));
        }
        keys::verify(&tx, &spent).map_err(|e| EngineError::Refused(e.to_string()))?;
        let out_total: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        let change = self.our_outputs(&tx);
        let commit = PayoutCommit {
            kind: proposal.payout_kind(),
            withdrawal_ids: proposal.withdrawal_id.iter().cloned().collect(),
            txid: tx.compute_txid(),
            raw_tx: bitcoin::consensus::serialize(&tx),
            inputs,
            change: change.clone(),
            fee_wat: in_total.saturating_sub(out_total),
        };
        let (c2, id2) = (commit.clone(), id.to_string());
        // Commit and close in ONE ledger transaction: no crash leaves an open proposal whose
        // payout is committed.
        let effects = match self.ledger(move |l| l.submit_proposal(&id2, &c2)).await? {
            Ok(e) => e,
            Err(CommitError::Frozen { reason }) => return Err(EngineError::Frozen(reason)),
            Err(e @ CommitError::Store(_)) => return Err(EngineError::Busy(e.to_string())),
            Err(
                e @ (CommitError::ProposalNotOpen { .. }
                | CommitError::WithdrawalNotPayable { .. }
                | CommitError::CoinReserved { .. }
                | CommitError::AlreadyCommitted(_)),
            ) => return Err(EngineError::Conflict(e.to_string())),
            Err(e) => return Err(EngineError::Refused(e.to_string())),
        };
        self.note_committed(&change);
        let txid = commit.txid;
        tracing::info!(%txid, id, purpose = proposal.purpose(), "cold-signed proposal committed");
        self.perform(effects).await;
        Ok(txid)
    }
}

impl WalletState {
    fn index_cold_outpoints(&self) -> Vec<OutPoint> {
        self.index.outpoints_where(|c| !c.keychain.is_hot())
    }
}

/// Maps the node layer's classification to the ledger's send outcome. Only a node verdict on
/// the bytes themselves is `Invalid`; everything without a verdict is `Transient`.
pub fn to_send_outcome(o: &BroadcastOutcome) -> SendOutcome {
    match o {
        BroadcastOutcome::Accepted { .. } => SendOutcome::Accepted,
        BroadcastOutcome::AlreadyKnown { .. } => SendOutcome::AlreadyKnown,
        BroadcastOutcome::ConflictOrMissingInputs { kind, message } => match kind {
            mona_node::ConflictKind::MissingOrSpent => SendOutcome::MissingInputs {
                detail: message.clone(),
            },
            _ => SendOutcome::Conflict {
                detail: message.clone(),
            },
        },
        BroadcastOutcome::PermanentlyRejected { message, .. } => SendOutcome::Invalid {
            reason: message.clone(),
        },
        BroadcastOutcome::RetryLater { message, .. } => SendOutcome::Transient {
            reason: message.clone(),
        },
        BroadcastOutcome::Transient { error, .. } => SendOutcome::Transient {
            reason: error.to_string(),
        },
        BroadcastOutcome::Configuration { error } => SendOutcome::Transient {
            reason: format!("node configuration: {error}"),
        },
        _ => SendOutcome::Transient {
            reason: "unclassified answer".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_all_runs_concurrently_and_keeps_order() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        // The first future can only finish after the second ran: sequential would deadlock.
        let first: std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>> =
            Box::pin(async move { rx.await.unwrap() + 1 });
        let second: std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>> =
            Box::pin(async move {
                tx.send(41).unwrap();
                7
            });
        assert_eq!(join_all(vec![first, second]).await, vec![42, 7]);
    }

    #[test]
    fn send_outcome_mapping_never_turns_silence_into_failure() {
        let transient = BroadcastOutcome::from_error(RpcError::Timeout {
            method: "sendrawtransaction".into(),
            timeout_ms: 1,
            delivery: mona_node::Delivery::Unknown,
        });
        assert_eq!(to_send_outcome(&transient).kind(), "transient");
    }
}
