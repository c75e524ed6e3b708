//! The mock Intel PKI: ECDSA P-256 keys, a self-signed mock Intel SGX Root
//! CA, a PCK Platform (or Processor) CA, a TCB Signing certificate, PCK
//! certificates with the SGX extensions, and the two CRLs — laid out as
//! Intel's are (the same extensions in the same order, the same name
//! attributes and string types, CRL number and authority key id in CRLs).
//!
//! ```text
//! Mock Intel SGX Root CA (self-signed, pathlen 1; root CA CRL)
//!  ├─ Mock Intel SGX PCK Platform CA (pathlen 0; PCK CRL) ── Mock Intel SGX PCK Certificate
//!  └─ Mock Intel SGX TCB Signing ── TCB info, QE identity
//! ```
//!
//! The organisation is `tee-attest MOCK Intel (not genuine)`; nothing trusts
//! these certificates unless a verifier is given the mock root
//! (`DcapVerifier::with_root_der`).

use std::time::Duration;

use aws_lc_rs::agreement::{self, ECDH_P256};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsBigEndian, AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use tee_attest_tdx::collateral::PckCa;
use tee_attest_tdx::SignedJson;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::der::asn1::{BitString, GeneralizedTime, OctetString, UtcTime};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

use crate::MockError;

/// The organisation of every mock Intel name.
pub const MOCK_INTEL_ORG: &str = "tee-attest MOCK Intel (not genuine)";
/// Common name of the mock root.
pub const ROOT_CN: &str = "Mock Intel SGX Root CA";
/// Common name of the mock PCK Platform CA.
pub const PLATFORM_CA_CN: &str = "Mock Intel SGX PCK Platform CA";
/// Common name of the mock PCK Processor CA.
pub const PROCESSOR_CA_CN: &str = "Mock Intel SGX PCK Processor CA";
/// Common name of mock PCK certificates.
pub const PCK_CN: &str = "Mock Intel SGX PCK Certificate";
/// Common name of the mock TCB Signing certificate.
pub const TCB_SIGNING_CN: &str = "Mock Intel SGX TCB Signing";
/// Where the mock certificates say their CRLs are (never fetched by
/// anything here: `.invalid` does not resolve).
pub const MOCK_CRL_HOST: &str = "https://pcs.mock-intel.invalid";

/// The SGX extensions OID (1.2.840.113741.1.13.1).
const SGX_OID: &str = "1.2.840.113741.1.13.1";
/// 2050-01-01T00:00:00Z: from here on X.509 times are GeneralizedTime.
const Y2050: u64 = 2_524_608_000;

pub(crate) fn crypto(what: &'static str) -> impl FnOnce(String) -> MockError {
    move |reason| MockError::Crypto { what, reason }
}

// ---------------------------------------------------------------------------
// A few DER encoders (the SGX extension and names are easier written out
// than modelled).

/// A DER length.
fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes: Vec<u8> = n
        .to_be_bytes()
        .iter()
        .copied()
        .skip_while(|&b| b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend_from_slice(&bytes);
    out
}

/// One TLV.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&der_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of already encoded parts.
fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// An OBJECT IDENTIFIER.
fn oid(dotted: &str) -> Result<Vec<u8>, MockError> {
    let o = ObjectIdentifier::new(dotted).map_err(|e| crypto("OID")(e.to_string()))?;
    Ok(tlv(0x06, o.as_bytes()))
}

/// A non-negative INTEGER from big-endian bytes, minimally encoded.
fn der_uint(be: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = be.iter().copied().skip_while(|&b| b == 0).collect();
    if v.is_empty() || v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    tlv(0x02, &v)
}

/// A fixed `r ‖ s` P-256 signature as a DER ECDSA-Sig-Value.
fn fixed_to_der(sig: &[u8; 64]) -> Vec<u8> {
    seq(&[der_uint(&sig[..32]), der_uint(&sig[32..])])
}

/// An Intel-shaped distinguished name: CN, O, L, ST (UTF8String), C
/// (PrintableString), in that order.
fn intel_name(cn: &str) -> Result<Name, MockError> {
    let atv = |o: &str, tag: u8, v: &str| -> Result<Vec<u8>, MockError> {
        Ok(tlv(0x31, &seq(&[oid(o)?, tlv(tag, v.as_bytes())])))
    };
    let der = seq(&[
        atv("2.5.4.3", 0x0C, cn)?,
        atv("2.5.4.10", 0x0C, MOCK_INTEL_ORG)?,
        atv("2.5.4.7", 0x0C, "Santa Clara")?,
        atv("2.5.4.8", 0x0C, "CA")?,
        atv("2.5.4.6", 0x13, "US")?,
    ]);
    Name::from_der(&der).map_err(|e| crypto("certificate name")(e.to_string()))
}

/// An X.509 time: UTCTime before 2050, GeneralizedTime after.
fn x509_time(secs: u64) -> Result<Time, MockError> {
    let d = Duration::from_secs(secs);
    if secs < Y2050 {
        UtcTime::from_unix_duration(d).map(Time::UtcTime)
    } else {
        GeneralizedTime::from_unix_duration(d).map(Time::GeneralTime)
    }
    .map_err(|e| crypto("X.509 time")(e.to_string()))
}

fn ecdsa_sha256() -> Result<AlgorithmIdentifierOwned, MockError> {
    Ok(AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new("1.2.840.10045.4.3.2")
            .map_err(|e| crypto("algorithm")(e.to_string()))?,
        parameters: None,
    })
}

fn extension(dotted: &str, critical: bool, value: Vec<u8>) -> Result<Extension, MockError> {
    Ok(Extension {
        extn_id: ObjectIdentifier::new(dotted)
            .map_err(|e| crypto("extension OID")(e.to_string()))?,
        critical,
        extn_value: OctetString::new(value).map_err(|e| crypto("extension")(e.to_string()))?,
    })
}

/// authorityKeyIdentifier with a key id.
fn aki(key_id: &[u8]) -> Result<Extension, MockError> {
    extension("2.5.29.35", false, seq(&[tlv(0x80, key_id)]))
}

/// cRLDistributionPoints with one URI.
fn crl_dp(uri: &str) -> Result<Extension, MockError> {
    let full_name = tlv(0xA0, &tlv(0x86, uri.as_bytes()));
    extension("2.5.29.31", false, seq(&[seq(&[tlv(0xA0, &full_name)])]))
}

fn ski(key_id: &[u8]) -> Result<Extension, MockError> {
    extension("2.5.29.14", false, tlv(0x04, key_id))
}

/// keyUsage: certificate and CRL signing (CAs) or digital signature and
/// non-repudiation (end entities), critical.
fn key_usage(ca: bool) -> Result<Extension, MockError> {
    let bits = if ca {
        vec![0x03, 0x02, 0x01, 0x06]
    } else {
        vec![0x03, 0x02, 0x06, 0xC0]
    };
    extension("2.5.29.15", true, bits)
}

/// basicConstraints, critical: CA with a path length, or not a CA.
fn basic_constraints(path_len: Option<u8>) -> Result<Extension, MockError> {
    let value = match path_len {
        Some(n) => seq(&[vec![0x01, 0x01, 0xFF], der_uint(&[n])]),
        None => seq(&[]),
    };
    extension("2.5.29.19", true, value)
}

// ---------------------------------------------------------------------------

/// An ECDSA P-256 key of the mock platform. Keys derived from a seed sign
/// deterministically (the same message, the same signature); generated or
/// loaded keys sign with aws-lc's random nonces.
pub struct MockKey {
    key: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    deterministic: bool,
}

impl std::fmt::Debug for MockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockKey")
            .field("public", &hex::encode(self.public_point()))
            .finish_non_exhaustive()
    }
}

impl MockKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, MockError> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|e| crypto("P-256 key")(e.to_string()))?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// The key derived from `seed` and `label`: the same inputs give the
    /// same key in every run (the private scalar is SHA-256 of a domain
    /// separator, the label, the seed and a counter, the first such value
    /// that is a valid P-256 scalar). It signs deterministically.
    pub fn from_seed(seed: &[u8], label: &str) -> Result<Self, MockError> {
        for counter in 0u32..64 {
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(b"tee-attest mock Intel key\0");
            ctx.update(label.as_bytes());
            ctx.update(&[0]);
            ctx.update(seed);
            ctx.update(&counter.to_be_bytes());
            let scalar = ctx.finish();
            let Ok(private) = agreement::PrivateKey::from_private_key(&ECDH_P256, scalar.as_ref())
            else {
                continue;
            };
            let der: Pkcs8V1Der<'static> = private
                .as_der()
                .map_err(|e| crypto("P-256 key")(e.to_string()))?;
            let mut key = Self::from_pkcs8(der.as_ref())?;
            key.deterministic = true;
            return Ok(key);
        }
        Err(crypto("P-256 key")(format!(
            "no valid scalar derived for {label}"
        )))
    }

    /// A key from its PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, MockError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|e| crypto("P-256 key")(e.to_string()))?;
        Ok(Self {
            key,
            pkcs8: der.to_vec(),
            deterministic: false,
        })
    }

    /// The private key, PKCS#8 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a quote carries it: `x ‖ y` (64 bytes).
    pub fn public_point(&self) -> [u8; 64] {
        let p = self.key.public_key().as_ref();
        let mut out = [0u8; 64];
        if p.len() == 65 {
            out.copy_from_slice(&p[1..]);
        }
        out
    }

    /// The SubjectPublicKeyInfo, DER.
    pub fn spki_der(&self) -> Result<Vec<u8>, MockError> {
        Ok(self
            .key
            .public_key()
            .as_der()
            .map_err(|e| crypto("public key")(e.to_string()))?
            .as_ref()
            .to_vec())
    }

    /// Key identifier: the first 20 bytes of SHA-256 of the public point.
    fn key_id(&self) -> [u8; 20] {
        let d = digest::digest(&digest::SHA256, self.key.public_key().as_ref());
        let mut out = [0u8; 20];
        out.copy_from_slice(&d.as_ref()[..20]);
        out
    }

    /// ECDSA-SHA256 of `msg`, `r ‖ s` (quotes, QE reports, TCB info).
    pub fn sign_fixed(&self, msg: &[u8]) -> Result<[u8; 64], MockError> {
        if self.deterministic {
            let d = self
                .key
                .private_key()
                .as_be_bytes()
                .map_err(|e| crypto("private key")(e.to_string()))?;
            // RFC 6979: the nonce is derived from the key and the message.
            let key = p256::ecdsa::SigningKey::from_slice(d.as_ref())
                .map_err(|e| crypto("private key")(e.to_string()))?;
            let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&key, msg);
            return <[u8; 64]>::try_from(sig.to_bytes().as_slice())
                .map_err(|_| crypto("ECDSA signature")("not 64 bytes".into()));
        }
        let sig = self
            .key
            .sign(&SystemRandom::new(), msg)
            .map_err(|e| crypto("ECDSA signature")(e.to_string()))?;
        <[u8; 64]>::try_from(sig.as_ref())
            .map_err(|_| crypto("ECDSA signature")("not 64 bytes".into()))
    }

    /// ECDSA-SHA256 of `msg` as a DER ECDSA-Sig-Value (certificates, CRLs).
    pub fn sign_der(&self, msg: &[u8]) -> Result<Vec<u8>, MockError> {
        Ok(fixed_to_der(&self.sign_fixed(msg)?))
    }
}

/// A 20-byte positive serial number derived from a label and a key (stable
/// for stable keys).
fn serial_for(label: &str, key: &MockKey) -> [u8; 20] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"tee-attest mock Intel serial\0");
    ctx.update(label.as_bytes());
    ctx.update(&key.public_point());
    let d = ctx.finish();
    let mut out = [0u8; 20];
    out.copy_from_slice(&d.as_ref()[..20]);
    out[0] = (out[0] & 0x3F) | 0x40;
    out
}

/// What a certificate says about itself.
struct CertSpec<'a> {
    serial: [u8; 20],
    issuer_cn: &'a str,
    subject_cn: &'a str,
    not_before: u64,
    not_after: u64,
    subject_key: &'a MockKey,
    extensions: Vec<Extension>,
}

fn sign_certificate(spec: CertSpec<'_>, issuer_key: &MockKey) -> Result<Vec<u8>, MockError> {
    let alg = ecdsa_sha256()?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&spec.serial)
            .map_err(|e| crypto("serial number")(e.to_string()))?,
        signature: alg.clone(),
        issuer: intel_name(spec.issuer_cn)?,
        validity: Validity {
            not_before: x509_time(spec.not_before)?,
            not_after: x509_time(spec.not_after)?,
        },
        subject: intel_name(spec.subject_cn)?,
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(&spec.subject_key.spki_der()?)
            .map_err(|e| crypto("subject public key")(e.to_string()))?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(spec.extensions),
    };
    let tbs_der = tbs
        .to_der()
        .map_err(|e| crypto("TBSCertificate")(e.to_string()))?;
    let sig = issuer_key.sign_der(&tbs_der)?;
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&sig).map_err(|e| crypto("signature")(e.to_string()))?,
    }
    .to_der()
    .map_err(|e| crypto("certificate")(e.to_string()))
}

/// A DER certificate as PEM (64-column base64, LF line ends, as Intel's).
pub fn cert_pem(der: &[u8]) -> String {
    tee_attest_tdx::pki::to_pem(der)
}

/// The SGX extensions of a PCK certificate (1.2.840.113741.1.13.1), as
/// Intel lays them out: PPID, TCB (16 component SVNs, PCESVN, CPUSVN),
/// PCE-ID, FMSPC, SGX type, and for Platform CA certificates the platform
/// instance id and the configuration (dynamic platform, cached keys, SMT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockSgxExtensions {
    /// PPID (16 bytes).
    pub ppid: [u8; 16],
    /// SGX TCB component SVNs 1–16 (`sgxtcbcomp01svn` …).
    pub comp_svn: [u8; 16],
    /// PCESVN.
    pub pce_svn: u16,
    /// CPUSVN.
    pub cpu_svn: [u8; 16],
    /// PCE-ID.
    pub pce_id: [u8; 2],
    /// FMSPC.
    pub fmspc: [u8; 6],
    /// SGX type: 0 Standard (Processor CA), 1 Scalable (Platform CA).
    pub sgx_type: u8,
    /// Platform instance id (Platform CA certificates).
    pub platform_instance_id: Option<[u8; 16]>,
    /// Configuration (Platform CA certificates): dynamic platform, cached
    /// keys, SMT enabled.
    pub configuration: Option<[bool; 3]>,
}

impl MockSgxExtensions {
    /// The extension's value (the DER inside its OCTET STRING).
    pub fn to_der(&self) -> Result<Vec<u8>, MockError> {
        let sub = |s: &str| oid(&format!("{SGX_OID}.{s}"));
        let mut tcb = Vec::with_capacity(18);
        for (i, svn) in self.comp_svn.iter().enumerate() {
            tcb.push(seq(&[sub(&format!("2.{}", i + 1))?, der_uint(&[*svn])]));
        }
        tcb.push(seq(&[sub("2.17")?, der_uint(&self.pce_svn.to_be_bytes())]));
        tcb.push(seq(&[sub("2.18")?, tlv(0x04, &self.cpu_svn)]));
        let mut entries = vec![
            seq(&[sub("1")?, tlv(0x04, &self.ppid)]),
            seq(&[sub("2")?, seq(&tcb)]),
            seq(&[sub("3")?, tlv(0x04, &self.pce_id)]),
            seq(&[sub("4")?, tlv(0x04, &self.fmspc)]),
            seq(&[sub("5")?, tlv(0x0A, &[self.sgx_type])]),
        ];
        if let Some(id) = &self.platform_instance_id {
            entries.push(seq(&[sub("6")?, tlv(0x04, id)]));
        }
        if let Some(conf) = self.configuration {
            let b = |v: bool| tlv(0x01, &[if v { 0xFF } else { 0x00 }]);
            entries.push(seq(&[
                sub("7")?,
                seq(&[
                    seq(&[sub("7.1")?, b(conf[0])]),
                    seq(&[sub("7.2")?, b(conf[1])]),
                    seq(&[sub("7.3")?, b(conf[2])]),
                ]),
            ]));
        }
        Ok(seq(&entries))
    }
}

/// A mock PCK: its key (which signs QE reports) and its certificate chain.
pub struct MockPck {
    key: MockKey,
    der: Vec<u8>,
    serial: [u8; 20],
    chain_pem: String,
    extensions: MockSgxExtensions,
}

impl std::fmt::Debug for MockPck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockPck")
            .field("serial", &hex::encode(self.serial))
            .field("fmspc", &hex::encode(self.extensions.fmspc))
            .finish_non_exhaustive()
    }
}

impl MockPck {
    /// The PCK certificate (DER).
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// Its serial number (as encoded: what a CRL lists).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }
    /// The chain a quote carries: PCK certificate, PCK CA, root (PEM).
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }
    /// The SGX extensions it was issued with.
    pub fn extensions(&self) -> &MockSgxExtensions {
        &self.extensions
    }
    /// The PCK's private key.
    pub fn key(&self) -> &MockKey {
        &self.key
    }
}

/// The mock root, PCK CA and TCB Signing certificate with their keys.
pub struct MockIntelPki {
    root_key: MockKey,
    root_der: Vec<u8>,
    ca_key: MockKey,
    ca_der: Vec<u8>,
    ca: PckCa,
    tcb_key: MockKey,
    tcb_der: Vec<u8>,
    not_before: u64,
    not_after: u64,
}

impl std::fmt::Debug for MockIntelPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockIntelPki")
            .field("ca", &self.ca)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl MockIntelPki {
    /// The PKI from three keys: the root signs the PCK CA (`ca` names
    /// which) and the TCB Signing certificate; every certificate is valid
    /// from `not_before` to `not_after` (Unix seconds).
    pub fn new(
        root_key: MockKey,
        ca_key: MockKey,
        tcb_key: MockKey,
        ca: PckCa,
        not_before: u64,
        not_after: u64,
    ) -> Result<Self, MockError> {
        if not_after <= not_before {
            return Err(crypto("certificate validity")(
                "notAfter is not after notBefore".into(),
            ));
        }
        let root_id = root_key.key_id();
        let root_crl_uri = format!("{MOCK_CRL_HOST}/IntelSGXRootCA.der");
        let root_der = sign_certificate(
            CertSpec {
                serial: serial_for("root", &root_key),
                issuer_cn: ROOT_CN,
                subject_cn: ROOT_CN,
                not_before,
                not_after,
                subject_key: &root_key,
                extensions: vec![
                    aki(&root_id)?,
                    crl_dp(&root_crl_uri)?,
                    ski(&root_id)?,
                    key_usage(true)?,
                    basic_constraints(Some(1))?,
                ],
            },
            &root_key,
        )?;
        let ca_der = sign_certificate(
            CertSpec {
                serial: serial_for("pck-ca", &ca_key),
                issuer_cn: ROOT_CN,
                subject_cn: ca_cn(ca),
                not_before,
                not_after,
                subject_key: &ca_key,
                extensions: vec![
                    aki(&root_id)?,
                    crl_dp(&root_crl_uri)?,
                    ski(&ca_key.key_id())?,
                    key_usage(true)?,
                    basic_constraints(Some(0))?,
                ],
            },
            &root_key,
        )?;
        let tcb_der = sign_certificate(
            CertSpec {
                serial: serial_for("tcb-signing", &tcb_key),
                issuer_cn: ROOT_CN,
                subject_cn: TCB_SIGNING_CN,
                not_before,
                not_after,
                subject_key: &tcb_key,
                extensions: vec![
                    aki(&root_id)?,
                    crl_dp(&root_crl_uri)?,
                    ski(&tcb_key.key_id())?,
                    key_usage(false)?,
                    basic_constraints(None)?,
                ],
            },
            &root_key,
        )?;
        Ok(Self {
            root_key,
            root_der,
            ca_key,
            ca_der,
            ca,
            tcb_key,
            tcb_der,
            not_before,
            not_after,
        })
    }

    /// The root certificate (DER): what a verifier is given to trust the mock.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }
    /// The PCK CA certificate (DER).
    pub fn pck_ca_der(&self) -> &[u8] {
        &self.ca_der
    }
    /// Which PCK CA it is.
    pub fn pck_ca(&self) -> PckCa {
        self.ca
    }
    /// The TCB Signing certificate (DER).
    pub fn tcb_signing_der(&self) -> &[u8] {
        &self.tcb_der
    }
    /// The TCB info and QE identity issuer chain: TCB Signing, root (PEM).
    pub fn tcb_signing_chain_pem(&self) -> String {
        cert_pem(&self.tcb_der) + &cert_pem(&self.root_der)
    }
    /// The PCK CRL issuer chain: PCK CA, root (PEM).
    pub fn pck_ca_chain_pem(&self) -> String {
        cert_pem(&self.ca_der) + &cert_pem(&self.root_der)
    }
    /// The PCK CA certificate's serial number (what the root CA CRL lists).
    pub fn pck_ca_serial(&self) -> [u8; 20] {
        serial_for("pck-ca", &self.ca_key)
    }

    /// Issues a PCK certificate for `key` with `extensions`, signed by the
    /// PCK CA, valid as the PKI is.
    pub fn issue_pck(
        &self,
        key: MockKey,
        extensions: &MockSgxExtensions,
    ) -> Result<MockPck, MockError> {
        let serial = serial_for("pck", &key);
        let der = sign_certificate(
            CertSpec {
                serial,
                issuer_cn: ca_cn(self.ca),
                subject_cn: PCK_CN,
                not_before: self.not_before,
                not_after: self.not_after,
                subject_key: &key,
                extensions: vec![
                    aki(&self.ca_key.key_id())?,
                    crl_dp(&format!(
                        "{MOCK_CRL_HOST}/sgx/certification/v4/pckcrl?ca={}&encoding=der",
                        self.ca.param()
                    ))?,
                    ski(&key.key_id())?,
                    key_usage(false)?,
                    basic_constraints(None)?,
                    extension(SGX_OID, false, extensions.to_der()?)?,
                ],
            },
            &self.ca_key,
        )?;
        let chain_pem = cert_pem(&der) + &self.pck_ca_chain_pem();
        Ok(MockPck {
            key,
            der,
            serial,
            chain_pem,
            extensions: extensions.clone(),
        })
    }

    /// Signs a TCB info or QE identity body with the TCB Signing key.
    pub fn sign_json(&self, body: String) -> Result<SignedJson, MockError> {
        let signature = self.tcb_key.sign_fixed(body.as_bytes())?.to_vec();
        Ok(SignedJson { body, signature })
    }

    /// The root CA CRL (DER), listing `revoked` serial numbers, valid from
    /// `this_update` to `next_update`.
    pub fn root_crl(
        &self,
        this_update: u64,
        next_update: u64,
        revoked: &[&[u8]],
    ) -> Result<Vec<u8>, MockError> {
        sign_crl(ROOT_CN, &self.root_key, this_update, next_update, revoked)
    }

    /// The PCK CA's CRL (DER), listing `revoked` serial numbers (a PCK's
    /// [`MockPck::serial`]), valid from `this_update` to `next_update`.
    pub fn pck_crl(
        &self,
        this_update: u64,
        next_update: u64,
        revoked: &[&[u8]],
    ) -> Result<Vec<u8>, MockError> {
        sign_crl(
            ca_cn(self.ca),
            &self.ca_key,
            this_update,
            next_update,
            revoked,
        )
    }
}

fn ca_cn(ca: PckCa) -> &'static str {
    match ca {
        PckCa::Platform => PLATFORM_CA_CN,
        PckCa::Processor => PROCESSOR_CA_CN,
    }
}

/// A v2 CRL as Intel's: CRL number 1 and the authority key id; revoked
/// entries with the reason keyCompromise, revoked at `this_update`.
fn sign_crl(
    issuer_cn: &str,
    key: &MockKey,
    this_update: u64,
    next_update: u64,
    revoked: &[&[u8]],
) -> Result<Vec<u8>, MockError> {
    let alg = ecdsa_sha256()?;
    let entries = revoked
        .iter()
        .map(|serial| {
            Ok(RevokedCert {
                serial_number: SerialNumber::new(serial)
                    .map_err(|e| crypto("revoked serial")(e.to_string()))?,
                revocation_date: x509_time(this_update)?,
                crl_entry_extensions: Some(vec![extension(
                    "2.5.29.21",
                    false,
                    vec![0x0A, 0x01, 0x01],
                )?]),
            })
        })
        .collect::<Result<Vec<_>, MockError>>()?;
    let tbs = TbsCertList {
        version: Version::V2,
        signature: alg.clone(),
        issuer: intel_name(issuer_cn)?,
        this_update: x509_time(this_update)?,
        next_update: Some(x509_time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![
            extension("2.5.29.20", false, der_uint(&[1]))?,
            aki(&key.key_id())?,
        ]),
    };
    let tbs_der = tbs
        .to_der()
        .map_err(|e| crypto("TBSCertList")(e.to_string()))?;
    let sig = key.sign_der(&tbs_der)?;
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&sig).map_err(|e| crypto("signature")(e.to_string()))?,
    }
    .to_der()
    .map_err(|e| crypto("CRL")(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_helpers() {
        assert_eq!(der_len(5), vec![5]);
        assert_eq!(der_len(200), vec![0x81, 200]);
        assert_eq!(der_len(0x1234), vec![0x82, 0x12, 0x34]);
        assert_eq!(der_uint(&[0, 0, 5]), vec![2, 1, 5]);
        assert_eq!(der_uint(&[0xFF]), vec![2, 2, 0, 0xFF]);
        assert_eq!(der_uint(&[0, 0]), vec![2, 1, 0]);
    }

    #[test]
    fn seeded_keys_are_stable_and_distinct() {
        let a = MockKey::from_seed(b"s", "root").expect("key");
        let b = MockKey::from_seed(b"s", "root").expect("key");
        let c = MockKey::from_seed(b"s", "pck").expect("key");
        assert_eq!(a.public_point(), b.public_point());
        assert_ne!(a.public_point(), c.public_point());
        let sig = a.sign_der(b"msg").expect("sig");
        assert_eq!(sig[0], 0x30);
    }
}
