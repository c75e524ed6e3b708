//! The backend registry: the [`TeeBackend`] values the enabled cargo
//! features bring in, in one list that `provider`, `detect` (CLI and C ABI)
//! and the C ABI's choice of TEE all read. Adding a TEE is its crate plus
//! one line here and one feature in `Cargo.toml`.

use std::sync::Arc;

use tee_attest_core::{
    DetectContext, Error, ErrorCode, EvidenceProvider, ProviderConfig, Result, TeeBackend,
};

/// The backends compiled into this build, in detection order (real TEEs
/// first; the mock is never detected).
pub static BACKENDS: &[&TeeBackend] = &[
    #[cfg(feature = "azure-snp")]
    &tee_attest_azure::provider::BACKEND,
    #[cfg(feature = "azure-tdx")]
    &tee_attest_azure::provider::TDX_BACKEND,
    #[cfg(feature = "snp")]
    &tee_attest_snp_guest::BACKEND,
    #[cfg(feature = "tdx")]
    &tee_attest_tdx_guest::BACKEND,
    #[cfg(feature = "mock")]
    &tee_attest_mock::BACKEND,
];

/// Every backend this crate knows, compiled in or not, with the cargo
/// feature that brings it in: what error messages and `detect` may
/// recommend (a test checks that each feature exists).
pub const KNOWN_BACKENDS: &[(&str, &str)] = &[
    ("azure-snp", "azure-snp"),
    ("azure-tdx", "azure-tdx"),
    ("snp", "snp"),
    ("tdx", "tdx"),
    ("mock", "mock"),
];

/// The cargo feature that brings in the backend `id`, if this crate knows it.
pub fn feature_for(id: &str) -> Option<&'static str> {
    KNOWN_BACKENDS
        .iter()
        .find(|(b, _)| *b == id)
        .map(|(_, f)| *f)
}

/// The ids of the backends compiled in.
pub fn backend_ids() -> Vec<&'static str> {
    BACKENDS.iter().map(|b| b.id.as_str()).collect()
}

/// The backend named `name` (`--tee NAME`). A known backend that was not
/// compiled in is code 1 naming its feature; an unknown name is code 8
/// listing the compiled ones.
pub fn backend(name: &str) -> Result<&'static TeeBackend> {
    let name = name.trim();
    if let Some(b) = BACKENDS.iter().find(|b| b.id.as_str() == name) {
        return Ok(b);
    }
    let built = backend_ids().join(", ");
    match feature_for(name) {
        Some(feature) => Err(Error::new(
            ErrorCode::InitializationFailed,
            format!(
                "TEE {name} is not compiled in: build tee-attest with the `{feature}` feature \
                 (this build has: {built})"
            ),
        )),
        None => Err(Error::new(
            ErrorCode::InvalidInputParameter,
            format!("unknown TEE {name:?}: this build has {built} (or `auto`)"),
        )),
    }
}

/// Every compiled-in backend that recognises this machine, with its
/// details. Looks only at local devices, files and the TPM.
pub fn detect(ctx: &DetectContext) -> Vec<(&'static TeeBackend, serde_json::Value)> {
    BACKENDS
        .iter()
        .filter_map(|b| (b.detect)(ctx).map(|d| (*b, d)))
        .collect()
}

/// The first compiled-in backend that recognises this machine (code 1 when
/// none does).
pub fn detect_backend(ctx: &DetectContext) -> Result<&'static TeeBackend> {
    detect(ctx)
        .into_iter()
        .next()
        .map(|(b, _)| b)
        .ok_or_else(|| {
            Error::new(
                ErrorCode::InitializationFailed,
                format!(
                    "no TEE detected on this machine (this build looks for: {}); name one, or try \
                 `mock` with its mock roots trusted",
                    backend_ids().join(", ")
                ),
            )
        })
}

/// The provider of the backend `name`, or of the detected one for `auto`.
pub fn provider(name: &str, config: &ProviderConfig) -> Result<Arc<dyn EvidenceProvider>> {
    let backend = match name.trim() {
        "auto" | "" => {
            let ctx = DetectContext::new("/", config.tcti.clone());
            detect_backend(&ctx)?
        }
        n => backend(n)?,
    };
    (backend.provider)(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recommended_feature_exists() {
        let manifest =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        let features = manifest
            .split("[features]")
            .nth(1)
            .unwrap()
            .split("\n[")
            .next()
            .unwrap();
        for (id, feature) in KNOWN_BACKENDS {
            assert!(
                features
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{feature} ="))),
                "backend {id} recommends feature `{feature}`, which Cargo.toml does not define"
            );
        }
        for b in BACKENDS {
            assert!(
                feature_for(b.id.as_str()).is_some(),
                "compiled-in backend {} is not listed in KNOWN_BACKENDS",
                b.id
            );
        }
    }

    /// The evidence types are named twice on purpose — by MAA's wire format
    /// (`maa`, which relying parties build without the TEE crates) and by
    /// the appraisers (`azure`, `snp`) — so the two must stay equal, or the
    /// service would route evidence to no appraiser.
    #[cfg(feature = "local-verifier")]
    #[test]
    fn wire_format_and_appraiser_evidence_types_agree() {
        use tee_attest_maa::azureguest as wire;
        assert_eq!(wire::AZURE_GUEST_SNP, tee_attest_azure::AZURE_GUEST_SNP);
        assert_eq!(wire::SEV_SNP_VM, tee_attest_snp::SEV_SNP_VM);
    }

    /// The same for the TDX evidence types, named by the wire format and
    /// by the TDX backends.
    #[cfg(all(feature = "maa", any(feature = "tdx", feature = "azure-tdx")))]
    #[test]
    fn wire_format_and_tdx_backend_evidence_types_agree() {
        use tee_attest_maa::azureguest as wire;
        #[cfg(feature = "tdx")]
        {
            assert_eq!(wire::TDX_VM, tee_attest_tdx_guest::TDX_VM);
            assert_eq!(tee_attest_tdx_guest::BACKEND.evidence_type, wire::TDX_VM);
        }
        #[cfg(feature = "azure-tdx")]
        {
            assert_eq!(wire::AZURE_GUEST_TDX, tee_attest_azure::AZURE_GUEST_TDX);
            assert_eq!(
                tee_attest_azure::provider::TDX_BACKEND.evidence_type,
                wire::AZURE_GUEST_TDX
            );
        }
    }

    #[test]
    fn unknown_and_missing_backends_say_what_to_do() {
        let err = backend("sgx-of-the-future").err().unwrap();
        assert_eq!(err.code(), ErrorCode::InvalidInputParameter);
        assert!(err.message().contains("this build has"), "{err}");
        for (id, feature) in KNOWN_BACKENDS {
            match backend(id) {
                Ok(b) => assert_eq!(b.id.as_str(), *id),
                Err(e) => {
                    assert_eq!(e.code(), ErrorCode::InitializationFailed);
                    assert!(e.message().contains(&format!("`{feature}` feature")), "{e}");
                }
            }
        }
    }

    #[test]
    fn detection_on_an_empty_tree_finds_nothing() {
        let dir = std::env::temp_dir().join(format!("tee-attest-detect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ctx = DetectContext::new(&dir, Some("swtpm:host=127.0.0.1,port=1".into()));
        assert!(detect(&ctx).is_empty());
        assert_eq!(
            detect_backend(&ctx).err().unwrap().code(),
            ErrorCode::InitializationFailed
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
