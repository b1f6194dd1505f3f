//! `serve --tls-cert --tls-key`: HTTPS served by Keygate itself, checked by a
//! real TLS client (rustls) that trusts only a test CA made here with the
//! `openssl` command; `__Host-` cookies over it; a certificate renewed the way
//! certbot does it (new files renamed over the old ones) is presented to new
//! connections while the server runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::helpers::*;

fn openssl(args: &[&str], dir: &Path) {
    let out = match std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("the openssl command is needed for the TLS tests: {e}"),
    };
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA in `dir`: ca.crt and ca.key.
fn make_ca(dir: &Path) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=Keygate test CA",
        ],
        dir,
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
}

/// A certificate for localhost signed by the test CA: `<name>.crt`, `<name>.key`.
fn make_leaf(dir: &Path, name: &str, serial: u32) -> (PathBuf, PathBuf) {
    let (crt, key, csr) = (
        format!("{name}.crt"),
        format!("{name}.key"),
        format!("{name}.csr"),
    );
    openssl(
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
        ],
        dir,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &serial.to_string(),
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            &crt,
        ],
        dir,
    );
    (dir.join(crt), dir.join(key))
}

fn der(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).unwrap()
}

fn connector(dir: &Path) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(der(&dir.join("ca.crt"))).unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Each connection a full handshake, as a new client's: a resumed session
    // shows the certificate of the session it resumes.
    config.resumption = Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

/// One HTTPS request to `base` (`https://127.0.0.1:port`), verified against the
/// test CA for the name `localhost`: the certificate presented and the whole
/// answer as text.
async fn https_get(
    tls: &TlsConnector,
    base: &str,
    path: &str,
) -> Result<(CertificateDer<'static>, String), String> {
    let addr = base.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut s = tls.connect(name, tcp).await.map_err(|e| e.to_string())?;
    let cert = s.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    Ok((cert, String::from_utf8_lossy(&out).into_owned()))
}

#[tokio::test]
async fn serve_answers_https_sets_host_cookies_and_reloads_a_renewed_certificate() {
    let certs = temp_dir();
    make_ca(&certs);
    let (crt, key) = make_leaf(&certs, "server", 1001);
    let app = spawn_app_with(
        &[
            "--tls-cert",
            crt.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(app.base.starts_with("https://"), "{}", app.base);
    let tls = connector(&certs);
    let (first, answer) = https_get(&tls, &app.base, "/healthz").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(first, der(&crt));
    // Plain HTTP on the TLS port gets no answer of the app.
    let plain = reqwest::Client::new()
        .get(app.base.replace("https://", "http://") + "/healthz")
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");

    // Over TLS the app's cookies are __Host-, Secure, Path=/, no Domain.
    let (_, page) = https_get(&tls, &app.base, "/app/sign-in").await.unwrap();
    let cookie = page
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {page}"));
    let value = cookie.split_once(':').unwrap().1.trim();
    assert!(value.starts_with("__Host-"), "{cookie}");
    let attrs = value.to_ascii_lowercase();
    assert!(
        attrs.contains("; secure") && attrs.contains("; path=/"),
        "{cookie}"
    );
    assert!(!attrs.contains("domain="), "{cookie}");

    // Renewed as certbot does: new files renamed over the old, key first.
    let (crt2, key2) = make_leaf(&certs, "renewed", 2002);
    let renewed = der(&crt2);
    std::fs::rename(&key2, &key).unwrap();
    std::fs::rename(&crt2, &crt).unwrap();
    // The files are looked at once a second by a handshake (real time: the
    // server's test clock does not move file times).
    let answer = eventually(
        "the renewed certificate presented",
        Duration::from_secs(10),
        async || match https_get(&tls, &app.base, "/healthz").await {
            Ok((cert, answer)) if cert == renewed => Ok(answer),
            Ok(_) => Err("the old certificate".to_owned()),
            Err(e) => Err(e),
        },
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(app.wait_for_log("TLS certificate reloaded", 5).await);
    let _ = std::fs::remove_dir_all(&certs);
}

#[test]
fn serve_refuses_a_key_that_is_not_the_certificates() {
    let certs = temp_dir();
    make_ca(&certs);
    let (crt, _) = make_leaf(&certs, "a", 1);
    let (_, other_key) = make_leaf(&certs, "b", 2);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&crt)
        .arg("--tls-key")
        .arg(&other_key)
        .arg("--data-dir")
        .arg(certs.join("data"))
        .env_remove("KEYGATE_DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a.crt"), "{err}");
    let _ = std::fs::remove_dir_all(&certs);
}

/// A client that offers `h2` in ALPN speaks HTTP/2 with Keygate, and gets
/// the same answers (a JSON 404 with its headers, the health check).
#[tokio::test]
async fn a_client_offering_h2_gets_http2() {
    use http_body_util::{BodyExt, Empty};
    let certs = temp_dir();
    make_ca(&certs);
    let (crt, key) = make_leaf(&certs, "server", 7);
    let app = spawn_app_with(
        &[
            "--tls-cert",
            crt.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    let mut roots = RootCertStore::empty();
    roots.add(der(&certs.join("ca.crt"))).unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(app.base.trim_start_matches("https://"))
        .await
        .unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for (path, want) in [("/healthz", 200), ("/nowhere", 404)] {
        let req = hyper::Request::get(format!("https://localhost{path}"))
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.version(), hyper::Version::HTTP_2);
        assert_eq!(resp.status(), want, "{path}");
        assert!(resp.headers().contains_key("x-request-id"), "{path}");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        if want == 404 {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["code"], "not_found", "{v}");
        }
    }
    let _ = std::fs::remove_dir_all(&certs);
}
