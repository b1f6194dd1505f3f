//! `spawn_app()`: the real `keygate` binary on `127.0.0.1:0` with a fresh data
//! dir, and a client that remembers every secret it was shown so the server's
//! log can be checked for them when the test ends.
//!
//! The database is a fresh SQLite file, or with `KEYGATE_TEST_DATABASE=postgres`
//! a fresh PostgreSQL database per test (`keygate_testpg`), so one suite tells the
//! same story on both backends.

use std::fmt::Display;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub use keygate_testpg::PgDb;

pub const PASSWORD: &str = "correct-horse-battery-staple-42";

/// How long [`poll`] waits between two looks: short next to the outcomes
/// awaited (a background round, a delivery, a page), long enough that a
/// look (often an HTTP request or a WebDriver round trip) does not load the
/// shared machine.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Asks `probe` until it answers `Ok`, for at most `within`: that `Ok`, or,
/// once the time is up, the `Err` of the last look (what was seen instead).
/// Tests wait for an outcome this way, never for a fixed time; this is the
/// one place they sleep between looks.
pub async fn poll<T, E>(
    within: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let end = Instant::now() + within;
    loop {
        match probe().await {
            Err(_) if Instant::now() < end => tokio::time::sleep(POLL_EVERY).await,
            done => return done,
        }
    }
}

/// [`poll`] that fails the test when the time is up: the panic names `what`
/// was awaited, how long it waited and what the last look saw.
pub async fn eventually<T, E: Display>(
    what: &str,
    within: Duration,
    probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let start = Instant::now();
    poll(within, probe).await.unwrap_or_else(|last| {
        panic!(
            "{what}: not within {:.1?}; last seen: {last}",
            start.elapsed()
        )
    })
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub data_dir: PathBuf,
    pub dir: PathBuf,
    /// Set for PostgreSQL; SQLite lives in the data dir.
    pub database_url: Option<String>,
    /// Dropped after the process is stopped.
    _db: Option<Arc<PgDb>>,
    owns_dir: bool,
    child: Mutex<Child>,
    log: Arc<Mutex<String>>,
    /// Disconnected once the process's stdout and stderr are read to the end.
    log_done: Mutex<Receiver<()>>,
    secrets: Mutex<Vec<String>>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

pub struct Org {
    pub org_id: String,
    pub accounts: Vec<String>,
    pub owner: Session,
}

#[derive(Clone)]
pub struct Session {
    pub token: String,
    pub email: String,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

pub fn temp_dir() -> PathBuf {
    let n: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let dir = std::env::temp_dir().join(format!("keygate-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[], &[]).await
}

pub async fn spawn_app_with(args: &[&str], env: &[(&str, &str)]) -> TestApp {
    let db = match std::env::var("KEYGATE_TEST_DATABASE").as_deref() {
        Ok("postgres") => Some(PgDb::create_required().await),
        Ok("sqlite") | Err(_) => None,
        Ok(other) => panic!("KEYGATE_TEST_DATABASE={other}: use sqlite or postgres"),
    };
    let dir = temp_dir();
    let mut app = spawn_process(&dir, db, args, env);
    app.owns_dir = true;
    app
}

/// Starts `keygate serve` with the data dir inside `dir` and, when given, on a
/// PostgreSQL database. Several processes may share `dir` and `db`: they then
/// share the pepper and signing keys, as instances behind a load balancer must.
pub fn spawn_process(
    dir: &Path,
    db: Option<Arc<PgDb>>,
    args: &[&str],
    env: &[(&str, &str)],
) -> TestApp {
    let data_dir = dir.join("data");
    let database_url = db.as_ref().map(|d| d.url.clone());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let log = Arc::new(Mutex::new(String::new()));
    let (child, base, log_done) = launch(&data_dir, database_url.as_deref(), &args, &env, &log);
    TestApp {
        base,
        http: reqwest::Client::builder().build().unwrap(),
        data_dir,
        dir: dir.to_owned(),
        database_url,
        _db: db,
        owns_dir: false,
        child: Mutex::new(child),
        log,
        log_done: Mutex::new(log_done),
        secrets: Mutex::new(vec![PASSWORD.to_owned()]),
        args,
        env,
    }
}

/// Starts `keygate serve` on the data dir (and database) and waits for its
/// address. The receiver is disconnected once its output is read to the end.
fn launch(
    data_dir: &Path,
    database_url: Option<&str>,
    args: &[String],
    env: &[(String, String)],
    log: &Arc<Mutex<String>>,
) -> (Child, String, Receiver<()>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keygate"));
    cmd.arg("serve");
    // Any free port, unless the test names one (a browser test whose public
    // URL must carry the port).
    if !args.iter().any(|a| a == "--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env(
            "RUST_LOG",
            "debug,sqlx=warn,hyper=info,hyper_util=info,rustls=info,lettre=info",
        )
        // Time is a parameter: tests move the server's clock (advance_clock).
        .env("KEYGATE_TEST_CLOCK", "true")
        .env_remove("KEYGATE_PEPPER")
        .env_remove("KEYGATE_SIGNING_KEYS")
        .env_remove("KEYGATE_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = database_url {
        cmd.env("KEYGATE_DATABASE_URL", url);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start keygate");
    let (tx, rx) = std::sync::mpsc::channel();
    let (read_tx, read_rx) = std::sync::mpsc::channel::<()>();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = log.clone();
        let tx = tx.clone();
        let reading = read_tx.clone();
        std::thread::spawn(move || {
            let _reading = reading;
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("keygate listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
    }
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("keygate did not start: {}", log.lock().unwrap()));
    (child, base, read_rx)
}

impl TestApp {
    /// `kill -9`: no shutdown, no flushing, whatever was in flight is cut off.
    pub fn kill(&self) {
        let mut c = self.child.lock().unwrap();
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Moves the server's clock forward by `d`: what needs an hour to pass
    /// (expiry, idle timeouts, sweeps) happens without sleeping. Background
    /// tasks wake at the move. A restart sets the clock back to the real time.
    pub async fn advance_clock(&self, d: Duration) -> i64 {
        let r = self
            .http
            .post(format!("{}/_test/clock", self.base))
            .json(&serde_json::json!({"advance_ms": d.as_millis() as i64}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the test clock");
        r.json::<Value>().await.unwrap()["now_ms"].as_i64().unwrap()
    }

    /// Moves the server's clock to just past `at` (ms since the epoch), if
    /// it is not there yet.
    pub async fn move_clock_past(&self, at: i64) {
        let now = self.advance_clock(Duration::ZERO).await;
        if at + 100 > now {
            self.advance_clock(Duration::from_millis((at + 100 - now) as u64))
                .await;
        }
    }

    /// SIGTERM, then waits (at most 30 s) until the process has exited. The
    /// test's own servers (receivers, upstreams) keep running meanwhile.
    pub async fn terminate(&self) {
        self.signal("-TERM");
        eventually(
            "keygate stopping on SIGTERM",
            Duration::from_secs(30),
            async || match self.child.lock().unwrap().try_wait().unwrap() {
                Some(_) => Ok(()),
                None => Err("still running"),
            },
        )
        .await;
    }

    /// `kill -STOP`: the process freezes as in a VM pause or a long GC; the
    /// kernel still queues connections and requests sent to it.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// `kill -CONT`: the paused process carries on.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.lock().unwrap().id().to_string();
        let status = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(status.success(), "kill {sig} {pid}");
    }

    /// Starts the server again on the same data dir (after `kill`), with other
    /// flags and variables if given.
    pub fn restart_with(&mut self, args: Option<&[&str]>, env: Option<&[(&str, &str)]>) {
        self.kill();
        if let Some(a) = args {
            self.args = a.iter().map(|x| x.to_string()).collect();
        }
        if let Some(e) = env {
            self.env = e
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        let (child, base, log_done) = launch(
            &self.data_dir,
            self.database_url.as_deref(),
            &self.args,
            &self.env,
            &self.log,
        );
        *self.child.lock().unwrap() = child;
        *self.log_done.lock().unwrap() = log_done;
        self.base = base;
    }

    /// Like `req`, but a connection error (server gone) is `None`.
    pub async fn try_req(
        &self,
        method: Method,
        path: &str,
        session: Option<&Session>,
        body: Option<Value>,
    ) -> Option<Resp> {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(s) = session {
            rb = rb.bearer_auth(&s.token);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.ok()?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.ok()?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        self.remember_fields(&body);
        Some(Resp {
            status,
            headers,
            body,
        })
    }

    fn remember_fields(&self, body: &Value) {
        let mut secrets = self.secrets.lock().unwrap();
        for field in ["api_key", "token", "session_token", "secret"] {
            if let Some(s) = body.get(field).and_then(Value::as_str) {
                secrets.push(s.to_owned());
            }
        }
    }

    /// Runs `keygate <args> --data-dir <this app's>` and returns stdout.
    pub fn cli(&self, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_keygate"))
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("KEYGATE_DATABASE_URL")
            .envs(
                self.database_url
                    .iter()
                    .map(|u| ("KEYGATE_DATABASE_URL", u)),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A command refused at once (bad flags) may exit before reading its
        // input: a broken pipe here is its answer, not the test's failure.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    pub async fn create_org(&self, name: &str, email: &str, accounts: &[&str]) -> Org {
        let mut args = vec!["org", "create", "--name", name, "--owner-email", email];
        args.push("--owner-password-stdin");
        for a in accounts {
            args.extend(["--account", a]);
        }
        let out = self.cli(&args, &format!("{PASSWORD}\n"));
        assert!(
            out.status.success(),
            "org create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        Org {
            org_id: v["org_id"].as_str().unwrap().to_owned(),
            accounts: v["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["account_id"].as_str().unwrap().to_owned())
                .collect(),
            owner: self.sign_in(email, PASSWORD).await,
        }
    }

    /// `keygate org create --existing-owner`: the account with `email` (which
    /// must exist) owns the new organization; its password stays.
    pub async fn create_org_existing_owner(
        &self,
        name: &str,
        email: &str,
        accounts: &[&str],
    ) -> Org {
        let mut args = vec!["org", "create", "--name", name, "--owner-email", email];
        args.push("--existing-owner");
        for a in accounts {
            args.extend(["--account", a]);
        }
        let out = self.cli(&args, "");
        assert!(
            out.status.success(),
            "org create --existing-owner: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        Org {
            org_id: v["org_id"].as_str().unwrap().to_owned(),
            accounts: v["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["account_id"].as_str().unwrap().to_owned())
                .collect(),
            owner: self.sign_in(email, PASSWORD).await,
        }
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Session {
        let r = self
            .req(
                Method::POST,
                "/dev/v1/sessions",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, 201, "sign in {email}: {}", r.body);
        Session {
            token: r.body["session_token"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
        }
    }

    /// A request with an optional session and JSON body; remembers any secret
    /// or token in the answer.
    pub async fn req(
        &self,
        method: Method,
        path: &str,
        session: Option<&Session>,
        body: Option<Value>,
    ) -> Resp {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(s) = session {
            rb = rb.bearer_auth(&s.token);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.send(rb).await
    }

    /// Sends the request; the answer must match `/openapi.json` where the
    /// document describes its path and method (`openapi_check`).
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let (client, req) = rb.build_split();
        let req = req.expect("request");
        let (method, path) = (req.method().to_string(), req.url().path().to_owned());
        let resp = client.execute(req).await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        self.check_against_openapi(&method, &path, status, &headers, &body)
            .await;
        let mut secrets = self.secrets.lock().unwrap();
        // A secret is shown once: no later response may contain one seen before.
        if let Some(seen) = secrets.iter().find(|s| text.contains(s.as_str())) {
            panic!("a response repeats a secret shown earlier: {}…", &seen[..8]);
        }
        for field in ["api_key", "token", "session_token", "secret"] {
            if let Some(s) = body.get(field).and_then(Value::as_str) {
                secrets.push(s.to_owned());
            }
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn check_against_openapi(
        &self,
        method: &str,
        path: &str,
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &Value,
    ) {
        // The document is the binary's: fetched once per test process.
        static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
        if DOC.get().is_none() {
            let doc: Value = self
                .http
                .get(format!("{}/openapi.json", self.base))
                .send()
                .await
                .expect("GET /openapi.json")
                .json()
                .await
                .expect("/openapi.json is JSON");
            let _ = DOC.set(doc);
        }
        let json = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        let doc = DOC.get().expect("set above");
        if let Err(e) = crate::openapi_check::check(doc, method, path, status.as_u16(), json, body)
        {
            panic!("{method} {path} does not match /openapi.json: {e}\nbody: {body}");
        }
    }

    pub async fn login(&self, client_id: &str, api_key: &str, login_as: Option<&str>) -> Resp {
        let mut rb = self
            .http
            .post(format!("{}/api/v1/authentication/login", self.base))
            .header("x-client-id", client_id)
            .header("x-api-key", api_key);
        if let Some(a) = login_as {
            rb = rb.header("x-login-as", a);
        }
        self.send(rb).await
    }

    /// Logs in and returns the token, asserting success.
    pub async fn token(&self, key: &Value, login_as: Option<&str>) -> String {
        let r = self.login(cid(key), secret(key), login_as).await;
        assert_eq!(r.status, 201, "login: {}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// The org's audit events for `query` (`client_id=…&limit=…`), as the
    /// owner reads them: newest first.
    pub async fn audit_events(&self, org: &Org, query: &str) -> Vec<Value> {
        let path = format!("/dev/v1/orgs/{}/audit-events?{query}", org.org_id);
        let r = self.req(Method::GET, &path, Some(&org.owner), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["events"].as_array().unwrap().clone()
    }

    pub async fn scoped_key(&self, org: &Org, body: Value) -> Value {
        let mut body = body;
        body["password"] = PASSWORD.into();
        let r = self
            .req(
                Method::POST,
                &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
                Some(&org.owner),
                Some(body),
            )
            .await;
        assert_eq!(r.status, 201, "create scoped key: {}", r.body);
        r.body
    }

    /// A scoped key as its organization's owner reads it.
    pub async fn get_scoped_key(&self, org: &Org, client_id: &str) -> Value {
        let r = self
            .req(
                Method::GET,
                &format!("/dev/v1/orgs/{}/scoped-keys/{client_id}", org.org_id),
                Some(&org.owner),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    pub async fn admin_key(&self, org: &Org, owner_id: &str) -> Value {
        let r = self
            .req(
                Method::POST,
                &format!("/dev/v1/orgs/{}/admin-keys", org.org_id),
                Some(&org.owner),
                Some(json!({"owner_id": owner_id, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 201, "generate admin key: {}", r.body);
        r.body
    }

    /// The newest link containing `path_part` (e.g. `/app/invitations/`) in a
    /// mail to `to` written as an .eml file under `<data dir>/mail/` (no
    /// `--smtp-url`); waits up to 10 s for the dispatcher. The token is
    /// remembered for the log check.
    pub async fn mailed_link(&self, to: &str, path_part: &str) -> String {
        let what = format!("a mail to {to} with a link containing {path_part}");
        let link = eventually(&what, Duration::from_secs(10), async || {
            let mut files: Vec<_> = std::fs::read_dir(self.data_dir.join("mail"))
                .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default();
            files.sort();
            files
                .iter()
                .rev()
                .find_map(|f| {
                    let raw = std::fs::read_to_string(f).unwrap_or_default();
                    let to_line = raw
                        .lines()
                        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
                        .unwrap_or("");
                    if !to_line.to_lowercase().contains(&to.to_lowercase()) {
                        return None;
                    }
                    link_in(&raw, path_part)
                })
                .ok_or_else(|| format!("{} mails", files.len()))
        })
        .await;
        self.remember(link.rsplit('/').next().unwrap_or(""));
        link
    }

    /// Invites `email` with `role` as the org's owner, follows the mailed link
    /// and accepts it with `PASSWORD`: the way people join an organization.
    pub async fn invite_member(&self, org: &Org, email: &str, role: &str) -> Session {
        let r = self
            .req(
                Method::POST,
                &format!("/dev/v1/orgs/{}/invitations", org.org_id),
                Some(&org.owner),
                Some(json!({"email": email, "role": role, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 201, "invite {email}: {}", r.body);
        let link = self.mailed_link(email, "/app/invitations/").await;
        let token = link.rsplit('/').next().unwrap();
        let r = self
            .req(
                Method::POST,
                "/dev/v1/invitations/accept",
                None,
                Some(json!({"token": token, "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            r.status, 201,
            "accept the invitation of {email}: {}",
            r.body
        );
        Session {
            token: r.body["session_token"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
        }
    }

    /// Remembers a secret seen outside `req` (a page, a cookie) for the log check.
    pub fn remember(&self, secret: &str) {
        self.secrets.lock().unwrap().push(secret.to_owned());
    }

    /// The server process's id (for /proc figures).
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// Everything the server printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (at most `secs`) until the log contains `needle`; whether it does.
    pub async fn wait_for_log(&self, needle: &str, secs: u64) -> bool {
        poll(Duration::from_secs(secs), async || {
            if self.log().contains(needle) {
                Ok(())
            } else {
                Err(())
            }
        })
        .await
        .is_ok()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill();
        // The last lines the process wrote, read to the end of its output
        // (bounded: a process that left its pipes to a child would hang).
        let _ = self
            .log_done
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(5));
        let log = self.log();
        let leaked: Vec<String> = self
            .secrets
            .lock()
            .unwrap()
            .iter()
            .filter(|s| log.contains(s.as_str()))
            .map(|s| s.chars().take(12).collect())
            .collect();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        if !std::thread::panicking() {
            assert!(
                leaked.is_empty(),
                "secrets found in the server log: {leaked:?}…"
            );
        }
    }
}

/// The last link containing `path_part` in a raw mail (quoted-printable soft
/// line breaks undone).
pub fn link_in(raw: &str, path_part: &str) -> Option<String> {
    let text = raw
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .rfind(|w| w.starts_with("http") && w.contains(path_part))
        .map(str::to_owned)
}

pub fn cid(key: &Value) -> &str {
    key["client_id"].as_str().unwrap()
}

pub fn secret(key: &Value) -> &str {
    key["api_key"].as_str().unwrap()
}

pub fn perms(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(r, a)| json!({"resource": r, "access": a}))
            .collect(),
    )
}
