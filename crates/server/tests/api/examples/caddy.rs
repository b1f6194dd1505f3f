//! The Caddy example (`examples/caddy/Caddyfile`), run by the real Caddy.

use super::*;

/// The real Caddy running a Caddyfile; stopped when dropped.
struct Caddy {
    child: std::process::Child,
    base: String,
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Caddy with `text`, in which `{listen}` is replaced by a free local port.
/// `None` (and a loud line) where Caddy is not installed, except on CI.
async fn caddy(app: &TestApp, name: &str, text: &str) -> Option<Caddy> {
    let path = std::env::var("PATH").unwrap_or_default();
    let Some(bin) = path
        .split(':')
        .map(|d| std::path::Path::new(d).join("caddy"))
        .find(|p| p.is_file())
    else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("caddy is required in CI (apt-get install caddy)");
        }
        eprintln!("SKIPPED: caddy is not installed; the {name} example was not run");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = app.dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let text = text.replace("{listen}", &format!("127.0.0.1:{port}"));
    std::fs::write(dir.join("Caddyfile"), text).unwrap();
    let child = std::process::Command::new(bin)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(dir.join("Caddyfile"))
        .env("HOME", &dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let caddy = Caddy {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let what = format!("caddy listening with the {name} example");
    eventually(&what, Duration::from_secs(5), async || {
        std::net::TcpStream::connect(("127.0.0.1", port))
    })
    .await;
    Some(caddy)
}

fn caddy_example(app: &TestApp, up: std::net::SocketAddr) -> String {
    example("caddy/Caddyfile")
        .replace("127.0.0.1:9000", &up.to_string())
        .replace("127.0.0.1:8080", app.base.trim_start_matches("http://"))
        .replace("127.0.0.1:8000", "{listen}")
}

#[tokio::test]
async fn the_caddy_example_passes_keygates_refusals_through() {
    let up = echo_upstream().await;
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let Some(caddy) = caddy(&app, "caddy-refusals", &caddy_example(&app, up)).await else {
        return;
    };
    refusals_pass_through(&app, &org, &caddy.base).await;
    drop(caddy);
}

/// `examples/caddy/Caddyfile` in front of an API with Keygate as its
/// forward-auth, Keygate trusting Caddy: the same forged headers as nginx's.
#[tokio::test]
async fn the_caddy_example_sets_the_client_address_and_drops_forged_identity_headers() {
    let up = echo_upstream().await;
    let app = spawn_app_with(&["--trusted-proxy", "127.0.0.1"], &[]).await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let Some(caddy) = caddy(&app, "caddy", &caddy_example(&app, up)).await else {
        return;
    };
    let base = caddy.base.as_str();
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
    let url = format!("{base}/api/v1/balances/current");
    let ok = call_via(&app, &url, "127.0.0.2", "198.51.100.7", &token).await;
    upstream_saw_only_keygate(&ok, cid(&here), &org, Some(acct));
    assert!(
        ok.body["headers"].get("authorization").is_none(),
        "{}",
        ok.body
    );
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
    drop(caddy);
}
