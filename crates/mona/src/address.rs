//! Monacoin addresses: base58 P2PKH/P2SH and bech32/bech32m segwit, decoded into a
//! `script_pubkey` and encoded back.
//!
//! Invariant: an [`Address`] holds a script that encodes to a valid address on its network, and
//! was checked to belong to that network when parsed. P2SH is emitted with the new prefix (55 'P'
//! on mainnet, 117 on test chains); the legacy prefix (5 '3', 196 '2') is accepted on decode.

use std::fmt;

use bitcoin::base58;
use bitcoin::bech32::{self, Fe32, Hrp};
use bitcoin::hashes::Hash;
use bitcoin::script::{Builder, Script, ScriptBuf};
use bitcoin::{opcodes, PubkeyHash, ScriptHash, WPubkeyHash, WScriptHash};

use crate::amount::{Amount, FeeRate};
use crate::network::Network;

/// The type of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKind {
    /// Pay to public key hash.
    P2pkh,
    /// Pay to script hash (including P2SH-wrapped segwit).
    P2sh,
    /// Native segwit v0 key hash.
    P2wpkh,
    /// Native segwit v0 script hash.
    P2wsh,
    /// Segwit version 1 or later: decodable but not spendable on a v0.20.3 network.
    WitnessUnknown {
        /// The witness version (1..=16).
        version: u8,
    },
}

impl AddressKind {
    /// A short lower-case name ("p2pkh", "p2sh", "p2wpkh", "p2wsh", "witness_v1").
    pub fn name(self) -> String {
        match self {
            AddressKind::P2pkh => "p2pkh".into(),
            AddressKind::P2sh => "p2sh".into(),
            AddressKind::P2wpkh => "p2wpkh".into(),
            AddressKind::P2wsh => "p2wsh".into(),
            AddressKind::WitnessUnknown { version } => format!("witness_v{version}"),
        }
    }
}

/// A Monacoin address on a known network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    network: Network,
    kind: AddressKind,
    script_pubkey: ScriptBuf,
}

/// Why an address string or script was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Empty input.
    #[error("empty address")]
    Empty,
    /// Neither valid base58check nor valid bech32/bech32m.
    #[error("'{0}' is not a valid address (bad characters, length or checksum)")]
    Invalid(String),
    /// A valid encoding that belongs to another coin or another Monacoin network.
    #[error("'{address}' looks like {looks_like}, not a Monacoin {expected} address")]
    WrongNetwork {
        /// The address as given (addresses are public).
        address: String,
        /// What it looks like, e.g. "a Bitcoin address".
        looks_like: String,
        /// The network that was expected.
        expected: Network,
    },
    /// Bech32 with a segwit program of a length the version does not allow.
    #[error("'{0}' has an invalid segwit program")]
    InvalidWitnessProgram(String),
    /// A script with no address form (bare multisig, OP_RETURN, non-standard).
    #[error("script {0} has no address form")]
    NonStandardScript(String),
}

impl Address {
    /// Parses an address for `network`, refusing other coins and other Monacoin networks with a
    /// message that says what the address looks like.
    pub fn parse(s: &str, network: Network) -> Result<Address, AddressError> {
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        if s.len() > 120 {
            let head: String = s.chars().take(40).collect();
            return Err(AddressError::Invalid(format!("{head}...")));
        }
        if bech32::segwit::decode(s).is_ok() {
            return Self::parse_segwit(s, network);
        }
        Self::parse_base58(s, network)
    }

    fn parse_segwit(s: &str, network: Network) -> Result<Address, AddressError> {
        let (hrp, version, program) =
            bech32::segwit::decode(s).map_err(|_| AddressError::Invalid(s.to_owned()))?;
        let hrp_l = hrp.to_lowercase();
        if hrp_l != network.bech32_hrp() {
            return Err(AddressError::WrongNetwork {
                address: s.to_owned(),
                looks_like: describe_hrp(&hrp_l).to_owned(),
                expected: network,
            });
        }
        let v = version.to_u8();
        let script = witness_script(v, &program)
            .ok_or_else(|| AddressError::InvalidWitnessProgram(s.to_owned()))?;
        Self::from_script(&script, network)
    }

    fn parse_base58(s: &str, network: Network) -> Result<Address, AddressError> {
        let data = base58::decode_check(s).map_err(|_| AddressError::Invalid(s.to_owned()))?;
        if data.len() != 21 {
            return Err(AddressError::Invalid(s.to_owned()));
        }
        let (version, hash) = (data[0], &data[1..]);
        let p = network.params();
        let hash20: [u8; 20] = hash
            .try_into()
            .map_err(|_| AddressError::Invalid(s.to_owned()))?;
        if version == p.p2pkh_prefix {
            let script = ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(hash20));
            return Ok(Address {
                network,
                kind: AddressKind::P2pkh,
                script_pubkey: script,
            });
        }
        if version == p.p2sh_prefix || version == p.p2sh_legacy_prefix {
            let script = ScriptBuf::new_p2sh(&ScriptHash::from_byte_array(hash20));
            return Ok(Address {
                network,
                kind: AddressKind::P2sh,
                script_pubkey: script,
            });
        }
        Err(AddressError::WrongNetwork {
            address: s.to_owned(),
            looks_like: describe_base58_version(version).to_owned(),
            expected: network,
        })
    }

    /// The address of a standard `script_pubkey` on `network`.
    pub fn from_script(script: &Script, network: Network) -> Result<Address, AddressError> {
        let kind = if script.is_p2pkh() {
            AddressKind::P2pkh
        } else if script.is_p2sh() {
            AddressKind::P2sh
        } else if script.is_p2wpkh() {
            AddressKind::P2wpkh
        } else if script.is_p2wsh() {
            AddressKind::P2wsh
        } else if script.is_witness_program() {
            let v = script.witness_version().map(|v| v.to_num()).unwrap_or(0);
            if v == 0 {
                return Err(AddressError::NonStandardScript(script.to_hex_string()));
            }
            AddressKind::WitnessUnknown { version: v }
        } else {
            return Err(AddressError::NonStandardScript(script.to_hex_string()));
        };
        Ok(Address {
            network,
            kind,
            script_pubkey: script.to_owned(),
        })
    }

    /// The script this address pays to.
    pub fn script_pubkey(&self) -> &ScriptBuf {
        &self.script_pubkey
    }

    /// The address type.
    pub fn kind(&self) -> AddressKind {
        self.kind
    }

    /// The network this address belongs to.
    pub fn network(&self) -> Network {
        self.network
    }

    /// False for segwit v1+ outputs: Monacoin v0.20.3 has no Taproot, so anything sent there is
    /// anyone-can-spend by consensus and must never be used as a destination.
    pub fn is_spendable_on_v0_20_3(&self) -> bool {
        !matches!(self.kind, AddressKind::WitnessUnknown { .. })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.network.params();
        let b = self.script_pubkey.as_bytes();
        match self.kind {
            AddressKind::P2pkh => {
                let mut v = Vec::with_capacity(21);
                v.push(p.p2pkh_prefix);
                v.extend_from_slice(&b[3..23]);
                f.write_str(&base58::encode_check(&v))
            }
            AddressKind::P2sh => {
                let mut v = Vec::with_capacity(21);
                v.push(p.p2sh_prefix);
                v.extend_from_slice(&b[2..22]);
                f.write_str(&base58::encode_check(&v))
            }
            AddressKind::P2wpkh | AddressKind::P2wsh | AddressKind::WitnessUnknown { .. } => {
                let version = self
                    .script_pubkey
                    .witness_version()
                    .map(|v| v.to_num())
                    .unwrap_or(0);
                let program = &b[2..];
                // The HRP constants are valid and the program was validated on construction.
                let hrp = Hrp::parse(p.bech32_hrp).map_err(|_| fmt::Error)?;
                let fe = Fe32::try_from(version).map_err(|_| fmt::Error)?;
                let s = bech32::segwit::encode(hrp, fe, program).map_err(|_| fmt::Error)?;
                f.write_str(&s)
            }
        }
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn witness_script(version: u8, program: &[u8]) -> Option<ScriptBuf> {
    match version {
        0 => match program.len() {
            20 => Some(ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(
                program.try_into().ok()?,
            ))),
            32 => Some(ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array(
                program.try_into().ok()?,
            ))),
            _ => None,
        },
        1..=16 if (2..=40).contains(&program.len()) => {
            let op = opcodes::Opcode::from(0x50 + version);
            let push: &bitcoin::script::PushBytes = program.try_into().ok()?;
            Some(
                Builder::new()
                    .push_opcode(op)
                    .push_slice(push)
                    .into_script(),
            )
        }
        _ => None,
    }
}

fn describe_hrp(hrp: &str) -> &'static str {
    match hrp {
        "mona" => "a Monacoin mainnet address",
        "tmona" => "a Monacoin testnet address",
        "rmona" => "a Monacoin regtest address",
        "bc" => "a Bitcoin address",
        "tb" => "a Bitcoin testnet address",
        "bcrt" => "a Bitcoin regtest address",
        "ltc" => "a Litecoin address",
        "tltc" | "rltc" => "a Litecoin test-chain address",
        _ => "another coin's segwit address",
    }
}

fn describe_base58_version(version: u8) -> &'static str {
    match version {
        0 => "a Bitcoin address",
        5 => "a Bitcoin (or legacy Monacoin mainnet) P2SH address",
        48 => "a Litecoin address",
        50 => "a Monacoin mainnet (or Litecoin P2SH) address",
        55 => "a Monacoin mainnet P2SH address",
        111 => "a testnet address",
        117 => "a Monacoin testnet P2SH address",
        196 => "a testnet P2SH address",
        30 => "a Dogecoin address",
        _ => "another coin's address",
    }
}

/// Core 0.20's dust threshold for an output paying `script_pubkey` at the 3,000 wat/kvB dust
/// relay fee: 546 for P2PKH, 540 for P2SH, 294 for P2WPKH, 330 for P2WSH; zero for unspendable
/// (OP_RETURN) outputs. An output below it is refused by relay as "dust".
pub fn dust_threshold(script_pubkey: &Script) -> Amount {
    if script_pubkey.is_op_return() {
        return Amount::ZERO;
    }
    let script_len = script_pubkey.len() as u64;
    let varint = bitcoin::VarInt(script_len).size() as u64;
    let out_size = 8 + varint + script_len;
    // Core: witness programs 32+4+1+(107/4)+4 = 67, others 32+4+1+107+4 = 148.
    let spend_size = if script_pubkey.is_witness_program() {
        67
    } else {
        148
    };
    FeeRate::DUST_RELAY.core_fee_for_vsize(out_size + spend_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &Script) -> String {
        s.to_hex_string()
    }

    #[test]
    fn decodes_known_addresses() {
        let cases = [
            (
                Network::Mainnet,
                "MFMy9FwJsV6HiN5eZDqDETw4pw52q3UGrb",
                "76a91451dadacc7021440cbe4ca148a5db563b329b4c0388ac",
                "p2pkh",
            ),
            (
                Network::Mainnet,
                "PHjTKtgYLTJ9D2Bzw2f6xBB41KBm2HeGfg",
                "a9146449f568c9cd2378138f2636e1567112a184a9e887",
                "p2sh",
            ),
            (
                Network::Mainnet,
                "mona1q49knemcefarfkvuqr7rgajdu3x5gx8pzdnurgq",
                "0014a96d3cef194f469b33801f868ec9bc89a8831c22",
                "p2wpkh",
            ),
            (
                Network::Mainnet,
                "mona1qp8f842ywwr9h5rdxyzggex7q3trvvvaarfssxccju52rj6htfzfsqr79j2",
                "002009d27aa88e70cb7a0da620908c9bc08ac6c633bd1a61036312e514396aeb4893",
                "p2wsh",
            ),
            (
                Network::Testnet,
                "mptvgSbAs4iwxQ7JQZdEN6Urpt3dtjbawd",
                "76a91466e0ef980c8ff8129e8d0f716b2ce1df2f97bbbf88ac",
                "p2pkh",
            ),
        ];
        for (n, a, spk, kind) in cases {
            let addr = Address::parse(a, n).unwrap();
            assert_eq!(hex(addr.script_pubkey()), spk, "{a}");
            assert_eq!(addr.kind().name(), kind);
            assert_eq!(addr.to_string(), a, "re-encodes");
        }
    }

    #[test]
    fn legacy_p2sh_prefix_decodes_to_same_script_and_reencodes_new_prefix() {
        let new = Address::parse("PStEWT3ZsRMuwGR47CCgsdRNrM3ERLoxGF", Network::Mainnet).unwrap();
        let old = Address::parse("3Kz5H29ANQC73bSitDYkdMp3P8A4uoJVck", Network::Mainnet).unwrap();
        assert_eq!(new.script_pubkey(), old.script_pubkey());
        assert_eq!(old.to_string(), "PStEWT3ZsRMuwGR47CCgsdRNrM3ERLoxGF");
    }

    #[test]
    fn refuses_other_networks_saying_what_they_are() {
        let cases = [
            (
                "1JAd7XCBzGudGpJQSDSfpmJhiygtLQWaGL",
                Network::Mainnet,
                "a Bitcoin address",
            ),
            (
                "bc1qannfxke2tfd4l7vhepehpvt05y83v3qsf6nfkk",
                Network::Mainnet,
                "a Bitcoin address",
            ),
            (
                "tmona1q7cgva59egg6l4eg64c285rfutmdjfw6npqm6ju",
                Network::Mainnet,
                "a Monacoin testnet address",
            ),
            (
                "rmona1q7cgva59egg6l4eg64c285rfutmdjfw6nlahe75",
                Network::Testnet,
                "a Monacoin regtest address",
            ),
            (
                "mona1q7cgva59egg6l4eg64c285rfutmdjfw6nemf9cx",
                Network::Regtest,
                "a Monacoin mainnet address",
            ),
            (
                "MWLEbTAW61QFdrHtbaV7UdoaHaNjdPUtTj",
                Network::Regtest,
                "a Monacoin mainnet",
            ),
            (
                "n3x2f5M5Q1fhXHoB6AoZ4HQZgM6Gx6SrwP",
                Network::Mainnet,
                "a testnet address",
            ),
            (
                "LM2WMpR1Rp6j3Sa59cMXMs1SPzj9eXpGc1",
                Network::Mainnet,
                "a Litecoin address",
            ),
        ];
        for (a, n, looks) in cases {
            let e = Address::parse(a, n).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(looks), "{a}: {msg}");
            assert!(matches!(e, AddressError::WrongNetwork { .. }));
        }
    }

    #[test]
    fn refuses_garbage() {
        for a in [
            "",
            "x",
            "mona1qqqqq",
            "MFMy9FwJsV6HiN5eZDqDETw4pw52q3UGrc",
            "mona1q49knemcefarfkvuqr7rgajdu3x5gx8pzdnurgr",
        ] {
            assert!(Address::parse(a, Network::Mainnet).is_err(), "{a}");
        }
    }

    #[test]
    fn segwit_v1_decodes_but_is_flagged() {
        let program = [7u8; 32];
        let s = bech32::segwit::encode(
            Hrp::parse("mona").unwrap(),
            bech32::segwit::VERSION_1,
            &program,
        )
        .unwrap();
        let a = Address::parse(&s, Network::Mainnet).unwrap();
        assert_eq!(a.kind(), AddressKind::WitnessUnknown { version: 1 });
        assert!(!a.is_spendable_on_v0_20_3());
        assert_eq!(a.to_string(), s);
        // bech32 (not bech32m) for v1 is invalid per BIP350
        let wrong =
            bech32::encode::<bech32::Bech32>(Hrp::parse("mona").unwrap(), &[1u8; 33]).unwrap();
        assert!(Address::parse(&wrong, Network::Mainnet).is_err());
    }

    #[test]
    fn dust_thresholds_match_core() {
        let p2pkh = ScriptBuf::new_p2pkh(&PubkeyHash::all_zeros());
        let p2sh = ScriptBuf::new_p2sh(&ScriptHash::all_zeros());
        let p2wpkh = ScriptBuf::new_p2wpkh(&WPubkeyHash::all_zeros());
        let p2wsh = ScriptBuf::new_p2wsh(&WScriptHash::all_zeros());
        assert_eq!(dust_threshold(&p2pkh).to_wat(), 546);
        assert_eq!(dust_threshold(&p2sh).to_wat(), 540);
        assert_eq!(dust_threshold(&p2wpkh).to_wat(), 294);
        assert_eq!(dust_threshold(&p2wsh).to_wat(), 330);
    }
}
