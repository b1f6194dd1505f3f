//! Reading the audit log.

use keygate_core::{ClientId, OrgId};
use keygate_store::{AuditEvent, AuditQuery};

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
            limit,
        })
        .await?)
}
