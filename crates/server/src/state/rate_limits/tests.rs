//! Tests of the per-key rate limits: windows, the sharded counters, settling.

use super::*;

const FIVE_A_MINUTE: RateLimit = RateLimit {
    requests: 5,
    per_seconds: 60,
};

#[test]
fn one_instance_allows_exactly_the_limit_per_window() {
    let l = KeyRateLimits::new(false);
    let t0 = 1_800_000_000_000; // a multiple of 60 s
    let got: Vec<bool> = (0..8)
        .map(|i| l.take("kg_a", FIVE_A_MINUTE, t0 + i).is_ok())
        .collect();
    assert_eq!(got, [true, true, true, true, true, false, false, false]);
    let first = l.take("kg_b", FIVE_A_MINUTE, t0 + 18_000).unwrap();
    assert_eq!((first.remaining, first.reset_secs), (4, 42));
    let refused = l.take("kg_a", FIVE_A_MINUTE, t0 + 18_000).unwrap_err();
    assert_eq!((refused.remaining, refused.retry_after_secs), (0, 42));
    // The next window starts over.
    assert!(l.take("kg_a", FIVE_A_MINUTE, t0 + 60_000).is_ok());
    l.sweep(t0 + 120_000);
    assert!(l.is_empty());
}

/// The figure in BENCHMARKS.md: counters for a million keys, each used in
/// its current window. Run with
/// `cargo test -p keygate-server --lib million_keys -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check: prints the memory of 1M counters"]
fn million_keys_of_counters_fit_in_64_mb() {
    fn rss_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
    let ids: Vec<String> = (0..1_000_000).map(|i| format!("kg_{i:0>22}")).collect();
    let before = rss_kb();
    let l = KeyRateLimits::new(false);
    for id in &ids {
        l.take(id, FIVE_A_MINUTE, 1_800_000_000_000).unwrap();
    }
    let after = rss_kb();
    let mb = (after - before) as f64 / 1024.0;
    println!("FIGURE: counters of {} keys: {mb:.1} MB", l.len());
    assert_eq!(l.len(), 1_000_000);
    assert!(mb < 64.0, "{mb} MB");
}

#[test]
fn with_redis_an_instance_takes_its_share_between_settles() {
    let l = KeyRateLimits::new(true);
    let t0 = 1_800_000_000_000;
    let limit = RateLimit {
        requests: 90,
        per_seconds: 60,
    };
    // Before the first settle: per instance, the whole limit.
    assert!(l.take("kg_a", limit, t0).is_ok());
    let p = l.take_pending();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].delta, 1);
    assert_eq!(p[0].redis_key(), "keygate:rl:kg_a:60:1800000060");
    // Redis says 31 in all (30 elsewhere), three instances live.
    l.settled(p, &[31], 3);
    // Left: 59; this instance's share until the next settle: 20.
    let allowed = (0..40)
        .filter(|_| l.take("kg_a", limit, t0 + 1).is_ok())
        .count();
    assert_eq!(allowed, 20);
    let refused = l.take("kg_a", limit, t0 + 1).unwrap_err();
    assert_eq!(refused.retry_after_secs, 1, "share used up: retry soon");
    // Redis unreachable: the counts wait, and the instance falls back to
    // the whole limit by itself.
    let p = l.take_pending();
    assert_eq!(p[0].delta, 20);
    l.unsettled(p);
    assert!(!l.is_shared_now());
    let alone = (0..100)
        .filter(|_| l.take("kg_a", limit, t0 + 2).is_ok())
        .count();
    assert_eq!(alone, 90 - 21);
    let p = l.take_pending();
    assert_eq!(p[0].delta, 20 + 69);
    l.settled(p, &[120], 3);
    // Still read back while used lately, with nothing new to add.
    let p = l.take_pending();
    assert_eq!((p.len(), p[0].delta), (1, 0));
}

/// An organization seeded from the usage table while it already takes calls
/// (put on a plan a moment ago): the calls this process counted and flushed
/// are in both the table and its own count, and count once.
#[test]
fn a_quota_seeded_after_calls_counts_them_once() {
    use keygate_core::quota::{Period, Quota};
    let l = KeyRateLimits::new(false);
    let org = OrgId::generate();
    let now = 1_800_000_000_000;
    let quota = Quota {
        period: Period::Day,
        requests: 5,
    };
    for i in 0..4 {
        assert!(l.take_quota(&org, quota, now + i).is_ok());
    }
    // The usage table holds those four (flushed), plus one of another
    // instance or of before the plan.
    l.seed_quota(&org, Period::Day, 5, now + 10);
    assert_eq!(l.quota_used(&org, Period::Day, now + 10), 5);
    assert!(l.take_quota(&org, quota, now + 11).is_err());
}
