//! Sign-in with email and password, for the management API and the Developer app.

use keygate_core::SessionId;
use keygate_core::crypto::{Digest, random_base62, sha256};
use keygate_store::{AuditEvent, SessionRecord, UserRecord};
use serde_json::json;

use crate::service::Error;
use crate::service::{passwords, two_factor};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;

pub struct NewSession {
    /// Shown once to the client; only its SHA-256 is stored.
    pub token: String,
    pub expires_at: i64,
    pub user: UserRecord,
    /// The value of the known-device cookie to set (see `known`).
    pub device_cookie: String,
}

/// What a right email and password lead to.
pub enum SignIn {
    Session(NewSession),
    /// The user has two-factor on: the code comes next, with this challenge.
    TwoFactor(two_factor::Challenge),
}

/// Sign-in from a client that sent no known-device cookie.
pub async fn sign_in(
    app: &App,
    actor: &Actor,
    email: &str,
    password: &str,
) -> Result<SignIn, Error> {
    sign_in_from(app, actor, email, password, None).await
}

/// Sign-in; `device` is the browser's known-device cookie, if it sent one.
///
/// Failed attempts are limited per source IP and per email, or, from a
/// browser or address the user signed in from before, per (user, device or
/// address) instead of per email. Each attempt reserves its place in those
/// limits *before* the password is checked and gives it back on success, so
/// no more than the limit are ever checked per window, however many arrive at
/// once. With two-factor on, a right password gives a challenge, not a
/// session (see [`complete_sign_in`]).
pub async fn sign_in_from(
    app: &App,
    actor: &Actor,
    email: &str,
    password: &str,
    device: Option<&str>,
) -> Result<SignIn, Error> {
    let email = email.trim().to_lowercase();
    let ip = actor.ip.clone().unwrap_or_default();
    let attempts = &app.attempts;
    let too_many = |retry_after_secs| Error::TooManyAttempts { retry_after_secs };
    // Fail fast, before the database, for an address already refused.
    attempts.signin_ip.check(&ip).map_err(too_many)?;
    let user = app.store.user_by_email(&email).await?;
    let (bucket, key) = match &user {
        Some(u) => match device.and_then(|c| app.known.device(c, u.user_id.as_str())) {
            Some(d) => (&attempts.signin_known, format!("{}|device:{d}", u.user_id)),
            None if app.known.is_usual(u.user_id.as_str(), &ip) => {
                (&attempts.signin_known, format!("{}|ip:{ip}", u.user_id))
            }
            None => (&attempts.signin_email, email.clone()),
        },
        None => (&attempts.signin_email, email.clone()),
    };
    let ip_slot = attempts.signin_ip.reserve(&ip).map_err(too_many)?;
    let slot = match bucket.reserve(&key) {
        Ok(s) => s,
        Err(secs) => {
            ip_slot.release();
            return Err(too_many(secs));
        }
    };
    let checked = match &user {
        Some(u) if password.chars().count() <= 256 => {
            passwords::verify(u.password_hash.clone(), password.to_owned()).await
        }
        _ => passwords::verify_dummy(password.chars().take(256).collect())
            .await
            .map(|()| false),
    };
    let ok = match checked {
        Ok(ok) => ok,
        Err(e) => {
            // Not checked at all (the server is busy): not a failure.
            slot.release();
            ip_slot.release();
            return Err(e);
        }
    };
    // A failure keeps both reservations (they count); a success returns them.
    let Some(user) = user.filter(|_| ok) else {
        drop((slot, ip_slot));
        return Err(Error::Unauthorized);
    };
    slot.release();
    ip_slot.release();
    if two_factor::is_on(app, &user.user_id).await? {
        return Ok(SignIn::TwoFactor(two_factor::challenge(app, &user).await?));
    }
    open(app, actor, user, device).await.map(SignIn::Session)
}

/// A new session for a user whose credentials (and second factor) were
/// checked, stored with one `session.created` event per organization of the
/// user; the address and browser become known ones (`known`).
pub(crate) async fn open(
    app: &App,
    actor: &Actor,
    user: UserRecord,
    device: Option<&str>,
) -> Result<NewSession, Error> {
    let ip = actor.ip.clone().unwrap_or_default();
    app.known.remember(user.user_id.as_str(), &ip);
    let device_cookie = app.known.cookie_for(user.user_id.as_str(), device);
    let (mut new, session) = new_session(app, actor, user);
    new.device_cookie = device_cookie;
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
/// the record to store. No known-device cookie (`open` sets one).
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
        device_cookie: String::new(),
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
/// and counts against the same per-address and per-email attempts.
pub async fn complete_sign_in(
    app: &App,
    actor: &Actor,
    challenge: &str,
    code: &str,
    device: Option<&str>,
) -> Result<NewSession, Error> {
    let ip = actor.ip.clone().unwrap_or_default();
    let attempts = &app.attempts;
    let too_many = |retry_after_secs| Error::TooManyAttempts { retry_after_secs };
    // Reserved before the checks, kept on failure, given back on success:
    // the same limits, the same way, as the password step.
    let ip_slot = attempts.signin_ip.reserve(&ip).map_err(too_many)?;
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
        drop(ip_slot);
        return Err(Error::Unauthorized);
    };
    let slot = match attempts.signin_email.reserve(&user.email) {
        Ok(s) => s,
        Err(secs) => {
            ip_slot.release();
            return Err(too_many(secs));
        }
    };
    match two_factor::second_factor(app, &user, actor, code).await {
        Ok(true) => {}
        Ok(false) => {
            drop((slot, ip_slot));
            return Err(Error::Unauthorized);
        }
        Err(e) => {
            slot.release();
            ip_slot.release();
            return Err(e);
        }
    }
    slot.release();
    ip_slot.release();
    app.store.end_two_factor_challenge(&hash).await?;
    open(app, actor, user, device).await
}

/// Ends one session: its token stops working at once.
pub async fn sign_out(app: &App, session_hash: &Digest) -> Result<(), Error> {
    Ok(app.store.delete_session(session_hash).await?)
}
