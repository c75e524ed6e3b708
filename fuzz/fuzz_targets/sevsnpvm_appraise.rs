//! The verifier's whole SevSnpVm appraisal of a request body, as the
//! service's `POST /attest/SevSnpVm` runs it: parse, the SNP report and
//! its chain (AMD roots and the mock ARK), the runtime-data binding, the
//! nonce binding, the draft or configured policy, the signed (or unsecured,
//! for a draft policy) token.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tee_attest_azure::AzureSnpAppraiser;
use tee_attest_fuzz::{mock_ark_der, ISSUER};
use tee_attest_snp::SevSnpVmAppraiser;
use tee_attest_verifier::service::formats::{RequestFormat, SevSnpVm};
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
    let _ = SevSnpVm.handle(verifier(), data);
});
