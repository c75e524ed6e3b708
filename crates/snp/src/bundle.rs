//! Certificates sorted by role: what evidence or collateral carried
//! (PEM, DER, THIM JSON), CRLs kept aside.

use crate::certs::{AmdCertificate, CertRole};
use crate::crl::AmdCrl;
use crate::der::pem_blocks;
use crate::error::SnpError;

/// Certificates sorted by role: what evidence or collateral carried.
#[derive(Debug, Clone, Default)]
pub struct CertBundle {
    /// VCEKs and VLEKs.
    pub leaves: Vec<AmdCertificate>,
    /// ASKs and ASVKs.
    pub intermediates: Vec<AmdCertificate>,
    /// ARKs.
    pub roots: Vec<AmdCertificate>,
    /// CRLs (DER).
    pub crls: Vec<Vec<u8>>,
}

impl CertBundle {
    /// An empty bundle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one DER certificate, sorted by its contents. Certificates that
    /// are not AMD SNP certificates are refused.
    pub fn add_der(&mut self, der: &[u8]) -> Result<CertRole, SnpError> {
        let c = AmdCertificate::from_der(der, "certificate")?;
        let role = c.role();
        self.add_cert(c)?;
        Ok(role)
    }

    /// Adds a parsed certificate, sorted by its role.
    pub fn add_cert(&mut self, c: AmdCertificate) -> Result<(), SnpError> {
        let list = match c.role() {
            CertRole::Vcek | CertRole::Vlek => &mut self.leaves,
            CertRole::Ask | CertRole::Asvk => &mut self.intermediates,
            CertRole::Ark => &mut self.roots,
            CertRole::Other => {
                return Err(SnpError::cert(
                    c.subject_cn().to_string(),
                    "not an AMD ARK, ASK, ASVK, VCEK or VLEK",
                ))
            }
        };
        if !list.iter().any(|x| x.der() == c.der()) {
            list.push(c);
        }
        Ok(())
    }

    /// Adds whatever `bytes` holds: PEM (certificates and CRLs), a DER
    /// certificate or CRL, or THIM JSON (`vcekCert`, `certificateChain`).
    /// Returns how many items were added.
    pub fn add_any(&mut self, bytes: &[u8], what: &str) -> Result<usize, SnpError> {
        let trimmed = bytes.trim_ascii_start();
        if trimmed.starts_with(b"{") {
            let v: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|source| SnpError::Json {
                    source_name: what.to_string(),
                    source,
                })?;
            let mut n = 0;
            for key in ["vcekCert", "certificateChain"] {
                if let Some(s) = v.get(key).and_then(|x| x.as_str()) {
                    n += self.add_any(s.as_bytes(), what)?;
                }
            }
            return Ok(n);
        }
        if trimmed.starts_with(b"-----BEGIN") {
            let mut n = 0;
            for der in pem_blocks(bytes, "CERTIFICATE") {
                self.add_der(&der)?;
                n += 1;
            }
            for der in pem_blocks(bytes, "X509 CRL") {
                self.crls.push(der);
                n += 1;
            }
            return Ok(n);
        }
        if bytes.is_empty() {
            return Ok(0);
        }
        match AmdCertificate::from_der(bytes, what) {
            Ok(c) => {
                self.add_cert(c)?;
                Ok(1)
            }
            Err(e) => {
                if AmdCrl::from_der(bytes).is_ok() {
                    self.crls.push(bytes.to_vec());
                    Ok(1)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty() && self.intermediates.is_empty() && self.roots.is_empty()
    }

    /// Every certificate, DER, leaves first.
    pub fn to_der_list(&self) -> Vec<Vec<u8>> {
        self.leaves
            .iter()
            .chain(self.intermediates.iter())
            .chain(self.roots.iter())
            .map(|c| c.der().to_vec())
            .collect()
    }
}
