//! The `keygate serve` process behind a [`TestApp`]: starting it (and again
//! after a kill), signals, the test clock, the `keygate` CLI on its data dir,
//! its log, and the stop at the end of a test that checks the log for secrets.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::{PASSWORD, PgDb, TestApp, eventually, poll};

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
