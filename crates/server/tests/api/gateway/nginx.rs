//! Forward-auth behind a real nginx with the example config: scopes enforced
//! by Keygate, the identity passed on.

use super::*;

/// A real nginx in front of the upstream, with Keygate answering auth_request,
/// configured by the shipped example.
#[tokio::test]
async fn nginx_with_the_example_config_enforces_scopes_through_forward_auth() {
    let Some(nginx) = find_program("nginx", &["/usr/sbin/nginx"]) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("nginx is required in CI (apt-get install nginx)");
        }
        eprintln!("SKIPPED: nginx is not installed; forward-auth through nginx was not tested");
        return;
    };
    let up = echo_upstream().await;
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/nginx/keygate.conf"
    ))
    .unwrap();
    let keygate = app.base.trim_start_matches("http://");
    let conf = example
        .replace("127.0.0.1:9000", &up.to_string())
        .replace("127.0.0.1:8080", keygate)
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"));
    let dir = app.dir.join("nginx");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let mut child = std::process::Command::new(nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-e", "stderr", "-g"])
        .arg(format!("daemon off; pid {}/nginx.pid;", dir.display()))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    eventually("nginx listening", Duration::from_secs(5), async || {
        std::net::TcpStream::connect(("127.0.0.1", port))
    })
    .await;
    let sk = app
        .scoped_key(&org, json!({"name": "n", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    // Login through nginx, too.
    let login = app
        .send(
            app.http
                .post(format!("{base}/api/v1/authentication/login"))
                .header("x-client-id", cid(&sk))
                .header("x-api-key", secret(&sk)),
        )
        .await;
    assert_eq!(login.status, 201);
    let token = login.body["token"].as_str().unwrap().to_owned();
    let ok = app
        .send(
            app.http
                .get(format!("{base}/api/v1/balances/current"))
                .bearer_auth(&token)
                .header("x-keygate-account-id", "acct_spoofed"),
        )
        .await;
    let denied = app
        .send(
            app.http
                .post(format!("{base}/api/v1/balances/current"))
                .bearer_auth(&token),
        )
        .await;
    let anonymous = app
        .send(app.http.get(format!("{base}/api/v1/balances/current")))
        .await;
    // SIGTERM, not SIGKILL: the master then stops its workers, which would
    // otherwise linger holding the test's stdout open.
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.body["headers"]["x-keygate-account-id"],
        org.accounts[0].as_str()
    );
    assert_eq!(ok.body["headers"]["x-keygate-client-id"], cid(&sk));
    assert!(ok.body["headers"].get("authorization").is_none());
    assert_eq!(denied.status, 403);
    assert_eq!(anonymous.status, 401);
}

fn find_program(name: &str, extra: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .chain(extra.iter().map(std::path::PathBuf::from))
        .find(|p| p.is_file())
}
