//! The HTTP/1 server loop under the router (instead of `axum::serve`, which
//! cannot be configured): hyper's own limits are set above Keygate's, so
//! requests with more headers than allowed still reach `http::header_limit`
//! and get the documented JSON 431 instead of hyper's empty one.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// hyper refuses a request head beyond these on its own (431, no body);
/// `http::HEADER_LIMIT` and `http::MAX_HEADERS` refuse with JSON well before.
const HYPER_MAX_HEADERS: usize = 1000;
const HYPER_MAX_BUF: usize = 256 * 1024;

/// Serves `router` on `listener` until `shutdown` resolves, then lets open
/// requests finish (graceful shutdown) before returning.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
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
        let svc = router
            .clone()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let mut stop = stop_rx.clone();
        conns.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .max_headers(HYPER_MAX_HEADERS)
                .max_buf_size(HYPER_MAX_BUF);
            let conn = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        // Reap finished connections as we go.
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    drop(stop_tx);
    while conns.join_next().await.is_some() {}
    Ok(())
}
