//! The `keygate` command: org bootstrap, demo mode, config file, signing keys.

use std::os::unix::fs::PermissionsExt;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;
use crate::keys::verify;

#[tokio::test]
async fn org_create_refuses_a_short_password_and_writes_nothing() {
    let app = spawn_app().await;
    let out = app.cli(
        &[
            "org",
            "create",
            "--name",
            "Acme",
            "--owner-email",
            "o@acme.test",
            "--owner-password-stdin",
        ],
        "short\n",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("owner_password") && err.contains("at least 15"),
        "{err}"
    );
    let r = app
        .req(
            Method::POST,
            "/dev/v1/sessions",
            None,
            Some(json!({"email": "o@acme.test", "password": "short"})),
        )
        .await;
    assert_eq!(r.status, 401);
    let out = app.cli(
        &[
            "org",
            "create",
            "--name",
            "Acme",
            "--owner-email",
            "not-an-email",
            "--owner-password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("owner_email"));
}

#[tokio::test]
async fn secrets_live_in_private_files_of_the_data_dir() {
    let app = spawn_app().await;
    for f in ["pepper", "signing-keys"] {
        let mode = std::fs::metadata(app.data_dir.join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
}

#[tokio::test]
async fn demo_mode_prints_the_owner_password_once_and_it_signs_in() {
    let dir = std::env::temp_dir().join(format!("keygate-demo-{}", std::process::id()));
    let data = dir.join("data");
    let data_arg = data.to_str().unwrap();
    let first = spawn_app_with(&["--demo"], &[("KEYGATE_DATA_DIR", data_arg)]).await;
    let _ = &first;
    // spawn_app_with passes its own --data-dir; read what it printed.
    assert!(
        first
            .wait_for_log("demo: sign in as demo@keygate.local with password ", 10)
            .await
    );
    let log = first.log();
    let line = log.lines().find(|l| l.contains("with password ")).unwrap();
    let password = line.rsplit(' ').next().unwrap().to_owned();
    let s = first.sign_in("demo@keygate.local", &password).await;
    let me = first.req(Method::GET, "/dev/v1/me", Some(&s), None).await;
    assert_eq!(me.body["memberships"][0]["org_name"], "Demo Org");
    let org_id = me.body["memberships"][0]["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The demo upstream answers protected routes.
    let key = first
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{org_id}/admin-keys"),
            Some(&s),
            Some(json!({"owner_id": org_id, "password": password})),
        )
        .await;
    let token = first.token(&key.body, None).await;
    let r = first
        .send(
            first
                .http
                .get(format!("{}/api/v1/accounts", first.base))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["org_id"], org_id.as_str());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_config_file_replaces_the_catalog() {
    let dir = std::env::temp_dir().join(format!("keygate-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("keygate.toml");
    std::fs::write(
        &cfg,
        r#"
token_ttl = 600
[[resource]]
name = "widgets"
level = "account"
description = "Widgets"
routes = ["/api/v2/widgets/**"]
"#,
    )
    .unwrap();
    let app = spawn_app_with(&["--config", cfg.to_str().unwrap()], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let r = app
        .req(Method::GET, "/dev/v1/resources", Some(&org.owner), None)
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let bad = app
        .req(Method::POST, &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id), Some(&org.owner),
             Some(json!({"name": "x", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}, "password": PASSWORD})))
        .await;
    assert_eq!((bad.status.as_u16(), bad.code()), (400, "validation_error"));
    let sk = app.scoped_key(&org, json!({"name": "w", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("widgets", "read")])}})).await;
    let t = app.login(cid(&sk), secret(&sk), None).await;
    let claims = crate::login::claims(&t.body["token"]);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    let token = t.body["token"].as_str().unwrap();
    assert_eq!(verify(&app, token, "GET", "/api/v2/widgets/1").await, 200);
    assert_eq!(
        verify(&app, token, "GET", "/api/v1/balances/current").await,
        403
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn rotating_the_signing_key_keeps_old_tokens_valid_and_lists_both_keys() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app.admin_key(&org, &org.accounts[0]).await;
    let old = app.token(&key, None).await;
    let out = app.cli(&["keys", "rotate-signing-key"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kid: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(app.wait_for_log("signing keys reloaded", 10).await);
    let jwks = app
        .req(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 2);
    let new = app.token(&key, None).await;
    use base64::Engine;
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(new.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], kid["kid"]);
    assert_eq!(
        verify(&app, &old, "GET", "/api/v1/balances/current").await,
        200
    );
    assert_eq!(
        verify(&app, &new, "GET", "/api/v1/balances/current").await,
        200
    );
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_data_dir_and_the_database_files_are_private_to_their_owner() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    app.admin_key(&org, &org.org_id).await;
    assert_eq!(mode(&app.data_dir), 0o700, "data dir");
    assert_eq!(mode(&app.data_dir.join("pepper")), 0o600);
    if app.database_url.is_none() {
        for file in ["keygate.db", "keygate.db-wal", "keygate.db-shm"] {
            assert_eq!(mode(&app.data_dir.join(file)), 0o600, "{file}");
        }
    }
    assert!(
        !app.log()
            .contains("other users of this machine can read it")
    );
}

#[tokio::test]
async fn an_existing_data_dir_open_to_others_is_reported_at_start_and_left_alone() {
    let dir = temp_dir();
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = spawn_process(&dir, None, &[], &[]);
    assert!(
        app.wait_for_log("has mode 755: other users of this machine can read it", 5)
            .await,
        "{}",
        app.log()
    );
    assert!(app.log().contains(&data.display().to_string()));
    assert_eq!(mode(&data), 0o755, "not changed behind the operator's back");
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn help_shows_the_defaults_and_explains_every_flag() {
    let app = spawn_app().await;
    let out = app.cli(&["serve", "--help"], "");
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, default) in [
        ("--listen", "[default: 127.0.0.1:8080]"),
        ("--token-ttl", "[default: 1800]"),
        ("--upstream-timeout", "[default: 30]"),
        ("--retry-base-ms", "[default: 4000]"),
        ("--cache-reload-interval", "[default: 60]"),
        ("--cache-max-stale", "[default: 300]"),
        ("--lifecycle-interval", "[default: 10]"),
        ("--body-timeout", "[default: 30]"),
        ("--body-min-rate", "[default: 1024]"),
    ] {
        let at = help
            .find(&format!("{flag} <"))
            .unwrap_or_else(|| panic!("{flag}:\n{help}"));
        let text = help[at..].split("\n      --").next().unwrap();
        assert!(text.contains(default), "{flag} says no {default}:\n{text}");
    }
    let out = app.cli(&["org", "create", "--help"], "");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--name <NAME>", "--owner-email <OWNER_EMAIL>"] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag}:\n{help}"));
        let text = line.split(flag).nth(1).unwrap().trim();
        assert!(text.len() > 10, "{flag} has no help text: {line:?}");
    }
}

/// `--listen localhost:<port>` binds the host name's first address.
#[tokio::test]
async fn listen_accepts_a_host_name() {
    let dir = temp_dir();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--listen", "localhost:0", "--data-dir"])
        .arg(dir.join("data"))
        .env_remove("KEYGATE_DATABASE_URL")
        .env_remove("KEYGATE_LISTEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(addr) = line.strip_prefix("keygate listening on ") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let base = rx.recv_timeout(std::time::Duration::from_secs(60));
    let health = match &base {
        Ok(b) => reqwest::get(format!("{b}/healthz"))
            .await
            .map(|r| r.status()),
        Err(_) => Ok(reqwest::StatusCode::IM_A_TEAPOT),
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let base = base.expect("keygate started with --listen localhost:0");
    assert!(
        base.starts_with("http://127.0.0.1:") || base.starts_with("http://[::1]:"),
        "{base}"
    );
    assert_eq!(health.unwrap(), 200);
}
