//! The two tiny pieces of CBOR this crate needs: a definite-length byte string (the body of
//! `ur:crypto-psbt` and `ur:bytes`) and the 5-element array of a fountain part header.
//!
//! Invariant: the parsers read only definite lengths, never read past the input, reject
//! trailing bytes, and never allocate more than the input's own length.

/// Why a CBOR item was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CborError {
    /// Input ended inside an item.
    Truncated,
    /// An item of another major type (or an indefinite length) where another was expected.
    Unexpected(u8),
    /// Bytes follow the item.
    Trailing,
    /// An integer wider than 32 bits where a u32 was expected.
    TooWide,
}

impl std::fmt::Display for CborError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CborError::Truncated => f.write_str("cbor item is truncated"),
            CborError::Unexpected(b) => write!(f, "unexpected cbor initial byte 0x{b:02x}"),
            CborError::Trailing => f.write_str("trailing bytes after cbor item"),
            CborError::TooWide => f.write_str("cbor integer is wider than 32 bits"),
        }
    }
}

/// Encodes `data` as one definite-length CBOR byte string (major type 2).
pub(crate) fn wrap_byte_string(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 9);
    push_header(&mut out, 2, data.len() as u64);
    out.extend_from_slice(data);
    out
}

fn push_header(out: &mut Vec<u8>, major: u8, len: u64) {
    let m = major << 5;
    if len < 24 {
        out.push(m | len as u8);
    } else if len <= u64::from(u8::MAX) {
        out.push(m | 24);
        out.push(len as u8);
    } else if len <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else if len <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// A cursor over CBOR input.
struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, CborError> {
        let b = *self.input.get(self.pos).ok_or(CborError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], CborError> {
        let n = usize::try_from(n).map_err(|_| CborError::Truncated)?;
        let end = self.pos.checked_add(n).ok_or(CborError::Truncated)?;
        let s = self.input.get(self.pos..end).ok_or(CborError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// Reads an item header of the given major type; returns its argument.
    fn header(&mut self, major: u8) -> Result<u64, CborError> {
        let initial = self.byte()?;
        if initial >> 5 != major {
            return Err(CborError::Unexpected(initial));
        }
        let info = initial & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.fixed()?)),
            26 => u64::from(u32::from_be_bytes(self.fixed()?)),
            27 => u64::from_be_bytes(self.fixed()?),
            _ => return Err(CborError::Unexpected(initial)),
        };
        Ok(arg)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, CborError> {
        u32::try_from(self.header(0)?).map_err(|_| CborError::TooWide)
    }

    fn bytes(&mut self) -> Result<&'a [u8], CborError> {
        let len = self.header(2)?;
        self.take(len)
    }

    fn finish(&self) -> Result<(), CborError> {
        if self.pos == self.input.len() {
            Ok(())
        } else {
            Err(CborError::Trailing)
        }
    }
}

/// Decodes exactly one definite-length CBOR byte string and returns its content.
pub(crate) fn unwrap_byte_string(input: &[u8]) -> Result<&[u8], CborError> {
    let mut r = Reader { input, pos: 0 };
    let data = r.bytes()?;
    r.finish()?;
    Ok(data)
}

/// The header and data of one fountain-coded UR part (`[seq, seqLen, messageLen, checksum,
/// data]`, as BC-UR 2.0 defines it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartCbor<'a> {
    pub seq: u32,
    pub seq_len: u32,
    pub message_len: u32,
    pub checksum: u32,
    pub data: &'a [u8],
}

/// Decodes a fountain part's CBOR array.
pub(crate) fn parse_part(input: &[u8]) -> Result<PartCbor<'_>, CborError> {
    let mut r = Reader { input, pos: 0 };
    let n = r.header(4)?;
    if n != 5 {
        return Err(CborError::Unexpected(input.first().copied().unwrap_or(0)));
    }
    let part = PartCbor {
        seq: r.u32()?,
        seq_len: r.u32()?,
        message_len: r.u32()?,
        checksum: r.u32()?,
        data: r.bytes()?,
    };
    r.finish()?;
    Ok(part)
}

#[cfg(test)]
pub(crate) fn encode_part(p: &PartCbor<'_>) -> Vec<u8> {
    let mut out = vec![0x85];
    for v in [p.seq, p.seq_len, p.message_len, p.checksum] {
        push_header(&mut out, 0, u64::from(v));
    }
    push_header(&mut out, 2, p.data.len() as u64);
    out.extend_from_slice(p.data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_string_round_trips_at_every_header_width() {
        for len in [0usize, 1, 23, 24, 255, 256, 65535, 65536] {
            let data = vec![0xabu8; len];
            let wrapped = wrap_byte_string(&data);
            assert_eq!(
                unwrap_byte_string(&wrapped).unwrap(),
                &data[..],
                "len {len}"
            );
        }
    }

    #[test]
    fn byte_string_refusals() {
        let cases: [(&str, &[u8], CborError); 5] = [
            ("empty", &[], CborError::Truncated),
            ("text string", &[0x61, b'a'], CborError::Unexpected(0x61)),
            (
                "indefinite",
                &[0x5f, 0x41, 0, 0xff],
                CborError::Unexpected(0x5f),
            ),
            ("short", &[0x43, 1, 2], CborError::Truncated),
            ("trailing", &[0x41, 1, 2], CborError::Trailing),
        ];
        for (name, input, want) in cases {
            assert_eq!(unwrap_byte_string(input), Err(want), "{name}");
        }
        // a length near u64::MAX must not overflow or allocate
        let huge = [0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(unwrap_byte_string(&huge), Err(CborError::Truncated));
    }

    #[test]
    fn part_round_trips() {
        let p = PartCbor {
            seq: 300,
            seq_len: 70_000,
            message_len: 5,
            checksum: 0xdead_beef,
            data: b"hello",
        };
        assert_eq!(parse_part(&encode_part(&p)).unwrap(), p);
    }
}
