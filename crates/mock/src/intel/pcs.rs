//! A mock Intel PCS (API v4) on 127.0.0.1, serving one mock platform's
//! collateral with Intel's paths and issuer-chain headers:
//!
//! ```text
//! GET /{sgx|tdx}/certification/v4/tcb?fmspc=…          TCB info       TCB-Info-Issuer-Chain
//! GET /{sgx|tdx}/certification/v4/qe/identity          QE identity    SGX-Enclave-Identity-Issuer-Chain
//! GET /sgx/certification/v4/pckcrl?ca=…[&encoding=der] PCK CRL        SGX-PCK-CRL-Issuer-Chain
//! GET /sgx/certification/v4/rootcacrl                  root CA CRL (DER; PCCS's path)
//! GET /IntelSGXRootCA.der                              root CA CRL (DER; Intel's certificates site)
//! ```
//!
//! Issuer chains are URL-encoded PEM, as Intel sends them. An unknown FMSPC
//! or CA is 404, a missing or malformed parameter 400, anything else 404.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use tee_attest_tdx::collateral::{PcsKind, Tee};
use tokio::sync::oneshot;

use super::collateral::url_encode;
use super::{MockCollateralOptions, MockIntelPlatform};
use crate::MockError;

/// What the server answers, computed once at start.
struct Answers {
    fmspc: String,
    ca: &'static str,
    tcb_info: HashMap<&'static str, String>,
    qe_identity: HashMap<&'static str, String>,
    tcb_chain: String,
    pck_crl_chain: String,
    pck_crl: Vec<u8>,
    root_crl: Vec<u8>,
    requests: Mutex<Vec<String>>,
}

/// A running mock PCS; stops when dropped.
#[derive(Debug)]
pub struct MockPcs {
    addr: SocketAddr,
    state: Arc<Answers>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("fmspc", &self.fmspc)
            .finish_non_exhaustive()
    }
}

fn pem_crl(der: &[u8]) -> Vec<u8> {
    let pem = tee_attest_tdx::pki::to_pem(der);
    pem.replace("CERTIFICATE", "X509 CRL").into_bytes()
}

fn reply(status: StatusCode, headers: &[(&str, String)], body: Vec<u8>) -> Response {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(Body::from(body)).unwrap_or_else(|_| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

fn not_found() -> Response {
    reply(StatusCode::NOT_FOUND, &[], Vec::new())
}

fn bad_request(why: &str) -> Response {
    reply(StatusCode::BAD_REQUEST, &[], why.as_bytes().to_vec())
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

async fn answer(State(s): State<Arc<Answers>>, uri: Uri) -> Response {
    if let Ok(mut r) = s.requests.lock() {
        r.push(
            uri.path_and_query()
                .map_or_else(|| uri.path().to_string(), |p| p.to_string()),
        );
    }
    let q = query(&uri);
    let json = |body: &String, chain_header: &str| {
        reply(
            StatusCode::OK,
            &[
                (header::CONTENT_TYPE.as_str(), "application/json".into()),
                (chain_header, s.tcb_chain.clone()),
            ],
            body.clone().into_bytes(),
        )
    };
    let path = uri.path();
    let tee = if path.starts_with("/tdx/") {
        "tdx"
    } else {
        "sgx"
    };
    match path {
        "/sgx/certification/v4/tcb" | "/tdx/certification/v4/tcb" => {
            let Some(fmspc) = q.get("fmspc") else {
                return bad_request("fmspc is required");
            };
            if fmspc.len() != 12 || hex::decode(fmspc).is_err() {
                return bad_request("fmspc is not 6 bytes of hex");
            }
            if !fmspc.eq_ignore_ascii_case(&s.fmspc) {
                return not_found();
            }
            match s.tcb_info.get(tee) {
                Some(body) => json(body, "TCB-Info-Issuer-Chain"),
                None => not_found(),
            }
        }
        "/sgx/certification/v4/qe/identity" | "/tdx/certification/v4/qe/identity" => {
            match s.qe_identity.get(tee) {
                Some(body) => json(body, "SGX-Enclave-Identity-Issuer-Chain"),
                None => not_found(),
            }
        }
        "/sgx/certification/v4/pckcrl" => {
            let Some(ca) = q.get("ca") else {
                return bad_request("ca is required");
            };
            if ca != "platform" && ca != "processor" {
                return bad_request("ca is platform or processor");
            }
            if ca != s.ca {
                return not_found();
            }
            let (ctype, body) = match q.get("encoding").map(String::as_str) {
                Some("der") => ("application/pkix-crl", s.pck_crl.clone()),
                None | Some("pem") => ("application/x-pem-file", pem_crl(&s.pck_crl)),
                Some(_) => return bad_request("encoding is der or pem"),
            };
            reply(
                StatusCode::OK,
                &[
                    (header::CONTENT_TYPE.as_str(), ctype.into()),
                    ("SGX-PCK-CRL-Issuer-Chain", s.pck_crl_chain.clone()),
                ],
                body,
            )
        }
        "/sgx/certification/v4/rootcacrl" | "/IntelSGXRootCA.der" => reply(
            StatusCode::OK,
            &[(header::CONTENT_TYPE.as_str(), "application/pkix-crl".into())],
            s.root_crl.clone(),
        ),
        _ => not_found(),
    }
}

impl MockPcs {
    /// Serves `platform`'s collateral, as `options` describe it, on a free
    /// port of 127.0.0.1.
    pub fn start(
        platform: &MockIntelPlatform,
        options: &MockCollateralOptions,
    ) -> Result<Self, MockError> {
        let mut tcb_info = HashMap::new();
        let mut qe_identity = HashMap::new();
        for tee in [Tee::Tdx, Tee::Sgx] {
            tcb_info.insert(
                tee.path(),
                platform
                    .tcb_info(tee, options)?
                    .to_pcs_response(PcsKind::TcbInfo),
            );
            qe_identity.insert(
                tee.path(),
                platform
                    .qe_identity(tee, options)?
                    .to_pcs_response(PcsKind::QeIdentity),
            );
        }
        let pck_crl = platform.pck_crl(options)?;
        let state = Arc::new(Answers {
            fmspc: hex::encode_upper(platform.config().fmspc),
            ca: platform.config().ca.param(),
            tcb_info,
            qe_identity,
            tcb_chain: url_encode(&platform.pki().tcb_signing_chain_pem()),
            pck_crl_chain: url_encode(&platform.pki().pck_ca_chain_pem()),
            pck_crl,
            root_crl: platform.root_ca_crl(options)?,
            requests: Mutex::new(Vec::new()),
        });

        let spawn_err = |source| MockError::Spawn {
            hint: "starting the mock Intel PCS",
            source,
        };
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(spawn_err)?;
        listener.set_nonblocking(true).map_err(spawn_err)?;
        let addr = listener.local_addr().map_err(spawn_err)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(spawn_err)?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = Router::new().fallback(answer).with_state(state.clone());
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Ok(Self {
            addr,
            state,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// The base URL to give a PCS client (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The root CA CRL's URL at Intel's certificates-site path.
    pub fn root_crl_url(&self) -> String {
        format!("http://{}/IntelSGXRootCA.der", self.addr)
    }

    /// The paths (with queries) requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for MockPcs {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
