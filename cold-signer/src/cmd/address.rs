//! `address decode`: what an address is and the script it pays to.

use clap::{Args, Subcommand};
use mona::{Address, AddressError, Network};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::exit::{CliError, Exit};
use crate::output::emit;

/// `address` subcommands.
#[derive(Debug, Subcommand)]
pub enum AddressCommand {
    /// Decode an address: type, network, script_pubkey, whether it is spendable.
    Decode(DecodeArgs),
}

/// Arguments of `address decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The address (P2PKH, P2SH with 'P' or legacy '3' prefix, bech32 segwit).
    pub address: String,
}

#[derive(Debug, Serialize)]
struct Decoded {
    input: String,
    address: String,
    #[serde(rename = "type")]
    kind: String,
    network: Network,
    script_pubkey: String,
    spendable: bool,
}

/// Runs an `address` subcommand.
pub fn run(network: Network, json: bool, cmd: &AddressCommand) -> Result<(), CliError> {
    match cmd {
        AddressCommand::Decode(args) => decode(network, json, args),
    }
}

fn decode(network: Network, json: bool, args: &DecodeArgs) -> Result<(), CliError> {
    let input = args.address.trim();
    let address = Address::parse(input, network).map_err(|e| match e {
        AddressError::WrongNetwork { .. } => CliError::new(Exit::WrongNetworkAddress, e),
        other => CliError::bad_input(other),
    })?;
    let decoded = Decoded {
        input: input.to_owned(),
        address: address.to_string(),
        kind: address.kind().name(),
        network: address.network(),
        script_pubkey: address.script_pubkey().to_hex_string(),
        spendable: address.is_spendable_on_v0_20_3(),
    };
    emit(json, &decoded, |d| {
        let mut s = format!(
            "address:       {}\ntype:          {}\nnetwork:       {}\nscript_pubkey: {}\nspendable:     {}",
            d.address, d.kind, d.network, d.script_pubkey, d.spendable
        );
        if !d.spendable {
            s.push_str(
                "\nwarning: segwit v1+ outputs are anyone-can-spend on Monacoin v0.20.3; never send to it",
            );
        }
        Zeroizing::new(s)
    })
}
