//! The [`Store`] trait: everything Keygate keeps, behind one interface
//! (`store.rs`, its areas under `store/`). One SQL implementation (`sql/`:
//! the queries, row decoding and transactions) serves SQLite
//! ([`sqlite::SqliteStore`]) and PostgreSQL ([`postgres::PgStore`]); each
//! backend folder holds only what its database does differently. Service
//! code sees only these types; no SQL driver type crosses the trait.
//!
//! Every method that changes something takes the audit event that describes the
//! change and writes both in one transaction.

pub mod outbox;
pub mod postgres;
mod records;
mod sql;
pub mod sqlite;
mod store;

use keygate_core::{AccountId, ClientId, OrgId};

pub use records::*;
pub use store::{
    AuditStore, FactorStore, KeyStore, NotificationStore, OrgStore, PeopleStore, Store, UsageStore,
};

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was hit; the text says which, for the person asking.
    #[error("{0}")]
    Conflict(&'static str),
    /// The database cannot be reached right now; a retry may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Internal(String),
}

/// A change to something the credential cache holds, made by this or another
/// Keygate instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    Key(ClientId),
    Account(AccountId),
    /// An organization's settings that the cache holds (its default rate limit).
    Org(OrgId),
    /// Changes may have been missed (the listening connection was lost and is
    /// back): re-read everything.
    Resync,
    /// A heartbeat: every change committed before this Unix time (ms, this
    /// process's clock) came through the feed before this item.
    CurrentAsOf(i64),
}

/// Changes as they commit, in commit order.
pub type ChangeFeed = tokio::sync::mpsc::Receiver<Change>;

/// Whether an account exists in one organization.
pub fn account_in(accounts: &[AccountRecord], id: &AccountId) -> bool {
    accounts.iter().any(|a| a.account_id == *id)
}
