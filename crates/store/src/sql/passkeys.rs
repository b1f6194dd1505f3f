//! Passkeys: registered credentials (added and removed with their audit
//! events and mail), their signature counters, and the challenges of started
//! ceremonies, each taken once.

use keygate_core::{PasskeyId, UserId};

use super::rows::{Get, parse_id};
use super::{Sql, SqlStore, conflict, db, found};
use crate::{AuditEvent, PasskeyChallengeRecord, PasskeyPurpose, PasskeyRecord, Result, UserMail};
use keygate_core::crypto::Digest;

/// The columns of a passkey, in `PasskeyRecord` order (a macro, so the
/// queries stay `&'static str`).
macro_rules! columns {
    () => {
        "passkey_id, user_id, name, credential_id, user_handle, static_state, \
         dynamic_state, sign_count, created_at, last_used_at"
    };
}

fn passkey_row(r: &impl Get) -> Result<PasskeyRecord> {
    Ok(PasskeyRecord {
        passkey_id: parse_id(&r.text("passkey_id")?)?,
        user_id: parse_id(&r.text("user_id")?)?,
        name: r.text("name")?,
        credential_id: r.text("credential_id")?,
        user_handle: r.text("user_handle")?,
        static_state: r.text("static_state")?,
        dynamic_state: r.text("dynamic_state")?,
        sign_count: r.int("sign_count")?,
        created_at: r.int("created_at")?,
        last_used_at: r.opt_int("last_used_at")?,
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
    pub(crate) async fn passkeys(&self, user_id: &UserId) -> Result<Vec<PasskeyRecord>> {
        sqlx::query(concat!(
            "select ",
            columns!(),
            " from passkeys where user_id = $1 order by created_at, passkey_id"
        ))
        .bind(user_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(passkey_row)
        .collect()
    }

    pub(crate) async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyRecord>> {
        let row = sqlx::query(concat!(
            "select ",
            columns!(),
            " from passkeys where credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?;
        row.as_ref().map(passkey_row).transpose()
    }

    pub(crate) async fn add_passkey(
        &self,
        p: &PasskeyRecord,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(concat!(
            "insert into passkeys (",
            columns!(),
            ", updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9)"
        ))
        .bind(p.passkey_id.as_str())
        .bind(p.user_id.as_str())
        .bind(p.name.as_str())
        .bind(p.credential_id.as_str())
        .bind(p.user_handle.as_str())
        .bind(p.static_state.as_str())
        .bind(p.dynamic_state.as_str())
        .bind(p.sign_count)
        .bind(p.created_at)
        .bind(p.last_used_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict::<DB>("this passkey is already registered"))?;
        Self::commit_with_mail(tx, audit, mail, None).await
    }

    pub(crate) async fn remove_passkey(
        &self,
        user_id: &UserId,
        passkey_id: &PasskeyId,
        audit: &[AuditEvent],
        mail: &[UserMail],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("delete from passkeys where passkey_id = $1 and user_id = $2")
            .bind(passkey_id.as_str())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        Self::commit_with_mail(tx, audit, mail, None).await
    }

    /// Records a sign-in with the passkey if its counter is still
    /// `seen_count` (two sign-ins racing with one assertion each: one wins).
    pub(crate) async fn use_passkey(
        &self,
        passkey_id: &PasskeyId,
        seen_count: i64,
        sign_count: i64,
        dynamic_state: &str,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "update passkeys set sign_count = $1, dynamic_state = $2, last_used_at = $3, \
             updated_at = $3 where passkey_id = $4 and sign_count = $5",
        )
        .bind(sign_count)
        .bind(dynamic_state)
        .bind(now)
        .bind(passkey_id.as_str())
        .bind(seen_count)
        .execute(&self.write)
        .await
        .map_err(db::<DB>)?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub(crate) async fn create_passkey_challenge(&self, c: &PasskeyChallengeRecord) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("delete from passkey_challenges where expires_at <= $1")
            .bind(c.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        sqlx::query(
            "insert into passkey_challenges (challenge_hash, purpose, user_id, server_state, \
             expires_at, created_at) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.challenge_hash.to_hex().as_str())
        .bind(c.purpose.as_str())
        .bind(c.user_id.as_ref().map(|u| u.as_str()))
        .bind(c.server_state.as_str())
        .bind(c.expires_at)
        .bind(c.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        tx.commit().await.map_err(db::<DB>)
    }

    /// Deletes the challenge and returns it if it was for `purpose` and has
    /// not expired at `now`: whoever takes it first has it, once.
    pub(crate) async fn take_passkey_challenge(
        &self,
        challenge_hash: &Digest,
        purpose: PasskeyPurpose,
        now: i64,
    ) -> Result<Option<PasskeyChallengeRecord>> {
        let row = sqlx::query(
            "delete from passkey_challenges where challenge_hash = $1 and purpose = $2 \
             returning user_id, server_state, expires_at, created_at",
        )
        .bind(challenge_hash.to_hex().as_str())
        .bind(purpose.as_str())
        .fetch_optional(&self.write)
        .await
        .map_err(db::<DB>)?;
        let Some(r) = row else { return Ok(None) };
        let taken = PasskeyChallengeRecord {
            challenge_hash: *challenge_hash,
            purpose,
            user_id: r.opt_text("user_id")?.map(|u| parse_id(&u)).transpose()?,
            server_state: r.text("server_state")?,
            expires_at: r.int("expires_at")?,
            created_at: r.int("created_at")?,
        };
        Ok((taken.expires_at > now).then_some(taken))
    }
}
