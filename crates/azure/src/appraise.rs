//! [`AzureSnpAppraiser`] and [`AzureTdxAppraiser`]: appraisal of Azure
//! SEV-SNP and TDX CVM (AzureGuest) evidence into the claims MAA issues.
//! Every check has a name that a refusal carries:
//!
//! | check | what |
//! |---|---|
//! | `snp.*` | the SNP report's signature, chain, TCB (the snp crate) |
//! | `quote.*`, `pck.*`, `tcb-info.*`, `qe-identity.*`, … | the TD quote with Intel's DCAP rules (the tdx crate) |
//! | `hcl.binding` | the report's (TD quote's) report_data begins with the hash of the HCL variable data |
//! | `hcl.ak` | the variable data carries the AK (`HCLAkPub`) |
//! | `ak.match` | the TPM's AK public area is that key |
//! | `quote.*` | the quote: signature by the AK, nonce, PCR selection and digest |
//! | `certify.*` | the ephemeral key certified by the AK, with the same nonce |
//! | `nonce` | the evidence's nonce is the one the caller expects |
//! | `nonce.binding` | the nonce the quote binds is the client payload's (or its SHA-256) |
//! | `tcg.parse`, `tcg.replay` | the event log parses and replays to the quoted PCRs |
//! | `tcg.event-digest` | the SecureBoot event's data hashes to its measured digest (it becomes the `secureboot` claim) |

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use tee_attest_core::{Appraisal, Appraiser, Error, Evidence, EvidenceType, MOCK_EVIDENCE_CLAIM};
use tee_attest_snp::{RootOrigin, SnpOptions, SnpVerified, SnpVerifier, TrustAnchors};
use tee_attest_tpm::eventlog::EventLog;
use tee_attest_tpm::verify::{attributes, verify_certify, verify_quote, RsaPublic, TpmPublic};

use std::sync::Arc;

use tee_attest_tdx::{DcapAppraiser, DcapTrust};

use crate::{AzureError, VarData, AZURE_GUEST_SNP, AZURE_GUEST_TDX};

fn check(name: &'static str, detail: impl Into<String>) -> Error {
    AzureError::check(name, detail).into()
}

/// The appraiser of Azure SEV-SNP CVM evidence (`AzureGuest` with
/// `SevSnp` isolation), with its own trust anchors: AMD's roots, and extra
/// (mock) roots only when configured.
#[derive(Debug)]
pub struct AzureSnpAppraiser {
    snp: SnpVerifier,
    options: SnpOptions,
}

impl AzureSnpAppraiser {
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

impl Appraiser for AzureSnpAppraiser {
    fn evidence_type(&self) -> EvidenceType {
        AZURE_GUEST_SNP
    }

    /// `snp-chain`: the VCEK chains validated already.
    fn caches(&self) -> Vec<(&'static str, Arc<tee_attest_core::CacheCounters>)> {
        vec![("snp-chain", self.snp.cache_counters())]
    }

    fn appraise(
        &self,
        evidence: &Evidence,
        expected_nonce: Option<&[u8]>,
    ) -> Result<Appraisal, Error> {
        appraise_azure_snp(&self.snp, &self.options, evidence, expected_nonce)
    }
}

/// The appraiser of Azure TDX CVM evidence (`AzureGuest` with `Tdx`
/// isolation): the TD quote verified with Intel's DCAP rules (the
/// [`DcapTrust`] it shares with the `TdxVm` appraiser: Intel's root, extra
/// (mock) roots only when configured, the collateral sources), its report
/// data binding the HCL variable data, then the vTPM as for SEV-SNP.
///
/// `azure-compliant-cvm` here means: the quote chains to Intel's genuine
/// root, the TD is not debuggable, and the HCL's VM configuration says
/// secure boot and the vTPM are on. On Azure, MRTD and the RTMRs measure
/// the paravisor, not the guest: the guest's boot is in the vTPM's PCRs.
#[derive(Debug, Clone)]
pub struct AzureTdxAppraiser {
    dcap: DcapAppraiser,
}

impl AzureTdxAppraiser {
    /// An appraiser verifying TD quotes with `trust`.
    pub fn new(trust: Arc<DcapTrust>) -> Self {
        Self {
            dcap: DcapAppraiser::tdx_vm(trust),
        }
    }
}

impl Appraiser for AzureTdxAppraiser {
    fn evidence_type(&self) -> EvidenceType {
        AZURE_GUEST_TDX
    }

    /// `dcap-collateral`, shared with the `TdxVm` appraiser.
    fn caches(&self) -> Vec<(&'static str, Arc<tee_attest_core::CacheCounters>)> {
        self.dcap.caches()
    }

    fn appraise(
        &self,
        evidence: &Evidence,
        expected_nonce: Option<&[u8]>,
    ) -> Result<Appraisal, Error> {
        if evidence.evidence_type != AZURE_GUEST_TDX {
            return Err(AzureError::ReportType {
                found: evidence.evidence_type.to_string(),
                expected: "AzureGuest/Tdx",
            }
            .into());
        }
        check_nonces(evidence, expected_nonce)?;
        let q = self.dcap.verify_quote(&evidence.hardware_report)?;
        let hw = Hardware {
            report_data: q.report_data.to_vec(),
            attestation_type: "tdxvm",
            compliant: !q.mock && !q.debug,
            mock: q.mock,
            claims: q.claims,
        };
        appraise_vtpm(evidence, hw)
    }
}

/// The hash the HCL bound into report_data: SHA-256, -384 or -512 of the
/// variable data (the IGVM header that names it is not part of AzureGuest
/// evidence, so each is tried).
fn binding_holds(report_data: &[u8], var_data: &[u8]) -> bool {
    use aws_lc_rs::digest::{digest, SHA256, SHA384, SHA512};
    [&SHA256, &SHA384, &SHA512].iter().any(|alg| {
        let d = digest(alg, var_data);
        report_data.get(..d.as_ref().len()) == Some(d.as_ref())
    })
}

/// `azure-compliant-cvm` here means, and is documented as: the report
/// chains to a genuine AMD root (never a mock one), the guest is not
/// debuggable, the report comes from VMPL 0 (the HCL), and the HCL's VM
/// configuration says secure boot and the vTPM are on.
pub fn compliant(snp: &SnpVerified, vm_config: Option<&Value>) -> bool {
    compliant_claims(snp.root, &snp.maa_claims(), vm_config)
}

/// [`compliant`] on the SNP claims already computed (the appraisal
/// computes them once).
fn compliant_claims(
    root: RootOrigin,
    claims: &Map<String, Value>,
    vm_config: Option<&Value>,
) -> bool {
    let flag = |k: &str| vm_config.and_then(|c| c.get(k)).and_then(Value::as_bool) == Some(true);
    root == RootOrigin::Amd
        && claims.get("x-ms-sevsnpvm-is-debuggable") == Some(&Value::Bool(false))
        && claims.get("x-ms-sevsnpvm-vmpl") == Some(&json!(0))
        && flag("secure-boot")
        && flag("tpm-enabled")
}

/// What the hardware part of AzureGuest evidence established: its report
/// data, the claims for `x-ms-isolation-tee`, and whether it is compliant
/// as far as the hardware can tell (a genuine root, not debuggable, …).
struct Hardware {
    report_data: Vec<u8>,
    attestation_type: &'static str,
    claims: Map<String, Value>,
    compliant: bool,
    mock: bool,
}

/// The nonce checks every AzureGuest appraisal starts with: the evidence's
/// nonce is the one expected, and the one its client payload names.
fn check_nonces(evidence: &Evidence, expected_nonce: Option<&[u8]>) -> Result<(), Error> {
    if let Some(n) = expected_nonce {
        if n != evidence.nonce.as_slice() {
            return Err(check(
                "nonce",
                "the evidence binds another nonce than the one expected",
            ));
        }
    }
    let nonce = evidence.nonce.as_slice();
    let payload_nonce = evidence
        .client_payload
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("nonce"))
        .map(|(_, v)| v.as_bytes());
    if let Some(pn) = payload_nonce {
        let hashed = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pn);
        if !nonce.is_empty() && nonce != pn && nonce != hashed.as_ref() {
            return Err(check(
                "nonce.binding",
                "the quote binds another nonce than the client payload's",
            ));
        }
    }
    Ok(())
}

/// Appraise AzureGuest evidence of an Azure SEV-SNP CVM.
///
/// `expected_nonce`: the nonce the caller requires; the evidence's own
/// nonce must equal it, and the quote and the certification must bind it.
pub fn appraise_azure_snp(
    snp: &SnpVerifier,
    snp_opts: &SnpOptions,
    evidence: &Evidence,
    expected_nonce: Option<&[u8]>,
) -> Result<Appraisal, Error> {
    if evidence.evidence_type != AZURE_GUEST_SNP {
        return Err(AzureError::ReportType {
            found: evidence.evidence_type.to_string(),
            expected: "AzureGuest/SevSnp",
        }
        .into());
    }
    check_nonces(evidence, expected_nonce)?;
    // The hardware root: the SNP report and its chain.
    let verified = snp.verify(&evidence.hardware_report, &evidence.certificates, snp_opts)?;
    let claims = verified.maa_claims();
    let compliant = verified.root == RootOrigin::Amd
        && claims.get("x-ms-sevsnpvm-is-debuggable") == Some(&Value::Bool(false))
        && claims.get("x-ms-sevsnpvm-vmpl") == Some(&json!(0));
    let hw = Hardware {
        report_data: verified.report.report_data.to_vec(),
        attestation_type: "sevsnpvm",
        claims,
        compliant,
        mock: verified.root != RootOrigin::Amd,
    };
    appraise_vtpm(evidence, hw)
}

/// The vTPM half of an AzureGuest appraisal, after the hardware's: the
/// variable data bound by the report data, the AK it vouches for, the TPM
/// quote and the certified ephemeral key, the event log; then the claims.
fn appraise_vtpm(evidence: &Evidence, hw: Hardware) -> Result<Appraisal, Error> {
    let nonce = evidence.nonce.as_slice();
    if !binding_holds(&hw.report_data, &evidence.runtime_data) {
        return Err(check(
            "hcl.binding",
            "report_data is not the hash of the HCL variable data",
        ));
    }
    let var_data = VarData::from_bytes(&evidence.runtime_data)?;
    let ak_jwk = var_data.ak_pub().map_err(|e| {
        check(
            "hcl.ak",
            format!("no usable HCLAkPub in the variable data: {e}"),
        )
    })?;
    let ak = RsaPublic::new(&ak_jwk.n, &ak_jwk.e);

    // The vTPM: AK, quote, ephemeral key.
    let tpm = evidence
        .tpm
        .as_ref()
        .ok_or_else(|| check("tpm.present", "AzureGuest evidence needs the vTPM part"))?;
    let ak_public = TpmPublic::parse_tpm2b(&tpm.ak_pub)?;
    if ak_public.key != ak {
        return Err(check(
            "ak.match",
            "the TPM's AK is not the key the HCL report vouches for",
        ));
    }
    let quote = verify_quote(&tpm.quote, &tpm.quote_signature, &ak, nonce, &tpm.pcrs)?;
    let enc_key = verify_certify(
        &tpm.enc_key_certify_info,
        &tpm.enc_key_certify_signature,
        &ak,
        &tpm.enc_key_pub,
        nonce,
    )?;
    if !enc_key.has(attributes::DECRYPT | attributes::FIXED_TPM | attributes::FIXED_PARENT)
        || enc_key.has(attributes::SIGN)
    {
        return Err(check(
            "certify.attributes",
            "the certified key is not a fixed, TPM-resident decryption key",
        ));
    }

    // The measured boot: replayed against the quoted PCRs.
    let mut secure_boot = None;
    if let Some(log) = &evidence.event_log {
        let log = EventLog::parse(log).map_err(|e| check("tcg.parse", e.to_string()))?;
        let replayed = log
            .replay_sha256()
            .map_err(|e| check("tcg.parse", e.to_string()))?;
        for (pcr, value) in &tpm.pcrs {
            if let Some(r) = replayed.get(pcr) {
                if r.as_slice() != value.as_slice() {
                    return Err(check(
                        "tcg.replay",
                        format!("the event log does not replay to quoted PCR {pcr}"),
                    ));
                }
            }
        }
        if let Some(pcr) = replayed.keys().find(|p| !quote.pcrs.contains(p)) {
            return Err(check(
                "tcg.replay",
                format!("the event log measures PCR {pcr}, which the quote does not cover"),
            ));
        }
        secure_boot = log
            .secure_boot()
            .map_err(|e| check("tcg.event-digest", e.to_string()))?;
    }

    let vm_config = var_data.vm_configuration().cloned();
    let flag = |k: &str| {
        vm_config
            .as_ref()
            .and_then(|c| c.get(k))
            .and_then(Value::as_bool)
            == Some(true)
    };
    let compliant = hw.compliant && flag("secure-boot") && flag("tpm-enabled");
    let mock = hw.mock;

    let mut tee = Map::new();
    tee.insert("x-ms-attestation-type".into(), json!(hw.attestation_type));
    if compliant {
        tee.insert(
            "x-ms-compliance-status".into(),
            json!("azure-compliant-cvm"),
        );
    }
    let mut hcl_ak = ak.to_jwk();
    if let Some(o) = hcl_ak.as_object_mut() {
        o.insert("kid".into(), json!("HCLAkPub"));
        o.insert("key_ops".into(), json!(["sign"]));
    }
    let mut runtime = Map::new();
    runtime.insert("keys".into(), json!([hcl_ak]));
    if let Some(c) = &vm_config {
        runtime.insert("vm-configuration".into(), c.clone());
    }
    tee.insert("x-ms-runtime".into(), Value::Object(runtime));
    tee.extend(hw.claims);

    let mut claims = Map::new();
    if let Some(sb) = secure_boot {
        claims.insert("secureboot".into(), json!(sb));
    }
    claims.insert("x-ms-attestation-type".into(), json!("azurevm"));
    claims.insert("x-ms-azurevm-attestation-protocol-ver".into(), json!("2.0"));
    claims.insert("x-ms-azurevm-attested-pcrs".into(), json!(quote.pcrs));
    if let Some(id) = vm_config
        .as_ref()
        .and_then(|c| c.get("vmUniqueId"))
        .and_then(Value::as_str)
    {
        claims.insert("x-ms-azurevm-vmid".into(), json!(id));
    }
    claims.insert("x-ms-isolation-tee".into(), Value::Object(tee));

    let mut enc = enc_key.key.to_jwk();
    if let Some(o) = enc.as_object_mut() {
        o.insert("kid".into(), json!(tee_attest_core::EPHEMERAL_KEY_KID));
        o.insert("key_ops".into(), json!(["encrypt"]));
    }
    let mut rt = Map::new();
    if !evidence.client_payload.is_empty() {
        // As MAA does: each value base64 encoded, keys lower-cased.
        let payload: Map<String, Value> = evidence
            .client_payload
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), json!(STANDARD.encode(v))))
            .collect();
        rt.insert("client-payload".into(), Value::Object(payload));
    }
    rt.insert("keys".into(), json!([enc]));
    claims.insert("x-ms-runtime".into(), Value::Object(rt));
    if let Some(n) = evidence
        .client_payload
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("nonce"))
    {
        claims.insert("nonce".into(), json!(n.1));
    } else if !nonce.is_empty() {
        claims.insert("nonce".into(), json!(URL_SAFE_NO_PAD.encode(nonce)));
    }
    if mock {
        claims.insert(MOCK_EVIDENCE_CLAIM.into(), json!(true));
    }
    Ok(Appraisal::new(claims, mock))
}
