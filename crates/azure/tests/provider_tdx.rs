//! The real `AzureTdxProvider` against a vTPM (swtpm provisioned as an
//! Azure vTPM: AK, HCL NV indices) holding a TDX HCL report, and a loopback
//! IMDS TD quote service.
//!
//! The mock vTPM's HCL emulation is SEV-SNP only (it rebuilds an SNP report
//! on each user-data write), so here the TDX HCL report is written to NV
//! `0x01400001` up front, for the user data the test's request will make
//! the provider write: the same bytes a refreshing HCL would produce. Its
//! TDREPORT is the real Azure one (`azure-tdx/hcl-report.bin`) with
//! REPORTDATA set to SHA-256(var data); the variable data carries the
//! vTPM's own AK. The quote IMDS returns is the real v4 vector quote made to
//! fit that TDREPORT (signatures are the verifier's business).

mod common;

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{imds, quote_for, Answer, Imds};
use serde_json::Value;
use tee_attest_azure::provider::{AzureTdxConfig, AzureTdxProvider, TDX_BACKEND};
use tee_attest_azure::{
    HashType, HclReport, Jwk, ReportType, VarData, AK_KID, AZURE_GUEST_TDX, AZURE_TDX,
};
use tee_attest_core::{
    ErrorCode, EvidenceProvider, EvidenceRequest, ProviderConfig, RsaDecryptScheme,
};
use tee_attest_maa::{build_request_body, parse_request_body, OsInfo};
use tee_attest_mock::MockVtpm;
use tee_attest_snp::collateral::HttpConfig;
use tee_attest_testkit::vector;
use tee_attest_tpm::handles::HCL_REPORT_NV_INDEX;
use tee_attest_tpm::verify::{verify_certify, verify_quote, RsaPublic};

/// The NV index size the mock vTPM defines for the HCL report.
const NV_SIZE: usize = 2048;

/// A TDX HCL report for `user_data`, with the vTPM's AK in its variable
/// data and the real Azure TDREPORT binding it.
fn tdx_hcl(ak: &RsaPublic, user_data: &[u8; 64]) -> Vec<u8> {
    let vm_config = serde_json::json!({"console-enabled": true, "secure-boot": true,
        "tpm-enabled": true, "vmUniqueId": "00000000-0000-0000-0000-000000000042"});
    let var = VarData::encode(
        &[Jwk::rsa(AK_KID, &["sign"], &ak.n, &ak.e)],
        Some(&vm_config),
        Some(user_data),
    );
    let mut td = vector("azure-tdx/hcl-report.bin")[32..32 + 1024].to_vec();
    let mut rd = [0u8; 64];
    rd[..32].copy_from_slice(digest::digest(&digest::SHA256, &var).as_ref());
    td[128..192].copy_from_slice(&rd);
    HclReport::new(ReportType::Tdx, HashType::Sha256, &td, var)
        .unwrap()
        .to_nv_bytes(NV_SIZE)
}

/// Writes the HCL report the provider will read.
fn install(vtpm: &MockVtpm, hcl: &[u8]) {
    vtpm.open()
        .unwrap()
        .nv_write(HCL_REPORT_NV_INDEX, hcl)
        .unwrap();
}

fn config(vtpm: &MockVtpm, imds_url: String) -> AzureTdxConfig {
    let mut cfg = AzureTdxConfig::default();
    cfg.tcti = Some(vtpm.tcti());
    cfg.imds_url = imds_url;
    cfg.event_log = "/nonexistent/binary_bios_measurements".into();
    cfg.http = HttpConfig::fast(
        std::time::Duration::from_secs(3),
        1,
        std::time::Duration::from_millis(10),
        std::time::Duration::from_millis(50),
    );
    cfg
}

/// The request a caller of MAA builds for AzureGuest/Tdx: the nonce in the
/// quote, the HCL user data SHA-512(nonce).
fn maa_request(nonce: &[u8]) -> EvidenceRequest {
    let c = tee_attest_maa::challenge(AZURE_GUEST_TDX, nonce, &BTreeMap::new()).unwrap();
    let mut r = EvidenceRequest::with_nonce(c.nonce.clone());
    r.report_data = Some(c.report_data);
    r.client_payload.insert("app".into(), "tdx-demo".into());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_tdx_evidence_from_a_vtpm_and_imds() {
    let vtpm = MockVtpm::start().expect("swtpm must be installed (cargo xtask deps)");
    let script = Imds::new(vec![], Answer::Quote);
    let p = AzureTdxProvider::new(config(&vtpm, imds(script.clone()).await)).unwrap();
    assert_eq!(p.tee(), AZURE_TDX);
    assert_eq!(p.tee().as_str(), "azure-tdx");
    assert_eq!(p.evidence_type(), AZURE_GUEST_TDX);
    let nonce = b"relying-party-nonce-tdx".to_vec();
    let req = maa_request(&nonce);
    let user_data = req.report_data.unwrap();
    let hcl = tdx_hcl(vtpm.ak(), &user_data);
    install(&vtpm, &hcl);

    let e = p.evidence(&req).await.unwrap();
    assert_eq!(e.tee, AZURE_TDX);
    assert_eq!(e.evidence_type, AZURE_GUEST_TDX);
    assert_eq!(e.hcl_report.as_deref(), Some(hcl.as_slice()));
    let parsed = HclReport::from_bytes(&hcl).unwrap();
    // RunTimeData: the variable data; Proof: the quote IMDS made for the TDREPORT.
    assert_eq!(e.runtime_data, parsed.var_data);
    assert_eq!(e.hardware_report, quote_for(parsed.tdreport().unwrap()));
    assert_eq!(
        script.reports.lock().unwrap().as_slice(),
        [parsed.tdreport().unwrap().to_vec()]
    );
    assert_eq!(e.certificates.len(), 3, "the PCK chain the quote carries");
    assert_eq!(e.nonce, nonce);
    assert_eq!(
        e.client_payload.get("app").map(String::as_str),
        Some("tdx-demo")
    );
    assert_eq!(e.event_log, None);

    // The vTPM half, as on SEV-SNP: the AK of the variable data signed the
    // quote over the nonce and certified the ephemeral key — the
    // decryptor's.
    let jwk = parsed.var_data().unwrap().ak_pub().unwrap();
    let ak = RsaPublic::new(&jwk.n, &jwk.e);
    assert_eq!(&ak, vtpm.ak());
    let tpm = e.tpm.as_ref().unwrap();
    verify_quote(&tpm.quote, &tpm.quote_signature, &ak, &nonce, &tpm.pcrs).unwrap();
    let key = verify_certify(
        &tpm.enc_key_certify_info,
        &tpm.enc_key_certify_signature,
        &ak,
        &tpm.enc_key_pub,
        &nonce,
    )
    .unwrap();
    let d = p.decryptor().expect("a vTPM has an ephemeral key");
    assert_eq!(RsaPublic::from_jwk(&d.public_jwk()).unwrap(), key.key);
    let pk = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&key.key.n),
        rsa::BigUint::from_bytes_be(&key.key.e),
    )
    .unwrap();
    let ct = pk
        .encrypt(
            &mut rand::thread_rng(),
            rsa::Oaep::new::<sha2::Sha256>(),
            b"secret",
        )
        .unwrap();
    assert_eq!(
        d.decrypt(RsaDecryptScheme::OaepSha256, &ct)
            .await
            .unwrap()
            .as_slice(),
        b"secret"
    );

    // The AzureGuest body: IsolationInfo {Type: Tdx, Evidence: {Proof:
    // b64(quote), RunTimeData: b64(var data)}}, and back.
    let os = OsInfo::new("Linux", "Ubuntu", 24, 4, "6.8.0-azure");
    let body = build_request_body(&e, &os).unwrap();
    let outer: Value = serde_json::from_str(&body).unwrap();
    let info: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(outer["AttestationInfo"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let iso = &info["IsolationInfo"];
    assert_eq!(iso["Type"], "Tdx");
    assert_eq!(
        iso["Evidence"]["Proof"],
        STANDARD.encode(&e.hardware_report)
    );
    assert_eq!(
        iso["Evidence"]["RunTimeData"],
        STANDARD.encode(&e.runtime_data)
    );
    assert_eq!(info["TpmInfo"]["PcrQuote"], STANDARD.encode(&tpm.quote));
    let (back, _) = parse_request_body(body.as_bytes()).unwrap();
    assert_eq!(back.tee, AZURE_TDX);
    assert_eq!(back.evidence_type, AZURE_GUEST_TDX);
    assert_eq!(back.hardware_report, e.hardware_report);
    assert_eq!(back.runtime_data, e.runtime_data);
    assert_eq!(back.tpm, e.tpm);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_carry_their_codes() {
    let vtpm = MockVtpm::start().expect("swtpm must be installed (cargo xtask deps)");
    let script = Imds::new(vec![], Answer::Quote);
    let base = imds(script.clone()).await;
    let p = AzureTdxProvider::new(config(&vtpm, base.clone())).unwrap();
    let req = maa_request(b"n-1");
    install(&vtpm, &tdx_hcl(vtpm.ak(), &req.report_data.unwrap()));

    // A report not refreshed for this request's user data: code 6, and
    // IMDS is not asked.
    let err = p.evidence(&maa_request(b"n-2")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::AttestationFailed, "{err}");
    assert!(err.message().contains("not refreshed"), "{err}");
    assert_eq!(script.hits(), 0);

    // IMDS answers 415: code 5, naming the media type.
    let script = Imds::new(vec![], Answer::Status(415, ""));
    let p = AzureTdxProvider::new(config(&vtpm, imds(script).await)).unwrap();
    let err = p.evidence(&req).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::RequestFailed, "{err}");
    assert!(err.message().contains("application/json"), "{err}");

    // IMDS answers a quote of another TD (the unpatched vector): code 6.
    let script = Imds::new(vec![], Answer::QuoteBytes(vector("tdx-dcap/quote.bin")));
    let p = AzureTdxProvider::new(config(&vtpm, imds(script).await)).unwrap();
    let err = p.evidence(&req).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::AttestationFailed, "{err}");
    assert!(err.message().contains("tdquote.report_data"), "{err}");

    // IMDS answers something that is not a quote: code 20.
    let script = Imds::new(vec![], Answer::QuoteBytes(b"not a quote".to_vec()));
    let p = AzureTdxProvider::new(config(&vtpm, imds(script).await)).unwrap();
    let err = p.evidence(&req).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ReportParsingFailed, "{err}");

    // IMDS unreachable: code 7.
    let p = AzureTdxProvider::new(config(&vtpm, "http://127.0.0.1:1".into())).unwrap();
    let err = p.evidence(&req).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SendRequestFailed, "{err}");

    // An SEV-SNP HCL report where TDX is expected: code 8.
    let snp = vector("azure-snp/hcl-report.bin");
    install(&vtpm, &snp);
    let err = AzureTdxProvider::new(config(&vtpm, base.clone()))
        .unwrap()
        .evidence(&req)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInputParameter, "{err}");
    assert!(err.message().contains("TDX (4)"), "{err}");

    // A nonce a quote cannot carry: code 8; no TPM: code 12.
    let err = p
        .evidence(&EvidenceRequest::with_nonce(vec![0; 65]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInputParameter);
    let mut cfg = config(&vtpm, base);
    cfg.tcti = Some("swtpm:host=127.0.0.1,port=1".into());
    let err = AzureTdxProvider::new(cfg)
        .unwrap()
        .evidence(&req)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::TpmInternalFailure, "{err}");
}

#[test]
fn the_backend_and_detection() {
    assert_eq!(TDX_BACKEND.id, AZURE_TDX);
    assert_eq!(TDX_BACKEND.evidence_type, AZURE_GUEST_TDX);
    let mut cfg = ProviderConfig::default();
    cfg.imds_url = Some("http://127.0.0.1:1".into());
    let p = (TDX_BACKEND.provider)(&cfg).unwrap();
    assert_eq!(p.tee(), AZURE_TDX);
    // An empty tree and no TPM: not an Azure TDX CVM.
    let tmp = tempfile::tempdir().unwrap();
    let ctx =
        tee_attest_core::DetectContext::new(tmp.path(), Some("swtpm:host=127.0.0.1,port=1".into()));
    assert_eq!((TDX_BACKEND.detect)(&ctx), None);
}

#[test]
fn detection_reads_the_hcl_report_type() {
    let vtpm = MockVtpm::start().expect("swtpm must be installed (cargo xtask deps)");
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tee_attest_core::DetectContext::new(tmp.path(), Some(vtpm.tcti()));
    install(&vtpm, &tdx_hcl(vtpm.ak(), &[7; 64]));
    assert_eq!(
        (TDX_BACKEND.detect)(&ctx),
        Some(serde_json::json!({"hcl_report": {"nv_index": "0x01400001", "type": "tdx"}}))
    );
    assert_eq!((tee_attest_azure::provider::BACKEND.detect)(&ctx), None);
    install(&vtpm, &vector("azure-snp/hcl-report.bin"));
    assert_eq!((TDX_BACKEND.detect)(&ctx), None);
    assert!((tee_attest_azure::provider::BACKEND.detect)(&ctx).is_some());
}
