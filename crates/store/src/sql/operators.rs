//! The operator's back office: operator tokens, and organizations as the
//! operator sees them (external id, plan, metadata, suspension).

use std::collections::BTreeMap;

use keygate_core::OrgId;
use keygate_core::crypto::Digest;

use super::rows::{Get, corrupt, parse_id};
use super::{Sql, SqlStore, conflict, db, found};
use crate::{
    AccountRecord, AuditEvent, Change, InvitationRecord, OperatorTokenRecord, OrgProfile, OrgQuery,
    Result, Suspension, UserMail,
};

macro_rules! profile {
    () => {
        "select org_id, name, external_id, plan_id, metadata, suspended_reason, suspended_at, \
         created_at from orgs"
    };
}

fn profile_row(r: &impl Get) -> Result<OrgProfile> {
    let metadata: BTreeMap<String, String> =
        serde_json::from_str(&r.text("metadata")?).map_err(|_| corrupt("org metadata"))?;
    let suspended = match (r.opt_text("suspended_reason")?, r.opt_int("suspended_at")?) {
        (Some(reason), Some(since)) => Some(Suspension { reason, since }),
        _ => None,
    };
    Ok(OrgProfile {
        org_id: parse_id(&r.text("org_id")?)?,
        name: r.text("name")?,
        external_id: r.opt_text("external_id")?,
        plan_id: r.opt_text("plan_id")?,
        metadata,
        suspended,
        created_at: r.int("created_at")?,
    })
}

fn metadata_text(p: &OrgProfile) -> String {
    serde_json::to_string(&p.metadata).unwrap_or_else(|_| "{}".into())
}

const EXTERNAL_ID_TAKEN: &str = "another organization has that external_id";

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
    pub(crate) async fn create_operator_token(&self, token: &OperatorTokenRecord) -> Result<()> {
        sqlx::query(
            "insert into operator_tokens (name, token_hash, created_at) values ($1, $2, $3)",
        )
        .bind(token.name.as_str())
        .bind(token.token_hash.to_hex().as_str())
        .bind(token.created_at)
        .execute(&self.write)
        .await
        .map_err(conflict::<DB>("an operator token has that name"))?;
        Ok(())
    }

    pub(crate) async fn operator_tokens(&self) -> Result<Vec<OperatorTokenRecord>> {
        sqlx::query("select name, token_hash, created_at from operator_tokens order by name")
            .fetch_all(&self.read)
            .await
            .map_err(db::<DB>)?
            .iter()
            .map(|r| {
                Ok(OperatorTokenRecord {
                    name: r.text("name")?,
                    token_hash: Digest::from_hex(&r.text("token_hash")?)
                        .ok_or_else(|| corrupt("operator token digest"))?,
                    created_at: r.int("created_at")?,
                })
            })
            .collect()
    }

    pub(crate) async fn operator_token_by_hash(
        &self,
        token_hash: &Digest,
    ) -> Result<Option<OperatorTokenRecord>> {
        let row = sqlx::query(
            "select name, token_hash, created_at from operator_tokens where token_hash = $1",
        )
        .bind(token_hash.to_hex().as_str())
        .fetch_optional(&self.write)
        .await
        .map_err(db::<DB>)?;
        row.map(|r| {
            Ok(OperatorTokenRecord {
                name: r.text("name")?,
                token_hash: Digest::from_hex(&r.text("token_hash")?)
                    .ok_or_else(|| corrupt("operator token digest"))?,
                created_at: r.int("created_at")?,
            })
        })
        .transpose()
    }

    pub(crate) async fn revoke_operator_token(&self, name: &str) -> Result<()> {
        let done = sqlx::query("delete from operator_tokens where name = $1")
            .bind(name)
            .execute(&self.write)
            .await
            .map_err(db::<DB>)?;
        found::<DB>(&done)
    }

    pub(crate) async fn create_operator_org(
        &self,
        org: &OrgProfile,
        accounts: &[AccountRecord],
        invitation: &InvitationRecord,
        audit: &[AuditEvent],
        mail: &UserMail,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into orgs (org_id, name, external_id, plan_id, metadata, created_at, \
             updated_at) values ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(org.org_id.as_str())
        .bind(org.name.as_str())
        .bind(org.external_id.as_deref())
        .bind(org.plan_id.as_deref())
        .bind(metadata_text(org).as_str())
        .bind(org.created_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict::<DB>(EXTERNAL_ID_TAKEN))?;
        for a in accounts {
            Self::insert_account(&mut tx, a).await?;
        }
        Self::insert_invitation(&mut tx, invitation).await?;
        // Other instances' caches learn its plan (quotas, default limit).
        DB::changed(&mut tx, &Change::Org(org.org_id.clone())).await?;
        Self::commit_with_mail(tx, audit, std::slice::from_ref(mail), Some(&org.org_id)).await
    }

    pub(crate) async fn org_profile(&self, org_id: &OrgId) -> Result<Option<OrgProfile>> {
        sqlx::query(concat!(profile!(), " where org_id = $1"))
            .bind(org_id.as_str())
            .fetch_optional(&self.write)
            .await
            .map_err(db::<DB>)?
            .map(|r| profile_row(&r))
            .transpose()
    }

    pub(crate) async fn org_profiles(&self, q: &OrgQuery) -> Result<Vec<OrgProfile>> {
        // One query text for every filter: an unset filter is a null.
        let status: i64 = match q.suspended {
            None => 0,
            Some(true) => 1,
            Some(false) => 2,
        };
        sqlx::query(concat!(
            profile!(),
            " where ($1 is null or external_id = $1) and ($2 is null or plan_id = $2) \
             and ($3 is null or org_id > $3) \
             and ($4 = 0 or ($4 = 1 and suspended_at is not null) \
                  or ($4 = 2 and suspended_at is null)) \
             order by org_id limit $5"
        ))
        .bind(q.external_id.as_deref())
        .bind(q.plan_id.as_deref())
        .bind(q.after.as_ref().map(|a| a.as_str()))
        .bind(status)
        .bind(i64::from(q.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db::<DB>)?
        .iter()
        .map(profile_row)
        .collect()
    }

    /// Writes the profile's name, external id, plan, metadata and suspension;
    /// the change feed hears of it (the cache holds the suspension).
    pub(crate) async fn update_org_profile(
        &self,
        org: &OrgProfile,
        audit: &[AuditEvent],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let now = audit.first().map_or(org.created_at, |e| e.occurred_at);
        let done = sqlx::query(
            "update orgs set name = $1, external_id = $2, plan_id = $3, metadata = $4, \
             suspended_reason = $5, suspended_at = $6, updated_at = $7 where org_id = $8",
        )
        .bind(org.name.as_str())
        .bind(org.external_id.as_deref())
        .bind(org.plan_id.as_deref())
        .bind(metadata_text(org).as_str())
        .bind(org.suspended.as_ref().map(|s| s.reason.as_str()))
        .bind(org.suspended.as_ref().map(|s| s.since))
        .bind(now)
        .bind(org.org_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(conflict::<DB>(EXTERNAL_ID_TAKEN))?;
        found::<DB>(&done)?;
        DB::changed(&mut tx, &Change::Org(org.org_id.clone())).await?;
        Self::audit_and_commit(tx, audit).await
    }

    pub(crate) async fn suspended_orgs(&self) -> Result<Vec<OrgId>> {
        sqlx::query("select org_id from orgs where suspended_at is not null")
            .fetch_all(&self.read)
            .await
            .map_err(db::<DB>)?
            .iter()
            .map(|r| parse_id(&r.text("org_id")?))
            .collect()
    }
}
