//! The cold signer's QR side: `qr encode|decode`, `export --qr-out`, `inspect --qr-in` (a GIF),
//! `sign --qr-in --qr-out` from a lossy, shuffled capture giving the bytes `sign FILE` gives,
//! refusals with one exit code per QR class and nothing written, and the library entry point
//! (`cold_signer::run_to_code`) called repeatedly in one process.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{cold_signer, Scratch, ALL_MNEMONIC};
use mona_airgap::{encode_ur, qr_codes, Density, Payload, QrSettings};
use serde_json::Value;

fn psbt_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/psbt")
}

fn good(case: &str, file: &str) -> PathBuf {
    psbt_fixtures().join("good").join(case).join(file)
}

fn policy() -> PathBuf {
    psbt_fixtures().join("policy-regtest.toml")
}

fn encode(file: &Path, dir: &Path, density: &str) {
    cold_signer()
        .args(["qr", "encode"])
        .arg(file)
        .arg("--qr-out")
        .arg(dir)
        .args(["--qr-density", density])
        .assert()
        .success();
}

/// Copies the PNG frames of `from` into `to` in a deterministic shuffled order, dropping a
/// third, under names that hide the original order. Returns (frames written, frames kept).
fn drop_third_and_shuffle(from: &Path, to: &Path, seed: u64) -> (usize, usize) {
    let mut frames: Vec<PathBuf> = fs::read_dir(from)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    frames.sort();
    let total = frames.len();
    let mut state = seed | 1;
    for i in (1..frames.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        frames.swap(i, (state % (i as u64 + 1)) as usize);
    }
    frames.truncate(total - total / 3);
    fs::create_dir_all(to).unwrap();
    for (i, f) in frames.iter().enumerate() {
        fs::copy(f, to.join(format!("shot-{:03}.png", (i * 37) % 1000))).unwrap();
    }
    (total, frames.len())
}

fn sign(s: &Scratch, wallet: &Path) -> assert_cmd::Command {
    let mut cmd = cold_signer();
    cmd.args([
        "--network",
        "regtest",
        "--json",
        "sign",
        "--yes",
        "--wallet",
    ])
    .arg(wallet)
    .arg("--policy")
    .arg(policy())
    .arg("--passphrase-file")
    .arg(s.path("pass.txt"));
    cmd
}

#[test]
fn sign_from_a_lossy_shuffled_capture_gives_the_bytes_sign_file_gives() {
    let s = Scratch::new();
    let wallet = s.restore("regtest", "w", ALL_MNEMONIC);
    let case = "2-mixed-three-inputs";
    let qr = s.path("qr");
    encode(&good(case, "unsigned.psbt"), &qr, "low");
    let (total, kept) = drop_third_and_shuffle(&qr, &s.path("captured"), 7);
    assert!(total > 10 && kept < total, "{total} {kept}");

    // --qr-in to --qr-out (and --out): the signed PSBT both ways
    let out = sign(&s, &wallet)
        .arg("--qr-in")
        .arg(s.path("captured"))
        .arg("--qr-out")
        .arg(s.path("signed-qr"))
        .arg("--out")
        .arg(s.path("via-qr-signed.psbt"))
        .output()
        .unwrap();
    let r = common::stdout_json(&out);
    assert_eq!(r["complete"], true);
    assert!(r["qr_frames"].as_u64().unwrap() > 1, "{r}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("frames "))
        .collect();
    assert_eq!(
        progress.len(),
        kept,
        "one progress line per frame: {stderr}"
    );
    assert!(progress.last().unwrap().ends_with("100%"), "{stderr}");

    // the reference: sign FILE
    fs::copy(good(case, "unsigned.psbt"), s.path("ref.psbt")).unwrap();
    sign(&s, &wallet).arg(s.path("ref.psbt")).assert().success();
    let reference = fs::read(s.path("ref-signed.psbt")).unwrap();
    assert_eq!(fs::read(s.path("via-qr-signed.psbt")).unwrap(), reference);
    cold_signer()
        .args(["qr", "decode"])
        .arg(s.path("signed-qr"))
        .arg("--out")
        .arg(s.path("decoded.psbt"))
        .assert()
        .success();
    assert_eq!(fs::read(s.path("decoded.psbt")).unwrap(), reference);
    let expected = fs::read_to_string(good(case, "final-tx.hex")).unwrap();
    for f in ["ref-final.txn", "via-qr-final.txn"] {
        assert_eq!(
            fs::read_to_string(s.path(f)).unwrap().trim(),
            expected.trim(),
            "{f}"
        );
    }

    // FILE with --qr-out: the file outputs as before, and the same bytes as QR codes
    fs::copy(good(case, "unsigned.psbt"), s.path("ref2.psbt")).unwrap();
    sign(&s, &wallet)
        .arg(s.path("ref2.psbt"))
        .arg("--qr-out")
        .arg(s.path("ref2-qr"))
        .assert()
        .success();
    assert_eq!(fs::read(s.path("ref2-signed.psbt")).unwrap(), reference);
    cold_signer()
        .args(["qr", "decode"])
        .arg(s.path("ref2-qr/qr.gif"))
        .arg("--out")
        .arg(s.path("decoded2.psbt"))
        .assert()
        .success();
    assert_eq!(fs::read(s.path("decoded2.psbt")).unwrap(), reference);

    // --qr-in needs somewhere to put the signed PSBT
    sign(&s, &wallet)
        .arg("--qr-in")
        .arg(s.path("captured"))
        .assert()
        .code(2);
    // an existing QR output directory is refused before anything is decoded or signed
    sign(&s, &wallet)
        .arg("--qr-in")
        .arg(s.path("captured"))
        .arg("--qr-out")
        .arg(s.path("signed-qr"))
        .assert()
        .code(5);
}

#[test]
fn inspect_reads_an_animated_gif_like_the_file() {
    let s = Scratch::new();
    let case = "3-batch-two-outputs";
    encode(
        &good(case, "unsigned.psbt.base64.txt"),
        &s.path("qr"),
        "medium",
    );
    let inspect = |source: &[&std::ffi::OsStr]| {
        let out = cold_signer()
            .args(["--network", "regtest", "--json", "inspect"])
            .args(source)
            .arg("--policy")
            .arg(policy())
            .output()
            .unwrap();
        // refused (no --wallet: nothing provably ours) but fully reported
        assert_eq!(out.status.code(), Some(3));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v
    };
    let gif = s.path("qr").join("qr.gif");
    let from_gif = inspect(&["--qr-in".as_ref(), gif.as_os_str()]);
    let from_file = inspect(&[good(case, "unsigned.psbt").as_os_str()]);
    assert_eq!(from_gif, from_file);
    assert_eq!(from_gif["outputs"].as_array().unwrap().len(), 3);
    // FILE and --qr-in are exclusive, and one is required
    cold_signer()
        .args(["--network", "regtest", "inspect", "--qr-in"])
        .arg(&gif)
        .arg(good(case, "unsigned.psbt"))
        .assert()
        .code(2);
    cold_signer()
        .args(["--network", "regtest", "inspect"])
        .assert()
        .code(2);
}

#[test]
fn export_qr_out_decodes_to_the_export_file() {
    let s = Scratch::new();
    let wallet = s.restore("regtest", "w", ALL_MNEMONIC);
    cold_signer()
        .args(["--network", "regtest", "export", "--wallet"])
        .arg(&wallet)
        .arg("--passphrase-file")
        .arg(s.path("pass.txt"))
        .arg("--out")
        .arg(s.path("export.json"))
        .arg("--qr-out")
        .arg(s.path("export-qr"))
        .args(["--qr-density", "high"])
        .assert()
        .success();
    let manifest: Value =
        serde_json::from_slice(&fs::read(s.path("export-qr/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["ur_type"], "bytes");
    cold_signer()
        .args(["qr", "decode"])
        .arg(s.path("export-qr"))
        .arg("--out")
        .arg(s.path("decoded.json"))
        .assert()
        .success();
    assert_eq!(
        fs::read(s.path("decoded.json")).unwrap(),
        fs::read(s.path("export.json")).unwrap()
    );
    // an export is not a PSBT: inspect refuses it as the wrong kind
    cold_signer()
        .args(["--network", "regtest", "inspect", "--qr-in"])
        .arg(s.path("export-qr/qr.gif"))
        .assert()
        .code(28);
}

// ---- crafted bad input -------------------------------------------------------------------

fn texts(case: &str) -> Vec<String> {
    let psbt = fs::read(good(case, "unsigned.psbt")).unwrap();
    let s = QrSettings {
        extra_frames_ratio: 0.0,
        ..QrSettings::with_density(Density::Low)
    };
    let ur = encode_ur(&Payload::Psbt(psbt), &s).unwrap();
    assert!(ur.fragment_count > 2);
    ur.texts
}

fn corrupt(text: &str) -> String {
    let mut b = text.as_bytes().to_vec();
    let i = b.len() - 12;
    b[i] = if b[i] == b'A' { b'E' } else { b'A' };
    String::from_utf8(b).unwrap()
}

fn forge(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let (head, body) = lower.rsplit_once('/').unwrap();
    let mut cbor = ur::bytewords::decode(body, ur::bytewords::Style::Minimal).unwrap();
    let last = cbor.len() - 1;
    cbor[last] ^= 0x01;
    format!(
        "{head}/{}",
        ur::bytewords::encode(&cbor, ur::bytewords::Style::Minimal)
    )
    .to_ascii_uppercase()
}

/// A well-formed fountain part announcing `seq_len` one-byte fragments.
fn many_parts(seq_len: u16) -> String {
    let mut cbor = vec![0x85, 0x01, 0x19];
    cbor.extend(seq_len.to_be_bytes());
    cbor.push(0x19);
    cbor.extend(seq_len.to_be_bytes());
    cbor.extend([0x1a, 0x12, 0x34, 0x56, 0x78, 0x41, 0x00]);
    let body = ur::bytewords::encode(&cbor, ur::bytewords::Style::Minimal);
    format!("UR:CRYPTO-PSBT/1-{seq_len}/{body}").to_ascii_uppercase()
}

fn qr_dir(dir: &Path, texts: &[String]) {
    fs::create_dir_all(dir).unwrap();
    for (i, code) in qr_codes(texts).unwrap().iter().enumerate() {
        let png = mona_airgap::png_bytes(&code.to_image(4)).unwrap();
        fs::write(dir.join(format!("f{i:03}.png")), png).unwrap();
    }
}

#[test]
fn bad_qr_input_is_refused_with_its_exit_code_and_nothing_written() {
    let s = Scratch::new();
    let wallet = s.restore("regtest", "w", ALL_MNEMONIC);
    let a = texts("1-p2wpkh-single-input");
    let b = texts("3-batch-two-outputs");
    let with = |i: usize, t: String| {
        let mut v = a.clone();
        v[i] = t;
        v
    };
    let mut mixed = a.clone();
    mixed.push(b[0].clone());
    let mut not_ur = a.clone();
    not_ur.insert(1, "HTTPS://EXAMPLE.COM/PAY?AMOUNT=1".to_owned());
    let cases: Vec<(&str, Vec<String>, i32)> = vec![
        ("not-ur", not_ur, 21),
        ("corrupted", with(1, corrupt(&a[1])), 22),
        ("forged", with(0, forge(&a[0])), 23),
        ("mixed", mixed, 24),
        ("too-many-frames", vec![many_parts(20_000)], 26),
        ("incomplete", a[..a.len() / 2].to_vec(), 27),
    ];
    for (name, texts, code) in cases {
        let dir = s.path(name);
        qr_dir(&dir, &texts);
        let out = cold_signer()
            .args(["qr", "decode"])
            .arg(&dir)
            .arg("--out")
            .arg(s.path("out.psbt"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "qr decode {name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{name}: {stderr}");
        let out = sign(&s, &wallet)
            .arg("--qr-in")
            .arg(&dir)
            .arg("--qr-out")
            .arg(s.path("signed-qr"))
            .arg("--out")
            .arg(s.path("signed.psbt"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "sign --qr-in {name}");
        for written in ["out.psbt", "signed.psbt", "signed-final.txn", "signed-qr"] {
            assert!(!s.path(written).exists(), "{name}: wrote {written}");
        }
    }

    // over the size cap: the policy's max_psbt_bytes caps what --qr-in decodes
    let small_policy = fs::read_to_string(policy())
        .unwrap()
        .replace("[limits]", "[limits]\nmax_psbt_bytes = 500");
    let small_policy = s.write("small-policy.toml", &small_policy);
    qr_dir(&s.path("big"), &b);
    cold_signer()
        .args(["--network", "regtest", "inspect", "--qr-in"])
        .arg(s.path("big"))
        .arg("--policy")
        .arg(&small_policy)
        .assert()
        .code(25);

    // no qr code: an undecodable image, a directory without images
    fs::write(s.path("junk.png"), b"\x89PNG\r\n\x1a\nnot a png").unwrap();
    fs::create_dir(s.path("empty")).unwrap();
    for path in ["junk.png", "empty"] {
        cold_signer()
            .args(["qr", "decode"])
            .arg(s.path(path))
            .arg("--out")
            .arg(s.path("out.psbt"))
            .assert()
            .code(20);
    }
    assert!(!s.path("out.psbt").exists());
}

#[test]
fn the_library_entry_point_runs_again_and_again_in_one_process() {
    let addr = "PHjTKtgYLTJ9D2Bzw2f6xBB41KBm2HeGfg";
    for _ in 0..3 {
        assert_eq!(
            cold_signer::run_to_code(["cold-signer", "--json", "address", "decode", addr]),
            0
        );
    }
    assert_eq!(cold_signer::run_to_code(["cold-signer", "--help"]), 0);
    assert_eq!(cold_signer::run_to_code(["cold-signer", "--bogus"]), 2);
    assert_eq!(
        cold_signer::run_to_code(["cold-signer", "address", "decode", "not-an-address"]),
        3
    );
    assert_eq!(
        cold_signer::run(["cold-signer", "address", "decode", addr]),
        std::process::ExitCode::SUCCESS
    );
}

#[test]
fn qr_show_plays_the_sequence_on_the_terminal() {
    let file = good("1-p2wpkh-single-input", "unsigned.psbt");
    let out = cold_signer()
        .args(["qr", "encode"])
        .arg(&file)
        .args(["--qr-show", "--qr-loops", "2", "--qr-fps", "30"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let frames = text
        .lines()
        .filter(|l| l.starts_with("ur:crypto-psbt frame "))
        .count();
    let last = text
        .lines()
        .rfind(|l| l.starts_with("ur:crypto-psbt frame "))
        .unwrap();
    // N frames, twice; half-block rows of modules between the status lines
    let n: usize = last["ur:crypto-psbt frame ".len()..]
        .split(['/', ' '])
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(frames, 2 * n, "{last}");
    assert!(text.contains('\u{2580}') || text.contains('\u{2584}') || text.contains('\u{2588}'));
    // under --json the animation goes to stderr and stdout stays one JSON object
    let out = cold_signer()
        .args(["--json", "qr", "encode"])
        .arg(&file)
        .args(["--qr-show", "--qr-loops", "1", "--qr-fps", "30"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty() || serde_json::from_slice::<Value>(&out.stdout).is_ok());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ur:crypto-psbt frame 1/"));
}
