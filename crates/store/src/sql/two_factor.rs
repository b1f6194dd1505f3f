//! Two-factor sign-in: enrolment, the last used time step, recovery codes,
//! sign-in challenges and the organizations' "require two-factor" policy.

use keygate_core::crypto::Digest;
use keygate_core::{OrgId, SessionFactors, UserId};

use super::rows::{Get, parse_id};
use super::{Sql, SqlStore, db, found};
use crate::{AuditEvent, Result, StoreError, TwoFactorRecord, UserMail};

fn two_factor_row(r: &impl Get) -> Result<TwoFactorRecord> {
    Ok(TwoFactorRecord {
        user_id: parse_id(&r.text("user_id")?)?,
        sealed_secret: r.text("sealed_secret")?,
        enabled_at: r.opt_int("enabled_at")?,
        last_step: r.int("last_step")?,
    })
}

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
    pub(crate) async fn two_factor(&self, user_id: &UserId) -> Result<Option<TwoFactorRecord>> {
        let row = sqlx::query(
            "select user_id, sealed_secret, enabled_at, last_step from two_factor where user_id = $1",
        )
        .bind(user_id.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?;
        row.as_ref().map(two_factor_row).transpose()
    }

    pub(crate) async fn begin_two_factor(
        &self,
        user_id: &UserId,
        sealed: &str,
        now: i64,
    ) -> Result<()> {
        let done = sqlx::query(
            "insert into two_factor (user_id, sealed_secret, enabled_at, last_step, created_at, updated_at) \
             values ($1, $2, null, 0, $3, $3) \
             on conflict (user_id) do update set sealed_secret = excluded.sealed_secret, \
             last_step = 0, updated_at = excluded.updated_at where two_factor.enabled_at is null",
        )
        .bind(user_id.as_str())
        .bind(sealed)
        .bind(now)
        .execute(&self.write)
        .await
        .map_err(db::<DB>)?;
        if DB::rows_affected(&done) == 0 {
            return Err(StoreError::Conflict("two-factor sign-in is already on"));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn enable_two_factor(
        &self,
        user_id: &UserId,
        step: i64,
        recovery: &[Digest],
        current_session: &Digest,
        now: i64,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update two_factor set enabled_at = $1, last_step = $2, updated_at = $1 \
             where user_id = $3 and enabled_at is null and last_step < $2",
        )
        .bind(now)
        .bind(step)
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        Self::replace_recovery(&mut tx, user_id, recovery, now).await?;
        // The confirming session just passed a code; any other session was
        // opened with the password alone and ends here.
        let session = current_session.to_hex();
        sqlx::query(
            "update sessions set factors = $1, updated_at = $2 \
             where session_id = $3 and user_id = $4",
        )
        .bind(SessionFactors::PasswordAndCode.as_str())
        .bind(now)
        .bind(session.as_str())
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        sqlx::query("delete from sessions where user_id = $1 and session_id <> $2")
            .bind(user_id.as_str())
            .bind(session.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        Self::commit_with_mail(tx, audit, mail, None).await
    }

    pub(crate) async fn two_factor_seals(&self) -> Result<Vec<TwoFactorRecord>> {
        sqlx::query(
            "select user_id, sealed_secret, enabled_at, last_step from two_factor order by user_id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(two_factor_row)
        .collect()
    }

    pub(crate) async fn reseal_two_factor(
        &self,
        user_id: &UserId,
        old: &str,
        new: &str,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "update two_factor set sealed_secret = $1, updated_at = $2 \
             where user_id = $3 and sealed_secret = $4",
        )
        .bind(new)
        .bind(now)
        .bind(user_id.as_str())
        .bind(old)
        .execute(&self.write)
        .await
        .map_err(db::<DB>)?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn replace_recovery(
        tx: &mut sqlx::Transaction<'static, DB>,
        user_id: &UserId,
        recovery: &[Digest],
        now: i64,
    ) -> Result<()> {
        sqlx::query("delete from recovery_codes where user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db::<DB>)?;
        for d in recovery {
            sqlx::query(
                "insert into recovery_codes (code_hash, user_id, used_at, created_at, updated_at) \
                 values ($1, $2, null, $3, $3)",
            )
            .bind(d.to_hex().as_str())
            .bind(user_id.as_str())
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(db::<DB>)?;
        }
        Ok(())
    }

    pub(crate) async fn disable_two_factor(
        &self,
        user_id: &UserId,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("delete from two_factor where user_id = $1 and enabled_at is not null")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        Self::replace_recovery(&mut tx, user_id, &[], 0).await?;
        Self::commit_with_mail(tx, audit, mail, None).await
    }

    pub(crate) async fn use_totp_step(
        &self,
        user_id: &UserId,
        step: i64,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "update two_factor set last_step = $1, updated_at = $2 \
             where user_id = $3 and enabled_at is not null and last_step < $1",
        )
        .bind(step)
        .bind(now)
        .bind(user_id.as_str())
        .execute(&self.write)
        .await
        .map_err(db::<DB>)?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub(crate) async fn use_recovery_code(
        &self,
        user_id: &UserId,
        code_hash: &Digest,
        now: i64,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update recovery_codes set used_at = $1, updated_at = $1 \
             where code_hash = $2 and user_id = $3 and used_at is null",
        )
        .bind(now)
        .bind(code_hash.to_hex().as_str())
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        if DB::rows_affected(&done) != 1 {
            return Ok(false);
        }
        Self::commit_with_mail(tx, audit, mail, None).await?;
        Ok(true)
    }

    pub(crate) async fn create_two_factor_challenge(
        &self,
        challenge_hash: &Digest,
        user_id: &UserId,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("delete from two_factor_challenges where expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        sqlx::query(
            "insert into two_factor_challenges (challenge_hash, user_id, attempts, expires_at, \
             created_at, updated_at) values ($1, $2, 0, $3, $4, $4)",
        )
        .bind(challenge_hash.to_hex().as_str())
        .bind(user_id.as_str())
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        tx.commit().await.map_err(db::<DB>)
    }

    /// Counts one attempt on an unexpired challenge with attempts left and
    /// returns its user; `None` otherwise.
    pub(crate) async fn attempt_two_factor_challenge(
        &self,
        challenge_hash: &Digest,
        now: i64,
        max_attempts: i64,
    ) -> Result<Option<UserId>> {
        let row = sqlx::query(
            "update two_factor_challenges set attempts = attempts + 1, updated_at = $1 \
             where challenge_hash = $2 and expires_at > $1 and attempts < $3 returning user_id",
        )
        .bind(now)
        .bind(challenge_hash.to_hex().as_str())
        .bind(max_attempts)
        .fetch_optional(&self.write)
        .await
        .map_err(db::<DB>)?;
        row.map(|r| parse_id(&r.text("user_id")?)).transpose()
    }

    pub(crate) async fn end_two_factor_challenge(&self, challenge_hash: &Digest) -> Result<()> {
        sqlx::query("delete from two_factor_challenges where challenge_hash = $1")
            .bind(challenge_hash.to_hex().as_str())
            .execute(&self.write)
            .await
            .map_err(db::<DB>)?;
        Ok(())
    }

    pub(crate) async fn require_two_factor(&self, org_id: &OrgId) -> Result<bool> {
        let row = sqlx::query("select require_two_factor from orgs where org_id = $1")
            .bind(org_id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db::<DB>)?
            .ok_or(StoreError::NotFound)?;
        row.flag("require_two_factor")
    }

    pub(crate) async fn set_require_two_factor(
        &self,
        org_id: &OrgId,
        on: bool,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update orgs set require_two_factor = $1, updated_at = $2 where org_id = $3",
        )
        .bind(on)
        .bind(audit.occurred_at)
        .bind(org_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }

    /// True when the organization requires two-factor sign-in and the
    /// session falls short: made without a second factor, or its user does
    /// not have two-factor on (any more).
    pub(crate) async fn lacks_required_two_factor(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        factors: SessionFactors,
    ) -> Result<bool> {
        // A passkey session keeps its access while the user has a passkey;
        // a password-and-code one while two-factor is on.
        let row = sqlx::query(
            "select 1 as lacking from orgs o where o.org_id = $1 and o.require_two_factor \
             and ($3 or ($4 and not exists (select 1 from two_factor t where t.user_id = $2 \
             and t.enabled_at is not null)) \
             or ($5 and not exists (select 1 from passkeys p where p.user_id = $2)))",
        )
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .bind(!factors.has_second_factor())
        .bind(factors == SessionFactors::PasswordAndCode)
        .bind(factors == SessionFactors::Passkey)
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?;
        Ok(row.is_some())
    }
}
