//! The id of the request being served: taken from a well-formed incoming
//! `x-request-id` or made here, returned on every response, passed to the
//! upstream, written in every log line of the request (the `request` span's
//! `request_id` field) and shown as the `trace_id` of 5xx answers.
//!
//! `http::layers::common_layers` sets it for the whole request through a task-local,
//! so services and surfaces below reach it without passing it along.
//!
//! On the hot path the id is one `HeaderValue` made once (one allocation for
//! a made id, none for an accepted one, which shares the incoming header's
//! bytes) and cloned by reference count into the task-local, the answer and
//! the upstream request.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use keygate_core::crypto::{BASE62, random_bytes};

/// The header that carries the id in and out, named at compile time (a
/// `&str` name is parsed again at every lookup and insert: three times a
/// request).
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Length of the ids made here: two 64-bit numbers in base62, 11 characters
/// each.
const LEN: usize = 22;

tokio::task_local! {
    static CURRENT: HeaderValue;
}

/// Whether an incoming id is kept: 1–64 characters of `[A-Za-z0-9._-]`.
/// Anything else (empty, too long, other characters, not UTF-8) is replaced
/// by a new one, so a caller cannot put arbitrary text in our logs.
fn well_formed(v: &[u8]) -> bool {
    (1..=64).contains(&v.len())
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The incoming id if [`well_formed`], else a new one.
pub fn accept(incoming: Option<&HeaderValue>) -> HeaderValue {
    match incoming {
        Some(v) if well_formed(v.as_bytes()) => v.clone(),
        _ => new_header(),
    }
}

/// The request's id: its well-formed `x-request-id`, else a new one
/// ([`accept`]). It is not put back on the request: the gateway gives the
/// upstream the current one (`current_header`), and a header added here would
/// count against the request's own limit of 100 fields.
pub fn of_request(headers: &HeaderMap) -> HeaderValue {
    accept(headers.get(HEADER))
}

/// A fresh id: this process's random 64-bit prefix, then a per-process
/// counter put through a bijective mixer (so ids do not look sequential).
/// Unique within the process by construction, and between instances by the
/// prefix. Made without a system call (reading the operating system's
/// generator took one `getrandom` per request on the hot path). An id names
/// a request; it is no secret.
pub fn new_id() -> String {
    new_bytes().iter().map(|&b| b as char).collect()
}

/// [`new_id`] as a header value, in one allocation that its clones share.
pub fn new_header() -> HeaderValue {
    // Base62 digits are always a valid header value.
    HeaderValue::from_maybe_shared(Bytes::from_owner(new_bytes()))
        .unwrap_or_else(|_| HeaderValue::from_static("0"))
}

fn new_bytes() -> [u8; LEN] {
    // The prefix and its digits, made once.
    static PREFIX: OnceLock<(u64, [u8; LEN / 2])> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let (prefix, digits) = PREFIX.get_or_init(|| {
        let prefix = u64::from_le_bytes(random_bytes::<8>());
        let mut digits = [0u8; LEN / 2];
        put_base62(&mut digits, prefix);
        (prefix, digits)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut id = [0u8; LEN];
    let (a, b) = id.split_at_mut(LEN / 2);
    a.copy_from_slice(digits);
    put_base62(b, mix(n ^ prefix.rotate_left(29)));
    id
}

/// SplitMix64's finalizer: a bijection on `u64` that scatters its input.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `v` as exactly 11 base62 digits (62^11 > 2^64) in `out` (11 bytes).
fn put_base62(out: &mut [u8], mut v: u64) {
    for d in out.iter_mut().rev() {
        *d = BASE62[(v % 62) as usize];
        v /= 62;
    }
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: Future>(id: HeaderValue, fut: F) -> F::Output {
    CURRENT.scope(id, fut).await
}

/// The current request's id, if a request is being served.
pub fn current() -> Option<String> {
    CURRENT
        .try_with(|id| id.to_str().ok().map(str::to_owned))
        .ok()
        .flatten()
}

/// The current request's id as a header value (a reference-counted clone).
pub fn current_header() -> Option<HeaderValue> {
    CURRENT.try_with(HeaderValue::clone).ok()
}

/// The id to show as `trace_id`: the request's own, or a new one outside a
/// request (background tasks).
pub fn trace_id() -> String {
    current().unwrap_or_else(new_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &[u8]) -> HeaderValue {
        HeaderValue::from_bytes(v).unwrap()
    }

    #[test]
    fn accepts_only_well_formed_ids() {
        assert_eq!(accept(Some(&header(b"abc-DEF_1.2"))), "abc-DEF_1.2");
        let long = "a".repeat(64);
        assert_eq!(accept(Some(&header(long.as_bytes()))), long.as_str());
        let too_long = "a".repeat(65);
        for bad in [&b""[..], b"a b", b"\xff", too_long.as_bytes()] {
            let got = accept(Some(&header(bad)));
            assert_eq!(got.len(), LEN);
            assert_ne!(got.as_bytes(), bad);
        }
        assert!(!well_formed(b"a\nb"));
        assert_ne!(accept(None), accept(None));
        let mut h = HeaderMap::new();
        let made = of_request(&h);
        assert_eq!(made.len(), LEN);
        assert!(h.is_empty(), "a made id is not put on the request");
        h.insert(HEADER, header(b"from-the-client"));
        assert_eq!(of_request(&h), "from-the-client");
    }

    #[test]
    fn made_ids_are_unique_well_formed_and_share_the_process_prefix() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        let prefix = &new_id()[..LEN / 2];
        for id in &ids {
            assert_eq!(id.len(), LEN);
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
            assert_eq!(&id[..LEN / 2], prefix);
            assert_eq!(
                accept(Some(&header(id.as_bytes()))),
                id.as_str(),
                "accepted back as is"
            );
        }
    }

    #[test]
    fn the_mixer_is_a_bijection_on_a_sample() {
        let outs: std::collections::HashSet<u64> = (0..100_000u64).map(mix).collect();
        assert_eq!(outs.len(), 100_000);
        let mut s = [0u8; LEN / 2];
        put_base62(&mut s, u64::MAX);
        assert_eq!(&s, b"LygHa16AHYF");
        put_base62(&mut s, 0);
        assert_eq!(&s, b"00000000000");
    }
}
