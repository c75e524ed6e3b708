//! Intel's CRLs (the root CA CRL and the PCK CRLs).

use super::pem::{find, trim_ascii};
use super::*;

/// An Intel CRL (root CA CRL or PCK CRL).
#[derive(Clone)]
pub struct IntelCrl {
    der: Arc<[u8]>,
    tbs: Range<usize>,
    signature: Vec<u8>,
    sig_alg_ok: bool,
    issuer: Vec<u8>,
    issuer_cn: String,
    this_update: u64,
    next_update: Option<u64>,
    revoked: Vec<Vec<u8>>,
    has_number_and_aki: bool,
}

impl fmt::Debug for IntelCrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntelCrl")
            .field("issuer", &self.issuer_cn)
            .field("this_update", &self.this_update)
            .field("next_update", &self.next_update)
            .field("revoked", &self.revoked.len())
            .finish_non_exhaustive()
    }
}

impl IntelCrl {
    /// Parses a CRL given as DER, PEM or hex text (PCCS answers in any).
    pub fn from_any(bytes: &[u8], what: &str) -> Result<Self, TdxError> {
        let trimmed = trim_ascii(bytes);
        if trimmed.first() == Some(&0x30) {
            // DER ends where its length says: its last bytes (the
            // signature's) may be whitespace or NUL values, which trimming
            // would cut.
            let start = bytes
                .iter()
                .position(|c| !c.is_ascii_whitespace() && *c != 0)
                .unwrap_or(0);
            let der = &bytes[start..];
            let whole = tlv(der, 0)
                .and_then(|(_, h, l)| h.checked_add(l))
                .and_then(|end| der.get(..end))
                .unwrap_or(trimmed);
            return Self::from_der(whole, what);
        }
        if find(trimmed, b"-----BEGIN").is_some() {
            let b = pem_blocks(trimmed, "X509 CRL")
                .map_err(|e| TdxError::cert(what, e))?
                .into_iter()
                .next()
                .ok_or_else(|| TdxError::cert(what, "no X509 CRL block"))?;
            return Self::from_der(&b, what);
        }
        if let Ok(b) = hex::decode(trimmed) {
            return Self::from_der(&b, what);
        }
        Err(TdxError::cert(what, "neither DER, PEM nor hex"))
    }

    /// Parses a DER CRL.
    pub fn from_der(der: &[u8], what: &str) -> Result<Self, TdxError> {
        let crl = CertificateList::from_der(der)
            .map_err(|e| TdxError::cert(what, format!("not a DER CRL: {e}")))?;
        let tbs =
            tbs_range(der).ok_or_else(|| TdxError::cert(what, "cannot locate tbsCertList"))?;
        let t = &crl.tbs_cert_list;
        let exts: Vec<&[u8]> = t
            .crl_extensions
            .iter()
            .flatten()
            .map(|e| e.extn_id.as_bytes())
            .collect();
        Ok(Self {
            der: Arc::from(der),
            tbs,
            signature: crl.signature.raw_bytes().to_vec(),
            sig_alg_ok: crl.signature_algorithm.oid.as_bytes() == OID_ECDSA_SHA256,
            issuer: t
                .issuer
                .to_der()
                .map_err(|e| TdxError::cert(what, format!("issuer: {e}")))?,
            issuer_cn: common_name(&t.issuer),
            this_update: t.this_update.to_unix_duration().as_secs(),
            next_update: t.next_update.map(|n| n.to_unix_duration().as_secs()),
            revoked: t
                .revoked_certificates
                .iter()
                .flatten()
                .map(|r| r.serial_number.as_bytes().to_vec())
                .collect(),
            has_number_and_aki: exts.contains(&OID_CRL_NUMBER) && exts.contains(&OID_AKI),
        })
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The issuer's common name.
    pub fn issuer_cn(&self) -> &str {
        &self.issuer_cn
    }
    /// The issuer name (DER).
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }
    /// thisUpdate (Unix seconds).
    pub fn this_update(&self) -> u64 {
        self.this_update
    }
    /// nextUpdate (Unix seconds), if present.
    pub fn next_update(&self) -> Option<u64> {
        self.next_update
    }
    /// How many certificates it lists.
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }

    /// Checks issuer name, required extensions (CRL number, authority key
    /// id, as Intel's library requires) and the signature by `issuer`.
    pub fn verify_signed_by(&self, issuer: &IntelCert) -> Result<(), String> {
        if self.issuer != issuer.subject {
            return Err(format!(
                "the CRL's issuer ({}) is not {}",
                self.issuer_cn, issuer.subject_cn
            ));
        }
        if !self.has_number_and_aki {
            return Err("the CRL lacks the CRL number or authority key id extension".into());
        }
        if !self.sig_alg_ok {
            return Err("the CRL is not signed with ECDSA-SHA256".into());
        }
        if issuer.verify_der_signature(&self.der[self.tbs.clone()], &self.signature) {
            Ok(())
        } else {
            Err(format!(
                "the CRL's signature does not verify with the key of {}",
                issuer.subject_cn
            ))
        }
    }

    /// Whether the CRL is current at `at`: `Ok`, or not yet valid (`false`)
    /// or past nextUpdate (`true`).
    pub fn validity_at(&self, at: u64) -> Result<(), bool> {
        if at < self.this_update {
            Err(false)
        } else if self.next_update.is_some_and(|n| at > n) {
            Err(true)
        } else {
            Ok(())
        }
    }

    /// Whether `cert` is listed.
    pub fn lists(&self, cert: &IntelCert) -> bool {
        self.revoked.iter().any(|s| s.as_slice() == cert.serial())
    }
}
