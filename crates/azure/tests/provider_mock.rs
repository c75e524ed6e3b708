//! The real `AzureSnpProvider`, unchanged, against the mock Azure CVM
//! (swtpm behind the mock HCL, mock THIM on loopback); the evidence is then
//! checked by the same code that checks the real-hardware vectors.

use tee_attest_azure::provider::{AzureSnpConfig, AzureSnpProvider};
use tee_attest_azure::verify_hcl_snp;
use tee_attest_core::{CodedError, ErrorCode, EvidenceProvider, EvidenceRequest, RsaDecryptScheme};
use tee_attest_mock::MockAzureCvm;
use tee_attest_snp::collateral::HttpConfig;
use tee_attest_snp::{RootOrigin, SnpOptions, SnpVerifier, TrustAnchors};
use tee_attest_tpm::verify::{verify_certify, verify_quote, RsaPublic};

fn provider(cvm: &MockAzureCvm) -> AzureSnpProvider {
    let mut cfg = AzureSnpConfig::default();
    cfg.tcti = Some(cvm.tcti());
    cfg.imds_url = cvm.imds_url();
    cfg.event_log = "/nonexistent/binary_bios_measurements".into();
    cfg.http = HttpConfig::default();
    AzureSnpProvider::new(cfg).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_evidence_from_the_mock_cvm_verifies_end_to_end() {
    let cvm = MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    let p = provider(&cvm);
    assert_eq!(p.tee(), tee_attest_azure::AZURE_SNP);
    assert_eq!(p.evidence_type(), tee_attest_azure::AZURE_GUEST_SNP);
    let nonce = b"relying-party-nonce-42".to_vec();
    let e = p
        .evidence(&EvidenceRequest::with_nonce(nonce.clone()))
        .await
        .unwrap();
    assert_eq!(e.tee, tee_attest_azure::AZURE_SNP);
    assert_eq!(e.nonce, nonce);
    assert!(e.certificates.len() >= 2, "VCEK chain from THIM");

    // The HCL report and its SNP report: the mock root only when trusted.
    let hcl = e.hcl_report.as_deref().unwrap();
    let genuine = SnpVerifier::new(TrustAnchors::amd());
    let err = verify_hcl_snp(hcl, &genuine, &e.certificates, &SnpOptions::default()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::AttestationFailed, "{err}");
    let trusting = SnpVerifier::new(TrustAnchors::amd().with_extra_root(cvm.ark_der()).unwrap());
    let ok = verify_hcl_snp(hcl, &trusting, &e.certificates, &SnpOptions::default()).unwrap();
    assert_eq!(ok.snp.root, RootOrigin::Extra);

    // The AK in the variable data is the vTPM's; it signed the quote and certified the key.
    let ak = RsaPublic::new(&ok.ak_pub.n, &ok.ak_pub.e);
    assert_eq!(&ak, cvm.vtpm().ak());
    let tpm = e.tpm.as_ref().unwrap();
    verify_quote(&tpm.quote, &tpm.quote_signature, &ak, &nonce, &tpm.pcrs).unwrap();
    assert_eq!(tpm.pcrs.len(), 24);
    let key = verify_certify(
        &tpm.enc_key_certify_info,
        &tpm.enc_key_certify_signature,
        &ak,
        &tpm.enc_key_pub,
        &nonce,
    )
    .unwrap();

    // The decryptor is that key, inside the TPM.
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_gets_a_fresh_report_bound_to_its_nonce() {
    let cvm = MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    let p = provider(&cvm);
    let a = p
        .evidence(&EvidenceRequest::with_nonce(*b"first"))
        .await
        .unwrap();
    let b = p
        .evidence(&EvidenceRequest::with_nonce(*b"second"))
        .await
        .unwrap();
    assert_ne!(
        a.hardware_report, b.hardware_report,
        "the HCL refreshed the SNP report"
    );
    assert_ne!(a.runtime_data, b.runtime_data, "the user data changed");
    let user_data = |r: &EvidenceRequest| tee_attest_azure::provider::user_data_for(r);
    let vd = tee_attest_azure::VarData::from_bytes(&b.runtime_data).unwrap();
    assert_eq!(
        vd.user_data().unwrap(),
        user_data(&EvidenceRequest::with_nonce(*b"second")).to_vec()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_carry_their_codes() {
    let cvm = MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    // A nonce a quote cannot carry.
    let err = provider(&cvm)
        .evidence(&EvidenceRequest::with_nonce(vec![0; 65]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInputParameter);
    // No TPM there: code 12.
    let mut cfg = AzureSnpConfig::default();
    cfg.tcti = Some("swtpm:host=127.0.0.1,port=1".into());
    cfg.imds_url = cvm.imds_url();
    let err = AzureSnpProvider::new(cfg)
        .unwrap()
        .evidence(&EvidenceRequest::with_nonce(*b"n"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::TpmInternalFailure, "{err}");
    // THIM unreachable: code 7 (or 4 after retries), never a hang.
    let mut cfg = AzureSnpConfig::default();
    cfg.tcti = Some(cvm.tcti());
    cfg.imds_url = "http://127.0.0.1:1".into();
    cfg.http = HttpConfig::fast(
        std::time::Duration::from_secs(2),
        2,
        std::time::Duration::from_millis(10),
        std::time::Duration::from_millis(50),
    );
    let err = AzureSnpProvider::new(cfg)
        .unwrap()
        .evidence(&EvidenceRequest::with_nonce(*b"n"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.code(),
            ErrorCode::SendRequestFailed | ErrorCode::RequestExceededRetries
        ),
        "{err}"
    );
}
