//! Request bodies that arrive too slowly are cut off. hyper closes a request
//! head that takes longer than 30 s, but once the head is in, a body may
//! trickle (one byte every few seconds, fewer bytes than `Content-Length`, a
//! chunk that never ends) and hold its connection and its task forever.
//!
//! `http::layers::common_layers` wraps every request body in a [`TimedBody`]: the
//! whole body must arrive within `--body-timeout` of the head, and, once it
//! has been waited on for [`RATE_GRACE`], at `--body-min-rate` bytes a second
//! or faster on average. Only the time spent waiting for the client counts
//! towards the rate: a slow reader (an upstream that pushes back) is not the
//! client's fault. A body cut off reads as an error ([`BodyTimedOut`]) and
//! the request's [`Outcome`] says so, so the edge answers 408 and closes the
//! connection whatever the surface made of the error.
//!
//! A request without a body (a GET, `Content-Length: 0`) is not wrapped: no
//! allocation, no timer. A timer is made only when a body first has to be
//! waited for.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

pub use crate::state::config::{BodyRules, RATE_GRACE};

/// How reading a request body ended, as far as the client is to blame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The whole body was not in by `--body-timeout`.
    Deadline,
    /// It came slower than `--body-min-rate`.
    TooSlow,
    /// The framing was broken (a bad chunk size, a connection closed early).
    Malformed,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Deadline => "deadline",
            Fault::TooSlow => "min_rate",
            Fault::Malformed => "malformed",
        }
    }
}

/// Shared between a [`TimedBody`] and the layer that made it: what went
/// wrong with the body, if anything.
#[derive(Default, Debug)]
pub struct Outcome(AtomicU8);

impl Outcome {
    pub fn fault(&self) -> Option<Fault> {
        match self.0.load(Ordering::Relaxed) {
            1 => Some(Fault::Deadline),
            2 => Some(Fault::TooSlow),
            3 => Some(Fault::Malformed),
            _ => None,
        }
    }

    fn set(&self, f: Fault) {
        let v = match f {
            Fault::Deadline => 1,
            Fault::TooSlow => 2,
            Fault::Malformed => 3,
        };
        self.0.store(v, Ordering::Relaxed);
    }
}

/// The error a cut-off body reads as.
#[derive(Debug)]
pub struct BodyTimedOut;

impl fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

/// Whether `e` (an extractor's rejection, a client error) is, somewhere in
/// its chain of sources, a body cut off by [`TimedBody`].
pub fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(x) = cur {
        if x.is::<BodyTimedOut>() {
            return true;
        }
        cur = x.source();
    }
    false
}

/// Wraps `body` under `rules`, unless there is no body to wait for; the
/// `Outcome` tells afterwards what went wrong.
pub fn wrap(body: Body, rules: BodyRules) -> (Body, Option<Arc<Outcome>>) {
    if body.is_end_stream() {
        return (body, None);
    }
    let outcome = Arc::new(Outcome::default());
    let now = Instant::now();
    let timed = TimedBody {
        inner: body,
        outcome: outcome.clone(),
        deadline: now + rules.timeout,
        min_rate: rules.min_rate,
        grace: rules.grace,
        received: 0,
        waited: Duration::ZERO,
        waiting_since: None,
        timer: None,
    };
    (Body::new(timed), Some(outcome))
}

pub struct TimedBody {
    inner: Body,
    outcome: Arc<Outcome>,
    deadline: Instant,
    min_rate: u32,
    grace: Duration,
    received: u64,
    /// Time spent waiting for the client's bytes, not counting the current wait.
    waited: Duration,
    /// Set while the last poll found no data: the current wait's start.
    waiting_since: Option<Instant>,
    /// Made at the first wait, reset for later ones.
    timer: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    /// When the body, still waiting at `now`, falls below the minimum rate:
    /// `received` bytes cover `received / min_rate` seconds past the grace.
    fn rate_limit_at(&self, now: Instant, waited: Duration) -> Option<Instant> {
        if self.min_rate == 0 {
            return None;
        }
        let covered = Duration::from_secs_f64(self.received as f64 / f64::from(self.min_rate));
        let allowed = self.grace + covered;
        Some(now + allowed.saturating_sub(waited))
    }

    fn cut_off(&mut self, fault: Fault) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        self.outcome.set(fault);
        self.timer = None;
        Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.outcome.fault().is_some() {
            return Poll::Ready(None);
        }
        let now = Instant::now();
        if let Some(since) = this.waiting_since.take() {
            this.waited += now.saturating_duration_since(since);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.outcome.set(Fault::Malformed);
                this.timer = None;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.timer = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if now >= this.deadline {
                    return this.cut_off(Fault::Deadline);
                }
                let rate_at = this.rate_limit_at(now, this.waited);
                if rate_at.is_some_and(|at| at <= now) {
                    return this.cut_off(Fault::TooSlow);
                }
                let wake = rate_at.map_or(this.deadline, |at| at.min(this.deadline));
                this.waiting_since = Some(now);
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(wake)));
                timer.as_mut().reset(wake);
                if timer.as_mut().poll(cx).is_ready() {
                    // Due already (a coarse timer): look again at once.
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;

    type Item = Result<Frame<Bytes>, std::io::Error>;

    /// A body fed by a channel, as a client sends it.
    struct Fed(mpsc::Receiver<Item>);

    impl HttpBody for Fed {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
            self.0.poll_recv(cx)
        }
    }

    fn fed(rules: BodyRules) -> (mpsc::Sender<Item>, Body, Arc<Outcome>) {
        let (tx, rx) = mpsc::channel(1);
        let (body, outcome) = wrap(Body::new(Fed(rx)), rules);
        (tx, body, outcome.unwrap())
    }

    /// The grace is 500 ms here, so that these tests take real time briefly.
    fn rules(timeout_ms: u64, min_rate: u32) -> BodyRules {
        BodyRules {
            timeout: Duration::from_millis(timeout_ms),
            min_rate,
            grace: Duration::from_millis(500),
        }
    }

    fn data(n: usize) -> Item {
        Ok(Frame::data(Bytes::from(vec![b'a'; n])))
    }

    #[tokio::test]
    async fn an_empty_body_is_not_wrapped() {
        let (_, outcome) = wrap(Body::empty(), rules(10, 1));
        assert!(outcome.is_none());
    }

    #[tokio::test]
    async fn a_body_that_never_ends_is_cut_off_at_the_deadline() {
        let (tx, body, outcome) = fed(rules(300, 0));
        tx.send(data(2)).await.unwrap();
        let started = Instant::now();
        let err = body.collect().await.unwrap_err();
        assert!(timed_out(&*err.into_inner()));
        assert_eq!(outcome.fault(), Some(Fault::Deadline));
        let ms = started.elapsed().as_millis();
        assert!((250..600).contains(&ms), "{ms}");
        drop(tx);
    }

    #[tokio::test]
    async fn a_trickle_is_cut_off_by_the_rate_after_the_grace() {
        let (tx, body, outcome) = fed(rules(60_000, 100));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if tx.send(data(1)).await.is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let err = body.collect().await.unwrap_err();
        assert!(timed_out(&*err.into_inner()));
        assert_eq!(outcome.fault(), Some(Fault::TooSlow));
        // 500 ms of grace plus 10 ms per byte: cut off soon after the grace.
        let ms = started.elapsed().as_millis();
        assert!((500..900).contains(&ms), "{ms}");
    }

    #[tokio::test]
    async fn a_body_at_the_rate_gets_through() {
        let (tx, body, outcome) = fed(rules(60_000, 100));
        tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                tx.send(data(15)).await.unwrap();
            }
        });
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 150);
        assert_eq!(outcome.fault(), None);
    }

    #[tokio::test]
    async fn a_broken_body_is_malformed_not_timed_out() {
        let (tx, body, outcome) = fed(rules(1_000, 100));
        tx.send(Err(std::io::Error::other("bad chunk")))
            .await
            .unwrap();
        let err = body.collect().await.unwrap_err();
        assert!(!timed_out(&*err.into_inner()));
        assert_eq!(outcome.fault(), Some(Fault::Malformed));
    }
}
