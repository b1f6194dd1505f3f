//! Invitations: each change writes its audit event and, when it mails, its
//! `UserMail` in the same transaction.

use keygate_core::crypto::Digest;
use keygate_core::{EventId, InvitationId, OrgId, Role, UserId};
use sqlx::Transaction;

use super::rows::{Get, parse_id, parse_role};
use super::{Sql, SqlStore, conflict, db, found};
use crate::{
    AuditEvent, InvitationRecord, Result, SessionRecord, StoreError, UserMail, UserRecord,
};

macro_rules! invitation_columns {
    () => {
        "i.invitation_id, i.org_id, o.name as org_name, i.email, i.role, i.token_hash, \
         i.invited_by, iu.email as invited_by_email, im.role as inviter_role, \
         i.expires_at, i.created_at \
         from invitations i join orgs o on o.org_id = i.org_id \
         left join users iu on iu.user_id = i.invited_by \
         left join memberships im on im.org_id = i.org_id and im.user_id = i.invited_by"
    };
}

fn invitation_row(r: &impl Get) -> Result<InvitationRecord> {
    Ok(InvitationRecord {
        invitation_id: parse_id(&r.text("invitation_id")?)?,
        org_id: parse_id(&r.text("org_id")?)?,
        org_name: r.text("org_name")?,
        email: r.text("email")?,
        role: parse_role(&r.text("role")?)?,
        token_hash: Digest::from_hex(&r.text("token_hash")?)
            .ok_or_else(|| StoreError::Internal("corrupt invitation".into()))?,
        invited_by: r
            .opt_text("invited_by")?
            .map(|u| parse_id(&u))
            .transpose()?,
        invited_by_email: r.opt_text("invited_by_email")?,
        inviter_role: r
            .opt_text("inviter_role")?
            .map(|role| parse_role(&role))
            .transpose()?,
        expires_at: r.int("expires_at")?,
        created_at: r.int("created_at")?,
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
    pub(crate) async fn create_invitation(
        &self,
        inv: &InvitationRecord,
        audit: &AuditEvent,
        mail: &UserMail,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let now = inv.created_at;
        // The inviter's role is read again here: a removal or demotion that
        // committed since the request was authorized refuses it.
        if !Self::inviter_stands(&mut tx, inv).await? {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "update invitations set status = 'expired', updated_at = $1 \
             where org_id = $2 and email = $3 and status = 'pending' and expires_at <= $1",
        )
        .bind(now)
        .bind(inv.org_id.as_str())
        .bind(inv.email.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        let member = sqlx::query(
            "select 1 as one from memberships m join users u on u.user_id = m.user_id \
             where m.org_id = $1 and u.email = $2",
        )
        .bind(inv.org_id.as_str())
        .bind(inv.email.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        if member.is_some() {
            return Err(StoreError::Conflict(
                "that email is already a member of this organization",
            ));
        }
        Self::insert_invitation(&mut tx, inv).await?;
        Self::commit_with_mail(
            tx,
            std::slice::from_ref(audit),
            std::slice::from_ref(mail),
            Some(&inv.org_id),
        )
        .await
    }

    /// Inserts a pending invitation; Conflict when the email has one to the
    /// organization already.
    pub(crate) async fn insert_invitation(
        tx: &mut Transaction<'static, DB>,
        inv: &InvitationRecord,
    ) -> Result<()> {
        sqlx::query(
            "insert into invitations (invitation_id, org_id, email, role, token_hash, invited_by, \
             status, expires_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8)",
        )
        .bind(inv.invitation_id.as_str())
        .bind(inv.org_id.as_str())
        .bind(inv.email.as_str())
        .bind(inv.role.as_str())
        .bind(inv.token_hash.to_hex().as_str())
        .bind(inv.invited_by.as_ref().map(|u| u.as_str()))
        .bind(inv.expires_at)
        .bind(inv.created_at)
        .execute(&mut **tx)
        .await
        .map_err(conflict::<DB>(
            "that email already has a pending invitation to this organization",
        ))?;
        Ok(())
    }

    /// Pending, unexpired invitations of an organization, newest first.
    pub(crate) async fn invitations(
        &self,
        org_id: &OrgId,
        now: i64,
    ) -> Result<Vec<InvitationRecord>> {
        sqlx::query(concat!(
            "select ",
            invitation_columns!(),
            " where i.org_id = $1 and i.status = 'pending' and i.expires_at > $2 \
             order by i.created_at desc, i.invitation_id"
        ))
        .bind(org_id.as_str())
        .bind(now)
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(invitation_row)
        .collect()
    }

    /// The pending, unexpired invitation with this token digest.
    pub(crate) async fn invitation_by_token(
        &self,
        token_hash: &Digest,
        now: i64,
    ) -> Result<Option<InvitationRecord>> {
        sqlx::query(concat!(
            "select ",
            invitation_columns!(),
            " where i.token_hash = $1 and i.status = 'pending' and i.expires_at > $2"
        ))
        .bind(token_hash.to_hex().as_str())
        .bind(now)
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?
        .map(|r| invitation_row(&r))
        .transpose()
    }

    pub(crate) async fn withdraw_invitation(
        &self,
        org_id: &OrgId,
        invitation_id: &InvitationId,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update invitations set status = 'withdrawn', updated_at = $1 \
             where org_id = $2 and invitation_id = $3 and status = 'pending'",
        )
        .bind(audit.occurred_at)
        .bind(org_id.as_str())
        .bind(invitation_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }

    /// Whether `inv`'s inviter, as the database says inside `tx`, may still
    /// send it (locked on PostgreSQL until `tx` ends, see `Sql::INVITER_ROLE`).
    async fn inviter_stands(
        tx: &mut Transaction<'static, DB>,
        inv: &InvitationRecord,
    ) -> Result<bool> {
        let Some(inviter) = &inv.invited_by else {
            return Ok(InvitationRecord {
                inviter_role: None,
                ..inv.clone()
            }
            .stands());
        };
        let role = sqlx::query(DB::INVITER_ROLE)
            .bind(inv.org_id.as_str())
            .bind(inviter.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db::<DB>)?
            .map(|r| parse_role(&r.text("role")?))
            .transpose()?;
        Ok(InvitationRecord {
            inviter_role: role,
            ..inv.clone()
        }
        .stands())
    }

    /// Withdraws, inside `tx`, the pending invitations `user_id` sent that
    /// their role `now` (`None`: removed) may no longer send, with one copy of
    /// `withdrawn` per invitation (its id, email and role added to the
    /// details). Runs after the membership change, in the same transaction.
    pub(crate) async fn withdraw_invitations_of(
        tx: &mut Transaction<'static, DB>,
        org_id: &OrgId,
        user_id: &UserId,
        now: Option<Role>,
        withdrawn: &AuditEvent,
    ) -> Result<Vec<AuditEvent>> {
        let sent = sqlx::query(
            "select invitation_id, email, role from invitations \
             where org_id = $1 and invited_by = $2 and status = 'pending'",
        )
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(db::<DB>)?;
        let mut events = Vec::new();
        for row in &sent {
            let role = parse_role(&row.text("role")?)?;
            if now.is_some_and(|r| r.may_invite_as(role)) {
                continue;
            }
            let id = row.text("invitation_id")?;
            sqlx::query(
                "update invitations set status = 'withdrawn', updated_at = $1 \
                 where invitation_id = $2 and status = 'pending'",
            )
            .bind(withdrawn.occurred_at)
            .bind(id.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db::<DB>)?;
            let mut event = withdrawn.clone();
            event.event_id = EventId::generate();
            if let Some(details) = event.details.as_object_mut() {
                details.insert("invitation_id".into(), id.into());
                details.insert("email".into(), row.text("email")?.into());
                details.insert("role".into(), role.as_str().into());
            }
            events.push(event);
        }
        Ok(events)
    }

    /// Uses the invitation (NotFound unless still pending and unexpired at
    /// `session.created_at`), inserts `user` when `new_user`, the membership
    /// and the session, and the audit events.
    pub(crate) async fn accept_invitation(
        &self,
        inv: &InvitationRecord,
        user: &UserRecord,
        new_user: bool,
        session: &SessionRecord,
        audit: &[AuditEvent],
    ) -> Result<()> {
        let now = session.created_at;
        let mut tx = self.begin().await?;
        // Decided here, in the transaction: an invitation whose inviter was
        // removed, or may no longer grant its role, is as good as withdrawn.
        if !Self::inviter_stands(&mut tx, inv).await? {
            return Err(StoreError::NotFound);
        }
        let done = sqlx::query(
            "update invitations set status = 'accepted', updated_at = $1 \
             where invitation_id = $2 and status = 'pending' and expires_at > $1",
        )
        .bind(now)
        .bind(inv.invitation_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        if new_user {
            Self::insert_user(&mut tx, user).await?;
        }
        sqlx::query(
            "insert into memberships (org_id, user_id, role, created_at, updated_at) \
             values ($1, $2, $3, $4, $4)",
        )
        .bind(inv.org_id.as_str())
        .bind(user.user_id.as_str())
        .bind(inv.role.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(conflict::<DB>(
            "you are already a member of this organization",
        ))?;
        Self::insert_session(&mut tx, session).await?;
        Self::audit_and_commit(tx, audit).await
    }
}
