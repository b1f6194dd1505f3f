//! Without `--smtp-url`, mail is written as .eml files under
//! `<data dir>/mail/`; they hold live reset and invitation links, so the
//! folder is 0700 and each file 0600, like the database, and a folder left
//! open by an older version is tightened when Keygate starts.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn mail_files_are_owner_only_in_an_owner_only_folder() {
    let mut app = spawn_app().await;
    app.create_org("Acme", "owner@acme.test", &[]).await;
    let r = app
        .req(
            Method::POST,
            "/dev/v1/password-resets",
            None,
            Some(json!({"email": "owner@acme.test"})),
        )
        .await;
    assert_eq!(r.status, 202);
    app.mailed_link("owner@acme.test", "/app/").await;
    let dir = app.data_dir.join("mail");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    assert_eq!(mode(&dir), 0o700, "the mail folder");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }

    // An older version's open folder and files are tightened at start.
    app.kill();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in &files {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    app.restart_with(None, None);
    assert_eq!(mode(&dir), 0o700, "the mail folder after a restart");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{} after a restart", f.display());
    }
}
