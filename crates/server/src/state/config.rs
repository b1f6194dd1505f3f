//! Settings: command-line flags, each also read from `KEYGATE_<FLAG>`, and an
//! optional TOML file (`--config`) that may set the same things and replace the
//! resource catalog. Flags and variables win over the file.
//!
//! The flags themselves are in `config/flags.rs`; here they and the file are
//! resolved into [`Settings`].

mod flags;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use keygate_core::Catalog;
use keygate_core::catalog::Resource;
use serde::Deserialize;

use crate::state::rate_limits::redis::RedisConfig;

pub use flags::{DataArgs, LogFormat, ServeArgs};

/// The `--config` file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    metrics_listen: Option<String>,
    upstream: Option<String>,
    upstream_timeout: Option<u64>,
    body_timeout: Option<u64>,
    body_min_rate: Option<u32>,
    token_ttl: Option<u64>,
    introspection_secret: Option<String>,
    redis_url: Option<String>,
    forward_authorization: Option<bool>,
    key_env: Option<String>,
    cache_reload_interval: Option<u64>,
    cache_max_stale: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    allow_insecure_webhooks: Option<bool>,
    allow_insecure_issuers: Option<bool>,
    public_url: Option<String>,
    session_idle_timeout: Option<u64>,
    usage_flush_interval: Option<u64>,
    unused_key_days: Option<u32>,
    github_scanning_keys: Option<PathBuf>,
    gitlab_revocation_token: Option<String>,
    lifecycle_interval: Option<u64>,
    audit_queue_capacity: Option<usize>,
    resource: Option<Vec<Resource>>,
}

/// Everything `serve` runs with, resolved.
#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// `--metrics-listen`: where Prometheus scrapes; `None`, no metrics.
    pub metrics_listen: Option<SocketAddr>,
    pub upstream: Option<String>,
    pub upstream_timeout: Duration,
    /// `--body-timeout` and `--body-min-rate`: how slowly a request body may come.
    pub body: BodyRules,
    pub token_ttl_secs: i64,
    /// The SHA-256 of `--introspection-secret`, what a caller's password is
    /// compared with (the secret itself is not kept).
    pub introspection_secret: Option<keygate_core::crypto::Digest>,
    /// Where rate-limit counts are settled across instances (password inside:
    /// log only its address).
    pub redis: Option<RedisConfig>,
    pub forward_authorization: bool,
    pub key_env: String,
    pub catalog: Catalog,
    pub session_ttl_ms: i64,
    pub session_idle_ms: i64,
    pub cache_reload_interval: Duration,
    pub cache_max_stale: Duration,
    pub trusted_proxies: keygate_core::network::TrustedProxies,
    pub notify: NotifySettings,
    /// How often the usage recorder is written to the store (1–10 s).
    pub usage_flush_interval: Duration,
    /// Days without use after which `*.unused` is sent.
    pub unused_key_days: u32,
    /// `--github-scanning-keys`: GitHub's secret-scanning public keys.
    pub github_scanning_keys: Option<PathBuf>,
    /// `--gitlab-revocation-token`: a secret, never logged.
    pub gitlab_revocation_token: Option<String>,
    /// How often the key lifecycle sweeper runs.
    pub lifecycle_interval: Duration,
    /// Audit events held while the database cannot take them.
    pub audit_queue_capacity: usize,
    /// `--allow-insecure-issuers`: http:// and loopback or private OpenID
    /// Connect issuers are accepted: single sign-on's issuers, and keys'
    /// federation rules, whose documents may then be fetched from loopback or
    /// private addresses (tests, demo).
    pub allow_insecure_issuers: bool,
}

/// How notifications go out.
#[derive(Clone)]
pub struct NotifySettings {
    /// Contains credentials: never log it.
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// Where mails go without an SMTP server.
    pub mail_dir: PathBuf,
    pub allow_insecure_webhooks: bool,
    pub retry_base_ms: u64,
    /// The base of mailed links, without a trailing `/`. Empty until `serve`
    /// has bound its address, when it is not given.
    pub public_url: String,
}

impl ServeArgs {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("in {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let catalog = match file.resource {
            Some(resources) => Catalog::new(resources).context("in the config file's catalog")?,
            None => Catalog::default_catalog(),
        };
        let key_env = self
            .key_env
            .clone()
            .or(file.key_env)
            .unwrap_or_else(|| "live".into());
        if key_env.is_empty()
            || key_env.len() > 8
            || !key_env.bytes().all(|b| b.is_ascii_lowercase())
        {
            anyhow::bail!("key_env must be 1-8 lowercase letters");
        }
        let token_ttl = self.token_ttl.or(file.token_ttl).unwrap_or(30 * 60);
        if !(1..=86_400).contains(&token_ttl) {
            anyhow::bail!("token_ttl must be between 1 and 86400 seconds");
        }
        let cache_reload_interval = self
            .cache_reload_interval
            .or(file.cache_reload_interval)
            .unwrap_or(60);
        let cache_max_stale = self.cache_max_stale.or(file.cache_max_stale).unwrap_or(300);
        if cache_reload_interval == 0 || cache_max_stale <= cache_reload_interval {
            anyhow::bail!(
                "cache_reload_interval must be at least 1 second and below cache_max_stale"
            );
        }
        let usage_flush_interval = self
            .usage_flush_interval
            .or(file.usage_flush_interval)
            .unwrap_or(5);
        if !(1..=10).contains(&usage_flush_interval) {
            anyhow::bail!("usage_flush_interval must be between 1 and 10 seconds");
        }
        let unused_key_days = self.unused_key_days.or(file.unused_key_days).unwrap_or(90);
        if !(1..=3650).contains(&unused_key_days) {
            anyhow::bail!("unused_key_days must be between 1 and 3650");
        }
        let lifecycle_interval = self
            .lifecycle_interval
            .or(file.lifecycle_interval)
            .unwrap_or(10);
        if !(1..=3600).contains(&lifecycle_interval) {
            anyhow::bail!("lifecycle_interval must be between 1 and 3600 seconds");
        }
        let body_timeout = self.body_timeout.or(file.body_timeout).unwrap_or(30);
        if !(1..=3600).contains(&body_timeout) {
            anyhow::bail!("body_timeout must be between 1 and 3600 seconds");
        }
        let body = BodyRules {
            timeout: Duration::from_secs(body_timeout),
            min_rate: self
                .body_min_rate
                .or(file.body_min_rate)
                .unwrap_or(BodyRules::default().min_rate),
            ..BodyRules::default()
        };
        let audit_queue_capacity = self
            .audit_queue_capacity
            .or(file.audit_queue_capacity)
            .unwrap_or(10_000);
        if !(100..=10_000_000).contains(&audit_queue_capacity) {
            anyhow::bail!("audit_queue_capacity must be between 100 and 10000000");
        }
        Ok(Settings {
            body,
            lifecycle_interval: Duration::from_secs(lifecycle_interval),
            audit_queue_capacity,
            allow_insecure_issuers: self.allow_insecure_issuers
                || file.allow_insecure_issuers.unwrap_or(false),
            listen: match self.listen.clone().or(file.listen) {
                Some(given) => listen_addr("--listen", &given)?,
                None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            },
            metrics_listen: match self.metrics_listen.clone().or(file.metrics_listen) {
                Some(given) => Some(listen_addr("--metrics-listen", &given)?),
                None => None,
            },
            upstream: self.upstream.clone().or(file.upstream),
            upstream_timeout: Duration::from_secs(
                self.upstream_timeout
                    .or(file.upstream_timeout)
                    .unwrap_or(30),
            ),
            token_ttl_secs: token_ttl as i64,
            introspection_secret: self
                .introspection_secret
                .clone()
                .or(file.introspection_secret)
                .map(|s| keygate_core::crypto::sha256(s.as_bytes())),
            redis: match self.redis_url.clone().or(file.redis_url) {
                Some(url) => Some(RedisConfig::parse(&url).map_err(anyhow::Error::msg)?),
                None => None,
            },
            forward_authorization: self.forward_authorization
                || file.forward_authorization.unwrap_or(false),
            key_env,
            catalog,
            session_ttl_ms: 12 * 60 * 60 * 1000,
            session_idle_ms: session_idle_ms(
                self.session_idle_timeout.or(file.session_idle_timeout),
            )?,
            cache_reload_interval: Duration::from_secs(cache_reload_interval),
            cache_max_stale: Duration::from_secs(cache_max_stale),
            trusted_proxies: keygate_core::network::TrustedProxies::new(
                if self.trusted_proxies.is_empty() {
                    file.trusted_proxies
                        .unwrap_or_default()
                        .iter()
                        .map(|raw| {
                            keygate_core::network::Cidr::parse(raw).map_err(|e| {
                                anyhow::anyhow!("trusted_proxies in the config file: {e}")
                            })
                        })
                        .collect::<anyhow::Result<_>>()?
                } else {
                    self.trusted_proxies.clone()
                },
            ),
            usage_flush_interval: Duration::from_secs(usage_flush_interval),
            unused_key_days,
            notify: NotifySettings {
                smtp_url: self.smtp_url.clone().or(file.smtp_url),
                mail_from: self
                    .mail_from
                    .clone()
                    .or(file.mail_from)
                    .unwrap_or_else(|| "Keygate <keygate@localhost>".into()),
                mail_dir: self.data.data_dir.join("mail"),
                allow_insecure_webhooks: self.allow_insecure_webhooks
                    || file.allow_insecure_webhooks.unwrap_or(false),
                retry_base_ms: self.retry_base_ms.unwrap_or(4000).clamp(10, 60_000),
                public_url: public_url(self.public_url.clone().or(file.public_url))?,
            },
            github_scanning_keys: self
                .github_scanning_keys
                .clone()
                .or(file.github_scanning_keys),
            gitlab_revocation_token: match self
                .gitlab_revocation_token
                .clone()
                .or(file.gitlab_revocation_token)
            {
                Some(t) if t.trim().len() < 16 => {
                    anyhow::bail!("gitlab_revocation_token must be at least 16 characters")
                }
                t => t.map(|t| t.trim().to_owned()),
            },
        })
    }
}

/// `--listen`: an address, or a host name and port (`localhost:8080`), resolved
/// once at start-up; the first address is bound.
fn listen_addr(flag: &str, given: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    let first = given
        .trim()
        .to_socket_addrs()
        .with_context(|| format!("{flag} {given}: use host:port, e.g. 127.0.0.1:8080"))?
        .next();
    first.with_context(|| format!("{flag} {given}: the host name has no address"))
}

/// `--public-url`, checked: an http(s) URL, kept without a trailing `/`.
fn public_url(given: Option<String>) -> anyhow::Result<String> {
    let Some(u) = given else {
        return Ok(String::new());
    };
    let u = u.trim().trim_end_matches('/').to_owned();
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains(char::is_whitespace) => Ok(u),
        _ => anyhow::bail!(
            "--public-url must be an http:// or https:// URL, e.g. https://keygate.example.com"
        ),
    }
}

/// `--session-idle-timeout` in milliseconds: 1 s to 12 h, default 2 h.
fn session_idle_ms(secs: Option<u64>) -> anyhow::Result<i64> {
    let secs = secs.unwrap_or(7200);
    if !(1..=43_200).contains(&secs) {
        anyhow::bail!("session_idle_timeout must be between 1 and 43200 seconds");
    }
    Ok(secs as i64 * 1000)
}

/// How long a body may be waited on before the minimum rate applies: room for
/// a lost packet or two at the start, as a slow mobile link has.
pub const RATE_GRACE: Duration = Duration::from_secs(5);

/// `--body-timeout` and `--body-min-rate`.
#[derive(Clone, Copy, Debug)]
pub struct BodyRules {
    /// The whole body must be in this long after the request head.
    pub timeout: Duration,
    /// Bytes per second, averaged over the time spent waiting for the client
    /// after `grace`; 0 turns the rate off (the deadline stays).
    pub min_rate: u32,
    /// [`RATE_GRACE`]; shorter only in unit tests.
    pub grace: Duration,
}

impl Default for BodyRules {
    fn default() -> BodyRules {
        BodyRules {
            timeout: Duration::from_secs(30),
            min_rate: 1024,
            grace: RATE_GRACE,
        }
    }
}
