//! glibc's allocator, pinned for a long-running `serve`.
//!
//! glibc starts by serving allocations of 128 KiB and more with `mmap`, but
//! each time such a block is freed it raises that threshold to the block's
//! size (up to 32 MiB), and the threshold for giving a heap's free top back to
//! the system with it. After a password check (19 MiB) or a large map's
//! growth, memory freed in the per-thread arenas then stays resident: with
//! the same 3,000 keys, `serve` held 115–133 MB after the benchmark's runs
//! instead of 35 MB (BENCHMARKS.md, "Memory given back"). A fixed
//! threshold turns that adjustment off.
//!
//! glibc reads its tunables only when a process starts, and setting them
//! from inside would take `unsafe` (`mallopt`), which this workspace forbids.
//! So `serve` starts itself once more, in place (`exec`: same process id,
//! same open files, nothing else has run yet), with `GLIBC_TUNABLES` set. An
//! operator's own `GLIBC_TUNABLES` is left as it is, and so is any platform
//! without glibc.

/// The threshold `serve` runs with: 256 KiB, fixed.
pub const TUNABLES: &str = "glibc.malloc.mmap_threshold=262144";

/// Replaces this process with itself under [`TUNABLES`] unless the
/// environment already names tunables. Returns only if it did not.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn pin() {
    use std::os::unix::process::CommandExt as _;
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", TUNABLES)
        .exec();
    // Still here: run as we are, with glibc's defaults.
    eprintln!("note: could not restart with {TUNABLES}: {err}");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn pin() {}
