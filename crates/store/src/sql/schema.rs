//! The schema: which migrations this build knows that the database has not
//! had yet, and applying them. Each backend's migrations and how sqlx runs
//! them are the database's own (`Sql::migrator`, `Sql::apply_migrations`).

use sqlx::Row as _;

use super::{Sql, SqlStore, db};
use crate::{Migration, Result};

impl<DB: Sql> SqlStore<DB>
where
    for<'q> &'q str: sqlx::ColumnIndex<DB::Row>,
    for<'q, 'r> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    pub(crate) async fn pending_migrations(&self) -> Result<Vec<Migration>> {
        let has_table: i64 = sqlx::query(DB::MIGRATIONS_TABLE)
            .fetch_one(&self.read)
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(db::<DB>)?;
        let mut applied: Vec<i64> = Vec::new();
        if has_table > 0 {
            // A failed migration's row (`success` false) is not applied:
            // sqlx refuses to go on until someone looks at it.
            for row in sqlx::query("select version from _sqlx_migrations where success")
                .fetch_all(&self.read)
                .await
                .map_err(db::<DB>)?
            {
                applied.push(row.try_get("version").map_err(db::<DB>)?);
            }
        }
        Ok(DB::migrator()
            .iter()
            .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
            .map(|m| Migration {
                version: m.version,
                description: m.description.to_string(),
            })
            .collect())
    }

    pub(crate) async fn migrate(&self) -> Result<Vec<Migration>> {
        let pending = self.pending_migrations().await?;
        DB::apply_migrations(self).await?;
        Ok(pending)
    }
}
