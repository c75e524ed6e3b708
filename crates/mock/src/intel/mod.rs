//! A mock Intel DCAP platform: a mock Intel SGX Root CA and its PCK and
//! TCB Signing certificates ([`pki`]), signed TCB info and QE identities
//! with CRLs ([`collateral`]), TDX quotes v4 and v5 and SGX quotes v3 laid
//! out as Intel's quote specification has them, TDREPORTs and a mock
//! quoting enclave that turns them into quotes, a mock PCS on loopback
//! ([`MockPcs`]), and a TD firmware's CC event log ([`MockCcEventLog`]).
//!
//! The same parsers, collateral sources and verifier run on its evidence as
//! on real evidence: `tee_attest_tdx::DcapVerifier` accepts a mock quote
//! only when given the mock root (`DcapVerifier::with_root_der(platform.root_der())`);
//! with the genuine Intel root it refuses it (untrusted root).
//!
//! ```text
//! quote v4 / v5   header (48) ‖ [body type ‖ size] ‖ TD body ‖ sig-data len ‖
//!                 quote signature (attestation key) ‖ attestation key ‖
//!                 cert data type 6: QE report (signed by the PCK; report data =
//!                 SHA-256(attestation key ‖ QE auth data) ‖ 0) ‖ QE report signature ‖
//!                 QE auth data ‖ cert data type 5: PCK chain PEM (leaf, CA, root) ‖ NUL
//! quote v3 (SGX)  header ‖ enclave report ‖ sig-data len ‖ signature ‖ key ‖ QE report ‖
//!                 its signature ‖ QE auth data ‖ cert data type 5
//! ```
//!
//! Keys are random ([`MockIntelPlatform::generate`]) or derived from a seed
//! ([`MockIntelPlatform::from_seed`]): the same seed (and configuration)
//! gives the same keys and, as seeded keys sign deterministically,
//! byte-identical certificates, CRLs, collateral and quotes in every run and
//! process — a verifier elsewhere can trust the root of
//! `MockIntelPlatform::from_seed(seed)` by making the same platform.

pub mod ccel;
pub mod collateral;
mod pcs;
pub mod pki;
pub mod quote;
mod source;

use std::sync::{Arc, OnceLock};

use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use tee_attest_tdx::collateral::PckCa;
use tee_attest_tdx::quote::{
    ATT_KEY_TYPE_ECDSA_P256, BODY_TYPE_TD10, BODY_TYPE_TD15, CERT_TYPE_PCK_CHAIN,
    CERT_TYPE_QE_REPORT, INTEL_QE_VENDOR_ID, TD10_BODY_LEN, TD15_BODY_LEN, TEE_TYPE_SGX,
    TEE_TYPE_TDX,
};
use tee_attest_tdx::tdreport::{
    TDINFO_LEN, TDINFO_OFFSET, TDREPORT_LEN, TEE_TCB_INFO_LEN, TEE_TCB_INFO_OFFSET,
};
use tee_attest_tdx::{TdReport, TdxError};

pub use ccel::MockCcEventLog;
pub use collateral::{intel_date, url_encode, MockCollateralOptions, DAY};
pub use pcs::MockPcs;
pub use pki::{MockIntelPki, MockKey, MockPck, MockSgxExtensions};
pub use quote::{MockEnclave, MockTd, TdQuoteKind, DEFAULT_TEE_TCB_SVN};
pub use source::MockCollateralSource;

use crate::MockError;

/// 2024-01-01T00:00:00Z.
const DEFAULT_NOT_BEFORE: u64 = 1_704_067_200;
/// 2049-12-31T23:59:59Z (the genuine root's notAfter).
const DEFAULT_NOT_AFTER: u64 = 2_524_607_999;

/// The platform a mock is: its PCK CA, the facts its PCK certificate
/// carries, its quoting enclaves and its TDX module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockIntelConfig {
    /// Which PCK CA issues the PCK (Platform: SGX type Scalable with a
    /// platform instance id and configuration; Processor: Standard).
    pub ca: PckCa,
    /// FMSPC.
    pub fmspc: [u8; 6],
    /// PCE-ID.
    pub pce_id: [u8; 2],
    /// PPID.
    pub ppid: [u8; 16],
    /// CPUSVN (PCK certificate; QE and enclave reports).
    pub cpu_svn: [u8; 16],
    /// SGX TCB component SVNs of the PCK certificate.
    pub sgx_tcb_components: [u8; 16],
    /// PCESVN of the PCK certificate.
    pub pce_svn: u16,
    /// Platform instance id (Platform CA only).
    pub platform_instance_id: [u8; 16],
    /// The QE id: the first 16 bytes of the quote header's user data.
    pub qe_id: [u8; 16],
    /// The TD quoting enclave (its report is the QE report of TDX quotes).
    pub td_qe: MockEnclave,
    /// The SGX quoting enclave.
    pub sgx_qe: MockEnclave,
    /// QE authentication data (at most 65535 bytes).
    pub qe_auth_data: Vec<u8>,
    /// The TDX module's TEE_TCB_SVN (TDs from [`MockIntelPlatform::td`] and
    /// the TCB info's TDX levels).
    pub tee_tcb_svn: [u8; 16],
    /// The TDX module's MRSEAM.
    pub mr_seam: [u8; 48],
    /// notBefore of every certificate (Unix seconds).
    pub not_before: u64,
    /// notAfter of every certificate.
    pub not_after: u64,
}

impl Default for MockIntelConfig {
    /// A Platform-CA TDX platform (mock FMSPC `90C06F000000`), UpToDate
    /// collateral for it, TD QE ISVSVN 4, SGX QE ISVSVN 8, TDX module 1.5
    /// at SVN 5; certificates valid 2024-01-01 … 2049-12-31.
    fn default() -> Self {
        let cpu_svn = [3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut td_qe = MockEnclave::quoting_enclave(2, 4);
        td_qe.cpu_svn = cpu_svn;
        let mut sgx_qe = MockEnclave::quoting_enclave(1, 8);
        sgx_qe.cpu_svn = cpu_svn;
        Self {
            ca: PckCa::Platform,
            fmspc: [0x90, 0xC0, 0x6F, 0x00, 0x00, 0x00],
            pce_id: [0, 0],
            ppid: [0x99; 16],
            cpu_svn,
            sgx_tcb_components: cpu_svn,
            pce_svn: 13,
            platform_instance_id: [0x77; 16],
            qe_id: [0x51; 16],
            td_qe,
            sgx_qe,
            qe_auth_data: (0u8..32).collect(),
            tee_tcb_svn: DEFAULT_TEE_TCB_SVN,
            mr_seam: MockTd::default().mr_seam,
            not_before: DEFAULT_NOT_BEFORE,
            not_after: DEFAULT_NOT_AFTER,
        }
    }
}

impl MockIntelConfig {
    /// The SGX extensions its PCK certificate carries.
    pub fn sgx_extensions(&self) -> MockSgxExtensions {
        let platform = self.ca == PckCa::Platform;
        MockSgxExtensions {
            ppid: self.ppid,
            comp_svn: self.sgx_tcb_components,
            pce_svn: self.pce_svn,
            cpu_svn: self.cpu_svn,
            pce_id: self.pce_id,
            fmspc: self.fmspc,
            sgx_type: u8::from(platform),
            platform_instance_id: platform.then_some(self.platform_instance_id),
            configuration: platform.then_some([true, true, true]),
        }
    }
}

/// The seed of [`MockIntelPlatform::stored`]: public on purpose — anyone
/// can sign as the mock platform, which is why its root is never trusted
/// by default.
pub const STORED_SEED: &[u8] = b"tee-attest mock Intel platform, stored seed v1";

/// A mock Intel platform: PKI, PCK, attestation key, TDREPORT MAC key.
pub struct MockIntelPlatform {
    config: MockIntelConfig,
    pki: MockIntelPki,
    pck: MockPck,
    attestation_key: MockKey,
    report_key: hmac::Key,
}

impl std::fmt::Debug for MockIntelPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockIntelPlatform")
            .field("fmspc", &hex::encode_upper(self.config.fmspc))
            .field("ca", &self.config.ca)
            .field("pck", &self.pck)
            .finish_non_exhaustive()
    }
}

impl MockIntelPlatform {
    /// A platform with the default configuration and fresh random keys.
    pub fn generate() -> Result<Self, MockError> {
        Self::build(MockIntelConfig::default(), None)
    }

    /// The repository's mock Intel platform: the default configuration
    /// with keys derived from [`STORED_SEED`], built once per process. Every
    /// mock TDX/SGX backend signs with it, and `trust_roots()` names its
    /// root; like every mock root it is trusted only when asked for.
    pub fn stored() -> Result<Arc<Self>, MockError> {
        static STORED: OnceLock<Arc<MockIntelPlatform>> = OnceLock::new();
        if let Some(p) = STORED.get() {
            return Ok(Arc::clone(p));
        }
        let p = Arc::new(Self::from_seed(STORED_SEED)?);
        Ok(Arc::clone(STORED.get_or_init(|| p)))
    }

    /// A platform with the default configuration and keys derived from
    /// `seed` (the same in every run).
    pub fn from_seed(seed: &[u8]) -> Result<Self, MockError> {
        Self::build(MockIntelConfig::default(), Some(seed))
    }

    /// A platform with `config`, keys derived from `seed` or, without one,
    /// random.
    pub fn build(config: MockIntelConfig, seed: Option<&[u8]>) -> Result<Self, MockError> {
        if u16::try_from(config.qe_auth_data.len()).is_err() {
            return Err(MockError::Tdx(TdxError::InvalidInput(format!(
                "QE authentication data of {} bytes (at most 65535)",
                config.qe_auth_data.len()
            ))));
        }
        let key = |label: &str| match seed {
            Some(s) => MockKey::from_seed(s, label),
            None => MockKey::generate(),
        };
        let pki = MockIntelPki::new(
            key("root")?,
            key("pck-ca")?,
            key("tcb-signing")?,
            config.ca,
            config.not_before,
            config.not_after,
        )?;
        let pck = pki.issue_pck(key("pck")?, &config.sgx_extensions())?;
        let attestation_key = key("attestation")?;
        let mut mac = [0u8; 32];
        match seed {
            Some(s) => {
                let mut ctx = digest::Context::new(&digest::SHA256);
                ctx.update(b"tee-attest mock Intel report MAC key\0");
                ctx.update(s);
                mac.copy_from_slice(ctx.finish().as_ref());
            }
            None => aws_lc_rs::rand::fill(&mut mac)
                .map_err(|_| pki::crypto("report MAC key")("no randomness".into()))?,
        }
        Ok(Self {
            config,
            pki,
            pck,
            attestation_key,
            report_key: hmac::Key::new(hmac::HMAC_SHA256, &mac),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MockIntelConfig {
        &self.config
    }
    /// The PKI (root, PCK CA, TCB Signing).
    pub fn pki(&self) -> &MockIntelPki {
        &self.pki
    }
    /// The platform's PCK.
    pub fn pck(&self) -> &MockPck {
        &self.pck
    }
    /// The mock root (DER): what `DcapVerifier::with_root_der` is given.
    pub fn root_der(&self) -> &[u8] {
        self.pki.root_der()
    }
    /// The attestation key's public point as quotes carry it (`x ‖ y`).
    pub fn attestation_key(&self) -> [u8; 64] {
        self.attestation_key.public_point()
    }

    /// A TD on this platform's TDX module (TEE_TCB_SVN, TEE_TCB_SVN2,
    /// MRSEAM from the configuration), otherwise [`MockTd::default`].
    pub fn td(&self) -> MockTd {
        MockTd {
            tee_tcb_svn: self.config.tee_tcb_svn,
            tee_tcb_svn2: self.config.tee_tcb_svn,
            mr_seam: self.config.mr_seam,
            ..MockTd::default()
        }
    }

    /// An SGX enclave on this platform (its CPUSVN), otherwise
    /// [`MockEnclave::default`].
    pub fn enclave(&self) -> MockEnclave {
        MockEnclave {
            cpu_svn: self.config.cpu_svn,
            ..MockEnclave::default()
        }
    }

    fn header(&self, version: u16, tee_type: u32, reserved: [u8; 4]) -> Vec<u8> {
        let mut h = Vec::with_capacity(48);
        h.extend_from_slice(&version.to_le_bytes());
        h.extend_from_slice(&ATT_KEY_TYPE_ECDSA_P256.to_le_bytes());
        h.extend_from_slice(&tee_type.to_le_bytes());
        h.extend_from_slice(&reserved);
        h.extend_from_slice(&INTEL_QE_VENDOR_ID);
        h.extend_from_slice(&self.config.qe_id);
        h.extend_from_slice(&[0; 4]);
        h
    }

    /// Signs `signed` (header ‖ [body type ‖ size ‖] body) and appends the
    /// signature data: the QE report of `qe` binding the attestation key,
    /// signed by the PCK, and the PCK chain.
    fn finish_quote(
        &self,
        mut signed: Vec<u8>,
        qe: &MockEnclave,
        v3: bool,
    ) -> Result<Vec<u8>, MockError> {
        let att = self.attestation_key.public_point();
        let auth = &self.config.qe_auth_data;
        let auth_len = u16::try_from(auth.len()).map_err(|_| {
            TdxError::InvalidInput("QE authentication data over 65535 bytes".into())
        })?;
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&att);
        ctx.update(auth);
        let mut qe = qe.clone();
        qe.report_data = [0; 64];
        qe.report_data[..32].copy_from_slice(ctx.finish().as_ref());
        let qe_report = qe.to_bytes();
        let qe_sig = self.pck.key().sign_fixed(&qe_report)?;
        let mut pem = self.pck.chain_pem().as_bytes().to_vec();
        pem.push(0);
        let len32 = |n: usize| {
            u32::try_from(n)
                .map(u32::to_le_bytes)
                .map_err(|_| TdxError::InvalidInput("a quote part over 4 GiB".into()))
        };
        let mut qe_part = Vec::with_capacity(qe_report.len() + 64 + 2 + auth.len());
        qe_part.extend_from_slice(&qe_report);
        qe_part.extend_from_slice(&qe_sig);
        qe_part.extend_from_slice(&auth_len.to_le_bytes());
        qe_part.extend_from_slice(auth);
        qe_part.extend_from_slice(&CERT_TYPE_PCK_CHAIN.to_le_bytes());
        qe_part.extend_from_slice(&len32(pem.len())?);
        qe_part.extend_from_slice(&pem);

        let signature = self.attestation_key.sign_fixed(&signed)?;
        let mut sig_data = Vec::with_capacity(128 + 6 + qe_part.len());
        sig_data.extend_from_slice(&signature);
        sig_data.extend_from_slice(&att);
        if !v3 {
            sig_data.extend_from_slice(&CERT_TYPE_QE_REPORT.to_le_bytes());
            sig_data.extend_from_slice(&len32(qe_part.len())?);
        }
        sig_data.extend_from_slice(&qe_part);
        signed.extend_from_slice(&len32(sig_data.len())?);
        signed.extend_from_slice(&sig_data);
        Ok(signed)
    }

    /// A TDX quote of `td`: v4 (TD 1.0 body), or v5 with a TD 1.0 or TD 1.5
    /// body.
    pub fn tdx_quote(&self, td: &MockTd, kind: TdQuoteKind) -> Result<Vec<u8>, MockError> {
        let version = if kind == TdQuoteKind::V4 { 4 } else { 5 };
        let mut signed = self.header(version, TEE_TYPE_TDX, [0; 4]);
        match kind {
            TdQuoteKind::V4 => signed.extend_from_slice(&td.td10_body()),
            TdQuoteKind::V5Td10 => {
                signed.extend_from_slice(&BODY_TYPE_TD10.to_le_bytes());
                signed.extend_from_slice(&(TD10_BODY_LEN as u32).to_le_bytes());
                signed.extend_from_slice(&td.td10_body());
            }
            TdQuoteKind::V5Td15 => {
                signed.extend_from_slice(&BODY_TYPE_TD15.to_le_bytes());
                signed.extend_from_slice(&(TD15_BODY_LEN as u32).to_le_bytes());
                signed.extend_from_slice(&td.td15_body());
            }
        }
        self.finish_quote(signed, &self.config.td_qe, false)
    }

    /// A TDX quote v4 (TD 1.0 body) of `td`.
    pub fn tdx_quote_v4(&self, td: &MockTd) -> Result<Vec<u8>, MockError> {
        self.tdx_quote(td, TdQuoteKind::V4)
    }

    /// A TDX quote v5 with a TD 1.5 body (body type 3) of `td`.
    pub fn tdx_quote_v5(&self, td: &MockTd) -> Result<Vec<u8>, MockError> {
        self.tdx_quote(td, TdQuoteKind::V5Td15)
    }

    /// An SGX quote v3 of `enclave` (header bytes 8–12: the QE's ISVSVN and
    /// the PCESVN).
    pub fn sgx_quote_v3(&self, enclave: &MockEnclave) -> Result<Vec<u8>, MockError> {
        let mut reserved = [0u8; 4];
        reserved[..2].copy_from_slice(&self.config.sgx_qe.isv_svn.to_le_bytes());
        reserved[2..].copy_from_slice(&self.config.pce_svn.to_le_bytes());
        let mut signed = self.header(3, TEE_TYPE_SGX, reserved);
        signed.extend_from_slice(&enclave.to_bytes());
        self.finish_quote(signed, &self.config.sgx_qe, true)
    }

    fn report_mac(&self, reportmac_head: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.report_key, reportmac_head);
        let mut out = [0u8; 32];
        out.copy_from_slice(&tag.as_ref()[..32]);
        out
    }

    /// The 1024-byte TDREPORT `td` would read from TDG.MR.REPORT on this
    /// platform: REPORTMACSTRUCT (type 0x81, version 1 when TEE_TCB_SVN2 is
    /// set; the platform's CPUSVN; SHA-384 of TEE_TCB_INFO and TDINFO; the
    /// report data; a MAC only this platform's quoting enclave checks),
    /// TEE_TCB_INFO and TDINFO.
    pub fn tdreport(&self, td: &MockTd) -> [u8; TDREPORT_LEN] {
        let mut r = [0u8; TDREPORT_LEN];
        let mut put = |at: usize, v: &[u8]| r[at..at + v.len()].copy_from_slice(v);
        let v15 = td.tee_tcb_svn2 != [0; 16];
        put(0, &[0x81, 0, u8::from(v15), 0]);
        put(16, &self.config.cpu_svn);
        put(128, &td.report_data);
        // TEE_TCB_INFO: VALID (a bit per field present), then the fields.
        let t = TEE_TCB_INFO_OFFSET;
        put(t, &[if v15 { 0x1F } else { 0x0F }, 0, 0, 0, 0, 0, 0, 0]);
        put(t + 8, &td.tee_tcb_svn);
        put(t + 24, &td.mr_seam);
        put(t + 72, &td.mr_signer_seam);
        put(t + 120, &td.seam_attributes);
        put(t + 128, &td.tee_tcb_svn2);
        // TDINFO.
        let i = TDINFO_OFFSET;
        put(i, &td.td_attributes);
        put(i + 8, &td.xfam);
        put(i + 16, &td.mr_td);
        put(i + 64, &td.mr_config_id);
        put(i + 112, &td.mr_owner);
        put(i + 160, &td.mr_owner_config);
        for (n, rtmr) in td.rtmr.iter().enumerate() {
            put(i + 208 + 48 * n, rtmr);
        }
        put(i + 400, &td.mr_service_td);
        let tcb_hash = digest::digest(
            &digest::SHA384,
            &r[TEE_TCB_INFO_OFFSET..TEE_TCB_INFO_OFFSET + TEE_TCB_INFO_LEN],
        );
        let info_hash = digest::digest(
            &digest::SHA384,
            &r[TDINFO_OFFSET..TDINFO_OFFSET + TDINFO_LEN],
        );
        r[32..80].copy_from_slice(tcb_hash.as_ref());
        r[80..128].copy_from_slice(info_hash.as_ref());
        let mac = self.report_mac(&r[..224]);
        r[224..256].copy_from_slice(&mac);
        r
    }

    /// The mock quoting enclave: checks a TDREPORT (TDX report type, its
    /// hashes, and its MAC — only TDREPORTs made by [`Self::tdreport`] on
    /// this platform pass) and quotes it as `kind`.
    pub fn quote_tdreport(&self, tdreport: &[u8], kind: TdQuoteKind) -> Result<Vec<u8>, MockError> {
        let r = TdReport::parse(tdreport)?;
        if !r.is_tdx() {
            return Err(TdxError::Parse {
                structure: "TDREPORT",
                field: "reportmacstruct.report_type",
                offset: 0,
                reason: format!("type {:#04x} is not TDX (0x81)", r.report_type[0]),
            }
            .into());
        }
        r.check_hashes()?;
        let raw = r.raw();
        if hmac::verify(&self.report_key, &raw[..224], &raw[224..256]).is_err() {
            return Err(TdxError::InvalidInput(
                "the TDREPORT's MAC does not verify: it was not made on this mock platform".into(),
            )
            .into());
        }
        self.tdx_quote(&MockTd::from_tdreport(&r), kind)
    }

    /// The mock quoting enclave's usual answer: a v4 quote of a TDREPORT
    /// (see [`Self::quote_tdreport`]).
    pub fn quote_from_tdreport(&self, tdreport: &[u8]) -> Result<Vec<u8>, MockError> {
        self.quote_tdreport(tdreport, TdQuoteKind::V4)
    }
}
