//! Organizations, users and sessions.

use keygate_core::{OrgId, Role, UserId};
use sqlx::Transaction;

use super::rows::{Get, membership_row, org_row, parse_id, parse_role, user_row};
use super::{Sql, SqlStore, conflict, db};
use crate::{AccountRecord, AuditEvent, Membership, OrgRecord, Result, StoreError, UserRecord};

impl<DB: Sql> SqlStore<DB>
where
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB>,
    for<'q, 'r> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'q, 'r> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    pub(crate) async fn is_empty(&self) -> Result<bool> {
        let row = sqlx::query("select count(*) as n from orgs")
            .fetch_one(&self.read)
            .await
            .map_err(db::<DB>)?;
        Ok(row.int("n")? == 0)
    }

    pub(crate) async fn create_org(
        &self,
        org: &OrgRecord,
        accounts: &[AccountRecord],
        owner: &UserRecord,
        audit: &AuditEvent,
    ) -> Result<UserId> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into orgs (org_id, name, created_at, updated_at) values ($1, $2, $3, $3)",
        )
        .bind(org.org_id.as_str())
        .bind(org.name.as_str())
        .bind(org.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        for a in accounts {
            Self::insert_account(&mut tx, a).await?;
        }
        // A new owner is a new user (never a silent reuse of an account with
        // that email); an empty password hash names an existing account.
        let owner_id = if owner.password_hash.is_empty() {
            let row = sqlx::query("select user_id from users where email = $1")
                .bind(owner.email.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db::<DB>)?
                .ok_or(StoreError::NotFound)?;
            parse_id(&row.text("user_id")?)?
        } else {
            Self::insert_user(&mut tx, owner).await?;
            owner.user_id.clone()
        };
        sqlx::query(
            "insert into memberships (org_id, user_id, role, created_at, updated_at) \
             values ($1, $2, 'owner', $3, $3)",
        )
        .bind(org.org_id.as_str())
        .bind(owner_id.as_str())
        .bind(org.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await?;
        Ok(owner_id)
    }

    /// Inserts a new user; Conflict when the email has an account.
    pub(crate) async fn insert_user(
        tx: &mut Transaction<'static, DB>,
        user: &UserRecord,
    ) -> Result<()> {
        sqlx::query(
            "insert into users (user_id, email, password_hash, created_at, updated_at) \
             values ($1, $2, $3, $4, $4)",
        )
        .bind(user.user_id.as_str())
        .bind(user.email.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.created_at)
        .execute(&mut **tx)
        .await
        .map_err(conflict::<DB>("that email already has an account"))?;
        Ok(())
    }

    pub(crate) async fn org(&self, org_id: &OrgId) -> Result<Option<OrgRecord>> {
        sqlx::query("select org_id, name, created_at from orgs where org_id = $1")
            .bind(org_id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db::<DB>)?
            .map(|r| org_row(&r))
            .transpose()
    }

    pub(crate) async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        sqlx::query("select user_id, email, password_hash, created_at from users where email = $1")
            .bind(email)
            .fetch_optional(&self.read)
            .await
            .map_err(db::<DB>)?
            .map(|r| user_row(&r))
            .transpose()
    }

    pub(crate) async fn user(&self, user_id: &UserId) -> Result<Option<UserRecord>> {
        sqlx::query(
            "select user_id, email, password_hash, created_at from users where user_id = $1",
        )
        .bind(user_id.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?
        .map(|r| user_row(&r))
        .transpose()
    }

    pub(crate) async fn memberships(&self, user_id: &UserId) -> Result<Vec<Membership>> {
        sqlx::query(
            "select m.org_id, o.name, m.role from memberships m join orgs o on o.org_id = m.org_id \
             where m.user_id = $1 order by o.name, m.org_id",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(membership_row)
        .collect()
    }

    pub(crate) async fn role(&self, org_id: &OrgId, user_id: &UserId) -> Result<Option<Role>> {
        sqlx::query("select role from memberships where org_id = $1 and user_id = $2")
            .bind(org_id.as_str())
            .bind(user_id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db::<DB>)?
            .map(|r| parse_role(&r.text("role")?))
            .transpose()
    }
}
