//! The schema: what an unmigrated database lacks, migrating it, and SQLite's
//! backup copy.

use keygate_store::Store;
use keygate_store::postgres::PgStore;
use keygate_store::sqlite::SqliteStore;
use keygate_testpg::PgDb;

use crate::TempDir;
use crate::story::acme;

/// `pending_migrations` on a store opened without migrating is everything;
/// `migrate` applies and returns exactly that; then nothing is pending.
async fn unmigrated_then_migrated(store: &dyn Store, versions: Vec<i64>) {
    let pending = store.pending_migrations().await.unwrap();
    assert_eq!(
        pending.iter().map(|m| m.version).collect::<Vec<_>>(),
        versions
    );
    assert_eq!(pending[0].to_string(), "0001 init");
    assert_eq!(store.migrate().await.unwrap(), pending);
    assert!(store.pending_migrations().await.unwrap().is_empty());
    assert!(store.migrate().await.unwrap().is_empty());
    acme(store).await;
}

fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("keygate-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

#[tokio::test]
async fn sqlite_migrates_only_when_asked_and_backs_up_a_checked_copy() {
    let dir = temp_dir("schema");
    let url = format!("sqlite://{}/k.db", dir.0.display());
    let store = SqliteStore::open_unmigrated(&url).await.unwrap();
    unmigrated_then_migrated(&store, SqliteStore::migration_versions()).await;

    let copy = dir.0.join("copy.db");
    SqliteStore::backup(&url, &copy).await.unwrap();
    let info = SqliteStore::check_backup(&copy).await.unwrap();
    assert_eq!((info.orgs, info.keys), (1, 0));
    assert_eq!(info.migrations, SqliteStore::migration_versions().len());
    // Never over a file that has something in it.
    assert!(SqliteStore::backup(&url, &copy).await.is_err());
    // What is not a whole Keygate database is refused.
    let junk = dir.0.join("junk.db");
    std::fs::write(&junk, "not a database").unwrap();
    assert!(SqliteStore::check_backup(&junk).await.is_err());
    let other = dir.0.join("other.db");
    SqliteStore::open_unmigrated(&format!("sqlite://{}", other.display()))
        .await
        .unwrap();
    let err = SqliteStore::check_backup(&other).await.unwrap_err();
    assert!(err.to_string().contains("no _sqlx_migrations"), "{err}");
}

#[tokio::test]
async fn postgres_migrates_only_when_asked() {
    let Some(db) = PgDb::create("store schema on PostgreSQL").await else {
        return;
    };
    let store = PgStore::open_unmigrated(&db.url).await.unwrap();
    unmigrated_then_migrated(&store, PgStore::migration_versions()).await;
}
