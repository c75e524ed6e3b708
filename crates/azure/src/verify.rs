//! End-to-end appraisal of an Azure SEV-SNP HCL report.

use serde_json::{Map, Value};
use tee_attest_snp::{SnpOptions, SnpVerified, SnpVerifier};

use crate::error::AzureError;
use crate::hcl::HclReport;
use crate::vardata::{RsaPublicJwk, VarData};

/// A verified HCL report.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AzureSnpVerified {
    /// The HCL report.
    pub hcl: HclReport,
    /// Its variable data.
    pub var_data: VarData,
    /// The vTPM attestation key from the variable data.
    pub ak_pub: RsaPublicJwk,
    /// The verified SEV-SNP report.
    pub snp: SnpVerified,
}

impl AzureSnpVerified {
    /// The claims as MAA nests them under `x-ms-isolation-tee`:
    /// `x-ms-attestation-type` = `sevsnpvm`, `x-ms-runtime` = the variable
    /// data JSON, and the `x-ms-sevsnpvm-*` claims (plus this verifier's own
    /// `x-tee-attest-snp-*` ones).
    pub fn claims(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("x-ms-attestation-type".into(), "sevsnpvm".into());
        m.insert(
            "x-ms-runtime".into(),
            Value::Object(self.var_data.json().clone()),
        );
        m.extend(self.snp.claims());
        m
    }
}

/// Parses an HCL report, checks that its SNP report binds the variable data,
/// and verifies the SNP report with `certs` (DER certificates, CRLs, PEM or
/// THIM JSON items: VCEK, optionally ASK/ARK).
pub fn verify_hcl_snp(
    hcl_bytes: &[u8],
    verifier: &SnpVerifier,
    certs: &[Vec<u8>],
    opts: &SnpOptions,
) -> Result<AzureSnpVerified, AzureError> {
    let hcl = HclReport::from_bytes(hcl_bytes)?;
    let report = hcl.snp_report()?;
    hcl.check_binding()?;
    let var_data = hcl.var_data()?;
    let ak_pub = var_data.ak_pub()?;
    let _ = report;
    let snp = verifier.verify(&hcl.hw_report, certs, opts)?;
    Ok(AzureSnpVerified {
        hcl,
        var_data,
        ak_pub,
        snp,
    })
}
