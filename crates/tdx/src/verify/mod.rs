//! DCAP quote verification with the rules of Intel's Quote Verification
//! Library (QVL), from quote bytes and collateral to a [`Verdict`].
//!
//! The order of the checks (each refusal names its [`Check`], code 6):
//!
//! 1. the quote's structure, attestation key type, QE vendor id, type 6
//!    certification data (v4/v5);
//! 2. TCB info: its issuer chain to the trusted root, its signature, the
//!    signing certificate's and the TCB info's windows
//!    (`issueDate ≤ t ≤ nextUpdate`);
//! 3. QE identity: the same;
//! 4. the PCK chain (from the quote, else from the collateral): Intel's
//!    kinds of certificate, the trusted root, signatures, windows, SGX
//!    extensions;
//! 5. revocation: the root CA CRL (issuer, signature, window; covers the PCK
//!    CA and the TCB signing certificate), the PCK CRL (its issuer must be
//!    the PCK certificate's; signature, window; covers the PCK);
//! 6. TCB info against quote and PCK: `id`/version for the TEE, FMSPC, PCEID;
//! 7. TDX module: MRSIGNERSEAM and SEAMATTRIBUTES (all zero, equal to the
//!    module's) against `tdxModule`, or the `tdxModuleIdentities` entry
//!    `TDX_%02X` of TEE_TCB_SVN[1] when that is not zero;
//! 8. the QE report's signature by the PCK and its report data
//!    (SHA-256 of attestation key ‖ QE auth data);
//! 9. QE identity: `TD_QE` for TDX, `QE` for SGX; masked MISCSELECT and
//!    ATTRIBUTES, MRSIGNER, ISVPRODID; the ISVSVN's level;
//! 10. the quote's signature by the attestation key;
//! 11. TCB level matching (Intel's level order; SGX components and PCESVN,
//!     then TEE_TCB_SVN from index 2 when TEE_TCB_SVN[1] > 0), the module's
//!     level, Intel's status convergence, TD 1.5's relaunch check;
//! 12. the caller's [`Policy`].
//!
//! Where this differs from Intel's library: certificate and CRL windows are
//! checked at both ends (Intel checks notAfter only); an issuer chain may
//! omit the root (the trusted root stands in); TCB info and QE identity
//! signatures are checked over the bytes as served rather than re-serialised.
//! Where it differs from dcap-qvl, see `tests/rules.rs`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use tee_attest_core::time::{Clock, SystemClock};

use crate::collateral::{Collateral, SignedJson};
use crate::error::{Check, TdxError};
use crate::pki::{parse_pem_chain, IntelCert, IntelCrl, SgxExtensions};
use crate::qe_identity::{QeId, QeIdentity, QeMismatch};
use crate::quote::{
    EnclaveReport, Quote, QuoteBody, QuoteHeader, ATT_KEY_TYPE_ECDSA_P256, INTEL_QE_VENDOR_ID,
};
use crate::status::{converge, relaunch, QeTcb, RelaunchFacts, TcbStatus};
use crate::tcb_info::{TcbId, TcbInfo, TcbLevel};

mod chain;
mod prepare;
mod tcb;
mod verdict;

use prepare::Memo;
pub use prepare::{PreparedCollateral, PREPARED_MEMO_ENTRIES};
use tcb::check_header;
pub use tcb::{check_platform, evaluate_tcb, TcbEvaluation};
pub use verdict::{
    apply_policy, CollateralHashes, PckFacts, Policy, Revocation, Verdict, VerifyOptions,
};

/// Verifies DCAP quotes against a trusted Intel SGX Root CA, at the time of
/// its clock.
///
/// [`DcapVerifier::verify`] remembers the collateral it has prepared (its
/// signatures and chains checked, which involves no time) for the last
/// [`PREPARED_MEMO_ENTRIES`] distinct collateral sets, keyed by the
/// SHA-256 of every collateral byte: a quote that comes with collateral
/// seen before costs its own signatures, the PCK chain and the windows
/// (always checked at the clock's time). Clones share the memo.
#[derive(Debug, Clone)]
pub struct DcapVerifier {
    root: IntelCert,
    clock: Arc<dyn Clock>,
    memo: Arc<Mutex<Memo>>,
}

fn fail(check: Check, detail: impl Into<String>) -> TdxError {
    TdxError::verify(check, detail)
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, b))
}

fn hex48(b: &[u8]) -> String {
    hex::encode(b)
}

impl DcapVerifier {
    /// A verifier trusting the built-in Intel SGX Root CA, on the system clock.
    pub fn new() -> Result<Self, TdxError> {
        Ok(Self {
            root: IntelCert::intel_root()?,
            clock: Arc::new(SystemClock),
            memo: Arc::default(),
        })
    }

    /// A verifier trusting another root (tests with their own PKI). It
    /// must be self-signed.
    pub fn with_root_der(der: &[u8]) -> Result<Self, TdxError> {
        let root = IntelCert::from_der(der, "trusted root")?;
        root.verify_signed_by(&root)
            .map_err(|e| TdxError::cert("trusted root", format!("not self-signed: {e}")))?;
        Ok(Self {
            root,
            clock: Arc::new(SystemClock),
            memo: Arc::default(),
        })
    }

    /// The same verifier on another clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The trusted root.
    pub fn root(&self) -> &IntelCert {
        &self.root
    }

    /// Verifies a quote with its collateral at the clock's time.
    pub fn verify(
        &self,
        quote: &[u8],
        collateral: &Collateral,
        opts: &VerifyOptions,
    ) -> Result<Verdict, TdxError> {
        self.verify_quote(&Quote::parse(quote)?, collateral, opts)
    }

    /// [`DcapVerifier::verify`] of a quote parsed already (the appraisers
    /// parse it once to pick the root and the collateral).
    pub fn verify_quote(
        &self,
        q: &Quote,
        collateral: &Collateral,
        opts: &VerifyOptions,
    ) -> Result<Verdict, TdxError> {
        check_header(q)?;
        let prepared = self.prepare_memoized(collateral)?;
        self.verify_parsed(q, &prepared, opts)
    }

    /// Verifies a quote against collateral prepared earlier.
    pub fn verify_prepared(
        &self,
        quote: &[u8],
        prepared: &PreparedCollateral,
        opts: &VerifyOptions,
    ) -> Result<Verdict, TdxError> {
        let q = Quote::parse(quote)?;
        check_header(&q)?;
        self.verify_parsed(&q, prepared, opts)
    }

    fn verify_parsed(
        &self,
        q: &Quote,
        p: &PreparedCollateral,
        opts: &VerifyOptions,
    ) -> Result<Verdict, TdxError> {
        let at = self.clock.now();
        let tdx = q.is_tdx();
        let qe_cert = q.qe_certification().ok_or_else(|| {
            fail(
                Check::CertificationDataType,
                "no QE report certification data",
            )
        })?;

        // 2–3. TCB info and QE identity windows (signatures: prepare).
        Self::cert_window(&p.tcb_signing, at, "the TCB info signing certificate")?;
        if let Some(r) = &p.tcb_chain_root {
            Self::cert_window(r, at, "the TCB info chain's root")?;
        }
        let t = &p.tcb_info;
        if at < t.issue_date {
            return Err(fail(
                Check::TcbInfoNotYetValid,
                "the TCB info is not yet valid",
            ));
        }
        if at > t.next_update {
            return Err(fail(
                Check::TcbInfoExpired,
                "the TCB info is past its nextUpdate",
            ));
        }
        Self::cert_window(&p.qe_signing, at, "the QE identity signing certificate")?;
        if let Some(r) = &p.qe_chain_root {
            Self::cert_window(r, at, "the QE identity chain's root")?;
        }
        let qi = &p.qe_identity;
        if at < qi.issue_date {
            return Err(fail(
                Check::QeIdentityNotYetValid,
                "the QE identity is not yet valid",
            ));
        }
        if at > qi.next_update {
            return Err(fail(
                Check::QeIdentityExpired,
                "the QE identity is past its nextUpdate",
            ));
        }
        let mut expiry = t.next_update.min(qi.next_update);

        // 4–5. PCK chain and revocation.
        let (leaf, ca) = self.pck_chain(q, p.pck_chain.as_ref(), p.pck_crl_issuer.as_ref(), at)?;
        let gaps = Self::revocation(p, &leaf, &ca, at, opts, &mut expiry)?;
        let ext = leaf
            .sgx_extensions()
            .ok_or_else(|| fail(Check::PckExtensions, "no SGX extensions"))?;

        // 6–7. TCB info for this TEE and platform; the TDX module.
        check_platform(t, ext, &q.body)?;

        // 8. The QE report.
        if !leaf.verify_fixed_signature(&qe_cert.qe_report.raw, &qe_cert.qe_report_signature) {
            return Err(fail(
                Check::QeReportSignature,
                "the QE report's signature does not verify with the PCK",
            ));
        }
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&q.signature_data.attestation_key);
        ctx.update(&qe_cert.qe_auth_data);
        if ctx.finish().as_ref() != &qe_cert.qe_report.report_data[..32] {
            return Err(fail(
                Check::QeReportData,
                "the QE report data is not SHA-256(attestation key ‖ QE auth data)",
            ));
        }

        // 9. The QE identity.
        let want = if tdx { QeId::TdQe } else { QeId::Qe };
        if qi.id != want {
            return Err(fail(
                Check::QeIdentityMismatch,
                format!(
                    "a {} QE identity for a {} quote",
                    qi.id.as_str(),
                    want.as_str()
                ),
            ));
        }
        qi.matches(&qe_cert.qe_report).map_err(|m| match m {
            QeMismatch::Miscselect => fail(Check::QeMiscselect, "masked MISCSELECT differs"),
            QeMismatch::Attributes => fail(Check::QeAttributes, "masked ATTRIBUTES differ"),
            QeMismatch::Mrsigner => fail(Check::QeMrsigner, "MRSIGNER differs"),
            QeMismatch::IsvProdId => fail(Check::QeIsvProdId, "ISVPRODID differs"),
        })?;
        let qe_level = qi.level_for(qe_cert.qe_report.isv_svn).ok_or_else(|| {
            fail(
                Check::QeTcbNotSupported,
                format!(
                    "QE ISVSVN {} is below every level",
                    qe_cert.qe_report.isv_svn
                ),
            )
        })?;

        // 10. The quote's signature.
        let mut key = [0u8; 65];
        key[0] = 0x04;
        key[1..].copy_from_slice(&q.signature_data.attestation_key);
        if UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key)
            .verify(q.signed_bytes(), &q.signature_data.signature)
            .is_err()
        {
            return Err(fail(
                Check::QuoteSignature,
                "the quote's signature does not verify with the attestation key",
            ));
        }

        // 11. TCB levels and statuses.
        let outcome = evaluate_tcb(t, ext, &q.body, qe_level.status)?;
        let mut dates = vec![(outcome.platform_date, outcome.platform_date_text.clone())];
        let mut advisories = outcome.advisories.clone();
        if let Some((d, text, adv)) = &outcome.module_level {
            dates.push((*d, text.clone()));
            advisories.extend(adv.iter().cloned());
        }
        dates.push((qe_level.tcb_date, qe_level.tcb_date_text.clone()));
        advisories.extend(qe_level.advisory_ids.iter().cloned());
        advisories.sort();
        advisories.dedup();
        let (tcb_date, tcb_date_text) = dates
            .into_iter()
            .min_by_key(|(d, _)| *d)
            .unwrap_or((0, String::new()));

        let mut hashes = p.hashes.clone();
        hashes.quote = sha256_hex(&q.raw()[..q.declared_len()]);
        let verdict = Verdict {
            status: outcome.status,
            sgx_level_status: outcome.sgx_status,
            tdx_level_status: outcome.tdx_status,
            module_status: outcome.module_status,
            qe_status: qe_level.status,
            advisory_ids: advisories,
            tcb_date,
            tcb_date_text,
            tcb_evaluation_data_number: t.tcb_evaluation_data_number,
            collateral_expiry: expiry,
            revocation: if gaps.is_empty() {
                Revocation::Checked
            } else {
                Revocation::NotChecked(gaps)
            },
            verified_at: at,
            collateral_source: p.source.clone(),
            collateral_hashes: hashes,
            pck: PckFacts {
                extensions: ext.clone(),
                issuer_cn: leaf.issuer_cn().to_string(),
                not_after: leaf.not_after(),
            },
            header: q.header.clone(),
            body: q.body.clone(),
            qe_report: qe_cert.qe_report.clone(),
        };

        // 12. The caller's policy.
        apply_policy(&verdict, opts)?;
        Ok(verdict)
    }

    /// Checks what a quote proves without collateral: its structure, the PCK
    /// chain to the trusted root (signatures and, at the clock's time,
    /// windows), the QE report's signature and data, the quote's signature.
    /// No TCB status: that needs collateral.
    pub fn verify_signatures(&self, quote: &[u8]) -> Result<Quote, TdxError> {
        let q = Quote::parse(quote)?;
        check_header(&q)?;
        let (leaf, _) = self.pck_chain(&q, None, None, self.clock.now())?;
        let qe = q.qe_certification().ok_or_else(|| {
            fail(
                Check::CertificationDataType,
                "no QE report certification data",
            )
        })?;
        if !leaf.verify_fixed_signature(&qe.qe_report.raw, &qe.qe_report_signature) {
            return Err(fail(
                Check::QeReportSignature,
                "the QE report's signature does not verify with the PCK",
            ));
        }
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&q.signature_data.attestation_key);
        ctx.update(&qe.qe_auth_data);
        if ctx.finish().as_ref() != &qe.qe_report.report_data[..32] {
            return Err(fail(
                Check::QeReportData,
                "the QE report data does not bind the key",
            ));
        }
        let mut key = [0u8; 65];
        key[0] = 0x04;
        key[1..].copy_from_slice(&q.signature_data.attestation_key);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key)
            .verify(q.signed_bytes(), &q.signature_data.signature)
            .map_err(|_| {
                fail(
                    Check::QuoteSignature,
                    "the quote's signature does not verify",
                )
            })?;
        Ok(q)
    }
}
