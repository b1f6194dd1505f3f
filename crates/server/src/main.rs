#![forbid(unsafe_code)]

/// Every allocation counted, for `scripts/bench` (see `alloc_count`).
#[cfg(feature = "count-allocs")]
#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn main() -> std::process::ExitCode {
    keygate_server::cmd::main()
}
