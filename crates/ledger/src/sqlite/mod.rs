//! The durable SQLite store, with group commit.
//!
//! Durability: WAL journal, `synchronous=FULL` (every commit is fsynced before any caller is
//! answered), foreign keys on, `STRICT` tables, versioned migrations ([`schema`]).
//!
//! Concurrency: ONE writer thread owns the write connection. Callers send jobs over a bounded
//! channel; the writer drains up to `max_batch` waiting jobs, runs each inside its own
//! `SAVEPOINT` of one `BEGIN IMMEDIATE` transaction (a failing job rolls back only its
//! savepoint), commits once, and only then answers every caller. So each operation is atomic
//! and durable when it returns, and many intakes share one fsync. Reads use a pool of separate
//! read-only connections (WAL readers never block the writer).
//!
//! Back-pressure: intake (withdrawal requests, voucher creation and redemption) never waits
//! for room in the queue: when it is full the call fails at once with [`StoreError::Busy`]
//! (HTTP 503 with `Retry-After`), having queued nothing. The engine's own writes (blocks,
//! payout commits, send outcomes) wait for room instead: they are few and must not be lost.
//!
//! Module invariant: no caller is ever answered `Ok` before the transaction holding its change
//! has committed; if the commit fails every job of the batch gets the error and nothing of the
//! batch is stored. Idempotency, reservation and one-open-top-up rules are enforced by UNIQUE
//! constraints, payout bytes and the audit log by triggers, on top of the code's checks.

mod ops;
mod read;
pub(crate) mod schema;

use crate::audit::{AuditError, AuditReport};
use crate::machine::{Effect, PayoutState, SendOutcome};
use crate::model::*;
use crate::store::*;
use bitcoin::{BlockHash, OutPoint, Txid};
use rusqlite::{Connection, OpenFlags};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Tuning knobs of [`SqliteLedger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Most jobs committed in one transaction (group commit).
    pub max_batch: usize,
    /// Jobs that may wait for the writer; beyond it intake fails fast with
    /// [`StoreError::Busy`] and the engine's writes block (back-pressure).
    pub queue_depth: usize,
    /// How long a connection waits for a lock held by another process, in milliseconds.
    pub busy_timeout_ms: u64,
    /// Read connections kept open for reuse.
    pub max_idle_readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            max_batch: 512,
            queue_depth: 8192,
            busy_timeout_ms: 10_000,
            max_idle_readers: 16,
        }
    }
}

type Reply = Box<dyn FnOnce(Option<StoreError>) + Send>;
/// A queued write: `run` executes it inside a savepoint and returns (ok, reply-after-commit);
/// `fail` answers the caller when the job cannot run at all.
type Run = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;
struct Job {
    run: Run,
    fail: Reply,
}

struct Inner {
    sender: Mutex<Option<SyncSender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
    opts: SqliteOptions,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish the jobs already queued, then exit.
        if let Ok(mut s) = self.sender.lock() {
            s.take();
        }
        if let Ok(mut w) = self.writer.lock() {
            if let Some(h) = w.take() {
                let _ = h.join();
            }
        }
    }
}

/// The durable ledger store. Cheap to clone (shared handle); `Send + Sync`.
#[derive(Clone)]
pub struct SqliteLedger {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// An answer that will arrive once the writer has committed (oneshot style).
///
/// From tokio: `tokio::task::spawn_blocking(move || pending.wait())`, or poll
/// [`Pending::try_wait`].
#[must_use = "the operation's outcome is only known by waiting"]
pub struct Pending<T, E> {
    rx: Receiver<Result<T, E>>,
}

impl<T, E: From<StoreError>> Pending<T, E> {
    /// Blocks until the answer (after the durable commit).
    pub fn wait(self) -> Result<T, E> {
        self.rx
            .recv()
            .unwrap_or_else(|_| Err(StoreError::Closed.into()))
    }

    /// The answer if it is there already.
    pub fn try_wait(&self) -> Option<Result<T, E>> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(std::sync::mpsc::TryRecvError::Empty) => None,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                Some(Err(StoreError::Closed.into()))
            }
        }
    }
}

pub(crate) trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for Result<T, rusqlite::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend(e.to_string()))
    }
}

fn configure(conn: &Connection, opts: &SqliteOptions, writer: bool) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_millis(opts.busy_timeout_ms))
        .db()?;
    if writer {
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .db()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "could not enable WAL (journal_mode={mode})"
            )));
        }
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .db()?;
    if !writer {
        conn.execute_batch("PRAGMA query_only=ON;").db()?;
    }
    Ok(())
}

impl SqliteLedger {
    /// Opens (creating and migrating if needed) the ledger database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteLedger, StoreError> {
        SqliteLedger::open_with(path, SqliteOptions::default())
    }

    /// Like [`SqliteLedger::open`], with tuning knobs.
    pub fn open_with(
        path: impl AsRef<Path>,
        opts: SqliteOptions,
    ) -> Result<SqliteLedger, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path).db()?;
        configure(&conn, &opts, true)?;
        schema::migrate(&mut conn)?;
        let (tx, rx) = sync_channel::<Job>(opts.queue_depth.max(1));
        let max_batch = opts.max_batch.max(1);
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch))
            .map_err(|e| StoreError::Backend(format!("cannot start writer thread: {e}")))?;
        Ok(SqliteLedger {
            inner: Arc::new(Inner {
                sender: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(handle)),
                readers: Mutex::new(Vec::new()),
                path,
                opts,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.read(|c| {
            c.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
                .db()
        })
    }

    /// Queues a write job if the queue has room; when it is full, answers
    /// [`StoreError::Busy`] at once and queues nothing (intake: never an unbounded wait).
    fn try_submit<T, E, F>(&self, f: F) -> Pending<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        self.enqueue(f, false)
    }

    /// Test hook: occupies the writer thread until the returned guard is dropped (returns once
    /// the writer is inside the holding job), so a test can fill the queue deterministically.
    #[doc(hidden)]
    pub fn hold_writer_for_tests(&self) -> WriterHold {
        let (started_tx, started_rx) = sync_channel::<()>(1);
        let (release_tx, release_rx) = sync_channel::<()>(0);
        let pending = self.submit(move |_c| {
            let _ = started_tx.send(());
            let _ = release_rx.recv();
            Ok::<(), StoreError>(())
        });
        let _ = started_rx.recv();
        WriterHold {
            release: Some(release_tx),
            pending: Some(pending),
        }
    }

    /// Queues a write job; the answer arrives after the batch holding it has committed.
    /// When the queue is full it waits for room (back-pressure on the engine's own writes).
    fn submit<T, E, F>(&self, f: F) -> Pending<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        self.enqueue(f, true)
    }

    /// Queues `f` on the bounded write queue. Full queue: wait for room (`wait_when_full`) or
    /// answer [`StoreError::Busy`] without queueing.
    fn enqueue<T, E, F>(&self, f: F, wait_when_full: bool) -> Pending<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (job, pending) = make_job(f);
        let sender = self.inner.sender.lock().ok().and_then(|s| s.clone());
        if let Some(s) = sender {
            match s.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(job)) if wait_when_full => {
                    let _ = s.send(job);
                }
                Err(TrySendError::Full(_)) => {
                    return ready(Err(StoreError::Busy {
                        queue_depth: self.inner.opts.queue_depth.max(1),
                    }
                    .into()))
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
        // If the job was not queued, its reply channel is dropped with it and `wait` reports
        // `Closed`.
        pending
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = match self.inner.readers.lock().ok().and_then(|mut p| p.pop()) {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.inner.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )
                .db()?;
                configure(&c, &self.inner.opts, false)?;
                c
            }
        };
        // One read transaction so multi-statement reads see one snapshot.
        let out = (|| {
            conn.execute_batch("BEGIN DEFERRED").db()?;
            let r = f(&conn);
            let _ = conn.execute_batch("COMMIT");
            r
        })();
        if let Ok(mut p) = self.inner.readers.lock() {
            if p.len() < self.inner.opts.max_idle_readers {
                p.push(conn);
            }
        }
        out
    }

    /// [`Ledger::request_withdrawal`] without waiting: the answer arrives after the commit.
    pub fn request_withdrawal_pending(
        &self,
        req: &WithdrawalRequest,
    ) -> Pending<Intake<Withdrawal>, IntakeError> {
        if let Err(e) = req.validate() {
            return ready(Err(e.into()));
        }
        let req = req.clone();
        self.try_submit(move |c| ops::request_withdrawal(c, &req))
    }

    /// [`Ledger::redeem_voucher`] without waiting: the answer arrives after the commit.
    pub fn redeem_voucher_pending(
        &self,
        code_hash: &CodeHash,
        destination: &Destination,
    ) -> Pending<Redemption, IntakeError> {
        if let Err(e) = destination.validate() {
            return ready(Err(e.into()));
        }
        let (h, d) = (*code_hash, destination.clone());
        self.try_submit(move |c| ops::redeem_voucher(c, &h, &d))
    }

    /// Creates (or brings) the database at `path` to schema version `version` only, without
    /// opening a store. Tests only: it builds the databases that older releases left behind,
    /// to prove that [`SqliteLedger::open`] migrates them.
    #[doc(hidden)]
    pub fn create_at_schema_version_for_tests(
        path: impl AsRef<Path>,
        version: u32,
    ) -> Result<u32, StoreError> {
        let mut conn = Connection::open(path.as_ref()).db()?;
        configure(&conn, &SqliteOptions::default(), true)?;
        schema::migrate_to(&mut conn, version)
    }

    /// Runs arbitrary SQL on the write connection, outside the ledger's rules. Tests only
    /// (tamper simulation); never call it in production code.
    #[doc(hidden)]
    pub fn raw_sql_for_tests(&self, sql: &str) -> Result<(), StoreError> {
        let sql = sql.to_owned();
        self.submit(move |c| c.execute_batch(&sql).db()).wait()
    }
}

/// Holds the writer thread busy (see [`SqliteLedger::hold_writer_for_tests`]); dropping it
/// lets the writer go on and waits for the holding job's commit.
#[doc(hidden)]
pub struct WriterHold {
    release: Option<SyncSender<()>>,
    pending: Option<Pending<(), StoreError>>,
}

impl Drop for WriterHold {
    fn drop(&mut self) {
        self.release.take();
        if let Some(p) = self.pending.take() {
            let _ = p.wait();
        }
    }
}

/// A job for `f` and the [`Pending`] its caller waits on.
fn make_job<T, E, F>(f: F) -> (Job, Pending<T, E>)
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
{
    let (tx, rx) = sync_channel::<Result<T, E>>(1);
    let fail_tx = tx.clone();
    let fail: Reply = Box::new(move |e| {
        let _ = fail_tx.send(Err(e.unwrap_or(StoreError::Closed).into()));
    });
    let run = Box::new(move |conn: &Connection| {
        let result = f(conn);
        let ok = result.is_ok();
        let reply: Reply = Box::new(move |commit_err| {
            let r = match commit_err {
                None => result,
                Some(e) => Err(e.into()),
            };
            let _ = tx.send(r);
        });
        (ok, reply)
    });
    (Job { run, fail }, Pending { rx })
}

fn ready<T, E>(r: Result<T, E>) -> Pending<T, E> {
    let (tx, rx) = sync_channel(1);
    let _ = tx.send(r);
    Pending { rx }
}

fn writer_loop(conn: Connection, rx: Receiver<Job>, max_batch: usize) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        run_batch(&conn, batch);
    }
}

fn run_batch(conn: &Connection, batch: Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE").db() {
        for job in batch {
            (job.fail)(Some(e.clone()));
        }
        return;
    }
    let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
    let mut broken: Option<StoreError> = None;
    for job in batch {
        if let Some(e) = &broken {
            (job.fail)(Some(e.clone()));
            continue;
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT job").db() {
            (job.fail)(Some(e.clone()));
            broken = Some(e);
            continue;
        }
        let Job { run, fail } = job;
        let (ok, reply) = match std::panic::catch_unwind(AssertUnwindSafe(|| run(conn))) {
            Ok((ok, reply)) => (ok, reply),
            // A job panicked (a bug): undo its savepoint and tell its caller.
            Err(_) => (
                false,
                Box::new(move |_| fail(Some(StoreError::Corrupt("ledger job panicked".into()))))
                    as Reply,
            ),
        };
        let sql = if ok {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(e) = conn.execute_batch(sql).db() {
            broken = Some(e);
        }
        replies.push(reply);
    }
    let commit_err = match broken {
        Some(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Some(e)
        }
        None => match conn.execute_batch("COMMIT").db() {
            Ok(()) => None,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Some(e)
            }
        },
    };
    for r in replies {
        r(commit_err.clone());
    }
}

impl Ledger for SqliteLedger {
    fn request_withdrawal(
        &self,
        req: &WithdrawalRequest,
    ) -> Result<Intake<Withdrawal>, IntakeError> {
        self.request_withdrawal_pending(req).wait()
    }

    fn create_voucher(&self, voucher: &NewVoucher) -> Result<Intake<Voucher>, IntakeError> {
        voucher.validate()?;
        let v = voucher.clone();
        self.try_submit(move |c| ops::create_voucher(c, &v)).wait()
    }

    fn redeem_voucher(
        &self,
        code_hash: &CodeHash,
        destination: &Destination,
    ) -> Result<Redemption, IntakeError> {
        self.redeem_voucher_pending(code_hash, destination).wait()
    }

    fn reject_withdrawal(&self, id: &str, reason: &str) -> Result<Withdrawal, PayoutOpError> {
        crate::memory::validate_withdrawal_id(id)?;
        validate_reason(reason)?;
        let (id, reason) = (id.to_owned(), reason.to_owned());
        self.submit(move |c| ops::reject_withdrawal(c, &id, &reason))
            .wait()
    }

    fn commit_payout(&self, commit: &PayoutCommit) -> Result<Vec<Effect>, CommitError> {
        let tx = check_commit_shape(commit)?;
        let c = commit.clone();
        self.submit(move |conn| ops::commit_payout(conn, &c, &tx, None))
            .wait()
    }

    fn record_send_attempt(
        &self,
        txid: &Txid,
        outcome: &SendOutcome,
    ) -> Result<Vec<Effect>, PayoutOpError> {
        let (t, o) = (*txid, outcome.clone());
        self.submit(move |c| {
            ops::payout_event(
                c,
                &t,
                &crate::machine::PayoutEvent::SendAttempted { outcome: o },
            )
        })
        .wait()
    }

    fn replace_payout(
        &self,
        old: &Txid,
        replacement: &PayoutCommit,
    ) -> Result<Vec<Effect>, CommitError> {
        let tx = check_commit_shape(replacement)?;
        let (o, c) = (*old, replacement.clone());
        self.submit(move |conn| ops::commit_payout(conn, &c, &tx, Some(o)))
            .wait()
    }

    fn mark_conflicting_spend(
        &self,
        txid: &Txid,
        spending_txid: Option<Txid>,
    ) -> Result<Vec<Effect>, PayoutOpError> {
        let t = *txid;
        self.submit(move |c| ops::mark_conflicting_spend(c, &t, spending_txid))
            .wait()
    }

    fn resend_stuck(&self, txid: &Txid) -> Result<Vec<Effect>, PayoutOpError> {
        let t = *txid;
        self.submit(move |c| ops::payout_event(c, &t, &crate::machine::PayoutEvent::OperatorResend))
            .wait()
    }

    fn block_connected(&self, update: &BlockUpdate) -> Result<Vec<Effect>, BlockError> {
        crate::memory::validate_block_update(update)?;
        let u = update.clone();
        self.submit(move |c| ops::block_connected(c, &u)).wait()
    }

    fn block_disconnected(&self, tip: &BlockRef) -> Result<Vec<Effect>, BlockError> {
        let t = *tip;
        self.submit(move |c| ops::block_disconnected(c, &t)).wait()
    }

    fn freeze(&self, reason: &str) -> Result<FreezeState, FloatError> {
        validate_reason(reason)?;
        let r = reason.to_owned();
        self.submit(move |c| ops::freeze(c, &r)).wait()
    }

    fn unfreeze(&self, reason: &str) -> Result<FreezeState, FloatError> {
        validate_reason(reason)?;
        let r = reason.to_owned();
        self.submit(move |c| ops::unfreeze(c, &r)).wait()
    }

    fn open_topup(&self, proposal: &TopUpProposal) -> Result<Intake<TopUpProposal>, FloatError> {
        crate::memory::validate_topup(proposal)?;
        let p = proposal.clone();
        self.submit(move |c| ops::open_topup(c, &p)).wait()
    }

    fn close_topup(&self, id: &str, close: &TopUpClose) -> Result<TopUpProposal, FloatError> {
        validate_id("top-up id", id)?;
        if let TopUpClose::Cancelled { reason } = close {
            validate_reason(reason)?;
        }
        let (id, close) = (id.to_owned(), close.clone());
        self.submit(move |c| ops::close_topup(c, &id, &close))
            .wait()
    }

    fn submit_proposal(&self, id: &str, commit: &PayoutCommit) -> Result<Vec<Effect>, CommitError> {
        validate_id("proposal id", id)?;
        let tx = check_commit_shape(commit)?;
        let (id, c) = (id.to_owned(), commit.clone());
        self.submit(move |conn| ops::submit_proposal(conn, &id, &c, &tx))
            .wait()
    }

    fn append_audit(&self, kind: &str, subject: &str, detail: &str) -> Result<u64, FloatError> {
        crate::memory::validate_audit_note(kind, subject, detail)?;
        let (k, s, d) = (kind.to_owned(), subject.to_owned(), detail.to_owned());
        self.submit(move |c| Ok(ops::audit(c, &k, &s, &d)?)).wait()
    }

    fn withdrawal(&self, id: &str) -> Result<Option<Withdrawal>, StoreError> {
        self.read(|c| read::withdrawal(c, id))
    }

    fn queued_withdrawals(&self, limit: usize) -> Result<Vec<Withdrawal>, StoreError> {
        self.read(|c| read::queued_withdrawals(c, limit))
    }

    fn voucher(&self, id: &str) -> Result<Option<Voucher>, StoreError> {
        self.read(|c| read::voucher(c, id))
    }

    fn payout(&self, txid: &Txid) -> Result<Option<PayoutTx>, StoreError> {
        self.read(|c| read::payout(c, txid))
    }

    fn payouts_in_states(&self, states: &[PayoutState]) -> Result<Vec<PayoutTx>, StoreError> {
        self.read(|c| read::payouts_in_states(c, states))
    }

    fn pending_effects(&self) -> Result<Vec<Effect>, StoreError> {
        let payouts = self.payouts_in_states(&[PayoutState::Signed, PayoutState::Broadcast])?;
        Ok(payouts
            .into_iter()
            .map(|p| Effect::Broadcast {
                txid: p.txid,
                raw_tx: p.raw_tx,
                attempt: p.send_attempts,
            })
            .collect())
    }

    fn coin(&self, outpoint: &OutPoint) -> Result<Option<Coin>, StoreError> {
        self.read(|c| read::coin(c, outpoint))
    }

    fn spendable_coins(&self) -> Result<Vec<Coin>, StoreError> {
        self.read(read::spendable_coins)
    }

    fn unspent_coins(&self) -> Result<Vec<Coin>, StoreError> {
        self.read(read::unspent_coins)
    }

    fn balances(&self) -> Result<Balances, StoreError> {
        self.read(read::balances)
    }

    fn freeze_state(&self) -> Result<FreezeState, StoreError> {
        self.read(read::freeze_state)
    }

    fn tip(&self) -> Result<Option<BlockRef>, StoreError> {
        self.read(read::tip)
    }

    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, StoreError> {
        self.read(|c| read::block_hash_at(c, height))
    }

    fn topup(&self, id: &str) -> Result<Option<TopUpProposal>, StoreError> {
        self.read(|c| read::topup(c, id))
    }

    fn open_topup_proposal(&self) -> Result<Option<TopUpProposal>, StoreError> {
        self.read(read::open_topup)
    }

    fn topup_proposals(&self, limit: usize) -> Result<Vec<TopUpProposal>, StoreError> {
        self.read(|c| read::topups(c, limit))
    }

    fn audit_entries(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(|c| read::audit_entries(c, from_seq, limit))
    }

    fn audit_head(&self) -> Result<AuditHead, StoreError> {
        self.read(read::audit_head)
    }

    fn verify_audit(&self) -> Result<AuditReport, AuditError> {
        self.read(|c| Ok(read::verify_audit(c)))
            .map_err(|e| AuditError::Read(e.to_string()))?
    }
}
