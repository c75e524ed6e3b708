//! Which trusted execution environment evidence comes from.

use std::fmt;
use std::str::FromStr;

use crate::{Error, ErrorCode};

/// A kind of TEE (and of the evidence it produces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TeeKind {
    /// An Azure confidential VM on AMD SEV-SNP: SNP report inside the vTPM's
    /// HCL report, plus TPM quote and ephemeral key.
    AzureSnp,
    /// An Azure confidential VM on Intel TDX: TDREPORT inside the HCL report,
    /// quoted through IMDS, plus TPM quote and ephemeral key.
    AzureTdx,
    /// A bare AMD SEV-SNP guest (`/dev/sev-guest` or configfs-tsm).
    Snp,
    /// A bare Intel TDX guest (configfs-tsm or `/dev/tdx_guest`).
    Tdx,
    /// The mock backend: real formats signed by mock roots.
    Mock,
}

impl TeeKind {
    /// Every kind, for listings.
    pub const ALL: &'static [TeeKind] = &[
        TeeKind::AzureSnp,
        TeeKind::AzureTdx,
        TeeKind::Snp,
        TeeKind::Tdx,
        TeeKind::Mock,
    ];

    /// The name used on the command line and in JSON (`azure-snp`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            TeeKind::AzureSnp => "azure-snp",
            TeeKind::AzureTdx => "azure-tdx",
            TeeKind::Snp => "snp",
            TeeKind::Tdx => "tdx",
            TeeKind::Mock => "mock",
        }
    }

    /// The isolation type MAA reports for this TEE (`x-ms-isolation-tee.x-ms-attestation-type`).
    pub const fn maa_isolation_type(self) -> &'static str {
        match self {
            TeeKind::AzureSnp | TeeKind::Snp | TeeKind::Mock => "sevsnpvm",
            TeeKind::AzureTdx | TeeKind::Tdx => "tdxvm",
        }
    }
}

impl fmt::Display for TeeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TeeKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        TeeKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = TeeKind::ALL.iter().map(|k| k.as_str()).collect();
                Error::new(
                    ErrorCode::InvalidInputParameter,
                    format!("unknown TEE {s:?}; expected one of {}", names.join(", ")),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in TeeKind::ALL {
            assert_eq!(k.as_str().parse::<TeeKind>().unwrap(), *k);
            assert_eq!(
                serde_json::to_string(k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        let err = "sgx".parse::<TeeKind>().unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInputParameter);
        assert!(err.message().contains("azure-snp"));
    }
}
