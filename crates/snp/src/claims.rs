//! The `x-ms-sevsnpvm-*` claims of a verified report, named and typed as
//! Microsoft Azure Attestation emits them (SPEC.md §5): byte fields as
//! lower-case hex strings, numbers as integers, policy bits as booleans.

use serde_json::{Map, Value};

use crate::verify::SnpVerified;

/// The names of the MAA SEV-SNP claims, in MAA's order.
pub const MAA_CLAIM_NAMES: &[&str] = &[
    "x-ms-sevsnpvm-authorkeydigest",
    "x-ms-sevsnpvm-bootloader-svn",
    "x-ms-sevsnpvm-familyId",
    "x-ms-sevsnpvm-guestsvn",
    "x-ms-sevsnpvm-hostdata",
    "x-ms-sevsnpvm-idkeydigest",
    "x-ms-sevsnpvm-imageId",
    "x-ms-sevsnpvm-is-debuggable",
    "x-ms-sevsnpvm-launchmeasurement",
    "x-ms-sevsnpvm-microcode-svn",
    "x-ms-sevsnpvm-migration-allowed",
    "x-ms-sevsnpvm-reportdata",
    "x-ms-sevsnpvm-reportid",
    "x-ms-sevsnpvm-smt-allowed",
    "x-ms-sevsnpvm-snpfw-svn",
    "x-ms-sevsnpvm-tee-svn",
    "x-ms-sevsnpvm-vmpl",
];

impl SnpVerified {
    /// The seventeen `x-ms-sevsnpvm-*` claims, exactly as MAA names and
    /// types them. The SVN claims are the reported TCB (the one the VCEK
    /// certifies).
    pub fn maa_claims(&self) -> Map<String, Value> {
        let r = &self.report;
        let t = self.reported_tcb;
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put(
            "x-ms-sevsnpvm-authorkeydigest",
            hex::encode(r.author_key_digest).into(),
        );
        put("x-ms-sevsnpvm-bootloader-svn", t.bootloader.into());
        put("x-ms-sevsnpvm-familyId", hex::encode(r.family_id).into());
        put("x-ms-sevsnpvm-guestsvn", r.guest_svn.into());
        put("x-ms-sevsnpvm-hostdata", hex::encode(r.host_data).into());
        put(
            "x-ms-sevsnpvm-idkeydigest",
            hex::encode(r.id_key_digest).into(),
        );
        put("x-ms-sevsnpvm-imageId", hex::encode(r.image_id).into());
        put(
            "x-ms-sevsnpvm-is-debuggable",
            r.policy.debug_allowed().into(),
        );
        put(
            "x-ms-sevsnpvm-launchmeasurement",
            hex::encode(r.measurement).into(),
        );
        put("x-ms-sevsnpvm-microcode-svn", t.microcode.into());
        put(
            "x-ms-sevsnpvm-migration-allowed",
            r.policy.migrate_ma_allowed().into(),
        );
        put(
            "x-ms-sevsnpvm-reportdata",
            hex::encode(r.report_data).into(),
        );
        put("x-ms-sevsnpvm-reportid", hex::encode(r.report_id).into());
        put("x-ms-sevsnpvm-smt-allowed", r.policy.smt_allowed().into());
        put("x-ms-sevsnpvm-snpfw-svn", t.snp.into());
        put("x-ms-sevsnpvm-tee-svn", t.tee.into());
        put("x-ms-sevsnpvm-vmpl", r.vmpl.into());
        m
    }

    /// The MAA claims plus this verifier's own (`x-tee-attest-snp-*`): the
    /// root the chain ended in (`amd` or `extra`), whether a CRL was checked
    /// (`checked` or `absent`), product, signing key, report version, guest
    /// policy, whether the hwID was checked, and the FMC SPL on Turin.
    pub fn claims(&self) -> Map<String, Value> {
        let mut m = self.maa_claims();
        let r = &self.report;
        let mut put = |k: &str, v: Value| {
            m.insert(format!("x-tee-attest-snp-{k}"), v);
        };
        put("root", self.root.name().into());
        put("crl", self.crl.name().into());
        put("product", self.product.name().into());
        put("signing-key", self.signer.name().into());
        put("report-version", r.version.into());
        put("policy", r.policy.0.into());
        put("chip-id-masked", r.chip_id_masked().into());
        put("hwid-checked", self.hwid_checked.into());
        put("verified-at", self.at.into());
        if let Some(fmc) = self.reported_tcb.fmc {
            put("fmc-svn", fmc.into());
        }
        m
    }
}
