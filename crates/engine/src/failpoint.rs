//! Named crash points for the crash-matrix tests (issue 5), inert unless `MONA_FAILPOINT`
//! names one of them.
//!
//! Module invariant: with the variable unset (or naming another point) [`hit`] does nothing;
//! with it set to a point's name, reaching that point prints `FAILPOINT <name>` to stderr and
//! blocks that thread forever, so the test can SIGKILL the process at exactly that moment.

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

#[cfg(test)]
mod tests {
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
