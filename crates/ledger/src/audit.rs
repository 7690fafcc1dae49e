//! The hash-chained audit log: row hashing and chain verification (pure).
//!
//! Each row stores `hash = sha256(prev_hash || canonical(seq, created_at, kind, subject,
//! detail))`, where `canonical` is the big-endian `seq` (8 bytes), big-endian `created_at`
//! (8 bytes), then `kind`, `subject` and `detail`, each prefixed by its big-endian `u32` byte
//! length. The first row's `prev_hash` is 32 zero bytes. Stores keep the last row's `(seq,
//! hash)` as a separate *head* record written in the same database transaction as the row.
//!
//! What [`verify_chain`] detects: an edited row (its hash no longer matches), an inserted or
//! deleted row in the middle (seq gap or broken `prev_hash` link), a truncated tail (the head
//! names a row that is gone), and rows appended without updating the head.
//!
//! Limits: someone who can write the database file can rewrite the *whole* chain and the head
//! consistently; the chain alone cannot catch that. Anchor the head elsewhere (the daemon logs
//! and exports the head hash; an operator can note it, or a later row can quote it) to catch a
//! full rewrite. The store also refuses UPDATE/DELETE on the log with triggers, which stops
//! mistakes, not an attacker with the file.

use crate::model::{AuditEntry, AuditHead};
use bitcoin::hashes::{sha256, Hash, HashEngine};

/// Computes a row's hash from its predecessor's hash and its content.
pub fn row_hash(
    prev_hash: &[u8; 32],
    seq: u64,
    created_at: i64,
    kind: &str,
    subject: &str,
    detail: &str,
) -> [u8; 32] {
    let mut e = sha256::Hash::engine();
    e.input(prev_hash);
    e.input(&seq.to_be_bytes());
    e.input(&created_at.to_be_bytes());
    for part in [kind, subject, detail] {
        // Lengths are bounded by the store's input limits; saturate rather than wrap anyway.
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        e.input(&len.to_be_bytes());
        e.input(part.as_bytes());
    }
    sha256::Hash::from_engine(e).to_byte_array()
}

/// Builds the next row after `head`.
pub fn next_entry(
    head: &AuditHead,
    created_at: i64,
    kind: &str,
    subject: &str,
    detail: &str,
) -> AuditEntry {
    let seq = head.seq + 1;
    AuditEntry {
        seq,
        created_at,
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        detail: detail.to_owned(),
        prev_hash: head.hash,
        hash: row_hash(&head.hash, seq, created_at, kind, subject, detail),
    }
}

/// A successful verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditReport {
    /// Rows checked.
    pub rows: u64,
    /// The verified head.
    pub head: AuditHead,
}

/// Where the audit chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A row's stored hash does not match its content (edited row).
    #[error("audit row {seq} was altered: its hash does not match its content")]
    HashMismatch {
        /// The row.
        seq: u64,
    },
    /// A row does not link to its predecessor (inserted or deleted row).
    #[error("audit row {seq} does not link to the row before it")]
    BrokenLink {
        /// The row.
        seq: u64,
    },
    /// Sequence numbers are not contiguous from 1 (deleted or inserted row).
    #[error("audit rows are not contiguous: expected seq {expected}, found {found}")]
    SeqGap {
        /// Expected seq.
        expected: u64,
        /// Found seq.
        found: u64,
    },
    /// The last row is not the recorded head (truncated tail or rows appended behind its back).
    #[error("audit head mismatch: head says seq {head_seq}, log ends at seq {last_seq}")]
    HeadMismatch {
        /// The head's seq.
        head_seq: u64,
        /// The last row's seq.
        last_seq: u64,
    },
    /// The log could not be read.
    #[error("audit log could not be read: {0}")]
    Read(String),
}

/// Verifies rows given in seq order against the stored head.
pub fn verify_chain<I>(rows: I, head: &AuditHead) -> Result<AuditReport, AuditError>
where
    I: IntoIterator<Item = Result<AuditEntry, AuditError>>,
{
    let mut prev = AuditHead {
        seq: 0,
        hash: [0; 32],
    };
    let mut count = 0u64;
    for row in rows {
        let row = row?;
        let expected = prev.seq + 1;
        if row.seq != expected {
            return Err(AuditError::SeqGap {
                expected,
                found: row.seq,
            });
        }
        if row.prev_hash != prev.hash {
            return Err(AuditError::BrokenLink { seq: row.seq });
        }
        let h = row_hash(
            &row.prev_hash,
            row.seq,
            row.created_at,
            &row.kind,
            &row.subject,
            &row.detail,
        );
        if h != row.hash {
            return Err(AuditError::HashMismatch { seq: row.seq });
        }
        prev = AuditHead {
            seq: row.seq,
            hash: row.hash,
        };
        count += 1;
    }
    if prev != *head {
        return Err(AuditError::HeadMismatch {
            head_seq: head.seq,
            last_seq: prev.seq,
        });
    }
    Ok(AuditReport {
        rows: count,
        head: prev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> (Vec<AuditEntry>, AuditHead) {
        let mut head = AuditHead {
            seq: 0,
            hash: [0; 32],
        };
        let mut rows = Vec::new();
        for i in 0..n {
            let e = next_entry(&head, 1000 + i as i64, "k", &format!("s{i}"), "d=1");
            head = AuditHead {
                seq: e.seq,
                hash: e.hash,
            };
            rows.push(e);
        }
        (rows, head)
    }

    fn check(rows: &[AuditEntry], head: &AuditHead) -> Result<AuditReport, AuditError> {
        verify_chain(rows.iter().cloned().map(Ok), head)
    }

    #[test]
    fn tamper_table() {
        let (rows, head) = chain(5);
        assert_eq!(check(&rows, &head).map(|r| r.rows), Ok(5));
        type Tamper = fn(&mut Vec<AuditEntry>, &mut AuditHead);
        let cases: Vec<(&str, Tamper)> = vec![
            ("edit detail", |r, _| r[2].detail = "d=2".into()),
            ("edit time", |r, _| r[1].created_at += 1),
            ("delete middle", |r, _| {
                r.remove(2);
            }),
            ("delete first", |r, _| {
                r.remove(0);
            }),
            ("truncate tail", |r, _| {
                r.pop();
            }),
            ("insert copy", |r, _| {
                let c = r[1].clone();
                r.insert(2, c)
            }),
            ("append without head", |r, _| {
                let last = r.last().cloned().unwrap();
                let h = AuditHead {
                    seq: last.seq,
                    hash: last.hash,
                };
                r.push(next_entry(&h, 1, "k", "s", "d"))
            }),
            ("swap rows", |r, _| r.swap(1, 2)),
            ("edit and rehash one row", |r, _| {
                let e = &mut r[3];
                e.detail = "forged".into();
                e.hash = row_hash(
                    &e.prev_hash,
                    e.seq,
                    e.created_at,
                    &e.kind,
                    &e.subject,
                    &e.detail,
                );
            }),
        ];
        for (name, tamper) in cases {
            let (mut r, mut h) = (rows.clone(), head);
            tamper(&mut r, &mut h);
            assert!(check(&r, &h).is_err(), "case {name} must be detected");
        }
    }

    #[test]
    fn canonical_encoding_is_unambiguous() {
        // Moving bytes between fields must change the hash (length prefixes).
        let a = row_hash(&[0; 32], 1, 0, "ab", "c", "");
        let b = row_hash(&[0; 32], 1, 0, "a", "bc", "");
        assert_ne!(a, b);
    }
}
