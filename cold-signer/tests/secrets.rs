//! The mnemonic is shown once by `init` and never appears in logs (RUST_LOG=trace) or errors.

mod common;

use common::{cold_signer, stdout_json, Scratch, FAST_KDF};

fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    // Any run of three consecutive words of the phrase counts as a leak.
    let words: Vec<&str> = phrase.split(' ').collect();
    words.windows(3).any(|w| haystack.contains(&w.join(" ")))
}

#[test]
fn mnemonic_never_logged() {
    let s = Scratch::new();
    let pass = s.write("pass.txt", "pw\n");
    let w = s.path("w");
    let init = cold_signer()
        .env("RUST_LOG", "trace")
        .args(["--network", "regtest", "--json", "init", "--wallet"])
        .arg(&w)
        .arg("--passphrase-file")
        .arg(&pass)
        .args(FAST_KDF)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&init.stderr).into_owned();
    let created = stdout_json(&init);
    let phrase = created["mnemonic"].as_str().unwrap().to_owned();
    assert!(
        stderr.contains("wallet created"),
        "trace logging is on: {stderr}"
    );
    assert!(!contains_phrase(&stderr, &phrase), "mnemonic in init log");
    let stdout = String::from_utf8_lossy(&init.stdout);
    assert_eq!(
        stdout.matches(phrase.as_str()).count(),
        1,
        "shown exactly once"
    );

    let m = s.write("m.txt", &phrase);
    let mut runs: Vec<(&str, Vec<String>)> = vec![
        (
            "restore",
            vec![
                "restore".into(),
                "--wallet".into(),
                s.path("w2").display().to_string(),
                "--mnemonic-file".into(),
                m.display().to_string(),
                "--passphrase-file".into(),
                pass.display().to_string(),
            ],
        ),
        (
            "export",
            vec![
                "export".into(),
                "--wallet".into(),
                w.display().to_string(),
                "--passphrase-file".into(),
                pass.display().to_string(),
            ],
        ),
        (
            "derive",
            vec![
                "derive".into(),
                "--mnemonic-file".into(),
                m.display().to_string(),
                "--path".into(),
                "m/84'/1'/0'/0/0".into(),
            ],
        ),
    ];
    runs[0].1.extend(FAST_KDF.iter().map(|s| s.to_string()));
    for (name, args) in runs {
        let out = cold_signer()
            .env("RUST_LOG", "trace")
            .args(["--network", "regtest", "--json"])
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!contains_phrase(&all, &phrase), "mnemonic in {name} output");
    }
}

#[test]
fn mnemonic_never_in_error_output() {
    let s = Scratch::new();
    let pass = s.write("pass.txt", "pw\n");
    // A valid phrase with its last word swapped (checksum fails) and one with an unknown word.
    let cases = [
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon",
        "zebra zebra zebra zebra zebra zebra zebra zebra zebra zebra zebra qwertyuiop",
        "zoo zoo zoo zoo zoo",
    ];
    for phrase in cases {
        let m = s.write("m.txt", phrase);
        for sub in [vec!["derive", "--path", "m/0"], vec!["restore", "--wallet"]] {
            let mut cmd = cold_signer();
            cmd.env("RUST_LOG", "trace")
                .args(["--network", "regtest"])
                .args(&sub);
            if sub[0] == "restore" {
                cmd.arg(s.path("w"))
                    .arg("--passphrase-file")
                    .arg(&pass)
                    .args(FAST_KDF);
            }
            let out = cmd.arg("--mnemonic-file").arg(&m).output().unwrap();
            assert_eq!(out.status.code(), Some(3), "{phrase}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!contains_phrase(&stderr, phrase), "{stderr}");
            assert!(!stderr.contains("qwertyuiop"), "{stderr}");
            assert!(!s.path("w").exists());
        }
    }
}

#[test]
fn wrong_passphrase_error_does_not_echo_it() {
    let s = Scratch::new();
    let w = s.restore("regtest", "w", common::ALL_MNEMONIC);
    let wrong = s.write("wrong.txt", "hunter2-secret-guess\n");
    let out = cold_signer()
        .env("RUST_LOG", "trace")
        .args(["--network", "regtest", "export", "--wallet"])
        .arg(&w)
        .arg("--passphrase-file")
        .arg(&wrong)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
}
