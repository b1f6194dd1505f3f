//! `spawn_app()`: the real `keygate` binary on `127.0.0.1:0` with a fresh data
//! dir, and a client that remembers every secret it was shown so the server's
//! log can be checked for them when the test ends.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct-horse-battery-staple-42";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub data_dir: PathBuf,
    pub dir: PathBuf,
    child: Child,
    log: Arc<Mutex<String>>,
    secrets: Mutex<Vec<String>>,
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

fn temp_dir() -> PathBuf {
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
    let dir = temp_dir();
    let data_dir = dir.join("data");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keygate"));
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .args(args)
        .env("RUST_LOG", "debug,sqlx=warn,hyper=info,hyper_util=info")
        .env_remove("KEYGATE_PEPPER")
        .env_remove("KEYGATE_SIGNING_KEYS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start keygate");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = log.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
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
    TestApp {
        base,
        http: reqwest::Client::builder().build().unwrap(),
        data_dir,
        dir,
        child,
        log,
        secrets: Mutex::new(vec![PASSWORD.to_owned()]),
    }
}

impl TestApp {
    /// Runs `keygate <args> --data-dir <this app's>` and returns stdout.
    pub fn cli(&self, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_keygate"))
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
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

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let resp = rb.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        let mut secrets = self.secrets.lock().unwrap();
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

    /// Everything the server printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`.
    pub async fn wait_for_log(&self, needle: &str, secs: u64) -> bool {
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            if self.log().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(20));
        let log = self.log();
        let leaked: Vec<String> = self
            .secrets
            .lock()
            .unwrap()
            .iter()
            .filter(|s| log.contains(s.as_str()))
            .map(|s| s.chars().take(12).collect())
            .collect();
        let _ = std::fs::remove_dir_all(&self.dir);
        if !std::thread::panicking() {
            assert!(
                leaked.is_empty(),
                "secrets found in the server log: {leaked:?}…"
            );
        }
    }
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
