//! Sign-in sessions: stored under the SHA-256 of their token, listed and ended
//! by their public id.

use keygate_core::crypto::Digest;
use keygate_core::{SessionFactors, SessionId, UserId};

use super::rows::{Get, parse_id, user_row};
use super::{Sql, SqlStore, db, found};
use crate::{AuditEvent, Result, SessionRecord, StoreError, UserRecord};

macro_rules! session_columns {
    () => {
        "s.session_id, s.public_id, s.user_id, s.expires_at, s.created_at, s.last_seen_at, \
         s.ip, s.user_agent, s.factors"
    };
}

fn session_row(r: &impl Get) -> Result<SessionRecord> {
    let hash = r.text("session_id")?;
    Ok(SessionRecord {
        session_hash: Digest::from_hex(&hash)
            .ok_or_else(|| StoreError::Internal("corrupt session".into()))?,
        session_id: parse_id(&r.text("public_id")?)?,
        user_id: parse_id(&r.text("user_id")?)?,
        created_at: r.int("created_at")?,
        expires_at: r.int("expires_at")?,
        last_seen_at: r.opt_int("last_seen_at")?.unwrap_or(0),
        ip: r.opt_text("ip")?,
        user_agent: r.opt_text("user_agent")?,
        factors: SessionFactors::parse(&r.text("factors")?),
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
    pub(crate) async fn insert_session(
        tx: &mut sqlx::Transaction<'static, DB>,
        s: &SessionRecord,
    ) -> Result<()> {
        // Expired sessions are swept here, on a path that writes anyway.
        sqlx::query("delete from sessions where expires_at <= $1")
            .bind(s.created_at)
            .execute(&mut **tx)
            .await
            .map_err(db::<DB>)?;
        sqlx::query(
            "insert into sessions (session_id, public_id, user_id, expires_at, created_at, \
             updated_at, last_seen_at, ip, user_agent, factors) \
             values ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)",
        )
        .bind(s.session_hash.to_hex().as_str())
        .bind(s.session_id.as_str())
        .bind(s.user_id.as_str())
        .bind(s.expires_at)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.ip.as_deref())
        .bind(s.user_agent.as_deref())
        .bind(s.factors.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db::<DB>)?;
        Ok(())
    }

    pub(crate) async fn create_session(
        &self,
        s: &SessionRecord,
        audit: &[AuditEvent],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        Self::insert_session(&mut tx, s).await?;
        Self::audit_and_commit(tx, audit).await
    }

    /// An unexpired session (by absolute expiry) and its user.
    pub(crate) async fn session(
        &self,
        hash: &Digest,
        now: i64,
    ) -> Result<Option<(UserRecord, SessionRecord)>> {
        sqlx::query(concat!(
            "select u.email, u.password_hash, u.created_at as user_created_at, ",
            session_columns!(),
            " from sessions s join users u on u.user_id = s.user_id \
             where s.session_id = $1 and s.expires_at > $2"
        ))
        .bind(hash.to_hex().as_str())
        .bind(now)
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?
        .map(|r| {
            let s = session_row(&r)?;
            let u = UserRecord {
                user_id: s.user_id.clone(),
                email: r.text("email")?,
                password_hash: r.text("password_hash")?,
                created_at: r.int("user_created_at")?,
            };
            Ok((u, s))
        })
        .transpose()
    }

    pub(crate) async fn session_user(&self, hash: &Digest, now: i64) -> Result<Option<UserRecord>> {
        sqlx::query(
            "select u.user_id, u.email, u.password_hash, u.created_at from sessions s \
             join users u on u.user_id = s.user_id where s.session_id = $1 and s.expires_at > $2",
        )
        .bind(hash.to_hex().as_str())
        .bind(now)
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?
        .map(|r| user_row(&r))
        .transpose()
    }

    pub(crate) async fn touch_session(&self, hash: &Digest, now: i64) -> Result<()> {
        sqlx::query("update sessions set last_seen_at = $1, updated_at = $1 where session_id = $2")
            .bind(now)
            .bind(hash.to_hex().as_str())
            .execute(&self.write)
            .await
            .map_err(db::<DB>)?;
        Ok(())
    }

    /// The user's sessions that have not expired by `now` (absolute expiry) and
    /// were seen at or after `seen_since`, newest first.
    pub(crate) async fn sessions(
        &self,
        user_id: &UserId,
        now: i64,
        seen_since: i64,
    ) -> Result<Vec<SessionRecord>> {
        sqlx::query(concat!(
            "select ",
            session_columns!(),
            " from sessions s where s.user_id = $1 and s.expires_at > $2 \
             and s.last_seen_at >= $3 order by s.created_at desc, s.public_id"
        ))
        .bind(user_id.as_str())
        .bind(now)
        .bind(seen_since)
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(session_row)
        .collect()
    }

    pub(crate) async fn delete_session(&self, hash: &Digest) -> Result<()> {
        sqlx::query("delete from sessions where session_id = $1")
            .bind(hash.to_hex().as_str())
            .execute(&self.write)
            .await
            .map_err(db::<DB>)?;
        Ok(())
    }

    /// Ends one of the user's sessions; NotFound when it is not theirs.
    pub(crate) async fn end_session(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        audit: &[AuditEvent],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("delete from sessions where user_id = $1 and public_id = $2")
            .bind(user_id.as_str())
            .bind(session_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        Self::audit_and_commit(tx, audit).await
    }
}
