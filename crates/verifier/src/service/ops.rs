//! Operating the service: request ids, the client's address, request
//! metrics and logs, and the routes an operator's tools call —
//! `GET /metrics`, `GET /healthz`, `GET /readyz`.
//!
//! Every request goes through [`observe`] (the outermost layer, so that it
//! sees the final answer of every route, refusals by the limits included):
//!
//! - **request id**: the caller's `X-Request-Id` when it is 1 to
//!   [`MAX_REQUEST_ID_LEN`] characters of `A-Z a-z 0-9 - _ . :`, otherwise
//!   a fresh random one; echoed in the answer's `X-Request-Id`, and a field
//!   of the `request` span every log line of the request is written in;
//! - **client address**: the socket peer; `X-Forwarded-For` is read only
//!   when the peer is one of [`OpsConfig::trusted_proxies`], from the right,
//!   and the client is the first address that is not a trusted proxy
//!   ([`client_address`]). It goes to the logs, the admin audit and the
//!   decision who may read `/metrics`;
//! - **metrics**: requests by route template, method, attestation type and
//!   status, and their latency ([`super::metrics`]);
//! - **one log line** per request (`request`, info; debug for successful
//!   `/healthz`, `/readyz` and `/metrics` probes): status and latency.
//!   Neither headers, bodies nor query strings are logged.
//!
//! `/metrics` answers clients in [`OpsConfig::metrics_allow`] (loopback by
//! default) and refuses others (403). `/healthz` answers 200 while the
//! service serves. `/readyz` answers 200 when the data directory and its
//! policies can be read, the signing key is loaded (and, when stored, is the
//! one in the data directory) and every extra check
//! ([`super::ServiceState::add_readiness_check`]) passes; 503 otherwise.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tracing::Instrument as _;
use utoipa::ToSchema;

use super::metrics::{Metrics, OPENMETRICS_TEXT, PROMETHEUS_TEXT};
use super::openapi::{ErrorBody, RETRY_AFTER_SECS};
use super::ServiceState;

/// The request id header, read and echoed.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest request id taken from a caller.
pub const MAX_REQUEST_ID_LEN: usize = 64;
/// At most this many `X-Forwarded-For` entries are read, from the right.
pub const MAX_FORWARDED_HOPS: usize = 32;
/// How long the readiness checks may take together before the service is
/// reported not ready.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Networks
// ---------------------------------------------------------------------------

/// Why a network does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// The address part is not an IPv4 or IPv6 address.
    #[error("{0:?} is not an IP address or network (e.g. 10.0.0.0/8, ::1/128)")]
    Address(String),
    /// The prefix length is not a number within the address's bits.
    #[error("{given:?} is not a prefix length for an IPv{version} network (0 to {max})")]
    Prefix {
        /// The prefix as written.
        given: String,
        /// 4 or 6.
        version: u8,
        /// 32 or 128.
        max: u8,
    },
}

/// An IP network: `10.0.0.0/8`, `fd00::/8`, or one address (`192.0.2.7`,
/// a /32 or /128). IPv4-mapped IPv6 addresses match the IPv4 networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of `addr` with `prefix` bits (host bits cleared);
    /// `None` when the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let addr = addr.to_canonical();
        let network = match addr {
            IpAddr::V4(a) if prefix <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::from((u32::from(a) & mask).to_be_bytes())
            }
            IpAddr::V6(a) if prefix <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::from((u128::from(a) & mask).to_be_bytes())
            }
            _ => return None,
        };
        Some(Self { network, prefix })
    }

    /// The loopback networks, `127.0.0.0/8` and `::1/128`.
    pub fn loopback() -> Vec<Cidr> {
        vec![
            Cidr {
                network: IpAddr::from([127, 0, 0, 0]),
                prefix: 8,
            },
            Cidr {
                network: IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ]
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        Cidr::new(ip, self.prefix).is_some_and(|c| c.network == self.network)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::Address(s.chars().take(64).collect()))?;
        let addr = addr.to_canonical();
        let (version, max) = if addr.is_ipv4() { (4, 32) } else { (6, 128) };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                p.parse::<u8>()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| CidrError::Prefix {
                        given: p.chars().take(16).collect(),
                        version,
                        max,
                    })?
            }
        };
        Cidr::new(addr, prefix).ok_or(CidrError::Prefix {
            given: prefix.to_string(),
            version,
            max,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn in_any(nets: &[Cidr], ip: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(ip))
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// Who is believed about client addresses, and who may read the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpsConfig {
    /// Peers whose `X-Forwarded-For` is believed (reverse proxies, load
    /// balancers). None by default: the client is the socket peer.
    pub trusted_proxies: Vec<Cidr>,
    /// Clients (their address as [`client_address`] finds it) that may
    /// read `GET /metrics`. Loopback by default.
    pub metrics_allow: Vec<Cidr>,
}

impl Default for OpsConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            metrics_allow: Cidr::loopback(),
        }
    }
}

impl OpsConfig {
    /// These peers' `X-Forwarded-For` is believed.
    pub fn with_trusted_proxies(mut self, proxies: Vec<Cidr>) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// These clients may read the metrics (instead of loopback only).
    pub fn with_metrics_allow(mut self, allow: Vec<Cidr>) -> Self {
        self.metrics_allow = allow;
        self
    }
}

/// What [`observe`] needs: the configuration and the metrics it counts
/// into. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Ops {
    config: Arc<OpsConfig>,
    metrics: Arc<Metrics>,
}

impl Ops {
    /// `config`, counting into `metrics`.
    pub fn new(config: OpsConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            config: Arc::new(config),
            metrics,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OpsConfig {
        &self.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

impl Default for Ops {
    /// The default configuration with metrics of their own (served by no
    /// route): for applications served without a [`ServiceState`].
    fn default() -> Self {
        Self::new(
            OpsConfig::default(),
            Arc::new(Metrics::new(&[], Vec::new())),
        )
    }
}

// ---------------------------------------------------------------------------
// Client address and request id
// ---------------------------------------------------------------------------

/// The client of a request, as [`observe`] found it (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp {
    /// The client's address.
    pub ip: IpAddr,
    /// The socket peer.
    pub peer: SocketAddr,
    /// Whether the address came from `X-Forwarded-For` (the peer is a
    /// trusted proxy).
    pub forwarded: bool,
}

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.forwarded {
            write!(f, "{} via {}", self.ip, self.peer)
        } else {
            write!(f, "{}", self.peer)
        }
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`192.0.2.1:443`, `[2001:db8::1]:443`) or in brackets.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = e.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    e.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

/// The client of a request from `peer`: the peer itself unless it is a
/// trusted proxy; then `X-Forwarded-For` is read from the right (each
/// entry was written by the hop to its right), and the client is the first
/// address that is not a trusted proxy — or, when every address is one, the
/// leftmost. An entry that does not parse ends the walk at the last trusted
/// hop (nothing to its left can be believed). Headers from any other peer
/// are ignored.
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trusted: &[Cidr]) -> ClientIp {
    let peer_ip = peer.ip().to_canonical();
    let direct = ClientIp {
        ip: peer_ip,
        peer,
        forwarded: false,
    };
    if !in_any(trusted, peer_ip) {
        return direct;
    }
    let mut entries: Vec<&str> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else {
            return direct;
        };
        entries.extend(v.split(','));
    }
    let mut current = peer_ip;
    for entry in entries.iter().rev().take(MAX_FORWARDED_HOPS) {
        let Some(ip) = forwarded_ip(entry) else {
            break;
        };
        current = ip;
        if !in_any(trusted, ip) {
            break;
        }
    }
    ClientIp {
        ip: current,
        peer,
        forwarded: current != peer_ip,
    }
}

/// The request id of a request (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether a caller's request id is short and safe to log and echo.
pub fn acceptable_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh request id: 128 random bits, hex.
fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // Not expected; a time-based id is still unique enough to follow
        // one request through the logs.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = nanos.to_be_bytes();
    }
    hex::encode(bytes)
}

/// The method's label value.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The route label of a request: the router's template (`/attest/{kind}`),
/// `/policies/{kind}:reset` for the reset that shares the policy route, or
/// `unmatched`; and the attestation type when the template has `{kind}`.
fn route_of(req: &Request, metrics: &Metrics) -> (String, Option<&'static str>) {
    let Some(template) = req.extensions().get::<MatchedPath>().map(|m| m.as_str()) else {
        return ("unmatched".to_string(), None);
    };
    let path = req.uri().path();
    let mut route = template.to_string();
    let mut kind = None;
    if let Some(i) = template.split('/').position(|s| s == "{kind}") {
        let raw = path.split('/').nth(i).unwrap_or("");
        let raw = match raw.strip_suffix(":reset") {
            Some(r) if template == "/policies/{kind}" => {
                route = "/policies/{kind}:reset".to_string();
                r
            }
            _ => raw,
        };
        kind = Some(metrics.type_label(raw));
    }
    (route, kind)
}

/// The layer every request goes through: request id, client address,
/// span, metrics, one log line (see the module documentation).
pub async fn observe(ops: Ops, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = peer.map(|p| client_address(p, req.headers(), &ops.config.trusted_proxies));
    let given = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_request_id(v))
        .map(str::to_string);
    let replaced = given.is_none() && req.headers().contains_key(&REQUEST_ID);
    let id = given.unwrap_or_else(new_request_id);
    let method = method_label(req.method());
    let (route, kind) = route_of(&req, &ops.metrics);
    let client_text = client.map_or_else(|| "unknown".to_string(), |c| c.to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method,
        route = %route,
        client = %client_text,
    );
    if replaced {
        span.in_scope(|| {
            tracing::debug!("the caller's X-Request-Id is not acceptable: a new one is used")
        });
    }
    if let Some(c) = client {
        req.extensions_mut().insert(c);
    }
    req.extensions_mut().insert(RequestId(id.clone()));
    let in_flight = ops.metrics.in_flight();
    let mut resp = next.run(req).instrument(span.clone()).await;
    drop(in_flight);
    let status = resp.status().as_u16();
    let elapsed = start.elapsed();
    ops.metrics
        .request(&route, method, kind, status, elapsed.as_secs_f64());
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    // Probes that succeed (load balancers, scrapers) every few seconds:
    // debug, not info.
    let probe = matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics") && status < 400;
    span.in_scope(|| {
        if probe {
            tracing::debug!(status, latency_ms, "request");
        } else {
            tracing::info!(status, latency_ms, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

/// The client of a request: what [`observe`] found, else the socket peer.
pub(crate) fn request_client(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions.get::<ClientIp>().map(|c| c.ip).or_else(|| {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical())
    })
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

/// `GET /healthz`'s and `GET /readyz`'s body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    pub status: String,
    /// `/readyz`: each check by name (`data-dir`, `policies`,
    /// `signing-key`, and those added, e.g. `key-store`), `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<std::collections::BTreeMap<String, String>>,
}

/// Whether the caller asks for OpenMetrics text.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"))
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "operations",
    summary = "The service's metrics (Prometheus text format)",
    description = "Requests by route template, method, attestation type and status; request and \
        appraisal latency; tokens issued; collateral cache hits and misses; key releases by \
        decision; store errors. Prometheus text format 0.0.4, or OpenMetrics text 1.0.0 when \
        `Accept` names `application/openmetrics-text`. Only clients in the service's metrics \
        networks may read it (loopback by default, `--metrics-allow`): see docs/SECURITY.md.",
    responses(
        (status = 200, description = "The metrics.", content(
            (String = "text/plain"),
            (String = "application/openmetrics-text"),
        )),
        (status = 403, description = "`Forbidden`: the client is not in the metrics networks.",
            body = ErrorBody),
    )
)]
pub(crate) async fn metrics(State(s): State<Arc<ServiceState>>, req: Request) -> Response {
    let client = request_client(req.extensions());
    let allowed = client.is_some_and(|ip| in_any(&s.ops.config.metrics_allow, ip));
    if !allowed {
        return ErrorBody::response(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "the metrics are served to the operator's networks only (--metrics-allow)",
        );
    }
    let om = wants_openmetrics(req.headers());
    let body = s.ops.metrics.encode(om);
    let ct = if om {
        OPENMETRICS_TEXT
    } else {
        PROMETHEUS_TEXT
    };
    ([(header::CONTENT_TYPE, ct)], body).into_response()
}

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "getHealth",
    tag = "operations",
    summary = "Liveness: the service is serving",
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`, always while the service serves.",
            body = Health),
    )
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        checks: None,
    })
}

/// `GET /readyz`.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "getReadiness",
    tag = "operations",
    summary = "Readiness: the stores can be read and the signing key is loaded",
    responses(
        (status = 200, description = "Ready: every check passed (`checks`).", body = Health),
        (status = 503, description = "`ServiceUnavailable`: a check failed; the message names \
            which (the service's log says why).", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
    )
)]
pub(crate) async fn readyz(State(s): State<Arc<ServiceState>>) -> Response {
    let state = s.clone();
    let checks = tokio::time::timeout(
        READINESS_TIMEOUT,
        tokio::task::spawn_blocking(move || state.readiness()),
    )
    .await;
    let results = match checks {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => vec![(
            "checks",
            Err("the readiness checks failed to run".to_string()),
        )],
        Err(_) => vec![(
            "checks",
            Err(format!(
                "the readiness checks took longer than {} s",
                READINESS_TIMEOUT.as_secs()
            )),
        )],
    };
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(n, _)| *n)
        .collect();
    if failed.is_empty() {
        let checks = results
            .iter()
            .map(|(n, _)| (n.to_string(), "ok".to_string()))
            .collect();
        return Json(Health {
            status: "ready".into(),
            checks: Some(checks),
        })
        .into_response();
    }
    for (name, r) in &results {
        if let Err(why) = r {
            tracing::warn!(check = name, "not ready: {why}");
        }
    }
    let mut r = ErrorBody::response(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        format!("not ready: {}", failed.join(", ")),
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn networks_parse_and_match() {
        let n: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(n.to_string(), "10.0.0.0/8");
        assert!(n.contains("10.200.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.0.0.1".parse().unwrap()), "v4-mapped");
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(one.to_string(), "192.0.2.7/32");
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/-1",
            "x/8",
            "10.0.0.0/8/8",
            "10.0.0",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_headers_are_believed_only_from_trusted_proxies() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let h = xff(&["203.0.113.5"]);
        // Not trusted: the peer, whatever the header says.
        let c = client_address(peer, &h, &[]);
        assert_eq!((c.ip, c.forwarded), ("127.0.0.1".parse().unwrap(), false));
        // Trusted: the header.
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let c = client_address(peer, &h, &trusted);
        assert_eq!((c.ip, c.forwarded), ("203.0.113.5".parse().unwrap(), true));
        // A client cannot pass itself off as a proxy's client: the first
        // untrusted address from the right is the client.
        let h = xff(&["198.51.100.1, 203.0.113.5, 10.0.0.2"]);
        assert_eq!(
            client_address(peer, &h, &trusted).ip,
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        // Several headers are one list; ports and brackets are read.
        let h = xff(&["198.51.100.1", "[2001:db8::1]:443, 10.0.0.2:80"]);
        assert_eq!(
            client_address(peer, &h, &trusted).ip,
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        // Garbage ends the walk at the last trusted hop.
        let h = xff(&["203.0.113.5, junk, 10.0.0.2"]);
        assert_eq!(
            client_address(peer, &h, &trusted).ip,
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
        // Only trusted hops: the leftmost.
        let h = xff(&["10.0.0.3, 10.0.0.2"]);
        assert_eq!(
            client_address(peer, &h, &trusted).ip,
            "10.0.0.3".parse::<IpAddr>().unwrap()
        );
        // No header from a trusted peer: the peer.
        let c = client_address(peer, &HeaderMap::new(), &trusted);
        assert_eq!((c.ip, c.forwarded), ("127.0.0.1".parse().unwrap(), false));
    }

    #[test]
    fn request_ids_are_taken_only_when_short_and_safe() {
        for ok in ["a", "abc-123_x.y:z", &"a".repeat(MAX_REQUEST_ID_LEN)] {
            assert!(acceptable_request_id(ok), "{ok}");
        }
        for bad in [
            "",
            &"a".repeat(MAX_REQUEST_ID_LEN + 1),
            "a b",
            "a\nb",
            "a\"b",
            "<script>",
            "é",
        ] {
            assert!(!acceptable_request_id(bad), "{bad:?}");
        }
        let id = new_request_id();
        assert_eq!(id.len(), 32);
        assert!(acceptable_request_id(&id));
        assert_ne!(id, new_request_id());
    }
}
