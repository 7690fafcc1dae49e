//! Test support: the recorded real-node fixtures and a replay server that answers with them byte
//! for byte and records what the client sent.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The recorded real-node fixtures, in the repo's `fixtures/` folder.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/monacoind-0.20.3-regtest")
}

#[derive(Deserialize)]
pub struct RecordedRequest {
    pub http_method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: Option<Box<RawValue>>,
    #[serde(default)]
    pub body_raw: Option<String>,
}

#[derive(Deserialize)]
pub struct RecordedResponse {
    pub http_version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Box<RawValue>,
    #[serde(default)]
    pub body_raw: Option<String>,
}

#[derive(Deserialize)]
pub struct Fixture {
    pub description: String,
    pub request: RecordedRequest,
    pub response: RecordedResponse,
}

impl Fixture {
    /// Loads `<dir>/<name>` (e.g. `broadcast/a5-sendrawtransaction-valid.json`).
    pub fn load(name: &str) -> Fixture {
        let path = fixture_dir().join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad fixture {name}: {e}"))
    }

    /// Every `*.json` in a fixture subfolder, sorted.
    pub fn names_in(folder: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(fixture_dir().join(folder))
            .unwrap_or_else(|e| panic!("no fixture folder {folder}: {e}"))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .map(|n| format!("{folder}/{n}"))
            .collect();
        names.sort();
        names
    }

    /// The exact body bytes the node sent: `body_raw`, or the compact form of `body` + `\n`.
    pub fn response_body_bytes(&self) -> Vec<u8> {
        match &self.response.body_raw {
            Some(raw) => raw.as_bytes().to_vec(),
            None => {
                let mut b = compact(self.response.body.get()).into_bytes();
                b.push(b'\n');
                b
            }
        }
    }

    /// The exact response bytes: status line, recorded headers in order, body.
    pub fn response_bytes(&self) -> Vec<u8> {
        let r = &self.response;
        let mut out = format!("{} {} {}\r\n", r.http_version, r.status, r.reason).into_bytes();
        for (n, v) in &r.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.response_body_bytes());
        out
    }

    /// The recorded `Content-Length` of the response.
    pub fn response_content_length(&self) -> Option<usize> {
        header(&self.response.headers, "content-length").and_then(|v| v.parse().ok())
    }

    /// The method of the recorded request, if it is a single call object with a string method.
    pub fn method(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(self.request.body.as_ref()?.get()).ok()?;
        v.get("method")?.as_str().map(str::to_string)
    }

    /// The recorded params as raw JSON texts (compact, number text preserved).
    pub fn params_raw(&self) -> Option<Vec<Box<RawValue>>> {
        #[derive(Deserialize)]
        struct Call {
            params: Vec<Box<RawValue>>,
        }
        let call: Call = serde_json::from_str(self.request.body.as_ref()?.get()).ok()?;
        Some(
            call.params
                .into_iter()
                .map(|p| RawValue::from_string(compact(p.get())).unwrap())
                .collect(),
        )
    }

    /// The exact request body bytes the recorder sent.
    pub fn request_body_bytes(&self) -> Vec<u8> {
        match &self.request.body_raw {
            Some(raw) => raw.as_bytes().to_vec(),
            None => self
                .request
                .body
                .as_ref()
                .map(|b| compact(b.get()).into_bytes())
                .unwrap_or_default(),
        }
    }
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Removes the whitespace outside strings of a JSON text (the node writes compact JSON).
pub fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// A request as the replay server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn path(&self) -> &str {
        self.request_line.split(' ').nth(1).unwrap_or_default()
    }
    pub fn http_method(&self) -> &str {
        self.request_line.split(' ').next().unwrap_or_default()
    }
}

/// A loopback server that answers each connection with the next queued response (the last
/// one is repeated when the queue runs out) and closes it.
pub struct ReplayServer {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl ReplayServer {
    /// Answers with exactly the given bytes.
    pub async fn start(responses: Vec<Vec<u8>>) -> ReplayServer {
        Self::start_with(responses, false).await
    }

    /// With `echo_id`, the recorded `"id":1` at the end of a JSON body is replaced by the
    /// request's id (and Content-Length fixed): for tests making several calls on one client.
    pub async fn start_with(responses: Vec<Vec<u8>>, echo_id: bool) -> ReplayServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        tokio::spawn(async move {
            let mut index = 0usize;
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let Some(req) = read_request(&mut sock).await else {
                    continue;
                };
                rec.lock().unwrap().push(req);
                let mut resp = responses[index.min(responses.len() - 1)].clone();
                index += 1;
                if echo_id {
                    resp = with_id(&resp, &rec.lock().unwrap().last().unwrap().body);
                }
                let _ = sock.write_all(&resp).await;
                let _ = sock.shutdown().await;
            }
        });
        ReplayServer {
            url: format!("http://{addr}/"),
            received,
        }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn with_id(resp: &[u8], request_body: &[u8]) -> Vec<u8> {
    let id = serde_json::from_slice::<serde_json::Value>(request_body)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .unwrap_or_default();
    let Some(end) = resp.windows(4).position(|w| w == b"\r\n\r\n") else {
        return resp.to_vec();
    };
    let body = String::from_utf8_lossy(&resp[end + 4..]).into_owned();
    let Some(stripped) = body.strip_suffix("\"id\":1}\n") else {
        return resp.to_vec();
    };
    let body = format!("{stripped}\"id\":{id}}}\n");
    let head = String::from_utf8_lossy(&resp[..end]);
    let head: Vec<String> = head
        .split("\r\n")
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                l.to_string()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).ok()?;
            let mut lines = head.split("\r\n");
            let request_line = lines.next()?.to_string();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .collect();
            let len: usize = header(&headers, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(Received {
                request_line,
                headers,
                body: buf[end + 4..end + 4 + len].to_vec(),
            });
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
