//! The payload of a BIP39 seed file: mnemonic entropy plus the optional BIP39 passphrase.
//!
//! Invariant: the encoded and decoded forms live only in zeroizing buffers; decoding accepts
//! exactly what encoding produces (entropy of 16..=32 bytes in steps of 4, a UTF-8 passphrase),
//! so a payload is unambiguous.
//!
//! ```text
//! 1 byte   payload kind: 1 = BIP39 entropy
//! 1 byte   entropy length E (16, 20, 24, 28 or 32)
//! E bytes  entropy
//! 2 bytes  BIP39 passphrase length P, u16 big-endian
//! P bytes  BIP39 passphrase, UTF-8 (empty when none)
//! ```

use std::fmt;

use thiserror::Error;
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

const KIND_BIP39_ENTROPY: u8 = 1;

/// BIP39 entropy and passphrase, as stored encrypted in a wallet's seed file.
#[derive(Clone, PartialEq, Eq)]
pub struct SeedPayload {
    entropy: Zeroizing<Vec<u8>>,
    bip39_passphrase: Zeroizing<String>,
}

/// A payload that is not a valid encoding.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Entropy length not one of 16, 20, 24, 28, 32.
    #[error("bip39 entropy must be 16, 20, 24, 28 or 32 bytes, got {0}")]
    EntropyLength(usize),
    /// The BIP39 passphrase is longer than 65535 bytes.
    #[error("bip39 passphrase longer than 65535 bytes")]
    PassphraseTooLong,
    /// The decoded bytes are not a payload this build understands.
    #[error("seed payload is malformed: {0}")]
    Malformed(&'static str),
}

fn valid_entropy_len(len: usize) -> bool {
    (16..=32).contains(&len) && len % 4 == 0
}

impl SeedPayload {
    /// Builds a payload from BIP39 entropy and passphrase (empty for none).
    pub fn new(entropy: &[u8], bip39_passphrase: &str) -> Result<Self, PayloadError> {
        if !valid_entropy_len(entropy.len()) {
            return Err(PayloadError::EntropyLength(entropy.len()));
        }
        if bip39_passphrase.len() > usize::from(u16::MAX) {
            return Err(PayloadError::PassphraseTooLong);
        }
        Ok(Self {
            entropy: Zeroizing::new(entropy.to_vec()),
            bip39_passphrase: Zeroizing::new(bip39_passphrase.to_owned()),
        })
    }

    /// The BIP39 entropy (16 bytes for 12 words, 32 for 24).
    pub fn entropy(&self) -> &[u8] {
        &self.entropy
    }

    /// The BIP39 passphrase ("" when none).
    pub fn bip39_passphrase(&self) -> &str {
        &self.bip39_passphrase
    }

    /// Encodes the payload for [`crate::seal`].
    pub fn encode(&self) -> SecretBytes {
        let mut out = Vec::with_capacity(4 + self.entropy.len() + self.bip39_passphrase.len());
        out.push(KIND_BIP39_ENTROPY);
        // Lengths were checked in new(): entropy <= 32, passphrase <= u16::MAX.
        out.push(self.entropy.len() as u8);
        out.extend_from_slice(&self.entropy);
        out.extend_from_slice(&(self.bip39_passphrase.len() as u16).to_be_bytes());
        out.extend_from_slice(self.bip39_passphrase.as_bytes());
        SecretBytes::new(out)
    }

    /// Decodes a payload produced by [`SeedPayload::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        let (&kind, rest) = bytes
            .split_first()
            .ok_or(PayloadError::Malformed("empty"))?;
        if kind != KIND_BIP39_ENTROPY {
            return Err(PayloadError::Malformed("unknown payload kind"));
        }
        let (&elen, rest) = rest
            .split_first()
            .ok_or(PayloadError::Malformed("missing entropy length"))?;
        let elen = usize::from(elen);
        if !valid_entropy_len(elen) {
            return Err(PayloadError::EntropyLength(elen));
        }
        if rest.len() < elen + 2 {
            return Err(PayloadError::Malformed("short entropy"));
        }
        let (entropy, rest) = rest.split_at(elen);
        let plen = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let pass = &rest[2..];
        if pass.len() != plen {
            return Err(PayloadError::Malformed("bip39 passphrase length mismatch"));
        }
        let pass = std::str::from_utf8(pass)
            .map_err(|_| PayloadError::Malformed("bip39 passphrase is not utf-8"))?;
        Self::new(entropy, pass)
    }
}

impl fmt::Debug for SeedPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeedPayload(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_redaction() {
        for (entropy_len, pass) in [(16, ""), (32, "TREZOR"), (20, "日本語")] {
            let entropy: Vec<u8> = (0..entropy_len).map(|i| i as u8).collect();
            let p = SeedPayload::new(&entropy, pass).unwrap();
            let back = SeedPayload::decode(p.encode().as_bytes()).unwrap();
            assert_eq!(back, p);
            assert_eq!(back.entropy(), &entropy[..]);
            assert_eq!(back.bip39_passphrase(), pass);
            assert_eq!(format!("{p:?}"), "SeedPayload(<redacted>)");
        }
    }

    #[test]
    fn refuses_bad_inputs() {
        let cases: &[(&str, &[u8])] = &[
            ("empty", b""),
            ("wrong kind", &[2, 16]),
            ("no entropy length", &[1]),
            ("odd entropy length", &[1, 17]),
            ("short entropy", &[1, 16, 0, 0]),
        ];
        for (name, bytes) in cases {
            assert!(SeedPayload::decode(bytes).is_err(), "{name}");
        }
        assert_eq!(
            SeedPayload::new(&[0; 15], ""),
            Err(PayloadError::EntropyLength(15))
        );
        let mut trailing = SeedPayload::new(&[7; 16], "x")
            .unwrap()
            .encode()
            .as_bytes()
            .to_vec();
        trailing.push(0);
        assert!(SeedPayload::decode(&trailing).is_err(), "trailing byte");
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = SeedPayload::decode(&bytes);
        }
    }
}
