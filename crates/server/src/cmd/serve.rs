//! `keygate serve`.

use std::time::Duration;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::cmd::alloc_count;
use crate::cmd::demo;
use crate::cmd::listen;
use crate::cmd::test_clock;
use crate::gateway;
use crate::http;
use crate::openapi;
use crate::state::app::App;
use crate::state::config::{LogFormat, ServeArgs};
use crate::state::secrets;
use crate::tasks::{self, TaskName, Tasks, upkeep};
use crate::ui;

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let mut settings = args.settings()?;
    // A catalog route over Keygate's own paths: refused before anything starts.
    gateway::prefixes(&settings.catalog)?;
    let store = if args.no_migrate {
        let store = args.data.open_store_unmigrated().await?;
        let pending = store.pending_migrations().await?;
        if !pending.is_empty() {
            return crate::cmd::refused::refuse(format!(
                "the database lacks {} migration(s) of this keygate ({}); run `keygate migrate` \
                 first, or start without --no-migrate",
                pending.len(),
                crate::cmd::migrate::list(&pending)
            ));
        }
        store
    } else {
        args.data.open_store().await?
    };
    let data_dir = args.data.data_dir.clone();
    let pepper = secrets::load_pepper(&data_dir, std::env::var("KEYGATE_PEPPER").ok().as_deref())?;
    let signing_env = std::env::var("KEYGATE_SIGNING_KEYS").ok();
    let tokens = secrets::load_signing_keys(&data_dir, signing_env.as_deref())?;
    if args.demo {
        settings.notify.allow_insecure_webhooks = true;
        settings.allow_insecure_issuers = true;
        println!(
            "demo: insecure webhooks and OIDC issuers allowed (http:// and loopback/private targets); never use --demo in production"
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
    if settings.allow_insecure_issuers {
        tracing::warn!(
            "insecure OIDC issuers allowed: federation rules may name http:// and loopback/private issuers"
        );
    }
    if settings.introspection_secret.is_none() {
        tracing::info!("no --introspection-secret: POST /oauth/introspect is off and answers 401");
    }
    match &settings.redis {
        Some(redis) => crate::state::rate_limits::redis::check_at_start(redis).await,
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
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::cmd::tls::acceptor(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let metrics_listener = match settings.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("listening on {at} (--metrics-listen)"))?,
        ),
        None => None,
    };
    if settings.notify.public_url.is_empty() {
        settings.notify.public_url = format!("{scheme}://{addr}");
    }
    // Listen before the cache loads, so no change slips between the two.
    let changes = store.subscribe_changes(crate::state::clock::now_ms).await?;
    let app = App::new(store, settings, pepper, tokens).await?;
    let resealed = crate::service::two_factor::seal_unbound_secrets(&app)
        .await
        .map_err(|e| anyhow::anyhow!("re-sealing two-factor secrets: {e:?}"))?;
    if resealed > 0 {
        tracing::info!(
            count = resealed,
            "two-factor secrets re-sealed bound to their users"
        );
    }
    let mut background = Tasks::default();
    let signing_keys_dir = signing_env.is_none().then_some(data_dir);
    tasks::start(&app, &mut background, changes, signing_keys_dir).await?;
    // Printed for people and for tests that start Keygate on port 0.
    println!("keygate listening on {scheme}://{addr}");
    println!("Developer app: {scheme}://{addr}/app");
    tracing::info!(%addr, "keygate started");
    if let Some(listener) = metrics_listener {
        let at = listener.local_addr()?;
        // Printed like the address above, for people and tests on port 0.
        println!("metrics listening on http://{at}/metrics");
        let router = http::metrics_router(app.clone());
        background.spawn(TaskName::MetricsListener, |stop| async move {
            if let Err(e) = listen::serve(listener, router, None, 1, stop.requested()).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let mut surfaces = alloc_count::route(
        http::router(app.clone())
            .merge(ui::router(app.clone()))
            .merge(gateway::router(app.clone())?)
            .merge(openapi::router()),
    );
    if args.test_clock {
        tracing::warn!(
            "--test-clock: POST /_test/clock moves this server's clock; never use it in production"
        );
        surfaces = surfaces.merge(test_clock::router());
    }
    let router = http::layers::common_layers(surfaces, app.clone());
    let served = listen::serve(
        listener,
        router,
        tls,
        crate::state::lanes::lanes_per_core(),
        shutdown(),
    )
    .await;
    // No call is counted any more: let every task finish its unit of work,
    // then write what was counted since the last flush.
    tracing::info!("stopping: the listener is closed; waiting for the background tasks");
    background.shutdown(TASKS_STOP_WITHIN).await;
    upkeep::flush(&app).await;
    // Nor are the queued audit events of failed logins.
    app.audit.close(Duration::from_secs(5)).await;
    tracing::info!("stopped");
    served?;
    Ok(())
}

/// How long a stop waits for the background tasks (a webhook delivery under
/// way has its own timeout, well below this).
const TASKS_STOP_WITHIN: Duration = Duration::from_secs(20);

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
