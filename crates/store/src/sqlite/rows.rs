//! Rows to records, and driver errors to `StoreError`.

use std::str::FromStr;

use keygate_core::Role;
use keygate_core::crypto::Digest;
use keygate_core::permission::KeyScope;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{
    AccountRecord, AuditEvent, KeyKind, KeyRecord, MemberRecord, Membership, OrgRecord, Result,
    StoreError, UserRecord,
};

pub(super) fn db(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => unavailable(e),
        other => StoreError::Internal(other.to_string()),
    }
}

pub(super) fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Maps a uniqueness violation to `Conflict(message)`, anything else as `db`.
pub(super) fn conflict(message: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(message),
        _ => db(e),
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt {what} in the database"))
}

pub(super) fn parse_id<T: FromStr>(s: &str) -> Result<T> {
    T::from_str(s).map_err(|_| corrupt("identifier"))
}

pub(super) fn parse_role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| corrupt("role"))
}

pub(super) fn scope_json(scope: &KeyScope) -> Result<String> {
    serde_json::to_string(scope).map_err(|e| StoreError::Internal(e.to_string()))
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    col: &str,
) -> Result<T> {
    row.try_get(col).map_err(db)
}

fn id<T: FromStr>(row: &SqliteRow, col: &str) -> Result<T> {
    parse_id(&get::<String>(row, col)?)
}

fn opt_id<T: FromStr>(row: &SqliteRow, col: &str) -> Result<Option<T>> {
    get::<Option<String>>(row, col)?
        .map(|s| parse_id(&s))
        .transpose()
}

pub(super) fn org_row(r: &SqliteRow) -> Result<OrgRecord> {
    Ok(OrgRecord {
        org_id: id(r, "org_id")?,
        name: get(r, "name")?,
        created_at: get(r, "created_at")?,
    })
}

pub(super) fn account_row(r: &SqliteRow) -> Result<AccountRecord> {
    Ok(AccountRecord {
        account_id: id(r, "account_id")?,
        org_id: id(r, "org_id")?,
        name: get(r, "name")?,
        created_at: get(r, "created_at")?,
    })
}

pub(super) fn user_row(r: &SqliteRow) -> Result<UserRecord> {
    Ok(UserRecord {
        user_id: id(r, "user_id")?,
        email: get(r, "email")?,
        password_hash: get(r, "password_hash")?,
        created_at: get(r, "created_at")?,
    })
}

pub(super) fn member_row(r: &SqliteRow) -> Result<MemberRecord> {
    Ok(MemberRecord {
        user_id: id(r, "user_id")?,
        email: get(r, "email")?,
        role: parse_role(&get::<String>(r, "role")?)?,
        created_at: get(r, "created_at")?,
    })
}

pub(super) fn membership_row(r: &SqliteRow) -> Result<Membership> {
    Ok(Membership {
        org_id: id(r, "org_id")?,
        org_name: get(r, "name")?,
        role: parse_role(&get::<String>(r, "role")?)?,
    })
}

pub(super) fn key_row(r: &SqliteRow) -> Result<KeyRecord> {
    let kind = match get::<String>(r, "kind")?.as_str() {
        "admin" => KeyKind::Admin,
        "scoped" => KeyKind::Scoped,
        _ => return Err(corrupt("key kind")),
    };
    Ok(KeyRecord {
        client_id: id(r, "client_id")?,
        org_id: id(r, "org_id")?,
        kind,
        owner_id: get(r, "owner_id")?,
        name: get(r, "name")?,
        secret_hash: Digest::from_hex(&get::<String>(r, "secret_hash")?)
            .ok_or_else(|| corrupt("key digest"))?,
        generation: u64::try_from(get::<i64>(r, "generation")?)
            .map_err(|_| corrupt("generation"))?,
        scope: parse_scope(&get::<String>(r, "scope")?)?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

pub(super) fn parse_scope(text: &str) -> Result<KeyScope> {
    serde_json::from_str(text).map_err(|_| corrupt("scope"))
}

pub(super) fn audit_row(r: &SqliteRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        seq: get(r, "audit_seq")?,
        event_id: id(r, "audit_event_id")?,
        org_id: opt_id(r, "org_id")?,
        occurred_at: get(r, "occurred_at")?,
        actor_user_id: opt_id(r, "actor_user_id")?,
        actor_email: get(r, "actor_email")?,
        client_id: opt_id(r, "client_id")?,
        action: get(r, "action")?,
        source_ip: get(r, "source_ip")?,
        user_agent: get(r, "user_agent")?,
        details: serde_json::from_str(&get::<String>(r, "details")?)
            .map_err(|_| corrupt("audit details"))?,
    })
}
