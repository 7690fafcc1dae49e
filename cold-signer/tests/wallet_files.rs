//! init / restore / export round trips, and every way a wallet file can be refused (each with
//! its own exit code, the file unchanged).

mod common;

use std::fs;

use common::{cold_signer, snapshot, stdout_json, Scratch, ALL_MNEMONIC, FAST_KDF};
use serde_json::Value;

fn export(
    s: &Scratch,
    network: &str,
    wallet: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    cold_signer()
        .args(["--network", network, "--json", "export", "--wallet"])
        .arg(wallet)
        .arg("--passphrase-file")
        .arg(s.path("pass.txt"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn restore_all_mnemonic_exports_the_fixture_descriptors_on_regtest() {
    let s = Scratch::new();
    let w = s.restore("regtest", "w", ALL_MNEMONIC);
    let e = stdout_json(&export(&s, "regtest", &w, &[]));
    let tpub = "tpubDCZB6sR48s4T5Cr8qHUYSZEFCQMMHRg8AoVKVmvcAP5bRw7ArDKeoNwKAJujV3xCPkBvXH5ejSgbgyN6kREmF7sMd41NdbuHa8n1DZNxSMg";
    assert_eq!(e["network"], "regtest");
    assert_eq!(e["master_fingerprint"], "5c9e228d");
    assert_eq!(e["account_type"], "bip84");
    assert_eq!(e["account_path"], "m/84'/1'/0'");
    assert_eq!(e["account_xpub"], tpub);
    assert!(e["account_xpub_slip132"]
        .as_str()
        .unwrap()
        .starts_with("vpub"));
    assert_eq!(
        e["receive_descriptor"],
        format!("wpkh([5c9e228d/84'/1'/0']{tpub}/0/*)#rn0zejch")
    );
    assert_eq!(
        e["change_descriptor"],
        format!("wpkh([5c9e228d/84'/1'/0']{tpub}/1/*)#j82ry8g0")
    );
    assert_eq!(
        e["first_receive_address"],
        "rmona1qkvwu9g3k2pdxewfqr7syz89r3gj557l3506gn9"
    );
    let accounts = e["accounts"].as_array().unwrap();
    let by_type = |t: &str| {
        accounts
            .iter()
            .find(|a| a["account_type"] == t)
            .unwrap()
            .clone()
    };
    let checksums = [
        ("bip84", "wpkh(", "#rn0zejch", "#j82ry8g0"),
        ("bip49", "sh(wpkh(", "#qfh8hjq8", "#4ge30d4c"),
        ("bip44", "pkh(", "#k65gljcw", "#8w3fz8gk"),
    ];
    for (t, prefix, receive, change) in checksums {
        let a = by_type(t);
        let r = a["receive_descriptor"].as_str().unwrap();
        let c = a["change_descriptor"].as_str().unwrap();
        assert!(r.starts_with(prefix) && r.ends_with(receive), "{t}: {r}");
        assert!(c.starts_with(prefix) && c.ends_with(change), "{t}: {c}");
    }
    assert_eq!(
        by_type("bip84")["receive_descriptor"],
        e["receive_descriptor"]
    );
    // --account picks the top-level account.
    let e44 = stdout_json(&export(&s, "regtest", &w, &["--account", "bip44"]));
    assert_eq!(
        e44["receive_descriptor"],
        by_type("bip44")["receive_descriptor"]
    );
    assert!(e44["account_xpub_slip132"]
        .as_str()
        .unwrap()
        .starts_with("tpub"));
}

#[test]
fn restore_all_mnemonic_exports_the_fixture_keys_on_mainnet() {
    let s = Scratch::new();
    let w = s.restore("mainnet", "w", ALL_MNEMONIC);
    let out_file = s.path("watch.json");
    let e = stdout_json(&export(
        &s,
        "mainnet",
        &w,
        &["--out", out_file.to_str().unwrap()],
    ));
    assert_eq!(e["account_path"], "m/84'/22'/0'");
    assert_eq!(e["account_xpub"], "xpub6CgSixH5d3CpvrZYhNumdexAQjEP7H8tkZgMyeZVJvSTqpW9kmCFpzPFBtte1LuRQK3iy4cyoJxnZkW7YqxvNcewKH8xAHKDbYyb6C5aYrG");
    assert_eq!(e["account_xpub_slip132"], "zpub6rLyLHcuvQHndSwnN6V23q9AkfXGzX7tanioYSMG4wCDx28cG5XP57hXEJop1ADGDbHLU1p6idftLKjEzEnwy6293xXoL6xC916ssLc7yna");
    assert_eq!(
        e["first_receive_address"],
        "mona1qexmc9urdumk860d9fgtw0j03cz78plpsffge7n"
    );
    assert!(e["receive_descriptor"]
        .as_str()
        .unwrap()
        .starts_with("wpkh([5c9e228d/84'/22'/0']xpub6CgSix"));
    // The file holds the same JSON; a second export refuses to overwrite it.
    let written: Value = serde_json::from_str(&fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(written, e);
    let before = snapshot(&out_file);
    let again = export(&s, "mainnet", &w, &["--out", out_file.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(5));
    assert_eq!(snapshot(&out_file), before);
}

#[test]
fn init_then_restore_of_its_mnemonic_export_the_same_wallet() {
    // One init with the default (slow) KDF parameters, so the real path is exercised.
    let s = Scratch::new();
    let pass = s.write("pass1.txt", "correct horse battery staple\n");
    let w1 = s.path("w1");
    let out = cold_signer()
        .args([
            "--network",
            "regtest",
            "--json",
            "init",
            "--words",
            "12",
            "--wallet",
        ])
        .arg(&w1)
        .arg("--passphrase-file")
        .arg(&pass)
        .output()
        .unwrap();
    let created = stdout_json(&out);
    let mnemonic = created["mnemonic"].as_str().unwrap().to_owned();
    assert_eq!(mnemonic.split(' ').count(), 12);
    assert_eq!(created["words"], 12);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(w1.join("seed.enc"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(&w1).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
    }
    // The seed file never contains the mnemonic in clear.
    let raw = fs::read(w1.join("seed.enc")).unwrap();
    assert!(!raw
        .windows(mnemonic.len())
        .any(|w| w == mnemonic.as_bytes()));
    let w2 = s.restore("regtest", "w2", &mnemonic);
    let e1 = stdout_json(
        &cold_signer()
            .args(["--network", "regtest", "--json", "export", "--wallet"])
            .arg(&w1)
            .arg("--passphrase-file")
            .arg(&pass)
            .output()
            .unwrap(),
    );
    let e2 = stdout_json(&export(&s, "regtest", &w2, &[]));
    assert_eq!(e1, e2);
    assert_eq!(e1["master_fingerprint"], created["master_fingerprint"]);
}

#[test]
fn init_24_words_human_output_shows_the_words_once() {
    let s = Scratch::new();
    let pass = s.write("pass.txt", "pw");
    let out = cold_signer()
        .args(["init", "--wallet"])
        .arg(s.path("w"))
        .arg("--passphrase-file")
        .arg(&pass)
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("24. "), "{text}");
    assert!(text.contains("shown only this once"));
}

#[test]
fn init_twice_and_restore_over_a_wallet_refuse_with_exit_5() {
    let s = Scratch::new();
    let w = s.restore("regtest", "w", ALL_MNEMONIC);
    let seed = w.join("seed.enc");
    let before = snapshot(&seed);
    let init = cold_signer()
        .args(["--network", "regtest", "init", "--wallet"])
        .arg(&w)
        .arg("--passphrase-file")
        .arg(s.path("pass.txt"))
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_eq!(init.status.code(), Some(5));
    assert!(init.stdout.is_empty(), "no mnemonic printed when refusing");
    let restore = cold_signer()
        .args(["--network", "regtest", "restore", "--wallet"])
        .arg(&w)
        .arg("--mnemonic-file")
        .arg(s.path("mnemonic.txt"))
        .arg("--passphrase-file")
        .arg(s.path("pass.txt"))
        .args(FAST_KDF)
        .output()
        .unwrap();
    assert_eq!(restore.status.code(), Some(5));
    assert_eq!(snapshot(&seed), before);
    assert_eq!(fs::read_dir(&w).unwrap().count(), 1, "no stray files");
}

/// Each damaged or mismatched wallet: (name, how to damage the file, network, passphrase,
/// expected exit code).
#[test]
fn refused_wallets_each_have_their_exit_code_and_stay_unchanged() {
    type Damage = fn(&mut Vec<u8>);
    let cases: &[(&str, Damage, &str, &str, i32)] = &[
        (
            "wrong passphrase",
            |_| {},
            "regtest",
            "not the passphrase\n",
            10,
        ),
        (
            "flipped ciphertext byte",
            |b| {
                let n = b.len();
                b[n - 40] ^= 1
            },
            "regtest",
            "pw\n",
            11,
        ),
        ("flipped header byte", |b| b[12] ^= 1, "regtest", "pw\n", 11),
        (
            "flipped checksum byte",
            |b| {
                let n = b.len();
                b[n - 1] ^= 1
            },
            "regtest",
            "pw\n",
            11,
        ),
        ("trailing byte", |b| b.push(0), "regtest", "pw\n", 11),
        (
            "truncated by one",
            |b| {
                b.pop();
            },
            "regtest",
            "pw\n",
            12,
        ),
        (
            "truncated to half",
            |b| {
                let n = b.len();
                b.truncate(n / 2)
            },
            "regtest",
            "pw\n",
            12,
        ),
        (
            "not a seed file",
            |b| {
                b.clear();
                b.extend_from_slice(b"{\"mnemonic\":\"...\"}")
            },
            "regtest",
            "pw\n",
            13,
        ),
        ("future version", |b| b[9] = 2, "regtest", "pw\n", 14),
        ("other network", |_| {}, "mainnet", "pw\n", 7),
    ];
    for (name, damage, network, passphrase, code) in cases {
        let s = Scratch::new();
        let w = s.restore("regtest", "w", ALL_MNEMONIC);
        let seed = w.join("seed.enc");
        let mut bytes = fs::read(&seed).unwrap();
        damage(&mut bytes);
        if !name.contains("passphrase") && !name.contains("network") {
            // Replace through a new inode, as the damage happened outside our control.
            fs::remove_file(&seed).unwrap();
            fs::write(&seed, &bytes).unwrap();
        }
        let pass = s.write("unlock.txt", passphrase);
        let before = snapshot(&seed);
        let out = cold_signer()
            .args(["--network", network, "--json", "export", "--wallet"])
            .arg(&w)
            .arg("--passphrase-file")
            .arg(&pass)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}: printed a result");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{name}: one-line error: {stderr}"
        );
        assert!(stderr.starts_with("error: "), "{name}: {stderr}");
        assert_eq!(snapshot(&seed), before, "{name}: file changed");
    }
}

#[test]
fn missing_wallet_and_bad_passphrase_files() {
    let s = Scratch::new();
    let pass = s.write("pass.txt", "pw\n");
    cold_signer()
        .args(["export", "--wallet"])
        .arg(s.path("nowhere"))
        .arg("--passphrase-file")
        .arg(&pass)
        .assert()
        .code(6);
    let empty = s.write("empty.txt", "\n");
    cold_signer()
        .args(["init", "--wallet"])
        .arg(s.path("w"))
        .arg("--passphrase-file")
        .arg(&empty)
        .args(FAST_KDF)
        .assert()
        .code(3);
    assert!(!s.path("w").join("seed.enc").exists());
    cold_signer()
        .args(["init", "--wallet"])
        .arg(s.path("w"))
        .arg("--passphrase-file")
        .arg(s.path("no-such-file"))
        .args(FAST_KDF)
        .assert()
        .code(3);
    // Absurd KDF parameters are refused before anything is written.
    cold_signer()
        .args(["init", "--wallet"])
        .arg(s.path("w"))
        .arg("--passphrase-file")
        .arg(&pass)
        .args(["--kdf-m-cost-kib", "4294967295"])
        .assert()
        .code(3);
    assert!(!s.path("w").join("seed.enc").exists());
}

#[test]
fn help_lists_the_exit_codes() {
    let out = cold_signer().arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "10  wrong passphrase",
        "11  seed file corrupted",
        "12  seed file truncated",
        "13  not a seed file",
        "14  unsupported seed file version",
    ] {
        assert!(text.contains(line), "missing '{line}' in help");
    }
}
