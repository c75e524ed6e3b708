//! The collateral sources: evidence, cache, offline directory, PCCS/PCS.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tee_attest_core::time::{Clock, SystemClock};
use tee_attest_http::{Http, Response};

use super::{
    Collateral, CollateralRequest, CollateralSource, HttpConfig, PcsKind, SignedJson, Tee,
};
use crate::error::TdxError;
use crate::pki::{pem_certificates, IntelCert, IntelCrl};
use crate::qe_identity::{QeId, QeIdentity};
use crate::tcb_info::{TcbId, TcbInfo};

/// Collateral that came with the evidence (or that a caller already has).
#[derive(Debug, Clone)]
pub struct EvidenceCollateral {
    collateral: Collateral,
}

impl EvidenceCollateral {
    /// The collateral carried with the evidence.
    pub fn new(collateral: Collateral) -> Self {
        Self { collateral }
    }
}

#[async_trait]
impl CollateralSource for EvidenceCollateral {
    fn name(&self) -> &str {
        "evidence"
    }

    async fn fetch(&self, _req: &CollateralRequest) -> Result<Option<Collateral>, TdxError> {
        if !self.collateral.is_complete() {
            return Ok(None);
        }
        let mut c = self.collateral.clone();
        c.source = "evidence".into();
        Ok(Some(c))
    }
}

/// A cache of collateral in memory and, optionally, in a directory (one
/// dcap-qvl JSON file per TEE, FMSPC and CA). Entries past their earliest
/// nextUpdate (by its clock) are misses.
#[derive(Debug)]
pub struct CollateralCache {
    mem: Mutex<HashMap<String, Collateral>>,
    dir: Option<PathBuf>,
    clock: Arc<dyn Clock>,
}

impl Default for CollateralCache {
    fn default() -> Self {
        Self::in_memory()
    }
}

impl CollateralCache {
    /// A cache in memory only.
    pub fn in_memory() -> Self {
        Self {
            mem: Mutex::new(HashMap::new()),
            dir: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// A cache in memory and in `dir` (created when missing).
    pub fn with_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
            ..Self::in_memory()
        }
    }

    /// The clock that decides staleness.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{key}.json")))
    }

    fn fresh(&self, c: &Collateral) -> bool {
        c.next_update().is_some_and(|n| self.clock.now() <= n)
    }

    /// Remembers `c` for `req` (in memory, and on disk when a directory was given).
    pub fn store(&self, req: &CollateralRequest, c: &Collateral) -> Result<(), TdxError> {
        let key = req.cache_key();
        let mut stored = c.clone();
        stored.source = "cache".into();
        if let Ok(mut m) = self.mem.lock() {
            m.insert(key.clone(), stored);
        }
        let Some(path) = self.path(&key) else {
            return Ok(());
        };
        let io = |e: std::io::Error| TdxError::Io {
            path: path.display().to_string(),
            source: e,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, c.to_dcap_qvl_json()?).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }

    fn load(&self, key: &str) -> Option<Collateral> {
        let path = self.path(key)?;
        let bytes = std::fs::read(&path).ok()?;
        let mut c = Collateral::from_dcap_qvl_json(&bytes).ok()?;
        c.source = "cache".into();
        Some(c)
    }
}

#[async_trait]
impl CollateralSource for CollateralCache {
    fn name(&self) -> &str {
        "cache"
    }

    async fn fetch(&self, req: &CollateralRequest) -> Result<Option<Collateral>, TdxError> {
        let key = req.cache_key();
        let hit = self.mem.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some(c) = hit {
            if self.fresh(&c) {
                return Ok(Some(c));
            }
            if let Ok(mut m) = self.mem.lock() {
                m.remove(&key);
            }
        }
        match self.load(&key) {
            Some(c) if self.fresh(&c) => {
                if let Ok(mut m) = self.mem.lock() {
                    m.insert(key, c.clone());
                }
                Ok(Some(c))
            }
            _ => Ok(None),
        }
    }
}

/// A directory of collateral files, in any names, recognised by content:
/// dcap-qvl collateral JSON; Intel PCS v4 responses (`{"tcbInfo": …}`,
/// `{"enclaveIdentity": …}`); CRLs (DER, PEM or hex; root CA or PCK CA by
/// issuer); certificates (PEM, DER, or a PCS issuer-chain header value,
/// URL-encoded) from which the issuer chains are assembled. Certificates
/// and CRLs are told apart by the end of their common names (`… Intel SGX
/// Root CA`, `… Intel SGX TCB Signing`, `… Intel SGX PCK Platform CA`), so
/// that a test PKI named like Intel's assembles the same way.
#[derive(Debug, Clone)]
pub struct OfflineDir {
    dir: PathBuf,
}

#[derive(Default)]
struct Found {
    full: Vec<Collateral>,
    tcb_infos: Vec<(SignedJson, TcbInfo)>,
    qe_identities: Vec<(SignedJson, QeIdentity)>,
    root_crls: Vec<IntelCrl>,
    pck_crls: Vec<IntelCrl>,
    certs: Vec<IntelCert>,
}

impl OfflineDir {
    /// The directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn classify(found: &mut Found, bytes: &[u8], name: &str) {
        let text = std::str::from_utf8(bytes).ok();
        let trimmed = text.map(str::trim_start);
        if trimmed.is_some_and(|t| t.starts_with('{')) {
            if let Ok(c) = Collateral::from_dcap_qvl_json(bytes) {
                found.full.push(c);
                return;
            }
            match SignedJson::from_pcs_response(bytes) {
                Ok((s, PcsKind::TcbInfo)) => {
                    if let Ok(t) = TcbInfo::parse(&s.body) {
                        found.tcb_infos.push((s, t));
                    }
                }
                Ok((s, PcsKind::QeIdentity)) => {
                    if let Ok(q) = QeIdentity::parse(&s.body) {
                        found.qe_identities.push((s, q));
                    }
                }
                Err(e) => tracing::debug!("offline collateral: skipping {name}: {e}"),
            }
            return;
        }
        let decoded;
        let pem_text: &[u8] = match text {
            Some(t) if t.contains("-----BEGIN%20") => {
                decoded = percent_decode(t);
                decoded.as_bytes()
            }
            _ => bytes,
        };
        if let Ok(ders) = pem_certificates(pem_text) {
            for (i, d) in ders.iter().enumerate() {
                if let Ok(c) = IntelCert::from_der(d, &format!("{name} [{i}]")) {
                    found.certs.push(c);
                }
            }
            if !ders.is_empty() {
                return;
            }
        }
        if let Ok(crl) = IntelCrl::from_any(bytes, name) {
            if crl.issuer_cn().contains("Root CA") {
                found.root_crls.push(crl);
            } else {
                found.pck_crls.push(crl);
            }
            return;
        }
        if let Ok(c) = IntelCert::from_der(bytes, name) {
            found.certs.push(c);
        }
    }

    fn read(&self) -> Result<Found, TdxError> {
        let io = |e: std::io::Error| TdxError::Io {
            path: self.dir.display().to_string(),
            source: e,
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        let mut found = Found::default();
        for p in entries {
            if let Ok(bytes) = std::fs::read(&p) {
                Self::classify(&mut found, &bytes, &p.display().to_string());
            }
        }
        Ok(found)
    }

    /// The collateral in `dir` for `req`, assembled from its files.
    pub fn collateral_for(
        dir: &Path,
        req: &CollateralRequest,
    ) -> Result<Option<Collateral>, TdxError> {
        let found = Self::new(dir).read()?;
        let want_id = match req.tee {
            Tee::Tdx => TcbId::Tdx,
            Tee::Sgx => TcbId::Sgx,
        };
        let want_qe = match req.tee {
            Tee::Tdx => QeId::TdQe,
            Tee::Sgx => QeId::Qe,
        };
        // A whole dcap-qvl collateral file for this platform wins.
        let full = found.full.into_iter().find(|c| {
            c.tcb_info
                .as_ref()
                .and_then(|t| TcbInfo::parse(&t.body).ok())
                .is_some_and(|t| t.fmspc == req.fmspc && t.id == want_id)
        });
        if let Some(mut c) = full {
            c.source = "offline".into();
            return Ok(Some(c));
        }
        let tcb = found
            .tcb_infos
            .into_iter()
            .filter(|(_, t)| t.fmspc == req.fmspc && t.id == want_id)
            .max_by_key(|(_, t)| t.issue_date);
        let qe = found
            .qe_identities
            .into_iter()
            .filter(|(_, q)| q.id == want_qe)
            .max_by_key(|(_, q)| q.issue_date);
        let (Some((tcb, _)), Some((qe, _))) = (tcb, qe) else {
            return Ok(None);
        };
        let pem = |certs: &[&IntelCert]| -> Vec<u8> {
            let mut out = Vec::new();
            for c in certs {
                out.extend_from_slice(crate::pki::to_pem(c.der()).as_bytes());
            }
            out
        };
        let roots: Vec<&IntelCert> = found
            .certs
            .iter()
            .filter(|c| c.subject_cn().ends_with("Intel SGX Root CA"))
            .take(1)
            .collect();
        let signing: Vec<&IntelCert> = found
            .certs
            .iter()
            .filter(|c| c.subject_cn().ends_with("Intel SGX TCB Signing"))
            .collect();
        let ca_cn = match req.ca {
            super::PckCa::Platform => "Intel SGX PCK Platform CA",
            super::PckCa::Processor => "Intel SGX PCK Processor CA",
        };
        let intermediates: Vec<&IntelCert> = found
            .certs
            .iter()
            .filter(|c| c.subject_cn().ends_with(ca_cn))
            .take(1)
            .collect();
        let tcb_chain = if signing.is_empty() {
            Vec::new()
        } else {
            pem(&[signing.as_slice(), roots.as_slice()].concat())
        };
        let pck_crl = found
            .pck_crls
            .into_iter()
            .filter(|c| c.issuer_cn().ends_with(ca_cn))
            .max_by_key(IntelCrl::this_update);
        let root_crl = found
            .root_crls
            .into_iter()
            .max_by_key(IntelCrl::this_update);
        Ok(Some(Collateral {
            tcb_info: Some(tcb),
            tcb_info_issuer_chain: tcb_chain.clone(),
            qe_identity: Some(qe),
            qe_identity_issuer_chain: tcb_chain,
            pck_crl: pck_crl.map(|c| c.der().to_vec()),
            pck_crl_issuer_chain: if intermediates.is_empty() {
                Vec::new()
            } else {
                pem(&[intermediates.as_slice(), roots.as_slice()].concat())
            },
            root_ca_crl: root_crl.map(|c| c.der().to_vec()),
            pck_certificate_chain: None,
            source: "offline".into(),
        }))
    }
}

#[async_trait]
impl CollateralSource for OfflineDir {
    fn name(&self) -> &str {
        "offline"
    }

    async fn fetch(&self, req: &CollateralRequest) -> Result<Option<Collateral>, TdxError> {
        if !self.dir.is_dir() {
            return Ok(None);
        }
        Self::collateral_for(&self.dir, req)
    }
}

/// Decodes `%XX` escapes (the PCS issuer-chain headers are URL-encoded PEM).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A PCCS, or Intel's PCS, at a base URL (Intel's is
/// `https://api.trustedservices.intel.com`; there is no default), with
/// Intel's API v4 paths:
///
/// ```text
/// GET {base}/{sgx|tdx}/certification/v4/tcb?fmspc=…     TCB-Info-Issuer-Chain
/// GET {base}/{sgx|tdx}/certification/v4/qe/identity     SGX-Enclave-Identity-Issuer-Chain
/// GET {base}/sgx/certification/v4/pckcrl?ca=…&encoding=der   SGX-PCK-CRL-Issuer-Chain
/// GET {root CA CRL URL}  (PCCS: {base}/sgx/certification/v4/rootcacrl)
/// ```
///
/// Sent with the shared retrying client ([`tee_attest_http::Http`]:
/// retries, time-outs, `Retry-After` and the size cap of its
/// [`HttpConfig`]); the issuer chains come from the response headers. An
/// FMSPC the service does not know (404 on the TCB info) is "nothing for
/// it"; a missing CRL is left out (verification then needs the
/// no-revocation-data option).
#[derive(Debug, Clone)]
pub struct Pcs {
    base: String,
    root_crl_url: String,
    http: Http,
    api_key: Option<String>,
}

impl Pcs {
    /// The service at `base`.
    pub fn new(base: impl Into<String>, cfg: HttpConfig) -> Result<Self, TdxError> {
        let base = base.into().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(TdxError::InvalidInput(format!(
                "PCS base URL {base:?} is not http(s)"
            )));
        }
        let http = Http::new(cfg)?;
        Ok(Self {
            root_crl_url: format!("{base}/sgx/certification/v4/rootcacrl"),
            base,
            http,
            api_key: None,
        })
    }

    /// Where the root CA CRL is fetched (Intel PCS users: the CRL
    /// distribution point of the root, Intel's certificates site).
    #[must_use]
    pub fn with_root_crl_url(mut self, url: impl Into<String>) -> Self {
        self.root_crl_url = url.into();
        self
    }

    /// An `Ocp-Apim-Subscription-Key` to send (PCS subscriptions).
    #[must_use]
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The TCB info URL of a request.
    pub fn tcb_url(&self, req: &CollateralRequest) -> String {
        format!(
            "{}/{}/certification/v4/tcb?fmspc={}",
            self.base,
            req.tee.path(),
            req.fmspc_hex()
        )
    }

    /// The QE identity URL of a TEE.
    pub fn qe_identity_url(&self, tee: Tee) -> String {
        format!("{}/{}/certification/v4/qe/identity", self.base, tee.path())
    }

    /// The PCK CRL URL of a request.
    pub fn pck_crl_url(&self, req: &CollateralRequest) -> String {
        format!(
            "{}/sgx/certification/v4/pckcrl?ca={}&encoding=der",
            self.base,
            req.ca.param()
        )
    }

    async fn get(&self, url: &str) -> Result<Response, TdxError> {
        let headers: Vec<(&str, &str)> = match &self.api_key {
            Some(k) => vec![("Ocp-Apim-Subscription-Key", k.as_str())],
            None => Vec::new(),
        };
        Ok(self.http.get(url, &headers).await?)
    }

    fn header(a: &Response, names: &[&str], url: &str) -> Result<Vec<u8>, TdxError> {
        let v =
            names
                .iter()
                .find_map(|n| a.header(n))
                .ok_or_else(|| TdxError::InvalidResponse {
                    source_name: url.into(),
                    reason: format!("no {} header", names.join(" / ")),
                })?;
        Ok(percent_decode(v).into_bytes())
    }

    fn signed(a: &Response, url: &str, kind: PcsKind) -> Result<SignedJson, TdxError> {
        let (s, k) =
            SignedJson::from_pcs_response(&a.body).map_err(|e| TdxError::InvalidResponse {
                source_name: url.into(),
                reason: e.to_string(),
            })?;
        if k != kind {
            return Err(TdxError::InvalidResponse {
                source_name: url.into(),
                reason: "the response is not the object asked for".into(),
            });
        }
        Ok(s)
    }
}

#[async_trait]
impl CollateralSource for Pcs {
    fn name(&self) -> &str {
        "pcs"
    }

    async fn fetch(&self, req: &CollateralRequest) -> Result<Option<Collateral>, TdxError> {
        let url = self.tcb_url(req);
        let a = self.get(&url).await?;
        match a.status {
            404 => return Ok(None),
            s if !(200..300).contains(&s) => {
                return Err(TdxError::HttpStatus { url, status: s });
            }
            _ => {}
        }
        let tcb_info = Self::signed(&a, &url, PcsKind::TcbInfo)?;
        let tcb_chain = Self::header(
            &a,
            &["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"],
            &url,
        )?;
        let url = self.qe_identity_url(req.tee);
        let a = self.get(&url).await?;
        if !(200..300).contains(&a.status) {
            return Err(TdxError::HttpStatus {
                url,
                status: a.status,
            });
        }
        let qe_identity = Self::signed(&a, &url, PcsKind::QeIdentity)?;
        let qe_chain = Self::header(&a, &["SGX-Enclave-Identity-Issuer-Chain"], &url)?;
        let url = self.pck_crl_url(req);
        let (pck_crl, pck_crl_issuer_chain) = match self.get(&url).await {
            Ok(a) if (200..300).contains(&a.status) => {
                let crl = IntelCrl::from_any(&a.body, "PCK CRL").map_err(|e| {
                    TdxError::InvalidResponse {
                        source_name: url.clone(),
                        reason: e.to_string(),
                    }
                })?;
                let chain = Self::header(&a, &["SGX-PCK-CRL-Issuer-Chain"], &url)?;
                (Some(crl.der().to_vec()), chain)
            }
            Ok(a) => {
                tracing::warn!(url, status = a.status, "PCK CRL not fetched");
                (None, Vec::new())
            }
            Err(e) => {
                tracing::warn!("PCK CRL not fetched: {e}");
                (None, Vec::new())
            }
        };
        let root_ca_crl = match self.get(&self.root_crl_url).await {
            Ok(a) if (200..300).contains(&a.status) => IntelCrl::from_any(&a.body, "root CA CRL")
                .ok()
                .map(|c| c.der().to_vec()),
            Ok(a) => {
                tracing::warn!(
                    url = self.root_crl_url,
                    status = a.status,
                    "root CA CRL not fetched"
                );
                None
            }
            Err(e) => {
                tracing::warn!("root CA CRL not fetched: {e}");
                None
            }
        };
        Ok(Some(Collateral {
            tcb_info: Some(tcb_info),
            tcb_info_issuer_chain: tcb_chain,
            qe_identity: Some(qe_identity),
            qe_identity_issuer_chain: qe_chain,
            pck_crl,
            pck_crl_issuer_chain,
            root_ca_crl,
            pck_certificate_chain: None,
            source: "pcs".into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("-----BEGIN%20CERTIFICATE-----%0A"),
            "-----BEGIN CERTIFICATE-----\n"
        );
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
