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

use crate::helpers::{Org, PASSWORD, TestApp, spawn_app_with};

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

#[tokio::test]
async fn settings_are_checked_sealed_and_owner_only_and_a_new_person_joins_through_the_provider() {
    let app = spawn_app_with(&["--allow-insecure-issuers"], &[]).await;
    let Some(p) = provider(&app, "127.0.0.1", "sso settings") else {
        return;
    };
    let org = app
        .create_org("Example", "owner@example.test", &["Main"])
        .await;
    let path = format!("/dev/v1/orgs/{}/sso", org.org_id);
    assert_eq!(
        app.req(Method::GET, &path, Some(&org.owner), None)
            .await
            .status,
        404
    );
    let admin = app.invite_member(&org, "pat@example.test", "admin").await;
    let r = app
        .req(
            Method::PUT,
            &path,
            Some(&admin),
            Some(settings(&p.issuer, false)),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    let mut wrong = settings(&p.issuer, false);
    wrong["password"] = "not-the-password-1".into();
    assert_eq!(
        put(&app, &org, wrong).await.code(),
        "password_confirmation_failed"
    );
    // An issuer that does not answer: 400 naming it, nothing stored.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = put(&app, &org, settings(&format!("http://{dead}"), false)).await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("issuer")),
        "{}",
        r.body
    );
    assert_eq!(
        app.req(Method::GET, &path, Some(&org.owner), None)
            .await
            .status,
        404
    );
    let r = put(&app, &org, settings(&p.issuer, false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["domains"], json!(["example.test"]));
    assert_eq!(r.body["default_role"], "developer");
    let r = app.req(Method::GET, &path, Some(&org.owner), None).await;
    assert_eq!(
        (r.status.as_u16(), r.body["issuer"].as_str()),
        (200, Some(p.issuer.as_str()))
    );
    // The secret is sealed at rest: not in the database file in the clear.
    if app.database_url.is_none() {
        let raw = std::fs::read(app.data_dir.join("keygate.db")).unwrap_or_default();
        assert!(!raw.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    }
    // Another organization cannot claim the same domain.
    let other = app.create_org("Other", "boss@other.test", &["Main"]).await;
    assert_eq!(
        put(&app, &other, settings(&p.issuer, false)).await.status,
        409
    );

    let mut web = Web::new();
    let none = web
        .get(&format!(
            "{}/app/sso/start?email=someone@unclaimed.test",
            app.base
        ))
        .await;
    assert_eq!(none.status, 404);
    let start = web
        .get(&format!(
            "{}/app/sso/start?email=newdev@example.test",
            app.base
        ))
        .await;
    assert_eq!(start.status, 302);
    let q: HashMap<String, String> = reqwest::Url::parse(start.location.as_deref().unwrap())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["scope"], "openid email");
    assert_eq!(q["redirect_uri"], format!("{}/app/sso/callback", app.base));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 16 && q["nonce"].len() >= 16);
    assert!(
        start
            .set_cookies
            .iter()
            .any(|c| c.starts_with("keygate_sso=") && c.contains("SameSite=Lax"))
    );

    let o = through(&app, &p, "newdev@example.test", "newdev", false).await;
    assert!(
        signed_in(&o),
        "{} {:?} {}",
        o.callback.status,
        o.callback.location,
        o.callback.body
    );
    assert_eq!(
        role_of(&app, &org, "newdev@example.test").await.as_deref(),
        Some("developer")
    );
    let events = app.audit_events(&org, "limit=50").await;
    let sso_session =
        |e: &&Value| e["action"] == "session.created" && e["details"]["method"] == "sso";
    assert!(
        events
            .iter()
            .any(|e| sso_session(&e) && e["actor_email"] == "newdev@example.test"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "member.joined" && e["details"]["method"] == "sso")
    );
    assert!(events.iter().any(|e| e["action"] == "sso.updated"));
    assert!(!events.iter().any(|e| e.to_string().contains(SECRET)));
}

#[tokio::test]
async fn a_forged_state_an_unverified_email_a_foreign_domain_or_a_bad_id_token_opens_no_session() {
    let app = spawn_app_with(&["--allow-insecure-issuers"], &[]).await;
    let Some(p) = provider(&app, "127.0.0.1", "sso refusals") else {
        return;
    };
    let org = app
        .create_org("Example", "owner@example.test", &["Main"])
        .await;
    assert_eq!(
        put(&app, &org, settings(&p.issuer, false)).await.status,
        200
    );
    let refused = |o: &Outcome| {
        o.callback.status == 403
            && !o
                .callback
                .set_cookies
                .iter()
                .any(|c| c.starts_with("keygate_session="))
            && o.app
                .location
                .as_deref()
                .is_some_and(|l| l.ends_with("/app/sign-in"))
    };
    let o = through(&app, &p, "newdev@example.test", "newdev", true).await;
    assert!(
        refused(&o),
        "forged state: {} {}",
        o.callback.status,
        o.callback.body
    );
    let o = through(&app, &p, "unverified@example.test", "unverified", false).await;
    assert!(refused(&o), "unverified: {}", o.callback.body);
    assert!(o.callback.body.contains("not verified your email"));
    // Started for a claimed domain, but the provider's person is elsewhere.
    let o = through(&app, &p, "newdev2@example.test", "stray", false).await;
    assert!(refused(&o), "foreign domain: {}", o.callback.body);
    for how in ["nonce", "exp"] {
        p.alter_next(how).await;
        let o = through(&app, &p, "newdev@example.test", "newdev", false).await;
        assert!(
            refused(&o),
            "ID token with another {how}: {}",
            o.callback.body
        );
    }
    for email in [
        "unverified@example.test",
        "stray@elsewhere.test",
        "newdev@example.test",
    ] {
        assert_eq!(role_of(&app, &org, email).await, None, "{email}");
    }
    // The same callback without the browser's state cookie: refused too.
    let o = through(&app, &p, "newdev@example.test", "newdev", false).await;
    assert!(
        signed_in(&o),
        "after the refusals, a right sign-in still works"
    );
}

#[tokio::test]
async fn enforced_sso_keeps_members_off_the_password_except_the_owner() {
    let app = spawn_app_with(&["--allow-insecure-issuers"], &[]).await;
    let Some(p) = provider(&app, "127.0.0.1", "sso enforcement") else {
        return;
    };
    let org = app
        .create_org("Example", "owner@example.test", &["Main"])
        .await;
    app.invite_member(&org, "pat@example.test", "admin").await;
    app.invite_member(&org, "contractor@outside.test", "developer")
        .await;
    let r = put(&app, &org, settings(&p.issuer, true)).await;
    assert_eq!((r.status.as_u16(), &r.body["enforce"]), (200, &json!(true)));
    let sign_in = |email: &'static str| {
        let body = json!({"email": email, "password": PASSWORD});
        app.req(Method::POST, "/dev/v1/sessions", None, Some(body))
    };
    let r = sign_in("pat@example.test").await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "sso_required"));
    assert_eq!(
        sign_in("owner@example.test").await.status,
        201,
        "the owner is the break-glass account"
    );
    assert_eq!(sign_in("contractor@outside.test").await.status, 201);
    // The app's sign-in form sends pat on to single sign-on.
    let mut web = Web::new();
    let form = web.get(&format!("{}/app/sign-in", app.base)).await;
    let csrf = form
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let fields = [
        ("csrf", csrf.as_str()),
        ("email", "pat@example.test"),
        ("password", PASSWORD),
    ];
    let r = web
        .request(
            Method::POST,
            &format!("{}/app/sign-in", app.base),
            Some(&fields),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.body
            .contains("href=\"/app/sso/start?email=pat%40example.test\""),
        "{}",
        r.body
    );
    assert!(
        !r.set_cookies
            .iter()
            .any(|c| c.starts_with("keygate_session="))
    );
    // Through the provider pat signs in, still an admin.
    let o = through(&app, &p, "pat@example.test", "pat", false).await;
    assert!(signed_in(&o), "{}", o.callback.body);
    assert_eq!(
        role_of(&app, &org, "pat@example.test").await.as_deref(),
        Some("admin")
    );
    // Turning it off needs the password; then passwords work again.
    let path = format!("/dev/v1/orgs/{}/sso", org.org_id);
    let r = app
        .req(Method::DELETE, &path, Some(&org.owner), Some(json!({})))
        .await;
    assert_eq!(r.code(), "password_confirmation_failed");
    let r = app
        .req(
            Method::DELETE,
            &path,
            Some(&org.owner),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.req(Method::GET, &path, Some(&org.owner), None)
            .await
            .status,
        404
    );
    assert_eq!(sign_in("pat@example.test").await.status, 201);
    let none = Web::new()
        .get(&format!(
            "{}/app/sso/start?email=pat@example.test",
            app.base
        ))
        .await;
    assert_eq!(none.status, 404);
    let events = app.audit_events(&org, "limit=50").await;
    assert!(events.iter().any(|e| e["action"] == "sso.deleted"));
}
