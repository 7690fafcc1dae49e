//! Turning QR texts back into a payload: the frame parser and the multi-frame UR decoder.
//!
//! Invariants: every frame's header is parsed and checked against the caps and against the
//! first frame before the fountain decoder sees it, so the decoder never allocates for an
//! announced size or count above the caps, frames from two messages are refused rather than
//! merged, and a payload is returned only after the message checksum matched and the content
//! parsed as its kind (a BIP174 PSBT, or UTF-8 JSON for the export).

use std::collections::HashSet;
use std::fmt;

use crate::cbor;
use crate::files::{self, ReadExportError, ReadPsbtError, DEFAULT_MAX_FILE_BYTES};
use crate::payload::{Payload, UR_TYPE_CRYPTO_PSBT, UR_TYPE_PSBT, UR_TYPE_WATCH_ONLY_EXPORT};

/// Longest frame text accepted: a QR code holds at most 7089 characters (numeric mode).
pub const MAX_FRAME_TEXT_BYTES: usize = 7089;
/// Room for the CBOR byte-string header around a capped payload.
const CBOR_WRAP_SLACK: usize = 9;

/// Limits applied while decoding, all checked before the corresponding allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Largest payload accepted (PSBT bytes or export JSON bytes).
    pub max_message_bytes: usize,
    /// Most frames accepted: images in a directory, frames in a GIF, distinct fountain parts,
    /// and the fragment count a UR header may announce.
    pub max_frames: usize,
    /// Largest image file read.
    pub max_image_file_bytes: u64,
    /// Largest image width or height decoded, in pixels.
    pub max_image_side: u32,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_message_bytes: DEFAULT_MAX_FILE_BYTES,
            max_frames: 10_000,
            max_image_file_bytes: 64 * 1024 * 1024,
            max_image_side: 8192,
        }
    }
}

/// How far a decode has come: `frames 14/22, 71%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Distinct frames accepted so far.
    pub frames_seen: usize,
    /// Fragment count the UR headers announce (1 for single-frame codes), once known.
    pub frames_total: Option<usize>,
    /// Share of the message recovered, from the fountain decoder (100 only when complete).
    pub percent: u8,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.frames_total {
            Some(total) => write!(
                f,
                "frames {}/{}, {}%",
                self.frames_seen, total, self.percent
            ),
            None => write!(f, "frames {}/?, {}%", self.frames_seen, self.percent),
        }
    }
}

/// Why QR frames could not be decoded into a payload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeUrError {
    /// A QR code that is neither a UR nor a base64 PSBT.
    #[error("qr code is not a ur (expected ur:crypto-psbt, ur:psbt or ur:bytes): {preview:?}")]
    NotUr {
        /// The start of the QR text.
        preview: String,
    },
    /// A UR of a type this crate does not carry.
    #[error("unsupported ur type {ur_type:?}: expected crypto-psbt, psbt or bytes")]
    UnsupportedType {
        /// The type found.
        ur_type: String,
    },
    /// A frame whose text, checksum or header is damaged.
    #[error("corrupted qr frame: {reason}")]
    CorruptedFrame {
        /// What was wrong.
        reason: String,
    },
    /// Frames of two different messages.
    #[error("frames from two different messages: {first} vs {other}")]
    MixedMessages {
        /// The message the first frame belongs to.
        first: String,
        /// The message of the refused frame.
        other: String,
    },
    /// All fragments arrived but the reassembled message does not match its checksum.
    #[error("message checksum mismatch: the frames do not reassemble to the announced message")]
    ChecksumMismatch,
    /// The announced (or decoded) message is larger than the cap.
    #[error("qr message is too large: {size} bytes, the limit is {max} bytes")]
    TooLarge {
        /// Size announced or found.
        size: u64,
        /// The cap.
        max: usize,
    },
    /// More frames (announced or received) than the cap.
    #[error("too many qr frames: {frames}, the limit is {max}")]
    TooManyFrames {
        /// Frames announced or received.
        frames: u64,
        /// The cap.
        max: usize,
    },
    /// The frames do not contain enough of the message to finish.
    #[error("not enough frames to finish: {progress}; capture more frames")]
    Incomplete {
        /// How far decoding came.
        progress: Progress,
    },
    /// No QR frame at all.
    #[error("no qr code found")]
    NoFrames,
    /// The message is complete but is not a valid PSBT.
    #[error("qr code carries an invalid psbt: {0}")]
    InvalidPsbt(ReadPsbtError),
    /// The message is complete but is not a valid watch-only export.
    #[error("qr code carries an invalid watch-only export: {0}")]
    InvalidExport(ReadExportError),
}

fn corrupted(reason: impl Into<String>) -> DecodeUrError {
    DecodeUrError::CorruptedFrame {
        reason: reason.into(),
    }
}

/// One QR text, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A whole UR in one frame (`ur:TYPE/BODY`).
    SinglePart {
        /// UR type, lower case.
        ur_type: String,
        /// The CBOR message.
        message: Vec<u8>,
    },
    /// One fountain part of a multi-part UR (`ur:TYPE/SEQ-LEN/BODY`).
    Part(PartHeader),
    /// A whole PSBT as base64 text (`cHNidP8...`).
    Base64Psbt(Vec<u8>),
}

/// The header of a fountain part, and its normalized text for the fountain decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHeader {
    /// UR type, lower case.
    pub ur_type: String,
    /// Part number, from 1.
    pub seq: u32,
    /// Fragment count of the message.
    pub seq_len: u32,
    /// Length of the whole message in bytes.
    pub message_len: u32,
    /// CRC-32 of the whole message.
    pub checksum: u32,
    /// Length of this part's fragment.
    pub fragment_len: usize,
    /// The lower-case frame text.
    text: String,
}

impl PartHeader {
    fn message_id(&self) -> String {
        format!(
            "ur:{} of {} fragments, {} bytes, crc {:08x}",
            self.ur_type, self.seq_len, self.message_len, self.checksum
        )
    }

    fn same_message(&self, other: &PartHeader) -> bool {
        self.ur_type == other.ur_type
            && self.seq_len == other.seq_len
            && self.message_len == other.message_len
            && self.checksum == other.checksum
            && self.fragment_len == other.fragment_len
    }
}

fn preview(text: &str) -> String {
    let mut p: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        p.push_str("...");
    }
    p
}

/// Parses one QR text into a frame. Accepts `ur:` in any case, and base64 PSBTs.
pub fn parse_frame(raw: &[u8]) -> Result<Frame, DecodeUrError> {
    if raw.len() > MAX_FRAME_TEXT_BYTES {
        return Err(corrupted(format!(
            "frame text is {} bytes, longer than any qr code holds",
            raw.len()
        )));
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(DecodeUrError::NotUr {
            preview: preview(&String::from_utf8_lossy(raw)),
        });
    };
    let text = text.trim();
    if text.starts_with("cHNidP") {
        return files::parse_psbt(text.as_bytes(), DEFAULT_MAX_FILE_BYTES)
            .map(|p| Frame::Base64Psbt(p.bytes))
            .map_err(DecodeUrError::InvalidPsbt);
    }
    let lower = text.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("ur:") else {
        return Err(DecodeUrError::NotUr {
            preview: preview(text),
        });
    };
    let Some((ur_type, rest)) = rest.split_once('/') else {
        return Err(corrupted("ur has no type/body separator"));
    };
    if ur_type.is_empty()
        || !ur_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(corrupted(format!("invalid ur type {:?}", preview(ur_type))));
    }
    match rest.split_once('/') {
        None => {
            let message = bytewords(rest)?;
            Ok(Frame::SinglePart {
                ur_type: ur_type.to_owned(),
                message,
            })
        }
        Some((indices, body)) => {
            let (seq, seq_len) = parse_indices(indices)?;
            let bytes = bytewords(body)?;
            let part = cbor::parse_part(&bytes)
                .map_err(|e| corrupted(format!("fountain part header: {e}")))?;
            if part.seq != seq || part.seq_len != seq_len {
                return Err(corrupted(format!(
                    "part {seq}-{seq_len} carries header {}-{}",
                    part.seq, part.seq_len
                )));
            }
            if part.message_len == 0 || part.data.is_empty() {
                return Err(corrupted("empty fountain part"));
            }
            // The fragments must tile the message with less than one fragment of padding.
            let frag = part.data.len() as u64;
            let total = u64::from(part.seq_len) * frag;
            let msg = u64::from(part.message_len);
            if total < msg || total - msg >= frag {
                return Err(corrupted(format!(
                    "{} fragments of {} bytes cannot hold a {}-byte message",
                    part.seq_len, frag, part.message_len
                )));
            }
            Ok(Frame::Part(PartHeader {
                ur_type: ur_type.to_owned(),
                seq: part.seq,
                seq_len: part.seq_len,
                message_len: part.message_len,
                checksum: part.checksum,
                fragment_len: part.data.len(),
                text: lower.clone(),
            }))
        }
    }
}

fn parse_indices(s: &str) -> Result<(u32, u32), DecodeUrError> {
    let bad = || corrupted(format!("invalid part index {:?}", preview(s)));
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let digits = |x: &str| !x.is_empty() && x.len() <= 10 && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return Err(bad());
    }
    let seq: u32 = a.parse().map_err(|_| bad())?;
    let len: u32 = b.parse().map_err(|_| bad())?;
    if seq == 0 || len == 0 {
        return Err(bad());
    }
    Ok((seq, len))
}

fn bytewords(body: &str) -> Result<Vec<u8>, DecodeUrError> {
    ur::bytewords::decode(body, ur::bytewords::Style::Minimal)
        .map_err(|e| corrupted(format!("bytewords: {e}")))
}

fn supported(ur_type: &str) -> Result<(), DecodeUrError> {
    match ur_type {
        UR_TYPE_CRYPTO_PSBT | UR_TYPE_PSBT | UR_TYPE_WATCH_ONLY_EXPORT => Ok(()),
        other => Err(DecodeUrError::UnsupportedType {
            ur_type: other.to_owned(),
        }),
    }
}

enum State {
    Empty,
    Whole {
        /// `None` for a base64 PSBT.
        ur_type: Option<String>,
        message: Vec<u8>,
    },
    Parts {
        first: PartHeader,
        seen: HashSet<u32>,
        fountain: Box<ur::Decoder>,
    },
}

/// Collects QR frames (in any order, duplicates ignored) until a payload is complete.
pub struct UrDecoder {
    caps: Caps,
    state: State,
}

impl fmt::Debug for UrDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrDecoder")
            .field("caps", &self.caps)
            .field("progress", &self.progress())
            .finish()
    }
}

impl UrDecoder {
    /// A decoder that enforces `caps`.
    pub fn new(caps: Caps) -> Self {
        UrDecoder {
            caps,
            state: State::Empty,
        }
    }

    fn max_message(&self) -> usize {
        self.caps.max_message_bytes.saturating_add(CBOR_WRAP_SLACK)
    }

    /// Feeds one QR text. Returns `Ok(true)` for a new frame, `Ok(false)` for a duplicate.
    /// An error leaves the decoder as it was before the call.
    pub fn receive(&mut self, text: &[u8]) -> Result<bool, DecodeUrError> {
        let frame = parse_frame(text)?;
        self.receive_frame(frame)
    }

    /// Feeds one parsed frame (see [`UrDecoder::receive`]).
    pub fn receive_frame(&mut self, frame: Frame) -> Result<bool, DecodeUrError> {
        let max_message = self.max_message();
        match (&mut self.state, frame) {
            (State::Empty, Frame::Base64Psbt(bytes)) => {
                if bytes.len() > self.caps.max_message_bytes {
                    return Err(DecodeUrError::TooLarge {
                        size: bytes.len() as u64,
                        max: self.caps.max_message_bytes,
                    });
                }
                self.state = State::Whole {
                    ur_type: None,
                    message: bytes,
                };
                Ok(true)
            }
            (State::Empty, Frame::SinglePart { ur_type, message }) => {
                supported(&ur_type)?;
                if message.len() > max_message {
                    return Err(DecodeUrError::TooLarge {
                        size: message.len() as u64,
                        max: self.caps.max_message_bytes,
                    });
                }
                self.state = State::Whole {
                    ur_type: Some(ur_type),
                    message,
                };
                Ok(true)
            }
            (State::Empty, Frame::Part(header)) => {
                supported(&header.ur_type)?;
                if header.seq_len as usize > self.caps.max_frames {
                    return Err(DecodeUrError::TooManyFrames {
                        frames: u64::from(header.seq_len),
                        max: self.caps.max_frames,
                    });
                }
                if header.message_len as usize > max_message {
                    return Err(DecodeUrError::TooLarge {
                        size: u64::from(header.message_len),
                        max: self.caps.max_message_bytes,
                    });
                }
                let mut fountain = Box::<ur::Decoder>::default();
                fountain
                    .receive(&header.text)
                    .map_err(|e| corrupted(e.to_string()))?;
                let mut seen = HashSet::new();
                seen.insert(header.seq);
                self.state = State::Parts {
                    first: header,
                    seen,
                    fountain,
                };
                Ok(true)
            }
            (State::Whole { ur_type, message }, frame) => {
                let same = match (&frame, ur_type.as_deref()) {
                    (Frame::Base64Psbt(b), None) => b == message,
                    (
                        Frame::SinglePart {
                            ur_type: t,
                            message: m,
                        },
                        Some(u),
                    ) => t == u && m == message,
                    _ => false,
                };
                if same {
                    Ok(false)
                } else {
                    Err(DecodeUrError::MixedMessages {
                        first: describe_whole(ur_type.as_deref(), message),
                        other: describe_frame(&frame),
                    })
                }
            }
            (
                State::Parts {
                    first,
                    seen,
                    fountain,
                },
                frame,
            ) => {
                let header = match frame {
                    Frame::Part(h) if h.same_message(first) => h,
                    other => {
                        return Err(DecodeUrError::MixedMessages {
                            first: first.message_id(),
                            other: describe_frame(&other),
                        })
                    }
                };
                if seen.contains(&header.seq) {
                    return Ok(false);
                }
                if seen.len() >= self.caps.max_frames {
                    return Err(DecodeUrError::TooManyFrames {
                        frames: seen.len() as u64 + 1,
                        max: self.caps.max_frames,
                    });
                }
                fountain.receive(&header.text).map_err(map_ur_error)?;
                seen.insert(header.seq);
                Ok(true)
            }
        }
    }

    /// Whether every fragment of the message is known.
    pub fn is_complete(&self) -> bool {
        match &self.state {
            State::Empty => false,
            State::Whole { .. } => true,
            State::Parts { fountain, .. } => fountain.complete(),
        }
    }

    /// Frames seen, fragments announced and percent recovered.
    pub fn progress(&self) -> Progress {
        match &self.state {
            State::Empty => Progress {
                frames_seen: 0,
                frames_total: None,
                percent: 0,
            },
            State::Whole { .. } => Progress {
                frames_seen: 1,
                frames_total: Some(1),
                percent: 100,
            },
            State::Parts {
                first,
                seen,
                fountain,
            } => {
                let total = first.seq_len as usize;
                let resolved = fountain.resolved_fragment_count().unwrap_or(0).min(total);
                let percent = if fountain.complete() {
                    100
                } else {
                    // below 100 until complete; total >= 1 by the header check
                    ((resolved * 100) / total).min(99) as u8
                };
                Progress {
                    frames_seen: seen.len(),
                    frames_total: Some(total),
                    percent,
                }
            }
        }
    }

    /// Finishes: the payload if the message is complete, its checksum matches and it parses
    /// as its kind; otherwise a typed error.
    pub fn finish(self) -> Result<Payload, DecodeUrError> {
        let progress = self.progress();
        let max = self.caps.max_message_bytes;
        let (ur_type, message) = match self.state {
            State::Empty => return Err(DecodeUrError::NoFrames),
            State::Whole {
                ur_type: None,
                message,
            } => {
                files::parse_psbt_binary(&message).map_err(DecodeUrError::InvalidPsbt)?;
                return Ok(Payload::Psbt(message));
            }
            State::Whole {
                ur_type: Some(t),
                message,
            } => (t, message),
            State::Parts {
                first, fountain, ..
            } => {
                if !fountain.complete() {
                    return Err(DecodeUrError::Incomplete { progress });
                }
                let message = match fountain.message() {
                    Ok(Some(m)) => m,
                    Ok(None) => return Err(DecodeUrError::Incomplete { progress }),
                    Err(ur::ur::Error::Fountain(ur::fountain::Error::InvalidChecksum)) => {
                        return Err(DecodeUrError::ChecksumMismatch)
                    }
                    Err(e) => return Err(corrupted(e.to_string())),
                };
                (first.ur_type, message)
            }
        };
        let content = cbor::unwrap_byte_string(&message)
            .map_err(|e| corrupted(format!("ur message is not a cbor byte string: {e}")))?;
        if content.len() > max {
            return Err(DecodeUrError::TooLarge {
                size: content.len() as u64,
                max,
            });
        }
        match ur_type.as_str() {
            UR_TYPE_CRYPTO_PSBT | UR_TYPE_PSBT => {
                files::parse_psbt_binary(content).map_err(DecodeUrError::InvalidPsbt)?;
                Ok(Payload::Psbt(content.to_vec()))
            }
            UR_TYPE_WATCH_ONLY_EXPORT => files::parse_watch_only_export(content)
                .map(Payload::WatchOnlyExport)
                .map_err(DecodeUrError::InvalidExport),
            other => Err(DecodeUrError::UnsupportedType {
                ur_type: other.to_owned(),
            }),
        }
    }
}

fn map_ur_error(e: ur::ur::Error) -> DecodeUrError {
    match e {
        ur::ur::Error::Fountain(ur::fountain::Error::InvalidChecksum) => {
            DecodeUrError::ChecksumMismatch
        }
        other => corrupted(other.to_string()),
    }
}

fn describe_whole(ur_type: Option<&str>, message: &[u8]) -> String {
    match ur_type {
        None => format!("a base64 psbt of {} bytes", message.len()),
        Some(t) => format!("a single-frame ur:{t} of {} bytes", message.len()),
    }
}

fn describe_frame(frame: &Frame) -> String {
    match frame {
        Frame::Base64Psbt(b) => describe_whole(None, b),
        Frame::SinglePart { ur_type, message } => describe_whole(Some(ur_type), message),
        Frame::Part(h) => h.message_id(),
    }
}

/// Decodes a set of QR texts (any order, duplicates ignored) into a payload, calling
/// `progress` after each new frame.
pub fn decode_texts<I, T>(
    texts: I,
    caps: &Caps,
    mut progress: impl FnMut(Progress),
) -> Result<Payload, DecodeUrError>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut decoder = UrDecoder::new(*caps);
    for t in texts {
        if decoder.receive(t.as_ref())? {
            progress(decoder.progress());
        }
    }
    decoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_format() {
        let p = Progress {
            frames_seen: 14,
            frames_total: Some(22),
            percent: 71,
        };
        assert_eq!(p.to_string(), "frames 14/22, 71%");
    }

    #[test]
    fn frame_parser_refusals() {
        let cases: [(&str, &[u8]); 6] = [
            ("url", b"https://example.com"),
            ("binary", &[0xff, 0xfe, 0x00]),
            ("no body", b"ur:crypto-psbt"),
            ("bad index", b"UR:CRYPTO-PSBT/0-3/LPAD"),
            ("bad bytewords", b"ur:bytes/zzzz"),
            ("bad type", b"ur:cr_ypto/aeae"),
        ];
        for (name, input) in cases {
            let err = parse_frame(input).unwrap_err();
            match name {
                "url" | "binary" => {
                    assert!(matches!(err, DecodeUrError::NotUr { .. }), "{name}: {err}")
                }
                _ => assert!(
                    matches!(err, DecodeUrError::CorruptedFrame { .. }),
                    "{name}: {err}"
                ),
            }
        }
    }

    #[test]
    fn inconsistent_part_header_is_corrupted() {
        // 3 fragments of 4 bytes cannot hold a 20-byte message
        let cbor = cbor::encode_part(&cbor::PartCbor {
            seq: 1,
            seq_len: 3,
            message_len: 20,
            checksum: 1,
            data: &[1, 2, 3, 4],
        });
        let text = format!(
            "ur:bytes/1-3/{}",
            ur::bytewords::encode(&cbor, ur::bytewords::Style::Minimal)
        );
        assert!(matches!(
            parse_frame(text.as_bytes()),
            Err(DecodeUrError::CorruptedFrame { .. })
        ));
    }

    #[test]
    fn announced_counts_are_capped_before_allocation() {
        // a header announcing 4 billion fragments must be refused, not allocated for
        let cbor = cbor::encode_part(&cbor::PartCbor {
            seq: 1,
            seq_len: u32::MAX,
            message_len: u32::MAX,
            checksum: 1,
            data: &[1],
        });
        let text = format!(
            "ur:bytes/1-{}/{}",
            u32::MAX,
            ur::bytewords::encode(&cbor, ur::bytewords::Style::Minimal)
        );
        let err = UrDecoder::new(Caps::default())
            .receive(text.as_bytes())
            .unwrap_err();
        assert!(matches!(err, DecodeUrError::TooManyFrames { .. }), "{err}");
    }
}
