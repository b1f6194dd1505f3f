//! Accounts and the members of an organization.

use keygate_core::{AccountId, OrgId, Role, UserId};
use sqlx::Transaction;

use super::rows::{account_row, member_row};
use super::{Sql, SqlStore, db, found};
use crate::{AccountRecord, AuditEvent, Change, MemberRecord, Result};

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
    pub(crate) async fn insert_account(
        tx: &mut Transaction<'static, DB>,
        a: &AccountRecord,
    ) -> Result<()> {
        sqlx::query(
            "insert into accounts (account_id, org_id, name, created_at, updated_at) \
             values ($1, $2, $3, $4, $4)",
        )
        .bind(a.account_id.as_str())
        .bind(a.org_id.as_str())
        .bind(a.name.as_str())
        .bind(a.created_at)
        .execute(&mut **tx)
        .await
        .map_err(db::<DB>)?;
        DB::changed(tx, &Change::Account(a.account_id.clone())).await
    }

    pub(crate) async fn accounts(&self, org_id: &OrgId) -> Result<Vec<AccountRecord>> {
        sqlx::query(
            "select account_id, org_id, name, created_at from accounts where org_id = $1 \
             order by created_at, account_id",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(account_row)
        .collect()
    }

    pub(crate) async fn all_accounts(&self) -> Result<Vec<AccountRecord>> {
        sqlx::query("select account_id, org_id, name, created_at from accounts")
            .fetch_all(&self.read)
            .await
            .map_err(db::<DB>)?
            .iter()
            .map(account_row)
            .collect()
    }

    pub(crate) async fn account(&self, account_id: &AccountId) -> Result<Option<AccountRecord>> {
        sqlx::query(
            "select account_id, org_id, name, created_at from accounts where account_id = $1",
        )
        .bind(account_id.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?
        .map(|r| account_row(&r))
        .transpose()
    }

    pub(crate) async fn create_account(&self, a: &AccountRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        Self::insert_account(&mut tx, a).await?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }

    pub(crate) async fn members(&self, org_id: &OrgId) -> Result<Vec<MemberRecord>> {
        sqlx::query(
            "select u.user_id, u.email, m.role, m.created_at, \
             (t.enabled_at is not null) as two_factor from memberships m \
             join users u on u.user_id = m.user_id \
             left join two_factor t on t.user_id = m.user_id \
             where m.org_id = $1 order by m.created_at, u.email",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(member_row)
        .collect()
    }

    /// Changes the role of a member who is not the owner, and withdraws the
    /// pending invitations they sent that the new role may not send.
    pub(crate) async fn set_member_role(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: Role,
        audit: &AuditEvent,
        withdrawn: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update memberships set role = $1, updated_at = $2 \
             where org_id = $3 and user_id = $4 and role <> 'owner'",
        )
        .bind(role.as_str())
        .bind(audit.occurred_at)
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        let mut events = vec![audit.clone()];
        events.extend(
            Self::withdraw_invitations_of(&mut tx, org_id, user_id, Some(role), withdrawn).await?,
        );
        Self::audit_and_commit(tx, &events).await
    }

    /// Removes a member who is not the owner, and withdraws every pending
    /// invitation they sent.
    pub(crate) async fn remove_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        audit: &AuditEvent,
        withdrawn: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "delete from memberships where org_id = $1 and user_id = $2 and role <> 'owner'",
        )
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        let mut events = vec![audit.clone()];
        events.extend(
            Self::withdraw_invitations_of(&mut tx, org_id, user_id, None, withdrawn).await?,
        );
        Self::audit_and_commit(tx, &events).await
    }
}
