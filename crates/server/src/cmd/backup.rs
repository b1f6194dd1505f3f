//! `keygate backup --to FILE` and `keygate restore --from FILE`, for SQLite.
//!
//! The backup is a consistent copy of the database taken while `serve` runs
//! and writes (`VACUUM INTO`, one read snapshot). The database alone is useless
//! without the pepper (every key's digest is keyed with it), so the pepper and
//! the signing keys that the data dir holds as files go beside it, into
//! `FILE.secrets` (0600, the `KEYGATE_…=` lines of `secrets generate`);
//! `restore` puts both back. Secrets that come from the environment are not
//! copied: the command says to keep them with the backup.
//! PostgreSQL is backed up with its own tools (`pg_dump`).

use std::ffi::OsString;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::Context;
use keygate_store::sqlite::SqliteStore;

use crate::cmd::refused::refuse;
use crate::state::config::DataArgs;
use crate::state::secrets::{self, PEPPER_FILE, SIGNING_KEYS_FILE};

/// `FILE.secrets`: where the pepper and signing keys of the backup `FILE` go.
pub fn secrets_path(file: &Path) -> PathBuf {
    let mut name = OsString::from(file.as_os_str());
    name.push(".secrets");
    PathBuf::from(name)
}

pub async fn backup(data: &DataArgs, to: &Path) -> anyhow::Result<()> {
    if data.is_postgres() {
        return refuse(
            "the database is PostgreSQL: back it up with pg_dump \
             (pg_dump --format=custom --file=keygate.dump \"$KEYGATE_DATABASE_URL\"), \
             and keep the pepper and signing keys with it",
        );
    }
    let Some(db) = data.sqlite_file() else {
        return refuse("--database-url names no SQLite file to back up");
    };
    if !db.is_file() {
        return refuse(format!("no database at {}", db.display()));
    }
    let secrets_to = secrets_path(to);
    for path in [to, secrets_to.as_path()] {
        if fs::symlink_metadata(path).is_ok() {
            return refuse(format!(
                "{} already exists: a backup never overwrites a file; name another",
                path.display()
            ));
        }
    }
    // Created empty and owner-only first: the copy holds what the database
    // holds, and SQLite would give a file it creates the umask's mode.
    secrets::create_private(to, "")?;
    let copied = async {
        SqliteStore::backup(&data.database_url(), to).await?;
        SqliteStore::check_backup(to).await
    };
    let info = match copied.await {
        Ok(info) => info,
        Err(e) => {
            let _ = fs::remove_file(to);
            return Err(e).context("the backup failed");
        }
    };
    let size = fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    println!(
        "backup: wrote {} ({} organizations, {} keys, {} KB); its integrity check passed",
        to.display(),
        info.orgs,
        info.keys,
        size.div_ceil(1024)
    );

    // Each secret the server reads from a variable is not in the data dir.
    let from_env = |name: &str| std::env::var_os(name).is_some();
    let read = |file: &str| fs::read_to_string(data.data_dir.join(file)).ok();
    let pepper = (!from_env("KEYGATE_PEPPER"))
        .then(|| read(PEPPER_FILE))
        .flatten();
    let keys = (!from_env("KEYGATE_SIGNING_KEYS"))
        .then(|| read(SIGNING_KEYS_FILE))
        .flatten();
    if pepper.is_some() || keys.is_some() {
        secrets::create_private(
            &secrets_to,
            &secrets::env_lines(pepper.as_deref(), keys.as_deref()),
        )?;
        let what = match (&pepper, &keys) {
            (Some(_), Some(_)) => "the pepper and the signing keys",
            (Some(_), None) => "the pepper",
            _ => "the signing keys",
        };
        println!(
            "secrets: wrote {} ({what} of {}); keep it as safe as the backup, \
             which cannot log any key in without the pepper",
            secrets_to.display(),
            data.data_dir.display()
        );
    }
    if from_env("KEYGATE_PEPPER") {
        println!(
            "secrets: the pepper comes from KEYGATE_PEPPER: keep that value with this backup, \
             which cannot log any key in without it"
        );
    } else if pepper.is_none() {
        println!(
            "secrets: no pepper in {} and no KEYGATE_PEPPER: keep the pepper the server runs \
             with beside this backup",
            data.data_dir.display()
        );
    }
    Ok(())
}

pub async fn restore(data: &DataArgs, from: &Path) -> anyhow::Result<()> {
    if data.is_postgres() {
        return refuse(
            "the database is PostgreSQL: restore a pg_dump backup with pg_restore \
             (pg_restore --dbname=\"$KEYGATE_DATABASE_URL\" keygate.dump)",
        );
    }
    let Some(db) = data.sqlite_file() else {
        return refuse("--database-url names no SQLite file to restore into");
    };
    match fs::read_dir(&data.data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return refuse(format!(
                    "the data dir {} is not empty: restore into an empty or new one, so that \
                     nothing of another database mixes with the backup",
                    data.data_dir.display()
                ));
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e).context(format!("reading {}", data.data_dir.display())),
    }
    if fs::symlink_metadata(&db).is_ok() {
        return refuse(format!("{} already exists", db.display()));
    }
    if !from.is_file() {
        return refuse(format!("no backup file at {}", from.display()));
    }
    let info = match SqliteStore::check_backup(from).await {
        Ok(info) => info,
        Err(e) => {
            return refuse(format!(
                "{} is not a Keygate database to restore: {e}",
                from.display()
            ));
        }
    };
    // The secrets are checked before anything is written.
    let secrets_from = secrets_path(from);
    let saved = match fs::read_to_string(&secrets_from) {
        Ok(text) => {
            let (pepper, keys) = secrets::parse_env_lines(&text);
            if let Some(p) = &pepper {
                secrets::load_pepper(&data.data_dir, Some(p))
                    .with_context(|| format!("in {}", secrets_from.display()))?;
            }
            if let Some(k) = &keys {
                secrets::parse_signing_keys(k)
                    .with_context(|| format!("in {}", secrets_from.display()))?;
            }
            Some((pepper, keys))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e).context(format!("reading {}", secrets_from.display())),
    };

    crate::state::data_dir::prepare(&data.data_dir, "")?;
    copy_private(from, &db)?;
    println!(
        "restore: {} into {} ({} organizations, {} keys); `keygate serve` applies any newer \
         migrations at start",
        from.display(),
        db.display(),
        info.orgs,
        info.keys
    );
    match saved {
        Some((pepper, keys)) => {
            if let Some(p) = pepper {
                secrets::create_private(&data.data_dir.join(PEPPER_FILE), &format!("{p}\n"))?;
            }
            if let Some(k) = keys {
                secrets::create_private(&data.data_dir.join(SIGNING_KEYS_FILE), &format!("{k}\n"))?;
            }
            println!(
                "secrets: restored from {} into {}",
                secrets_from.display(),
                data.data_dir.display()
            );
        }
        None => println!(
            "secrets: no {} beside the backup: start the server with the pepper and signing \
             keys it ran with (KEYGATE_PEPPER and KEYGATE_SIGNING_KEYS, or their files in {})",
            secrets_from.display(),
            data.data_dir.display()
        ),
    }
    Ok(())
}

/// Copies `from` to `to` (0600) through a temporary file renamed into place,
/// so that `to` is never a half-written database.
fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut tmp = OsString::from(to.as_os_str());
    tmp.push(".restoring");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    secrets::create_private(&tmp, "")?;
    let copied = (|| -> std::io::Result<()> {
        let mut src = fs::File::open(from)?;
        let mut dst = fs::OpenOptions::new().write(true).open(&tmp)?;
        std::io::copy(&mut src, &mut dst)?;
        dst.sync_all()?;
        fs::rename(&tmp, to)
    })();
    if let Err(e) = copied {
        let _ = fs::remove_file(&tmp);
        return Err(e).context(format!("copying {} to {}", from.display(), to.display()));
    }
    Ok(())
}
