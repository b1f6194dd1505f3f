//! The data dir and the SQLite database in it hold password hashes, the audit
//! log, the pepper and the signing keys: owner-only. A new data dir is created
//! 0700 and a new database file 0600 (SQLite gives its `-wal` and `-shm`
//! companions the database file's mode). Existing ones are not changed behind
//! the operator's back; start-up warns when they are open to other users.

use std::fs::{DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Creates the data dir (0700) and, for a SQLite URL, an empty database file
/// (0600) before SQLite opens it. Returns warnings for existing paths that
/// group or others may access.
pub fn prepare(data_dir: &Path, database_url: &str) -> anyhow::Result<Vec<String>> {
    let mut warnings = Vec::new();
    if data_dir.exists() {
        warnings.extend(open_to_others(data_dir, "data dir", "700"));
    } else {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
    }
    if let Some(db) = sqlite_file(database_url) {
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&db);
        match created {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                for suffix in ["", "-wal", "-shm"] {
                    let path = PathBuf::from(format!("{}{suffix}", db.display()));
                    warnings.extend(open_to_others(&path, "database file", "600"));
                }
            }
            // A missing parent directory and the like: SQLite reports it.
            Err(_) => {}
        }
    }
    Ok(warnings)
}

/// The file a `sqlite:` URL names, unless it is an in-memory database.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

fn open_to_others(path: &Path, what: &str, fix: &str) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "the {what} {} has mode {mode:o}: other users of this machine can read it; run chmod {fix} on it",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/kg/keygate.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/kg/keygate.db"))
        );
        assert_eq!(
            sqlite_file("sqlite://data/keygate.db"),
            Some(PathBuf::from("data/keygate.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://localhost/kg"), None);
    }
}
