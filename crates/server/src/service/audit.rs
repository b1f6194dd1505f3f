//! Reading the audit log.

use keygate_core::{ClientId, OrgId};
use keygate_store::{AuditEvent, AuditQuery, ChainCheck, Store};

use crate::service::Error;
use crate::state::app::App;

/// The organization's audit log, newest first: at most `limit` (1 to 200)
/// events older than `before`, of one key if `client_id` is given.
pub async fn events(
    app: &App,
    org_id: &OrgId,
    client_id: Option<ClientId>,
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
            client_id,
            before,
            after: None,
            limit,
        })
        .await?)
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
