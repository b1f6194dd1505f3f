//! The id of the request being served: taken from a well-formed incoming
//! `x-request-id` or made here, returned on every response, passed to the
//! upstream, written in every log line of the request (the `request` span's
//! `request_id` field) and shown as the `trace_id` of 5xx answers.
//!
//! `http::common_layers` sets it for the whole request through a task-local,
//! so services and surfaces below reach it without passing it along.

use std::future::Future;

/// The header that carries the id in and out.
pub const HEADER: &str = "x-request-id";

/// Length of the ids made here (base62: about 119 bits).
const LEN: usize = 20;

tokio::task_local! {
    static CURRENT: String;
}

/// The incoming id if it is 1–64 characters of `[A-Za-z0-9._-]`; anything
/// else (empty, too long, other characters, not UTF-8) is replaced by a new
/// one, so a caller cannot put arbitrary text in our logs.
pub fn accept(incoming: Option<&[u8]>) -> String {
    match incoming {
        Some(v)
            if (1..=64).contains(&v.len())
                && v.iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) =>
        {
            String::from_utf8_lossy(v).into_owned()
        }
        _ => new_id(),
    }
}

/// A fresh random id.
pub fn new_id() -> String {
    keygate_core::crypto::random_base62(LEN)
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    CURRENT.scope(id, fut).await
}

/// The current request's id, if a request is being served.
pub fn current() -> Option<String> {
    CURRENT.try_with(|id| id.clone()).ok()
}

/// The id to show as `trace_id`: the request's own, or a new one outside a
/// request (background tasks).
pub fn trace_id() -> String {
    current().unwrap_or_else(new_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_well_formed_ids() {
        assert_eq!(accept(Some(b"abc-DEF_1.2")), "abc-DEF_1.2");
        let long = "a".repeat(64);
        assert_eq!(accept(Some(long.as_bytes())), long);
        let too_long = "a".repeat(65);
        for bad in [&b""[..], b"a b", b"a\nb", b"\xff", too_long.as_bytes()] {
            let got = accept(Some(bad));
            assert_eq!(got.len(), LEN);
            assert_ne!(got.as_bytes(), bad);
        }
        assert_ne!(accept(None), accept(None));
    }
}
