//! Serving connections: hyper's HTTP/1.1 server, one task per connection,
//! held to the connection-level [`Limits`]:
//!
//! - at most `max_connections` at once (a semaphore taken before `accept`:
//!   past it, connections wait in the kernel's backlog, and the service
//!   first closes its connections on which no request is being handled —
//!   idle keep-alives, unfinished headers — to make room);
//! - `header_read_timeout` from a connection's start (or its previous
//!   response) to the end of a request's headers, TLS handshake included
//!   (hyper's timer: a slow-loris client is closed);
//! - `idle_timeout`: no byte moved while none of its requests is being
//!   handled (a client that stops reading its answer);
//! - shutdown: no new connections; those with nothing in flight close at
//!   once (a slow-loris client does not hold the shutdown), the others
//!   finish their request within `shutdown_grace` and are closed then.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tee_attest_core::{Error, ErrorCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::limits::Limits;

/// While connections are at the limit, how often the idle ones are asked
/// again to make room.
const PRESSURE_REPEAT: Duration = Duration::from_millis(100);

/// What one connection is doing, for the decisions to close it.
#[derive(Debug)]
struct ConnState {
    start: tokio::time::Instant,
    /// Milliseconds from `start` to the last byte read or written.
    last_io: AtomicU64,
    /// Requests whose handler has not answered yet.
    handling: AtomicUsize,
    /// Answers not yet written out.
    responding: AtomicUsize,
}

impl ConnState {
    fn new() -> Self {
        Self {
            start: tokio::time::Instant::now(),
            last_io: AtomicU64::new(0),
            handling: AtomicUsize::new(0),
            responding: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_io.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_io.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// No request is being handled and no answer is being written.
    fn quiet(&self) -> bool {
        self.handling.load(Ordering::Acquire) == 0 && self.responding.load(Ordering::Acquire) == 0
    }
}

/// One count in a [`ConnState`] counter while it lives.
struct Count(Arc<ConnState>, fn(&ConnState) -> &AtomicUsize);

impl Count {
    fn new(state: &Arc<ConnState>, field: fn(&ConnState) -> &AtomicUsize) -> Self {
        field(state).fetch_add(1, Ordering::AcqRel);
        Self(state.clone(), field)
    }
}

impl Drop for Count {
    fn drop(&mut self) {
        (self.1)(&self.0).fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body that counts as "responding" until hyper has written
/// it and dropped it.
struct Counted {
    body: Body,
    _count: Count,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The connection's I/O, noting when bytes last moved.
struct Metered<T> {
    io: T,
    state: Arc<ConnState>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.state.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.state.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.state.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// What every connection task watches.
#[derive(Clone)]
struct Signals {
    /// `true` once the service stops.
    stop: watch::Receiver<bool>,
    /// Bumped while connections are at the limit: quiet ones close.
    pressure: watch::Receiver<u64>,
}

/// Serves one connection until it ends or one of the limits closes it.
async fn drive<I>(io: I, addr: SocketAddr, app: Router, limits: Arc<Limits>, mut sig: Signals)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Only pressure from now on concerns this connection.
    sig.pressure.borrow_and_update();
    let state = Arc::new(ConnState::new());
    let io = TokioIo::new(Metered {
        io,
        state: state.clone(),
    });
    let st = state.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let handling = Count::new(&st, |s| &s.handling);
        let responding = Count::new(&st, |s| &s.responding);
        let mut app = app.clone();
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(addr));
        async move {
            let resp = tower_service::Service::call(&mut app, req).await;
            drop(handling);
            resp.map(|r| {
                r.map(|body| {
                    Body::new(Counted {
                        body,
                        _count: responding,
                    })
                })
            })
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let conn = http.serve_connection(io, svc);
    tokio::pin!(conn);
    let tick = (limits.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut draining, mut pressure_open) = (false, true);
    loop {
        tokio::select! {
            // The connection first: bytes already received start their
            // request before a signal could find the connection quiet.
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%addr, "connection ended: {e}");
                }
                return;
            }
            _ = sig.stop.wait_for(|s| *s), if !draining => {
                if state.quiet() {
                    return;
                }
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            r = sig.pressure.changed(), if pressure_open => {
                if r.is_err() {
                    pressure_open = false;
                } else if state.quiet() {
                    tracing::debug!(%addr, "closing a quiet connection: at the connection limit");
                    return;
                }
            }
            _ = ticker.tick() => {
                if draining && state.quiet() {
                    return;
                }
                if state.handling.load(Ordering::Acquire) == 0
                    && state.idle_for() >= limits.idle_timeout
                {
                    tracing::debug!(%addr, "closing an idle connection");
                    return;
                }
            }
        }
    }
}

/// Serves `app` on `listener` (TLS with `tls`) within `limits` until
/// `shutdown` completes, then drains as the module documentation says.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (pressure_tx, pressure_rx) = watch::channel(0u64);
    let signals = Signals {
        stop: stop_rx,
        pressure: pressure_rx,
    };
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    'accept: loop {
        let permit: OwnedSemaphorePermit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                tracing::debug!("at the connection limit: closing quiet connections");
                loop {
                    pressure_tx.send_modify(|n| *n = n.wrapping_add(1));
                    tokio::select! {
                        p = slots.clone().acquire_owned() => match p {
                            Ok(p) => break p,
                            Err(_) => break 'accept,
                        },
                        _ = &mut shutdown => break 'accept,
                        _ = tokio::time::sleep(PRESSURE_REPEAT) => {}
                    }
                }
            }
        };
        let (tcp, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, a connection reset before accept…:
                    // not fatal to the service.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let (app, limits, mut sig) = (app.clone(), limits.clone(), signals.clone());
        let tls = tls.clone();
        tasks.spawn(async move {
            let _permit = permit;
            match tls {
                None => drive(tcp, addr, app, limits, sig).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_read_timeout, acceptor.accept(tcp));
                    let stream = tokio::select! {
                        r = handshake => match r {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%addr, "TLS handshake failed: {e}");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%addr, "TLS handshake timed out");
                                return;
                            }
                        },
                        _ = sig.stop.wait_for(|s| *s) => return,
                    };
                    drive(stream, addr, app, limits, sig).await
                }
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "closing the connections still busy after the shutdown grace"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    Ok(())
}

/// A TLS acceptor for a PEM certificate chain and key, speaking HTTP/1.1.
pub(crate) async fn tls_acceptor(
    cert_pem: &std::path::Path,
    key_pem: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert_pem, key_pem)
        .await
        .map_err(|e| {
            Error::with_source(
                ErrorCode::InitializationFailed,
                "loading the TLS certificate and key",
                e,
            )
        })?;
    let mut config = (*tls.get_inner()).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
