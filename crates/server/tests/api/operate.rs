//! Running Keygate in production: `--version`, `secrets generate`, `backup` and
//! `restore`, `migrate` and `serve --no-migrate`, `check`. Each runs the real
//! binary as an operator would.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::keys::verify;

/// `keygate <args>` with none of the caller's `KEYGATE_*` variables, plus `env`.
pub fn keygate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keygate"));
    cmd.args(args).stdin(Stdio::null()).env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYGATE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run keygate")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The SQLite URL of a test app's database, or its PostgreSQL one.
fn database_url(app: &TestApp) -> String {
    app.database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/keygate.db", app.data_dir.display()))
}

fn scoped_body(name: &str, account: &str) -> Value {
    json!({"name": name, "account_permissions": {"accounts": [account],
           "resources": perms(&[("balances", "read")])}, "password": PASSWORD})
}

#[tokio::test]
async fn version_names_the_commit_it_was_built_from() {
    let out = keygate(&["--version"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let commit = head.as_deref().unwrap_or("unknown");
    assert_eq!(
        line,
        format!("keygate {} (commit {commit})", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn generated_secrets_run_a_server_and_a_second_one_shares_its_keys_and_tokens() {
    let parse = |out: &Output| -> Vec<(String, String)> {
        assert!(out.status.success(), "{}", text(out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{l}"));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    };
    let first = parse(&keygate(&["secrets", "generate"], &[]));
    let second = parse(&keygate(&["secrets", "generate"], &[]));
    let names: Vec<&str> = first.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["KEYGATE_PEPPER", "KEYGATE_SIGNING_KEYS"]);
    assert!(first.iter().zip(&second).all(|(a, b)| a.1 != b.1));
    let env: Vec<(&str, &str)> = first
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    let a = spawn_app_with(&[], &env).await;
    for (_, v) in &first {
        a.remember(v);
    }
    let org = a.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = a.admin_key(&org, &org.org_id).await;
    let token = a.token(&key, None).await;
    // The secrets came from the variables: none was written to the data dir.
    for f in ["pepper", "signing-keys"] {
        assert!(!a.data_dir.join(f).exists(), "{f} written");
    }
    a.kill();

    // Another instance: its own (empty) data dir, the same database and variables.
    let url = database_url(&a);
    let b = spawn_process(&temp_dir(), None, &["--database-url", &url], &env);
    assert_eq!(b.login(cid(&key), secret(&key), None).await.status, 201);
    assert_eq!(verify(&b, &token, "GET", "/api/v1/accounts").await, 200);
    let _ = std::fs::remove_dir_all(&b.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_keys_are_created_restores_every_key_that_existed() {
    let app = spawn_app().await;
    let dir = temp_dir();
    let file = dir.join("keygate.backup");
    let file_arg = file.to_str().unwrap();
    let data_arg = app.data_dir.to_str().unwrap().to_owned();
    let url = database_url(&app);
    if app.database_url.is_some() {
        let out = keygate(
            &[
                "backup",
                "--to",
                file_arg,
                "--data-dir",
                &data_arg,
                "--database-url",
                &url,
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("pg_dump"), "{}", text(&out));
        assert!(!file.exists());
        return;
    }
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let account = org.accounts[0].clone();
    let mut keys = Vec::new();
    for i in 0..10 {
        keys.push(
            app.scoped_key(&org, scoped_body(&format!("before-{i}"), &account))
                .await,
        );
    }

    // A client creating keys and logging in with them the whole time.
    let made: Arc<Mutex<Vec<(std::time::Instant, Value)>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (http, base, session) = (app.http.clone(), app.base.clone(), org.owner.token.clone());
        let url = format!("{base}/dev/v1/orgs/{}/scoped-keys", org.org_id);
        let (made, failures, stop, account) = (
            made.clone(),
            failures.clone(),
            stop.clone(),
            account.clone(),
        );
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let r = http
                    .post(&url)
                    .bearer_auth(&session)
                    .json(&scoped_body(&format!("during-{i}"), &account))
                    .send()
                    .await
                    .unwrap();
                if r.status() != 201 {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("create {}", r.status()));
                    continue;
                }
                let key: Value = r.json().await.unwrap();
                let login = http
                    .post(format!("{base}/api/v1/authentication/login"))
                    .header("x-client-id", cid(&key))
                    .header("x-api-key", secret(&key))
                    .send()
                    .await
                    .unwrap();
                if login.status() != 201 {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("login {}", login.status()));
                }
                made.lock().unwrap().push((std::time::Instant::now(), key));
            }
        })
    };
    let made_at_least = async |n: usize| {
        let what = format!("{n} keys made");
        eventually(&what, Duration::from_secs(60), async || {
            match made.lock().unwrap().len() {
                m if m >= n => Ok(()),
                m => Err(m),
            }
        })
        .await
    };
    made_at_least(3).await;
    let started = std::time::Instant::now();
    let out = tokio::task::block_in_place(|| {
        keygate(&["backup", "--to", file_arg, "--data-dir", &data_arg], &[])
    });
    let count_at_end = made.lock().unwrap().len();
    made_at_least(count_at_end + 3).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:?}",
        failures.lock().unwrap()
    );
    for (_, k) in made.lock().unwrap().iter() {
        app.remember(secret(k));
    }
    keys.extend(
        made.lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at < started)
            .map(|(_, k)| k.clone()),
    );
    // The copy and the secrets beside it are as private as the data dir.
    let secrets_file = dir.join("keygate.backup.secrets");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&secrets_file), 0o600);
    let saved = std::fs::read_to_string(&secrets_file).unwrap();
    let pepper = std::fs::read_to_string(app.data_dir.join("pepper")).unwrap();
    assert!(saved.contains(&format!("KEYGATE_PEPPER={}", pepper.trim())));

    // A backup never overwrites.
    let before = std::fs::read(&file).unwrap();
    let again = keygate(&["backup", "--to", file_arg, "--data-dir", &data_arg], &[]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert_eq!(std::fs::read(&file).unwrap(), before);

    // Restore refuses a data dir with anything in it, and a file that is not
    // a Keygate database, and writes nothing then.
    let busy = temp_dir().join("data");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let out = keygate(
        &[
            "restore",
            "--from",
            file_arg,
            "--data-dir",
            busy.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    assert!(!busy.join("keygate.db").exists());
    let fresh = temp_dir();
    let fresh_data = fresh.join("data");
    let out = keygate(
        &[
            "restore",
            "--from",
            secrets_file.to_str().unwrap(),
            "--data-dir",
            fresh_data.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not a Keygate database"),
        "{}",
        text(&out)
    );
    assert!(!fresh_data.exists());

    let out = keygate(
        &[
            "restore",
            "--from",
            file_arg,
            "--data-dir",
            fresh_data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    for f in ["keygate.db", "pepper", "signing-keys"] {
        assert_eq!(mode(&fresh_data.join(f)), 0o600, "{f}");
    }
    drop(app);

    let restored = spawn_process(&fresh, None, &[], &[]);
    for k in &keys {
        let r = restored.login(cid(k), secret(k), None).await;
        assert_eq!(r.status, 201, "{} of the backup: {}", k["name"], r.body);
    }
    let s = restored.sign_in("owner@acme.test", PASSWORD).await;
    let me = restored
        .req(Method::GET, "/dev/v1/me", Some(&s), None)
        .await;
    assert_eq!(me.body["memberships"][0]["org_name"], "Acme");
    drop(restored);
    let _ = std::fs::remove_dir_all(&fresh);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(busy.parent().unwrap());
}

#[tokio::test]
async fn check_names_each_dependency_and_fails_on_one_that_does_not_answer() {
    let app = spawn_app().await;
    app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let url = database_url(&app);
    let data = app.data_dir.to_str().unwrap().to_owned();
    let flags = ["--data-dir", data.as_str(), "--database-url", url.as_str()];
    let check = |extra: &[&str], env: &[(&str, &str)]| {
        let out = keygate(&[&["check"], &flags[..], extra].concat(), env);
        let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        (out.status.code(), lines, text(&out))
    };
    let (code, lines, all) = check(&[], &[]);
    assert_eq!(code, Some(0), "{all}");
    let names: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        names,
        ["config", "secrets", "database", "redis", "smtp"],
        "{all}"
    );
    assert!(lines[..3].iter().all(|l| l.contains(": ok")), "{all}");
    assert!(lines[3].starts_with("redis: not configured"), "{all}");

    let (code, lines, all) = check(&["--redis-url", "redis://127.0.0.1:6379"], &[]);
    assert_eq!(
        (code, lines[3].as_str()),
        (Some(0), "redis: ok (127.0.0.1:6379 answers)"),
        "{all}"
    );

    let (code, lines, all) = check(&["--redis-url", "redis://:hunter2-redis@127.0.0.1:1"], &[]);
    assert_eq!(code, Some(1), "{all}");
    assert!(lines[3].starts_with("redis: FAILED: 127.0.0.1:1"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");

    let (code, lines, all) = check(&["--smtp-url", "smtp://kg:hunter2-smtp@127.0.0.1:1"], &[]);
    assert_eq!(code, Some(1), "{all}");
    assert!(lines[4].starts_with("smtp: FAILED: 127.0.0.1:1"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");

    let (code, lines, all) = check(&[], &[("KEYGATE_PEPPER", "too-short")]);
    assert_eq!(code, Some(1), "{all}");
    assert!(lines[1].starts_with("secrets: FAILED"), "{all}");

    let (code, lines, all) = check(&["--token-ttl", "0"], &[]);
    assert_eq!(code, Some(1), "{all}");
    assert!(lines[0].starts_with("config: FAILED: token_ttl"), "{all}");
}

mod migrate;
