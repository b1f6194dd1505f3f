//! Lanes: the threads `serve` answers requests on, one per core, each with a
//! single-threaded runtime of its own (`cmd/listen.rs` starts them). Here is
//! what the layers above may know of them: how many there are, which one
//! this thread is, and [`PerLane`].

/// How many lanes `serve` runs for the API: one per core the process may use
/// (its CPU affinity and cgroup quota count).
pub fn lanes_per_core() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

thread_local! {
    /// The number of the lane this thread is, if it is one.
    static LANE: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Marks this thread as lane `i` (called once, by the lane's thread).
pub fn enter(i: usize) {
    LANE.set(Some(i));
}

/// One `T` per lane, each lane using its own: an HTTP client's pool of
/// upstream connections, whose tasks run on the lane that opened them, so a
/// lane's request never waits on another lane's thread. Off the lanes (a
/// background task), the first one is used.
pub struct PerLane<T>(Vec<T>);

impl<T> PerLane<T> {
    pub fn new(mut make: impl FnMut() -> T) -> PerLane<T> {
        PerLane((0..lanes_per_core()).map(|_| make()).collect())
    }

    pub fn get(&self) -> &T {
        &self.0[LANE.get().unwrap_or(0) % self.0.len()]
    }
}
