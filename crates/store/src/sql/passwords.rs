//! Password resets and changes: the new hash, the sessions that end, the
//! audit events and the notice mail, in one transaction.

use keygate_core::UserId;
use keygate_core::crypto::Digest;

use super::rows::{Get, parse_id};
use super::{Sql, SqlStore, db, found};
use crate::{AuditEvent, PasswordResetRecord, Result, UserMail};

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
    pub(crate) async fn create_password_reset(
        &self,
        reset: &PasswordResetRecord,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("delete from password_resets where expires_at <= $1")
            .bind(reset.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        sqlx::query(
            "insert into password_resets (token_hash, user_id, expires_at, used_at, created_at, \
             updated_at) values ($1, $2, $3, null, $4, $4)",
        )
        .bind(reset.token_hash.to_hex().as_str())
        .bind(reset.user_id.as_str())
        .bind(reset.expires_at)
        .bind(reset.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        Self::commit_with_mail(tx, audit, std::slice::from_ref(mail), None).await
    }

    /// The user of an unused, unexpired reset token.
    pub(crate) async fn password_reset_user(
        &self,
        token_hash: &Digest,
        now: i64,
    ) -> Result<Option<UserId>> {
        sqlx::query(
            "select user_id from password_resets \
             where token_hash = $1 and used_at is null and expires_at > $2",
        )
        .bind(token_hash.to_hex().as_str())
        .bind(now)
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?
        .map(|r| parse_id(&r.text("user_id")?))
        .transpose()
    }

    /// Uses the reset token (NotFound unless unused and unexpired at `now`, and
    /// of `user_id`), sets the password hash, ends every session of the user
    /// and every other reset link of theirs.
    pub(crate) async fn complete_password_reset(
        &self,
        token_hash: &Digest,
        user_id: &UserId,
        password_hash: &str,
        now: i64,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update password_resets set used_at = $1, updated_at = $1 \
             where token_hash = $2 and user_id = $3 and used_at is null and expires_at > $1",
        )
        .bind(now)
        .bind(token_hash.to_hex().as_str())
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        sqlx::query(
            "update password_resets set used_at = $1, updated_at = $1 \
             where user_id = $2 and used_at is null",
        )
        .bind(now)
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        Self::set_password(&mut tx, user_id, password_hash, now, None).await?;
        Self::commit_with_mail(tx, audit, std::slice::from_ref(mail), None).await
    }

    /// Sets a user's password hash and ends their sessions except `keep`.
    pub(crate) async fn change_password(
        &self,
        user_id: &UserId,
        password_hash: &str,
        keep: &Digest,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()> {
        let now = audit.first().map_or(0, |e| e.occurred_at);
        let mut tx = self.begin().await?;
        Self::set_password(&mut tx, user_id, password_hash, now, Some(keep)).await?;
        Self::commit_with_mail(tx, audit, std::slice::from_ref(mail), None).await
    }

    async fn set_password(
        tx: &mut sqlx::Transaction<'static, DB>,
        user_id: &UserId,
        password_hash: &str,
        now: i64,
        keep: Option<&Digest>,
    ) -> Result<()> {
        let done =
            sqlx::query("update users set password_hash = $1, updated_at = $2 where user_id = $3")
                .bind(password_hash)
                .bind(now)
                .bind(user_id.as_str())
                .execute(&mut **tx)
                .await
                .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        let keep = keep.map(|k| k.to_hex());
        sqlx::query("delete from sessions where user_id = $1 and ($2 is null or session_id <> $2)")
            .bind(user_id.as_str())
            .bind(keep.as_deref())
            .execute(&mut **tx)
            .await
            .map_err(db::<DB>)?;
        Ok(())
    }
}
