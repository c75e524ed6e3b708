//! Collateral prepared once (steps 2–3: TCB info and QE identity, their
//! signatures and chains), and the memo of prepared sets a verifier keeps.

use super::*;

/// Collateral whose signatures and chains have been checked (windows are
/// checked at each verification): verifying many quotes against it costs
/// only the quote's own signatures.
#[derive(Debug, Clone)]
pub struct PreparedCollateral {
    pub(super) tcb_info: TcbInfo,
    pub(super) tcb_signing: IntelCert,
    pub(super) tcb_chain_root: Option<IntelCert>,
    pub(super) qe_identity: QeIdentity,
    pub(super) qe_signing: IntelCert,
    pub(super) qe_chain_root: Option<IntelCert>,
    pub(super) root_crl: Option<IntelCrl>,
    pub(super) pck_crl: Option<IntelCrl>,
    /// The PCK CA that signed `pck_crl` (verified to the root), when the
    /// collateral carried it.
    pub(super) pck_crl_issuer: Option<IntelCert>,
    pub(super) pck_chain: Option<Vec<IntelCert>>,
    pub(super) hashes: CollateralHashes,
    pub(super) source: String,
}

impl PreparedCollateral {
    /// The parsed TCB info.
    pub fn tcb_info(&self) -> &TcbInfo {
        &self.tcb_info
    }
    /// The parsed QE identity.
    pub fn qe_identity(&self) -> &QeIdentity {
        &self.qe_identity
    }
}

/// Prepared collateral by the SHA-256 of its bytes, oldest first.
pub(super) type Memo = VecDeque<([u8; 32], Arc<PreparedCollateral>)>;

/// How many prepared collateral sets a [`DcapVerifier`] remembers (one per
/// FMSPC and TEE in use is typical).
pub const PREPARED_MEMO_ENTRIES: usize = 32;

/// The memo key of a collateral set: SHA-256 over every field, each
/// length-prefixed (so no two different sets share an encoding).
fn collateral_key(c: &Collateral) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut field = |b: Option<&[u8]>| match b {
        Some(b) => {
            ctx.update(&[1]);
            ctx.update(&(b.len() as u64).to_be_bytes());
            ctx.update(b);
        }
        None => ctx.update(&[0]),
    };
    for s in [&c.tcb_info, &c.qe_identity] {
        field(s.as_ref().map(|s| s.body.as_bytes()));
        field(s.as_ref().map(|s| s.signature.as_slice()));
    }
    field(Some(&c.tcb_info_issuer_chain));
    field(Some(&c.qe_identity_issuer_chain));
    field(c.pck_crl.as_deref());
    field(Some(&c.pck_crl_issuer_chain));
    field(c.root_ca_crl.as_deref());
    field(c.pck_certificate_chain.as_deref());
    field(Some(c.source.as_bytes()));
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

impl DcapVerifier {
    /// Checks a signing chain (TCB info, QE identity): finds the TCB
    /// signing certificate and checks it against the trusted root.
    pub(super) fn signing_chain(
        &self,
        pem: &[u8],
        what: &str,
        check: Check,
    ) -> Result<(IntelCert, Option<IntelCert>), TdxError> {
        if pem.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(fail(check, format!("the {what} issuer chain is missing")));
        }
        let certs = parse_pem_chain(pem, &format!("{what} issuer chain"))?;
        let mut signing = None;
        let mut root = None;
        for c in certs {
            if c.subject_cn().contains("SGX TCB Signing") {
                signing.get_or_insert(c);
            } else if c.is_self_issued() {
                root.get_or_insert(c);
            } else {
                return Err(fail(
                    check,
                    format!(
                        "the {what} issuer chain has an unexpected {}",
                        c.subject_cn()
                    ),
                ));
            }
        }
        let signing = signing.ok_or_else(|| {
            fail(
                check,
                format!("the {what} issuer chain has no Intel SGX TCB Signing certificate"),
            )
        })?;
        if let Some(r) = &root {
            if r.der() != self.root.der() {
                return Err(fail(
                    Check::UntrustedRoot,
                    format!(
                        "the {what} issuer chain ends in {}, not the trusted root",
                        r.subject_cn()
                    ),
                ));
            }
        }
        signing
            .verify_signed_by(&self.root)
            .map_err(|e| fail(check, format!("{what}: {e}")))?;
        Ok((signing, root))
    }

    pub(super) fn signed_object(
        signing: &IntelCert,
        s: &SignedJson,
        check: Check,
        what: &str,
    ) -> Result<(), TdxError> {
        if s.signature.len() != 64
            || !signing.verify_fixed_signature(s.body.as_bytes(), &s.signature)
        {
            return Err(fail(
                check,
                format!("the {what} signature does not verify with the TCB signing key"),
            ));
        }
        Ok(())
    }

    /// Checks the collateral's signatures and chains once (no time
    /// involved); [`DcapVerifier::verify_prepared`] checks the windows.
    pub fn prepare(&self, c: &Collateral) -> Result<PreparedCollateral, TdxError> {
        let tcb = c
            .tcb_info
            .as_ref()
            .ok_or_else(|| TdxError::CollateralMissing("no TCB info".into()))?;
        let qe = c
            .qe_identity
            .as_ref()
            .ok_or_else(|| TdxError::CollateralMissing("no QE identity".into()))?;
        let (tcb_signing, tcb_chain_root) =
            self.signing_chain(&c.tcb_info_issuer_chain, "TCB info", Check::TcbInfoChain)?;
        Self::signed_object(&tcb_signing, tcb, Check::TcbInfoSignature, "TCB info")?;
        let tcb_info = TcbInfo::parse(&tcb.body)?;
        let (qe_signing, qe_chain_root) = if c.qe_identity_issuer_chain == c.tcb_info_issuer_chain {
            (tcb_signing.clone(), tcb_chain_root.clone())
        } else {
            self.signing_chain(
                &c.qe_identity_issuer_chain,
                "QE identity",
                Check::QeIdentityChain,
            )?
        };
        Self::signed_object(&qe_signing, qe, Check::QeIdentitySignature, "QE identity")?;
        let qe_identity = QeIdentity::parse(&qe.body)?;
        let root_crl = match &c.root_ca_crl {
            Some(der) => {
                let crl = IntelCrl::from_any(der, "root CA CRL")?;
                crl.verify_signed_by(&self.root)
                    .map_err(|e| fail(Check::Crl, format!("root CA CRL: {e}")))?;
                Some(crl)
            }
            None => None,
        };
        let mut pck_crl_issuer = None;
        let pck_crl = match &c.pck_crl {
            Some(der) => {
                let crl = IntelCrl::from_any(der, "PCK CRL")?;
                if !c
                    .pck_crl_issuer_chain
                    .iter()
                    .all(|b| b.is_ascii_whitespace())
                {
                    let chain = parse_pem_chain(&c.pck_crl_issuer_chain, "PCK CRL issuer chain")?;
                    let ca = chain
                        .into_iter()
                        .find(|x| !x.is_self_issued())
                        .ok_or_else(|| fail(Check::Crl, "the PCK CRL issuer chain has no CA"))?;
                    ca.verify_signed_by(&self.root)
                        .map_err(|e| fail(Check::CertSignature, format!("PCK CRL issuer: {e}")))?;
                    crl.verify_signed_by(&ca)
                        .map_err(|e| fail(Check::Crl, format!("PCK CRL: {e}")))?;
                    pck_crl_issuer = Some(ca);
                }
                Some(crl)
            }
            None => None,
        };
        let pck_chain = match &c.pck_certificate_chain {
            Some(p) => Some(parse_pem_chain(p, "collateral PCK chain")?),
            None => None,
        };
        let crl_hash = c.root_ca_crl.as_deref().map(sha256_hex).unwrap_or_default();
        Ok(PreparedCollateral {
            tcb_info,
            tcb_signing,
            tcb_chain_root,
            qe_identity,
            qe_signing,
            qe_chain_root,
            root_crl,
            pck_crl,
            pck_crl_issuer,
            pck_chain,
            hashes: CollateralHashes {
                quote: String::new(),
                tcb_info: sha256_hex(tcb.body.as_bytes()),
                tcb_info_certs: sha256_hex(&c.tcb_info_issuer_chain),
                tcb_info_crl: crl_hash.clone(),
                qe_identity: sha256_hex(qe.body.as_bytes()),
                qe_identity_certs: sha256_hex(&c.qe_identity_issuer_chain),
                qe_identity_crl: crl_hash,
            },
            source: c.source.clone(),
        })
    }

    /// The memo, locked (a panic while it was held left it consistent:
    /// entries are whole).
    pub(super) fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        match self.memo.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// [`DcapVerifier::prepare`] through the memo: collateral prepared
    /// before is not checked again (failures are not remembered).
    pub fn prepare_memoized(&self, c: &Collateral) -> Result<Arc<PreparedCollateral>, TdxError> {
        let key = collateral_key(c);
        if let Some((_, p)) = self.memo().iter().find(|(k, _)| *k == key) {
            return Ok(Arc::clone(p));
        }
        let prepared = Arc::new(self.prepare(c)?);
        let mut memo = self.memo();
        if !memo.iter().any(|(k, _)| *k == key) {
            if memo.len() >= PREPARED_MEMO_ENTRIES {
                memo.pop_front();
            }
            memo.push_back((key, Arc::clone(&prepared)));
        }
        Ok(prepared)
    }
}
