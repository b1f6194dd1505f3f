//! One GET of a small public JSON document: an outside OIDC issuer's
//! discovery document and its JWKS (workload identity federation). The same
//! care as a webhook: https only (unless `insecure`), every address the host
//! resolves to checked against the SSRF rules and then connected to directly,
//! no redirects, a deadline, and a cap on the size of the answer.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{Request, StatusCode, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

use super::ssrf;
use super::webhook::connect;

/// The whole read, connect to the last byte.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Discovery documents and JWKS are a few KiB.
const MAX_BODY: usize = 256 * 1024;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The TLS client, made once: the platform's trust store is read on first use.
fn tls() -> Option<&'static TlsConnector> {
    static TLS: OnceLock<Option<TlsConnector>> = OnceLock::new();
    TLS.get_or_init(|| {
        use rustls_platform_verifier::ConfigVerifierExt;
        match ClientConfig::with_platform_verifier() {
            Ok(c) => Some(TlsConnector::from(Arc::new(c))),
            Err(e) => {
                tracing::error!(error = %e, "no TLS trust store: https issuers cannot be read");
                None
            }
        }
    })
    .as_ref()
}

/// The body of a 200 answer to `GET url` (`Accept: application/json`). The
/// error says why, for the log; it may name the URL, never a secret.
pub async fn get_json(url: &str, insecure: bool) -> Result<Bytes, String> {
    match tokio::time::timeout(TIMEOUT, get(url, insecure)).await {
        Ok(r) => r,
        Err(_) => Err("timed out after 10 s".into()),
    }
}

async fn get(url: &str, insecure: bool) -> Result<Bytes, String> {
    let target = ssrf::parse(url, insecure).map_err(|e| format!("the URL {e}"))?;
    let addrs = ssrf::resolve(&target, insecure)
        .await
        .map_err(|e| format!("the URL {e}"))?;
    let tcp = connect(&addrs).await.map_err(|f| f.error)?;
    let io: Box<dyn Io> = if target.https {
        let tls = tls().ok_or("TLS is not available")?;
        let name = ServerName::try_from(target.host.clone())
            .map_err(|_| "the host is not a valid TLS server name")?;
        Box::new(
            tls.connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?,
        )
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = Request::get(target.path_and_query.as_str())
        .header(header::HOST, target.authority.as_str())
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "Keygate-Federation/1")
        .header(header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("could not build the request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("no HTTP response: {e}"))?;
    if resp.status() != StatusCode::OK {
        return Err(format!(
            "HTTP {} (redirects are not followed)",
            resp.status().as_u16()
        ));
    }
    Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|_| format!("the answer is not readable or larger than {MAX_BODY} bytes"))
}
