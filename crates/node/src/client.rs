//! The JSON-RPC 1.0 client: one fresh HTTP/1.1 connection per call, a timeout on every call,
//! typed calls, and the mapping of every HTTP/JSON-RPC answer to a [`RpcError`] class.
//!
//! Invariant: a call either returns the node's result or an [`RpcError`] whose class tells the
//! caller what to do; a request is never silently re-sent except after HTTP 401 with cookie auth
//! (the node declined it, so it was not executed) once the cookie file has been re-read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bitcoin::consensus::encode;
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::{Block, BlockHash, Transaction, Txid};
use mona::{FeeRate, Network};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::auth::{basic_header, read_cookie, Auth, AuthHeader, COOKIE_USER};
use crate::error::{Delivery, RpcError};
use crate::http::{build_request, exchange, ExchangeError, HttpResponse, Phase};
use crate::outcome::BroadcastOutcome;
use crate::types::{
    BlockHeaderInfo, BlockInfo, BlockchainInfo, EstimateMode, FeeEstimate, MempoolAcceptResult,
    MempoolEntry, MempoolVerbose, TransactionInfo, UnspentTxOut,
};

/// Default timeout of a call.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Default cap on an answer's body (a full 4 MWU block is 8 MB of hex).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// JSON-RPC code for "not found" (RPC_INVALID_ADDRESS_OR_KEY).
const RPC_INVALID_ADDRESS_OR_KEY: i64 = -5;
/// JSON-RPC code for an invalid parameter (e.g. block height out of range).
const RPC_INVALID_PARAMETER: i64 = -8;

/// Where and how to reach the node.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeConfig {
    /// `host:port` to connect to (also sent as the `Host` header).
    pub host: String,
    /// URL path: `/` for node calls, `/wallet/<name>` for a wallet.
    pub path: String,
    /// Credentials.
    pub auth: Auth,
    /// Timeout of every call (connect, send and the whole answer), in milliseconds.
    pub timeout_ms: u64,
    /// Largest answer body accepted, in bytes.
    pub max_response_bytes: usize,
}

impl NodeConfig {
    /// A configuration from a URL (`http://127.0.0.1:19443/` or `127.0.0.1:19443`) and
    /// credentials, with the default timeout and size limit.
    pub fn new(url: &str, auth: Auth) -> Result<NodeConfig, RpcError> {
        let (host, path) = parse_url(url)?;
        Ok(NodeConfig {
            host,
            path,
            auth,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// The same configuration with another call timeout.
    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> NodeConfig {
        self.timeout_ms = timeout_ms;
        self
    }

    /// The same configuration with another answer size limit.
    pub fn with_max_response_bytes(mut self, max: usize) -> NodeConfig {
        self.max_response_bytes = max;
        self
    }

    /// The same configuration with another URL path (e.g. `/wallet/watch`).
    pub fn with_path(mut self, path: impl Into<String>) -> NodeConfig {
        self.path = path.into();
        self
    }
}

fn parse_url(url: &str) -> Result<(String, String), RpcError> {
    let url = url.trim();
    if url.starts_with("https://") {
        return Err(RpcError::Config(format!(
            "'{url}': monacoind's RPC server speaks plain HTTP only"
        )));
    }
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(RpcError::Config(
            "credentials in the URL are not supported; use the auth settings".into(),
        ));
    }
    let port_ok = authority
        .rsplit_once(':')
        .map(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        .unwrap_or(false);
    if !port_ok {
        return Err(RpcError::Config(format!(
            "'{url}' must be host:port (e.g. 127.0.0.1:19443 on regtest)"
        )));
    }
    Ok((authority.to_string(), path.to_string()))
}

/// An async monacoind JSON-RPC client. Cheap to share behind an `Arc`; calls may run
/// concurrently (each uses its own connection).
#[derive(Debug)]
pub struct NodeClient {
    config: NodeConfig,
    next_id: AtomicU64,
    /// The header derived from the credentials (cookie auth: from the last read of the file).
    auth_header: Mutex<Option<AuthHeader>>,
}

#[derive(Serialize)]
struct Request<'a> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: &'a [Box<RawValue>],
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    id: serde_json::Value,
}

/// Serializes one parameter.
fn param<T: Serialize + ?Sized>(v: &T) -> Result<Box<RawValue>, RpcError> {
    serde_json::value::to_raw_value(v)
        .map_err(|e| RpcError::Config(format!("cannot encode a parameter: {e}")))
}

/// A fee rate as the node's MONA/kvB number, exact and minimal (`0`, `0.1`, `0.00001`).
fn fee_rate_param(rate: FeeRate) -> Result<Box<RawValue>, RpcError> {
    let wat = rate.wat_per_kvb();
    let int = wat / 100_000_000;
    let frac = wat % 100_000_000;
    let text = if frac == 0 {
        int.to_string()
    } else {
        let f = format!("{frac:08}");
        format!("{int}.{}", f.trim_end_matches('0'))
    };
    RawValue::from_string(text)
        .map_err(|e| RpcError::Config(format!("cannot encode a fee rate: {e}")))
}

fn truncate(s: &str) -> String {
    const MAX: usize = 120;
    if s.len() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}...")
    }
}

/// Maps one HTTP answer to the JSON-RPC result (raw JSON text, `null` included) or an error.
/// Total: never panics, every input yields a value or a classified error.
pub(crate) fn interpret(
    method: &str,
    path: &str,
    expected_id: u64,
    status: u16,
    body: &[u8],
    user: &str,
) -> Result<Box<RawValue>, RpcError> {
    match status {
        401 => {
            return Err(RpcError::Unauthorized {
                user: user.to_string(),
            })
        }
        403 => return Err(RpcError::Forbidden),
        503 => {
            return Err(RpcError::WorkQueueFull {
                method: method.to_string(),
            })
        }
        _ => {}
    }
    let invalid = |detail: String| RpcError::InvalidResponse {
        method: method.to_string(),
        http_status: Some(status),
        detail,
    };
    let envelope = match serde_json::from_slice::<Envelope>(body) {
        Ok(e) => e,
        Err(_) if status == 404 => {
            return Err(RpcError::UnknownPath {
                path: path.to_string(),
            })
        }
        Err(e) => {
            let text = String::from_utf8_lossy(body);
            return Err(invalid(format!(
                "not a JSON-RPC reply ({e}): '{}'",
                truncate(text.trim())
            )));
        }
    };
    match envelope.error {
        Some(serde_json::Value::Null) | None => {}
        Some(err) => {
            let code = err.get("code").and_then(serde_json::Value::as_i64);
            let message = err.get("message").and_then(serde_json::Value::as_str);
            return match (code, message) {
                (Some(-32601), _) => Err(RpcError::MethodNotFound {
                    method: method.to_string(),
                }),
                (Some(code), Some(message)) => Err(RpcError::Node {
                    method: method.to_string(),
                    http_status: status,
                    code,
                    message: message.to_string(),
                }),
                _ => Err(invalid(format!(
                    "malformed error object '{}'",
                    truncate(&err.to_string())
                ))),
            };
        }
    }
    if status != 200 {
        return Err(invalid(format!("HTTP {status} without a JSON-RPC error")));
    }
    if envelope.id.as_u64() != Some(expected_id) {
        return Err(invalid(format!(
            "reply id {} does not match request id {expected_id}",
            truncate(&envelope.id.to_string())
        )));
    }
    match envelope.result {
        Some(r) => Ok(r),
        None => {
            RawValue::from_string("null".to_string()).map_err(|e| invalid(format!("internal: {e}")))
        }
    }
}

fn decode_hex<T: encode::Decodable>(method: &str, hex: &str) -> Result<T, RpcError> {
    let bytes = Vec::<u8>::from_hex(hex).map_err(|e| RpcError::InvalidResponse {
        method: method.to_string(),
        http_status: Some(200),
        detail: format!("result is not hex: {e}"),
    })?;
    encode::deserialize(&bytes).map_err(|e| RpcError::InvalidResponse {
        method: method.to_string(),
        http_status: Some(200),
        detail: format!("result does not decode: {e}"),
    })
}

/// The object the node returned must be the one asked for (its hash is recomputed locally).
fn check_id<T: PartialEq + std::fmt::Display>(
    method: &str,
    asked: T,
    got: T,
) -> Result<(), RpcError> {
    if asked == got {
        Ok(())
    } else {
        Err(RpcError::InvalidResponse {
            method: method.to_string(),
            http_status: Some(200),
            detail: format!("asked for {asked}, the returned data hashes to {got}"),
        })
    }
}

/// `Ok(None)` for a node error with `code`, the value otherwise.
fn absent_on<T>(r: Result<T, RpcError>, code: i64) -> Result<Option<T>, RpcError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.node_code() == Some(code) => Ok(None),
        Err(e) => Err(e),
    }
}

impl NodeClient {
    /// A client for `config`. Makes no connection (use [`NodeClient::check_chain`] at start).
    pub fn new(config: NodeConfig) -> NodeClient {
        NodeClient {
            config,
            next_id: AtomicU64::new(1),
            auth_header: Mutex::new(None),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    fn user(&self) -> &str {
        match &self.config.auth {
            Auth::UserPass { user, .. } => user,
            Auth::CookieFile(_) => COOKIE_USER,
            Auth::None => "",
        }
    }

    /// The `Authorization` header; with `refresh`, re-reads the cookie file.
    fn authorization(&self, refresh: bool) -> Result<Option<AuthHeader>, RpcError> {
        let mut cached = match self.auth_header.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if refresh || cached.is_none() {
            *cached = match &self.config.auth {
                Auth::UserPass { user, password } => Some(basic_header(user, password)),
                Auth::CookieFile(path) => Some(read_cookie(path)?),
                Auth::None => None,
            };
        }
        Ok(cached.clone())
    }

    /// One HTTP exchange with the timeout applied; maps transport failures to [`RpcError`].
    async fn post(
        &self,
        method: &str,
        body: &[u8],
        refresh_auth: bool,
    ) -> Result<HttpResponse, RpcError> {
        let auth = self.authorization(refresh_auth)?;
        let request = build_request(
            &self.config.host,
            &self.config.path,
            auth.as_deref().map(String::as_str),
            body,
        );
        let mut phase = Phase::Connecting;
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let result = tokio::time::timeout(
            timeout,
            exchange(
                &self.config.host,
                &request,
                self.config.max_response_bytes,
                &mut phase,
            ),
        )
        .await;
        let delivery_of = |p: Phase| {
            if p.request_delivered() {
                Delivery::Unknown
            } else {
                Delivery::NotSent
            }
        };
        match result {
            Err(_elapsed) => Err(RpcError::Timeout {
                method: method.to_string(),
                timeout_ms: self.config.timeout_ms,
                delivery: delivery_of(phase),
            }),
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(ExchangeError::Io(Phase::Connecting, e))) => Err(RpcError::Connect {
                method: method.to_string(),
                addr: self.config.host.clone(),
                source: e,
            }),
            Ok(Err(ExchangeError::Io(p, e))) => Err(RpcError::Connection {
                method: method.to_string(),
                delivery: delivery_of(p),
                kind: Some(e.kind()),
                detail: e.to_string(),
            }),
            Ok(Err(ExchangeError::Closed(p))) => Err(RpcError::Connection {
                method: method.to_string(),
                delivery: delivery_of(p),
                kind: None,
                detail: "the node closed the connection before a complete answer".into(),
            }),
            Ok(Err(ExchangeError::Malformed(detail))) => Err(RpcError::InvalidResponse {
                method: method.to_string(),
                http_status: None,
                detail,
            }),
            Ok(Err(ExchangeError::TooLarge(size))) => Err(RpcError::ResponseTooLarge {
                method: method.to_string(),
                size,
                limit: self.config.max_response_bytes,
            }),
        }
    }

    /// Calls `method` with already-encoded parameters; returns the raw JSON text of the result
    /// (`null` included).
    pub async fn call_raw(
        &self,
        method: &str,
        params: &[Box<RawValue>],
    ) -> Result<Box<RawValue>, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::to_vec(&Request {
            jsonrpc: "1.0",
            id,
            method,
            params,
        })
        .map_err(|e| RpcError::Config(format!("cannot encode the request: {e}")))?;
        let started = Instant::now();
        let mut resp = self.post(method, &body, false).await?;
        if resp.status == 401 && matches!(self.config.auth, Auth::CookieFile(_)) {
            // The node writes a new cookie at every restart; 401 means it did not execute the
            // call, so one retry with the re-read cookie is safe.
            tracing::info!(
                method,
                "HTTP 401 with cookie auth: re-reading the cookie file"
            );
            resp = self.post(method, &body, true).await?;
        }
        tracing::debug!(
            method,
            id,
            status = resp.status,
            bytes = resp.body.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "rpc call"
        );
        interpret(
            method,
            &self.config.path,
            id,
            resp.status,
            &resp.body,
            self.user(),
        )
    }

    /// Calls `method` with JSON parameters and decodes the result into `T`. Numbers in
    /// `serde_json::Value` parameters are floats: pass amounts through the typed calls instead.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &[serde_json::Value],
    ) -> Result<T, RpcError> {
        let params = params.iter().map(param).collect::<Result<Vec<_>, _>>()?;
        let raw = self.call_raw(method, &params).await?;
        Self::decode(method, &raw)
    }

    fn decode<T: DeserializeOwned>(method: &str, raw: &RawValue) -> Result<T, RpcError> {
        serde_json::from_str(raw.get()).map_err(|e| RpcError::InvalidResponse {
            method: method.to_string(),
            http_status: Some(200),
            detail: format!("unexpected result shape: {e}"),
        })
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &[Box<RawValue>],
    ) -> Result<T, RpcError> {
        let raw = self.call_raw(method, params).await?;
        Self::decode(method, &raw)
    }

    /// Verifies that the node is on `network` (`getblockhash 0` equals its genesis hash);
    /// returns the genesis hash, or [`RpcError::WrongChain`] with a message to show the operator.
    pub async fn check_chain(&self, network: Network) -> Result<BlockHash, RpcError> {
        let expected = network.genesis_hash();
        let found = self
            .get_block_hash(0)
            .await?
            .ok_or_else(|| RpcError::InvalidResponse {
                method: "getblockhash".into(),
                http_status: Some(500),
                detail: "the node has no block at height 0".into(),
            })?;
        if found != expected {
            return Err(RpcError::WrongChain {
                network,
                expected,
                found,
            });
        }
        Ok(found)
    }

    /// `getblockchaininfo`.
    pub async fn get_blockchain_info(&self) -> Result<BlockchainInfo, RpcError> {
        self.typed("getblockchaininfo", &[]).await
    }

    /// `getblockcount`: height of the active chain tip.
    pub async fn get_block_count(&self) -> Result<u64, RpcError> {
        self.typed("getblockcount", &[]).await
    }

    /// `getbestblockhash`.
    pub async fn get_best_block_hash(&self) -> Result<BlockHash, RpcError> {
        self.typed("getbestblockhash", &[]).await
    }

    /// `getblockhash <height>`; `None` above the tip (-8 `Block height out of range`).
    pub async fn get_block_hash(&self, height: u64) -> Result<Option<BlockHash>, RpcError> {
        absent_on(
            self.typed("getblockhash", &[param(&height)?]).await,
            RPC_INVALID_PARAMETER,
        )
    }

    /// `getblock <hash> 0`, decoded; `None` if the node does not know the block (-5).
    pub async fn get_block(&self, hash: BlockHash) -> Result<Option<Block>, RpcError> {
        let hex: Result<String, _> = self.typed("getblock", &[param(&hash)?, param(&0u8)?]).await;
        match absent_on(hex, RPC_INVALID_ADDRESS_OR_KEY)? {
            None => Ok(None),
            Some(hex) => {
                let block: Block = decode_hex("getblock", &hex)?;
                check_id("getblock", hash, block.block_hash())?;
                Ok(Some(block))
            }
        }
    }

    /// `getblock <hash> 1`; `None` if unknown (-5).
    pub async fn get_block_info(&self, hash: BlockHash) -> Result<Option<BlockInfo>, RpcError> {
        absent_on(
            self.typed("getblock", &[param(&hash)?, param(&1u8)?]).await,
            RPC_INVALID_ADDRESS_OR_KEY,
        )
    }

    /// `getblockheader <hash> true`; `None` if unknown (-5).
    pub async fn get_block_header_info(
        &self,
        hash: BlockHash,
    ) -> Result<Option<BlockHeaderInfo>, RpcError> {
        absent_on(
            self.typed("getblockheader", &[param(&hash)?, param(&true)?])
                .await,
            RPC_INVALID_ADDRESS_OR_KEY,
        )
    }

    /// `getblockheader <hash> false`, decoded; `None` if unknown (-5).
    pub async fn get_block_header(
        &self,
        hash: BlockHash,
    ) -> Result<Option<bitcoin::block::Header>, RpcError> {
        let hex: Result<String, _> = self
            .typed("getblockheader", &[param(&hash)?, param(&false)?])
            .await;
        match absent_on(hex, RPC_INVALID_ADDRESS_OR_KEY)? {
            None => Ok(None),
            Some(hex) => {
                let header: bitcoin::block::Header = decode_hex("getblockheader", &hex)?;
                check_id("getblockheader", hash, header.block_hash())?;
                Ok(Some(header))
            }
        }
    }

    fn raw_tx_params(
        txid: Txid,
        verbose: bool,
        block_hash: Option<BlockHash>,
    ) -> Result<Vec<Box<RawValue>>, RpcError> {
        let mut p = vec![param(&txid)?, param(&verbose)?];
        if let Some(h) = block_hash {
            p.push(param(&h)?);
        }
        Ok(p)
    }

    /// `getrawtransaction <txid> false [blockhash]`, decoded; `None` if not found (-5). Without
    /// `-txindex` and without a block hash only mempool transactions are found: `None` then
    /// does not mean the transaction never existed.
    pub async fn get_raw_transaction(
        &self,
        txid: Txid,
        block_hash: Option<BlockHash>,
    ) -> Result<Option<Transaction>, RpcError> {
        let params = Self::raw_tx_params(txid, false, block_hash)?;
        let hex: Result<String, _> = self.typed("getrawtransaction", &params).await;
        match absent_on(hex, RPC_INVALID_ADDRESS_OR_KEY)? {
            None => Ok(None),
            Some(hex) => {
                let tx: Transaction = decode_hex("getrawtransaction", &hex)?;
                check_id("getrawtransaction", txid, tx.compute_txid())?;
                Ok(Some(tx))
            }
        }
    }

    /// `getrawtransaction <txid> true [blockhash]`; `None` if not found (-5).
    pub async fn get_raw_transaction_info(
        &self,
        txid: Txid,
        block_hash: Option<BlockHash>,
    ) -> Result<Option<TransactionInfo>, RpcError> {
        let params = Self::raw_tx_params(txid, true, block_hash)?;
        absent_on(
            self.typed("getrawtransaction", &params).await,
            RPC_INVALID_ADDRESS_OR_KEY,
        )
    }

    /// `gettxout <txid> <vout> <include_mempool>`; `None` if the output does not exist or is
    /// spent (with `include_mempool`, also if a mempool transaction spends it).
    pub async fn get_tx_out(
        &self,
        txid: Txid,
        vout: u32,
        include_mempool: bool,
    ) -> Result<Option<UnspentTxOut>, RpcError> {
        self.typed(
            "gettxout",
            &[param(&txid)?, param(&vout)?, param(&include_mempool)?],
        )
        .await
    }

    /// `getrawmempool false`: txids in the mempool.
    pub async fn get_raw_mempool(&self) -> Result<Vec<Txid>, RpcError> {
        self.typed("getrawmempool", &[param(&false)?]).await
    }

    /// `getrawmempool true`: every mempool entry by txid.
    pub async fn get_raw_mempool_verbose(&self) -> Result<MempoolVerbose, RpcError> {
        self.typed("getrawmempool", &[param(&true)?]).await
    }

    /// `getmempoolentry <txid>`; `None` if not in the mempool (-5: mined, replaced or unknown).
    pub async fn get_mempool_entry(&self, txid: Txid) -> Result<Option<MempoolEntry>, RpcError> {
        absent_on(
            self.typed("getmempoolentry", &[param(&txid)?]).await,
            RPC_INVALID_ADDRESS_OR_KEY,
        )
    }

    /// `testmempoolaccept ["<hex>"] [maxfeerate]` for raw transaction bytes.
    pub async fn test_mempool_accept_raw(
        &self,
        raw_tx: &[u8],
        max_fee_rate: Option<FeeRate>,
    ) -> Result<MempoolAcceptResult, RpcError> {
        self.test_mempool_accept_hex(&raw_tx.to_lower_hex_string(), max_fee_rate)
            .await
    }

    /// `testmempoolaccept ["<hex>"] [maxfeerate]` for a transaction.
    pub async fn test_mempool_accept(
        &self,
        tx: &Transaction,
        max_fee_rate: Option<FeeRate>,
    ) -> Result<MempoolAcceptResult, RpcError> {
        self.test_mempool_accept_raw(&encode::serialize(tx), max_fee_rate)
            .await
    }

    /// `testmempoolaccept ["<hex>"] [maxfeerate]` with the hex as given.
    pub async fn test_mempool_accept_hex(
        &self,
        hex: &str,
        max_fee_rate: Option<FeeRate>,
    ) -> Result<MempoolAcceptResult, RpcError> {
        let mut params = vec![param(&[hex])?];
        if let Some(rate) = max_fee_rate {
            params.push(fee_rate_param(rate)?);
        }
        let mut results: Vec<MempoolAcceptResult> =
            self.typed("testmempoolaccept", &params).await?;
        if results.len() != 1 {
            return Err(RpcError::InvalidResponse {
                method: "testmempoolaccept".into(),
                http_status: Some(200),
                detail: format!("expected one result, got {}", results.len()),
            });
        }
        Ok(results.remove(0))
    }

    /// `sendrawtransaction <hex> [maxfeerate]` with the hex as given. `max_fee_rate: None`
    /// leaves the node's default (0.1 MONA/kvB). Prefer [`NodeClient::broadcast`], which
    /// classifies the outcome.
    pub async fn send_raw_transaction_hex(
        &self,
        hex: &str,
        max_fee_rate: Option<FeeRate>,
    ) -> Result<Txid, RpcError> {
        let mut params = vec![param(hex)?];
        if let Some(rate) = max_fee_rate {
            params.push(fee_rate_param(rate)?);
        }
        self.typed("sendrawtransaction", &params).await
    }

    /// `sendrawtransaction` of a transaction.
    pub async fn send_raw_transaction(
        &self,
        tx: &Transaction,
        max_fee_rate: Option<FeeRate>,
    ) -> Result<Txid, RpcError> {
        self.send_raw_transaction_hex(&encode::serialize_hex(tx), max_fee_rate)
            .await
    }

    /// Broadcasts `tx` and classifies the answer (see [`BroadcastOutcome`]). A timeout or a
    /// dropped answer is `Transient` with `Delivery::Unknown`: the node MAY have accepted the
    /// transaction; retry these same bytes, never build a different payment.
    pub async fn broadcast(
        &self,
        tx: &Transaction,
        max_fee_rate: Option<FeeRate>,
    ) -> BroadcastOutcome {
        let result = self.send_raw_transaction(tx, max_fee_rate).await;
        BroadcastOutcome::classify(result, Some(tx.compute_txid()))
    }

    /// Broadcasts raw transaction bytes (as committed to a ledger) and classifies the answer.
    /// The bytes are sent even if they do not decode locally (the node then answers -22).
    pub async fn broadcast_raw(
        &self,
        raw_tx: &[u8],
        max_fee_rate: Option<FeeRate>,
    ) -> BroadcastOutcome {
        let expected = encode::deserialize::<Transaction>(raw_tx)
            .ok()
            .map(|t| t.compute_txid());
        let result = self
            .send_raw_transaction_hex(&raw_tx.to_lower_hex_string(), max_fee_rate)
            .await;
        BroadcastOutcome::classify(result, expected)
    }

    /// `estimatesmartfee <conf_target> [mode]`; `fee_rate` is `None` when the node has no
    /// estimate (always the case on a young chain): use a fallback fee rate.
    pub async fn estimate_smart_fee(
        &self,
        conf_target: u16,
        mode: Option<EstimateMode>,
    ) -> Result<FeeEstimate, RpcError> {
        let mut params = vec![param(&conf_target)?];
        if let Some(m) = mode {
            params.push(param(m.as_str())?);
        }
        self.typed("estimatesmartfee", &params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use proptest::prelude::*;

    fn interp(status: u16, body: &str) -> Result<Box<RawValue>, RpcError> {
        interpret("getblockcount", "/", 1, status, body.as_bytes(), "monarpc")
    }

    #[test]
    fn url_parsing() {
        let ok: &[(&str, (&str, &str))] = &[
            ("http://127.0.0.1:19443/", ("127.0.0.1:19443", "/")),
            ("127.0.0.1:19443", ("127.0.0.1:19443", "/")),
            (
                "http://localhost:9402/wallet/watch",
                ("localhost:9402", "/wallet/watch"),
            ),
            ("http://[::1]:19443", ("[::1]:19443", "/")),
        ];
        for (url, (host, path)) in ok {
            assert_eq!(
                parse_url(url).unwrap(),
                (host.to_string(), path.to_string()),
                "{url}"
            );
        }
        for bad in [
            "https://127.0.0.1:19443",
            "127.0.0.1",
            "http://u:p@127.0.0.1:1/",
            ":19443",
            "host:notaport",
        ] {
            assert!(matches!(parse_url(bad), Err(RpcError::Config(_))), "{bad}");
        }
    }

    #[test]
    fn fee_rate_params_are_exact() {
        let cases = [
            (0u64, "0"),
            (10_000_000, "0.1"),
            (1_000, "0.00001"),
            (123_456_789, "1.23456789"),
            (100_000_000, "1"),
        ];
        for (wat, text) in cases {
            assert_eq!(
                fee_rate_param(FeeRate::from_wat_per_kvb(wat))
                    .unwrap()
                    .get(),
                text
            );
        }
    }

    #[test]
    fn interpret_table() {
        type Check = fn(&Result<Box<RawValue>, RpcError>) -> bool;
        let cases: &[(&str, u16, &str, Check)] = &[
            ("ok", 200, "{\"result\":111,\"error\":null,\"id\":1}\n", |r| {
                r.as_ref().map(|v| v.get() == "111").unwrap_or(false)
            }),
            ("null result", 200, "{\"result\":null,\"error\":null,\"id\":1}", |r| {
                r.as_ref().map(|v| v.get() == "null").unwrap_or(false)
            }),
            ("wrong id", 200, "{\"result\":1,\"error\":null,\"id\":2}", |r| {
                matches!(r, Err(RpcError::InvalidResponse { .. }))
            }),
            ("401", 401, "", |r| matches!(r, Err(RpcError::Unauthorized { .. }))),
            ("404 empty", 404, "", |r| matches!(r, Err(RpcError::UnknownPath { .. }))),
            (
                "404 method",
                404,
                "{\"result\":null,\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":1}",
                |r| matches!(r, Err(RpcError::MethodNotFound { .. })),
            ),
            ("503", 503, "Work queue depth exceeded", |r| {
                matches!(r, Err(RpcError::WorkQueueFull { .. }))
            }),
            (
                "-26",
                500,
                "{\"result\":null,\"error\":{\"code\":-26,\"message\":\"dust\"},\"id\":1}",
                |r| matches!(r, Err(RpcError::Node { code: -26, .. })),
            ),
            ("405 text", 405, "JSONRPC server handles only POST requests", |r| {
                matches!(r, Err(RpcError::InvalidResponse { .. }))
            }),
            ("500 garbage", 500, "<html>", |r| {
                matches!(r, Err(RpcError::InvalidResponse { .. }))
            }),
        ];
        for (name, status, body, check) in cases {
            let r = interp(*status, body);
            assert!(check(&r), "{name}: {r:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary status codes and bodies never panic and always classify.
        #[test]
        fn interpret_is_total(status in 100u16..1000, body in proptest::collection::vec(any::<u8>(), 0..300)) {
            match interpret("sendrawtransaction", "/", 1, status, &body, "u") {
                Ok(_) => prop_assert_eq!(status, 200u16),
                Err(e) => {
                    let class = e.class();
                    let outcome = BroadcastOutcome::from_error(e);
                    // A 2xx/5xx answer we cannot read is never a verdict of failure.
                    if matches!(class, ErrorClass::Transient { .. }) {
                        prop_assert!(outcome.should_retry_same_bytes());
                    }
                }
            }
        }

        /// JSON-shaped bodies with arbitrary codes and messages always classify.
        #[test]
        fn interpret_json_errors(status in prop::sample::select(vec![200u16, 400, 404, 500, 503]),
                                 code in any::<i64>(), message in ".{0,40}", id in 0u64..3) {
            let body = serde_json::json!({"result": null, "error": {"code": code, "message": message}, "id": id}).to_string();
            let r = interpret("sendrawtransaction", "/", 1, status, body.as_bytes(), "u");
            prop_assert!(r.is_err());
            let outcome = BroadcastOutcome::from_error(r.unwrap_err());
            prop_assert!(!outcome.is_success() || code == -27 || message.starts_with("txn-already"));
        }

        /// Arbitrary bytes from the socket never panic the HTTP parser.
        #[test]
        fn http_parser_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..400), eof in any::<bool>()) {
            let _ = crate::http::try_complete(&bytes, 1000, eof);
            let mut with_head = b"HTTP/1.1 200 OK\r\n".to_vec();
            with_head.extend_from_slice(&bytes);
            let _ = crate::http::try_complete(&with_head, 1000, eof);
        }
    }
}
