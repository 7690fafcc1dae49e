//! Error types, one per operation.
//!
//! Invariant: no error carries or prints secret material (passphrases, payloads, keys); paths,
//! lengths and header fields are public and are quoted to say what was wrong.

use std::path::PathBuf;

use thiserror::Error;

use crate::params::KdfParamsError;

/// Why a seed file could not be opened. Each variant is a distinct class a caller can map to
/// its own exit code; see [`OpenError::class`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The file does not start with the `MONASEED` magic.
    #[error("not a seed file (bad magic)")]
    NotASeedFile,
    /// The magic is right but the format version is not one this build reads.
    #[error("unsupported seed file version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version found in the file.
        found: u16,
        /// Highest version this build reads.
        supported: u16,
    },
    /// A header with a valid checksum names a KDF or AEAD this build does not know.
    #[error("unsupported {what} id {id} in seed file header")]
    UnsupportedAlgorithm {
        /// "kdf" or "aead".
        what: &'static str,
        /// The id found.
        id: u8,
    },
    /// The file ends before the length its header declares.
    #[error("seed file is truncated: {actual} bytes, expected {expected}")]
    Truncated {
        /// Bytes present.
        actual: usize,
        /// Bytes needed (the full length when the header was readable, else the header length).
        expected: usize,
    },
    /// A checksum does not match or a field is malformed: the file was corrupted or edited.
    #[error("seed file is corrupted or was tampered with: {reason}")]
    Tampered {
        /// Which check failed.
        reason: TamperReason,
    },
    /// A header with a valid checksum asks for KDF parameters outside the accepted bounds.
    #[error("seed file header has unacceptable kdf parameters: {0}")]
    KdfParamsOutOfBounds(#[from] KdfParamsError),
    /// The file is intact but the passphrase does not decrypt it.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The key derivation could not allocate its memory.
    #[error("not enough memory for the kdf ({m_cost_kib} KiB)")]
    OutOfMemory {
        /// Memory the header asked for.
        m_cost_kib: u32,
    },
    /// The file could not be read.
    #[error("cannot read seed file {}: {source}", path.display())]
    Io {
        /// File path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// The failure classes of [`OpenError`], for mapping to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpenErrorClass {
    /// [`OpenError::NotASeedFile`].
    NotASeedFile,
    /// [`OpenError::UnsupportedVersion`] and [`OpenError::UnsupportedAlgorithm`].
    UnsupportedVersion,
    /// [`OpenError::Truncated`].
    Truncated,
    /// [`OpenError::Tampered`] and [`OpenError::KdfParamsOutOfBounds`].
    Tampered,
    /// [`OpenError::WrongPassphrase`].
    WrongPassphrase,
    /// [`OpenError::Io`] and [`OpenError::OutOfMemory`].
    Io,
}

impl OpenError {
    /// The failure class of this error.
    pub fn class(&self) -> OpenErrorClass {
        match self {
            OpenError::NotASeedFile => OpenErrorClass::NotASeedFile,
            OpenError::UnsupportedVersion { .. } | OpenError::UnsupportedAlgorithm { .. } => {
                OpenErrorClass::UnsupportedVersion
            }
            OpenError::Truncated { .. } => OpenErrorClass::Truncated,
            OpenError::Tampered { .. } | OpenError::KdfParamsOutOfBounds(_) => {
                OpenErrorClass::Tampered
            }
            OpenError::WrongPassphrase => OpenErrorClass::WrongPassphrase,
            OpenError::OutOfMemory { .. } | OpenError::Io { .. } => OpenErrorClass::Io,
        }
    }
}

/// Which integrity check a tampered or corrupted file failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TamperReason {
    /// SHA-256 of the fixed header part does not match.
    #[error("header checksum mismatch")]
    HeaderChecksum,
    /// SHA-256 of header and ciphertext does not match.
    #[error("file checksum mismatch")]
    FileChecksum,
    /// Bytes follow the file checksum.
    #[error("unexpected data after the end of the seed file")]
    TrailingData,
    /// The file is larger than any valid seed file.
    #[error("file larger than any seed file")]
    TooLarge,
    /// A length field with a valid checksum is out of bounds.
    #[error("{0} out of bounds")]
    FieldOutOfBounds(&'static str),
}

/// Why a payload could not be sealed into a seed file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SealError {
    /// The KDF parameters are outside the accepted bounds.
    #[error("kdf parameters refused: {0}")]
    KdfParams(#[from] KdfParamsError),
    /// An empty passphrase was given.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// The payload is empty or larger than [`crate::MAX_PAYLOAD_LEN`].
    #[error("payload length {len} is outside 1..={max} bytes")]
    PayloadSize {
        /// Length given.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// The metadata is larger than [`crate::MAX_METADATA_LEN`].
    #[error("metadata length {len} exceeds {max} bytes")]
    MetadataTooLarge {
        /// Length given.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// argon2 refused parameters that passed our bounds (not expected to happen).
    #[error("the key derivation refused its parameters")]
    Kdf,
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Rng,
    /// The key derivation could not allocate its memory.
    #[error("not enough memory for the kdf ({m_cost_kib} KiB)")]
    OutOfMemory {
        /// Memory asked for.
        m_cost_kib: u32,
    },
}

/// Why a sealed file could not be written to disk.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WriteError {
    /// A file already exists at the target path; it was left untouched.
    #[error("refusing to overwrite existing file {}", path.display())]
    AlreadyExists {
        /// The target path.
        path: PathBuf,
    },
    /// The target path has no file name or parent directory.
    #[error("invalid seed file path {}", path.display())]
    InvalidPath {
        /// The target path.
        path: PathBuf,
    },
    /// An I/O step failed (the target was not created).
    #[error("cannot write seed file {}: {source}", path.display())]
    Io {
        /// The path being written.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// Why [`crate::create_file`] failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CreateError {
    /// Sealing failed (nothing was written).
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Writing failed (the target was not created).
    #[error(transparent)]
    Write(#[from] WriteError),
}
