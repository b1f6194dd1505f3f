//! The browser: a headless Chromium under chromedriver, one at a time, and
//! what a test does with it (go, fill, click, wait for text, screenshots),
//! stopped with every process it started.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};

/// One browser at a time: the machine has two cores.
static BROWSER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
}

pub(super) fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("ui-screenshots")
}

pub(super) struct Browser {
    pub(super) c: Client,
    /// chromedriver's own URL (for its log endpoint).
    pub(super) driver_url: String,
    driver: Child,
    profile: PathBuf,
    pub(super) base: String,
    _one_at_a_time: tokio::sync::MutexGuard<'static, ()>,
}

/// A fresh headless Chromium, or `None` (test skipped) when it is not installed.
pub(super) async fn browser(app: &TestApp, test: &str) -> Option<Browser> {
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
    eventually(
        "chromedriver answering",
        Duration::from_secs(20),
        async || http.get(format!("{url}/status")).send().await,
    )
    .await;
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
    pub(super) async fn console(&self) -> Vec<String> {
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

    pub(super) async fn go(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    pub(super) async fn path(&self) -> String {
        self.c.current_url().await.unwrap().path().to_owned()
    }

    /// The page's visible text (retried while a navigation replaces the page).
    pub(super) async fn text(&self) -> String {
        eventually(
            "the page's readable body",
            Duration::from_secs(5),
            async || self.c.find(Locator::Css("body")).await?.text().await,
        )
        .await
    }

    pub(super) async fn css(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    pub(super) async fn click(&self, css: &str) {
        self.css(css).await.click().await.unwrap();
    }

    /// The first `tag` whose visible text contains `text` (links, buttons).
    pub(super) async fn click_text(&self, tag: &str, text: &str) {
        let xp = format!("//{tag}[contains(normalize-space(.), {text:?})]");
        // Found is not yet clickable: a menu just opened may still be laid
        // out (ElementNotInteractable on a busy machine), so both are retried.
        eventually(
            &format!("click {tag} {text:?}"),
            Duration::from_secs(10),
            async || {
                let el = self.c.find(Locator::XPath(&xp)).await?;
                el.click().await
            },
        )
        .await;
    }

    pub(super) async fn fill(&self, css: &str, value: &str) {
        let el = self.css(css).await;
        el.clear().await.unwrap();
        el.send_keys(value).await.unwrap();
    }

    pub(super) async fn value(&self, css: &str) -> String {
        self.css(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    pub(super) async fn wait_for_text(&self, needle: &str) {
        let what = format!("the page showing {needle:?}");
        eventually(&what, Duration::from_secs(15), async || {
            let t = self.text().await;
            if t.contains(needle) {
                Ok(())
            } else {
                Err(format!("it shows:\n{t}"))
            }
        })
        .await;
    }

    /// Marks the page shown, so that [`Browser::wait_for_other_page`] can
    /// tell when another has replaced it.
    pub(super) async fn mark_page(&self) {
        self.c
            .execute("window.keygateMarked = true;", vec![])
            .await
            .unwrap();
    }

    /// Waits until a page other than the one marked is shown and loaded
    /// (after a reload or a step back).
    pub(super) async fn wait_for_other_page(&self) {
        let loaded = "return !window.keygateMarked && document.readyState === 'complete';";
        eventually(
            "another page, loaded",
            Duration::from_secs(15),
            async || match self.c.execute(loaded, vec![]).await {
                Ok(Value::Bool(true)) => Ok(()),
                other => Err(format!("{other:?}")),
            },
        )
        .await;
    }

    /// A screenshot of the whole page (up to `max_height` pixels), from the top.
    pub(super) async fn shot_full(&self, name: &str, max_height: u32) {
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
        // The page laid out at the new size before the picture.
        eventually(
            "the window's new height",
            Duration::from_secs(5),
            async || {
                let inner = self
                    .c
                    .execute("return window.innerHeight;", vec![])
                    .await
                    .unwrap();
                if inner.as_u64() == Some(u64::from(h)) {
                    Ok(())
                } else {
                    Err(format!("{inner}, not {h}"))
                }
            },
        )
        .await;
        self.shot(name).await;
        self.c
            .set_window_size(w as u32, old_h as u32)
            .await
            .unwrap();
    }

    pub(super) async fn shot(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub(super) async fn sign_in(&self, email: &str, password: &str) {
        self.go("/").await;
        assert_eq!(self.path().await, "/app/sign-in");
        self.shot("sign-in").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("form button[type=submit]").await;
        self.wait_for_text("Sign out").await;
    }

    /// Settings > Developer > API keys, as the reference says.
    pub(super) async fn open_api_keys(&self) {
        self.click_text("nav[@class='topnav']/a", "Settings").await;
        self.wait_for_text("Settings").await;
        self.click_text("a[@class='side-group']", "Developer").await;
        self.click_text("nav[@class='sidebar']//a", "API keys")
            .await;
        self.wait_for_text("Scoped API keys").await;
    }

    /// The … menu of the row that mentions `row_text`, then one of its items.
    pub(super) async fn menu(&self, row_text: &str, item: &str) {
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
    pub(super) async fn confirm(&self, password: &str, button: &str) {
        self.fill("#confirm-password", password).await;
        self.click_text("dialog//button", button).await;
    }

    pub(super) async fn revealed(&self, app: &TestApp) -> (String, String) {
        self.wait_for_text("You will not be able to view this key again")
            .await;
        let client_id = self.value("#client-id").await;
        let key = self.value("#api-key").await;
        assert!(key.starts_with("kg_"), "revealed key: {key}");
        app.remember(&key);
        (client_id, key)
    }

    pub(super) async fn close(self) {
        let c = self.c.clone();
        let _ = c.close().await;
    }
}
