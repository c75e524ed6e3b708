//! The verifier's whole AzureGuest appraisal of a request body, as the
//! service's `POST /attest/AzureGuest` runs it: parse, the SNP report and
//! its chain (AMD roots and the mock ARK), the HCL binding, the AK, quote,
//! certification, the event log replay, the policy, the signed and sealed
//! token.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tee_attest_azure::AzureSnpAppraiser;
use tee_attest_fuzz::{mock_ark_der, ISSUER};
use tee_attest_snp::SevSnpVmAppraiser;
use tee_attest_verifier::service::formats::{AzureGuest, RequestFormat};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

fn verifier() -> &'static LocalVerifier {
    static V: OnceLock<LocalVerifier> = OnceLock::new();
    V.get_or_init(|| {
        let roots = [mock_ark_der()];
        let cfg = LocalVerifierConfig::new(ISSUER)
            .with_appraiser(Arc::new(
                AzureSnpAppraiser::with_extra_roots(&roots).expect("AzureGuest appraiser"),
            ))
            .with_appraiser(Arc::new(
                SevSnpVmAppraiser::with_extra_roots(&roots).expect("SevSnpVm appraiser"),
            ));
        LocalVerifier::new(cfg, TokenSigner::generate().expect("signer")).expect("verifier")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = AzureGuest.handle(verifier(), data);
});
