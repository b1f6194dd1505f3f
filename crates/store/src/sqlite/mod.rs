//! The embedded default: one SQLite file in WAL mode.
//!
//! Writes go through a pool of one connection, so SQLite's single writer never
//! answers "database is locked" under concurrent changes; reads use several.

mod notify;
mod rows;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keygate_core::crypto::Digest;
use keygate_core::permission::KeyScope;
use keygate_core::{AccountId, ClientId, DeliveryId, OrgId, Role, UserId, WebhookId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row as _, Sqlite, Transaction};

use crate::{
    AccountRecord, AttemptOutcome, AttemptRecord, AuditEvent, AuditQuery, DeliveryQuery,
    DeliveryRecord, DueDelivery, KeyCredential, KeyRecord, MemberRecord, Membership, OrgRecord,
    Result, SessionRecord, Store, StoreError, UserRecord, WebhookRecord,
};
use rows::*;

pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

// Column lists as macros so queries stay `&'static str` (sqlx refuses SQL built at run time).
macro_rules! key_columns {
    () => {
        "client_id, org_id, kind, owner_id, name, secret_hash, generation, scope, created_at, updated_at"
    };
}
macro_rules! audit_columns {
    () => {
        "audit_seq, audit_event_id, org_id, occurred_at, actor_user_id, actor_email, client_id, \
         action, source_ip, user_agent, details"
    };
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path`) and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(unavailable)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&write)
            .await
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await
            .map_err(unavailable)?;
        Ok(SqliteStore { read, write })
    }

    /// The migration versions this backend knows, for comparing backends.
    pub fn migration_versions() -> Vec<i64> {
        sqlx::migrate!("./migrations/sqlite")
            .iter()
            .map(|m| m.version)
            .collect()
    }

    async fn tx(&self) -> Result<Transaction<'static, Sqlite>> {
        self.write.begin().await.map_err(db)
    }
}

fn corrupt_key() -> StoreError {
    StoreError::Internal("corrupt key row in the database".into())
}

async fn insert_audit(tx: &mut Transaction<'static, Sqlite>, e: &AuditEvent) -> Result<()> {
    sqlx::query(
        "insert into audit_events (audit_event_id, org_id, occurred_at, actor_user_id, actor_email, \
         client_id, action, source_ip, user_agent, details, created_at, updated_at) \
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.event_id.as_str())
    .bind(e.org_id.as_ref().map(|o| o.as_str()))
    .bind(e.occurred_at)
    .bind(e.actor_user_id.as_ref().map(|u| u.as_str()))
    .bind(e.actor_email.as_deref())
    .bind(e.client_id.as_ref().map(|c| c.as_str()))
    .bind(&e.action)
    .bind(e.source_ip.as_deref())
    .bind(e.user_agent.as_deref())
    .bind(e.details.to_string())
    .bind(e.occurred_at)
    .bind(e.occurred_at)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    notify::insert_outbox(tx, e).await
}

async fn insert_user_if_new(
    tx: &mut Transaction<'static, Sqlite>,
    user: &UserRecord,
) -> Result<UserId> {
    sqlx::query(
        "insert into users (user_id, email, password_hash, created_at, updated_at) \
         values (?, ?, ?, ?, ?) on conflict (email) do nothing",
    )
    .bind(user.user_id.as_str())
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(user.created_at)
    .bind(user.created_at)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    let id: String = sqlx::query_scalar("select user_id from users where email = ?")
        .bind(&user.email)
        .fetch_one(&mut **tx)
        .await
        .map_err(db)?;
    parse_id(&id)
}

#[async_trait]
impl Store for SqliteStore {
    async fn is_empty(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("select count(*) from orgs")
            .fetch_one(&self.read)
            .await
            .map_err(db)?;
        Ok(n == 0)
    }

    async fn create_org(
        &self,
        org: &OrgRecord,
        accounts: &[AccountRecord],
        owner: &UserRecord,
        audit: &AuditEvent,
    ) -> Result<UserId> {
        let mut tx = self.tx().await?;
        sqlx::query("insert into orgs (org_id, name, created_at, updated_at) values (?, ?, ?, ?)")
            .bind(org.org_id.as_str())
            .bind(&org.name)
            .bind(org.created_at)
            .bind(org.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for a in accounts {
            insert_account(&mut tx, a).await?;
        }
        let owner_id = insert_user_if_new(&mut tx, owner).await?;
        sqlx::query(
            "insert into memberships (org_id, user_id, role, created_at, updated_at) \
             values (?, ?, 'owner', ?, ?)",
        )
        .bind(org.org_id.as_str())
        .bind(owner_id.as_str())
        .bind(org.created_at)
        .bind(org.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(owner_id)
    }

    async fn org(&self, org_id: &OrgId) -> Result<Option<OrgRecord>> {
        sqlx::query("select org_id, name, created_at from orgs where org_id = ?")
            .bind(org_id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?
            .map(|r| org_row(&r))
            .transpose()
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        sqlx::query("select user_id, email, password_hash, created_at from users where email = ?")
            .bind(email)
            .fetch_optional(&self.read)
            .await
            .map_err(db)?
            .map(|r| user_row(&r))
            .transpose()
    }

    async fn user(&self, user_id: &UserId) -> Result<Option<UserRecord>> {
        sqlx::query("select user_id, email, password_hash, created_at from users where user_id = ?")
            .bind(user_id.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db)?
            .map(|r| user_row(&r))
            .transpose()
    }

    async fn memberships(&self, user_id: &UserId) -> Result<Vec<Membership>> {
        sqlx::query(
            "select m.org_id, o.name, m.role from memberships m join orgs o on o.org_id = m.org_id \
             where m.user_id = ? order by o.name, m.org_id",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .iter()
        .map(membership_row)
        .collect()
    }

    async fn role(&self, org_id: &OrgId, user_id: &UserId) -> Result<Option<Role>> {
        let role: Option<String> =
            sqlx::query_scalar("select role from memberships where org_id = ? and user_id = ?")
                .bind(org_id.as_str())
                .bind(user_id.as_str())
                .fetch_optional(&self.read)
                .await
                .map_err(db)?;
        role.map(|r| parse_role(&r)).transpose()
    }

    async fn create_session(&self, s: &SessionRecord, audit: &[AuditEvent]) -> Result<()> {
        let mut tx = self.tx().await?;
        // Expired sessions are swept here, on a path that writes anyway.
        sqlx::query("delete from sessions where expires_at <= ?")
            .bind(s.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "insert into sessions (session_id, user_id, expires_at, created_at, updated_at) \
             values (?, ?, ?, ?, ?)",
        )
        .bind(s.session_hash.to_hex())
        .bind(s.user_id.as_str())
        .bind(s.expires_at)
        .bind(s.created_at)
        .bind(s.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for e in audit {
            insert_audit(&mut tx, e).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn session_user(&self, session_hash: &Digest, now: i64) -> Result<Option<UserRecord>> {
        sqlx::query(
            "select u.user_id, u.email, u.password_hash, u.created_at from sessions s \
             join users u on u.user_id = s.user_id where s.session_id = ? and s.expires_at > ?",
        )
        .bind(session_hash.to_hex())
        .bind(now)
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(|r| user_row(&r))
        .transpose()
    }

    async fn delete_session(&self, session_hash: &Digest) -> Result<()> {
        sqlx::query("delete from sessions where session_id = ?")
            .bind(session_hash.to_hex())
            .execute(&self.write)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn accounts(&self, org_id: &OrgId) -> Result<Vec<AccountRecord>> {
        sqlx::query(
            "select account_id, org_id, name, created_at from accounts where org_id = ? \
             order by created_at, account_id",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .iter()
        .map(account_row)
        .collect()
    }

    async fn all_accounts(&self) -> Result<Vec<AccountRecord>> {
        sqlx::query("select account_id, org_id, name, created_at from accounts")
            .fetch_all(&self.read)
            .await
            .map_err(db)?
            .iter()
            .map(account_row)
            .collect()
    }

    async fn account(&self, account_id: &AccountId) -> Result<Option<AccountRecord>> {
        sqlx::query(
            "select account_id, org_id, name, created_at from accounts where account_id = ?",
        )
        .bind(account_id.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(|r| account_row(&r))
        .transpose()
    }

    async fn create_account(&self, account: &AccountRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.tx().await?;
        insert_account(&mut tx, account).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn members(&self, org_id: &OrgId) -> Result<Vec<MemberRecord>> {
        sqlx::query(
            "select u.user_id, u.email, m.role, m.created_at from memberships m \
             join users u on u.user_id = m.user_id where m.org_id = ? order by m.created_at, u.email",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .iter()
        .map(member_row)
        .collect()
    }

    async fn add_member(
        &self,
        org_id: &OrgId,
        user: &UserRecord,
        role: Role,
        audit: &AuditEvent,
    ) -> Result<MemberRecord> {
        let mut tx = self.tx().await?;
        let user_id = insert_user_if_new(&mut tx, user).await?;
        sqlx::query(
            "insert into memberships (org_id, user_id, role, created_at, updated_at) \
             values (?, ?, ?, ?, ?)",
        )
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .bind(role.as_str())
        .bind(audit.occurred_at)
        .bind(audit.occurred_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict(
            "that user is already a member of this organization",
        ))?;
        let mut audit = audit.clone();
        audit.details["user_id"] = user_id.as_str().into();
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(MemberRecord {
            user_id,
            email: user.email.clone(),
            role,
            created_at: audit.occurred_at,
        })
    }

    async fn set_member_role(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: Role,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "update memberships set role = ?, updated_at = ? \
             where org_id = ? and user_id = ? and role <> 'owner'",
        )
        .bind(role.as_str())
        .bind(audit.occurred_at)
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn remove_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "delete from memberships where org_id = ? and user_id = ? and role <> 'owner'",
        )
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn keys(&self, org_id: &OrgId) -> Result<Vec<KeyRecord>> {
        sqlx::query(concat!(
            "select ",
            key_columns!(),
            " from api_keys where org_id = ? order by created_at, client_id"
        ))
        .bind(org_id.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .iter()
        .map(key_row)
        .collect()
    }

    async fn key(&self, org_id: &OrgId, client_id: &ClientId) -> Result<Option<KeyRecord>> {
        sqlx::query(concat!(
            "select ",
            key_columns!(),
            " from api_keys where org_id = ? and client_id = ?"
        ))
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db)?
        .map(|r| key_row(&r))
        .transpose()
    }

    async fn key_by_client_id(&self, client_id: &ClientId) -> Result<Option<KeyRecord>> {
        // Read through the writer so a refresh right after a commit sees it.
        sqlx::query(concat!(
            "select ",
            key_columns!(),
            " from api_keys where client_id = ?"
        ))
        .bind(client_id.as_str())
        .fetch_optional(&self.write)
        .await
        .map_err(db)?
        .map(|r| key_row(&r))
        .transpose()
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>> {
        sqlx::query(concat!("select ", key_columns!(), " from api_keys"))
            .fetch_all(&self.read)
            .await
            .map_err(db)?
            .iter()
            .map(key_row)
            .collect()
    }

    async fn each_key_credential(&self, f: &mut (dyn FnMut(KeyCredential) + Send)) -> Result<()> {
        // Pages in rowid order (the table's own order, so the file is read
        // front to back), so memory stays at one page however many keys there
        // are. SQLite packs each page into one string (fields split by 0x1f,
        // records by 0x1e; neither can occur in ids, hex or JSON text), which
        // saves the driver's per-row cost, the bulk of loading a million keys.
        // Scopes are parsed once per distinct JSON text: a million keys
        // usually share a handful of scopes.
        const PAGE: i64 = 10_000;
        const MAX_INTERNED: usize = 100_000;
        let mut scopes: HashMap<String, Arc<KeyScope>> = HashMap::new();
        let page = |pool: SqlitePool, after: i64| async move {
            sqlx::query(
                "select count(*) as n, max(rowid) as last, group_concat(client_id || char(31) || \
                 org_id || char(31) || secret_hash || char(31) || generation || char(31) || scope, \
                 char(30)) as recs from (select rowid, client_id, org_id, secret_hash, generation, \
                 scope from api_keys where rowid > ? order by rowid limit ?)",
            )
            .bind(after)
            .bind(PAGE)
            .fetch_one(&pool)
            .await
            .map_err(db)
        };
        let mut next_page = tokio::spawn(page(self.read.clone(), i64::MIN));
        loop {
            let row = next_page
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))??;
            // SQLite reads the next page while this one is parsed.
            let last: Option<i64> = row.try_get("last").map_err(db)?;
            next_page = tokio::spawn(page(self.read.clone(), last.unwrap_or(i64::MAX)));
            let n: i64 = row.try_get("n").map_err(db)?;
            if n == 0 {
                return Ok(());
            }
            let recs: &str = row.try_get("recs").map_err(db)?;
            for rec in recs.split('\u{1e}') {
                let mut fields = rec.splitn(5, '\u{1f}');
                let mut next = || fields.next().ok_or_else(corrupt_key);
                let (client_id, org_id, hash, generation, text) =
                    (next()?, next()?, next()?, next()?, next()?);
                let scope = match scopes.get(text) {
                    Some(s) => s.clone(),
                    None => {
                        let s = Arc::new(parse_scope(text)?);
                        if scopes.len() < MAX_INTERNED {
                            scopes.insert(text.to_owned(), s.clone());
                        }
                        s
                    }
                };
                f(KeyCredential {
                    client_id: parse_id(client_id)?,
                    org_id: parse_id(org_id)?,
                    secret_hash: Digest::from_hex(hash).ok_or_else(corrupt_key)?,
                    generation: generation.parse().map_err(|_| corrupt_key())?,
                    scope,
                });
            }
            if n < PAGE {
                return Ok(());
            }
        }
    }

    async fn insert_keys(&self, keys: &[KeyRecord], audit: &AuditEvent) -> Result<()> {
        let mut tx = self.tx().await?;
        for key in keys {
            sqlx::query(concat!(
                "insert into api_keys (",
                key_columns!(),
                ") values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(key.client_id.as_str())
            .bind(key.org_id.as_str())
            .bind(key.kind.as_str())
            .bind(key.owner_id.as_deref())
            .bind(&key.name)
            .bind(key.secret_hash.to_hex())
            .bind(key.generation as i64)
            .bind(scope_json(&key.scope)?)
            .bind(key.created_at)
            .bind(key.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(conflict(
                "an admin key already exists for this owner: regenerate it instead",
            ))?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn insert_key(&self, key: &KeyRecord, audit: &AuditEvent) -> Result<()> {
        self.insert_keys(std::slice::from_ref(key), audit).await
    }

    async fn regenerate_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        secret_hash: &Digest,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord> {
        let mut tx = self.tx().await?;
        let row = sqlx::query(concat!(
            "update api_keys set secret_hash = ?, generation = generation + 1, updated_at = ? \
             where org_id = ? and client_id = ? returning ",
            key_columns!(),
            ""
        ))
        .bind(secret_hash.to_hex())
        .bind(now)
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        let key = key_row(&row)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(key)
    }

    async fn update_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        name: &str,
        scope: &KeyScope,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<KeyRecord> {
        let mut tx = self.tx().await?;
        let row = sqlx::query(concat!(
            "update api_keys set name = ?, scope = ?, updated_at = ? \
             where org_id = ? and client_id = ? and kind = 'scoped' returning ",
            key_columns!(),
            ""
        ))
        .bind(name)
        .bind(scope_json(scope)?)
        .bind(now)
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        let key = key_row(&row)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(key)
    }

    async fn delete_key(
        &self,
        org_id: &OrgId,
        client_id: &ClientId,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "delete from api_keys where org_id = ? and client_id = ? and kind = 'scoped'",
        )
        .bind(org_id.as_str())
        .bind(client_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn record_audit(&self, events: &[AuditEvent]) -> Result<()> {
        let mut tx = self.tx().await?;
        for e in events {
            insert_audit(&mut tx, e).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn audit_events(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        sqlx::query(concat!(
            "select ",
            audit_columns!(),
            " from audit_events where org_id = ? \
             and (? is null or client_id = ?) and audit_seq < ? \
             order by audit_seq desc limit ?"
        ))
        .bind(q.org_id.as_str())
        .bind(q.client_id.as_ref().map(|c| c.as_str()))
        .bind(q.client_id.as_ref().map(|c| c.as_str()))
        .bind(q.before.unwrap_or(i64::MAX))
        .bind(i64::from(q.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db)?
        .iter()
        .map(audit_row)
        .collect()
    }

    async fn create_webhook(&self, webhook: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
        self.create_webhook_impl(webhook, audit).await
    }

    async fn webhooks(&self, org_id: &OrgId) -> Result<Vec<WebhookRecord>> {
        self.webhooks_impl(org_id).await
    }

    async fn update_webhook(&self, webhook: &WebhookRecord, audit: &AuditEvent) -> Result<()> {
        self.update_webhook_impl(webhook, audit).await
    }

    async fn delete_webhook(
        &self,
        org_id: &OrgId,
        webhook_id: &WebhookId,
        audit: &AuditEvent,
    ) -> Result<()> {
        self.delete_webhook_impl(org_id, webhook_id, audit).await
    }

    async fn claim_due(&self, now: i64, limit: u32, lease_until: i64) -> Result<Vec<DueDelivery>> {
        self.claim_due_impl(now, limit, lease_until).await
    }

    async fn record_attempt(
        &self,
        delivery_id: &DeliveryId,
        attempt: &AttemptRecord,
        outcome: AttemptOutcome,
    ) -> Result<()> {
        self.record_attempt_impl(delivery_id, attempt, outcome)
            .await
    }

    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Vec<DeliveryRecord>> {
        self.deliveries_impl(query).await
    }

    async fn redeliver(
        &self,
        org_id: &OrgId,
        delivery_id: &DeliveryId,
        now: i64,
        audit: &AuditEvent,
    ) -> Result<()> {
        self.redeliver_impl(org_id, delivery_id, now, audit).await
    }
}

async fn insert_account(tx: &mut Transaction<'static, Sqlite>, a: &AccountRecord) -> Result<()> {
    sqlx::query(
        "insert into accounts (account_id, org_id, name, created_at, updated_at) \
         values (?, ?, ?, ?, ?)",
    )
    .bind(a.account_id.as_str())
    .bind(a.org_id.as_str())
    .bind(&a.name)
    .bind(a.created_at)
    .bind(a.created_at)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}
