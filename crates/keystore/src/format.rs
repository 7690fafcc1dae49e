//! The `MONASEED` v1 byte layout: encoding and integrity-checked parsing.
//!
//! Invariant: [`SeedFile::parse`] returns a value only for bytes whose magic, version, header
//! checksum, declared length, file checksum, algorithm ids and KDF bounds are all valid, so
//! decryption is attempted only on an intact file with sane parameters; parsing never panics,
//! never allocates more than the input, and does no expensive work.
//!
//! ```text
//! offset  size  field
//!  0       8    magic "MONASEED"
//!  8       2    format version, u16 big-endian (1)
//! 10       1    kdf id (1 = argon2id v0x13)
//! 11       4    m_cost in KiB, u32 BE
//! 15       4    t_cost, u32 BE
//! 19       4    p_cost, u32 BE
//! 23       1    salt length S (16..=64)
//! 24       1    aead id (1 = ChaCha20-Poly1305, 12-byte nonce, 16-byte tag)
//! 25       2    metadata length M, u16 BE (<= 4096)
//! 27       4    ciphertext length C incl. tag, u32 BE (17..=MAX_PAYLOAD_LEN + 16)
//! 31      32    header checksum: SHA-256 of bytes 0..31
//! 63       S    salt
//! 63+S    12    nonce
//! 75+S     M    metadata (public, authenticated as AEAD associated data)
//! 75+S+M   C    ciphertext and tag; the AAD is every byte before it
//! ..      32    file checksum: SHA-256 of every byte before it
//! ```
//!
//! The two checksums are public and unkeyed: they tell corruption and naive edits apart from a
//! wrong passphrase. An attacker who recomputes them is reported as "wrong passphrase" (the
//! AEAD tag still fails); they can never make a file decrypt to a payload of their choosing
//! without the passphrase.

use ring::digest::{digest, SHA256};

use crate::error::{OpenError, TamperReason};
use crate::params::KdfParams;

/// File magic.
pub const MAGIC: [u8; 8] = *b"MONASEED";
/// The format version this build writes, and the highest it reads.
pub const FORMAT_VERSION: u16 = 1;
/// KDF id of argon2id (version 0x13).
pub const KDF_ARGON2ID: u8 = 1;
/// AEAD id of ChaCha20-Poly1305.
pub const AEAD_CHACHA20_POLY1305: u8 = 1;
/// Largest payload (plaintext) accepted.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024;
/// Largest public metadata blob accepted.
pub const MAX_METADATA_LEN: usize = 4096;

pub(crate) const SALT_LEN: usize = 16;
pub(crate) const MIN_SALT_LEN: usize = 16;
pub(crate) const MAX_SALT_LEN: usize = 64;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;
const FIXED_LEN: usize = 31;
const HEADER_PREFIX_LEN: usize = FIXED_LEN + CHECKSUM_LEN;
/// Largest possible v1 file; reading stops one byte past it.
pub const MAX_FILE_LEN: usize = HEADER_PREFIX_LEN
    + MAX_SALT_LEN
    + NONCE_LEN
    + MAX_METADATA_LEN
    + MAX_PAYLOAD_LEN
    + TAG_LEN
    + CHECKSUM_LEN;

/// An intact, parsed seed file (integrity checked, not yet decrypted).
#[derive(Clone, PartialEq, Eq)]
pub struct SeedFile {
    bytes: Vec<u8>,
    params: KdfParams,
    salt: std::ops::Range<usize>,
    nonce: std::ops::Range<usize>,
    metadata: std::ops::Range<usize>,
    ciphertext: std::ops::Range<usize>,
}

impl std::fmt::Debug for SeedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only public fields; the ciphertext is omitted as noise.
        f.debug_struct("SeedFile")
            .field("version", &FORMAT_VERSION)
            .field("kdf_params", &self.params)
            .field("metadata_len", &self.metadata.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

fn be_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn sha256(data: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(digest(&SHA256, data).as_ref());
    out
}

/// The fields a new file's header is built from.
pub(crate) struct HeaderFields<'a> {
    pub params: KdfParams,
    pub salt: &'a [u8],
    pub nonce: &'a [u8; NONCE_LEN],
    pub metadata: &'a [u8],
    pub ciphertext_len: usize,
}

/// Encodes every byte before the ciphertext (this is also the AEAD associated data).
/// Callers have checked the lengths against the bounds.
pub(crate) fn encode_header(h: &HeaderFields<'_>) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(HEADER_PREFIX_LEN + h.salt.len() + NONCE_LEN + h.metadata.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.push(KDF_ARGON2ID);
    out.extend_from_slice(&h.params.m_cost_kib.to_be_bytes());
    out.extend_from_slice(&h.params.t_cost.to_be_bytes());
    out.extend_from_slice(&h.params.p_cost.to_be_bytes());
    // Lengths were bounds-checked by the caller (salt <= 64, metadata <= 4096, ciphertext
    // <= 16 KiB + tag), so these conversions are exact.
    out.push(h.salt.len() as u8);
    out.push(AEAD_CHACHA20_POLY1305);
    out.extend_from_slice(&(h.metadata.len() as u16).to_be_bytes());
    out.extend_from_slice(&(h.ciphertext_len as u32).to_be_bytes());
    debug_assert_eq!(out.len(), FIXED_LEN);
    let fixed_sum = sha256(&out);
    out.extend_from_slice(&fixed_sum);
    out.extend_from_slice(h.salt);
    out.extend_from_slice(h.nonce);
    out.extend_from_slice(h.metadata);
    out
}

/// Appends the file checksum to `header || ciphertext`.
pub(crate) fn finish_file(mut body: Vec<u8>) -> Vec<u8> {
    let sum = sha256(&body);
    body.extend_from_slice(&sum);
    body
}

fn tampered(reason: TamperReason) -> OpenError {
    OpenError::Tampered { reason }
}

impl SeedFile {
    /// Checks and parses a whole seed file. See the module docs for the order of the checks;
    /// no key derivation happens here.
    pub fn parse(bytes: Vec<u8>) -> Result<SeedFile, OpenError> {
        let b = &bytes[..];
        let n = b.len();
        // 1. Magic: a strict prefix of it is a truncated file, anything else is not ours.
        let magic_seen = n.min(MAGIC.len());
        if b[..magic_seen] != MAGIC[..magic_seen] {
            return Err(OpenError::NotASeedFile);
        }
        if n < MAGIC.len() + 2 {
            return Err(OpenError::Truncated {
                actual: n,
                expected: HEADER_PREFIX_LEN,
            });
        }
        // 2. Version: decides the rest of the layout.
        let version = be_u16(b, 8);
        if version != FORMAT_VERSION {
            return Err(OpenError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if n > MAX_FILE_LEN {
            return Err(tampered(TamperReason::TooLarge));
        }
        // 3. Fixed header and its checksum, before trusting any length in it.
        if n < HEADER_PREFIX_LEN {
            return Err(OpenError::Truncated {
                actual: n,
                expected: HEADER_PREFIX_LEN,
            });
        }
        if sha256(&b[..FIXED_LEN]) != b[FIXED_LEN..HEADER_PREFIX_LEN] {
            return Err(tampered(TamperReason::HeaderChecksum));
        }
        let kdf_id = b[10];
        let params = KdfParams {
            m_cost_kib: be_u32(b, 11),
            t_cost: be_u32(b, 15),
            p_cost: be_u32(b, 19),
        };
        let salt_len = usize::from(b[23]);
        let aead_id = b[24];
        let metadata_len = usize::from(be_u16(b, 25));
        let ciphertext_len = be_u32(b, 27) as usize;
        if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt_len) {
            return Err(tampered(TamperReason::FieldOutOfBounds("salt length")));
        }
        if metadata_len > MAX_METADATA_LEN {
            return Err(tampered(TamperReason::FieldOutOfBounds("metadata length")));
        }
        if !(TAG_LEN + 1..=MAX_PAYLOAD_LEN + TAG_LEN).contains(&ciphertext_len) {
            return Err(tampered(TamperReason::FieldOutOfBounds(
                "ciphertext length",
            )));
        }
        // 4. Declared length (all terms are bounded above, no overflow).
        let salt = HEADER_PREFIX_LEN..HEADER_PREFIX_LEN + salt_len;
        let nonce = salt.end..salt.end + NONCE_LEN;
        let metadata = nonce.end..nonce.end + metadata_len;
        let ciphertext = metadata.end..metadata.end + ciphertext_len;
        let expected = ciphertext.end + CHECKSUM_LEN;
        if n < expected {
            return Err(OpenError::Truncated {
                actual: n,
                expected,
            });
        }
        if n > expected {
            return Err(tampered(TamperReason::TrailingData));
        }
        // 5. Whole-file checksum.
        if sha256(&b[..ciphertext.end]) != b[ciphertext.end..] {
            return Err(tampered(TamperReason::FileChecksum));
        }
        // 6. Algorithms and parameter bounds (cheap; before any key derivation).
        if kdf_id != KDF_ARGON2ID {
            return Err(OpenError::UnsupportedAlgorithm {
                what: "kdf",
                id: kdf_id,
            });
        }
        if aead_id != AEAD_CHACHA20_POLY1305 {
            return Err(OpenError::UnsupportedAlgorithm {
                what: "aead",
                id: aead_id,
            });
        }
        params.validate()?;
        Ok(SeedFile {
            bytes,
            params,
            salt,
            nonce,
            metadata,
            ciphertext,
        })
    }

    /// The format version of the file.
    pub fn version(&self) -> u16 {
        FORMAT_VERSION
    }

    /// The KDF parameters from the header (already within bounds).
    pub fn kdf_params(&self) -> KdfParams {
        self.params
    }

    /// The public metadata (authenticated only once [`SeedFile::open`] succeeds).
    pub fn metadata(&self) -> &[u8] {
        &self.bytes[self.metadata.clone()]
    }

    /// The raw file bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn salt(&self) -> &[u8] {
        &self.bytes[self.salt.clone()]
    }

    pub(crate) fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(&self.bytes[self.nonce.clone()]);
        n
    }

    /// Associated data: every byte before the ciphertext.
    pub(crate) fn aad(&self) -> &[u8] {
        &self.bytes[..self.ciphertext.start]
    }

    pub(crate) fn ciphertext(&self) -> &[u8] {
        &self.bytes[self.ciphertext.clone()]
    }
}
