//! The daemon's outbox: the ledger's open cold proposal (a top-up below `hot_low`, or the
//! payment of a withdrawal above `max_payout`), written for treasury staff to carry across the
//! air gap as `<dir>/<id>.psbt` (binary BIP174), `<dir>/<id>-qr/` (animated `ur:crypto-psbt`
//! frames, GIF and manifest, exactly as `topup propose --qr-out` writes them) and
//! `<dir>/<id>.json` (a small description).
//!
//! Invariants:
//! - The outbox mirrors the ledger, never the other way round: [`Outbox::sync`] reads the open
//!   proposal and writes what is missing or different; files already there and identical are
//!   not touched; the files of a proposal that is no longer open (submitted or cancelled) are
//!   deleted so nobody signs a dead proposal (the ledger keeps its PSBT:
//!   `GET /v1/topups/{id}/psbt`). Files whose name is not a proposal the ledger knows are left
//!   alone.
//! - Every file is complete or absent: each is written to a temporary file, fsynced and
//!   renamed into place; the QR directory is written under a temporary name and renamed
//!   whole, so `<id>-qr/manifest.json` existing means the directory is complete.
//! - Files are created 0600 and directories 0700: a PSBT holds no key but shows the cold
//!   wallet's coins, amounts, fingerprint and derivation paths (the CLI's `--out` writes 0600
//!   too). A directory that already exists keeps its owner's modes.
//! - A failure (disk full, permissions) is an `Err` for the caller to log and count; it never
//!   touches the ledger or a payout.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mona::Amount;
use mona_airgap::{Density, Overwrite, Payload, QrSettings, WriteQrError, MANIFEST_FILE_NAME};
use mona_ledger::{Ledger, TopUpProposal, TopUpState};
use serde::Serialize;
use tokio::sync::Notify;

use crate::config::Config;
use crate::metrics::Metrics;

/// Audit kind of a proposal written to the outbox (subject: the proposal id).
pub const AUDIT_OUTBOX_WRITTEN: &str = "outbox.written";
/// Audit kind of a closed proposal's files removed from the outbox (subject: the proposal id).
pub const AUDIT_OUTBOX_REMOVED: &str = "outbox.removed";

/// Temporary files older than this are leftovers of a crash and are removed.
const STALE_TEMP_AGE: Duration = Duration::from_secs(600);

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Why the outbox could not be brought in line with the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The ledger could not be read.
    #[error("cannot read the ledger: {0}")]
    Ledger(String),
    /// A file or directory could not be written, read or removed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The QR frames could not be written.
    #[error("cannot write the qr frames of {id}: {message}")]
    Qr {
        /// The proposal.
        id: String,
        /// Why.
        message: String,
    },
    /// A proposal id that cannot name a file (never made by the engine).
    #[error("proposal id {0:?} cannot name a file in the outbox")]
    BadId(String),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> OutboxError + 'a {
    move |source| OutboxError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// What one [`Outbox::sync`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxSync {
    /// The open proposal, if any.
    pub open: Option<String>,
    /// Files and directories written (full paths).
    pub written: Vec<PathBuf>,
    /// Proposals whose files were removed (no longer open).
    pub removed: Vec<String>,
}

/// The `<id>.json` description written beside the PSBT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxSidecar {
    /// Proposal id.
    pub id: String,
    /// `topup` or `cold_withdrawal`.
    pub purpose: String,
    /// The withdrawal it pays (a cold withdrawal).
    pub withdrawal_id: Option<String>,
    /// Amount moved to hot, or paid to the withdrawal (decimal MONA).
    pub amount: Amount,
    /// Txid of the unsigned transaction (what `topup submit` checks the signed one against).
    pub unsigned_txid: String,
    /// The PSBT file name.
    pub psbt_file: String,
    /// The QR frames directory name.
    pub qr_dir: String,
}

impl OutboxSidecar {
    /// The description of `p`.
    pub fn of(p: &TopUpProposal) -> OutboxSidecar {
        OutboxSidecar {
            id: p.id.clone(),
            purpose: p.purpose().to_owned(),
            withdrawal_id: p.withdrawal_id.clone(),
            amount: Amount::from_wat(p.amount_wat).unwrap_or(Amount::MAX_MONEY),
            unsigned_txid: p.unsigned_txid.to_string(),
            psbt_file: psbt_name(&p.id),
            qr_dir: qr_name(&p.id),
        }
    }

    /// The file's bytes (pretty JSON and a newline: the same proposal, the same bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

fn psbt_name(id: &str) -> String {
    format!("{id}.psbt")
}
fn qr_name(id: &str) -> String {
    format!("{id}-qr")
}
fn sidecar_name(id: &str) -> String {
    format!("{id}.json")
}

/// A proposal id that can name a file here (the ledger's id alphabet, no leading dot).
fn file_safe(id: &str) -> bool {
    mona_ledger::validate_id("proposal id", id).is_ok() && !id.starts_with('.')
}

/// The outbox directory and how it draws QR frames.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    qr: QrSettings,
    /// The proposal whose QR encoding failed for good (too large...): not retried each tick.
    qr_failed: Mutex<Option<String>>,
}

impl Outbox {
    /// An outbox in `dir` drawing frames at `density` (the CLI's default speed).
    pub fn new(dir: impl Into<PathBuf>, density: Density) -> Outbox {
        Outbox {
            dir: dir.into(),
            qr: QrSettings {
                density,
                ..QrSettings::default()
            },
            qr_failed: Mutex::new(None),
        }
    }

    /// The outbox of a configuration (`[outbox]`), `None` when disabled.
    pub fn from_config(config: &Config, datadir: &Path) -> Option<Outbox> {
        let o = &config.outbox;
        if !o.enabled {
            return None;
        }
        // Validated with the configuration.
        let density = o.qr_density.parse().unwrap_or(Density::Medium);
        Some(Outbox::new(Config::resolve(datadir, &o.dir), density))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `<dir>/<id>.psbt`.
    pub fn psbt_path(&self, id: &str) -> PathBuf {
        self.dir.join(psbt_name(id))
    }
    /// `<dir>/<id>-qr`.
    pub fn qr_dir(&self, id: &str) -> PathBuf {
        self.dir.join(qr_name(id))
    }
    /// `<dir>/<id>.json`.
    pub fn sidecar_path(&self, id: &str) -> PathBuf {
        self.dir.join(sidecar_name(id))
    }

    /// Brings the directory in line with the ledger's open proposal (blocking: run it off the
    /// async runtime). Appends an audit entry for each proposal written or removed.
    pub fn sync(&self, ledger: &dyn Ledger) -> Result<OutboxSync, OutboxError> {
        let open = ledger
            .open_topup_proposal()
            .map_err(|e| OutboxError::Ledger(e.to_string()))?;
        let mut report = OutboxSync {
            open: open.as_ref().map(|p| p.id.clone()),
            ..OutboxSync::default()
        };
        if open.is_none() && !self.dir.exists() {
            return Ok(report);
        }
        create_private_dir(&self.dir)?;
        let mut qr_error = None;
        if let Some(p) = &open {
            match self.write_open(p, &mut report.written) {
                Ok(()) => {}
                Err(e @ OutboxError::Qr { .. }) => qr_error = Some(e),
                Err(e) => return Err(e),
            }
            if !report.written.is_empty() {
                let detail = format!(
                    "purpose={} unsigned_txid={} files={}",
                    p.purpose(),
                    p.unsigned_txid,
                    report.written.len()
                );
                audit(ledger, AUDIT_OUTBOX_WRITTEN, &p.id, &detail);
            }
        }
        report.removed = self.remove_closed(ledger, report.open.as_deref())?;
        match qr_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Writes what is missing or different of the open proposal `p`: the PSBT, the QR
    /// directory, then the description.
    fn write_open(&self, p: &TopUpProposal, written: &mut Vec<PathBuf>) -> Result<(), OutboxError> {
        if !file_safe(&p.id) {
            return Err(OutboxError::BadId(p.id.clone()));
        }
        let psbt = self.psbt_path(&p.id);
        if write_if_changed(&psbt, &p.psbt)? {
            written.push(psbt);
        }
        let qr_result = self.write_qr_dir(p, written);
        let sidecar = self.sidecar_path(&p.id);
        if write_if_changed(&sidecar, &OutboxSidecar::of(p).to_bytes())? {
            written.push(sidecar);
        }
        qr_result
    }

    fn write_qr_dir(
        &self,
        p: &TopUpProposal,
        written: &mut Vec<PathBuf>,
    ) -> Result<(), OutboxError> {
        let target = self.qr_dir(&p.id);
        if target.join(MANIFEST_FILE_NAME).is_file() {
            return Ok(());
        }
        if lock(&self.qr_failed).as_deref() == Some(p.id.as_str()) {
            return Ok(()); // reported once already; encoding again would fail the same way
        }
        let tmp = self.dir.join(format!(
            ".{}.tmp-{}-{}",
            qr_name(&p.id),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            create_private_dir(&tmp)?;
            match mona_airgap::write_qr(
                &tmp,
                &Payload::Psbt(p.psbt.clone()),
                &self.qr,
                Overwrite::Refuse,
            ) {
                Ok(_) => {}
                Err(WriteQrError::Encode(e)) => {
                    *lock(&self.qr_failed) = Some(p.id.clone());
                    return Err(OutboxError::Qr {
                        id: p.id.clone(),
                        message: e.to_string(),
                    });
                }
                Err(e) => {
                    return Err(OutboxError::Qr {
                        id: p.id.clone(),
                        message: e.to_string(),
                    })
                }
            }
            // An incomplete directory of that name (no manifest) is not ours to keep.
            if fs::symlink_metadata(&target).is_ok() {
                remove_any(&target)?;
            }
            fs::rename(&tmp, &target).map_err(io_err("cannot rename into", &target))?;
            sync_dir(&self.dir);
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        } else {
            written.push(target);
        }
        result
    }

    /// Removes the files of proposals the ledger knows and that are no longer `open`, and
    /// temporary files left by a crash. Returns the proposals removed.
    fn remove_closed(
        &self,
        ledger: &dyn Ledger,
        open: Option<&str>,
    ) -> Result<Vec<String>, OutboxError> {
        let entries = fs::read_dir(&self.dir).map_err(io_err("cannot list", &self.dir))?;
        let mut removed: Vec<String> = Vec::new();
        let mut kept: Vec<String> = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with('.') {
                if name.contains(".tmp-") && is_old(&path) {
                    remove_any(&path)?;
                }
                continue;
            }
            let id = [".psbt", ".json", "-qr"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix));
            let Some(id) = id else { continue };
            if Some(id) == open || !file_safe(id) || kept.iter().any(|k| k == id) {
                continue;
            }
            if !removed.iter().any(|r| r == id) {
                let closed = ledger
                    .topup(id)
                    .map_err(|e| OutboxError::Ledger(e.to_string()))?
                    .filter(|t| t.state != TopUpState::Open);
                match closed {
                    Some(t) => {
                        let detail = format!("state={}", t.state.as_str());
                        audit(ledger, AUDIT_OUTBOX_REMOVED, id, &detail);
                        removed.push(id.to_owned());
                    }
                    None => {
                        kept.push(id.to_owned());
                        continue;
                    }
                }
            }
            remove_any(&path)?;
        }
        if !removed.is_empty() {
            sync_dir(&self.dir);
        }
        Ok(removed)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn audit(ledger: &dyn Ledger, kind: &str, subject: &str, detail: &str) {
    if let Err(e) = ledger.append_audit(kind, subject, detail) {
        tracing::warn!(kind, proposal = subject, error = %e, "cannot append the outbox audit entry");
    }
}

fn is_old(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > STALE_TEMP_AGE)
}

fn remove_any(path: &Path) -> Result<(), OutboxError> {
    let meta = fs::symlink_metadata(path).map_err(io_err("cannot inspect", path))?;
    let r = if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("cannot remove", path)(e)),
        _ => Ok(()),
    }
}

fn create_private_dir(dir: &Path) -> Result<(), OutboxError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(io_err("cannot create", dir))
}

fn sync_dir(dir: &Path) {
    // Makes renames durable; not every platform can fsync a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to `path` (0600, temp file + fsync + rename + directory fsync) unless the
/// file already holds exactly them. Returns whether it wrote.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool, OutboxError> {
    match fs::read(path) {
        Ok(old) if old == bytes => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("cannot read", path)(e)),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(&tmp).map_err(io_err("cannot create", &tmp))?;
        f.write_all(bytes).map_err(io_err("cannot write", &tmp))?;
        f.sync_all().map_err(io_err("cannot sync", &tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io_err("cannot rename into", path))?;
        sync_dir(dir);
        Ok(true)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Keeps the outbox in line with the ledger for as long as the daemon runs: a sync every
/// `every`, and at once when `kick` is notified (a proposal made, submitted or cancelled
/// through the API). Each change is logged at info; a failure is logged at error (once per
/// distinct failure, then at debug until it changes or recovers) and counted in
/// `hotnode_outbox_errors_total`; it never stops the task.
pub fn spawn(
    outbox: Outbox,
    ledger: Arc<dyn Ledger>,
    metrics: Metrics,
    kick: Arc<Notify>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    let outbox = Arc::new(outbox);
    tracing::info!(dir = %outbox.dir().display(), "writing open proposals to the outbox");
    tokio::spawn(async move {
        let mut last_error: Option<String> = None;
        loop {
            let (o, l) = (Arc::clone(&outbox), Arc::clone(&ledger));
            let result = tokio::task::spawn_blocking(move || o.sync(l.as_ref()))
                .await
                .unwrap_or_else(|e| Err(OutboxError::Ledger(format!("outbox task failed: {e}"))));
            match result {
                Ok(report) => {
                    if last_error.take().is_some() {
                        tracing::info!("the outbox is written again");
                    }
                    log_sync(&outbox, &report, &metrics);
                }
                Err(e) => {
                    metrics.outbox_errors.inc();
                    let message = e.to_string();
                    if last_error.as_deref() != Some(message.as_str()) {
                        tracing::error!(error = %message, dir = %outbox.dir().display(), "cannot write the outbox; payouts are not affected, retrying");
                    } else {
                        tracing::debug!(error = %message, "outbox still failing");
                    }
                    last_error = Some(message);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {},
                () = kick.notified() => {},
            }
        }
    })
}

fn log_sync(outbox: &Outbox, report: &OutboxSync, metrics: &Metrics) {
    if !report.written.is_empty() {
        metrics.outbox_writes.inc();
        if let Some(id) = &report.open {
            tracing::info!(
                proposal = %id,
                psbt = %outbox.psbt_path(id).display(),
                qr = %outbox.qr_dir(id).display(),
                files = report.written.len(),
                "open proposal written to the outbox; sign it on the cold signer"
            );
        }
    }
    for id in &report.removed {
        tracing::info!(proposal = %id, dir = %outbox.dir().display(), "files of a closed proposal removed from the outbox");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mona_ledger::MemoryLedger;

    fn proposal(id: &str, psbt: Vec<u8>) -> TopUpProposal {
        TopUpProposal {
            id: id.into(),
            withdrawal_id: None,
            psbt,
            unsigned_txid: bitcoin::hashes::Hash::from_byte_array([7; 32]),
            amount_wat: 5 * 100_000_000,
            state: TopUpState::Open,
            close_note: None,
        }
    }

    fn psbt() -> Vec<u8> {
        let tx = bitcoin::Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![bitcoin::TxIn::default()],
            output: vec![bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(1000),
                script_pubkey: bitcoin::ScriptBuf::new(),
            }],
        };
        bitcoin::psbt::Psbt::from_unsigned_tx(tx)
            .expect("unsigned")
            .serialize()
    }

    #[test]
    fn writes_once_and_removes_after_close() {
        let dir = tempfile::tempdir().unwrap();
        let out = Outbox::new(dir.path().join("outbox"), Density::Medium);
        let ledger = MemoryLedger::new();
        // Nothing open, no directory: nothing is created.
        assert_eq!(out.sync(&ledger).unwrap(), OutboxSync::default());
        assert!(!out.dir().exists());

        let p = proposal("topup-aa", psbt());
        ledger.open_topup(&p).unwrap();
        let first = out.sync(&ledger).unwrap();
        assert_eq!(first.written.len(), 3, "{first:?}");
        assert_eq!(std::fs::read(out.psbt_path("topup-aa")).unwrap(), p.psbt);
        assert!(out.qr_dir("topup-aa").join(MANIFEST_FILE_NAME).is_file());
        let side: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.sidecar_path("topup-aa")).unwrap()).unwrap();
        assert_eq!(
            (
                side["id"].as_str(),
                side["amount"].as_str(),
                side["purpose"].as_str()
            ),
            (Some("topup-aa"), Some("5"), Some("topup"))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&out.psbt_path("topup-aa")), 0o600);
            assert_eq!(mode(out.dir()), 0o700);
        }

        // Idempotent: nothing rewritten (a changed file is put back).
        let audit_before = ledger.audit_head().unwrap();
        assert!(out.sync(&ledger).unwrap().written.is_empty());
        assert_eq!(ledger.audit_head().unwrap(), audit_before);
        std::fs::write(out.psbt_path("topup-aa"), b"tampered").unwrap();
        assert_eq!(
            out.sync(&ledger).unwrap().written,
            vec![out.psbt_path("topup-aa")]
        );
        assert_eq!(std::fs::read(out.psbt_path("topup-aa")).unwrap(), p.psbt);

        // A file that is not a known proposal is left alone; a closed proposal's files go.
        std::fs::write(out.dir().join("notes.psbt"), b"mine").unwrap();
        ledger
            .close_topup(
                "topup-aa",
                &mona_ledger::TopUpClose::Cancelled {
                    reason: "test".into(),
                },
            )
            .unwrap();
        let r = out.sync(&ledger).unwrap();
        assert_eq!(r.removed, vec!["topup-aa".to_string()]);
        let left: Vec<String> = std::fs::read_dir(out.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["notes.psbt".to_string()]);
    }

    #[test]
    fn an_unwritable_outbox_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        // The outbox path is below a regular file: it can never be created.
        let out = Outbox::new(blocker.join("outbox"), Density::Medium);
        let ledger = MemoryLedger::new();
        ledger.open_topup(&proposal("topup-bb", psbt())).unwrap();
        let e = out.sync(&ledger).unwrap_err();
        assert!(matches!(e, OutboxError::Io { .. }), "{e}");
    }
}
