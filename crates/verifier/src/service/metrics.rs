//! The service's metrics, served at `GET /metrics` in the Prometheus text
//! format (version 0.0.4; OpenMetrics text when the scraper asks for it).
//!
//! Built on [`prometheus_client`] (the Prometheus project's Rust client):
//! one registry per service, no process-wide recorder, so that services in
//! one process (tests, embedders) count apart.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `tee_attest_http_requests_total` | counter | `route` (the route template, `unmatched` for a path no route serves), `method` (`other` past the usual ones), `type` (the attestation type on `/attest/{kind}` and `/policies/{kind}…`: one the service knows, else `other`), `status` (the code) |
//! | `tee_attest_http_request_duration_seconds` | histogram | `route` |
//! | `tee_attest_http_requests_in_flight` | gauge | — |
//! | `tee_attest_appraisal_duration_seconds` | histogram | `type`, `outcome` (`ok`, `refused`, `error`) |
//! | `tee_attest_tokens_issued_total` | counter | `type`, `kind` (`signed`, or `draft`: the unsigned result of a draft policy) |
//! | `tee_attest_collateral_cache_requests_total` | counter | `cache` (`dcap-collateral`, `snp-chain`), `result` (`hit`, `miss`) |
//! | `tee_attest_key_releases_total` | counter | `decision` ([`ReleaseDecision`]) |
//! | `tee_attest_store_errors_total` | counter | `store` ([`Store`]) |
//! | `tee_attest_build_info` | gauge (1) | `version` |
//!
//! Every label takes values from a fixed set: nothing a client sends (a
//! path, a header, a body) becomes a label value of its own, so no client
//! can make the series grow.

use std::fmt::Write as _;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, LabelSetEncoder,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tee_attest_core::CacheCounters;

/// The `Content-Type` of the Prometheus text format, version 0.0.4.
pub const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// The `Content-Type` of the OpenMetrics text format, version 1.0.0.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How a key release was decided (`tee_attest_key_releases_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReleaseDecision {
    /// The key was released.
    Released,
    /// The key's release policy refused the token's claims.
    Denied,
    /// The nonce was used before for this key.
    Replayed,
    /// No such key or version.
    NotFound,
    /// The token did not validate.
    InvalidToken,
    /// The request was malformed (body, `enc`, nonce, ephemeral key).
    BadRequest,
    /// An internal failure (store, audit, wrapping).
    Error,
}

impl ReleaseDecision {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseDecision::Released => "released",
            ReleaseDecision::Denied => "denied",
            ReleaseDecision::Replayed => "replayed",
            ReleaseDecision::NotFound => "not-found",
            ReleaseDecision::InvalidToken => "invalid-token",
            ReleaseDecision::BadRequest => "bad-request",
            ReleaseDecision::Error => "error",
        }
    }
}

/// A store whose failures are counted (`tee_attest_store_errors_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Store {
    /// The data directory itself (missing, unreadable).
    DataDir,
    /// The stored attestation policies.
    Policies,
    /// The policy-management certificates.
    Certificates,
    /// The admin audit log.
    Audit,
    /// The key release's key store (and its audit).
    Keys,
    /// The fleet's spent nonces (the ITA profile's).
    Nonces,
}

impl Store {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Store::DataDir => "data-dir",
            Store::Policies => "policies",
            Store::Certificates => "certificates",
            Store::Audit => "audit",
            Store::Keys => "keys",
            Store::Nonces => "nonces",
        }
    }
}

/// `tee_attest_http_requests_total`'s labels; `type` only where the route
/// has an attestation type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RequestLabels {
    route: String,
    method: &'static str,
    kind: Option<&'static str>,
    status: u16,
}

impl EncodeLabelSet for RequestLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        let status = self.status.to_string();
        let mut labels: Vec<(&str, &str)> = vec![("route", &self.route), ("method", self.method)];
        if let Some(kind) = self.kind {
            labels.push(("type", kind));
        }
        labels.push(("status", &status));
        labels.as_slice().encode(encoder)
    }
}

type Labels2 = [(&'static str, &'static str); 2];
type Labels1 = [(&'static str, &'static str); 1];

/// The collateral caches' counters, read at each scrape.
#[derive(Debug)]
struct CacheCollector(Vec<(&'static str, Arc<CacheCounters>)>);

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(
            "tee_attest_collateral_cache_requests",
            "Lookups in the appraisers' caches (DCAP collateral, validated SNP chains), by result.",
            None,
            MetricType::Counter,
        )?;
        // Caches of one name (one per appraiser) are one series.
        let mut names: Vec<&'static str> = self.0.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        for cache in names {
            let of_name = || self.0.iter().filter(move |(n, _)| *n == cache);
            let hits = of_name()
                .map(|(_, c)| c.hits())
                .fold(0u64, u64::saturating_add);
            let misses = of_name()
                .map(|(_, c)| c.misses())
                .fold(0u64, u64::saturating_add);
            for (result, value) in [("hit", hits), ("miss", misses)] {
                let labels: Labels2 = [("cache", cache), ("result", result)];
                ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The service's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<Labels1Owned, Histogram>,
    in_flight: Gauge,
    appraisal_duration: Family<Labels2, Histogram>,
    tokens: Family<Labels2, Counter>,
    key_releases: Family<Labels1, Counter>,
    store_errors: Family<Labels1, Counter>,
    /// The attestation types label values may name.
    types: Vec<&'static str>,
}

/// A one-label set whose value is the route template.
type Labels1Owned = [(&'static str, String); 1];

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("types", &self.types)
            .finish_non_exhaustive()
    }
}

/// Latency buckets: 1 ms to about 33 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    /// Metrics for a service attesting `types` (the label values of
    /// `type`; any other is `other`), reading the caches' `caches` counters
    /// at each scrape.
    pub fn new(types: &[&'static str], caches: Vec<(&'static str, Arc<CacheCounters>)>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "tee_attest_http_requests",
            "HTTP requests answered, by route template, method, attestation type and status",
            requests.clone(),
        );
        let request_duration =
            Family::<Labels1Owned, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register(
            "tee_attest_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route template",
            request_duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "tee_attest_http_requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        let appraisal_duration =
            Family::<Labels2, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register(
            "tee_attest_appraisal_duration_seconds",
            "Time one appraisal took (parsing, verification, policy, signing; not the wait for \
             a slot), by attestation type and outcome",
            appraisal_duration.clone(),
        );
        let tokens = Family::<Labels2, Counter>::default();
        registry.register(
            "tee_attest_tokens_issued",
            "Attestation tokens issued, by attestation type and kind (signed, or draft: unsigned)",
            tokens.clone(),
        );
        let key_releases = Family::<Labels1, Counter>::default();
        registry.register(
            "tee_attest_key_releases",
            "Key release requests, by decision",
            key_releases.clone(),
        );
        let store_errors = Family::<Labels1, Counter>::default();
        registry.register(
            "tee_attest_store_errors",
            "Failures reading or writing the service's stores, by store",
            store_errors.clone(),
        );
        registry.register(
            "tee_attest_build",
            "The running build",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register_collector(Box::new(CacheCollector(caches)));
        Self {
            registry,
            requests,
            request_duration,
            in_flight,
            appraisal_duration,
            tokens,
            key_releases,
            store_errors,
            types: types.to_vec(),
        }
    }

    /// The label value for an attestation type named in a request (any
    /// case): the type's own name, or `other`.
    pub fn type_label(&self, name: &str) -> &'static str {
        self.types
            .iter()
            .find(|t| t.eq_ignore_ascii_case(name))
            .copied()
            .unwrap_or("other")
    }

    /// Count an answered request. `route` must be a route template (or
    /// `unmatched`), never a raw path.
    pub(crate) fn request(
        &self,
        route: &str,
        method: &'static str,
        kind: Option<&'static str>,
        status: u16,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method,
                kind,
                status,
            })
            .inc();
        self.request_duration
            .get_or_create(&[("route", route.to_string())])
            .observe(seconds);
    }

    /// A request started; the returned guard counts it in flight until
    /// dropped (answered or abandoned).
    pub(crate) fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Count one appraisal of attestation type `kind` (a known type or
    /// `other`) that took `seconds`, with its outcome (`ok`, `refused`,
    /// `error`).
    pub(crate) fn appraisal(&self, kind: &'static str, outcome: &'static str, seconds: f64) {
        self.appraisal_duration
            .get_or_create(&[("type", kind), ("outcome", outcome)])
            .observe(seconds);
    }

    /// Count a token issued for attestation type `kind`; `draft`: the
    /// unsigned result of a draft policy.
    pub(crate) fn token_issued(&self, kind: &'static str, draft: bool) {
        let k = if draft { "draft" } else { "signed" };
        self.tokens
            .get_or_create(&[("type", kind), ("kind", k)])
            .inc();
    }

    /// Count a key release decision.
    pub fn key_release(&self, decision: ReleaseDecision) {
        self.key_releases
            .get_or_create(&[("decision", decision.as_str())])
            .inc();
    }

    /// Count a failure of `store`.
    pub fn store_error(&self, store: Store) {
        self.store_errors
            .get_or_create(&[("store", store.as_str())])
            .inc();
    }

    /// The metrics as text: OpenMetrics with `openmetrics`, else the
    /// Prometheus text format (0.0.4).
    pub fn encode(&self, openmetrics: bool) -> String {
        let mut out = String::new();
        let written = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        };
        if let Err(e) = written {
            // Writing to a String does not fail; say so if it ever does.
            let _ = writeln!(out, "# encoding the metrics failed: {e}");
        }
        out
    }
}

/// A request in flight (see [`Metrics::in_flight`]).
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_sets() {
        let cache = CacheCounters::shared();
        let other = CacheCounters::shared();
        let m = Metrics::new(
            &["AzureGuest", "SevSnpVm"],
            vec![("snp-chain", cache.clone()), ("snp-chain", other.clone())],
        );
        assert_eq!(m.type_label("sevsnpvm"), "SevSnpVm");
        assert_eq!(m.type_label("../../etc/passwd"), "other");
        m.request("/attest/{kind}", "POST", Some("SevSnpVm"), 200, 0.01);
        m.request("/certs", "GET", None, 200, 0.001);
        m.appraisal("SevSnpVm", "ok", 0.2);
        m.token_issued("SevSnpVm", false);
        m.key_release(ReleaseDecision::Denied);
        m.store_error(Store::Audit);
        cache.hit();
        cache.miss();
        other.miss();
        let text = m.encode(false);
        for line in [
            r#"tee_attest_http_requests_total{route="/attest/{kind}",method="POST",type="SevSnpVm",status="200"} 1"#,
            r#"tee_attest_http_requests_total{route="/certs",method="GET",status="200"} 1"#,
            r#"tee_attest_appraisal_duration_seconds_count{type="SevSnpVm",outcome="ok"} 1"#,
            r#"tee_attest_tokens_issued_total{type="SevSnpVm",kind="signed"} 1"#,
            r#"tee_attest_key_releases_total{decision="denied"} 1"#,
            r#"tee_attest_store_errors_total{store="audit"} 1"#,
            r#"tee_attest_collateral_cache_requests_total{cache="snp-chain",result="hit"} 1"#,
            r#"tee_attest_collateral_cache_requests_total{cache="snp-chain",result="miss"} 2"#,
            r#"tee_attest_http_requests_in_flight 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        // Caches of one name are one series (two appraisers' SNP caches).
        assert_eq!(
            text.matches(r#"cache="snp-chain",result="miss""#).count(),
            1
        );
        assert!(text.contains("tee_attest_build_info{version="), "{text}");
        let om = m.encode(true);
        assert!(om.trim_end().ends_with("# EOF"), "{om}");
    }

    #[test]
    fn in_flight_requests_are_counted_until_dropped() {
        let m = Metrics::new(&[], Vec::new());
        let a = m.in_flight();
        let _b = m.in_flight();
        assert!(m
            .encode(false)
            .contains("tee_attest_http_requests_in_flight 2"));
        drop(a);
        assert!(m
            .encode(false)
            .contains("tee_attest_http_requests_in_flight 1"));
    }
}
