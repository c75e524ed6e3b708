//! A mock Azure IMDS THIM endpoint on loopback: `GET
//! /metadata/THIM/amd/certification` with header `Metadata: true` answers
//! `{"vcekCert", "certificateChain", "tcbm"}` (PEM), as Azure's does.

use std::net::{Ipv4Addr, SocketAddr};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::oneshot;

use crate::MockError;

/// The running server; stops when dropped.
#[derive(Debug)]
pub struct MockThim {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockThim {
    /// Serve `body` (the THIM JSON) on a free loopback port.
    pub fn start(body: serde_json::Value) -> Result<Self, MockError> {
        let spawn_err = |source| MockError::Spawn {
            hint: "starting the mock THIM server",
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
        let app = Router::new().route(
            "/metadata/THIM/amd/certification",
            get(move |headers: HeaderMap| {
                let body = body.clone();
                async move {
                    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
                        return Err((
                            StatusCode::BAD_REQUEST,
                            "Required metadata header not specified",
                        ));
                    }
                    Ok(Json(body))
                }
            }),
        );
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
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// The base URL to give a THIM client (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for MockThim {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
