//! Intel's PKI for DCAP: the built-in Intel SGX Root CA, certificates
//! (ECDSA P-256 with SHA-256 throughout), the SGX extensions of PCK
//! certificates, CRLs, and PEM.
//!
//! ```text
//! Intel SGX Root CA (self-signed; root CA CRL)
//!  ├─ Intel SGX PCK Platform CA | Intel SGX PCK Processor CA (PCK CRL) ── Intel SGX PCK Certificate
//!  └─ Intel SGX TCB Signing ── TCB info, QE identity
//! ```

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use der::{Decode, Encode};
use x509_cert::crl::CertificateList;
use x509_cert::Certificate;

use crate::error::TdxError;

mod asn1;
mod crl;
mod pem;

use asn1::*;
pub use crl::IntelCrl;
#[cfg(test)]
use pem::trim_ascii;
pub use pem::{parse_pem_chain, pem_blocks, pem_certificates, to_pem};

/// The Intel SGX Root CA (valid 2018-05-21 … 2049-12-31; SHA-256
/// fingerprint 44:A0:19:6B:2B:99:F8:89:B8:E1:49:E9:5B:80:7A:35:0E:74:24:96:43:99:E8:85:A7:CB:B8:CC:FA:B6:74:D3),
/// the public certificate that every PCK, TCB-signing and QE-identity chain
/// ends in.
pub const INTEL_SGX_ROOT_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
";

/// The TCB of a PCK certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PckTcb {
    /// SGX TCB component SVNs 1–16.
    pub comp_svn: [u8; 16],
    /// PCESVN.
    pub pce_svn: u16,
    /// CPUSVN.
    pub cpu_svn: [u8; 16],
}

/// The SGX extensions of a PCK certificate (1.2.840.113741.1.13.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgxExtensions {
    /// PPID.
    pub ppid: [u8; 16],
    /// TCB.
    pub tcb: PckTcb,
    /// PCE-ID.
    pub pce_id: [u8; 2],
    /// FMSPC.
    pub fmspc: [u8; 6],
    /// SGX type: 0 Standard, 1 Scalable, 2 Scalable with integrity.
    pub sgx_type: u8,
    /// Platform instance id (multi-package platforms).
    pub platform_instance_id: Option<[u8; 16]>,
}

impl SgxExtensions {
    fn parse(ext: &[u8]) -> Result<Self, String> {
        let top = unwrap(ext, 0x30).ok_or("the SGX extension is not a SEQUENCE")?;
        let mut ppid = None;
        let mut tcb = None;
        let mut pce_id = None;
        let mut fmspc = None;
        let mut sgx_type = None;
        let mut platform_instance_id = None;
        for (tag, item) in children(top).ok_or("malformed SGX extension")? {
            if tag != 0x30 {
                return Err("an SGX extension entry is not a SEQUENCE".into());
            }
            let parts = children(item).ok_or("malformed SGX extension entry")?;
            let [(0x06, oid), (vtag, value)] = parts.as_slice() else {
                return Err("an SGX extension entry is not (OID, value)".into());
            };
            let Some(sub) = oid.strip_prefix(OID_SGX_EXT) else {
                return Err("an SGX extension entry has a foreign OID".into());
            };
            let octets = |n: usize| -> Result<Vec<u8>, String> {
                if *vtag == 0x04 && value.len() == n {
                    Ok(value.to_vec())
                } else {
                    Err(format!("an SGX extension value is not {n} octets"))
                }
            };
            match sub {
                [1] => ppid = Some(octets(16)?),
                [2] => tcb = Some(Self::parse_tcb(value)?),
                [3] => pce_id = Some(octets(2)?),
                [4] => fmspc = Some(octets(6)?),
                [5] => {
                    if *vtag != 0x0A || value.len() != 1 {
                        return Err("the SGX type is not an ENUMERATED".into());
                    }
                    sgx_type = Some(value[0]);
                }
                [6] => platform_instance_id = Some(octets(16)?),
                _ => {}
            }
        }
        let fixed = |v: Option<Vec<u8>>, what: &str| v.ok_or_else(|| format!("no {what}"));
        Ok(Self {
            ppid: crate::bytes::arr(&fixed(ppid, "PPID")?),
            tcb: tcb.ok_or("no TCB")?,
            pce_id: crate::bytes::arr(&fixed(pce_id, "PCE-ID")?),
            fmspc: crate::bytes::arr(&fixed(fmspc, "FMSPC")?),
            sgx_type: sgx_type.ok_or("no SGX type")?,
            platform_instance_id: platform_instance_id.map(|v| crate::bytes::arr(&v)),
        })
    }

    fn parse_tcb(value: &[u8]) -> Result<PckTcb, String> {
        let mut tcb = PckTcb::default();
        let mut seen = [false; 18];
        for (tag, item) in children(value).ok_or("malformed TCB")? {
            let parts = children(item).ok_or("malformed TCB entry")?;
            let (0x30, [(0x06, oid), (vtag, v)]) = (tag, parts.as_slice()) else {
                return Err("a TCB entry is not (OID, value)".into());
            };
            let Some([2, n]) = oid.strip_prefix(OID_SGX_EXT) else {
                return Err("a TCB entry has a foreign OID".into());
            };
            let n = *n as usize;
            match n {
                1..=16 if *vtag == 0x02 => {
                    let s = small_uint(v).filter(|&s| s <= 255).ok_or("bad TCB SVN")?;
                    tcb.comp_svn[n - 1] = s as u8;
                }
                17 if *vtag == 0x02 => tcb.pce_svn = small_uint(v).ok_or("bad PCESVN")?,
                18 if *vtag == 0x04 && v.len() == 16 => tcb.cpu_svn = crate::bytes::arr(v),
                _ => return Err(format!("bad TCB entry {n}")),
            }
            seen[n - 1] = true;
        }
        if seen.iter().all(|&s| s) {
            Ok(tcb)
        } else {
            Err("the TCB lacks a component".into())
        }
    }
}

/// An Intel certificate (ECDSA P-256 key, signed with ECDSA-SHA256).
#[derive(Clone)]
pub struct IntelCert {
    der: Arc<[u8]>,
    tbs: Range<usize>,
    signature: Vec<u8>,
    sig_alg_ok: bool,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    subject_cn: String,
    issuer_cn: String,
    serial: Vec<u8>,
    not_before: u64,
    not_after: u64,
    public_key: Vec<u8>,
    sgx: Option<SgxExtensions>,
    asn1_key: Arc<OnceLock<Option<ParsedPublicKey>>>,
    fixed_key: Arc<OnceLock<Option<ParsedPublicKey>>>,
}

impl fmt::Debug for IntelCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntelCert")
            .field("subject", &self.subject_cn)
            .field("issuer", &self.issuer_cn)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl PartialEq for IntelCert {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl IntelCert {
    /// Parses a DER certificate; `what` names it in errors. A PCK
    /// certificate's SGX extensions are parsed too (an error when present
    /// but malformed).
    pub fn from_der(der: &[u8], what: &str) -> Result<Self, TdxError> {
        let cert = Certificate::from_der(der)
            .map_err(|e| TdxError::cert(what, format!("not a DER X.509 certificate: {e}")))?;
        let tbs =
            tbs_range(der).ok_or_else(|| TdxError::cert(what, "cannot locate tbsCertificate"))?;
        let t = &cert.tbs_certificate;
        let spki = &t.subject_public_key_info;
        let curve_ok = spki.algorithm.oid.as_bytes() == OID_EC_PUBLIC_KEY
            && spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok())
                .is_some_and(|o| o.as_bytes() == OID_P256);
        if !curve_ok {
            return Err(TdxError::cert(what, "the key is not an ECDSA P-256 key"));
        }
        let mut sgx = None;
        for ext in t.extensions.iter().flatten() {
            if ext.extn_id.as_bytes() == OID_SGX_EXT {
                sgx = Some(
                    SgxExtensions::parse(ext.extn_value.as_bytes())
                        .map_err(|e| TdxError::cert(what, format!("SGX extensions: {e}")))?,
                );
            }
        }
        let subject = t
            .subject
            .to_der()
            .map_err(|e| TdxError::cert(what, format!("subject: {e}")))?;
        let issuer = t
            .issuer
            .to_der()
            .map_err(|e| TdxError::cert(what, format!("issuer: {e}")))?;
        Ok(Self {
            der: Arc::from(der),
            tbs,
            signature: cert.signature.raw_bytes().to_vec(),
            sig_alg_ok: cert.signature_algorithm.oid.as_bytes() == OID_ECDSA_SHA256,
            subject_cn: common_name(&t.subject),
            issuer_cn: common_name(&t.issuer),
            subject,
            issuer,
            serial: t.serial_number.as_bytes().to_vec(),
            not_before: t.validity.not_before.to_unix_duration().as_secs(),
            not_after: t.validity.not_after.to_unix_duration().as_secs(),
            public_key: spki.subject_public_key.raw_bytes().to_vec(),
            sgx,
            asn1_key: Arc::new(OnceLock::new()),
            fixed_key: Arc::new(OnceLock::new()),
        })
    }

    /// The built-in Intel SGX Root CA.
    pub fn intel_root() -> Result<Self, TdxError> {
        let der = pem_certificates(INTEL_SGX_ROOT_CA_PEM.as_bytes())
            .map_err(|e| TdxError::cert("built-in Intel SGX Root CA", e))?
            .into_iter()
            .next()
            .ok_or_else(|| TdxError::cert("built-in Intel SGX Root CA", "missing"))?;
        Self::from_der(&der, "built-in Intel SGX Root CA")
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The subject's common name.
    pub fn subject_cn(&self) -> &str {
        &self.subject_cn
    }
    /// The issuer's common name.
    pub fn issuer_cn(&self) -> &str {
        &self.issuer_cn
    }
    /// The subject name (DER).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject
    }
    /// The issuer name (DER).
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }
    /// The serial number (as encoded).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }
    /// notBefore (Unix seconds).
    pub fn not_before(&self) -> u64 {
        self.not_before
    }
    /// notAfter (Unix seconds).
    pub fn not_after(&self) -> u64 {
        self.not_after
    }
    /// The public key (uncompressed point).
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }
    /// The signature (DER ECDSA-Sig-Value).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
    /// The SGX extensions (PCK certificates only).
    pub fn sgx_extensions(&self) -> Option<&SgxExtensions> {
        self.sgx.as_ref()
    }
    /// Whether subject and issuer names are equal.
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    fn key(&self, fixed: bool) -> Option<&ParsedPublicKey> {
        let (cell, alg): (_, &'static dyn aws_lc_rs::signature::VerificationAlgorithm) = if fixed {
            (&self.fixed_key, &ECDSA_P256_SHA256_FIXED)
        } else {
            (&self.asn1_key, &ECDSA_P256_SHA256_ASN1)
        };
        cell.get_or_init(|| ParsedPublicKey::new(alg, &self.public_key).ok())
            .as_ref()
    }

    /// Checks a DER-encoded ECDSA-SHA256 signature over `msg` with this key.
    pub fn verify_der_signature(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.key(false)
            .is_some_and(|k| k.verify_sig(msg, sig).is_ok())
    }

    /// Checks a fixed `r ‖ s` ECDSA-SHA256 signature over `msg` with this key.
    pub fn verify_fixed_signature(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.key(true)
            .is_some_and(|k| k.verify_sig(msg, sig).is_ok())
    }

    /// Checks that `issuer` signed this certificate: issuer name equals the
    /// issuer's subject, ECDSA-SHA256, the signature verifies.
    pub fn verify_signed_by(&self, issuer: &IntelCert) -> Result<(), String> {
        if self.issuer != issuer.subject {
            return Err(format!(
                "the issuer of {} is not {}",
                self.subject_cn, issuer.subject_cn
            ));
        }
        if !self.sig_alg_ok {
            return Err(format!(
                "{} is not signed with ECDSA-SHA256",
                self.subject_cn
            ));
        }
        if issuer.verify_der_signature(&self.der[self.tbs.clone()], &self.signature) {
            Ok(())
        } else {
            Err(format!(
                "the signature of {} does not verify with the key of {}",
                self.subject_cn, issuer.subject_cn
            ))
        }
    }

    /// Whether the certificate is valid at `at` (Unix seconds): `Ok`, or
    /// whether it is not yet valid (`false`) or expired (`true`).
    pub fn validity_at(&self, at: u64) -> Result<(), bool> {
        if at < self.not_before {
            Err(false)
        } else if at > self.not_after {
            Err(true)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_root_parses_and_self_verifies() {
        let root = IntelCert::intel_root().expect("root");
        assert_eq!(root.subject_cn(), "Intel SGX Root CA");
        assert!(root.is_self_issued());
        assert!(root.verify_signed_by(&root).is_ok());
        assert_eq!(root.not_after(), 2_524_607_999);
        assert!(root.validity_at(1_700_000_000).is_ok());
        assert_eq!(root.validity_at(1_500_000_000), Err(false));
        assert!(root.sgx_extensions().is_none());
    }

    #[test]
    fn pem_is_strict() {
        let mut t = INTEL_SGX_ROOT_CA_PEM.as_bytes().to_vec();
        assert_eq!(pem_certificates(&t).map(|v| v.len()), Ok(1));
        t.extend_from_slice(b"\0\0\n");
        assert_eq!(pem_certificates(&t).map(|v| v.len()), Ok(1));
        t.extend_from_slice(b"junk");
        assert!(pem_certificates(&t).is_err());
        let mut t = INTEL_SGX_ROOT_CA_PEM.as_bytes().to_vec();
        t[100] = b'*';
        assert!(pem_certificates(&t).is_err());
        let t = INTEL_SGX_ROOT_CA_PEM.replace("-----END", "-----FIN");
        assert!(pem_certificates(t.as_bytes()).is_err());
    }

    #[test]
    fn der_helpers() {
        assert_eq!(tlv(&[0x30, 0x81, 0x80], 0), Some((0x30, 3, 128)));
        assert_eq!(tlv(&[0x30], 0), None);
        assert_eq!(small_uint(&[0x00, 0xff]), Some(255));
        assert_eq!(small_uint(&[0x80]), None);
        assert_eq!(trim_ascii(b" \0ab\n\0"), b"ab");
        assert_eq!(trim_ascii(b"  "), b"");
    }

    #[test]
    fn a_der_crl_ending_in_whitespace_or_nul_values_is_taken_whole() {
        let c: serde_json::Value =
            serde_json::from_slice(&tee_attest_testkit::vector("tdx-dcap/collateral.json"))
                .expect("collateral JSON");
        let crl = hex::decode(c["root_ca_crl"].as_str().expect("root CA CRL")).expect("hex");
        // The last byte is the signature's: any value is possible there.
        for last in [0u8, b'\t', b'\n', b' '] {
            let mut der = crl.clone();
            if let Some(b) = der.last_mut() {
                *b = last;
            }
            for tail in [&b""[..], b"\n", b"\0\0"] {
                let mut bytes = b"\n".to_vec();
                bytes.extend_from_slice(&der);
                bytes.extend_from_slice(tail);
                let parsed = IntelCrl::from_any(&bytes, "root CA CRL");
                assert!(parsed.is_ok(), "last byte {last:#04x}: {parsed:?}");
            }
        }
    }
}
