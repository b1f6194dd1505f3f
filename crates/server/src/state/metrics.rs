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

mod histogram;
mod labels;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use keygate_store::{OutboxStats, PoolStats};

use histogram::DurationHistogram;
use labels::{
    AUDIT_DROPS, CHECKS, DELIVERIES, GROUPS, INTROSPECTION_CHECKS, LIMITS, LOGINS, SURFACES,
};
pub use labels::{AuditDrop, Check, Delivery, Group, Limit, Login, Surface};

/// The `Content-Type` of [`Metrics::render`]'s text (OpenMetrics 1.0, which
/// Prometheus scrapes natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Label1 = [(&'static str, &'static str); 1];
type Label2 = [(&'static str, &'static str); 2];

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

#[cfg(test)]
mod tests {
    use super::*;

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
