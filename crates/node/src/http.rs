//! A minimal HTTP/1.1 client exchange on a fresh TCP connection, exactly as monacoind expects it.
//!
//! Invariant: one request per connection (TCP_NODELAY, request written with one `write_all`), and
//! the exchange always reports how far it got ([`Phase`]), so a caller can tell "the node never
//! received the whole request" from "the node may have executed it". Response parsing never
//! panics on any input and never buffers more than the configured limit.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound on the size of the status line plus headers.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How far an exchange got; read after a failure or a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Resolving or connecting: nothing was sent.
    Connecting,
    /// Writing the request: the node cannot have the whole request yet.
    Sending,
    /// The whole request was handed to the kernel; no byte of the answer arrived yet.
    AwaitingResponse,
    /// Part of the answer arrived.
    ReadingResponse,
}

impl Phase {
    /// Whether the node may have received (and so executed) the whole request.
    pub(crate) fn request_delivered(self) -> bool {
        matches!(self, Phase::AwaitingResponse | Phase::ReadingResponse)
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpResponse {
    /// Status code.
    pub(crate) status: u16,
    /// Header names and values, in the order received.
    pub(crate) headers: Vec<(String, String)>,
    /// The body (chunked transfer coding already removed).
    pub(crate) body: Vec<u8>,
}

/// Why an exchange failed below the JSON-RPC layer.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// An I/O error (refused, reset, broken pipe, ...), in the given phase.
    Io(Phase, io::Error),
    /// The connection closed before a complete response arrived.
    Closed(Phase),
    /// The bytes received are not an HTTP/1.x response.
    Malformed(String),
    /// The response is larger than the limit.
    TooLarge(usize),
}

/// Builds the request bytes: the four headers the node's recordings show, in that order.
pub(crate) fn build_request(
    host: &str,
    path: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 256);
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(auth) = authorization {
        out.extend_from_slice(b"Authorization: ");
        out.extend_from_slice(auth.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

/// Connects to `addr`, writes `request`, reads one response. `phase` tracks progress so that a
/// caller who drops this future on timeout still knows how far it got.
pub(crate) async fn exchange(
    addr: &str,
    request: &[u8],
    max_response_bytes: usize,
    phase: &mut Phase,
) -> Result<HttpResponse, ExchangeError> {
    *phase = Phase::Connecting;
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| ExchangeError::Io(Phase::Connecting, e))?;
    // Best effort: a failure to set the option only costs latency.
    let _ = stream.set_nodelay(true);
    *phase = Phase::Sending;
    stream
        .write_all(request)
        .await
        .map_err(|e| ExchangeError::Io(Phase::Sending, e))?;
    *phase = Phase::AwaitingResponse;

    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    // Once the head announced a Content-Length, the total size is known: skip re-parsing until
    // it has arrived (keeps a multi-megabyte getblock linear).
    let mut known_total: Option<usize> = None;
    loop {
        if known_total.is_none_or(|total| buf.len() >= total) {
            if let Some(done) = try_complete(&buf, max_response_bytes, false)? {
                return Ok(done);
            }
            if known_total.is_none() {
                known_total = announced_total(&buf);
            }
        }
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => return Err(ExchangeError::Io(*phase, e)),
        };
        if n == 0 {
            // EOF: a response without Content-Length ends here; anything else is truncated.
            return match try_complete(&buf, max_response_bytes, true)? {
                Some(done) => Ok(done),
                None => Err(ExchangeError::Closed(*phase)),
            };
        }
        *phase = Phase::ReadingResponse;
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > max_response_bytes.saturating_add(MAX_HEAD_BYTES) {
            return Err(ExchangeError::TooLarge(buf.len()));
        }
    }
}

/// Parses a complete response from `buf`, or `Ok(None)` if more bytes are needed. With `eof`, a
/// response with neither Content-Length nor chunked coding ends at the end of `buf`.
pub(crate) fn try_complete(
    buf: &[u8],
    max_body: usize,
    eof: bool,
) -> Result<Option<HttpResponse>, ExchangeError> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD_BYTES {
            return Err(ExchangeError::Malformed("response head too long".into()));
        }
        return Ok(None);
    };
    let (status, headers) = parse_head(&buf[..head_end])?;
    let rest = &buf[head_end + 4..];
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let chunked = header("transfer-encoding")
        .map(|v| v.to_ascii_lowercase().contains("chunked"))
        .unwrap_or(false);
    if chunked {
        return match decode_chunked(rest, max_body)? {
            Some(body) => Ok(Some(HttpResponse {
                status,
                headers,
                body,
            })),
            None if eof => Err(ExchangeError::Malformed(
                "connection closed inside a chunked body".into(),
            )),
            None => Ok(None),
        };
    }
    if let Some(len) = header("content-length") {
        let len: usize = len
            .trim()
            .parse()
            .map_err(|_| ExchangeError::Malformed(format!("bad Content-Length '{len}'")))?;
        if len > max_body {
            return Err(ExchangeError::TooLarge(len));
        }
        if rest.len() >= len {
            return Ok(Some(HttpResponse {
                status,
                headers,
                body: rest[..len].to_vec(),
            }));
        }
        return Ok(None);
    }
    // 1xx, 204 and 304 have no body; otherwise the body runs to EOF.
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Some(HttpResponse {
            status,
            headers,
            body: Vec::new(),
        }));
    }
    if eof {
        if rest.len() > max_body {
            return Err(ExchangeError::TooLarge(rest.len()));
        }
        return Ok(Some(HttpResponse {
            status,
            headers,
            body: rest.to_vec(),
        }));
    }
    Ok(None)
}

/// The total response size (head + body) if the head is complete and has a Content-Length.
fn announced_total(buf: &[u8]) -> Option<usize> {
    let head_end = find(buf, b"\r\n\r\n")?;
    let (_, headers) = parse_head(&buf[..head_end]).ok()?;
    if headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
    {
        return None;
    }
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))?
        .1
        .trim()
        .parse::<usize>()
        .ok()?;
    (head_end + 4).checked_add(len)
}

type Head = (u16, Vec<(String, String)>);

fn parse_head(head: &[u8]) -> Result<Head, ExchangeError> {
    let text = std::str::from_utf8(head)
        .map_err(|_| ExchangeError::Malformed("response head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(ExchangeError::Malformed(format!(
            "not an HTTP/1.x status line: '{}'",
            truncate(status_line)
        )));
    }
    let code = parts.next().unwrap_or_default();
    let status: u16 = match code.parse() {
        Ok(s) if (100..1000).contains(&s) && code.len() == 3 => s,
        _ => {
            return Err(ExchangeError::Malformed(format!(
                "bad status code in '{}'",
                truncate(status_line)
            )))
        }
    };
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ExchangeError::Malformed(format!(
                "bad header line '{}'",
                truncate(line)
            )));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok((status, headers))
}

/// Decodes a chunked body; `Ok(None)` if incomplete.
fn decode_chunked(mut rest: &[u8], max_body: usize) -> Result<Option<Vec<u8>>, ExchangeError> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(rest, b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&rest[..line_end])
            .map_err(|_| ExchangeError::Malformed("bad chunk size line".into()))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| {
            ExchangeError::Malformed(format!("bad chunk size '{}'", truncate(size_text)))
        })?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // Trailers (if any) end with an empty line; we only need the body.
            return Ok(find(rest, b"\r\n").map(|_| body));
        }
        if body.len().saturating_add(size) > max_body {
            return Err(ExchangeError::TooLarge(body.len().saturating_add(size)));
        }
        if rest.len() < size.saturating_add(2) {
            return Ok(None);
        }
        body.extend_from_slice(&rest[..size]);
        if &rest[size..size + 2] != b"\r\n" {
            return Err(ExchangeError::Malformed(
                "chunk not followed by CRLF".into(),
            ));
        }
        rest = &rest[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_has_the_recorded_shape() {
        let body = br#"{"jsonrpc":"1.0","id":1,"method":"getblockcount","params":[]}"#;
        let req = build_request("127.0.0.1:19443", "/", Some("Basic abc"), body);
        let expected = "POST / HTTP/1.1\r\nHost: 127.0.0.1:19443\r\nAuthorization: Basic abc\r\n\
            Content-Type: application/json\r\nContent-Length: 61\r\n\r\n\
            {\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"getblockcount\",\"params\":[]}";
        assert_eq!(String::from_utf8(req).unwrap(), expected);
    }

    #[test]
    fn parses_content_length_response() {
        let raw =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello";
        let r = try_complete(raw, 100, false).unwrap().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello");
        assert!(try_complete(&raw[..raw.len() - 1], 100, false)
            .unwrap()
            .is_none());
    }

    #[test]
    fn parses_chunked_response() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = try_complete(raw, 100, false).unwrap().unwrap();
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn body_to_eof_without_length() {
        let raw = b"HTTP/1.0 405 Method Not Allowed\r\n\r\nonly POST";
        assert!(try_complete(raw, 100, false).unwrap().is_none());
        let r = try_complete(raw, 100, true).unwrap().unwrap();
        assert_eq!(r.status, 405);
        assert_eq!(r.body, b"only POST");
    }

    #[test]
    fn refuses_oversized_and_malformed() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
        assert!(matches!(
            try_complete(raw, 10, false),
            Err(ExchangeError::TooLarge(1000))
        ));
        let raw = b"SSH-2.0-OpenSSH\r\n\r\n";
        assert!(matches!(
            try_complete(raw, 10, false),
            Err(ExchangeError::Malformed(_))
        ));
        let raw = b"HTTP/1.1 2000 OK\r\n\r\n";
        assert!(matches!(
            try_complete(raw, 10, false),
            Err(ExchangeError::Malformed(_))
        ));
    }
}
