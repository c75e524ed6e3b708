//! Mock AMD roots: an ARK (RSA-4096, self-signed, RSA-PSS SHA-384) → ASK
//! (RSA-4096) → VCEK (ECDSA P-384) chain shaped like AMD's, with the real
//! TCB and hwID extensions, and SEV-SNP attestation reports laid out byte
//! for byte as the SEV-SNP ABI specification (table "ATTESTATION_REPORT")
//! says, signed by the mock VCEK.
//!
//! The certificates name themselves `O=tee-attest MOCK AMD (not genuine)`;
//! no verifier trusts them unless told to (`TrustAnchors::with_extra_root`).

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ECDSA_P384_SHA384_FIXED_SIGNING, RSA_PSS_SHA384,
};
use std::str::FromStr;
use x509_cert::der::asn1::{BitString, Ia5String, OctetString, UtcTime};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

use crate::MockError;

/// Size of an SEV-SNP attestation report.
pub const SNP_REPORT_LEN: usize = 0x4A0;
/// The signed part of a report: bytes `0x000..0x2A0`.
pub const SNP_SIGNED_LEN: usize = 0x2A0;

const ORG: &str = "O=tee-attest MOCK AMD (not genuine),OU=Engineering,C=US";
/// 2024-01-01T00:00:00Z.
const NOT_BEFORE: u64 = 1_704_067_200;
/// 2049-12-31T00:00:00Z (UTCTime's last year).
const NOT_AFTER: u64 = 2_524_521_600;

fn err(what: &'static str) -> impl FnOnce(String) -> MockError {
    move |reason| MockError::Crypto { what, reason }
}

/// The TCB a report and a VCEK carry (security patch levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockTcb {
    /// Boot loader SPL.
    pub bootloader: u8,
    /// PSP OS (TEE) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
}

impl Default for MockTcb {
    /// Patch levels like those of the real Milan vector.
    fn default() -> Self {
        Self {
            bootloader: 3,
            tee: 0,
            snp: 8,
            microcode: 115,
        }
    }
}

impl MockTcb {
    /// The 64-bit TCB_VERSION of Milan and Genoa: bytes (little-endian)
    /// boot loader, TEE, 4 reserved, SNP, microcode.
    pub fn to_u64(self) -> u64 {
        u64::from_le_bytes([
            self.bootloader,
            self.tee,
            0,
            0,
            0,
            0,
            self.snp,
            self.microcode,
        ])
    }
}

fn pss_sha384() -> Result<AlgorithmIdentifierOwned, MockError> {
    rsa::pss::get_default_pss_signature_algo_id::<sha2::Sha384>()
        .map_err(|e| err("RSA-PSS algorithm identifier")(e.to_string()))
}

fn name(cn: &str) -> Result<Name, MockError> {
    Name::from_str(&format!("CN={cn},{ORG}")).map_err(|e| err("certificate name")(e.to_string()))
}

fn ext(oid: &str, value_der: Vec<u8>, critical: bool) -> Result<Extension, MockError> {
    Ok(Extension {
        extn_id: ObjectIdentifier::new(oid).map_err(|e| err("extension OID")(e.to_string()))?,
        critical,
        extn_value: OctetString::new(value_der)
            .map_err(|e| err("extension value")(e.to_string()))?,
    })
}

fn der_int(v: u8) -> Vec<u8> {
    if v < 0x80 {
        vec![0x02, 0x01, v]
    } else {
        vec![0x02, 0x02, 0x00, v]
    }
}

fn ca_extensions() -> Result<Vec<Extension>, MockError> {
    Ok(vec![
        // basicConstraints: CA:TRUE
        ext("2.5.29.19", vec![0x30, 0x03, 0x01, 0x01, 0xff], true)?,
        // keyUsage: keyCertSign, cRLSign
        ext("2.5.29.15", vec![0x03, 0x02, 0x01, 0x06], true)?,
    ])
}

/// Build and sign a certificate with an RSA-4096 issuer key (RSA-PSS SHA-384).
fn certificate(
    serial: u8,
    issuer_cn: &str,
    subject_cn: &str,
    spki_der: &[u8],
    extensions: Vec<Extension>,
    issuer_key: &RsaKeyPair,
) -> Result<Vec<u8>, MockError> {
    let alg = pss_sha384()?;
    let time = |secs| {
        UtcTime::from_unix_duration(std::time::Duration::from_secs(secs))
            .map(Time::UtcTime)
            .map_err(|e| err("validity")(e.to_string()))
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[serial]).map_err(|e| err("serial")(e.to_string()))?,
        signature: alg.clone(),
        issuer: name(issuer_cn)?,
        validity: Validity {
            not_before: time(NOT_BEFORE)?,
            not_after: time(NOT_AFTER)?,
        },
        subject: name(subject_cn)?,
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki_der)
            .map_err(|e| err("subject public key")(e.to_string()))?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let tbs_der = tbs
        .to_der()
        .map_err(|e| err("TBSCertificate")(e.to_string()))?;
    let mut sig = vec![0u8; issuer_key.public_modulus_len()];
    issuer_key
        .sign(&RSA_PSS_SHA384, &SystemRandom::new(), &tbs_der, &mut sig)
        .map_err(|e| err("RSA-PSS signature")(e.to_string()))?;
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&sig).map_err(|e| err("signature")(e.to_string()))?,
    }
    .to_der()
    .map_err(|e| err("Certificate")(e.to_string()))
}

fn rsa_spki(key: &RsaKeyPair) -> Result<Vec<u8>, MockError> {
    Ok(key
        .public_key()
        .as_der()
        .map_err(|e| err("RSA public key")(e.to_string()))?
        .as_ref()
        .to_vec())
}

fn rsa_pkcs8(key: &RsaKeyPair) -> Result<Vec<u8>, MockError> {
    let der: Pkcs8V1Der<'_> = key
        .as_der()
        .map_err(|e| err("RSA private key")(e.to_string()))?;
    Ok(der.as_ref().to_vec())
}

/// The mock ARK and ASK of one product (keys and certificates).
pub struct MockAmdRoots {
    product: String,
    ark_key: RsaKeyPair,
    ark_der: Vec<u8>,
    ask_key: RsaKeyPair,
    ask_der: Vec<u8>,
}

impl std::fmt::Debug for MockAmdRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockAmdRoots")
            .field("product", &self.product)
            .finish_non_exhaustive()
    }
}

/// The PKCS#8 keys and DER certificates of mock roots, to store and load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockAmdRootsDer {
    /// The product (`Milan`).
    pub product: String,
    /// ARK private key, PKCS#8 DER.
    pub ark_key: Vec<u8>,
    /// ARK certificate, DER.
    pub ark_cert: Vec<u8>,
    /// ASK private key, PKCS#8 DER.
    pub ask_key: Vec<u8>,
    /// ASK certificate, DER.
    pub ask_cert: Vec<u8>,
}

impl MockAmdRoots {
    /// Generate fresh mock roots for `product` (`Milan`, `Genoa`): two
    /// RSA-4096 keys, so this takes a second or two.
    pub fn generate(product: &str) -> Result<Self, MockError> {
        let ark_key =
            RsaKeyPair::generate(KeySize::Rsa4096).map_err(|e| err("ARK key")(e.to_string()))?;
        let ask_key =
            RsaKeyPair::generate(KeySize::Rsa4096).map_err(|e| err("ASK key")(e.to_string()))?;
        let ark_cn = format!("ARK-{product}");
        let ark_der = certificate(
            1,
            &ark_cn,
            &ark_cn,
            &rsa_spki(&ark_key)?,
            ca_extensions()?,
            &ark_key,
        )?;
        let ask_der = certificate(
            2,
            &ark_cn,
            &format!("SEV-{product}"),
            &rsa_spki(&ask_key)?,
            ca_extensions()?,
            &ark_key,
        )?;
        Ok(Self {
            product: product.to_string(),
            ark_key,
            ark_der,
            ask_key,
            ask_der,
        })
    }

    /// Load stored mock roots.
    pub fn from_der(stored: &MockAmdRootsDer) -> Result<Self, MockError> {
        let key =
            |der: &[u8], what| RsaKeyPair::from_pkcs8(der).map_err(|e| err(what)(e.to_string()));
        Ok(Self {
            product: stored.product.clone(),
            ark_key: key(&stored.ark_key, "ARK key")?,
            ark_der: stored.ark_cert.clone(),
            ask_key: key(&stored.ask_key, "ASK key")?,
            ask_der: stored.ask_cert.clone(),
        })
    }

    /// The keys and certificates, to store.
    pub fn to_der(&self) -> Result<MockAmdRootsDer, MockError> {
        Ok(MockAmdRootsDer {
            product: self.product.clone(),
            ark_key: rsa_pkcs8(&self.ark_key)?,
            ark_cert: self.ark_der.clone(),
            ask_key: rsa_pkcs8(&self.ask_key)?,
            ask_cert: self.ask_der.clone(),
        })
    }

    /// The roots as PEM: ARK key, ARK certificate, ASK key, ASK
    /// certificate, in that order (what `cargo xtask gen-vectors` stores).
    pub fn to_pem(&self) -> Result<String, MockError> {
        use x509_cert::der::pem::{encode_string, LineEnding};
        let d = self.to_der()?;
        let mut out = format!(
            "# tee-attest MOCK AMD roots ({}): never trusted by default\n",
            d.product
        );
        for (label, der) in [
            ("PRIVATE KEY", &d.ark_key),
            ("CERTIFICATE", &d.ark_cert),
            ("PRIVATE KEY", &d.ask_key),
            ("CERTIFICATE", &d.ask_cert),
        ] {
            out.push_str(
                &encode_string(label, LineEnding::LF, der)
                    .map_err(|e| err("PEM")(e.to_string()))?,
            );
        }
        Ok(out)
    }

    /// Load roots stored by [`MockAmdRoots::to_pem`].
    pub fn from_pem(product: &str, text: &str) -> Result<Self, MockError> {
        let mut blocks = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("-----BEGIN ") {
            let Some(end_marker) = rest[start..].find("-----END ") else {
                break;
            };
            let tail = &rest[start + end_marker..];
            let end = tail.find('\n').map_or(tail.len(), |i| i + 1);
            let block = &rest[start..start + end_marker + end];
            let (_, der) = x509_cert::der::pem::decode_vec(block.as_bytes())
                .map_err(|e| err("PEM")(e.to_string()))?;
            blocks.push(der);
            rest = &rest[start + end_marker + end..];
        }
        let [ark_key, ark_cert, ask_key, ask_cert]: [Vec<u8>; 4] = blocks
            .try_into()
            .map_err(|b: Vec<Vec<u8>>| err("PEM")(format!("{} blocks, expected 4", b.len())))?;
        Self::from_der(&MockAmdRootsDer {
            product: product.to_string(),
            ark_key,
            ark_cert,
            ask_key,
            ask_cert,
        })
    }

    /// The repository's stored mock Milan roots (`testvectors/mock/amd-milan.pem`,
    /// made by `cargo xtask gen-vectors`): stable across runs and processes.
    pub fn stored_milan() -> Result<Self, MockError> {
        Self::from_pem(
            "Milan",
            include_str!("../../../testvectors/mock/amd-milan.pem"),
        )
    }

    /// The product.
    pub fn product(&self) -> &str {
        &self.product
    }

    /// The ARK certificate (DER): what a caller passes to trust the mock.
    pub fn ark_der(&self) -> &[u8] {
        &self.ark_der
    }

    /// The ASK certificate (DER).
    pub fn ask_der(&self) -> &[u8] {
        &self.ask_der
    }

    /// Issue a VCEK for a chip id and TCB, signed by the ASK, with AMD's
    /// extensions: structVersion, productName, the SPLs and hwID.
    pub fn issue_vcek(&self, chip_id: [u8; 64], tcb: MockTcb) -> Result<MockVcek, MockError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .map_err(|e| err("VCEK key")(e.to_string()))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|e| err("VCEK key")(e.to_string()))?;
        let spki = key
            .public_key()
            .as_der()
            .map_err(|e| err("VCEK public key")(e.to_string()))?;
        let product_name = Ia5String::new(&format!("{}-B0", self.product))
            .and_then(|s| s.to_der())
            .map_err(|e| err("productName")(e.to_string()))?;
        let amd = "1.3.6.1.4.1.3704.1";
        let extensions = vec![
            ext(&format!("{amd}.1"), der_int(0), false)?,
            ext(&format!("{amd}.2"), product_name, false)?,
            ext(&format!("{amd}.3.1"), der_int(tcb.bootloader), false)?,
            ext(&format!("{amd}.3.2"), der_int(tcb.tee), false)?,
            ext(&format!("{amd}.3.4"), der_int(0), false)?,
            ext(&format!("{amd}.3.5"), der_int(0), false)?,
            ext(&format!("{amd}.3.6"), der_int(0), false)?,
            ext(&format!("{amd}.3.7"), der_int(0), false)?,
            ext(&format!("{amd}.3.3"), der_int(tcb.snp), false)?,
            ext(&format!("{amd}.3.8"), der_int(tcb.microcode), false)?,
            ext(&format!("{amd}.4"), chip_id.to_vec(), false)?,
        ];
        let der = certificate(
            3,
            &format!("SEV-{}", self.product),
            "SEV-VCEK",
            spki.as_ref(),
            extensions,
            &self.ask_key,
        )?;
        Ok(MockVcek {
            key,
            der,
            chip_id,
            tcb,
        })
    }
}

/// A mock VCEK: its key signs reports.
pub struct MockVcek {
    key: EcdsaKeyPair,
    der: Vec<u8>,
    chip_id: [u8; 64],
    tcb: MockTcb,
}

impl std::fmt::Debug for MockVcek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockVcek")
            .field("tcb", &self.tcb)
            .finish_non_exhaustive()
    }
}

impl MockVcek {
    /// The certificate (DER).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The chip id it certifies.
    pub fn chip_id(&self) -> [u8; 64] {
        self.chip_id
    }

    /// The TCB it certifies.
    pub fn tcb(&self) -> MockTcb {
        self.tcb
    }

    /// Sign a report in place: ECDSA P-384 with SHA-384 over bytes
    /// `0x000..0x2A0`, r and s little-endian in 72-byte fields at 0x2A0 and
    /// 0x2E8.
    pub fn sign_report(&self, report: &mut [u8; SNP_REPORT_LEN]) -> Result<(), MockError> {
        let sig = self
            .key
            .sign(&SystemRandom::new(), &report[..SNP_SIGNED_LEN])
            .map_err(|e| err("report signature")(e.to_string()))?;
        let (r, s) = sig.as_ref().split_at(48);
        report[0x2A0..SNP_REPORT_LEN].fill(0);
        for (i, b) in r.iter().rev().enumerate() {
            report[0x2A0 + i] = *b;
        }
        for (i, b) in s.iter().rev().enumerate() {
            report[0x2E8 + i] = *b;
        }
        Ok(())
    }
}

/// The guest-chosen and launch-time fields of a mock SNP report. Fields not
/// here are filled from the VCEK (TCB, chip id) or left zero (reserved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockSnpReport {
    /// Report version (3: with the CPUID fields).
    pub version: u32,
    /// Guest SVN.
    pub guest_svn: u32,
    /// Guest policy: ABI minor/major in bits 0–15, SMT allowed (16),
    /// reserved-must-be-one (17), migration agent (18), debug (19).
    pub policy: u64,
    /// Family id.
    pub family_id: [u8; 16],
    /// Image id.
    pub image_id: [u8; 16],
    /// VMPL of the requester (0 for the HCL).
    pub vmpl: u32,
    /// Platform info (bit 0 SMT enabled).
    pub platform_info: u64,
    /// The 64 bytes the guest binds.
    pub report_data: [u8; 64],
    /// The launch measurement.
    pub measurement: [u8; 48],
    /// Host data.
    pub host_data: [u8; 32],
    /// ID key digest.
    pub id_key_digest: [u8; 48],
    /// Report id.
    pub report_id: [u8; 32],
    /// CPUID family, model, stepping (Milan: 0x19, 0x01, 0x01).
    pub cpuid: [u8; 3],
}

impl Default for MockSnpReport {
    fn default() -> Self {
        Self {
            version: 3,
            guest_svn: 4,
            // SMT allowed, reserved bit 17 set, ABI 0.31; not debuggable, no migration.
            policy: 0x3_001F,
            family_id: [0; 16],
            image_id: [0; 16],
            vmpl: 0,
            platform_info: 1,
            report_data: [0; 64],
            measurement: [0x42; 48],
            host_data: [0; 32],
            id_key_digest: [0; 48],
            report_id: [0x11; 32],
            cpuid: [0x19, 0x01, 0x01],
        }
    }
}

impl MockSnpReport {
    /// The report's bytes, signed by `vcek`, whose TCB and chip id it carries.
    pub fn sign(&self, vcek: &MockVcek) -> Result<[u8; SNP_REPORT_LEN], MockError> {
        let mut r = [0u8; SNP_REPORT_LEN];
        let put = |r: &mut [u8; SNP_REPORT_LEN], off: usize, bytes: &[u8]| {
            r[off..off + bytes.len()].copy_from_slice(bytes);
        };
        let tcb = vcek.tcb.to_u64().to_le_bytes();
        put(&mut r, 0x000, &self.version.to_le_bytes());
        put(&mut r, 0x004, &self.guest_svn.to_le_bytes());
        put(&mut r, 0x008, &self.policy.to_le_bytes());
        put(&mut r, 0x010, &self.family_id);
        put(&mut r, 0x020, &self.image_id);
        put(&mut r, 0x030, &self.vmpl.to_le_bytes());
        put(&mut r, 0x034, &1u32.to_le_bytes()); // signature algorithm: ECDSA P-384 SHA-384
        put(&mut r, 0x038, &tcb); // current TCB
        put(&mut r, 0x040, &self.platform_info.to_le_bytes());
        put(&mut r, 0x048, &0u32.to_le_bytes()); // signer info: VCEK, chip key not masked
        put(&mut r, 0x050, &self.report_data);
        put(&mut r, 0x090, &self.measurement);
        put(&mut r, 0x0C0, &self.host_data);
        put(&mut r, 0x0E0, &self.id_key_digest);
        // 0x110 author key digest: zero (no author key)
        put(&mut r, 0x140, &self.report_id);
        // 0x160 report_id_ma: zero
        put(&mut r, 0x180, &tcb); // reported TCB
        if self.version >= 3 {
            put(&mut r, 0x188, &self.cpuid);
        }
        put(&mut r, 0x1A0, &vcek.chip_id);
        put(&mut r, 0x1E0, &tcb); // committed TCB
        put(&mut r, 0x1E8, &[4, 52, 1, 0]); // current build, minor, major
        put(&mut r, 0x1EC, &[4, 52, 1, 0]); // committed build, minor, major
        put(&mut r, 0x1F0, &tcb); // launch TCB
        vcek.sign_report(&mut r)?;
        Ok(r)
    }
}
