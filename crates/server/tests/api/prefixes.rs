//! Catalog routes outside `/api/`: the gateway and forward-auth serve every
//! prefix the `--config` catalog names; a route over Keygate's own paths
//! stops `serve` with exit 2 naming it.

use reqwest::Method;
use serde_json::json;

use crate::gateway::echo_upstream;
use crate::helpers::*;

fn config(dir: &std::path::Path, route: &str) -> std::path::PathBuf {
    let cfg = dir.join("keygate.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[resource]]\nname = \"charges\"\nlevel = \"org\"\ndescription = \"Charges\"\nroutes = [\"{route}\"]\n"
        ),
    )
    .unwrap();
    cfg
}

#[tokio::test]
async fn a_catalog_route_outside_api_is_served_by_the_gateway_and_forward_auth() {
    let up = echo_upstream().await;
    let dir = temp_dir();
    let cfg = config(&dir, "/v1/charges/**");
    let upstream = format!("http://{up}");
    let app = spawn_app_with(
        &["--config", cfg.to_str().unwrap(), "--upstream", &upstream],
        &[],
    )
    .await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app
        .scoped_key(
            &org,
            json!({"name": "charges", "org_permissions": perms(&[("charges", "read")])}),
        )
        .await;
    let token = app.token(&key, None).await;
    let r = app
        .send(
            app.http
                .get(format!("{}/v1/charges/1", app.base))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["path"], "/v1/charges/1");
    assert_eq!(r.body["headers"]["x-keygate-org-id"], org.org_id.as_str());
    // Read-only: a write is refused with Keygate's own JSON.
    let r = app
        .send(
            app.http
                .post(format!("{}/v1/charges/1", app.base))
                .bearer_auth(&token)
                .json(&json!({})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    let r = app
        .send(
            app.http
                .get(format!("{}/v1/charges/1", app.base))
                .bearer_auth("nope"),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Forward-auth: allowed for the read, refused for the write.
    for (method, want) in [("GET", 200), ("POST", 403)] {
        let r = app
            .send(
                app.http
                    .get(format!("{}/auth/nginx", app.base))
                    .bearer_auth(&token)
                    .header("x-original-method", method)
                    .header("x-original-uri", "/v1/charges/1"),
            )
            .await;
        assert_eq!(r.status, want, "{method}: {}", r.body);
    }
    // Paths no route covers are still Keygate's 404.
    let r = app.req(Method::GET, "/v2/charges/1", None, None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `serve` with the catalog, expecting it to stop: (exit code, stderr).
fn serve_refused(cfg: &std::path::Path, dir: &std::path::Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(cfg)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_remove("KEYGATE_DATABASE_URL")
        .env_remove("KEYGATE_LISTEN")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_catalog_route_over_keygates_own_paths_stops_serve() {
    for route in [
        "/dev/x/**",
        "/app/**",
        "/auth/verify",
        "/oauth/**",
        "/operator/v1/**",
        "/.well-known/**",
        "/docs",
        "/openapi.json",
        "/healthz",
        "/readyz",
        "/secret-scanning/**",
        "/*/charges",
        "/**",
    ] {
        let dir = temp_dir();
        let cfg = config(&dir, route);
        let (code, err) = serve_refused(&cfg, &dir);
        assert_eq!(code, Some(2), "{route}: {err}");
        assert!(err.contains(route), "{route}: {err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
