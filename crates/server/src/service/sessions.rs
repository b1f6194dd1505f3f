//! Sign-in with email and password, for the management API and the Developer app.

use keygate_core::SessionId;
use keygate_core::crypto::{Digest, random_base62, sha256};
use keygate_store::{AuditEvent, SessionRecord, UserRecord};
use serde_json::json;

use crate::app::App;
use crate::audit::Actor;
use crate::clock::now_ms;
use crate::service::Error;
use crate::service::passwords;

pub struct NewSession {
    /// Shown once to the client; only its SHA-256 is stored.
    pub token: String,
    pub expires_at: i64,
    pub user: UserRecord,
}

pub async fn sign_in(
    app: &App,
    actor: &Actor,
    email: &str,
    password: &str,
) -> Result<NewSession, Error> {
    let email = email.trim().to_lowercase();
    let ip = actor.ip.clone().unwrap_or_default();
    let limits = &app.limits;
    limits
        .signin_ip
        .check(&ip)
        .and(limits.signin_email.check(&email))
        .map_err(|retry_after_secs| Error::RateLimited { retry_after_secs })?;
    let user = app.store.user_by_email(&email).await?;
    let ok = match &user {
        Some(u) if password.chars().count() <= 256 => {
            passwords::verify(u.password_hash.clone(), password.to_owned()).await
        }
        _ => {
            passwords::verify_dummy(password.chars().take(256).collect()).await;
            false
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        limits.signin_ip.fail(&ip);
        limits.signin_email.fail(&email);
        return Err(Error::Unauthorized);
    };
    let (new, session) = new_session(app, actor, user);
    let events = user_events(
        app,
        &as_user(actor, &new.user),
        &new.user,
        "session.created",
        json!({}),
    )
    .await?;
    app.store.create_session(&session, &events).await?;
    Ok(new)
}

/// A fresh session of `user` (not stored yet): the token for the client and
/// the record to store.
pub fn new_session(app: &App, actor: &Actor, user: UserRecord) -> (NewSession, SessionRecord) {
    let token = format!("kgs_{}", random_base62(43));
    let now = now_ms();
    let session = SessionRecord {
        session_hash: sha256(token.as_bytes()),
        session_id: SessionId::generate(),
        user_id: user.user_id.clone(),
        created_at: now,
        expires_at: now + app.settings.session_ttl_ms,
        last_seen_at: now,
        ip: actor.ip.clone().filter(|ip| !ip.is_empty()),
        user_agent: actor.user_agent.clone(),
    };
    let new = NewSession {
        token,
        expires_at: session.expires_at,
        user,
    };
    (new, session)
}

/// `actor` acting as `user` (an action taken while signing in).
pub fn as_user(actor: &Actor, user: &UserRecord) -> Actor {
    let mut actor = actor.clone();
    actor.user_id = Some(user.user_id.clone());
    actor.email = Some(user.email.clone());
    actor
}

/// One audit event per organization of the user, for what happens to a
/// person rather than to one organization (sign-in, password change), so each
/// organization's audit log shows it.
pub async fn user_events(
    app: &App,
    actor: &Actor,
    user: &UserRecord,
    action: &str,
    details: serde_json::Value,
) -> Result<Vec<AuditEvent>, Error> {
    Ok(app
        .store
        .memberships(&user.user_id)
        .await?
        .iter()
        .map(|m| actor.event(Some(&m.org_id), action, None, details.clone()))
        .collect())
}

/// Ends one session: its token stops working at once.
pub async fn sign_out(app: &App, session_hash: &Digest) -> Result<(), Error> {
    Ok(app.store.delete_session(session_hash).await?)
}
