//! The Developer app in a real browser: Debian's headless Chromium driven over
//! WebDriver (chromedriver), against the real `keygate` binary, following the
//! reference page's steps. Without Chromium the browser tests print SKIPPED and
//! pass, except under CI=true where they fail. A few tests below use plain HTTP
//! only (the app without JavaScript, headers, form tokens) and always run.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Org, PASSWORD, TestApp, cid, perms, spawn_app, spawn_app_with};

mod admin_keys;
mod allowlist;
mod docs;
mod leaks;
mod lifecycle;
mod rate_limits;
mod two_factor;
mod usage;

/// One browser at a time: the machine has two cores.
static BROWSER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("ui-screenshots")
}

struct Browser {
    c: Client,
    /// chromedriver's own URL (for its log endpoint).
    driver_url: String,
    driver: Child,
    profile: PathBuf,
    base: String,
    _one_at_a_time: tokio::sync::MutexGuard<'static, ()>,
}

/// A fresh headless Chromium, or `None` (test skipped) when it is not installed.
async fn browser(app: &TestApp, test: &str) -> Option<Browser> {
    let chromium = on_path("chromium").or_else(|| on_path("chromium-browser"));
    let driver_exe = on_path("chromedriver");
    let (Some(chromium), Some(driver_exe)) = (chromium, driver_exe) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "chromium and chromedriver are required under CI=true (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!(
            "SKIPPED: {test}: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        );
        return None;
    };
    let guard = BROWSER_LOCK.lock().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let driver = Command::new(driver_exe)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let end = Instant::now() + Duration::from_secs(20);
    while http.get(format!("{url}/status")).send().await.is_err() {
        assert!(Instant::now() < end, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = app.dir.join(format!("chromium-{test}"));
    let mut caps = serde_json::Map::new();
    // The console (CSP violations among it), read by `Browser::console`.
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--disable-crash-reporter", "--disable-breakpad", "--window-size=1360,900", "--hide-scrollbars",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let c = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("start a Chromium session");
    Some(Browser {
        c,
        driver_url: url,
        driver,
        profile,
        base: app.base.clone(),
        _one_at_a_time: guard,
    })
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The Chromium that chromedriver started (normally gone already, after
        // `close`), then chromedriver itself: each by its own pid.
        for pid in descendants(self.driver.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Every process below `pid`, from /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let tasks = std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten();
        for t in tasks {
            let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

impl Browser {
    /// The console messages since the last call (chromedriver's log).
    async fn console(&self) -> Vec<String> {
        let id = self.c.session_id().await.unwrap().unwrap();
        let r: Value = reqwest::Client::new()
            .post(format!("{}/session/{id}/se/log", self.driver_url))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| format!("{} {}", e["level"], e["message"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn go(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    async fn path(&self) -> String {
        self.c.current_url().await.unwrap().path().to_owned()
    }

    /// The page's visible text (retried while a navigation replaces the page).
    async fn text(&self) -> String {
        for _ in 0..50 {
            if let Ok(body) = self.c.find(Locator::Css("body")).await
                && let Ok(t) = body.text().await
            {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page has no readable body");
    }

    async fn css(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    async fn click(&self, css: &str) {
        self.css(css).await.click().await.unwrap();
    }

    /// The first `tag` whose visible text contains `text` (links, buttons).
    async fn click_text(&self, tag: &str, text: &str) {
        let xp = format!("//{tag}[contains(normalize-space(.), {text:?})]");
        let el = self
            .c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::XPath(&xp))
            .await
            .unwrap_or_else(|e| panic!("{tag} {text:?}: {e}"));
        el.click().await.unwrap();
    }

    async fn fill(&self, css: &str, value: &str) {
        let el = self.css(css).await;
        el.clear().await.unwrap();
        el.send_keys(value).await.unwrap();
    }

    async fn value(&self, css: &str) -> String {
        self.css(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    async fn wait_for_text(&self, needle: &str) {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let t = self.text().await;
            if t.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < end,
                "page never showed {needle:?}; it shows:\n{t}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A screenshot of the whole page (up to `max_height` pixels), from the top.
    async fn shot_full(&self, name: &str, max_height: u32) {
        let h = self
            .c
            .execute(
                "window.scrollTo(0, 0); return document.documentElement.scrollHeight;",
                vec![],
            )
            .await
            .unwrap();
        let h = (h.as_u64().unwrap_or(900) as u32).min(max_height);
        let (w, old_h) = self.c.get_window_size().await.unwrap();
        let chrome = old_h as u32
            - self
                .c
                .execute("return window.innerHeight;", vec![])
                .await
                .unwrap()
                .as_u64()
                .unwrap_or(0) as u32;
        self.c.set_window_size(w as u32, h + chrome).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.shot(name).await;
        self.c
            .set_window_size(w as u32, old_h as u32)
            .await
            .unwrap();
    }

    async fn shot(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn sign_in(&self, email: &str, password: &str) {
        self.go("/").await;
        assert_eq!(self.path().await, "/app/sign-in");
        self.shot("sign-in").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("form button[type=submit]").await;
        self.wait_for_text("Sign out").await;
    }

    /// Settings > Developer > API keys, as the reference says.
    async fn open_api_keys(&self) {
        self.click_text("nav[@class='topnav']/a", "Settings").await;
        self.wait_for_text("Settings").await;
        self.click_text("a[@class='side-group']", "Developer").await;
        self.click_text("nav[@class='sidebar']//a", "API keys")
            .await;
        self.wait_for_text("Scoped API keys").await;
    }

    /// The … menu of the row that mentions `row_text`, then one of its items.
    async fn menu(&self, row_text: &str, item: &str) {
        let row = format!("tr[contains(normalize-space(.), {row_text:?})]");
        let summary = format!("//{row}//details[contains(@class,'menu')]/summary");
        self.c
            .find(Locator::XPath(&summary))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.click_text(&format!("{row}//ul[@class='menu-list']//a"), item)
            .await;
    }

    /// Types the password into the open dialog and confirms with `button`.
    async fn confirm(&self, password: &str, button: &str) {
        self.fill("#confirm-password", password).await;
        self.click_text("dialog//button", button).await;
    }

    async fn revealed(&self, app: &TestApp) -> (String, String) {
        self.wait_for_text("You will not be able to view this key again")
            .await;
        let client_id = self.value("#client-id").await;
        let key = self.value("#api-key").await;
        assert!(key.starts_with("kg_"), "revealed key: {key}");
        app.remember(&key);
        (client_id, key)
    }

    async fn close(self) {
        let c = self.c.clone();
        let _ = c.close().await;
    }
}

async fn org_with_two_accounts(app: &TestApp) -> Org {
    app.create_org("Acme", "owner@acme.test", &["Acme HK", "Acme UK"])
        .await
}

async fn keys_of(app: &TestApp, org: &Org) -> Value {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/api-keys", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    r.body
}

#[tokio::test]
async fn signing_in_leads_to_settings_developer_api_keys() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "sign_in").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    let text = b.text().await;
    for s in [
        "Admin API keys",
        "Scoped API keys",
        "New scoped API key",
        "Acme HK",
        "Acme UK",
        "Generate",
    ] {
        assert!(text.contains(s), "{s:?} missing:\n{text}");
    }
    assert!(b.path().await.ends_with("/settings/developer/api-keys"));
    b.shot("api-keys-empty").await;
    b.close().await;
}

#[tokio::test]
async fn generating_the_org_admin_key_shows_it_once_with_a_copy_button() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "generate").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.click("a[aria-label='Generate the admin key of Acme']")
        .await;
    b.confirm(PASSWORD, "Generate").await;
    let (client_id, key) = b.revealed(&app).await;
    assert!(b.text().await.contains("Admin API key generated"));
    let copy = b.css("button[data-copy='api-key']").await;
    assert!(
        copy.is_displayed().await.unwrap(),
        "the Copy button is visible"
    );
    copy.click().await.unwrap();
    b.wait_for_text("Copied").await;
    b.shot("reveal-admin-key").await;

    // The key is never shown again: not on reload, not after going back.
    let _ = b.c.refresh().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !b.c.source().await.unwrap().contains(&key),
        "reload showed the key again"
    );
    b.c.back().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !b.c.source().await.unwrap().contains(&key),
        "back showed the key again"
    );
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys",
        org.org_id
    ))
    .await;
    let text = b.text().await;
    assert!(text.contains(&client_id) && !b.c.source().await.unwrap().contains(&key));
    assert!(
        !text.contains("Generate the admin key of Acme"),
        "org row now has the … menu"
    );

    // The revealed key logs in.
    let r = app.login(&client_id, &key, None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    b.close().await;
}

#[tokio::test]
async fn regenerating_an_admin_key_keeps_the_client_id_and_kills_the_old_secret() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let old = app.admin_key(&org, &org.org_id).await;
    let Some(b) = browser(&app, "regenerate").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.menu(cid(&old), "Regenerate").await;
    let focused =
        b.c.active_element()
            .await
            .unwrap()
            .attr("id")
            .await
            .unwrap();
    assert_eq!(
        focused.as_deref(),
        Some("confirm-password"),
        "the dialog takes the focus"
    );
    b.shot("regenerate-dialog").await;
    b.confirm(PASSWORD, "Regenerate").await;
    let (client_id, key) = b.revealed(&app).await;
    assert_eq!(client_id, cid(&old));
    assert_ne!(key, old["api_key"].as_str().unwrap());
    assert_eq!(
        app.login(&client_id, old["api_key"].as_str().unwrap(), None)
            .await
            .status,
        401
    );
    assert_eq!(app.login(&client_id, &key, None).await.status, 201);
    b.close().await;
}

#[tokio::test]
async fn a_scoped_key_with_org_and_account_permissions_for_two_accounts() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    app.admin_key(&org, &org.org_id).await;
    app.admin_key(&org, &org.accounts[0]).await;
    app.scoped_key(
        &org,
        json!({"name": "Checkout plugin", "org_permissions": [],
               "account_permissions": {"accounts": "all", "resources": perms(&[("payment_intents", "write"), ("payment_methods", "read")])}}),
    )
    .await;
    let Some(b) = browser(&app, "create_scoped").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.click_text("a", "New scoped API key").await;
    b.wait_for_text("Organization-level permissions").await;
    b.fill("#name", "Billing and payments sync").await;
    b.click("#org-billing_invoices-write").await;
    b.click("#org-accounts-read").await;
    assert!(
        b.css("#org-billing_invoices-read")
            .await
            .is_selected()
            .await
            .unwrap(),
        "Write checks Read"
    );
    b.click("#accounts-select > summary").await;
    for a in &org.accounts {
        b.click(&format!("input[name=account][value='{a}']")).await;
    }
    b.wait_for_text("Acme HK, Acme UK").await;
    b.click("#account-payment_intents-write").await;
    b.click("#account-balances-read").await;
    b.fill("#password", PASSWORD).await;
    b.shot_full("new-scoped-key", 1250).await;
    b.click_text("button", "Create").await;
    let (client_id, key) = b.revealed(&app).await;
    b.click("details.howto > summary").await;
    b.shot_full("reveal-scoped-key", 900).await;

    let got = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/scoped-keys/{client_id}", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(got.body["name"], "Billing and payments sync");
    assert_eq!(
        got.body["org_permissions"],
        perms(&[("accounts", "read"), ("billing_invoices", "write")])
    );
    let mut accounts = org.accounts.clone();
    accounts.sort();
    assert_eq!(got.body["account_permissions"]["accounts"], json!(accounts));
    assert_eq!(
        got.body["account_permissions"]["resources"],
        perms(&[("balances", "read"), ("payment_intents", "write")])
    );
    let r = app.login(&client_id, &key, Some(&org.accounts[1])).await;
    assert_eq!(r.status, 201, "{}", r.body);

    b.click_text("a", "Done").await;
    b.wait_for_text("Billing and payments sync").await;
    let text = b.text().await;
    assert!(
        text.contains("Billing invoices (Write)")
            && text.contains("Acme HK, Acme UK: Balances (Read), Payment intents (Write)"),
        "{text}"
    );
    b.shot_full("api-keys", 1400).await;
    b.close().await;
}

async fn api_scoped_key(app: &TestApp, org: &Org, name: &str) -> Value {
    app.scoped_key(
        org,
        json!({"name": name, "org_permissions": perms(&[("billing_invoices", "read")]),
               "account_permissions": {"accounts": [org.accounts[0]], "resources": perms(&[("balances", "read")])}}),
    )
    .await
}

#[tokio::test]
async fn duplicating_a_scoped_key_gives_a_new_client_id_with_the_same_scope() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let original = api_scoped_key(&app, &org, "Reporting").await;
    let Some(b) = browser(&app, "duplicate").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.menu("Reporting", "Duplicate").await;
    b.confirm(PASSWORD, "Duplicate").await;
    let (client_id, key) = b.revealed(&app).await;
    assert_ne!(client_id, cid(&original));
    assert!(b.text().await.contains("Reporting (copy)"));
    let list = keys_of(&app, &org).await;
    let copy = list["scoped_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["client_id"] == client_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(copy["org_permissions"], original["org_permissions"]);
    assert_eq!(copy["account_permissions"], original["account_permissions"]);
    assert_eq!(app.login(&client_id, &key, None).await.status, 201);
    b.close().await;
}

#[tokio::test]
async fn editing_a_scoped_key_changes_its_scope_but_not_its_secret() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let key = api_scoped_key(&app, &org, "Reporting").await;
    let Some(b) = browser(&app, "edit").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.menu("Reporting", "Edit").await;
    b.wait_for_text("Edit API key").await;
    assert!(
        b.css("#org-billing_invoices-read")
            .await
            .is_selected()
            .await
            .unwrap(),
        "the form shows the current scope"
    );
    b.fill("#name", "Reporting v2").await;
    b.click("#org-billing_invoices-read").await; // unchecks Read: no org-level access
    b.click("#account-payment_intents-write").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Save changes").await;
    b.wait_for_text("API key updated").await;
    assert!(b.text().await.contains("Reporting v2"));
    let got = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/scoped-keys/{}", org.org_id, cid(&key)),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(got.body["name"], "Reporting v2");
    assert_eq!(got.body["org_permissions"], json!([]));
    assert_eq!(
        got.body["account_permissions"]["resources"],
        perms(&[("balances", "read"), ("payment_intents", "write")])
    );
    assert_eq!(
        app.login(cid(&key), key["api_key"].as_str().unwrap(), None)
            .await
            .status,
        201,
        "same secret"
    );
    b.close().await;
}

#[tokio::test]
async fn deleting_a_scoped_key_removes_it_and_its_logins() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let key = api_scoped_key(&app, &org, "Old integration").await;
    let Some(b) = browser(&app, "delete").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.menu("Old integration", "Delete").await;
    b.confirm(PASSWORD, "Delete").await;
    b.wait_for_text("API key deleted").await;
    assert!(!b.text().await.contains("Old integration"));
    assert_eq!(
        app.login(cid(&key), key["api_key"].as_str().unwrap(), None)
            .await
            .status,
        401
    );
    b.close().await;
}

#[tokio::test]
async fn a_wrong_password_shows_an_error_and_changes_nothing() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let key = api_scoped_key(&app, &org, "Reporting").await;
    let before = keys_of(&app, &org).await;
    let Some(b) = browser(&app, "wrong_password").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.open_api_keys().await;
    b.menu("Reporting", "Regenerate").await;
    b.confirm("not-my-password-at-all", "Regenerate").await;
    b.wait_for_text("That password is not correct. Nothing was changed.")
        .await;
    b.shot("wrong-password").await;
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys/new",
        org.org_id
    ))
    .await;
    b.fill("#name", "Should not exist").await;
    b.click("#org-billing_invoices-read").await;
    b.fill("#password", "wrong-password-again!!").await;
    b.click_text("button", "Create").await;
    b.wait_for_text("That password is not correct").await;
    assert_eq!(
        b.value("#name").await,
        "Should not exist",
        "the form keeps what was typed"
    );
    assert_eq!(keys_of(&app, &org).await, before);
    assert_eq!(
        app.login(cid(&key), key["api_key"].as_str().unwrap(), None)
            .await
            .status,
        201
    );
    b.close().await;
}

#[tokio::test]
async fn a_viewer_cannot_reach_the_api_keys_page() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let viewer = app.invite_member(&org, "viewer@acme.test", "viewer").await;
    let page = app
        .http
        .get(format!(
            "{}/app/orgs/{}/settings/developer/api-keys",
            app.base, org.org_id
        ))
        .header("cookie", format!("keygate_session={}", viewer.token))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("You need the Owner, Admin or Developer role")
    );

    let Some(b) = browser(&app, "viewer").await else {
        return;
    };
    b.sign_in("viewer@acme.test", PASSWORD).await;
    assert!(
        !b.text().await.contains("API keys"),
        "no API keys link for a viewer"
    );
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys",
        org.org_id
    ))
    .await;
    b.wait_for_text("You need the Owner, Admin or Developer role")
        .await;
    b.shot("viewer-denied").await;
    b.close().await;
}

#[tokio::test]
async fn owners_manage_members_and_accounts_switch_orgs_and_filter_the_audit_log() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let other = app
        .create_org_existing_owner("Beta Labs", "owner@acme.test", &["Beta EU"])
        .await;
    let key = api_scoped_key(&app, &org, "Reporting").await;
    app.admin_key(&org, &org.org_id).await;
    let Some(b) = browser(&app, "members").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;

    // Organization switcher.
    b.go(&format!("/app/orgs/{}/settings", org.org_id)).await;
    b.click(".switcher > summary").await;
    b.click_text("div[@class='switcher-menu']//a", "Beta Labs")
        .await;
    b.wait_for_text("Beta EU").await;
    assert!(b.path().await.contains(&other.org_id));

    // Accounts.
    b.go(&format!("/app/orgs/{}/settings/accounts", org.org_id))
        .await;
    b.fill("#name", "Acme SG").await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Create account").await;
    b.wait_for_text("Account created.").await;
    assert!(b.text().await.contains("Acme SG"));

    // Members: invite (the link goes by mail), then change the role of the
    // person who accepted.
    b.click_text("nav[@class='sidebar']//a", "Members").await;
    b.fill("#email", "dev@acme.test").await;
    b.css("#role")
        .await
        .select_by_value("developer")
        .await
        .unwrap();
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Send invitation").await;
    b.wait_for_text("Invitation sent.").await;
    assert!(b.text().await.contains("Pending invitations"));
    let link = app.mailed_link("dev@acme.test", "/app/invitations/").await;
    let r = app
        .req(
            Method::POST,
            "/dev/v1/invitations/accept",
            None,
            Some(json!({"token": link.rsplit('/').next().unwrap(), "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201);
    b.click_text("nav[@class='sidebar']//a", "Members").await;
    b.wait_for_text("No pending invitations.").await;
    // Row actions ask for the password in the same dialog as key actions.
    b.css("select[id^='role-']")
        .await
        .select_by_value("analyst")
        .await
        .unwrap();
    b.click_text("tr[contains(., 'dev@acme.test')]//button", "Change role")
        .await;
    b.confirm("not-my-password-at-all", "Change role").await;
    b.wait_for_text("That password is not correct. Nothing was changed.")
        .await;
    b.fill("#password", PASSWORD).await;
    b.click_text("button", "Change role").await;
    b.wait_for_text("Role changed.").await;
    assert_eq!(b.value("select[id^='role-']").await, "analyst");
    b.shot("members").await;

    // Audit log, filtered by key.
    b.click_text("nav[@class='sidebar']//a", "Audit log").await;
    b.wait_for_text("member.joined").await;
    b.css("#client_id")
        .await
        .select_by_value(cid(&key))
        .await
        .unwrap();
    b.click_text("button", "Filter").await;
    b.wait_for_text("scoped_key.created").await;
    let text = b.text().await;
    assert!(
        !text.contains("admin_key.generated") && !text.contains("member.joined"),
        "{text}"
    );
    b.shot("audit-log").await;
    b.close().await;
}

// ---- Plain HTTP: the app without JavaScript, headers, cookies, form tokens ----

/// A form client that keeps cookies and follows redirects, the way a browser
/// without JavaScript works.
struct NoJs<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookies: Mutex<Vec<(String, String)>>,
}

type Page = (u16, reqwest::header::HeaderMap, String);

impl<'a> NoJs<'a> {
    fn new(app: &'a TestApp) -> NoJs<'a> {
        NoJs {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Mutex::new(Vec::new()),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&self, r: reqwest::Response) -> Page {
        let st = r.status().as_u16();
        let headers = r.headers().clone();
        for c in headers.get_all("set-cookie") {
            let first = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            if k.contains("session") && !v.is_empty() && !k.contains("presession") {
                self.app.remember(v);
            }
            let mut jar = self.cookies.lock().unwrap();
            jar.retain(|(n, _)| n != k);
            if !v.is_empty() {
                jar.push((k.to_owned(), v.to_owned()));
            }
        }
        if st == 303 {
            let to = headers["location"].to_str().unwrap().to_owned();
            return Box::pin(self.get(&to)).await;
        }
        (st, headers, r.text().await.unwrap())
    }

    async fn get(&self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.app.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        let r = self
            .http
            .post(format!("{}{path}", self.app.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }
}

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

fn revealed_key(html: &str) -> Option<String> {
    let at = html.find("id=\"api-key\"")?;
    let v = html[at..].find("value=\"")? + at + 7;
    Some(html[v..].split('"').next()?.to_owned())
}

#[tokio::test]
async fn the_app_works_without_javascript_and_a_replayed_form_shows_no_key() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let c = NoJs::new(&app);
    let (st, headers, page) = c.get("/").await;
    assert_eq!(st, 200);
    assert!(page.contains("<form") && page.contains("type=\"password\""));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");

    let r = c
        .http
        .post(format!("{}/app/sign-in", app.base))
        .header("cookie", c.cookie_header())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("csrf", csrf(&page).as_str()),
                ("email", "owner@acme.test"),
                ("password", PASSWORD),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("keygate_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    let (st, _, home) = c.finish(r).await;
    assert_eq!(st, 200, "followed to the app");
    assert!(home.contains("Scoped API keys"));

    let keys_url = format!("/app/orgs/{}/settings/developer/api-keys", org.org_id);
    let (st, _, prompt) = c
        .get(&format!("{keys_url}/generate?owner_id={}", org.accounts[0]))
        .await;
    assert_eq!(st, 200);
    assert!(prompt.contains("Login password"));
    let token = csrf(&prompt);
    let form = [
        ("csrf", token.as_str()),
        ("owner_id", org.accounts[0].as_str()),
        ("password", PASSWORD),
    ];
    let (st, headers, reveal) = c.post(&format!("{keys_url}/generate"), &form).await;
    assert_eq!(st, 200);
    assert_eq!(headers["cache-control"], "no-store");
    let key = revealed_key(&reveal).expect("the key is shown");
    app.remember(&key);
    assert!(reveal.contains("You will not be able to view this key again"));

    // Reloading the reveal page re-sends the same form: refused, no new key.
    let (st, _, again) = c.post(&format!("{keys_url}/generate"), &form).await;
    assert_eq!(st, 400);
    assert!(revealed_key(&again).is_none() && again.contains("already submitted"));
    let (_, _, list) = c.get(&keys_url).await;
    assert!(!list.contains(&key));

    // A form without a valid token changes nothing.
    let (st, _, _) = c
        .post(
            &format!("{keys_url}/generate"),
            &[("owner_id", org.org_id.as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        keys_of(&app, &org).await["admin_keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Sign out ends the session.
    let (_, _, list) = c.get(&keys_url).await;
    let (st, _, page) = c
        .post("/app/sign-out", &[("csrf", csrf(&list).as_str())])
        .await;
    assert_eq!(st, 200);
    assert!(page.contains("Sign in"));
    let (_, _, page) = c.get(&keys_url).await;
    assert!(page.contains("type=\"password\"") && !page.contains("Scoped API keys"));
}

#[tokio::test]
async fn cookies_are_secure_with_the_host_prefix_behind_tls() {
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &[]).await;
    let c = NoJs::new(&app);
    let page = c
        .http
        .get(format!("{}/app/sign-in", app.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let pre = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        pre.starts_with("__Host-keygate_presession=") && pre.contains("; Secure"),
        "{pre}"
    );
    let html = page.text().await.unwrap();
    let value = pre.split(';').next().unwrap().to_owned();
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/app/sign-in", app.base))
        .header("x-forwarded-proto", "https")
        .header("cookie", value)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("csrf", csrf(&html).as_str()),
                ("email", "owner@acme.test"),
                ("password", PASSWORD),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-keygate_session=")
            && cookie.contains("; Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    let token = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    app.remember(token);

    // Over TLS only the `__Host-` cookie counts: a plain one (which a sibling
    // subdomain or a plain-HTTP answer could have planted) is ignored.
    let settings = format!("{}/app/orgs/{}/settings", app.base, org.org_id);
    let page = |cookie: String, https: bool| {
        let mut rb = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(&settings)
            .header("cookie", cookie);
        if https {
            rb = rb.header("x-forwarded-proto", "https");
        }
        async move {
            let r = rb.send().await.unwrap();
            let to = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            (r.status().as_u16(), to)
        }
    };
    assert_eq!(
        page(format!("__Host-keygate_session={token}"), true).await,
        (200, None)
    );
    assert_eq!(
        page(format!("keygate_session={token}"), true).await,
        (303, Some("/app/sign-in".to_owned()))
    );
    assert_eq!(
        page(format!("keygate_session={token}"), false).await,
        (200, None),
        "plain HTTP still reads the plain cookie"
    );
}

#[tokio::test]
async fn x_forwarded_proto_counts_only_from_a_trusted_proxy() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/app/sign-in", app.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let pre = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        pre.starts_with("keygate_presession=") && !pre.contains("Secure"),
        "{pre}"
    );
}

#[tokio::test]
async fn wrong_sign_in_passwords_are_refused_and_then_rate_limited() {
    let app = spawn_app().await;
    app.create_org("Acme", "owner@acme.test", &[]).await;
    let c = NoJs::new(&app);
    let mut last = 0;
    for _ in 0..12 {
        let (_, _, page) = c.get("/app/sign-in").await;
        let (st, _, body) = c
            .post(
                "/app/sign-in",
                &[
                    ("csrf", csrf(&page).as_str()),
                    ("email", "owner@acme.test"),
                    ("password", "wrong-password-123"),
                ],
            )
            .await;
        assert!(body.contains("<form"));
        last = st;
        if st == 401 {
            assert!(body.contains("The email or password is not correct."));
        }
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn unknown_app_pages_are_an_html_not_found_page() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/app/no-such-page", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("Page not found"));
}

// ---- People: invitations, forgot password, Security ----

#[tokio::test]
async fn an_invitation_is_sent_from_members_and_accepted_in_another_browser() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    {
        let Some(b) = browser(&app, "invite").await else {
            return;
        };
        b.sign_in(&org.owner.email, PASSWORD).await;
        b.go(&format!("/app/orgs/{}/settings/members", org.org_id))
            .await;
        b.fill("#email", "new@acme.test").await;
        b.css("#role").await.select_by_value("admin").await.unwrap();
        b.fill("#password", PASSWORD).await;
        b.click_text("button", "Send invitation").await;
        b.wait_for_text("Invitation sent.").await;
        let text = b.text().await;
        assert!(
            text.contains("new@acme.test") && text.contains("Withdraw"),
            "{text}"
        );
        b.shot("members-pending-invitation").await;
        b.close().await;
    }
    // A second browser: nobody signed in, only the mailed link.
    let link = app.mailed_link("new@acme.test", "/app/invitations/").await;
    let path = link
        .split_once("/app/")
        .map(|(_, p)| format!("/app/{p}"))
        .unwrap();
    let Some(b) = browser(&app, "accept").await else {
        return;
    };
    b.go(&path).await;
    b.wait_for_text("Join Acme").await;
    assert!(b.text().await.contains("as Admin"), "{}", b.text().await);
    b.shot("accept-invitation").await;
    b.fill("#password", "short").await;
    b.click_text("button", "Accept and sign in").await;
    b.wait_for_text("15").await;
    b.fill("#password", "a-long-password-for-the-newcomer")
        .await;
    app.remember("a-long-password-for-the-newcomer");
    b.click_text("button", "Accept and sign in").await;
    b.wait_for_text("Sign out").await;
    assert!(b.path().await.contains(&org.org_id), "{}", b.path().await);
    assert!(b.text().await.contains("new@acme.test"));
    // The link worked once.
    b.go(&path).await;
    b.wait_for_text("not found").await;
    b.close().await;
}

#[tokio::test]
async fn forgot_password_mails_a_link_and_the_new_password_signs_in() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "forgot").await else {
        return;
    };
    b.go("/app/sign-in").await;
    b.click_text("a", "Forgot password?").await;
    b.fill("#email", &org.owner.email).await;
    b.click_text("button", "Send reset link").await;
    b.wait_for_text("a link to choose a new password is on its way")
        .await;
    let link = app
        .mailed_link(&org.owner.email, "/app/password-reset/")
        .await;
    let path = link
        .split_once("/app/")
        .map(|(_, p)| format!("/app/{p}"))
        .unwrap();
    b.go(&path).await;
    b.wait_for_text("Choose a new password").await;
    let new_pw = "a-brand-new-passphrase-2027";
    app.remember(new_pw);
    b.fill("#new_password", new_pw).await;
    b.fill("#confirm_password", new_pw).await;
    b.click_text("button", "Set new password").await;
    b.wait_for_text("Sign in with your new password").await;
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&org.owner), None)
            .await
            .status,
        401,
        "the sessions from before the reset ended"
    );
    b.fill("#email", &org.owner.email).await;
    b.fill("#password", new_pw).await;
    b.click("form button[type=submit]").await;
    b.wait_for_text("Sign out").await;

    // Security: this session and the other one; sign the other one out.
    let other = app.sign_in(&org.owner.email, new_pw).await;
    b.click_text("a", "Security").await;
    b.wait_for_text("This session").await;
    b.shot("security").await;
    b.click_text("tr[not(contains(., 'This session'))]//button", "Sign out")
        .await;
    b.wait_for_text("Session signed out.").await;
    assert_eq!(
        app.req(Method::GET, "/dev/v1/me", Some(&other), None)
            .await
            .status,
        401
    );
    b.close().await;
}

/// A NoJs client signed in as `email`.
async fn signed_in<'a>(app: &'a TestApp, email: &str) -> NoJs<'a> {
    let c = NoJs::new(app);
    let (_, _, page) = c.get("/app/sign-in").await;
    let (st, _, _) = c
        .post(
            "/app/sign-in",
            &[
                ("csrf", csrf(&page).as_str()),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(st, 200);
    c
}

async fn role_of(app: &TestApp, org: &Org, email: &str) -> Option<String> {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    r.body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .map(|m| m["role"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn member_and_account_changes_in_the_app_ask_for_the_password_without_javascript_too() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    app.invite_member(&org, "dev@acme.test", "developer").await;
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/members", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    let dev = r.body[1]["user_id"].as_str().unwrap().to_owned();
    let c = signed_in(&app, "owner@acme.test").await;
    let members = format!("/app/orgs/{}/settings/members", org.org_id);
    let wrong = "not-my-password-at-all";

    // The row's button alone leads to the password prompt, counting nothing.
    let (_, _, page) = c.get(&members).await;
    let (st, _, prompt) = c
        .post(
            &format!("{members}/{dev}/role"),
            &[("csrf", csrf(&page).as_str()), ("role", "admin")],
        )
        .await;
    assert_eq!(st, 200);
    assert!(prompt.contains("Change role") && prompt.contains("type=\"password\""));
    assert!(prompt.contains("name=\"role\" value=\"admin\""));
    let (st, _, prompt) = c
        .post(
            &format!("{members}/{dev}/role"),
            &[
                ("csrf", csrf(&prompt).as_str()),
                ("role", "admin"),
                ("password", wrong),
            ],
        )
        .await;
    assert_eq!(st, 401);
    assert!(prompt.contains("That password is not correct. Nothing was changed."));
    assert_eq!(
        role_of(&app, &org, "dev@acme.test").await.as_deref(),
        Some("developer")
    );
    let (st, _, page) = c
        .post(
            &format!("{members}/{dev}/role"),
            &[
                ("csrf", csrf(&prompt).as_str()),
                ("role", "admin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(st, 200);
    assert!(page.contains("Role changed."));
    assert_eq!(
        role_of(&app, &org, "dev@acme.test").await.as_deref(),
        Some("admin")
    );

    // Removing: a wrong password changes nothing, the right one removes.
    let (st, _, prompt) = c
        .post(
            &format!("{members}/{dev}/remove"),
            &[("csrf", csrf(&page).as_str()), ("password", wrong)],
        )
        .await;
    assert_eq!(st, 401);
    assert!(role_of(&app, &org, "dev@acme.test").await.is_some());
    let (_, _, page) = c
        .post(
            &format!("{members}/{dev}/remove"),
            &[("csrf", csrf(&prompt).as_str()), ("password", PASSWORD)],
        )
        .await;
    assert!(page.contains("Member removed."));
    assert!(role_of(&app, &org, "dev@acme.test").await.is_none());

    // Inviting and creating an account: the form's password field.
    let invitations = format!("/app/orgs/{}/settings/invitations", org.org_id);
    let (st, _, page) = c
        .post(
            &invitations,
            &[
                ("csrf", csrf(&page).as_str()),
                ("email", "new@acme.test"),
                ("role", "viewer"),
                ("password", wrong),
            ],
        )
        .await;
    assert_eq!(st, 401);
    assert!(page.contains("That password is not correct. Nothing was changed."));
    let pending = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(pending.body, json!([]), "nobody was invited");
    let accounts = format!("/app/orgs/{}/settings/accounts", org.org_id);
    let (_, _, page) = c.get(&accounts).await;
    let (st, _, page) = c
        .post(
            &accounts,
            &[
                ("csrf", csrf(&page).as_str()),
                ("name", "Acme SG"),
                ("password", wrong),
            ],
        )
        .await;
    assert_eq!(st, 401);
    assert!(page.contains("That password is not correct. Nothing was changed."));
    let (st, _, page) = c
        .post(
            &accounts,
            &[
                ("csrf", csrf(&page).as_str()),
                ("name", "Acme SG"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(st, 200);
    assert!(page.contains("Account created.") && page.contains("Acme SG"));
}

#[tokio::test]
async fn invitation_and_reset_pages_work_without_javascript_and_refuse_a_replayed_form() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    app.create_org("Other", "other@acme.test", &[]).await;
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/invitations", org.org_id),
            Some(&org.owner),
            Some(json!({"email": "other@acme.test", "role": "analyst", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201);
    let link = app
        .mailed_link("other@acme.test", "/app/invitations/")
        .await;
    let path = link
        .split_once("/app/")
        .map(|(_, p)| format!("/app/{p}"))
        .unwrap();
    let c = NoJs::new(&app);
    let (st, _, page) = c.get(&path).await;
    assert_eq!(st, 200);
    assert!(
        page.contains("Join Acme") && page.contains("Analyst"),
        "{page}"
    );
    // An existing account: its own password, not a new one.
    let (st, _, again) = c
        .post(
            &path,
            &[
                ("csrf", csrf(&page).as_str()),
                ("password", "not-their-password-1"),
            ],
        )
        .await;
    assert_eq!(st, 401);
    assert!(again.contains("That password is not correct for this account."));
    let (st, _, replay) = c
        .post(
            &path,
            &[("csrf", csrf(&page).as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(st, 400, "a used form token");
    assert!(replay.contains("The form expired"));
    let (st, _, home) = c
        .post(
            &path,
            &[("csrf", csrf(&replay).as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(st, 200);
    assert!(
        home.contains("other@acme.test") && home.contains("Sign out"),
        "{home}"
    );
    let (st, _, _) = c.get(&path).await;
    assert_eq!(st, 404, "used");

    // Forgot password: the same answer for an unknown email; the page of a
    // link that does not exist is not found.
    let c = NoJs::new(&app);
    let (_, _, page) = c.get("/app/password-reset").await;
    let (st, _, sent) = c
        .post(
            "/app/password-reset",
            &[
                ("csrf", csrf(&page).as_str()),
                ("email", "nobody@nowhere.test"),
            ],
        )
        .await;
    assert_eq!(st, 200);
    assert!(sent.contains("If this email has a Keygate account"));
    let (st, _, _) = c.get("/app/password-reset/not-a-real-token").await;
    assert_eq!(st, 404);
    assert!(
        app.log().contains("/app/password-reset/…"),
        "the token is not logged"
    );
}
