//! AMD's certificates (ARK, ASK, ASVK, VCEK, VLEK), read with
//! `x509-cert`, their signatures checked with `aws-lc-rs`. The built-in
//! roots are in `anchors`, a bag of certificates sorted by role in
//! `bundle`, CRLs in `crl`.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P384_SHA384_FIXED, RSA_PSS_2048_8192_SHA384};
use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::der::{
    common_name, first_inner_range, small_uint, time_secs, unwrap_tlv, AMD_EXT, OID_EC_PUBLIC_KEY,
    OID_RSA, OID_RSA_PSS, OID_SECP384R1,
};
use crate::error::SnpError;
use crate::tcb::Product;

/// What an AMD certificate is, told from its contents (self-signature,
/// key type, names and extensions), never from a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertRole {
    /// AMD Root Key: self-signed RSA.
    Ark,
    /// AMD SEV Key: RSA, signed by the ARK, signs VCEKs.
    Ask,
    /// AMD SEV VLEK Key: RSA, signed by the ARK, signs VLEKs.
    Asvk,
    /// Versioned Chip Endorsement Key: P-384.
    Vcek,
    /// Versioned Loaded Endorsement Key: P-384 with a CSP id.
    Vlek,
    /// Not a certificate of AMD's SNP chains.
    Other,
}

impl CertRole {
    /// Upper-case name (`ARK`, `ASK`, …).
    pub fn name(self) -> &'static str {
        match self {
            CertRole::Ark => "ARK",
            CertRole::Ask => "ASK",
            CertRole::Asvk => "ASVK",
            CertRole::Vcek => "VCEK",
            CertRole::Vlek => "VLEK",
            CertRole::Other => "other",
        }
    }
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The TCB a VCEK/VLEK certifies (its `1.3.6.1.4.1.3704.1.3.x` extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CertTcb {
    /// `.3.1` blSPL.
    pub bootloader: Option<u8>,
    /// `.3.2` teeSPL.
    pub tee: Option<u8>,
    /// `.3.3` snpSPL.
    pub snp: Option<u8>,
    /// `.3.8` ucodeSPL.
    pub microcode: Option<u8>,
    /// `.3.9` fmcSPL (Turin).
    pub fmc: Option<u8>,
}

/// The AMD extensions of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AmdExtensions {
    /// `1.3.6.1.4.1.3704.1.1` structVersion.
    pub struct_version: Option<u8>,
    /// `1.3.6.1.4.1.3704.1.2` productName (`Milan-B0`, `Turin`, …).
    pub product_name: Option<String>,
    /// The TCB extensions.
    pub tcb: CertTcb,
    /// `1.3.6.1.4.1.3704.1.4` hwID (64 bytes, 8 on Turin).
    pub hwid: Option<Vec<u8>>,
    /// `1.3.6.1.4.1.3704.1.5` cspID (VLEK).
    pub csp_id: Option<String>,
}

/// A parsed certificate, with what verification needs kept ready: the raw
/// TBS bytes, the signature, the parsed public key.
#[derive(Clone)]
pub struct AmdCertificate {
    der: Arc<[u8]>,
    tbs: Range<usize>,
    signature: Vec<u8>,
    sig_is_pss: bool,
    key: Option<Arc<ParsedPublicKey>>,
    key_is_rsa: bool,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    subject_cn: String,
    issuer_cn: String,
    serial: Vec<u8>,
    not_before: u64,
    not_after: u64,
    amd: AmdExtensions,
    role: CertRole,
}

impl fmt::Debug for AmdCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmdCertificate")
            .field("role", &self.role)
            .field("subject_cn", &self.subject_cn)
            .field("issuer_cn", &self.issuer_cn)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl PartialEq for AmdCertificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl AmdCertificate {
    /// Parses a DER certificate. `what` names it in errors.
    pub fn from_der(der: &[u8], what: &str) -> Result<Self, SnpError> {
        let cert = Certificate::from_der(der)
            .map_err(|e| SnpError::cert(what, format!("not a DER X.509 certificate: {e}")))?;
        let tbs = first_inner_range(der)
            .ok_or_else(|| SnpError::cert(what, "cannot locate tbsCertificate"))?;
        let t = &cert.tbs_certificate;
        let spki = &t.subject_public_key_info;
        let spki_oid = spki.algorithm.oid.to_string();
        let key_bytes = spki.subject_public_key.raw_bytes();
        let (key, key_is_rsa) = if spki_oid == OID_RSA || spki_oid == OID_RSA_PSS {
            (
                ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, key_bytes)
                    .ok()
                    .map(Arc::new),
                true,
            )
        } else if spki_oid == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok())
                .map(|o| o.to_string());
            let key = if curve.as_deref() == Some(OID_SECP384R1) {
                ParsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, key_bytes)
                    .ok()
                    .map(Arc::new)
            } else {
                None
            };
            (key, false)
        } else {
            (None, false)
        };
        let sig_is_pss = cert.signature_algorithm.oid.to_string() == OID_RSA_PSS;
        let mut amd = AmdExtensions::default();
        for ext in t.extensions.iter().flatten() {
            let oid = ext.extn_id.to_string();
            let Some(rest) = oid.strip_prefix(AMD_EXT) else {
                continue;
            };
            let v = ext.extn_value.as_bytes();
            match rest {
                "1" => amd.struct_version = small_uint(v),
                "2" => {
                    amd.product_name = unwrap_tlv(v, 0x16)
                        .or(Some(v))
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                }
                "3.1" => amd.tcb.bootloader = small_uint(v),
                "3.2" => amd.tcb.tee = small_uint(v),
                "3.3" => amd.tcb.snp = small_uint(v),
                "3.8" => amd.tcb.microcode = small_uint(v),
                "3.9" => amd.tcb.fmc = small_uint(v),
                "4" => {
                    let raw = if v.len() != 8 && v.len() != 64 {
                        unwrap_tlv(v, 0x04).unwrap_or(v)
                    } else {
                        v
                    };
                    amd.hwid = Some(raw.to_vec());
                }
                "5" => {
                    amd.csp_id =
                        Some(String::from_utf8_lossy(unwrap_tlv(v, 0x16).unwrap_or(v)).into_owned())
                }
                _ => {}
            }
        }
        let subject = t
            .subject
            .to_der()
            .map_err(|e| SnpError::cert(what, format!("subject: {e}")))?;
        let issuer = t
            .issuer
            .to_der()
            .map_err(|e| SnpError::cert(what, format!("issuer: {e}")))?;
        let subject_cn = common_name(&t.subject);
        let issuer_cn = common_name(&t.issuer);
        let self_issued = subject == issuer;
        let role = match (key_is_rsa, key.is_some(), self_issued) {
            (true, true, true) => CertRole::Ark,
            (true, true, false) => {
                if subject_cn.to_ascii_uppercase().contains("VLEK") {
                    CertRole::Asvk
                } else {
                    CertRole::Ask
                }
            }
            (false, true, false) => {
                if amd.csp_id.is_some() || subject_cn.to_ascii_uppercase().contains("VLEK") {
                    CertRole::Vlek
                } else {
                    CertRole::Vcek
                }
            }
            _ => CertRole::Other,
        };
        Ok(Self {
            der: Arc::from(der),
            tbs,
            signature: cert.signature.raw_bytes().to_vec(),
            sig_is_pss,
            key,
            key_is_rsa,
            subject,
            issuer,
            subject_cn,
            issuer_cn,
            serial: t.serial_number.as_bytes().to_vec(),
            not_before: time_secs(&t.validity.not_before),
            not_after: time_secs(&t.validity.not_after),
            amd,
            role,
        })
    }

    /// The certificate's DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The signed part (`tbsCertificate`), as encoded.
    pub fn tbs_bytes(&self) -> &[u8] {
        &self.der[self.tbs.clone()]
    }
    /// The signature bytes.
    pub fn signature_bytes(&self) -> &[u8] {
        &self.signature
    }
    /// The subject public key (the BIT STRING's contents: PKCS#1 for RSA,
    /// the uncompressed point for EC).
    pub fn public_key_bytes(&self) -> Vec<u8> {
        Certificate::from_der(&self.der)
            .map(|c| {
                c.tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes()
                    .to_vec()
            })
            .unwrap_or_default()
    }
    /// What the certificate is.
    pub fn role(&self) -> CertRole {
        self.role
    }
    /// The subject's common name.
    pub fn subject_cn(&self) -> &str {
        &self.subject_cn
    }
    /// The issuer's common name.
    pub fn issuer_cn(&self) -> &str {
        &self.issuer_cn
    }
    /// The serial number's bytes (big-endian, as encoded).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }
    /// notBefore, seconds since the Unix epoch.
    pub fn not_before(&self) -> u64 {
        self.not_before
    }
    /// notAfter, seconds since the Unix epoch.
    pub fn not_after(&self) -> u64 {
        self.not_after
    }
    /// The AMD extensions.
    pub fn amd(&self) -> &AmdExtensions {
        &self.amd
    }
    /// Whether subject and issuer names are equal.
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }
    pub(crate) fn subject_der(&self) -> &[u8] {
        &self.subject
    }
    pub(crate) fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }

    /// The product this certificate belongs to: its productName extension,
    /// else the issuer's or subject's common name (`SEV-Milan`, `ARK-Genoa`).
    pub fn product(&self) -> Option<Product> {
        self.amd
            .product_name
            .as_deref()
            .and_then(Product::from_name)
            .or_else(|| Product::from_name(&self.issuer_cn))
            .or_else(|| Product::from_name(&self.subject_cn))
    }

    /// Checks that `issuer`'s key signed this certificate (RSA-PSS with
    /// SHA-384, aws-lc-rs).
    pub fn verify_signed_by(&self, issuer: &AmdCertificate) -> Result<(), String> {
        if !self.sig_is_pss {
            return Err(format!(
                "{} is not signed with RSASSA-PSS (the only algorithm AMD uses)",
                self.role
            ));
        }
        if !issuer.key_is_rsa {
            return Err(format!("{} has no RSA key", issuer.role));
        }
        let key = issuer
            .key
            .as_deref()
            .ok_or_else(|| format!("{} key cannot be parsed", issuer.role))?;
        key.verify_sig(&self.der[self.tbs.clone()], &self.signature)
            .map_err(|_| {
                format!(
                    "{} ({}) signature does not verify with the {} ({}) key",
                    self.role, self.subject_cn, issuer.role, issuer.subject_cn
                )
            })
    }

    /// Checks an RSA-PSS SHA-384 signature over `msg` with this (RSA) key.
    pub(crate) fn verify_pss(&self, msg: &[u8], sig: &[u8]) -> Result<(), String> {
        let key = self
            .key
            .as_deref()
            .filter(|_| self.key_is_rsa)
            .ok_or_else(|| format!("{} has no RSA key", self.role))?;
        key.verify_sig(msg, sig)
            .map_err(|_| format!("signature does not verify with the {} key", self.role))
    }

    /// Whether the certificate is valid at `at` (Unix seconds): `Ok`, or the
    /// name of the failed bound.
    pub fn validity_at(&self, at: u64) -> Result<(), &'static str> {
        if at < self.not_before {
            Err("not yet valid")
        } else if at > self.not_after {
            Err("expired")
        } else {
            Ok(())
        }
    }

    /// Checks `sig` (fixed `r ‖ s`) over `msg` with this P-384 key.
    pub(crate) fn verify_ecdsa_p384(&self, msg: &[u8], sig: &[u8]) -> Result<(), String> {
        let key = self
            .key
            .as_deref()
            .filter(|_| !self.key_is_rsa)
            .ok_or_else(|| format!("{} has no ECDSA P-384 key", self.role))?;
        key.verify_sig(msg, sig)
            .map_err(|_| "the signature does not verify".into())
    }
}
