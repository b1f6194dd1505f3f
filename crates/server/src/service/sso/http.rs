//! The HTTP client `openidconnect` reaches the provider with (discovery,
//! JWKS, token endpoint): the webhooks' way of connecting (`notify::webhook::
//! dial`), so every URL the provider's documents name passes the same SSRF
//! check (https, public addresses; http and loopback too with
//! `--allow-insecure-issuers`), the connection goes to the address that check
//! approved, redirects are not followed and answers are capped at 1 MiB.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use openidconnect::{HttpRequest, HttpResponse};
use tokio_rustls::TlsConnector;

use crate::notify::{ssrf, webhook};

/// The whole exchange, connect to the last byte.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read (discovery documents and key sets are small).
const MAX_BODY: usize = 1024 * 1024;

/// Why a request to the provider got no answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(String);

fn tls() -> Option<&'static TlsConnector> {
    static TLS: OnceLock<Option<TlsConnector>> = OnceLock::new();
    TLS.get_or_init(webhook::platform_tls).as_ref()
}

/// One request to the provider.
pub async fn send(insecure: bool, req: HttpRequest) -> Result<HttpResponse, FetchError> {
    match tokio::time::timeout(TIMEOUT, exchange(insecure, req)).await {
        Ok(r) => r,
        Err(_) => Err(FetchError("timed out after 10 s".into())),
    }
}

async fn exchange(insecure: bool, req: HttpRequest) -> Result<HttpResponse, FetchError> {
    let url = req.uri().to_string();
    let target = ssrf::parse(&url, insecure).map_err(|e| FetchError(format!("the URL {e}")))?;
    let addrs = ssrf::resolve(&target, insecure)
        .await
        .map_err(|e| FetchError(format!("the URL {e}")))?;
    let io = webhook::dial(tls(), &target, &addrs)
        .await
        .map_err(|f| FetchError(f.error))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| FetchError(format!("HTTP handshake failed: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let (mut parts, body) = req.into_parts();
    parts.uri = target
        .path_and_query
        .parse()
        .map_err(|_| FetchError("the URL has no valid path".into()))?;
    parts.headers.insert(
        axum::http::header::HOST,
        target
            .authority
            .parse()
            .map_err(|_| FetchError("the URL has no valid host".into()))?,
    );
    parts.headers.insert(
        axum::http::header::USER_AGENT,
        axum::http::HeaderValue::from_static("Keygate-SSO/1"),
    );
    parts.headers.insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    let resp = sender
        .send_request(axum::http::Request::from_parts(
            parts,
            Full::new(Bytes::from(body)),
        ))
        .await
        .map_err(|e| FetchError(format!("no HTTP response: {e}")))?;
    let (parts, body) = resp.into_parts();
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| FetchError("the answer was cut off or larger than 1 MiB".into()))?
        .to_bytes();
    Ok(HttpResponse::from_parts(parts, bytes.to_vec()))
}
