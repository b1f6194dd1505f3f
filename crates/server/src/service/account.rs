//! What a person does about their own account: change the password, reset a
//! forgotten one by mail, see and end their sessions.

use keygate_core::crypto::Digest;
use keygate_core::text::NewPassword;
use keygate_core::time::format_rfc3339;
use keygate_core::{SessionId, UserId};
use keygate_store::{PasswordResetRecord, SessionRecord, UserMail, UserRecord};
use serde_json::json;

use crate::service::sessions::{as_user, user_events};
use crate::service::{Error, passwords, two_factor};
use crate::state::app::{App, AppState};
use crate::state::audit::Actor;
use crate::state::clock::now_ms;
use crate::state::links;

/// How long a reset link works.
pub const RESET_TTL_MS: i64 = 30 * 60 * 1000;
/// The app page a reset link opens.
pub const RESET_PATH: &str = "/app/password-reset/";
/// `last_seen_at` is written at most this often per session.
pub const TOUCH_EVERY_MS: i64 = 60 * 1000;

/// `POST /dev/v1/password-resets`: mails a reset link when `email` has an
/// account. Says nothing either way (the caller answers 202 alike); limited
/// per source address (429) and per email (quietly: no more mail).
///
/// The answer must not tell, by its timing either, whether the email has an
/// account: this function does only the same in-memory limit checks for
/// every email and hands the rest (the lookup, and for an account the link,
/// its audit events and the mail, written in one transaction) to a
/// background task ([`mail_reset_link`]), so it returns before any of that
/// is done, whatever the email.
pub async fn request_reset(app: &AppState, actor: &Actor, email: &str) -> Result<(), Error> {
    let email = email.trim().to_lowercase();
    let ip = actor.ip.clone().unwrap_or_default();
    let attempts = &app.attempts;
    attempts
        .reset_ip
        .check(&ip)
        .map_err(|retry_after_secs| Error::TooManyAttempts { retry_after_secs })?;
    attempts.reset_ip.fail(&ip);
    if email.len() > 254 || attempts.reset_email.check(&email).is_err() {
        return Ok(());
    }
    attempts.reset_email.fail(&email);
    let (app, actor) = (app.clone(), actor.clone());
    tokio::spawn(async move {
        if let Err(e) = mail_reset_link(&app, &actor, &email).await {
            tracing::error!(error = ?e, "could not store a password reset link");
        }
    });
    Ok(())
}

/// The work of [`request_reset`], after its answer: a link for the account
/// of `email`, if there is one, stored with its audit events and its mail.
async fn mail_reset_link(app: &App, actor: &Actor, email: &str) -> Result<(), Error> {
    let ip = actor.ip.clone().unwrap_or_default();
    let Some(user) = app.store.user_by_email(email).await? else {
        return Ok(());
    };
    let (link, token) = links::new_link(&app.pepper, RESET_PATH);
    let now = now_ms();
    let reset = PasswordResetRecord {
        token_hash: links::token_digest(&token),
        user_id: user.user_id.clone(),
        expires_at: now + RESET_TTL_MS,
        created_at: now,
    };
    let mail = UserMail {
        to: user.email.clone(),
        subject: "Reset your Keygate password".into(),
        text: format!(
            "Someone (from IP {ip}) asked to reset the password of your Keygate account \
             {email}.\n\nTo choose a new password, open this link (it works once, until \
             {until}):\n{{link}}\n\nIf this was not you, ignore this mail: your password \
             stays as it is.\n",
            ip = if ip.is_empty() { "unknown" } else { &ip },
            email = user.email,
            until = format_rfc3339(reset.expires_at),
        ),
        link: Some(link),
    };
    let events = user_events(
        app,
        &as_user(actor, &user),
        &user,
        "password_reset.requested",
        json!({}),
    )
    .await?;
    app.store
        .create_password_reset(&reset, &events, &mail)
        .await?;
    app.dispatcher.wake();
    Ok(())
}

/// The account a reset token is for (used, expired or unknown: not found).
pub async fn reset_user(app: &App, token: &str) -> Result<UserRecord, Error> {
    let user_id = app
        .store
        .password_reset_user(&links::token_digest(token), now_ms())
        .await?
        .ok_or(Error::NotFound)?;
    app.store.user(&user_id).await?.ok_or(Error::NotFound)
}

/// Sets a new password from a reset link and ends every session of the user.
/// `code` is the second factor of an account with two-factor on, checked
/// after the token is known good and before anything changes: a stolen
/// mailbox alone does not take over such an account.
pub async fn complete_reset(
    app: &App,
    actor: &Actor,
    token: &str,
    new_password: &str,
    code: Option<&str>,
) -> Result<UserId, Error> {
    let user = reset_user(app, token).await?;
    two_factor::check_if_on(app, &user, actor, code).await?;
    let new_password = NewPassword::parse(new_password, "new_password")?;
    let hash = passwords::hash(new_password.expose().to_owned()).await?;
    let actor = as_user(actor, &user);
    let events = user_events(app, &actor, &user, "password.reset", json!({})).await?;
    app.store
        .complete_password_reset(
            &links::token_digest(token),
            &user.user_id,
            &hash,
            now_ms(),
            &events,
            &changed_mail(&user, &actor, "reset with a link sent to this address"),
        )
        .await?;
    app.dispatcher.wake();
    Ok(user.user_id)
}

/// Changes the signed-in user's password; their other sessions end.
pub async fn change_password(
    app: &App,
    user: &UserRecord,
    actor: &Actor,
    current_session: &Digest,
    password: Option<&str>,
    new_password: &str,
) -> Result<(), Error> {
    let new_password = NewPassword::parse(new_password, "new_password")?;
    passwords::confirm(app, user, password).await?;
    let hash = passwords::hash(new_password.expose().to_owned()).await?;
    let events = user_events(app, actor, user, "password.changed", json!({})).await?;
    app.store
        .change_password(
            &user.user_id,
            &hash,
            current_session,
            &events,
            &changed_mail(user, actor, "changed by you, signed in"),
        )
        .await?;
    app.dispatcher.wake();
    Ok(())
}

fn changed_mail(user: &UserRecord, actor: &Actor, how: &str) -> UserMail {
    UserMail::notice(
        &user.email,
        "Your Keygate password was changed",
        format!(
            "The password of your Keygate account {email} was just {how} (from IP {ip}, \
             at {at}). Your other sessions were signed out.\n\nIf this was not you, reset \
             your password at once with \"Forgot password?\" on the sign-in page, and tell \
             your organization's owner.\n",
            email = user.email,
            ip = actor
                .ip
                .as_deref()
                .filter(|i| !i.is_empty())
                .unwrap_or("unknown"),
            at = format_rfc3339(now_ms()),
        ),
    )
}

/// The user's live sessions (not expired, not idle too long), newest first.
pub async fn sessions(app: &App, user_id: &UserId) -> Result<Vec<SessionRecord>, Error> {
    let now = now_ms();
    Ok(app
        .store
        .sessions(user_id, now, now - app.settings.session_idle_ms)
        .await?)
}

/// Ends one of the user's sessions (another user's: not found).
pub async fn end_session(
    app: &App,
    user: &UserRecord,
    actor: &Actor,
    session_id: &str,
) -> Result<(), Error> {
    let id = SessionId::parse(session_id).map_err(|_| Error::NotFound)?;
    let events = user_events(
        app,
        actor,
        user,
        "session.ended",
        json!({"session_id": id.as_str()}),
    )
    .await?;
    Ok(app.store.end_session(&user.user_id, &id, &events).await?)
}

/// The user of a session token's digest, when the session is live: not past
/// its absolute expiry nor idle longer than `--session-idle-timeout`. Marks
/// it seen, at most once a minute.
pub async fn session_user(
    app: &App,
    session_hash: &Digest,
) -> Result<Option<(UserRecord, SessionRecord)>, Error> {
    let now = now_ms();
    let Some((user, session)) = app.store.session(session_hash, now).await? else {
        return Ok(None);
    };
    if session.last_seen_at + app.settings.session_idle_ms <= now {
        app.store.delete_session(session_hash).await?;
        return Ok(None);
    }
    // A short idle timeout (tests, strict setups) needs fresher marks.
    if now - session.last_seen_at >= TOUCH_EVERY_MS.min(app.settings.session_idle_ms / 4) {
        app.store.touch_session(session_hash, now).await?;
    }
    Ok(Some((user, session)))
}
