//! `keygate serve`.

use std::time::Duration;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::app::{App, AppState};
use crate::config::{LogFormat, ServeArgs};
use crate::{demo, gateway, http, lifecycle, listen, notify, openapi, secrets, sync, ui, upkeep};

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let mut settings = args.settings()?;
    let store = args.data.open_store().await?;
    let data_dir = args.data.data_dir.clone();
    let pepper = secrets::load_pepper(&data_dir, std::env::var("KEYGATE_PEPPER").ok().as_deref())?;
    let signing_env = std::env::var("KEYGATE_SIGNING_KEYS").ok();
    let tokens = secrets::load_signing_keys(&data_dir, signing_env.as_deref())?;
    if args.demo {
        settings.notify.allow_insecure_webhooks = true;
        println!(
            "demo: insecure webhooks allowed (http:// and loopback/private targets); never use --demo in production"
        );
        demo::seed(store.as_ref()).await?;
        if settings.upstream.is_none() {
            let addr = demo::start_upstream().await?;
            println!("demo: no --upstream given; proxying /api/** to a demo echo server on {addr}");
            settings.upstream = Some(format!("http://{addr}"));
        }
    }
    let listen = settings.listen;
    if settings.notify.allow_insecure_webhooks {
        tracing::warn!(
            "insecure webhooks allowed: http:// and loopback/private targets are accepted"
        );
    }
    if settings.introspection_secret.is_none() {
        tracing::info!("no --introspection-secret: POST /oauth/introspect is off and answers 401");
    }
    match &settings.redis {
        Some(redis) => crate::key_limits::redis::check_at_start(redis).await,
        None => tracing::info!(
            "no --redis-url: per-key rate limits are enforced by each instance alone"
        ),
    }
    if settings.notify.smtp_url.is_none() {
        tracing::info!(dir = %settings.notify.mail_dir.display(), "no --smtp-url: notification mail is written as .eml files");
    }
    // Bound first: the default base of mailed links is the address actually bound.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match settings.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("listening on {at} (--metrics-listen)"))?,
        ),
        None => None,
    };
    if settings.notify.public_url.is_empty() {
        settings.notify.public_url = format!("http://{addr}");
    }
    // Listen before the cache loads, so no change slips between the two.
    let changes = store.subscribe_changes().await?;
    let app = App::new(store, settings, pepper, tokens).await?;
    if let Some(feed) = changes {
        sync::follow(app.clone(), feed);
    }
    notify::start(app.clone())?;
    upkeep::start(app.clone());
    crate::key_limits::start(app.key_limits.clone(), app.settings.redis.clone());
    lifecycle::start(app.clone());
    if signing_env.is_none() {
        watch_signing_keys(app.clone(), data_dir);
    }
    // Printed for people and for tests that start Keygate on port 0.
    println!("keygate listening on http://{addr}");
    println!("Developer app: http://{addr}/app");
    tracing::info!(%addr, "keygate started");
    if let Some(listener) = metrics_listener {
        let at = listener.local_addr()?;
        // Printed like the address above, for people and tests on port 0.
        println!("metrics listening on http://{at}/metrics");
        let router = http::metrics_router(app.clone());
        tokio::spawn(async move {
            if let Err(e) = listen::serve(listener, router, shutdown()).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let router = http::common_layers(
        crate::alloc_count::route(
            http::router(app.clone())
                .merge(ui::router(app.clone()))
                .merge(gateway::router(app.clone())?)
                .merge(openapi::router()),
        ),
        app.clone(),
    );
    let served = listen::serve(listener, router, shutdown()).await;
    // What was counted since the last flush is not lost on a clean stop.
    upkeep::flush(&app).await;
    served?;
    Ok(())
}

/// The log goes to stdout. The plain `println!` lines above (the address, the
/// demo notes) are not log lines and stay plain in either format.
fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stdout);
    let _ = match format {
        LogFormat::Text => fmt.try_init(),
        // `flatten_event`: the message and fields at the top level; the
        // request's span (with its `request_id`) under `span`.
        LogFormat::Json => fmt.json().flatten_event(true).try_init(),
    };
}

/// Picks up `keygate keys rotate-signing-key` run against the same data dir.
fn watch_signing_keys(app: AppState, data_dir: std::path::PathBuf) {
    tokio::spawn(async move {
        let path = data_dir.join(secrets::SIGNING_KEYS_FILE);
        let mut last = std::fs::read_to_string(&path).unwrap_or_default();
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let Ok(now) = std::fs::read_to_string(&path) else {
                continue;
            };
            if now != last {
                match secrets::parse_signing_keys(&now) {
                    Ok(keys) => {
                        tracing::info!(kid = keys.current_kid(), "signing keys reloaded");
                        app.set_signing_keys(keys);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "signing-keys file is invalid; keeping the old keys")
                    }
                }
                last = now;
            }
        }
    });
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
