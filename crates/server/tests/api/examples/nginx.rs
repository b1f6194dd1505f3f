//! The nginx examples (`examples/nginx`, `examples/nginx-lb`), run by the
//! real nginx with clients that forge headers.

use super::*;

#[test]
fn the_nginx_example_asks_the_nginx_endpoint() {
    let conf = example("nginx/keygate.conf");
    assert!(conf.contains("proxy_pass http://keygate/auth/nginx;"));
    assert!(conf.contains("proxy_set_header X-Original-Method $request_method;"));
    assert!(conf.contains("proxy_set_header X-Original-URI $request_uri;"));
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
    let what = format!("nginx listening with the {name} example");
    eventually(&what, Duration::from_secs(5), async || {
        std::net::TcpStream::connect(("127.0.0.1", port))
    })
    .await;
    Some(nginx)
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

#[tokio::test]
async fn the_nginx_example_passes_keygates_refusals_through() {
    let up = echo_upstream().await;
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let conf = example("nginx/keygate.conf")
        .replace("127.0.0.1:9000", &up.to_string())
        .replace("127.0.0.1:8080", app.base.trim_start_matches("http://"))
        .replace("127.0.0.1:8000", "{listen}");
    let Some(nginx) = nginx(&app, "nginx-refusals", &conf).await else {
        return;
    };
    refusals_pass_through(&app, &org, &nginx.base).await;
    drop(nginx);
}
