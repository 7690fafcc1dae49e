//! Every adversarial PSBT (fixtures/psbt/adversarial/*.json) is refused by `sign --yes` with its
//! expected violation, a non-zero exit code and no output file; `inspect` reports the same
//! violation; and mangled files never make either command panic.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{cold_signer, Scratch, ALL_MNEMONIC};
use serde_json::Value;

fn adversarial() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/psbt/adversarial")
}

fn manifests() -> Vec<Value> {
    let mut paths: Vec<_> = fs::read_dir(adversarial())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_slice(&fs::read(p).unwrap()).unwrap())
        .collect()
}

fn no_outputs_in(dir: &Path) -> bool {
    fs::read_dir(dir).unwrap().all(|e| {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        !name.ends_with("-signed.psbt") && !name.ends_with("-final.txn")
    })
}

#[test]
fn every_adversarial_psbt_is_refused_with_its_violation_and_no_file() {
    let s = Scratch::new();
    let wallet = s.restore("regtest", "w", ALL_MNEMONIC);
    let manifests = manifests();
    assert!(manifests.len() >= 15);
    for m in manifests {
        let name = m["name"].as_str().unwrap();
        let expected = m["expected_violation"].as_str().unwrap();
        let work = s.path(name);
        fs::create_dir_all(&work).unwrap();
        let input = work.join(m["psbt"].as_str().unwrap());
        fs::copy(adversarial().join(m["psbt"].as_str().unwrap()), &input).unwrap();
        let policy = adversarial().join(m["policy"].as_str().unwrap());
        let extra: Vec<String> = m["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        for json in [false, true] {
            let mut cmd = cold_signer();
            cmd.args(["--network", "regtest"]);
            if json {
                cmd.arg("--json");
            }
            let out = cmd
                .arg("sign")
                .arg(&input)
                .arg("--wallet")
                .arg(&wallet)
                .arg("--policy")
                .arg(&policy)
                .arg("--passphrase-file")
                .arg(s.path("pass.txt"))
                .arg("--yes")
                .args(&extra)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{name}: {stderr}");
            assert!(stderr.contains(expected), "{name}: {stderr}");
            assert!(no_outputs_in(&work), "{name}: an output file was written");
            if json {
                let r: Value = serde_json::from_slice(&out.stdout)
                    .unwrap_or_else(|e| panic!("{name}: stdout not json: {e}"));
                assert_eq!(r["approvable"], false, "{name}");
                assert!(
                    r["violations"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|v| v["code"] == expected),
                    "{name}: {r}"
                );
            }
        }
        let out = cold_signer()
            .args(["--network", "regtest", "--json", "inspect"])
            .arg(&input)
            .arg("--policy")
            .arg(&policy)
            .arg("--wallet")
            .arg(&wallet)
            .arg("--passphrase-file")
            .arg(s.path("pass.txt"))
            .args(&extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{name}: inspect");
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            r["violations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["code"] == expected),
            "{name}: inspect {r}"
        );
    }
}

#[test]
fn mangled_files_are_refused_without_panicking() {
    let s = Scratch::new();
    let wallet = s.restore("regtest", "w", ALL_MNEMONIC);
    let good = fs::read(adversarial().join("../good/2-mixed-three-inputs/unsigned.psbt")).unwrap();
    let policy = adversarial().join("../policy-regtest.toml");
    // Deterministic spread of truncations and byte flips across the file.
    let mut variants: Vec<Vec<u8>> = Vec::new();
    for k in 1..=8 {
        variants.push(good[..good.len() * k / 9].to_vec());
        let mut flipped = good.clone();
        flipped[good.len() * k / 9] ^= 0xff;
        variants.push(flipped);
    }
    variants.push(b"cHNidP8BAAAA\n".to_vec());
    variants.push(b"70736274ff01zz".to_vec());
    variants.push(Vec::new());
    for (i, bytes) in variants.iter().enumerate() {
        let input = s.path(&format!("m{i}.psbt"));
        fs::write(&input, bytes).unwrap();
        for cmd in ["inspect", "sign"] {
            let mut c = cold_signer();
            c.args(["--network", "regtest", cmd]).arg(&input);
            c.arg("--policy").arg(&policy);
            c.arg("--wallet").arg(&wallet);
            c.arg("--passphrase-file").arg(s.path("pass.txt"));
            if cmd == "sign" {
                c.arg("--yes");
            }
            let out = c.output().unwrap();
            let code = out.status.code();
            // A flip may land in a field that does not matter (e.g. a signature-free byte
            // of a previous transaction's witness): then refusal comes from the policy, or
            // the PSBT is still acceptable. What never happens is a crash.
            assert!(
                matches!(code, Some(0) | Some(3)),
                "variant {i} {cmd}: exit {code:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
