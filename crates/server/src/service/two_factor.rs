//! Two-factor sign-in with TOTP (RFC 6238): enrolment, turning it off, the
//! second factor and its challenges (the second sign-in step itself is
//! `sessions::complete_sign_in`), recovery codes, and an organization's policy
//! that requires it of every member.
//!
//! The shared secret is sealed at rest with a key derived from the pepper
//! (`keygate_core::totp::TotpSecret::seal`); recovery codes are stored as
//! keyed digests (HMAC with the pepper), challenges as SHA-256 of 43 random
//! base62 characters. A TOTP code works once: the store keeps the last
//! accepted time step per user and accepts only later ones.

use keygate_core::crypto::{Digest, random_base62, sha256};
use keygate_core::totp::{self, TotpSecret};
use keygate_core::{OrgId, UserId};
use keygate_store::{AuditEvent, OrgRecord, UserMail, UserRecord};
use serde_json::json;

use crate::service::{Acting, Error, passwords};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;

/// What an authenticator app needs, shown once at enrolment.
pub struct Enrolment {
    /// Base32, no padding.
    pub secret: String,
    pub otpauth_uri: String,
}

/// The pending second step of a sign-in.
pub struct Challenge {
    /// Opaque; only its SHA-256 is stored.
    pub token: String,
    pub expires_at: i64,
}

/// A challenge lives five minutes and takes at most five codes.
const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
pub(crate) const CHALLENGE_ATTEMPTS: i64 = 5;
const ISSUER: &str = "Keygate";

/// Starts enrolment (or restarts a pending one): a fresh secret, stored sealed
/// and off until [`confirm`] sees a code made with it.
pub async fn enrol(
    app: &App,
    user: &UserRecord,
    password: Option<&str>,
) -> Result<Enrolment, Error> {
    passwords::confirm(app, user, password).await?;
    let secret = TotpSecret::generate();
    app.store
        .begin_two_factor(&user.user_id, &secret.seal(&app.pepper), now_ms())
        .await?;
    Ok(Enrolment {
        secret: secret.to_base32(),
        otpauth_uri: totp::otpauth_uri(ISSUER, &user.email, &secret),
    })
}

/// Turns two-factor on with the first code from the app, and returns the
/// recovery codes, shown this once.
pub async fn confirm(
    app: &App,
    user: &UserRecord,
    actor: &Actor,
    code: &str,
) -> Result<Vec<String>, Error> {
    let pending = app
        .store
        .two_factor(&user.user_id)
        .await?
        .filter(|t| t.enabled_at.is_none())
        .ok_or_else(|| Error::invalid("code", "start two-factor enrolment first"))?;
    let secret = open(app, &pending.sealed_secret)?;
    let step = secret
        .verify(code, now_ms() / 1000, pending.last_step)
        .ok_or_else(|| {
            Error::invalid(
                "code",
                "that code is not right; check the time on your device and enter the current code",
            )
        })?;
    let codes: Vec<String> = (0..totp::RECOVERY_CODES)
        .map(|_| totp::recovery_code())
        .collect();
    let digests: Vec<Digest> = codes
        .iter()
        .filter_map(|c| recovery_digest(app, c))
        .collect();
    let events = user_events(app, actor, user, "two_factor.enabled").await?;
    app.store
        .enable_two_factor(
            &user.user_id,
            step,
            &digests,
            now_ms(),
            &events,
            &[mail(user, ON)],
        )
        .await?;
    Ok(codes)
}

/// Turns two-factor off: needs the password and a current code (or a
/// recovery code).
pub async fn disable(
    app: &App,
    user: &UserRecord,
    actor: &Actor,
    password: Option<&str>,
    code: &str,
) -> Result<(), Error> {
    passwords::confirm(app, user, password).await?;
    if !is_on(app, &user.user_id).await? {
        return Err(Error::NotFound);
    }
    if !second_factor(app, user, actor, code).await? {
        // Guessing codes here costs the same per-user budget as passwords.
        app.attempts.confirm_user.fail(user.user_id.as_str());
        return Err(Error::invalid("code", "that code is not right"));
    }
    let events = user_events(app, actor, user, "two_factor.disabled").await?;
    app.store
        .disable_two_factor(&user.user_id, &events, &[mail(user, OFF)])
        .await?;
    Ok(())
}

pub async fn is_on(app: &App, user_id: &UserId) -> Result<bool, Error> {
    Ok(app
        .store
        .two_factor(user_id)
        .await?
        .is_some_and(|t| t.enabled_at.is_some()))
}

/// After a right password, for a user with two-factor on.
pub async fn challenge(app: &App, user: &UserRecord) -> Result<Challenge, Error> {
    let token = format!("kgc_{}", random_base62(43));
    let now = now_ms();
    let expires_at = now + CHALLENGE_TTL_MS;
    app.store
        .create_two_factor_challenge(&sha256(token.as_bytes()), &user.user_id, now, expires_at)
        .await?;
    Ok(Challenge { token, expires_at })
}

/// Whether `code` is a current TOTP code not used before, or an unused
/// recovery code; either is used up by this call.
pub(crate) async fn second_factor(
    app: &App,
    user: &UserRecord,
    actor: &Actor,
    code: &str,
) -> Result<bool, Error> {
    let Some(tf) = app
        .store
        .two_factor(&user.user_id)
        .await?
        .filter(|t| t.enabled_at.is_some())
    else {
        return Ok(false);
    };
    let now = now_ms();
    let code = code.trim();
    if code.len() == totp::DIGITS as usize {
        let secret = open(app, &tf.sealed_secret)?;
        return match secret.verify(code, now / 1000, tf.last_step) {
            Some(step) => Ok(app.store.use_totp_step(&user.user_id, step, now).await?),
            None => Ok(false),
        };
    }
    let Some(digest) = recovery_digest(app, code) else {
        return Ok(false);
    };
    let mut actor = actor.clone();
    actor.user_id = Some(user.user_id.clone());
    actor.email = Some(user.email.clone());
    let events = user_events(app, &actor, user, "two_factor.recovery_code_used").await?;
    Ok(app
        .store
        .use_recovery_code(
            &user.user_id,
            &digest,
            now,
            &events,
            &[mail(user, RECOVERY)],
        )
        .await?)
}

/// Checks a second factor for another flow that proves a person (password
/// reset, accepting an invitation with an existing account): `Ok(())` when
/// two-factor is off, or the code is right and unused. A missing or wrong
/// code is `Unauthorized` and counts against the per-email sign-in limit.
pub async fn check_if_on(
    app: &App,
    user: &UserRecord,
    actor: &Actor,
    code: Option<&str>,
) -> Result<(), Error> {
    if !is_on(app, &user.user_id).await? {
        return Ok(());
    }
    let slot = app
        .attempts
        .signin_email
        .reserve(&user.email)
        .map_err(|retry_after_secs| Error::TooManyAttempts { retry_after_secs })?;
    let ok = match code {
        Some(c) => second_factor(app, user, actor, c).await,
        None => Ok(false),
    };
    match ok {
        Ok(true) => {
            slot.release();
            Ok(())
        }
        // A wrong or missing code keeps its place in the limit (it counts).
        Ok(false) => {
            drop(slot);
            Err(Error::Unauthorized)
        }
        Err(e) => {
            slot.release();
            Err(e)
        }
    }
}

/// `PATCH /orgs/{org_id}` (owner): require two-factor of every member. The
/// owner must have it on first, or they would lock themselves out.
pub async fn set_org_policy(
    app: &App,
    who: &Acting,
    require: Option<bool>,
    password: Option<&str>,
) -> Result<(OrgRecord, bool), Error> {
    passwords::confirm(app, &who.user, password).await?;
    if let Some(on) = require {
        if on && !is_on(app, &who.user.user_id).await? {
            return Err(Error::TwoFactorRequired);
        }
        let event = who.actor.event(
            Some(&who.org_id),
            "org.updated",
            None,
            json!({"require_two_factor": on}),
        );
        app.store
            .set_require_two_factor(&who.org_id, on, &event)
            .await?;
    }
    org_with_policy(app, &who.org_id).await
}

pub async fn org_with_policy(app: &App, org_id: &OrgId) -> Result<(OrgRecord, bool), Error> {
    let org = app.store.org(org_id).await?.ok_or(Error::NotFound)?;
    let require = app.store.require_two_factor(org_id).await?;
    Ok((org, require))
}

/// The organization's policy, checked for every member on its routes.
pub async fn check_policy(app: &App, org_id: &OrgId, user_id: &UserId) -> Result<(), Error> {
    if app.store.lacks_required_two_factor(org_id, user_id).await? {
        Err(Error::TwoFactorRequired)
    } else {
        Ok(())
    }
}

fn open(app: &App, sealed: &str) -> Result<TotpSecret, Error> {
    TotpSecret::open(sealed, &app.pepper)
        .ok_or_else(|| Error::Internal("a two-factor secret does not open with this pepper".into()))
}

fn recovery_digest(app: &App, code: &str) -> Option<Digest> {
    let normal = totp::normalize_recovery_code(code)?;
    Some(app.pepper.digest(format!("recovery:{normal}").as_bytes()))
}

/// One audit event per organization of the user (a change to how someone
/// signs in matters to every organization they can reach), or one of no
/// organization for a user without any.
async fn user_events(
    app: &App,
    actor: &Actor,
    user: &UserRecord,
    action: &str,
) -> Result<Vec<AuditEvent>, Error> {
    let details = json!({"user_id": user.user_id.as_str()});
    let mut events: Vec<AuditEvent> = app
        .store
        .memberships(&user.user_id)
        .await?
        .iter()
        .map(|m| actor.event(Some(&m.org_id), action, None, details.clone()))
        .collect();
    if events.is_empty() {
        events.push(actor.event(None, action, None, details));
    }
    Ok(events)
}

/// The notices mailed to the user (subject, text): a change they did not
/// make themselves is then noticed.
const ON: (&str, &str) = (
    "Two-factor authentication was turned on",
    "Two-factor authentication was turned on for your Keygate account. Signing in now asks for a code from your authenticator app.\n\nIf this was not you, reset your password and contact your organization's owner.",
);
const OFF: (&str, &str) = (
    "Two-factor authentication was turned off",
    "Two-factor authentication was turned off for your Keygate account. Signing in now needs only your password.\n\nIf this was not you, reset your password, turn two-factor authentication on again and contact your organization's owner.",
);
const RECOVERY: (&str, &str) = (
    "A recovery code was used to sign in",
    "One of your two-factor recovery codes was just used to sign in to your Keygate account. Each code works once.\n\nIf this was not you, reset your password and turn two-factor authentication off and on again for new codes.",
);

fn mail(user: &UserRecord, (subject, text): (&str, &str)) -> UserMail {
    UserMail::notice(&user.email, subject, text)
}
