//! `keygate dev …`: hidden tools for benchmarks. Not part of the product.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use keygate_core::crypto::{Pepper, random_base62};
use keygate_core::token::{Claims, ISSUER, TokenKey, TokenKeys};
use keygate_core::{Catalog, ClientId, login_target};

use crate::state::config::DataArgs;
use crate::state::secrets;

/// The machine's ceiling and floors, on the same stack as Keygate (axum on
/// `serve`'s lanes, one single-threaded runtime per core, `cmd/listen.rs`): `/hello` does nothing; `/floor/login` does
/// one HMAC-SHA-256 and one Ed25519 signature (the least a login must do);
/// `/floor/verify` verifies one Ed25519 signature (the least a never-seen
/// token costs); `/floor/proxy` forwards to `--upstream` with no check at all
/// (the least a gateway request costs). Every other path answers `hello`, so it also serves as the
/// trivial upstream behind the gateway.
pub async fn hello(listen: std::net::SocketAddr, upstream: Option<String>) -> anyhow::Result<()> {
    use axum::body::Body;
    use axum::response::IntoResponse as _;
    // One pool per lane, as the gateway's (`gateway::Upstream`).
    let client = Arc::new(crate::state::lanes::PerLane::new(|| {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build::<_, Body>(connector)
    }));
    let upstream: Option<axum::http::Uri> = match upstream {
        Some(u) => Some(format!("{}/hello", u.trim_end_matches('/')).parse()?),
        None => None,
    };
    let key = TokenKey::from_seed([7; 32]);
    let keys = Arc::new(TokenKeys::new(vec![key]).context("a key")?);
    let pepper = Arc::new(Pepper::new(&[9; 32]));
    let claims = Claims {
        iss: ISSUER.into(),
        sub: ClientId::generate(),
        org_id: keygate_core::OrgId::generate(),
        account_id: None,
        r#gen: 1,
        scope: "balances:read".into(),
        iat: 0,
        exp: i64::MAX / 2,
        jti: random_base62(16),
        narrowed: false,
        cnf: None,
    };
    let token: Arc<str> = keys.sign(&claims).into();
    let (k1, p1) = (keys.clone(), pepper.clone());
    let base_claims = Arc::new(floor_claims());
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/floor/login",
            get(move || {
                let (k, p, c) = (k1.clone(), p1.clone(), base_claims.clone());
                async move {
                    let d = p.digest(b"kg_live_0123456789abcdefghijklmnopqrstuv");
                    std::hint::black_box(d);
                    // Like a login: the claims change only in `jti`.
                    let mut c = (*c).clone();
                    c.jti = random_base62(16);
                    k.sign(&c)
                }
            }),
        )
        .route(
            "/floor/verify",
            get(move || {
                let (k, t) = (keys.clone(), token.clone());
                async move { if k.verify(&t, 1).is_ok() { "ok" } else { "bad" } }
            }),
        )
        .route(
            "/floor/proxy",
            get(move || {
                let (c, up) = (client.clone(), upstream.clone());
                async move {
                    let Some(up) = up else {
                        return "no --upstream".into_response();
                    };
                    let req = axum::http::Request::get(up).body(Body::empty());
                    match req {
                        Ok(req) => match c.get().request(req).await {
                            Ok(r) => r.map(Body::new).into_response(),
                            Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
                        },
                        Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
                    }
                }
            }),
        )
        .fallback(|| async { "hello" });
    let app = crate::cmd::alloc_count::route(app);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("hello listening on http://{}", listener.local_addr()?);
    let lanes = crate::state::lanes::lanes_per_core();
    crate::cmd::listen::serve(listener, app, None, lanes, std::future::pending()).await?;
    Ok(())
}

fn floor_claims() -> Claims {
    Claims {
        iss: ISSUER.into(),
        sub: ClientId::generate(),
        org_id: keygate_core::OrgId::generate(),
        account_id: None,
        r#gen: 1,
        scope: "balances:read".into(),
        iat: 1,
        exp: 2,
        jti: random_base62(16),
        narrowed: false,
        cnf: None,
    }
}

/// Signs `count` distinct tokens for the keys listed in `keys` (`client_id
/// api_key` lines), exactly as login would (same claims, same signing key),
/// for measuring never-seen tokens. One token per line on stdout.
pub async fn mint_tokens(
    data: &DataArgs,
    keys: &std::path::Path,
    count: usize,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let store = data.open_store().await?;
    let tokens = secrets::load_signing_keys(
        &data.data_dir,
        std::env::var("KEYGATE_SIGNING_KEYS").ok().as_deref(),
    )?;
    let catalog = Catalog::default_catalog();
    let mut claims = Vec::new();
    for line in std::fs::read_to_string(keys)?.lines().take(1000) {
        let Some((client_id, _)) = line.split_once(' ') else {
            continue;
        };
        let client_id = ClientId::parse(client_id).map_err(|_| anyhow::anyhow!("bad client id"))?;
        let k = store
            .key_by_client_id(&client_id)
            .await?
            .context("unknown client id")?;
        let target = login_target(&k.scope, None, |_| true)
            .map_err(|_| anyhow::anyhow!("key cannot log in"))?;
        let now = crate::state::clock::now_ms() / 1000;
        claims.push(Claims {
            iss: ISSUER.into(),
            sub: k.client_id.clone(),
            org_id: k.org_id.clone(),
            account_id: target.account().cloned(),
            r#gen: k.generation,
            scope: k.scope.scope_string(&catalog, &target),
            iat: now,
            exp: now + 1800,
            jti: String::new(),
            narrowed: false,
            cnf: None,
        });
    }
    anyhow::ensure!(!claims.is_empty(), "no keys in {}", keys.display());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..count {
        let mut c = claims[i % claims.len()].clone();
        c.jti = random_base62(16);
        writeln!(out, "{}", tokens.sign(&c))?;
    }
    out.flush()?;
    Ok(())
}
