//! A pre-scan of raw PSBT bytes: magic, `PSBT_GLOBAL_VERSION`, and the unsigned transaction's
//! input and output counts, read from their varints.
//!
//! Invariant: the scan allocates nothing whatever the input (it only walks a byte slice with
//! bounds checks), so the size and count caps are enforced before the real parser allocates a
//! single input, output or script.

use mona_policy::Envelope;

/// `psbt` + 0xff.
pub const PSBT_MAGIC: &[u8; 5] = b"psbt\xff";

/// Why the pre-scan could not read the envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Not starting with `psbt\xff`.
    #[error("not a PSBT (missing the psbt\\xff magic)")]
    NotAPsbt,
    /// The bytes end inside a structure.
    #[error("PSBT truncated while reading {0}")]
    Truncated(&'static str),
    /// A structure that cannot be valid.
    #[error("malformed PSBT: {0}")]
    Malformed(&'static str),
    /// No `PSBT_GLOBAL_UNSIGNED_TX` in the global map.
    #[error("PSBT has no unsigned transaction")]
    NoUnsignedTx,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], EnvelopeError> {
        let n = usize::try_from(n).map_err(|_| EnvelopeError::Truncated(what))?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or(EnvelopeError::Truncated(what))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, EnvelopeError> {
        Ok(self.take(1, what)?[0])
    }

    /// Bitcoin's CompactSize.
    fn varint(&mut self, what: &'static str) -> Result<u64, EnvelopeError> {
        let first = self.byte(what)?;
        let width = match first {
            0xfd => 2,
            0xfe => 4,
            0xff => 8,
            n => return Ok(u64::from(n)),
        };
        let raw = self.take(width, what)?;
        let mut v = 0u64;
        for (i, b) in raw.iter().enumerate() {
            v |= u64::from(*b) << (8 * i);
        }
        Ok(v)
    }
}

/// Reads the envelope of a binary PSBT.
pub fn scan(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    if bytes.len() < PSBT_MAGIC.len() || &bytes[..PSBT_MAGIC.len()] != PSBT_MAGIC {
        return Err(EnvelopeError::NotAPsbt);
    }
    let mut c = Cursor {
        bytes,
        pos: PSBT_MAGIC.len(),
    };
    let mut version = 0u32;
    let mut counts = None;
    loop {
        let key_len = c.varint("a global key length")?;
        if key_len == 0 {
            break;
        }
        let key = c.take(key_len, "a global key")?;
        let value_len = c.varint("a global value length")?;
        let value = c.take(value_len, "a global value")?;
        match (key[0], key.len()) {
            (0x00, 1) => {
                if counts.is_some() {
                    return Err(EnvelopeError::Malformed("duplicate unsigned transaction"));
                }
                counts = Some(tx_counts(value)?);
            }
            (0xfb, 1) => {
                let v: [u8; 4] = value
                    .try_into()
                    .map_err(|_| EnvelopeError::Malformed("version value is not 4 bytes"))?;
                version = u32::from_le_bytes(v);
            }
            _ => {}
        }
    }
    let (input_count, output_count) = counts.ok_or(EnvelopeError::NoUnsignedTx)?;
    Ok(Envelope {
        psbt_bytes: bytes.len() as u64,
        psbt_version: version,
        input_count,
        output_count,
    })
}

/// Input and output counts of a non-witness serialized transaction, skipping the inputs.
fn tx_counts(tx: &[u8]) -> Result<(u64, u64), EnvelopeError> {
    let mut c = Cursor { bytes: tx, pos: 0 };
    c.take(4, "the transaction version")?;
    let inputs = c.varint("the input count")?;
    // Each input is at least 41 bytes: a count the bytes cannot hold is malformed, and the
    // loop below is bounded by the slice anyway.
    if inputs > (tx.len() as u64) / 41 {
        return Err(EnvelopeError::Malformed(
            "input count larger than the transaction",
        ));
    }
    for _ in 0..inputs {
        c.take(36, "an input's prevout")?;
        let script_len = c.varint("an input's script length")?;
        c.take(script_len, "an input's script")?;
        c.take(4, "an input's sequence")?;
    }
    let outputs = c.varint("the output count")?;
    if outputs > (tx.len() as u64) / 9 {
        return Err(EnvelopeError::Malformed(
            "output count larger than the transaction",
        ));
    }
    Ok((inputs, outputs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncations_never_panic() {
        let psbt =
            include_bytes!("../../../../fixtures/psbt/good/2-mixed-three-inputs/unsigned.psbt");
        let full = scan(psbt).unwrap();
        assert_eq!(
            (full.input_count, full.output_count, full.psbt_version),
            (3, 2, 0)
        );
        for n in 0..psbt.len() {
            let _ = scan(&psbt[..n]);
        }
    }

    #[test]
    fn version_and_counts_are_read_without_parsing() {
        // magic, unsigned tx with 0 inputs / 0 outputs, version 2.
        let mut b = PSBT_MAGIC.to_vec();
        b.extend([1, 0, 10, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        b.extend([1, 0xfb, 4, 2, 0, 0, 0, 0]);
        let e = scan(&b).unwrap();
        assert_eq!((e.psbt_version, e.input_count, e.output_count), (2, 0, 0));
        assert_eq!(scan(b"psbt"), Err(EnvelopeError::NotAPsbt));
        assert_eq!(scan(b"psbt\xff\x00"), Err(EnvelopeError::NoUnsignedTx));
    }
}
