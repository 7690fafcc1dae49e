//! The HTTP/1.1 JSON-RPC server, byte-compatible with monacoind's libevent server.
//!
//! Invariant: statuses, header sets (and their order) and bodies follow the recorded
//! v0.20.3 exchanges: JSON replies carry exactly `Content-Type`, `Date`, `Content-Length`;
//! non-JSON replies (401, 404, 405, 503) are `text/html; charset=ISO-8859-1`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::faults::FaultAction;
use crate::json::Json;
use crate::rpc::{self, code, Endpoint, RpcError};
use crate::Shared;

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A finished HTTP response.
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Request Entity Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// RFC 7231 date, e.g. `Wed, 25 Nov 2026 20:05:48 GMT`.
pub fn http_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days.rem_euclid(7)) as usize];
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn date_now() -> String {
    http_date(crate::state::unix_now())
}

fn text_response(status: u16, body: &str, www_auth: bool) -> Response {
    let mut headers = Vec::new();
    if www_auth {
        headers.push(("WWW-Authenticate", "Basic realm=\"jsonrpc\"".to_string()));
    }
    headers.push(("Date", date_now()));
    headers.push(("Content-Length", body.len().to_string()));
    headers.push(("Content-Type", "text/html; charset=ISO-8859-1".to_string()));
    Response {
        status,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn json_response(status: u16, body: &Json) -> Response {
    let mut text = body.to_compact();
    text.push('\n');
    Response {
        status,
        headers: vec![
            ("Content-Type", "application/json".to_string()),
            ("Date", date_now()),
            ("Content-Length", text.len().to_string()),
        ],
        body: text.into_bytes(),
    }
}

fn reply(result: Json, error: Option<&RpcError>, id: Json) -> Json {
    Json::Obj(vec![
        ("result".into(), result),
        ("error".into(), error.map_or(Json::Null, RpcError::to_json)),
        ("id".into(), id),
    ])
}

fn status_for(err: &RpcError) -> u16 {
    match err.code {
        code::INVALID_REQUEST => 400,
        code::METHOD_NOT_FOUND => 404,
        _ => 500,
    }
}

/// Executes one request object; returns the reply and whether it failed (with its error).
fn exec_one(shared: &Shared, endpoint: &Endpoint, req: &Value) -> (Json, Option<RpcError>) {
    let Value::Object(obj) = req else {
        let e = RpcError::new(code::INVALID_REQUEST, "Invalid Request object");
        return (reply(Json::Null, Some(&e), Json::Null), Some(e));
    };
    let id = obj.get("id").map_or(Json::Null, Json::from_value);
    let fail = |e: RpcError, id: Json| (reply(Json::Null, Some(&e), id), Some(e));
    let method = match obj.get("method") {
        None => return fail(RpcError::new(code::INVALID_REQUEST, "Missing method"), id),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return fail(
                RpcError::new(code::INVALID_REQUEST, "Method must be a string"),
                id,
            )
        }
    };
    let params = match obj.get("params") {
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(p @ (Value::Array(_) | Value::Object(_))) => p.clone(),
        Some(_) => {
            return fail(
                RpcError::new(code::INVALID_REQUEST, "Params must be an array or object"),
                id,
            )
        }
    };
    match rpc::execute(&shared.state, endpoint, method, &params) {
        Ok(result) => (reply(result, None, id), None),
        Err(e) => fail(e, id),
    }
}

fn methods_of(body: &Value) -> Vec<String> {
    let one = |v: &Value| v.get("method").and_then(Value::as_str).map(str::to_string);
    match body {
        Value::Array(a) => a.iter().filter_map(one).collect(),
        v => one(v).into_iter().collect(),
    }
}

/// Processes a JSON-RPC body (no faults): status + reply.
fn process_body(shared: &Shared, endpoint: &Endpoint, parsed: Result<Value, ()>) -> Response {
    let v = match parsed {
        Ok(v) => v,
        Err(()) => {
            let e = RpcError::new(code::PARSE_ERROR, "Parse error");
            return json_response(500, &reply(Json::Null, Some(&e), Json::Null));
        }
    };
    match &v {
        Value::Object(_) => {
            let (r, err) = exec_one(shared, endpoint, &v);
            json_response(err.as_ref().map_or(200, status_for), &r)
        }
        Value::Array(items) => {
            let replies = items
                .iter()
                .map(|it| exec_one(shared, endpoint, it).0)
                .collect();
            json_response(200, &Json::Arr(replies))
        }
        _ => {
            let e = RpcError::new(code::PARSE_ERROR, "Top-level object parse error");
            json_response(500, &reply(Json::Null, Some(&e), Json::Null))
        }
    }
}

enum Outcome {
    Respond(Response),
    Drop,
    Reset,
}

fn authorized(shared: &Shared, req: &Request) -> Option<bool> {
    use base64::Engine as _;
    let h = req.header("authorization")?;
    let Some(b64) = h.strip_prefix("Basic ") else {
        return Some(false);
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return Some(false);
    };
    let expected = format!("{}:{}", shared.user, shared.password);
    Some(constant_time_eq(&decoded, expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn handle(shared: &Arc<Shared>, req: Request) -> Outcome {
    let endpoint = if req.path == "/" {
        Endpoint::Root
    } else if let Some(name) = req.path.strip_prefix("/wallet/") {
        Endpoint::Wallet(percent_decode(name))
    } else if req.path == "/control" {
        return Outcome::Respond(handle_control(shared, req).await);
    } else {
        return Outcome::Respond(text_response(404, "", false));
    };
    let Some(_in_flight) = shared.faults.admit() else {
        return Outcome::Respond(text_response(503, "Work queue depth exceeded", false));
    };
    if req.method != "POST" {
        return Outcome::Respond(text_response(
            405,
            "JSONRPC server handles only POST requests",
            false,
        ));
    }
    match authorized(shared, &req) {
        None => return Outcome::Respond(text_response(401, "", true)),
        Some(false) => {
            tokio::time::sleep(Duration::from_millis(250)).await;
            return Outcome::Respond(text_response(401, "", true));
        }
        Some(true) => {}
    }
    let parsed: Result<Value, ()> = serde_json::from_slice(&req.body).map_err(|_| ());
    let actions = match &parsed {
        Ok(v) => shared.faults.decide(&methods_of(v)),
        Err(()) => Vec::new(),
    };
    let mut drop_after = false;
    let mut delay_after = 0u64;
    for a in &actions {
        match a {
            FaultAction::Delay { ms } => tokio::time::sleep(Duration::from_millis(*ms)).await,
            FaultAction::Reset => return Outcome::Reset,
            FaultAction::Error { code, message } => {
                let id = parsed
                    .as_ref()
                    .ok()
                    .and_then(|v| v.get("id"))
                    .map_or(Json::Null, Json::from_value);
                let e = RpcError::new(*code, message.clone());
                return Outcome::Respond(json_response(
                    status_for(&e),
                    &reply(Json::Null, Some(&e), id),
                ));
            }
            FaultAction::Http { status, body } => {
                return Outcome::Respond(text_response(*status, body, false))
            }
            FaultAction::DropResponse => drop_after = true,
            FaultAction::DelayResponse { ms } => delay_after += ms,
        }
    }
    let shared2 = Arc::clone(shared);
    let resp = tokio::task::spawn_blocking(move || process_body(&shared2, &endpoint, parsed))
        .await
        .unwrap_or_else(|_| text_response(500, "", false));
    if drop_after {
        return Outcome::Drop;
    }
    if delay_after > 0 {
        tokio::time::sleep(Duration::from_millis(delay_after)).await;
    }
    Outcome::Respond(resp)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hexval = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle_control(shared: &Arc<Shared>, req: Request) -> Response {
    if req.method != "POST" {
        return text_response(405, "JSONRPC server handles only POST requests", false);
    }
    match authorized(shared, &req) {
        Some(true) => {}
        _ => return text_response(401, "", true),
    }
    let shared2 = Arc::clone(shared);
    let result = tokio::task::spawn_blocking(move || crate::control::run(&shared2, &req.body))
        .await
        .unwrap_or_else(|_| Err("control command panicked".to_string()));
    match result {
        Ok(j) => {
            let mut m = vec![("ok".to_string(), Json::Bool(true))];
            if let Json::Obj(extra) = j {
                m.extend(extra);
            }
            json_response(200, &Json::Obj(m))
        }
        Err(e) => json_response(
            400,
            &Json::obj([("ok", Json::Bool(false)), ("error", Json::Str(e))]),
        ),
    }
}

async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(p) = find(buf, b"\r\n\r\n") {
            break p;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let version = first.next().unwrap_or("HTTP/1.0").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let len: usize = get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if len > MAX_BODY {
        return None;
    }
    let keep_alive = match get("connection").as_deref() {
        Some("close") => false,
        Some("keep-alive") => true,
        _ => version == "HTTP/1.1",
    };
    let body_start = head_end + 4;
    while buf.len() < body_start + len {
        let mut chunk = vec![0u8; (body_start + len - buf.len()).min(1 << 20)];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[body_start..body_start + len].to_vec();
    buf.drain(..body_start + len);
    Some(Request {
        method,
        path,
        headers,
        body,
        keep_alive,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn serve_connection(shared: Arc<Shared>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let Some(req) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        let keep_alive = req.keep_alive;
        match handle(&shared, req).await {
            Outcome::Respond(mut resp) => {
                if !keep_alive {
                    resp.headers.push(("Connection", "close".to_string()));
                }
                let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
                for (k, v) in &resp.headers {
                    out.push_str(k);
                    out.push_str(": ");
                    out.push_str(v);
                    out.push_str("\r\n");
                }
                out.push_str("\r\n");
                let mut bytes = out.into_bytes();
                bytes.extend_from_slice(&resp.body);
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
                if !keep_alive {
                    let _ = stream.shutdown().await;
                    return;
                }
            }
            Outcome::Drop => return,
            Outcome::Reset => {
                // A zero linger makes close() send RST at once (it never blocks).
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                return;
            }
        }
    }
}

/// Accepts connections until `shutdown` fires.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        // Shutdown first: once it has fired, no further connection is accepted (a stopped node
        // must refuse connections, as a stopped monacoind does).
        tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(serve_connection(Arc::clone(&shared), stream));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_795_637_148), "Wed, 25 Nov 2026 20:05:48 GMT");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("my%20wallet"), "my wallet");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
    }
}
