//! The service's contract, against `tee-attest serve` (verifier and key
//! release in one application): `GET /openapi.json` documents every
//! operation the router serves, and nothing else — each documented
//! operation is answered by its handler, every other method on a
//! documented path is a 405 whose `Allow` lists exactly the documented
//! methods, and the paths around the documented ones (prefixes, extensions,
//! changed segments, trailing slashes) are the router's 404. The error
//! bodies the document promises are checked where Schemathesis (`cargo
//! xtask test`) does not go: 404, 405, 413.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// What the service serves: `(METHOD, path)` as the document names them.
/// A route added or removed must change this list too.
const SERVED: &[(&str, &str)] = &[
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/certificates"),
    ("GET", "/certs"),
    ("GET", "/healthz"),
    ("GET", "/keyrelease/certs"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/policies/{kind}"),
    ("GET", "/readyz"),
    ("POST", "/attest/{kind}"),
    ("POST", "/certificates:add"),
    ("POST", "/certificates:remove"),
    ("POST", "/keys/{name}/release"),
    ("POST", "/keys/{name}/{version}/release"),
    ("POST", "/policies/{kind}:reset"),
    ("PUT", "/policies/{kind}"),
];

/// What `--ita-api-keys` adds: Intel Trust Authority's API.
const SERVED_ITA: &[(&str, &str)] = &[
    ("GET", "/appraisal/v2/nonce"),
    ("POST", "/appraisal/v2/attest"),
    ("POST", "/appraisal/v2/attest/azure"),
];

/// A keys file for `--ita-api-keys` in `dir`; the flags that serve it.
fn ita_flags(dir: &Path) -> Vec<String> {
    let keys = dir.join("ita-api-keys");
    std::fs::write(&keys, "openapi-test-key-0123456789\n").unwrap();
    vec!["--ita-api-keys".into(), keys.to_str().unwrap().to_string()]
}

/// Every method probed (QUERY: the HTTP QUERY method, which Schemathesis
/// probes too).
const METHODS: &[&str] = &[
    "GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE", "QUERY",
];

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, extra: &[&str]) -> (Serve, String) {
    // One start at a time in this test binary: two tests picking a free
    // port at once may pick the same one, and one `serve` would then answer
    // for both.
    static START: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = START.lock().unwrap_or_else(|e| e.into_inner());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_tee-attest"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .env("TEE_ATTEST_KEK", "00".repeat(32))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // A connection from the port to itself (TCP simultaneous open, when
    // the kernel picks the probed port as the source) is not a listener.
    while !std::net::TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|s| s.local_addr().is_ok_and(|a| a.port() != port))
    {
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (serve, format!("http://127.0.0.1:{port}"))
}

/// `(METHOD, path)` of every operation of the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (key, _) in item.as_object().unwrap() {
            let m = key.to_ascii_uppercase();
            if METHODS.contains(&m.as_str()) {
                out.insert((m, path.clone()));
            }
        }
    }
    out
}

/// A path template's segments: `Static("keys")` or `Param { suffix }`.
enum Seg<'a> {
    Static(&'a str),
    Param(&'a str),
}

fn segments(template: &str) -> Vec<Seg<'_>> {
    template
        .split('/')
        .skip(1)
        .map(|s| match (s.find('{'), s.find('}')) {
            (Some(0), Some(end)) => Seg::Param(&s[end + 1..]),
            _ => Seg::Static(s),
        })
        .collect()
}

/// How specific a template is where it matches `path`: its static
/// characters (a router prefers `/policies/{kind}:reset` to
/// `/policies/{kind}` for `/policies/x:reset`); `None` when it does not
/// match.
fn matches(template: &str, path: &str) -> Option<usize> {
    let t = segments(template);
    let p: Vec<&str> = path.split('/').skip(1).collect();
    if t.len() != p.len() {
        return None;
    }
    let mut score = 0;
    for (seg, value) in t.iter().zip(&p) {
        match seg {
            Seg::Static(s) if s == value => score += s.len(),
            Seg::Static(_) => return None,
            Seg::Param(suffix) => {
                let v = value.strip_suffix(suffix)?;
                if v.is_empty() {
                    return None;
                }
                score += suffix.len();
            }
        }
    }
    Some(score)
}

/// The documented methods of the path's resource (its most specific
/// template), or `None` when no documented path matches.
fn resource_methods(
    by_path: &BTreeMap<String, BTreeSet<String>>,
    path: &str,
) -> Option<BTreeSet<String>> {
    by_path
        .iter()
        .filter_map(|(t, methods)| matches(t, path).map(|score| (score, methods)))
        .max_by_key(|(score, _)| *score)
        .map(|(_, m)| m.clone())
}

/// A concrete path for a template: each parameter a plain value.
fn instantiate(template: &str) -> String {
    template
        .replace("{kind}", "AzureGuest")
        .replace("{name}", "disk-key")
        .replace("{version}", "1")
}

/// The paths around `path`: its prefixes, extensions, each static segment
/// changed, a trailing slash.
fn neighbours(template: &str) -> Vec<String> {
    let path = instantiate(template);
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let mut out = vec!["/".to_string(), "/x".to_string(), "/x/y".to_string()];
    for i in 1..segs.len() {
        out.push(format!("/{}", segs[..i].join("/")));
    }
    out.push(format!("{path}/x"));
    out.push(format!("{path}x"));
    out.push(format!("{path}/"));
    for (i, seg) in segments(template).iter().enumerate() {
        if let Seg::Static(_) = seg {
            let mut s = segs.clone();
            s[i] = "x";
            out.push(format!("/{}", s.join("/")));
        }
    }
    out
}

async fn send(http: &reqwest::Client, base: &str, method: &str, path: &str) -> reqwest::Response {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http.request(m.clone(), format!("{base}{path}"));
    if matches!(method, "POST" | "PUT" | "PATCH" | "QUERY") {
        // Never a valid document: nothing the probes send changes state.
        req = req.header("content-type", "application/json").body("{}");
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

async fn error_body(resp: reqwest::Response) -> (StatusCode, String, String) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (status, code, message)
}

/// The router's own 404 (no route), as opposed to a handler's.
fn is_no_route(status: StatusCode, code: &str, message: &str) -> bool {
    status == StatusCode::NOT_FOUND && code == "NotFound" && message.starts_with("no route for ")
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_served() {
    let dir = tempfile::tempdir().unwrap();
    routes_are_the_documented_ones(dir.path(), &["--insecure-admin".into()], SERVED).await;
}

#[tokio::test]
async fn with_the_ita_profile_the_document_lists_its_routes_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut flags = ita_flags(dir.path());
    flags.push("--insecure-admin".into());
    let served: Vec<(&str, &str)> = SERVED.iter().chain(SERVED_ITA).copied().collect();
    routes_are_the_documented_ones(dir.path(), &flags, &served).await;
}

async fn routes_are_the_documented_ones(dir: &Path, flags: &[String], served: &[(&str, &str)]) {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (_serve, base) = serve(&dir.join("data"), &flags);
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "tee-attest");

    let ops = documented(&doc);
    let expected: BTreeSet<(String, String)> = served
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(ops, expected, "the document's operations");
    let mut by_path: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, p) in &ops {
        by_path.entry(p.clone()).or_default().insert(m.clone());
    }

    // 1. Every documented operation is served by its handler.
    for (method, template) in &ops {
        let path = instantiate(template);
        let (status, code, message) = error_body(send(&http, &base, method, &path).await).await;
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && !is_no_route(status, &code, &message),
            "{method} {path} ({template}) is documented but not served: {status} {code} {message}"
        );
        assert!(
            !status.is_server_error(),
            "{method} {path}: {status} {message}"
        );
    }

    // 2. Every other method on a documented path (and on each path a
    //    documented template matches) is a 405 listing exactly the
    //    documented methods; 3. the paths around them are not served.
    let mut probes: BTreeSet<String> = by_path.keys().map(|t| instantiate(t)).collect();
    for t in by_path.keys() {
        probes.extend(neighbours(t));
    }
    let mut checked = 0;
    for path in &probes {
        let allowed = resource_methods(&by_path, path);
        for method in METHODS {
            let resp = send(&http, &base, method, path).await;
            let allow = resp
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_string());
            let is_head = *method == "HEAD";
            let (status, code, message) = error_body(resp).await;
            checked += 1;
            match &allowed {
                None => {
                    // HEAD answers carry no body: the status says it.
                    assert!(
                        is_no_route(status, &code, &message)
                            || (is_head && status == StatusCode::NOT_FOUND),
                        "{method} {path} matches no documented path but is served: \
                         {status} {code} {message}"
                    );
                }
                Some(methods)
                    if methods.contains(*method) || (is_head && methods.contains("GET")) =>
                {
                    assert!(
                        status != StatusCode::METHOD_NOT_ALLOWED
                            && !is_no_route(status, &code, &message),
                        "{method} {path}: documented, answered {status} {code} {message}"
                    );
                }
                Some(methods) => {
                    assert_eq!(
                        status,
                        StatusCode::METHOD_NOT_ALLOWED,
                        "{method} {path} is not documented: {code} {message}"
                    );
                    if !is_head {
                        assert_eq!(code, "MethodNotAllowed", "{method} {path}");
                    }
                    let mut expected: BTreeSet<String> = methods.clone();
                    if expected.contains("GET") {
                        expected.insert("HEAD".into());
                    }
                    let got: BTreeSet<String> = allow
                        .as_deref()
                        .unwrap_or_else(|| panic!("{method} {path}: 405 without Allow"))
                        .split(',')
                        .map(|m| m.trim().to_string())
                        .collect();
                    assert_eq!(got, expected, "Allow of {method} {path}");
                }
            }
        }
    }
    assert!(checked > 300, "{checked} probes");
}

#[tokio::test]
async fn error_bodies_are_the_documented_ones() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ita_flags(dir.path());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (_serve, base) = serve(&dir.path().join("data"), &flags);
    let http = reqwest::Client::new();
    let doc: Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Every error response is the error body, every $ref resolves, 401s
    // require WWW-Authenticate and 503s Retry-After.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"").skip(1) {
        let name = r.split('"').next().unwrap();
        let key = name.trim_start_matches("#/components/schemas/");
        assert!(
            doc["components"]["schemas"].get(key).is_some(),
            "unresolved {name}"
        );
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("200"), "{method} {path}");
            assert!(
                responses.contains_key("503"),
                "{method} {path}: the timeout's 503"
            );
            for (status, r) in responses {
                // The ITA profile's own answers are ITA's `{"error": "…"}`;
                // what the service's layers answer there is the error body.
                let ita_shaped = path.starts_with("/appraisal/")
                    && matches!(status.as_str(), "400" | "401" | "500");
                if status.as_str() >= "400" {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        if ita_shaped {
                            "#/components/schemas/ItaErrorBody"
                        } else {
                            "#/components/schemas/ErrorBody"
                        },
                        "{method} {path} {status}"
                    );
                }
                let required = |h: &str| r["headers"][h]["required"] == Value::Bool(true);
                if status == "401" {
                    assert!(required("WWW-Authenticate"), "{method} {path} 401");
                }
                if status == "503" {
                    assert!(required("Retry-After"), "{method} {path} 503");
                }
            }
        }
    }

    // 413 with the error body, at each route's limit.
    for (path, limit) in [
        ("/attest/AzureGuest", 4 * 1024 * 1024),
        ("/policies/AzureGuest:reset", 4 * 1024 * 1024),
        ("/certificates:add", 4 * 1024 * 1024),
        ("/keys/disk-key/release", 1024 * 1024 + 4096),
        ("/keys/disk-key/1/release", 1024 * 1024 + 4096),
        ("/appraisal/v2/attest", 4 * 1024 * 1024),
        ("/appraisal/v2/attest/azure", 4 * 1024 * 1024),
    ] {
        let resp = http
            .post(format!("{base}{path}"))
            .body(vec![b' '; limit + 1])
            .send()
            .await
            .unwrap();
        let (status, code, _) = error_body(resp).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge"),
            "{path}"
        );
    }
    let resp = http
        .put(format!("{base}/policies/AzureGuest"))
        .body(vec![b' '; 4 * 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Writes without an administration model: 403 with the error body; a
    // body that is an empty JSON string is not a reset document.
    let (status, code, _) = error_body(
        http.put(format!("{base}/policies/SevSnpVm"))
            .body("version=1.0; authorizationrules { => permit(); };")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "Forbidden")
    );

    // A path that does not decode to UTF-8: 400 with the error body.
    let (status, code, _) = error_body(
        http.get(format!("{base}/policies/%FF"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "InvalidParameter")
    );
}

#[tokio::test]
async fn a_reset_body_must_be_a_jws_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, base) = serve(dir.path(), &["--insecure-admin"]);
    let http = reqwest::Client::new();
    let url = format!("{base}/policies/AzureGuest:reset");
    let (status, code, message) = error_body(
        http.post(&url)
            .header("content-type", "application/json")
            .body("\"\"")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "InvalidParameter"),
        "{message}"
    );
    assert_eq!(
        http.post(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        http.post(&url).body("  \n").send().await.unwrap().status(),
        StatusCode::OK
    );
}
