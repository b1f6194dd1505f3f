//! Reading the audit log.

use keygate_core::{ClientId, OrgId};
use keygate_store::{AuditEvent, AuditQuery, ChainCheck, Store};

use crate::service::Error;
use crate::state::app::App;

/// What the app's audit page narrows the log to.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub client_id: Option<ClientId>,
    /// The actor's email.
    pub actor: Option<String>,
    pub action: Option<String>,
}

/// The organization's audit log, newest first: at most `limit` (1 to 200)
/// events older than `before`, of one key if `client_id` is given.
pub async fn events(
    app: &App,
    org_id: &OrgId,
    client_id: Option<ClientId>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEvent>, Error> {
    let filter = Filter {
        client_id,
        ..Filter::default()
    };
    filtered(app, org_id, &filter, before, limit).await
}

/// As [`events`], narrowed by `filter`.
pub async fn filtered(
    app: &App,
    org_id: &OrgId,
    filter: &Filter,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEvent>, Error> {
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            "must be a whole number from 1 to 200",
        ));
    }
    Ok(app
        .store
        .audit_events(&AuditQuery {
            org_id: org_id.clone(),
            client_id: filter.client_id.clone(),
            before,
            after: None,
            actor: filter.actor.clone(),
            action: filter.action.clone(),
            limit,
        })
        .await?)
}

/// Every event `filter` lets through, oldest first (the app's export).
pub async fn export(app: &App, org_id: &OrgId, filter: &Filter) -> Result<Vec<AuditEvent>, Error> {
    let mut all: Vec<AuditEvent> = Vec::new();
    loop {
        let page = app
            .store
            .audit_events(&AuditQuery {
                org_id: org_id.clone(),
                client_id: filter.client_id.clone(),
                before: None,
                after: Some(all.last().map_or(0, |e| e.seq)),
                actor: filter.actor.clone(),
                action: filter.action.clone(),
                limit: 200,
            })
            .await?;
        if page.is_empty() {
            return Ok(all);
        }
        all.extend(page);
    }
}

/// The organization's hash chain recomputed from the database.
pub async fn chain_status(app: &App, org_id: &OrgId) -> Result<Option<ChainCheck>, Error> {
    Ok(app
        .store
        .verify_audit_chain(Some(org_id))
        .await?
        .into_iter()
        .next())
}

/// The organization's hash chain in order: at most `limit` (1 to 200)
/// events after seq `after`, oldest first.
pub async fn chain_after(
    app: &App,
    org_id: &OrgId,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, Error> {
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            "must be a whole number from 1 to 200",
        ));
    }
    if after < 0 {
        return Err(Error::invalid("after_seq", "must be a whole number from 0"));
    }
    Ok(app
        .store
        .audit_events(&AuditQuery {
            org_id: org_id.clone(),
            client_id: None,
            before: None,
            after: Some(after),
            actor: None,
            action: None,
            limit,
        })
        .await?)
}

/// Recomputes the audit hash chain of `org` (an org id as typed), or of every
/// organization, from the database.
pub async fn verify_chain(store: &dyn Store, org: Option<&str>) -> Result<Vec<ChainCheck>, Error> {
    let org = match org {
        Some(o) => Some(
            o.parse::<OrgId>()
                .map_err(|_| Error::invalid("org", "must be an organization id (org_…)"))?,
        ),
        None => None,
    };
    Ok(store.verify_audit_chain(org.as_ref()).await?)
}
