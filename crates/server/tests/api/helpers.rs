//! `spawn_app()`: the real `keygate` binary on `127.0.0.1:0` with a fresh data
//! dir, and a client that remembers every secret it was shown so the server's
//! log can be checked for them when the test ends.
//!
//! The database is a fresh SQLite file, or with `KEYGATE_TEST_DATABASE=postgres`
//! a fresh PostgreSQL database per test (`keygate_testpg`), so one suite tells the
//! same story on both backends.

use std::fmt::Display;
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

pub use keygate_testpg::PgDb;
pub use mail::link_in;
pub use process::spawn_process;

mod mail;
mod orgs;
mod process;
mod requests;

pub const PASSWORD: &str = "correct-horse-battery-staple-42";

/// How long [`poll`] waits between two looks: short next to the outcomes
/// awaited (a background round, a delivery, a page), long enough that a
/// look (often an HTTP request or a WebDriver round trip) does not load the
/// shared machine.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Asks `probe` until it answers `Ok`, for at most `within`: that `Ok`, or,
/// once the time is up, the `Err` of the last look (what was seen instead).
/// Tests wait for an outcome this way, never for a fixed time; this is the
/// one place they sleep between looks.
pub async fn poll<T, E>(
    within: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let end = Instant::now() + within;
    loop {
        match probe().await {
            Err(_) if Instant::now() < end => tokio::time::sleep(POLL_EVERY).await,
            done => return done,
        }
    }
}

/// [`poll`] that fails the test when the time is up: the panic names `what`
/// was awaited, how long it waited and what the last look saw.
pub async fn eventually<T, E: Display>(
    what: &str,
    within: Duration,
    probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let start = Instant::now();
    poll(within, probe).await.unwrap_or_else(|last| {
        panic!(
            "{what}: not within {:.1?}; last seen: {last}",
            start.elapsed()
        )
    })
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub data_dir: PathBuf,
    pub dir: PathBuf,
    /// Set for PostgreSQL; SQLite lives in the data dir.
    pub database_url: Option<String>,
    /// Dropped after the process is stopped.
    _db: Option<Arc<PgDb>>,
    owns_dir: bool,
    child: Mutex<Child>,
    log: Arc<Mutex<String>>,
    /// Disconnected once the process's stdout and stderr are read to the end.
    log_done: Mutex<Receiver<()>>,
    secrets: Mutex<Vec<String>>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

pub struct Org {
    pub org_id: String,
    pub accounts: Vec<String>,
    pub owner: Session,
}

#[derive(Clone)]
pub struct Session {
    pub token: String,
    pub email: String,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

pub fn temp_dir() -> PathBuf {
    let n: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let dir = std::env::temp_dir().join(format!("keygate-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[], &[]).await
}

pub async fn spawn_app_with(args: &[&str], env: &[(&str, &str)]) -> TestApp {
    let db = match std::env::var("KEYGATE_TEST_DATABASE").as_deref() {
        Ok("postgres") => Some(PgDb::create_required().await),
        Ok("sqlite") | Err(_) => None,
        Ok(other) => panic!("KEYGATE_TEST_DATABASE={other}: use sqlite or postgres"),
    };
    let dir = temp_dir();
    let mut app = spawn_process(&dir, db, args, env);
    app.owns_dir = true;
    app
}

pub fn cid(key: &Value) -> &str {
    key["client_id"].as_str().unwrap()
}

pub fn secret(key: &Value) -> &str {
    key["api_key"].as_str().unwrap()
}

pub fn perms(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(r, a)| json!({"resource": r, "access": a}))
            .collect(),
    )
}
