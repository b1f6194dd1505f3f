//! Through the real nginx: what reaches the upstream when a client's path
//! holds a raw hash.

use super::*;

/// nginx in front, asking `/auth/nginx` as the shipped example does (a config
/// of this test's own, so that it does not follow the example's changes).
const NGINX_CONF: &str = "worker_processes 1;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:NGINX_PORT;
        location /api/ {
            auth_request /_keygate_verify;
            proxy_set_header Authorization \"\";
            proxy_pass http://UPSTREAM;
        }
        location = /_keygate_verify {
            internal;
            proxy_pass http://KEYGATE/auth/nginx;
            proxy_pass_request_body off;
            proxy_set_header Content-Length \"\";
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
        }
    }
}
";

/// The review's request through a real nginx: nginx hands Keygate the raw
/// `$request_uri`, `#` and all, and would pass the same raw path upstream.
#[tokio::test]
async fn through_nginx_a_raw_hash_in_the_path_never_reaches_the_upstream() {
    let nginx = std::path::Path::new("/usr/sbin/nginx");
    if !nginx.is_file() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "nginx is required in CI"
        );
        eprintln!("SKIPPED: nginx is not installed");
        return;
    }
    let s = setup(&[]).await;
    let up = listing_upstream().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = NGINX_CONF
        .replace("NGINX_PORT", &port.to_string())
        .replace("UPSTREAM", &up.to_string())
        .replace("KEYGATE", s.host());
    let dir = s.app.dir.join("nginx-upstream");
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
    let ready = crate::helpers::poll(std::time::Duration::from_secs(5), async || {
        std::net::TcpStream::connect(("127.0.0.1", port))
    })
    .await
    .is_ok();
    let send = |target: &str| {
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            s.token
        );
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            c.write_all(head.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            let _ = c.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).into_owned()
        }
    };
    let honest = send("/api/v1/balances/current").await;
    let hashed = send("/api/v1/balances/current#/../../transfers/create").await;
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    assert!(ready, "nginx did not start");
    assert!(honest.starts_with("HTTP/1.1 200"), "{honest}");
    // Keygate's 400 to the subrequest: nginx's auth_request answers 500 for
    // anything but 2xx, 401 and 403 (before the fix: 200, from the upstream).
    assert!(hashed.starts_with("HTTP/1.1 500"), "{hashed}");
    assert!(
        !hashed.contains("\"headers\""),
        "the upstream answered: {hashed}"
    );
}
