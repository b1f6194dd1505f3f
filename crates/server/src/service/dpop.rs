//! DPoP proofs (RFC 9449) checked against the request they came with: the
//! rules of `keygate_core::dpop`, with the request's URI on Keygate's public
//! origin (`--public-url`), the clock, and a `jti` accepted once
//! (`state::dpop_proofs`).

use keygate_core::dpop::{self, Expected, IAT_WINDOW_SECS, ProofError};

use crate::service::Error;
use crate::state::app::App;
use crate::state::clock::now_ms;

/// A proof sent to get a token (`/oauth/token`, login): the thumbprint of
/// its key, for the token's `cnf.jkt`.
pub async fn issue_proof(
    app: &App,
    proof: &str,
    method: &str,
    path: &str,
) -> Result<String, Error> {
    checked(app, proof, method, path, None)
        .await
        .map_err(Error::InvalidDpopProof)
}

/// A proof presented with a bound token at the gateway or forward-auth:
/// `method` and `path` are those of the request the token is used for (at
/// forward-auth, the original request the proxy names), and the proof's key
/// must be the one the token is bound to.
pub async fn use_proof(
    app: &App,
    proof: &str,
    method: &str,
    path: &str,
    token: &str,
    jkt: &str,
) -> Result<(), ProofError> {
    let seen = checked(app, proof, method, path, Some(token)).await?;
    if seen != jkt {
        return Err(ProofError::Key);
    }
    Ok(())
}

async fn checked(
    app: &App,
    proof: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Result<String, ProofError> {
    let now = now_ms() / 1000;
    let p = dpop::verify(
        proof,
        &Expected {
            htm: method,
            origin: dpop::origin_of(&app.settings.notify.public_url),
            path,
            access_token: token,
            now,
        },
    )?;
    // Checked last, so that only a well-signed proof of this request is
    // remembered: nobody else can fill the memory with someone's jti. With
    // --redis-url this is one Redis round trip (DPoP requests only).
    if !app
        .dpop_proofs
        .first_use_everywhere(&p.jkt, &p.jti, now, p.iat + IAT_WINDOW_SECS)
        .await
    {
        return Err(ProofError::Replayed);
    }
    Ok(p.jkt)
}
