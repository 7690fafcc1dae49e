//! The `POST /control` endpoint: test controls over HTTP (same Basic auth as RPC).
//!
//! Invariant: control commands never go through fault injection or the work queue, so a test
//! can always switch faults off again.
//!
//! Commands (JSON body, `command` member):
//! - `{"command":"add_fault","rule":{"method":"sendrawtransaction","rate":1.0,"times":1,"action":{"kind":"drop_response"}}}`
//!   (kinds: `delay` {ms}, `drop_response`, `delay_response` {ms}, `reset`, `error` {code, message}, `http` {status, body})
//! - `{"command":"clear_faults"}`
//! - `{"command":"reseed","seed":42}`
//! - `{"command":"set_work_queue","limit":2}` (`null` = unlimited)
//! - `{"command":"set_fee_estimate","feerate":"0.00020000"}` (MONA/kvB; `null` = no estimate)
//! - `{"command":"set_mock_time","time":1795637168}` (`null` = system clock)
//! - `{"command":"set_txindex","enabled":true}`
//! - `{"command":"mine","blocks":1,"address":"rmona1..."}` (address optional: the faucet)
//! - `{"command":"fund","address":"rmona1...","amount":"1.5"}` -> `{"txid":..,"vout":0}` (unconfirmed)
//! - `{"command":"set_readd_disconnected","enabled":false}`: on a reorg, drop the transactions
//!   of disconnected blocks instead of putting them back in the mempool (default `true`, as Core)
//! - `{"command":"sendrawtransaction_calls","txid":"..."}` -> `{"calls":2}`: how many times
//!   `sendrawtransaction` was executed for that txid (faults that answer without executing the
//!   call are not counted)

use serde_json::Value;

use crate::faults::FaultRule;
use crate::json::Json;
use crate::{params, rpc, Shared};

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name)
        .ok_or_else(|| format!("missing member {name:?}"))
}

/// Runs one control command.
pub fn run(shared: &Shared, body: &[u8]) -> Result<Json, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid json: {e}"))?;
    let cmd = field(&v, "command")?
        .as_str()
        .ok_or("command must be a string")?;
    let mut st = shared
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match cmd {
        "add_fault" => {
            let rule: FaultRule = serde_json::from_value(field(&v, "rule")?.clone())
                .map_err(|e| format!("invalid rule: {e}"))?;
            shared.faults.add(rule);
            Ok(Json::Obj(vec![]))
        }
        "clear_faults" => {
            shared.faults.clear();
            Ok(Json::Obj(vec![]))
        }
        "reseed" => {
            let seed = field(&v, "seed")?
                .as_u64()
                .ok_or("seed must be an integer")?;
            shared.faults.reseed(seed);
            Ok(Json::Obj(vec![]))
        }
        "set_work_queue" => {
            let limit = match v.get("limit") {
                None | Some(Value::Null) => None,
                Some(l) => Some(l.as_u64().ok_or("limit must be an integer or null")? as usize),
            };
            shared.faults.set_work_queue_limit(limit);
            Ok(Json::Obj(vec![]))
        }
        "set_fee_estimate" => {
            st.fee_estimate = match v.get("feerate") {
                None | Some(Value::Null) => None,
                Some(f) => Some(rpc::amount_from_value(f).map_err(|e| e.message)?),
            };
            Ok(Json::Obj(vec![]))
        }
        "set_mock_time" => {
            st.mock_time = match v.get("time") {
                None | Some(Value::Null) => None,
                Some(t) => Some(t.as_u64().ok_or("time must be an integer or null")?),
            };
            Ok(Json::Obj(vec![]))
        }
        "set_txindex" => {
            st.txindex = field(&v, "enabled")?
                .as_bool()
                .ok_or("enabled must be a boolean")?;
            Ok(Json::Obj(vec![]))
        }
        "mine" => {
            let n = field(&v, "blocks")?
                .as_u64()
                .ok_or("blocks must be an integer")?;
            let script = match v.get("address").and_then(Value::as_str) {
                Some(a) => params::address_to_script(a).map_err(|e| e.to_string())?,
                None => st.faucet_script().clone(),
            };
            let hashes = st.mine(u32::try_from(n).map_err(|_| "too many blocks")?, &script);
            Ok(Json::obj([(
                "blocks",
                Json::Arr(hashes.iter().map(|h| Json::str(h.to_string())).collect()),
            )]))
        }
        "fund" => {
            let addr = field(&v, "address")?
                .as_str()
                .ok_or("address must be a string")?;
            let script = params::address_to_script(addr).map_err(|e| e.to_string())?;
            let amount = rpc::amount_from_value(field(&v, "amount")?).map_err(|e| e.message)?;
            let op = st.fund(&script, amount).map_err(|e| e.to_string())?;
            Ok(Json::obj([
                ("txid", Json::str(op.txid.to_string())),
                ("vout", Json::uint(u64::from(op.vout))),
            ]))
        }
        "set_readd_disconnected" => {
            st.readd_disconnected = field(&v, "enabled")?
                .as_bool()
                .ok_or("enabled must be a boolean")?;
            Ok(Json::Obj(vec![]))
        }
        "sendrawtransaction_calls" => {
            let txid: bitcoin::Txid = field(&v, "txid")?
                .as_str()
                .ok_or("txid must be a string")?
                .parse()
                .map_err(|e| format!("invalid txid: {e}"))?;
            let calls = st.sendraw_calls.get(&txid).copied().unwrap_or(0);
            Ok(Json::obj([("calls", Json::uint(u64::from(calls)))]))
        }
        other => Err(format!("unknown command {other:?}")),
    }
}
