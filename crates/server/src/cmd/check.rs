//! `keygate check`: reads the same flags, variables and `--config` file as
//! `serve` and tries what `serve` needs before it starts: the settings, the
//! pepper and signing keys, the database (and its schema), Redis and SMTP when
//! given. One line per check, `name: ok (…)` or `name: FAILED: …`; any failure
//! exits 1. Nothing is created or changed (a container's or systemd's
//! pre-start step). No line repeats a secret or a database URL.

use std::time::Duration;

use crate::notify::email::Mailer;
use crate::state::config::{ServeArgs, Settings};
use crate::state::rate_limits::redis::Conn;
use crate::state::secrets::{self, PEPPER_FILE, SIGNING_KEYS_FILE};

/// How long the database, Redis or SMTP may take to answer.
const WAIT: Duration = Duration::from_secs(15);

type Outcome = Result<String, String>;

pub async fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    let mut line = |name: &'static str, outcome: Outcome| match outcome {
        Ok(detail) => println!("{name}: {detail}"),
        Err(why) => {
            println!("{name}: FAILED: {why}");
            failed.push(name);
        }
    };
    let settings = args.settings();
    line(
        "config",
        match &settings {
            Ok(s) => Ok(format!(
                "ok (listen {}, {} resources in the catalog)",
                s.listen,
                s.catalog.resources().len()
            )),
            Err(e) => Err(format!("{e:#}")),
        },
    );
    line("secrets", check_secrets(args));
    line("database", within(check_database(args)).await);
    match &settings {
        Ok(s) => {
            line("redis", within(check_redis(s)).await);
            line("smtp", within(check_smtp(s)).await);
        }
        Err(_) => {
            line("redis", Ok("not checked: the config did not load".into()));
            line("smtp", Ok("not checked: the config did not load".into()));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} check(s) failed: {}", failed.len(), failed.join(", "))
    }
}

async fn within(check: impl Future<Output = Outcome>) -> Outcome {
    tokio::time::timeout(WAIT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", WAIT.as_secs())))
}

/// The pepper and signing keys `serve` would read: from the variables, or
/// the data dir's files when they exist (serve creates missing ones).
fn check_secrets(args: &ServeArgs) -> Outcome {
    let dir = &args.data.data_dir;
    let mut found = Vec::new();
    let pepper = std::env::var("KEYGATE_PEPPER").ok();
    if pepper.is_some() || dir.join(PEPPER_FILE).exists() {
        secrets::load_pepper(dir, pepper.as_deref()).map_err(|e| format!("{e:#}"))?;
    }
    found.push(match (&pepper, dir.join(PEPPER_FILE).exists()) {
        (Some(_), _) => "pepper from KEYGATE_PEPPER".to_owned(),
        (None, true) => format!("pepper in {}", dir.display()),
        (None, false) => format!("no pepper yet: serve creates one in {}", dir.display()),
    });
    let keys = std::env::var("KEYGATE_SIGNING_KEYS").ok();
    if keys.is_some() || dir.join(SIGNING_KEYS_FILE).exists() {
        secrets::load_signing_keys(dir, keys.as_deref()).map_err(|e| format!("{e:#}"))?;
    }
    found.push(match (&keys, dir.join(SIGNING_KEYS_FILE).exists()) {
        (Some(_), _) => "signing keys from KEYGATE_SIGNING_KEYS".to_owned(),
        (None, true) => format!("signing keys in {}", dir.display()),
        (None, false) => "no signing keys yet: serve creates them".to_owned(),
    });
    Ok(format!("ok ({})", found.join("; ")))
}

async fn check_database(args: &ServeArgs) -> Outcome {
    let data = &args.data;
    let what = match data.sqlite_file() {
        Some(file) => {
            if !file.exists() {
                return if args.no_migrate {
                    Err(format!(
                        "no database at {}: run `keygate migrate` first (serve --no-migrate creates none)",
                        file.display()
                    ))
                } else {
                    Ok(format!(
                        "ok (no database at {} yet: serve creates it)",
                        file.display()
                    ))
                };
            }
            format!("SQLite {}", file.display())
        }
        None => "PostgreSQL".to_owned(),
    };
    let store = data.open_as_it_is().await.map_err(|e| format!("{e:#}"))?;
    let pending = store
        .pending_migrations()
        .await
        .map_err(|e| e.to_string())?;
    store.is_empty().await.map_err(|e| e.to_string())?;
    match pending.len() {
        0 => Ok(format!("ok ({what}, schema up to date)")),
        n if args.no_migrate => Err(format!(
            "{what}: {n} migration(s) pending ({}): run `keygate migrate` (serve --no-migrate refuses this schema)",
            super::migrate::list(&pending)
        )),
        n => Ok(format!(
            "ok ({what}, {n} migration(s) pending: serve applies them at start)"
        )),
    }
}

async fn check_redis(s: &Settings) -> Outcome {
    match &s.redis {
        None => {
            Ok("not configured (no --redis-url: each instance enforces rate limits alone)".into())
        }
        Some(cfg) => match Conn::open(cfg).await {
            Ok(_) => Ok(format!("ok ({} answers)", cfg.address())),
            Err(e) => Err(format!("{}: {e}", cfg.address())),
        },
    }
}

async fn check_smtp(s: &Settings) -> Outcome {
    let Some(url) = &s.notify.smtp_url else {
        return Ok(format!(
            "not configured (no --smtp-url: mail is written as .eml files under {})",
            s.notify.mail_dir.display()
        ));
    };
    let host = host_of(url);
    let mailer = Mailer::new(&s.notify).map_err(|e| e.to_string())?;
    match mailer.check().await {
        Ok(()) => Ok(format!("ok ({host} answers)")),
        Err(e) => Err(format!("{host}: {e}")),
    }
}

/// `host:port` of a URL, without its user or password.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_smtp_host_is_shown_without_the_password() {
        assert_eq!(
            host_of("smtps://kg:s3cret@mail.example.com:465"),
            "mail.example.com:465"
        );
        assert_eq!(host_of("smtp://127.0.0.1:25?tls=required"), "127.0.0.1:25");
    }
}
