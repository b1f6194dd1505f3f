//! Mail written as .eml files (no `--smtp-url`) under `<data dir>/mail/`.
//! Those files hold live password-reset and invitation links, so they get the
//! database's rules: the folder 0700, each file 0600, readable by Keygate's
//! user alone. A folder left by an older version is tightened at start.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// At start: an existing mail folder and its files become owner-only.
pub fn tighten(dir: &Path) -> anyhow::Result<()> {
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    if meta.permissions().mode() & 0o777 != DIR_MODE {
        set_mode(dir, DIR_MODE)?;
        tracing::warn!(dir = %dir.display(), "the mail folder was open to other users; it is now 0700");
    }
    for entry in std::fs::read_dir(dir)?.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            set_mode(&path, FILE_MODE)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| anyhow::anyhow!("could not make {} owner-only: {e}", path.display()))
}

/// Writes one mail as `<dir>/<stem>.eml`, 0600 in a 0700 folder (a retried
/// delivery writes the same file again).
pub async fn write(dir: PathBuf, stem: &str, bytes: Vec<u8>) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{stem}.eml"));
    tokio::task::spawn_blocking(move || {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&dir)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(&path)?;
        // `mode` applies only when the file is created.
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
        file.write_all(&bytes)?;
        Ok(path)
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn an_old_open_mail_folder_is_tightened_and_new_mail_is_owner_only() {
        let dir = std::env::temp_dir().join(format!("kg-mail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o755).unwrap();
        let old = dir.join("old.eml");
        std::fs::write(&old, "a link").unwrap();
        set_mode(&old, 0o644).unwrap();
        tighten(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&old)), (0o700, 0o600));
        let new = write(dir.clone(), "new", b"another link".to_vec())
            .await
            .unwrap();
        assert_eq!(mode(&new), 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
