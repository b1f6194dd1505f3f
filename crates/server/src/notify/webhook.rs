//! One webhook POST, signed, to an address checked just before connecting.
//!
//! Written on hyper's connection API rather than a full HTTP client: the
//! connection goes to exactly the address the SSRF check approved (no second
//! DNS lookup in between), redirects are never followed, and the TLS stack is
//! the rustls that the mailer already pulls in, so no second client is built.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Request, header};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use keygate_core::crypto::hmac_sha256_hex;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

use super::attempt::{Failure, Sent};
use super::ssrf;

/// The whole exchange, connect to response head.
const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct WebhookClient {
    tls: Option<TlsConnector>,
    insecure: bool,
}

/// What one delivery sends.
pub struct Post<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub event_id: &'a str,
    pub event_name: &'a str,
    pub delivery_id: &'a str,
    pub body: &'a str,
    pub timestamp_ms: i64,
    /// `application/json` for a notification, `application/x-ndjson` for a
    /// batch of an audit stream.
    pub content_type: &'a str,
}

/// A connection, plain or inside TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// TLS with the platform's trust store; `None` (logged) when there is none.
pub fn platform_tls() -> Option<TlsConnector> {
    use rustls_platform_verifier::ConfigVerifierExt;
    match ClientConfig::with_platform_verifier() {
        Ok(c) => Some(TlsConnector::from(Arc::new(c))),
        Err(e) => {
            tracing::error!(error = %e, "no TLS trust store: https requests will fail");
            None
        }
    }
}

/// A connection to `target` at the first of `addrs` (the SSRF check's
/// answer) that takes it, inside TLS when the URL is https.
pub async fn dial(
    tls: Option<&TlsConnector>,
    target: &ssrf::Target,
    addrs: &[std::net::SocketAddr],
) -> Result<Box<dyn Io>, Failure> {
    let tcp = connect(addrs).await?;
    if !target.https {
        return Ok(Box::new(tcp));
    }
    let tls = tls.ok_or_else(|| Failure::new(None, "TLS is not available"))?;
    let name = ServerName::try_from(target.host.clone())
        .map_err(|_| Failure::new(None, "the host is not a valid TLS server name"))?;
    Ok(Box::new(tls.connect(name, tcp).await.map_err(|e| {
        Failure::new(None, format!("TLS handshake failed: {e}"))
    })?))
}

impl WebhookClient {
    pub fn new(insecure: bool) -> WebhookClient {
        WebhookClient {
            tls: platform_tls(),
            insecure,
        }
    }

    /// `x-signature` = hex HMAC-SHA-256 keyed with the secret string, over the
    /// decimal timestamp followed by the raw body.
    pub fn signature(secret: &str, timestamp_ms: i64, body: &str) -> String {
        hmac_sha256_hex(
            secret.as_bytes(),
            &[timestamp_ms.to_string().as_bytes(), body.as_bytes()],
        )
    }

    pub async fn post(&self, p: &Post<'_>) -> Result<Sent, Failure> {
        match tokio::time::timeout(TIMEOUT, self.exchange(p)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::new(None, "timed out after 10 s")),
        }
    }

    async fn exchange(&self, p: &Post<'_>) -> Result<Sent, Failure> {
        let target = ssrf::parse(p.url, self.insecure)
            .map_err(|e| Failure::new(None, format!("refused: the URL {e}")))?;
        let addrs = ssrf::resolve(&target, self.insecure)
            .await
            .map_err(|e| Failure::new(None, format!("refused: the URL {e}")))?;
        let io = dial(self.tls.as_ref(), &target, &addrs).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| Failure::new(None, format!("HTTP handshake failed: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let signature = Self::signature(p.secret, p.timestamp_ms, p.body);
        let req = Request::post(target.path_and_query.as_str())
            .header(header::HOST, target.authority.as_str())
            .header(header::CONTENT_TYPE, p.content_type)
            .header(header::USER_AGENT, "Keygate-Webhooks/1")
            .header("x-timestamp", p.timestamp_ms.to_string())
            .header("x-signature", signature)
            .header("idempotency-key", p.event_id)
            .header("x-keygate-event-id", p.event_id)
            .header("x-keygate-event", p.event_name)
            .header("x-keygate-delivery-id", p.delivery_id)
            // The delivery's id: the same on every retry, and the request id
            // of Keygate's own log lines about this delivery.
            .header("x-request-id", p.delivery_id)
            .header(header::CONNECTION, "close")
            .body(Full::new(Bytes::copy_from_slice(p.body.as_bytes())))
            .map_err(|e| Failure::new(None, format!("could not build the request: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| Failure::new(None, format!("no HTTP response: {e}")))?;
        let status = resp.status();
        let code = Some(status.as_u16());
        if status.is_success() {
            Ok(Sent { status_code: code })
        } else if status.is_redirection() {
            Err(Failure::new(
                code,
                format!("HTTP {}: redirects are not followed", status.as_u16()),
            ))
        } else {
            Err(Failure::new(code, format!("HTTP {}", status.as_u16())))
        }
    }
}

pub(super) async fn connect(addrs: &[std::net::SocketAddr]) -> Result<TcpStream, Failure> {
    let mut last = String::from("no address to connect to");
    for a in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = format!("could not connect: {}", e.kind()),
            Err(_) => last = "connect timed out".into(),
        }
    }
    Err(Failure::new(None, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_then_body() {
        // Same as computing HMAC-SHA-256("whsec_test", "1700000000000{}") by hand.
        let by_parts = WebhookClient::signature("whsec_test", 1_700_000_000_000, "{}");
        let whole = hmac_sha256_hex(b"whsec_test", &[b"1700000000000{}"]);
        assert_eq!(by_parts, whole);
        assert_eq!(by_parts.len(), 64);
    }
}
