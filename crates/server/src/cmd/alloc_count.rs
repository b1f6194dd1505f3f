//! Allocation counts for `scripts/bench`: with the cargo feature
//! `count-allocs` (off in normal builds) the `keygate` binary counts every
//! allocation through `stats_alloc` around the system allocator (`main.rs`),
//! and `serve` and `dev hello` answer `GET /_bench/allocs` with the totals so
//! far, `{"allocations": n, "bytes": n}`. The bench reads it before and after
//! a run and divides by the requests. Without the feature the route does not
//! exist. The counters are atomics shared by every core, so a counting build
//! is slower: the bench takes its rates and CPU time from a normal build.

use axum::Router;

/// Where the totals are served.
pub const PATH: &str = "/_bench/allocs";

/// `router` with [`PATH`] when the feature is on; as it is otherwise.
pub fn route<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    #[cfg(feature = "count-allocs")]
    {
        router.route(PATH, axum::routing::get(counts))
    }
    #[cfg(not(feature = "count-allocs"))]
    {
        router
    }
}

#[cfg(feature = "count-allocs")]
async fn counts() -> axum::Json<serde_json::Value> {
    let s = stats_alloc::INSTRUMENTED_SYSTEM.stats();
    axum::Json(serde_json::json!({
        "allocations": s.allocations + s.reallocations,
        "bytes": s.bytes_allocated,
    }))
}
