//! Single sign-on against a real OpenID provider: node `oidc-provider` 9 from
//! npm (`sso/provider.mjs`), installed outside the repository by `.ci/run`
//! into `/var/tmp/keygate-oidc` (or `KEYGATE_OIDC_DIR`). Without node or the
//! package these tests print SKIPPED and pass, except under CI=true where they
//! fail. A plain HTTP client with a cookie jar per host plays the browser
//! (`ui/sso.rs` takes headless Chromium through the same flow).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Org, PASSWORD, TestApp};

pub const CLIENT_ID: &str = "keygate-test";
pub const SECRET: &str = "kgsso-test-client-secret-0123456789";

/// The provider's process; stopped when dropped.
pub struct Provider {
    child: Child,
    pub issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the provider for `app` with its issuer on `host`, or `None` (the
/// test is skipped, loudly) when node or oidc-provider is missing.
pub fn provider(app: &TestApp, host: &str, test: &str) -> Option<Provider> {
    let dir = std::env::var_os("KEYGATE_OIDC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/keygate-oidc"));
    let package = dir.join("node_modules/oidc-provider/package.json");
    let node = Command::new("node").arg("--version").output().is_ok();
    if !node || !package.is_file() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "node and oidc-provider are required under CI=true ({})",
                dir.display()
            );
        }
        eprintln!(
            "SKIPPED: {test}: needs node and oidc-provider (npm install --prefix {} oidc-provider@9)",
            dir.display()
        );
        return None;
    }
    // Under the package's folder, so that node finds it.
    let script = dir.join(format!("provider-{}.mjs", std::process::id()));
    std::fs::write(&script, include_str!("sso/provider.mjs")).unwrap();
    let redirect = format!("{}/app/sso/callback", app.base);
    let mut child = Command::new("node")
        .arg(&script)
        .args([host, &redirect, CLIENT_ID, SECRET])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // Keep reading: a closed pipe would end the provider at its next line.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let issuer = serde_json::from_str::<Value>(&line)
        .ok()
        .and_then(|v| v["issuer"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("the provider did not start: {line:?}"));
    app.remember(SECRET);
    Some(Provider { child, issuer })
}

impl Provider {
    /// The next ID token carries another nonce (`nonce`) or is expired (`exp`).
    pub async fn alter_next(&self, how: &str) {
        let url = format!(
            "{}/_kg/mode?set={how}",
            self.issuer.replace("localhost", "127.0.0.1")
        );
        reqwest::get(url).await.unwrap().error_for_status().unwrap();
    }
}

/// A browser's cookie handling without the browser: one jar per host name,
/// no redirect followed by itself; `localhost` reached on 127.0.0.1.
pub struct Web {
    http: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Web {
    pub fn new() -> Web {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Web {
            http,
            jar: HashMap::new(),
        }
    }

    pub async fn request(
        &mut self,
        method: Method,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Page {
        let u = reqwest::Url::parse(url).unwrap();
        let host = u.host_str().unwrap().to_owned();
        let mut rb = self.http.request(method, url);
        if let Some(jar) = self.jar.get(&host).filter(|j| !j.is_empty()) {
            let c: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            rb = rb.header("cookie", c.join("; "));
        }
        if let Some(f) = form {
            rb = rb
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(f).unwrap());
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .map(|l| u.join(l.to_str().unwrap()).unwrap().to_string());
        let set_cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let jar = self.jar.entry(host).or_default();
        for c in &set_cookies {
            let (name, value) = c.split(';').next().unwrap().split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = r.text().await.unwrap();
        Page {
            status,
            location,
            set_cookies,
            body,
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        self.request(Method::GET, url, None).await
    }
}

/// From the provider's authorization URL: its login form as `login` (any
/// password), until it redirects to `back`; that URL, not requested.
pub async fn provider_login(web: &mut Web, mut url: String, login: &str, back: &str) -> String {
    for _ in 0..10 {
        if url.starts_with(back) {
            return url;
        }
        let p = web.get(&url).await;
        if let Some(l) = p.location {
            url = l;
            continue;
        }
        let action = p
            .body
            .split("<form")
            .nth(1)
            .and_then(|f| f.split("action=\"").nth(1))
            .and_then(|a| a.split('"').next())
            .unwrap_or_else(|| panic!("no login form at {url}: {}", p.body));
        let to = reqwest::Url::parse(&url).unwrap().join(action).unwrap();
        let form = [("prompt", "login"), ("login", login), ("password", "any")];
        let p = web.request(Method::POST, to.as_str(), Some(&form)).await;
        url = p.location.expect("the login form redirects");
    }
    panic!("never back at {back}");
}

/// What a sign-in through the provider came to.
pub struct Outcome {
    pub callback: Page,
    /// `/app` afterwards with the cookies the callback left.
    pub app: Page,
}

/// Start (as `email`), the provider's login (as `login`), the callback (its
/// state changed first when `forge_state`), then `/app`.
pub async fn through(
    app: &TestApp,
    p: &Provider,
    email: &str,
    login: &str,
    forge_state: bool,
) -> Outcome {
    let mut web = Web::new();
    let start = web
        .get(&format!("{}/app/sso/start?email={email}", app.base))
        .await;
    assert_eq!(start.status, 302, "start: {}", start.body);
    let to = start.location.unwrap();
    assert!(to.starts_with(&p.issuer), "{to}");
    let back = format!("{}/app/sso/callback", app.base);
    let mut url = provider_login(&mut web, to, login, &back).await;
    if forge_state {
        let state = reqwest::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
        url = url.replace(&state, "forged-state-of-another-sign-in");
    }
    let callback = web.get(&url).await;
    let app_page = web.get(&format!("{}/app", app.base)).await;
    Outcome {
        callback,
        app: app_page,
    }
}

pub fn settings(issuer: &str, enforce: bool) -> Value {
    json!({"issuer": issuer, "client_id": CLIENT_ID, "client_secret": SECRET,
           "domains": ["example.test"], "enforce": enforce, "default_role": "developer",
           "password": PASSWORD})
}

pub async fn put(app: &TestApp, org: &Org, body: Value) -> crate::helpers::Resp {
    let path = format!("/dev/v1/orgs/{}/sso", org.org_id);
    app.req(Method::PUT, &path, Some(&org.owner), Some(body))
        .await
}

async fn role_of(app: &TestApp, org: &Org, email: &str) -> Option<String> {
    let path = format!("/dev/v1/orgs/{}/members", org.org_id);
    let r = app.req(Method::GET, &path, Some(&org.owner), None).await;
    r.body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .map(|m| m["role"].as_str().unwrap().to_owned())
}

fn signed_in(o: &Outcome) -> bool {
    o.callback.status == 303
        && o.callback
            .location
            .as_deref()
            .is_some_and(|l| l.ends_with("/app"))
        && o.app.status == 303
        && o.app
            .location
            .as_deref()
            .is_some_and(|l| l.contains("/app/orgs/"))
}

mod enforced;
mod sign_in;
