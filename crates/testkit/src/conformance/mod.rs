//! The conformance suite every TEE backend and appraiser runs (issue 12,
//! item 6). Generic over `Arc<dyn EvidenceProvider>` and `Arc<dyn
//! Appraiser>`, so that it depends on no backend crate.
//!
//! A [`Subject`] is a provider, two appraisers of its evidence type (one
//! trusting the mock roots its evidence chains to, one trusting only the
//! genuine roots), the verifier's challenge rule, and the [`Profile`] of
//! its evidence type (its signed regions). The suite gathers one evidence
//! and appraises mutated copies of it:
//!
//! | group | what | expected |
//! |---|---|---|
//! | `good` | the evidence for a challenge | accepted; the claims carry the nonce; mock evidence is marked [`MOCK_EVIDENCE_CLAIM`] |
//! | `wrong-nonce` | another expected nonce; the evidence relabelled with it | code 6, `nonce`; code 6, the profile's binding check |
//! | `truncated` | each field cut to 0, 1, half, len − 1 bytes | a typed refusal (6, 17, 20, 21), never a panic, never accepted (an omitted ASK/ARK may be taken from the anchors: same claims) |
//! | `signed-region` | each signed region flipped (first, middle, last byte; bits 0x01 and 0x80) | code 6 naming the region's check |
//! | `root` | the appraiser trusting only genuine roots | mock evidence: code 6, `untrusted-root` |
//! | `device-gone` | the provider after its device is stopped | code 12 or 13 within a bounded time |
//!
//! ```ignore
//! let subject = Subject::new("azure-snp", provider, trusting, genuine,
//!     |t, n, p| Ok(tee_attest_maa::challenge(t, n, p)?), regions::azure_guest_snp());
//! conformance::run(subject, Some(Box::new(move || drop(cvm)))).await.assert_passed();
//! ```
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod regions;

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use tee_attest_core::{
    Appraisal, Appraiser, Challenge, Error, Evidence, EvidenceProvider, EvidenceRequest,
    EvidenceType, Result, MOCK_EVIDENCE_CLAIM,
};

pub use regions::{Alternative, Field, Profile, SignedRegion, Span};

/// The verifier's challenge rule: what evidence of a type must bind for a
/// nonce and a client payload (e.g. `tee_attest_maa::challenge`).
pub type ChallengeFn = fn(EvidenceType, &[u8], &BTreeMap<String, String>) -> Result<Challenge>;

/// Stops the subject's device (the swtpm, the FUSE mount, the mock).
pub type StopDevice = Box<dyn FnOnce() + Send>;

/// Makes a fresh appraiser (with a cold cache) trusting the subject's roots.
pub type AppraiserFactory = Arc<dyn Fn() -> Arc<dyn Appraiser> + Send + Sync>;

/// What the suite runs against.
#[non_exhaustive]
pub struct Subject {
    /// A name for the report (`azure-snp on MockAzureCvm`).
    pub name: String,
    /// The provider under test.
    pub provider: Arc<dyn EvidenceProvider>,
    /// An appraiser of its evidence type trusting the roots its evidence
    /// chains to (the mock roots, for a mock).
    pub appraiser_trusting_mock: Arc<dyn Appraiser>,
    /// The same appraiser trusting only the genuine roots.
    pub appraiser_genuine_only: Arc<dyn Appraiser>,
    /// The verifier's challenge rule.
    pub challenge: ChallengeFn,
    /// The evidence type's signed regions and checks.
    pub profile: Profile,
    /// Whether the provider's evidence chains to mock roots (then the
    /// genuine-only appraiser must refuse it, and the trusting one mark
    /// it); `true` for every backend that runs here.
    pub mock_roots: bool,
    /// The nonce of the good evidence (text, at most 64 bytes).
    pub nonce: Vec<u8>,
    /// The client payload of the good evidence.
    pub client_payload: BTreeMap<String, String>,
    /// How long the provider may take to fail once its device is gone.
    pub device_timeout: Duration,
    /// Fresh appraisers trusting the subject's roots: with one, every
    /// mutated copy is appraised twice, by the trusting appraiser (warm:
    /// it has accepted the good evidence, as a service's has) and by a
    /// fresh one (cold), so that a verdict that depends on a cache shows.
    pub fresh_trusting: Option<AppraiserFactory>,
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subject")
            .field("name", &self.name)
            .field("tee", &self.provider.tee())
            .field("evidence_type", &self.provider.evidence_type())
            .field("regions", &self.profile.regions.len())
            .finish_non_exhaustive()
    }
}

impl Subject {
    /// A subject with mock roots, the nonce `conformance-nonce-1`, no client
    /// payload and 30 s for a provider to notice its device is gone.
    pub fn new(
        name: impl Into<String>,
        provider: Arc<dyn EvidenceProvider>,
        appraiser_trusting_mock: Arc<dyn Appraiser>,
        appraiser_genuine_only: Arc<dyn Appraiser>,
        challenge: ChallengeFn,
        profile: Profile,
    ) -> Self {
        Self {
            name: name.into(),
            provider,
            appraiser_trusting_mock,
            appraiser_genuine_only,
            challenge,
            profile,
            mock_roots: true,
            nonce: b"conformance-nonce-1".to_vec(),
            client_payload: BTreeMap::new(),
            device_timeout: Duration::from_secs(30),
            fresh_trusting: None,
        }
    }

    /// Appraise every mutated copy with a fresh appraiser from `factory`
    /// too (see [`Subject::fresh_trusting`]).
    #[must_use]
    pub fn with_fresh_appraisers(
        mut self,
        factory: impl Fn() -> Arc<dyn Appraiser> + Send + Sync + 'static,
    ) -> Self {
        self.fresh_trusting = Some(Arc::new(factory));
        self
    }

    /// The request a caller builds from the verifier's challenge.
    pub fn request(&self, nonce: &[u8]) -> Result<(Challenge, EvidenceRequest)> {
        let c = (self.challenge)(self.provider.evidence_type(), nonce, &self.client_payload)?;
        let mut r = EvidenceRequest::with_nonce(c.nonce.clone());
        r.runtime_data = c.runtime_data.clone();
        r.runtime_data_json = c.runtime_data_json;
        r.report_data = Some(c.report_data);
        r.client_payload = self.client_payload.clone();
        Ok((c, r))
    }
}

/// One case of the suite and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The group (`good`, `wrong-nonce`, `truncated`, `signed-region`, `root`, `device-gone`).
    pub group: &'static str,
    /// What was done (`snp.report.signed hardware_report[0x50] ^= 0x01`).
    pub name: String,
    /// Whether it went as expected.
    pub passed: bool,
    /// What happened (the refusal's code and check, or why it failed).
    pub detail: String,
}

/// What the suite found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The subject's name.
    pub subject: String,
    /// Every case, in the order run.
    pub cases: Vec<Case>,
}

impl Report {
    fn push(&mut self, group: &'static str, name: String, passed: bool, detail: String) {
        self.cases.push(Case {
            group,
            name,
            passed,
            detail,
        });
    }

    /// The cases that did not go as expected.
    pub fn failures(&self) -> Vec<&Case> {
        self.cases.iter().filter(|c| !c.passed).collect()
    }

    /// The cases of `group`.
    pub fn group(&self, group: &str) -> Vec<&Case> {
        self.cases.iter().filter(|c| c.group == group).collect()
    }

    /// Whether every case passed (and there was at least one).
    pub fn passed(&self) -> bool {
        !self.cases.is_empty() && self.cases.iter().all(|c| c.passed)
    }

    /// Panics listing every failed case, unless all passed. Prints the
    /// whole report first (shown by `cargo test` on failure).
    #[allow(clippy::panic)]
    pub fn assert_passed(&self) {
        println!("{self}");
        if !self.passed() {
            let failures: Vec<String> = self
                .failures()
                .iter()
                .map(|c| format!("  [{}] {}: {}", c.group, c.name, c.detail))
                .collect();
            panic!(
                "conformance of {}: {} of {} cases failed{}:\n{}",
                self.subject,
                failures.len(),
                self.cases.len(),
                if self.cases.is_empty() {
                    " (no case ran)"
                } else {
                    ""
                },
                failures.join("\n")
            );
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.failures().len();
        writeln!(
            f,
            "conformance of {}: {} cases, {} passed, {} failed",
            self.subject,
            self.cases.len(),
            self.cases.len() - failed,
            failed
        )?;
        for c in &self.cases {
            writeln!(
                f,
                "  {} [{}] {}: {}",
                if c.passed { "ok  " } else { "FAIL" },
                c.group,
                c.name,
                c.detail
            )?;
        }
        Ok(())
    }
}

/// What an appraisal did.
#[derive(Debug)]
pub enum Outcome {
    /// It accepted the evidence.
    Accepted(Appraisal),
    /// It refused with this code and (when the message names one) check.
    Refused {
        /// The spec code.
        code: u32,
        /// The check named in the message.
        check: Option<String>,
        /// The message.
        message: String,
    },
    /// It panicked (a bug whatever the input).
    Panicked(String),
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Outcome::Accepted(_) => "ACCEPTED".into(),
            Outcome::Refused {
                code,
                check,
                message,
            } => match check {
                Some(c) => format!("refused: code {code}, check `{c}`"),
                None => format!("refused: code {code}, no check named ({message})"),
            },
            Outcome::Panicked(m) => format!("PANICKED: {m}"),
        }
    }

    /// Whether this is a code-6 refusal naming `check`.
    pub fn is_check(&self, check: &str) -> bool {
        matches!(self, Outcome::Refused { code: 6, check: Some(c), .. } if c == check)
    }

    /// Whether this is a refusal `region` expects: its check, or one of
    /// its alternatives.
    pub fn expected_by(&self, region: &SignedRegion) -> bool {
        self.is_check(region.expected_check)
            || region.also.iter().any(|a| match (a, self) {
                (Alternative::Check(c), _) => self.is_check(c),
                (Alternative::Malformed, Outcome::Refused { code: 20, .. }) => true,
                (
                    Alternative::UnnamedCertificate,
                    Outcome::Refused {
                        code: 6,
                        check: None,
                        message,
                    },
                ) => message.starts_with("certificate "),
                _ => false,
            })
    }
}

/// The claims as `path = value` lines, nested objects flattened.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{prefix}/{k}"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// How `after`'s claims differ from `before`'s (at most a few lines).
pub fn claims_diff(
    before: &serde_json::Map<String, Value>,
    after: &serde_json::Map<String, Value>,
) -> Vec<String> {
    let (mut b, mut a) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &Value::Object(before.clone()), &mut b);
    flatten("", &Value::Object(after.clone()), &mut a);
    let mut out = Vec::new();
    for (k, v) in &b {
        match a.get(k) {
            Some(w) if w == v => {}
            Some(w) => out.push(format!("{k}: {v} → {w}")),
            None => out.push(format!("{k}: {v} → (absent)")),
        }
    }
    for (k, w) in &a {
        if !b.contains_key(k) {
            out.push(format!("{k}: (absent) → {w}"));
        }
    }
    out
}

/// The check a refusal names in its message, as the crates write it:
/// ``attestation check `hcl.binding` failed``, ``TPM evidence check
/// `quote.nonce` failed``, `SEV-SNP verification failed: report-signature: …`.
pub fn check_name(message: &str) -> Option<String> {
    if let Some(i) = message.find("check `") {
        let rest = &message[i + "check `".len()..];
        if let Some(end) = rest.find('`') {
            return Some(rest[..end].to_string());
        }
    }
    if let Some(i) = message.find("verification failed: ") {
        let rest = &message[i + "verification failed: ".len()..];
        let end = rest.find(':').unwrap_or(rest.len());
        let name = rest[..end].trim();
        if !name.is_empty() && !name.contains(' ') {
            return Some(name.to_string());
        }
    }
    None
}

fn refused(err: &Error) -> Outcome {
    let message = err.full_message();
    Outcome::Refused {
        code: err.code().number(),
        check: check_name(err.message()).or_else(|| check_name(&message)),
        message,
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Appraise `evidence` expecting `nonce`, catching panics.
pub fn appraise(appraiser: &dyn Appraiser, evidence: &Evidence, nonce: Option<&[u8]>) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| appraiser.appraise(evidence, nonce))) {
        Ok(Ok(a)) => Outcome::Accepted(a),
        Ok(Err(e)) => refused(&e),
        Err(p) => Outcome::Panicked(panic_text(p.as_ref())),
    }
}

/// Whether the claims' `nonce` is `nonce`, as text or base64url (MAA
/// issues a vTPM quote's nonce base64url-encoded, a bare TEE's as text).
fn claims_carry_nonce(claims: &serde_json::Map<String, Value>, nonce: &[u8]) -> bool {
    let Some(v) = claims.get("nonce").and_then(Value::as_str) else {
        return false;
    };
    v.as_bytes() == nonce || v == URL_SAFE_NO_PAD.encode(nonce)
}

/// The suite on one subject: gather once, then check.
#[derive(Debug)]
pub struct Conformance {
    subject: Subject,
    challenge: Challenge,
    evidence: Evidence,
    good_claims: Option<serde_json::Map<String, Value>>,
    report: Report,
}

/// A flipped copy's description: `field[0x50] ^= 0x01`.
fn at(field: Field, offset: usize) -> String {
    format!("{}[{offset:#x}]", field.path())
}

const FLIP_MASKS: [u8; 2] = [0x01, 0x80];

impl Conformance {
    /// Gathers the subject's good evidence for its nonce.
    pub async fn gather(subject: Subject) -> Result<Self> {
        let (challenge, request) = subject.request(&subject.nonce)?;
        let evidence = subject.provider.evidence(&request).await?;
        let report = Report {
            subject: subject.name.clone(),
            cases: Vec::new(),
        };
        Ok(Self {
            subject,
            challenge,
            evidence,
            good_claims: None,
            report,
        })
    }

    /// The good evidence (to mutate copies of it in a caller's own cases).
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }

    /// The nonce the good evidence binds (the challenge's).
    pub fn nonce(&self) -> &[u8] {
        &self.challenge.nonce
    }

    /// The subject.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// The report so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The report, when done.
    pub fn finish(self) -> Report {
        self.report
    }

    fn trusting(&self, e: &Evidence) -> Outcome {
        appraise(
            self.subject.appraiser_trusting_mock.as_ref(),
            e,
            Some(&self.challenge.nonce),
        )
    }

    /// The mutated copy `e` appraised by the trusting appraiser (warm) and,
    /// with a factory, by a fresh one (cold).
    fn both(&self, e: &Evidence) -> Vec<(&'static str, Outcome)> {
        let mut v = vec![("", self.trusting(e))];
        if let Some(f) = &self.subject.fresh_trusting {
            let fresh = f();
            v.push((
                " [cold appraiser]",
                appraise(fresh.as_ref(), e, Some(&self.challenge.nonce)),
            ));
        }
        v
    }

    /// The claims of the good evidence, for comparisons (appraised now if
    /// [`Conformance::check_good`] has not run).
    fn ensure_good_claims(&mut self) {
        if self.good_claims.is_none() {
            if let Outcome::Accepted(a) = self.trusting(&self.evidence) {
                self.good_claims = Some(a.claims);
            }
        }
    }

    /// `o` described, with what an accepted copy's claims changed.
    fn describe(&self, o: &Outcome) -> String {
        match (o, &self.good_claims) {
            (Outcome::Accepted(a), Some(good)) => {
                let diff = claims_diff(good, &a.claims);
                if diff.is_empty() {
                    "ACCEPTED (same claims)".into()
                } else {
                    format!("ACCEPTED, claims changed: {}", diff.join("; "))
                }
            }
            _ => o.describe(),
        }
    }

    /// (a) The good evidence is accepted, its claims carry the nonce, and
    /// evidence from a mock root is marked so; provider, evidence and
    /// appraisers agree on the TEE and the evidence type.
    pub fn check_good(&mut self) {
        let s = &self.subject;
        let (tee, ty) = (s.provider.tee(), s.provider.evidence_type());
        let types = [
            (
                "evidence.tee",
                self.evidence.tee.to_string(),
                tee.to_string(),
            ),
            (
                "evidence.evidence_type",
                self.evidence.evidence_type.to_string(),
                ty.to_string(),
            ),
            (
                "trusting appraiser's type",
                s.appraiser_trusting_mock.evidence_type().to_string(),
                ty.to_string(),
            ),
            (
                "genuine-only appraiser's type",
                s.appraiser_genuine_only.evidence_type().to_string(),
                ty.to_string(),
            ),
        ];
        for (what, found, expected) in types {
            self.report.push(
                "good",
                what.to_string(),
                found == expected,
                format!("{found} (provider: {expected})"),
            );
        }
        let mock = s.mock_roots;
        match self.trusting(&self.evidence.clone()) {
            Outcome::Accepted(a) => {
                self.good_claims = Some(a.claims.clone());
                let carries = claims_carry_nonce(&a.claims, &self.challenge.nonce);
                self.report.push(
                    "good",
                    "accepted, claims carry the nonce".into(),
                    carries,
                    format!("claims.nonce = {:?}", a.claims.get("nonce")),
                );
                let marked = a.claims.get(MOCK_EVIDENCE_CLAIM) == Some(&Value::Bool(true));
                self.report.push(
                    "good",
                    format!("{MOCK_EVIDENCE_CLAIM} iff mock roots ({mock})"),
                    marked == mock && a.mock == mock,
                    format!(
                        "claim {:?}, appraisal.mock = {}",
                        a.claims.get(MOCK_EVIDENCE_CLAIM),
                        a.mock
                    ),
                );
                if mock {
                    let compliance = a.claims.get("x-ms-isolation-tee").and_then(|t| {
                        t.get("x-ms-compliance-status")
                            .or_else(|| t.get("x-ms-compliance"))
                    });
                    self.report.push(
                        "good",
                        "mock evidence is never compliant".into(),
                        compliance.is_none() && !a.claims.contains_key("x-ms-compliance-status"),
                        format!("compliance claim: {compliance:?}"),
                    );
                }
            }
            other => self.report.push(
                "good",
                "accepted, claims carry the nonce".into(),
                false,
                other.describe(),
            ),
        }
    }

    /// (b) Another expected nonce is refused (code 6, `nonce`), and the
    /// evidence relabelled with that nonce is refused by the check that
    /// binds it (the profile's `relabelled_nonce_check`).
    pub fn check_wrong_nonce(&mut self) {
        let good = self.challenge.nonce.clone();
        let mut flipped = good.clone();
        if let Some(last) = flipped.last_mut() {
            *last ^= 0x01;
        }
        let others: [(&str, Vec<u8>); 3] = [
            ("last byte changed", flipped),
            ("another nonce", b"another-nonce-2".to_vec()),
            ("empty", Vec::new()),
        ];
        for (what, other) in &others {
            let o = appraise(
                self.subject.appraiser_trusting_mock.as_ref(),
                &self.evidence,
                Some(other),
            );
            self.report.push(
                "wrong-nonce",
                format!("expected nonce {what}"),
                o.is_check("nonce"),
                o.describe(),
            );
        }
        let check = self.subject.profile.relabelled_nonce_check;
        for (what, other) in others.iter().take(2) {
            let mut e = self.evidence.clone();
            e.nonce.clone_from(other);
            let o = appraise(
                self.subject.appraiser_trusting_mock.as_ref(),
                &e,
                Some(other),
            );
            self.report.push(
                "wrong-nonce",
                format!("evidence relabelled with the expected nonce ({what}) → {check}"),
                o.is_check(check),
                o.describe(),
            );
        }
    }

    /// (c) Each field of the profile (and the hardware report) cut to 0,
    /// 1, half and all but one of its bytes: a typed refusal (code 6, 17,
    /// 20 or 21), never accepted, never a panic.
    pub fn check_truncated(&mut self) {
        self.ensure_good_claims();
        let mut fields = vec![Field::HardwareReport];
        for r in &self.subject.profile.regions {
            if !fields.contains(&r.field) {
                fields.push(r.field);
            }
        }
        for field in fields {
            let Some(len) = field.get(&self.evidence).map(<[u8]>::len) else {
                self.report.push(
                    "truncated",
                    field.path(),
                    false,
                    "the good evidence has no such field".into(),
                );
                continue;
            };
            let allowed: &[u32] = if field == Field::HardwareReport {
                &[6, 20, 21]
            } else {
                &[6, 17, 20, 21]
            };
            let mut lengths = vec![0, 1, len / 2, len.saturating_sub(1)];
            lengths.retain(|l| *l < len);
            lengths.sort_unstable();
            lengths.dedup();
            for l in lengths {
                let mut e = self.evidence.clone();
                if let Some(bytes) = field.get_mut(&mut e) {
                    bytes.truncate(l);
                }
                // An empty certificate after the leaf is an omitted one: the
                // appraiser may take the ASK/ARK from its anchors, and then
                // must issue the same claims.
                let omitted = l == 0 && matches!(field, Field::Certificate(i) if i > 0);
                for (how, o) in self.both(&e) {
                    let ok = match &o {
                        Outcome::Refused { code, .. } => allowed.contains(code),
                        Outcome::Accepted(a) => {
                            omitted && self.good_claims.as_ref() == Some(&a.claims)
                        }
                        Outcome::Panicked(_) => false,
                    };
                    let detail = self.describe(&o);
                    self.report.push(
                        "truncated",
                        format!(
                            "{} cut to {l} of {len} bytes{}{how}",
                            field.path(),
                            if omitted { " (omitted)" } else { "" }
                        ),
                        ok,
                        detail,
                    );
                }
            }
        }
    }

    /// (d) Each signed region flipped at its first, middle and last byte
    /// (and its extra offsets), bit 0x01 and bit 0x80: refused with code 6
    /// naming the region's check. An accepted flip is a bug.
    pub fn check_signed_regions(&mut self) {
        self.ensure_good_claims();
        let regions = self.subject.profile.regions.clone();
        for region in &regions {
            let Some(range) = region
                .field
                .get(&self.evidence)
                .and_then(|b| region.span.resolve(b))
            else {
                self.report.push(
                    "signed-region",
                    format!("{} ({})", region.name, region.field.path()),
                    false,
                    "the region is not in the good evidence".into(),
                );
                continue;
            };
            for pos in region.positions(&range) {
                for mask in FLIP_MASKS {
                    let mut e = self.evidence.clone();
                    if let Some(byte) = region.field.get_mut(&mut e).and_then(|b| b.get_mut(pos)) {
                        *byte ^= mask;
                    }
                    for (how, o) in self.both(&e) {
                        let detail = self.describe(&o);
                        self.report.push(
                            "signed-region",
                            format!(
                                "{} {} ^= {mask:#04x} → {}{how}",
                                region.name,
                                at(region.field, pos),
                                region.expectation()
                            ),
                            o.expected_by(region),
                            detail,
                        );
                    }
                }
            }
        }
    }

    /// (e, f) The appraiser trusting only genuine roots refuses mock
    /// evidence (code 6, the profile's untrusted-root check) and accepts
    /// evidence from a genuine root without marking it.
    pub fn check_roots(&mut self) {
        let check = self.subject.profile.untrusted_root_check;
        let o = appraise(
            self.subject.appraiser_genuine_only.as_ref(),
            &self.evidence,
            Some(&self.challenge.nonce),
        );
        if self.subject.mock_roots {
            self.report.push(
                "root",
                format!("mock root not trusted by the genuine-only appraiser → {check}"),
                o.is_check(check),
                o.describe(),
            );
        } else {
            let unmarked = matches!(&o, Outcome::Accepted(a)
                if !a.mock && !a.claims.contains_key(MOCK_EVIDENCE_CLAIM));
            self.report.push(
                "root",
                "genuine evidence accepted, not marked mock".into(),
                unmarked,
                o.describe(),
            );
        }
    }

    /// (g) After `stop`, the provider fails with code 12 or 13 within the
    /// subject's `device_timeout` (never evidence, never a panic).
    pub async fn check_device_gone(&mut self, stop: StopDevice) {
        // Stopping may block (killing and reaping a process, unmounting).
        if let Err(e) = tokio::task::spawn_blocking(stop).await {
            self.report.push(
                "device-gone",
                "stopping the device".into(),
                false,
                format!("the stop closure failed: {e}"),
            );
            return;
        }
        let started = Instant::now();
        let limit = self.subject.device_timeout;
        let outcome = match self.subject.request(b"after-the-device-is-gone") {
            Err(e) => format!("the challenge failed: {e}"),
            Ok((_, request)) => {
                let provider = self.subject.provider.clone();
                let task = tokio::spawn(async move { provider.evidence(&request).await });
                match tokio::time::timeout(limit, task).await {
                    Err(_) => format!("no answer within {limit:?}"),
                    Ok(Err(join)) if join.is_panic() => {
                        format!("PANICKED: {}", panic_text(join.into_panic().as_ref()))
                    }
                    Ok(Err(join)) => format!("the task failed: {join}"),
                    Ok(Ok(Ok(_))) => "evidence gathered from a stopped device".into(),
                    Ok(Ok(Err(e))) => {
                        let code = e.code().number();
                        let ok = code == 12 || code == 13;
                        self.report.push(
                            "device-gone",
                            format!(
                                "evidence after the device stopped → code 12/13 within {limit:?}"
                            ),
                            ok,
                            format!(
                                "code {code} after {:.1?}: {}",
                                started.elapsed(),
                                e.full_message()
                            ),
                        );
                        return;
                    }
                }
            }
        };
        self.report.push(
            "device-gone",
            format!("evidence after the device stopped → code 12/13 within {limit:?}"),
            false,
            outcome,
        );
    }

    /// Every check but `device-gone`.
    pub fn check_all_appraisals(&mut self) {
        self.check_good();
        self.check_wrong_nonce();
        self.check_truncated();
        self.check_signed_regions();
        self.check_roots();
    }
}

/// The whole suite: gather the good evidence, every appraisal check, then
/// (with `stop`) stop the device and check the provider's failure.
pub async fn run(subject: Subject, stop: Option<StopDevice>) -> Report {
    let name = subject.name.clone();
    let mut c = match Conformance::gather(subject).await {
        Ok(c) => c,
        Err(e) => {
            let mut report = Report {
                subject: name,
                cases: Vec::new(),
            };
            report.push(
                "good",
                "gather evidence for the challenge".into(),
                false,
                format!("code {}: {}", e.code().number(), e.full_message()),
            );
            return report;
        }
    };
    c.check_all_appraisals();
    if let Some(stop) = stop {
        c.check_device_gone(stop).await;
    }
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_as_the_crates_write_them() {
        assert_eq!(
            check_name("attestation check `hcl.binding` failed: x").as_deref(),
            Some("hcl.binding")
        );
        assert_eq!(
            check_name("TPM evidence check `quote.nonce` failed: y").as_deref(),
            Some("quote.nonce")
        );
        assert_eq!(
            check_name("SEV-SNP verification failed: report-signature: the signature").as_deref(),
            Some("report-signature")
        );
        assert_eq!(check_name("certificate VCEK: bad DER"), None);
    }

    #[test]
    fn nonce_in_claims_as_text_or_base64url() {
        let mut m = serde_json::Map::new();
        assert!(!claims_carry_nonce(&m, b"n-1"));
        m.insert("nonce".into(), Value::String("n-1".into()));
        assert!(claims_carry_nonce(&m, b"n-1"));
        m.insert(
            "nonce".into(),
            Value::String(URL_SAFE_NO_PAD.encode([0xff, 1])),
        );
        assert!(claims_carry_nonce(&m, &[0xff, 1]));
        assert!(!claims_carry_nonce(&m, b"n-1"));
    }

    #[test]
    fn a_report_with_a_failure_does_not_pass() {
        let mut r = Report::default();
        assert!(!r.passed(), "an empty report proves nothing");
        r.push("good", "a".into(), true, String::new());
        assert!(r.passed());
        r.push("root", "b".into(), false, "ACCEPTED".into());
        assert!(!r.passed());
        assert_eq!(r.failures().len(), 1);
        assert!(r.to_string().contains("FAIL [root] b: ACCEPTED"));
        let panicked = catch_unwind(AssertUnwindSafe(|| r.assert_passed()));
        assert!(panicked.is_err());
    }
}
