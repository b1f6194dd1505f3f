//! Password hashing with argon2id (OWASP's parameters: 19 MiB, 2 passes).
//!
//! Each check needs 19 MiB of working memory. Run on tokio's blocking pool (up
//! to 512 threads), 30 concurrent sign-ins took the process from 35 MB to
//! 2.4 GB, and glibc's per-thread arenas kept 1.3 GB of it afterwards. So the
//! checks run on a small pool of long-lived threads, about one per core (at
//! most 16), each reusing one buffer while sign-ins keep coming: memory for
//! hashing is bounded by workers × 19 MiB. A worker idle for [`IDLE_FREE`]
//! gives its buffer back (a quiet server does not hold 19 MiB per core for a
//! sign-in an hour ago; the next one grows it again). A caller waits
//! at most [`PERMIT_WAIT`] for a free worker, then gets 503 `unavailable` with
//! `Retry-After` ([`Error::Busy`]) instead of piling up.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use keygate_core::crypto::random_bytes;
use keygate_store::UserRecord;
use tokio::sync::{Semaphore, oneshot};

use crate::service::Error;
use crate::state::app::App;

/// How long a request waits for a free hashing worker before 503.
pub const PERMIT_WAIT: Duration = Duration::from_millis(2500);
const RETRY_AFTER_SECS: u64 = 2;
const MAX_WORKERS: usize = 16;
/// How long a worker keeps its buffer with no job.
const IDLE_FREE: Duration = Duration::from_secs(2);

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

struct Pool {
    /// One per worker; a job holds its permit until it has run, so at most
    /// `workers` jobs are queued or running at any time.
    permits: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, MAX_WORKERS);
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("keygate-argon2-{i}"))
                .spawn(move || worker(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Pool {
            permits: Arc::new(Semaphore::new(workers)),
            jobs,
        }
    })
}

fn worker(rx: &Mutex<mpsc::Receiver<Job>>) {
    // Grown to the size of a default hash, reused while jobs keep coming,
    // freed after IDLE_FREE without one.
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(IDLE_FREE);
        let job = match job {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                memory = Vec::new();
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        // A panic fails that one job (its caller sees an internal error); the
        // worker stays.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory)));
    }
}

/// Runs `f` on a hashing worker, waiting at most [`PERMIT_WAIT`] for one.
async fn run<T: Send + 'static>(
    f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
) -> Result<T, Error> {
    let pool = pool();
    let busy = || Error::Busy {
        retry_after_secs: RETRY_AFTER_SECS,
    };
    let permit = tokio::time::timeout(PERMIT_WAIT, pool.permits.clone().acquire_owned())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let (tx, rx) = oneshot::channel();
    pool.jobs
        .send(Box::new(move |memory| {
            let _ = tx.send(f(memory));
            drop(permit);
        }))
        .map_err(|_| Error::Internal("password hashing workers stopped".into()))?;
    rx.await
        .map_err(|_| Error::Internal("password hashing job failed".into()))
}

/// The first `n` blocks of the worker's buffer, grown to `n` if needed. A hash
/// made with more memory than today's default (never expected) gets a
/// buffer of its own that is freed afterwards.
fn blocks(memory: &mut Vec<Block>, n: usize) -> Option<&mut [Block]> {
    if n > Params::DEFAULT_M_COST as usize * 2 {
        return None;
    }
    if memory.len() < n {
        memory.resize(n, Block::default());
    }
    memory.get_mut(..n)
}

fn compute(
    argon: &Argon2<'_>,
    memory: &mut Vec<Block>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let n = argon.params().block_count();
    match blocks(memory, n) {
        Some(b) => argon.hash_password_into_with_memory(password, salt, out, b),
        None => argon.hash_password_into(password, salt, out),
    }
}

pub async fn hash(password: String) -> Result<String, Error> {
    run(move |memory| {
        let salt: [u8; 16] = random_bytes();
        let params = Params::default();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        compute(&argon, memory, password.as_bytes(), &salt, &mut out)
            .map_err(|e| format!("argon2 hash failed: {e}"))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
            salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
            hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
        };
        Ok(phc.to_string())
    })
    .await?
    .map_err(Error::Internal)
}

/// True when `password` matches the PHC string `hash`. A hash that does not
/// parse (never expected) counts as a mismatch. `Err` only when no worker
/// became free in time ([`Error::Busy`]) or a worker failed.
pub async fn verify(hash: String, password: String) -> Result<bool, Error> {
    run(move |memory| matches(&hash, password.as_bytes(), memory).unwrap_or(false)).await
}

fn matches(hash: &str, password: &[u8], memory: &mut Vec<Block>) -> Option<bool> {
    let phc = PasswordHash::new(hash).ok()?;
    let algorithm = Algorithm::try_from(phc.algorithm.as_str()).ok()?;
    let version = phc.version.map(Version::try_from).transpose().ok()?;
    let params = Params::try_from(&phc).ok()?;
    let expected = phc.hash?;
    let salt = phc.salt?;
    let argon = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut out = vec![0u8; expected.len()];
    compute(&argon, memory, password, &salt, &mut out).ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(&out).ok()? == expected)
}

/// Spends the same time as a real check, for sign-ins with an unknown email, so
/// response time does not tell which emails have accounts.
pub async fn verify_dummy(password: String) -> Result<(), Error> {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3b0bqMkCV8vXSKC0Bj0LkCuhGfwITKwU6OyD/Z32mBk";
    verify(DUMMY.to_owned(), password).await.map(|_| ())
}

/// Checks the acting user's current password before a change (keys, members,
/// accounts, webhooks): a stolen session alone cannot make one. Failures are
/// rate limited per user; the attempt is counted before the slow check and
/// given back only on success, so concurrent guesses cannot get more than the
/// limit checked.
pub async fn confirm(app: &App, user: &UserRecord, password: Option<&str>) -> Result<(), Error> {
    let slot = app
        .attempts
        .confirm_user
        .reserve(user.user_id.as_str())
        .map_err(|retry_after_secs| Error::TooManyAttempts { retry_after_secs })?;
    let ok = match password {
        Some(p) if !p.is_empty() => match verify(user.password_hash.clone(), p.to_owned()).await {
            Ok(ok) => ok,
            Err(e) => {
                slot.release();
                return Err(e);
            }
        },
        _ => false,
    };
    if ok {
        slot.release();
        Ok(())
    } else {
        drop(slot);
        Err(Error::PasswordRejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only_and_reads_hashes_of_the_crate() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(h.clone(), "correct horse".into()).await.unwrap());
        assert!(!verify(h, "correct horsE".into()).await.unwrap());
        // Hashes written before the worker pool, by argon2's own hasher.
        use argon2::password_hash::PasswordHasher;
        let old = Argon2::default()
            .hash_password(b"old one")
            .unwrap()
            .to_string();
        assert!(verify(old.clone(), "old one".into()).await.unwrap());
        assert!(!verify(old, "old two".into()).await.unwrap());
        assert!(!verify("not a hash".into(), "x".into()).await.unwrap());
    }
}
