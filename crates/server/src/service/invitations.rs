//! Invitations: the only way into an organization. An owner or admin invites
//! an email with a role; the link goes by mail; whoever holds it proves the
//! account (its current password) or creates it (a new password), and gets a
//! session. The answer to an invitation is the same whether or not the email
//! has an account anywhere, so no admin learns who uses this instance.

use keygate_core::crypto::{Digest, Pepper};
use keygate_core::text::{Email, NewPassword};
use keygate_core::time::format_rfc3339;
use keygate_core::{InvitationId, OrgId, Role, UserId};
use keygate_store::{InvitationRecord, Store, StoreError, UserMail, UserRecord};
use serde_json::json;

use crate::service::sessions::{self, NewSession};
use crate::service::{Acting, Error, Need, passwords, two_factor};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;
use crate::state::links;

/// How long an invitation link works.
pub const TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// The app page a link opens.
pub const PATH: &str = "/app/invitations/";

/// A new invitation, and its link (for an operator without mail; never logged).
pub struct Invited {
    pub invitation: InvitationRecord,
    pub link: String,
}

pub fn role(role: &str) -> Result<Role, Error> {
    match Role::parse(role) {
        Some(Role::Owner) => Err(Error::invalid(
            "role",
            "an organization has one owner; choose admin, developer, analyst or viewer",
        )),
        Some(r) => Ok(r),
        None => Err(Error::invalid(
            "role",
            "must be one of admin, developer, analyst, viewer",
        )),
    }
}

/// Invites `email` (owner, admin; the inviter's password confirms).
pub async fn invite(
    app: &App,
    who: &Acting,
    email: &str,
    role: &str,
    password: Option<&str>,
) -> Result<Invited, Error> {
    let email = Email::parse(email, "email")?;
    let role = self::role(role)?;
    passwords::confirm(app, &who.user, password).await?;
    let ctx = Ctx {
        store: app.store.as_ref(),
        pepper: &app.pepper,
        public_url: &app.settings.notify.public_url,
    };
    let invited = create(
        &ctx,
        &who.actor,
        &who.org_id,
        Some(&who.user.user_id),
        email.as_str(),
        role,
    )
    .await?;
    app.dispatcher.wake();
    Ok(invited)
}

/// What making an invitation needs; the CLI has it without a running server.
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub pepper: &'a Pepper,
    /// The base of the printed link.
    pub public_url: &'a str,
}

/// `keygate org invite`: an operator invites, no password (they hold the
/// database). The mail goes out through a running server's dispatcher.
pub async fn invite_as_operator(
    ctx: &Ctx<'_>,
    org_id: &str,
    email: &str,
    role: &str,
) -> Result<Invited, Error> {
    let org_id = OrgId::parse(org_id)
        .map_err(|_| Error::invalid("org", "not an organization id (org_…)"))?;
    let email = Email::parse(email, "email")?;
    let role = self::role(role)?;
    create(ctx, &Actor::default(), &org_id, None, email.as_str(), role).await
}

async fn create(
    ctx: &Ctx<'_>,
    actor: &Actor,
    org_id: &OrgId,
    invited_by: Option<&UserId>,
    email: &str,
    role: Role,
) -> Result<Invited, Error> {
    let org = ctx.store.org(org_id).await?.ok_or(Error::NotFound)?;
    let (invitation, mail, link) = prepare(
        ctx.pepper, actor, org_id, &org.name, invited_by, email, role,
    );
    let event = actor.event(
        Some(org_id),
        "invitation.created",
        None,
        json!({"invitation_id": invitation.invitation_id.as_str(), "email": email, "role": role}),
    );
    ctx.store
        .create_invitation(&invitation, &event, &mail)
        .await
        .map_err(|e| match e {
            // The inviter lost the role since the request was authorized.
            StoreError::NotFound => Error::Forbidden(Need::OrgManager),
            e => e.into(),
        })?;
    Ok(Invited {
        link: links::url(ctx.public_url, ctx.pepper, &link),
        invitation,
    })
}

/// A new invitation and its mail (not yet stored), and the mail's link.
pub(crate) fn prepare(
    pepper: &Pepper,
    actor: &Actor,
    org_id: &OrgId,
    org_name: &str,
    invited_by: Option<&UserId>,
    email: &str,
    role: Role,
) -> (InvitationRecord, UserMail, keygate_store::MailLink) {
    let (link, token) = links::new_link(pepper, PATH);
    let now = now_ms();
    let invitation = InvitationRecord {
        invitation_id: InvitationId::generate(),
        org_id: org_id.clone(),
        org_name: org_name.to_owned(),
        email: email.to_owned(),
        role,
        token_hash: links::token_digest(&token),
        invited_by: invited_by.cloned(),
        invited_by_email: invited_by.and(actor.email.clone()),
        inviter_role: None,
        expires_at: now + TTL_MS,
        created_at: now,
    };
    let inviter = invited_by
        .and(actor.email.as_deref())
        .unwrap_or("An operator");
    let mail = UserMail {
        to: email.to_owned(),
        subject: format!("You are invited to {} on Keygate", org_name),
        text: format!(
            "{inviter} invited you to join {org} on Keygate as {role}.\n\n\
             Open this link to accept (it works once, until {until}):\n{{link}}\n\n\
             If you already use Keygate, sign in there with your own password. \
             If you did not expect this, ignore this mail.\n",
            org = org_name,
            role = role.as_str(),
            until = format_rfc3339(invitation.expires_at),
        ),
        link: Some(link.clone()),
    };
    (invitation, mail, link)
}

pub async fn pending(app: &App, org_id: &OrgId) -> Result<Vec<InvitationRecord>, Error> {
    Ok(app.store.invitations(org_id, now_ms()).await?)
}

pub async fn withdraw(
    app: &App,
    who: &Acting,
    invitation_id: &str,
    password: Option<&str>,
) -> Result<(), Error> {
    let id = InvitationId::parse(invitation_id).map_err(|_| Error::NotFound)?;
    passwords::confirm(app, &who.user, password).await?;
    let event = who.actor.event(
        Some(&who.org_id),
        "invitation.withdrawn",
        None,
        json!({"invitation_id": id.as_str()}),
    );
    Ok(app
        .store
        .withdraw_invitation(&who.org_id, &id, &event)
        .await?)
}

/// The pending invitation a link's token opens (used, withdrawn, expired,
/// unknown, or its inviter may no longer send it: not found, all alike).
pub async fn by_token(app: &App, token: &str) -> Result<InvitationRecord, Error> {
    let digest: Digest = links::token_digest(token);
    app.store
        .invitation_by_token(&digest, now_ms())
        .await?
        .filter(InvitationRecord::stands)
        .ok_or(Error::NotFound)
}

/// Accepts an invitation: a new email gets an account with `password` (the
/// rules for new passwords), an existing account must give its current
/// password (else `Unauthorized`, rate limited like sign-in). Either way the
/// person becomes a member and is signed in. An existing account with
/// two-factor on also needs `code` (as signing in does).
pub async fn accept(
    app: &App,
    actor: &Actor,
    token: &str,
    password: &str,
    code: Option<&str>,
) -> Result<NewSession, Error> {
    let inv = by_token(app, token).await?;
    let (user, new_user) = match app.store.user_by_email(&inv.email).await? {
        Some(u) => {
            // The sign-in limits, counted before the check as for sign-in.
            let ip = actor.ip.clone().unwrap_or_default();
            let attempts = &app.attempts;
            let too_many = |retry_after_secs| Error::TooManyAttempts { retry_after_secs };
            let ip_slot = attempts.signin_ip.reserve(&ip).map_err(too_many)?;
            let slot = match attempts.signin_email.reserve(&u.email) {
                Ok(s) => s,
                Err(secs) => {
                    ip_slot.release();
                    return Err(too_many(secs));
                }
            };
            let checked = if password.chars().count() <= 256 {
                passwords::verify(u.password_hash.clone(), password.to_owned()).await
            } else {
                Ok(false)
            };
            let ok = match checked {
                Ok(ok) => ok,
                Err(e) => {
                    slot.release();
                    ip_slot.release();
                    return Err(e);
                }
            };
            if !ok {
                drop((slot, ip_slot));
                return Err(Error::Unauthorized);
            }
            slot.release();
            ip_slot.release();
            // Accepting signs in: an account with two-factor on must also
            // pass its second factor here, or this would be a way around it.
            two_factor::check_if_on(app, &u, actor, code).await?;
            (u, false)
        }
        None => {
            let password = NewPassword::parse(password, "password")?;
            let user = UserRecord {
                user_id: UserId::generate(),
                email: inv.email.clone(),
                password_hash: passwords::hash(password.expose().to_owned()).await?,
                created_at: now_ms(),
            };
            (user, true)
        }
    };
    let actor = sessions::as_user(actor, &user);
    let (mut new, session) = sessions::new_session(app, &actor, user);
    new.device_cookie = app.known.cookie_for(new.user.user_id.as_str(), None);
    let id = inv.invitation_id.as_str();
    let mut events = vec![
        actor.event(Some(&inv.org_id), "invitation.accepted", None,
            json!({"invitation_id": id, "email": inv.email, "new_account": new_user})),
        actor.event(Some(&inv.org_id), "member.joined", None,
            json!({"user_id": new.user.user_id.as_str(), "email": inv.email, "role": inv.role, "invitation_id": id})),
    ];
    events
        .extend(sessions::user_events(app, &actor, &new.user, "session.created", json!({})).await?);
    events.push(actor.event(Some(&inv.org_id), "session.created", None, json!({})));
    app.store
        .accept_invitation(&inv, &new.user, new_user, &session, &events)
        .await?;
    Ok(new)
}
