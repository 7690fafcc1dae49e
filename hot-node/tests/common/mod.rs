//! Shared test harness: an in-process API server on 127.0.0.1:0 over a real SQLite ledger in a
//! temp directory, and helpers to call it.
#![allow(dead_code, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

use bitcoin::secp256k1::Secp256k1;
use hot_node::api::{App, AppParts};
use hot_node::client::{ApiClient, ApiResponse};
use hot_node::config::{Config, NodeSection};
use hot_node::engine::NoEngine;
use hot_node::metrics::Metrics;
use hot_node::secret::ApiToken;
use hyper::Method;
use mona::Network;
use mona_ledger::{Ledger, SqliteLedger};
use mona_wallet::{Account, Mnemonic, Purpose, WatchOnlyAccount};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const HOT_MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
pub const PAYEE_MNEMONIC: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";

pub fn account(phrase: &str, network: Network) -> WatchOnlyAccount {
    let m = Mnemonic::parse(phrase).expect("test mnemonic");
    Account::from_seed(
        &Secp256k1::new(),
        &m.to_seed(""),
        network,
        Purpose::Bip84,
        0,
    )
    .watch_only()
    .clone()
}

/// A regtest payee address `i` (not ours).
pub fn payee(i: u32) -> String {
    account(PAYEE_MNEMONIC, Network::Regtest)
        .address(0, i)
        .expect("derive")
        .to_string()
}

pub fn test_config() -> Config {
    Config::new_default(
        Network::Regtest,
        NodeSection {
            url: "http://127.0.0.1:19443/".into(),
            cookie_file: Some("/nonexistent/.cookie".into()),
            user: None,
            password_file: None,
            timeout_ms: 30_000,
        },
    )
}

pub struct Harness {
    pub addr: SocketAddr,
    pub app: App,
    pub ledger: SqliteLedger,
    pub token: ApiToken,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Harness {
    /// Starts a server with the test config edited by `edit`.
    pub async fn start(edit: impl FnOnce(&mut Config)) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = SqliteLedger::open(dir.path().join("ledger.sqlite")).expect("open ledger");
        Harness::start_with(dir, ledger, edit, ApiToken::generate()).await
    }

    /// Starts a server over an existing ledger.
    pub async fn start_with(
        dir: tempfile::TempDir,
        ledger: SqliteLedger,
        edit: impl FnOnce(&mut Config),
        token: ApiToken,
    ) -> Harness {
        let mut config = test_config();
        config.api.listen = Some("127.0.0.1:0".parse().expect("addr"));
        edit(&mut config);
        config.validate("test").expect("test config valid");
        let listener = tokio::net::TcpListener::bind(config.listen_addr())
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        Harness::serve(
            dir,
            ledger,
            config,
            token,
            account(HOT_MNEMONIC, Network::Regtest),
            listener,
            addr,
        )
        .await
    }

    pub async fn serve(
        dir: tempfile::TempDir,
        ledger: SqliteLedger,
        config: Config,
        token: ApiToken,
        hot: WatchOnlyAccount,
        listener: tokio::net::TcpListener,
        addr: SocketAddr,
    ) -> Harness {
        let shared: Arc<dyn Ledger> = Arc::new(ledger.clone());
        let parts = AppParts {
            config,
            ledger: shared,
            token: token.clone(),
            hot,
            engine: Arc::new(NoEngine),
            metrics: Metrics::new(),
        };
        let app = tokio::task::spawn_blocking(move || App::new(parts))
            .await
            .expect("join")
            .expect("app");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(hot_node::api::serve(app.clone(), listener, async move {
            let _ = rx.await;
        }));
        Harness {
            addr,
            app,
            ledger,
            token,
            dir,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn client(&self) -> ApiClient {
        ApiClient::new(self.addr, Some(self.token.clone()))
    }

    pub fn public(&self) -> ApiClient {
        ApiClient::new(self.addr, None)
    }

    /// POST/GET with the token and a JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> ApiResponse {
        self.client()
            .call(method, path, body.as_ref())
            .await
            .expect("API reachable")
    }

    /// Raw body bytes with the token.
    pub async fn raw(&self, method: Method, path: &str, body: &[u8]) -> ApiResponse {
        self.client()
            .call_raw(method, path, bytes::Bytes::copy_from_slice(body), true)
            .await
            .expect("API reachable")
    }

    /// A fingerprint of everything the ledger holds that a request could change.
    pub fn snapshot(&self) -> LedgerSnapshot {
        let l = &self.ledger;
        LedgerSnapshot {
            audit_head: l.audit_head().expect("audit head"),
            queued: l.queued_withdrawals(100_000).expect("queued").len(),
            balances: l.balances().expect("balances"),
            frozen: l.freeze_state().expect("freeze").frozen,
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) -> (tempfile::TempDir, SqliteLedger) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("join").expect("serve");
        }
        let Harness { dir, ledger, .. } = self;
        (dir, ledger)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSnapshot {
    pub audit_head: mona_ledger::AuditHead,
    pub queued: usize,
    pub balances: mona_ledger::Balances,
    pub frozen: bool,
}
