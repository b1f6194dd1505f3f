//! The HTTP/1 server loop under the router (instead of `axum::serve`, which
//! cannot be configured): hyper's limit on the size of a request head is set
//! above Keygate's, so larger heads still reach `http::header_limit` and get
//! the documented JSON 431 instead of hyper's empty one.
//!
//! Some limits hyper keeps for itself: a request target of 65,535 bytes or
//! more cannot be held by `http::Uri`, and a head over `HYPER_MAX_BUF` or with
//! more than 100 fields (hyper's default, Keygate's own `MAX_HEADERS`) is
//! refused while parsing. hyper then writes a bodyless 414 or 431 and closes.
//! `EdgeIo` sees that answer go out and writes the JSON one of `http::error`
//! in its place, so every length over the limit gets the same documented body.
//!
//! Connections are served on lanes, one thread per core, each with a
//! single-threaded runtime of its own, so that nothing of a request crosses
//! threads (see `Lane`).

use std::convert::Infallible;
use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::middleware::cookies::ServedOverTls;

/// hyper refuses a request head beyond this on its own (431, no body);
/// `http::layers::HEADER_LIMIT` refuses with JSON well before. Its limit on
/// the number of fields stays at its default, 100 (`http::layers::MAX_HEADERS`
/// too): with any other value set, hyper allocates and frees two arrays of
/// that many slots for every request it parses (64 KB for 1,000), where its
/// default ones live on the stack.
const HYPER_MAX_BUF: usize = 256 * 1024;

/// A TLS handshake not done by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves, then lets open
/// requests finish (graceful shutdown) before returning. With `tls`, every
/// connection is a TLS one (`serve --tls-cert`), and its requests carry
/// `ServedOverTls`.
///
/// Connections are served on `lanes` threads of their own, each a
/// single-threaded runtime (see [`Lane`]); this task only accepts them and
/// hands them out in turn.
pub async fn serve<S: Served>(
    listener: TcpListener,
    router: S,
    tls: Option<TlsAcceptor>,
    lanes: usize,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let lanes = (0..lanes.max(1))
        .map(|i| Lane::start(i, router.clone(), tls.clone(), stop_rx.clone()))
        .collect::<std::io::Result<Vec<Lane>>>()?;
    tokio::pin!(shutdown);
    for turn in 0.. {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Leaves this runtime's I/O driver for the lane's (still non-blocking).
        match stream.into_std() {
            Ok(stream) => lanes[turn % lanes.len()].take(stream, peer),
            Err(e) => tracing::warn!(error = %e, "could not hand a connection to a lane"),
        }
    }
    drop(listener);
    drop(stop_tx);
    for lane in lanes {
        lane.finish().await;
    }
    Ok(())
}

/// What `serve` serves: a `Router`, or the common layers around one
/// (`http::layers::Common`).
pub trait Served:
    tower::Service<
        Request<Incoming>,
        Response = Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> Served for S where
    S: tower::Service<
            Request<Incoming>,
            Response = Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// One thread serving the connections handed to it, on a single-threaded
/// runtime of its own.
///
/// On tokio's shared multi-threaded runtime, a connection's task moves
/// between worker threads (work stealing), so its buffers are allocated on
/// one core and freed or grown on another: glibc then takes the other
/// thread's arena lock, and those locks were contended (0.3–0.6 futex calls
/// per login). A connection stays on its lane, so nothing of a request
/// crosses threads: CPU per login −16 %, per forward-auth check −9 % (see
/// BENCHMARKS.md, "Lanes"). Connections are handed out in turn, so the lanes
/// carry equal numbers of them.
///
/// Tasks a request spawns (a reset mail, an upstream connection of the
/// gateway) run on its lane, and database connections a lane opens are driven
/// by its I/O driver while the pool lends them to everyone. So a lane's
/// runtime lives until the process ends, after its connections are closed:
/// the final usage flush of `serve` may still use one of those connections.
struct Lane {
    conns: tokio::sync::mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>,
    /// Fires when the lane's connections have all closed after the stop.
    closed: tokio::sync::oneshot::Receiver<()>,
}

impl Lane {
    fn start<S: Served>(
        i: usize,
        router: S,
        tls: Option<TlsAcceptor>,
        stop: tokio::sync::watch::Receiver<()>,
    ) -> std::io::Result<Lane> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (conns, taken) = tokio::sync::mpsc::unbounded_channel();
        let (closed_tx, closed) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("keygate-lane-{i}"))
            .spawn(move || {
                crate::state::lanes::enter(i);
                runtime.block_on(async move {
                    serve_lane(taken, router, tls, stop).await;
                    let _ = closed_tx.send(());
                    std::future::pending::<()>().await
                })
            })?;
        Ok(Lane { conns, closed })
    }

    fn take(&self, stream: std::net::TcpStream, peer: SocketAddr) {
        // Only fails once the lane's thread is gone; the connection closes.
        let _ = self.conns.send((stream, peer));
    }

    /// Stops handing connections to the lane and waits until its open ones
    /// have finished (they were told to shut down gracefully).
    async fn finish(self) {
        drop(self.conns);
        let _ = self.closed.await;
    }
}

/// The connections of one lane, each a task of the lane's runtime, until no
/// more come and every one has finished.
async fn serve_lane<S: Served>(
    mut taken: tokio::sync::mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    router: S,
    tls: Option<TlsAcceptor>,
    stop_rx: tokio::sync::watch::Receiver<()>,
) {
    let mut conns = tokio::task::JoinSet::new();
    while let Some((stream, peer)) = taken.recv().await {
        let stream = match TcpStream::from_std(stream) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "a lane could not take a connection");
                continue;
            }
        };
        let over_tls = tls.is_some();
        let svc = router
            .clone()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                if over_tls {
                    req.extensions_mut().insert(ServedOverTls);
                }
                req
            });
        let stop = stop_rx.clone();
        let tls = tls.clone();
        conns.spawn(async move {
            match tls {
                None => connection(stream, svc, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) if stream.get_ref().1.alpn_protocol() == Some(b"h2") => {
                            connection_h2(stream, svc, stop).await
                        }
                        Ok(Ok(stream)) => connection(stream, svc, stop).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
        // Reap finished connections as we go.
        while conns.try_join_next().is_some() {}
    }
    while conns.join_next().await.is_some() {}
}

/// One HTTP/1 connection (plain or inside TLS) with hyper's limits and
/// `EdgeIo`, shut down gracefully when `stop` changes.
async fn connection<IO, S>(io: IO, svc: S, mut stop: tokio::sync::watch::Receiver<()>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<Request<Incoming>, Response = axum::response::Response>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).max_buf_size(HYPER_MAX_BUF);
    let conn = builder
        .serve_connection(TokioIo::new(EdgeIo::new(io)), TowerToHyperService::new(svc))
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// One HTTP/2 connection (a TLS client that offered `h2` in ALPN). Its
/// request heads are held to Keygate's limits by hyper (a header list over
/// `HYPER_MAX_BUF` is refused) and, below them, by `http::header_limit`'s
/// JSON 414/431; bodies by the same body deadlines as HTTP/1.
async fn connection_h2<IO, S>(io: IO, svc: S, mut stop: tokio::sync::watch::Receiver<()>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<Request<Incoming>, Response = axum::response::Response>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(HYPER_MAX_BUF as u32);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(svc));
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The answers hyper writes on its own when it cannot parse a request head:
/// exactly these bytes, then a `date` line, then the end of the head. Keygate's
/// own 414 and 431 carry a `content-type` first, so they never match.
const HYPER_414: &[u8] = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\n";
const HYPER_431: &[u8] =
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n";

/// A connection whose writes are watched for hyper's bodyless 414 and 431
/// (see the module's comment). Reads pass through untouched; a write costs
/// one comparison of its first bytes.
struct EdgeIo<T> {
    inner: T,
    /// The JSON answer being written in place of hyper's: the bytes, how many
    /// are out, and how long hyper's own answer was (reported written at the end).
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<T> EdgeIo<T> {
    fn new(inner: T) -> EdgeIo<T> {
        EdgeIo {
            inner,
            replacing: None,
        }
    }
}

/// Keygate's answer in place of hyper's bodyless one, if `buf` is one: the
/// whole head hyper wrote (its `date` line, then the blank line), nothing else.
fn replacement(buf: &[u8]) -> Option<Vec<u8>> {
    let error = if buf.starts_with(HYPER_414) {
        crate::http::error::ApiError::UriTooLong
    } else if buf.starts_with(HYPER_431) {
        crate::http::error::ApiError::HeadersTooLarge
    } else {
        return None;
    };
    if buf.len() > 200 || !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let (status, body) = error.parts();
    let body = serde_json::to_vec(&body).ok()?;
    let id = crate::state::request_id::new_id();
    tracing::info!(request_id = %id, status = status.as_u16(), "request head refused by the parser");
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n\
         referrer-policy: no-referrer\r\nx-frame-options: DENY\r\n\
         content-security-policy: default-src 'none'; frame-ancestors 'none'\r\n\
         x-request-id: {id}\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

impl<T: AsyncWrite + Unpin> EdgeIo<T> {
    /// Writes the rest of the replacement; done, it reports hyper's bytes as
    /// written.
    fn poll_replace(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        while let Some((bytes, done, theirs)) = &mut self.replacing {
            if *done == bytes.len() {
                let theirs = *theirs;
                self.replacing = None;
                return Poll::Ready(Ok(theirs));
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(0))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for EdgeIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for EdgeIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.replacing.is_none() {
            match replacement(buf) {
                Some(ours) => self.replacing = Some((ours, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        self.poll_replace(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.replacing.is_none() {
            let first = bufs.iter().find(|b| !b.is_empty());
            match first.and_then(|b| replacement(b).map(|ours| (ours, b.len()))) {
                Some((ours, theirs)) => self.replacing = Some((ours, 0, theirs)),
                None => return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
            }
        }
        self.poll_replace(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
