//! Single sign-on settings: one row per organization in `sso_settings`, and
//! its email domains in `sso_domains`, whose primary key keeps each domain to
//! one organization. A sign-in through the provider may add the person and
//! the membership in the same transaction as the session.

use keygate_core::{OrgId, Role};

use super::rows::{Get, parse_id, parse_role};
use super::{Sql, SqlStore, conflict, db, found};
use crate::{AuditEvent, Result, SessionRecord, SsoSettingsRecord, StoreError, UserRecord};

macro_rules! select_sso {
    () => {
        "select org_id, issuer, client_id, sealed_secret, domains, enforce, \
         default_role, created_at, updated_at from sso_settings"
    };
}

fn sso_row(r: &impl Get) -> Result<SsoSettingsRecord> {
    Ok(SsoSettingsRecord {
        org_id: parse_id(&r.text("org_id")?)?,
        issuer: r.text("issuer")?,
        client_id: r.text("client_id")?,
        sealed_secret: r.text("sealed_secret")?,
        domains: serde_json::from_str(&r.text("domains")?)
            .map_err(|_| StoreError::Internal("corrupt sso_settings.domains".into()))?,
        enforce: r.flag("enforce")?,
        default_role: parse_role(&r.text("default_role")?)?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
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
    pub(crate) async fn put_sso_settings(
        &self,
        s: &SsoSettingsRecord,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into sso_settings (org_id, issuer, client_id, sealed_secret, domains, \
             enforce, default_role, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             on conflict (org_id) do update set issuer = $2, client_id = $3, \
             sealed_secret = $4, domains = $5, enforce = $6, default_role = $7, updated_at = $9",
        )
        .bind(s.org_id.as_str())
        .bind(s.issuer.as_str())
        .bind(s.client_id.as_str())
        .bind(s.sealed_secret.as_str())
        .bind(
            serde_json::Value::from(s.domains.clone())
                .to_string()
                .as_str(),
        )
        .bind(s.enforce)
        .bind(s.default_role.as_str())
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db::<DB>)?;
        sqlx::query("delete from sso_domains where org_id = $1")
            .bind(s.org_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        for d in &s.domains {
            sqlx::query("insert into sso_domains (domain, org_id) values ($1, $2)")
                .bind(d.as_str())
                .bind(s.org_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(conflict::<DB>(
                    "an email domain in domains is claimed by another organization",
                ))?;
        }
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }

    pub(crate) async fn sso_settings(&self, org_id: &OrgId) -> Result<Option<SsoSettingsRecord>> {
        sqlx::query(concat!(select_sso!(), " where org_id = $1"))
            .bind(org_id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db::<DB>)?
            .as_ref()
            .map(sso_row)
            .transpose()
    }

    pub(crate) async fn sso_settings_for_domain(
        &self,
        domain: &str,
    ) -> Result<Option<SsoSettingsRecord>> {
        sqlx::query(concat!(
            select_sso!(),
            " where org_id = (select org_id from sso_domains where domain = $1)"
        ))
        .bind(domain)
        .fetch_optional(&self.read)
        .await
        .map_err(db::<DB>)?
        .as_ref()
        .map(sso_row)
        .transpose()
    }

    pub(crate) async fn delete_sso_settings(
        &self,
        org_id: &OrgId,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("delete from sso_domains where org_id = $1")
            .bind(org_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        let done = sqlx::query("delete from sso_settings where org_id = $1")
            .bind(org_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db::<DB>)?;
        found::<DB>(&done)?;
        Self::audit_and_commit(tx, std::slice::from_ref(audit)).await
    }

    pub(crate) async fn sso_sign_in(
        &self,
        org_id: &OrgId,
        user: &UserRecord,
        new_user: bool,
        join_as: Option<Role>,
        session: &SessionRecord,
        audit: &[AuditEvent],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        if new_user {
            Self::insert_user(&mut tx, user).await?;
        }
        if let Some(role) = join_as {
            sqlx::query(
                "insert into memberships (org_id, user_id, role, created_at, updated_at) \
                 values ($1, $2, $3, $4, $4)",
            )
            .bind(org_id.as_str())
            .bind(user.user_id.as_str())
            .bind(role.as_str())
            .bind(session.created_at)
            .execute(&mut *tx)
            .await
            .map_err(conflict::<DB>(
                "you are already a member of this organization",
            ))?;
        }
        Self::insert_session(&mut tx, session).await?;
        Self::audit_and_commit(tx, audit).await
    }
}
