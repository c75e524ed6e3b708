//! Writes the seed corpora of the fuzz targets, at run time, from the
//! real-hardware vectors (`$TEE_ATTEST_VECTORS`, default
//! `../shared/testvectors`: read in place, never copied into the
//! repository) and from the mock crate (mock AMD roots, VCEK, SNP and HCL
//! reports; and, when swtpm is installed, a whole mock Azure CVM whose
//! evidence becomes AzureGuest request bodies and tokens).
//!
//! usage: tee-attest-fuzz-seeds [CORPUS_DIR]   (default: fuzz/corpus)
//!
//! Each target's seeds go to `CORPUS_DIR/<target>/`, in the input shape the
//! target's documentation gives (see `src/format.rs`).

#[allow(dead_code)] // the splitting half is the targets'
#[path = "../../src/format.rs"]
mod format;
#[path = "../../src/shared.rs"]
mod shared;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use aws_lc_rs::digest;
use aws_lc_rs::key_wrap::KeyWrapPadded as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use format::{join, join_text};
use serde_json::{json, Value};
use shared::{stand_in_modulus, ADMIN_AUDIENCE, ADMIN_ROLE, FIXED_NOW, ISSUER};
use tee_attest_azure::{HashType, HclReport, Jwk, ReportType, VarData};
use tee_attest_core::{Evidence, TpmEvidence};
use tee_attest_maa::azureguest::RuntimeDataType;
use tee_attest_maa::azureguest::{
    build_request_body, certs_to_pem, OsInfo, RuntimeData, AZURE_GUEST_SNP, AZURE_GUEST_TDX,
};
use tee_attest_maa::SevSnpVmRequest;
use tee_attest_mock::amd::{MockAmdRoots, MockSnpReport, MockTcb};
use tee_attest_mock::hcl::MockHcl;
use tee_attest_tpm::eventlog::EventLogBuilder;
use tee_attest_tpm::RsaPublic;

/// Where the seeds go, and how many were written.
struct Out {
    dir: PathBuf,
    count: BTreeMap<String, usize>,
}

impl Out {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.dir.join(target);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("seeds: {}: {e}", dir.display());
            return;
        }
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if let Err(e) = std::fs::write(dir.join(format!("seed-{name}")), bytes) {
            eprintln!("seeds: {target}/{name}: {e}");
            return;
        }
        *self.count.entry(target.to_string()).or_default() += 1;
    }
}

/// The real-hardware vectors, read in place.
struct Vectors(Option<PathBuf>);

impl Vectors {
    fn find(root: &Path) -> Self {
        let dir = std::env::var_os("TEE_ATTEST_VECTORS")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("../shared/testvectors"));
        if dir.join("PROVENANCE.md").is_file() {
            Self(Some(dir))
        } else {
            eprintln!(
                "seeds: no real-hardware vectors at {} (set TEE_ATTEST_VECTORS); mock seeds only",
                dir.display()
            );
            Self(None)
        }
    }

    fn get(&self, rel: &str) -> Option<Vec<u8>> {
        let path = self.0.as_ref()?.join(rel);
        match std::fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("seeds: {}: {e}", path.display());
                None
            }
        }
    }

    fn hex(&self, rel: &str) -> Option<Vec<u8>> {
        let text = self.get(rel)?;
        let digits: Vec<u8> = text.into_iter().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
            .collect()
    }
}

fn sha256(b: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, b).as_ref().to_vec()
}

fn pem_certs(pem: &[u8]) -> Vec<Vec<u8>> {
    tee_attest_snp::pem_blocks(pem, "CERTIFICATE")
}

fn b64u(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// The payload (claims JSON) of a compact JWT.
fn jwt_payload(jwt: &str) -> Option<Value> {
    let p = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok()?).ok()
}

/// Claims that pass the JWT targets' time and issuer checks.
fn fresh(mut claims: Value) -> Value {
    if let Some(o) = claims.as_object_mut() {
        o.insert("iss".into(), json!(ISSUER));
        o.insert("iat".into(), json!(FIXED_NOW - 60));
        o.insert("nbf".into(), json!(FIXED_NOW - 60));
        o.insert("exp".into(), json!(FIXED_NOW + 3600));
        o.entry("x-ms-ver").or_insert(json!("1.0"));
    }
    claims
}

/// The stand-in decryptor's public JWK (see the fuzz library).
fn stand_in_jwk() -> Value {
    let mut jwk = RsaPublic::new(&stand_in_modulus(), &[1, 0, 1]).to_jwk();
    jwk["kid"] = json!("TpmEphemeralEncryptionKey");
    jwk["key_ops"] = json!(["encrypt"]);
    jwk
}

/// Claims shaped like an AzureGuest token's, with the stand-in key as the
/// ephemeral key.
fn synthetic_claims(nonce: &str) -> Value {
    fresh(json!({
        "x-ms-attestation-type": "azurevm",
        "x-ms-azurevm-vmid": "00000000-0000-4000-8000-000000000000",
        "x-ms-isolation-tee": {
            "x-ms-attestation-type": "sevsnpvm",
            "x-ms-compliance-status": "azure-compliant-cvm",
            "x-ms-sevsnpvm-is-debuggable": false,
            "x-ms-sevsnpvm-vmpl": 0,
            "x-ms-runtime": {"vm-configuration": {"secure-boot": true, "tpm-enabled": true}}
        },
        "x-ms-runtime": {
            "keys": [stand_in_jwk()],
            "client-payload": {"nonce": STANDARD.encode(nonce)}
        },
        "secureboot": true,
        "nonce": nonce,
        "x-ms-policy-hash": "abc"
    }))
}

const POLICIES: &[&str] = &[
    "version=1.0;\nauthorizationrules\n{\n    => permit();\n};\nissuancerules\n{\n};\n",
    r#"version= 1.0;
authorizationrules
{
[ type=="x-ms-sgx-is-debuggable", value==false] &&
[ type=="x-ms-sgx-mrsigner", value=="mrsigner1"] => permit();
};
"#,
    r#"version=1.0;
authorizationrules { [type=="secureboot", value==true] => permit(); };
issuancerules { c:[type=="secureboot"] => issue(type="sb", value=c.value); };"#,
    r#"version=1.1;
configurationrules {
  => issueproperty(type="required_pcr_mask", value=16777215);
  => issueproperty(type="require_valid_aik_cert", value=false);
};
authorizationrules {
  [type=="x-ms-isolation-tee.x-ms-attestation-type", value=="sevsnpvm"] &&
  [type=="x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable", value==false] => permit();
  [type=="x-ms-isolation-tee.x-ms-sevsnpvm-vmpl", value>0] => deny();
};
issuancerules {
  c:[type=="x-ms-isolation-tee.x-ms-sevsnpvm-guestsvn"] => issue(type="svn", value=c.value);
  => issueproperty(type="report_validity_in_minutes", value=60);
  => issueproperty(type="omit_x5c", value=true);
};"#,
    r#"version=1.2;
authorizationrules {
  c:[type=="x-ms-isolation-tee"] => add(type="tee", value=JmesPath(c.value, "\"x-ms-attestation-type\""));
  [type=="tee", value=="\"sevsnpvm\""] => permit();
  ![type=="x-ms-sevsnpvm-is-debuggable", value==true] => permit();
};
issuancerules {
  c:[type=="x-ms-runtime"] => issue(type="keys", value=JsonToClaimValue(JmesPath(c.value, "keys[*].kid")));
  c:[type=="secureboot"] => issue(type="nosb", value=NegateBool(c.value));
  c:[type=="x-ms-attestation-type"] => issue(type="t", value=AppendString(c.value, "-x"));
  c:[type=="x-ms-azurevm-attested-pcrs"] => issue(type="all", value=IsSubsetOf(JsonToClaimValue(c.value), JsonToClaimValue("[0,1,2,3,4,5,6,7]")));
  c:[type=="x-ms-azurevm-attested-pcrs"] => issue(type="only", value=ContainsOnlyValue(JsonToClaimValue(c.value), 7));
  c:[type=="nonce", issuer=="AttestationService"] => issue(claim=c);
  /* comment */ // line comment
};"#,
    r#"VERSION=1.2; AuthorizationRules { c:[type=="x", valueType=="String"] && [type=="y", value!="z", issuer=="CustomClaim"] => permit(); [type=="n", value>=-7] => deny(); };"#,
];

fn main() -> std::process::ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."));
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("fuzz/corpus"));
    let mut out = Out {
        dir,
        count: BTreeMap::new(),
    };
    let v = Vectors::find(&root);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mock = match mock_seeds(&mut out) {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("seeds: mock reports: {e}");
            None
        }
    };
    let cvm = rt.block_on(cvm_seeds(&mut out));
    let tokens = match &cvm {
        Ok(t) => t.clone(),
        Err(e) => {
            eprintln!("seeds: no mock CVM ({e}); its seeds are skipped");
            Vec::new()
        }
    };
    vector_seeds(&mut out, &v, mock.as_ref());
    token_seeds(&mut out, &v, &tokens);
    policy_seeds(&mut out, &v, &root, &tokens);
    broker_seeds(&mut out);
    keyrelease_seeds(&mut out, &tokens);
    tdx_seeds(&mut out, &v);
    let total: usize = out.count.values().sum();
    for (t, n) in &out.count {
        println!("  {t:<22} {n:>4} seeds");
    }
    println!("seeds: {total} written under {}", out.dir.display());
    std::process::ExitCode::SUCCESS
}

/// What the software mock makes: chains and signed reports.
struct Mock {
    ark: Vec<u8>,
    ask: Vec<u8>,
    vcek: Vec<u8>,
    report: Vec<u8>,
    runtime: Vec<u8>,
}

fn mock_seeds(out: &mut Out) -> Result<Mock, String> {
    let e = |e: tee_attest_mock::MockError| e.to_string();
    let roots = MockAmdRoots::stored_milan().map_err(e)?;
    let vcek = roots.issue_vcek([3; 64], MockTcb::default()).map_err(e)?;
    let runtime = json!({"nonce": "fuzz-nonce", "keys": [stand_in_jwk()]})
        .to_string()
        .into_bytes();
    let mut r = MockSnpReport::default();
    r.report_data[..32].copy_from_slice(&sha256(&runtime));
    let report = r.sign(&vcek).map_err(e)?.to_vec();
    let (ark, ask, vcek_der) = (
        roots.ark_der().to_vec(),
        roots.ask_der().to_vec(),
        vcek.der().to_vec(),
    );
    out.put(
        "snp_report",
        "mock",
        &join(&[&report, &join(&[&vcek_der, &ask, &ark])]),
    );
    out.put(
        "snp_report",
        "mock-pem",
        &join(&[
            &report,
            certs_to_pem(&[vcek_der.clone(), ask.clone()]).as_bytes(),
        ]),
    );
    out.put("snp_report", "mock-vcek-only", &join(&[&report, &vcek_der]));
    cert_table_seeds(
        out,
        "mock",
        &report,
        &[vcek_der.clone(), ask.clone(), ark.clone()],
        false,
    );
    for (n, c) in [("ark", &ark), ("ask", &ask), ("vcek", &vcek_der)] {
        out.put("snp_cert", &format!("mock-{n}"), c);
        out.put("snp_bundle", &format!("mock-{n}"), c);
    }
    out.put(
        "snp_bundle",
        "mock-thim",
        json!({
            "vcekCert": certs_to_pem(std::slice::from_ref(&vcek_der)),
            "certificateChain": certs_to_pem(&[ask.clone(), ark.clone()]),
            "tcbm": format!("{:016X}", MockTcb::default().to_u64()),
        })
        .to_string()
        .as_bytes(),
    );
    out.put(
        "snp_bundle",
        "mock-pem",
        certs_to_pem(&[vcek_der.clone(), ask.clone(), ark.clone()]).as_bytes(),
    );

    // The mock HCL: an HCL report around a mock SNP report binding var data.
    let ak = RsaPublic::new(&stand_in_modulus(), &[1, 0, 1]);
    let vcek2 = roots.issue_vcek([4; 64], MockTcb::default()).map_err(e)?;
    let hcl = MockHcl::new(vcek2, ak, "00000000-0000-4000-8000-000000000001")
        .report(b"fuzz user data")
        .map_err(e)?;
    out.put("hcl_report", "mock", &hcl);
    if let Ok(h) = HclReport::from_bytes(&hcl) {
        out.put("hcl_report", "mock-var-data", &h.var_data);
        // The same variable data in a TDX-typed report, and with SHA-384.
        let var = h.var_data.clone();
        let mut hw = vec![0u8; 1024];
        hw[128..128 + 32].copy_from_slice(&sha256(&var));
        if let Ok(t) = HclReport::new(ReportType::Tdx, HashType::Sha256, &hw, var.clone()) {
            out.put("hcl_report", "synthetic-tdx", &t.to_nv_bytes(2600));
        }
        let mut snp = h.hw_report.clone();
        let d = HashType::Sha384.digest(&var);
        snp[0x50..0x50 + 48].copy_from_slice(&d);
        if let Ok(t) = HclReport::new(ReportType::Snp, HashType::Sha384, &snp, var) {
            out.put("hcl_report", "synthetic-sha384", &t.to_bytes());
        }
    }
    let keys = [Jwk::rsa(
        "HCLAkPub",
        &["sign"],
        &stand_in_modulus(),
        &[1, 0, 1],
    )];
    out.put(
        "hcl_report",
        "var-data-encoded",
        &VarData::encode(
            &keys,
            Some(&json!({"secure-boot": true})),
            Some(b"\x01\x02"),
        ),
    );

    // SevSnpVm bodies around the mock report.
    let mut req = SevSnpVmRequest::new(&report, &[vcek_der.clone(), ask.clone()])
        .map_err(|e| e.to_string())?;
    out.put(
        "maa_sevsnpvm",
        "mock-bare",
        serde_json::to_string(&req).unwrap_or_default().as_bytes(),
    );
    out.put(
        "sevsnpvm_appraise",
        "mock-bare",
        serde_json::to_string(&req).unwrap_or_default().as_bytes(),
    );
    req.runtime_data = Some(RuntimeData::new(&runtime, RuntimeDataType::Json));
    req.nonce = Some("fuzz-nonce".into());
    let body = serde_json::to_string(&req).unwrap_or_default();
    out.put("maa_sevsnpvm", "mock-runtime-nonce", body.as_bytes());
    out.put("sevsnpvm_appraise", "mock-runtime-nonce", body.as_bytes());
    req.init_time_data = Some(RuntimeData::new(b"host data", RuntimeDataType::Binary));
    req.draft_policy = Some(POLICIES[3].to_string());
    let body = serde_json::to_string(&req).unwrap_or_default();
    out.put("maa_sevsnpvm", "mock-draft", body.as_bytes());
    out.put("sevsnpvm_appraise", "mock-draft", body.as_bytes());
    req.draft_policy = Some(POLICIES[4].to_string());
    out.put(
        "sevsnpvm_appraise",
        "mock-draft-1.2",
        serde_json::to_string(&req).unwrap_or_default().as_bytes(),
    );
    Ok(Mock {
        ark,
        ask,
        vcek: vcek_der,
        report,
        runtime,
    })
}

/// Seeds from a whole mock Azure CVM (swtpm): AzureGuest bodies, TPM
/// structures, the event log, and tokens of the local verifier. Returns the
/// tokens (for the JWT, policy and key-release seeds).
async fn cvm_seeds(out: &mut Out) -> Result<Vec<String>, String> {
    use tee_attest_azure::provider::{AzureSnpConfig, AzureSnpProvider};
    use tee_attest_core::{EvidenceProvider, EvidenceRequest, VerifyOptions};
    use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

    // The mock picks free loopback ports; on a busy machine, try again.
    let mut tries = 0;
    let cvm = loop {
        match tee_attest_mock::MockAzureCvm::start() {
            Ok(cvm) => break cvm,
            Err(e) if tries < 4 => {
                tries += 1;
                eprintln!("seeds: mock CVM: {e}; trying again");
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let mut cfg = AzureSnpConfig::default();
    cfg.tcti = Some(cvm.tcti());
    cfg.imds_url = cvm.imds_url();
    cfg.event_log = cvm.event_log_path();
    let provider = AzureSnpProvider::new(cfg).map_err(|e| e.to_string())?;
    let roots = [cvm.ark_der().to_vec()];
    let vcfg = LocalVerifierConfig::new(ISSUER).with_appraiser(std::sync::Arc::new(
        tee_attest_azure::AzureSnpAppraiser::with_extra_roots(&roots).map_err(|e| e.to_string())?,
    ));
    let verifier = LocalVerifier::new(vcfg, TokenSigner::generate().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let os = OsInfo::new("Linux", "Ubuntu", 22, 4, "6.8.0-azure");
    let mut tokens = Vec::new();
    for (i, (nonce, payload)) in [
        (b"".to_vec(), None),
        (b"0123456789".to_vec(), Some("0123456789")),
        (b"relying-party-nonce".to_vec(), None),
    ]
    .into_iter()
    .enumerate()
    {
        let mut req = EvidenceRequest::with_nonce(nonce);
        if let Some(p) = payload {
            req.client_payload.insert("Nonce".into(), p.into());
            req.client_payload.insert("app".into(), "fuzz".into());
        }
        let ev = provider.evidence(&req).await.map_err(|e| e.to_string())?;
        let body = build_request_body(&ev, &os).map_err(|e| e.to_string())?;
        out.put("maa_azureguest", &format!("cvm-{i}"), body.as_bytes());
        out.put("azureguest_appraise", &format!("cvm-{i}"), body.as_bytes());
        if let Some(h) = &ev.hcl_report {
            out.put("hcl_report", &format!("cvm-{i}"), h);
        }
        if let Some(log) = &ev.event_log {
            out.put("tpm_eventlog", &format!("cvm-{i}"), log);
        }
        let certs = ev.certificates.clone();
        let mut table = Vec::new();
        for c in &certs {
            table.push(c.as_slice());
        }
        out.put(
            "snp_report",
            &format!("cvm-{i}"),
            &join(&[&ev.hardware_report, &join(&table)]),
        );
        if let Some(t) = &ev.tpm {
            tpm_seeds(out, &format!("cvm-{i}"), t, &ev.nonce);
        }
        // Without the event log, and as TDX isolation (parses, never appraises).
        let mut bare = ev.clone();
        bare.event_log = None;
        if let Ok(b) = build_request_body(&bare, &os) {
            out.put(
                "azureguest_appraise",
                &format!("cvm-{i}-nolog"),
                b.as_bytes(),
            );
        }
        let mut tdx = ev.clone();
        tdx.evidence_type = AZURE_GUEST_TDX;
        if let Ok(b) = build_request_body(&tdx, &os) {
            out.put("maa_azureguest", &format!("cvm-{i}-tdx"), b.as_bytes());
        }
        match verifier.attest(&ev, &VerifyOptions::default()) {
            Ok(token) => tokens.push(token.raw().to_string()),
            Err(e) => eprintln!("seeds: the local verifier refused the mock evidence: {e}"),
        }
    }
    Ok(tokens)
}

fn tpm_seeds(out: &mut Out, name: &str, t: &TpmEvidence, nonce: &[u8]) {
    let mut pcrs = Vec::new();
    for (_, v) in &t.pcrs {
        pcrs.extend_from_slice(v);
    }
    for mode in [0u8, 1, 3] {
        let q = join(&[
            &t.quote,
            &t.quote_signature,
            nonce,
            &pcrs,
            &t.enc_key_pub,
            &t.ak_pub,
        ]);
        out.put(
            "tpm_attest",
            &format!("{name}-quote-{mode}"),
            &[&[mode][..], &q].concat(),
        );
        let c = join(&[
            &t.enc_key_certify_info,
            &t.enc_key_certify_signature,
            nonce,
            &[],
            &t.enc_key_pub,
            &t.ak_pub,
        ]);
        out.put(
            "tpm_attest",
            &format!("{name}-certify-{mode}"),
            &[&[mode][..], &c].concat(),
        );
    }
    out.put("tpm_public", &format!("{name}-ak"), &t.ak_pub);
    out.put("tpm_public", &format!("{name}-enc"), &t.enc_key_pub);
}

fn vector_seeds(out: &mut Out, v: &Vectors, mock: Option<&Mock>) {
    for rel in [
        "azure-snp/hcl-report.bin",
        "azure-snp-2/hcl-report.bin",
        "azure-snp-full/hcl-report.bin",
        "azure-tdx/hcl-report.bin",
        "azure-snp/var-data-example.json",
    ] {
        if let Some(b) = v.get(rel) {
            out.put("hcl_report", rel, &b);
        }
    }
    // SNP reports with their certificate tables.
    let ders = |rels: &[&str]| -> Vec<Vec<u8>> {
        rels.iter()
            .filter_map(|r| v.get(r))
            .flat_map(|b| {
                if b.starts_with(b"-----") {
                    pem_certs(&b)
                } else {
                    vec![b]
                }
            })
            .collect()
    };
    type ReportSet<'a> = (&'a str, Option<Vec<u8>>, Vec<Vec<u8>>);
    let sets: [ReportSet<'_>; 5] = [
        (
            "snp-milan",
            v.hex("snp-milan/report.hex"),
            ders(&["snp-milan/vcek.der", "snp-milan/ask-ark.pem"]),
        ),
        (
            "snp-milan-2",
            v.get("snp-milan-2/report.bin"),
            ders(&["snp-milan-2/vcek.der"]),
        ),
        (
            "snp-milan-3",
            v.get("snp-milan-3/report.bin"),
            ders(&["snp-milan-3/vcek.der"]),
        ),
        (
            "snp-vlek",
            v.get("snp-vlek/report.bin"),
            ders(&["snp-vlek/vlek.der", "snp-vlek/asvk-ark.pem"]),
        ),
        (
            "azure-snp-2",
            v.get("azure-snp-2/hcl-report.bin")
                .and_then(|h| h.get(32..32 + 1184).map(<[u8]>::to_vec)),
            ders(&["azure-snp-2/vcek-chain.pem"]),
        ),
    ];
    for (name, report, certs) in &sets {
        let Some(report) = report else { continue };
        let table: Vec<&[u8]> = certs.iter().map(Vec::as_slice).collect();
        out.put("snp_report", name, &join(&[report, &join(&table)]));
        cert_table_seeds(out, name, report, certs, name.contains("vlek"));
        out.put("snp_report", &format!("{name}-nocerts"), report);
        let mut req = match SevSnpVmRequest::new(report, certs) {
            Ok(r) => r,
            Err(_) => continue,
        };
        out.put(
            "maa_sevsnpvm",
            name,
            serde_json::to_string(&req).unwrap_or_default().as_bytes(),
        );
        out.put(
            "sevsnpvm_appraise",
            name,
            serde_json::to_string(&req).unwrap_or_default().as_bytes(),
        );
        req.runtime_data = Some(RuntimeData::new(
            b"{\"nonce\":\"x\"}",
            RuntimeDataType::Json,
        ));
        req.nonce = Some("x".into());
        out.put(
            "maa_sevsnpvm",
            &format!("{name}-rt"),
            serde_json::to_string(&req).unwrap_or_default().as_bytes(),
        );
    }
    if let Some(b) = v.get("azure-snp-full/vcek.der") {
        if let Some(h) = v.get("azure-snp-full/hcl-report.bin") {
            if let Some(r) = h.get(32..32 + 1184) {
                out.put("snp_report", "azure-snp-full", &join(&[r, &b]));
            }
        }
    }
    // Certificates, one per seed; chains as PEM and THIM JSON.
    for rel in [
        "snp-milan/vcek.der",
        "snp-milan-2/vcek.der",
        "snp-milan-2/vcek-invalid-legacy.der",
        "snp-milan-2/vcek-invalid-new.der",
        "snp-milan-3/vcek.der",
        "snp-turin/vcek.der",
        "snp-vlek/vlek.der",
        "azure-snp-full/vcek.der",
        "tdx-dcap/intel-sgx-root-ca.der",
    ] {
        if let Some(b) = v.get(rel) {
            out.put("snp_cert", rel, &b);
            out.put("snp_bundle", rel, &b);
        }
    }
    for rel in [
        "snp-milan/ask-ark.pem",
        "snp-turin/ask-ark.pem",
        "snp-vlek/asvk-ark.pem",
        "azure-snp/vcek-chain.pem",
        "azure-snp-2/vcek-chain.pem",
    ] {
        if let Some(b) = v.get(rel) {
            out.put("snp_bundle", rel, &b);
            out.put("maa_sevsnpvm", rel, &b);
            for (i, c) in pem_certs(&b).iter().enumerate() {
                out.put("snp_cert", &format!("{rel}-{i}"), c);
            }
            if let Ok(text) = std::str::from_utf8(&b) {
                let thim =
                    json!({"vcekCert": text, "certificateChain": text, "tcbm": "DB18000000000004"});
                out.put(
                    "snp_bundle",
                    &format!("{rel}-thim"),
                    thim.to_string().as_bytes(),
                );
            }
        }
    }
    // CRLs: DER CRLs of the Intel collateral (structure), and a mock-shaped
    // one with the bytes of a real CRL's issuer.
    for rel in ["tdx-go/rootcrl.der", "tdx-go/pckcrl"] {
        if let Some(b) = v.get(rel) {
            out.put("snp_crl", rel, &b);
            out.put("snp_bundle", rel, &b);
        }
    }
    for rel in ["tdx-dcap/collateral.json", "sgx-dcap/collateral.json"] {
        if let Some(b) = v.get(rel) {
            if let Ok(j) = serde_json::from_slice::<Value>(&b) {
                for (k, val) in j.as_object().into_iter().flatten() {
                    if let Some(s) = val.as_str() {
                        let bytes = hex_or_raw(s);
                        if k.contains("crl") && !bytes.is_empty() {
                            out.put("snp_crl", &format!("{rel}-{k}"), &bytes);
                        }
                        if s.contains("-----BEGIN") {
                            out.put("snp_bundle", &format!("{rel}-{k}"), s.as_bytes());
                        }
                    }
                }
            }
        }
    }
    // TPM quotes of real vTPMs, with the AK.
    if let (Some(q), Some(s), Some(p), Some(ak)) = (
        v.get("azure-snp/tpm-quote/quote-attest.bin"),
        v.get("azure-snp/tpm-quote/quote-signature.bin"),
        v.get("azure-snp/tpm-quote/pcrs-sha256.bin"),
        v.get("azure-snp/tpm-quote/ak-pub.pem"),
    ) {
        for mode in [0u8, 1, 3] {
            out.put(
                "tpm_attest",
                &format!("azure-snp-{mode}"),
                &[&[mode][..], &join(&[&q, &s, b"challenge", &p, &[], &ak])].concat(),
            );
        }
        out.put("tpm_public", "azure-snp-ak-pem", &ak);
    }
    if let (Some(q), Some(s), Some(p)) = (
        v.get("azure-snp-full/quote-attest.bin"),
        v.get("azure-snp-full/quote-signature.bin"),
        v.get("azure-snp-full/pcrs-sha256.bin"),
    ) {
        for mode in [0u8, 1] {
            out.put(
                "tpm_attest",
                &format!("azure-snp-full-{mode}"),
                &[&[mode][..], &join(&[&q, &s, &[], &p, &[], &[]])].concat(),
            );
        }
    }
    if let Some(b) = v.get("azure-snp/var-data-example.json") {
        if let Ok(j) = serde_json::from_slice::<Value>(&b) {
            for k in j["keys"].as_array().into_iter().flatten() {
                out.put("tpm_public", "var-data-jwk", k.to_string().as_bytes());
                out.put("broker_recipient", "var-data-jwk", k.to_string().as_bytes());
            }
        }
    }
    // Event logs: built ones, and the CCEL log of a TDX guest (same format).
    let mut b = EventLogBuilder::new();
    b.event(0, 0x8, b"firmware");
    b.secure_boot(true);
    b.event(7, 4, &[0; 4]);
    b.event(0, 3, b"StartupLocality\0\x03");
    out.put("tpm_eventlog", "built", &b.build());
    let mut b = EventLogBuilder::new();
    b.secure_boot(false);
    out.put("tpm_eventlog", "built-sb-off", &b.build());
    out.put(
        "tpm_eventlog",
        "builder-mode",
        &[
            0xEE, 1, 0, 8, 3, b'a', b'b', b'c', 7, 0x80, 0, 4, 1, 2, 3, 4,
        ],
    );
    if let Some(dir) = &v.0 {
        if let Ok(rd) = std::fs::read_dir(dir.join("tdx-go")) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n == "ccel_ccel_data.dat" {
                    if let Ok(b) = std::fs::read(e.path()) {
                        out.put("tpm_eventlog", &n, &b);
                    }
                }
            }
        }
    }
    // AzureGuest bodies from the real vectors (the parts a real CVM sent;
    // the ephemeral-key fields are filled with the mock's shapes).
    if let (Some(h), Some(q), Some(s), Some(p)) = (
        v.get("azure-snp-full/hcl-report.bin"),
        v.get("azure-snp-full/quote-attest.bin"),
        v.get("azure-snp-full/quote-signature.bin"),
        v.get("azure-snp-full/pcrs-sha256.bin"),
    ) {
        if let (Ok(hcl), Some(vcek)) = (HclReport::from_bytes(&h), v.get("azure-snp-full/vcek.der"))
        {
            let mut ev = Evidence::new(tee_attest_azure::AZURE_SNP, AZURE_GUEST_SNP);
            ev.hardware_report = hcl.hw_report.clone();
            ev.runtime_data = hcl.var_data.clone();
            ev.certificates = vec![vcek];
            let mut t = TpmEvidence::default();
            t.ak_pub = vec![0, 1, 0];
            t.quote = q;
            t.quote_signature = s;
            t.pcrs = p
                .chunks(32)
                .enumerate()
                .map(|(i, c)| (i as u32, c.to_vec()))
                .collect();
            t.enc_key_pub = vec![0, 1, 0];
            t.enc_key_certify_info = vec![0xff, 0x54, 0x43, 0x47];
            t.enc_key_certify_signature = vec![1; 256];
            ev.tpm = Some(t);
            let os = OsInfo::new("Linux", "Ubuntu", 20, 4, "NotApplicable");
            if let Ok(b) = build_request_body(&ev, &os) {
                out.put("maa_azureguest", "azure-snp-full", b.as_bytes());
                out.put("azureguest_appraise", "azure-snp-full", b.as_bytes());
            }
        }
    }
    if let Some(m) = mock {
        out.put("snp_crl", "mock-ark-not-a-crl", &m.ark);
        let _ = (&m.ask, &m.vcek, &m.report, &m.runtime);
    }
    // The sealed response, as the stand-in decryptor opens it.
    for (bits, key) in [(256u32, vec![0x11u8; 32]), (128, vec![0x22u8; 16])] {
        let iv = [7u8; 12];
        let alg = if bits == 256 {
            &AES_256_GCM
        } else {
            &AES_128_GCM
        };
        let Ok(k) = UnboundKey::new(alg, &key) else {
            continue;
        };
        let k = LessSafeKey::new(k);
        let mut data = b"eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.".to_vec();
        let Ok(tag) = k.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(b"Transport Key"),
            &mut data,
        ) else {
            continue;
        };
        let env = json!({
            "EncryptedInnerKey": STANDARD.encode(&key),
            "EncryptionParams": {"BlockMode": "ChainingModeGCM", "BlockPadding": "PKCS7", "Cipher": "AES", "KeySizeInBits": bits, "Iv": STANDARD.encode(iv)},
            "AuthenticationData": STANDARD.encode(tag.as_ref()),
            "Jwt": STANDARD.encode(&data),
        });
        let token = b64u(env.to_string().as_bytes());
        out.put(
            "maa_sealed",
            &format!("aes{bits}"),
            json!({"token": token}).to_string().as_bytes(),
        );
        out.put(
            "maa_sealed",
            &format!("aes{bits}-envelope"),
            token.as_bytes(),
        );
    }
}

/// `snp_cert_table` inputs for a report and its chain (leaf first).
fn cert_table_seeds(out: &mut Out, name: &str, report: &[u8], chain: &[Vec<u8>], vlek: bool) {
    use tee_attest_tsm::{build_cert_table, Guid};
    let guids = [
        if vlek { Guid::VLEK } else { Guid::VCEK },
        Guid::ASK,
        Guid::ARK,
    ];
    let entries: Vec<(Guid, &[u8])> = guids
        .iter()
        .zip(chain)
        .map(|(g, c)| (*g, c.as_slice()))
        .collect();
    let table = build_cert_table(&entries);
    for flags in [5u8, 7, 1, 4] {
        out.put(
            "snp_cert_table",
            &format!("{name}-{flags}"),
            &[&[flags][..], &join(&[report, &table])].concat(),
        );
    }
    out.put(
        "snp_cert_table",
        &format!("{name}-empty-table"),
        &[&[5u8][..], &join(&[report, b""])].concat(),
    );
}

fn hex_or_raw(s: &str) -> Vec<u8> {
    if s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..s.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn token_seeds(out: &mut Out, v: &Vectors, tokens: &[String]) {
    let mut claim_sets = vec![synthetic_claims("fuzz-nonce")];
    if let Some(t) = v.get("maa/azureguest-snp-token.jwt") {
        let t = String::from_utf8_lossy(&t).trim().to_string();
        out.put(
            "jwt_maa",
            "maa-real-raw",
            &[&[0u8][..], t.as_bytes()].concat(),
        );
        out.put("broker_recipient", "maa-real", t.as_bytes());
        if let Some(p) = jwt_payload(&t) {
            claim_sets.push(fresh(p));
        }
    }
    for (i, t) in tokens.iter().enumerate() {
        out.put(
            "jwt_maa",
            &format!("cvm-raw-{i}"),
            &[&[2u8][..], t.as_bytes()].concat(),
        );
        out.put("broker_recipient", &format!("cvm-{i}"), t.as_bytes());
        if let Some(p) = jwt_payload(t) {
            claim_sets.push(fresh(p));
        }
    }
    for (i, c) in claim_sets.iter().enumerate() {
        let claims = c.to_string();
        let nonce = c["nonce"].as_str().unwrap_or("").to_string();
        for (m, header) in [
            (1u8, r#"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#),
            (3, r#"{"alg":"RS256","typ":"JWT"}"#),
            (1 | 4, r#"{"alg":"PS256","kid":"rsa-1"}"#),
        ] {
            out.put(
                "jwt_maa",
                &format!("signed-{i}-{m}"),
                &[
                    &[m][..],
                    &join_text(&[header.as_bytes(), claims.as_bytes(), nonce.as_bytes()]),
                ]
                .concat(),
            );
        }
        let mut admin = c.clone();
        admin["aud"] = json!([ADMIN_AUDIENCE, "other"]);
        admin["roles"] = json!([ADMIN_ROLE]);
        let admin2 = {
            let mut a = admin.clone();
            a["aud"] = json!(ADMIN_AUDIENCE);
            a["roles"] = json!(format!("Policy.Read {ADMIN_ROLE}"));
            a
        };
        for (j, a) in [admin, admin2].iter().enumerate() {
            let a = a.to_string();
            for (m, header) in [
                (1u8, r#"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#),
                (1 | 4, r#"{"alg":"PS256","kid":"rsa-1"}"#),
                (1 | 8, r#"{"alg":"ES256","kid":"ec-1","typ":"JWT"}"#),
            ] {
                out.put(
                    "jwt_admin",
                    &format!("signed-{i}-{j}-{m}"),
                    &[
                        &[m][..],
                        &join_text(&[header.as_bytes(), a.as_bytes(), nonce.as_bytes()]),
                    ]
                    .concat(),
                );
            }
        }
        out.put(
            "policy_eval",
            &format!("default-{i}"),
            &join_text(&[POLICIES[0].as_bytes(), claims.as_bytes()]),
        );
        out.put(
            "skr_release",
            &format!("claims-{i}"),
            &join_text(&[
                b"{}",
                claims.as_bytes(),
                b"x-ms-isolation-tee.x-ms-attestation-type",
            ]),
        );
        out.put(
            "broker_recipient",
            &format!("claims-{i}"),
            claims.as_bytes(),
        );
    }
    // JWKS documents.
    out.put(
        "jwks",
        "stand-in",
        json!({"keys": [stand_in_jwk()]}).to_string().as_bytes(),
    );
    let ec = json!({"kty": "EC", "crv": "P-256", "kid": "ec-1", "use": "sig", "alg": "ES256",
        "x": b64u(&[1; 32]), "y": b64u(&[2; 32])});
    out.put("jwks", "ec", json!({"keys": [ec]}).to_string().as_bytes());
    if let Ok(signer) = tee_attest_verifier::TokenSigner::generate() {
        let j = signer.jwks();
        out.put("jwks", "verifier", j.to_string().as_bytes());
        let mut x5c_only = j.clone();
        if let Some(k) = x5c_only["keys"][0].as_object_mut() {
            k.remove("n");
            k.remove("e");
            k.insert("kid".into(), json!("rsa-1"));
        }
        out.put("jwks", "x5c-only", x5c_only.to_string().as_bytes());
        out.put(
            "jwks",
            "dup-kid",
            json!({"keys": [j["keys"][0], j["keys"][0]]})
                .to_string()
                .as_bytes(),
        );
        let cert = STANDARD.encode(signer.cert_der());
        out.put(
            "policy_jws",
            "cert-der",
            &[&[0u8][..], signer.cert_der()].concat(),
        );
        out.put(
            "policy_jws",
            "cert-pem",
            format!("\0-----BEGIN CERTIFICATE-----\n{cert}\n-----END CERTIFICATE-----\n")
                .as_bytes(),
        );
        let header = b64u(
            json!({"alg": "RS256", "x5c": [cert]})
                .to_string()
                .as_bytes(),
        );
        let payload = b64u(
            json!({"AttestationPolicy": b64u(POLICIES[2].as_bytes())})
                .to_string()
                .as_bytes(),
        );
        out.put(
            "policy_jws",
            "rs256-badsig",
            format!("\0{header}.{payload}.{}", b64u(&[0; 256])).as_bytes(),
        );
    }
}

fn policy_seeds(out: &mut Out, v: &Vectors, root: &Path, tokens: &[String]) {
    let mut policies: Vec<String> = POLICIES.iter().map(|s| s.to_string()).collect();
    // Policies in the documentation's code blocks.
    for doc in [
        "docs/POLICY.md",
        "docs/VERIFIER.md",
        "docs/SECURITY.md",
        "crates/policy/README.md",
    ] {
        let Ok(text) = std::fs::read_to_string(root.join(doc)) else {
            continue;
        };
        for block in text.split("```").skip(1).step_by(2) {
            let body = block.split_once('\n').map_or(block, |(_, b)| b);
            if body
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("version")
            {
                policies.push(body.to_string());
            }
        }
    }
    let claims: Vec<String> = tokens
        .iter()
        .filter_map(|t| jwt_payload(t))
        .map(|c| c.to_string())
        .chain([synthetic_claims("n").to_string(), json!([{"type": "x", "value": "v", "issuer": "CustomClaim"}, {"type": "n", "value": -7}]).to_string()])
        .collect();
    for (i, p) in policies.iter().enumerate() {
        out.put("policy_parse", &format!("p{i}"), p.as_bytes());
        for (j, c) in claims.iter().enumerate() {
            out.put(
                "policy_eval",
                &format!("p{i}-c{j}"),
                &join_text(&[p.as_bytes(), c.as_bytes()]),
            );
        }
        let payload = json!({"AttestationPolicy": b64u(p.as_bytes())}).to_string();
        out.put(
            "policy_jws",
            &format!("signed-p{i}"),
            &[&[1u8][..], payload.as_bytes()].concat(),
        );
        out.put(
            "policy_jws",
            &format!("signed-jwk-p{i}"),
            &[&[3u8][..], payload.as_bytes()].concat(),
        );
        out.put(
            "policy_jws",
            &format!("unsigned-p{i}"),
            &[
                &[0u8][..],
                tee_attest_policy::jws::unsigned_policy_jws(p).as_bytes(),
            ]
            .concat(),
        );
        out.put(
            "policy_jws",
            &format!("text-p{i}"),
            &[&[0u8][..], p.as_bytes()].concat(),
        );
    }
    out.put("policy_jws", "empty-payload", b"\x01");
    // SKR release policies.
    let mut skr = vec![
        json!({"version": "1.0.0", "anyOf": [{"authority": ISSUER, "allOf": [
            {"claim": "x-ms-isolation-tee.x-ms-attestation-type", "equals": "sevsnpvm"},
            {"claim": "x-ms-isolation-tee.x-ms-sevsnpvm-vmpl", "lessOrEquals": 0},
            {"claim": "secureboot", "exists": true},
            {"anyOf": [{"claim": "x-ms-azurevm-vmid", "notEquals": "x"}, {"claim": "nonce", "greater": 1}]}
        ]}]})
        .to_string(),
        json!({"version": "1.0.0", "allOf": [{"authority": format!("{ISSUER}/"), "anyOf": [
            {"claim": "x-ms-compliance-status", "exists": false},
            {"claim": "x-ms-isolation-tee.x-ms-sevsnpvm-guestsvn", "greaterOrEquals": 1, "less": 9}
        ]}]})
        .to_string(),
    ];
    if let Some(b) = v.get("maa/skr-release-policy-cvm.json") {
        skr.push(String::from_utf8_lossy(&b).to_string());
    }
    if let Ok(text) = std::fs::read_to_string(root.join("docs/KEY_RELEASE.md")) {
        for block in text.split("```").skip(1).step_by(2) {
            let body = block.split_once('\n').map_or(block, |(_, b)| b);
            if body.contains("anyOf") || body.contains("allOf") {
                skr.push(body.to_string());
            }
        }
    }
    for (i, p) in skr.iter().enumerate() {
        for (j, c) in claims.iter().enumerate() {
            out.put(
                "skr_release",
                &format!("s{i}-c{j}"),
                &join_text(&[
                    p.as_bytes(),
                    c.as_bytes(),
                    b"x-ms-isolation-tee.x-ms-sevsnpvm-vmpl",
                ]),
            );
        }
    }
}

fn broker_seeds(out: &mut Out) {
    use tee_attest_broker::{jwk_thumbprint, EnvelopeEncryptor, RecipientKey};
    let public = RsaPublic::new(&stand_in_modulus(), &[1, 0, 1]);
    let thumb = jwk_thumbprint(&public);
    // Envelopes the stand-in decryptor opens: the wrapped key IS the key.
    for (i, (chunk, plain)) in [
        (256u32, &b""[..]),
        (256, &[0x5a; 256][..]),
        (300, &[0x33; 1000][..]),
        (4096, b"secret"),
    ]
    .into_iter()
    .enumerate()
    {
        let key = [0x42u8; 32];
        let prefix = [9u8; 7];
        let meta = json!({
            "version": 1, "scheme": "envelope", "cipher": "AES-256-GCM", "key_wrap": "RSA-OAEP-256",
            "kid": "TpmEphemeralEncryptionKey", "key_thumbprint": thumb,
            "wrapped_key": b64u(&key), "nonce_prefix": b64u(&prefix), "chunk_size": chunk,
        });
        let aad = envelope_aad(&meta, &key, &prefix, chunk);
        let Ok(k) = UnboundKey::new(&AES_256_GCM, &key) else {
            continue;
        };
        let k = LessSafeKey::new(k);
        let mut ct = Vec::new();
        let chunks: Vec<&[u8]> = if plain.is_empty() {
            vec![]
        } else {
            plain.chunks(chunk as usize).collect()
        };
        let n = chunks.len();
        let last_full = n > 0 && chunks[n - 1].len() == chunk as usize;
        let mut all: Vec<&[u8]> = chunks;
        if n == 0 || last_full {
            all.push(&[]);
        }
        let total = all.len();
        for (idx, c) in all.iter().enumerate() {
            let mut nonce = [0u8; 12];
            nonce[..7].copy_from_slice(&prefix);
            nonce[7..11].copy_from_slice(&(idx as u32).to_be_bytes());
            nonce[11] = u8::from(idx + 1 == total);
            let mut buf = c.to_vec();
            if let Ok(tag) = k.seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut buf,
            ) {
                buf.extend_from_slice(tag.as_ref());
            }
            ct.extend(buf);
        }
        out.put(
            "broker_envelope",
            &format!("stand-in-{i}"),
            &join(&[meta.to_string().as_bytes(), &ct]),
        );
    }
    // A real envelope's metadata (the wrap is RSA-OAEP to the stand-in key).
    if let Ok(r) = RecipientKey::from_jwk(&stand_in_jwk()) {
        if let Ok(e) = EnvelopeEncryptor::with_chunk_size(&r, 256) {
            let meta = e.metadata().to_bytes();
            if let Ok(ct) = e.encrypt(b"fuzz plaintext") {
                out.put("broker_envelope", "oaep", &join(&[&meta, &ct]));
            }
        }
    }
    out.put("broker_envelope", "direct-rsa", &join(&[b"", &[0x11; 256]]));
    for (i, h) in [
        [0u8, 0, 0, 0, 1],
        [1, 1, 5, 0, 0x80],
        [2, 2, 40, 1, 1],
        [0, 3, 1, 0, 1],
        [0, 4, 0, 0, 1],
        [0, 5, 1, 0, 1],
        [0, 6, 0, 0, 3],
        [0, 7, 30, 0, 4],
    ]
    .iter()
    .enumerate()
    {
        out.put(
            "broker_roundtrip",
            &format!("op-{i}"),
            &[&h[..], &[0x61; 700][..]].concat(),
        );
    }
    out.put(
        "broker_recipient",
        "stand-in-jwk",
        stand_in_jwk().to_string().as_bytes(),
    );
    for name in [
        "envelope",
        "none",
        "rsa-oaep-sha256",
        "rsa-oaep-sha1",
        "rsa-pkcs1v15",
        "none-microsoft",
        "rsa-raw",
    ] {
        out.put("broker_recipient", name, name.as_bytes());
    }
    out.put("broker_recipient", "tpm-alg", &[0x00, 0x17, 0x00, 0x0B]);
}

/// The chunks' additional data, as docs/ENCRYPTION.md and the broker's
/// envelope module define it: SHA-256 over a domain string, the version and
/// chunk size, then each field length-prefixed.
fn envelope_aad(meta: &Value, key: &[u8], prefix: &[u8], chunk: u32) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"tee-attest/envelope/v1\0");
    ctx.update(&1u32.to_be_bytes());
    ctx.update(&chunk.to_be_bytes());
    let s = |k: &str| meta[k].as_str().unwrap_or_default().as_bytes().to_vec();
    for f in [
        s("cipher"),
        s("key_wrap"),
        s("kid"),
        s("key_thumbprint"),
        key.to_vec(),
        prefix.to_vec(),
    ] {
        ctx.update(&(f.len() as u32).to_be_bytes());
        ctx.update(&f);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn keyrelease_seeds(out: &mut Out, tokens: &[String]) {
    let mut claims = vec![synthetic_claims("n1").to_string()];
    for t in tokens {
        if let Some(mut p) = jwt_payload(t).map(fresh) {
            // The stand-in key as the ephemeral key (the CVM's is fine too).
            p["x-ms-runtime"]["keys"] = json!([stand_in_jwk()]);
            claims.push(p.to_string());
        }
    }
    for (i, c) in claims.iter().enumerate() {
        for (name, version, enc) in [
            ("oct", "", "CKM_RSA_AES_KEY_WRAP"),
            ("rsa", "1", "RSA_AES_KEY_WRAP_256"),
            ("ec", "", "RSA_AES_KEY_WRAP_384"),
            ("oct", "2", ""),
        ] {
            let extra = join_text(&[enc.as_bytes(), format!("nonce-{i}").as_bytes()]);
            let input = join(&[
                name.as_bytes(),
                version.as_bytes(),
                b"7.4",
                c.as_bytes(),
                &extra,
            ]);
            out.put(
                "keyrelease_request",
                &format!("c{i}-{name}-{version}"),
                &[&[1u8][..], &input].concat(),
            );
        }
    }
    let raw = json!({"target": "a.b.c", "enc": "CKM_RSA_AES_KEY_WRAP", "nonce": "n"}).to_string();
    out.put(
        "keyrelease_request",
        "raw",
        &[&[0u8][..], &join(&[b"oct", b"", b"", raw.as_bytes(), b""])].concat(),
    );
    out.put(
        "keyrelease_request",
        "raw-notjson",
        &[&[0u8][..], &join(&[b"oct", b"", b"", b"{", b""])].concat(),
    );

    // Release answers as a client reads them: key_hsm made for the stand-in
    // decryptor (its RSA block starts with the transfer key).
    let transfer = [0x24u8; 32];
    let material = [0x5au8; 32];
    let mut wrapped = vec![0u8; 40];
    if let Ok(kek) = aws_lc_rs::key_wrap::AesKek::new(&aws_lc_rs::key_wrap::AES_256, &transfer) {
        if let Ok(w) = kek.wrap_with_padding(&material, &mut wrapped) {
            wrapped = w.to_vec();
        }
    }
    let mut block = transfer.to_vec();
    block.resize(256, 0x01);
    block.extend_from_slice(&wrapped);
    for enc in [
        "CKM_RSA_AES_KEY_WRAP",
        "RSA_AES_KEY_WRAP_256",
        "RSA_AES_KEY_WRAP_384",
    ] {
        let key_hsm = b64u(json!({"schema_version": "1.0", "header": {"alg": "dir", "enc": enc, "kid": "k"}, "ciphertext": b64u(&block)}).to_string().as_bytes());
        out.put(
            "keyrelease_response",
            &format!("key-hsm-{enc}"),
            key_hsm.as_bytes(),
        );
        let payload = json!({"request": {"api-version": "7.4", "enc": enc, "kid": "k", "nonce": "n"},
            "response": {"key": {"key": {"kid": "k", "kty": "oct-HSM", "key_ops": ["encrypt"], "key_hsm": key_hsm}}}});
        let header = json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"});
        let jws = format!(
            "{}.{}.{}",
            b64u(header.to_string().as_bytes()),
            b64u(payload.to_string().as_bytes()),
            b64u(&[0; 256])
        );
        out.put(
            "keyrelease_response",
            &format!("answer-{enc}"),
            jws.as_bytes(),
        );
        let flat = json!({"key": {"kid": "k", "key_hsm": key_hsm}});
        let jws = format!(
            "{}.{}.",
            b64u(header.to_string().as_bytes()),
            b64u(flat.to_string().as_bytes())
        );
        out.put(
            "keyrelease_response",
            &format!("flat-{enc}"),
            jws.as_bytes(),
        );
    }
    out.put(
        "keyrelease_response",
        "kek-hex",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".as_bytes(),
    );
    out.put(
        "keyrelease_response",
        "kwp",
        &[&transfer[..], &wrapped].concat(),
    );
}

/// Intel TDX/SGX quotes, TDREPORT, CCEL and DCAP collateral.
fn tdx_seeds(out: &mut Out, v: &Vectors) {
    for (kind, rel) in [
        (0u8, "tdx-dcap/quote.bin"),
        (0, "tdx-dcap/quote-outdated.bin"),
        (0, "sgx-dcap/quote.bin"),
        (0, "tdx-go/tdx_prod_quote_SPR_E4.dat"),
        (0, "tdx-go/quote_v5_sample.dat"),
        (0, "tdx-go/ccel_cos-113-tdx-quote.dat"),
        (0, "tdx-trustee/tdx_quote_4.dat"),
        (0, "tdx-trustee/tdx_quote_5.dat"),
        (0, "tdx-trustee/tdx_quote_6.dat"),
        (1, "tdx-go/report.dat"),
        (2, "tdx-go/ccel_ccel_table.dat"),
        (3, "tdx-go/ccel_ccel_data.dat"),
    ] {
        if let Some(b) = v.get(rel) {
            out.put("tdx_quote", rel, &[&[kind][..], &b].concat());
        }
    }
    if let Some(h) = v.get("azure-tdx/hcl-report.bin") {
        if let Some(td) = h.get(32..32 + 1024) {
            out.put(
                "tdx_quote",
                "azure-tdx-tdreport",
                &[&[1u8][..], td].concat(),
            );
        }
    }
    for rel in [
        "tdx-dcap/collateral.json",
        "tdx-dcap/collateral-outdated.json",
        "sgx-dcap/collateral.json",
        "tdx-go/sample_tcbInfo_response",
        "tdx-go/sample_qeIdentity_response",
        "tdx-trustee/tcbInfo.json",
        "tdx-trustee/enclaveIdentity.json",
    ] {
        if let Some(b) = v.get(rel) {
            out.put("tdx_collateral", rel, &b);
            // The signed bodies alone.
            if let Ok(j) = serde_json::from_slice::<Value>(&b) {
                for k in ["tcbInfo", "enclaveIdentity", "tcb_info", "qe_identity"] {
                    match j.get(k) {
                        Some(Value::String(t)) => {
                            out.put("tdx_collateral", &format!("{rel}-{k}"), t.as_bytes())
                        }
                        Some(o @ Value::Object(_)) => out.put(
                            "tdx_collateral",
                            &format!("{rel}-{k}"),
                            o.to_string().as_bytes(),
                        ),
                        _ => {}
                    }
                }
            }
        }
    }
}
