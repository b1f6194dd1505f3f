//! Sign-in with email and password, for the management API and the Developer app.

use keygate_core::SessionId;
use keygate_core::crypto::{Digest, random_base62, sha256};
use keygate_store::{AuditEvent, SessionRecord, UserRecord};
use serde_json::json;

use crate::app::App;
use crate::audit::Actor;
use crate::clock::now_ms;
use crate::service::Error;
use crate::service::{passwords, two_factor};

pub struct NewSession {
    /// Shown once to the client; only its SHA-256 is stored.
    pub token: String,
    pub expires_at: i64,
    pub user: UserRecord,
}

/// What a right email and password lead to.
pub enum SignIn {
    Session(NewSession),
    /// The user has two-factor on: the code comes next, with this challenge.
    TwoFactor(two_factor::Challenge),
}

pub async fn sign_in(
    app: &App,
    actor: &Actor,
    email: &str,
    password: &str,
) -> Result<SignIn, Error> {
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
    if two_factor::is_on(app, &user.user_id).await? {
        return Ok(SignIn::TwoFactor(two_factor::challenge(app, &user).await?));
    }
    open(app, actor, user).await.map(SignIn::Session)
}

/// A new session for a user whose credentials were checked, stored with one
/// `session.created` event per organization of the user.
pub(crate) async fn open(app: &App, actor: &Actor, user: UserRecord) -> Result<NewSession, Error> {
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

/// The second step of sign-in: a challenge and a code (or recovery code) →
/// a session. Every failure is the same `Unauthorized` as a wrong password
/// and counts against the same per-address and per-email limits.
pub async fn complete_sign_in(
    app: &App,
    actor: &Actor,
    challenge: &str,
    code: &str,
) -> Result<NewSession, Error> {
    let ip = actor.ip.clone().unwrap_or_default();
    let limits = &app.limits;
    limits
        .signin_ip
        .check(&ip)
        .map_err(|retry_after_secs| Error::RateLimited { retry_after_secs })?;
    let hash = sha256(challenge.as_bytes());
    let user_id = match challenge.len() <= 100 {
        true => {
            app.store
                .attempt_two_factor_challenge(&hash, now_ms(), two_factor::CHALLENGE_ATTEMPTS)
                .await?
        }
        false => None,
    };
    let user = match user_id {
        Some(id) => app.store.user(&id).await?,
        None => None,
    };
    let Some(user) = user else {
        limits.signin_ip.fail(&ip);
        return Err(Error::Unauthorized);
    };
    limits
        .signin_email
        .check(&user.email)
        .map_err(|retry_after_secs| Error::RateLimited { retry_after_secs })?;
    if !two_factor::second_factor(app, &user, actor, code).await? {
        limits.signin_ip.fail(&ip);
        limits.signin_email.fail(&user.email);
        return Err(Error::Unauthorized);
    }
    app.store.end_two_factor_challenge(&hash).await?;
    open(app, actor, user).await
}

/// Ends one session: its token stops working at once.
pub async fn sign_out(app: &App, session_hash: &Digest) -> Result<(), Error> {
    Ok(app.store.delete_session(session_hash).await?)
}
