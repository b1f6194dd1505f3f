//! Real receivers for notifications, in the test process: a small SMTP server
//! and an HTTP webhook receiver. Both can be stopped and started again on the
//! same port to play an outage.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::helpers::{eventually, poll};

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The event id from the Message-ID Keygate sets (`<evt_….dlv_…@keygate>`).
    pub fn event_id(&self) -> Option<String> {
        let start = self.data.find("Message-ID: <")? + "Message-ID: <".len();
        let rest = &self.data[start..];
        Some(rest[..rest.find('.')?].to_owned())
    }
}

pub struct SmtpServer {
    pub port: u16,
    pub mails: Arc<Mutex<Vec<Mail>>>,
    task: Option<JoinHandle<()>>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        Self::start_on(0).await
    }

    /// Listens on `port` (0: a free one). Every connection speaks just enough
    /// SMTP for a client: EHLO, MAIL, RCPT, DATA (with dot-unstuffing), QUIT.
    pub async fn start_on(port: u16) -> SmtpServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let store = mails.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                conns.spawn(session(sock, store.clone()));
            }
        });
        SmtpServer {
            port,
            mails,
            task: Some(task),
        }
    }

    /// Closes the port and every open connection.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits (at most `secs`) until `n` mails are in, and returns them
    /// either way.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Mail> {
        self.wait_until(secs, |m| m.len() >= n).await
    }

    /// Waits (at most `secs`) until the mails received satisfy `pred`, and
    /// returns them either way.
    pub async fn wait_until(&self, secs: u64, pred: impl Fn(&[Mail]) -> bool) -> Vec<Mail> {
        poll(Duration::from_secs(secs), async || {
            let m = self.mails();
            if pred(&m) { Ok(m) } else { Err(m) }
        })
        .await
        .unwrap_or_else(|m| m)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn session(sock: tokio::net::TcpStream, mails: Arc<Mutex<Vec<Mail>>>) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let _ = w.write_all(b"220 test ESMTP\r\n").await;
    let mut rcpt = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match cmd.as_str() {
            "EHLO" => b"250-test\r\n250 8BITMIME\r\n",
            "HELO" => b"250 test\r\n",
            "MAIL" | "RSET" => {
                rcpt.clear();
                b"250 ok\r\n"
            }
            "RCPT" => {
                let addr = line.split_once(':').map(|x| x.1).unwrap_or("");
                let addr = addr.trim().trim_start_matches('<');
                rcpt.push(addr[..addr.find('>').unwrap_or(addr.len())].to_owned());
                b"250 ok\r\n"
            }
            "DATA" => {
                let _ = w.write_all(b"354 go ahead\r\n").await;
                let mut data = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                mails.lock().unwrap().push(Mail {
                    to: std::mem::take(&mut rcpt),
                    data,
                });
                b"250 queued\r\n"
            }
            "QUIT" => {
                let _ = w.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 ok\r\n",
        };
        if w.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// One POST as the webhook receiver saw it, and what it answered.
#[derive(Debug, Clone)]
pub struct Post {
    pub headers: HashMap<String, String>,
    pub body: Bytes,
    pub answered: u16,
}

impl Post {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct HookState {
    posts: Vec<Post>,
    /// Posts that arrived, answered or not yet (the receiver may be slow).
    arrived: usize,
    fail_next: usize,
    delay: Duration,
}

pub struct WebhookReceiver {
    pub port: u16,
    state: Arc<Mutex<HookState>>,
    task: Option<JoinHandle<()>>,
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let mut r = WebhookReceiver {
            port: 0,
            state: Arc::default(),
            task: None,
        };
        r.listen(0).await;
        r
    }

    async fn listen(&mut self, port: u16) {
        // Again on the same port: free once the stopped task has let go of it.
        let listener = eventually(
            &format!("port {port} free for the webhook receiver"),
            Duration::from_secs(5),
            async || TcpListener::bind(("127.0.0.1", port)).await,
        )
        .await;
        self.port = listener.local_addr().unwrap().port();
        let state = self.state.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let delay = {
                    let mut s = state.lock().unwrap();
                    s.arrived += 1;
                    s.delay
                };
                // A slow receiver, as the test asked (`set_delay`).
                tokio::time::sleep(delay).await;
                let mut s = state.lock().unwrap();
                let answered = if s.fail_next > 0 {
                    s.fail_next -= 1;
                    500
                } else {
                    200
                };
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                s.posts.push(Post {
                    headers,
                    body,
                    answered,
                });
                StatusCode::from_u16(answered).unwrap()
            }
        });
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        }));
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/keygate", self.port)
    }

    /// Answers 500 to the next `n` posts.
    pub fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().fail_next = n;
    }

    pub fn set_delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    /// Down: the port refuses connections.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Up again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        self.listen(self.port).await;
    }

    pub fn arrived(&self) -> usize {
        self.state.lock().unwrap().arrived
    }

    pub fn posts(&self) -> Vec<Post> {
        self.state.lock().unwrap().posts.clone()
    }

    /// Waits until `pred` holds for the posts so far.
    pub async fn wait_until(&self, secs: u64, pred: impl Fn(&[Post]) -> bool) -> Vec<Post> {
        eventually(
            "webhook receiver: the posts awaited",
            Duration::from_secs(secs),
            async || {
                let p = self.posts();
                if pred(&p) {
                    Ok(p)
                } else {
                    Err(format!("{:#?}", names(&p)))
                }
            },
        )
        .await
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Each post's event name and the status it was answered.
fn names(posts: &[Post]) -> Vec<(String, u16)> {
    posts
        .iter()
        .map(|p| {
            (
                p.json()["name"].as_str().unwrap_or("").to_owned(),
                p.answered,
            )
        })
        .collect()
}

/// A port that nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
