//! `tee-attest detect`: what this machine offers, as JSON — from the
//! backend registry: every backend compiled in says whether this machine
//! is its TEE.
//!
//! Looks only at local devices, sysfs/configfs and the TPM: it never reaches
//! the network (no IMDS), so it is safe to run anywhere.

use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};
use tee_attest::registry;
use tee_attest::DetectContext;
use tee_attest_core::Result;

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

/// What was found, and what to build with.
pub fn detect(args: &DetectArgs) -> Value {
    let ctx = DetectContext::new(&args.root, args.tcti.clone());
    let found = registry::detect(&ctx);
    let detected: Vec<Value> = found
        .iter()
        .map(|(b, details)| {
            json!({
                "id": b.id,
                "description": b.description,
                "evidence_type": b.evidence_type.to_string(),
                "details": details,
            })
        })
        .collect();
    let tee = found.first().map(|(b, _)| b.id.as_str());
    let mut features: Vec<&str> = found
        .iter()
        .filter_map(|(b, _)| registry::feature_for(b.id.as_str()))
        .collect();
    if features.is_empty() {
        // Nothing real here: the mock backend lets everything run.
        features.push("mock");
    }
    json!({
        "tee": tee,
        "detected": detected,
        "compiled_in": registry::backend_ids(),
        "recommended_features": features,
    })
}

/// Run `detect`: print the JSON.
pub fn run(args: DetectArgs) -> Result<()> {
    let out = detect(&args);
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}
