//! Bad QR input is refused with a distinct, typed error and nothing is written.

mod common;

use std::path::Path;

use common::*;
use mona_airgap::{
    decode_texts, encode_ur, qr_codes, read_qr, read_qr_to_file, Caps, DecodeUrError, Density,
    Overwrite, Payload, QrSettings, ReadQrError, ReadQrToFileError,
};

fn small() -> Vec<u8> {
    fixtures()[0].bytes.clone() // 1-p2wpkh-single-input/unsigned, 557 bytes
}

fn other() -> Vec<u8> {
    fixtures()[4].bytes.clone() // 3-batch-two-outputs/unsigned
}

/// Fountain texts of `psbt` at low density (several fragments), no redundant frames.
fn texts(psbt: &[u8]) -> Vec<String> {
    let s = QrSettings {
        extra_frames_ratio: 0.0,
        ..QrSettings::with_density(Density::Low)
    };
    let ur = encode_ur(&Payload::Psbt(psbt.to_vec()), &s).unwrap();
    assert!(ur.fragment_count > 2);
    ur.texts
}

/// Renders each text as a QR PNG into a fresh directory under `root`.
fn qr_dir(root: &Path, name: &str, texts: &[String]) -> std::path::PathBuf {
    let dir = root.join(name);
    let images: Vec<_> = qr_codes(texts)
        .unwrap()
        .iter()
        .map(|c| c.to_image(4))
        .collect();
    write_images(&dir, &images, "png", png);
    dir
}

/// Swaps one bytewords letter in the body of a UR text (breaking its CRC-32).
fn corrupt(text: &str) -> String {
    let mut b = text.as_bytes().to_vec();
    let i = b.len() - 12;
    b[i] = if b[i] == b'A' { b'E' } else { b'A' };
    String::from_utf8(b).unwrap()
}

/// Replaces the fragment data of a part text with different bytes under a valid bytewords
/// CRC, so only the message checksum can catch it.
fn forge(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let (head, body) = lower.rsplit_once('/').unwrap();
    let mut cbor = ur::bytewords::decode(body, ur::bytewords::Style::Minimal).unwrap();
    let last = cbor.len() - 1;
    cbor[last] ^= 0x01; // last byte of the fragment data
    format!(
        "{head}/{}",
        ur::bytewords::encode(&cbor, ur::bytewords::Style::Minimal)
    )
    .to_ascii_uppercase()
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Want {
    Corrupted,
    Mixed,
    NotUr,
    TooLarge,
    TooManyFrames,
    Incomplete,
    ChecksumMismatch,
    Unsupported,
    InvalidPsbt,
}

fn classify(e: &DecodeUrError) -> Option<Want> {
    Some(match e {
        DecodeUrError::CorruptedFrame { .. } => Want::Corrupted,
        DecodeUrError::MixedMessages { .. } => Want::Mixed,
        DecodeUrError::NotUr { .. } => Want::NotUr,
        DecodeUrError::TooLarge { .. } => Want::TooLarge,
        DecodeUrError::TooManyFrames { .. } => Want::TooManyFrames,
        DecodeUrError::Incomplete { .. } => Want::Incomplete,
        DecodeUrError::ChecksumMismatch => Want::ChecksumMismatch,
        DecodeUrError::UnsupportedType { .. } => Want::Unsupported,
        DecodeUrError::InvalidPsbt(_) => Want::InvalidPsbt,
        _ => return None,
    })
}

struct Case {
    name: &'static str,
    texts: Vec<String>,
    caps: Caps,
    want: Want,
}

fn cases() -> Vec<Case> {
    let a = texts(&small());
    let b = texts(&other());
    let mut corrupted = a.clone();
    corrupted[1] = corrupt(&corrupted[1]);
    let mut mixed = a.clone();
    mixed.push(b[0].clone());
    let mut not_ur = a.clone();
    not_ur.insert(1, "HTTPS://EXAMPLE.COM/PAY?AMOUNT=1".to_owned());
    let mut forged = a.clone();
    forged[0] = forge(&forged[0]);
    let wrong_type = a
        .iter()
        .map(|t| t.replace("UR:CRYPTO-PSBT/", "UR:CRYPTO-ACCOUNT/"))
        .collect();
    let not_psbt = vec![ur::ur::encode(
        &[0x44, 1, 2, 3, 4],
        &ur::Type::Custom("crypto-psbt"),
    )];
    let tight = |max_message_bytes, max_frames| Caps {
        max_message_bytes,
        max_frames,
        ..Caps::default()
    };
    vec![
        Case {
            name: "corrupted fragment",
            texts: corrupted,
            caps: Caps::default(),
            want: Want::Corrupted,
        },
        Case {
            name: "two messages",
            texts: mixed,
            caps: Caps::default(),
            want: Want::Mixed,
        },
        Case {
            name: "non-ur qr among ur frames",
            texts: not_ur,
            caps: Caps::default(),
            want: Want::NotUr,
        },
        Case {
            name: "message over the size cap",
            texts: a.clone(),
            caps: tight(100, 10_000),
            want: Want::TooLarge,
        },
        Case {
            name: "more fragments than the frame cap",
            texts: a.clone(),
            caps: tight(1 << 20, 2),
            want: Want::TooManyFrames,
        },
        Case {
            name: "half the frames",
            texts: a[..a.len() / 2].to_vec(),
            caps: Caps::default(),
            want: Want::Incomplete,
        },
        Case {
            name: "forged fragment",
            texts: forged,
            caps: Caps::default(),
            want: Want::ChecksumMismatch,
        },
        Case {
            name: "unsupported ur type",
            texts: wrong_type,
            caps: Caps::default(),
            want: Want::Unsupported,
        },
        Case {
            name: "ur:crypto-psbt that is not a psbt",
            texts: not_psbt,
            caps: Caps::default(),
            want: Want::InvalidPsbt,
        },
    ]
}

#[test]
fn bad_frame_sets_are_refused_with_distinct_errors() {
    let mut messages = Vec::new();
    for case in cases() {
        let err = decode_texts(&case.texts, &case.caps, |_| {}).expect_err(case.name);
        assert_eq!(classify(&err), Some(case.want), "{}: {err}", case.name);
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "{}: one line: {msg}", case.name);
        assert!(
            msg.chars().next().unwrap().is_lowercase(),
            "{}: {msg}",
            case.name
        );
        messages.push(msg);
    }
    let distinct: std::collections::HashSet<_> = messages.iter().collect();
    assert_eq!(distinct.len(), messages.len(), "{messages:#?}");
}

#[test]
fn bad_qr_images_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    // image-level variants of the cases (the forged and type cases are covered above)
    for case in cases()
        .into_iter()
        .filter(|c| !matches!(c.want, Want::Unsupported | Want::InvalidPsbt))
    {
        let dir = qr_dir(tmp.path(), case.name, &case.texts);
        let out = tmp.path().join(format!("{}.psbt", case.name));
        let err = read_qr_to_file(&dir, &out, &case.caps, Overwrite::Refuse, |_| {})
            .expect_err(case.name);
        match &err {
            ReadQrToFileError::Read(ReadQrError::Decode(e)) => {
                assert_eq!(classify(e), Some(case.want), "{}: {e}", case.name)
            }
            other => panic!("{}: unexpected {other}", case.name),
        }
        assert!(!out.exists(), "{}: output written", case.name);
    }
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !std::path::Path::new(&tmp.path().join(n)).is_dir())
        .collect();
    assert!(leftovers.is_empty(), "files written: {leftovers:?}");
}

#[test]
fn image_count_over_the_frame_cap_is_refused_before_decoding() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("many");
    std::fs::create_dir(&dir).unwrap();
    // not even images: the count alone must refuse, before any file is opened
    for i in 0..5 {
        std::fs::write(dir.join(format!("f{i}.png")), b"not an image").unwrap();
    }
    let caps = Caps {
        max_frames: 4,
        ..Caps::default()
    };
    let err = read_qr(&dir, &caps, |_| {}).unwrap_err();
    assert!(
        matches!(
            err,
            ReadQrError::Decode(DecodeUrError::TooManyFrames { frames: 5, max: 4 })
        ),
        "{err}"
    );
}

#[test]
fn images_without_a_qr_code_or_not_images_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let blank = tmp.path().join("blank.png");
    std::fs::write(
        &blank,
        png(&image::GrayImage::from_pixel(200, 200, image::Luma([255]))),
    )
    .unwrap();
    assert!(matches!(
        read_qr(&blank, &Caps::default(), |_| {}),
        Err(ReadQrError::NoQrFound { .. })
    ));
    let junk = tmp.path().join("junk.png");
    std::fs::write(&junk, b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    assert!(matches!(
        read_qr(&junk, &Caps::default(), |_| {}),
        Err(ReadQrError::Image { .. })
    ));
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(
        read_qr(&empty, &Caps::default(), |_| {}),
        Err(ReadQrError::NoImages { .. })
    ));
    let big = tmp.path().join("big.png");
    std::fs::write(&big, vec![0u8; 2048]).unwrap();
    let caps = Caps {
        max_image_file_bytes: 1024,
        ..Caps::default()
    };
    assert!(matches!(
        read_qr(&big, &caps, |_| {}),
        Err(ReadQrError::ImageTooLarge { size: 2048, .. })
    ));
}

#[test]
fn existing_output_is_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = qr_dir(tmp.path(), "good", &texts(&small()));
    let out = tmp.path().join("out.psbt");
    std::fs::write(&out, b"keep me").unwrap();
    let err = read_qr_to_file(&dir, &out, &Caps::default(), Overwrite::Refuse, |_| {}).unwrap_err();
    assert!(matches!(err, ReadQrToFileError::Write(_)), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    read_qr_to_file(&dir, &out, &Caps::default(), Overwrite::Allow, |_| {}).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), small());
}
