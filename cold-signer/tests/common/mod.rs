//! Helpers shared by the cold-signer integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use assert_cmd::Command;
use serde_json::Value;

/// Trezor's test mnemonic; its vectors are in fixtures/vectors/monacoin.json.
pub const ALL_MNEMONIC: &str = "all all all all all all all all all all all all";

/// Cheap KDF flags so debug-mode tests stay fast (the format records them).
pub const FAST_KDF: [&str; 4] = ["--kdf-m-cost-kib", "64", "--kdf-t-cost", "1"];

/// The shared vectors, read from the repository copy.
pub fn vectors() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vectors/monacoin.json");
    serde_json::from_str(&fs::read_to_string(&path).expect("read vectors")).expect("vectors json")
}

/// A `cold-signer` command with logging off unless a test sets RUST_LOG.
pub fn cold_signer() -> Command {
    let mut cmd = Command::cargo_bin("cold-signer").expect("binary");
    cmd.env_remove("RUST_LOG");
    cmd
}

/// A scratch directory with a helper to write small files.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, content).expect("write");
        p
    }

    /// Restores `mnemonic` into `wallet` on `network` with passphrase "pw", fast KDF.
    pub fn restore(&self, network: &str, wallet: &str, mnemonic: &str) -> PathBuf {
        let m = self.write("mnemonic.txt", &format!("{mnemonic}\n"));
        let p = self.write("pass.txt", "pw\n");
        let w = self.path(wallet);
        cold_signer()
            .args(["--network", network, "--json", "restore", "--wallet"])
            .arg(&w)
            .arg("--mnemonic-file")
            .arg(&m)
            .arg("--passphrase-file")
            .arg(&p)
            .args(FAST_KDF)
            .assert()
            .success();
        w
    }
}

/// The JSON object a successful command printed.
pub fn stdout_json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is json")
}

/// File bytes and modification time, to prove a failed command changed nothing.
pub fn snapshot(path: &Path) -> (Vec<u8>, SystemTime) {
    (
        fs::read(path).expect("read"),
        fs::metadata(path)
            .expect("metadata")
            .modified()
            .expect("mtime"),
    )
}
