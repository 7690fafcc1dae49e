//! RPC methods with Monacoin Core v0.20.3's parameters, result shapes, codes and messages.
//!
//! Invariant: every reply is built from the node state under one lock, with keys in Core's
//! order and amounts as exact 8-decimal numbers; every error carries Core's code and text
//! (see `fixtures/monacoind-0.20.3-regtest/README.md`).

use std::sync::Mutex;

use bitcoin::hashes::Hash as _;
use bitcoin::{Block, BlockHash, OutPoint, Transaction, Txid};
use serde_json::Value;

use crate::json::Json;
use crate::params;
use crate::state::{NodeState, SubmitError};
use crate::validation::RejectKind;

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rpc error {code}: {message}")]
pub struct RpcError {
    /// Core's error code.
    pub code: i64,
    /// Core's message.
    pub message: String,
}

impl RpcError {
    /// Builds an error.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// The `{"code":..,"message":..}` object.
    pub fn to_json(&self) -> Json {
        Json::obj([
            ("code", Json::int(self.code)),
            ("message", Json::str(self.message.clone())),
        ])
    }
}

/// Which URL path a request came in on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/`
    Root,
    /// `/wallet/<name>`
    Wallet(String),
}

/// Error codes used here.
pub mod code {
    /// RPC_MISC_ERROR
    pub const MISC: i64 = -1;
    /// RPC_TYPE_ERROR
    pub const TYPE: i64 = -3;
    /// RPC_INVALID_ADDRESS_OR_KEY
    pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
    /// RPC_INVALID_PARAMETER
    pub const INVALID_PARAMETER: i64 = -8;
    /// RPC_WALLET_NOT_FOUND
    pub const WALLET_NOT_FOUND: i64 = -18;
    /// RPC_WALLET_NOT_SPECIFIED
    pub const WALLET_NOT_SPECIFIED: i64 = -19;
    /// RPC_DESERIALIZATION_ERROR
    pub const DESERIALIZATION: i64 = -22;
    /// RPC_VERIFY_ERROR (missing inputs)
    pub const VERIFY_ERROR: i64 = -25;
    /// RPC_VERIFY_REJECTED
    pub const VERIFY_REJECTED: i64 = -26;
    /// RPC_VERIFY_ALREADY_IN_CHAIN
    pub const ALREADY_IN_CHAIN: i64 = -27;
    /// RPC_METHOD_NOT_FOUND
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// RPC_INVALID_REQUEST
    pub const INVALID_REQUEST: i64 = -32600;
    /// RPC_PARSE_ERROR
    pub const PARSE_ERROR: i64 = -32700;
}

struct Spec {
    name: &'static str,
    args: &'static [&'static str],
    required: usize,
}

const SPECS: &[Spec] = &[
    Spec {
        name: "getblockchaininfo",
        args: &[],
        required: 0,
    },
    Spec {
        name: "getblockcount",
        args: &[],
        required: 0,
    },
    Spec {
        name: "getbestblockhash",
        args: &[],
        required: 0,
    },
    Spec {
        name: "getdifficulty",
        args: &[],
        required: 0,
    },
    Spec {
        name: "getblockhash",
        args: &["height"],
        required: 1,
    },
    Spec {
        name: "getblock",
        args: &["blockhash", "verbosity"],
        required: 1,
    },
    Spec {
        name: "getblockheader",
        args: &["blockhash", "verbose"],
        required: 1,
    },
    Spec {
        name: "getrawtransaction",
        args: &["txid", "verbose", "blockhash"],
        required: 1,
    },
    Spec {
        name: "decoderawtransaction",
        args: &["hexstring", "iswitness"],
        required: 1,
    },
    Spec {
        name: "gettxout",
        args: &["txid", "n", "include_mempool"],
        required: 2,
    },
    Spec {
        name: "getrawmempool",
        args: &["verbose"],
        required: 0,
    },
    Spec {
        name: "getmempoolentry",
        args: &["txid"],
        required: 1,
    },
    Spec {
        name: "getmempoolinfo",
        args: &[],
        required: 0,
    },
    Spec {
        name: "testmempoolaccept",
        args: &["rawtxs", "maxfeerate"],
        required: 1,
    },
    Spec {
        name: "sendrawtransaction",
        args: &["hexstring", "maxfeerate"],
        required: 1,
    },
    Spec {
        name: "estimatesmartfee",
        args: &["conf_target", "estimate_mode"],
        required: 1,
    },
    Spec {
        name: "getnetworkinfo",
        args: &[],
        required: 0,
    },
    Spec {
        name: "getconnectioncount",
        args: &[],
        required: 0,
    },
    Spec {
        name: "uptime",
        args: &[],
        required: 0,
    },
    Spec {
        name: "ping",
        args: &[],
        required: 0,
    },
    Spec {
        name: "generatetoaddress",
        args: &["nblocks", "address", "maxtries"],
        required: 2,
    },
    Spec {
        name: "invalidateblock",
        args: &["blockhash"],
        required: 1,
    },
    Spec {
        name: "reconsiderblock",
        args: &["blockhash"],
        required: 1,
    },
    Spec {
        name: "getchaintips",
        args: &[],
        required: 0,
    },
];

/// Wallet RPCs of v0.20.3: simnode has no wallet, so these answer -18/-19 like a node
/// without that wallet, or -32601 (Method not found) on a configured wallet's endpoint.
pub const WALLET_METHODS: &[&str] = &[
    "abandontransaction",
    "abortrescan",
    "addmultisigaddress",
    "backupwallet",
    "bumpfee",
    "dumpprivkey",
    "dumpwallet",
    "encryptwallet",
    "fundrawtransaction",
    "getaddressesbylabel",
    "getaddressinfo",
    "getbalance",
    "getbalances",
    "getnewaddress",
    "getrawchangeaddress",
    "getreceivedbyaddress",
    "getreceivedbylabel",
    "gettransaction",
    "getunconfirmedbalance",
    "getwalletinfo",
    "importaddress",
    "importmulti",
    "importprivkey",
    "importprunedfunds",
    "importpubkey",
    "importwallet",
    "keypoolrefill",
    "listaddressgroupings",
    "listlabels",
    "listlockunspent",
    "listreceivedbyaddress",
    "listreceivedbylabel",
    "listsinceblock",
    "listtransactions",
    "listunspent",
    "lockunspent",
    "removeprunedfunds",
    "rescanblockchain",
    "sendmany",
    "sendtoaddress",
    "sethdseed",
    "setlabel",
    "settxfee",
    "setwalletflag",
    "signmessage",
    "signrawtransactionwithwallet",
    "walletcreatefundedpsbt",
    "walletlock",
    "walletpassphrase",
    "walletpassphrasechange",
    "walletprocesspsbt",
];

fn help_text(name: &str) -> String {
    match name {
        "getblockcount" => "getblockcount\n\nReturns the height of the most-work fully-validated chain.\nThe genesis block has height 0.\n\nResult:\nn    (numeric) The current block count\n\nExamples:\n> monacoin-cli getblockcount \n> curl --user myusername --data-binary '{\"jsonrpc\": \"1.0\", \"id\": \"curltest\", \"method\": \"getblockcount\", \"params\": []}' -H 'content-type: text/plain;' http://127.0.0.1:8332/\n".to_string(),
        "getblockhash" => "getblockhash height\n\nReturns hash of block in best-block-chain at height provided.\n\nArguments:\n1. height    (numeric, required) The height index\n\nResult:\n\"hex\"    (string) The block hash\n\nExamples:\n> monacoin-cli getblockhash 1000\n> curl --user myusername --data-binary '{\"jsonrpc\": \"1.0\", \"id\": \"curltest\", \"method\": \"getblockhash\", \"params\": [1000]}' -H 'content-type: text/plain;' http://127.0.0.1:8332/\n".to_string(),
        _ => {
            let spec = SPECS.iter().find(|s| s.name == name);
            let args = spec.map(|s| {
                s.args
                    .iter()
                    .enumerate()
                    .map(|(i, a)| if i < s.required { a.to_string() } else { format!("( {a} )") })
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            match args {
                Some(a) if !a.is_empty() => format!("{name} {a}\n\n(simnode: see Monacoin Core v0.20.3 `help {name}`)\n"),
                _ => format!("{name}\n\n(simnode: see Monacoin Core v0.20.3 `help {name}`)\n"),
            }
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn misc(msg: &str) -> RpcError {
    RpcError::new(code::MISC, msg)
}

fn get_int(v: &Value) -> Result<i64, RpcError> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => Ok(i),
            _ => Err(misc("JSON integer out of range")),
        },
        _ => Err(misc("JSON value is not an integer as expected")),
    }
}

fn get_bool(v: &Value) -> Result<bool, RpcError> {
    v.as_bool()
        .ok_or_else(|| misc("JSON value is not a boolean as expected"))
}

fn get_str(v: &Value) -> Result<&str, RpcError> {
    v.as_str()
        .ok_or_else(|| misc("JSON value is not a string as expected"))
}

fn parse_hash_str(v: &Value, name: &str) -> Result<[u8; 32], RpcError> {
    let s = get_str(v)?;
    if s.len() != 64 {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            format!("{name} must be of length 64 (not {}, for '{s}')", s.len()),
        ));
    }
    let mut bytes: [u8; 32] = hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            RpcError::new(
                code::INVALID_PARAMETER,
                format!("{name} must be hexadecimal string (not '{s}')"),
            )
        })?;
    bytes.reverse();
    Ok(bytes)
}

fn parse_block_hash(v: &Value, name: &str) -> Result<BlockHash, RpcError> {
    Ok(BlockHash::from_byte_array(parse_hash_str(v, name)?))
}

fn parse_txid(v: &Value, name: &str) -> Result<Txid, RpcError> {
    Ok(Txid::from_byte_array(parse_hash_str(v, name)?))
}

/// Core's `AmountFromValue`, exact (never through a float's rounding).
pub fn amount_from_value(v: &Value) -> Result<u64, RpcError> {
    let text = match v {
        Value::Number(n) => {
            let s = n.to_string();
            if s.contains(['e', 'E']) {
                // serde_json prints small floats in exponent form; render them as decimals.
                n.as_f64()
                    .map(|f| format!("{f:.12}"))
                    .ok_or_else(|| RpcError::new(code::TYPE, "Invalid amount"))?
            } else {
                s
            }
        }
        Value::String(s) => s.clone(),
        _ => {
            return Err(RpcError::new(
                code::TYPE,
                "Amount is not a number or string",
            ))
        }
    };
    parse_fixed_point(&text)
        .ok_or_else(|| RpcError::new(code::TYPE, "Invalid amount"))
        .and_then(|wat| {
            if wat < 0 || wat as u64 > params::MAX_MONEY {
                Err(RpcError::new(code::TYPE, "Amount out of range"))
            } else {
                Ok(wat as u64)
            }
        })
}

fn parse_fixed_point(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f.trim_end_matches('0')),
        None => (body, ""),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 8 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: i64 = int.parse().ok()?;
    let mut f = frac.to_string();
    while f.len() < 8 {
        f.push('0');
    }
    let frac: i64 = f.parse().ok()?;
    let v = int.checked_mul(100_000_000)?.checked_add(frac)?;
    Some(if neg { -v } else { v })
}

fn decode_tx(hex_str: &str) -> Result<Transaction, RpcError> {
    let err = || {
        RpcError::new(
            code::DESERIALIZATION,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    };
    let bytes = hex::decode(hex_str).map_err(|_| err())?;
    bitcoin::consensus::deserialize::<Transaction>(&bytes).map_err(|_| err())
}

fn hash_hex<H: std::fmt::Display>(h: H) -> Json {
    Json::str(h.to_string())
}

/// Core's `TxToUniv(tx, hashBlock = 0, entry, include_hex)`.
pub fn tx_to_json(tx: &Transaction, include_hex: bool) -> Vec<(String, Json)> {
    let mut m: Vec<(String, Json)> = Vec::new();
    let weight = tx.weight().to_wu();
    m.push(("txid".into(), hash_hex(tx.compute_txid())));
    m.push(("hash".into(), hash_hex(tx.compute_wtxid())));
    m.push(("version".into(), Json::int(i64::from(tx.version.0))));
    m.push(("size".into(), Json::uint(tx.total_size() as u64)));
    m.push(("vsize".into(), Json::uint(weight.div_ceil(4))));
    m.push(("weight".into(), Json::uint(weight)));
    m.push((
        "locktime".into(),
        Json::uint(u64::from(tx.lock_time.to_consensus_u32())),
    ));
    let mut vin = Vec::new();
    for i in &tx.input {
        let mut o: Vec<(String, Json)> = Vec::new();
        if tx.is_coinbase() {
            o.push((
                "coinbase".into(),
                Json::str(hex::encode(i.script_sig.as_bytes())),
            ));
        } else {
            o.push(("txid".into(), hash_hex(i.previous_output.txid)));
            o.push(("vout".into(), Json::uint(u64::from(i.previous_output.vout))));
            o.push((
                "scriptSig".into(),
                Json::obj([
                    ("asm", Json::str(params::script_asm(&i.script_sig, true))),
                    ("hex", Json::str(hex::encode(i.script_sig.as_bytes()))),
                ]),
            ));
            if !i.witness.is_empty() {
                o.push((
                    "txinwitness".into(),
                    Json::Arr(
                        i.witness
                            .iter()
                            .map(|w| Json::str(hex::encode(w)))
                            .collect(),
                    ),
                ));
            }
        }
        o.push(("sequence".into(), Json::uint(u64::from(i.sequence.0))));
        vin.push(Json::Obj(o));
    }
    m.push(("vin".into(), Json::Arr(vin)));
    let vout = tx
        .output
        .iter()
        .enumerate()
        .map(|(n, o)| {
            Json::obj([
                ("value", Json::amount(o.value.to_sat())),
                ("n", Json::uint(n as u64)),
                ("scriptPubKey", params::script_pubkey_json(&o.script_pubkey)),
            ])
        })
        .collect();
    m.push(("vout".into(), Json::Arr(vout)));
    if include_hex {
        m.push((
            "hex".into(),
            Json::str(bitcoin::consensus::encode::serialize_hex(tx)),
        ));
    }
    m
}

fn header_common(st: &NodeState, hash: &BlockHash, with_sizes: bool) -> Vec<(String, Json)> {
    let e = st.chain.get(hash).expect("caller checked the block exists");
    let h = &e.block.header;
    let mut m: Vec<(String, Json)> = vec![
        ("hash".into(), hash_hex(hash)),
        (
            "confirmations".into(),
            Json::int(st.chain.confirmations(hash)),
        ),
    ];
    if with_sizes {
        m.push(("strippedsize".into(), Json::uint(e.stripped_size as u64)));
        m.push(("size".into(), Json::uint(e.size as u64)));
        m.push(("weight".into(), Json::uint(e.weight)));
    }
    m.push(("height".into(), Json::uint(u64::from(e.height))));
    m.push((
        "version".into(),
        Json::int(i64::from(h.version.to_consensus())),
    ));
    m.push((
        "versionHex".into(),
        Json::str(format!("{:08x}", h.version.to_consensus())),
    ));
    m.push(("merkleroot".into(), hash_hex(h.merkle_root)));
    m
}

fn header_tail(st: &NodeState, hash: &BlockHash, m: &mut Vec<(String, Json)>) {
    let e = st.chain.get(hash).expect("caller checked the block exists");
    let h = &e.block.header;
    m.push(("time".into(), Json::uint(u64::from(h.time))));
    m.push(("mediantime".into(), Json::uint(u64::from(e.median_time))));
    m.push(("nonce".into(), Json::uint(u64::from(h.nonce))));
    m.push((
        "bits".into(),
        Json::str(format!("{:08x}", h.bits.to_consensus())),
    ));
    m.push((
        "difficulty".into(),
        Json::Num(params::REGTEST_DIFFICULTY.into()),
    ));
    m.push(("chainwork".into(), Json::str(e.chainwork_hex())));
    m.push(("nTx".into(), Json::uint(e.block.txdata.len() as u64)));
    if e.height > 0 {
        m.push(("previousblockhash".into(), hash_hex(h.prev_blockhash)));
    }
    if let Some(next) = st.chain.next_active(hash) {
        m.push(("nextblockhash".into(), hash_hex(next)));
    }
}

fn block_json(st: &NodeState, hash: &BlockHash, verbosity: i64) -> Json {
    let e = st.chain.get(hash).expect("caller checked the block exists");
    let mut m = header_common(st, hash, true);
    let txs: Vec<Json> = e
        .block
        .txdata
        .iter()
        .map(|t| {
            if verbosity >= 2 {
                Json::Obj(tx_to_json(t, true))
            } else {
                hash_hex(t.compute_txid())
            }
        })
        .collect();
    m.push(("tx".into(), Json::Arr(txs)));
    header_tail(st, hash, &mut m);
    Json::Obj(m)
}

fn header_json(st: &NodeState, hash: &BlockHash) -> Json {
    let mut m = header_common(st, hash, false);
    header_tail(st, hash, &mut m);
    Json::Obj(m)
}

fn entry_json(st: &NodeState, txid: &Txid) -> Json {
    let pool = &st.mempool;
    let e = pool.get(txid).expect("caller checked the entry exists");
    let anc = pool.ancestors_of_tx(&e.tx);
    let desc = pool.descendants(txid);
    let sum = |set: &std::collections::HashSet<Txid>,
               f: fn(&crate::mempool::MempoolEntry) -> u64| {
        set.iter().filter_map(|t| pool.get(t)).map(f).sum::<u64>()
    };
    let anc_fees = e.fee + sum(&anc, |x| x.fee);
    let anc_size = e.vsize + sum(&anc, |x| x.vsize);
    let desc_fees = e.fee + sum(&desc, |x| x.fee);
    let desc_size = e.vsize + sum(&desc, |x| x.vsize);
    let mut depends: Vec<String> = pool
        .parents_of_tx(&e.tx)
        .iter()
        .map(ToString::to_string)
        .collect();
    depends.sort();
    let mut spentby: Vec<String> = pool
        .children(txid)
        .iter()
        .map(ToString::to_string)
        .collect();
    spentby.sort();
    Json::obj([
        (
            "fees",
            Json::obj([
                ("base", Json::amount(e.fee)),
                ("modified", Json::amount(e.fee)),
                ("ancestor", Json::amount(anc_fees)),
                ("descendant", Json::amount(desc_fees)),
            ]),
        ),
        ("vsize", Json::uint(e.vsize)),
        ("weight", Json::uint(e.weight)),
        ("fee", Json::amount(e.fee)),
        ("modifiedfee", Json::amount(e.fee)),
        ("time", Json::uint(e.time)),
        ("height", Json::uint(u64::from(e.height))),
        ("descendantcount", Json::uint(desc.len() as u64 + 1)),
        ("descendantsize", Json::uint(desc_size)),
        ("descendantfees", Json::uint(desc_fees)),
        ("ancestorcount", Json::uint(anc.len() as u64 + 1)),
        ("ancestorsize", Json::uint(anc_size)),
        ("ancestorfees", Json::uint(anc_fees)),
        ("wtxid", hash_hex(e.wtxid)),
        (
            "depends",
            Json::Arr(depends.into_iter().map(Json::Str).collect()),
        ),
        (
            "spentby",
            Json::Arr(spentby.into_iter().map(Json::Str).collect()),
        ),
        (
            "bip125-replaceable",
            Json::Bool(pool.is_bip125_replaceable(txid)),
        ),
    ])
}

fn bip9_softforks() -> Json {
    let buried = |active: bool, height: i64| {
        Json::obj([
            ("type", Json::str("buried")),
            ("active", Json::Bool(active)),
            ("height", Json::int(height)),
        ])
    };
    Json::obj([
        ("bip34", buried(true, -1)),
        ("bip66", buried(true, -1)),
        ("bip65", buried(true, -1)),
        ("csv", buried(false, 432)),
        ("segwit", buried(true, 0)),
        (
            "testdummy",
            Json::obj([
                ("type", Json::str("bip9")),
                (
                    "bip9",
                    Json::obj([
                        ("status", Json::str("defined")),
                        ("start_time", Json::int(0)),
                        ("timeout", Json::int(i64::MAX)),
                        ("since", Json::int(0)),
                    ]),
                ),
                ("active", Json::Bool(false)),
            ]),
        ),
    ])
}

/// Normalises params (array, object or absent) to positional values for `spec`.
fn positional(spec: &Spec, params: &Value) -> Result<Vec<Value>, RpcError> {
    match params {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => Ok(a.clone()),
        Value::Object(m) => {
            let mut out: Vec<Value> = Vec::new();
            for (k, v) in m {
                let Some(pos) = spec.args.iter().position(|a| a == k) else {
                    return Err(RpcError::new(
                        code::INVALID_PARAMETER,
                        format!("Unknown named parameter {k}"),
                    ));
                };
                if out.len() <= pos {
                    out.resize(pos + 1, Value::Null);
                }
                out[pos] = v.clone();
            }
            Ok(out)
        }
        _ => Err(RpcError::new(
            code::INVALID_REQUEST,
            "Params must be an array or object",
        )),
    }
}

fn wallet_error(st: &NodeState, endpoint: &Endpoint) -> RpcError {
    match endpoint {
        Endpoint::Root if st.wallets.is_empty() => RpcError::new(
            code::WALLET_NOT_FOUND,
            "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. (Note: A default wallet is no longer automatically created)",
        ),
        Endpoint::Root if st.wallets.len() > 1 => RpcError::new(
            code::WALLET_NOT_SPECIFIED,
            "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).",
        ),
        Endpoint::Wallet(name) if !st.wallets.contains(name) => RpcError::new(
            code::WALLET_NOT_FOUND,
            "Requested wallet does not exist or is not loaded",
        ),
        _ => RpcError::new(code::METHOD_NOT_FOUND, "Method not found"),
    }
}

/// Executes one call against the node state.
pub fn execute(
    state: &Mutex<NodeState>,
    endpoint: &Endpoint,
    method: &str,
    params: &Value,
) -> Result<Json, RpcError> {
    let mut st = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if WALLET_METHODS.contains(&method) {
        return Err(wallet_error(&st, endpoint));
    }
    let Some(spec) = SPECS.iter().find(|s| s.name == method) else {
        return Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found"));
    };
    let p = positional(spec, params)?;
    if p.len() < spec.required || p.len() > spec.args.len() {
        return Err(misc(&help_text(method)));
    }
    let arg = |i: usize| p.get(i).filter(|v| !v.is_null());
    let st = &mut *st;
    match method {
        "getblockchaininfo" => {
            let tip = st.chain.tip();
            Ok(Json::obj([
                ("chain", Json::str("regtest")),
                ("blocks", Json::uint(u64::from(tip.height))),
                ("headers", Json::uint(u64::from(tip.height))),
                ("bestblockhash", hash_hex(tip.hash)),
                ("difficulty", Json::Num(params::REGTEST_DIFFICULTY.into())),
                ("mediantime", Json::uint(u64::from(tip.median_time))),
                ("verificationprogress", Json::int(1)),
                ("initialblockdownload", Json::Bool(tip.height == 0)),
                ("chainwork", Json::str(tip.chainwork_hex())),
                ("size_on_disk", Json::uint(st.chain.size_on_disk())),
                ("pruned", Json::Bool(false)),
                ("softforks", bip9_softforks()),
                ("warnings", Json::str("")),
            ]))
        }
        "getblockcount" => Ok(Json::uint(u64::from(st.chain.height()))),
        "getbestblockhash" => Ok(hash_hex(st.chain.tip().hash)),
        "getdifficulty" => Ok(Json::Num(params::REGTEST_DIFFICULTY.into())),
        "getblockhash" => {
            let h = get_int(&p[0])?;
            u32::try_from(h)
                .ok()
                .and_then(|h| st.chain.hash_at(h))
                .map(hash_hex)
                .ok_or_else(|| RpcError::new(code::INVALID_PARAMETER, "Block height out of range"))
        }
        "getblock" => {
            let hash = parse_block_hash(&p[0], "blockhash")?;
            let verbosity = match arg(1) {
                None => 1,
                Some(v) if v.is_number() => get_int(v)?,
                Some(v) => i64::from(get_bool(v)?),
            };
            let e = st
                .chain
                .get(&hash)
                .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found"))?;
            if verbosity <= 0 {
                return Ok(Json::str(bitcoin::consensus::encode::serialize_hex(
                    &e.block,
                )));
            }
            Ok(block_json(st, &hash, verbosity))
        }
        "getblockheader" => {
            let hash = parse_block_hash(&p[0], "hash")?;
            let verbose = match arg(1) {
                None => true,
                Some(v) => get_bool(v)?,
            };
            let e = st
                .chain
                .get(&hash)
                .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found"))?;
            if !verbose {
                return Ok(Json::str(bitcoin::consensus::encode::serialize_hex(
                    &e.block.header,
                )));
            }
            Ok(header_json(st, &hash))
        }
        "getrawtransaction" => getrawtransaction(st, &p),
        "decoderawtransaction" => {
            let tx = decode_tx(get_str(&p[0])?)?;
            Ok(Json::Obj(tx_to_json(&tx, false)))
        }
        "gettxout" => {
            let txid = parse_txid(&p[0], "txid")?;
            let n = get_int(&p[1])?;
            let include_mempool = match arg(2) {
                None => true,
                Some(v) => get_bool(v)?,
            };
            let Ok(n) = u32::try_from(n) else {
                return Ok(Json::Null);
            };
            let op = OutPoint::new(txid, n);
            let tip = st.chain.tip();
            let found = if include_mempool {
                if st.mempool.spender(&op).is_some() {
                    None
                } else if let Some(e) = st.mempool.get(&txid) {
                    e.tx.output
                        .get(n as usize)
                        .map(|o| (o.clone(), 0i64, false))
                } else {
                    st.chain.utxo.get(&op).map(|c| {
                        (
                            c.txout.clone(),
                            i64::from(tip.height) - i64::from(c.height) + 1,
                            c.is_coinbase,
                        )
                    })
                }
            } else {
                st.chain.utxo.get(&op).map(|c| {
                    (
                        c.txout.clone(),
                        i64::from(tip.height) - i64::from(c.height) + 1,
                        c.is_coinbase,
                    )
                })
            };
            Ok(match found {
                None => Json::Null,
                Some((out, conf, cb)) => Json::obj([
                    ("bestblock", hash_hex(tip.hash)),
                    ("confirmations", Json::int(conf)),
                    ("value", Json::amount(out.value.to_sat())),
                    (
                        "scriptPubKey",
                        params::script_pubkey_json(&out.script_pubkey),
                    ),
                    ("coinbase", Json::Bool(cb)),
                ]),
            })
        }
        "getrawmempool" => {
            let verbose = match arg(0) {
                None => false,
                Some(v) => get_bool(v)?,
            };
            let ids: Vec<Txid> = st.mempool.ordered().iter().map(|e| e.txid).collect();
            if verbose {
                Ok(Json::Obj(
                    ids.iter()
                        .map(|t| (t.to_string(), entry_json(st, t)))
                        .collect(),
                ))
            } else {
                Ok(Json::Arr(ids.into_iter().map(hash_hex).collect()))
            }
        }
        "getmempoolentry" => {
            let txid = parse_txid(&p[0], "parameter 1")?;
            if !st.mempool.contains(&txid) {
                return Err(RpcError::new(
                    code::INVALID_ADDRESS_OR_KEY,
                    "Transaction not in mempool",
                ));
            }
            Ok(entry_json(st, &txid))
        }
        "getmempoolinfo" => Ok(Json::obj([
            ("loaded", Json::Bool(true)),
            ("size", Json::uint(st.mempool.len() as u64)),
            ("bytes", Json::uint(st.mempool.total_vsize())),
            ("usage", Json::uint(64 + 1152 * st.mempool.len() as u64)),
            ("maxmempool", Json::uint(300_000_000)),
            ("mempoolminfee", Json::amount(params::MIN_RELAY_FEE_PER_KVB)),
            ("minrelaytxfee", Json::amount(params::MIN_RELAY_FEE_PER_KVB)),
        ])),
        "testmempoolaccept" => {
            let Value::Array(raw) = &p[0] else {
                return Err(RpcError::new(
                    code::TYPE,
                    format!("Expected type array, got {}", type_name(&p[0])),
                ));
            };
            if raw.len() != 1 {
                return Err(RpcError::new(
                    code::INVALID_PARAMETER,
                    "Array must contain exactly one raw transaction for now",
                ));
            }
            let tx = decode_tx(get_str(&raw[0])?)?;
            let rate = match arg(1) {
                None => params::DEFAULT_MAX_FEE_RATE_PER_KVB,
                Some(v) => amount_from_value(v)?,
            };
            let txid = tx.compute_txid();
            let mut m = vec![("txid".to_string(), hash_hex(txid))];
            match st.test_accept(&tx, rate) {
                Ok(_) => m.push(("allowed".into(), Json::Bool(true))),
                Err(r) => {
                    m.push(("allowed".into(), Json::Bool(false)));
                    let reason = if r.kind == RejectKind::MissingInputs {
                        "missing-inputs".to_string()
                    } else {
                        r.reason
                    };
                    m.push(("reject-reason".into(), Json::Str(reason)));
                }
            }
            Ok(Json::Arr(vec![Json::Obj(m)]))
        }
        "sendrawtransaction" => {
            if !p[0].is_string() {
                return Err(RpcError::new(
                    code::TYPE,
                    format!("Expected type string, got {}", type_name(&p[0])),
                ));
            }
            let tx = decode_tx(get_str(&p[0])?)?;
            *st.sendraw_calls.entry(tx.compute_txid()).or_default() += 1;
            let rate = match arg(1) {
                None => params::DEFAULT_MAX_FEE_RATE_PER_KVB,
                Some(Value::Bool(_)) => {
                    return Err(RpcError::new(
                        code::INVALID_PARAMETER,
                        "Second argument must be numeric (maxfeerate) and no longer supports a boolean. To allow a transaction with high fees, set maxfeerate to 0.",
                    ))
                }
                Some(v) => amount_from_value(v)?,
            };
            match st.submit(&tx, rate) {
                Ok(txid) => Ok(hash_hex(txid)),
                Err(SubmitError::AlreadyInChain) => Err(RpcError::new(
                    code::ALREADY_IN_CHAIN,
                    "Transaction already in block chain",
                )),
                Err(SubmitError::Rejected(r)) if r.kind == RejectKind::MissingInputs => {
                    Err(RpcError::new(code::VERIFY_ERROR, r.reason))
                }
                Err(SubmitError::Rejected(r)) => {
                    Err(RpcError::new(code::VERIFY_REJECTED, r.message()))
                }
            }
        }
        "estimatesmartfee" => {
            let target = get_int(&p[0])?;
            if let Some(m) = arg(1) {
                let mode = get_str(m)?;
                if !matches!(mode, "UNSET" | "ECONOMICAL" | "CONSERVATIVE") {
                    return Err(RpcError::new(
                        code::INVALID_PARAMETER,
                        "Invalid estimate_mode parameter",
                    ));
                }
            }
            if !(1..=1008).contains(&target) {
                return Err(RpcError::new(
                    code::INVALID_PARAMETER,
                    "Invalid conf_target, must be between 1 - 1008",
                ));
            }
            Ok(match st.fee_estimate {
                Some(rate) => Json::obj([
                    ("feerate", Json::amount(rate)),
                    ("blocks", Json::int(target.max(2))),
                ]),
                None => Json::obj([
                    (
                        "errors",
                        Json::Arr(vec![Json::str("Insufficient data or no feerate found")]),
                    ),
                    ("blocks", Json::int(0)),
                ]),
            })
        }
        "getnetworkinfo" => {
            let network = |name: &'static str, limited: bool| {
                Json::obj([
                    ("name", Json::str(name)),
                    ("limited", Json::Bool(limited)),
                    ("reachable", Json::Bool(!limited)),
                    ("proxy", Json::str("")),
                    ("proxy_randomize_credentials", Json::Bool(false)),
                ])
            };
            Ok(Json::obj([
                ("version", Json::int(params::NODE_VERSION)),
                ("subversion", Json::str(params::SUBVERSION)),
                ("protocolversion", Json::int(70015)),
                ("localservices", Json::str("0000000000000409")),
                (
                    "localservicesnames",
                    Json::Arr(vec![
                        Json::str("NETWORK"),
                        Json::str("WITNESS"),
                        Json::str("NETWORK_LIMITED"),
                    ]),
                ),
                ("localrelay", Json::Bool(true)),
                ("timeoffset", Json::int(0)),
                ("networkactive", Json::Bool(true)),
                ("connections", Json::int(0)),
                (
                    "networks",
                    Json::Arr(vec![
                        network("ipv4", false),
                        network("ipv6", false),
                        network("onion", true),
                    ]),
                ),
                ("relayfee", Json::amount(params::MIN_RELAY_FEE_PER_KVB)),
                (
                    "incrementalfee",
                    Json::amount(params::INCREMENTAL_RELAY_FEE_PER_KVB),
                ),
                ("localaddresses", Json::Arr(vec![])),
                ("warnings", Json::str("")),
            ]))
        }
        "getconnectioncount" => Ok(Json::int(0)),
        "ping" => Ok(Json::Null),
        "uptime" => Ok(Json::uint(
            crate::state::unix_now().saturating_sub(st.started_at),
        )),
        "generatetoaddress" => {
            let n = get_int(&p[0])?;
            if let Some(m) = arg(2) {
                get_int(m)?;
            }
            let addr = get_str(&p[1])?;
            let script = params::address_to_script(addr).map_err(|_| {
                RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Error: Invalid address")
            })?;
            let n = u32::try_from(n.max(0)).unwrap_or(0);
            Ok(Json::Arr(
                st.mine(n, &script).into_iter().map(hash_hex).collect(),
            ))
        }
        "invalidateblock" | "reconsiderblock" => {
            let hash = parse_block_hash(&p[0], "blockhash")?;
            let ok = if method == "invalidateblock" {
                st.invalidate(hash)
            } else {
                st.reconsider(hash)
            };
            if ok {
                Ok(Json::Null)
            } else {
                Err(RpcError::new(
                    code::INVALID_ADDRESS_OR_KEY,
                    "Block not found",
                ))
            }
        }
        "getchaintips" => Ok(chain_tips(st)),
        _ => Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found")),
    }
}

fn chain_tips(st: &NodeState) -> Json {
    let mut tips: Vec<&crate::chain::BlockEntry> = st
        .chain
        .entries()
        .filter(|e| st.chain.children_of(&e.hash).is_empty() || e.hash == st.chain.tip().hash)
        .collect();
    tips.sort_by(|a, b| b.height.cmp(&a.height).then(a.sequence.cmp(&b.sequence)));
    Json::Arr(
        tips.into_iter()
            .map(|e| {
                let active = st.chain.is_active(&e.hash);
                let status = if active {
                    "active"
                } else if e.is_invalid() {
                    "invalid"
                } else {
                    "valid-fork"
                };
                let branchlen = e.height - st.chain.fork_height(e.hash);
                Json::obj([
                    ("height", Json::uint(u64::from(e.height))),
                    ("hash", hash_hex(e.hash)),
                    ("branchlen", Json::uint(u64::from(branchlen))),
                    ("status", Json::str(status)),
                ])
            })
            .collect(),
    )
}

fn getrawtransaction(st: &NodeState, p: &[Value]) -> Result<Json, RpcError> {
    let txid = parse_txid(&p[0], "parameter 1")?;
    let verbose = match p.get(1).filter(|v| !v.is_null()) {
        None => false,
        Some(Value::Number(_)) => get_int(&p[1])? != 0,
        Some(v) => get_bool(v)?,
    };
    let block_arg = match p.get(2).filter(|v| !v.is_null()) {
        None => None,
        Some(v) => {
            let h = parse_block_hash(v, "parameter 3")?;
            if st.chain.get(&h).is_none() {
                return Err(RpcError::new(
                    code::INVALID_ADDRESS_OR_KEY,
                    "Block hash not found",
                ));
            }
            Some(h)
        }
    };
    let genesis = st.chain.hash_at(0).and_then(|h| st.chain.get(&h));
    if genesis.is_some_and(|g| g.block.txdata[0].compute_txid() == txid) {
        return Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved",
        ));
    }
    let find_in = |b: &Block| b.txdata.iter().find(|t| t.compute_txid() == txid).cloned();
    let (tx, in_block): (Option<Transaction>, Option<BlockHash>) = match block_arg {
        Some(h) => {
            let b = &st.chain.get(&h).expect("checked above").block;
            (find_in(b), Some(h))
        }
        None => match st.mempool.get(&txid) {
            Some(e) => (Some(e.tx.clone()), None),
            None if st.txindex => match st.chain.find_tx(&txid) {
                Some(h) => (st.chain.get(&h).and_then(|e| find_in(&e.block)), Some(h)),
                None => (None, None),
            },
            None => (None, None),
        },
    };
    let Some(tx) = tx else {
        let msg = if block_arg.is_some() {
            "No such transaction found in the provided block"
        } else if !st.txindex {
            "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries"
        } else {
            "No such mempool or blockchain transaction"
        };
        return Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            format!("{msg}. Use gettransaction for wallet transactions."),
        ));
    };
    if !verbose {
        return Ok(Json::str(bitcoin::consensus::encode::serialize_hex(&tx)));
    }
    let mut m: Vec<(String, Json)> = Vec::new();
    if let Some(h) = block_arg {
        m.push(("in_active_chain".into(), Json::Bool(st.chain.is_active(&h))));
    }
    m.extend(tx_to_json(&tx, true));
    if let Some(h) = in_block {
        m.push(("blockhash".into(), hash_hex(h)));
        if st.chain.is_active(&h) {
            let e = st.chain.get(&h).expect("active blocks are indexed");
            m.push((
                "confirmations".into(),
                Json::int(st.chain.confirmations(&h)),
            ));
            m.push(("time".into(), Json::uint(u64::from(e.block.header.time))));
            m.push((
                "blocktime".into(),
                Json::uint(u64::from(e.block.header.time)),
            ));
        } else {
            m.push(("confirmations".into(), Json::int(0)));
        }
    }
    Ok(Json::Obj(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_amounts() {
        for (s, want) in [
            ("0.1", Some(10_000_000)),
            ("0", Some(0)),
            ("0.00000001", Some(1)),
            ("1.000000001", None),
            ("abc", None),
            ("", None),
            ("1.5", Some(150_000_000)),
        ] {
            assert_eq!(parse_fixed_point(s), want, "{s}");
        }
    }

    #[test]
    fn amount_from_json_numbers() {
        assert_eq!(
            amount_from_value(&serde_json::json!(0.1)).unwrap(),
            10_000_000
        );
        assert_eq!(amount_from_value(&serde_json::json!(0)).unwrap(), 0);
        assert_eq!(amount_from_value(&serde_json::json!(1e-5)).unwrap(), 1000);
        assert_eq!(
            amount_from_value(&serde_json::json!(-1))
                .unwrap_err()
                .message,
            "Amount out of range"
        );
        assert_eq!(
            amount_from_value(&serde_json::json!(true))
                .unwrap_err()
                .message,
            "Amount is not a number or string"
        );
    }
}
