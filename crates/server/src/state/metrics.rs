//! Prometheus metrics: what is counted, and its text exposition for the
//! separate metrics listener (`serve --metrics-listen`, see `cmd/serve.rs`).
//!
//! Built on `prometheus-client` (the Prometheus project's Rust client: an
//! explicit registry, no global recorder, three small dependencies). Every
//! labelled series is registered once, when the process starts, and its
//! handle (an `Arc` around atomics) kept in an array indexed by the label's
//! enum: recording on the hot path is one or two relaxed atomic adds, with no
//! lock, no map lookup and no allocation. Request durations use
//! [`DurationHistogram`], a fixed-bucket histogram on atomics, for the same
//! reason (the crate's own histogram takes a mutex per observation). With no
//! `--metrics-listen`, nothing is recorded at all (one branch per call).
//!
//! Gauges that describe state (cache, outbox, pools) are read when scraped.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

use keygate_store::{OutboxStats, PoolStats};

/// The `Content-Type` of [`Metrics::render`]'s text (OpenMetrics 1.0, which
/// Prometheus scrapes natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the request-duration buckets: 100 µs to 10 s.
const BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

type Label1 = [(&'static str, &'static str); 1];
type Label2 = [(&'static str, &'static str); 2];

/// What became of one key login (`POST /api/v1/authentication/login`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Success,
    /// Bad client id or key (the one 401).
    Unauthorized,
    /// `login_as_not_allowed`.
    LoginAsRefused,
    RateLimited,
    /// The credential cache could not be trusted (503).
    Unavailable,
    Error,
}

const LOGINS: [&str; 6] = [
    "success",
    "unauthorized",
    "login_as_refused",
    "rate_limited",
    "unavailable",
    "error",
];

impl Login {
    /// By the status of the login's answer.
    pub fn of_status(status: u16) -> Login {
        match status {
            200..=299 => Login::Success,
            401 => Login::Unauthorized,
            403 => Login::LoginAsRefused,
            429 => Login::RateLimited,
            503 => Login::Unavailable,
            _ => Login::Error,
        }
    }
}

/// Where a token was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The built-in reverse proxy, `/api/**`.
    Gateway,
    /// `/auth/verify` and `/auth/nginx`.
    Nginx,
    /// `/auth/traefik`.
    Traefik,
    /// `/auth/envoy/**`.
    Envoy,
    /// `POST /oauth/introspect`.
    Introspection,
}

const SURFACES: [&str; 5] = [
    "gateway",
    "forward_auth_nginx",
    "forward_auth_traefik",
    "forward_auth_envoy",
    "introspection",
];

/// What became of one token check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Allowed (introspection: the token is active).
    Allowed,
    /// No, a bad or expired token, or a revoked key (introspection: inactive).
    Unauthenticated,
    /// The token's scope does not allow the request (introspection: the
    /// caller's own Basic credentials were refused, or introspection is off).
    Forbidden,
    /// Over the key's request limit (429).
    RateLimited,
    /// The request itself was malformed: a missing header, a bad method or path.
    Invalid,
    /// The credential cache could not be trusted (503).
    Unavailable,
    Error,
}

const CHECKS: [&str; 7] = [
    "allowed",
    "unauthenticated",
    "forbidden",
    "rate_limited",
    "invalid",
    "unavailable",
    "error",
];

/// Introspection names the same outcomes after RFC 7662.
const INTROSPECTION_CHECKS: [&str; 7] = [
    "active",
    "inactive",
    "caller_refused",
    "rate_limited",
    "invalid",
    "unavailable",
    "error",
];

impl Check {
    /// By the status of Keygate's own answer (forward-auth answers, and the
    /// gateway's refusals; a proxied answer is the upstream's and counts as
    /// allowed, see `gateway::proxy`).
    pub fn of_status(status: u16) -> Check {
        match status {
            200..=399 => Check::Allowed,
            401 => Check::Unauthenticated,
            403 => Check::Forbidden,
            429 => Check::RateLimited,
            503 => Check::Unavailable,
            400..=499 => Check::Invalid,
            _ => Check::Error,
        }
    }
}

/// Which requests a duration is filed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Login,
    Gateway,
    ForwardAuth,
    Introspection,
    /// The management API, `/dev/v1/**`.
    Management,
    /// The Developer app, `/app/**`.
    App,
    /// `/docs`, `/openapi.json`.
    Docs,
    /// `/healthz`, `/readyz`, `/.well-known/**`.
    Health,
    Other,
}

const GROUPS: [&str; 9] = [
    "login",
    "gateway",
    "forward_auth",
    "introspection",
    "management",
    "app",
    "docs",
    "health",
    "other",
];

impl Group {
    pub fn of_path(path: &str) -> Group {
        if let Some(rest) = path.strip_prefix("/api/") {
            if rest == "v1/authentication/login" {
                Group::Login
            } else {
                Group::Gateway
            }
        } else if path.starts_with("/auth/") {
            Group::ForwardAuth
        } else if path.starts_with("/dev/") {
            Group::Management
        } else if path == "/app" || path.starts_with("/app/") {
            Group::App
        } else if path == "/oauth/introspect" {
            Group::Introspection
        } else if path.starts_with("/docs") || path == "/openapi.json" {
            Group::Docs
        } else if path == "/healthz" || path == "/readyz" || path.starts_with("/.well-known/") {
            Group::Health
        } else {
            Group::Other
        }
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A key's own request limit (gateway and forward-auth).
    Key,
    /// The limits on failed attempts: key logins, sign-ins, password
    /// confirmations, two-factor codes.
    FailedAttempts,
}

const LIMITS: [&str; 2] = ["key", "failed_attempts"];

/// How a notification delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Failed; tried again later.
    Retry,
    /// Failed for the last time.
    GaveUp,
}

const DELIVERIES: [&str; 3] = ["delivered", "retry", "gave_up"];

/// Why a queued audit event (a failed login) was dropped unwritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditDrop {
    /// The queue held `--audit-queue-capacity` events the database had not
    /// taken yet.
    QueueFull,
    /// The database still refused them when the process stopped.
    Shutdown,
}

const AUDIT_DROPS: [&str; 2] = ["queue_full", "shutdown"];

/// The handles of `keygate_audit_events_dropped_total`, for the audit queue
/// (`audit.rs`), which is made before `App` holds the [`Metrics`].
#[derive(Clone)]
pub struct AuditDrops {
    enabled: bool,
    counters: Vec<Counter>,
}

impl AuditDrops {
    pub fn add(&self, reason: AuditDrop, events: u64) {
        if self.enabled {
            self.counters[reason as usize].inc_by(events);
        }
    }
}
const CHANNELS: [&str; 2] = ["webhook", "email"];
const POOLS: [&str; 3] = ["read", "write", "main"];

pub struct Metrics {
    enabled: bool,
    registry: Registry,
    logins: Vec<Counter>,
    /// `[surface * CHECKS.len() + check]`.
    checks: Vec<Counter>,
    durations: Vec<DurationHistogram>,
    rate_limited: Vec<Counter>,
    /// `[channel * DELIVERIES.len() + outcome]`; channel 0 webhook, 1 email.
    deliveries: Vec<Counter>,
    audit_drops: AuditDrops,
    cache_keys: Gauge,
    cache_age: Gauge<f64, AtomicU64>,
    cache_feed_lag: Gauge<f64, AtomicU64>,
    cache_trusted: Gauge,
    outbox_pending: Family<Label1, Gauge>,
    outbox_oldest: Family<Label1, Gauge<f64, AtomicU64>>,
    store_up: Gauge,
    pool_open: Family<Label1, Gauge>,
    pool_idle: Family<Label1, Gauge>,
    pool_max: Family<Label1, Gauge>,
}

impl Metrics {
    /// Registers every series. With `enabled` false, recording does nothing.
    pub fn new(enabled: bool) -> Metrics {
        let mut r = Registry::with_prefix("keygate");

        let info = Family::<Label1, Gauge>::default();
        info.get_or_create(&[("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        r.register("build_info", "Keygate's version (always 1)", info);

        let family = Family::<Label1, Counter>::default();
        let logins = LOGINS
            .iter()
            .map(|o| family.get_or_create(&[("outcome", *o)]).clone())
            .collect();
        r.register(
            "logins",
            "Key logins (POST /api/v1/authentication/login) by outcome",
            family,
        );

        let family = Family::<Label2, Counter>::default();
        let mut checks = Vec::with_capacity(SURFACES.len() * CHECKS.len());
        for (s, surface) in SURFACES.iter().enumerate() {
            let names = if s == Surface::Introspection as usize {
                &INTROSPECTION_CHECKS
            } else {
                &CHECKS
            };
            for outcome in names {
                checks.push(
                    family
                        .get_or_create(&[("surface", *surface), ("outcome", *outcome)])
                        .clone(),
                );
            }
        }
        r.register(
            "token_checks",
            "Token checks by surface (gateway, forward_auth_<proxy>, introspection) and outcome",
            family,
        );

        let family = Family::<Label1, DurationHistogram>::default();
        let durations = GROUPS
            .iter()
            .map(|g| family.get_or_create(&[("group", *g)]).clone())
            .collect();
        r.register_with_unit(
            "http_request_duration",
            "Time to the answer's head, by route group",
            Unit::Seconds,
            family,
        );

        let family = Family::<Label1, Counter>::default();
        let rate_limited = LIMITS
            .iter()
            .map(|l| family.get_or_create(&[("limit", *l)]).clone())
            .collect();
        r.register(
            "rate_limit_refusals",
            "Requests refused with 429, by the limit that refused them",
            family,
        );

        let family = Family::<Label2, Counter>::default();
        let mut deliveries = Vec::with_capacity(CHANNELS.len() * DELIVERIES.len());
        for channel in CHANNELS {
            for outcome in DELIVERIES {
                deliveries.push(
                    family
                        .get_or_create(&[("channel", channel), ("outcome", outcome)])
                        .clone(),
                );
            }
        }
        r.register(
            "notification_attempts",
            "Delivery attempts of webhooks and mail, by channel and outcome",
            family,
        );

        let family = Family::<Label1, Counter>::default();
        let audit_drops = AuditDrops {
            enabled,
            counters: AUDIT_DROPS
                .iter()
                .map(|d| family.get_or_create(&[("reason", *d)]).clone())
                .collect(),
        };
        r.register(
            "audit_events_dropped",
            "Audit events of failed logins dropped unwritten: the queue was full while the database refused writes, or they were still refused at shutdown",
            family,
        );

        let cache_keys = Gauge::default();
        r.register(
            "credential_cache_keys",
            "Keys in the credential cache",
            cache_keys.clone(),
        );
        let cache_age = Gauge::<f64, AtomicU64>::default();
        r.register_with_unit(
            "credential_cache_age",
            "Time since the credential cache was last read whole from the database",
            Unit::Seconds,
            cache_age.clone(),
        );
        let cache_feed_lag = Gauge::<f64, AtomicU64>::default();
        r.register_with_unit(
            "credential_cache_feed_lag",
            "With several instances: time since the change feed last confirmed the cache current (0 on SQLite)",
            Unit::Seconds,
            cache_feed_lag.clone(),
        );
        let cache_trusted = Gauge::default();
        r.register(
            "credential_cache_trusted",
            "1 when the cache may answer logins and token checks (as /readyz), else 0",
            cache_trusted.clone(),
        );

        let outbox_pending = Family::<Label1, Gauge>::default();
        let outbox_oldest = Family::<Label1, Gauge<f64, AtomicU64>>::default();
        for channel in CHANNELS {
            let _ = outbox_pending.get_or_create(&[("channel", channel)]);
            let _ = outbox_oldest.get_or_create(&[("channel", channel)]);
        }
        r.register(
            "outbox_pending",
            "Notification deliveries waiting to be sent, by channel",
            outbox_pending.clone(),
        );
        r.register_with_unit(
            "outbox_oldest_pending_age",
            "Age of the oldest waiting delivery, by channel (0 when none)",
            Unit::Seconds,
            outbox_oldest.clone(),
        );
        let store_up = Gauge::default();
        r.register(
            "store_up",
            "1 when the database answered the scrape's outbox query, else 0",
            store_up.clone(),
        );

        let pool_open = Family::<Label1, Gauge>::default();
        let pool_idle = Family::<Label1, Gauge>::default();
        let pool_max = Family::<Label1, Gauge>::default();
        r.register(
            "db_pool_connections",
            "Open database connections (in use or idle), by pool",
            pool_open.clone(),
        );
        r.register(
            "db_pool_idle_connections",
            "Idle database connections, by pool",
            pool_idle.clone(),
        );
        r.register(
            "db_pool_max_connections",
            "The most connections a pool opens",
            pool_max.clone(),
        );

        Metrics {
            enabled,
            registry: r,
            logins,
            checks,
            durations,
            rate_limited,
            deliveries,
            audit_drops,
            cache_keys,
            cache_age,
            cache_feed_lag,
            cache_trusted,
            outbox_pending,
            outbox_oldest,
            store_up,
            pool_open,
            pool_idle,
            pool_max,
        }
    }

    /// Whether anything is recorded (`--metrics-listen` given).
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    #[inline]
    pub fn login(&self, outcome: Login) {
        if self.enabled {
            self.logins[outcome as usize].inc();
        }
    }

    /// One token check. A 429 also counts as a refusal by the key's limit
    /// ([`Metrics::rate_limited`]): do not count it there again.
    #[inline]
    pub fn token_check(&self, surface: Surface, outcome: Check) {
        if self.enabled {
            self.checks[surface as usize * CHECKS.len() + outcome as usize].inc();
            if outcome == Check::RateLimited {
                self.rate_limited[Limit::Key as usize].inc();
            }
        }
    }

    /// A request refused by a limit (429). The HTTP layer counts the 429s of
    /// the login, the management API and the app as `failed_attempts`, and
    /// [`Metrics::token_check`] those of the gateway and forward-auth as
    /// `key`; other refusals call this.
    #[inline]
    pub fn rate_limited(&self, limit: Limit) {
        if self.enabled {
            self.rate_limited[limit as usize].inc();
        }
    }

    /// A request answered, filed by its path's group; a 429 outside the token
    /// checks counts as a refusal by a failed-attempt limit.
    #[inline]
    pub fn request(&self, group: Group, status: u16, took: Duration) {
        if self.enabled {
            self.durations[group as usize].observe(took);
            if status == 429
                && !matches!(
                    group,
                    Group::Gateway | Group::ForwardAuth | Group::Introspection
                )
            {
                self.rate_limited[Limit::FailedAttempts as usize].inc();
            }
        }
    }

    /// One notification attempt; `webhook` false for mail.
    pub fn delivery(&self, webhook: bool, outcome: Delivery) {
        if self.enabled {
            let channel = if webhook { 0 } else { 1 };
            self.deliveries[channel * DELIVERIES.len() + outcome as usize].inc();
        }
    }

    /// What the audit queue counts its drops with.
    pub fn audit_drops(&self) -> AuditDrops {
        self.audit_drops.clone()
    }

    /// Renders every series in the OpenMetrics text format, the gauges set
    /// from `seen` (read by `service::health::metrics_text`).
    pub fn render(&self, seen: &Observed) -> String {
        self.set_gauges(seen);
        let mut out = String::with_capacity(8 * 1024);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "could not render the metrics");
        }
        out
    }

    fn set_gauges(&self, seen: &Observed) {
        let now = seen.now_ms;
        self.cache_keys
            .set(i64::try_from(seen.cache_keys).unwrap_or(i64::MAX));
        self.cache_age.set(secs_since(now, seen.cache_loaded_at));
        self.cache_feed_lag
            .set(seen.feed_as_of.map_or(0.0, |t| secs_since(now, t)));
        self.cache_trusted.set(i64::from(seen.cache_trusted));
        match &seen.outbox {
            Some(stats) => {
                self.store_up.set(1);
                for channel in CHANNELS {
                    let s = stats.iter().find(|s| s.channel == channel);
                    let label = [("channel", channel)];
                    self.outbox_pending
                        .get_or_create(&label)
                        .set(s.map_or(0, |s| i64::try_from(s.pending).unwrap_or(i64::MAX)));
                    self.outbox_oldest.get_or_create(&label).set(
                        s.and_then(|s| s.oldest_created_at)
                            .map_or(0.0, |t| secs_since(now, t)),
                    );
                }
            }
            None => {
                self.store_up.set(0);
            }
        }
        for p in &seen.pools {
            let Some(name) = POOLS.iter().find(|n| **n == p.pool) else {
                continue;
            };
            let label = [("pool", *name)];
            self.pool_open.get_or_create(&label).set(i64::from(p.open));
            self.pool_idle.get_or_create(&label).set(i64::from(p.idle));
            self.pool_max.get_or_create(&label).set(i64::from(p.max));
        }
    }
}

/// The state the gauges show, read at each scrape.
pub struct Observed {
    pub now_ms: i64,
    pub cache_keys: usize,
    /// Unix ms of the cache's last full read.
    pub cache_loaded_at: i64,
    /// Unix ms the change feed last confirmed; `None` without a feed.
    pub feed_as_of: Option<i64>,
    /// As `/readyz` judges the cache.
    pub cache_trusted: bool,
    /// `None` when the database did not answer.
    pub outbox: Option<Vec<OutboxStats>>,
    pub pools: Vec<PoolStats>,
}

fn secs_since(now_ms: i64, then_ms: i64) -> f64 {
    (now_ms.saturating_sub(then_ms).max(0)) as f64 / 1000.0
}

/// A histogram of durations with fixed buckets ([`BUCKETS`]) on atomics:
/// an observation is two relaxed atomic adds.
#[derive(Clone, Default, Debug)]
pub struct DurationHistogram(Arc<HistogramInner>);

#[derive(Default, Debug)]
struct HistogramInner {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl DurationHistogram {
    #[inline]
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.0.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.0.sum_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        let mut buckets = [(0.0, 0u64); BUCKETS.len() + 1];
        let mut count = 0;
        for (i, b) in buckets.iter_mut().enumerate() {
            let n = self.0.buckets[i].load(Ordering::Relaxed);
            *b = (BUCKETS.get(i).copied().unwrap_or(f64::INFINITY), n);
            count += n;
        }
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_of_paths() {
        for (path, group) in [
            ("/api/v1/authentication/login", Group::Login),
            ("/api/v1/balances/current", Group::Gateway),
            ("/auth/verify", Group::ForwardAuth),
            ("/auth/envoy/api/x", Group::ForwardAuth),
            ("/oauth/introspect", Group::Introspection),
            ("/dev/v1/me", Group::Management),
            ("/app", Group::App),
            ("/app/keys", Group::App),
            ("/application", Group::Other),
            ("/docs/", Group::Docs),
            ("/openapi.json", Group::Docs),
            ("/readyz", Group::Health),
            ("/.well-known/jwks.json", Group::Health),
            ("/metrics", Group::Other),
        ] {
            assert_eq!(Group::of_path(path), group, "{path}");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        let m = Metrics::new(true);
        m.request(Group::Login, 201, Duration::from_micros(50));
        m.request(Group::Login, 201, Duration::from_millis(3));
        m.request(Group::Login, 201, Duration::from_secs(60));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
        assert!(
            out.contains(r#"keygate_http_request_duration_seconds_count{group="login"} 3"#),
            "{out}"
        );
        assert!(
            out.contains(
                r#"keygate_http_request_duration_seconds_bucket{le="0.0001",group="login"} 1"#
            ),
            "{out}"
        );
        assert!(
            out.contains(
                r#"keygate_http_request_duration_seconds_bucket{le="0.005",group="login"} 2"#
            ),
            "{out}"
        );
        assert!(
            out.contains(
                r#"keygate_http_request_duration_seconds_bucket{le="+Inf",group="login"} 3"#
            ),
            "{out}"
        );
    }

    #[test]
    fn nothing_is_recorded_when_off() {
        let m = Metrics::new(false);
        m.login(Login::Success);
        m.token_check(Surface::Gateway, Check::RateLimited);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
        assert!(
            out.contains(r#"keygate_logins_total{outcome="success"} 0"#),
            "{out}"
        );
        assert!(
            out.contains(r#"keygate_rate_limit_refusals_total{limit="key"} 0"#),
            "{out}"
        );
    }
}
