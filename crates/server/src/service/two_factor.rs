//! Two-factor sign-in with TOTP (RFC 6238): enrolment, turning it off, the
//! second factor and its challenges (the second sign-in step itself is
//! `sessions::complete_sign_in`), recovery codes, and an organization's policy
//! that requires it of every member.
//!
//! The shared secret is sealed at rest with a key derived from the pepper and
//! bound to its user (`keygate_core::totp::TotpSecret::seal`: the user id is
//! authenticated with it, so a sealed secret copied onto another user's row
//! does not open there; seals of the old unbound format are re-sealed once at
//! start-up by [`seal_unbound_secrets`] and never accepted otherwise).
//! Recovery codes are stored as keyed digests (HMAC with the pepper),
//! challenges as SHA-256 of 43 random base62 characters. A TOTP code works
//! once: the store keeps the last accepted time step per user and accepts
//! only later ones.
//!
//! Wrong codes are limited per challenge (in the store) and per user
//! ([`verify_code`]), never per email: anyone who knows an email can fill
//! that limit, and a code is only ever asked of someone who already proved
//! the password or the mailbox.

use keygate_core::crypto::{Digest, random_base62, sha256};
use keygate_core::totp::{self, TotpSecret};
use keygate_core::{OrgId, SessionFactors, UserId};
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
    let sealed = secret.seal(&app.pepper, user.user_id.as_str());
    app.store
        .begin_two_factor(&user.user_id, &sealed, now_ms())
        .await?;
    Ok(Enrolment {
        secret: secret.to_base32(),
        otpauth_uri: totp::otpauth_uri(ISSUER, &user.email, &secret),
    })
}

/// The enrolment under way (started by [`enrol`], not yet confirmed), to show
/// its secret again after a wrong first code: what the user already scanned
/// into their app stays the one that counts.
pub async fn pending(app: &App, user: &UserRecord) -> Result<Option<Enrolment>, Error> {
    let pending = app
        .store
        .two_factor(&user.user_id)
        .await?
        .filter(|t| t.enabled_at.is_none());
    Ok(pending
        .and_then(|p| open(app, user, &p.sealed_secret))
        .map(|secret| Enrolment {
            secret: secret.to_base32(),
            otpauth_uri: totp::otpauth_uri(ISSUER, &user.email, &secret),
        }))
}

/// Turns two-factor on with the first code from the app, and returns the
/// recovery codes, shown this once. The session it is confirmed from (which
/// just passed the password at [`enrol`] and now a code) counts from here on
/// as made with two factors; every other session of the user ends, since
/// each was opened with the password alone.
pub async fn confirm(
    app: &App,
    user: &UserRecord,
    actor: &Actor,
    current_session: &Digest,
    code: &str,
) -> Result<Vec<String>, Error> {
    let pending = app
        .store
        .two_factor(&user.user_id)
        .await?
        .filter(|t| t.enabled_at.is_none())
        .ok_or_else(|| Error::invalid("code", "start two-factor enrolment first"))?;
    let step = open(app, user, &pending.sealed_secret)
        .and_then(|secret| secret.verify(code, now_ms() / 1000, pending.last_step))
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
            current_session,
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
    if !verify_code(app, user, actor, code).await? {
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
/// recovery code; either is used up by this call. Counted in the user's
/// code limit ([`Limits::code_user`](crate::state::attempts::Limits)): the attempt
/// is reserved before the check and given back only when the code is right,
/// so concurrent guesses get no more than the limit checked. 429 when the
/// user's wrong codes are used up.
pub(crate) async fn verify_code(
    app: &App,
    user: &UserRecord,
    actor: &Actor,
    code: &str,
) -> Result<bool, Error> {
    let slot = app
        .attempts
        .code_user
        .reserve(user.user_id.as_str())
        .map_err(|retry_after_secs| Error::TooManyAttempts { retry_after_secs })?;
    match second_factor(app, user, actor, code).await {
        Ok(true) => {
            slot.release();
            Ok(true)
        }
        // A wrong code keeps its place in the limit (it counts).
        Ok(false) => {
            drop(slot);
            Ok(false)
        }
        Err(e) => {
            slot.release();
            Err(e)
        }
    }
}

/// The check behind [`verify_code`], without the limit.
async fn second_factor(
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
        let Some(secret) = open(app, user, &tf.sealed_secret) else {
            return Ok(false);
        };
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
/// reset, accepting an invitation with an existing account). Returns what
/// the person proved: the password alone when two-factor is off, the
/// password and a code when the code is right and unused. A missing or wrong
/// code is `Unauthorized`; wrong ones count in the user's code limit
/// ([`verify_code`]), not the per-email sign-in limit that strangers fill.
pub async fn check_if_on(
    app: &App,
    user: &UserRecord,
    actor: &Actor,
    code: Option<&str>,
) -> Result<SessionFactors, Error> {
    if !is_on(app, &user.user_id).await? {
        return Ok(SessionFactors::Password);
    }
    // No code is no guess: nothing to count.
    let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
        return Err(Error::Unauthorized);
    };
    match verify_code(app, user, actor, code).await? {
        true => Ok(SessionFactors::PasswordAndCode),
        false => Err(Error::Unauthorized),
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

/// The organization's policy, checked for every member on its routes: when
/// it requires two-factor, the member's *session* must have been made with a
/// second factor (`factors`), and the member must have it on now. A session
/// opened with the password alone stays refused after its user turns
/// two-factor on (that step ends the user's other sessions anyway).
pub async fn check_policy(
    app: &App,
    org_id: &OrgId,
    user_id: &UserId,
    factors: SessionFactors,
) -> Result<(), Error> {
    if app
        .store
        .lacks_required_two_factor(org_id, user_id, factors)
        .await?
    {
        Err(Error::TwoFactorRequired)
    } else {
        Ok(())
    }
}

/// The user's secret, if its seal opens for this user with this pepper.
/// One that does not (another user's seal copied onto this row, a changed
/// row, a wrong pepper, an old unbound seal) accepts no code.
fn open(app: &App, user: &UserRecord, sealed: &str) -> Option<TotpSecret> {
    let secret = TotpSecret::open(sealed, &app.pepper, user.user_id.as_str());
    if secret.is_none() {
        tracing::error!(
            user_id = %user.user_id,
            "a two-factor secret does not open for its user: the row was changed or copied, or the pepper is not the one it was sealed with; no code is accepted"
        );
    }
    secret
}

/// Re-seals, bound to their users, the secrets sealed before seals were
/// bound (`v1.`), once at start-up; an old seal is never accepted otherwise,
/// so one copied onto another user's row before the upgrade or after it
/// opens for nobody. Each row is replaced only if it is still the old seal
/// (instances starting together do it once). Returns how many were re-sealed.
pub async fn seal_unbound_secrets(app: &App) -> Result<usize, Error> {
    let mut resealed = 0;
    for tf in app.store.two_factor_seals().await? {
        if !totp::is_unbound_seal(&tf.sealed_secret) {
            continue;
        }
        let Some(secret) = TotpSecret::open_unbound_v1(&tf.sealed_secret, &app.pepper) else {
            tracing::error!(user_id = %tf.user_id, "an old two-factor secret does not open with this pepper; left as it is (no code is accepted for it)");
            continue;
        };
        let bound = secret.seal(&app.pepper, tf.user_id.as_str());
        if app
            .store
            .reseal_two_factor(&tf.user_id, &tf.sealed_secret, &bound, now_ms())
            .await?
        {
            resealed += 1;
        }
    }
    Ok(resealed)
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
