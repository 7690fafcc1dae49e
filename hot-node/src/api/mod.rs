//! The HTTP API (axum 0.8 on tokio), exactly the contract of `../shared/ARCHITECTURE.md`.
//!
//! | route | auth | answers |
//! |---|---|---|
//! | `POST /v1/withdrawals {id,address,amount}` | token | 201 created, 200 replay, 409, 422, 503 |
//! | `GET /v1/withdrawals/{id}` | token | 200, 404, 422 |
//! | `GET /v1/float` | token | 200 |
//! | `POST /v1/addresses` | token | 201 |
//! | `POST /v1/vouchers {amount[,id]}` | token | 201 (code shown once), 409, 422, 503 |
//! | `POST /v1/vouchers/redeem {code,address}` | public, rate-limited per IP | 201, 200, 404, 409, 422, 429, 503 |
//! | `POST /v1/topups {[amount] \| [withdrawal_id]}` | token | 201, 200 (replay), 409, 422, 501, 503 |
//! | `GET /v1/topups` | token | 200 `{proposals: [...]}` oldest first |
//! | `GET /v1/topups/{id}/psbt` | token | 200, 404 |
//! | `POST /v1/topups/{id}/signed {psbt}` | token | 200 (also a replay of the submitted tx), 404, 409, 422, 501 |
//! | `POST /v1/topups/{id}/cancel {reason}` | token | 200 (the proposal, now cancelled), 404, 409 (not open), 422 |
//! | `POST /v1/freeze {reason}`, `POST /v1/unfreeze {reason}` | token | 200, 422 |
//! | `GET /metrics` | token | 200 Prometheus text |
//! | `GET /healthz` | public | 200 |
//!
//! Invariants: a refused request changes nothing (every check runs before the one ledger call
//! that records it); every `/v1` and `/metrics` request passes the admission bound (at most
//! `max_in_flight` running, `max_queue` waiting at most `queue_timeout_ms`, else 503 with
//! `Retry-After`: never an unbounded wait); the bearer token is compared in constant time.

pub mod error;
mod handlers;
mod views;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use mona::{Address, Network};
use mona_ledger::Ledger;
use mona_wallet::WatchOnlyAccount;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Notify, Semaphore};

pub use error::ApiError;
pub use views::{AddressView, ProposalSummaryView, TopUpView, VoucherCreatedView, WithdrawalView};

use crate::config::Config;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::secret::ApiToken;

/// Audit kind of an issued hot deposit address (subject `hot_external/<index>`, the format
/// the engine writes too).
pub use mona_ledger::AUDIT_ADDRESS_ISSUED;

/// Everything the API needs, handed in by `run` (or a test).
pub struct AppParts {
    /// The validated configuration.
    pub config: Config,
    /// The ledger store.
    pub ledger: Arc<dyn Ledger>,
    /// The operator token.
    pub token: ApiToken,
    /// The hot wallet's public account (deposit addresses).
    pub hot: WatchOnlyAccount,
    /// The payout engine (or [`crate::engine::NoEngine`]).
    pub engine: Arc<dyn Engine>,
    /// Metrics registry.
    pub metrics: Metrics,
}

/// The shared application state. Cheap to clone.
#[derive(Clone)]
pub struct App(Arc<AppInner>);

struct AppInner {
    config: Config,
    ledger: Arc<dyn Ledger>,
    token: ApiToken,
    hot: WatchOnlyAccount,
    engine: Arc<dyn Engine>,
    metrics: Metrics,
    next_address: Mutex<u32>,
    redeem_limiter: DefaultKeyedRateLimiter<IpAddr>,
    admission: Arc<Semaphore>,
    running: Arc<Semaphore>,
    outbox_kick: Arc<Notify>,
}

/// Why the app could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The ledger could not be read.
    #[error(transparent)]
    Store(#[from] mona_ledger::StoreError),
    /// The hot account does not belong to the configured network.
    #[error("the hot account is for {found}, the configuration for {expected}")]
    WrongNetwork {
        /// Configured.
        expected: Network,
        /// The account's.
        found: Network,
    },
}

impl App {
    /// Builds the state (blocking: reads the ledger's audit log for the next address index).
    pub fn new(parts: AppParts) -> Result<App, AppError> {
        if parts.hot.network != parts.config.network {
            return Err(AppError::WrongNetwork {
                expected: parts.config.network,
                found: parts.hot.network,
            });
        }
        let next = next_address_index(parts.ledger.as_ref())?;
        let api = &parts.config.api;
        let period =
            Duration::from_millis((60_000 / u64::from(api.redeem_per_minute.max(1))).max(1));
        let burst = NonZeroU32::new(api.redeem_burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_minute(burst))
            .allow_burst(burst);
        Ok(App(Arc::new(AppInner {
            admission: Arc::new(Semaphore::new(api.max_in_flight + api.max_queue)),
            running: Arc::new(Semaphore::new(api.max_in_flight)),
            outbox_kick: Arc::new(Notify::new()),
            redeem_limiter: RateLimiter::keyed(quota),
            next_address: Mutex::new(next),
            config: parts.config,
            ledger: parts.ledger,
            token: parts.token,
            hot: parts.hot,
            engine: parts.engine,
            metrics: parts.metrics,
        })))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }
    /// The network.
    pub fn network(&self) -> Network {
        self.0.config.network
    }
    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.0.ledger
    }
    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }
    /// The engine.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.0.engine
    }
    /// Notified when a proposal is opened, submitted or cancelled through the API (the
    /// daemon's outbox task listens: see [`crate::outbox::spawn`]).
    pub fn outbox_kick(&self) -> Arc<Notify> {
        Arc::clone(&self.0.outbox_kick)
    }
    /// Asks the outbox task to bring the outbox in line with the ledger now.
    pub(crate) fn kick_outbox(&self) {
        self.0.outbox_kick.notify_one();
    }
    /// The hot account (public).
    pub fn hot_account(&self) -> &WatchOnlyAccount {
        &self.0.hot
    }
    /// The next hot receive index `POST /v1/addresses` will hand out (all below it are issued;
    /// the engine scans them plus the gap limit).
    pub async fn next_address_index(&self) -> u32 {
        *self.0.next_address.lock().await
    }

    /// Issues the next hot deposit address: the engine's when it hands them out (it persists
    /// the index first and watches the address), else derived here and recorded in the audit
    /// log first.
    pub async fn issue_address(&self) -> Result<(u32, Address), ApiError> {
        let mut next = self.0.next_address.lock().await;
        if let Some(issued) = self.0.engine.new_deposit_address() {
            let (index, address) = issued.map_err(handlers::engine_error)?;
            *next = (*next).max(index.saturating_add(1));
            return Ok((index, address));
        }
        let index = *next;
        let address = self.0.hot.address(0, index).ok_or_else(|| {
            ApiError::internal(format!("cannot derive hot receive address {index}"))
        })?;
        let ledger = self.0.ledger.clone();
        let subject = mona_ledger::address_issued_subject(index);
        let detail = format!("address={address}");
        run_blocking(move || ledger.append_audit(AUDIT_ADDRESS_ISSUED, &subject, &detail))
            .await?
            .map_err(ApiError::storage)?;
        *next = index + 1;
        Ok((index, address))
    }

    /// The router with every route and limit.
    pub fn router(&self) -> Router {
        let operator = Router::new()
            .route("/v1/withdrawals", post(handlers::create_withdrawal))
            .route("/v1/withdrawals/{id}", get(handlers::get_withdrawal))
            .route("/v1/float", get(handlers::float))
            .route("/v1/addresses", post(handlers::new_address))
            .route("/v1/vouchers", post(handlers::create_voucher))
            .route(
                "/v1/topups",
                post(handlers::propose_topup).get(handlers::list_topups),
            )
            .route("/v1/topups/{id}/psbt", get(handlers::topup_psbt))
            .route("/v1/topups/{id}/signed", post(handlers::submit_topup))
            .route("/v1/topups/{id}/cancel", post(handlers::cancel_topup))
            .route("/v1/freeze", post(handlers::freeze))
            .route("/v1/unfreeze", post(handlers::unfreeze))
            .route("/metrics", get(handlers::metrics))
            .route_layer(middleware::from_fn_with_state(self.clone(), require_token));
        let public = Router::new().route("/v1/vouchers/redeem", post(handlers::redeem_voucher));
        operator
            .merge(public)
            .route_layer(middleware::from_fn_with_state(self.clone(), admission))
            .route("/healthz", get(handlers::healthz))
            .fallback(handlers::not_found)
            .method_not_allowed_fallback(handlers::method_not_allowed)
            .layer(middleware::from_fn_with_state(self.clone(), observe))
            .with_state(self.clone())
    }

    /// Checks the client's redemption rate; `Err(seconds to wait)` when over.
    fn check_redeem_rate(&self, ip: IpAddr) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        match self.0.redeem_limiter.check_key(&ip) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
            }
        }
    }
}

/// Runs a blocking ledger call off the async runtime.
pub(crate) async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("ledger task failed: {e}")))
}

/// Scans the audit log for the highest hot receive index the API issued itself (+ 1).
pub fn next_address_index(ledger: &dyn Ledger) -> Result<u32, mona_ledger::StoreError> {
    let mut next = 0u32;
    let mut from = 1u64;
    loop {
        let page = ledger.audit_entries(from, 1000)?;
        let Some(last) = page.last() else { break };
        from = last.seq + 1;
        for e in &page {
            if e.kind == AUDIT_ADDRESS_ISSUED {
                if let Some(i) = mona_ledger::parse_address_issued_subject(&e.subject) {
                    next = next.max(i.saturating_add(1));
                }
            }
        }
    }
    Ok(next)
}

/// Bearer-token check of operator routes (constant-time compare; 401 otherwise).
async fn require_token(State(app): State<App>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .unwrap_or("");
    if !app.0.token.matches(presented) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            error::CODE_UNAUTHORIZED,
            "missing or wrong bearer token",
        )
        .into_response();
    }
    next.run(req).await
}

/// Admission: at most `max_in_flight` requests run; up to `max_queue` more wait at most
/// `queue_timeout_ms`; anything beyond gets 503 with `Retry-After` at once.
async fn admission(State(app): State<App>, req: Request, next: Next) -> Response {
    let overloaded = |app: &App| {
        app.0.metrics.overloaded.inc();
        ApiError::unavailable(
            error::CODE_OVERLOADED,
            "too many requests in flight; retry later",
            1,
        )
        .into_response()
    };
    let Ok(_admitted) = app.0.admission.clone().try_acquire_owned() else {
        return overloaded(&app);
    };
    let wait = Duration::from_millis(app.0.config.api.queue_timeout_ms);
    let Ok(Ok(_running)) = tokio::time::timeout(wait, app.0.running.clone().acquire_owned()).await
    else {
        return overloaded(&app);
    };
    next.run(req).await
}

/// Counts responses by route template and status and logs one line per request (never bodies,
/// headers or query strings).
async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status();
    app.0
        .metrics
        .responses
        .with_label_values(&[route.as_str(), status.as_str()])
        .inc();
    tracing::info!(
        target: "hot_node::api",
        %method,
        route = %route,
        status = status.as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app.router();
    // Forget idle rate-limit keys now and then so the map stays bounded.
    let limiter_app = app.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter_app.0.redeem_limiter.retain_recent();
            limiter_app.0.redeem_limiter.shrink_to_fit();
        }
    });
    let result = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    sweeper.abort();
    result
}
