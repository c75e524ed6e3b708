//! [`SevSnpVmAppraiser`]: a bare SEV-SNP report with its runtime data, as
//! MAA's `SevSnpVm` attestation takes it.
//!
//! | check | what |
//! |---|---|
//! | `report-signature`, the chain checks, `tcb`, … | the report and its VCEK/VLEK chain ([`SnpVerifier`]) |
//! | `runtime-data.binding` | report_data begins with SHA-256(runtime data) |
//! | `runtime-data.json` | runtime data said to be JSON is a JSON object |
//! | `nonce.binding` | a nonce to echo must be in the JSON runtime data (member `nonce`, any case) |
//! | `nonce` | the evidence's nonce is the one the caller expects |
//!
//! MAA echoes the request's nonce without binding it; here it is echoed
//! only when the evidence binds it, so that a replayed report cannot come
//! back with a fresh nonce of its sender's choice.

use serde_json::{json, Map, Value};
use tee_attest_core::{Appraisal, Appraiser, Error, Evidence, EvidenceType, MOCK_EVIDENCE_CLAIM};

use crate::{Check, RootOrigin, SnpError, SnpOptions, SnpVerifier, TrustAnchors};

/// MAA's `SevSnpVm` evidence: a bare SEV-SNP report, its chain, runtime data.
pub const SEV_SNP_VM: EvidenceType = EvidenceType::new("SevSnpVm", None);

fn refuse(check: Check, detail: impl Into<String>) -> Error {
    SnpError::Verify {
        check,
        detail: detail.into(),
    }
    .into()
}

/// Whether JSON `data` is an object with a member named `nonce` (any case)
/// whose string value is `nonce`.
fn json_nonce_matches(data: &[u8], nonce: &[u8]) -> bool {
    serde_json::from_slice::<Map<String, Value>>(data).is_ok_and(|m| {
        m.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("nonce") && v.as_str().map(str::as_bytes) == Some(nonce)
        })
    })
}

/// The appraiser of `SevSnpVm` evidence, with its own trust anchors.
#[derive(Debug)]
pub struct SevSnpVmAppraiser {
    snp: SnpVerifier,
    options: SnpOptions,
}

impl SevSnpVmAppraiser {
    /// An appraiser trusting `anchors`, verifying with `options`.
    pub fn new(anchors: TrustAnchors, options: SnpOptions) -> Self {
        Self {
            snp: SnpVerifier::new(anchors),
            options,
        }
    }

    /// An appraiser trusting AMD's roots and these extra roots (ARK, DER):
    /// the mock roots, only when asked for explicitly.
    pub fn with_extra_roots(extra_roots: &[Vec<u8>]) -> Result<Self, Error> {
        Ok(Self::new(
            TrustAnchors::amd_and(extra_roots)?,
            SnpOptions::default(),
        ))
    }
}

impl Appraiser for SevSnpVmAppraiser {
    fn evidence_type(&self) -> EvidenceType {
        SEV_SNP_VM
    }

    /// `snp-chain`: the VCEK/VLEK chains validated already.
    fn caches(&self) -> Vec<(&'static str, std::sync::Arc<tee_attest_core::CacheCounters>)> {
        vec![("snp-chain", self.snp.cache_counters())]
    }

    /// `evidence`: the report (`hardware_report`), its chain
    /// (`certificates`: VCEK first; ASK/ARK from the trust anchors when
    /// missing), the runtime data, and in `nonce` the nonce to echo.
    fn appraise(
        &self,
        evidence: &Evidence,
        expected_nonce: Option<&[u8]>,
    ) -> Result<Appraisal, Error> {
        if evidence.evidence_type != SEV_SNP_VM {
            return Err(SnpError::Certificate {
                what: "evidence".into(),
                reason: format!("{} evidence is not SevSnpVm", evidence.evidence_type),
            }
            .into());
        }
        if let Some(n) = expected_nonce {
            if n != evidence.nonce.as_slice() {
                return Err(refuse(
                    Check::Nonce,
                    "the evidence binds another nonce than the one expected",
                ));
            }
        }
        let verified = self.snp.verify(
            &evidence.hardware_report,
            &evidence.certificates,
            &self.options,
        )?;
        let mut claims = Map::new();
        claims.insert("x-ms-attestation-type".into(), json!("sevsnpvm"));
        claims.extend(verified.maa_claims());
        let data = evidence.runtime_data.as_slice();
        if !data.is_empty() {
            let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
            if verified.report.report_data.get(..32) != Some(hash.as_ref()) {
                return Err(refuse(
                    Check::RuntimeDataBinding,
                    "report_data does not begin with the SHA-256 of the runtime data",
                ));
            }
            if evidence.runtime_data_json {
                let v: Map<String, Value> = serde_json::from_slice(data).map_err(|e| {
                    refuse(
                        Check::RuntimeDataJson,
                        format!("runtime data of type JSON is not a JSON object: {e}"),
                    )
                })?;
                claims.insert("x-ms-runtime".into(), Value::Object(v));
            }
        }
        if !evidence.nonce.is_empty() {
            let bound = evidence.runtime_data_json && json_nonce_matches(data, &evidence.nonce);
            if !bound {
                return Err(refuse(
                    Check::NonceBinding,
                    "the request's nonce is not bound by the evidence: put it in the runtime \
                     data (JSON, member `nonce`), whose SHA-256 the report carries",
                ));
            }
            claims.insert(
                "nonce".into(),
                json!(String::from_utf8_lossy(&evidence.nonce)),
            );
        }
        let mock = verified.root != RootOrigin::Amd;
        if mock {
            claims.insert(MOCK_EVIDENCE_CLAIM.into(), json!(true));
        }
        Ok(Appraisal::new(claims, mock))
    }
}
