//! The `hot-node` binary: `init`, the operator CLI's exit codes, and `run` against `simnode`.
//! (One test binary for both keeps link time down.)

#[path = "../common/mod.rs"]
mod common;

mod export;
mod init_and_exit_codes;
mod run;
