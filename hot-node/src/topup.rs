//! `hot-node topup propose|submit|list|cancel`: carry a top-up (cold -> hot), or the payment of a
//! withdrawal above `max_payout` (`propose --withdrawal ID`), across the air gap.
//!
//! `propose` asks the daemon for an unsigned PSBT (`POST /v1/topups`; with `--withdrawal` it
//! returns the proposal the engine already opened for that withdrawal) and writes it to
//! `--out DIR` as `<id>.psbt` and/or to `--qr-out DIR` as animated `ur:crypto-psbt` frames;
//! `submit` reads the cold-signed PSBT from a file (binary, base64 or hex) or from QR codes
//! (`--qr-in PATH`) and hands it to the daemon (`POST /v1/topups/{id}/signed`), which accepts
//! it only if its unsigned transaction is the proposed one. `cancel` closes an open proposal
//! treasury will not sign (`POST /v1/topups/{id}/cancel`), so another can be opened.
//!
//! Invariant: nothing is requested from the daemon before every output location has been
//! checked free, and nothing is sent before the signed PSBT was read and decoded completely;
//! files and QR frames are created, never overwritten.

use std::path::PathBuf;

use base64::Engine as _;
use clap::Args;
use hyper::Method;
use mona::Network;
use mona_airgap::{Caps, Payload};
use serde_json::{json, Value};

use crate::cli::{client, path_segment, print_json, read_psbt_file};
use crate::datadir;
use crate::exit::{CliError, Exit};
use crate::qr::{ensure_qr_dir_free, read_psbt_qr, write_qr_out, QrArgs};

/// `topup propose`.
#[derive(Debug, Args)]
pub struct ProposeArgs {
    /// The data directory.
    #[arg(long, value_name = "D")]
    pub datadir: PathBuf,
    /// Amount in MONA (default: up to the policy's target).
    #[arg(long, value_name = "MONA", conflicts_with = "withdrawal")]
    pub amount: Option<String>,
    /// Instead of a top-up: the cold-signed payment of this withdrawal (above `max_payout`).
    #[arg(long, value_name = "ID")]
    pub withdrawal: Option<String>,
    /// Directory to write `<id>.psbt` into.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Directory to write the PSBT as QR frames into (frame-NNN.png, GIF, manifest).
    #[arg(long, value_name = "DIR")]
    pub qr_out: Option<PathBuf>,
    /// QR look.
    #[command(flatten)]
    pub qr: QrArgs,
}

/// `topup list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The data directory.
    #[arg(long, value_name = "D")]
    pub datadir: PathBuf,
}

/// `topup cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The data directory.
    #[arg(long, value_name = "D")]
    pub datadir: PathBuf,
    /// The open proposal's id.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: String,
}

/// `topup submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The data directory.
    #[arg(long, value_name = "D")]
    pub datadir: PathBuf,
    /// The proposal id (default: the one the signed transaction belongs to).
    #[arg(long)]
    pub id: Option<String>,
    /// The signed PSBT file (binary, base64 or hex).
    #[arg(
        value_name = "FILE",
        required_unless_present = "qr_in",
        conflicts_with = "qr_in"
    )]
    pub file: Option<PathBuf>,
    /// Read the signed PSBT from QR codes (an image, a directory of frames, or a GIF).
    #[arg(long, value_name = "PATH")]
    pub qr_in: Option<PathBuf>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Runs `topup propose`.
pub async fn propose(json: bool, network: Option<Network>, a: ProposeArgs) -> Result<(), CliError> {
    if let Some(dir) = &a.qr_out {
        ensure_qr_dir_free(dir)?;
    }
    if let Some(dir) = &a.out {
        if !dir.is_dir() {
            return Err(CliError::new(
                Exit::BadInput,
                format!("--out {} is not a directory", dir.display()),
            ));
        }
    }
    let c = client(&a.datadir, network)?;
    let body = match (&a.amount, &a.withdrawal) {
        (_, Some(w)) => json!({ "withdrawal_id": w }),
        (Some(amount), None) => json!({ "amount": amount }),
        (None, None) => json!({}),
    };
    let r = c
        .call(Method::POST, "/v1/topups", Some(&body))
        .await?
        .ok()?;
    let v = r.json();
    let psbt = base64::engine::general_purpose::STANDARD
        .decode(v["psbt"].as_str().unwrap_or_default())
        .map_err(|e| CliError::new(Exit::Failure, format!("the API sent a malformed PSBT: {e}")))?;
    let id = path_segment(v["id"].as_str().unwrap_or("topup"))?.to_owned();
    let mut written = Vec::new();
    if let Some(dir) = &a.out {
        let path = dir.join(format!("{id}.psbt"));
        datadir::write_new_private(&path, &psbt).map_err(|e| {
            CliError::new(
                Exit::Failure,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
        written.push(path.display().to_string());
    }
    let qr = write_qr_out(a.qr_out.as_deref(), &Payload::Psbt(psbt), &a.qr, json)?;
    if let (Some(out), Some(dir)) = (&qr, &a.qr_out) {
        written.push(format!(
            "{} ({} QR frames)",
            dir.display(),
            out.frames.len()
        ));
    }
    if json {
        let mut v = v;
        v["written"] = json!(written);
        print_json(&v);
    } else if v["purpose"] == "cold_withdrawal" {
        println!(
            "proposal {} pays withdrawal {} ({} MONA) from cold coins (unsigned txid {}); sign it on the cold signer",
            text(&v["id"]),
            text(&v["withdrawal_id"]),
            text(&v["amount"]),
            text(&v["unsigned_txid"])
        );
        for w in written {
            println!("  written: {w}");
        }
    } else {
        println!(
            "top-up {} for {} MONA proposed (unsigned txid {})",
            text(&v["id"]),
            text(&v["amount"]),
            text(&v["unsigned_txid"])
        );
        for w in written {
            println!("  written: {w}");
        }
    }
    Ok(())
}

/// The proposal id of a top-up transaction: the engine names proposals
/// `topup-<first 16 hex digits of the unsigned txid>`.
fn id_of(psbt: &[u8]) -> Result<String, CliError> {
    let p = bitcoin::psbt::Psbt::deserialize(psbt)
        .map_err(|e| CliError::new(Exit::BadInput, format!("not a PSBT: {e}")))?;
    let txid = p.unsigned_tx.compute_txid().to_string();
    Ok(format!("topup-{}", &txid[..16]))
}

/// Runs `topup submit`.
pub async fn submit(json: bool, network: Option<Network>, a: SubmitArgs) -> Result<(), CliError> {
    let psbt = match (&a.file, &a.qr_in) {
        (_, Some(path)) => read_psbt_qr(path, &Caps::default())?,
        (Some(file), None) => {
            let b64 = read_psbt_file(file)?;
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| {
                    CliError::new(
                        Exit::BadInput,
                        format!(
                            "{}: not a PSBT (binary, base64 or hex): {e}",
                            file.display()
                        ),
                    )
                })?
        }
        (None, None) => return Err(CliError::new(Exit::Usage, "give FILE or --qr-in PATH")),
    };
    let id = match a.id {
        Some(id) => id,
        None => id_of(&psbt)?,
    };
    let c = client(&a.datadir, network)?;
    let body = json!({ "psbt": base64::engine::general_purpose::STANDARD.encode(&psbt) });
    let r = c
        .call(
            Method::POST,
            &format!("/v1/topups/{}/signed", path_segment(&id)?),
            Some(&body),
        )
        .await?
        .ok()?;
    let v = r.json();
    if json {
        print_json(&v);
    } else {
        println!(
            "top-up {} submitted as payout {}",
            text(&v["id"]),
            text(&v["txid"])
        );
    }
    Ok(())
}

/// Runs `topup list`: every proposal (`GET /v1/topups`), oldest first.
pub async fn list(json: bool, network: Option<Network>, a: ListArgs) -> Result<(), CliError> {
    let c = client(&a.datadir, network)?;
    let r = c.call(Method::GET, "/v1/topups", None).await?.ok()?;
    let v = r.json();
    if json {
        print_json(&v);
        return Ok(());
    }
    let list = v["proposals"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no proposals");
    }
    for p in list {
        println!(
            "{}  {:<15} {:<9} {:>14} MONA  withdrawal {}  {}",
            text(&p["id"]),
            text(&p["purpose"]),
            text(&p["state"]),
            text(&p["amount"]),
            text(&p["withdrawal_id"]),
            text(&p["close_note"])
        );
    }
    Ok(())
}

/// Runs `topup cancel`: closes the open proposal `ID` as cancelled.
pub async fn cancel(json: bool, network: Option<Network>, a: CancelArgs) -> Result<(), CliError> {
    let id = path_segment(&a.id)?;
    let c = client(&a.datadir, network)?;
    let r = c
        .call(
            Method::POST,
            &format!("/v1/topups/{id}/cancel"),
            Some(&json!({ "reason": a.reason })),
        )
        .await?
        .ok()?;
    let v = r.json();
    if json {
        print_json(&v);
    } else {
        println!(
            "proposal {} ({}, {} MONA) cancelled: {}",
            text(&v["id"]),
            text(&v["purpose"]),
            text(&v["amount"]),
            text(&v["close_note"])
        );
    }
    Ok(())
}
