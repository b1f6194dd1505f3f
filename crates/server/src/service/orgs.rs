//! Organizations, their accounts and members.

use keygate_core::text::{DisplayName, Email, NewPassword};
use keygate_core::{AccountId, OrgId, RateLimit, Role, UserId};
use keygate_store::{AccountRecord, AuditEvent, MemberRecord, Membership, OrgRecord, UserRecord};
use serde_json::json;

use crate::service::keys::LimitChange;
use crate::service::{Acting, Error, invitations, passwords};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;

pub struct CreatedOrg {
    pub org_id: OrgId,
    pub owner_user_id: UserId,
    pub accounts: Vec<AccountRecord>,
}

/// Who owns a new organization.
pub enum Owner<'a> {
    /// A new account with this password; refused when the email already has
    /// an account (a pending invitation is not one).
    New { password: &'a str },
    /// The existing account with the email (`--existing-owner`); its password
    /// stays as it is.
    Existing,
}

/// `keygate org create` and `serve --demo`.
pub async fn create_org(
    store: &dyn keygate_store::Store,
    name: &str,
    owner_email: &str,
    owner: Owner<'_>,
    account_names: &[String],
) -> Result<CreatedOrg, Error> {
    let name = DisplayName::parse(name, "name")?;
    let email = Email::parse(owner_email, "owner_email")?;
    let password_hash = match owner {
        Owner::New { password } => {
            let password = NewPassword::parse(password, "owner_password")?;
            if store.user_by_email(email.as_str()).await?.is_some() {
                return Err(Error::Conflict(format!(
                    "{} already has an account; to make that account the owner (its password \
                     stays as it is), add --existing-owner and leave out --owner-password-stdin",
                    email.as_str()
                )));
            }
            passwords::hash(password.expose().to_owned()).await?
        }
        Owner::Existing => {
            if store.user_by_email(email.as_str()).await?.is_none() {
                return Err(Error::invalid(
                    "owner_email",
                    format!(
                        "{} has no account; leave out --existing-owner and give a password \
                         with --owner-password-stdin",
                        email.as_str()
                    ),
                ));
            }
            // An empty hash tells the store to use the existing account.
            String::new()
        }
    };
    let account_names = account_names
        .iter()
        .map(|n| DisplayName::parse(n, "account"))
        .collect::<Result<Vec<_>, _>>()?;
    let now = now_ms();
    let org = OrgRecord {
        org_id: OrgId::generate(),
        name: name.into_string(),
        created_at: now,
    };
    let accounts: Vec<AccountRecord> = account_names
        .into_iter()
        .map(|n| AccountRecord {
            account_id: AccountId::generate(),
            org_id: org.org_id.clone(),
            name: n.into_string(),
            created_at: now,
        })
        .collect();
    let owner = UserRecord {
        user_id: UserId::generate(),
        email: email.as_str().to_owned(),
        password_hash,
        created_at: now,
    };
    let event = Actor::default().event(
        Some(&org.org_id),
        "org.created",
        None,
        json!({"name": org.name, "owner_email": owner.email,
               "accounts": accounts.iter().map(|a| a.account_id.as_str()).collect::<Vec<_>>()}),
    );
    let owner_user_id = store.create_org(&org, &accounts, &owner, &event).await?;
    Ok(CreatedOrg {
        org_id: org.org_id,
        owner_user_id,
        accounts,
    })
}

/// One organization.
pub async fn org(app: &App, org_id: &OrgId) -> Result<OrgRecord, Error> {
    app.store.org(org_id).await?.ok_or(Error::NotFound)
}

/// The organization's accounts.
pub async fn accounts(app: &App, org_id: &OrgId) -> Result<Vec<AccountRecord>, Error> {
    Ok(app.store.accounts(org_id).await?)
}

/// The organizations a user belongs to, with the role in each.
pub async fn memberships(app: &App, user_id: &UserId) -> Result<Vec<Membership>, Error> {
    Ok(app.store.memberships(user_id).await?)
}

/// The organization's members and their roles.
pub async fn members(app: &App, org_id: &OrgId) -> Result<Vec<MemberRecord>, Error> {
    Ok(app.store.members(org_id).await?)
}

pub async fn create_account(
    app: &App,
    who: &Acting,
    name: &str,
    password: Option<&str>,
) -> Result<AccountRecord, Error> {
    passwords::confirm(app, &who.user, password).await?;
    let (actor, org_id) = (&who.actor, &who.org_id);
    let name = DisplayName::parse(name, "name")?;
    let account = AccountRecord {
        account_id: AccountId::generate(),
        org_id: org_id.clone(),
        name: name.into_string(),
        created_at: now_ms(),
    };
    let event = actor.event(
        Some(org_id),
        "account.created",
        None,
        json!({"account_id": account.account_id.as_str(), "name": account.name}),
    );
    app.store.create_account(&account, &event).await?;
    app.cache
        .add_account(account.account_id.clone(), org_id.clone());
    Ok(account)
}

/// A member of this organization, or not found (also for other organizations').
pub async fn member(app: &App, org_id: &OrgId, user_id: &UserId) -> Result<MemberRecord, Error> {
    app.store
        .members(org_id)
        .await?
        .into_iter()
        .find(|m| m.user_id == *user_id)
        .ok_or(Error::NotFound)
}

/// Changes a member's role (not the owner's); returns the member as it now is.
pub async fn set_role(
    app: &App,
    who: &Acting,
    user_id: &UserId,
    role: &str,
    password: Option<&str>,
) -> Result<MemberRecord, Error> {
    let (actor, org_id) = (&who.actor, &who.org_id);
    let before = member(app, org_id, user_id).await?;
    passwords::confirm(app, &who.user, password).await?;
    let role = invitations::role(role)?;
    guard_owner(app, org_id, user_id, "the owner's role cannot be changed").await?;
    let event = actor.event(
        Some(org_id),
        "member.role_changed",
        None,
        json!({"user_id": user_id.as_str(), "role": role}),
    );
    let withdrawn = withdrawn_event(actor, org_id, user_id, "inviter_role_changed");
    app.store
        .set_member_role(org_id, user_id, role, &event, &withdrawn)
        .await?;
    Ok(MemberRecord { role, ..before })
}

pub async fn remove(
    app: &App,
    who: &Acting,
    user_id: &UserId,
    password: Option<&str>,
) -> Result<(), Error> {
    let (actor, org_id) = (&who.actor, &who.org_id);
    member(app, org_id, user_id).await?;
    passwords::confirm(app, &who.user, password).await?;
    guard_owner(app, org_id, user_id, "the owner cannot be removed").await?;
    let event = actor.event(
        Some(org_id),
        "member.removed",
        None,
        json!({"user_id": user_id.as_str()}),
    );
    let withdrawn = withdrawn_event(actor, org_id, user_id, "inviter_removed");
    Ok(app
        .store
        .remove_member(org_id, user_id, &event, &withdrawn)
        .await?)
}

/// The `invitation.withdrawn` event of each pending invitation a member sent
/// that dies with their authority (the store adds the invitation's id, email
/// and role): a removed admin's links must not still make someone an admin.
fn withdrawn_event(actor: &Actor, org_id: &OrgId, inviter: &UserId, reason: &str) -> AuditEvent {
    actor.event(
        Some(org_id),
        "invitation.withdrawn",
        None,
        json!({"reason": reason, "invited_by": inviter.as_str()}),
    )
}

async fn guard_owner(
    app: &App,
    org_id: &OrgId,
    user_id: &UserId,
    message: &'static str,
) -> Result<(), Error> {
    match app.store.role(org_id, user_id).await? {
        None => Err(Error::NotFound),
        Some(Role::Owner) => Err(Error::NotAllowed(message)),
        Some(_) => Ok(()),
    }
}

/// The default rate limit of the organization's keys (those without their own).
pub async fn rate_limit(app: &App, org_id: &OrgId) -> Result<Option<RateLimit>, Error> {
    Ok(app.store.org_rate_limit(org_id).await?)
}

/// Sets (or with `None` clears) the default rate limit of the organization's
/// keys (owner, admin; the route checks the role). Keys with a limit of their
/// own keep it. Bites on the next token check, on every instance.
pub async fn set_rate_limit(
    app: &App,
    who: &Acting,
    change: LimitChange,
    password: Option<&str>,
) -> Result<Option<RateLimit>, Error> {
    passwords::confirm(app, &who.user, password).await?;
    let before = app.store.org_rate_limit(&who.org_id).await?;
    let rate_limit = change.apply(before);
    if rate_limit == before {
        return Ok(before);
    }
    let event = who.actor.event(
        Some(&who.org_id),
        "org.updated",
        None,
        serde_json::json!({"rate_limit": {"before": before, "after": rate_limit}}),
    );
    app.store
        .set_org_rate_limit(&who.org_id, rate_limit, &event)
        .await?;
    if let Err(e) = app.cache.refresh_org(app.store.as_ref(), &who.org_id).await {
        // Other instances follow the change feed; this one re-reads on its
        // next full reload.
        tracing::error!(error = %e, org_id = %who.org_id, "could not re-read the organization's rate limit");
    }
    Ok(rate_limit)
}
