//! `azure-snp-full`: one complete, consistent Azure SEV-SNP CVM evidence set
//! from real hardware, verified end to end — the HCL report and its SNP
//! report (VCEK alone; ASK/ARK from the built-in AMD roots), the binding,
//! and the TPM quote checked with the AK taken from the report's variable
//! data.

use tee_attest_azure::verify_hcl_snp;
use tee_attest_snp::{RootOrigin, SnpOptions, SnpVerifier, TrustAnchors};
use tee_attest_testkit::vector;
use tee_attest_tpm::verify::{verify_quote, Attest, Attested, RsaPublic};

#[test]
fn the_full_azure_evidence_verifies_including_its_quote() {
    let dir = "azure-snp-full";
    let hcl = vector(&format!("{dir}/hcl-report.bin"));
    let vcek = vector(&format!("{dir}/vcek.der"));
    let verified = verify_hcl_snp(
        &hcl,
        &SnpVerifier::new(TrustAnchors::amd()),
        &[vcek],
        &SnpOptions::default(),
    )
    .expect("the real HCL report verifies to the genuine AMD root");
    assert_eq!(verified.snp.root, RootOrigin::Amd);

    let ak = RsaPublic::new(&verified.ak_pub.n, &verified.ak_pub.e);
    let attest = vector(&format!("{dir}/quote-attest.bin"));
    let signature = vector(&format!("{dir}/quote-signature.bin"));
    let all = vector(&format!("{dir}/pcrs-sha256.bin"));
    let parsed = Attest::parse(&attest).unwrap();
    let Attested::Quote { selection, .. } = &parsed.attested else {
        panic!("not a quote")
    };
    let pcrs: Vec<(u32, Vec<u8>)> = selection[0]
        .pcrs
        .iter()
        .map(|&i| (i, all[i as usize * 32..(i as usize + 1) * 32].to_vec()))
        .collect();
    // The capture's nonce is whatever its qualifying data says; what matters is
    // that the AK the AMD-signed report vouches for signed this quote.
    let nonce = parsed.extra_data.clone();
    verify_quote(&attest, &signature, &ak, &nonce, &pcrs)
        .expect("the HCL's AK signed the real quote");

    // Another AK does not.
    let mut n = ak.n.clone();
    n[7] ^= 1;
    assert!(verify_quote(
        &attest,
        &signature,
        &RsaPublic::new(&n, &ak.e),
        &nonce,
        &pcrs
    )
    .is_err());
}
