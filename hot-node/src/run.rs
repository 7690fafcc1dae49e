//! `hot-node run`: load the configuration, unlock the hot seed, open the ledger, check the
//! node's chain, serve the API until SIGINT/SIGTERM.
//!
//! Invariant: nothing is served unless the configuration, the cold export, the hot seed and
//! the node's genesis hash all check out and the payout engine started; a wrong chain or
//! refused credentials stop the start with one clear line (exit 10). Shutdown stops
//! accepting, finishes requests in flight, stops the engine, then drops the ledger (its writer
//! thread finishes queued commits before it exits).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mona::Network;
use mona_node::{Auth, ErrorClass, NodeClient, NodeConfig, RpcError};

use crate::api::{self, App, AppParts};
use crate::config::Config;
use crate::datadir::DataDir;
use crate::exit::{CliError, Exit};
use crate::hot_wallet;
use crate::metrics::Metrics;
use crate::secret::{self, ApiToken};
use crate::watch_only::WatchOnlyWallet;

/// How long `run` keeps retrying an unreachable node before giving up.
pub const NODE_STARTUP_WAIT: Duration = Duration::from_secs(30);

/// What `run` needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The data directory.
    pub datadir: PathBuf,
    /// `--network`, if given (must match the configuration).
    pub network: Option<Network>,
    /// The passphrase file (else a prompt).
    pub passphrase_file: Option<PathBuf>,
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}

/// The node client of a configuration (reads the password file if one is configured).
pub fn node_client(datadir: &std::path::Path, config: &Config) -> Result<NodeClient, CliError> {
    let n = &config.node;
    let auth = match (&n.cookie_file, &n.user, &n.password_file) {
        (Some(cookie), _, _) => Auth::cookie_file(Config::resolve(datadir, cookie)),
        (None, Some(user), Some(pw)) => {
            let pw = secret::read_secret_file(&Config::resolve(datadir, pw), "node password")
                .map_err(|e| CliError::new(Exit::BadInput, e))?;
            Auth::user_pass(user.clone(), pw.as_str())
        }
        _ => {
            return Err(CliError::new(
                Exit::BadInput,
                "node: set cookie_file, or user + password_file",
            ))
        }
    };
    let cfg = NodeConfig::new(&n.url, auth)
        .map_err(|e| CliError::new(Exit::BadInput, e))?
        .with_timeout_ms(n.timeout_ms);
    Ok(NodeClient::new(cfg))
}

fn outcome_of(e: &RpcError) -> &'static str {
    match e.class() {
        ErrorClass::Transient { .. } => "transient",
        ErrorClass::Configuration => "configuration",
        ErrorClass::Rejected => "rejected",
    }
}

/// Checks the node's genesis hash; retries transient failures for [`NODE_STARTUP_WAIT`].
pub async fn check_node(
    node: &NodeClient,
    network: Network,
    metrics: &Metrics,
) -> Result<(), CliError> {
    let deadline = Instant::now() + NODE_STARTUP_WAIT;
    loop {
        let started = Instant::now();
        let result = node.check_chain(network).await;
        match result {
            Ok(hash) => {
                metrics.observe_node_call("getblockhash", "ok", started.elapsed());
                tracing::info!(genesis = %hash, %network, "node is on the configured chain");
                return Ok(());
            }
            Err(e) => {
                metrics.observe_node_call("getblockhash", outcome_of(&e), started.elapsed());
                let transient = matches!(e.class(), ErrorClass::Transient { .. });
                if !transient || Instant::now() >= deadline {
                    return Err(CliError::new(Exit::Node, format!("refusing to start: {e}")));
                }
                tracing::warn!(error = %e, "node not ready; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Runs the daemon until `shutdown` resolves.
pub async fn run(
    opts: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let dd = DataDir::new(&opts.datadir);
    let config = Config::load(&dd.config()).map_err(|e| CliError::new(Exit::BadInput, e))?;
    if let Some(net) = opts.network {
        if net != config.network {
            return Err(CliError::new(
                Exit::BadInput,
                format!(
                    "{} is a {} data directory, not {net}",
                    dd.root().display(),
                    config.network
                ),
            ));
        }
    }
    let network = config.network;
    let token = ApiToken::load(&dd.token()).map_err(|e| CliError::new(Exit::Unauthorized, e))?;
    let export_path = dd.cold_export(&config);
    let export = std::fs::read(&export_path).map_err(|e| {
        CliError::new(
            Exit::BadInput,
            format!("cannot read {}: {e}", export_path.display()),
        )
    })?;
    let cold = WatchOnlyWallet::from_json(&export, network).map_err(|e| {
        CliError::new(
            Exit::BadInput,
            format!("cold export {}: {e}", export_path.display()),
        )
    })?;
    let seed_path = dd.seed();
    hot_wallet::read_metadata(&seed_path, network).map_err(|e| CliError::new(Exit::Seed, e))?;
    let passphrase = secret::passphrase(opts.passphrase_file.as_deref(), false)
        .map_err(|e| CliError::new(Exit::BadInput, e))?;
    let hot =
        tokio::task::spawn_blocking(move || hot_wallet::unlock(&seed_path, network, &passphrase))
            .await
            .map_err(|e| CliError::new(Exit::Failure, e))?
            .map_err(|e| CliError::new(Exit::Seed, e))?;
    tracing::info!(hot_fingerprint = hot.fingerprint(), cold_fingerprint = %cold.account.fingerprint, %network, "hot seed unlocked");

    let metrics = Metrics::new();
    let node = node_client(dd.root(), &config)?;
    check_node(&node, network, &metrics).await?;

    let ledger_path = dd.ledger();
    let ledger = tokio::task::spawn_blocking(move || mona_ledger::SqliteLedger::open(&ledger_path))
        .await
        .map_err(|e| CliError::new(Exit::Failure, e))?
        .map_err(|e| CliError::new(Exit::Failure, format!("cannot open the ledger: {e}")))?;
    let ledger: Arc<dyn mona_ledger::Ledger> = Arc::new(ledger);

    // The payout engine: it re-checks the chain, re-sends every committed unconfirmed payout
    // (crash recovery), then syncs, reconciles and pays; the API records intake and wakes it.
    let engine_cfg = crate::live_engine::engine_config(&config, dd.root());
    let handle = mona_engine::Engine::start(
        engine_cfg,
        ledger.clone(),
        Arc::new(node),
        mona_engine::HotKeys::from_account(hot.account()),
        cold.account.clone(),
    )
    .await
    .map_err(|e| {
        let exit = match &e {
            mona_engine::StartError::Config(_) => Exit::BadInput,
            mona_engine::StartError::Node(_) => Exit::Node,
            _ => Exit::Failure,
        };
        CliError::new(exit, format!("cannot start the payout engine: {e}"))
    })?;
    let live = crate::live_engine::LiveEngine::new(handle);
    // Addresses issued by the API before the engine ran stay watched.
    let issued = {
        let l = ledger.clone();
        tokio::task::spawn_blocking(move || api::next_address_index(l.as_ref()))
            .await
            .map_err(|e| CliError::new(Exit::Failure, e))?
            .map_err(|e| CliError::new(Exit::Failure, format!("cannot read the ledger: {e}")))?
    };
    if issued > 0 {
        live.catch_up_addresses(issued)
            .map_err(|e| CliError::new(Exit::Failure, e))?;
    }
    let bridge = live.spawn_metrics_bridge(metrics.clone(), Duration::from_secs(1));
    let outbox_metrics = metrics.clone();
    tracing::info!("payout engine started");
    let engine = Arc::new(live);
    let hot_account = hot.watch_only().clone();
    let parts = AppParts {
        config: config.clone(),
        ledger: ledger.clone(),
        token,
        hot: hot_account,
        engine: engine.clone(),
        metrics,
    };
    let app = tokio::task::spawn_blocking(move || App::new(parts))
        .await
        .map_err(|e| CliError::new(Exit::Failure, e))?
        .map_err(|e| CliError::new(Exit::Failure, e))?;
    let listen = config.listen_addr();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| CliError::new(Exit::Failure, format!("cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr().unwrap_or(listen);
    tracing::info!(listen = %bound, %network, "hot-node API listening");
    // The open cold proposal goes to the outbox (polled, and at once after an API call).
    let outbox = crate::outbox::Outbox::from_config(&config, dd.root()).map(|o| {
        crate::outbox::spawn(
            o,
            ledger.clone(),
            outbox_metrics,
            app.outbox_kick(),
            Duration::from_millis(config.outbox.interval_ms),
        )
    });
    let served = api::serve(app, listener, shutdown).await;
    // Requests in flight have finished; stop the engine (it finishes its current step; a
    // committed payout not yet sent is re-sent by the next start), then the ledger.
    crate::engine::Engine::shutdown(engine.as_ref()).await;
    bridge.abort();
    if let Some(o) = outbox {
        o.abort();
    }
    served.map_err(|e| CliError::new(Exit::Failure, format!("API server failed: {e}")))?;
    drop(hot);
    tracing::info!("hot-node stopped");
    Ok(())
}
