//! The command line: every flag and subcommand, in one place (clap derive), and the dispatch
//! from a parsed command to its module under `cmd/`.
//!
//! Invariant: this file only declares and routes; each command group's arguments and behaviour
//! live in its own `cmd/<group>.rs`. Adding a command is one variant here and one match arm.

use clap::{Parser, Subcommand};
use mona::Network;

use crate::cmd;
use crate::exit::{CliError, EXIT_CODES_HELP};

/// Air-gapped Monacoin signer: seed creation and backup, watch-only export, key derivation,
/// PSBT review and signing; PSBTs and the export cross the air gap as files or QR codes.
#[derive(Debug, Parser)]
#[command(name = "cold-signer", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Monacoin network: mainnet, testnet or regtest.
    #[arg(long, global = true, default_value = "mainnet", value_parser = parse_network)]
    pub network: Network,
    /// Machine-readable JSON output on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

fn parse_network(s: &str) -> Result<Network, String> {
    match s {
        "mainnet" | "testnet" | "regtest" => s
            .parse()
            .map_err(|e: mona::UnknownNetworkError| e.to_string()),
        other => Err(format!(
            "unknown network '{other}' (expected mainnet, testnet or regtest)"
        )),
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new wallet: a fresh BIP39 mnemonic, encrypted at rest, shown once.
    Init(cmd::seed::InitArgs),
    /// Create a wallet from an existing mnemonic.
    Restore(cmd::seed::RestoreArgs),
    /// The watch-only description (fingerprint, xpubs, descriptors): JSON in --out F or with --json.
    Export(cmd::seed::ExportArgs),
    /// Derive the address, public key and xpubs at a BIP32 path of a mnemonic.
    Derive(cmd::derive::DeriveArgs),
    /// Address tools.
    #[command(subcommand)]
    Address(cmd::address::AddressCommand),
    /// Review a PSBT under a policy: warnings, outputs with their class, fee, total.
    Inspect(cmd::review::InspectArgs),
    /// Review a PSBT under the signer's policy, confirm, sign, finalize when complete.
    Sign(cmd::review::SignArgs),
    /// Carry a PSBT made by any tool across the air gap as animated QR codes.
    #[command(subcommand)]
    Qr(cmd::qr::QrCmd),
}

/// Runs the parsed command.
pub fn dispatch(cli: &Cli) -> Result<(), CliError> {
    let (network, json) = (cli.network, cli.json);
    match &cli.command {
        Command::Init(args) => cmd::seed::init(network, json, args),
        Command::Restore(args) => cmd::seed::restore(network, json, args),
        Command::Export(args) => cmd::seed::export(network, json, args),
        Command::Derive(args) => cmd::derive::run(network, json, args),
        Command::Address(sub) => cmd::address::run(network, json, sub),
        Command::Inspect(args) => cmd::review::inspect(network, json, args),
        Command::Sign(args) => cmd::review::sign(network, json, args),
        Command::Qr(sub) => cmd::qr::run(json, sub),
    }
}
