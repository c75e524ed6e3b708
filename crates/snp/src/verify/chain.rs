//! The certificate chain of a report (VCEK or VLEK, ASK or ASVK, a trusted
//! ARK: signatures and validity periods) and its revocation (the CRLs).

use super::*;

impl SnpVerifier {
    /// Checks the chain for `report`: picks the VCEK or VLEK its signer_info
    /// names, the ASK/ASVK and a trusted ARK, and verifies the three
    /// signatures and validity periods at `at`.
    pub(super) fn validate_chain(
        &self,
        report: &AttestationReport,
        bundle: &CertBundle,
        product: Option<Product>,
        at: u64,
    ) -> Result<ValidatedChain, SnpError> {
        let signer = report.signing_key();
        let (leaf_role, int_role) = match signer {
            SigningKey::Vcek => (CertRole::Vcek, CertRole::Ask),
            SigningKey::Vlek => (CertRole::Vlek, CertRole::Asvk),
            other => {
                return Err(SnpError::verify(
                    Check::SigningKey,
                    format!(
                    "signer_info names signing key {} ({:#x}); only VCEK and VLEK are supported",
                    other.name(),
                    report.signer_info
                ),
                ))
            }
        };
        let candidates: Vec<&AmdCertificate> = bundle
            .leaves
            .iter()
            .filter(|c| c.role() == leaf_role)
            .collect();
        let leaf = match candidates.len() {
            0 => {
                if let Some(other) = bundle.leaves.first() {
                    return Err(SnpError::verify(
                        Check::SignerKind,
                        format!(
                            "the report is signed by its {} but only a {} was given",
                            leaf_role,
                            other.role()
                        ),
                    ));
                }
                return Err(SnpError::EmptyVcek(format!(
                    "no {leaf_role} certificate for the report"
                )));
            }
            1 => candidates[0],
            _ => {
                // Prefer the one whose hwID and TCB match the report.
                let p = product.or_else(|| report.product_hint());
                candidates
                    .iter()
                    .copied()
                    .find(|c| {
                        let prod = p.or_else(|| c.product()).unwrap_or(Product::Milan);
                        hwid_matches(report, c, prod)
                            && tcb_mismatch(report.reported_tcb(prod), c).is_none()
                    })
                    .unwrap_or(candidates[0])
            }
        };

        // Product: the caller's, the report's, the certificate's; they must agree.
        let from_report = report.product_hint();
        let from_cert = leaf.product();
        let product = match (product.or(from_report), from_cert) {
            (Some(a), Some(b)) if a != b => {
                return Err(SnpError::verify(
                    Check::Product,
                    format!("the report is from a {a} chip but the {leaf_role} is for {b}"),
                ))
            }
            (Some(a), _) => a,
            (None, Some(b)) => b,
            (None, None) => {
                return Err(SnpError::verify(
                    Check::Product,
                    "cannot tell the chip product from the report or the certificate",
                ))
            }
        };

        // The intermediate: carried, else known to the anchors.
        let intermediate = bundle
            .intermediates
            .iter()
            .filter(|c| c.subject_der() == leaf.issuer_der())
            .chain(self.anchors.intermediates_by_subject(leaf.issuer_der()))
            .find(|c| c.role() == int_role && leaf.verify_signed_by(c).is_ok());
        let Some(intermediate) = intermediate else {
            let named = bundle
                .intermediates
                .iter()
                .chain(self.anchors.intermediates_by_subject(leaf.issuer_der()))
                .any(|c| c.subject_der() == leaf.issuer_der());
            return Err(if named {
                SnpError::verify(
                    Check::LeafSignature,
                    format!(
                        "the {leaf_role} ({}) is not signed by any {int_role} named {}",
                        leaf.subject_cn(),
                        leaf.issuer_cn()
                    ),
                )
            } else {
                SnpError::verify(
                    Check::ChainIncomplete,
                    format!("no {int_role} named {} is available", leaf.issuer_cn()),
                )
            });
        };

        // The root: a carried ARK must be one of the anchors; else look the
        // anchors up by name. The one whose key signed the ASK wins.
        let carried: Vec<&AmdCertificate> = bundle
            .roots
            .iter()
            .filter(|r| r.subject_der() == intermediate.issuer_der())
            .collect();
        let mut anchor = None;
        if carried.is_empty() {
            for a in self.anchors.by_subject(intermediate.issuer_der()) {
                if intermediate.verify_signed_by(&a.ark).is_ok() {
                    anchor = Some(a);
                    break;
                }
            }
        } else {
            let mut untrusted = None;
            for ark in &carried {
                match self.anchors.find_identical(ark) {
                    Some(a) if intermediate.verify_signed_by(&a.ark).is_ok() => {
                        anchor = Some(a);
                        break;
                    }
                    Some(_) => {}
                    None => untrusted = Some(*ark),
                }
            }
            if anchor.is_none() {
                if let Some(ark) = untrusted {
                    return Err(SnpError::verify(
                        Check::UntrustedRoot,
                        format!(
                            "the chain's ARK ({}) is not a trusted root",
                            ark.subject_cn()
                        ),
                    ));
                }
            }
        }
        let Some(anchor) = anchor else {
            let any_named = self
                .anchors
                .by_subject(intermediate.issuer_der())
                .next()
                .is_some();
            return Err(if any_named {
                SnpError::verify(
                    Check::AskSignature,
                    format!(
                        "the {int_role} ({}) is not signed by a trusted ARK named {}",
                        intermediate.subject_cn(),
                        intermediate.issuer_cn()
                    ),
                )
            } else {
                SnpError::verify(
                    Check::UntrustedRoot,
                    format!(
                        "no trusted root named {} (the {int_role}'s issuer)",
                        intermediate.issuer_cn()
                    ),
                )
            });
        };
        if let Some(p) = anchor.product {
            if p != product {
                return Err(SnpError::verify(
                    Check::Product,
                    format!(
                        "the chain ends in the {p} ARK but the report is from a {product} chip"
                    ),
                ));
            }
        }
        let ark = &anchor.ark;
        ark.verify_signed_by(ark)
            .map_err(|e| SnpError::verify(Check::ArkSignature, e))?;

        for (c, role) in [
            (leaf, leaf_role),
            (intermediate, int_role),
            (ark, CertRole::Ark),
        ] {
            if let Err(bound) = c.validity_at(at) {
                let check = if bound == "expired" {
                    Check::Expired
                } else {
                    Check::NotYetValid
                };
                return Err(SnpError::verify(
                    check,
                    format!(
                        "the {role} ({}) is {bound} at {at} (valid {} to {})",
                        c.subject_cn(),
                        c.not_before(),
                        c.not_after()
                    ),
                ));
            }
        }
        Ok(ValidatedChain {
            leaf: leaf.clone(),
            intermediate: intermediate.clone(),
            ark: ark.clone(),
            product,
            origin: anchor.origin,
            not_before: leaf
                .not_before()
                .max(intermediate.not_before())
                .max(ark.not_before()),
            not_after: leaf
                .not_after()
                .min(intermediate.not_after())
                .min(ark.not_after()),
        })
    }
}

pub(super) struct CrlStatusInput {
    pub(super) crls: Vec<Vec<u8>>,
    pub(super) require: bool,
}

impl CrlStatusInput {
    pub(super) fn from_opts(opts: &SnpOptions) -> Self {
        Self {
            crls: opts.crls.clone(),
            require: opts.require_crl,
        }
    }

    pub(super) fn check(&self, chain: &ValidatedChain, at: u64) -> Result<CrlStatus, SnpError> {
        let mut checked = false;
        for der in &self.crls {
            let crl = AmdCrl::from_der(der)?;
            if crl.issuer_der() != chain.ark.subject_der() {
                continue;
            }
            crl.check(&chain.ark, at)?;
            for c in [&chain.intermediate, &chain.leaf] {
                if crl.lists(c) {
                    return Err(SnpError::verify(
                        Check::Revoked,
                        format!(
                            "the {} ({}, serial {}) is revoked by the AMD CRL",
                            c.role(),
                            c.subject_cn(),
                            hex::encode(c.serial())
                        ),
                    ));
                }
            }
            checked = true;
        }
        if checked {
            Ok(CrlStatus::Checked)
        } else if self.require {
            Err(SnpError::verify(
                Check::CrlMissing,
                "a CRL is required and none from the chain's ARK is at hand",
            ))
        } else {
            Ok(CrlStatus::Absent)
        }
    }
}
