//! What crosses the air gap between the hot node and the cold signer, as files and as
//! animated QR codes.
//!
//! # Transfers
//! An unsigned PSBT, a signed PSBT, a final transaction and the watch-only export
//! ([`TransferKind`]). PSBTs are BIP174 v0: read from binary, base64 or hex (detected, size
//! capped before decoding, see [`read_psbt_file`]); written as binary `NAME.psbt` /
//! `NAME-signed.psbt` ([`write_psbt_file`]); final transactions as hex `NAME-final.txn`
//! ([`write_final_tx`]). Every write is atomic and refuses to overwrite unless asked.
//!
//! # QR codes
//! A [`Payload`] is encoded as a BC-UR 2.0 (Uniform Resource) sequence, upper case so the QR
//! codes use alphanumeric mode, at error correction level L:
//!
//! | payload | UR type | CBOR body |
//! |---|---|---|
//! | PSBT | `ur:crypto-psbt` (`ur:psbt` accepted on input) | byte string of the PSBT |
//! | watch-only export | `ur:bytes` | byte string of the UTF-8 JSON document |
//!
//! A message that fits one fragment is one single-part frame; a larger one is fountain coded
//! (`ur:crypto-psbt/SEQ-LEN/...`) with [`QrSettings::extra_frames_ratio`] extra frames so missed
//! frames are tolerated. A single frame holding a base64 PSBT (`cHNidP8...`) is accepted too.
//! [`write_qr`] writes numbered PNG frames, an animated GIF and a `manifest.json`;
//! [`show_qr_terminal`] animates the codes on a terminal. [`read_qr`] reads one image, a
//! directory of PNG/JPEG frames (any order, duplicates ignored) or an animated GIF, reporting
//! [`Progress`] and refusing mixed, corrupted, non-UR, oversized or incomplete input with a
//! typed [`DecodeUrError`], all caps ([`Caps`]) checked before allocating.

mod cbor;
#[cfg(feature = "cli")]
pub mod cli;
mod decode;
mod encode;
mod files;
mod images;
mod output;
mod payload;
mod settings;

pub use decode::{
    decode_texts, parse_frame, Caps, DecodeUrError, Frame, PartHeader, Progress, UrDecoder,
    MAX_FRAME_TEXT_BYTES,
};
pub use encode::{
    encode_qr, encode_ur, png_bytes, qr_codes, EncodeQrError, QrMatrix, QrSequence, UrFrames,
    QUIET_ZONE_MODULES,
};
pub use files::{
    parse_psbt, parse_psbt_binary, parse_watch_only_export, read_final_tx, read_psbt_file,
    read_watch_only_export, write_file_atomic, write_final_tx, write_psbt_file,
    write_watch_only_export, LoadedPsbt, Overwrite, PsbtFormat, ReadExportError, ReadFinalTxError,
    ReadPsbtError, WriteFileError, DEFAULT_MAX_FILE_BYTES, PSBT_MAGIC,
};
pub use images::{
    decode_image, load_gray, read_qr, read_qr_to_file, ReadQrError, ReadQrToFileError,
};
pub use output::{
    frame_file_name, show_qr_terminal, write_qr, write_sequence, QrOutput, WriteQrError,
    GIF_FILE_NAME, MANIFEST_FILE_NAME,
};
pub use payload::{
    base_name, final_tx_path, sibling_path, signed_psbt_path, Payload, TransferKind,
    WrongPayloadError, UR_TYPE_CRYPTO_PSBT, UR_TYPE_PSBT, UR_TYPE_WATCH_ONLY_EXPORT,
};
pub use settings::{
    Density, ParseDensityError, QrSettings, QrSettingsError, MAX_EXTRA_FRAMES_RATIO, MAX_FPS,
    MIN_FPS,
};
