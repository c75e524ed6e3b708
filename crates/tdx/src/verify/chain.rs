//! The PCK chain (step 4) and revocation (step 5): certificate windows,
//! Intel's kinds of certificate, the root CA and PCK CRLs.

use super::*;

impl DcapVerifier {
    pub(super) fn cert_window(c: &IntelCert, at: u64, what: &str) -> Result<(), TdxError> {
        match c.validity_at(at) {
            Ok(()) => Ok(()),
            Err(false) => Err(fail(
                Check::CertNotYetValid,
                format!(
                    "{what} ({}) is not valid before {}",
                    c.subject_cn(),
                    c.not_before()
                ),
            )),
            Err(true) => Err(fail(
                Check::CertExpired,
                format!("{what} ({}) expired at {}", c.subject_cn(), c.not_after()),
            )),
        }
    }

    /// The PCK chain: leaf, PCK CA, root, checked.
    pub(super) fn pck_chain(
        &self,
        q: &Quote,
        collateral_chain: Option<&Vec<IntelCert>>,
        known_ca: Option<&IntelCert>,
        at: u64,
    ) -> Result<(IntelCert, IntelCert), TdxError> {
        let chain = match (q.pck_chain_pem(), collateral_chain) {
            (Some(pem), _) => parse_pem_chain(pem, "PCK chain")?,
            (None, Some(c)) => c.clone(),
            (None, None) => {
                return Err(fail(
                    Check::CertificationDataType,
                    "the quote carries no PCK certificate chain and the collateral has none",
                ))
            }
        };
        let [leaf, ca, root] = <[IntelCert; 3]>::try_from(chain).map_err(|c| {
            fail(
                Check::PckChain,
                format!("the PCK chain has {} certificates, expected 3", c.len()),
            )
        })?;
        if !root.subject_cn().contains("SGX Root CA")
            || !ca.subject_cn().contains("CA")
            || !leaf.subject_cn().contains("SGX PCK Certificate")
        {
            return Err(fail(
                Check::PckChain,
                format!(
                    "not a PCK chain: {} / {} / {}",
                    leaf.subject_cn(),
                    ca.subject_cn(),
                    root.subject_cn()
                ),
            ));
        }
        if root.der() != self.root.der() {
            return Err(fail(
                Check::UntrustedRoot,
                "the PCK chain does not end in the trusted root",
            ));
        }
        let ca_known = known_ca.is_some_and(|k| k.der() == ca.der());
        if !ca_known {
            ca.verify_signed_by(&self.root)
                .map_err(|e| fail(Check::CertSignature, e))?;
        }
        leaf.verify_signed_by(&ca)
            .map_err(|e| fail(Check::CertSignature, e))?;
        Self::cert_window(&self.root, at, "the root CA")?;
        Self::cert_window(&ca, at, "the PCK CA")?;
        Self::cert_window(&leaf, at, "the PCK certificate")?;
        if leaf.sgx_extensions().is_none() {
            return Err(fail(
                Check::PckExtensions,
                "the PCK certificate has no SGX extensions",
            ));
        }
        Ok((leaf, ca))
    }

    /// Checks revocation; returns what could not be checked.
    pub(super) fn revocation(
        p: &PreparedCollateral,
        leaf: &IntelCert,
        ca: &IntelCert,
        at: u64,
        opts: &VerifyOptions,
        expiry: &mut u64,
    ) -> Result<Vec<String>, TdxError> {
        let mut gaps = Vec::new();
        let mut window =
            |crl: &IntelCrl, what: &str, gaps: &mut Vec<String>| -> Result<(), TdxError> {
                if let Some(n) = crl.next_update() {
                    *expiry = (*expiry).min(n);
                }
                match crl.validity_at(at) {
                    Ok(()) => Ok(()),
                    Err(expired) if opts.accept_missing_revocation => {
                        gaps.push(format!(
                            "{what} {}",
                            if expired {
                                "out of date"
                            } else {
                                "not yet valid"
                            }
                        ));
                        Ok(())
                    }
                    Err(false) => Err(fail(
                        Check::CrlNotYetValid,
                        format!("the {what} is not yet valid"),
                    )),
                    Err(true) => Err(fail(
                        Check::CrlExpired,
                        format!("the {what} is past its nextUpdate"),
                    )),
                }
            };
        match &p.root_crl {
            Some(crl) => {
                window(crl, "root CA CRL", &mut gaps)?;
                if crl.lists(ca) {
                    return Err(fail(
                        Check::CaRevoked,
                        format!("{} is revoked", ca.subject_cn()),
                    ));
                }
                if crl.lists(&p.tcb_signing) || crl.lists(&p.qe_signing) {
                    return Err(fail(
                        Check::CaRevoked,
                        "the TCB signing certificate is revoked",
                    ));
                }
            }
            None if opts.accept_missing_revocation => gaps.push("root CA CRL missing".into()),
            None => return Err(fail(Check::CrlMissing, "no root CA CRL")),
        }
        match &p.pck_crl {
            Some(crl) => {
                if crl.issuer_der() != leaf.issuer_der() {
                    return Err(fail(
                        Check::Crl,
                        format!(
                            "the PCK CRL's issuer ({}) is not the PCK certificate's ({})",
                            crl.issuer_cn(),
                            leaf.issuer_cn()
                        ),
                    ));
                }
                let verified = p
                    .pck_crl_issuer
                    .as_ref()
                    .is_some_and(|k| k.der() == ca.der());
                if !verified {
                    crl.verify_signed_by(ca)
                        .map_err(|e| fail(Check::Crl, format!("PCK CRL: {e}")))?;
                }
                window(crl, "PCK CRL", &mut gaps)?;
                if crl.lists(leaf) {
                    return Err(fail(Check::PckRevoked, "the PCK certificate is revoked"));
                }
            }
            None if opts.accept_missing_revocation => gaps.push("PCK CRL missing".into()),
            None => return Err(fail(Check::CrlMissing, "no PCK CRL")),
        }
        Ok(gaps)
    }
}
