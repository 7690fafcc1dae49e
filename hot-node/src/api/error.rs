//! JSON error responses: `{"code": "<stable code>", "message": "<one line>"}`.
//!
//! Invariant: `code` values are a fixed vocabulary (the `CODE_*` constants) that clients and the
//! CLI may match on; messages never contain secrets (tokens, voucher codes).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Body is not JSON (400).
pub const CODE_BAD_JSON: &str = "bad_json";
/// Missing/extra field or wrong type (422).
pub const CODE_BAD_REQUEST: &str = "bad_request";
/// An unknown field (422).
pub const CODE_UNKNOWN_FIELD: &str = "unknown_field";
/// A malformed id (422).
pub const CODE_BAD_ID: &str = "bad_id";
/// A malformed address or one of another network (422).
pub const CODE_BAD_ADDRESS: &str = "bad_address";
/// A malformed amount (422).
pub const CODE_BAD_AMOUNT: &str = "bad_amount";
/// An amount the destination cannot receive (below its dust threshold) (422).
pub const CODE_AMOUNT_BELOW_DUST: &str = "amount_below_dust";
/// A malformed voucher code (422).
pub const CODE_BAD_CODE: &str = "bad_code";
/// A missing or malformed reason (422).
pub const CODE_BAD_REASON: &str = "bad_reason";
/// A malformed PSBT (422).
pub const CODE_BAD_PSBT: &str = "bad_psbt";
/// The engine refused the request (422).
pub const CODE_REFUSED: &str = "refused";
/// Missing or wrong bearer token (401).
pub const CODE_UNAUTHORIZED: &str = "unauthorized";
/// No such route (404).
pub const CODE_NOT_FOUND: &str = "not_found";
/// No such withdrawal (404).
pub const CODE_WITHDRAWAL_NOT_FOUND: &str = "withdrawal_not_found";
/// No voucher with this code (404).
pub const CODE_VOUCHER_NOT_FOUND: &str = "voucher_not_found";
/// No such top-up proposal (404).
pub const CODE_TOPUP_NOT_FOUND: &str = "topup_not_found";
/// Wrong HTTP method (405).
pub const CODE_METHOD_NOT_ALLOWED: &str = "method_not_allowed";
/// The body did not arrive in time (408).
pub const CODE_BODY_TIMEOUT: &str = "body_timeout";
/// Same key, different body, or a state conflict (409).
pub const CODE_CONFLICT: &str = "conflict";
/// Body larger than the limit (413).
pub const CODE_BODY_TOO_LARGE: &str = "body_too_large";
/// Rate limit exceeded (429).
pub const CODE_RATE_LIMITED: &str = "rate_limited";
/// Unexpected failure (500).
pub const CODE_INTERNAL: &str = "internal";
/// Not implemented yet (501).
pub const CODE_NOT_IMPLEMENTED: &str = "not_implemented";
/// Payouts are frozen (503).
pub const CODE_FROZEN: &str = "frozen";
/// Too many requests in flight (503).
pub const CODE_OVERLOADED: &str = "overloaded";
/// The ledger store failed; retry is safe (503).
pub const CODE_STORAGE_UNAVAILABLE: &str = "storage_unavailable";
/// The engine is busy or the node unreachable; retry later (503).
pub const CODE_BUSY: &str = "busy";

/// An API error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// One-line message.
    pub message: String,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
    /// Extra JSON (e.g. the existing record of a 409).
    pub existing: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            existing: None,
        }
    }
    /// 422 with `code`.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    /// 503 with `code` and `Retry-After`.
    pub fn unavailable(
        code: &'static str,
        message: impl Into<String>,
        retry_after: u64,
    ) -> ApiError {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        e.retry_after = Some(retry_after);
        e
    }
    /// 500.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, CODE_INTERNAL, message)
    }
    /// 503 for a storage failure (retry is safe: nothing changed).
    pub fn storage(e: impl std::fmt::Display) -> ApiError {
        ApiError::unavailable(CODE_STORAGE_UNAVAILABLE, e.to_string(), 1)
    }
    /// Attaches the existing record.
    pub fn with_existing(mut self, v: serde_json::Value) -> ApiError {
        self.existing = Some(v);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(existing) = self.existing {
            body["existing"] = existing;
        }
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
