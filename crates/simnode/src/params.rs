//! Monacoin regtest parameters and address/script rendering, in one place.
//!
//! Invariant: every Monacoin-specific constant simnode uses lives here (source:
//! `../shared/MONACOIN.md`, Monacoin Core v0.20.3); nothing uses Bitcoin's constants for
//! addresses, money caps or relay policy.

use bitcoin::hashes::Hash as _;
use bitcoin::opcodes::all as op;
use bitcoin::script::{Instruction, Script, ScriptBuf};
use bitcoin::{PubkeyHash, ScriptHash, WPubkeyHash, WScriptHash, WitnessVersion};

use crate::json::Json;

/// P2PKH version byte on regtest.
pub const P2PKH_PREFIX: u8 = 111;
/// P2SH version byte emitted on regtest (SCRIPT_ADDRESS2).
pub const P2SH_PREFIX: u8 = 117;
/// Legacy P2SH version byte accepted on decode only.
pub const P2SH_LEGACY_PREFIX: u8 = 196;
/// Bech32 human-readable part on regtest.
pub const BECH32_HRP: &str = "rmona";
/// Regtest genesis block hash.
pub const GENESIS_HASH_HEX: &str =
    "7543a69d7c2fcdb29a5ebec2fc064c074a35253b6f3072c8a749473aa590a29c";
/// Coinbase maturity in blocks.
pub const COINBASE_MATURITY: u32 = 100;
/// Regtest subsidy halving interval.
pub const HALVING_INTERVAL: u32 = 150;
/// Initial block subsidy in watanabe (50 MONA).
pub const INITIAL_SUBSIDY: u64 = 50 * COIN;
/// Watanabe per MONA.
pub const COIN: u64 = 100_000_000;
/// Money cap: 105,120,000 MONA.
pub const MAX_MONEY: u64 = 105_120_000 * COIN;
/// Minimum relay fee, watanabe per kvB.
pub const MIN_RELAY_FEE_PER_KVB: u64 = 1_000;
/// Incremental relay fee, watanabe per kvB.
pub const INCREMENTAL_RELAY_FEE_PER_KVB: u64 = 1_000;
/// Dust relay fee used by the dust rule, watanabe per kvB.
pub const DUST_RELAY_FEE_PER_KVB: u64 = 3_000;
/// Default `maxfeerate` of sendrawtransaction/testmempoolaccept, watanabe per kvB (0.10 MONA).
pub const DEFAULT_MAX_FEE_RATE_PER_KVB: u64 = 10_000_000;
/// Maximum standard transaction weight.
pub const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;
/// Mempool ancestor and descendant count limit.
pub const ANCESTOR_LIMIT: usize = 25;
/// Mempool descendant count limit.
pub const DESCENDANT_LIMIT: usize = 25;
/// Minimum non-witness size of a standard transaction (Core 0.20).
pub const MIN_STANDARD_TX_NONWITNESS_SIZE: usize = 82;
/// Regtest proof-of-work limit in compact form.
pub const POW_LIMIT_BITS: u32 = 0x207f_ffff;
/// `difficulty` as the node prints it for `bits` 207fffff.
pub const REGTEST_DIFFICULTY: &str = "4.656542373906925e-10";
/// Version number reported by getnetworkinfo.
pub const NODE_VERSION: i64 = 200_300;
/// Subversion reported by getnetworkinfo.
pub const SUBVERSION: &str = "/MonacoinCore:0.20.3/";

/// Block subsidy at `height` in watanabe.
pub fn subsidy(height: u32) -> u64 {
    let halvings = height / HALVING_INTERVAL;
    if halvings >= 64 {
        0
    } else {
        INITIAL_SUBSIDY >> halvings
    }
}

/// An address string could not be decoded for Monacoin regtest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
#[error("not a valid monacoin regtest address: {0:?}")]
pub struct AddressError(pub String);

/// Decodes a regtest address (rmona bech32, base58 P2PKH 111, P2SH 117 or 196) to its script.
pub fn address_to_script(addr: &str) -> Result<ScriptBuf, AddressError> {
    let bad = || AddressError(addr.to_string());
    if addr.to_ascii_lowercase().starts_with("rmona1") {
        let (hrp, version, program) = bitcoin::bech32::segwit::decode(addr).map_err(|_| bad())?;
        if hrp.to_lowercase() != BECH32_HRP {
            return Err(bad());
        }
        let v = WitnessVersion::try_from(version.to_u8()).map_err(|_| bad())?;
        let prog = bitcoin::WitnessProgram::new(v, &program).map_err(|_| bad())?;
        return Ok(ScriptBuf::new_witness_program(&prog));
    }
    let data = bitcoin::base58::decode_check(addr).map_err(|_| bad())?;
    if data.len() != 21 {
        return Err(bad());
    }
    let hash: [u8; 20] = data[1..].try_into().map_err(|_| bad())?;
    match data[0] {
        P2PKH_PREFIX => Ok(ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(hash))),
        P2SH_PREFIX | P2SH_LEGACY_PREFIX => {
            Ok(ScriptBuf::new_p2sh(&ScriptHash::from_byte_array(hash)))
        }
        _ => Err(bad()),
    }
}

fn base58(prefix: u8, hash: &[u8]) -> String {
    let mut data = Vec::with_capacity(21);
    data.push(prefix);
    data.extend_from_slice(hash);
    bitcoin::base58::encode_check(&data)
}

fn segwit(version: u8, program: &[u8]) -> Option<String> {
    let hrp = bitcoin::bech32::Hrp::parse(BECH32_HRP).ok()?;
    let fe = bitcoin::bech32::Fe32::try_from(version).ok()?;
    // Core 0.20 encodes every witness version with bech32 (bech32m came with 0.21).
    bitcoin::bech32::segwit::encode_v0(hrp, program)
        .ok()
        .filter(|_| version == 0)
        .or_else(|| {
            use bitcoin::bech32::{Bech32, ByteIterExt, Fe32IterExt};
            let s: String = program
                .iter()
                .copied()
                .bytes_to_fes()
                .with_checksum::<Bech32>(&hrp)
                .with_witness_version(fe)
                .chars()
                .collect();
            Some(s)
        })
}

/// Script classification as Core 0.20 names it (`scriptPubKey.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptKind {
    /// `pubkey`
    PubKey,
    /// `pubkeyhash`
    PubKeyHash,
    /// `scripthash`
    ScriptHash,
    /// `multisig` (m-of-n)
    Multisig(u8),
    /// `nulldata`
    NullData,
    /// `witness_v0_keyhash`
    WitnessV0KeyHash,
    /// `witness_v0_scripthash`
    WitnessV0ScriptHash,
    /// `witness_unknown`
    WitnessUnknown,
    /// `nonstandard`
    NonStandard,
}

impl ScriptKind {
    /// Core's type name.
    pub fn name(self) -> &'static str {
        match self {
            ScriptKind::PubKey => "pubkey",
            ScriptKind::PubKeyHash => "pubkeyhash",
            ScriptKind::ScriptHash => "scripthash",
            ScriptKind::Multisig(_) => "multisig",
            ScriptKind::NullData => "nulldata",
            ScriptKind::WitnessV0KeyHash => "witness_v0_keyhash",
            ScriptKind::WitnessV0ScriptHash => "witness_v0_scripthash",
            ScriptKind::WitnessUnknown => "witness_unknown",
            ScriptKind::NonStandard => "nonstandard",
        }
    }
}

/// Classifies a scriptPubKey like Core's `Solver`.
pub fn classify(script: &Script) -> ScriptKind {
    if script.is_p2sh() {
        return ScriptKind::ScriptHash;
    }
    if script.is_witness_program() {
        let b = script.as_bytes();
        return match (b[0], b.len()) {
            (0, 22) => ScriptKind::WitnessV0KeyHash,
            (0, 34) => ScriptKind::WitnessV0ScriptHash,
            (0, _) => ScriptKind::NonStandard,
            _ => ScriptKind::WitnessUnknown,
        };
    }
    let b = script.as_bytes();
    if !b.is_empty() && b[0] == op::OP_RETURN.to_u8() && script_is_push_only(&b[1..]) {
        return ScriptKind::NullData;
    }
    if script.is_p2pk() {
        return ScriptKind::PubKey;
    }
    if script.is_p2pkh() {
        return ScriptKind::PubKeyHash;
    }
    if script.is_multisig() {
        let m = b[0].wrapping_sub(0x50);
        return ScriptKind::Multisig(m);
    }
    ScriptKind::NonStandard
}

fn script_is_push_only(bytes: &[u8]) -> bool {
    Script::from_bytes(bytes).is_push_only()
}

/// Addresses Core 0.20's `ExtractDestinations` yields, with `reqSigs`; `None` when none.
pub fn destinations(script: &Script) -> Option<(u32, Vec<String>)> {
    let b = script.as_bytes();
    match classify(script) {
        ScriptKind::PubKeyHash => Some((1, vec![base58(P2PKH_PREFIX, &b[3..23])])),
        ScriptKind::ScriptHash => Some((1, vec![base58(P2SH_PREFIX, &b[2..22])])),
        ScriptKind::WitnessV0KeyHash | ScriptKind::WitnessV0ScriptHash => {
            Some((1, vec![segwit(0, &b[2..])?]))
        }
        ScriptKind::WitnessUnknown => {
            let v = b[0] - 0x50;
            Some((1, vec![segwit(v, &b[2..])?]))
        }
        ScriptKind::PubKey => {
            let pk = script.p2pk_public_key()?;
            Some((1, vec![base58(P2PKH_PREFIX, &pk.pubkey_hash()[..])]))
        }
        ScriptKind::Multisig(m) => {
            let mut keys = Vec::new();
            for ins in script.instructions().flatten() {
                if let Instruction::PushBytes(p) = ins {
                    if let Ok(pk) = bitcoin::PublicKey::from_slice(p.as_bytes()) {
                        keys.push(base58(P2PKH_PREFIX, &pk.pubkey_hash()[..]));
                    }
                }
            }
            Some((u32::from(m), keys))
        }
        ScriptKind::NullData | ScriptKind::NonStandard => None,
    }
}

/// The canonical address of a script, if it has exactly one.
pub fn script_to_address(script: &Script) -> Option<String> {
    match classify(script) {
        ScriptKind::PubKeyHash
        | ScriptKind::ScriptHash
        | ScriptKind::WitnessV0KeyHash
        | ScriptKind::WitnessV0ScriptHash
        | ScriptKind::WitnessUnknown => {
            destinations(script).and_then(|(_, a)| a.into_iter().next())
        }
        _ => None,
    }
}

/// P2WPKH script for a 20-byte key hash.
pub fn p2wpkh_script(hash: [u8; 20]) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(hash))
}

/// P2WSH script for a 32-byte script hash.
pub fn p2wsh_script(hash: [u8; 32]) -> ScriptBuf {
    ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array(hash))
}

/// Core's `ScriptToAsmStr`.
pub fn script_asm(script: &Script, attempt_sighash_decode: bool) -> String {
    let mut parts: Vec<String> = Vec::new();
    let unspendable = script.as_bytes().first() == Some(&op::OP_RETURN.to_u8());
    for ins in script.instructions() {
        match ins {
            Err(_) => {
                parts.push("[error]".to_string());
                break;
            }
            Ok(Instruction::PushBytes(p)) => {
                let v = p.as_bytes();
                if v.len() <= 4 {
                    parts.push(script_num(v).to_string());
                } else if attempt_sighash_decode && !unspendable {
                    parts.push(sig_decode(v).unwrap_or_else(|| hex::encode(v)));
                } else {
                    parts.push(hex::encode(v));
                }
            }
            Ok(Instruction::Op(o)) => parts.push(op_name(o)),
        }
    }
    parts.join(" ")
}

fn sig_decode(v: &[u8]) -> Option<String> {
    let sig = bitcoin::ecdsa::Signature::from_slice(v).ok()?;
    let name = match v.last()? {
        0x01 => "[ALL]",
        0x02 => "[NONE]",
        0x03 => "[SINGLE]",
        0x81 => "[ALL|ANYONECANPAY]",
        0x82 => "[NONE|ANYONECANPAY]",
        0x83 => "[SINGLE|ANYONECANPAY]",
        _ => return None,
    };
    let _ = sig;
    Some(format!("{}{}", hex::encode(&v[..v.len() - 1]), name))
}

fn script_num(v: &[u8]) -> i64 {
    if v.is_empty() {
        return 0;
    }
    let mut result: i64 = 0;
    for (i, b) in v.iter().enumerate() {
        result |= i64::from(*b) << (8 * i);
    }
    let last = v[v.len() - 1];
    if last & 0x80 != 0 {
        -(result & !(0x80i64 << (8 * (v.len() - 1))))
    } else {
        result
    }
}

fn op_name(o: bitcoin::Opcode) -> String {
    let code = o.to_u8();
    match code {
        0x00 => "0".to_string(),
        0x4f => "-1".to_string(),
        0x51..=0x60 => (code - 0x50).to_string(),
        _ => {
            let dbg = format!("{o:?}");
            match dbg.as_str() {
                "OP_NOP2" => "OP_CHECKLOCKTIMEVERIFY".to_string(),
                "OP_NOP3" => "OP_CHECKSEQUENCEVERIFY".to_string(),
                s if s.starts_with("OP_RETURN_") || s == "OP_INVALIDOPCODE" => {
                    "OP_UNKNOWN".to_string()
                }
                _ => dbg,
            }
        }
    }
}

/// Core's `ScriptPubKeyToUniv(script, out, fIncludeHex = true)`.
pub fn script_pubkey_json(script: &Script) -> Json {
    let mut m: Vec<(String, Json)> = vec![
        ("asm".into(), Json::str(script_asm(script, false))),
        ("hex".into(), Json::str(hex::encode(script.as_bytes()))),
    ];
    let kind = classify(script);
    match destinations(script) {
        Some((req, addrs)) if !addrs.is_empty() => {
            m.push(("reqSigs".into(), Json::uint(u64::from(req))));
            m.push(("type".into(), Json::str(kind.name())));
            m.push((
                "addresses".into(),
                Json::Arr(addrs.into_iter().map(Json::Str).collect()),
            ));
        }
        _ => m.push(("type".into(), Json::str(kind.name()))),
    }
    Json::Obj(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_by_kind() {
        // (name, address from the fixtures, expected script hex prefix)
        let cases = [
            (
                "p2wpkh",
                "rmona1qku3myd6c8u0avl8r03clyzu45pgfau25u562rk",
                "0014b723b237583f1fd67ce37c71f20b95a0509ef154",
            ),
            (
                "p2pkh",
                "mhbjTVcBQxBnRzfUWMU8qC5StfciJEotgV",
                "76a91416d79d8a045c9eef0a7ff1adb954716d05ada00488ac",
            ),
        ];
        for (name, addr, hexs) in cases {
            let s = address_to_script(addr).unwrap();
            assert_eq!(hex::encode(s.as_bytes()), hexs, "{name}");
            assert_eq!(script_to_address(&s).as_deref(), Some(addr), "{name}");
        }
    }

    #[test]
    fn p2sh_accepts_both_prefixes_and_emits_117() {
        let hash = [7u8; 20];
        let legacy = base58(P2SH_LEGACY_PREFIX, &hash);
        let new = base58(P2SH_PREFIX, &hash);
        let a = address_to_script(&legacy).unwrap();
        let b = address_to_script(&new).unwrap();
        assert_eq!(a, b);
        assert!(new.starts_with('p'));
        assert_eq!(script_to_address(&a).unwrap(), new);
    }

    #[test]
    fn refuses_other_networks() {
        for bad in [
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "tmona1qku3myd6c8u0avl8r03clyzu45pgfau25u562rk",
            "MLyX8ko6Vbe8ygmKZ5XNdMAUzkmvZEuvpy",
            "",
            "rmona1qqqqq",
        ] {
            assert!(address_to_script(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subsidy_halves_every_150() {
        assert_eq!(subsidy(0), 50 * COIN);
        assert_eq!(subsidy(149), 50 * COIN);
        assert_eq!(subsidy(150), 25 * COIN);
        assert_eq!(subsidy(300), 1_250_000_000);
    }

    #[test]
    fn asm_matches_core() {
        let s = address_to_script("mhbjTVcBQxBnRzfUWMU8qC5StfciJEotgV").unwrap();
        assert_eq!(
            script_asm(&s, false),
            "OP_DUP OP_HASH160 16d79d8a045c9eef0a7ff1adb954716d05ada004 OP_EQUALVERIFY OP_CHECKSIG"
        );
        let w = address_to_script("rmona1qku3myd6c8u0avl8r03clyzu45pgfau25u562rk").unwrap();
        assert_eq!(
            script_asm(&w, false),
            "0 b723b237583f1fd67ce37c71f20b95a0509ef154"
        );
    }
}
