//! The operator CLI's HTTP client for the API (hyper 1 + hyper-util, HTTP/1.1, plain TCP to
//! the configured listen address).
//!
//! Invariant: the token only ever goes into the `Authorization` header; it is never printed,
//! logged or put in an error message.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::Config;
use crate::datadir::DataDir;
use crate::exit::{CliError, Exit};
use crate::secret::ApiToken;

/// Default time allowed for one API call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// An API answer.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Bytes,
    /// `Retry-After` seconds, if sent.
    pub retry_after: Option<u64>,
}

impl ApiResponse {
    /// The body as JSON (`null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// `Ok(self)` for a 2xx answer, else the API error as a [`CliError`].
    pub fn ok(self) -> Result<ApiResponse, CliError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let v = self.json();
        let code = v["code"].as_str().map(str::to_owned);
        let mut message = v["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the API answered HTTP {}", self.status));
        if let Some(secs) = self.retry_after {
            message.push_str(&format!(" (retry after {secs} s)"));
        }
        let mut e = CliError::new(Exit::for_status(self.status), message);
        e.api_code = code;
        e.http_status = Some(self.status);
        Err(e)
    }
}

/// A client for one hot-node API.
#[derive(Clone)]
pub struct ApiClient {
    addr: SocketAddr,
    token: Option<ApiToken>,
    timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ApiClient {
    /// A client for the API at `addr` (an unspecified listen address means loopback).
    pub fn new(addr: SocketAddr, token: Option<ApiToken>) -> ApiClient {
        let ip = match addr.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other => other,
        };
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        ApiClient {
            addr: SocketAddr::new(ip, addr.port()),
            token,
            timeout: DEFAULT_TIMEOUT,
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// The client of the API described by data directory `dir` (its config and token).
    pub fn from_datadir(dir: &Path) -> Result<ApiClient, CliError> {
        let dd = DataDir::new(dir);
        let config = Config::load(&dd.config()).map_err(|e| CliError::new(Exit::BadInput, e))?;
        let token =
            ApiToken::load(&dd.token()).map_err(|e| CliError::new(Exit::Unauthorized, e))?;
        Ok(ApiClient::new(config.listen_addr(), Some(token)))
    }

    /// The same client with another per-call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> ApiClient {
        self.timeout = timeout;
        self
    }

    /// The same client without a token (public routes).
    pub fn without_token(mut self) -> ApiClient {
        self.token = None;
        self
    }

    /// The API address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends `method path` with an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<ApiResponse, CliError> {
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        self.call_raw(method, path, bytes, body.is_some()).await
    }

    /// Sends raw body bytes (tests use it for malformed bodies).
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        json: bool,
    ) -> Result<ApiResponse, CliError> {
        let uri = format!("http://{}{}", self.addr, path);
        let mut req = Request::builder().method(method).uri(&uri);
        if json {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        if let Some(t) = &self.token {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", t.to_hex().as_str())).map_err(
                |_| CliError::new(Exit::Failure, "cannot build the Authorization header"),
            )?;
            v.set_sensitive(true);
            req = req.header(AUTHORIZATION, v);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| CliError::new(Exit::Failure, format!("cannot build the request: {e}")))?;
        let unreachable = |what: String| {
            CliError::new(
                Exit::Unreachable,
                format!("cannot reach the hot-node API at {}: {what}", self.addr),
            )
        };
        let resp = tokio::time::timeout(self.timeout, self.client.request(req))
            .await
            .map_err(|_| unreachable(format!("no answer within {} s", self.timeout.as_secs())))?
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse().ok());
        let body = tokio::time::timeout(
            self.timeout,
            http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE_BYTES).collect(),
        )
        .await
        .map_err(|_| unreachable("the answer did not arrive in time".into()))?
        .map_err(|e| unreachable(format!("cannot read the answer: {e}")))?
        .to_bytes();
        Ok(ApiResponse {
            status,
            body,
            retry_after,
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
