//! Route handlers. Each one validates everything first, then makes at most one ledger call that
//! records the request (so a refusal changes nothing), then wakes the engine.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use mona::{Address, Amount};
use mona_ledger::{
    validate_id, validate_reason, Destination, FloatError, Intake, IntakeError, NewVoucher,
    Redemption, WithdrawalRequest, VOUCHER_WITHDRAWAL_PREFIX,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::error::*;
use super::views::{
    AddressView, ProposalSummaryView, TopUpView, VoucherCreatedView, WithdrawalView,
};
use super::{run_blocking, App};
use crate::engine::EngineError;
use crate::voucher::{ParsedCode, VoucherCode};

/// Largest `POST /v1/topups/{id}/signed` body: a base64 PSBT of up to 4 MB.
const MAX_SIGNED_PSBT_BODY: usize = 6 * 1024 * 1024;

/// Reads and parses a JSON body with the configured size and time limits.
async fn read_json<T: DeserializeOwned>(
    app: &App,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            CODE_BODY_TOO_LARGE,
            format!("request body is larger than {limit} bytes"),
        )
    };
    let timeout = Duration::from_millis(app.config().api.body_timeout_ms);
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                CODE_BODY_TIMEOUT,
                "request body did not arrive in time",
            )
        })?;
    let bytes = match collected {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                CODE_BAD_JSON,
                format!("cannot read the request body: {e}"),
            ))
        }
    };
    parse_json(&bytes)
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        let msg = e.to_string();
        match e.classify() {
            Category::Data if msg.starts_with("unknown field") => {
                ApiError::unprocessable(CODE_UNKNOWN_FIELD, msg)
            }
            Category::Data => ApiError::unprocessable(CODE_BAD_REQUEST, msg),
            _ => ApiError::new(
                StatusCode::BAD_REQUEST,
                CODE_BAD_JSON,
                format!("request body is not valid JSON: {msg}"),
            ),
        }
    })
}

/// An amount field: a decimal MONA string, above zero.
fn amount_field(v: &Value, field: &str) -> Result<Amount, ApiError> {
    let Some(s) = v.as_str() else {
        return Err(ApiError::unprocessable(
            CODE_BAD_AMOUNT,
            format!(
                "{field} must be a decimal MONA string such as \"1.5\", not {}",
                json_kind(v)
            ),
        ));
    };
    let a = Amount::from_mona_str(s)
        .map_err(|e| ApiError::unprocessable(CODE_BAD_AMOUNT, e.to_string()))?;
    if a == Amount::ZERO {
        return Err(ApiError::unprocessable(
            CODE_BAD_AMOUNT,
            format!("{field} must be above zero"),
        ));
    }
    Ok(a)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a JSON number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A destination address of the configured network that can receive `amount` (if given).
fn destination(app: &App, address: &str, amount: Option<Amount>) -> Result<Destination, ApiError> {
    let a = Address::parse(address.trim(), app.network())
        .map_err(|e| ApiError::unprocessable(CODE_BAD_ADDRESS, e.to_string()))?;
    if !a.is_spendable_on_v0_20_3() {
        return Err(ApiError::unprocessable(
            CODE_BAD_ADDRESS,
            format!(
                "'{a}' is a segwit v1+ address, which Monacoin v0.20.3 cannot protect; refused"
            ),
        ));
    }
    if let Some(amount) = amount {
        let dust = mona::dust_threshold(a.script_pubkey());
        if amount < dust {
            return Err(ApiError::unprocessable(
                CODE_AMOUNT_BELOW_DUST,
                format!(
                    "amount {} is below the {} MONA dust threshold of {a}",
                    amount.to_mona_string(),
                    dust.to_mona_string()
                ),
            ));
        }
    }
    let d = Destination {
        address: a.to_string(),
        script_pubkey: a.script_pubkey().clone(),
    };
    d.validate()
        .map_err(|e| ApiError::unprocessable(CODE_BAD_ADDRESS, e.to_string()))?;
    Ok(d)
}

fn bad_id(e: impl ToString) -> ApiError {
    ApiError::unprocessable(CODE_BAD_ID, e.to_string())
}

fn intake_error(e: IntakeError) -> ApiError {
    match e {
        IntakeError::Invalid(i) => ApiError::unprocessable(CODE_BAD_REQUEST, i.to_string()),
        // The ledger's write queue is full: the same answer as the admission bound.
        IntakeError::Store(busy @ mona_ledger::StoreError::Busy { .. }) => {
            ApiError::unavailable(CODE_OVERLOADED, busy.to_string(), 1)
        }
        other => ApiError::storage(other),
    }
}

/// 503 while payouts are frozen.
async fn refuse_if_frozen(app: &App) -> Result<(), ApiError> {
    let ledger = app.ledger().clone();
    let f = run_blocking(move || ledger.freeze_state())
        .await?
        .map_err(ApiError::storage)?;
    app.metrics().frozen.set(i64::from(f.frozen));
    if f.frozen {
        let reason = f.reason.unwrap_or_default();
        return Err(ApiError::unavailable(
            CODE_FROZEN,
            format!("payouts are frozen: {reason}"),
            60,
        ));
    }
    Ok(())
}

fn json_with(status: StatusCode, v: impl serde::Serialize) -> Response {
    (status, Json(v)).into_response()
}

fn count(app: &App, kind: &str, outcome: &str) {
    app.metrics()
        .intake
        .with_label_values(&[kind, outcome])
        .inc();
}

// ---- withdrawals ----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WithdrawalBody {
    id: String,
    address: String,
    amount: Value,
}

/// `POST /v1/withdrawals`.
pub(super) async fn create_withdrawal(State(app): State<App>, body: Body) -> Response {
    match create_withdrawal_inner(&app, body).await {
        Ok(r) => r,
        Err(e) => {
            count(&app, "withdrawal", e.code);
            e.into_response()
        }
    }
}

async fn create_withdrawal_inner(app: &App, body: Body) -> Result<Response, ApiError> {
    let b: WithdrawalBody = read_json(app, body, app.config().api.max_body_bytes).await?;
    validate_id("withdrawal id", &b.id).map_err(bad_id)?;
    let amount = amount_field(&b.amount, "amount")?;
    let dest = destination(app, &b.address, Some(amount))?;
    refuse_if_frozen(app).await?;
    let req = WithdrawalRequest {
        id: b.id,
        destination: dest,
        amount_wat: amount.to_wat(),
    };
    let ledger = app.ledger().clone();
    let intake = run_blocking(move || ledger.request_withdrawal(&req))
        .await?
        .map_err(intake_error)?;
    count(app, "withdrawal", intake.kind());
    Ok(match intake {
        Intake::Created(w) => {
            tracing::info!(id = %w.id, amount = %Amount::from_wat(w.amount_wat).unwrap_or_default(), "withdrawal queued");
            app.engine().wake();
            json_with(StatusCode::CREATED, withdrawal_view(app, &w, None))
        }
        Intake::Replay(w) => json_with(StatusCode::OK, withdrawal_view(app, &w, None)),
        Intake::Conflict(w) => ApiError::new(
            StatusCode::CONFLICT,
            CODE_CONFLICT,
            format!(
                "withdrawal {} already exists with another address or amount; nothing changed",
                w.id
            ),
        )
        .with_existing(serde_json::to_value(WithdrawalView::from(&w)).unwrap_or_default())
        .into_response(),
    })
}

/// A withdrawal as the API shows it: above `max_payout` and still `requested`, it awaits a
/// cold signature, and names the open proposal paying it (if `open` is that proposal).
fn withdrawal_view(
    app: &App,
    w: &mona_ledger::Withdrawal,
    open: Option<&mona_ledger::TopUpProposal>,
) -> WithdrawalView {
    let mut v = WithdrawalView::from(w);
    v.awaiting_cold_signature = w.state == mona_ledger::PayoutState::Requested
        && w.amount_wat > app.config().policy.max_payout.to_wat();
    v.proposal_id = open
        .filter(|p| p.withdrawal_id.as_deref() == Some(w.id.as_str()))
        .map(|p| p.id.clone());
    v
}

/// `GET /v1/withdrawals/{id}`.
pub(super) async fn get_withdrawal(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match id.strip_prefix(VOUCHER_WITHDRAWAL_PREFIX) {
        Some(v) => validate_id("voucher id", v).map_err(bad_id)?,
        None => validate_id("withdrawal id", &id).map_err(bad_id)?,
    }
    let ledger = app.ledger().clone();
    let lookup = id.clone();
    let (found, open) = run_blocking(move || {
        Ok::<_, mona_ledger::StoreError>((
            ledger.withdrawal(&lookup)?,
            ledger.open_topup_proposal()?,
        ))
    })
    .await?
    .map_err(ApiError::storage)?;
    match found {
        Some(w) => Ok(json_with(
            StatusCode::OK,
            withdrawal_view(&app, &w, open.as_ref()),
        )),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            CODE_WITHDRAWAL_NOT_FOUND,
            format!("no withdrawal {id}"),
        )),
    }
}

// ---- float, addresses -----------------------------------------------------------------

/// `GET /v1/float`.
pub(super) async fn float(State(app): State<App>) -> Result<Response, ApiError> {
    let ledger = app.ledger().clone();
    let (balances, freeze) = run_blocking(move || {
        Ok::<_, mona_ledger::StoreError>((ledger.balances()?, ledger.freeze_state()?))
    })
    .await?
    .map_err(ApiError::storage)?;
    let report = crate::float::report(&balances, &app.config().policy, &freeze);
    let mut v = serde_json::to_value(&report).map_err(|e| ApiError::internal(e.to_string()))?;
    v["engine"] = serde_json::to_value(app.engine().status()).unwrap_or_default();
    Ok(json_with(StatusCode::OK, v))
}

/// `POST /v1/addresses` (body ignored; may be empty).
pub(super) async fn new_address(State(app): State<App>) -> Result<Response, ApiError> {
    let (index, address) = app.issue_address().await?;
    Ok(json_with(
        StatusCode::CREATED,
        AddressView {
            address: address.to_string(),
            index,
            keychain: "hot_external".into(),
        },
    ))
}

// ---- vouchers -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VoucherBody {
    amount: Value,
    #[serde(default)]
    id: Option<String>,
}

/// `POST /v1/vouchers`: draws a code, stores its hash, returns the code once.
pub(super) async fn create_voucher(State(app): State<App>, body: Body) -> Response {
    match create_voucher_inner(&app, body).await {
        Ok(r) => r,
        Err(e) => {
            count(&app, "voucher_create", e.code);
            e.into_response()
        }
    }
}

async fn create_voucher_inner(app: &App, body: Body) -> Result<Response, ApiError> {
    let b: VoucherBody = read_json(app, body, app.config().api.max_body_bytes).await?;
    let amount = amount_field(&b.amount, "amount")?;
    let id = match b.id {
        Some(id) => {
            validate_id("voucher id", &id).map_err(bad_id)?;
            id
        }
        None => crate::voucher::random_id(),
    };
    refuse_if_frozen(app).await?;
    let code = VoucherCode::generate(&id);
    let new = NewVoucher {
        id: id.clone(),
        code_hash: code.hash(),
        amount_wat: amount.to_wat(),
    };
    let ledger = app.ledger().clone();
    let intake = run_blocking(move || ledger.create_voucher(&new))
        .await?
        .map_err(intake_error)?;
    count(app, "voucher_create", intake.kind());
    match intake {
        Intake::Created(v) => {
            tracing::info!(voucher = %v.id, amount = %amount, "voucher created");
            Ok(json_with(
                StatusCode::CREATED,
                VoucherCreatedView {
                    id: v.id,
                    amount,
                    code: code.expose().to_owned(),
                    state: "active".into(),
                },
            ))
        }
        // A fresh code never hashes like a stored one, so an existing id is always a conflict:
        // its code was shown at creation and cannot be shown again.
        Intake::Replay(v) | Intake::Conflict(v) => Err(ApiError::new(
            StatusCode::CONFLICT,
            CODE_CONFLICT,
            format!(
                "voucher {} already exists; its code was shown only when it was created",
                v.id
            ),
        )
        .with_existing(serde_json::json!({
            "id": v.id,
            "amount": Amount::from_wat(v.amount_wat).unwrap_or_default(),
            "state": v.state.as_str(),
        }))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RedeemBody {
    code: String,
    address: String,
}

/// `POST /v1/vouchers/redeem` (public, rate-limited per client IP).
pub(super) async fn redeem_voucher(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    if let Err(wait) = app.check_redeem_rate(peer.ip()) {
        app.metrics()
            .rate_limited
            .with_label_values(&["/v1/vouchers/redeem"])
            .inc();
        count(&app, "voucher_redeem", CODE_RATE_LIMITED);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            CODE_RATE_LIMITED,
            "too many redemption attempts; retry later",
        );
        e.retry_after = Some(wait);
        return e.into_response();
    }
    match redeem_inner(&app, body).await {
        Ok(r) => r,
        Err(e) => {
            count(&app, "voucher_redeem", e.code);
            e.into_response()
        }
    }
}

async fn redeem_inner(app: &App, body: Body) -> Result<Response, ApiError> {
    let b: RedeemBody = read_json(app, body, app.config().api.max_body_bytes).await?;
    let code_text = Zeroizing::new(b.code);
    let code = ParsedCode::parse(&code_text)
        .map_err(|e| ApiError::unprocessable(CODE_BAD_CODE, e.to_string()))?;
    drop(code_text);
    let dest = destination(app, &b.address, None)?;
    refuse_if_frozen(app).await?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            CODE_VOUCHER_NOT_FOUND,
            "no voucher has this code",
        )
    };
    let ledger = app.ledger().clone();
    let id = code.id().to_owned();
    let stored = run_blocking(move || ledger.voucher(&id))
        .await?
        .map_err(ApiError::storage)?;
    // Looked up by the id part; the secret's hash is compared in constant time.
    let Some(stored) = stored else {
        return Err(not_found());
    };
    if !code.matches(&stored.code_hash) {
        return Err(not_found());
    }
    if Amount::from_wat(stored.amount_wat)
        .is_ok_and(|a| a < mona::dust_threshold(&dest.script_pubkey))
    {
        return Err(ApiError::unprocessable(
            CODE_AMOUNT_BELOW_DUST,
            format!(
                "this voucher's amount is below the dust threshold of {}",
                dest.address
            ),
        ));
    }
    let hash = code.hash();
    let ledger = app.ledger().clone();
    let redemption = run_blocking(move || ledger.redeem_voucher(&hash, &dest))
        .await?
        .map_err(intake_error)?;
    let view_of = |w: &mona_ledger::Withdrawal| {
        serde_json::to_value(WithdrawalView::from(w)).unwrap_or_default()
    };
    match redemption {
        Redemption::Created(w) => {
            count(app, "voucher_redeem", "created");
            tracing::info!(voucher = %stored.id, withdrawal = %w.id, "voucher redeemed");
            app.engine().wake();
            Ok(json_with(StatusCode::CREATED, WithdrawalView::from(&w)))
        }
        Redemption::Replay(w) => {
            count(app, "voucher_redeem", "replay");
            Ok(json_with(StatusCode::OK, WithdrawalView::from(&w)))
        }
        Redemption::Conflict(w) => {
            count(app, "voucher_redeem", "conflict");
            Err(ApiError::new(
                StatusCode::CONFLICT,
                CODE_CONFLICT,
                "this voucher was already redeemed to another address",
            )
            .with_existing(view_of(&w)))
        }
        Redemption::NotFound => Err(not_found()),
        _ => Err(ApiError::internal("unexpected redemption outcome")),
    }
}

// ---- freeze ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReasonBody {
    reason: String,
}

async fn reason_of(app: &App, body: Body) -> Result<String, ApiError> {
    let b: ReasonBody = read_json(app, body, app.config().api.max_body_bytes).await?;
    validate_reason(&b.reason)
        .map_err(|e| ApiError::unprocessable(CODE_BAD_REASON, e.to_string()))?;
    Ok(b.reason)
}

fn float_error(e: FloatError) -> ApiError {
    match e {
        FloatError::Invalid(i) => ApiError::unprocessable(CODE_BAD_REQUEST, i.to_string()),
        FloatError::TopUpAlreadyOpen(_) | FloatError::TopUpNotOpen { .. } => {
            ApiError::new(StatusCode::CONFLICT, CODE_CONFLICT, e.to_string())
        }
        FloatError::UnknownTopUp(_) => {
            ApiError::new(StatusCode::NOT_FOUND, CODE_TOPUP_NOT_FOUND, e.to_string())
        }
        other => ApiError::storage(other),
    }
}

/// `POST /v1/freeze {reason}`.
pub(super) async fn freeze(State(app): State<App>, body: Body) -> Result<Response, ApiError> {
    let reason = reason_of(&app, body).await?;
    let ledger = app.ledger().clone();
    let r = reason.clone();
    let state = run_blocking(move || ledger.freeze(&r))
        .await?
        .map_err(float_error)?;
    app.metrics().frozen.set(i64::from(state.frozen));
    tracing::warn!(reason = %reason, "payouts frozen by the operator");
    Ok(json_with(
        StatusCode::OK,
        serde_json::json!({ "frozen": state.frozen, "reason": state.reason }),
    ))
}

/// `POST /v1/unfreeze {reason}`.
pub(super) async fn unfreeze(State(app): State<App>, body: Body) -> Result<Response, ApiError> {
    let reason = reason_of(&app, body).await?;
    let ledger = app.ledger().clone();
    let r = reason.clone();
    let state = run_blocking(move || ledger.unfreeze(&r))
        .await?
        .map_err(float_error)?;
    app.metrics().frozen.set(i64::from(state.frozen));
    tracing::warn!(reason = %reason, "payouts unfrozen by the operator");
    app.engine().wake();
    Ok(json_with(
        StatusCode::OK,
        serde_json::json!({ "frozen": state.frozen, "reason": state.reason }),
    ))
}

// ---- top-ups --------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TopUpBody {
    #[serde(default)]
    amount: Option<Value>,
    #[serde(default)]
    withdrawal_id: Option<String>,
}

/// The API error of an engine error.
pub(super) fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Unavailable(_) => ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            CODE_NOT_IMPLEMENTED,
            e.to_string(),
        ),
        EngineError::Refused(m) => ApiError::unprocessable(CODE_REFUSED, m),
        EngineError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, CODE_CONFLICT, m),
        EngineError::Busy(m) => ApiError::unavailable(CODE_BUSY, m, 5),
        EngineError::Frozen(m) => {
            ApiError::unavailable(CODE_FROZEN, format!("payouts are frozen: {m}"), 60)
        }
    }
}

/// `POST /v1/topups {[amount] | [withdrawal_id]}`: a top-up of the hot float, or (with
/// `withdrawal_id`) the cold-signed payment of a withdrawal above `max_payout` (201 when
/// created, 200 when already open for it).
pub(super) async fn propose_topup(
    State(app): State<App>,
    body: Body,
) -> Result<Response, ApiError> {
    let b: TopUpBody = read_json(&app, body, app.config().api.max_body_bytes).await?;
    if let Some(wid) = b.withdrawal_id {
        if b.amount.is_some() {
            return Err(ApiError::unprocessable(
                CODE_BAD_REQUEST,
                "give amount (a top-up) or withdrawal_id (a cold withdrawal), not both",
            ));
        }
        match wid.strip_prefix(VOUCHER_WITHDRAWAL_PREFIX) {
            Some(v) => validate_id("voucher id", v).map_err(bad_id)?,
            None => validate_id("withdrawal id", &wid).map_err(bad_id)?,
        }
        let intake = app
            .engine()
            .propose_cold_withdrawal(wid)
            .await
            .map_err(engine_error)?;
        app.kick_outbox();
        return Ok(match intake {
            Intake::Created(p) => json_with(StatusCode::CREATED, TopUpView::from(&p)),
            Intake::Replay(p) => json_with(StatusCode::OK, TopUpView::from(&p)),
            Intake::Conflict(p) => ApiError::new(
                StatusCode::CONFLICT,
                CODE_CONFLICT,
                format!("proposal {} exists with another body", p.id),
            )
            .into_response(),
        });
    }
    let amount = b
        .amount
        .as_ref()
        .map(|v| amount_field(v, "amount"))
        .transpose()?;
    let proposal = app
        .engine()
        .propose_topup(amount)
        .await
        .map_err(engine_error)?;
    app.kick_outbox();
    Ok(json_with(StatusCode::CREATED, TopUpView::from(&proposal)))
}

/// `GET /v1/topups`: every proposal (top-ups and cold withdrawals), oldest first, without
/// their PSBTs.
pub(super) async fn list_topups(State(app): State<App>) -> Result<Response, ApiError> {
    let ledger = app.ledger().clone();
    let list = run_blocking(move || ledger.topup_proposals(10_000))
        .await?
        .map_err(ApiError::storage)?;
    let proposals: Vec<ProposalSummaryView> = list.iter().map(ProposalSummaryView::from).collect();
    Ok(json_with(
        StatusCode::OK,
        serde_json::json!({ "proposals": proposals }),
    ))
}

fn topup_id(id: &str) -> Result<(), ApiError> {
    validate_id("top-up id", id).map_err(bad_id)
}

/// `GET /v1/topups/{id}/psbt`.
pub(super) async fn topup_psbt(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    topup_id(&id)?;
    let ledger = app.ledger().clone();
    let lookup = id.clone();
    match run_blocking(move || ledger.topup(&lookup))
        .await?
        .map_err(ApiError::storage)?
    {
        Some(t) => Ok(json_with(StatusCode::OK, TopUpView::from(&t))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            CODE_TOPUP_NOT_FOUND,
            format!("no top-up proposal {id}"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignedBody {
    psbt: String,
}

/// `POST /v1/topups/{id}/signed {psbt}` (base64 PSBT).
pub(super) async fn submit_topup(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    topup_id(&id)?;
    let b: SignedBody = read_json(&app, body, MAX_SIGNED_PSBT_BODY).await?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b.psbt.trim())
        .map_err(|e| ApiError::unprocessable(CODE_BAD_PSBT, format!("psbt is not base64: {e}")))?;
    let parsed = bitcoin::psbt::Psbt::deserialize(&bytes)
        .map_err(|e| ApiError::unprocessable(CODE_BAD_PSBT, format!("not a PSBT: {e}")))?;
    let ledger = app.ledger().clone();
    let lookup = id.clone();
    let proposal = run_blocking(move || ledger.topup(&lookup))
        .await?
        .map_err(ApiError::storage)?;
    let Some(proposal) = proposal else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            CODE_TOPUP_NOT_FOUND,
            format!("no top-up proposal {id}"),
        ));
    };
    // A retry after the answer was lost: the same transaction was already committed.
    if proposal.state == mona_ledger::TopUpState::Submitted
        && parsed.unsigned_tx.compute_txid() == proposal.unsigned_txid
    {
        return Ok(json_with(
            StatusCode::OK,
            serde_json::json!({ "id": id, "txid": proposal.close_note, "replay": true }),
        ));
    }
    if proposal.state != mona_ledger::TopUpState::Open {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            CODE_CONFLICT,
            format!(
                "top-up proposal {id} is {}, not open",
                proposal.state.as_str()
            ),
        ));
    }
    let txid = app
        .engine()
        .submit_topup(id.clone(), bytes)
        .await
        .map_err(engine_error)?;
    app.kick_outbox();
    Ok(json_with(
        StatusCode::OK,
        serde_json::json!({ "id": id, "txid": txid.to_string() }),
    ))
}

/// `POST /v1/topups/{id}/cancel {reason}`: closes the open proposal `id` as cancelled (the
/// ledger's audit entry `topup.closed` records the reason), so another can be opened; its
/// outbox files are removed. 404 unknown, 409 not open, 422 bad id or reason. The engine is
/// not woken: it proposes again on its own schedule (see the README).
pub(super) async fn cancel_topup(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    topup_id(&id)?;
    let reason = reason_of(&app, body).await?;
    let ledger = app.ledger().clone();
    let (lookup, r) = (id.clone(), reason.clone());
    let closed = run_blocking(move || {
        let Some(t) = ledger.topup(&lookup)? else {
            return Err(mona_ledger::FloatError::UnknownTopUp(lookup));
        };
        if t.state != mona_ledger::TopUpState::Open {
            return Err(mona_ledger::FloatError::TopUpNotOpen {
                id: lookup,
                state: t.state.as_str(),
            });
        }
        ledger.close_topup(&lookup, &mona_ledger::TopUpClose::Cancelled { reason: r })
    })
    .await?
    .map_err(float_error)?;
    app.kick_outbox();
    tracing::warn!(proposal = %closed.id, purpose = closed.purpose(), reason = %reason, "proposal cancelled by the operator");
    Ok(json_with(StatusCode::OK, TopUpView::from(&closed)))
}

// ---- metrics, health, fallbacks -------------------------------------------------------

/// `GET /metrics`.
pub(super) async fn metrics(State(app): State<App>) -> Result<Response, ApiError> {
    let ledger = app.ledger().clone();
    let m = app.metrics().clone();
    run_blocking(move || m.refresh_from_ledger(ledger.as_ref()))
        .await?
        .map_err(ApiError::storage)?;
    app.engine().refresh_metrics(app.metrics());
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics().render(),
    )
        .into_response())
}

/// `GET /healthz`.
pub(super) async fn healthz() -> Response {
    json_with(StatusCode::OK, serde_json::json!({ "status": "ok" }))
}

/// Unknown route.
pub(super) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, CODE_NOT_FOUND, "no such route")
}

/// Known route, wrong method.
pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        CODE_METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}
