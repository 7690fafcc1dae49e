//! `simnode`: run the simulated Monacoin regtest node as a process.
//!
//! Prints `simnode ready: http://127.0.0.1:PORT/` once listening and runs until SIGINT or
//! SIGTERM; in cookie mode the cookie file is deleted on a clean stop.

use std::path::PathBuf;

use clap::Parser;
use mona_simnode::{RpcAuth, SimConfig, SimNode};

/// Simulated Monacoin Core v0.20.3 regtest node (tests and demo only).
#[derive(Parser, Debug)]
#[command(name = "simnode", version)]
struct Args {
    /// Port on 127.0.0.1 (0 = ephemeral).
    #[arg(long, default_value_t = 0)]
    rpcport: u16,
    /// RPC user (with --rpcpassword); without both, cookie auth in --datadir.
    #[arg(long, requires = "rpcpassword")]
    rpcuser: Option<String>,
    /// RPC password.
    #[arg(long, requires = "rpcuser")]
    rpcpassword: Option<String>,
    /// Data directory: the cookie is written to DATADIR/regtest/.cookie.
    #[arg(long)]
    datadir: Option<PathBuf>,
    /// Seed for fault injection and the faucet key.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Behave as with -txindex=1.
    #[arg(long)]
    txindex: bool,
    /// Pretend these wallets are loaded (repeatable; changes -18/-19 answers only).
    #[arg(long = "wallet")]
    wallets: Vec<String>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let auth = match (args.rpcuser, args.rpcpassword, args.datadir) {
        (Some(user), Some(password), _) => RpcAuth::UserPass { user, password },
        (_, _, Some(datadir)) => RpcAuth::Cookie { datadir },
        _ => {
            eprintln!("simnode: give --rpcuser and --rpcpassword, or --datadir for cookie auth");
            return std::process::ExitCode::from(2);
        }
    };
    let config = SimConfig {
        rpc_port: args.rpcport,
        auth,
        seed: args.seed,
        txindex: args.txindex,
        wallets: args.wallets,
        mock_time: None,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("simnode: cannot start runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let handle = match SimNode::start(config).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("simnode: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        println!("simnode ready: {}", handle.url());
        wait_for_signal().await;
        drop(handle);
        std::process::ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
