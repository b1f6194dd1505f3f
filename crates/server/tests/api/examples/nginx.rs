//! The nginx examples, run for real: a client that forges `X-Forwarded-For`
//! and `x-keygate-*` headers, and what the upstream and Keygate then see.

use super::*;

/// A client whose connections come from `source` (any 127.0.0.0/8 address
/// works on Linux loopback).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// The real nginx running a config; stopped (SIGTERM, so the master stops its
/// workers) when dropped.
struct Nginx {
    child: std::process::Child,
    base: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// nginx with `conf`, in which `{listen}` is replaced by a free local port.
/// `None` (and a loud line) where nginx is not installed, except on CI.
async fn nginx(app: &TestApp, name: &str, conf: &str) -> Option<Nginx> {
    let path = std::env::var("PATH").unwrap_or_default();
    let Some(bin) = path
        .split(':')
        .map(|d| std::path::Path::new(d).join("nginx"))
        .chain([std::path::PathBuf::from("/usr/sbin/nginx")])
        .find(|p| p.is_file())
    else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("nginx is required in CI (apt-get install nginx)");
        }
        eprintln!("SKIPPED: nginx is not installed; the {name} example was not run");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = app.dir.join(name);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let conf = conf.replace("{listen}", &format!("127.0.0.1:{port}"));
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = std::process::Command::new(bin)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-e", "stderr", "-g"])
        .arg(format!("daemon off; pid {}/nginx.pid;", dir.display()))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Nginx {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(nginx);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nginx did not start with the {name} example");
}

/// A balances reader limited to `networks`.
async fn allowlisted(app: &TestApp, org: &Org, name: &str, networks: &[&str]) -> Value {
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
            Some(&org.owner),
            Some(json!({"name": name, "allowed_networks": networks, "password": PASSWORD,
                        "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

/// An org-level key: its tokens name no account, so Keygate's answer has no
/// `x-keygate-account-id` to replace a client's.
async fn org_level(app: &TestApp, org: &Org) -> (String, String) {
    let key = app
        .scoped_key(
            org,
            json!({"name": "org", "org_permissions": perms(&[("billing_invoices", "read")])}),
        )
        .await;
    (cid(&key).to_owned(), app.token(&key, None).await)
}

/// Headers a client forges to pass for someone else.
const FORGED: &[(&str, &str)] = &[
    ("x-keygate-client-id", "cid_forged"),
    ("X-Keygate-Org-Id", "org_forged"),
    ("x-keygate-account-id", "acct_forged"),
    ("X-KEYGATE-ACCOUNT-ID", "acct_forged_again"),
    ("x_keygate_account_id", "acct_forged_underscore"),
];

/// Logs in through `base` from `source` with a forged `X-Forwarded-For`.
async fn login_via(
    app: &TestApp,
    base: &str,
    source: &str,
    xff: &str,
    key: &Value,
    account: &str,
) -> Resp {
    app.send(
        client_from(source)
            .post(format!("{base}/api/v1/authentication/login"))
            .header("x-client-id", cid(key))
            .header("x-api-key", secret(key))
            .header("x-login-as", account)
            .header("x-forwarded-for", xff),
    )
    .await
}

async fn call_via(app: &TestApp, url: &str, source: &str, xff: &str, token: &str) -> Resp {
    let mut rb = client_from(source)
        .get(url)
        .bearer_auth(token)
        .header("x-forwarded-for", xff);
    for (k, v) in FORGED {
        rb = rb.header(*k, *v);
    }
    app.send(rb).await
}

/// What the upstream saw of Keygate's identity headers: the real ones, and
/// none of the forged values.
fn upstream_saw_only_keygate(r: &Resp, client_id: &str, org: &Org, account: Option<&str>) {
    assert_eq!(r.status, 200, "{}", r.body);
    let h = &r.body["headers"];
    assert_eq!(h["x-keygate-client-id"], client_id, "{h}");
    assert_eq!(h["x-keygate-org-id"], org.org_id.as_str(), "{h}");
    match account {
        Some(a) => assert_eq!(h["x-keygate-account-id"], a, "{h}"),
        None => assert!(h.get("x-keygate-account-id").is_none(), "{h}"),
    }
    let text = h.to_string();
    assert!(
        !text.contains("forged"),
        "a forged header reached the upstream: {h}"
    );
}

/// `examples/nginx/keygate.conf` in front of an API with Keygate as its
/// forward-auth, Keygate trusting nginx. Clients connect from 127.0.0.2
/// (allowed for one key) or 127.0.0.3, each forging `X-Forwarded-For`.
#[tokio::test]
async fn the_nginx_example_sets_the_client_address_and_drops_forged_identity_headers() {
    let up = echo_upstream().await;
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let conf = example("nginx/keygate.conf")
        .replace("127.0.0.1:9000", &up.to_string())
        .replace("127.0.0.1:8080", app.base.trim_start_matches("http://"))
        .replace("127.0.0.1:8000", "{listen}");
    let Some(nginx) = nginx(&app, "nginx", &conf).await else {
        return;
    };
    let base = nginx.base.as_str();
    let acct = org.accounts[0].as_str();
    // Allowed only from nginx's own address (the proxy's network) or from a
    // network the client is not in: a forged header opens neither.
    let lb_only = allowlisted(&app, &org, "lb only", &["127.0.0.1"]).await;
    let office = allowlisted(&app, &org, "office", &["198.51.100.0/24"]).await;
    for (key, xff) in [
        (&lb_only, "x"),
        (&lb_only, "unknown"),
        (&lb_only, "1.2.3.4:80"),
        (&lb_only, "127.0.0.1"),
        (&office, "198.51.100.7"),
    ] {
        let r = login_via(&app, base, "127.0.0.2", xff, key, acct).await;
        assert_eq!(r.status, 401, "{xff}: {}", r.body);
    }
    // The real address counts: allowed from 127.0.0.2, whatever it claims.
    let here = allowlisted(&app, &org, "here", &["127.0.0.2"]).await;
    let r = login_via(&app, base, "127.0.0.2", "203.0.113.9", &here, acct).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        login_via(&app, base, "127.0.0.3", "127.0.0.2", &here, acct)
            .await
            .status,
        401
    );
    let url = format!("{base}/api/v1/balances/current");
    let ok = call_via(&app, &url, "127.0.0.2", "198.51.100.7", &token).await;
    upstream_saw_only_keygate(&ok, cid(&here), &org, Some(acct));
    assert_eq!(ok.body["headers"]["x-forwarded-for"], "127.0.0.2");
    let r = call_via(&app, &url, "127.0.0.3", "127.0.0.2", &token).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // A token of the proxy-only key (issued at Keygate directly, from
    // 127.0.0.1) is refused through nginx whatever the client forges.
    let lb_token = app.token(&lb_only, Some(acct)).await;
    for xff in ["x", "1.2.3.4:80", "127.0.0.1"] {
        let r = call_via(&app, &url, "127.0.0.2", xff, &lb_token).await;
        assert_eq!(r.status, 403, "{xff}: {}", r.body);
    }
    // An org-level token: Keygate's answer has no account id, and the
    // client's forged one does not reach the API either.
    let (org_key, org_token) = org_level(&app, &org).await;
    let r = call_via(
        &app,
        &format!("{base}/api/v1/invoices/list"),
        "127.0.0.2",
        "x",
        &org_token,
    )
    .await;
    upstream_saw_only_keygate(&r, &org_key, &org, None);
    drop(nginx);
}

/// `examples/nginx-lb/nginx.conf` in front of Keygate (one instance for all
/// three, with the built-in gateway to an API), Keygate trusting nginx.
#[tokio::test]
async fn the_nginx_load_balancer_example_sets_the_client_address() {
    let up = echo_upstream().await;
    let upstream = format!("http://{up}");
    let app = spawn_app_with(
        &["--trusted-proxy", "127.0.0.1", "--upstream", &upstream],
        &[],
    )
    .await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let keygate = app.base.trim_start_matches("http://");
    let conf = example("nginx-lb/nginx.conf")
        .replace("10.0.0.11:8080", keygate)
        .replace("10.0.0.12:8080", keygate)
        .replace("10.0.0.13:8080", keygate)
        .replace("listen 80;", "listen {listen};");
    let Some(nginx) = nginx(&app, "nginx-lb", &conf).await else {
        return;
    };
    let base = nginx.base.as_str();
    let acct = org.accounts[0].as_str();
    let lb_only = allowlisted(&app, &org, "lb only", &["127.0.0.1"]).await;
    for xff in ["x", "unknown", "1.2.3.4:80", "127.0.0.1"] {
        let r = login_via(&app, base, "127.0.0.2", xff, &lb_only, acct).await;
        assert_eq!(r.status, 401, "{xff}: {}", r.body);
    }
    let here = allowlisted(&app, &org, "here", &["127.0.0.2"]).await;
    let r = login_via(&app, base, "127.0.0.2", "203.0.113.9", &here, acct).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        login_via(&app, base, "127.0.0.3", "127.0.0.2", &here, acct)
            .await
            .status,
        401
    );
    // The built-in gateway behind the balancer: the real address decides,
    // and Keygate's identity alone reaches the API.
    let url = format!("{base}/api/v1/balances/current");
    let ok = call_via(&app, &url, "127.0.0.2", "198.51.100.7", &token).await;
    upstream_saw_only_keygate(&ok, cid(&here), &org, Some(acct));
    let r = call_via(&app, &url, "127.0.0.3", "127.0.0.2", &token).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let lb_token = app.token(&lb_only, Some(acct)).await;
    for xff in ["x", "1.2.3.4:80", "127.0.0.1"] {
        let r = call_via(&app, &url, "127.0.0.2", xff, &lb_token).await;
        assert_eq!(r.status, 403, "{xff}: {}", r.body);
    }
    let (org_key, org_token) = org_level(&app, &org).await;
    let r = call_via(
        &app,
        &format!("{base}/api/v1/invoices/list"),
        "127.0.0.2",
        "x",
        &org_token,
    )
    .await;
    upstream_saw_only_keygate(&r, &org_key, &org, None);
    // A sign-in through the balancer records the real address.
    let r = app
        .send(
            client_from("127.0.0.2")
                .post(format!("{base}/dev/v1/sessions"))
                .header("x-forwarded-for", "203.0.113.9")
                .json(&json!({"email": "owner@acme.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let session = r.body["session_token"].as_str().unwrap().to_owned();
    let r = app
        .send(
            client_from("127.0.0.2")
                .get(format!("{base}/dev/v1/me/sessions"))
                .bearer_auth(&session),
        )
        .await;
    let current: Vec<&Value> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current[0]["ip"], "127.0.0.2", "{}", r.body);
    drop(nginx);
}
