//! A fresh PostgreSQL database per test, created through the admin URL
//! `KEYGATE_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and dropped when the last holder lets go, so tests run in parallel.
//!
//! Shared by the store's story tests and the server's HTTP suite. When
//! PostgreSQL cannot be reached, [`PgDb::create`] skips the test loudly, except
//! with `CI=true`, where that fails; [`PgDb::create_required`] always fails.
// A test helper: a panic is how it reports a broken test setup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

pub struct PgDb {
    pub url: String,
    name: String,
}

pub fn admin_url() -> String {
    std::env::var("KEYGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The admin URL with its database swapped for `name`.
fn url_for(name: &str) -> String {
    let admin = admin_url();
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b.to_owned(), format!("?{q}")),
        None => (admin.clone(), String::new()),
    };
    let (server, _) = base.rsplit_once('/').expect("admin URL has a database");
    format!("{server}/{name}{query}")
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

async fn admin() -> Result<PgConnection, String> {
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&admin_url())).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out connecting".into()),
    }
}

impl PgDb {
    /// `host:port` of the PostgreSQL server.
    pub fn server(&self) -> String {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        rest.split('/').next().unwrap_or(rest).to_owned()
    }

    /// This database's URL with the server replaced by `addr` (a proxy).
    pub fn url_via(&self, addr: std::net::SocketAddr) -> String {
        self.url.replacen(&self.server(), &addr.to_string(), 1)
    }

    /// A fresh database; `None`, after a loud SKIPPED line, when PostgreSQL
    /// cannot be reached, except with `CI=true`, where that fails the test.
    pub async fn create(test: &str) -> Option<Arc<PgDb>> {
        match PgDb::try_create().await {
            Ok(db) => Some(Arc::new(db)),
            Err(e) if on_ci() => panic!(
                "CI=true and PostgreSQL is not reachable at {}: {e}",
                admin_url()
            ),
            Err(e) => {
                // Straight to stderr: the test harness hides eprintln! of passing tests.
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: {test}: PostgreSQL is not reachable at {} ({e}); set KEYGATE_TEST_PG_URL",
                    admin_url()
                );
                None
            }
        }
    }

    /// For `KEYGATE_TEST_DATABASE=postgres`: PostgreSQL was asked for, so no skipping.
    pub async fn create_required() -> Arc<PgDb> {
        match PgDb::try_create().await {
            Ok(db) => Arc::new(db),
            Err(e) => panic!(
                "KEYGATE_TEST_DATABASE=postgres but PostgreSQL is not reachable at {}: {e}",
                admin_url()
            ),
        }
    }

    async fn try_create() -> Result<PgDb, String> {
        static N: AtomicU32 = AtomicU32::new(0);
        // A name, not a time the server reads.
        #[allow(clippy::disallowed_methods)]
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "kgtest_{}_{nanos:x}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = admin().await?;
        sweep_orphans(&mut conn).await;
        conn.execute(AssertSqlSafe(format!("create database {name}")))
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        Ok(PgDb {
            url: url_for(&name),
            name,
        })
    }
}

/// Drops databases left by test processes that died before their Drop ran
/// (their names carry the creator's pid). Once per process.
async fn sweep_orphans(conn: &mut PgConnection) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    // Without /proc there is no telling live pids from dead ones.
    if DONE.swap(true, Ordering::SeqCst) || !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let names: Vec<String> =
        sqlx::query_scalar("select datname::text from pg_database where datname like 'kgtest\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
        let gone = pid.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists());
        if gone && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            let _ = conn
                .execute(AssertSqlSafe(format!(
                    "drop database if exists {name} with (force)"
                )))
                .await;
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: use
        // a runtime of its own on another thread.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = None;
                for _ in 0..3 {
                    match admin().await {
                        Ok(c) => {
                            conn = Some(c);
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                    }
                }
                if let Some(mut conn) = conn {
                    let _ = conn
                        .execute(AssertSqlSafe(format!(
                            "drop database if exists {name} with (force)"
                        )))
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}
