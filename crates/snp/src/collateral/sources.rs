//! The collateral sources: evidence, cache, offline directory, THIM, KDS.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{Collateral, CollateralRequest, CollateralSource, Http, HttpConfig};
use crate::bundle::CertBundle;
use crate::der::pem_blocks;
use crate::error::SnpError;
use crate::report::SigningKey;
use crate::tcb::{Product, TcbVersion};

/// The certificates that came with the evidence.
#[derive(Debug, Clone, Default)]
pub struct EvidenceCerts {
    certs: Vec<Vec<u8>>,
}

impl EvidenceCerts {
    /// Certificates (DER, PEM or THIM JSON items) carried in the evidence.
    pub fn new(certs: Vec<Vec<u8>>) -> Self {
        Self { certs }
    }
}

#[async_trait]
impl CollateralSource for EvidenceCerts {
    fn name(&self) -> &str {
        "evidence"
    }

    async fn fetch(&self, req: &CollateralRequest) -> Result<Option<Collateral>, SnpError> {
        if self.certs.is_empty() {
            return Ok(None);
        }
        let mut bundle = CertBundle::new();
        for c in &self.certs {
            bundle.add_any(c, "evidence certificate")?;
        }
        if let Some(c) = Collateral::from_bundle(&bundle, req, "evidence") {
            return Ok(Some(c));
        }
        // The evidence's own leaf, even when it does not match: verification
        // then says precisely what is wrong with it.
        Ok(bundle
            .leaves
            .first()
            .map(|leaf| Collateral::with_leaf(leaf, &bundle, "evidence")))
    }
}

#[derive(Serialize, Deserialize)]
struct CacheEntry {
    leaf: String,
    chain: Vec<String>,
    #[serde(default)]
    crl: Option<String>,
    #[serde(default)]
    tcbm: Option<String>,
}

/// A cache of collateral in memory and, optionally, in a directory (one
/// JSON file per product, signer, hwID and TCB).
#[derive(Debug, Default)]
pub struct CollateralCache {
    mem: Mutex<HashMap<String, Collateral>>,
    dir: Option<PathBuf>,
}

impl CollateralCache {
    /// A cache in memory only.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// A cache in memory and in `dir` (created when missing).
    pub fn with_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            mem: Mutex::new(HashMap::new()),
            dir: Some(dir.into()),
        }
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{key}.json")))
    }

    /// Remembers `c` for `req`.
    pub fn store(&self, req: &CollateralRequest, c: &Collateral) -> Result<(), SnpError> {
        let key = req.cache_key();
        let mut stored = c.clone();
        stored.source = "cache".into();
        if let Ok(mut m) = self.mem.lock() {
            m.insert(key.clone(), stored);
        }
        let (Some(path), Some(leaf)) = (self.path(&key), &c.leaf) else {
            return Ok(());
        };
        let entry = CacheEntry {
            leaf: STANDARD.encode(leaf),
            chain: c.chain.iter().map(|d| STANDARD.encode(d)).collect(),
            crl: c.crl.as_ref().map(|d| STANDARD.encode(d)),
            tcbm: c.tcbm.clone(),
        };
        let io = |e: std::io::Error| SnpError::Io {
            path: path.display().to_string(),
            source: e,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(&entry).unwrap_or_default();
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }

    fn load(&self, key: &str) -> Option<Collateral> {
        let path = self.path(key)?;
        let text = std::fs::read(&path).ok()?;
        let e: CacheEntry = serde_json::from_slice(&text).ok()?;
        let dec = |s: &String| STANDARD.decode(s).ok();
        Some(Collateral {
            leaf: Some(dec(&e.leaf)?),
            chain: e.chain.iter().map(dec).collect::<Option<Vec<_>>>()?,
            crl: e.crl.as_ref().and_then(dec),
            tcbm: e.tcbm,
            source: "cache".into(),
        })
    }
}

#[async_trait]
impl CollateralSource for CollateralCache {
    fn name(&self) -> &str {
        "cache"
    }

    async fn fetch(&self, req: &CollateralRequest) -> Result<Option<Collateral>, SnpError> {
        let key = req.cache_key();
        if let Some(c) = self.mem.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(Some(c));
        }
        let loaded = self.load(&key);
        if let Some(c) = &loaded {
            if let Ok(mut m) = self.mem.lock() {
                m.insert(key, c.clone());
            }
        }
        Ok(loaded)
    }
}

/// A directory of certificates and CRLs (PEM bundles, DER files, THIM JSON,
/// in any file names), searched for the leaf that matches the report.
#[derive(Debug, Clone)]
pub struct OfflineDir {
    dir: PathBuf,
}

impl OfflineDir {
    /// The directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Reads every regular file of `dir` (not recursively) into a bundle;
    /// files that are not certificates are skipped.
    pub fn read_bundle(dir: &Path) -> Result<CertBundle, SnpError> {
        let io = |e: std::io::Error| SnpError::Io {
            path: dir.display().to_string(),
            source: e,
        };
        let mut bundle = CertBundle::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for p in entries {
            let Ok(bytes) = std::fs::read(&p) else {
                continue;
            };
            if let Err(e) = bundle.add_any(&bytes, &p.display().to_string()) {
                tracing::debug!("offline collateral: skipping {}: {e}", p.display());
            }
        }
        Ok(bundle)
    }
}

#[async_trait]
impl CollateralSource for OfflineDir {
    fn name(&self) -> &str {
        "offline"
    }

    async fn fetch(&self, req: &CollateralRequest) -> Result<Option<Collateral>, SnpError> {
        if !self.dir.is_dir() {
            return Ok(None);
        }
        let bundle = Self::read_bundle(&self.dir)?;
        Ok(Collateral::from_bundle(&bundle, req, "offline"))
    }
}

/// Azure's Trusted Hardware Identity Management service, through IMDS:
/// `GET {base}/metadata/THIM/amd/certification` with `Metadata: true`.
#[derive(Debug, Clone)]
pub struct Thim {
    base: String,
    http: Http,
}

impl Thim {
    /// THIM at `base` (for instance `http://169.254.169.254` inside an Azure
    /// VM; there is no default).
    pub fn new(base: impl Into<String>, cfg: HttpConfig) -> Result<Self, SnpError> {
        Ok(Self {
            base: base.into().trim_end_matches('/').to_string(),
            http: Http::new(cfg).map_err(SnpError::from)?,
        })
    }

    /// The URL asked.
    pub fn url(&self) -> String {
        format!("{}/metadata/THIM/amd/certification", self.base)
    }
}

#[async_trait]
impl CollateralSource for Thim {
    fn name(&self) -> &str {
        "thim"
    }

    async fn fetch(&self, _req: &CollateralRequest) -> Result<Option<Collateral>, SnpError> {
        let url = self.url();
        let body = http_get(&self.http, &url, &[("Metadata", "true")]).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|source| SnpError::Json {
                source_name: "THIM".into(),
                source,
            })?;
        let vcek_pem = v.get("vcekCert").and_then(|x| x.as_str()).unwrap_or("");
        let leaf = pem_blocks(vcek_pem.as_bytes(), "CERTIFICATE")
            .into_iter()
            .next()
            .ok_or_else(|| SnpError::EmptyVcek("THIM returned no vcekCert".into()))?;
        let chain = v
            .get("certificateChain")
            .and_then(|x| x.as_str())
            .map(|s| pem_blocks(s.as_bytes(), "CERTIFICATE"))
            .unwrap_or_default();
        Ok(Some(Collateral {
            leaf: Some(leaf),
            chain,
            crl: None,
            tcbm: v.get("tcbm").and_then(|x| x.as_str()).map(str::to_string),
            source: "thim".into(),
        }))
    }
}

/// AMD's Key Distribution Service: the VCEK for a chip and TCB, the ASK/ARK
/// chain and the CRL of a product.
#[derive(Debug, Clone)]
pub struct Kds {
    base: String,
    http: Http,
    fetch_crl: bool,
}

impl Kds {
    /// KDS at `base` (AMD's is `https://kdsintf.amd.com`; there is no
    /// default). The CRL is fetched too.
    pub fn new(base: impl Into<String>, cfg: HttpConfig) -> Result<Self, SnpError> {
        Ok(Self {
            base: base.into().trim_end_matches('/').to_string(),
            http: Http::new(cfg).map_err(SnpError::from)?,
            fetch_crl: true,
        })
    }

    /// Whether to fetch the CRL as well.
    #[must_use]
    pub fn with_crl(mut self, fetch: bool) -> Self {
        self.fetch_crl = fetch;
        self
    }

    /// The VCEK URL for a request and product, `None` when it cannot be
    /// formed (masked chip id, not a VCEK).
    pub fn vcek_url_for(&self, req: &CollateralRequest, product: Product) -> Option<String> {
        if req.signer != SigningKey::Vcek || req.chip_id_masked() {
            return None;
        }
        let hwid = hex::encode(&req.chip_id[..product.hwid_len()]);
        let t = TcbVersion::from_raw(req.reported_tcb, product);
        let mut q = String::new();
        if let (Product::Turin, Some(fmc)) = (product, t.fmc) {
            q.push_str(&format!("fmcSPL={fmc:02}&"));
        }
        q.push_str(&format!(
            "blSPL={:02}&teeSPL={:02}&snpSPL={:02}&ucodeSPL={:02}",
            t.bootloader, t.tee, t.snp, t.microcode
        ));
        Some(format!(
            "{}/vcek/v1/{}/{hwid}?{q}",
            self.base,
            product.name()
        ))
    }

    /// The VCEK URL for a request whose product is known.
    pub fn vcek_url(&self, req: &CollateralRequest) -> Option<String> {
        self.vcek_url_for(req, req.product?)
    }

    /// The ASK + ARK chain URL of a product.
    pub fn chain_url(&self, product: Product) -> String {
        format!("{}/vcek/v1/{}/cert_chain", self.base, product.name())
    }

    /// The CRL URL of a product.
    pub fn crl_url(&self, product: Product) -> String {
        format!("{}/vcek/v1/{}/crl", self.base, product.name())
    }
}

#[async_trait]
impl CollateralSource for Kds {
    fn name(&self) -> &str {
        "kds"
    }

    async fn fetch(&self, req: &CollateralRequest) -> Result<Option<Collateral>, SnpError> {
        // A v2 report does not tell Milan from Genoa: ask for both.
        let products: Vec<Product> = match req.product {
            Some(p) => vec![p],
            None => vec![Product::Milan, Product::Genoa],
        };
        let mut found = None;
        let mut last_err = None;
        for product in products {
            let Some(url) = self.vcek_url_for(req, product) else {
                return Ok(None);
            };
            match http_get(&self.http, &url, &[]).await {
                Ok(leaf) if leaf.is_empty() => {
                    return Err(SnpError::EmptyVcek(format!(
                        "KDS returned an empty VCEK ({url})"
                    )))
                }
                Ok(leaf) => {
                    found = Some((product, leaf));
                    break;
                }
                Err(e @ SnpError::HttpStatus { status: 404, .. }) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        let Some((product, leaf)) = found else {
            return match last_err {
                Some(e) => Err(e),
                None => Ok(None),
            };
        };
        let chain_pem = http_get(&self.http, &self.chain_url(product), &[]).await?;
        let chain = pem_blocks(&chain_pem, "CERTIFICATE");
        let crl = if self.fetch_crl {
            match http_get(&self.http, &self.crl_url(product), &[]).await {
                Ok(b) if !b.is_empty() => Some(b),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!("KDS CRL not fetched: {e}");
                    None
                }
            }
        } else {
            None
        };
        Ok(Some(Collateral {
            leaf: Some(leaf),
            chain,
            crl,
            tcbm: None,
            source: "kds".into(),
        }))
    }
}

/// GETs `url` with `headers` through the shared client with retries: the
/// body of a 2xx answer, code 5 for any other status that is not retried,
/// and the client's failures mapped by `From<HttpError> for SnpError`.
async fn http_get(http: &Http, url: &str, headers: &[(&str, &str)]) -> Result<Vec<u8>, SnpError> {
    let resp = http.get(url, headers).await?;
    if !resp.is_success() {
        return Err(SnpError::HttpStatus {
            url: url.to_string(),
            status: resp.status,
        });
    }
    Ok(resp.body)
}
