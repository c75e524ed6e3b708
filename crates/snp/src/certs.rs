//! AMD's certificates (ARK, ASK, ASVK, VCEK, VLEK) and CRLs, read with
//! `x509-cert`, their signatures checked with `aws-lc-rs`; the genuine AMD
//! roots built in; and a bag of certificates sorted by what they contain.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P384_SHA384_FIXED, RSA_PSS_2048_8192_SHA384};
use base64::Engine as _;
use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::error::SnpError;
use crate::tcb::Product;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_SECP384R1: &str = "1.3.132.0.34";
const OID_CN: &str = "2.5.4.3";
const AMD_EXT: &str = "1.3.6.1.4.1.3704.1.";

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

/// Reads one DER TLV at `pos`: (header length, content length).
pub(crate) fn tlv(bytes: &[u8], pos: usize) -> Option<(usize, usize)> {
    let first = *bytes.get(pos + 1)?;
    if first < 0x80 {
        return Some((2, first as usize));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | *bytes.get(pos + 2 + i)? as usize;
    }
    Some((2 + n, len))
}

/// The byte range of the first element inside the outer SEQUENCE (the TBS
/// part of a certificate or CRL), as encoded.
fn first_inner_range(der: &[u8]) -> Option<Range<usize>> {
    let (h, _) = tlv(der, 0)?;
    let (h2, l2) = tlv(der, h)?;
    let end = h.checked_add(h2)?.checked_add(l2)?;
    (end <= der.len()).then_some(h..end)
}

fn unwrap_tlv(bytes: &[u8], tag: u8) -> Option<&[u8]> {
    if bytes.first() != Some(&tag) {
        return None;
    }
    let (h, l) = tlv(bytes, 0)?;
    (h + l == bytes.len()).then(|| &bytes[h..])
}

fn small_uint(bytes: &[u8]) -> Option<u8> {
    let v = unwrap_tlv(bytes, 0x02)?;
    let v = match v {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    match v {
        [x] => Some(*x),
        _ => None,
    }
}

fn common_name(name: &x509_cert::name::Name) -> String {
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid.to_string() == OID_CN {
                return String::from_utf8_lossy(atv.value.value()).into_owned();
            }
        }
    }
    String::new()
}

fn time_secs(t: &x509_cert::time::Time) -> u64 {
    t.to_unix_duration().as_secs()
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

/// Decodes every `CERTIFICATE` (or `X509 CRL` when `label` says so) block of
/// a PEM text.
pub fn pem_blocks(text: &[u8], label: &str) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(text);
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else { break };
        let body: String = after[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
            out.push(der);
        }
        rest = &after[stop + end.len()..];
    }
    out
}

/// Where a trust anchor comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RootOrigin {
    /// A genuine AMD root built into this crate.
    Amd,
    /// A root added explicitly by the caller (for instance the mock roots).
    Extra,
}

impl RootOrigin {
    /// `amd` or `extra`.
    pub fn name(self) -> &'static str {
        match self {
            RootOrigin::Amd => "amd",
            RootOrigin::Extra => "extra",
        }
    }
}

/// One trusted ARK, with the product it serves.
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    /// The ARK.
    pub ark: AmdCertificate,
    /// Its product, when known.
    pub product: Option<Product>,
    /// Genuine or extra.
    pub origin: RootOrigin,
}

/// The roots a verifier trusts, and intermediates it may use when evidence
/// carries none.
///
/// [`TrustAnchors::default`] (= [`TrustAnchors::amd`]) holds the genuine
/// AMD ARKs and ASKs for Milan, Genoa and Turin only. Other roots (the mock
/// roots) are trusted only through [`TrustAnchors::add_extra_root`], and a
/// verification result tells which kind of root its chain ended in.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    roots: Vec<TrustAnchor>,
    intermediates: Vec<AmdCertificate>,
}

impl Default for TrustAnchors {
    fn default() -> Self {
        Self::amd()
    }
}

fn builtin_pem(pem: &[u8], what: &str) -> Option<AmdCertificate> {
    let der = pem_blocks(pem, "CERTIFICATE").into_iter().next()?;
    match AmdCertificate::from_der(&der, what) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!("built-in {what} does not parse: {e}");
            None
        }
    }
}

impl TrustAnchors {
    /// The genuine AMD roots (ARK) and ASKs for Milan, Genoa and Turin, as
    /// the `sev` crate ships them.
    pub fn amd() -> Self {
        use sev::certs::snp::builtin::{genoa, milan, turin};
        let sets: [(Product, &[u8], &[u8]); 3] = [
            (Product::Milan, milan::ARK, milan::ASK),
            (Product::Genoa, genoa::ARK, genoa::ASK),
            (Product::Turin, turin::ARK, turin::ASK),
        ];
        let mut roots = Vec::new();
        let mut intermediates = Vec::new();
        for (product, ark, ask) in sets {
            if let Some(ark) = builtin_pem(ark, "built-in ARK") {
                roots.push(TrustAnchor {
                    ark,
                    product: Some(product),
                    origin: RootOrigin::Amd,
                });
            }
            if let Some(ask) = builtin_pem(ask, "built-in ASK") {
                intermediates.push(ask);
            }
        }
        Self {
            roots,
            intermediates,
        }
    }

    /// AMD's roots and these extra roots (ARKs, DER): the mock roots, only
    /// when a caller asks for them explicitly.
    pub fn amd_and(extra_roots: &[Vec<u8>]) -> Result<Self, SnpError> {
        let mut anchors = Self::amd();
        for root in extra_roots {
            anchors.add_extra_root(root)?;
        }
        Ok(anchors)
    }

    /// No roots at all (to build a set of extra roots only).
    pub fn empty() -> Self {
        Self {
            roots: Vec::new(),
            intermediates: Vec::new(),
        }
    }

    /// Trusts one more root (a self-signed ARK, DER), marked as
    /// [`RootOrigin::Extra`]. Its self-signature is checked here.
    pub fn add_extra_root(&mut self, ark_der: &[u8]) -> Result<(), SnpError> {
        let ark = AmdCertificate::from_der(ark_der, "extra root")?;
        if ark.role() != CertRole::Ark {
            return Err(SnpError::cert(
                "extra root",
                format!("not a self-signed RSA root (looks like {})", ark.role()),
            ));
        }
        ark.verify_signed_by(&ark)
            .map_err(|e| SnpError::cert("extra root", e))?;
        let product = ark.product();
        self.roots.push(TrustAnchor {
            ark,
            product,
            origin: RootOrigin::Extra,
        });
        Ok(())
    }

    /// [`add_extra_root`](Self::add_extra_root), builder style.
    pub fn with_extra_root(mut self, ark_der: &[u8]) -> Result<Self, SnpError> {
        self.add_extra_root(ark_der)?;
        Ok(self)
    }

    /// Adds an intermediate (ASK or ASVK, DER) to use when evidence carries
    /// none. It is still checked against a trusted root at every use.
    pub fn add_intermediate(&mut self, der: &[u8]) -> Result<(), SnpError> {
        let c = AmdCertificate::from_der(der, "intermediate")?;
        if !matches!(c.role(), CertRole::Ask | CertRole::Asvk) {
            return Err(SnpError::cert(
                "intermediate",
                format!("not an ASK/ASVK (looks like {})", c.role()),
            ));
        }
        self.intermediates.push(c);
        Ok(())
    }

    /// The trusted roots.
    pub fn roots(&self) -> &[TrustAnchor] {
        &self.roots
    }

    /// The known intermediates.
    pub fn intermediates(&self) -> &[AmdCertificate] {
        &self.intermediates
    }

    /// The built-in genuine ARK of `product`.
    pub fn amd_ark(&self, product: Product) -> Option<&AmdCertificate> {
        self.roots
            .iter()
            .find(|r| r.origin == RootOrigin::Amd && r.product == Some(product))
            .map(|r| &r.ark)
    }

    /// The anchor whose certificate is byte-identical to `ark`.
    pub(crate) fn find_identical(&self, ark: &AmdCertificate) -> Option<&TrustAnchor> {
        self.roots.iter().find(|r| r.ark.der == ark.der)
    }

    /// A root or intermediate of these anchors whose DER is `der`, already
    /// parsed.
    pub fn known(&self, der: &[u8]) -> Option<&AmdCertificate> {
        self.roots
            .iter()
            .map(|r| &r.ark)
            .chain(self.intermediates.iter())
            .find(|c| &*c.der == der)
    }

    /// The anchors whose subject is `issuer_name` (DER).
    pub(crate) fn by_subject<'a>(
        &'a self,
        issuer_name: &'a [u8],
    ) -> impl Iterator<Item = &'a TrustAnchor> + 'a {
        self.roots
            .iter()
            .filter(move |r| r.ark.subject_der() == issuer_name)
    }

    /// Known intermediates whose subject is `issuer_name` (DER).
    pub(crate) fn intermediates_by_subject<'a>(
        &'a self,
        issuer_name: &'a [u8],
    ) -> impl Iterator<Item = &'a AmdCertificate> + 'a {
        self.intermediates
            .iter()
            .filter(move |c| c.subject_der() == issuer_name)
    }
}

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
        if !list.iter().any(|x| x.der == c.der) {
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
                serde_json::from_slice(bytes).map_err(|e| SnpError::InvalidJson {
                    source_name: what.to_string(),
                    reason: e.to_string(),
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
                if crate::crl::AmdCrl::from_der(bytes).is_ok() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roots_parse_and_self_verify() {
        let t = TrustAnchors::amd();
        assert_eq!(t.roots().len(), 3);
        assert_eq!(t.intermediates().len(), 3);
        for r in t.roots() {
            assert_eq!(r.ark.role(), CertRole::Ark);
            assert_eq!(r.origin, RootOrigin::Amd);
            r.ark.verify_signed_by(&r.ark).unwrap();
            assert_eq!(r.ark.product(), r.product);
        }
        for ask in t.intermediates() {
            assert_eq!(ask.role(), CertRole::Ask);
            let ark = t.amd_ark(ask.product().unwrap()).unwrap();
            ask.verify_signed_by(ark).unwrap();
            assert!(ark.verify_signed_by(ask).is_err());
        }
    }

    #[test]
    fn tlv_lengths() {
        assert_eq!(tlv(&[0x30, 0x82, 0x01, 0x00], 0), Some((4, 256)));
        assert_eq!(tlv(&[0x30, 0x05], 0), Some((2, 5)));
        assert_eq!(tlv(&[0x30], 0), None);
        assert_eq!(small_uint(&[2, 2, 0, 0xd9]), Some(0xd9));
        assert_eq!(small_uint(&[2, 1, 3]), Some(3));
        assert_eq!(small_uint(&[2, 2, 1, 3]), None);
    }

    #[test]
    fn extra_root_must_be_self_signed() {
        let t = TrustAnchors::amd();
        let mut e = TrustAnchors::empty();
        assert!(e.add_extra_root(t.intermediates()[0].der()).is_err());
        e.add_extra_root(t.roots()[0].ark.der()).unwrap();
        assert_eq!(e.roots()[0].origin, RootOrigin::Extra);
    }
}
