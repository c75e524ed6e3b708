//! AMD's certificate revocation list: signed by the ARK, lists revoked ASKs,
//! ASVKs, VCEKs and VLEKs by serial number.

use std::ops::Range;

use der::{Decode, Encode};
use x509_cert::crl::CertificateList;

use crate::certs::AmdCertificate;
use crate::der::{tlv, OID_RSA_PSS};
use crate::error::{Check, SnpError};

/// A parsed CRL.
#[derive(Debug, Clone)]
pub struct AmdCrl {
    der: Vec<u8>,
    tbs: Range<usize>,
    signature: Vec<u8>,
    sig_is_pss: bool,
    issuer: Vec<u8>,
    this_update: u64,
    next_update: Option<u64>,
    revoked: Vec<Vec<u8>>,
}

impl AmdCrl {
    /// Parses a DER CRL.
    pub fn from_der(der: &[u8]) -> Result<Self, SnpError> {
        let crl = CertificateList::from_der(der)
            .map_err(|e| SnpError::cert("CRL", format!("not a DER CRL: {e}")))?;
        let (h, _) = tlv(der, 0).ok_or_else(|| SnpError::cert("CRL", "bad outer header"))?;
        let (h2, l2) = tlv(der, h).ok_or_else(|| SnpError::cert("CRL", "bad TBS header"))?;
        let end = h + h2 + l2;
        if end > der.len() {
            return Err(SnpError::cert("CRL", "TBS runs past the end"));
        }
        let t = &crl.tbs_cert_list;
        Ok(Self {
            der: der.to_vec(),
            tbs: h..end,
            signature: crl.signature.raw_bytes().to_vec(),
            sig_is_pss: crl.signature_algorithm.oid.to_string() == OID_RSA_PSS,
            issuer: t
                .issuer
                .to_der()
                .map_err(|e| SnpError::cert("CRL", format!("issuer: {e}")))?,
            this_update: t.this_update.to_unix_duration().as_secs(),
            next_update: t.next_update.map(|n| n.to_unix_duration().as_secs()),
            revoked: t
                .revoked_certificates
                .iter()
                .flatten()
                .map(|r| r.serial_number.as_bytes().to_vec())
                .collect(),
        })
    }

    /// The CRL's DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The issuer name (DER).
    pub(crate) fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }

    /// Serial numbers listed as revoked.
    pub fn revoked_serials(&self) -> &[Vec<u8>] {
        &self.revoked
    }

    /// Checks that `ark` issued and signed this CRL and that it is current at
    /// `at` (thisUpdate ≤ at ≤ nextUpdate).
    pub fn check(&self, ark: &AmdCertificate, at: u64) -> Result<(), SnpError> {
        if self.issuer != ark.subject_der() {
            return Err(SnpError::verify(
                Check::Crl,
                "the CRL's issuer is not the ARK of the chain",
            ));
        }
        if !self.sig_is_pss {
            return Err(SnpError::verify(
                Check::Crl,
                "the CRL is not signed with RSASSA-PSS",
            ));
        }
        ark.verify_pss(&self.der[self.tbs.clone()], &self.signature)
            .map_err(|e| SnpError::verify(Check::Crl, format!("CRL {e}")))?;
        if at < self.this_update {
            return Err(SnpError::verify(Check::Crl, "the CRL is not yet valid"));
        }
        if let Some(next) = self.next_update {
            if at > next {
                return Err(SnpError::verify(
                    Check::Crl,
                    "the CRL is out of date (past nextUpdate)",
                ));
            }
        }
        Ok(())
    }

    /// Whether `cert` is listed.
    pub fn lists(&self, cert: &AmdCertificate) -> bool {
        self.revoked.iter().any(|s| s.as_slice() == cert.serial())
    }
}
