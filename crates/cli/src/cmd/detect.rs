//! `tee-attest detect`: what this machine offers, as JSON.
//!
//! Looks only at local devices, sysfs/configfs and the TPM: it never reaches
//! the network (no IMDS), so it is safe to run anywhere.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Value};
use tee_attest_core::Result;
use tee_attest_tpm::handles::HCL_REPORT_NV_INDEX;
use tee_attest_tpm::Tpm;

/// Options of `detect`.
#[derive(Args, Debug)]
pub struct DetectArgs {
    /// Look for devices and configfs under this root instead of `/` (for
    /// tests and chroots).
    #[arg(long, default_value = "/", hide = true)]
    root: PathBuf,
    /// TCTI of the TPM to inspect (default: $TEE_ATTEST_TCTI, then /dev/tpmrm0, /dev/tpm0).
    #[arg(long)]
    tcti: Option<String>,
}

/// The HCL report's type, from its header and IGVM request data
/// (`report_type` at byte 1224: 2 SNP, 3 TVM, 4 TDX).
pub fn hcl_report_type(blob: &[u8]) -> Option<&'static str> {
    if blob.get(0..4)? != b"HCLA" {
        return None;
    }
    let t = u32::from_le_bytes(blob.get(1224..1228)?.try_into().ok()?);
    Some(match t {
        2 => "snp",
        3 => "tvm",
        4 => "tdx",
        _ => "unknown",
    })
}

fn tpm_info(args: &DetectArgs) -> Value {
    let devices: Vec<String> = ["dev/tpmrm0", "dev/tpm0"]
        .iter()
        .map(|d| args.root.join(d))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    let tcti = args.tcti.clone().or_else(|| {
        std::env::var(tee_attest_tpm::TCTI_ENV)
            .ok()
            .filter(|t| !t.is_empty())
    });
    let opened = match &tcti {
        Some(t) => Tpm::open_tcti(t),
        None => match devices.first() {
            Some(d) => Tpm::open_tcti(&format!("device:{d}")),
            None => return json!({"devices": devices, "reachable": false, "hcl_report": null}),
        },
    };
    let mut tpm = match opened {
        Ok(t) => t,
        Err(e) => {
            return json!({"devices": devices, "tcti": tcti, "reachable": false,
                          "error": e.to_string(), "hcl_report": null})
        }
    };
    let hcl = match tpm.nv_size(HCL_REPORT_NV_INDEX) {
        Ok(Some(_)) => match tpm.nv_read(HCL_REPORT_NV_INDEX) {
            Ok(blob) => json!({"nv_index": "0x01400001", "type": hcl_report_type(&blob)}),
            Err(e) => json!({"nv_index": "0x01400001", "error": e.to_string()}),
        },
        _ => Value::Null,
    };
    json!({"devices": devices, "tcti": tpm.tcti(), "reachable": true, "hcl_report": hcl})
}

fn configfs_tsm(root: &Path) -> Value {
    let dir = root.join("sys/kernel/config/tsm/report");
    json!({"path": dir.display().to_string(), "present": dir.is_dir()})
}

/// What was found, and what to build with.
pub fn detect(args: &DetectArgs) -> Value {
    let tpm = tpm_info(args);
    let tdx_guest = args.root.join("dev/tdx_guest").exists();
    let sev_guest = args.root.join("dev/sev-guest").exists();
    let tsm = configfs_tsm(&args.root);
    let hcl_type = tpm["hcl_report"]["type"].as_str();
    let detected = match hcl_type {
        Some("snp") => Some("azure-snp"),
        Some("tdx") => Some("azure-tdx"),
        _ if tdx_guest => Some("tdx"),
        _ if sev_guest => Some("snp"),
        _ => None,
    };
    let mut features: Vec<&str> = detected.into_iter().collect();
    if features.is_empty() {
        // Nothing real here: the mock backend lets everything run.
        features.push("mock");
    }
    json!({
        "tee": detected,
        "tpm": tpm,
        "tdx_guest": tdx_guest,
        "sev_guest": sev_guest,
        "configfs_tsm": tsm,
        "recommended_features": features,
    })
}

/// The TEE detected on this machine, if any (for `--tee auto`).
pub fn detect_tee(tcti: Option<&str>) -> Option<tee_attest_core::TeeKind> {
    let args = DetectArgs {
        root: PathBuf::from("/"),
        tcti: tcti.map(str::to_string),
    };
    detect(&args)["tee"].as_str()?.parse().ok()
}

/// Run `detect`: print the JSON.
pub fn run(args: DetectArgs) -> Result<()> {
    let out = detect(&args);
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}
