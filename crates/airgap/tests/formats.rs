//! Accepted input forms (ur:psbt, lower case, single-frame base64), the watch-only export's
//! UR type, single-part codes, the terminal rendering, and the PSBT/transaction files.

mod common;

use bitcoin::base64::{engine::general_purpose::STANDARD, Engine as _};
use common::*;
use mona_airgap::*;

fn psbt() -> Vec<u8> {
    fixtures()[0].bytes.clone()
}

/// A one-input, one-output transaction (unsigned: empty script_sig).
fn tiny_tx() -> bitcoin::Transaction {
    bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn::default()],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(1000),
            script_pubkey: bitcoin::ScriptBuf::new(),
        }],
    }
}

fn qr_png(tmp: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = tmp.join(name);
    let code = &qr_codes(&[text.to_owned()]).unwrap()[0];
    std::fs::write(&path, png(&code.to_image(4))).unwrap();
    path
}

#[test]
fn psbt_ur_aliases_and_cases_decode_the_same() {
    let settings = QrSettings {
        extra_frames_ratio: 0.0,
        ..QrSettings::with_density(Density::Low)
    };
    let ur = encode_ur(&Payload::Psbt(psbt()), &settings).unwrap();
    assert!(ur.texts.iter().all(|t| t.starts_with("UR:CRYPTO-PSBT/")));
    assert!(ur
        .texts
        .iter()
        .all(|t| !t.chars().any(|c| c.is_ascii_lowercase())));
    let cases: [(&str, Vec<String>); 3] = [
        ("as written", ur.texts.clone()),
        (
            "lower case",
            ur.texts.iter().map(|t| t.to_ascii_lowercase()).collect(),
        ),
        (
            "ur:psbt",
            ur.texts
                .iter()
                .map(|t| t.replace("UR:CRYPTO-PSBT/", "ur:psbt/"))
                .collect(),
        ),
    ];
    for (name, texts) in cases {
        let got = decode_texts(&texts, &Caps::default(), |_| {})
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, Payload::Psbt(psbt()), "{name}");
    }
}

#[test]
fn single_frame_base64_psbt_and_single_part_ur_images_decode() {
    let tmp = tempfile::tempdir().unwrap();
    let b64 = STANDARD.encode(psbt());
    let path = qr_png(tmp.path(), "b64.png", &b64);
    assert_eq!(
        read_qr(&path, &Caps::default(), |_| {}).unwrap(),
        Payload::Psbt(psbt())
    );

    // a small PSBT fits one frame: a single-part UR
    let tiny = bitcoin::Psbt::from_unsigned_tx(tiny_tx())
        .unwrap()
        .serialize();
    let seq = encode_qr(&Payload::Psbt(tiny.clone()), &QrSettings::default()).unwrap();
    assert_eq!(seq.len(), 1);
    assert_eq!(seq.ur.fragment_count, 1);
    assert!(
        seq.ur.texts[0].starts_with("UR:CRYPTO-PSBT/") && seq.ur.texts[0].matches('/').count() == 1
    );
    let path = tmp.path().join("single.png");
    std::fs::write(&path, seq.frame_png(0).unwrap()).unwrap();
    let mut progress = Vec::new();
    let got = read_qr(&path, &Caps::default(), |p| progress.push(p.to_string())).unwrap();
    assert_eq!(got, Payload::Psbt(tiny));
    assert_eq!(progress, ["frames 1/1, 100%"]);
}

#[test]
fn watch_only_export_travels_as_ur_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let json = format!(
        "{{\"fingerprint\":\"d34db33f\",\"descriptors\":[{}]}}",
        (0..20)
            .map(|i| format!("\"wpkh([d34db33f/84h/22h/0h]xpub.../{i}/*)#abcdefgh\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let payload = Payload::WatchOnlyExport(json.clone());
    let settings = QrSettings::with_density(Density::Low);
    let out = write_qr(tmp.path(), &payload, &settings, Overwrite::Refuse).unwrap();
    assert_eq!(out.ur_type, "bytes");
    assert!(out.fragment_count > 1);
    let got = read_qr(&out.gif, &Caps::default(), |_| {}).unwrap();
    assert_eq!(got.clone().into_watch_only_export().unwrap(), json);
    assert!(got.into_psbt().is_err());
    // a non-JSON export is refused before anything is drawn
    let err = encode_qr(&Payload::WatchOnlyExport("not json".into()), &settings).unwrap_err();
    assert!(matches!(err, EncodeQrError::InvalidPayload { .. }), "{err}");
    let err = encode_qr(&Payload::Psbt(b"psbt\xffgarbage".to_vec()), &settings).unwrap_err();
    assert!(matches!(err, EncodeQrError::InvalidPayload { .. }), "{err}");
}

#[test]
fn all_frames_of_a_sequence_have_the_same_size() {
    let f = &fixtures()[7]; // the 30-input consolidation, signed
    let seq = encode_qr(
        &Payload::Psbt(f.bytes.clone()),
        &QrSettings::with_density(Density::High),
    )
    .unwrap();
    let w = seq.codes[0].width();
    assert!(seq.codes.iter().all(|c| c.width() == w));
    assert_eq!(seq.len(), seq.ur.fragment_count * 3 + 2);
}

#[test]
fn terminal_rendering_animates_in_place() {
    let seq = encode_qr(
        &Payload::Psbt(psbt()),
        &QrSettings {
            fps: 10.0,
            extra_frames_ratio: 0.0,
            ..QrSettings::with_density(Density::Low)
        },
    )
    .unwrap();
    let mut out = Vec::new();
    let mut sleeps = Vec::new();
    seq.play_terminal(&mut out, 2, true, |d| sleeps.push(d))
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(sleeps.len(), seq.len() * 2);
    assert!(sleeps.iter().all(|d| d.as_millis() == 100));
    assert!(text.contains('\u{2580}') && text.contains('\u{2584}') && text.contains('\u{2588}'));
    assert!(text.contains(&format!("frame {}/{} (loop 2/2)", seq.len(), seq.len())));
    // every frame after the first moves the cursor back up over the previous one
    let lines = seq.codes[0].to_terminal(true).lines().count() + 1;
    assert_eq!(
        text.matches(&format!("\x1b[{lines}A")).count(),
        seq.len() * 2 - 1
    );
    // the terminal matrix has the same modules as the image: rows are halved
    let plain = seq.codes[0].to_terminal(false);
    let side = seq.codes[0].width() + 2 * QUIET_ZONE_MODULES as usize;
    assert_eq!(plain.lines().count(), side.div_ceil(2));
    assert!(plain.lines().all(|l| l.chars().count() == side));
}

#[test]
fn psbt_files_read_in_every_encoding() {
    let tmp = tempfile::tempdir().unwrap();
    for f in fixtures() {
        let b64 = STANDARD.encode(&f.bytes);
        let wrapped: String = b64
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        let forms: [(&str, Vec<u8>, PsbtFormat); 4] = [
            ("binary", f.bytes.clone(), PsbtFormat::Binary),
            (
                "base64",
                format!("{b64}\n").into_bytes(),
                PsbtFormat::Base64,
            ),
            ("base64 wrapped", wrapped.into_bytes(), PsbtFormat::Base64),
            (
                "hex upper",
                hex::encode_upper(&f.bytes).into_bytes(),
                PsbtFormat::Hex,
            ),
        ];
        for (name, content, format) in forms {
            let path = tmp.path().join("in.psbt");
            std::fs::write(&path, content).unwrap();
            let loaded = read_psbt_file(&path, DEFAULT_MAX_FILE_BYTES)
                .unwrap_or_else(|e| panic!("{} {name}: {e}", f.name));
            assert_eq!(loaded.bytes, f.bytes, "{} {name}", f.name);
            assert_eq!(loaded.format, format, "{} {name}", f.name);
        }
    }
}

#[test]
fn psbt_file_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let good = psbt();
    let mut truncated = good.clone();
    truncated.truncate(good.len() - 10);
    let cases: [(&str, Vec<u8>, usize); 5] = [
        ("over the cap", good.clone(), 100),
        ("truncated", truncated, DEFAULT_MAX_FILE_BYTES),
        ("text", b"hello".to_vec(), DEFAULT_MAX_FILE_BYTES),
        (
            "bad base64",
            b"cHNidP8!!!!".to_vec(),
            DEFAULT_MAX_FILE_BYTES,
        ),
        ("empty", Vec::new(), DEFAULT_MAX_FILE_BYTES),
    ];
    for (name, content, cap) in cases {
        let path = tmp.path().join("x.psbt");
        std::fs::write(&path, &content).unwrap();
        let err = read_psbt_file(&path, cap).unwrap_err();
        let ok = match name {
            "over the cap" => matches!(err, ReadPsbtError::TooLarge { .. }),
            "truncated" => matches!(err, ReadPsbtError::Invalid(_)),
            "text" | "empty" => matches!(err, ReadPsbtError::UnknownFormat { .. }),
            _ => matches!(err, ReadPsbtError::Base64(_)),
        };
        assert!(ok, "{name}: {err}");
    }
    let err = read_psbt_file(&tmp.path().join("missing.psbt"), 100).unwrap_err();
    assert!(matches!(err, ReadPsbtError::Io { .. }) && err.to_string().contains("missing.psbt"));
}

#[test]
fn writes_are_atomic_and_refuse_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let unsigned = tmp.path().join("topup-7.psbt");
    write_psbt_file(&unsigned, &psbt(), Overwrite::Refuse).unwrap();
    assert_eq!(std::fs::read(&unsigned).unwrap(), psbt());
    let err = write_psbt_file(&unsigned, &fixtures()[1].bytes, Overwrite::Refuse).unwrap_err();
    assert!(matches!(err, WriteFileError::AlreadyExists(_)), "{err}");
    assert_eq!(std::fs::read(&unsigned).unwrap(), psbt());
    // garbage is never written
    let err =
        write_psbt_file(&tmp.path().join("bad.psbt"), b"nope", Overwrite::Refuse).unwrap_err();
    assert!(
        matches!(err, WriteFileError::InvalidContent { .. }),
        "{err}"
    );
    assert!(!tmp.path().join("bad.psbt").exists());

    let signed = signed_psbt_path(&unsigned);
    assert_eq!(signed, tmp.path().join("topup-7-signed.psbt"));
    write_psbt_file(&signed, &fixtures()[1].bytes, Overwrite::Refuse).unwrap();
    write_psbt_file(&signed, &fixtures()[1].bytes, Overwrite::Allow).unwrap();

    let final_path = final_tx_path(&signed);
    assert_eq!(final_path, tmp.path().join("topup-7-final.txn"));
    let tx = bitcoin::consensus::serialize(&tiny_tx());
    write_final_tx(&final_path, &tx, Overwrite::Refuse).unwrap();
    let text = std::fs::read_to_string(&final_path).unwrap();
    assert_eq!(text, format!("{}\n", hex::encode(&tx)));
    assert_eq!(
        read_final_tx(&final_path, DEFAULT_MAX_FILE_BYTES).unwrap(),
        tx
    );
    let err = write_final_tx(
        &tmp.path().join("x-final.txn"),
        &tx[..10],
        Overwrite::Refuse,
    )
    .unwrap_err();
    assert!(
        matches!(err, WriteFileError::InvalidContent { .. }),
        "{err}"
    );

    // no temp files are left behind
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}
