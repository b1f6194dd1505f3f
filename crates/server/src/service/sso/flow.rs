//! A sign-in through the organization's OpenID provider: the authorization
//! code flow with PKCE (S256), `state` and `nonce`, by `openidconnect`.
//!
//! `start` finds the organization that claims the email's domain, reads the
//! provider's discovery document and returns the authorization URL and the
//! pending sign-in (state, nonce, PKCE verifier, org), sealed for a cookie of
//! the browser that started it: nothing is stored until the sign-in ends.
//! `finish` checks that the provider's `state` is the cookie's, redeems the
//! code, verifies the ID token (signature by the provider's JWKS, `iss`,
//! `aud`, `nonce`, `exp` against Keygate's clock), requires `email_verified`
//! and an email in the organization's domains, and opens a session; a person
//! new to the organization joins it with the default role, in the same
//! transaction.

use keygate_core::crypto::random_base62;
use keygate_core::sso::{email_domain, open, seal};
use keygate_core::{OrgId, Role, SessionFactors, UserId};
use keygate_store::{SsoSettingsRecord, UserRecord};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::http;
use crate::service::sessions::{self, NewSession};
use crate::service::{Error, passwords};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;

/// How long a browser has to come back from the provider.
pub const PENDING_TTL_SECS: i64 = 600;
/// What the pending sign-in's seal is bound to.
const PENDING_CONTEXT: &str = "sso pending sign-in";

type Relying = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A sign-in started: where the browser goes, and the cookie it keeps.
pub struct Started {
    pub location: String,
    /// The pending sign-in, sealed: the value of the state cookie.
    pub pending: String,
}

/// The pending sign-in the state cookie carries (sealed, so the browser can
/// neither read the verifier nor change the org).
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    org_id: String,
    expires_at: i64,
}

/// `<public url>/app/sso/callback`.
fn redirect_uri(app: &App) -> String {
    format!("{}/app/sso/callback", app.settings.notify.public_url)
}

/// The provider's discovery document (with its JWKS), read now.
pub(super) async fn discover(app: &App, issuer: &str) -> Result<CoreProviderMetadata, String> {
    let insecure = app.settings.allow_insecure_issuers;
    let client = move |req| http::send(insecure, req);
    let url = IssuerUrl::new(issuer.to_owned()).map_err(|_| "is not a valid URL".to_owned())?;
    CoreProviderMetadata::discover_async(url, &client)
        .await
        .map_err(|e| {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = format!("{why}: {s}");
                source = s.source();
            }
            format!("its discovery document could not be read ({why})")
        })
}

async fn relying_party(
    app: &App,
    s: &SsoSettingsRecord,
    secret: Option<String>,
) -> Result<Relying, Error> {
    let meta = discover(app, &s.issuer).await.map_err(|why| {
        tracing::warn!(org_id = %s.org_id, issuer = %s.issuer, %why, "single sign-on: provider unreachable");
        Error::NotAllowed("Your organization's identity provider cannot be reached right now. Try again later.")
    })?;
    let redirect = RedirectUrl::new(redirect_uri(app))
        .map_err(|e| Error::Internal(format!("the public URL makes no redirect URI: {e}")))?;
    Ok(CoreClient::from_provider_metadata(
        meta,
        ClientId::new(s.client_id.clone()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(redirect))
}

/// Starts a sign-in for `email`: 404 when no organization claims its domain.
pub async fn start(app: &App, email: &str) -> Result<Started, Error> {
    let domain =
        email_domain(email).ok_or_else(|| Error::invalid("email", "must be an email address"))?;
    let s = app
        .store
        .sso_settings_for_domain(&domain)
        .await?
        .ok_or(Error::NotFound)?;
    let client = relying_party(app, &s, None).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let pending = Pending {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        org_id: s.org_id.to_string(),
        expires_at: now_ms() + PENDING_TTL_SECS * 1000,
    };
    let json = serde_json::to_vec(&pending).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Started {
        location: url.to_string(),
        pending: seal(&app.pepper, PENDING_CONTEXT, &json),
    })
}

const START_AGAIN: &str =
    "This single sign-on has expired or was started in another browser. Sign in again.";

/// Ends a sign-in: `pending` is the state cookie, `state` and `code` the
/// provider's answer. Every refusal is `NotAllowed` with a sentence for the
/// person (the detail goes to the log), and opens no session.
pub async fn finish(
    app: &App,
    actor: &Actor,
    pending: Option<&str>,
    state: &str,
    code: &str,
    device: Option<&str>,
) -> Result<NewSession, Error> {
    let p: Pending = pending
        .and_then(|c| open(c, &app.pepper, PENDING_CONTEXT))
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(|p: &Pending| p.expires_at > now_ms())
        .ok_or(Error::NotAllowed(START_AGAIN))?;
    if !bool::from(p.state.as_bytes().ct_eq(state.as_bytes())) {
        tracing::warn!("single sign-on refused: the state is not the one this browser started");
        return Err(Error::NotAllowed(START_AGAIN));
    }
    let org_id: OrgId = p
        .org_id
        .parse()
        .map_err(|_| Error::NotAllowed(START_AGAIN))?;
    let s = app
        .store
        .sso_settings(&org_id)
        .await?
        .ok_or(Error::NotAllowed(
            "Single sign-on is no longer set up for this organization.",
        ))?;
    let secret = open(&s.sealed_secret, &app.pepper, org_id.as_str())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            Error::Internal("the SSO client secret does not open with this pepper".into())
        })?;
    let client = relying_party(app, &s, Some(secret)).await?;
    let email = verified_email(app, &client, &p, code).await?;
    let refuse = |why: &'static str, msg: &'static str| {
        tracing::warn!(org_id = %org_id, reason = why, "single sign-on refused");
        Error::NotAllowed(msg)
    };
    if !email_domain(&email).is_some_and(|d| s.domains.contains(&d)) {
        return Err(refuse(
            "domain",
            "This email address is not one of your organization's single sign-on domains.",
        ));
    }
    sign_in(app, actor, &s, &email, device).await
}

/// The code redeemed and the ID token verified: its verified email.
async fn verified_email(
    app: &App,
    client: &Relying,
    p: &Pending,
    code: &str,
) -> Result<String, Error> {
    let refuse = |why: String, msg: &'static str| {
        tracing::warn!(reason = %why, "single sign-on refused");
        Error::NotAllowed(msg)
    };
    let insecure = app.settings.allow_insecure_issuers;
    let http_client = move |req| http::send(insecure, req);
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| {
            refuse(
                e.to_string(),
                "The identity provider has no token endpoint.",
            )
        })?
        .set_pkce_verifier(PkceCodeVerifier::new(p.verifier.clone()))
        .request_async(&http_client)
        .await
        .map_err(|e| {
            refuse(
                format!("token endpoint: {e}"),
                "The identity provider did not accept this sign-in. Sign in again.",
            )
        })?;
    let id_token = token.id_token().ok_or_else(|| {
        refuse(
            "no ID token".into(),
            "The identity provider sent no ID token.",
        )
    })?;
    let now = now_ms();
    let verifier = client
        .id_token_verifier()
        .set_time_fn(move || chrono::DateTime::from_timestamp_millis(now).unwrap_or_default());
    let claims = id_token
        .claims(&verifier, &Nonce::new(p.nonce.clone()))
        .map_err(|e| {
            refuse(
                format!("ID token: {e}"),
                "The identity provider's answer did not verify. Sign in again.",
            )
        })?;
    if claims.email_verified() != Some(true) {
        return Err(refuse(
            "email_verified is not true".into(),
            "The identity provider has not verified your email address.",
        ));
    }
    let email = claims.email().ok_or_else(|| {
        refuse(
            "no email claim".into(),
            "The identity provider did not share your email address.",
        )
    })?;
    Ok(email.as_str().trim().to_lowercase())
}

/// The session of `email`: an account made for a person new to Keygate (with
/// a random password nobody knows; a reset link can set one), and the
/// membership with the default role for a person new to the organization;
/// `session.created` with `"method": "sso"` in each of the person's
/// organizations.
async fn sign_in(
    app: &App,
    actor: &Actor,
    s: &SsoSettingsRecord,
    email: &str,
    device: Option<&str>,
) -> Result<NewSession, Error> {
    let (user, new_user) = match app.store.user_by_email(email).await? {
        Some(u) => (u, false),
        None => {
            let user = UserRecord {
                user_id: UserId::generate(),
                email: email.to_owned(),
                password_hash: passwords::hash(random_base62(40)).await?,
                created_at: now_ms(),
            };
            (user, true)
        }
    };
    let join_as: Option<Role> = match app.store.role(&s.org_id, &user.user_id).await? {
        Some(_) => None,
        None => Some(s.default_role),
    };
    let actor = sessions::as_user(actor, &user);
    let method = json!({"method": "sso"});
    let mut events =
        sessions::user_events(app, &actor, &user, "session.created", method.clone()).await?;
    if let Some(role) = join_as {
        events.push(actor.event(
            Some(&s.org_id),
            "member.joined",
            None,
            json!({"user_id": user.user_id.as_str(), "email": user.email, "role": role.as_str(), "method": "sso"}),
        ));
        events.push(actor.event(Some(&s.org_id), "session.created", None, method));
    }
    let ip = actor.ip.clone().unwrap_or_default();
    app.known.remember(user.user_id.as_str(), &ip);
    let device_cookie = app.known.cookie_for(user.user_id.as_str(), device);
    let (mut new, session) = sessions::new_session_with(app, &actor, user, SessionFactors::Sso);
    new.device_cookie = device_cookie;
    app.store
        .sso_sign_in(&s.org_id, &new.user, new_user, join_as, &session, &events)
        .await?;
    Ok(new)
}
