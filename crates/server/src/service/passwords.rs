//! Password hashing with argon2id (OWASP's parameters: 19 MiB, 2 passes), on the
//! blocking pool so a hash never stalls the async workers.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};

use keygate_store::UserRecord;

use crate::app::App;
use crate::service::Error;

pub async fn hash(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("argon2 hash failed: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
}

/// True when `password` matches the PHC string `hash`. A hash that does not
/// parse (never expected) counts as a mismatch.
pub async fn verify(hash: String, password: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Spends the same time as a real check, for sign-ins with an unknown email, so
/// response time does not tell which emails have accounts.
pub async fn verify_dummy(password: String) {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3b0bqMkCV8vXSKC0Bj0LkCuhGfwITKwU6OyD/Z32mBk";
    let _ = verify(DUMMY.to_owned(), password).await;
}

/// Checks the acting user's current password before a change (keys, members,
/// accounts, webhooks): a stolen session alone cannot make one. Failures are
/// rate limited per user.
pub async fn confirm(app: &App, user: &UserRecord, password: Option<&str>) -> Result<(), Error> {
    let limiter = &app.limits.confirm_user;
    limiter
        .check(user.user_id.as_str())
        .map_err(|retry_after_secs| Error::RateLimited { retry_after_secs })?;
    let ok = match password {
        Some(p) if !p.is_empty() => verify(user.password_hash.clone(), p.to_owned()).await,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        limiter.fail(user.user_id.as_str());
        Err(Error::PasswordRejected)
    }
}
