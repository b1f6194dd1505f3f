//! `keygate migrate` and `serve --no-migrate` on an older schema, SQLite and
//! PostgreSQL: serve waits and names the command, migrate applies what is
//! pending.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::Method;

use crate::helpers::*;

use super::{keygate, text};

/// Which backend a migration test runs on.
enum Backend {
    Sqlite(PathBuf),
    Postgres(Arc<PgDb>),
}

impl Backend {
    fn url(&self) -> String {
        match self {
            Backend::Sqlite(data) => format!("sqlite://{}/keygate.db", data.display()),
            Backend::Postgres(db) => db.url.clone(),
        }
    }

    fn migrations(&self) -> PathBuf {
        let dir = match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        };
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../store/migrations")
            .join(dir)
    }

    /// Brings the database to every migration but the last, as an older
    /// Keygate left it.
    async fn one_migration_back(&self) -> sqlx::migrate::Migration {
        let migrator = sqlx::migrate::Migrator::new(self.migrations())
            .await
            .unwrap();
        let all: Vec<_> = migrator.iter().cloned().collect();
        let (last, before) = (all[all.len() - 1].clone(), all[all.len() - 2].version);
        match self {
            Backend::Sqlite(data) => {
                std::fs::create_dir_all(data).unwrap();
                let opts = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(data.join("keygate.db"))
                    .create_if_missing(true);
                let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
                migrator.run_to(before, &pool).await.unwrap();
                pool.close().await;
            }
            Backend::Postgres(db) => {
                let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
                migrator.run_to(before, &pool).await.unwrap();
                pool.close().await;
            }
        }
        last
    }
}

/// `serve --no-migrate` on an older schema stops and names `keygate migrate`;
/// `keygate migrate` applies and names what is pending; then it starts.
async fn migrate_story(backend: Backend) {
    let dir = temp_dir();
    let data = dir.join("data");
    let url = backend.url();
    let flags = ["--data-dir", data.to_str().unwrap(), "--database-url", &url];
    let last = backend.one_migration_back().await;
    let last_named = format!("{:04} {}", last.version, last.description);

    let out = keygate(
        &[
            &["serve", "--no-migrate", "--listen", "127.0.0.1:0"],
            &flags[..],
        ]
        .concat(),
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("`keygate migrate`"), "{}", text(&out));
    assert!(text(&out).contains(&last_named), "{}", text(&out));

    let out = keygate(&[&["check", "--no-migrate"], &flags[..]].concat(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("database: FAILED"), "{}", text(&out));

    let out = keygate(&[&["migrate"], &flags[..]].concat(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("applied {last_named}")
    );
    let out = keygate(&[&["migrate"], &flags[..]].concat(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("applied"), "{}", text(&out));

    let db = match &backend {
        Backend::Postgres(db) => Some(db.clone()),
        Backend::Sqlite(_) => None,
    };
    let app = spawn_process(&dir, db, &["--no-migrate", "--database-url", &url], &[]);
    let r = app.req(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn migrate_applies_what_an_older_sqlite_schema_lacks_and_no_migrate_waits_for_it() {
    migrate_story(Backend::Sqlite(temp_dir().join("data"))).await;
    // A new data dir: nothing to serve without migrating first, everything to apply.
    let dir = temp_dir();
    let data = dir.join("data");
    let data_arg = data.to_str().unwrap();
    let out = keygate(
        &[
            "serve",
            "--no-migrate",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_arg,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = keygate(&["migrate", "--data-dir", data_arg], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("applied 0001 init\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn migrate_applies_what_an_older_postgres_schema_lacks_and_no_migrate_waits_for_it() {
    let Some(db) = PgDb::create("migrate on PostgreSQL").await else {
        return;
    };
    migrate_story(Backend::Postgres(db)).await;
}
