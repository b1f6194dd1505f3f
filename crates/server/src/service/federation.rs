//! Workload identity federation: RFC 8693 token exchange at `/oauth/token`.
//! A CI job or a Kubernetes pod sends the JWT its platform's OIDC issuer gave
//! it, and the client id of a key whose federation rules name that issuer,
//! audience and subject; it gets the key's token, with no stored secret.
//!
//! The order of the checks keeps outside reads few: the token must parse,
//! name an issuer one of the key's rules names and match a rule's audience
//! and subject, and be within its times, before the issuer's keys are looked
//! at (and, when they are not known yet, read: `notify::fetch`, cached in
//! `state::issuer_keys`).

use std::net::IpAddr;
use std::sync::Arc;

use keygate_core::ClientId;
use keygate_core::federation::{FederationRules, Jwk, Refusal, SubjectToken, parse_jwks};
use keygate_store::KeyKind;
use serde::Deserialize;

use crate::notify::fetch;
use crate::service::Error;
use crate::service::tokens::{self, Granted, Issued, LoginRequest};
use crate::state::app::App;
use crate::state::audit::Actor;
use crate::state::clock::now_ms;
use crate::state::issuer_keys::{Issuer, Lookup};

/// `subject_token_type` of an outside JWT (RFC 8693 §3).
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Trades `subject_token` for a token of the key `req.client_id`. Every
/// refusal of the token is `SubjectTokenRefused` (400 `invalid_request`);
/// an unknown client id and a key without a matching rule answer alike.
pub async fn exchange(
    app: &App,
    req: &LoginRequest<'_>,
    subject_token: &str,
) -> Result<Issued, Error> {
    let attempts = &app.attempts;
    if let Err(retry_after_secs) = attempts.login_ip.check(req.ip) {
        return Err(Error::TooManyAttempts { retry_after_secs });
    }
    if !tokens::fresh_cache(app).await {
        return Err(tokens::stale_cache());
    }
    let refused = |r: Refusal| {
        attempts.login_ip.fail(req.ip);
        tracing::info!(reason = ?r, client_id = req.client_id.unwrap_or(""), "token exchange refused");
        Error::SubjectTokenRefused(r)
    };
    let token = SubjectToken::read(subject_token).map_err(refused)?;
    let (client_id, cred) = req
        .client_id
        .and_then(|c| Some((ClientId::parse(c).ok()?, app.cache.key(c)?)))
        .ok_or_else(|| refused(Refusal::NoRule))?;
    // The rules are read from the database, not kept in the credential
    // cache: an exchange happens once per CI job, not per API call, and the
    // rules' free text would cost every cached key memory.
    let rules = match app.store.key(&cred.org_id, &client_id).await? {
        Some(k) if k.kind == KeyKind::Scoped => k.federation,
        _ => FederationRules::default(),
    };
    if !rules.names_issuer(&token.claims.iss) {
        return Err(refused(Refusal::NoRule));
    }
    let rule = rules
        .matching(&token.claims)
        .ok_or_else(|| refused(Refusal::NoRule))?
        .clone();
    let now = now_ms();
    token.check_times(now / 1000).map_err(refused)?;
    let key = issuer_key(app, &token.claims.iss, &token.kid)
        .await
        .map_err(refused)?;
    token.verify(&key).map_err(refused)?;
    let Some(good_until) = cred.generation_good_until(cred.generation, now) else {
        return Err(refused(Refusal::NoRule));
    };
    // The key's allowlist holds for federated callers too.
    if let Some(networks) = &cred.allowed_networks
        && !req.ip.parse::<IpAddr>().is_ok_and(|ip| networks.allows(ip))
    {
        return Err(refused(Refusal::NoRule));
    }
    let org_id = Arc::clone(&cred.org_id);
    let issued = tokens::grant(
        app,
        req,
        Granted {
            client_id: client_id.clone(),
            generation: cred.generation,
            cred,
            good_until,
        },
    )
    .await?;
    let actor = Actor {
        ip: Some(req.ip.to_owned()),
        user_agent: req.user_agent.map(str::to_owned),
        ..Actor::default()
    };
    app.audit.send(actor.event(
        Some(&*org_id),
        "login.federated",
        Some(&client_id),
        serde_json::json!({
            "issuer": token.claims.iss,
            "subject": token.claims.sub,
            "audience": rule.audience,
            "rule_subject": rule.subject,
            "bound": issued.bound,
        }),
    ));
    Ok(issued)
}

/// The issuer's key of `kid`: known, or read now when the cache allows.
async fn issuer_key(app: &App, iss: &str, kid: &str) -> Result<Jwk, Refusal> {
    let issuer = app.issuer_keys.issuer(iss);
    match issuer.lookup(kid, now_ms()) {
        Lookup::Key(k) => return Ok(k),
        Lookup::Unknown => return Err(Refusal::UnknownKey),
        Lookup::Unavailable => return Err(Refusal::IssuerUnavailable),
        Lookup::Read => {}
    }
    // One reader at a time; whoever waited looks again, and finds what the
    // reader before it found.
    let _reading = issuer.reading.lock().await;
    let now = now_ms();
    match issuer.lookup(kid, now) {
        Lookup::Key(k) => return Ok(k),
        Lookup::Unknown => return Err(Refusal::UnknownKey),
        Lookup::Unavailable => return Err(Refusal::IssuerUnavailable),
        Lookup::Read => {}
    }
    read_issuer(app, &issuer, iss, now).await?;
    match issuer.lookup(kid, now) {
        Lookup::Key(k) => Ok(k),
        _ => Err(Refusal::UnknownKey),
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// Reads the issuer's discovery document and the JWKS it names.
async fn read_issuer(app: &App, issuer: &Issuer, iss: &str, now: i64) -> Result<(), Refusal> {
    issuer.reading_at(now);
    let insecure = app.settings.allow_insecure_issuers;
    let found = async {
        let url = format!(
            "{}/.well-known/openid-configuration",
            iss.trim_end_matches('/')
        );
        let doc = fetch::get_json(&url, insecure).await?;
        let doc: Discovery = serde_json::from_slice(&doc)
            .map_err(|_| "the discovery document has no issuer or jwks_uri".to_owned())?;
        // OpenID Connect Discovery §4.3: the document must name the issuer
        // it was read from, or another party's keys could be taken for its.
        if doc.issuer != iss {
            return Err("the discovery document names another issuer".to_owned());
        }
        let jwks = fetch::get_json(&doc.jwks_uri, insecure).await?;
        parse_jwks(&jwks).ok_or_else(|| "jwks_uri does not answer a JWKS".to_owned())
    }
    .await;
    match found {
        Ok(keys) => {
            tracing::info!(
                issuer = iss,
                keys = keys.len(),
                "read an OIDC issuer's keys"
            );
            issuer.read(keys, now);
            Ok(())
        }
        Err(e) => {
            tracing::warn!(issuer = iss, error = %e, "cannot read an OIDC issuer's keys");
            issuer.failed(now);
            Err(Refusal::IssuerUnavailable)
        }
    }
}
