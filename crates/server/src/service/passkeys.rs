//! Passkeys (WebAuthn discoverable credentials): adding one to a signed-in
//! person, listing and removing them, and signing in with one without a
//! username.
//!
//! The ceremonies are `webauthn_rp`'s (pure Rust: CBOR, attestation "none",
//! COSE keys and signatures are its work, never parsed here). The relying
//! party is `--public-url`: its host is the RP ID, its origin the only origin
//! accepted. A started ceremony's server state is stored in the database
//! (`passkey_challenges`, keyed by the SHA-256 of the `challenge_id` handed
//! to the client), so any instance can finish it; it is taken (deleted) by
//! the first finish and lives five minutes on Keygate's clock.
//!
//! User verification is required for both ceremonies, so a passkey sign-in
//! proves something the person has and something they know or are: the
//! session counts as two factors (`SessionFactors::Passkey`). Every failed
//! sign-in, whatever the reason (unknown or used challenge, unknown
//! credential, bad signature, a signature counter that did not go up), is
//! the same `Unauthorized` as a wrong password.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keygate_core::crypto::{random_base62, sha256};
use keygate_core::{PasskeyId, SessionFactors, UserId};
use keygate_store::{
    AuditEvent, PasskeyChallengeRecord, PasskeyPurpose, PasskeyRecord, UserMail, UserRecord,
};
use serde_json::{Value, json};
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::AuthenticationVerificationOptions;
use webauthn_rp::request::register::{
    CredProtect, Nickname, PublicKeyCredentialUserEntity, RegistrationVerificationOptions,
    UserHandle16, Username,
};
use webauthn_rp::request::{AsciiDomain, ExtensionInfo, PublicKeyCredentialDescriptor, RpId};
use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::{AuthTransports, CredentialId};
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthentication16, DiscoverableAuthenticationServerState,
    DiscoverableCredentialRequestOptions, PublicKeyCredentialCreationOptions, Registration,
    RegistrationServerState,
};

use crate::service::sessions::{self, NewSession};
use crate::service::{Error, passwords};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;

/// A started ceremony lives five minutes (the browser is given as long).
const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;
/// The longest passkey name, in characters.
const NAME_MAX_CHARS: usize = 100;

/// What the client needs to run a ceremony: the id to finish it with, and
/// the options for `navigator.credentials.create/get` in the WebAuthn JSON
/// encoding.
pub struct Started {
    pub challenge_id: String,
    pub public_key: Value,
}

/// The relying party: `--public-url`'s host and origin.
struct RelyingParty {
    rp_id: RpId,
    origin: String,
}

fn relying_party(app: &App) -> Result<RelyingParty, Error> {
    let unavailable = || {
        Error::NotAllowed(
            "Passkeys need the server's --public-url with a host name (not an IP address).",
        )
    };
    let url = app.settings.notify.public_url.as_str();
    let (scheme, rest) = url.split_once("://").ok_or_else(unavailable)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    if host.is_empty() || host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
        return Err(unavailable());
    }
    let domain = AsciiDomain::try_from(host.to_ascii_lowercase()).map_err(|_| unavailable())?;
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority
        .strip_suffix(default_port)
        .unwrap_or(authority)
        .to_ascii_lowercase();
    Ok(RelyingParty {
        rp_id: RpId::Domain(domain),
        origin: format!("{scheme}://{authority}"),
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// A new challenge id for the client; only its SHA-256 is stored.
fn new_challenge_id() -> String {
    format!("pkc_{}", random_base62(43))
}

async fn store_challenge(
    app: &App,
    purpose: PasskeyPurpose,
    user_id: Option<&UserId>,
    server_state: &[u8],
) -> Result<String, Error> {
    let challenge_id = new_challenge_id();
    let now = now_ms();
    app.store
        .create_passkey_challenge(&PasskeyChallengeRecord {
            challenge_hash: sha256(challenge_id.as_bytes()),
            purpose,
            user_id: user_id.cloned(),
            server_state: b64(server_state),
            expires_at: now + CHALLENGE_TTL_MS,
            created_at: now,
        })
        .await?;
    Ok(challenge_id)
}

/// Takes the challenge `challenge_id` for `purpose` (once); its server state.
async fn take_challenge(
    app: &App,
    challenge_id: &str,
    purpose: PasskeyPurpose,
) -> Result<Option<(Option<UserId>, Vec<u8>)>, Error> {
    if challenge_id.len() > 100 {
        return Ok(None);
    }
    let taken = app
        .store
        .take_passkey_challenge(&sha256(challenge_id.as_bytes()), purpose, now_ms())
        .await?;
    Ok(taken.and_then(|c| Some((c.user_id, unb64(&c.server_state)?))))
}

/// The user handle the user's authenticators keep: the one of their
/// passkeys, or a new random one for their first.
fn user_handle(existing: &[PasskeyRecord]) -> UserHandle16 {
    existing
        .iter()
        .find_map(|p| <[u8; 16]>::try_from(unb64(&p.user_handle)?).ok())
        .and_then(|bytes| UserHandle16::decode(bytes).ok())
        .unwrap_or_else(UserHandle16::new)
}

/// `POST /me/passkeys/options`: after the password, creation options for a
/// discoverable credential with user verification, excluding the user's
/// passkeys (an authenticator holds one per account).
pub async fn registration_options(
    app: &App,
    user: &UserRecord,
    password: Option<&str>,
) -> Result<Started, Error> {
    passwords::confirm(app, user, password).await?;
    let rp = relying_party(app)?;
    let existing = app.store.passkeys(&user.user_id).await?;
    let handle = user_handle(&existing);
    let exclude = existing
        .iter()
        .filter_map(|p| unb64(&p.credential_id))
        .filter_map(|id| CredentialId::decode(id).ok())
        .filter_map(|id| {
            Some(PublicKeyCredentialDescriptor {
                id,
                // None known: the browser tries every transport.
                transports: AuthTransports::decode(0).ok()?,
            })
        })
        .collect();
    let name = Username::try_from(user.email.as_str())
        .map_err(|_| Error::invalid("email", "this email cannot name a passkey"))?;
    let entity = PublicKeyCredentialUserEntity {
        name,
        id: &handle,
        display_name: Nickname::try_from(user.email.as_str()).ok(),
    };
    let mut creation = PublicKeyCredentialCreationOptions::passkey(&rp.rp_id, entity, exclude);
    // Ask for credProtect without making it a condition: platform
    // authenticators (and Chromium's virtual one) do not support it, and
    // every sign-in requires user verification anyway.
    creation.extensions.cred_protect =
        CredProtect::UserVerificationRequired(ExtensionInfo::AllowDontEnforceValue);
    let (server, client) = creation
        .start_ceremony()
        .map_err(|e| Error::Unavailable(format!("passkey options: {e}")))?;
    let public_key = serde_json::to_value(&client)
        .map_err(|e| Error::Unavailable(format!("passkey options: {e}")))?;
    let state = server
        .encode()
        .map_err(|e| Error::Unavailable(format!("passkey options: {e:?}")))?;
    let challenge_id =
        store_challenge(app, PasskeyPurpose::Register, Some(&user.user_id), &state).await?;
    Ok(Started {
        challenge_id,
        public_key,
    })
}

/// A passkey's name: trimmed, 1 to 100 characters, no control characters.
fn passkey_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return Err(Error::invalid(
            "name",
            "give the passkey a name of 1 to 100 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "the name cannot hold control characters",
        ));
    }
    Ok(name.to_owned())
}

/// `POST /me/passkeys`: the authenticator's answer to the options of
/// `challenge_id` → a new passkey, its audit event in each of the user's
/// organizations and a mail to the user, in one transaction.
pub async fn register(
    app: &App,
    user: &UserRecord,
    actor: &Actor,
    challenge_id: &str,
    name: &str,
    credential: &Value,
) -> Result<PasskeyRecord, Error> {
    let name = passkey_name(name)?;
    let stale = || {
        Error::invalid(
            "challenge_id",
            "this passkey request expired or was used; start adding the passkey again",
        )
    };
    let (owner, state) = take_challenge(app, challenge_id, PasskeyPurpose::Register)
        .await?
        .ok_or_else(stale)?;
    if owner.as_ref() != Some(&user.user_id) {
        return Err(stale());
    }
    let server = RegistrationServerState::<16>::decode(state.as_slice()).map_err(|_| stale())?;
    let rp = relying_party(app)?;
    let bad = |why: String| {
        tracing::info!(user_id = %user.user_id, "passkey registration refused: {why}");
        Error::invalid(
            "credential",
            "the authenticator's answer does not check out for this request",
        )
    };
    let json = serde_json::to_vec(credential).map_err(|e| bad(e.to_string()))?;
    let registration = Registration::from_json_relaxed(&json).map_err(|e| bad(e.to_string()))?;
    let origins = [rp.origin.clone()];
    let options = RegistrationVerificationOptions::<String, String> {
        allowed_origins: &origins,
        ..Default::default()
    };
    let registered = server
        .verify(&rp.rp_id, &registration, &options)
        .map_err(|e| bad(e.to_string()))?;
    let static_state = registered
        .static_state()
        .encode()
        .map_err(|e| bad(format!("{e:?}")))?;
    let dynamic = registered.dynamic_state();
    let dynamic_state = dynamic.encode().map_err(|e| bad(format!("{e:?}")))?;
    let now = now_ms();
    let passkey = PasskeyRecord {
        passkey_id: PasskeyId::generate(),
        user_id: user.user_id.clone(),
        name,
        credential_id: b64(registered.id().as_ref()),
        user_handle: b64(registered.user_id().as_ref()),
        static_state: b64(&static_state),
        dynamic_state: b64(&dynamic_state),
        sign_count: i64::from(dynamic.sign_count),
        created_at: now,
        last_used_at: None,
    };
    let details = json!({"passkey_id": passkey.passkey_id.as_str(), "name": passkey.name});
    let events = user_events(app, actor, user, "passkey.added", details).await?;
    let mail = UserMail::notice(
        &user.email,
        "A passkey was added to your account",
        format!(
            "A passkey named \"{}\" was added to your Keygate account. It signs you in without your password.\n\nIf this was not you, remove it on Security, reset your password and contact your organization's owner.",
            passkey.name
        ),
    );
    app.store.add_passkey(&passkey, &events, &[mail]).await?;
    Ok(passkey)
}

/// The user's passkeys, oldest first.
pub async fn list(app: &App, user_id: &UserId) -> Result<Vec<PasskeyRecord>, Error> {
    Ok(app.store.passkeys(user_id).await?)
}

/// `DELETE /me/passkeys/{id}`: after the password; another person's passkey
/// (or none) is `NotFound`.
pub async fn remove(
    app: &App,
    user: &UserRecord,
    actor: &Actor,
    passkey_id: &str,
    password: Option<&str>,
) -> Result<(), Error> {
    passwords::confirm(app, user, password).await?;
    let id = PasskeyId::parse(passkey_id).map_err(|_| Error::NotFound)?;
    let passkey = app
        .store
        .passkeys(&user.user_id)
        .await?
        .into_iter()
        .find(|p| p.passkey_id == id)
        .ok_or(Error::NotFound)?;
    let details = json!({"passkey_id": passkey.passkey_id.as_str(), "name": passkey.name});
    let events = user_events(app, actor, user, "passkey.removed", details).await?;
    let mail = UserMail::notice(
        &user.email,
        "A passkey was removed from your account",
        format!(
            "The passkey named \"{}\" was removed from your Keygate account and no longer signs you in.\n\nIf this was not you, reset your password and contact your organization's owner.",
            passkey.name
        ),
    );
    app.store
        .remove_passkey(&user.user_id, &id, &events, &[mail])
        .await?;
    Ok(())
}

/// `POST /sessions/passkey/options`: request options for any discoverable
/// credential (no `allowCredentials`), user verification required.
pub async fn sign_in_options(app: &App) -> Result<Started, Error> {
    let rp = relying_party(app)?;
    let (server, client) = DiscoverableCredentialRequestOptions::passkey(&rp.rp_id)
        .start_ceremony()
        .map_err(|e| Error::Unavailable(format!("passkey options: {e}")))?;
    let public_key = serde_json::to_value(&client)
        .map_err(|e| Error::Unavailable(format!("passkey options: {e}")))?;
    let state = server
        .encode()
        .map_err(|e| Error::Unavailable(format!("passkey options: {e:?}")))?;
    let challenge_id = store_challenge(app, PasskeyPurpose::SignIn, None, &state).await?;
    Ok(Started {
        challenge_id,
        public_key,
    })
}

/// `POST /sessions/passkey`: an assertion for the options of `challenge_id`
/// → a session made with two factors. Any failure is `Unauthorized`.
pub async fn sign_in(
    app: &App,
    actor: &Actor,
    challenge_id: &str,
    credential: &Value,
    device: Option<&str>,
) -> Result<NewSession, Error> {
    let refused = |why: &str| {
        tracing::info!("passkey sign-in refused: {why}");
        Error::Unauthorized
    };
    let Some((_, state)) = take_challenge(app, challenge_id, PasskeyPurpose::SignIn).await? else {
        return Err(refused("no such challenge (unknown, used or expired)"));
    };
    let server = DiscoverableAuthenticationServerState::decode(state.as_slice())
        .map_err(|_| refused("the stored challenge does not decode"))?;
    let rp = relying_party(app)?;
    let json = serde_json::to_vec(credential).map_err(|_| refused("not JSON"))?;
    let assertion = DiscoverableAuthentication16::from_json_relaxed(&json)
        .map_err(|e| refused(&format!("not an assertion: {e}")))?;
    let credential_id = b64(assertion.raw_id().as_ref());
    let Some(passkey) = app.store.passkey_by_credential(&credential_id).await? else {
        return Err(refused("unknown credential"));
    };
    let handle = <[u8; 16]>::try_from(unb64(&passkey.user_handle).unwrap_or_default())
        .ok()
        .and_then(|b| UserHandle16::decode(b).ok())
        .ok_or_else(|| refused("stored user handle is not 16 bytes"))?;
    let static_state = unb64(&passkey.static_state)
        .and_then(|b| {
            StaticState::<CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>>::decode(&b).ok()
        })
        .ok_or_else(|| refused("stored public key does not decode"))?;
    let dynamic_state = unb64(&passkey.dynamic_state)
        .and_then(|b| <[u8; 7]>::try_from(b).ok())
        .and_then(|b| DynamicState::decode(b).ok())
        .ok_or_else(|| refused("stored flags do not decode"))?;
    let raw_id = unb64(&passkey.credential_id).unwrap_or_default();
    let id = CredentialId::<&[u8]>::decode(raw_id.as_slice())
        .map_err(|_| refused("stored credential id does not decode"))?;
    let mut cred = AuthenticatedCredential::new(id, &handle, static_state, dynamic_state)
        .map_err(|e| refused(&format!("stored credential: {e}")))?;
    let origins = [rp.origin.clone()];
    let options = AuthenticationVerificationOptions::<String, String> {
        allowed_origins: &origins,
        ..Default::default()
    };
    server
        .verify(&rp.rp_id, &assertion, &mut cred, &options)
        .map_err(|e| refused(&format!("assertion: {e}")))?;
    let after = cred.dynamic_state();
    let (seen, now_count) = (passkey.sign_count, i64::from(after.sign_count));
    // The library refuses a counter that did not go up; said here too, since
    // a cloned authenticator is what it reveals.
    if (seen != 0 || now_count != 0) && now_count <= seen {
        return Err(refused("the signature counter did not go up"));
    }
    let encoded = after.encode().map_err(|_| refused("flags do not encode"))?;
    if !app
        .store
        .use_passkey(
            &passkey.passkey_id,
            seen,
            now_count,
            &b64(&encoded),
            now_ms(),
        )
        .await?
    {
        return Err(refused("another sign-in used this counter first"));
    }
    let user = app
        .store
        .user(&passkey.user_id)
        .await?
        .ok_or_else(|| refused("the passkey's user is gone"))?;
    // Enforced single sign-on covers passkeys as it covers passwords.
    if crate::service::sso::enforce::required_for(app, &user).await? {
        return Err(Error::SsoRequired);
    }
    sessions::open(app, actor, user, device, SessionFactors::Passkey).await
}

/// One audit event per organization of the user (how someone signs in
/// matters to each organization they reach), or one of no organization.
async fn user_events(
    app: &App,
    actor: &Actor,
    user: &UserRecord,
    action: &str,
    details: Value,
) -> Result<Vec<AuditEvent>, Error> {
    let mut events = sessions::user_events(app, actor, user, action, details.clone()).await?;
    if events.is_empty() {
        events.push(actor.event(None, action, None, details));
    }
    Ok(events)
}
