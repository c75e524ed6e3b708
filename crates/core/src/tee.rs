//! How TEEs and their evidence are named: a backend's registry id
//! ([`TeeId`]), and the evidence type a verifier appraises
//! ([`EvidenceType`]). Neither is a closed list: a TEE crate defines its
//! own constants, and nothing here changes when a TEE is added.

use std::fmt;

/// A TEE backend's registry id: `azure-snp`, `snp`, `mock`, … — lower-case
/// ASCII letters, digits and `-`, as on the command line (`--tee ID`) and
/// in `detect`'s JSON. Each backend crate defines its id as a constant;
/// the facade's registry maps a name given at run time to one of them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TeeId(&'static str);

impl TeeId {
    /// The id `id` (a backend crate's constant).
    pub const fn new(id: &'static str) -> Self {
        Self(id)
    }

    /// The id as text.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Debug for TeeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TeeId({})", self.0)
    }
}

impl fmt::Display for TeeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for TeeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// What kind of evidence a verifier receives, as MAA names it: the
/// attestation type (`AzureGuest`, `SevSnpVm`, `TdxVm`, `SgxEnclave`, …:
/// the `/attest/{type}` route and the policy it is appraised under) and,
/// for `AzureGuest`, the isolation type inside it (`SevSnp`, `Tdx`).
/// Appraisers are registered under it; TEE crates define the constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EvidenceType {
    attestation_type: &'static str,
    isolation: Option<&'static str>,
}

impl EvidenceType {
    /// The evidence type `attestation_type` (with `isolation` for AzureGuest).
    pub const fn new(attestation_type: &'static str, isolation: Option<&'static str>) -> Self {
        Self {
            attestation_type,
            isolation,
        }
    }

    /// MAA's attestation type: the route and the policy.
    pub const fn attestation_type(&self) -> &'static str {
        self.attestation_type
    }

    /// The isolation type inside an `AzureGuest` attestation.
    pub const fn isolation(&self) -> Option<&'static str> {
        self.isolation
    }

    /// Whether this evidence comes with a vTPM (an Azure CVM's AzureGuest
    /// evidence): then the nonce goes into the TPM quote, the client
    /// payload travels beside the evidence, and the token carries the vTPM's
    /// ephemeral key. Otherwise the evidence binds runtime data through its
    /// report data and there is no ephemeral key.
    pub fn has_vtpm(&self) -> bool {
        self.attestation_type == "AzureGuest"
    }
}

impl fmt::Display for EvidenceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.isolation {
            Some(i) => write!(f, "{}/{}", self.attestation_type, i),
            None => f.write_str(self.attestation_type),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        const SNP: TeeId = TeeId::new("snp");
        assert_eq!(SNP.to_string(), "snp");
        assert_eq!(serde_json::to_string(&SNP).unwrap(), "\"snp\"");
        let ag = EvidenceType::new("AzureGuest", Some("SevSnp"));
        assert_eq!(ag.to_string(), "AzureGuest/SevSnp");
        assert!(ag.has_vtpm());
        let bare = EvidenceType::new("SevSnpVm", None);
        assert_eq!(bare.to_string(), "SevSnpVm");
        assert!(!bare.has_vtpm());
    }
}
