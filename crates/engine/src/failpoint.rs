//! Named crash points for the crash-matrix tests (issue 5), inert unless `MONA_FAILPOINT`
//! names one of them.
//!
//! Module invariant: with the variable unset (or naming another point) [`hit`] and
//! [`hit_async`] do nothing; with it set to a point's name, reaching that point prints
//! `FAILPOINT <name>` to stderr and never goes past it, so the test can SIGKILL the process at
//! exactly that moment. From async code use [`hit_async`]: it parks only its own task, never a
//! runtime worker thread (the rest of the daemon keeps running until the kill).

use std::sync::OnceLock;

/// The environment variable naming the armed failpoint.
pub const ENV: &str = "MONA_FAILPOINT";

/// After a payout is committed, before its first broadcast.
pub const AFTER_COMMIT_BEFORE_BROADCAST: &str = "after_commit_before_broadcast";
/// After `sendrawtransaction` answered, before the answer is recorded.
pub const AFTER_BROADCAST_BEFORE_RECORD: &str = "after_broadcast_before_record";
/// A batch's transaction is built and signed, not yet committed.
pub const MID_BATCH: &str = "mid_batch";
/// A block was connected while more blocks remain to sync.
pub const DURING_SYNC: &str = "during_sync";

/// Every failpoint name.
pub const ALL: [&str; 4] = [
    AFTER_COMMIT_BEFORE_BROADCAST,
    AFTER_BROADCAST_BEFORE_RECORD,
    MID_BATCH,
    DURING_SYNC,
];

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var(ENV).ok().filter(|v| !v.is_empty()))
        .as_deref()
}

/// Whether `name` is the armed failpoint.
pub fn is_armed(name: &str) -> bool {
    armed() == Some(name)
}

/// Reaches failpoint `name`: blocks forever if it is armed.
pub fn hit(name: &str) {
    if is_armed(name) {
        eprintln!("FAILPOINT {name}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// Reaches failpoint `name` from async code: if it is armed, prints the marker and never
/// completes, without blocking the worker thread (the task stays parked until the kill).
pub async fn hit_async(name: &'static str) {
    park_if(is_armed(name), name).await;
}

async fn park_if(armed: bool, name: &'static str) {
    if armed {
        eprintln!("FAILPOINT {name}");
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "current_thread")]
    async fn armed_async_point_parks_its_task_not_the_thread() {
        let parked = tokio::spawn(super::park_if(true, "test_point"));
        // On a single-threaded runtime this task runs only if the parked one let go of the
        // thread (a thread sleep inside it would hang here).
        let other = tokio::spawn(async { 7 });
        assert_eq!(other.await.expect("other task"), 7);
        tokio::task::yield_now().await;
        assert!(!parked.is_finished(), "an armed point never goes past");
        parked.abort();
        super::park_if(false, "test_point").await;
    }

    #[test]
    fn unarmed_points_return() {
        // The test process never sets MONA_FAILPOINT to a real point name.
        for p in super::ALL {
            if !super::is_armed(p) {
                super::hit(p);
            }
        }
    }
}
