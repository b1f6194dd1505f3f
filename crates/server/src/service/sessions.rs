//! Sign-in with email and password, for the management API and the Developer app.

use keygate_core::crypto::{Digest, random_base62, sha256};
use keygate_core::{SessionFactors, SessionId};
use keygate_store::{AuditEvent, SessionRecord, UserRecord};
use serde_json::json;

use crate::service::Error;
use crate::service::sso::enforce;
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
/// Failed attempts are limited per email, or, from a browser or address the
/// user signed in from before, per (user, device or address) instead of per
/// email; and per source address, except for the user's known device (whose
/// cookie only a right password earns, and which its own bucket limits), so
/// strangers sharing the owner's address cannot keep the owner's known
/// browser out. Each attempt reserves its place in those limits *before* the
/// password is checked and gives it back on success, so no more than the
/// limit are ever checked per window, however many arrive at once. With
/// two-factor on, a right password gives a challenge, not a session (see
/// [`complete_sign_in`]).
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
    // Fail fast, before the database, for an address already refused, unless
    // the browser holds a genuine device cookie (checked against the email's
    // user below).
    if device.and_then(|c| app.known.cookie_user(c)).is_none() {
        attempts.signin_ip.check(&ip).map_err(too_many)?;
    }
    let user = app.store.user_by_email(&email).await?;
    let known_device = match (&user, device) {
        (Some(u), Some(c)) => app.known.device(c, u.user_id.as_str()),
        _ => None,
    };
    let (bucket, key) = match (&user, known_device) {
        (Some(u), Some(d)) => (&attempts.signin_known, format!("{}|device:{d}", u.user_id)),
        (Some(u), None) if app.known.is_usual(u.user_id.as_str(), &ip) => {
            (&attempts.signin_known, format!("{}|ip:{ip}", u.user_id))
        }
        _ => (&attempts.signin_email, email.clone()),
    };
    // The known device's failures still count for the address while it has
    // room; a full address does not refuse it.
    let ip_slot = match attempts.signin_ip.reserve(&ip) {
        Ok(s) => Some(s),
        Err(_) if known_device.is_some() => None,
        Err(secs) => return Err(too_many(secs)),
    };
    let slot = match bucket.reserve(&key) {
        Ok(s) => s,
        Err(secs) => {
            if let Some(s) = ip_slot {
                s.release();
            }
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
            if let Some(s) = ip_slot {
                s.release();
            }
            return Err(e);
        }
    };
    // A failure keeps both reservations (they count); a success returns them.
    let Some(user) = user.filter(|_| ok) else {
        drop((slot, ip_slot));
        return Err(Error::Unauthorized);
    };
    slot.release();
    if let Some(s) = ip_slot {
        s.release();
    }
    // Checked after the password, so it tells nothing to a stranger.
    if enforce::required_for(app, &user).await? {
        return Err(Error::SsoRequired);
    }
    if two_factor::is_on(app, &user.user_id).await? {
        return Ok(SignIn::TwoFactor(two_factor::challenge(app, &user).await?));
    }
    open(app, actor, user, device, SessionFactors::Password)
        .await
        .map(SignIn::Session)
}

/// A new session for a user whose credentials (and second factor, as
/// `factors` says) were checked, stored with one `session.created` event per
/// organization of the user; the address and browser become known ones
/// (`known`).
pub(crate) async fn open(
    app: &App,
    actor: &Actor,
    user: UserRecord,
    device: Option<&str>,
    factors: SessionFactors,
) -> Result<NewSession, Error> {
    let ip = actor.ip.clone().unwrap_or_default();
    app.known.remember(user.user_id.as_str(), &ip);
    let device_cookie = app.known.cookie_for(user.user_id.as_str(), device);
    let (mut new, session) = new_session_with(app, actor, user, factors);
    new.device_cookie = device_cookie;
    let details = match factors {
        SessionFactors::Passkey => json!({"method": "passkey"}),
        _ => json!({}),
    };
    let events = user_events(
        app,
        &as_user(actor, &new.user),
        &new.user,
        "session.created",
        details,
    )
    .await?;
    app.store.create_session(&session, &events).await?;
    Ok(new)
}

/// A fresh session of `user` made with the password alone (not stored yet):
/// the token for the client and the record to store. No known-device cookie
/// (`open` sets one).
pub fn new_session(app: &App, actor: &Actor, user: UserRecord) -> (NewSession, SessionRecord) {
    new_session_with(app, actor, user, SessionFactors::Password)
}

/// [`new_session`] for a session made with `factors` (what the flow that
/// opens it checked).
pub fn new_session_with(
    app: &App,
    actor: &Actor,
    user: UserRecord,
    factors: SessionFactors,
) -> (NewSession, SessionRecord) {
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
        factors,
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
/// a session made with two factors. Every failure is the same
/// `Unauthorized` as a wrong password. Limited per challenge (a few codes
/// each) and per user ([`two_factor::verify_code`]), never per email or per
/// address: strangers fill those, and only someone who proved the password
/// holds a challenge.
pub async fn complete_sign_in(
    app: &App,
    actor: &Actor,
    challenge: &str,
    code: &str,
    device: Option<&str>,
) -> Result<NewSession, Error> {
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
        // No such live challenge: a failed sign-in from this address.
        app.attempts
            .signin_ip
            .fail(actor.ip.as_deref().unwrap_or_default());
        return Err(Error::Unauthorized);
    };
    if !two_factor::verify_code(app, &user, actor, code).await? {
        return Err(Error::Unauthorized);
    }
    app.store.end_two_factor_challenge(&hash).await?;
    open(app, actor, user, device, SessionFactors::PasswordAndCode).await
}

/// Ends one session: its token stops working at once.
pub async fn sign_out(app: &App, session_hash: &Digest) -> Result<(), Error> {
    Ok(app.store.delete_session(session_hash).await?)
}
