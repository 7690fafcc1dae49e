//! Exit codes of the `hot-node` binary (documented in `hot-node/README.md`) and the CLI's error
//! type.
//!
//! Invariant: every failure maps to exactly one code, chosen by what the operator should do
//! next; the message is one line on stderr (or `{"error": {...}}` with `--json`).

use std::fmt;

/// What went wrong, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// Unexpected failure (I/O, a bug): 1.
    Failure = 1,
    /// Bad command line (clap): 2.
    Usage = 2,
    /// Input refused (HTTP 400/413/422, a bad config, export or flag): 3. Nothing changed.
    BadInput = 3,
    /// Conflict (HTTP 409): the key exists with another body, or a voucher was redeemed to
    /// another address: 4. Nothing changed.
    Conflict = 4,
    /// Not found (HTTP 404): 5.
    NotFound = 5,
    /// Temporarily refused (HTTP 503 frozen/overloaded/storage, 429, 408): 6. Retry later.
    Unavailable = 6,
    /// Unauthorized (HTTP 401, unreadable token file): 7.
    Unauthorized = 7,
    /// Cannot reach the API (not running, wrong address): 8.
    Unreachable = 8,
    /// `init` refused: the data directory exists and is not empty: 9.
    AlreadyExists = 9,
    /// `run` refused: the node is on another chain, refused the credentials, or is unreachable: 10.
    Node = 10,
    /// The hot seed cannot be unlocked (wrong passphrase, tampered or foreign file): 11.
    Seed = 11,
    /// `audit verify` found the audit chain broken: 12.
    AuditBroken = 12,
    /// Not implemented yet (HTTP 501): 13.
    NotImplemented = 13,
    /// QR input: no QR code found (no images, an unreadable image): 20.
    QrNoCode = 20,
    /// QR input: a QR code that is not a UR of an accepted type: 21.
    QrNotUr = 21,
    /// QR input: a corrupted frame: 22.
    QrCorrupted = 22,
    /// QR input: the message checksum does not match: 23.
    QrChecksum = 23,
    /// QR input: frames from two different messages: 24.
    QrMixed = 24,
    /// QR input or output: message or image over the size cap: 25.
    QrTooLarge = 25,
    /// QR input: more frames than the cap: 26.
    QrTooManyFrames = 26,
    /// QR input: not enough frames to finish; capture more: 27.
    QrIncomplete = 27,
    /// QR input: complete, but not the expected kind or not a valid PSBT/export: 28.
    QrWrongContent = 28,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }
    /// Stable name (in `--json` errors).
    pub fn name(self) -> &'static str {
        match self {
            Exit::Failure => "failure",
            Exit::Usage => "usage",
            Exit::BadInput => "bad_input",
            Exit::Conflict => "conflict",
            Exit::NotFound => "not_found",
            Exit::Unavailable => "unavailable",
            Exit::Unauthorized => "unauthorized",
            Exit::Unreachable => "unreachable",
            Exit::AlreadyExists => "already_exists",
            Exit::Node => "node",
            Exit::Seed => "seed",
            Exit::AuditBroken => "audit_broken",
            Exit::NotImplemented => "not_implemented",
            Exit::QrNoCode => "qr_no_code",
            Exit::QrNotUr => "qr_not_ur",
            Exit::QrCorrupted => "qr_corrupted",
            Exit::QrChecksum => "qr_checksum",
            Exit::QrMixed => "qr_mixed",
            Exit::QrTooLarge => "qr_too_large",
            Exit::QrTooManyFrames => "qr_too_many_frames",
            Exit::QrIncomplete => "qr_incomplete",
            Exit::QrWrongContent => "qr_wrong_content",
        }
    }
    /// The exit code for an HTTP error status.
    pub fn for_status(status: u16) -> Exit {
        match status {
            400 | 413 | 422 => Exit::BadInput,
            401 | 403 => Exit::Unauthorized,
            404 => Exit::NotFound,
            408 | 429 | 503 => Exit::Unavailable,
            409 => Exit::Conflict,
            501 => Exit::NotImplemented,
            _ => Exit::Failure,
        }
    }
}

/// A CLI failure: exit code, one-line message, and the API's error `code` when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// Exit code.
    pub exit: Exit,
    /// One line.
    pub message: String,
    /// The API error code (e.g. `bad_address`).
    pub api_code: Option<String>,
    /// The HTTP status, for API errors.
    pub http_status: Option<u16>,
}

impl CliError {
    /// An error with `exit` and `message`.
    pub fn new(exit: Exit, message: impl fmt::Display) -> CliError {
        CliError {
            exit,
            message: message.to_string().replace('\n', " "),
            api_code: None,
            http_status: None,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}
