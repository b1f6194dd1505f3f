//! `serve --tls-cert FILE --tls-key FILE`: HTTPS served by Keygate itself
//! (rustls with the aws-lc-rs provider), HTTP/2 to clients that offer it in
//! ALPN and HTTP/1.1 to the others. The certificate is re-read when its
//! files change, as certbot's renewals do (new files renamed over the old
//! ones): at most once a second, a handshake compares the files' inode, size
//! and modification time with those loaded, and reloads when they differ. A
//! pair that does not load (a key that does not match its certificate, as
//! between the two renames) keeps the certificate in use and is tried again.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

/// How often, at most, the files are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The acceptor for `--tls-cert` and `--tls-key`; fails when they do not load.
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let resolver = Reloading::new(cert, key, provider.clone())?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    // HTTP/2 where the client offers it, else HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// What identifies a file's content without reading it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    Ok(Stamp {
        ino: m.ino(),
        len: m.len(),
        mtime: m.mtime(),
        mtime_nsec: m.mtime_nsec(),
    })
}

struct Loaded {
    stamps: (Stamp, Stamp),
    key: Arc<CertifiedKey>,
    checked: Instant,
}

/// A certificate resolver that reloads its files when they change.
pub struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<Loaded>,
}

impl fmt::Debug for Reloading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloading")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish()
    }
}

impl Reloading {
    fn new(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> anyhow::Result<Reloading> {
        let stamps = (
            stamp(cert).with_context(|| format!("reading {}", cert.display()))?,
            stamp(key).with_context(|| format!("reading {}", key.display()))?,
        );
        let loaded = load(cert, key, &provider)?;
        Ok(Reloading {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: Mutex::new(Loaded {
                stamps,
                key: Arc::new(loaded),
                checked: Instant::now(),
            }),
        })
    }

    /// The certificate to present, reloaded first when the files changed.
    fn current(&self) -> Option<Arc<CertifiedKey>> {
        let mut cur = self.current.lock().ok()?;
        if cur.checked.elapsed() >= CHECK_EVERY {
            cur.checked = Instant::now();
            if let (Ok(c), Ok(k)) = (stamp(&self.cert), stamp(&self.key))
                && (c, k) != cur.stamps
            {
                match load(&self.cert, &self.key, &self.provider) {
                    Ok(loaded) => {
                        cur.stamps = (c, k);
                        cur.key = Arc::new(loaded);
                        tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "TLS certificate files changed but do not load yet; keeping the one in use");
                    }
                }
            }
        }
        Some(cur.key.clone())
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let cert_pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not a PEM certificate chain", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{}: no certificate in it", cert.display());
    }
    let key_pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .with_context(|| format!("{}: not a PEM private key", key.display()))?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e: rustls::Error| {
        anyhow::anyhow!("{} and {}: {e}", cert.display(), key.display())
    })
}
