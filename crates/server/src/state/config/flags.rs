//! The command-line flags: where the data lives (every subcommand), and
//! `serve`'s, each also read from `KEYGATE_<FLAG>`. An unset flag stays unset,
//! so that the `--config` file can set it.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use keygate_store::Store;
use keygate_store::postgres::PgStore;
use keygate_store::sqlite::SqliteStore;

/// Where the data lives; every subcommand takes these.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Folder for the SQLite file, the pepper and the signing keys.
    #[arg(long, env = "KEYGATE_DATA_DIR", default_value = "./keygate-data")]
    pub data_dir: PathBuf,
    /// `sqlite://<file>` (default `sqlite://<data dir>/keygate.db`), or
    /// `postgres://user@host:port/db` to run several instances on one database.
    #[arg(long, env = "KEYGATE_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl DataArgs {
    /// Opens the database `--database-url` names (SQLite in the data dir by
    /// default), creating the data dir (0700) and the SQLite file (0600) first,
    /// and brings its schema up to date.
    pub async fn open_store(&self) -> anyhow::Result<Arc<dyn Store>> {
        let store = self.open_store_unmigrated().await?;
        store.migrate().await?;
        Ok(store)
    }

    /// As `open_store`, leaving the schema as it is: `Store::pending_migrations`
    /// says what it lacks.
    pub async fn open_store_unmigrated(&self) -> anyhow::Result<Arc<dyn Store>> {
        for warning in crate::state::data_dir::prepare(&self.data_dir, &self.database_url())? {
            tracing::warn!("{warning}");
        }
        self.open_as_it_is().await
    }

    /// Opens the database as it is: no data dir or owner-only SQLite file made
    /// first, no migration (`keygate check`, which must change nothing).
    pub async fn open_as_it_is(&self) -> anyhow::Result<Arc<dyn Store>> {
        let url = self.database_url();
        if url.starts_with("sqlite:") {
            Ok(Arc::new(SqliteStore::open_unmigrated(&url).await?))
        } else if self.is_postgres() {
            Ok(Arc::new(PgStore::open_unmigrated(&url).await?))
        } else {
            // Not echoed: a database URL may carry a password.
            anyhow::bail!("unsupported --database-url: use sqlite://<file> or postgres://…")
        }
    }

    pub fn is_postgres(&self) -> bool {
        let url = self.database_url();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// The SQLite file, unless the database is PostgreSQL (or in memory).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        crate::state::data_dir::sqlite_file(&self.database_url())
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/keygate.db", self.data_dir.display()))
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    // The defaults of these flags are written into their help, not given to clap
    // as `default_value`: an unset flag must stay unset so the `--config` file
    // can set it (flag > variable > file > default). `serve --help` is tested.
    /// Address to listen on, `host:port` (a host name binds its first address);
    /// port 0 picks a free one (the log says which) [default: 127.0.0.1:8080]
    #[arg(long, env = "KEYGATE_LISTEN")]
    pub listen: Option<String>,
    /// TOML file with settings and `[[resource]]` tables replacing the catalog.
    #[arg(long, env = "KEYGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Proxy allowed `/api/**` requests to this server.
    #[arg(long, env = "KEYGATE_UPSTREAM")]
    pub upstream: Option<String>,
    /// Fill an empty database with a demo organization and print its owner's password.
    #[arg(long, env = "KEYGATE_DEMO")]
    pub demo: bool,
    /// Tests only: `POST /_test/clock` moves the server's clock forward.
    #[arg(long, env = "KEYGATE_TEST_CLOCK", hide = true)]
    pub test_clock: bool,
    /// Leave the database schema as it is: a schema this build would migrate
    /// stops the server (exit 2) until `keygate migrate` has run. For rollouts
    /// where one job migrates and many instances start.
    #[arg(long, env = "KEYGATE_NO_MIGRATE")]
    pub no_migrate: bool,
    /// Access-token lifetime in seconds, 1 to 86400 [default: 1800]
    #[arg(long, env = "KEYGATE_TOKEN_TTL")]
    pub token_ttl: Option<u64>,
    /// Secret that callers of `POST /oauth/introspect` send as the HTTP Basic password.
    #[arg(long, env = "KEYGATE_INTROSPECTION_SECRET", hide_env_values = true)]
    pub introspection_secret: Option<String>,
    /// Several instances: settle per-key rate-limit counts through this Redis
    /// (`redis://[[user]:password@]host[:port][/db]`) so a limit holds across
    /// all of them. Without it each instance enforces limits by itself.
    #[arg(long, env = "KEYGATE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Upstream timeout in seconds [default: 30]
    #[arg(long, env = "KEYGATE_UPSTREAM_TIMEOUT")]
    pub upstream_timeout: Option<u64>,
    /// A request body must be in this many seconds after the request's
    /// headers, 1 to 3600, else 408 and the connection is closed; on every
    /// surface, the gateway's proxied bodies too [default: 30]
    #[arg(long, env = "KEYGATE_BODY_TIMEOUT")]
    pub body_timeout: Option<u64>,
    /// A request body waited on for more than 5 s must come at this many
    /// bytes a second or faster on average (time spent waiting for the
    /// client only), else 408 and the connection is closed; 0 turns the rate
    /// off [default: 1024]
    #[arg(long, env = "KEYGATE_BODY_MIN_RATE")]
    pub body_min_rate: Option<u32>,
    /// Forward the client's `Authorization` header to the upstream.
    #[arg(long, env = "KEYGATE_FORWARD_AUTHORIZATION")]
    pub forward_authorization: bool,
    /// The `<env>` part of new keys (`kg_<env>_…`).
    #[arg(long, env = "KEYGATE_KEY_ENV")]
    pub key_env: Option<String>,
    /// A load balancer or proxy in front of Keygate, as an address or a
    /// network (`10.0.0.0/8`, `fd00::/8`): requests from it take the client's
    /// address from `X-Forwarded-For` (walked from the right past trusted
    /// proxies; an entry that is not a plain address is refused with 400).
    /// Repeat, or comma-separate.
    #[arg(
        long = "trusted-proxy",
        env = "KEYGATE_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = keygate_core::network::Cidr::parse
    )]
    pub trusted_proxies: Vec<keygate_core::network::Cidr>,
    /// PostgreSQL only: re-read the whole credential cache this often (seconds),
    /// a backstop for change notices that never arrived [default: 60]
    #[arg(long, env = "KEYGATE_CACHE_RELOAD_INTERVAL")]
    pub cache_reload_interval: Option<u64>,
    /// PostgreSQL only: when the cache could not be re-read for this long
    /// (seconds), logins and token checks answer 503 instead of trusting it
    /// [default: 300]
    #[arg(long, env = "KEYGATE_CACHE_MAX_STALE")]
    pub cache_max_stale: Option<u64>,
    /// SMTP server for notification mail: `smtp://host:port` (plain),
    /// `smtp://user:pass@host:port?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host:port` (TLS). Without it, each mail is written as
    /// an .eml file under `<data dir>/mail/`.
    #[arg(long, env = "KEYGATE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From address of notification mail.
    #[arg(long, env = "KEYGATE_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Allow http:// webhooks and loopback or private targets (local
    /// development and tests only).
    #[arg(long, env = "KEYGATE_ALLOW_INSECURE_WEBHOOKS")]
    pub allow_insecure_webhooks: bool,
    /// Allow http:// and loopback or private OpenID Connect issuers (single
    /// sign-on, and keys' federation rules for token exchange; local
    /// development, tests and demos only).
    #[arg(long, env = "KEYGATE_ALLOW_INSECURE_ISSUERS")]
    pub allow_insecure_issuers: bool,
    /// First retry delay of a failed notification in milliseconds; each retry
    /// waits about twice as long as the one before. Lower it for tests
    /// [default: 4000]
    #[arg(long, env = "KEYGATE_RETRY_BASE_MS")]
    pub retry_base_ms: Option<u64>,
    /// The base of every link Keygate mails (invitations, password resets),
    /// e.g. `https://keygate.example.com`. Default `http://<listen address>`
    /// (the address actually bound).
    #[arg(long, env = "KEYGATE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A session unused for this many seconds ends (default 7200); every
    /// session ends 12 hours after sign-in regardless.
    #[arg(long, env = "KEYGATE_SESSION_IDLE_TIMEOUT")]
    pub session_idle_timeout: Option<u64>,
    /// How often each instance writes the usage it counted in memory (last
    /// used, calls per key) to the database, in seconds, 1 to 10
    /// [default: 5]
    #[arg(long, env = "KEYGATE_USAGE_FLUSH_INTERVAL")]
    pub usage_flush_interval: Option<u64>,
    /// Send `scoped_key.unused` / `admin_key.unused` once when a key has not
    /// been used (no login, no token check) for this many days, 1 to 3650
    /// [default: 90]
    #[arg(long, env = "KEYGATE_UNUSED_KEY_DAYS")]
    pub unused_key_days: Option<u32>,
    /// GitHub secret scanning: the JSON file of GitHub's public keys for it
    /// (`{"public_keys":[{"key_identifier","key","is_current"}]}`), re-read
    /// when it changes. Turns on `POST /secret-scanning/github`.
    #[arg(long, env = "KEYGATE_GITHUB_SCANNING_KEYS")]
    pub github_scanning_keys: Option<PathBuf>,
    /// GitLab token revocation: the bearer token GitLab sends. Turns on
    /// `/secret-scanning/gitlab/v1/…`.
    #[arg(long, env = "KEYGATE_GITLAB_REVOCATION_TOKEN", hide_env_values = true)]
    pub gitlab_revocation_token: Option<String>,
    /// How often (seconds, 1 to 3600) the key lifecycle sweeper looks for
    /// grace periods that ended and expiries that are near or passed, and
    /// sends their events. Logins and token checks never wait for it: they
    /// compare the times themselves [default: 10]
    #[arg(long, env = "KEYGATE_LIFECYCLE_INTERVAL")]
    pub lifecycle_interval: Option<u64>,
    /// The most audit events of failed logins held in memory while the
    /// database cannot take them (they are retried until it can); past it,
    /// new ones are dropped and counted in
    /// `keygate_audit_events_dropped_total`, 100 to 10000000 [default: 10000]
    #[arg(long, env = "KEYGATE_AUDIT_QUEUE_CAPACITY")]
    pub audit_queue_capacity: Option<usize>,
    /// Log lines as plain text or as one JSON object per line. Read before the
    /// `--config` file, so only the flag or its variable set it.
    #[arg(long, env = "KEYGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Serve Prometheus metrics at `http://<this address>/metrics`, on a
    /// listener of their own (never on `--listen`); off when not given. Keep
    /// it on a private address: `127.0.0.1:9464`.
    #[arg(long, env = "KEYGATE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Serve HTTPS itself with this PEM certificate chain (with --tls-key);
    /// the files are re-read when they change, and cookies are then `__Host-`.
    #[arg(long, env = "KEYGATE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "KEYGATE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// How `serve` writes its log to stdout.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `time LEVEL request{request_id=…}: target: message field=value`
    Text,
    /// One JSON object per line, with the request's `request_id` in `span`.
    Json,
}
