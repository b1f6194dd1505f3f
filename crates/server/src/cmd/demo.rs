//! `serve --demo`: a demo organization to click through, and a small upstream
//! so the quickstart has a protected API to call.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::Request;
use axum::routing::any;
use keygate_core::crypto::random_base62;
use keygate_store::Store;

use crate::service::orgs;

pub const DEMO_EMAIL: &str = "demo@keygate.local";

/// Fills an empty database and prints the owner's credentials once.
pub async fn seed(store: &dyn Store) -> anyhow::Result<()> {
    if !store.is_empty().await? {
        println!(
            "demo: the database already has data; sign in as {DEMO_EMAIL} with the password printed when it was created"
        );
        return Ok(());
    }
    let password = random_base62(20);
    let created = orgs::create_org(
        store,
        "Demo Org",
        DEMO_EMAIL,
        orgs::Owner::New {
            password: &password,
        },
        &["Demo HK".to_owned(), "Demo UK".to_owned()],
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the demo organization: {e:?}"))?;
    // Printed to the terminal on purpose, once; never through the log.
    println!("demo: organization {} with accounts:", created.org_id);
    for a in &created.accounts {
        println!("demo:   {} ({})", a.account_id, a.name);
    }
    println!("demo: sign in as {DEMO_EMAIL} with password {password}");
    Ok(())
}

/// A stand-in API on a free loopback port that answers every request with what
/// it received, including the identity headers the gateway adds.
pub async fn start_upstream() -> anyhow::Result<SocketAddr> {
    let app = axum::Router::new().fallback(any(|req: Request| async move {
        let header = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Json(serde_json::json!({
            "upstream": "keygate demo upstream",
            "method": req.method().as_str(),
            "path": req.uri().path(),
            "client_id": header("x-keygate-client-id"),
            "org_id": header("x-keygate-org-id"),
            "account_id": header("x-keygate-account-id"),
        }))
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}
