//! Upgrades: every database under `tests/fixtures/upgrade/` was written by a
//! released or merged Keygate (its `.json` says which, and holds its pepper,
//! signing keys and the secrets of its keys). Each must open with this build,
//! all migrations since applied, and every key in it must work as before.
//! Fixtures are never edited or removed: add one when a schema changes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;
use crate::keys::verify;
use crate::operate::keygate;

#[tokio::test]
async fn every_older_database_opens_with_this_build_and_its_keys_still_work() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade");
    let mut seen = 0;
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let db = entry.unwrap().path();
        if db.extension().and_then(|e| e.to_str()) != Some("db") {
            continue;
        }
        seen += 1;
        let about: Value =
            serde_json::from_str(&std::fs::read_to_string(db.with_extension("json")).unwrap())
                .unwrap();
        upgrade(&db, &about).await;
    }
    assert!(seen > 0, "no fixture in {}", fixtures.display());
}

async fn upgrade(fixture: &Path, about: &Value) {
    let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
    let dir = temp_dir();
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let db = data.join("keygate.db");
    std::fs::copy(fixture, &db).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();

    // `keygate migrate` brings it up to date, then `serve --no-migrate` takes it.
    let out = keygate(&["migrate", "--data-dir", data.to_str().unwrap()], &[]);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = [
        ("KEYGATE_PEPPER", about["pepper"].as_str().unwrap()),
        (
            "KEYGATE_SIGNING_KEYS",
            about["signing_keys"].as_str().unwrap(),
        ),
    ];
    let app = spawn_process(&dir, None, &["--no-migrate", "--key-env", "test"], &env);

    let admin = &about["admin_key"];
    let admin_token = app.token(admin, None).await;
    assert_eq!(
        verify(&app, &admin_token, "GET", "/api/v1/accounts").await,
        200,
        "{name}: the admin key's token"
    );
    let scoped = &about["scoped_key"];
    let token = app.token(scoped, None).await;
    assert_eq!(
        verify(&app, &token, "GET", "/api/v1/balances/current").await,
        200,
        "{name}: the scoped key's token"
    );
    assert_eq!(
        verify(&app, &token, "POST", "/api/v1/accounts").await,
        403,
        "{name}: the scoped key's scope"
    );
    let owner = app
        .sign_in(
            about["owner_email"].as_str().unwrap(),
            about["owner_password"].as_str().unwrap(),
        )
        .await;
    let keys = app
        .req(
            Method::GET,
            &format!(
                "/dev/v1/orgs/{}/api-keys",
                about["org_id"].as_str().unwrap()
            ),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(keys.status, 200, "{name}: {}", keys.body);
    assert!(
        keys.body.to_string().contains(cid(scoped)),
        "{name}: {}",
        keys.body
    );
    // The events written before the hash chain were chained by the upgrade,
    // oldest first, and the chain goes on after them.
    let org_id = about["org_id"].as_str().unwrap();
    let audit = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{org_id}/audit-events?after_seq=0&limit=200"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(audit.status, 200, "{name}: {}", audit.body);
    let events = audit.body["events"].as_array().unwrap();
    assert!(!events.is_empty(), "{name}: no audit events");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], serde_json::json!(i + 1), "{name}: {}", audit.body);
        assert_eq!(
            e["hash"].as_str().unwrap(),
            keygate_core::audit_chain::event_hash(e),
            "{name}"
        );
    }
    let out = keygate(
        &["audit", "verify", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert!(
        out.status.success(),
        "{name}: audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}
