//! The command line (clap derive: the one source of flags) and the operator subcommands, which
//! call the HTTP API of the daemon found through `--datadir`.
//!
//! Invariant: an operator subcommand changes nothing by itself: it sends one request and
//! reports the answer; its exit code is chosen by [`Exit::for_status`] (see README).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use hyper::Method;
use mona::Network;
use mona_keystore::KdfParams;
use serde_json::{json, Value};

use crate::client::{ApiClient, ApiResponse};
use crate::config::NodeSection;
use crate::datadir::{self, DataDir, InitError, InitOptions};
use crate::exit::{CliError, Exit};
use crate::logging::LogFormat;
use crate::secret;

/// Exit codes, appended to `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0 success (a replayed request is a success)     7 unauthorized (401, token file)
  1 unexpected failure                            8 API unreachable
  2 bad command line                              9 init: data directory not empty
  3 input refused (400/413/422), nothing changed 10 run: node on another chain, 401, unreachable
  4 conflict (409), nothing changed              11 hot seed: wrong passphrase or damaged file
  5 not found (404)                              12 audit verify: chain broken
  6 unavailable: frozen/overloaded (503), 429    13 not implemented yet (501)
 qr input (nothing written; 9 also means a qr output already exists):
 20 no qr code found           23 checksum mismatch       26 too many frames
 21 not a ur / wrong ur type   24 two messages mixed      27 incomplete: capture more
 22 corrupted frame            25 over the size cap       28 wrong kind or invalid content";

/// Monacoin custody hot node: daemon (`run`) and operator CLI.
#[derive(Debug, Parser)]
#[command(name = "hot-node", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Network (required by `init`; checked against the data directory elsewhere).
    #[arg(long, global = true, value_name = "NET")]
    pub network: Option<Network>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log format (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data directory: encrypted hot seed, API token, config, cold export copy, ledger.
    Init(InitArgs),
    /// Run the daemon: unlock the hot seed, check the node's chain, serve the API.
    Run(RunArgs),
    /// Show balances, thresholds, freeze state (GET /v1/float).
    Status(DirArgs),
    /// Request a withdrawal (POST /v1/withdrawals).
    Withdraw(WithdrawArgs),
    /// Withdrawal commands.
    #[command(subcommand)]
    Withdrawal(WithdrawalCmd),
    /// Voucher commands.
    #[command(subcommand)]
    Voucher(VoucherCmd),
    /// Deposit address commands.
    #[command(subcommand)]
    Address(AddressCmd),
    /// Freeze all payouts (POST /v1/freeze).
    Freeze(ReasonArgs),
    /// Lift a freeze (POST /v1/unfreeze).
    Unfreeze(ReasonArgs),
    /// Audit log commands (local, on the ledger database).
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Top-up commands (cold -> hot through the air gap).
    #[command(subcommand)]
    Topup(TopupCmd),
    /// Write the hot wallet's watch-only export (the cold signer's format) for the cold policy.
    Export(crate::export::ExportArgs),
    /// The whole custody story on the embedded simulated chain, in a temp directory.
    Demo(crate::demo::DemoArgs),
    /// Carry a PSBT across the air gap as animated QR codes (local; no daemon needed).
    #[command(subcommand)]
    Qr(crate::qr::QrCmd),
}

/// `--datadir D`.
#[derive(Debug, Args)]
pub struct DirArgs {
    /// The data directory (finds the API address and token).
    #[arg(long, value_name = "D")]
    pub datadir: PathBuf,
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The data directory to create (must not exist or be empty).
    #[arg(long, value_name = "D")]
    pub datadir: PathBuf,
    /// The cold signer's watch-only export (`cold-signer export --out F`).
    #[arg(long, value_name = "F")]
    pub cold_export: PathBuf,
    /// Read the new hot seed passphrase from this file instead of prompting.
    #[arg(long, value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
    /// monacoind RPC URL (default http://127.0.0.1:<network RPC port>/).
    #[arg(long, value_name = "URL")]
    pub node_url: Option<String>,
    /// monacoind cookie file (default: ~/.monacoin/<net>/.cookie).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["node_user", "node_password_file"])]
    pub node_cookie: Option<PathBuf>,
    /// monacoind RPC user.
    #[arg(long, value_name = "U", requires = "node_password_file")]
    pub node_user: Option<String>,
    /// File holding the RPC password.
    #[arg(long, value_name = "F", requires = "node_user")]
    pub node_password_file: Option<PathBuf>,
    /// API listen address (default 127.0.0.1:<network default port>).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// argon2id memory cost in KiB (hidden: tests and tiny machines).
    #[arg(long, hide = true, value_name = "KIB")]
    pub kdf_m_cost_kib: Option<u32>,
    /// argon2id passes (hidden).
    #[arg(long, hide = true, value_name = "N")]
    pub kdf_t_cost: Option<u32>,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The data directory.
    #[arg(long, value_name = "D", required_unless_present = "config")]
    pub datadir: Option<PathBuf>,
    /// The configuration file (its directory is the data directory).
    #[arg(long, value_name = "F", conflicts_with = "datadir")]
    pub config: Option<PathBuf>,
    /// Read the hot seed passphrase from this file instead of prompting.
    #[arg(long, value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
}

/// `withdraw`.
#[derive(Debug, Args)]
pub struct WithdrawArgs {
    /// The data directory.
    #[arg(long, value_name = "D")]
    pub datadir: PathBuf,
    /// Idempotency key (1-64 of A-Z a-z 0-9 . _ -).
    #[arg(long)]
    pub id: String,
    /// Destination address.
    #[arg(long)]
    pub address: String,
    /// Amount in MONA (decimal, up to 8 decimals).
    #[arg(long, value_name = "MONA")]
    pub amount: String,
}

/// `withdrawal ...`.
#[derive(Debug, Subcommand)]
pub enum WithdrawalCmd {
    /// Show a withdrawal (GET /v1/withdrawals/{id}).
    Show {
        /// The withdrawal id (`voucher:<id>` for a redemption).
        id: String,
        /// The data directory.
        #[arg(long, value_name = "D")]
        datadir: PathBuf,
    },
}

/// `voucher ...`.
#[derive(Debug, Subcommand)]
pub enum VoucherCmd {
    /// Create a voucher; prints its code once (POST /v1/vouchers).
    Create {
        /// The data directory.
        #[arg(long, value_name = "D")]
        datadir: PathBuf,
        /// Amount in MONA.
        #[arg(long, value_name = "MONA")]
        amount: String,
        /// Voucher id (default: random).
        #[arg(long)]
        id: Option<String>,
    },
    /// Redeem a voucher to an address (POST /v1/vouchers/redeem; public route).
    Redeem {
        /// The data directory (finds the API address).
        #[arg(long, value_name = "D")]
        datadir: PathBuf,
        /// The code (or `--code-file`).
        #[arg(
            long,
            required_unless_present = "code_file",
            conflicts_with = "code_file"
        )]
        code: Option<String>,
        /// Read the code from this file (keeps it out of the process list).
        #[arg(long, value_name = "F")]
        code_file: Option<PathBuf>,
        /// Destination address.
        #[arg(long)]
        address: String,
    },
}

/// `address ...`.
#[derive(Debug, Subcommand)]
pub enum AddressCmd {
    /// A fresh hot deposit address (POST /v1/addresses).
    New(DirArgs),
}

/// `freeze` / `unfreeze`.
#[derive(Debug, Args)]
pub struct ReasonArgs {
    /// The data directory.
    #[arg(long, value_name = "D")]
    pub datadir: PathBuf,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: String,
}

/// `audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Verify the audit log's hash chain (local; works while the daemon runs).
    Verify(DirArgs),
}

/// `topup ...`.
#[derive(Debug, Subcommand)]
pub enum TopupCmd {
    /// Propose a top-up, or with `--withdrawal ID` get the cold-signed payment of a withdrawal
    /// above max_payout (POST /v1/topups); writes the unsigned PSBT to `--out DIR` and/or as
    /// QR frames to `--qr-out DIR`.
    Propose(crate::topup::ProposeArgs),
    /// Submit the cold-signed PSBT of the open proposal (POST /v1/topups/{id}/signed), from
    /// FILE or from QR codes (`--qr-in PATH`).
    Submit(crate::topup::SubmitArgs),
    /// List proposals, top-ups and cold withdrawals (GET /v1/topups).
    List(crate::topup::ListArgs),
    /// Cancel the open proposal ID, e.g. one treasury will not sign (POST
    /// /v1/topups/{id}/cancel); the reason is audited, the outbox files are removed.
    Cancel(crate::topup::CancelArgs),
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<(), CliError> {
    let json = cli.json;
    let network = cli.network;
    let format = cli.log_format;
    match cli.command {
        Command::Init(args) => {
            crate::logging::init(format, "warn");
            init(network, json, args)
        }
        Command::Run(args) => {
            crate::logging::init(format, "info");
            let datadir = match (&args.datadir, &args.config) {
                (Some(d), _) => d.clone(),
                (None, Some(c)) => c.parent().map(Path::to_path_buf).unwrap_or_default(),
                (None, None) => return Err(CliError::new(Exit::Usage, "run needs --datadir D")),
            };
            runtime()?.block_on(crate::run::run(
                crate::run::RunOptions {
                    datadir,
                    network,
                    passphrase_file: args.passphrase_file,
                },
                crate::run::shutdown_signal(),
            ))
        }
        Command::Qr(cmd) => {
            crate::logging::init(format, "warn");
            crate::qr::run(json, cmd)
        }
        Command::Export(args) => {
            crate::logging::init(format, "warn");
            crate::export::run(network, json, &args)
        }
        Command::Demo(args) => {
            crate::logging::init(format, "error");
            crate::demo::run(&args)
        }
        other => {
            crate::logging::init(format, "warn");
            runtime()?.block_on(operator(json, network, other))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            CliError::new(
                Exit::Failure,
                format!("cannot start the async runtime: {e}"),
            )
        })
}

fn init(network: Option<Network>, json: bool, a: InitArgs) -> Result<(), CliError> {
    let network = network.ok_or_else(|| {
        CliError::new(Exit::Usage, "init needs --network mainnet|testnet|regtest")
    })?;
    let kdf = KdfParams {
        m_cost_kib: a.kdf_m_cost_kib.unwrap_or(KdfParams::DEFAULT.m_cost_kib),
        t_cost: a.kdf_t_cost.unwrap_or(KdfParams::DEFAULT.t_cost),
        p_cost: KdfParams::DEFAULT.p_cost,
    };
    kdf.validate()
        .map_err(|e| CliError::new(Exit::BadInput, e))?;
    let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    let params = network.params();
    let cookie_file = match (&a.node_cookie, &a.node_user) {
        (Some(c), _) => Some(abs(c.clone())),
        (None, Some(_)) => None,
        (None, None) => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            let mut p = home.join(".monacoin");
            if !params.datadir_subdir.is_empty() {
                p = p.join(params.datadir_subdir);
            }
            Some(p.join(".cookie"))
        }
    };
    let node = NodeSection {
        url: a
            .node_url
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}/", params.default_rpc_port)),
        cookie_file,
        user: a.node_user.clone(),
        password_file: a.node_password_file.clone().map(abs),
        timeout_ms: mona_node::DEFAULT_TIMEOUT_MS,
    };
    // Refuse early, before prompting, when the directory is taken.
    if std::fs::read_dir(&a.datadir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(a.datadir.exists())
    {
        return Err(CliError::new(
            Exit::AlreadyExists,
            format!(
                "{} already exists and is not an empty directory; nothing was changed",
                a.datadir.display()
            ),
        ));
    }
    let passphrase = secret::passphrase(a.passphrase_file.as_deref(), true)
        .map_err(|e| CliError::new(Exit::BadInput, e))?;
    let report = datadir::init(InitOptions {
        network,
        datadir: a.datadir.clone(),
        cold_export: a.cold_export.clone(),
        passphrase,
        node,
        listen: a.listen,
        kdf,
    })
    .map_err(|e| {
        let exit = match &e {
            InitError::AlreadyExists(_) => Exit::AlreadyExists,
            InitError::ColdExport { .. } | InitError::Config(_) => Exit::BadInput,
            _ => Exit::Failure,
        };
        CliError::new(exit, e)
    })?;
    if json {
        print_json(&serde_json::to_value(&report).unwrap_or_default());
    } else {
        println!(
            "Created data directory {} (network {}):",
            report.datadir, report.network
        );
        for f in &report.files {
            println!("  {:<12} {}", f.role, f.path);
        }
        println!("hot seed fingerprint:  {}", report.hot_fingerprint);
        println!("hot receive descriptor: {}", report.hot_receive_descriptor);
        println!("cold wallet fingerprint: {}", report.cold_fingerprint);
        println!(
            "API will listen on {} (start it with: hot-node run --datadir {})",
            report.api_listen, report.datadir
        );
        println!(
            "Back up hot-seed.enc and its passphrase; the API token is in api.token (mode 0600)."
        );
    }
    Ok(())
}

/// Prints `v` as pretty JSON on stdout.
pub(crate) fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// The API client of data directory `dir` (checked against `--network` when given).
pub(crate) fn client(dir: &Path, network: Option<Network>) -> Result<ApiClient, CliError> {
    if let Some(net) = network {
        let cfg = crate::config::Config::load(&DataDir::new(dir).config())
            .map_err(|e| CliError::new(Exit::BadInput, e))?;
        if cfg.network != net {
            return Err(CliError::new(
                Exit::BadInput,
                format!(
                    "{} is a {} data directory, not {net}",
                    dir.display(),
                    cfg.network
                ),
            ));
        }
    }
    ApiClient::from_datadir(dir)
}

/// Prints a successful answer (JSON as is, or text by `text`).
fn show(json: bool, resp: &ApiResponse, text: impl FnOnce(&Value) -> String) {
    let v = resp.json();
    if json {
        print_json(&v);
    } else {
        println!("{}", text(&v));
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn engine_text(e: &Value) -> String {
    if !e["running"].as_bool().unwrap_or(false) {
        return "not running".into();
    }
    let mut t = format!(
        "synced to {} (node at {})",
        s(&e["synced_height"]),
        s(&e["node_height"])
    );
    if let Some(w) = e["awaiting_cold"].as_array().filter(|w| !w.is_empty()) {
        t.push_str(&format!(
            "; {} withdrawal(s) above max_payout await a cold-signed transaction",
            w.len()
        ));
    }
    if let Some(a) = e["last_alert"].as_str() {
        t.push_str(&format!("; last alert: {a}"));
    }
    if let Some(err) = e["last_error"].as_str() {
        t.push_str(&format!("; last error: {err}"));
    }
    t
}

fn withdrawal_text(v: &Value) -> String {
    format!(
        "withdrawal {}: {} MONA to {}, state {}{}{}",
        s(&v["id"]),
        s(&v["amount"]),
        s(&v["address"]),
        s(&v["state"]),
        v["txid"]
            .as_str()
            .map(|t| format!(", txid {t}"))
            .unwrap_or_default(),
        v["reject_reason"]
            .as_str()
            .map(|r| format!(", rejected: {r}"))
            .unwrap_or_default(),
    ) + &if v["awaiting_cold_signature"] == true {
        match v["proposal_id"].as_str() {
            Some(p) => format!(", awaits a cold signature (proposal {p})"),
            None => ", awaits a cold signature (no proposal yet)".to_owned(),
        }
    } else {
        String::new()
    }
}

async fn operator(json: bool, network: Option<Network>, cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Status(d) => {
            let c = client(&d.datadir, network)?;
            let r = c.call(Method::GET, "/v1/float", None).await?.ok()?;
            show(json, &r, |v| {
                format!(
                    "hot:     {} MONA confirmed, {} unconfirmed, {} reserved, {} dust\n\
                     cold:    {} MONA\n\
                     pending: {} MONA queued, {} in flight\n\
                     cap:     {} MONA effective (hot_cap {}, fraction {}); target {}, low {}\n\
                     float:   {}\n\
                     engine:  {}\n\
                     frozen:  {}{}",
                    s(&v["hot_confirmed"]),
                    s(&v["hot_unconfirmed"]),
                    s(&v["hot_reserved"]),
                    s(&v["hot_dust"]),
                    s(&v["cold_confirmed"]),
                    s(&v["pending_queued"]),
                    s(&v["pending_in_flight"]),
                    s(&v["effective_cap"]),
                    s(&v["hot_cap"]),
                    s(&v["hot_cap_fraction"]),
                    s(&v["hot_target"]),
                    s(&v["hot_low"]),
                    s(&v["position"]),
                    engine_text(&v["engine"]),
                    v["frozen"].as_bool().unwrap_or(false),
                    v["freeze_reason"]
                        .as_str()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default(),
                )
            });
            Ok(())
        }
        Command::Withdraw(w) => {
            let c = client(&w.datadir, network)?;
            let body = json!({ "id": w.id, "address": w.address, "amount": w.amount });
            let r = c
                .call(Method::POST, "/v1/withdrawals", Some(&body))
                .await?
                .ok()?;
            let replay = r.status == 200;
            show(json, &r, |v| {
                format!(
                    "{}{}",
                    withdrawal_text(v),
                    if replay { " (already requested)" } else { "" }
                )
            });
            Ok(())
        }
        Command::Withdrawal(WithdrawalCmd::Show { id, datadir }) => {
            let c = client(&datadir, network)?;
            let r = c
                .call(
                    Method::GET,
                    &format!("/v1/withdrawals/{}", path_segment(&id)?),
                    None,
                )
                .await?
                .ok()?;
            show(json, &r, withdrawal_text);
            Ok(())
        }
        Command::Voucher(VoucherCmd::Create {
            datadir,
            amount,
            id,
        }) => {
            let c = client(&datadir, network)?;
            let mut body = json!({ "amount": amount });
            if let Some(id) = id {
                body["id"] = Value::String(id);
            }
            let r = c
                .call(Method::POST, "/v1/vouchers", Some(&body))
                .await?
                .ok()?;
            show(json, &r, |v| {
                format!(
                    "voucher {} for {} MONA created.\ncode (shown only this once; only its hash is stored):\n{}",
                    s(&v["id"]),
                    s(&v["amount"]),
                    s(&v["code"])
                )
            });
            Ok(())
        }
        Command::Voucher(VoucherCmd::Redeem {
            datadir,
            code,
            code_file,
            address,
        }) => {
            let c = client(&datadir, network)?.without_token();
            let code = match (code, code_file) {
                (Some(c), _) => zeroize::Zeroizing::new(c),
                (None, Some(f)) => secret::read_secret_file(&f, "voucher code")
                    .map_err(|e| CliError::new(Exit::BadInput, e))?,
                (None, None) => {
                    return Err(CliError::new(Exit::Usage, "give --code or --code-file"))
                }
            };
            let body = json!({ "code": code.as_str(), "address": address });
            let r = c
                .call(Method::POST, "/v1/vouchers/redeem", Some(&body))
                .await?
                .ok()?;
            let replay = r.status == 200;
            show(json, &r, |v| {
                format!(
                    "{}{}",
                    withdrawal_text(v),
                    if replay {
                        " (already redeemed to this address)"
                    } else {
                        ""
                    }
                )
            });
            Ok(())
        }
        Command::Address(AddressCmd::New(d)) => {
            let c = client(&d.datadir, network)?;
            let r = c.call(Method::POST, "/v1/addresses", None).await?.ok()?;
            show(json, &r, |v| s(&v["address"]));
            Ok(())
        }
        Command::Freeze(a) => freeze_cmd(json, network, a, "/v1/freeze").await,
        Command::Unfreeze(a) => freeze_cmd(json, network, a, "/v1/unfreeze").await,
        Command::Audit(AuditCmd::Verify(d)) => audit_verify(json, network, &d.datadir).await,
        Command::Topup(TopupCmd::Propose(a)) => crate::topup::propose(json, network, a).await,
        Command::Topup(TopupCmd::Submit(a)) => crate::topup::submit(json, network, a).await,
        Command::Topup(TopupCmd::List(a)) => crate::topup::list(json, network, a).await,
        Command::Topup(TopupCmd::Cancel(a)) => crate::topup::cancel(json, network, a).await,
        Command::Init(_)
        | Command::Run(_)
        | Command::Export(_)
        | Command::Demo(_)
        | Command::Qr(_) => Err(CliError::new(Exit::Failure, "not an operator command")),
    }
}

async fn freeze_cmd(
    json: bool,
    network: Option<Network>,
    a: ReasonArgs,
    path: &str,
) -> Result<(), CliError> {
    let c = client(&a.datadir, network)?;
    let r = c
        .call(Method::POST, path, Some(&json!({ "reason": a.reason })))
        .await?
        .ok()?;
    show(json, &r, |v| {
        if v["frozen"].as_bool().unwrap_or(false) {
            format!("payouts are FROZEN ({})", s(&v["reason"]))
        } else {
            "payouts are running (not frozen)".to_owned()
        }
    });
    Ok(())
}

/// Refuses ids that would change the URL path (the API validates the id itself).
pub(crate) fn path_segment(id: &str) -> Result<&str, CliError> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
        || id == "."
        || id == ".."
    {
        return Err(CliError::new(
            Exit::BadInput,
            format!("invalid id {id:?}: use A-Z a-z 0-9 . _ -"),
        ));
    }
    Ok(id)
}

/// A PSBT file (binary, base64 or hex) as base64.
pub(crate) fn read_psbt_file(path: &Path) -> Result<String, CliError> {
    use base64::Engine as _;
    let bytes = std::fs::read(path).map_err(|e| {
        CliError::new(
            Exit::BadInput,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    if bytes.starts_with(b"psbt\xff") {
        return Ok(base64::engine::general_purpose::STANDARD.encode(&bytes));
    }
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    if let Ok(raw) = hex::decode(&text) {
        return Ok(base64::engine::general_purpose::STANDARD.encode(raw));
    }
    Ok(text)
}

async fn audit_verify(json: bool, network: Option<Network>, dir: &Path) -> Result<(), CliError> {
    use mona_ledger::Ledger;
    let dd = DataDir::new(dir);
    if let Some(net) = network {
        let cfg = crate::config::Config::load(&dd.config())
            .map_err(|e| CliError::new(Exit::BadInput, e))?;
        if cfg.network != net {
            return Err(CliError::new(
                Exit::BadInput,
                format!(
                    "{} is a {} data directory, not {net}",
                    dir.display(),
                    cfg.network
                ),
            ));
        }
    }
    let path = dd.ledger();
    if !path.exists() {
        return Err(CliError::new(
            Exit::NotFound,
            format!("no ledger at {}", path.display()),
        ));
    }
    let result = tokio::task::spawn_blocking(move || {
        let ledger = mona_ledger::SqliteLedger::open(&path)
            .map_err(|e| CliError::new(Exit::Failure, format!("cannot open the ledger: {e}")))?;
        Ok::<_, CliError>(ledger.verify_audit())
    })
    .await
    .map_err(|e| CliError::new(Exit::Failure, e))??;
    match result {
        Ok(report) => {
            let v = json!({ "ok": true, "rows": report.rows, "head_seq": report.head.seq, "head_hash": hex::encode(report.head.hash) });
            if json {
                print_json(&v);
            } else {
                println!(
                    "audit log intact: {} rows, head #{} {}",
                    report.rows,
                    report.head.seq,
                    hex::encode(report.head.hash)
                );
            }
            Ok(())
        }
        Err(e) => {
            if json {
                print_json(&json!({ "ok": false, "error": e.to_string() }));
            }
            Err(CliError::new(
                Exit::AuditBroken,
                format!("audit log broken: {e}"),
            ))
        }
    }
}
