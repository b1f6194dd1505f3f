//! Enforced single sign-on: which people may not sign in with a password (or
//! a passkey). Asked by `service::sessions`, so it imports nothing that signs
//! in.

use keygate_core::Role;
use keygate_core::sso::email_domain;
use keygate_store::UserRecord;

use crate::service::Error;
use crate::state::app::App;

/// Whether `user` must sign in through single sign-on: the organization that
/// claims the email's domain enforces it and the user is a member there,
/// not its owner (the owner keeps the password, to repair a broken provider).
pub async fn required_for(app: &App, user: &UserRecord) -> Result<bool, Error> {
    let Some(domain) = email_domain(&user.email) else {
        return Ok(false);
    };
    let Some(s) = app.store.sso_settings_for_domain(&domain).await? else {
        return Ok(false);
    };
    if !s.enforce {
        return Ok(false);
    }
    let role = app.store.role(&s.org_id, &user.user_id).await?;
    Ok(matches!(role, Some(r) if r != Role::Owner))
}
