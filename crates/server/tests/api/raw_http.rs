//! Requests written byte by byte on a raw TCP connection: what no HTTP client
//! library sends (a body that trickles, stops short or breaks its chunking,
//! a request target of 70,000 bytes), and the answer read until the server
//! closes the connection.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the rest of the body is sent after the head and `first` bytes.
#[derive(Clone, Copy, Debug)]
pub enum Then {
    /// Nothing more: the connection stays open, silent.
    Stall,
    /// One byte every this long, until the server closes.
    Trickle(Duration),
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// The head, lowercased.
    pub head: String,
    pub body: String,
    /// The server closed the connection after its answer.
    pub closed: bool,
    /// From the end of what was sent first to the answer's arrival.
    pub answered_after: Duration,
}

impl RawResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The address of `base` (`http://127.0.0.1:PORT`).
pub fn addr(base: &str) -> &str {
    base.trim_start_matches("http://")
}

/// Sends `first`, then goes on as `then` says, and reads the answer; gives up
/// (panics) after `limit`, so a server that never answers fails the test in
/// bounded time.
pub async fn exchange(base: &str, first: &[u8], then: Then, limit: Duration) -> RawResponse {
    let stream = TcpStream::connect(addr(base)).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(first).await.unwrap();
    let sent = Instant::now();
    let writer = tokio::spawn(async move {
        if let Then::Trickle(every) = then {
            loop {
                // Fixed: the trickle the test asked for.
                tokio::time::sleep(every).await;
                if wr.write_all(b"a").await.is_err() {
                    break;
                }
            }
        } else {
            // Keep the write half open without sending (the read ends it).
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(wr);
        }
    });
    let mut buf = Vec::new();
    let mut answered_after = None;
    let mut closed = false;
    let end = sent + limit;
    loop {
        let mut chunk = [0u8; 16 * 1024];
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rd.read(&mut chunk)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => {
                answered_after.get_or_insert_with(|| sent.elapsed());
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| {
        panic!(
            "no answer within {limit:?} (closed: {closed}): {:?}",
            &text[..text.len().min(200)]
        )
    });
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    RawResponse {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
        closed,
        answered_after: answered_after.unwrap_or_default(),
    }
}

/// A request head with these extra header lines, ended by the blank line.
pub fn head(method: &str, target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut h = format!("{method} {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}
